//! The HTTP API end to end: GET/HEAD/PUT/DELETE of one key, POST of a form, methods, expiry and Redis
//! error mapping, each checked both over HTTP and directly in Redis with the tests' own RESP client.

mod support;

use std::net::SocketAddr;
use support::rng::Rng;
use support::*;

/// A Redis server and a ready gateway in front of it.
fn get(addr: SocketAddr, path: &str) -> Response {
    request(addr, "GET", path, &[], b"")
}

fn put(addr: SocketAddr, path: &str, body: &[u8]) -> Response {
    request(addr, "PUT", path, &[], body)
}

fn post_form(addr: SocketAddr, body: &[u8]) -> Response {
    request(
        addr,
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body,
    )
}

/// Asserts the response is an error that ends the connection: status, `Connection: close`, then EOF.
#[track_caller]
fn expect_error_and_close(stream: &mut std::net::TcpStream, response: &Response, status: u16) {
    expect_status(response, status);
    expect_common_headers(response);
    expect_text_error(response);
    assert!(
        response.closes(),
        "a {status} must carry Connection: close:\n{response:?}"
    );
    assert!(
        is_closed(stream),
        "the socket must be closed after:\n{response:?}"
    );
}

/// Sends one request on a fresh socket and checks it is answered with `status` and then closed.
#[track_caller]
fn expect_rejected(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    status: u16,
) -> Response {
    let mut stream = connect(addr);
    let response = request_on(&mut stream, method, path, headers, body);
    expect_error_and_close(&mut stream, &response, status);
    response
}

/// Asserts a keep-alive connection still works by sending one more request on it.
#[track_caller]
fn expect_still_open(stream: &mut std::net::TcpStream) {
    let response = request_on(stream, "GET", "/__still_open__", &[], b"");
    expect_status(&response, 404);
}

#[test]
fn put_then_get_returns_the_exact_bytes() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let mut stream = connect(gateway.addr());
    let response = request_on(&mut stream, "PUT", "/greeting", &[], b"hello world");
    expect_status(&response, 204);
    expect_common_headers(&response);
    assert!(response.body.is_empty(), "204 has no body:\n{response:?}");
    assert_eq!(
        redis.cmd(&[b"GET", b"greeting"]).bulk(),
        Some(b"hello world".to_vec())
    );

    let response = request_on(&mut stream, "GET", "/greeting", &[], b"");
    expect_status(&response, 200);
    expect_common_headers(&response);
    assert_eq!(response.body, b"hello world");
    assert_eq!(response.header("content-length"), Some("11"));
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    assert!(
        !response.closes(),
        "200 keeps the connection open:\n{response:?}"
    );

    // Replace: still 204.
    let response = request_on(&mut stream, "PUT", "/greeting", &[], b"bye");
    expect_status(&response, 204);
    assert_eq!(
        request_on(&mut stream, "GET", "/greeting", &[], b"").body,
        b"bye"
    );
}

#[test]
fn values_are_binary_safe() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let every_byte: Vec<u8> = (0..=255u8).collect();
    expect_status(&put(gateway.addr(), "/bytes", &every_byte), 204);
    assert_eq!(
        redis.cmd(&[b"GET", b"bytes"]).bulk(),
        Some(every_byte.clone())
    );
    let response = get(gateway.addr(), "/bytes");
    expect_status(&response, 200);
    assert_eq!(response.body, every_byte);

    // A value written by Redis comes back unchanged too, including CRLFs that look like HTTP framing.
    let tricky = b"\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n\x00".to_vec();
    redis.cmd(&[b"SET", b"tricky", &tricky]);
    assert_eq!(get(gateway.addr(), "/tricky").body, tricky);

    // An empty value is a value: 200 with an empty body, not 404.
    expect_status(&put(gateway.addr(), "/empty", b""), 204);
    let response = get(gateway.addr(), "/empty");
    expect_status(&response, 200);
    assert_eq!(response.header("content-length"), Some("0"));
    assert_eq!(redis.cmd(&[b"EXISTS", b"empty"]).integer(), 1);
}

#[test]
fn random_values_round_trip() {
    let (mut rng, seed) = Rng::from_env(0x5EED_0001);
    let (redis, gateway) = Gateway::with_redis(&[]);
    let mut stream = connect(gateway.addr());
    for i in 0..50 {
        let key = format!("random-{i}");
        let len = rng.below(5_000);
        let value = rng.bytes(len);
        let response = request_on(&mut stream, "PUT", &format!("/{key}"), &[], &value);
        assert_eq!(response.status, 204, "seed {seed} key {key}:\n{response:?}");
        let response = request_on(&mut stream, "GET", &format!("/{key}"), &[], b"");
        assert_eq!(response.status, 200, "seed {seed} key {key}:\n{response:?}");
        assert!(
            response.body == value,
            "seed {seed} key {key}: body differs"
        );
        assert_eq!(
            redis.cmd(&[b"GET", key.as_bytes()]).bulk(),
            Some(value),
            "seed {seed} key {key}"
        );
    }
}

#[test]
fn get_missing_key_is_404_and_keeps_the_connection() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let mut stream = connect(gateway.addr());
    let response = request_on(&mut stream, "GET", "/nope", &[], b"");
    expect_status(&response, 404);
    expect_common_headers(&response);
    assert!(
        !response.closes(),
        "404 keeps the connection:\n{response:?}"
    );
    expect_still_open(&mut stream);
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let value = vec![b'x'; 1234];
    expect_status(&put(gateway.addr(), "/h", &value), 204);
    let mut stream = connect(gateway.addr());
    let response = request_on(&mut stream, "HEAD", "/h", &[], b"");
    expect_status(&response, 200);
    expect_common_headers(&response);
    assert_eq!(
        response.header("content-length"),
        Some("1234"),
        "HEAD:\n{response:?}"
    );
    assert_eq!(
        response.header("content-type"),
        Some("application/octet-stream")
    );
    // No body on the wire: the next response on the socket starts right away.
    let response = request_on(&mut stream, "HEAD", "/missing", &[], b"");
    expect_status(&response, 404);
    let response = request_on(&mut stream, "GET", "/h", &[], b"");
    expect_status(&response, 200);
    assert_eq!(response.body, value);
}

#[test]
fn delete_is_204_then_404() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let mut stream = connect(gateway.addr());
    expect_status(&request_on(&mut stream, "PUT", "/gone", &[], b"v"), 204);
    let response = request_on(&mut stream, "DELETE", "/gone", &[], b"");
    expect_status(&response, 204);
    expect_common_headers(&response);
    assert_eq!(redis.cmd(&[b"EXISTS", b"gone"]).integer(), 0);
    let response = request_on(&mut stream, "DELETE", "/gone", &[], b"");
    expect_status(&response, 404);
    expect_status(&request_on(&mut stream, "GET", "/gone", &[], b""), 404);
}

#[test]
fn key_is_the_percent_decoded_path_without_the_query() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    expect_status(&put(gateway.addr(), "/a%2Fb", b"slash"), 204);
    assert_eq!(redis.cmd(&[b"GET", b"a/b"]).bulk(), Some(b"slash".to_vec()));
    assert_eq!(get(gateway.addr(), "/a/b").body, b"slash");
    assert_eq!(get(gateway.addr(), "/a%2fb").body, b"slash");

    // UTF-8 key, percent-encoded on the wire.
    expect_status(
        &put(gateway.addr(), "/%C3%A9t%C3%A9%20%E2%82%AC", b"summer"),
        204,
    );
    assert_eq!(
        redis.cmd(&[b"GET", "été €".as_bytes()]).bulk(),
        Some(b"summer".to_vec())
    );

    // Arbitrary bytes in a key.
    expect_status(&put(gateway.addr(), "/%00%FF%0D%0A", b"odd"), 204);
    assert_eq!(
        redis.cmd(&[b"GET", b"\x00\xff\r\n"]).bulk(),
        Some(b"odd".to_vec())
    );

    // The query is not part of the key.
    redis.cmd(&[b"SET", b"q", b"query-free"]);
    let response = get(gateway.addr(), "/q?x=1");
    expect_status(&response, 200);
    assert_eq!(response.body, b"query-free");
    assert_eq!(redis.cmd(&[b"EXISTS", b"q?x=1"]).integer(), 0);
}

#[test]
fn long_key_and_large_value_round_trip() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let (mut rng, seed) = Rng::from_env(0x5EED_0002);
    let key: Vec<u8> = (0..1_024).map(|_| b'a' + rng.below(26) as u8).collect();
    let value = rng.bytes(40_960);
    let path = format!("/{}", String::from_utf8(key.clone()).expect("ascii"));
    let response = put(gateway.addr(), &path, &value);
    assert_eq!(response.status, 204, "seed {seed}:\n{response:?}");
    let response = get(gateway.addr(), &path);
    assert_eq!(response.status, 200, "seed {seed}:\n{response:?}");
    assert!(response.body == value, "seed {seed}: value differs");
    assert_eq!(
        redis.cmd(&[b"GET", &key]).bulk(),
        Some(value.clone()),
        "seed {seed}"
    );

    // The same through a form: 1,024-byte key, 40,960-byte value, every byte percent-encoded.
    let form_key = rng.bytes(1_024);
    let form_value = rng.bytes(40_960);
    let body = format!(
        "{}={}",
        percent_encode_all(&form_key),
        percent_encode_all(&form_value)
    );
    let response = post_form(gateway.addr(), body.as_bytes());
    assert_eq!(response.status, 200, "seed {seed}:\n{response:?}");
    assert_eq!(
        redis.cmd(&[b"GET", &form_key]).bulk(),
        Some(form_value),
        "seed {seed}"
    );
}

#[test]
fn form_with_eight_large_pairs_sets_them_all() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let (mut rng, seed) = Rng::from_env(0x5EED_0003);
    let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..8)
        .map(|i| {
            let mut key = rng.bytes(1_024);
            key[0] = i; // distinct keys
            (key, rng.bytes(40_960))
        })
        .collect();
    let body = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let response = post_form(gateway.addr(), body.as_bytes());
    assert_eq!(response.status, 200, "seed {seed}:\n{response:?}");
    expect_common_headers(&response);
    assert_eq!(response.body, b"OK");
    for (i, (key, value)) in pairs.iter().enumerate() {
        let stored = redis.cmd(&[b"GET", key]).bulk();
        assert!(
            stored.as_ref() == Some(value),
            "seed {seed}: pair {i} differs in Redis"
        );
    }
}

#[test]
fn form_decoding_plus_percent_utf8_and_last_wins() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let body = b"a+b=c+d%2B%26%3D&nul=%00x%FF&%C3%A9t%C3%A9=%E2%82%AC&dup=first&dup=second&empty=";
    let response = post_form(gateway.addr(), body);
    expect_status(&response, 200);
    assert_eq!(response.body, b"OK");
    assert_eq!(
        redis.cmd(&[b"GET", b"a b"]).bulk(),
        Some(b"c d+&=".to_vec())
    );
    assert_eq!(
        redis.cmd(&[b"GET", b"nul"]).bulk(),
        Some(b"\x00x\xff".to_vec())
    );
    assert_eq!(
        redis.cmd(&[b"GET", "été".as_bytes()]).bulk(),
        Some("€".as_bytes().to_vec())
    );
    assert_eq!(
        redis.cmd(&[b"GET", b"dup"]).bulk(),
        Some(b"second".to_vec()),
        "last wins"
    );
    assert_eq!(redis.cmd(&[b"GET", b"empty"]).bulk(), Some(Vec::new()));
}

#[test]
fn form_content_type_parameters_and_case_are_accepted() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    for (i, content_type) in [
        "application/x-www-form-urlencoded; charset=utf-8",
        "Application/X-WWW-Form-Urlencoded;charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
    ]
    .iter()
    .enumerate()
    {
        let body = format!("ct{i}=yes");
        let response = request(
            gateway.addr(),
            "POST",
            "/",
            &[("Content-Type", content_type)],
            body.as_bytes(),
        );
        assert_eq!(
            response.status, 200,
            "Content-Type {content_type:?}:\n{response:?}"
        );
        assert_eq!(
            redis.cmd(&[b"GET", format!("ct{i}").as_bytes()]).bulk(),
            Some(b"yes".to_vec())
        );
    }
}

#[test]
fn form_with_other_or_missing_content_type_is_415() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    for headers in [
        &[("Content-Type", "text/plain")][..],
        &[("Content-Type", "application/json")][..],
        &[("Content-Type", "multipart/form-data; boundary=x")][..],
        &[][..],
    ] {
        let response = expect_rejected(gateway.addr(), "POST", "/", headers, b"k=v", 415);
        assert!(
            !response.body.is_empty(),
            "415 needs a short text body:\n{response:?}"
        );
    }
    assert_eq!(redis.cmd(&[b"EXISTS", b"k"]).integer(), 0);
}

#[test]
fn bad_forms_are_400_and_set_nothing() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    for body in [
        &b""[..],
        b"novalue",
        b"a=1&novalue",
        b"bad=%G1",
        b"bad=%4",
        b"bad=%",
        b"%ZZ=1",
    ] {
        let response = expect_rejected(
            gateway.addr(),
            "POST",
            "/",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body,
            400,
        );
        let text = response.text();
        assert!(
            !text.is_empty()
                && response
                    .header("content-type")
                    .is_some_and(|t| t.starts_with("text/plain")),
            "400 for {:?} needs a short text/plain body:\n{response:?}",
            String::from_utf8_lossy(body)
        );
    }
    assert_eq!(
        redis.cmd(&[b"DBSIZE"]).integer(),
        0,
        "a rejected form must set nothing"
    );
}

#[test]
fn empty_key_is_400() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    expect_rejected(gateway.addr(), "GET", "/", &[], b"", 400);
}

#[test]
fn expiry_from_ex_and_px() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    expect_status(&put(gateway.addr(), "/ex?ex=100", b"v"), 204);
    let ttl = redis.cmd(&[b"TTL", b"ex"]).integer();
    assert!((1..=100).contains(&ttl), "TTL after ?ex=100 is {ttl}");

    expect_status(&put(gateway.addr(), "/px?px=50000", b"v"), 204);
    let pttl = redis.cmd(&[b"PTTL", b"px"]).integer();
    assert!(
        (1..=50_000).contains(&pttl),
        "PTTL after ?px=50000 is {pttl}"
    );

    // Without a parameter there is no expiry, and a new PUT removes an old one.
    expect_status(&put(gateway.addr(), "/ex", b"v2"), 204);
    assert_eq!(
        redis.cmd(&[b"TTL", b"ex"]).integer(),
        -1,
        "plain PUT must not keep the TTL"
    );

    // It really expires.
    expect_status(&put(gateway.addr(), "/short?px=150", b"v"), 204);
    let expired = poll_until(START_TIMEOUT, || {
        get(gateway.addr(), "/short").status == 404
    });
    assert!(expired, "/short?px=150 still there after {START_TIMEOUT:?}");
}

#[test]
fn bad_expiry_parameters_are_400() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    for query in [
        "ex=0",
        "ex=-1",
        "ex=abc",
        "ex=",
        "ex=1.5",
        "px=0",
        "px=-5",
        "px=1e3",
        "ex=1&px=1000",
        "foo=1",
        "ex=99999999999999999999999",
    ] {
        let path = format!("/k?{query}");
        let response = expect_rejected(gateway.addr(), "PUT", &path, &[], b"v", 400);
        assert!(
            !response.body.is_empty(),
            "PUT {path}: 400 needs a body:\n{response:?}"
        );
    }
    assert_eq!(
        redis.cmd(&[b"EXISTS", b"k"]).integer(),
        0,
        "a rejected PUT must set nothing"
    );
}

#[test]
fn other_methods_are_405_with_allow() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let key_methods = ["GET", "HEAD", "PUT", "DELETE"];
    for (method, path) in [
        ("PATCH", "/k"),
        ("POST", "/k"),
        ("TRACE", "/k"),
        ("PATCH", "/"),
    ] {
        let response = expect_rejected(gateway.addr(), method, path, &[], b"", 405);
        let allow = response.allow();
        if path == "/" {
            assert!(
                allow.contains(&"POST".to_string()),
                "{method} {path}: Allow {allow:?}"
            );
            for m in key_methods {
                assert!(
                    !allow.contains(&m.to_string()),
                    "{method} {path}: Allow {allow:?} has {m}"
                );
            }
        } else {
            for m in key_methods {
                assert!(
                    allow.contains(&m.to_string()),
                    "{method} {path}: Allow {allow:?} lacks {m}"
                );
            }
            assert!(
                !allow.contains(&"POST".to_string()),
                "{method} {path}: Allow {allow:?} has POST"
            );
        }
    }
}

#[test]
fn options_is_204_with_allow() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let mut stream = connect(gateway.addr());
    let response = request_on(&mut stream, "OPTIONS", "/k", &[], b"");
    expect_status(&response, 204);
    expect_common_headers(&response);
    let allow = response.allow();
    for m in ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"] {
        assert!(
            allow.contains(&m.to_string()),
            "OPTIONS /k: Allow {allow:?} lacks {m}"
        );
    }
    let response = request_on(&mut stream, "OPTIONS", "/", &[], b"");
    expect_status(&response, 204);
    let allow = response.allow();
    for m in ["POST", "OPTIONS"] {
        assert!(
            allow.contains(&m.to_string()),
            "OPTIONS /: Allow {allow:?} lacks {m}"
        );
    }
}

#[test]
fn wrongtype_is_409_with_the_redis_error_and_keeps_the_connection() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    redis.cmd(&[b"RPUSH", b"list", b"a"]);
    let mut stream = connect(gateway.addr());
    let response = request_on(&mut stream, "GET", "/list", &[], b"");
    expect_status(&response, 409);
    expect_common_headers(&response);
    assert!(
        response.text().contains("WRONGTYPE"),
        "409 body must quote Redis:\n{response:?}"
    );
    assert!(
        !response.closes(),
        "409 keeps the connection:\n{response:?}"
    );
    expect_still_open(&mut stream);
}
