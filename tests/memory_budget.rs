//! The process-wide memory budget (`--max-memory`) under greedy clients: many connections that
//! each make the gateway hold memory (large bodies never finished, WebSocket messages never
//! finished, pipelined requests whose answers are never read). In every case the gateway stays
//! alive, its RSS stays near the budget, small requests keep being served meanwhile, `/metrics`
//! shows what was refused or cut, and the accounted bytes come back to about nothing once the
//! greedy clients leave. The same attacks at full size, timed, are `tests/bench/attack.sh`.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;
use support::*;

/// The budget the tests give the gateway: small, so that a few clients spend it.
const BUDGET: usize = 24 * 1024 * 1024;
const BUDGET_ARG: &str = "25165824";
/// RSS may exceed the baseline by the budget and this much (code, stacks, allocator slack).
const RSS_SLACK_KIB: u64 = 32 * 1024;

const ACCOUNTED: &str = "redis_gateway_memory_accounted_bytes";

/// Small requests made while the attack holds: every one must succeed.
fn small_requests_succeed(gateway: &Gateway, path: &str, rounds: usize) {
    for i in 0..rounds {
        let got = try_request(gateway.addr(), "GET", path, &[], b"")
            .unwrap_or_else(|e| panic!("small request {i} during the attack failed: {e}"));
        assert_eq!(
            got.status, 200,
            "small request {i} during the attack: {got:?}"
        );
    }
}

/// RSS now is within the budget (plus slack) of the baseline.
fn expect_rss_bounded(gateway: &Gateway, baseline: Usage, what: &str) {
    let now = gateway.usage();
    assert!(
        now.rss_kib <= baseline.rss_kib + (BUDGET / 1024) as u64 + RSS_SLACK_KIB,
        "{what}: RSS {} KiB, baseline {} KiB, budget {} KiB",
        now.rss_kib,
        baseline.rss_kib,
        BUDGET / 1024
    );
}

/// Once the greedy clients are gone, the accounted bytes return to within 1 MiB of what they
/// were before (the Redis connections' buffers).
fn expect_accounted_back(gateway: &Gateway, before: f64) {
    let mut now = f64::NAN;
    let back = poll_until(Duration::from_secs(10), || {
        now = gateway.metric(ACCOUNTED);
        now < before + 1024.0 * 1024.0
    });
    assert!(
        back,
        "accounted bytes did not come back: {now}, {before} before"
    );
}

fn raw_connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("write timeout");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

#[test]
fn large_bodies_beyond_the_budget_get_503_before_they_are_read() {
    let (_redis, gateway) = Gateway::with_redis(&["--max-memory", BUDGET_ARG]);
    let seeded = request(gateway.addr(), "PUT", "/small", &[], b"value");
    assert_eq!(seeded.status, 204);
    let baseline = gateway.steady_usage();
    let accounted_before = gateway.metric(ACCOUNTED);
    const CLIENTS: usize = 24;
    const SIZE: usize = 4 * 1024 * 1024;
    // Each client declares a 4 MiB body and sends all of it but its last byte: the budget holds
    // about six of them; the others must be refused before their bodies are read.
    let mut holders = Vec::new();
    let mut refused = 0;
    for i in 0..CLIENTS {
        let mut stream = raw_connect(gateway.addr());
        let head = format!("PUT /greedy-{i} HTTP/1.1\r\nHost: t\r\nContent-Length: {SIZE}\r\n\r\n");
        stream.write_all(head.as_bytes()).expect("head");
        // A refused client reads its 503 at once; an accepted one sends its body.
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("read timeout");
        let mut first = [0u8; 64];
        match stream.read(&mut first) {
            Ok(n) if n > 0 => {
                let text = String::from_utf8_lossy(&first[..n]).to_string();
                assert!(text.starts_with("HTTP/1.1 503"), "client {i} got {text:?}");
                refused += 1;
                continue;
            }
            _ => {}
        }
        let body = vec![b'x'; SIZE - 1];
        let writer = thread::spawn(move || {
            // The gateway may cut a stalled greedy connection: a failed write is fine.
            let _ = stream.write_all(&body);
            stream
        });
        holders.push(writer);
    }
    assert!(
        refused > 0,
        "no large body was refused under a {BUDGET} byte budget"
    );
    assert!(
        holders.len() >= 2,
        "the budget should hold a few 4 MiB bodies; {} were taken",
        holders.len()
    );
    small_requests_succeed(&gateway, "/small", 50);
    expect_rss_bounded(&gateway, baseline, "bodies in flight");
    assert!(gateway.metric("redis_gateway_memory_refusals_total") >= refused as f64);
    assert!(gateway.metric(ACCOUNTED) <= BUDGET as f64 * 1.1);
    let streams: Vec<TcpStream> = holders
        .into_iter()
        .map(|h| h.join().expect("writer"))
        .collect();
    drop(streams);
    expect_accounted_back(&gateway, accounted_before);
    let mut gateway = gateway;
    gateway.expect_survived(baseline, 8, 16 * 1024);
}

fn websocket(addr: SocketAddr) -> TcpStream {
    let mut stream = raw_connect(addr);
    stream
        .write_all(
            b"GET /.json HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .expect("handshake");
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("handshake answer");
        assert!(n == 1, "closed during the handshake: {got:?}");
        got.push(byte[0]);
    }
    assert!(
        got.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    stream
}

#[test]
fn unfinished_websocket_messages_are_throttled_and_the_greediest_cut() {
    let (_redis, mut gateway) = Gateway::with_redis(&[
        "--api",
        "webdis",
        "--websockets",
        "on",
        "--max-memory",
        BUDGET_ARG,
    ]);
    let seeded = request(gateway.addr(), "GET", "/SET/small/value", &[], b"");
    assert_eq!(seeded.status, 200);
    let baseline = gateway.steady_usage();
    let accounted_before = gateway.metric(ACCOUNTED);
    // 40 clients, each a 1 MiB text frame without its last byte: 40 MiB wanted, 24 MiB budget.
    const CLIENTS: usize = 40;
    const SIZE: usize = 1024 * 1024;
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut stream = websocket(gateway.addr());
            thread::spawn(move || {
                let mut frame = vec![0x81, 0x80 | 127];
                frame.extend_from_slice(&(SIZE as u64).to_be_bytes());
                frame.extend_from_slice(&[1, 2, 3, 4]);
                frame.resize(frame.len() + SIZE - 1, b'x');
                // Throttled, then cut: the write may fail or time out, both fine.
                let _ = stream.write_all(&frame);
                stream
            })
        })
        .collect();
    gateway.wait_counter("redis_gateway_memory_cuts_total", 1.0);
    small_requests_succeed(&gateway, "/GET/small", 50);
    expect_rss_bounded(&gateway, baseline, "WebSocket messages in assembly");
    let streams: Vec<TcpStream> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    drop(streams);
    expect_accounted_back(&gateway, accounted_before);
    assert!(gateway.is_running());
    let after = gateway.usage();
    assert!(
        after.rss_kib <= baseline.rss_kib + 16 * 1024,
        "RSS after: {after:?}, baseline {baseline:?}"
    );
}

#[test]
fn pipelining_clients_that_never_read_hold_little() {
    let (_redis, gateway) = Gateway::with_redis(&["--max-memory", BUDGET_ARG]);
    let seeded = request(gateway.addr(), "PUT", "/small", &[], b"value");
    assert_eq!(seeded.status, 204);
    let baseline = gateway.steady_usage();
    let accounted_before = gateway.metric(ACCOUNTED);
    // 50 clients each pipeline 20,000 GETs (about 0.6 MiB) and never read an answer.
    const CLIENTS: usize = 50;
    let one = b"GET /small HTTP/1.1\r\nHost: t\r\n\r\n";
    let all: Vec<u8> = one.repeat(20_000);
    let writers: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut stream = raw_connect(gateway.addr());
            stream
                .set_write_timeout(Some(Duration::from_secs(3)))
                .expect("write timeout");
            let all = all.clone();
            thread::spawn(move || {
                // The kernel's buffers fill and the write times out: that is the attack.
                let _ = stream.write_all(&all);
                stream
            })
        })
        .collect();
    let streams: Vec<TcpStream> = writers
        .into_iter()
        .map(|w| w.join().expect("writer"))
        .collect();
    small_requests_succeed(&gateway, "/small", 50);
    // Each holds at most one read ahead of its unanswered requests plus a batch of answers.
    let accounted = gateway.metric(ACCOUNTED);
    assert!(
        accounted <= (CLIENTS * 256 * 1024) as f64,
        "{CLIENTS} pipelining clients hold {accounted} accounted bytes"
    );
    expect_rss_bounded(&gateway, baseline, "pipelined requests");
    drop(streams);
    expect_accounted_back(&gateway, accounted_before);
    let mut gateway = gateway;
    gateway.expect_survived(baseline, 8, 16 * 1024);
}

#[test]
fn a_body_larger_than_the_budget_is_refused_before_100_continue() {
    let (_redis, gateway) = Gateway::with_redis(&["--max-memory", BUDGET_ARG]);
    let mut stream = raw_connect(gateway.addr());
    let head = format!(
        "PUT /too-big HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        BUDGET + 1
    );
    stream.write_all(head.as_bytes()).expect("head");
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    assert!(text.contains("Retry-After: 1\r\n"), "{text}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(
        text.contains("--max-memory"),
        "the answer names the option: {text}"
    );
    let gone = request(gateway.addr(), "GET", "/too-big", &[], b"");
    assert_eq!(gone.status, 404, "nothing was written");
    assert_eq!(gateway.metric("redis_gateway_memory_refusals_total"), 1.0);
}
