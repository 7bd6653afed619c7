//! Watchers: a connection that only awaits its next request (silent since it was opened, or
//! answered a while ago) is handed to a thread blocked in the kernel on it, up to `--watchers`
//! threads; the rest wait in the poll loop's dormant lane. What must hold: every request on a
//! watched connection is answered (`POST` and pipelining included), the bound holds, the idle
//! timeout still closes a watched connection without an answer, a drain does not wait for
//! them, and `--watchers 0` turns them off. The gauges `connections_watched` and
//! `watcher_threads` show that the tests exercised the watchers. No timing is asserted beyond
//! liveness bounds.

mod support;

use std::net::TcpStream;
use std::time::Duration;
use support::*;

const WATCHED: &str = "redis_gateway_connections_watched";
const THREADS: &str = "redis_gateway_watcher_threads";

/// `n` connections to the gateway, opened and left silent.
fn silent(gateway: &Gateway, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect(gateway.addr())).collect()
}

#[test]
fn silent_connections_are_watched_and_every_request_on_them_is_answered() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let mut conns = silent(&gateway, 12);
    gateway.wait_metric(WATCHED, 12.0);
    let threads = gateway.metric(THREADS);
    assert!(
        (1.0..=12.0).contains(&threads),
        "12 watched connections, {threads} watcher threads"
    );
    for (i, conn) in conns.iter_mut().enumerate() {
        let key = format!("/watched-{i}");
        let value = format!("value {i}");
        let put = request_on(conn, "PUT", &key, &[], value.as_bytes());
        expect_status(&put, 204);
        let got = request_on(conn, "GET", &key, &[], b"");
        expect_status(&got, 200);
        assert_eq!(got.text(), value, "GET {key}");
    }
    assert_eq!(redis.cmd(&[b"DBSIZE"]).integer(), 12, "every PUT landed");
    // Pipelined, on a connection watched again (answered, then idle past the quiet lane's 2 s).
    let mut conn = conns.pop().expect("a connection");
    drop(conns);
    gateway.wait_metric(WATCHED, 1.0);
    let mut two = format_request("GET", "/watched-0", &[], b"");
    two.extend(format_request("GET", "/watched-1", &[], b""));
    send(&mut conn, &two);
    for want in ["value 0", "value 1"] {
        let got = read_response(&mut conn).unwrap_or_else(|e| panic!("pipelined GET: {e}"));
        expect_status(&got, 200);
        assert_eq!(got.text(), want, "pipelined answers in order");
    }
    drop(conn);
    gateway.wait_metric(WATCHED, 0.0);
}

#[test]
fn at_most_watchers_threads_and_the_other_connections_are_served_by_the_poll_loop() {
    let (_redis, gateway) = Gateway::with_redis(&["--watchers", "3"]);
    let baseline = gateway.threads();
    let mut conns = silent(&gateway, 10);
    gateway.wait_metric(WATCHED, 3.0);
    // The dormant lane reads the others; the bound holds meanwhile.
    for _ in 0..5 {
        assert!(gateway.metric(WATCHED) <= 3.0, "more than 3 watched");
        assert!(
            gateway.metric(THREADS) <= 3.0,
            "more than 3 watcher threads"
        );
        let threads = gateway.threads();
        assert!(
            threads <= baseline + 3,
            "threads grew from {baseline} to {threads} with --watchers 3"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (i, conn) in conns.iter_mut().enumerate() {
        let got = request_on(conn, "GET", &format!("/none-{i}"), &[], b"");
        expect_status(&got, 404);
    }
}

#[test]
fn a_watched_connection_is_closed_at_the_idle_timeout_without_an_answer() {
    let (_redis, gateway) = Gateway::with_redis(&["--idle-timeout", "2s"]);
    let mut conn = connect(gateway.addr());
    gateway.wait_metric(WATCHED, 1.0);
    // Liveness bound: 2 s of idle timeout, with room for a loaded machine.
    assert_eq!(
        wait_closed(&mut conn, Duration::from_secs(15)),
        Closed::Eof,
        "the watched connection was not closed (silently) at --idle-timeout"
    );
    gateway.wait_metric(WATCHED, 0.0);
}

#[test]
fn a_drain_does_not_wait_for_watched_connections() {
    let (_redis, mut gateway) = Gateway::with_redis(&["--drain-timeout", "60s"]);
    let mut conns = silent(&gateway, 3);
    gateway.wait_metric(WATCHED, 3.0);
    let response = try_request(
        gateway.admin(),
        "POST",
        "/shutdown",
        &[SHUTDOWN_HEADER],
        b"",
    )
    .unwrap_or_else(|e| panic!("POST /shutdown: {e}"));
    expect_status(&response, 202);
    // Liveness bound, far below the 60 s the drain would wait for them.
    let status = gateway.wait_exit(Duration::from_secs(20));
    assert!(
        status.is_some_and(|s| s.code() == Some(0)),
        "exit status {status:?} with 3 watched connections (--drain-timeout 60s); log:\n{}",
        gateway.log()
    );
    assert!(
        !gateway.log().contains("drain timeout"),
        "{}",
        gateway.log()
    );
    for conn in &mut conns {
        assert!(
            matches!(
                wait_closed(conn, Duration::from_secs(5)),
                Closed::Eof | Closed::Reset(_)
            ),
            "a watched connection stayed open after the exit"
        );
    }
}

#[test]
fn with_watchers_0_silent_connections_wait_in_the_poll_loop_and_are_served() {
    let (_redis, gateway) = Gateway::with_redis(&["--watchers", "0"]);
    let mut conns = silent(&gateway, 5);
    // Past the 250 ms a new connection stays hot: they are dormant now.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(gateway.metric(WATCHED), 0.0);
    assert_eq!(gateway.metric(THREADS), 0.0);
    for (i, conn) in conns.iter_mut().enumerate() {
        let got = request_on(conn, "GET", &format!("/none-{i}"), &[], b"");
        expect_status(&got, 404);
    }
    assert_eq!(gateway.metric(THREADS), 0.0, "no watcher thread started");
}
