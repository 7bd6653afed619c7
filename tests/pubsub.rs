//! Pub/sub through the webdis API end to end (`GET /SUBSCRIBE/ch`, `/PSUBSCRIBE/pattern`): a thousand
//! chunked streams fed in order from one shared Redis connection while ordinary requests keep being
//! answered, subscribers that vanish mid-stream, a subscriber that stops reading and is cut at
//! `--max-stream-buffer`, a Redis restart under a hundred streams, the exact bytes of every format,
//! the last subscriber's `UNSUBSCRIBE`, and what a stream owes its client: the confirmation before any
//! message, confirmations in the order asked, no body for `HEAD`, 400 where no stream can be made.
//!
//! Redis is watched with the tests' own RESP client (`PUBSUB NUMSUB`, `CLIENT LIST`) and the gateway with
//! its `/metrics` on the admin port the test support gives it. Figures (delivery
//! rate, RSS, request latency during the fan-out) are printed: run with `-- --nocapture` to see them.

mod support;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};
use support::redis::RespConn;
use support::rng::Rng;
use support::*;

/// The CORS headers webdis puts on every answer, a subscription's included.
const CORS: [(&str, &str); 3] = [
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET,POST,PUT,OPTIONS"),
    (
        "Access-Control-Allow-Headers",
        "X-Requested-With, Content-Type, Authorization",
    ),
];

/// How long a wait for something the gateway does by itself (a cleanup, a reconnect) may take.
const SETTLE: Duration = Duration::from_secs(10);

/// Held by the tests that load the machine (a thousand streams, floods of messages): run one at a
/// time, on 2 cores they would only slow each other down and blur the figures they print.
static HEAVY: Mutex<()> = Mutex::new(());

/// Waits for the other heavy tests to finish; a test that failed holding the lock does not matter.
fn heavy() -> MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(PoisonError::into_inner)
}

// ----- set-up -----

/// The flags of every gateway here.
const WEBDIS: &[&str] = &["--api", "webdis"];

// ----- what Redis says -----

/// `PUBSUB NUMSUB channel`: how many Redis connections are subscribed to it.
#[track_caller]
fn numsub(redis: &RedisServer, channel: &str) -> i64 {
    match redis.cmd(&[b"PUBSUB", b"NUMSUB", channel.as_bytes()]) {
        RespReply::Array(items) if items.len() == 2 => items[1].integer(),
        other => panic!("PUBSUB NUMSUB {channel}: {other:?}"),
    }
}

/// Polls `PUBSUB NUMSUB channel` until it is `want`.
#[track_caller]
fn wait_numsub(redis: &RedisServer, channel: &str, want: i64) {
    let mut seen = -1;
    let reached = poll_until(SETTLE, || {
        seen = numsub(redis, channel);
        seen == want
    });
    assert!(
        reached,
        "PUBSUB NUMSUB {channel} stayed {seen} instead of {want} for {SETTLE:?}"
    );
}

/// A connection of the test's own to Redis, for publishing.
struct Publisher {
    conn: RespConn,
}

impl Publisher {
    fn connect(redis: &RedisServer) -> Publisher {
        let conn = RespConn::connect(redis.addr())
            .unwrap_or_else(|e| panic!("connect to redis {}: {e}", redis.addr()));
        Publisher { conn }
    }

    /// `PUBLISH channel payload`; returns how many Redis connections received it.
    #[track_caller]
    fn publish(&mut self, channel: &str, payload: &[u8]) -> i64 {
        match self.conn.cmd(&[b"PUBLISH", channel.as_bytes(), payload]) {
            Ok(RespReply::Integer(n)) => n,
            other => panic!("PUBLISH {channel}: {other:?}"),
        }
    }
}

// ----- a subscriber: one chunked stream -----

/// The chunk of a channel message as webdis writes it.
fn message_chunk(channel: &str, payload: &str) -> String {
    format!(r#"{{"SUBSCRIBE":["message","{channel}","{payload}"]}}"#)
}

/// The chunk confirming a subscription.
fn subscribed_chunk(channel: &str, count: usize) -> String {
    format!(r#"{{"SUBSCRIBE":["subscribe","{channel}",{count}]}}"#)
}

/// One `GET /SUBSCRIBE/…` stream: its response head, then its chunks one at a time. Bytes read but not
/// yet taken wait in `buf[pos..]`.
struct Subscriber {
    stream: TcpStream,
    head: Response,
    buf: Vec<u8>,
    pos: usize,
}

impl Subscriber {
    /// Connects and sends `GET path` without waiting for the answer (so that many can be opened at once).
    fn request(addr: SocketAddr, path: &str) -> TcpStream {
        let mut stream = connect(addr);
        send(&mut stream, &format_request("GET", path, &[], b""));
        stream
    }

    /// Reads the response head of a stream from [`Subscriber::request`] and checks it is a chunked 200
    /// of `content_type` with the CORS headers.
    #[track_caller]
    fn accept(mut stream: TcpStream, content_type: &str) -> Subscriber {
        let head = read_response(&mut stream).unwrap_or_else(|e| panic!("subscription: {e}"));
        expect_status(&head, 200);
        assert_eq!(head.version, "HTTP/1.1", "{head:?}");
        assert_eq!(
            head.header("transfer-encoding"),
            Some("chunked"),
            "a subscription is chunked:\n{head:?}"
        );
        assert_eq!(
            head.header("content-length"),
            None,
            "a stream has no length:\n{head:?}"
        );
        assert_eq!(
            head.header("content-type"),
            Some(content_type),
            "Content-Type:\n{head:?}"
        );
        for (name, value) in CORS {
            assert_eq!(head.header(name), Some(value), "{name}:\n{head:?}");
        }
        Subscriber {
            stream,
            head,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// `GET path`, its head checked as JSON.
    #[track_caller]
    fn open(addr: SocketAddr, path: &str) -> Subscriber {
        Subscriber::accept(Subscriber::request(addr, path), "application/json")
    }

    /// The data of the next chunk; `Err` when the stream ends (the last chunk, EOF), fails, times
    /// out, or breaks the chunked framing.
    fn next_chunk(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(chunk) = self.take_chunk()? {
                return Ok(chunk);
            }
            self.fill()?;
        }
    }

    /// Asserts the next chunk is exactly `want`.
    #[track_caller]
    fn expect_chunk(&mut self, want: &str) {
        match self.next_chunk() {
            Ok(chunk) => assert!(
                chunk == want.as_bytes(),
                "chunk: want {want:?}, got {:?}",
                String::from_utf8_lossy(&chunk)
            ),
            Err(e) => panic!("waiting for chunk {want:?}: {e}"),
        }
    }

    /// One complete chunk from the buffer, if it holds one.
    fn take_chunk(&mut self) -> Result<Option<Vec<u8>>, String> {
        let rest = &self.buf[self.pos..];
        let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
            if rest.len() > 16 {
                return Err(format!("no chunk-size line in {:?}", show(rest)));
            }
            return Ok(None);
        };
        let size_line = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(&size_line, 16)
            .map_err(|_| format!("bad chunk-size line {size_line:?}"))?;
        if size == 0 {
            return Err("the last chunk: the gateway ended the stream".to_string());
        }
        let start = eol + 2;
        let end = start + size;
        if rest.len() < end + 2 {
            return Ok(None);
        }
        if &rest[end..end + 2] != b"\r\n" {
            return Err(format!(
                "chunk of {size} bytes not followed by CRLF: {:?}",
                show(&rest[..end + 2])
            ));
        }
        let chunk = rest[start..end].to_vec();
        self.pos += end + 2;
        Ok(Some(chunk))
    }

    /// Reads more bytes from the socket (dropping the ones already taken first).
    fn fill(&mut self) -> Result<(), String> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut scratch = [0u8; 16 * 1024];
        match self.stream.read(&mut scratch) {
            Ok(0) => Err(format!(
                "connection closed ({} bytes left unparsed: {:?})",
                self.buf.len(),
                show(&self.buf)
            )),
            Ok(n) => {
                self.buf.extend_from_slice(&scratch[..n]);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(format!("read failed: {e}")),
        }
    }
}

/// Up to 200 bytes, lossily, for messages.
fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
}

/// Opens `n` subscribers on `path` in batches of 100 (all requests of a batch sent before any answer
/// is read) and reads each one's confirmation, `confirmation`.
#[track_caller]
fn open_many(addr: SocketAddr, path: &str, n: usize, confirmation: &str) -> Vec<Subscriber> {
    let mut subscribers = Vec::with_capacity(n);
    while subscribers.len() < n {
        let batch = (n - subscribers.len()).min(100);
        let streams: Vec<TcpStream> = (0..batch)
            .map(|_| Subscriber::request(addr, path))
            .collect();
        for stream in streams {
            let mut subscriber = Subscriber::accept(stream, "application/json");
            subscriber.expect_chunk(confirmation);
            subscribers.push(subscriber);
        }
    }
    subscribers
}

/// Splits `items` into `parts` vectors of nearly equal length.
fn deal<T>(items: Vec<T>, parts: usize) -> Vec<Vec<T>> {
    let mut hands: Vec<Vec<T>> = (0..parts).map(|_| Vec::new()).collect();
    for (i, item) in items.into_iter().enumerate() {
        hands[i % parts].push(item);
    }
    hands
}

// ----- a client doing ordinary requests meanwhile -----

/// What the background `GET` client saw.
struct Latencies {
    samples: Vec<Duration>,
    failures: Vec<String>,
}

impl Latencies {
    fn percentile(&self, p: usize) -> Duration {
        let mut sorted = self.samples.clone();
        sorted.sort();
        sorted
            .get((sorted.len() * p / 100).min(sorted.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    }
}

/// The pace of the background `GET` client: a steady trickle of ordinary traffic, not a load test.
const GET_SPACING: Duration = Duration::from_millis(2);

/// Sends `GET path` on one keep-alive connection, one every [`GET_SPACING`], until `stop`, expecting
/// `body` every time.
fn background_gets(
    addr: SocketAddr,
    path: &'static str,
    body: &'static [u8],
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Latencies> {
    thread::spawn(move || {
        let mut seen = Latencies {
            samples: Vec::new(),
            failures: Vec::new(),
        };
        let mut stream = connect(addr);
        let mut next = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if next > now {
                thread::sleep(next - now);
            }
            next += GET_SPACING;
            let started = Instant::now();
            send(&mut stream, &format_request("GET", path, &[], b""));
            match read_response(&mut stream) {
                Ok(r) if r.status == 200 && r.body == body => seen.samples.push(started.elapsed()),
                Ok(r) => {
                    seen.failures.push(format!("{r:?}"));
                    stream = connect(addr);
                }
                Err(e) => {
                    seen.failures.push(e);
                    stream = connect(addr);
                }
            }
        }
        seen
    })
}

// ----- the tests -----

#[test]
fn thousand_subscribers_receive_every_message_in_order() {
    const SUBSCRIBERS: usize = 1_000;
    const MESSAGES: usize = 1_000;
    const READERS: usize = 4;
    let _heavy = heavy();
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    redis.cmd(&[b"SET", b"k", b"v"]);

    let opening = Instant::now();
    let subscribers = open_many(
        addr,
        "/SUBSCRIBE/fanout",
        SUBSCRIBERS,
        &subscribed_chunk("fanout", 1),
    );
    println!(
        "fan-out: {SUBSCRIBERS} subscribers confirmed in {:.2} s",
        opening.elapsed().as_secs_f64()
    );
    assert_eq!(
        numsub(&redis, "fanout"),
        1,
        "one Redis subscription however many HTTP subscribers"
    );
    let named = redis.clients_named("redis-gateway");
    assert!(
        (1..=42).contains(&named),
        "the gateway holds its pool (40) and one pub/sub connection, not one per subscriber: {named}"
    );
    let with_streams = gateway.usage();
    println!(
        "fan-out: gateway RSS with {SUBSCRIBERS} streams open: {:.1} MiB, {} fds; {named} Redis connections",
        with_streams.rss_kib as f64 / 1024.0,
        with_streams.fds
    );

    let stop = Arc::new(AtomicBool::new(false));
    let gets = background_gets(addr, "/GET/k", br#"{"GET":"v"}"#, Arc::clone(&stop));
    let started = Instant::now();
    let readers: Vec<thread::JoinHandle<Result<usize, String>>> = deal(subscribers, READERS)
        .into_iter()
        .map(|mut hand| {
            thread::spawn(move || {
                for (s, subscriber) in hand.iter_mut().enumerate() {
                    for n in 0..MESSAGES {
                        let want = message_chunk("fanout", &format!("msg-{n}"));
                        match subscriber.next_chunk() {
                            Ok(chunk) if chunk == want.as_bytes() => {}
                            Ok(chunk) => {
                                return Err(format!(
                                    "subscriber {s} of its reader: message {n}: want {want:?}, got {:?}",
                                    show(&chunk)
                                ))
                            }
                            Err(e) => {
                                return Err(format!(
                                    "subscriber {s} of its reader: message {n}: {e}"
                                ))
                            }
                        }
                    }
                }
                Ok(hand.len())
            })
        })
        .collect();

    // Half through the gateway, half straight to Redis; one after the other, so the order is total.
    let mut through_gateway = connect(addr);
    for n in 0..MESSAGES / 2 {
        let response = request_on(
            &mut through_gateway,
            "GET",
            &format!("/PUBLISH/fanout/msg-{n}"),
            &[],
            b"",
        );
        expect_status(&response, 200);
        assert_eq!(
            response.text(),
            r#"{"PUBLISH":1}"#,
            "Redis delivers each message to one connection, the gateway's"
        );
    }
    let mut publisher = Publisher::connect(&redis);
    for n in MESSAGES / 2..MESSAGES {
        assert_eq!(
            publisher.publish("fanout", format!("msg-{n}").as_bytes()),
            1
        );
    }

    let mut received = 0;
    let mut problems = Vec::new();
    for reader in readers {
        match reader.join().expect("reader thread panicked") {
            Ok(n) => received += n,
            Err(e) => problems.push(e),
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let latencies = gets.join().expect("GET thread panicked");
    assert!(
        problems.is_empty(),
        "{} readers failed, first: {}",
        problems.len(),
        problems[0]
    );
    assert_eq!(received, SUBSCRIBERS, "every subscriber read all messages");
    println!(
        "fan-out: {} deliveries in {:.2} s: {:.0} messages/s; gateway RSS after: {:.1} MiB",
        SUBSCRIBERS * MESSAGES,
        elapsed.as_secs_f64(),
        (SUBSCRIBERS * MESSAGES) as f64 / elapsed.as_secs_f64(),
        gateway.usage().rss_kib as f64 / 1024.0
    );
    println!(
        "fan-out: GET /GET/k meanwhile: {} answers, p50 {:?}, p99 {:?}",
        latencies.samples.len(),
        latencies.percentile(50),
        latencies.percentile(99)
    );
    assert!(
        latencies.failures.is_empty(),
        "{} GET requests during the fan-out failed, first: {}",
        latencies.failures.len(),
        latencies.failures[0]
    );
    assert!(
        !latencies.samples.is_empty(),
        "the GET client got no answer at all during the fan-out"
    );
}

/// Reads the stream's first chunk and asserts it is the confirmation on `channel`: nothing
/// published before the subscription may come first (see
/// `the_confirmation_comes_before_any_message`).
#[track_caller]
fn expect_confirmation(subscriber: &mut Subscriber, channel: &str) {
    let confirmation = subscribed_chunk(channel, 1);
    let chunk = subscriber
        .next_chunk()
        .unwrap_or_else(|e| panic!("{channel}: waiting for the confirmation: {e}"));
    assert_eq!(
        chunk,
        confirmation.as_bytes(),
        "{channel}: want its confirmation first, got {:?}",
        show(&chunk)
    );
}

#[test]
fn subscribers_that_vanish_mid_stream_leave_nothing_behind() {
    const TOTAL: usize = 1_000;
    const BATCH: usize = 50;
    const CHANNELS: usize = 10;
    const PUBLISH_SPACING: Duration = Duration::from_micros(200);
    let _heavy = heavy();
    let (redis, mut gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let (mut rng, seed) = Rng::from_env(0x5eed_0f5a_b5e5);
    // The baseline once the pool is full (the maintainer fills it after start-up).
    if let Err(seen) = redis.wait_gateway_pool(40, SETTLE) {
        panic!("the gateway's pool never reached 40 connections: {seen}");
    }
    let baseline = gateway.usage();

    let stop = Arc::new(AtomicBool::new(false));
    let publisher = {
        let stop = Arc::clone(&stop);
        let mut publisher = Publisher::connect(&redis);
        thread::spawn(move || {
            // Paced: as fast as it can, the publisher outruns the fan-out and the backlog grows
            // without end (then each new subscriber wades through it).
            let mut n = 0u64;
            let mut next = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                }
                next += PUBLISH_SPACING;
                let channel = format!("churn-{}", n % CHANNELS as u64);
                publisher.publish(&channel, format!("m-{n}").as_bytes());
                n += 1;
            }
            n
        })
    };

    let mut messages_read = 0;
    for batch in 0..TOTAL / BATCH {
        let channels: Vec<String> = (0..BATCH)
            .map(|i| format!("churn-{}", (batch * BATCH + i) % CHANNELS))
            .collect();
        let streams: Vec<TcpStream> = channels
            .iter()
            .map(|c| Subscriber::request(addr, &format!("/SUBSCRIBE/{c}")))
            .collect();
        for (stream, channel) in streams.into_iter().zip(&channels) {
            let mut subscriber = Subscriber::accept(stream, "application/json");
            let prefix = format!(r#"{{"SUBSCRIBE":["message","{channel}","m-"#);
            expect_confirmation(&mut subscriber, channel);
            match rng.below(5) {
                // Gone right after the confirmation.
                0 => {}
                // Gone after a message or two.
                1 | 2 => {
                    for _ in 0..rng.below(2) + 1 {
                        let chunk = subscriber
                            .next_chunk()
                            .unwrap_or_else(|e| panic!("seed {seed}: {channel}: {e}"));
                        assert!(
                            chunk.starts_with(prefix.as_bytes()) && chunk.ends_with(b"\"]}"),
                            "seed {seed}: a message on {channel}: {:?}",
                            show(&chunk)
                        );
                        messages_read += 1;
                    }
                }
                // Gone in the middle of a chunk.
                3 => {
                    let mut some = [0u8; 7];
                    let _ = subscriber.stream.read(&mut some);
                }
                // Half-closed first, then gone.
                _ => {
                    let _ = subscriber.stream.shutdown(std::net::Shutdown::Write);
                }
            }
            // Dropped with unread bytes in its buffer: the kernel answers the gateway with a reset.
            drop(subscriber);
        }
    }
    stop.store(true, Ordering::Relaxed);
    let published = publisher.join().expect("publisher thread panicked");
    println!(
        "churn: {TOTAL} subscribers came and went while {published} messages were published; \
         they read {messages_read} (seed {seed})"
    );
    assert!(published > 0, "the publisher published nothing");

    assert!(gateway.is_running(), "the gateway died");
    gateway.wait_ready();
    gateway.wait_metric("redis_gateway_pubsub_subscriptions", 0.0);
    gateway.wait_metric("redis_gateway_pubsub_topics", 0.0);
    for c in 0..CHANNELS {
        wait_numsub(&redis, &format!("churn-{c}"), 0);
    }
    assert!(
        gateway.metric("redis_gateway_stream_messages_total") >= messages_read as f64,
        "every message read was counted"
    );
    // The pub/sub connection (and its thread) stays: a few descriptors more than before.
    let mut now = gateway.usage();
    let settled = poll_until(SETTLE, || {
        now = gateway.usage();
        now.fds <= baseline.fds + 4 && now.rss_kib <= baseline.rss_kib + 20 * 1024
    });
    println!(
        "churn: gateway before {:.1} MiB, {} fds; after {:.1} MiB, {} fds",
        baseline.rss_kib as f64 / 1024.0,
        baseline.fds,
        now.rss_kib as f64 / 1024.0,
        now.fds
    );
    assert!(
        settled,
        "resources did not return near baseline: before {baseline:?}, now {now:?} (slack 4 fds, 20 MiB)"
    );
    // And a new subscriber is served as the first one was.
    let mut late = Subscriber::open(addr, "/SUBSCRIBE/churn-0");
    expect_confirmation(&mut late, "churn-0");
    assert_eq!(Publisher::connect(&redis).publish("churn-0", b"late"), 1);
    late.expect_chunk(&message_chunk("churn-0", "late"));
}

/// Publishes `n` messages `m-0`… on `channel` in one pipelined write, then reads every reply: when it
/// returns, Redis has queued all of them for its subscribers.
#[track_caller]
fn publish_burst(redis: &RedisServer, channel: &str, n: usize) {
    let mut stream = connect(redis.addr());
    let mut commands = Vec::new();
    for i in 0..n {
        commands.extend_from_slice(&support::redis::encode_command(&[
            b"PUBLISH",
            channel.as_bytes(),
            format!("m-{i}").as_bytes(),
        ]));
    }
    send(&mut stream, &commands);
    let mut replies = io::BufReader::new(stream);
    for i in 0..n {
        match support::redis::read_reply(&mut replies) {
            Ok(RespReply::Integer(_)) => {}
            other => panic!("reply to PUBLISH {i} of the burst: {other:?}"),
        }
    }
}

#[test]
fn the_confirmation_comes_before_any_message() {
    const BURST: usize = 100_000;
    const ATTEMPTS: usize = 3;
    let _heavy = heavy();
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let confirmation = subscribed_chunk("race", 1);
    for attempt in 1..=ATTEMPTS {
        // A subscriber, and a backlog of messages for it on the way from Redis to the gateway.
        let mut first = Subscriber::open(addr, "/SUBSCRIBE/race");
        first.expect_chunk(&confirmation);
        publish_burst(&redis, "race", BURST);
        // It leaves (with unread bytes: a reset): the gateway sends UNSUBSCRIBE behind the backlog.
        drop(first);
        gateway.wait_metric("redis_gateway_pubsub_subscriptions", 0.0);
        // A new subscriber makes the gateway SUBSCRIBE again. Redis answers that after the backlog and
        // after the UNSUBSCRIBE; until it does, nothing may reach this stream, and certainly not
        // messages published before it subscribed.
        let mut second = Subscriber::open(addr, "/SUBSCRIBE/race");
        let mut early: Vec<Vec<u8>> = Vec::new();
        loop {
            let chunk = second
                .next_chunk()
                .unwrap_or_else(|e| panic!("attempt {attempt}: the second subscriber: {e}"));
            if chunk == confirmation.as_bytes() {
                break;
            }
            early.push(chunk);
        }
        assert!(
            early.is_empty(),
            "attempt {attempt}: the first chunk of a new subscription must be its confirmation \
             {confirmation}; got {} messages published before it subscribed first, from {:?} to {:?}, \
             and only then the confirmation",
            early.len(),
            show(&early[0]),
            show(&early[early.len() - 1])
        );
        drop(second);
        gateway.wait_metric("redis_gateway_pubsub_subscriptions", 0.0);
        wait_numsub(&redis, "race", 0);
    }
}

#[test]
fn a_subscriber_that_does_not_read_is_cut_without_slowing_the_others() {
    const ROUND: usize = 1_000;
    const MAX_ROUNDS: usize = 20;
    let _heavy = heavy();
    let (redis, gateway) =
        Gateway::with_redis(&[WEBDIS, &["--max-stream-buffer", "65536"]].concat());
    let addr = gateway.addr();

    let mut stalled = Subscriber::open(addr, "/SUBSCRIBE/firehose");
    stalled.expect_chunk(&subscribed_chunk("firehose", 1));
    let mut reader = Subscriber::open(addr, "/SUBSCRIBE/firehose");
    reader.expect_chunk(&subscribed_chunk("firehose", 1));
    /// Message `n`: its number on 6 digits, then filler up to 1 KiB.
    fn payload(n: usize) -> String {
        format!("{n:06}{}", "x".repeat(1024 - 6))
    }

    // The reader checks every message, in order, until `end`.
    let reading = thread::spawn(move || -> Result<usize, String> {
        let mut n = 0;
        loop {
            let chunk = reader
                .next_chunk()
                .map_err(|e| format!("message {n}: {e}"))?;
            if chunk == message_chunk("firehose", "end").as_bytes() {
                return Ok(n);
            }
            let want = message_chunk("firehose", &payload(n));
            if chunk != want.as_bytes() {
                return Err(format!(
                    "message {n}: want {:?}, got {:?}",
                    show(want.as_bytes()),
                    show(&chunk)
                ));
            }
            n += 1;
        }
    });

    // 1 KiB messages until the stalled stream overflows its 64 KiB (the kernel's buffers take some
    // first; how much depends on the machine).
    let mut publisher = Publisher::connect(&redis);
    let mut published = 0;
    for _ in 0..MAX_ROUNDS {
        for _ in 0..ROUND {
            publisher.publish("firehose", payload(published).as_bytes());
            published += 1;
        }
        if published >= 2 * ROUND && gateway.metric("redis_gateway_stream_overflows_total") >= 1.0 {
            break;
        }
    }
    assert_eq!(
        publisher.publish("firehose", b"end"),
        1,
        "Redis still has the gateway subscribed"
    );
    let overflows = gateway.metric("redis_gateway_stream_overflows_total");
    assert!(
        overflows >= 1.0,
        "{published} KiB published and the stream that does not read was never cut \
         (redis_gateway_stream_overflows_total {overflows})"
    );
    let received = reading
        .join()
        .expect("reader thread panicked")
        .unwrap_or_else(|e| panic!("the reading subscriber: {e}"));
    assert_eq!(
        received, published,
        "the reading subscriber got every message"
    );
    println!(
        "slow subscriber: cut after falling behind; the reader got all {published} 1 KiB messages"
    );

    // The stalled stream holds an in-order prefix of the messages, then the gateway's close.
    let mut n = 0;
    let ending = loop {
        match stalled.next_chunk() {
            Ok(chunk) => {
                let want = message_chunk("firehose", &payload(n));
                assert!(
                    chunk == want.as_bytes(),
                    "the stalled subscriber's message {n}: got {:?}",
                    show(&chunk)
                );
                n += 1;
            }
            Err(e) => break e,
        }
    };
    assert!(
        n < published,
        "the stalled subscriber was cut, yet it got all {published} messages"
    );
    assert!(
        ending.starts_with("connection closed")
            || ending.starts_with("read failed: Connection reset"),
        "after {n} messages the stalled subscriber's stream must end with the connection: {ending}"
    );
    gateway.wait_metric("redis_gateway_pubsub_subscriptions", 0.0);
}

#[test]
fn streams_survive_a_redis_restart() {
    const SUBSCRIBERS: usize = 100;
    let (mut redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let mut subscribers = open_many(
        addr,
        "/SUBSCRIBE/phoenix",
        SUBSCRIBERS,
        &subscribed_chunk("phoenix", 1),
    );
    assert_eq!(Publisher::connect(&redis).publish("phoenix", b"before"), 1);
    for subscriber in &mut subscribers {
        subscriber.expect_chunk(&message_chunk("phoenix", "before"));
    }

    redis.restart();

    let lost = r#"{"SUBSCRIBE":["lost","phoenix","the connection to redis was lost"#;
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        let chunk = subscriber
            .next_chunk()
            .unwrap_or_else(|e| panic!("subscriber {i} waiting for the lost event: {e}"));
        assert!(
            chunk.starts_with(lost.as_bytes()) && chunk.ends_with(b"\"]}"),
            "subscriber {i}: want {lost}…\"]}}, got {:?}",
            show(&chunk)
        );
        subscriber.expect_chunk(&subscribed_chunk("phoenix", 1));
    }
    assert_eq!(numsub(&redis, "phoenix"), 1, "subscribed again, once");
    assert_eq!(gateway.metric("redis_gateway_pubsub_subscriptions"), 100.0);

    let mut publisher = Publisher::connect(&redis);
    for n in 0..10 {
        assert_eq!(
            publisher.publish("phoenix", format!("after-{n}").as_bytes()),
            1
        );
    }
    for (i, subscriber) in subscribers.iter_mut().enumerate() {
        for n in 0..10 {
            match subscriber.next_chunk() {
                Ok(chunk) => assert!(
                    chunk == message_chunk("phoenix", &format!("after-{n}")).as_bytes(),
                    "subscriber {i}, message after-{n}: got {:?}",
                    show(&chunk)
                ),
                Err(e) => panic!("subscriber {i}, message after-{n}: {e}"),
            }
        }
    }
}

#[test]
fn psubscribe_and_jsonp_and_raw_formats() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();

    /// Reads exactly `want.len()` bytes off the stream (after its head) and compares them.
    #[track_caller]
    fn expect_wire(subscriber: &mut Subscriber, want: &[u8]) {
        let mut got = vec![0u8; want.len()];
        if let Err(e) = subscriber.stream.read_exact(&mut got) {
            panic!("reading {:?}: {e}", String::from_utf8_lossy(want));
        }
        assert!(
            got == want,
            "wire bytes: want {:?}, got {:?}",
            String::from_utf8_lossy(want),
            String::from_utf8_lossy(&got)
        );
    }

    let mut pattern = Subscriber::open(addr, "/PSUBSCRIBE/h*");
    let mut jsonp = Subscriber::accept(
        Subscriber::request(addr, "/SUBSCRIBE/hello?jsonp=f"),
        "application/javascript",
    );
    let mut raw = Subscriber::accept(
        Subscriber::request(addr, "/SUBSCRIBE/hello.raw"),
        "binary/octet-stream",
    );
    expect_wire(
        &mut pattern,
        b"24\r\n{\"PSUBSCRIBE\":[\"psubscribe\",\"h*\",1]}\r\n",
    );
    // Opened once the pub/sub connection is up (see `several_channels_are_confirmed_in_order`).
    let mut two = Subscriber::open(addr, "/SUBSCRIBE/a/b");
    expect_wire(
        &mut jsonp,
        b"2a\r\nf({\"SUBSCRIBE\":[\"subscribe\",\"hello\",1]});\n\r\n",
    );
    expect_wire(
        &mut raw,
        b"22\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nhello\r\n:1\r\n\r\n",
    );
    expect_wire(
        &mut two,
        b"21\r\n{\"SUBSCRIBE\":[\"subscribe\",\"a\",1]}\r\n",
    );
    expect_wire(
        &mut two,
        b"21\r\n{\"SUBSCRIBE\":[\"subscribe\",\"b\",2]}\r\n",
    );
    assert!(
        pattern.head.header("date").is_some() && pattern.head.header("server").is_some(),
        "{:?}",
        pattern.head
    );

    let mut publisher = Publisher::connect(&redis);
    // hello: the pattern (one connection counts once per subscription kind) and the channel.
    assert_eq!(publisher.publish("hello", b"payload"), 2);
    assert_eq!(publisher.publish("b", b"to b"), 1);
    expect_wire(
        &mut pattern,
        b"32\r\n{\"PSUBSCRIBE\":[\"pmessage\",\"h*\",\"hello\",\"payload\"]}\r\n",
    );
    expect_wire(
        &mut jsonp,
        b"30\r\nf({\"SUBSCRIBE\":[\"message\",\"hello\",\"payload\"]});\n\r\n",
    );
    expect_wire(
        &mut raw,
        b"29\r\n*3\r\n$7\r\nmessage\r\n$5\r\nhello\r\n$7\r\npayload\r\n\r\n",
    );
    expect_wire(
        &mut two,
        b"24\r\n{\"SUBSCRIBE\":[\"message\",\"b\",\"to b\"]}\r\n",
    );

    // Through the gateway too, and a payload that JSON must escape.
    let published = request(addr, "GET", "/PUBLISH/hx/%22q%22%5C", &[], b"");
    assert_eq!(published.text(), r#"{"PUBLISH":1}"#, "{published:?}");
    expect_wire(
        &mut pattern,
        b"2f\r\n{\"PSUBSCRIBE\":[\"pmessage\",\"h*\",\"hx\",\"\\\"q\\\"\\\\\"]}\r\n",
    );
    assert_eq!(numsub(&redis, "hello"), 1);
}

#[test]
fn subscriptions_that_cannot_stream_are_refused() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let bare = request(addr, "GET", "/SUBSCRIBE", &[], b"");
    expect_status(&bare, 400);
    let mut old = connect(addr);
    send(&mut old, b"GET /SUBSCRIBE/ch HTTP/1.0\r\n\r\n");
    let old = read_response(&mut old).expect("an answer to HTTP/1.0");
    expect_status(&old, 400);
    assert!(old.text().contains("HTTP/1.1"), "{old:?}");
    assert_eq!(numsub(&redis, "ch"), 0);
    assert_eq!(gateway.metric("redis_gateway_pubsub_subscriptions"), 0.0);
}

#[test]
fn a_head_request_for_a_subscription_gets_no_body() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let mut stream = connect(gateway.addr());
    // The answer to a subscription is a body that never ends, so HEAD has no head to give: 405
    // naming GET, and (as for every 405) the connection closes. No stream body may follow.
    let mut bytes = format_request("HEAD", "/SUBSCRIBE/headless", &[], b"");
    bytes.extend(format_request("GET", "/PING", &[], b""));
    send(&mut stream, &bytes);
    let head = read_head_response(&mut stream).expect("an answer to HEAD");
    expect_status(&head, 405);
    assert_eq!(head.header("Allow"), Some("GET"), "{head:?}");
    assert_eq!(numsub(&redis, "headless"), 0, "HEAD must not subscribe");
    assert!(is_closed(&mut stream), "closed after the 405, with no body");
}

#[test]
fn several_channels_are_confirmed_in_order() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let channels: Vec<String> = (0..10).map(|i| format!("c{i}")).collect();
    // The first subscription of a fresh gateway: it arrives while the pub/sub connection is still
    // being opened. Redis confirms `SUBSCRIBE c0 … c9` in the order asked, counting 1 to 10.
    let mut many = Subscriber::open(
        gateway.addr(),
        &format!("/SUBSCRIBE/{}", channels.join("/")),
    );
    let mut got = Vec::new();
    for _ in &channels {
        let chunk = many
            .next_chunk()
            .unwrap_or_else(|e| panic!("confirmations so far {got:?}: {e}"));
        got.push(String::from_utf8_lossy(&chunk).into_owned());
    }
    let want: Vec<String> = channels
        .iter()
        .enumerate()
        .map(|(i, c)| subscribed_chunk(c, i + 1))
        .collect();
    assert_eq!(got, want, "confirmations of /SUBSCRIBE/c0/…/c9");
    assert_eq!(Publisher::connect(&redis).publish("c9", b"last"), 1);
    many.expect_chunk(&message_chunk("c9", "last"));
}

#[test]
fn last_subscriber_leaving_unsubscribes_in_redis() {
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    let mut first = Subscriber::open(addr, "/SUBSCRIBE/pair");
    first.expect_chunk(&subscribed_chunk("pair", 1));
    let mut second = Subscriber::open(addr, "/SUBSCRIBE/pair");
    second.expect_chunk(&subscribed_chunk("pair", 1));
    assert_eq!(numsub(&redis, "pair"), 1);
    assert_eq!(gateway.metric("redis_gateway_pubsub_subscriptions"), 2.0);
    assert_eq!(gateway.metric("redis_gateway_pubsub_topics"), 1.0);

    drop(first);
    gateway.wait_metric("redis_gateway_pubsub_subscriptions", 1.0);
    assert_eq!(
        numsub(&redis, "pair"),
        1,
        "one subscriber is left: still subscribed"
    );
    assert_eq!(Publisher::connect(&redis).publish("pair", b"still"), 1);
    second.expect_chunk(&message_chunk("pair", "still"));

    drop(second);
    wait_numsub(&redis, "pair", 0);
    gateway.wait_metric("redis_gateway_pubsub_subscriptions", 0.0);
    assert_eq!(gateway.metric("redis_gateway_pubsub_topics"), 0.0);
    assert_eq!(
        Publisher::connect(&redis).publish("pair", b"nobody"),
        0,
        "nobody listens any more"
    );
}

/// `VmHWM` (the peak resident size) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status")
}

#[test]
fn answers_pipelined_before_a_subscription_are_not_lost() {
    let (_redis, gateway) = Gateway::with_redis(WEBDIS);
    let mut stream = connect(gateway.addr());
    let mut bytes = format_request("GET", "/SET/k1/v1", &[], b"");
    bytes.extend(format_request("GET", "/GET/k1", &[], b""));
    bytes.extend(format_request("GET", "/SUBSCRIBE/after", &[], b""));
    send(&mut stream, &bytes);
    let set = read_response(&mut stream).expect("the SET answer");
    assert_eq!(set.body, br#"{"SET":[true,"OK"]}"#, "{set:?}");
    let get = read_response(&mut stream).expect("the GET answer");
    assert_eq!(get.body, br#"{"GET":"v1"}"#, "{get:?}");
    let head = read_head_response(&mut stream).expect("the subscription's head");
    expect_status(&head, 200);
    assert_eq!(
        head.header("Transfer-Encoding"),
        Some("chunked"),
        "{head:?}"
    );
}

#[test]
fn names_longer_than_the_limit_are_refused() {
    let (_redis, gateway) = Gateway::with_redis(WEBDIS);
    let long = "c".repeat(1025);
    let response = request(
        gateway.addr(),
        "GET",
        &format!("/SUBSCRIBE/{long}"),
        &[],
        b"",
    );
    expect_status(&response, 400);
    assert!(response.text().contains("1024"), "{response:?}");
    let ok = "c".repeat(1024);
    let mut sub = Subscriber::open(gateway.addr(), &format!("/SUBSCRIBE/{ok}"));
    sub.expect_chunk(&subscribed_chunk(&ok, 1));
}

#[test]
fn a_huge_message_to_many_subscribers_keeps_memory_bounded() {
    let _heavy = heavy();
    let (redis, gateway) = Gateway::with_redis(WEBDIS);
    let addr = gateway.addr();
    // 100 subscribers that leave as soon as the message is out: each had a copy of it rendered
    // (a 5 MB payload of control bytes is 30 MB of escaped JSON); peak RSS reached 1.5 GB.
    let subscribers = open_many(addr, "/SUBSCRIBE/big", 100, &subscribed_chunk("big", 1));
    let payload = vec![1u8; 5_000_000];
    Publisher::connect(&redis).publish("big", &payload);
    drop(subscribers);
    gateway.wait_ready();
    gateway.wait_metric("redis_gateway_pubsub_subscriptions", 0.0);
    let peak = peak_rss_kib(gateway.pid());
    println!(
        "peak RSS after a 5 MB message to 100 subscribers: {} MiB",
        peak / 1024
    );
    assert!(
        peak < 200 * 1024,
        "peak RSS {} MiB: a message must be rendered once, and no stream may hold more than \
         --max-stream-buffer",
        peak / 1024
    );
}

#[test]
fn a_stalled_redis_never_holds_the_poll_loop() {
    let _heavy = heavy();
    // A long Redis timeout: if anything on the poll loop waited for Redis, it would wait this long.
    let (redis, gateway) = Gateway::with_redis(&[WEBDIS, &["--redis-timeout", "30s"]].concat());
    let addr = gateway.addr();
    let mut first = Subscriber::open(addr, "/SUBSCRIBE/stall-0");
    first.expect_chunk(&subscribed_chunk("stall-0", 1));
    redis.stop_signal("STOP");
    // New subscriptions queue SUBSCRIBE commands that Redis does not read…
    let name = "n".repeat(1000);
    let mut others: Vec<TcpStream> = (0..40)
        .map(|i| Subscriber::request(addr, &format!("/SUBSCRIBE/{name}{i}")))
        .collect();
    for other in &mut others {
        // The head comes at once; the confirmation only when Redis answers.
        let head = read_head_response(other).expect("a subscription's head");
        expect_status(&head, 200);
    }
    // …and a subscriber that leaves queues an UNSUBSCRIBE.
    drop(first);
    let started = Instant::now();
    let response = try_request(addr, "OPTIONS", "/", &[], b"");
    let took = started.elapsed();
    redis.stop_signal("CONT");
    let response = response.expect("OPTIONS / while Redis is stopped");
    expect_status(&response, 200);
    assert!(
        took < Duration::from_secs(10),
        "OPTIONS / (no Redis needed) waited {took:?} while Redis was stopped"
    );
    others.clear();
}
