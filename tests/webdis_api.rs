//! The webdis command API (`--api webdis`) end to end: the README's examples byte for byte, every output
//! format, how a path splits into arguments, ETag and 304, HEAD, CORS on every answer, requests without
//! `Host`, 50 pipelined requests answered in order, the `/DB/` prefix on connections of its own, and the
//! commands refused because they would change a shared Redis connection. Redis state is checked with the
//! tests' own RESP client.

mod support;

use redis_gateway::webdis::md5;
use std::net::{SocketAddr, TcpStream};
use support::*;

/// The headers webdis puts on every response.
const CORS: [(&str, &str); 3] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET,POST,PUT,OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "X-Requested-With, Content-Type, Authorization",
    ),
];

/// The flags of every gateway here: the webdis API, and a small pool (these tests need few).
const WEBDIS: &[&str] = &["--api", "webdis", "--pool-size", "4"];

fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"")
}

/// `"<md5 hex of body>"`: the ETag webdis computes.
fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", md5::hex(body))
}

/// Asserts the three CORS headers with their exact values.
#[track_caller]
fn expect_cors(response: &Response) {
    for (name, value) in CORS {
        assert_eq!(
            response.header(name),
            Some(value),
            "{name} on every webdis answer:\n{response:?}"
        );
    }
}

/// Asserts a 200 answer from Redis: exact body, `Content-Type`, `ETag` = MD5 of the body, CORS.
#[track_caller]
fn expect_ok(response: &Response, content_type: &str, body: &[u8]) {
    expect_status(response, 200);
    expect_common_headers(response);
    assert!(
        response.body == body,
        "body: want {:?} ({} bytes), got:\n{response:?}",
        String::from_utf8_lossy(&body[..body.len().min(300)]),
        body.len()
    );
    assert_eq!(
        response.header("content-type"),
        Some(content_type),
        "Content-Type:\n{response:?}"
    );
    assert_eq!(
        response.header("etag"),
        Some(etag_of(body).as_str()),
        "ETag must be the MD5 of the body:\n{response:?}"
    );
    expect_cors(response);
}

/// `GET path` answers 200 `application/json` with exactly `body`.
#[track_caller]
fn expect_json(addr: SocketAddr, path: &str, body: &str) {
    expect_ok(&get(addr, path), "application/json", body.as_bytes());
}

/// `GET path` answers 200 with `content_type` and exactly `body`.
#[track_caller]
fn expect_typed(addr: SocketAddr, path: &str, content_type: &str, body: &[u8]) {
    expect_ok(&get(addr, path), content_type, body);
}

/// Asserts a 403 whose short text body names `command`.
#[track_caller]
fn expect_forbidden(response: &Response, command: &str) {
    expect_status(response, 403);
    expect_common_headers(response);
    expect_text_error(response);
    expect_cors(response);
    assert!(
        response.text().contains(command),
        "the 403 must say which command ({command}):\n{response:?}"
    );
    assert!(
        !response.closes(),
        "a 403 keeps the connection:\n{response:?}"
    );
}

/// `calls=N` of `cmdstat_<command>` in `INFO commandstats`; 0 when Redis never ran it.
fn command_calls(redis: &RedisServer, command: &str) -> i64 {
    let stats = redis.cmd(&[b"INFO", b"commandstats"]).text();
    let prefix = format!("cmdstat_{command}:calls=");
    stats
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(|rest| {
            rest.split(',')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad commandstats line for {command}: {rest}"))
        })
        .unwrap_or(0)
}

#[test]
fn readme_examples_answer_byte_for_byte() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();

    // The README's ETag example: this very body has this tag.
    let set = get(addr, "/SET/hello/world");
    expect_ok(&set, "application/json", br#"{"SET":[true,"OK"]}"#);
    assert_eq!(
        set.header("etag"),
        Some("\"0db1124cf79ffeb80aff6d199d5822f8\"")
    );
    assert_eq!(
        redis.cmd(&[b"GET", b"hello"]).bulk(),
        Some(b"world".to_vec())
    );
    expect_json(addr, "/GET/hello", r#"{"GET":"world"}"#);
    let post = request(addr, "POST", "/", &[], b"GET/hello");
    expect_ok(&post, "application/json", br#"{"GET":"world"}"#);
    // curl -d sends a form type; the body is still the command.
    let form = request(
        addr,
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"GET/hello",
    );
    expect_ok(&form, "application/json", br#"{"GET":"world"}"#);
    expect_json(addr, "/PING", r#"{"PING":[true,"PONG"]}"#);

    redis.cmd(&[b"SET", b"y", b"41"]);
    expect_json(addr, "/GET/y", r#"{"GET":"41"}"#);
    expect_json(addr, "/INCR/y", r#"{"INCR":42}"#);
    assert_eq!(redis.cmd(&[b"GET", b"y"]).bulk(), Some(b"42".to_vec()));
    redis.cmd(&[b"RPUSH", b"x", b"abc", b"def"]);
    expect_json(addr, "/LRANGE/x/0/1", r#"{"LRANGE":["abc","def"]}"#);
    expect_json(addr, "/TYPE/y", r#"{"TYPE":[true,"string"]}"#);

    // An error reply is a 200 with `false` (Redis 7 appends ", with args beginning with: ").
    let coffee = get(addr, "/MAKE-ME-COFFEE");
    expect_status(&coffee, 200);
    expect_cors(&coffee);
    assert!(
        coffee
            .body
            .starts_with(br#"{"MAKE-ME-COFFEE":[false,"ERR unknown command 'MAKE-ME-COFFEE'"#),
        "error reply:\n{coffee:?}"
    );
    assert!(coffee.body.ends_with(b"\"]}"), "error reply:\n{coffee:?}");
    assert_eq!(coffee.header("etag"), Some(etag_of(&coffee.body).as_str()));

    // JSONP, under either parameter name.
    let script = b"myCustomFunction({\"TYPE\":[true,\"string\"]});\n";
    expect_typed(
        addr,
        "/TYPE/y?jsonp=myCustomFunction",
        "application/javascript",
        script,
    );
    expect_typed(
        addr,
        "/TYPE/y?callback=myCustomFunction",
        "application/javascript",
        script,
    );

    // Nil, a hash as an object, INFO as an object, the command name as the client wrote it.
    expect_json(addr, "/GET/nothing-here", r#"{"GET":null}"#);
    redis.cmd(&[b"HSET", b"h", b"a", b"1", b"b", b"2"]);
    expect_json(addr, "/HGETALL/h", r#"{"HGETALL":{"a":"1","b":"2"}}"#);
    expect_json(addr, "/get/hello", r#"{"get":"world"}"#);
    let info = get(addr, "/INFO");
    expect_status(&info, 200);
    assert!(
        info.body.starts_with(br#"{"INFO":{"#) && info.body.ends_with(b"}}"),
        "INFO is an object of its fields:\n{info:?}"
    );
    assert!(
        info.text().contains(r#","redis_version":""#)
            || info.text().contains(r#"{"redis_version":""#),
        "INFO has a redis_version member:\n{info:?}"
    );
    assert!(
        !info.text().contains("# Server"),
        "section headers are not fields:\n{info:?}"
    );

    // Escaping as jansson does: controls as \u00XX (upper-case hex), `/` left alone.
    redis.cmd(&[b"SET", b"esc", b"\x01\x1b\"\\/\t\n"]);
    expect_json(addr, "/GET/esc", r#"{"GET":"\u0001\u001B\"\\/\t\n"}"#);
}

#[test]
fn raw_format_is_the_resp_reply() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let raw = "binary/octet-stream";
    redis.cmd(&[b"SET", b"z", b"hello"]);
    expect_typed(addr, "/GET/z.raw", raw, b"$5\r\nhello\r\n");
    expect_typed(addr, "/INCR/a.raw", raw, b":1\r\n");
    expect_typed(addr, "/INCR/a.raw", raw, b":2\r\n");
    redis.cmd(&[b"RPUSH", b"x", b"abc", b"def"]);
    expect_typed(
        addr,
        "/LRANGE/x/0/-1.raw",
        raw,
        b"*2\r\n$3\r\nabc\r\n$3\r\ndef\r\n",
    );
    redis.cmd(&[b"ZADD", b"y", b"1", b"m"]);
    expect_typed(addr, "/TYPE/y.raw", raw, b"+zset\r\n");
    expect_typed(addr, "/GET/nothing.raw", raw, b"$-1\r\n");
    let error = get(addr, "/MAKE-ME-COFFEE.raw");
    expect_status(&error, 200);
    assert_eq!(error.header("content-type"), Some(raw));
    assert!(
        error
            .body
            .starts_with(b"-ERR unknown command 'MAKE-ME-COFFEE'")
            && error.body.ends_with(b"\r\n"),
        "raw error reply:\n{error:?}"
    );
    // A value with CR LF and NUL inside stays one bulk string.
    redis.cmd(&[b"SET", b"bin", b"a\r\n\x00b"]);
    expect_typed(addr, "/GET/bin.raw", raw, b"$5\r\na\r\n\x00b\r\n");
}

#[test]
fn plain_formats_write_the_value_itself() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    redis.cmd(&[b"SET", b"z", b"hello"]);
    for (ext, content_type) in [
        ("txt", "text/plain"),
        ("html", "text/html"),
        ("xhtml", "application/xhtml+xml"),
        ("xml", "text/xml"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
    ] {
        expect_typed(addr, &format!("/GET/z.{ext}"), content_type, b"hello");
    }
    expect_typed(addr, "/INCR/n.txt", "text/plain", b"1");
    expect_typed(addr, "/INCRBY/n/-5.txt", "text/plain", b"-4");
    expect_typed(addr, "/PING.txt", "text/plain", b"+PONG");
    redis.cmd(&[b"RPUSH", b"l", b"x", b"y", b"z"]);
    expect_typed(addr, "/LRANGE/l/0/-1.txt", "text/plain", b"xyz");
    expect_typed(addr, "/LRANGE/l/0/-1.txt?sep=,", "text/plain", b"x,y,z");
    expect_typed(
        addr,
        "/GET/z.txt?type=application/pdf",
        "application/pdf",
        b"hello",
    );
    expect_typed(
        addr,
        "/GET/z?type=application/pdf",
        "application/pdf",
        b"hello",
    );

    // Nil in a plain format: 404 with an empty body (and still CORS, no ETag).
    let missing = get(addr, "/GET/nothing.txt");
    expect_status(&missing, 404);
    expect_common_headers(&missing);
    assert!(missing.body.is_empty(), "404 has no body:\n{missing:?}");
    assert_eq!(missing.header("content-length"), Some("0"));
    assert_eq!(
        missing.header("etag"),
        None,
        "no body, no tag:\n{missing:?}"
    );
    expect_cors(&missing);
    assert_eq!(get(addr, "/GET/nothing.png").status, 404);
}

#[test]
fn msgpack_format() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let msgpack = "application/x-msgpack";
    redis.cmd(&[b"SET", b"k", b"hi"]);
    // {"GET": "hi"}: fixmap 1, fixstr "GET", fixstr "hi".
    expect_typed(
        addr,
        "/GET/k.msg",
        msgpack,
        &[0x81, 0xa3, b'G', b'E', b'T', 0xa2, b'h', b'i'],
    );
    // {"SET": [true, "OK"]}: fixarray 2, true, fixstr "OK".
    expect_typed(
        addr,
        "/SET/k/v.msg",
        msgpack,
        &[0x81, 0xa3, b'S', b'E', b'T', 0x92, 0xc3, 0xa2, b'O', b'K'],
    );
    assert_eq!(redis.cmd(&[b"GET", b"k"]).bulk(), Some(b"v".to_vec()));
    // {"INCR": 1}: positive fixint; {"GET": nil}: 0xc0.
    expect_typed(
        addr,
        "/INCR/n.msg",
        msgpack,
        &[0x81, 0xa4, b'I', b'N', b'C', b'R', 0x01],
    );
    expect_typed(
        addr,
        "/GET/none.msg",
        msgpack,
        &[0x81, 0xa3, b'G', b'E', b'T', 0xc0],
    );
}

#[test]
fn paths_split_into_arguments_as_webdis_splits_them() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();

    // %2f and %2e stay inside one argument; + is a space; a literal + is %2B.
    expect_json(addr, "/SET/a%2fb/c%2ed+e%2Bf", r#"{"SET":[true,"OK"]}"#);
    assert_eq!(
        redis.cmd(&[b"GET", b"a/b"]).bulk(),
        Some(b"c.d e+f".to_vec())
    );
    // An empty segment is an empty argument.
    expect_json(addr, "/ECHO/", r#"{"ECHO":""}"#);
    expect_json(addr, "/SET//empty-name", r#"{"SET":[true,"OK"]}"#);
    assert_eq!(
        redis.cmd(&[b"GET", b""]).bulk(),
        Some(b"empty-name".to_vec())
    );

    // Only known lower-case extensions are formats; anything else is part of the argument.
    redis.cmd(&[b"SET", b"k.tar", b"tarball"]);
    redis.cmd(&[b"SET", b"k.TXT", b"upper"]);
    redis.cmd(&[b"SET", b"k.json", b"escaped-dot"]);
    expect_json(addr, "/GET/k.tar", r#"{"GET":"tarball"}"#);
    expect_json(addr, "/GET/k.TXT", r#"{"GET":"upper"}"#);
    expect_json(addr, "/GET/k%2ejson", r#"{"GET":"escaped-dot"}"#);
    expect_json(addr, "/GET/k.tar.json", r#"{"GET":"tarball"}"#);
    // A dot in an earlier segment is never an extension.
    expect_json(addr, "/SET/k.txt/v", r#"{"SET":[true,"OK"]}"#);
    assert_eq!(redis.cmd(&[b"GET", b"k.txt"]).bulk(), Some(b"v".to_vec()));
    expect_typed(addr, "/GET/k.txt.txt", "text/plain", b"v");

    // PUT: the body is the last argument, every byte as sent.
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let put = request(addr, "PUT", "/SET/bytes%2fkey", &[], &every_byte);
    expect_ok(&put, "application/json", br#"{"SET":[true,"OK"]}"#);
    assert_eq!(
        redis.cmd(&[b"GET", b"bytes/key"]).bulk(),
        Some(every_byte.clone())
    );
    let mut raw = b"$256\r\n".to_vec();
    raw.extend_from_slice(&every_byte);
    raw.extend_from_slice(b"\r\n");
    expect_typed(addr, "/GET/bytes%2fkey.raw", "binary/octet-stream", &raw);
    // PUT with more path arguments before the body: HSET h field <body>.
    let put = request(addr, "PUT", "/HSET/h/field", &[], b"from the body");
    expect_ok(&put, "application/json", br#"{"HSET":1}"#);
    assert_eq!(
        redis.cmd(&[b"HGET", b"h", b"field"]).bulk(),
        Some(b"from the body".to_vec())
    );
}

/// 16,744 bytes that look like a PNG and hold every byte value, CR LF pairs and NULs.
fn fake_png() -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0..16_736u32).map(|i| (i.wrapping_mul(7) % 256) as u8));
    assert_eq!(png.len(), 16_744);
    png
}

#[test]
fn png_upload_with_expect_continue_then_etag_and_304() {
    // The helper the test uses for tags agrees with RFC 1321's test vectors.
    assert_eq!(md5::hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(md5::hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");

    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let png = fake_png();
    assert!(png.windows(2).any(|w| w == b"\r\n") && png.contains(&0));

    let mut stream = connect(gateway.addr());
    send(
        &mut stream,
        format!(
            "PUT /SET/logo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: {}\r\n\r\n",
            png.len()
        )
        .as_bytes(),
    );
    expect_continue(&mut stream);
    send(&mut stream, &png);
    let response = read_response(&mut stream).expect("answer to the upload");
    expect_ok(&response, "application/json", br#"{"SET":[true,"OK"]}"#);
    assert_eq!(redis.cmd(&[b"GET", b"logo"]).bulk(), Some(png.clone()));

    // Download on the same connection: the same bytes, image/png, the file's MD5 as the tag.
    let download = request_on(&mut stream, "GET", "/GET/logo.png", &[], b"");
    expect_ok(&download, "image/png", &png);
    let tag = etag_of(&png);
    assert_eq!(download.header("etag"), Some(tag.as_str()));

    // The same tag: 304 with no body, and the connection stays in step.
    let cached = request_on(
        &mut stream,
        "GET",
        "/GET/logo.png",
        &[("If-None-Match", &tag)],
        b"",
    );
    expect_status(&cached, 304);
    assert!(cached.body.is_empty(), "304 has no body:\n{cached:?}");
    assert_eq!(cached.header("etag"), Some(tag.as_str()));
    expect_cors(&cached);
    // In a list, or weak: still a match.
    let listed = format!("\"0000\", W/{tag}");
    let cached = request_on(
        &mut stream,
        "GET",
        "/GET/logo.png",
        &[("If-None-Match", &listed)],
        b"",
    );
    expect_status(&cached, 304);
    // Another tag: the full answer again.
    let stale = request_on(
        &mut stream,
        "GET",
        "/GET/logo.png",
        &[("If-None-Match", "\"0db1124cf79ffeb80aff6d199d5822f8\"")],
        b"",
    );
    expect_ok(&stale, "image/png", &png);
    let ping = request_on(&mut stream, "GET", "/PING", &[], b"");
    expect_ok(&ping, "application/json", PING_JSON);
}

/// RFC 9110 §8.6: a 304 "MUST NOT send Content-Length ... unless its field value equals the decimal
/// number of octets that would have been sent in the content of a 200 (OK) response to the same request".
#[test]
fn not_modified_does_not_announce_a_different_length() {
    let (_redis, gateway) = Gateway::with_redis(WEBDIS);
    let mut stream = connect(gateway.addr());
    let full = request_on(&mut stream, "GET", "/SET/hello/world", &[], b"");
    expect_ok(&full, "application/json", br#"{"SET":[true,"OK"]}"#);
    let tag = full.header("etag").expect("a tag").to_string();
    let cached = request_on(
        &mut stream,
        "GET",
        "/SET/hello/world",
        &[("If-None-Match", &tag)],
        b"",
    );
    expect_status(&cached, 304);
    assert!(cached.body.is_empty());
    let length = cached.header("content-length");
    assert!(
        length.is_none() || length == Some("19"),
        "a 304 may omit Content-Length or repeat the 200's (19), not announce {length:?}:\n{cached:?}"
    );
}

#[test]
fn head_answers_the_headers_of_get() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    redis.cmd(&[b"SET", b"hello", b"world"]);
    let mut stream = connect(gateway.addr());
    let full = request_on(&mut stream, "GET", "/GET/hello", &[], b"");
    expect_ok(&full, "application/json", br#"{"GET":"world"}"#);
    let head = request_on(&mut stream, "HEAD", "/GET/hello", &[], b"");
    expect_status(&head, 200);
    for name in ["content-type", "content-length", "etag"] {
        assert_eq!(
            head.header(name),
            full.header(name),
            "HEAD repeats {name} of GET:\nGET {full:?}\nHEAD {head:?}"
        );
    }
    expect_cors(&head);
    // No body bytes followed the head: the next answer on the socket starts cleanly.
    let ping = request_on(&mut stream, "GET", "/PING", &[], b"");
    expect_ok(&ping, "application/json", PING_JSON);
    // HEAD of a missing value in a plain format is the 404 of GET.
    let missing = request_on(&mut stream, "HEAD", "/GET/nothing.txt", &[], b"");
    expect_status(&missing, 404);
    let ping = request_on(&mut stream, "GET", "/PING", &[], b"");
    expect_ok(&ping, "application/json", PING_JSON);
}

#[test]
fn cors_headers_on_every_answer() {
    let (_redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();

    let options = request(addr, "OPTIONS", "/anything/at/all", &[], b"");
    expect_status(&options, 200);
    expect_common_headers(&options);
    assert_eq!(options.header("allow"), Some("GET,POST,PUT,OPTIONS"));
    assert_eq!(options.header("content-length"), Some("0"));
    assert!(options.body.is_empty());
    expect_cors(&options);

    let delete = request(addr, "DELETE", "/GET/x", &[], b"");
    expect_status(&delete, 405);
    assert_eq!(delete.header("allow"), Some("GET,POST,PUT,OPTIONS"));
    expect_cors(&delete);

    let crossdomain = get(addr, "/crossdomain.xml");
    expect_status(&crossdomain, 200);
    assert_eq!(crossdomain.header("content-type"), Some("application/xml"));
    assert_eq!(
        crossdomain.text(),
        "<?xml version=\"1.0\"?>\n\
         <!DOCTYPE cross-domain-policy SYSTEM \"http://www.macromedia.com/xml/dtds/cross-domain-policy.dtd\">\n\
         <cross-domain-policy>\n\
         <allow-access-from domain=\"*\" />\n\
         </cross-domain-policy>\n"
    );
    expect_cors(&crossdomain);

    for (path, status) in [
        ("/PING", 200),
        ("/GET/nothing.txt", 404),
        ("/MULTI", 403),
        ("/16/GET/x", 400),
        ("/GET/%zz", 400),
    ] {
        let response = get(addr, path);
        expect_status(&response, status);
        expect_cors(&response);
    }
    let too_long = get(addr, &format!("/GET/{}", "k".repeat(9000)));
    expect_status(&too_long, 414);
    expect_cors(&too_long);
}

/// Answers the gateway writes outside the request path (a timed-out head, a refused connection) are
/// answers too: a browser page that gets them without CORS headers cannot even read the status.
#[test]
fn cors_headers_on_timeout_and_overload_answers() {
    let redis = RedisServer::start();
    let mut missing = Vec::new();

    let slow = Gateway::start(&redis, &[WEBDIS, &["--header-timeout", "300ms"]].concat());
    slow.wait_ready();
    let mut stream = connect(slow.addr());
    send(&mut stream, b"GET /PI");
    let timeout = read_response(&mut stream).expect("an answer to a head that never ends");
    expect_status(&timeout, 408);
    if timeout.header("access-control-allow-origin") != Some("*") {
        missing.push(format!("408 without CORS:\n{timeout:?}"));
    }

    let full = Gateway::start(&redis, &[WEBDIS, &["--max-connections", "1"]].concat());
    full.wait_ready();
    // Hold the one connection (the probes' connections may take a moment to be released).
    let mut held: Option<TcpStream> = None;
    let got_it = poll_until(START_TIMEOUT, || {
        let mut stream = connect(full.addr());
        send(&mut stream, &format_request("GET", "/PING", &[], b""));
        match read_response(&mut stream) {
            Ok(r) if r.status == 200 => {
                held = Some(stream);
                true
            }
            _ => false,
        }
    });
    assert!(got_it, "could not get the one connection slot");
    let mut second = connect(full.addr());
    send(&mut second, &format_request("GET", "/PING", &[], b""));
    let refused = read_response(&mut second).expect("an answer on the connection over the limit");
    expect_status(&refused, 503);
    if refused.header("access-control-allow-origin") != Some("*") {
        missing.push(format!("503 without CORS:\n{refused:?}"));
    }
    drop(held);

    assert!(
        missing.is_empty(),
        "every webdis answer carries CORS headers:\n{}",
        missing.join("\n")
    );
}

#[test]
fn requests_without_host_are_accepted() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let mut stream = connect(gateway.addr());
    send(&mut stream, b"GET /PING HTTP/1.1\r\n\r\n");
    let response = read_response(&mut stream).expect("answer without Host");
    expect_ok(&response, "application/json", PING_JSON);
    assert!(!response.closes(), "kept alive:\n{response:?}");
    send(
        &mut stream,
        b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nECHO/body",
    );
    let response = read_response(&mut stream).expect("POST without Host");
    expect_ok(&response, "application/json", br#"{"ECHO":"body"}"#);

    // The key/value API still insists (RFC 9112 §3.2).
    let keyvalue = Gateway::start(&redis, &["--pool-size", "2"]);
    keyvalue.wait_ready();
    let mut stream = connect(keyvalue.addr());
    send(&mut stream, b"GET /PING HTTP/1.1\r\n\r\n");
    let response = read_response(&mut stream).expect("answer without Host");
    expect_status(&response, 400);
}

/// What one pipelined request must get back.
struct Expected {
    status: u16,
    body: Vec<u8>,
    /// The body only starts with `body` (Redis's error texts vary by version).
    prefix: bool,
}

#[test]
fn fifty_pipelined_requests_are_answered_in_order() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    for i in 0..50 {
        let key = format!("pk{i}");
        redis.cmd(&[b"SET", key.as_bytes(), format!("value-{i}").as_bytes()]);
        redis.cmd(&[
            b"SET",
            format!("pc{i}").as_bytes(),
            (i * 100).to_string().as_bytes(),
        ]);
        redis.cmds(&[
            &[b"SELECT", b"7"],
            &[b"SET", key.as_bytes(), format!("db7-value-{i}").as_bytes()],
        ]);
    }
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    for i in 0..50 {
        let exact = |body: String| Expected {
            status: 200,
            body: body.into_bytes(),
            prefix: false,
        };
        let (method, path, body, want) = match i {
            25 => (
                "GET",
                "/MAKE-ME-COFFEE-25".to_string(),
                Vec::new(),
                Expected {
                    status: 200,
                    body:
                        br#"{"MAKE-ME-COFFEE-25":[false,"ERR unknown command 'MAKE-ME-COFFEE-25'"#
                            .to_vec(),
                    prefix: true,
                },
            ),
            40 => (
                "GET",
                "/MULTI".to_string(),
                Vec::new(),
                Expected {
                    status: 403,
                    body: b"forbidden: MULTI".to_vec(),
                    prefix: true,
                },
            ),
            44 => {
                let mut msgpack = vec![0x81, 0xa3, b'G', b'E', b'T', 0xa8];
                msgpack.extend_from_slice(b"value-44");
                (
                    "GET",
                    "/GET/pk44.msg".to_string(),
                    Vec::new(),
                    Expected {
                        status: 200,
                        body: msgpack,
                        prefix: false,
                    },
                )
            }
            _ => match i % 6 {
                0 => (
                    "GET",
                    format!("/GET/pk{i}"),
                    Vec::new(),
                    exact(format!(r#"{{"GET":"value-{i}"}}"#)),
                ),
                1 => (
                    "GET",
                    format!("/INCR/pc{i}.raw"),
                    Vec::new(),
                    exact(format!(":{}\r\n", i * 100 + 1)),
                ),
                2 => (
                    "GET",
                    format!("/GET/pk{i}.txt"),
                    Vec::new(),
                    exact(format!("value-{i}")),
                ),
                3 => (
                    "POST",
                    "/".to_string(),
                    format!("ECHO/echo-{i}").into_bytes(),
                    exact(format!(r#"{{"ECHO":"echo-{i}"}}"#)),
                ),
                4 => (
                    "PUT",
                    "/ECHO".to_string(),
                    format!("put-{i}").into_bytes(),
                    exact(format!(r#"{{"ECHO":"put-{i}"}}"#)),
                ),
                _ => (
                    "GET",
                    format!("/7/GET/pk{i}"),
                    Vec::new(),
                    exact(format!(r#"{{"GET":"db7-value-{i}"}}"#)),
                ),
            },
        };
        wire.extend_from_slice(&format_request(method, &path, &[], &body));
        expected.push((format!("{method} {path}"), want));
    }

    let mut stream = connect(gateway.addr());
    send(&mut stream, &wire);
    for (i, (request, want)) in expected.iter().enumerate() {
        let response = read_response(&mut stream)
            .unwrap_or_else(|e| panic!("response {i} (to {request}): {e}"));
        assert_eq!(
            response.status, want.status,
            "response {i} must answer {request}:\n{response:?}"
        );
        let matches = if want.prefix {
            response.body.starts_with(&want.body)
        } else {
            response.body == want.body
        };
        assert!(
            matches,
            "response {i} must answer {request}: want {}{:?}, got:\n{response:?}",
            if want.prefix {
                "a body starting with "
            } else {
                ""
            },
            String::from_utf8_lossy(&want.body)
        );
    }
    // The increments happened, once each.
    assert_eq!(redis.cmd(&[b"GET", b"pc1"]).bulk(), Some(b"101".to_vec()));
    assert_eq!(redis.cmd(&[b"GET", b"pc49"]).bulk(), Some(b"4901".to_vec()));
}

#[test]
fn database_prefix_runs_on_connections_of_that_database() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    expect_json(addr, "/7/SET/k/v", r#"{"SET":[true,"OK"]}"#);
    expect_json(addr, "/7/GET/k", r#"{"GET":"v"}"#);
    expect_json(addr, "/GET/k", r#"{"GET":null}"#);
    expect_json(addr, "/0/GET/k", r#"{"GET":null}"#);
    // Interleave the databases on one connection: no request may switch a shared connection.
    let mut stream = connect(addr);
    for i in 1..=10 {
        let response = request_on(&mut stream, "GET", "/7/INCR/n", &[], b"");
        expect_ok(
            &response,
            "application/json",
            format!(r#"{{"INCR":{i}}}"#).as_bytes(),
        );
        let response = request_on(&mut stream, "GET", "/INCR/n", &[], b"");
        expect_ok(
            &response,
            "application/json",
            format!(r#"{{"INCR":{i}}}"#).as_bytes(),
        );
    }
    // Both connections of the database-7 pool are up before SELECT is counted.
    let db7_conns = || {
        redis
            .cmd(&[b"CLIENT", b"LIST"])
            .text()
            .lines()
            .filter(|l| l.contains(" name=redis-gateway ") && l.contains(" db=7 "))
            .count()
    };
    assert!(
        poll_until(START_TIMEOUT, || db7_conns() == 2),
        "the database-7 pool holds 2 connections (--db-pool-size default), has {}",
        db7_conns()
    );
    // SELECT ran only in the handshakes of the database-7 connections (2 by default), never per request.
    let selects = command_calls(&redis, "select");
    assert_eq!(
        selects, 2,
        "SELECT ran {selects} times for 22 requests on database 7"
    );
    let clients = redis.cmd(&[b"CLIENT", b"LIST"]).text();
    let gateway_lines: Vec<&str> = clients
        .lines()
        .filter(|l| l.contains(" name=redis-gateway "))
        .collect();
    assert!(
        gateway_lines.iter().any(|l| l.contains(" db=7 ")),
        "a gateway connection sits on database 7:\n{clients}"
    );
    assert!(
        gateway_lines.iter().any(|l| l.contains(" db=0 ")),
        "the main pool stays on database 0:\n{clients}"
    );
    assert!(
        !gateway_lines.iter().any(|l| l.contains(" cmd=select ")),
        "no pooled connection's last command is SELECT:\n{clients}"
    );
    // The keys are where they belong (checked on the test's own connection).
    let replies = redis.cmds(&[&[b"SELECT", b"7"], &[b"GET", b"k"], &[b"GET", b"n"]]);
    assert_eq!(replies[1].bulk(), Some(b"v".to_vec()));
    assert_eq!(replies[2].bulk(), Some(b"10".to_vec()));
    assert_eq!(redis.cmd(&[b"GET", b"k"]).bulk(), None);
    assert_eq!(redis.cmd(&[b"GET", b"n"]).bulk(), Some(b"10".to_vec()));

    // More requests later: still no SELECT beyond the handshakes (the test's own SELECT is one more).
    for _ in 0..5 {
        expect_json(addr, "/7/GET/k", r#"{"GET":"v"}"#);
    }
    assert_eq!(command_calls(&redis, "select"), selects + 1);

    // Above the highest database (15 by default): 400, with CORS.
    let mut stream = connect(addr);
    let response = request_on(&mut stream, "GET", "/16/GET/x", &[], b"");
    expect_status(&response, 400);
    expect_text_error(&response);
    assert!(
        response.text().contains("15"),
        "says the limit:\n{response:?}"
    );
    expect_json(addr, "/15/GET/x", r#"{"GET":null}"#);
}

#[test]
fn state_changing_commands_are_refused_and_the_connection_stays_open() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let mut stream = connect(gateway.addr());
    for (path, name) in [
        ("/MULTI", "MULTI"),
        ("/EXEC", "EXEC"),
        ("/WATCH/k", "WATCH"),
        ("/SELECT/1", "SELECT"),
        ("/AUTH/x", "AUTH"),
        ("/HELLO/3", "HELLO"),
        ("/CLIENT/LIST", "CLIENT"),
        ("/MONITOR", "MONITOR"),
        ("/BLPOP/l/0", "BLPOP"),
        ("/UNSUBSCRIBE/ch", "UNSUBSCRIBE"),
        ("/XREAD/BLOCK/0/STREAMS/s/$", "XREAD"),
        ("/multi", "multi"),
        ("/7/SELECT/1", "SELECT"),
    ] {
        let response = request_on(&mut stream, "GET", path, &[], b"");
        expect_forbidden(&response, name);
    }
    // In a POST body and as a PUT, too.
    let response = request_on(&mut stream, "POST", "/", &[], b"MULTI");
    expect_forbidden(&response, "MULTI");
    let response = request_on(&mut stream, "PUT", "/SELECT", &[], b"1");
    expect_forbidden(&response, "SELECT");
    // The connection still works, and no transaction was left open behind it.
    let response = request_on(&mut stream, "GET", "/SET/after/1", &[], b"");
    expect_ok(&response, "application/json", br#"{"SET":[true,"OK"]}"#);
    assert_eq!(redis.cmd(&[b"GET", b"after"]).bulk(), Some(b"1".to_vec()));
    // None of them reached Redis.
    for command in [
        "multi",
        "exec",
        "watch",
        "select",
        "auth",
        "hello",
        "client|list",
        "monitor",
        "blpop",
        "subscribe",
        "xread",
    ] {
        assert_eq!(
            command_calls(&redis, command),
            0,
            "{command} must not reach Redis"
        );
    }
    // A non-blocking XREAD is fine.
    let response = request_on(&mut stream, "GET", "/XREAD/STREAMS/s/0", &[], b"");
    expect_ok(&response, "application/json", br#"{"XREAD":null}"#);
}

/// Query parameters other than `jsonp`, `callback`, `sep` and `type` are ignored, as webdis ignores them
/// (src/api/webdis.rs says so too): a stray `%` in a cache-busting or tracking parameter must not turn a
/// read into a 400 that closes the connection. webdis 0.1.9 answers both with `{"GET":"world"}`.
#[test]
fn unrelated_query_parameters_are_ignored_even_when_malformed() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    redis.cmd(&[b"SET", b"hello", b"world"]);
    let addr = gateway.addr();
    expect_json(addr, "/GET/hello?utm_source=news", r#"{"GET":"world"}"#);
    for path in ["/GET/hello?discount=100%", "/GET/hello?x=%zz"] {
        let response = get(addr, path);
        assert_eq!(
            (response.status, response.text()),
            (200, r#"{"GET":"world"}"#.to_string()),
            "GET {path}: an unused parameter changes nothing:\n{response:?}"
        );
    }
}

#[test]
fn conditions_apply_to_reads_and_answers_stay_within_the_reply_limit() {
    let (redis, gateway) =
        Gateway::with_redis(&[WEBDIS, &["--max-reply-bytes", "2000000"]].concat());
    let addr = gateway.addr();
    // `If-None-Match` on a write is ignored: the command runs and its answer comes (never 304).
    let put = request(
        addr,
        "PUT",
        "/SET/created",
        &[("If-None-Match", "*")],
        b"new",
    );
    expect_status(&put, 200);
    assert_eq!(put.body, br#"{"SET":[true,"OK"]}"#, "{put:?}");
    assert_eq!(
        redis.cmd(&[b"GET", b"created"]).bulk(),
        Some(b"new".to_vec())
    );
    // 1 MB of control bytes is 6 MB of JSON: over --max-reply-bytes, refused before it is built;
    // the same value as .raw fits.
    redis.cmd(&[b"SET", b"ctl", &vec![1u8; 1_000_000]]);
    let json = request(addr, "GET", "/GET/ctl", &[], b"");
    expect_status(&json, 502);
    assert!(json.text().contains("--max-reply-bytes"), "{json:?}");
    let raw = request(addr, "GET", "/GET/ctl.raw", &[], b"");
    expect_status(&raw, 200);
    assert_eq!(raw.body.len(), 1_000_000 + b"$1000000\r\n\r\n".len());
}

#[test]
fn a_database_redis_does_not_have_is_a_bad_request() {
    let redis = RedisServer::start_with(&["--databases", "4"]);
    let gateway = Gateway::start(&redis, WEBDIS);
    gateway.wait_ready();
    let response = request(gateway.addr(), "GET", "/7/GET/x", &[], b"");
    expect_status(&response, 400);
    assert!(
        response.text().contains("database 7 does not exist"),
        "{response:?}"
    );
    let ok = request(gateway.addr(), "GET", "/3/GET/x", &[], b"");
    assert_eq!(ok.body, br#"{"GET":null}"#, "{ok:?}");
}
