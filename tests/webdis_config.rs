//! webdis's own configuration file (`--webdis-config FILE`) end to end: a realistic `webdis.json`
//! (tests/fixtures/webdis.json, webdis's shipped file with a `"$ENV"` port and a default root), the ACL
//! (subnets, HTTP Basic credentials, the `*` wildcard, later rules winning), `redis_auth`, `database`,
//! `http_max_request_size`, flags winning over the file, and files the gateway must refuse to start with.

mod support;

use std::fs;
use std::net::TcpStream;
use std::time::Duration;
use support::*;

/// `Authorization` for `user:password`, the credentials of webdis's example ACL.
const GOOD_AUTH: (&str, &str) = ("Authorization", "Basic dXNlcjpwYXNzd29yZA==");
/// `Authorization` for `user:wrong`.
const BAD_AUTH: (&str, &str) = ("Authorization", "Basic dXNlcjp3cm9uZw==");

/// The fixture: webdis's shipped `webdis.json` with the Redis port read from `$TEST_REDIS_PORT`.
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/webdis.json");

/// Writes `text` as `webdis.json` in `dir` and returns its path.
fn write_config(dir: &TempDir, text: &str) -> String {
    let path = dir.path().join("webdis.json");
    fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    path.to_string_lossy().into_owned()
}

/// `GET path` with `headers` on `stream`.
fn get_on(stream: &mut TcpStream, path: &str, headers: &[(&str, &str)]) -> Response {
    request_on(stream, "GET", path, headers, b"")
}

/// Asserts the `Access-Control-Allow-Origin` every webdis answer carries.
#[track_caller]
fn expect_cors(response: &Response) {
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("*"),
        "CORS on every webdis answer:\n{response:?}"
    );
}

/// Asserts a 200 `application/json` answer with exactly `body`.
#[track_caller]
fn expect_json(response: &Response, body: &str) {
    expect_status(response, 200);
    assert_eq!(
        response.header("content-type"),
        Some("application/json"),
        "{response:?}"
    );
    assert_eq!(response.text(), body, "{response:?}");
}

/// Asserts the ACL refused `command`: 403, a short text naming it, the connection kept.
#[track_caller]
fn expect_denied(response: &Response, command: &str) {
    expect_status(response, 403);
    expect_text_error(response);
    expect_cors(response);
    assert!(
        response.text().contains(command),
        "the 403 names {command}:\n{response:?}"
    );
    assert!(
        !response.closes(),
        "a 403 keeps the connection:\n{response:?}"
    );
}

#[test]
fn the_fixture_file_configures_the_gateway() {
    let redis = RedisServer::start();
    let port = redis.port().to_string();
    // The file says 0.0.0.0:7379; the flag wins.
    let gateway = Gateway::spawn(
        &[
            "--webdis-config",
            FIXTURE,
            "--listen",
            "127.0.0.1:0",
            "--pool-size",
            "4",
        ],
        &[("TEST_REDIS_PORT", &port)],
    );
    let addr = gateway.addr();
    assert_eq!(
        addr.ip().to_string(),
        "127.0.0.1",
        "--listen wins over http_host"
    );
    assert_ne!(addr.port(), 7379, "--listen wins over http_port");
    gateway.wait_ready();
    let log = gateway.log();
    assert!(
        log.contains("(webdis API)"),
        "the file selects the webdis API:\n{log}"
    );
    assert!(
        log.contains(&format!("redis 127.0.0.1:{port}")),
        "redis_port from $TEST_REDIS_PORT:\n{log}"
    );
    for key in ["threads", "pool_size", "daemonize"] {
        assert!(
            log.contains(&format!("webdis.json \"{key}\" is not used")),
            "the start-up log says \"{key}\" is not used:\n{log}"
        );
    }

    // default_root "/GET/index.html" is run as that path: GET of key "index" as text/html (webdis
    // 0.1.9 answers the same bytes; the ".html" is the format, not part of the key).
    redis.cmd(&[b"SET", b"index", b"<h1>home</h1>"]);
    redis.cmd(&[b"SET", b"index.html", b"not this one"]);
    let mut stream = connect(addr);
    let root = request_on(&mut stream, "GET", "/", &[], b"");
    expect_status(&root, 200);
    assert_eq!(root.header("content-type"), Some("text/html"), "{root:?}");
    assert_eq!(root.body, b"<h1>home</h1>", "{root:?}");
    let explicit = request_on(&mut stream, "GET", "/GET/index.html", &[], b"");
    assert_eq!(
        (explicit.body.as_slice(), explicit.header("etag")),
        (root.body.as_slice(), root.header("etag")),
        "GET / is GET /GET/index.html:\n{explicit:?}"
    );

    // The shipped ACL: DEBUG is off, except with the right credentials.
    let response = request_on(&mut stream, "GET", "/DEBUG/HELP", &[], b"");
    expect_denied(&response, "DEBUG");
    let response = request_on(&mut stream, "GET", "/debug/HELP", &[], b"");
    expect_denied(&response, "debug");
    let response = request_on(&mut stream, "GET", "/DEBUG/HELP", &[BAD_AUTH], b"");
    expect_denied(&response, "DEBUG");
    let response = request_on(&mut stream, "GET", "/DEBUG/HELP", &[GOOD_AUTH], b"");
    expect_status(&response, 200);
    assert!(
        response.body.starts_with(br#"{"DEBUG":"#),
        "DEBUG reached Redis:\n{response:?}"
    );
    // Everything else is open to everyone.
    let response = request_on(&mut stream, "GET", "/GET/index", &[], b"");
    expect_json(&response, r#"{"GET":"<h1>home</h1>"}"#);
}

#[test]
fn acl_rules_match_by_subnet_and_basic_auth_and_later_rules_win() {
    let dir = TempDir::new("webdis-acl");
    // redis_port 1 is overridden by the --redis flag that Gateway::start passes.
    let path = write_config(
        &dir,
        r#"{
            "redis_host": "127.0.0.1",
            "redis_port": 1,
            "acl": [
                {"disabled": ["*"]},
                {"enabled": ["GET", "PING"]},
                {"ip": "10.0.0.0/8", "enabled": ["SET", "ECHO"]},
                {"ip": "127.0.0.0/8", "enabled": ["INCR", "TYPE"]},
                {"ip": "127.0.0.1", "disabled": ["TYPE"]},
                {"http_basic_auth": "user:password", "enabled": ["SET"]}
            ]
        }"#,
    );
    let (redis, gateway) = Gateway::with_redis(&["--webdis-config", &path, "--pool-size", "4"]);
    let mut stream = connect(gateway.addr());

    // "*" disabled everything; a later rule enabled GET.
    expect_json(&get_on(&mut stream, "/GET/k", &[]), r#"{"GET":null}"#);
    expect_denied(&get_on(&mut stream, "/DEL/k", &[]), "DEL");
    // 10.0.0.0/8 does not hold 127.0.0.1: its rule does not apply.
    expect_denied(&get_on(&mut stream, "/ECHO/x", &[]), "ECHO");
    expect_denied(&get_on(&mut stream, "/SET/k/v", &[]), "SET");
    assert_eq!(
        redis.cmd(&[b"GET", b"k"]).bulk(),
        None,
        "a denied SET never reaches Redis"
    );
    // 127.0.0.0/8 does: INCR and TYPE enabled, then a later rule for 127.0.0.1 disables TYPE.
    expect_json(&get_on(&mut stream, "/INCR/n", &[]), r#"{"INCR":1}"#);
    expect_json(&get_on(&mut stream, "/incr/n", &[]), r#"{"incr":2}"#);
    expect_denied(&get_on(&mut stream, "/TYPE/n", &[]), "TYPE");
    // The right credentials enable SET; wrong ones, or another scheme, leave the rule out.
    expect_denied(&get_on(&mut stream, "/SET/k/v", &[BAD_AUTH]), "SET");
    expect_denied(
        &get_on(
            &mut stream,
            "/SET/k/v",
            &[("Authorization", "Bearer dXNlcjpwYXNzd29yZA==")],
        ),
        "SET",
    );
    expect_json(
        &get_on(&mut stream, "/SET/k/v", &[GOOD_AUTH]),
        r#"{"SET":[true,"OK"]}"#,
    );
    assert_eq!(redis.cmd(&[b"GET", b"k"]).bulk(), Some(b"v".to_vec()));
    // Credentials add rules; they take none away.
    expect_json(
        &get_on(&mut stream, "/GET/k", &[GOOD_AUTH]),
        r#"{"GET":"v"}"#,
    );
    // The same rules hold for a POST body.
    let response = request_on(&mut stream, "POST", "/", &[], b"SET/k/w");
    expect_denied(&response, "SET");
    let response = request_on(&mut stream, "POST", "/", &[GOOD_AUTH], b"SET/k/w");
    expect_json(&response, r#"{"SET":[true,"OK"]}"#);
}

/// How one rule decides when it names a command both ways, or names it beside `*`: the named entry beats the
/// wildcard and `enabled` beats `disabled`. (Upstream webdis's `acl.c` applies a rule's `disabled` list
/// after its `enabled` list, so webdis 0.1.9 answers 403 to all three allowed requests below; the gateway
/// follows its own documented rule. See the report.)
#[test]
fn within_one_rule_disabled_wins_as_in_webdis() {
    let dir = TempDir::new("webdis-acl-rule");
    let path = write_config(
        &dir,
        r#"{
            "acl": [
                {"disabled": ["*"], "enabled": ["GET", "PING", "ECHO"]},
                {"enabled": ["ECHO"], "disabled": ["ECHO"]},
                {"enabled": ["PING"]}
            ]
        }"#,
    );
    let (_redis, gateway) = Gateway::with_redis(&["--webdis-config", &path, "--pool-size", "4"]);
    let mut stream = connect(gateway.addr());
    // webdis 0.1.9 refuses all three: a rule's `disabled` list wins over its `enabled` list.
    let response = request_on(&mut stream, "GET", "/GET/k", &[], b"");
    expect_denied(&response, "GET");
    let response = request_on(&mut stream, "GET", "/ECHO/hi", &[], b"");
    expect_denied(&response, "ECHO");
    let response = request_on(&mut stream, "GET", "/SET/k/v", &[], b"");
    expect_denied(&response, "SET");
}

#[test]
fn redis_auth_database_and_request_size_come_from_the_file() {
    let redis = RedisServer::start_with(&["--requirepass", "s3cret pass"]);
    let dir = TempDir::new("webdis-auth");
    let path = write_config(
        &dir,
        &format!(
            r#"{{
                "redis_host": "127.0.0.1",
                "redis_port": {},
                "redis_auth": "s3cret pass",
                "database": 3,
                "http_max_request_size": 1024
            }}"#,
            redis.port()
        ),
    );
    let gateway = Gateway::spawn(
        &[
            "--webdis-config",
            &path,
            "--listen",
            "127.0.0.1:0",
            "--pool-size",
            "4",
        ],
        &[],
    );
    let addr = gateway.addr();
    gateway.wait_ready();

    // Authenticated (REDIS_PASSWORD is removed from the environment: the password is the file's), and
    // keys land in database 3.
    let mut stream = connect(addr);
    let response = request_on(&mut stream, "GET", "/SET/k/v", &[], b"");
    expect_json(&response, r#"{"SET":[true,"OK"]}"#);
    let replies = redis.cmds(&[&[b"SELECT", b"3"], &[b"GET", b"k"]]);
    assert_eq!(replies[1].bulk(), Some(b"v".to_vec()));
    assert_eq!(redis.cmd(&[b"GET", b"k"]).bulk(), None, "not in database 0");
    let response = request_on(&mut stream, "GET", "/GET/k", &[], b"");
    expect_json(&response, r#"{"GET":"v"}"#);
    let response = request_on(&mut stream, "GET", "/3/GET/k", &[], b"");
    expect_json(&response, r#"{"GET":"v"}"#);
    let response = request_on(&mut stream, "GET", "/0/GET/k", &[], b"");
    expect_json(&response, r#"{"GET":null}"#);

    // http_max_request_size: a body of exactly the limit is stored, one byte more is 413.
    let body = vec![b'x'; 1024];
    let response = request_on(&mut stream, "PUT", "/SET/big", &[], &body);
    expect_json(&response, r#"{"SET":[true,"OK"]}"#);
    let replies = redis.cmds(&[&[b"SELECT", b"3"], &[b"STRLEN", b"big"]]);
    assert_eq!(replies[1].integer(), 1024);
    let mut stream = connect(addr);
    let response = request_on(&mut stream, "PUT", "/SET/big", &[], &[b'y'; 1025]);
    expect_status(&response, 413);
    expect_cors(&response);
    let replies = redis.cmds(&[&[b"SELECT", b"3"], &[b"GET", b"big"]]);
    assert_eq!(
        replies[1].bulk(),
        Some(body),
        "the refused body changed nothing"
    );
}

#[test]
fn bad_files_stop_the_gateway_with_exit_code_2() {
    let dir = TempDir::new("webdis-bad");
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "trailing-comma.json",
            "{\n  \"redis_port\": 6379,\n  \"daemonize\": false,\n}\n",
            &["line", "column"],
        ),
        (
            "unset-env.json",
            r#"{"redis_port": "$WEBDIS_TEST_SURELY_UNSET_PORT"}"#,
            &["WEBDIS_TEST_SURELY_UNSET_PORT"],
        ),
        (
            "bad-subnet.json",
            r#"{"acl": [{"ip": "10.0.0.0/40", "disabled": ["DEBUG"]}]}"#,
            &["10.0.0.0/40"],
        ),
        (
            "bad-port.json",
            r#"{"redis_port": "not a port"}"#,
            &["redis_port"],
        ),
    ];
    for (name, text, needles) in cases {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        let path = path.to_string_lossy().into_owned();
        let outcome = run(&["--webdis-config", &path], &[], Duration::from_secs(10));
        assert_eq!(outcome.code(), Some(2), "{name}: exit code 2:\n{outcome:?}");
        assert!(
            outcome.stderr.contains(&path),
            "{name}: the message names the file:\n{outcome:?}"
        );
        for needle in *needles {
            assert!(
                outcome.stderr.contains(needle),
                "{name}: the message says {needle:?}:\n{outcome:?}"
            );
        }
        assert!(
            !outcome.stderr.contains("listening on"),
            "{name}: never served:\n{outcome:?}"
        );
    }
    let missing = dir.path().join("missing.json");
    let missing = missing.to_string_lossy().into_owned();
    let outcome = run(&["--webdis-config", &missing], &[], Duration::from_secs(10));
    assert_eq!(outcome.code(), Some(2), "a missing file:\n{outcome:?}");
    assert!(outcome.stderr.contains(&missing), "{outcome:?}");
}

#[test]
fn print_config_names_the_webdis_file() {
    let dir = TempDir::new("webdis-print");
    let path = write_config(&dir, r#"{"acl": [{"disabled": ["FLUSHALL"]}]}"#);
    let outcome = run(
        &["--webdis-config", &path, "--print-config"],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(outcome.code(), Some(0), "{}", outcome.stderr);
    // The ACL lives only in the file: the printed configuration must name it.
    assert!(
        outcome
            .stdout
            .contains(&format!("REDIS_GATEWAY_WEBDIS_CONFIG={path}\n")),
        "{}",
        outcome.stdout
    );
    assert!(
        outcome.stdout.contains("REDIS_GATEWAY_API=webdis\n"),
        "{}",
        outcome.stdout
    );
}
