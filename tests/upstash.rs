//! The Upstash REST API (`--api upstash`) on the wire, against a real Redis: tokens, JSON and
//! path-style commands, base64 and RESP2 answers, `/pipeline` in one round trip, `/multi-exec` on
//! an exclusive connection (five at once), refused commands, the read-only token, CORS, SSE, and
//! `--token` guarding the key/value API.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use support::*;

const TOKEN: &str = "s3cret-token";
const READONLY: &str = "look-only";
const BEARER: &str = "Bearer s3cret-token";

fn upstash(extra: &[&str]) -> (RedisServer, Gateway) {
    let mut args = vec!["--api", "upstash", "--token", TOKEN];
    args.extend_from_slice(extra);
    Gateway::with_redis(&args)
}

/// `POST path` with the full token and a JSON body.
fn post(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Response {
    let mut all = vec![
        ("Authorization", BEARER),
        ("Content-Type", "application/json"),
    ];
    all.extend_from_slice(headers);
    request(addr, "POST", path, &all, body.as_bytes())
}

#[track_caller]
fn expect(response: &Response, status: u16, body: &str) {
    assert_eq!(
        (response.status, response.text().as_str()),
        (status, body),
        "{response:?}"
    );
}

/// A non-2xx answer: JSON with `error` holding `fragment`.
#[track_caller]
fn expect_error(response: &Response, status: u16, fragment: &str) {
    expect_status(response, status);
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    let text = response.text();
    assert!(
        text.starts_with("{\"error\":\"") && text.ends_with("\"}") && text.contains(fragment),
        "want {{\"error\":\"…{fragment}…\"}}, got {text}"
    );
}

#[test]
fn the_token_is_required_by_header_or_query_and_never_an_argument() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let none = request(addr, "POST", "/", &[], br#"["PING"]"#);
    expect(&none, 401, r#"{"error":"Unauthorized"}"#);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = request(
        addr,
        "POST",
        "/",
        &[("Authorization", "Bearer s3cret-toke")],
        br#"["PING"]"#,
    );
    expect(&wrong, 401, r#"{"error":"Unauthorized"}"#);
    expect(
        &post(addr, "/", &[], r#"["PING"]"#),
        200,
        r#"{"result":"PONG"}"#,
    );
    let query = request(addr, "GET", &format!("/echo/hi?_token={TOKEN}"), &[], b"");
    expect(&query, 200, r#"{"result":"hi"}"#);
    let query_post = request(
        addr,
        "POST",
        &format!("/?_token={TOKEN}"),
        &[],
        br#"["ECHO","x"]"#,
    );
    expect(&query_post, 200, r#"{"result":"x"}"#);
}

#[test]
fn the_api_refuses_to_start_without_a_token() {
    let run = run(
        &["--api", "upstash", "--listen", "127.0.0.1:0"],
        &[],
        EXIT_TIMEOUT,
    );
    assert_eq!(run.code(), Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("token"), "{}", run.stderr);
}

#[test]
fn json_commands_answer_results_and_redis_errors_as_400() {
    let (redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    expect(
        &post(addr, "/", &[], r#"["SET","k","héllo ✓"]"#),
        200,
        r#"{"result":"OK"}"#,
    );
    expect(
        &post(addr, "/", &[], r#"["GET","k"]"#),
        200,
        r#"{"result":"héllo ✓"}"#,
    );
    expect(
        &post(addr, "/", &[], r#"["GET","missing"]"#),
        200,
        r#"{"result":null}"#,
    );
    // Numbers as their JSON text, booleans as true/false, null as empty.
    expect(
        &post(addr, "/", &[], r#"["RPUSH","l",12,1.5,true,null]"#),
        200,
        r#"{"result":4}"#,
    );
    expect(
        &post(addr, "/", &[], r#"["LRANGE","l",0,-1]"#),
        200,
        r#"{"result":["12","1.5","true",""]}"#,
    );
    let json_value = r#"{"a":[1,"x"]}"#;
    let set = serde_free_json_string(json_value);
    expect(
        &post(addr, "/", &[], &format!(r#"["SET","j",{set}]"#)),
        200,
        r#"{"result":"OK"}"#,
    );
    assert_eq!(redis.cmd(&[b"GET", b"j"]).text(), json_value);
    let wrong = post(addr, "/", &[], r#"["INCR","k"]"#);
    expect(
        &wrong,
        400,
        r#"{"error":"ERR value is not an integer or out of range"}"#,
    );
    expect_error(
        &post(addr, "/", &[], r#"["LPUSH","k","x"]"#),
        400,
        "WRONGTYPE",
    );
    // Kept open: a Redis error is an answer about data.
    assert!(!wrong.closes(), "{wrong:?}");
}

/// `text` as a JSON string literal (quotes and backslashes escaped).
fn serde_free_json_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn path_style_commands_decode_segments_then_body_then_query() {
    let (redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let auth = [("Authorization", BEARER)];
    expect(
        &request(addr, "GET", "/set/a%2Fb/x%20y", &auth, b""),
        200,
        r#"{"result":"OK"}"#,
    );
    assert_eq!(redis.cmd(&[b"GET", b"a/b"]).text(), "x y");
    // The POST body is the last argument, bytes as sent; then the query's pairs.
    let binary = b"\x00\xff\r\nraw";
    expect(
        &request(addr, "POST", "/set/bin?EX=100", &auth, binary),
        200,
        r#"{"result":"OK"}"#,
    );
    assert_eq!(redis.cmd(&[b"GET", b"bin"]).bulk().unwrap(), binary);
    let ttl = redis.cmd(&[b"TTL", b"bin"]).integer();
    assert!((1..=100).contains(&ttl), "EX=100 from the query: ttl {ttl}");
    expect(
        &request(addr, "GET", "/get/a%2Fb", &auth, b""),
        200,
        r#"{"result":"x y"}"#,
    );
    // Without base64 a value that is not UTF-8 is written with U+FFFD.
    let lossy = request(addr, "GET", "/getrange/bin/0/1", &auth, b"");
    expect(&lossy, 200, "{\"result\":\"\\u0000\u{FFFD}\"}");
}

#[test]
fn base64_encodes_every_string_at_any_depth_except_ok() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let b64 = [("Upstash-Encoding", "base64")];
    expect(
        &post(addr, "/", &b64, r#"["SET","k","v"]"#),
        200,
        r#"{"result":"OK"}"#,
    );
    expect(
        &post(addr, "/", &b64, r#"["GET","k"]"#),
        200,
        r#"{"result":"dg=="}"#,
    );
    expect(
        &post(addr, "/", &b64, r#"["PING"]"#),
        200,
        r#"{"result":"UE9ORw=="}"#,
    );
    expect(
        &post(addr, "/", &b64, r#"["ZADD","z",1,"a",2.5,"b"]"#),
        200,
        r#"{"result":2}"#,
    );
    expect(
        &post(addr, "/", &b64, r#"["ZRANGE","z",0,-1,"WITHSCORES"]"#),
        200,
        r#"{"result":["YQ==","MQ==","Yg==","Mi41"]}"#,
    );
    // SCAN: a nested array [cursor, [keys]].
    let scan = post(
        addr,
        "/",
        &b64,
        r#"["SCAN","0","MATCH","z","COUNT","1000"]"#,
    );
    expect(&scan, 200, r#"{"result":["MA==",["eg=="]]}"#);
    expect(
        &post(addr, "/", &b64, r#"["INCR","n"]"#),
        200,
        r#"{"result":1}"#,
    );
    // Errors are never encoded.
    expect(
        &post(addr, "/", &b64, r#"["INCR","k"]"#),
        400,
        r#"{"error":"ERR value is not an integer or out of range"}"#,
    );
    let pipe = post(
        addr,
        "/pipeline",
        &b64,
        r#"[["SET","p","OK"],["GET","p"],["INCR","k"]]"#,
    );
    expect(
        &pipe,
        200,
        r#"[{"result":"OK"},{"result":"T0s="},{"error":"ERR value is not an integer or out of range"}]"#,
    );
}

#[test]
fn resp2_answers_the_reply_bytes_and_refuses_base64_with_it() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let resp2 = [("Upstash-Response-Format", "resp2")];
    post(addr, "/", &[], r#"["RPUSH","l","a","b"]"#);
    let r = post(addr, "/", &resp2, r#"["LRANGE","l",0,-1]"#);
    expect_status(&r, 200);
    assert_eq!(r.body, b"*2\r\n$1\r\na\r\n$1\r\nb\r\n");
    let both = post(
        addr,
        "/",
        &[
            ("Upstash-Response-Format", "resp2"),
            ("Upstash-Encoding", "base64"),
        ],
        r#"["PING"]"#,
    );
    expect_error(&both, 400, "cannot be combined");
}

#[test]
fn a_pipeline_answers_in_order_and_reaches_redis_in_one_write() {
    let (redis, gateway) = upstash(&["--pool-size", "4"]);
    let addr = gateway.addr();
    // A full pool opens no more connections, whose handshakes Redis would count as reads.
    gateway.expect_pool(&redis, 4);
    let commands: Vec<String> = (0..40)
        .map(|i| format!(r#"["RPUSH","order","{i}"]"#))
        .collect();
    let body = format!("[{}]", commands.join(","));
    // Redis's count of the reads it made from its clients (`INFO stats`; each INFO is one).
    let reads = || -> i64 {
        let info = redis.cmd(&[b"INFO", b"stats"]).text();
        info.lines()
            .find_map(|l| l.strip_prefix("total_reads_processed:"))
            .and_then(|n| n.trim().parse().ok())
            .expect("INFO stats has total_reads_processed")
    };
    let start = reads();
    let idle = reads() - start;
    let before = reads();
    let r = post(addr, "/pipeline", &[], &body);
    let used = reads() - before - idle;
    let want: Vec<String> = (1..=40).map(|n| format!(r#"{{"result":{n}}}"#)).collect();
    expect(&r, 200, &format!("[{}]", want.join(",")));
    // 40 commands in one write: Redis reads them in one go (two, if a read splits them), not 40.
    assert!(
        used <= 2,
        "Redis needed {used} reads for one pipeline of 40 commands"
    );
    let got = redis.cmd(&[b"LRANGE", b"order", b"0", b"-1"]);
    let list: Vec<RespReply> = (0..40)
        .map(|i| RespReply::Bulk(i.to_string().into_bytes()))
        .collect();
    assert_eq!(got, RespReply::Array(list));
    expect_error(&post(addr, "/pipeline", &[], "[]"), 400, "ERR");
    expect_error(
        &post(addr, "/pipeline", &[], r#"[["SELECT","1"]]"#),
        400,
        "SELECT",
    );
    expect_error(
        &request(addr, "GET", "/pipeline", &[("Authorization", BEARER)], b""),
        400,
        "POST",
    );
}

#[test]
fn multi_exec_is_atomic_and_an_execabort_is_400_with_the_first_queued_error() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let done = post(
        addr,
        "/multi-exec",
        &[],
        r#"[["SET","t","1"],["INCR","t"],["LPUSH","t","x"],["GET","t"]]"#,
    );
    expect(
        &done,
        200,
        r#"[{"result":"OK"},{"result":2},{"error":"WRONGTYPE Operation against a key holding the wrong kind of value"},{"result":"2"}]"#,
    );
    let aborted = post(
        addr,
        "/multi-exec",
        &[],
        r#"[["INCR","t"],["NOSUCHCMD","t"],["INCR","t"]]"#,
    );
    expect_error(&aborted, 400, "ERR unknown command 'NOSUCHCMD'");
    // Nothing of an aborted transaction ran.
    expect(
        &post(addr, "/", &[], r#"["GET","t"]"#),
        200,
        r#"{"result":"2"}"#,
    );
    // Outside /multi-exec, MULTI and EXEC are refused.
    expect_error(&post(addr, "/", &[], r#"["MULTI"]"#), 400, "/multi-exec");
    expect_error(
        &post(addr, "/pipeline", &[], r#"[["MULTI"],["EXEC"]]"#),
        400,
        "/multi-exec",
    );
}

#[test]
fn five_concurrent_multi_execs_never_interleave() {
    let (_redis, gateway) = upstash(&["--max-transactions", "3"]);
    let addr = gateway.addr();
    let incrs: Vec<&str> = vec![r#"["INCR","shared"]"#; 10];
    let body = format!("[{}]", incrs.join(","));
    let threads: Vec<_> = (0..5)
        .map(|_| {
            let body = body.clone();
            thread::spawn(move || {
                let mut runs = Vec::new();
                for _ in 0..20 {
                    let r = post(addr, "/multi-exec", &[], &body);
                    assert_eq!(r.status, 200, "{r:?}");
                    let text = r.text();
                    let numbers: Vec<i64> = text
                        .split("{\"result\":")
                        .skip(1)
                        .map(|s| {
                            s.trim_end_matches(['}', ']', ','])
                                .parse()
                                .expect("a number")
                        })
                        .collect();
                    runs.push(numbers);
                }
                runs
            })
        })
        .collect();
    let mut firsts = Vec::new();
    for t in threads {
        for numbers in t.join().expect("a client thread") {
            assert_eq!(numbers.len(), 10);
            // Atomic: ten consecutive values, nobody else's INCR in between.
            let first = numbers[0];
            assert_eq!(numbers, (first..first + 10).collect::<Vec<_>>());
            firsts.push(first);
        }
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..100).map(|i| i * 10 + 1).collect::<Vec<_>>());
}

#[test]
fn refused_commands_say_why() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    for (command, why) in [
        (r#"["SELECT","1"]"#, "SELECT"),
        (r#"["AUTH","x"]"#, "AUTH"),
        (r#"["HELLO","3"]"#, "HELLO"),
        (r#"["CLIENT","LIST"]"#, "CLIENT"),
        (r#"["WATCH","k"]"#, "WATCH"),
        (r#"["SUBSCRIBE","c"]"#, "/subscribe/"),
        (r#"["MONITOR"]"#, "MONITOR"),
        (r#"["BLPOP","l","0"]"#, "blocking"),
        (r#"["XREAD","BLOCK","0","STREAMS","s","$"]"#, "BLOCK"),
    ] {
        let r = post(addr, "/", &[], command);
        expect_error(&r, 400, why);
        assert!(
            r.text().starts_with("{\"error\":\"ERR "),
            "{command}: {r:?}"
        );
    }
}

#[test]
fn the_readonly_token_reads_only() {
    let (_redis, gateway) = upstash(&["--readonly-token", READONLY]);
    let addr = gateway.addr();
    post(addr, "/", &[], r#"["SET","k","v"]"#);
    let ro = [("Authorization", "Bearer look-only")];
    expect(
        &request(addr, "POST", "/", &ro, br#"["GET","k"]"#),
        200,
        r#"{"result":"v"}"#,
    );
    expect(
        &request(addr, "GET", "/mget/k/x", &ro, b""),
        200,
        r#"{"result":["v",null]}"#,
    );
    let set = request(addr, "POST", "/", &ro, br#"["SET","k","w"]"#);
    expect_error(&set, 403, "NOPERM");
    let pipe = request(
        addr,
        "POST",
        "/pipeline",
        &ro,
        br#"[["GET","k"],["DEL","k"]]"#,
    );
    expect_error(&pipe, 403, "'del'");
    expect(
        &post(addr, "/", &[], r#"["GET","k"]"#),
        200,
        r#"{"result":"v"}"#,
    );
}

#[test]
fn every_non_2xx_answer_is_json_and_each_answer_has_a_new_sync_token() {
    let (_redis, gateway) = upstash(&["--max-body-bytes", "64"]);
    let addr = gateway.addr();
    expect_error(&post(addr, "/", &[], ""), 400, "empty body");
    expect_error(&post(addr, "/", &[], "[\"GET\""), 400, "failed to parse");
    expect_error(&post(addr, "/", &[], "{}"), 400, "JSON array");
    expect_error(
        &request(addr, "DELETE", "/", &[("Authorization", BEARER)], b""),
        405,
        "",
    );
    let big = format!(r#"["SET","k","{}"]"#, "x".repeat(100));
    expect_error(&post(addr, "/", &[], &big), 413, "");
    let a = post(addr, "/", &[("upstash-sync-token", "")], r#"["PING"]"#);
    let b = post(
        addr,
        "/",
        &[("upstash-sync-token", "whatever")],
        r#"["PING"]"#,
    );
    let (a, b) = (
        a.header("upstash-sync-token"),
        b.header("upstash-sync-token"),
    );
    assert!(a.is_some() && b.is_some() && a != b, "{a:?} {b:?}");
}

#[test]
fn cors_preflight_answers_allowed_origins_only() {
    let (_redis, gateway) = upstash(&["--allow-origin", "https://app.example"]);
    let addr = gateway.addr();
    let preflight = |origin: &str| {
        request(
            addr,
            "OPTIONS",
            "/",
            &[
                ("Origin", origin),
                ("Access-Control-Request-Method", "POST"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, content-type",
                ),
            ],
            b"",
        )
    };
    let ok = preflight("https://app.example");
    expect_status(&ok, 204);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(ok
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("Authorization")));
    let other = preflight("https://evil.example");
    assert_eq!(
        other.header("access-control-allow-origin"),
        None,
        "{other:?}"
    );
    let call = post(
        addr,
        "/",
        &[("Origin", "https://app.example")],
        r#"["PING"]"#,
    );
    assert_eq!(
        call.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(
        call.header("access-control-expose-headers"),
        Some("upstash-sync-token")
    );
}

/// Reads from `stream` until what came holds `want`, for up to 10 s.
#[track_caller]
fn read_until(stream: &mut std::net::TcpStream, seen: &mut String, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        assert!(
            Instant::now() < deadline,
            "no {want:?} in the stream:\n{seen}"
        );
        match stream.read(&mut buf) {
            Ok(0) => panic!("stream ended before {want:?}:\n{seen}"),
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(_) => {}
        }
    }
}

#[test]
fn sse_streams_subscribe_and_psubscribe_messages() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let mut sub = connect(addr);
    send(
        &mut sub,
        &format_request(
            "GET",
            "/subscribe/news",
            &[("Authorization", BEARER), ("Accept", "text/event-stream")],
            b"",
        ),
    );
    let mut seen = String::new();
    read_until(&mut sub, &mut seen, "data: subscribe,news,1\n\n");
    assert!(seen.contains("text/event-stream"), "{seen}");
    let mut psub = connect(addr);
    send(
        &mut psub,
        &format_request("POST", &format!("/psubscribe/ne*?_token={TOKEN}"), &[], b""),
    );
    let mut pseen = String::new();
    read_until(&mut psub, &mut pseen, "data: psubscribe,ne*,1\n\n");
    let published = post(addr, "/", &[], r#"["PUBLISH","news","line one\nline two"]"#);
    expect(&published, 200, r#"{"result":2}"#);
    read_until(
        &mut sub,
        &mut seen,
        "data: message,news,line one\ndata: line two\n\n",
    );
    read_until(
        &mut psub,
        &mut pseen,
        "data: pmessage,ne*,news,line one\ndata: line two\n\n",
    );
    // Without the token: no stream.
    let refused = request(addr, "GET", "/subscribe/news", &[], b"");
    expect(&refused, 401, r#"{"error":"Unauthorized"}"#);
}

#[test]
fn the_token_guards_the_keyvalue_api_too() {
    let (_redis, gateway) = Gateway::with_redis(&["--token", TOKEN, "--readonly-token", READONLY]);
    let addr = gateway.addr();
    let none = request(addr, "GET", "/k", &[], b"");
    expect_status(&none, 401);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let put = request(addr, "PUT", "/k", &[("Authorization", BEARER)], b"v");
    expect_status(&put, 204);
    let ro = [("Authorization", "Bearer look-only")];
    let get = request(addr, "GET", "/k", &ro, b"");
    assert_eq!((get.status, get.text().as_str()), (200, "v"), "{get:?}");
    expect_status(&request(addr, "HEAD", "/k", &ro, b""), 200);
    expect_status(&request(addr, "PUT", "/k", &ro, b"w"), 403);
    expect_status(&request(addr, "DELETE", "/k", &ro, b""), 403);
    expect_status(
        &request(
            addr,
            "DELETE",
            "/k",
            &[("Authorization", "Bearer nope")],
            b"",
        ),
        401,
    );
    // The query string is the key/value API's own: no ?_token= there.
    expect_status(
        &request(addr, "GET", &format!("/k?_token={TOKEN}"), &[], b""),
        401,
    );
}

#[test]
fn upstash_only_script_flags_are_taken_out_and_evalsha_follows() {
    let (_redis, gateway) = upstash(&[]);
    let addr = gateway.addr();
    let script = "#!lua flags=allow-key-locking\nreturn ARGV[1]";
    let body = format!(r#"["EVAL","{}",0,"hi"]"#, script.replace('\n', "\\n"));
    expect(&post(addr, "/", &[], &body), 200, r#"{"result":"hi"}"#);
    // The client's SHA1 is of the script as it wrote it.
    let sha: String = redis_gateway::websocket::sha1::digest(script.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let evalsha = post(addr, "/", &[], &format!(r#"["EVALSHA","{sha}",0,"again"]"#));
    expect(&evalsha, 200, r#"{"result":"again"}"#);
    expect_error(
        &post(
            addr,
            "/",
            &[],
            &format!(r#"["EVALSHA","{}",0]"#, "0".repeat(40)),
        ),
        400,
        "NOSCRIPT",
    );
}

/// A Redis whose `DEBUG SLEEP` works (Redis 7 disables `DEBUG` by default), and an Upstash
/// gateway in front of it.
fn upstash_with_debug(extra: &[&str]) -> (RedisServer, Gateway) {
    let redis = RedisServer::start_with(&["--enable-debug-command", "yes"]);
    let mut args = vec!["--api", "upstash", "--token", TOKEN];
    args.extend_from_slice(extra);
    let gateway = Gateway::start(&redis, &args);
    gateway.wait_ready();
    (redis, gateway)
}

#[test]
fn a_transaction_that_times_out_closes_its_connection_and_is_never_sent_again() {
    let (redis, gateway) = upstash_with_debug(&["--redis-timeout", "300ms"]);
    let addr = gateway.addr();
    let timeouts = "redis_gateway_redis_errors_total{kind=\"timeout\"}";
    let before = gateway.metric(timeouts);
    let slow = post(
        addr,
        "/multi-exec",
        &[],
        r#"[["INCR","once"],["DEBUG","SLEEP","1"]]"#,
    );
    expect_error(&slow, 504, "");
    gateway.wait_counter(timeouts, before + 1.0);
    // Redis ran it once (it was queued before the timeout): once, never again.
    assert_eq!(redis.cmd(&[b"GET", b"once"]).text(), "1");
    expect(
        &post(addr, "/", &[], r#"["GET","once"]"#),
        200,
        r#"{"result":"1"}"#,
    );
    // The connection it timed out on was closed, not given back with a reply still due.
    expect(
        &post(addr, "/", &[], r#"["INCR","once"]"#),
        200,
        r#"{"result":2}"#,
    );
}

#[test]
fn transactions_beyond_max_transactions_wait_then_get_503() {
    let (_redis, gateway) = upstash_with_debug(&[
        "--max-transactions",
        "1",
        "--checkout-timeout",
        "200ms",
        "--redis-timeout",
        "10s",
    ]);
    let addr = gateway.addr();
    let slow = thread::spawn(move || {
        post(
            addr,
            "/multi-exec",
            &[],
            r#"[["DEBUG","SLEEP","2"],["INCR","held"]]"#,
        )
    });
    // The slow transaction holds its connection (Redis sleeps, so ask the gateway, not Redis).
    gateway.wait_metric("redis_gateway_pool_in_use", 1.0);
    let refused = post(addr, "/multi-exec", &[], r#"[["INCR","other"]]"#);
    expect_error(&refused, 503, "--max-transactions");
    assert_eq!(refused.header("retry-after"), Some("1"));
    expect(
        &slow.join().expect("the slow client"),
        200,
        r#"[{"result":"OK"},{"result":1}]"#,
    );
    // The slot came back.
    expect(
        &post(addr, "/multi-exec", &[], r#"[["INCR","other"]]"#),
        200,
        r#"[{"result":1}]"#,
    );
}
