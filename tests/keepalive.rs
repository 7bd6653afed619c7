//! Keep-alive connections when many clients send now and then: once the quiet lane is full, an
//! answer tells its client to reconnect (`Connection: close`) instead of leaving the connection
//! to wait in it. What must hold whatever the mechanism:
//!
//! * a client that honours `Connection: close` never sees an error and never loses a request,
//!   `POST` included;
//! * a connection the gateway closes always had `Connection: close` on its last answer (or was
//!   idle past `--idle-timeout`);
//! * pipelined requests get every answer, in order;
//! * streams (subscriptions, WebSockets) are never closed for room;
//! * a client sending back to back, whose next request a worker may wait for, gets every answer
//!   right, whatever way its bytes arrive.
//!
//! No timing is asserted: the crowd keeps the quiet lane full for as long as the checks run, and
//! each test asserts that connections were in fact closed for room, so that it cannot pass
//! without exercising the mechanism.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::rng::Rng;
use support::*;

/// The gateway's quiet-lane capacity (`server::lanes::QUIET_CAPACITY`).
const QUIET_CAPACITY: f64 = 20.0;
/// Clients of the crowd: more than the quiet lane holds.
const CROWD: usize = 60;
const CLOSED_FOR_ROOM: &str = "redis_gateway_connections_closed_for_room_total";

/// Clients that send a GET now and then (every 120–250 ms: longer than the gateway's
/// `QUICK_GAP`, so they count as sparse), honouring `Connection: close`, until stopped; each
/// checks that every close it sees was announced. They keep the quiet lane full.
struct Crowd {
    stop: Arc<AtomicBool>,
    clients: Vec<JoinHandle<Result<usize, String>>>,
}

impl Crowd {
    fn start(gateway: &Gateway, path: &str) -> Crowd {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..CROWD)
            .map(|c| {
                let (stop, addr, path) = (Arc::clone(&stop), gateway.addr(), path.to_string());
                thread::Builder::new()
                    .stack_size(128 * 1024)
                    .spawn(move || crowd_client(c, addr, &path, &stop))
                    .expect("spawn a crowd client")
            })
            .collect();
        // The quiet lane fills up; from then on answers close connections for room.
        gateway.wait_counter("redis_gateway_connections_quiet", QUIET_CAPACITY);
        Crowd { stop, clients }
    }

    /// Stops the crowd; every client's requests must all have been answered.
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let mut requests = 0;
        for client in self.clients {
            match client.join().expect("crowd client panicked") {
                Ok(n) => requests += n,
                Err(e) => panic!("a crowd client failed: {e}"),
            }
        }
        assert!(requests > 0, "the crowd sent nothing");
    }
}

fn crowd_client(
    c: usize,
    addr: SocketAddr,
    path: &str,
    stop: &AtomicBool,
) -> Result<usize, String> {
    let mut rng = Rng::new(0x5EED_C0DE + c as u64);
    let mut client = KeepAlive::new(addr);
    let mut requests = 0;
    while !stop.load(Ordering::Relaxed) {
        let response = client.request("GET", path, &[], b"")?;
        if !(200..500).contains(&response.status) {
            return Err(format!("crowd client {c}: {response:?}"));
        }
        requests += 1;
        thread::sleep(Duration::from_millis(120 + rng.below(130) as u64));
    }
    Ok(requests)
}

#[test]
fn clients_that_honour_connection_close_lose_nothing() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    let crowd = Crowd::start(&gateway, "/crowd");
    let closed_before = gateway.metric(CLOSED_FOR_ROOM);
    let (mut rng, seed) = Rng::from_env(0x5EED_4EE9);
    let mut clients: Vec<KeepAlive> = (0..4).map(|_| KeepAlive::new(gateway.addr())).collect();
    for i in 0..300 {
        let client = &mut clients[i % 4];
        let key = format!("k{i}");
        let len = 1 + rng.below(300);
        let value = rng.bytes(len);
        let put = client.request("PUT", &format!("/{key}"), &[], &value);
        let put = put.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(put.status, 204, "seed {seed}: PUT /{key}: {put:?}");
        let form = format!("f{i}=v{i}&g{i}=w{i}");
        let post = client
            .request(
                "POST",
                "/",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                form.as_bytes(),
            )
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(post.status, 200, "seed {seed}: POST {form}: {post:?}");
        let get = client
            .request("GET", &format!("/{key}"), &[], b"")
            .unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(get.status, 200, "seed {seed}: GET /{key}");
        assert_eq!(get.body, value, "seed {seed}: GET /{key}");
        // Now and then, like the crowd: this client's answers are closed for room too.
        if rng.below(4) == 0 {
            thread::sleep(Duration::from_millis(10 + rng.below(30) as u64));
        }
    }
    crowd.stop();
    // Every write landed: 300 PUTs and 600 form fields (the crowd only reads).
    assert_eq!(redis.cmd(&[b"DBSIZE"]).integer(), 900);
    let closed = gateway.metric(CLOSED_FOR_ROOM) - closed_before;
    let announced: usize = clients.iter().map(|c| c.announced_closes).sum();
    assert!(
        closed > 0.0 && announced > 0,
        "nothing was closed for room ({closed} by the counter, {announced} seen): the test did \
         not exercise the mechanism"
    );
}

#[test]
fn pipelined_requests_are_all_answered_in_order_when_the_quiet_lane_is_full() {
    let (redis, gateway) = Gateway::with_redis(&[]);
    for i in 0..50 {
        redis.cmd(&[
            b"SET",
            format!("p{i}").as_bytes(),
            format!("value {i}").as_bytes(),
        ]);
    }
    let crowd = Crowd::start(&gateway, "/crowd");
    let closed_before = gateway.metric(CLOSED_FOR_ROOM);
    // At least 20 rounds, and on until the crowd's answers were closed for room meanwhile (on a
    // loaded machine the crowd may take a while to fill the lane again): the rounds must run
    // while the mechanism works, or they test nothing.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut round = 0;
    while round < 20
        || (gateway.metric(CLOSED_FOR_ROOM) == closed_before && Instant::now() < deadline)
    {
        round += 1;
        let mut stream = connect(gateway.addr());
        let mut pipeline = Vec::new();
        for i in 0..50 {
            pipeline.extend(format_request("GET", &format!("/p{i}"), &[], b""));
        }
        send(&mut stream, &pipeline);
        for i in 0..50 {
            let response = read_response(&mut stream)
                .unwrap_or_else(|e| panic!("round {round}: answer {i} of 50: {e}"));
            assert_eq!(response.status, 200, "round {round}: /p{i}");
            assert_eq!(response.text(), format!("value {i}"), "round {round}");
            if response.closes() {
                assert_eq!(i, 49, "round {round}: only the last answer may close");
            }
        }
    }
    crowd.stop();
    assert!(
        gateway.metric(CLOSED_FOR_ROOM) > closed_before,
        "nothing was closed for room during {round} rounds: the test did not exercise the mechanism"
    );
}

#[test]
fn subscriptions_and_websockets_are_not_closed_for_room() {
    let (redis, gateway) = Gateway::with_redis(&["--api", "webdis", "--websockets", "on"]);
    let crowd = Crowd::start(&gateway, "/GET/crowd");
    // A subscription, parked among the crowd, gets what is published.
    let mut subscription = connect(gateway.addr());
    send(
        &mut subscription,
        b"GET /SUBSCRIBE/room HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    let head = read_until(&mut subscription, b"\r\n\r\n");
    assert!(
        head.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    assert!(
        !String::from_utf8_lossy(&head)
            .to_ascii_lowercase()
            .contains("connection: close"),
        "a subscription is not closed for room"
    );
    read_until(&mut subscription, b"[\"subscribe\",\"room\",1]}\r\n");
    for i in 0..20 {
        let payload = format!("m{i}");
        redis.cmd(&[b"PUBLISH", b"room", payload.as_bytes()]);
        read_until(
            &mut subscription,
            format!("\"{payload}\"]}}\r\n").as_bytes(),
        );
        // Time for the stream to go quiet among the crowd between messages.
        thread::sleep(Duration::from_millis(30));
    }
    crowd.stop();
    assert!(
        gateway.metric(CLOSED_FOR_ROOM) > 0.0,
        "nothing was closed for room"
    );
}

#[test]
fn a_client_sending_back_to_back_gets_every_answer_however_its_bytes_arrive() {
    let (_redis, gateway) = Gateway::with_redis(&[]);
    let (mut rng, seed) = Rng::from_env(0x05EE_DB2B);
    let mut stream = connect(gateway.addr());
    // Each part goes out at once (without Nagle's wait for the previous part's ACK).
    stream.set_nodelay(true).expect("set_nodelay");
    for i in 0..300 {
        let key = format!("/b{}", i % 7);
        let len = 1 + rng.below(5_000);
        let value = rng.bytes(len);
        let put = format_request("PUT", &key, &[], &value);
        // Whole, or cut in two with a pause: a worker waiting for this request may see only the
        // first part of it.
        match rng.below(3) {
            0 => send(&mut stream, &put),
            _ => {
                let cut = 1 + rng.below(put.len() - 1);
                send(&mut stream, &put[..cut]);
                thread::sleep(Duration::from_micros(rng.below(2_000) as u64));
                send(&mut stream, &put[cut..]);
            }
        }
        let answer = read_response(&mut stream).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(answer.status, 204, "seed {seed}: PUT {key} #{i}");
        send(&mut stream, &format_request("GET", &key, &[], b""));
        let got = read_response(&mut stream).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        assert_eq!(got.body, value, "seed {seed}: GET {key} #{i}");
        assert!(
            !got.closes(),
            "a lone client sending back to back keeps its connection"
        );
    }
    assert!(
        gateway.metric("redis_gateway_awaited_requests_total") > 0.0,
        "no request was served by a worker waiting for it: the test missed that path"
    );
}

/// Reads until the bytes read end with `end`; what was read.
#[track_caller]
fn read_until(stream: &mut std::net::TcpStream, end: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(end) {
        match stream.read(&mut byte) {
            Ok(1) => got.push(byte[0]),
            other => panic!(
                "stream ended ({other:?}) before {:?}; read {:?}",
                String::from_utf8_lossy(end),
                String::from_utf8_lossy(&got)
            ),
        }
    }
    got
}
