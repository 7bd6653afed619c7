//! The security doors (issue #13, items 2 and 5), over real sockets in front of a real Redis:
//! `POST /shutdown` refused from a web page (`Origin`), without its custom header or token, and
//! accepted with them; admin requests whose `Host` does not name the admin listener (DNS
//! rebinding) refused; the key/value API's cross-origin writes refused unless the origin is in
//! `--allow-origin` (which gets CORS headers and preflights); the webdis API's open CORS and the
//! same list; two `Authorization` headers; `X-Content-Type-Options: nosniff`; the ACL rule bound.

mod support;

use std::fs;
use std::time::Duration;
use support::*;

/// A page of another site.
const EVIL: &str = "https://evil.example";
/// The page the tests list in `--allow-origin`.
const APP: &str = "https://app.example";

/// Asserts a refusal: `status` and a text body holding `needle` (why).
#[track_caller]
fn expect_refused(response: &Response, status: u16, needle: &str) {
    expect_status(response, status);
    assert!(
        response.text().contains(needle),
        "the refusal should say why ({needle:?}):\n{response:?}"
    );
}

/// Asserts that `response` carries no CORS header at all.
#[track_caller]
fn expect_no_cors(response: &Response) {
    assert!(
        !response
            .headers
            .iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("access-control-")),
        "no CORS header expected:\n{response:?}"
    );
}

// ----- the admin listener -----

#[test]
fn shutdown_is_refused_from_a_page_and_without_its_header_then_accepted_with_it() {
    let (_redis, mut gateway) = Gateway::with_redis(&[]);
    let admin = gateway.admin();

    // A page's simple POST: text/plain body, Origin of the page.
    let response = request(
        admin,
        "POST",
        "/shutdown",
        &[
            ("Origin", EVIL),
            ("Content-Type", "text/plain"),
            SHUTDOWN_HEADER,
        ],
        b"x",
    );
    expect_refused(&response, 403, "Origin");
    // No Origin but no custom header either (a form, an <img>, a curl without it).
    let response = request(admin, "POST", "/shutdown", &[], b"");
    expect_refused(&response, 403, "X-Redis-Gateway: shutdown");
    let response = request(
        admin,
        "POST",
        "/shutdown",
        &[("X-Redis-Gateway", "yes")],
        b"",
    );
    expect_status(&response, 403);
    assert!(
        gateway.is_running(),
        "a refused shutdown stopped the gateway"
    );
    // Still serving.
    expect_status(&request(gateway.addr(), "GET", "/k", &[], b""), 404);

    // The header: 202, and the process exits.
    let response = request(admin, "POST", "/shutdown", &[SHUTDOWN_HEADER], b"");
    expect_status(&response, 202);
    assert!(
        gateway.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway still runs 10 s after an accepted POST /shutdown; log:\n{}",
        gateway.log()
    );
}

#[test]
fn with_an_admin_token_shutdown_needs_the_bearer_token() {
    let (_redis, mut gateway) = Gateway::with_redis(&["--admin-token", "s3cret-token"]);
    let admin = gateway.admin();
    // The custom header alone is not enough once a token is set.
    let response = request(admin, "POST", "/shutdown", &[SHUTDOWN_HEADER], b"");
    expect_refused(&response, 401, "Bearer");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Bearer"),
        "{response:?}"
    );
    for wrong in [
        "Bearer s3cret-tokeN",
        "Bearer s3cret-token-and-more",
        "Bearer ",
        "Basic czM=",
    ] {
        let response = request(admin, "POST", "/shutdown", &[("Authorization", wrong)], b"");
        expect_status(&response, 401);
    }
    // The right token from a page is still refused: Origin wins.
    let response = request(
        admin,
        "POST",
        "/shutdown",
        &[("Authorization", "Bearer s3cret-token"), ("Origin", EVIL)],
        b"",
    );
    expect_status(&response, 403);
    // Two Authorization headers: 400, whatever they say.
    let response = request(
        admin,
        "POST",
        "/shutdown",
        &[
            ("Authorization", "Bearer wrong"),
            ("Authorization", "Bearer s3cret-token"),
        ],
        b"",
    );
    expect_status(&response, 400);
    assert!(
        gateway.is_running(),
        "a refused shutdown stopped the gateway"
    );
    // The token never shows in the log.
    let log = gateway.log();
    assert!(!log.contains("s3cret-token"), "{log}");

    let response = request(
        admin,
        "POST",
        "/shutdown",
        &[("Authorization", "Bearer s3cret-token")],
        b"",
    );
    expect_status(&response, 202);
    assert!(
        gateway.wait_exit(Duration::from_secs(10)).is_some(),
        "the gateway still runs 10 s after an accepted POST /shutdown"
    );
}

#[test]
fn admin_requests_must_name_the_admin_listener_in_host() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let admin = gateway.admin();
    let port = admin.port();
    for host in [
        admin.to_string(),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
    ] {
        let mut stream = connect(admin);
        send(
            &mut stream,
            &format_request_to(&host, "GET", "/healthz", &[], b""),
        );
        let response = read_response(&mut stream).unwrap_or_else(|e| panic!("{host}: {e}"));
        expect_status(&response, 200);
    }
    // A page whose DNS name was rebound to 127.0.0.1 sends its own name.
    for (path, method) in [
        ("/healthz", "GET"),
        ("/metrics", "GET"),
        ("/shutdown", "POST"),
    ] {
        let mut stream = connect(admin);
        let host = format!("rebound.evil.example:{port}");
        send(
            &mut stream,
            &format_request_to(&host, method, path, &[SHUTDOWN_HEADER], b""),
        );
        let response = read_response(&mut stream).unwrap_or_else(|e| panic!("{path}: {e}"));
        expect_refused(&response, 421, "rebound.evil.example");
    }
    // The right name with another port is another listener.
    let mut stream = connect(admin);
    let other = format!("127.0.0.1:{}", port.wrapping_add(1));
    send(
        &mut stream,
        &format_request_to(&other, "GET", "/metrics", &[], b""),
    );
    expect_status(&read_response(&mut stream).unwrap(), 421);
    // HTTP/1.1 without Host: 400.
    let mut stream = connect(admin);
    send(&mut stream, b"GET /healthz HTTP/1.1\r\n\r\n");
    expect_status(&read_response(&mut stream).unwrap(), 400);
    // Nothing of it stopped the gateway.
    expect_status(&request(admin, "GET", "/healthz", &[], b""), 200);
}

// ----- the key/value API -----

#[test]
fn key_value_writes_from_other_origins_are_refused_and_change_nothing() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let addr = gateway.addr();
    // Today's default: no --allow-origin, so no page may change data, and no CORS is sent.
    let response = request(addr, "PUT", "/csrf", &[("Origin", EVIL)], b"pwned");
    expect_refused(&response, 403, EVIL);
    expect_no_cors(&response);
    let response = request(
        addr,
        "POST",
        "/",
        &[
            ("Origin", EVIL),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        b"csrf=pwned&other=pwned",
    );
    expect_status(&response, 403);
    assert_eq!(
        redis.cmd(&[b"EXISTS", b"csrf", b"other"]).integer(),
        0,
        "a refused write landed"
    );
    redis.cmd(&[b"SET", b"keep", b"v"]);
    let response = request(addr, "DELETE", "/keep", &[("Origin", "null")], b"");
    expect_status(&response, 403);
    assert_eq!(redis.cmd(&[b"GET", b"keep"]).bulk(), Some(b"v".to_vec()));
    // Reads from a page are not refused (the browser keeps the answer from the page: no CORS).
    let response = request(addr, "GET", "/keep", &[("Origin", EVIL)], b"");
    expect_status(&response, 200);
    expect_no_cors(&response);
    // Without Origin (curl, scripts), everything as before.
    expect_status(&request(addr, "PUT", "/csrf", &[], b"ok"), 204);
    assert_eq!(redis.cmd(&[b"GET", b"csrf"]).bulk(), Some(b"ok".to_vec()));
}

#[test]
fn listed_origins_may_write_and_get_cors_headers_and_preflights() {
    let (redis, gateway) = Gateway::with_redis(&[
        "--allow-origin",
        "https://app.example,http://localhost:3000",
    ]);
    let addr = gateway.addr();

    let response = request(addr, "PUT", "/from-app", &[("Origin", APP)], b"hello");
    expect_status(&response, 204);
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some(APP),
        "{response:?}"
    );
    assert_eq!(response.header("vary"), Some("Origin"), "{response:?}");
    assert_eq!(
        redis.cmd(&[b"GET", b"from-app"]).bulk(),
        Some(b"hello".to_vec())
    );
    let response = request(addr, "GET", "/from-app", &[("Origin", APP)], b"");
    expect_status(&response, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some(APP));
    // Preflight.
    let response = request(
        addr,
        "OPTIONS",
        "/from-app",
        &[
            ("Origin", "http://localhost:3000"),
            ("Access-Control-Request-Method", "DELETE"),
            ("Access-Control-Request-Headers", "content-type"),
        ],
        b"",
    );
    assert!(
        response.status == 204 || response.status == 200,
        "{response:?}"
    );
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("http://localhost:3000")
    );
    let methods = response
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(
        methods.contains("DELETE") && methods.contains("PUT"),
        "{response:?}"
    );
    let headers = response
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(
        headers.to_ascii_lowercase().contains("content-type"),
        "{response:?}"
    );
    assert!(
        response.header("access-control-max-age").is_some(),
        "{response:?}"
    );
    // Another origin: refused, and its preflight gets no CORS.
    let response = request(addr, "PUT", "/from-app", &[("Origin", EVIL)], b"pwned");
    expect_status(&response, 403);
    expect_no_cors(&response);
    assert_eq!(
        redis.cmd(&[b"GET", b"from-app"]).bulk(),
        Some(b"hello".to_vec())
    );
    let response = request(
        addr,
        "OPTIONS",
        "/from-app",
        &[("Origin", EVIL), ("Access-Control-Request-Method", "PUT")],
        b"",
    );
    expect_no_cors(&response);
}

// ----- the webdis API -----

#[test]
fn webdis_keeps_open_cors_by_default_and_takes_the_list() {
    let (redis, open) = Gateway::with_redis(&["--api", "webdis"]);
    let response = request(open.addr(), "POST", "/", &[("Origin", EVIL)], b"SET/w1/v");
    expect_status(&response, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    assert_eq!(redis.cmd(&[b"GET", b"w1"]).bulk(), Some(b"v".to_vec()));

    let listed = Gateway::start(&redis, &["--api", "webdis", "--allow-origin", APP]);
    listed.wait_ready();
    let addr = listed.addr();
    let response = request(addr, "POST", "/", &[("Origin", EVIL)], b"SET/w2/v");
    expect_refused(&response, 403, EVIL);
    expect_no_cors(&response);
    let response = request(addr, "PUT", "/SET/w2", &[("Origin", EVIL)], b"v");
    expect_status(&response, 403);
    assert_eq!(
        redis.cmd(&[b"EXISTS", b"w2"]).integer(),
        0,
        "a refused write landed"
    );
    let response = request(addr, "POST", "/", &[("Origin", APP)], b"SET/w2/v");
    expect_status(&response, 200);
    assert_eq!(response.header("access-control-allow-origin"), Some(APP));
    assert_eq!(redis.cmd(&[b"GET", b"w2"]).bulk(), Some(b"v".to_vec()));
    let response = request(addr, "GET", "/GET/w2", &[("Origin", EVIL)], b"");
    expect_status(&response, 200);
    expect_no_cors(&response);
    let response = request(
        addr,
        "OPTIONS",
        "/",
        &[("Origin", APP), ("Access-Control-Request-Method", "PUT")],
        b"",
    );
    assert_eq!(response.header("access-control-allow-origin"), Some(APP));
}

#[test]
fn webdis_with_websockets_refuses_an_unlisted_page_upgrade() {
    // A WebSocket is a GET after which the page sends commands, and no CORS rule stops it.
    let (_redis, gateway) = Gateway::with_redis(&[
        "--api",
        "webdis",
        "--websockets",
        "on",
        "--allow-origin",
        APP,
    ]);
    let upgrade = |origin: &str| {
        request(
            gateway.addr(),
            "GET",
            "/.json",
            &[
                ("Origin", origin),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Sec-WebSocket-Version", "13"),
            ],
            b"",
        )
    };
    expect_refused(&upgrade(EVIL), 403, EVIL);
    expect_status(&upgrade(APP), 101);
}

#[test]
fn two_authorization_headers_are_refused() {
    let (_redis, gateway) = Gateway::with_redis(&["--api", "webdis"]);
    let response = request(
        gateway.addr(),
        "GET",
        "/PING",
        &[
            ("Authorization", "Basic dXNlcjpwYXNzd29yZA=="),
            ("authorization", "Basic dXNlcjp3cm9uZw=="),
        ],
        b"",
    );
    expect_refused(&response, 400, "authorization");
    let response = request(
        gateway.addr(),
        "GET",
        "/PING",
        &[("Authorization", "Basic dXNlcjpwYXNzd29yZA==")],
        b"",
    );
    expect_status(&response, 200);
}

#[test]
fn every_answer_says_nosniff() {
    let (_redis, kv) = Gateway::with_redis(&[]);
    let (_redis2, webdis) = Gateway::with_redis(&["--api", "webdis"]);
    let answers = [
        request(kv.addr(), "GET", "/missing", &[], b""),
        request(kv.addr(), "PUT", "/k", &[], b"v"),
        request(kv.addr(), "GET", "/k", &[], b""),
        request(kv.addr(), "BREW", "/k", &[], b""),
        request(kv.admin(), "GET", "/metrics", &[], b""),
        request(kv.admin(), "GET", "/healthz", &[], b""),
        request(kv.admin(), "POST", "/shutdown", &[], b""),
        request(
            webdis.addr(),
            "GET",
            "/SET/page/%3Cscript%3E.html",
            &[],
            b"",
        ),
        request(webdis.addr(), "GET", "/GET/page?type=text/html", &[], b""),
        request(webdis.addr(), "GET", "/NOPE", &[], b""),
    ];
    for response in &answers {
        assert_eq!(
            response.header("x-content-type-options"),
            Some("nosniff"),
            "{response:?}"
        );
    }
}

#[test]
fn a_webdis_config_with_too_many_acl_rules_is_refused_at_start() {
    let dir = TempDir::new("acl-bound");
    let rule = r#"{"disabled": ["DEBUG"]},"#;
    let path = dir.path().join("webdis.json");
    let text = format!(r#"{{"acl": [{}{{}}]}}"#, rule.repeat(1024));
    fs::write(&path, text).expect("write webdis.json");
    let path = path.to_string_lossy().into_owned();
    let run = run(
        &["--webdis-config", &path, "--listen", "127.0.0.1:0"],
        &[],
        Duration::from_secs(10),
    );
    assert_eq!(run.code(), Some(2), "{run:?}");
    assert!(
        run.stderr.contains("1025 rules") && run.stderr.contains("at most 1024"),
        "{}",
        run.stderr
    );
}

#[test]
fn html_answers_are_served_as_webdis_does_unless_switched_off() {
    let (redis, on) = Gateway::with_redis(&["--api", "webdis"]);
    redis.cmd(&[b"SET", b"page", b"<script>alert(1)</script>"]);
    let response = request(on.addr(), "GET", "/GET/page.html", &[], b"");
    expect_status(&response, 200);
    assert_eq!(
        response.header("content-type"),
        Some("text/html"),
        "{response:?}"
    );
    assert_eq!(response.header("x-content-type-options"), Some("nosniff"));

    let off = Gateway::start(&redis, &["--api", "webdis", "--webdis-allow-html", "off"]);
    off.wait_ready();
    for path in [
        "/GET/page.html",
        "/GET/page.xhtml",
        "/GET/page.xml",
        "/GET/page?type=text/html",
        "/GET/page?type=image/svg%2Bxml",
        "/GET/page?type=TEXT/HTML;charset=utf-8",
    ] {
        let response = request(off.addr(), "GET", path, &[], b"");
        expect_refused(&response, 403, "--webdis-allow-html");
        assert!(
            !response.text().contains("<script>"),
            "{path}: {response:?}"
        );
    }
    for (path, content_type) in [
        ("/GET/page.txt", "text/plain"),
        ("/GET/page?type=text/plain", "text/plain"),
        ("/GET/page", "application/json"),
    ] {
        let response = request(off.addr(), "GET", path, &[], b"");
        expect_status(&response, 200);
        assert_eq!(
            response.header("content-type"),
            Some(content_type),
            "{path}"
        );
    }
}
