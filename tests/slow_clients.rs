//! Slow and greedy clients: trickled heads and bodies, clients that never read, idle keep-alive
//! crowds, connection storms, running out of descriptors. Each test runs its own Redis and gateway
//! with short timeouts, drives the hostile connections without blocking from one small thread,
//! measures a normal client meanwhile, and ends with the survival checks.
//!
//! Figures (latency percentiles, close times, CPU) are printed with `--nocapture`.

mod support;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use support::*;

const HEADER_TIMEOUT: Duration = Duration::from_secs(2);
const BODY_TIMEOUT: Duration = Duration::from_secs(2);
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The short timeouts every test here runs with.
const FLAGS: &[&str] = &[
    "--header-timeout",
    "2s",
    "--body-timeout",
    "2s",
    "--idle-timeout",
    "3s",
    "--write-timeout",
    "2s",
];

/// What a normal client must see while an attack runs. Not a benchmark: a client held behind the
/// attackers waits out their 2 s timeouts, so half of that separates "served alongside them" from
/// "queued behind them" with room for a loaded machine (a shared CI runner saw p95 of 200–300 ms
/// under load; unloaded it is 50–90 ms).
const P95_LIMIT: Duration = Duration::from_millis(1000);

/// How late after its timeout a connection may be closed and still pass. Closing *early* is the
/// bug these tests look for (a client that may still be sending loses its request), and that
/// bound stays tight; closing late is only a question of liveness, and on a loaded 2-core machine
/// (a suite running beside compilers) the loop and these tests' own readers were seen 2.2 s late,
/// so the bound is generous.
const LATE_SLACK: Duration = Duration::from_secs(10);

/// Stack of the driver threads: they hold no big buffers on the stack.
const SMALL_STACK: usize = 256 * 1024;

/// Survival slack: descriptors and KiB of RSS.
const FD_SLACK: usize = 10;
const RSS_SLACK_KIB: u64 = 8 * 1024;

fn spawn_small<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> thread::JoinHandle<T> {
    thread::Builder::new()
        .stack_size(SMALL_STACK)
        .spawn(f)
        .expect("spawn a driver thread")
}

/// A gateway with the short timeouts and `extra`, the 8 KiB value `/v8k` that the normal client reads,
/// and the baseline of the survival checks.
fn target(extra: &[&str]) -> (RedisServer, Gateway, Usage) {
    let (redis, gateway) = Gateway::with_redis(&[FLAGS, extra].concat());
    put_value(gateway.addr(), "/v8k", 8 * 1024);
    let baseline = gateway.steady_usage();
    (redis, gateway, baseline)
}

/// Stores `len` bytes under `path` (PUT must answer 204).
fn put_value(addr: SocketAddr, path: &str, len: usize) {
    let value: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
    let put = try_request(addr, "PUT", path, &[], &value)
        .unwrap_or_else(|e| panic!("PUT {path} ({len} bytes): {e}"));
    assert_eq!(put.status, 204, "PUT {path}: {put:?}");
}

// ---------------------------------------------------------------------------------------------
// Many connections driven without blocking from one thread
// ---------------------------------------------------------------------------------------------

/// How a peer's connection ended, and when.
#[derive(Debug, Clone)]
enum End {
    Eof,
    Reset(String),
}

impl End {
    fn describe(&self) -> String {
        match self {
            End::Eof => "EOF".into(),
            End::Reset(e) => format!("reset ({e})"),
        }
    }
}

/// One hostile (or idle) connection.
struct Peer {
    stream: TcpStream,
    received: Vec<u8>,
    /// When the first and the last response byte arrived.
    first_byte: Option<Instant>,
    last_byte: Option<Instant>,
    end: Option<(End, Instant)>,
    /// When we last wrote to it.
    last_sent: Option<Instant>,
}

impl Peer {
    fn is_open(&self) -> bool {
        self.end.is_none()
    }
}

/// Opens `n` connections (blocking connect with a timeout), then makes them nonblocking.
fn open_peers(addr: SocketAddr, n: usize) -> Vec<Peer> {
    (0..n)
        .map(|i| {
            let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connection {i} of {n} to {addr}: {e}"));
            stream.set_nonblocking(true).expect("set_nonblocking");
            stream.set_nodelay(true).expect("set_nodelay");
            Peer {
                stream,
                received: Vec::new(),
                first_byte: None,
                last_byte: None,
                end: None,
                last_sent: None,
            }
        })
        .collect()
}

/// Reads what every open peer has; true when anything happened.
fn pump(peers: &mut [Peer], scratch: &mut [u8]) -> bool {
    let mut progress = false;
    for peer in peers.iter_mut().filter(|p| p.is_open()) {
        loop {
            match peer.stream.read(scratch) {
                Ok(0) => {
                    peer.end = Some((End::Eof, Instant::now()));
                    progress = true;
                    break;
                }
                Ok(n) => {
                    let now = Instant::now();
                    peer.first_byte.get_or_insert(now);
                    peer.last_byte = Some(now);
                    peer.received.extend_from_slice(&scratch[..n]);
                    progress = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    peer.end = Some((End::Reset(e.to_string()), Instant::now()));
                    progress = true;
                    break;
                }
            }
        }
    }
    progress
}

/// Pumps every open peer until `deadline`, or until `more` says the attack is over; `more` also sends
/// what is due. Pauses 2 ms after a pass in which nothing arrived.
fn drive(peers: &mut [Peer], deadline: Instant, mut more: impl FnMut(&mut [Peer]) -> bool) {
    let mut scratch = vec![0u8; 64 * 1024];
    while Instant::now() < deadline && more(peers) {
        if !pump(peers, &mut scratch) {
            thread::sleep(Duration::from_millis(2));
        }
    }
}

/// A nonblocking write of all of `bytes` (small writes only); false when the socket refused it.
fn send_nb(peer: &mut Peer, bytes: &[u8]) -> bool {
    match peer.stream.write(bytes) {
        Ok(n) if n == bytes.len() => {
            peer.last_sent = Some(Instant::now());
            true
        }
        _ => false,
    }
}

/// Status and `Connection: close` of each complete response in `buf`, or why it is malformed.
fn parse_responses(buf: &[u8]) -> Result<Vec<(u16, bool)>, String> {
    let mut out = Vec::new();
    let mut rest = buf;
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("incomplete head {:?}", String::from_utf8_lossy(rest)))?;
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let status: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line in {head:?}"))?;
        let mut length = 0;
        let mut closes = false;
        for line in head.split("\r\n").skip(1) {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            if name.eq_ignore_ascii_case("content-length") {
                length = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("bad length in {head:?}"))?;
            }
            if name.eq_ignore_ascii_case("connection") && value.trim().eq_ignore_ascii_case("close")
            {
                closes = true;
            }
        }
        let used = end + 4 + length;
        if rest.len() < used {
            return Err(format!("body cut short after {head:?}"));
        }
        out.push((status, closes));
        rest = &rest[used..];
    }
    Ok(out)
}

/// Checks that a peer got exactly one `status` response with `Connection: close` and was then
/// closed; returns the time of the close.
fn closed_with(peer: &Peer, status: u16) -> Result<Instant, String> {
    let responses = parse_responses(&peer.received)?;
    if responses != [(status, true)] {
        return Err(format!(
            "expected one {status} with Connection: close, got {responses:?}"
        ));
    }
    match &peer.end {
        Some((_, at)) => Ok(*at),
        None => Err(format!("answered {status} but never closed")),
    }
}

/// Fails listing how many peers broke a rule, with a few examples.
#[track_caller]
fn expect_all(what: &str, problems: &[String], total: usize) {
    assert!(
        problems.is_empty(),
        "{what}: {} of {total} connections wrong; first ones:\n  {}",
        problems.len(),
        problems
            .iter()
            .take(8)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// The normal client
// ---------------------------------------------------------------------------------------------

/// Latencies of a normal client: `n` sequential GETs of `path` (each on a new connection, so the
/// accept path is measured too), one every `spacing`; every one must be 200 with `len` bytes.
fn normal_client(addr: SocketAddr, path: &str, len: usize, n: usize, spacing: Duration) -> Latency {
    let mut latency = Latency::default();
    let mut next = Instant::now();
    for _ in 0..n {
        let now = Instant::now();
        if next > now {
            thread::sleep(next - now);
        }
        next += spacing;
        let started = Instant::now();
        match try_request(addr, "GET", path, &[], b"") {
            Ok(r) if r.status == 200 && r.body.len() == len => {
                latency.samples.push(started.elapsed());
            }
            Ok(r) => latency.errors.push(format!("GET {path}: {r:?}")),
            Err(e) => latency.errors.push(format!("GET {path}: {e}")),
        }
    }
    latency
}

/// Runs `attack` on a driver thread while the normal client makes 50 GETs of `/v8k`, one every
/// `spacing`; returns what the attack returned and what the normal client saw.
fn during<T: Send + 'static>(
    addr: SocketAddr,
    spacing: Duration,
    attack: impl FnOnce() -> T + Send + 'static,
) -> (T, Latency) {
    let driver = spawn_small(attack);
    let latency = normal_client(addr, "/v8k", 8 * 1024, 50, spacing);
    (driver.join().expect("driver thread"), latency)
}

#[derive(Debug, Default)]
struct Latency {
    samples: Vec<Duration>,
    errors: Vec<String>,
}

impl Latency {
    /// The `p`-th percentile (nearest rank) of the successful requests.
    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return Duration::MAX;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    }

    fn summary(&self) -> String {
        format!(
            "{} ok, {} failed, p50 {:?}, p95 {:?}, max {:?}",
            self.samples.len(),
            self.errors.len(),
            self.percentile(50.0),
            self.percentile(95.0),
            self.samples.iter().max().copied().unwrap_or_default()
        )
    }

    #[track_caller]
    fn expect_fast(&self, during: &str) {
        eprintln!("normal client during {during}: {}", self.summary());
        assert!(
            self.errors.is_empty(),
            "normal requests failed during {during}: {:?}",
            &self.errors[..self.errors.len().min(5)]
        );
        assert!(
            self.percentile(95.0) < P95_LIMIT,
            "normal client during {during}: p95 {:?} >= {P95_LIMIT:?} ({})",
            self.percentile(95.0),
            self.summary()
        );
    }
}

fn describe_spread(label: &str, mut values: Vec<Duration>) -> String {
    values.sort_unstable();
    if values.is_empty() {
        return format!("{label}: none");
    }
    format!(
        "{label}: min {:?}, median {:?}, max {:?} over {}",
        values[0],
        values[values.len() / 2],
        values[values.len() - 1],
        values.len()
    )
}

// ---------------------------------------------------------------------------------------------
// Slow heads and bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn trickled_heads_get_408_after_the_header_timeout() {
    let (_redis, mut gateway, baseline) = target(&[]);
    let addr = gateway.addr();

    // A head that never ends, one byte every 200 ms on each of 200 connections.
    let mut script = b"GET /v8k HTTP/1.1\r\nHost: x\r\nX-Slow: ".to_vec();
    script.extend(std::iter::repeat_n(b'a', 200));
    let mut peers = open_peers(addr, 200);
    let started = Instant::now();
    let (peers, latency) = during(addr, Duration::from_millis(25), move || {
        let deadline = started + HEADER_TIMEOUT + LATE_SLACK + Duration::from_secs(1);
        let mut sent = 0;
        let mut next_byte = started;
        drive(&mut peers, deadline, |peers| {
            if Instant::now() >= next_byte && sent < script.len() {
                for peer in peers
                    .iter_mut()
                    .filter(|p| p.is_open() && p.received.is_empty())
                {
                    send_nb(peer, &script[sent..=sent]);
                }
                sent += 1;
                next_byte += Duration::from_millis(200);
            }
            peers.iter().any(Peer::is_open)
        });
        peers
    });

    latency.expect_fast("200 trickled heads");
    expect_cut_with_408(&peers, started, HEADER_TIMEOUT, "trickled heads");
    drop(peers);
    gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
}

/// Every peer got one 408 and was closed after `timeout` (counted from `started`), at most
/// [`LATE_SLACK`] late.
fn expect_cut_with_408(peers: &[Peer], started: Instant, timeout: Duration, what: &str) {
    let mut problems = Vec::new();
    let mut closes = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        match closed_with(peer, 408) {
            Ok(at) => {
                let after = at.duration_since(started);
                closes.push(after);
                if after < timeout - Duration::from_millis(50) || after > timeout + LATE_SLACK {
                    problems.push(format!("peer {i}: closed after {after:?}"));
                }
            }
            Err(e) => problems.push(format!("peer {i}: {e}")),
        }
    }
    eprintln!(
        "{}",
        describe_spread(&format!("{what}: 408 + close after"), closes)
    );
    expect_all(
        &format!("{what} (408 then close near {timeout:?})"),
        &problems,
        peers.len(),
    );
}

#[test]
fn bodies_that_pause_longer_than_the_body_timeout_get_408() {
    let (_redis, mut gateway, baseline) = target(&[]);
    let addr = gateway.addr();

    // The head and 1000 of the 100000 body bytes, then a pause longer than the body timeout.
    let mut start = b"PUT /paused HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".to_vec();
    start.extend(std::iter::repeat_n(b'b', 1000));
    let mut peers = open_peers(addr, 200);
    for peer in &mut peers {
        assert!(send_nb(peer, &start), "could not send the head");
    }
    let started = Instant::now();
    let (peers, latency) = during(addr, Duration::from_millis(25), move || {
        let deadline = started + BODY_TIMEOUT + LATE_SLACK + Duration::from_secs(1);
        drive(&mut peers, deadline, |peers| {
            peers.iter().any(Peer::is_open)
        });
        peers
    });

    latency.expect_fast("200 paused bodies");
    expect_cut_with_408(&peers, started, BODY_TIMEOUT, "paused bodies");
    drop(peers);
    gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
}

#[test]
fn bodies_trickling_faster_than_the_pause_limit_are_received() {
    let (_redis, mut gateway, baseline) = target(&[]);
    let addr = gateway.addr();

    // 6000 bytes in 12 pieces of 500, one every 500 ms: 5.5 s in all, longer than the header and
    // body timeouts together, but never a pause near the 2 s body timeout.
    const PIECES: usize = 12;
    const PIECE: usize = 500;
    const EVERY: Duration = Duration::from_millis(500);
    let n = 200;
    let mut peers = open_peers(addr, n);
    for (i, peer) in peers.iter_mut().enumerate() {
        let head = format!(
            "PUT /steady-{i} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
            PIECES * PIECE
        );
        assert!(send_nb(peer, head.as_bytes()), "could not send the head");
    }
    let started = Instant::now();
    let (peers, latency) = during(addr, Duration::from_millis(100), move || {
        let piece = vec![b's'; PIECE];
        let deadline = started + EVERY * PIECES as u32 + Duration::from_secs(5);
        let mut sent = 0;
        let mut next = started + EVERY;
        drive(&mut peers, deadline, |peers| {
            if sent < PIECES && Instant::now() >= next {
                for peer in peers.iter_mut().filter(|p| p.is_open()) {
                    send_nb(peer, &piece);
                }
                sent += 1;
                next += EVERY;
            }
            peers.iter().any(|p| p.received.is_empty() && p.is_open())
        });
        peers
    });

    let last_piece = EVERY * PIECES as u32;
    let mut problems = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        match parse_responses(&peer.received) {
            // Keep-alive, or told to reconnect for a next request (the quiet lane was full).
            Ok(r) if r == [(204, false)] || r == [(204, true)] => {
                let at = peer.first_byte.expect("a response has a first byte");
                if at.duration_since(started) < last_piece - Duration::from_millis(100) {
                    problems.push(format!(
                        "peer {i}: answered after {:?}, before its body was complete",
                        at.duration_since(started)
                    ));
                }
            }
            Ok(r) => problems.push(format!("peer {i}: expected one 204, got {r:?}")),
            Err(e) => problems.push(format!("peer {i}: {e} (end {:?})", peer.end)),
        }
    }
    latency.expect_fast("200 steadily trickled bodies");
    expect_all("steady bodies (204 after 5.5 s)", &problems, n);
    let get = try_request(addr, "GET", "/steady-7", &[], b"").expect("GET /steady-7");
    assert_eq!(
        (get.status, get.body.len()),
        (200, PIECES * PIECE),
        "{get:?}"
    );
    drop(peers);
    gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
}

// ---------------------------------------------------------------------------------------------
// Clients that never read
// ---------------------------------------------------------------------------------------------

/// 200 connections each pipeline 20 GETs of a 1 MiB value and never read. What the product must
/// guarantee: no crash, every non-reader is cut within a bounded time, resources return, normal
/// requests complete. Whether a normal client keeps p95 < 200 ms depends on whether a worker can
/// be held by a blocked write: it is measured and printed, not asserted.
#[test]
fn clients_that_never_read_are_cut_and_others_are_served() {
    let (_redis, mut gateway) = Gateway::with_redis(FLAGS);
    let addr = gateway.addr();
    put_value(addr, "/v1m", 1024 * 1024);
    put_value(addr, "/v8k", 8 * 1024);
    let baseline = gateway.steady_usage();
    let workers = 9;
    let n = 200;

    let request = b"GET /v1m HTTP/1.1\r\nHost: x\r\n\r\n".repeat(20);
    let mut peers = open_peers(addr, n);
    for peer in &mut peers {
        assert!(send_nb(peer, &request), "could not send 20 pipelined GETs");
    }
    let started = Instant::now();
    // The normal client, meanwhile: requests with a long timeout, so that a stall is measured
    // rather than cut short.
    let normal = spawn_small(move || {
        let mut latency = Latency::default();
        let until = started + Duration::from_secs(8);
        while Instant::now() < until && latency.samples.len() + latency.errors.len() < 50 {
            let t = Instant::now();
            match slow_get(addr, "/v8k", Duration::from_secs(20)) {
                Ok(len) if len == 8 * 1024 => latency.samples.push(t.elapsed()),
                Ok(len) => latency.errors.push(format!("GET /v8k: {len} bytes")),
                Err(e) => latency.errors.push(e),
            }
            thread::sleep(Duration::from_millis(20));
        }
        latency
    });

    // The gateway's descriptors tell when the non-readers are cut (our sockets stay open and
    // unread, so the client side cannot see it without reading megabytes).
    let bound = WRITE_TIMEOUT * n.div_ceil(workers) as u32 + Duration::from_secs(15);
    let mut peak = gateway.usage();
    let mut back_at = None;
    poll_until(bound, || {
        let now = gateway.usage();
        if now.fds > peak.fds {
            peak.fds = now.fds;
        }
        peak.rss_kib = peak.rss_kib.max(now.rss_kib);
        if now.fds <= baseline.fds + FD_SLACK {
            back_at = Some(started.elapsed());
            true
        } else {
            false
        }
    });
    let latency = normal.join().expect("normal client thread");
    eprintln!(
        "non-readers: baseline {baseline:?}, peak {peak:?}, all cut after {back_at:?} (bound \
         {bound:?}); normal client: {}",
        latency.summary()
    );
    assert!(gateway.is_running(), "the gateway died");
    let cut = back_at.unwrap_or_else(|| {
        panic!(
            "the gateway still held {} descriptors {bound:?} after 200 non-readers connected \
             (baseline {})",
            gateway.usage().fds,
            baseline.fds
        )
    });
    // Every one of our sockets is closed by the gateway (EOF or reset after the unread data).
    let mut problems = Vec::new();
    for (i, peer) in peers.iter_mut().enumerate() {
        if let Err(e) = drain_to_close(&mut peer.stream, Duration::from_secs(5)) {
            problems.push(format!("peer {i}: {e}"));
        }
    }
    expect_all("non-readers closed by the gateway", &problems, n);
    assert!(
        latency.errors.is_empty(),
        "normal requests failed while non-readers were held: {:?}",
        latency.errors
    );
    drop(peers);
    gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
    // A non-reader is cut one write timeout after its writes stop making progress. They do not
    // stop at once: the kernel accepts megabytes per socket before a write blocks, so the gateway
    // first produces several 1 MiB answers for each of the 200 (about a gigabyte through Redis on
    // this machine) — a few seconds of work shared fairly among them — and only then does each
    // one's clock start. Workers never wait on a client, so the bound is that work plus one
    // timeout (with the slack of a loaded machine: 20 s), not n / workers timeouts (44 s).
    assert!(
        cut <= WRITE_TIMEOUT + Duration::from_secs(8) + LATE_SLACK,
        "the last non-reader was cut {cut:?} after the attack began: more than the write timeout \
         ({WRITE_TIMEOUT:?}) + 8 s + {LATE_SLACK:?}"
    );
    // Connections that used up their share of answers are queued as bulk work, behind small
    // requests, so the normal client keeps its p95 under the limit while the non-readers are held
    // (measured before that: p95 about 340 ms; after: 50–90 ms).
    latency.expect_fast("200 clients that never read 1 MiB answers");
}

/// One GET on a new connection with a long read timeout; the body length.
fn slow_get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<usize, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(&format_request("GET", path, &[], b""))
        .map_err(|e| format!("write: {e}"))?;
    let response = read_response(&mut stream)?;
    if response.status != 200 {
        return Err(format!("GET {path}: {response:?}"));
    }
    Ok(response.body.len())
}

/// Reads and discards until EOF or reset; an error if the socket stays open past `timeout`.
fn drain_to_close(stream: &mut TcpStream, timeout: Duration) -> Result<(), String> {
    stream.set_nonblocking(false).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; 256 * 1024];
    let deadline = Instant::now() + timeout;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(_) if Instant::now() < deadline => {}
            Ok(_) => return Err("still sending after the deadline".into()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err("still open".into())
            }
            Err(_) => return Ok(()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Crowds: idle keep-alive, storms, the connection limit
// ---------------------------------------------------------------------------------------------

/// Sends `GET /k` on every peer and pumps until each has one complete response or is closed.
fn serve_one_each(peers: &mut [Peer], timeout: Duration) {
    let request = b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n";
    for peer in peers.iter_mut() {
        send_nb(peer, request);
    }
    drive(peers, Instant::now() + timeout, |peers| {
        peers
            .iter()
            .any(|p| p.is_open() && parse_responses(&p.received).map_or(true, |r| r.is_empty()))
    });
}

#[test]
fn a_thousand_idle_keep_alive_connections_cost_little_and_are_closed() {
    let (_redis, mut gateway, baseline) = target(&[]);
    let addr = gateway.addr();

    let n = 1000;
    // Served in chunks as they open: opening 1000 sockets can take longer than the idle timeout
    // on a loaded machine, and a connection that has sent nothing for that long is rightly closed.
    let mut peers = Vec::with_capacity(n);
    for _ in 0..n / 100 {
        let mut chunk = open_peers(addr, 100);
        serve_one_each(&mut chunk, Duration::from_secs(10));
        peers.extend(chunk);
    }
    // Each got its one answer. Once the quiet lane is full, an answer says `Connection: close`
    // (the client is to reconnect for its next request) and the connection closes after it; the
    // others stay open.
    let mut problems = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        match parse_responses(&peer.received) {
            Ok(r) if r == [(404, false)] || r == [(404, true)] => {}
            other => problems.push(format!("peer {i}: {other:?}, end {:?}", peer.end)),
        }
    }
    expect_all("1000 keep-alive connections served once", &problems, n);
    // And 1000 that never send anything, which nothing can close before the idle timeout. Each
    // is idle from its connect (opening 1000 takes a second or two).
    let silent_from = Instant::now();
    let mut silent: Vec<Peer> = (0..n)
        .flat_map(|_| {
            let mut one = open_peers(addr, 1);
            for peer in &mut one {
                peer.last_sent = Some(Instant::now());
            }
            one
        })
        .collect();
    let served = Instant::now();
    let cpu_before = cpu_ticks(gateway.pid());
    let latency = normal_client(addr, "/v8k", 8 * 1024, 50, Duration::from_millis(20));
    let cpu_used = cpu_ticks(gateway.pid()) - cpu_before;
    let window = served.elapsed();
    eprintln!(
        "1000 idle connections: gateway CPU {:.0}% of a core over {window:?} (with 50 requests)",
        cpu_percent(cpu_used, window)
    );
    latency.expect_fast("1000 idle keep-alive connections");

    // A connection told to close is closed at once; every other one once idle longer than the
    // idle timeout, never earlier: the gateway never closes unannounced a connection that may be
    // sending.
    let mut scratch = vec![0u8; 4096];
    poll_until(IDLE_TIMEOUT + LATE_SLACK + Duration::from_secs(1), || {
        pump(&mut peers, &mut scratch);
        pump(&mut silent, &mut scratch);
        !peers.iter().chain(&silent).any(Peer::is_open)
    });
    let mut problems = Vec::new();
    let mut closes = Vec::new();
    let (mut told, mut kept) = (0, 0);
    for (i, peer) in peers.iter().chain(&silent).enumerate() {
        // Idle from when the request went out: the gateway cannot have read it earlier.
        let idle_from = peer.last_sent.unwrap_or(silent_from);
        let answers = parse_responses(&peer.received).unwrap_or_default();
        let announced = answers == [(404, true)];
        match &peer.end {
            None => problems.push(format!("peer {i}: still open")),
            // Closed after an answer that said so (when is not measured: nobody reads these
            // peers while the normal client runs).
            Some(_) if announced => told += 1,
            Some((end, at)) => {
                kept += 1;
                let after = at.duration_since(idle_from);
                closes.push(after);
                if after < IDLE_TIMEOUT - Duration::from_millis(50)
                    || after > IDLE_TIMEOUT + LATE_SLACK
                {
                    problems.push(format!("peer {i}: {} after {after:?} idle", end.describe()));
                }
                let expected = if i < n { vec![(404, false)] } else { vec![] };
                if answers != expected {
                    problems.push(format!("peer {i}: got {answers:?}, want {expected:?}"));
                }
            }
        }
    }
    eprintln!(
        "{} ({told} closed after an answer saying so, {kept} at the idle timeout)",
        describe_spread("idle connections closed after", closes)
    );
    expect_all(
        "idle connections closed after the idle timeout or an announced close",
        &problems,
        2 * n,
    );
    drop(peers);
    drop(silent);
    gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
}

#[test]
fn five_thousand_connections_at_once_are_served_or_refused_cleanly() {
    // Opening 5000 connections takes seconds: a longer idle timeout (the last flag wins) keeps the
    // first ones from being closed as idle before the GETs go out.
    let (_redis, mut gateway, baseline) = target(&["--idle-timeout", "60s"]);
    let addr = gateway.addr();
    let n = 5000;

    let started = Instant::now();
    let ((peers, connected), latency) = during(addr, Duration::from_millis(20), move || {
        let mut peers = open_peers(addr, n);
        let connected = started.elapsed();
        serve_one_each(&mut peers, Duration::from_secs(20));
        (peers, connected)
    });
    let peak = gateway.usage();
    eprintln!(
        "5000 connections: connected in {connected:?}, answered after {:?}; gateway {peak:?}",
        started.elapsed()
    );
    let (mut served, mut refused) = (0, 0);
    let mut problems = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        match parse_responses(&peer.received) {
            Ok(r) if r == [(404, false)] && peer.is_open() => served += 1,
            // Served, and told to reconnect for a next request (the quiet lane was full).
            Ok(r) if r == [(404, true)] => served += 1,
            Ok(r) if r == [(503, true)] && !peer.is_open() => refused += 1,
            Ok(r) if r == [(503, true)] => problems.push(format!("peer {i}: 503 but still open")),
            other => problems.push(format!("peer {i}: {other:?}, end {:?}", peer.end)),
        }
    }
    eprintln!("5000 connections: {served} served, {refused} refused with 503");
    if let Some(peer) = peers
        .iter()
        .find(|p| p.received.starts_with(b"HTTP/1.1 503"))
    {
        eprintln!(
            "a refusal: {:?}",
            String::from_utf8_lossy(&peer.received[..peer.received.len().min(400)])
        );
    }
    assert!(gateway.is_running(), "the gateway died");
    latency.expect_fast("5000 new connections");
    expect_all("5000 connections: 404, or 503 + close", &problems, n);
    // Not asserted: that all 5000 are served. With 5000 requests arriving together the task queue
    // (1024) may fill, and the README documents 503 for that; the counts are printed.
    drop(peers);
    gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
}

#[test]
fn connections_beyond_max_connections_get_503_and_a_log_line() {
    let (_redis, mut gateway) =
        Gateway::with_redis(&[FLAGS, &["--max-connections", "100"]].concat());
    let addr = gateway.addr();
    let baseline = gateway.steady_usage();
    let n = 150;
    let mut peers = open_peers(addr, n);
    serve_one_each(&mut peers, Duration::from_secs(10));
    let mut scratch = vec![0u8; 4096];
    // Refused ones close right after the 503.
    poll_until(Duration::from_secs(3), || {
        pump(&mut peers, &mut scratch);
        peers
            .iter()
            .all(|p| !p.is_open() || parse_responses(&p.received).ok() == Some(vec![(404, false)]))
    });
    let (mut served, mut refused) = (0, 0);
    let mut problems = Vec::new();
    for (i, peer) in peers.iter().enumerate() {
        match parse_responses(&peer.received) {
            Ok(r) if r == [(404, false)] && peer.is_open() => served += 1,
            // Served, and told to reconnect for a next request (the quiet lane was full).
            Ok(r) if r == [(404, true)] => served += 1,
            Ok(r) if r == [(503, true)] && !peer.is_open() => refused += 1,
            other => problems.push(format!("peer {i}: {other:?}, end {:?}", peer.end)),
        }
    }
    eprintln!("--max-connections 100, 150 connections: {served} served, {refused} refused");
    // Every rule is checked, survival included, and all that fail are reported together.
    let mut failed = Vec::new();
    if !problems.is_empty() {
        failed.push(format!(
            "{} connections neither 404 nor 503 + close: {:?}",
            problems.len(),
            &problems[..problems.len().min(5)]
        ));
    }
    if !(95..=100).contains(&served) || served + refused != n {
        failed.push(format!(
            "expected about 100 served and the rest refused: {served} served, {refused} refused"
        ));
    }
    let log = gateway.log();
    if !(log.contains("max-connections") || log.contains("too many open connections")) {
        failed.push(format!(
            "{refused} connections were refused, but the log does not mention it"
        ));
    }
    drop(peers);
    // A closed connection counts against --max-connections until the gateway notices the close
    // (quiet connections are swept every few milliseconds): wait for that before the survival
    // checks, whose first request would otherwise be refused as the 101st connection.
    poll_until(Duration::from_secs(5), || {
        gateway.usage().fds <= baseline.fds + FD_SLACK
    });
    let survived = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gateway.expect_survived(baseline, FD_SLACK, RSS_SLACK_KIB);
    }));
    if survived.is_err() {
        failed.push("the survival checks failed after the connections closed (see above)".into());
    }
    assert!(
        failed.is_empty(),
        "--max-connections 100:\n  {}\nlog:\n{log}",
        failed.join("\n  ")
    );
}

// ---------------------------------------------------------------------------------------------
// Out of descriptors
// ---------------------------------------------------------------------------------------------

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    let after_name = &stat[stat.rfind(')').expect("comm in stat") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `fields[0]` is field 3 (state).
    let utime: u64 = fields[11].parse().expect("utime");
    let stime: u64 = fields[12].parse().expect("stime");
    utime + stime
}

fn clock_ticks_per_sec() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn cpu_percent(ticks: u64, window: Duration) -> f64 {
    ticks as f64 / clock_ticks_per_sec() as f64 / window.as_secs_f64() * 100.0
}

#[test]
fn out_of_descriptors_is_logged_without_spinning_and_recovers() {
    let redis = RedisServer::start();
    let redis_addr = redis.addr().to_string();
    let listen = ["--listen", "127.0.0.1:0", "--redis", redis_addr.as_str()];
    let mut gateway =
        Gateway::spawn_with_fd_limit(64, &[&listen[..], FLAGS, &["--pool-size", "8"]].concat());
    let addr = gateway.addr();
    assert!(
        poll_until(START_TIMEOUT, || {
            matches!(try_request(addr, "GET", "/k", &[], b""), Ok(r) if r.status == 404)
        }),
        "the gateway under ulimit -n 64 never served; log:\n{}",
        gateway.log()
    );
    let baseline = gateway.usage();

    // 100 connections, held open, each with a request: more than 64 descriptors can hold.
    let mut peers = open_peers(addr, 100);
    for peer in &mut peers {
        send_nb(peer, b"GET /k HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    let logged = poll_until(Duration::from_secs(5), || {
        gateway.log().contains("out of file descriptors")
    });
    assert!(
        logged,
        "no `out of file descriptors` error in the log:\n{}",
        gateway.log()
    );
    // Under the flood for 2 s: CPU and how often the error is logged.
    let lines_before = gateway.log().matches("accept failed").count();
    let ticks_before = cpu_ticks(gateway.pid());
    let window_start = Instant::now();
    let mut scratch = vec![0u8; 4096];
    poll_until(Duration::from_secs(2), || {
        pump(&mut peers, &mut scratch);
        false
    });
    let window = window_start.elapsed();
    let cpu = cpu_percent(cpu_ticks(gateway.pid()) - ticks_before, window);
    let lines = gateway.log().matches("accept failed").count() - lines_before;
    let fds = gateway.usage().fds;
    eprintln!(
        "out of descriptors: CPU {cpu:.1}% of a core over {window:?}, {lines} `accept failed` \
         lines, {fds} fds open (limit 64)"
    );
    assert!(gateway.is_running(), "the gateway died out of descriptors");
    assert!(
        cpu < 50.0,
        "the gateway spins: {cpu:.1}% CPU over {window:?}"
    );
    assert!(
        lines <= 3,
        "`accept failed` logged {lines} times in {window:?} (at most once a second)"
    );
    let answered = peers.iter().filter(|p| !p.received.is_empty()).count();
    eprintln!("out of descriptors: {answered} of 100 flood connections answered while held");

    // Once the flood goes away, it serves again and its descriptors return.
    drop(peers);
    let mut last = String::new();
    let served = poll_until(Duration::from_secs(10), || {
        match try_request(addr, "PUT", "/after-emfile", &[], b"alive") {
            Ok(r) if r.status == 204 => true,
            other => {
                last = format!("{other:?}");
                false
            }
        }
    });
    assert!(served, "no normal PUT succeeded after the flood: {last}");
    let get = try_request(addr, "GET", "/after-emfile", &[], b"").expect("GET after the flood");
    assert_eq!((get.status, get.body.as_slice()), (200, &b"alive"[..]));
    let mut now = gateway.usage();
    let settled = poll_until(Duration::from_secs(10), || {
        now = gateway.usage();
        now.fds <= baseline.fds + FD_SLACK && now.rss_kib <= baseline.rss_kib + RSS_SLACK_KIB
    });
    assert!(
        settled,
        "resources did not return: baseline {baseline:?}, now {now:?}"
    );
}
