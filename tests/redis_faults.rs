//! Redis going wrong under the gateway: absent at start-up, killed while serving, stopped (SIGSTOP), an
//! exhausted pool, error replies of every class, and a fake Redis that sends malformed or stalled replies.
//! Also checks the test's own `redis-server` guard, which every other test relies on.

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};
use support::redis::RespConn;
use support::*;

/// How long a failing request may take when Redis is down or stalled (`--redis-timeout 1s`, checkout 1 s).
const FAIL_FAST: Duration = Duration::from_millis(2_500);

/// Full pool size with default settings.
const POOL_SIZE: usize = 40;

fn timed_get(addr: SocketAddr, path: &str) -> (Result<Response, String>, Duration) {
    let started = Instant::now();
    let response = try_request(addr, "GET", path, &[], b"");
    (response, started.elapsed())
}

#[track_caller]
fn expect_retry_after(response: &Response) {
    let value = response
        .header("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After on:\n{response:?}"));
    assert!(
        value.parse::<u64>().is_ok(),
        "Retry-After {value:?} is not a number of seconds:\n{response:?}"
    );
}

// ----- the guard itself -----

#[test]
fn redis_guard_round_trips_and_restarts_on_the_same_port() {
    let mut redis = RedisServer::start();
    assert_eq!(
        redis.cmd(&[b"SET", b"k", b"v\x00\xff"]),
        RespReply::Simple("OK".into())
    );
    assert_eq!(
        redis.cmd(&[b"GET", b"k"]).bulk(),
        Some(b"v\x00\xff".to_vec())
    );
    assert_eq!(redis.cmd(&[b"GET", b"missing"]), RespReply::Nil);
    assert_eq!(
        redis.cmd(&[b"RPUSH", b"l", b"a", b"b"]),
        RespReply::Integer(2)
    );
    assert_eq!(
        redis.cmd(&[b"LRANGE", b"l", b"0", b"-1"]),
        RespReply::Array(vec![
            RespReply::Bulk(b"a".to_vec()),
            RespReply::Bulk(b"b".to_vec())
        ])
    );
    assert!(
        matches!(redis.cmd(&[b"GET", b"l"]), RespReply::Error(ref e) if e.starts_with("WRONGTYPE")),
        "GET on a list must be a WRONGTYPE error"
    );
    let replies = redis.cmds(&[
        &[b"SELECT", b"3"],
        &[b"SET", b"in3", b"x"],
        &[b"EXISTS", b"in3"],
    ]);
    assert_eq!(replies[2], RespReply::Integer(1));
    assert_eq!(
        redis.cmd(&[b"EXISTS", b"in3"]),
        RespReply::Integer(0),
        "db 0 must not see db 3"
    );

    let port = redis.port();
    redis.kill();
    assert!(
        RespConn::connect(redis.addr()).is_err(),
        "port {port} still answers after kill"
    );
    redis.restart();
    assert_eq!(redis.port(), port);
    assert_eq!(
        redis.cmd(&[b"GET", b"k"]),
        RespReply::Nil,
        "persistence must be off"
    );
}

#[test]
fn redis_guard_authenticates_when_started_with_requirepass() {
    let redis = RedisServer::start_with(&["--requirepass", "secret"]);
    assert_eq!(redis.cmd(&[b"PING"]), RespReply::Simple("PONG".into()));
    let mut raw = RespConn::connect(redis.addr()).expect("connect");
    let reply = raw.cmd(&[b"GET", b"k"]).expect("reply");
    assert!(
        matches!(reply, RespReply::Error(ref e) if e.starts_with("NOAUTH")),
        "unauthenticated GET: {reply:?}"
    );
}

#[test]
fn redis_guard_fails_with_install_hint_when_binary_is_missing() {
    // Only the lookup is checked, with the environment passed in, so the process environment stays untouched.
    let result =
        std::panic::catch_unwind(|| support::redis::redis_binary_from(None, Some("".into())));
    let message = match result {
        Ok(path) => panic!("found a binary at {}", path.display()),
        Err(payload) => payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default(),
    };
    assert!(
        message.contains("apt-get install redis-server") && message.contains("REDIS_SERVER="),
        "panic message: {message:?}"
    );
}

// ----- Redis absent, killed, stopped -----

#[test]
fn redis_down_at_start_up_gives_503_then_serves_once_it_comes_up() {
    let port = closed_port();
    let gateway = Gateway::start_port(port, &[]);
    for path in ["/k", "/other"] {
        let (response, took) = timed_get(gateway.addr(), path);
        let response = response.unwrap_or_else(|e| panic!("GET {path} with Redis down: {e}"));
        expect_status(&response, 503);
        expect_retry_after(&response);
        expect_common_headers(&response);
        assert!(took < FAIL_FAST, "503 took {took:?}");
    }
    let put = request(gateway.addr(), "PUT", "/k", &[], b"v");
    expect_status(&put, 503);
    expect_retry_after(&put);
    // 5xx follow keep-alive: the same socket serves the next request.
    let mut stream = connect(gateway.addr());
    for i in 0..3 {
        let response = request_on(&mut stream, "GET", "/k", &[], b"");
        expect_status(&response, 503);
        assert!(
            !response.closes(),
            "503 #{i} closed a keep-alive connection:\n{response:?}"
        );
    }
    // "Says so once in the log": the retrying maintainer must not repeat it (checked over four more
    // failed attempts, each a chance to log again).
    let redis_addr = format!("127.0.0.1:{port}");
    let mentions = || {
        gateway
            .log()
            .lines()
            .filter(|l| l.contains(&redis_addr) && !l.contains("listening on"))
            .count()
    };
    assert!(
        poll_until(START_TIMEOUT, || mentions() >= 1),
        "the log never says Redis {redis_addr} is unreachable:\n{}",
        gateway.log()
    );
    gateway.wait_connect_failures(4);
    let repeated = mentions() > 1;
    assert!(
        !repeated,
        "Redis being down was logged more than once:\n{}",
        gateway.log()
    );

    let redis = RedisServer::start_on(port, &[]);
    gateway.wait_ready();
    expect_status(&request(gateway.addr(), "PUT", "/k", &[], b"v"), 204);
    let get = request(gateway.addr(), "GET", "/k", &[], b"");
    expect_status(&get, 200);
    assert_eq!(get.body, b"v");
    gateway.expect_pool(&redis, POOL_SIZE);
}

#[test]
fn redis_killed_while_serving_gives_fast_5xx_and_recovers_after_restart() {
    let (mut redis, gateway) = Gateway::with_redis(&[]);
    gateway.expect_pool(&redis, POOL_SIZE);
    let value = b"the one true value".to_vec();
    expect_status(&request(gateway.addr(), "PUT", "/k", &[], &value), 204);

    // Clients keep asking all along; none may hang, none may see a wrong value.
    let stop = Arc::new(AtomicBool::new(false));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let saw_5xx = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (stop, problems, value, addr, saw_5xx) = (
            Arc::clone(&stop),
            Arc::clone(&problems),
            value.clone(),
            gateway.addr(),
            Arc::clone(&saw_5xx),
        );
        clients.push(thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (response, took) = timed_get(addr, "/k");
                if matches!(&response, Ok(r) if r.status >= 500) {
                    saw_5xx.store(true, Ordering::Relaxed);
                }
                let problem = match &response {
                    Err(e) => Some(format!("request failed after {took:?}: {e}")),
                    Ok(r) if took > FAIL_FAST => Some(format!("took {took:?}: {r:?}")),
                    Ok(r) if r.status == 200 && r.body != value => {
                        Some(format!("wrong value:\n{r:?}"))
                    }
                    Ok(r) if matches!(r.status, 200 | 404 | 500..=599) => None,
                    Ok(r) => Some(format!("unexpected status:\n{r:?}")),
                };
                if let Some(p) = problem {
                    problems.lock().unwrap().push(p);
                }
                if let Ok(r) = response {
                    seen.push(r.status);
                }
            }
            seen
        }));
    }

    redis.kill();
    for i in 0..5 {
        let (response, took) = timed_get(gateway.addr(), "/k");
        let response = response.unwrap_or_else(|e| panic!("GET #{i} after kill: {e}"));
        assert!(
            (500..=599).contains(&response.status),
            "GET #{i} after kill, want 5xx:\n{response:?}"
        );
        assert!(took < FAIL_FAST, "GET #{i} after kill took {took:?}");
        if response.status == 503 {
            expect_retry_after(&response);
        }
    }

    // Keep Redis down until the background clients have met the outage too (the window would
    // otherwise be a few milliseconds, and they might never make a request inside it).
    assert!(
        poll_until(Duration::from_secs(5), || saw_5xx.load(Ordering::Relaxed)),
        "the background clients got no 5xx within 5 s of the kill"
    );
    redis.restart();
    gateway.wait_ready(); // Redis is empty now: GET of a missing key is 404 again.
    expect_status(&request(gateway.addr(), "PUT", "/k", &[], &value), 204);
    let get = request(gateway.addr(), "GET", "/k", &[], b"");
    expect_status(&get, 200);
    assert_eq!(get.body, value);
    gateway.expect_pool(&redis, POOL_SIZE);

    stop.store(true, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for client in clients {
        statuses.extend(client.join().expect("client thread"));
    }
    let problems = problems.lock().unwrap();
    assert!(
        problems.is_empty(),
        "{} problems, first ones: {:#?}",
        problems.len(),
        &problems[..problems.len().min(5)]
    );
    assert!(
        statuses.iter().any(|s| (500..=599).contains(s)),
        "the background clients never saw Redis down: {statuses:?}"
    );
}

#[test]
fn redis_stopped_gives_504_then_heals_without_stale_replies() {
    let (redis, gateway) = Gateway::with_redis(&["--redis-timeout", "1s"]);
    expect_status(&request(gateway.addr(), "PUT", "/k", &[], b"v"), 204);

    redis.stop_signal("STOP");
    let (first, took) = timed_get(gateway.addr(), "/k");
    let (second, took2) = timed_get(gateway.addr(), "/k");
    redis.stop_signal("CONT");
    let first = first.unwrap_or_else(|e| panic!("GET with Redis stopped: {e}"));
    expect_status(&first, 504);
    expect_common_headers(&first);
    assert!(took < Duration::from_secs(3), "504 took {took:?}");
    let second = second.unwrap_or_else(|e| panic!("second GET with Redis stopped: {e}"));
    assert!(
        matches!(second.status, 503 | 504),
        "second GET, want 503/504:\n{second:?}"
    );
    assert!(took2 < Duration::from_secs(3), "second GET took {took2:?}");

    let healed = poll_until(
        START_TIMEOUT,
        || matches!(try_request(gateway.addr(), "GET", "/k", &[], b""), Ok(r) if r.status == 200 && r.body == b"v"),
    );
    assert!(
        healed,
        "GET /k did not return 200 v within {START_TIMEOUT:?} of SIGCONT"
    );
    // A connection whose reply timed out must never be reused: its late reply would answer the next request.
    for i in 0..60 {
        let key = format!("after-{i}");
        redis.cmd(&[b"SET", key.as_bytes(), format!("value-{i}").as_bytes()]);
        let get = request(gateway.addr(), "GET", &format!("/{key}"), &[], b"");
        expect_status(&get, 200);
        assert_eq!(
            get.text(),
            format!("value-{i}"),
            "stale reply on a reused connection"
        );
    }
}

#[test]
fn exhausted_pool_gives_503_with_retry_after() {
    let (redis, gateway) = Gateway::with_redis(&[
        "--pool-size",
        "1",
        "--redis-timeout",
        "3s",
        "--checkout-timeout",
        "500ms",
    ]);
    gateway.expect_pool(&redis, 1);
    redis.stop_signal("STOP");
    // Two requests: the first checks out the one connection and waits for Redis (504 after 3 s); the
    // second, sent while the first is in flight, cannot check out (503 after 500 ms). The second is
    // sent only once the first one's command sits unread in the stopped Redis: requests that arrive
    // together are sent to Redis in one pipeline on one connection, and would then both wait for the
    // reply instead of contending for the pool.
    let addr = gateway.addr();
    let a = thread::spawn(move || timed_get(addr, "/a"));
    assert!(
        poll_until(START_TIMEOUT, || redis.unread_bytes() > 0),
        "the first GET never reached the stopped Redis"
    );
    let b = thread::spawn(move || timed_get(addr, "/b"));
    let results = [a.join().expect("a"), b.join().expect("b")];
    redis.stop_signal("CONT");
    let mut saw_503 = false;
    for (response, took) in &results {
        let response = response
            .as_ref()
            .unwrap_or_else(|e| panic!("request failed: {e}"));
        assert!(
            matches!(response.status, 503 | 504),
            "want 503 or 504:\n{response:?}"
        );
        if response.status == 503 {
            expect_retry_after(response);
            assert!(*took < FAIL_FAST, "503 for a full pool took {took:?}");
            saw_503 = true;
        }
    }
    assert!(
        saw_503,
        "no 503 although two requests shared one connection: {results:?}"
    );
    gateway.wait_ready();
}

// ----- error replies and malformed replies -----

/// A fake Redis: `PING` → `+PONG`, `GET`/`SET` of a key → the reply listed for that key, `$-1`/`+OK` for
/// other keys, `HELLO` → unknown command (like an old server), anything else → `+OK`.
fn fake_redis(replies: &'static [(&'static str, &'static [u8])]) -> FakeRedis {
    FakeRedis::start(move |args: &[Vec<u8>]| {
        let command = args
            .first()
            .map(|c| c.to_ascii_uppercase())
            .unwrap_or_default();
        let key = args.get(1).cloned().unwrap_or_default();
        match command.as_slice() {
            b"PING" => Act::reply(b"+PONG\r\n"),
            b"HELLO" => Act::reply(b"-ERR unknown command 'HELLO'\r\n"),
            b"GET" | b"SET" => match replies.iter().find(|(k, _)| k.as_bytes() == key) {
                Some((_, reply)) => Act::reply(reply),
                None if command == b"GET" => Act::reply(b"$-1\r\n"),
                None => Act::reply(b"+OK\r\n"),
            },
            _ => Act::reply(b"+OK\r\n"),
        }
    })
}

#[test]
fn redis_error_replies_map_to_statuses() {
    static REPLIES: &[(&str, &[u8])] = &[
        (
            "wrongtype",
            b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
        ),
        (
            "loading",
            b"-LOADING Redis is loading the dataset in memory\r\n",
        ),
        ("busy", b"-BUSY Redis is busy running a script\r\n"),
        (
            "readonly",
            b"-READONLY You can't write against a read only replica.\r\n",
        ),
        ("masterdown", b"-MASTERDOWN Link with MASTER is down\r\n"),
        (
            "tryagain",
            b"-TRYAGAIN Multiple keys request during rehashing of slot\r\n",
        ),
        (
            "oom",
            b"-OOM command not allowed when used memory > 'maxmemory'.\r\n",
        ),
        ("other", b"-ERR something else went wrong\r\n"),
        ("ok", b"$2\r\nok\r\n"),
    ];
    let fake = fake_redis(REPLIES);
    let gateway = Gateway::start_port(fake.port(), &[]);
    gateway.wait_ready();
    let table: &[(&str, u16)] = &[
        ("wrongtype", 409),
        ("loading", 503),
        ("busy", 503),
        ("readonly", 503),
        ("masterdown", 503),
        ("tryagain", 503),
        ("oom", 507),
        ("other", 502),
        ("ok", 200),
    ];
    for &(key, status) in table {
        let response = request(gateway.addr(), "GET", &format!("/{key}"), &[], b"");
        assert_eq!(response.status, status, "GET /{key}:\n{response:?}");
        expect_common_headers(&response);
        if status == 503 {
            expect_retry_after(&response);
        }
        if key == "wrongtype" {
            assert!(
                response.text().contains("WRONGTYPE"),
                "409 body must quote Redis:\n{response:?}"
            );
        }
    }
    let response = request(gateway.addr(), "PUT", "/oom", &[], b"v");
    expect_status(&response, 507);
}

#[test]
fn malformed_and_stalled_replies_give_502_and_504_and_the_gateway_keeps_serving() {
    static REPLIES: &[(&str, &[u8])] = &[
        ("huge-array", b"*3000000000\r\n"),
        ("huge-bulk", b"$3000000000\r\n"),
        ("unknown-type", b"!oops\r\n"),
        ("bad-length", b"$abc\r\n"),
        ("negative-length", b"$-5\r\n"),
        ("stalled", b"$5\r\nhel"),
        ("ok", b"$2\r\nok\r\n"),
    ];
    let fake = fake_redis(REPLIES);
    let gateway = Gateway::start_port(fake.port(), &["--redis-timeout", "1s"]);
    gateway.wait_ready();
    let table: &[(&str, u16)] = &[
        ("huge-array", 502),
        ("ok", 200),
        ("huge-bulk", 502),
        ("unknown-type", 502),
        ("bad-length", 502),
        ("negative-length", 502),
        ("ok", 200),
        ("stalled", 504),
        ("ok", 200),
    ];
    for &(key, status) in table {
        let (response, took) = timed_get(gateway.addr(), &format!("/{key}"));
        let response = response.unwrap_or_else(|e| panic!("GET /{key}: {e}"));
        assert_eq!(response.status, status, "GET /{key}:\n{response:?}");
        assert!(took < Duration::from_secs(3), "GET /{key} took {took:?}");
        if key == "ok" {
            assert_eq!(response.body, b"ok");
        }
    }
}

#[test]
fn real_redis_oom_and_readonly_map_to_507_and_503() {
    let oom = RedisServer::start_with(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]);
    let gateway = Gateway::start(&oom, &[]);
    gateway.wait_ready();
    let response = request(gateway.addr(), "PUT", "/k", &[], b"v");
    expect_status(&response, 507);

    let free = closed_port().to_string();
    let replica = RedisServer::start_with(&["--replicaof", "127.0.0.1", &free]);
    let gateway = Gateway::start(&replica, &[]);
    gateway.wait_ready();
    let response = request(gateway.addr(), "PUT", "/k", &[], b"v");
    expect_status(&response, 503);
    expect_retry_after(&response);
}
