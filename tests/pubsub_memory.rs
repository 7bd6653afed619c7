//! What pub/sub costs and gives back: WebSocket clients that subscribe to many long channel names
//! and leave give their memory back (every round), and a burst of publishes larger than the slow
//! subscribers can hold cuts those subscribers, not the shared connection to Redis.
//!
//! Figures (RSS per round, messages per reader) are printed: run with `-- --nocapture` to see them.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;
use support::*;

/// The tests here load the machine: one at a time.
static HEAVY: Mutex<()> = Mutex::new(());

/// A WebSocket on `/.json`, handshake done; returns the socket and the bytes read past the head.
fn websocket(addr: SocketAddr) -> (TcpStream, Vec<u8>) {
    let mut stream = connect(addr);
    send(
        &mut stream,
        b"GET /.json HTTP/1.1\r\nHost: g\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    );
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(k) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break k + 4;
        }
        let n = stream.read(&mut buf).expect("reading the handshake");
        assert!(n > 0, "closed during the handshake");
        got.extend_from_slice(buf.get(..n).unwrap_or_default());
    };
    assert!(got.starts_with(b"HTTP/1.1 101"), "handshake: {got:?}");
    let rest = got.split_off(end);
    (stream, rest)
}

/// A masked text frame (the zero mask leaves the payload as is).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x81];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n < 65536 => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&[0, 0, 0, 0]);
    frame.extend_from_slice(payload);
    frame
}

/// Reads until `count` frames have come (the server's are unmasked and not fragmented here).
fn read_frames(stream: &mut TcpStream, mut buf: Vec<u8>, count: usize) -> usize {
    let mut seen = 0;
    let mut chunk = vec![0u8; 1 << 16];
    while seen < count {
        loop {
            let (len, off) = match buf.as_slice() {
                [_, 126, a, b, ..] => (usize::from(u16::from_be_bytes([*a, *b])), 4),
                [_, 127, rest @ ..] if rest.len() >= 8 => {
                    let mut n = [0u8; 8];
                    n.copy_from_slice(rest.get(..8).unwrap_or_default());
                    (u64::from_be_bytes(n) as usize, 10)
                }
                [_, 127, ..] => break,
                [_, n, ..] => (usize::from(n & 0x7f), 2),
                _ => break,
            };
            if buf.len() < off + len {
                break;
            }
            buf.drain(..off + len);
            seen += 1;
        }
        if seen >= count {
            break;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
    seen
}

/// The pattern of issue #13 (100 clients × 1,024 channels of 1,000 bytes, 3 rounds), smaller:
/// after each round the hub holds no topic and RSS is back near where it started. Before the fix
/// (empty hub tables kept their largest capacity; glibc's per-thread caches pinned the arenas) RSS
/// stayed some 40 MB up after the first round of this size.
#[test]
fn subscriptions_that_end_give_their_memory_back() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    const CLIENTS: usize = 16;
    const CHANNELS: usize = 1024;
    const NAME_BYTES: usize = 1000;
    let (_redis, gateway) = Gateway::with_redis(&["--api", "webdis", "--websockets", "on"]);
    let addr = gateway.addr();
    let baseline = gateway.steady_usage();
    println!("baseline RSS {} KiB", baseline.rss_kib);
    for round in 1..=2 {
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                thread::spawn(move || {
                    let (mut stream, rest) = websocket(addr);
                    let mut frames = Vec::new();
                    for k in 0..CHANNELS {
                        let mut name = format!("r{round}-c{c}-{k}-");
                        name.push_str(&"x".repeat(NAME_BYTES - name.len()));
                        frames.extend(text_frame(format!(r#"["SUBSCRIBE","{name}"]"#).as_bytes()));
                    }
                    stream
                        .write_all(&frames)
                        .expect("sending the subscriptions");
                    read_frames(&mut stream, rest, CHANNELS)
                })
            })
            .collect();
        for client in clients {
            let confirmed = client.join().expect("a client panicked");
            assert_eq!(confirmed, CHANNELS, "confirmations one client got");
        }
        let held = gateway.usage();
        gateway.wait_metric("redis_gateway_pubsub_topics", 0.0);
        let mut now = gateway.usage();
        let back = poll_until(Duration::from_secs(10), || {
            now = gateway.usage();
            now.rss_kib <= baseline.rss_kib + 12 * 1024
        });
        println!(
            "round {round}: RSS {} KiB with the clients, {} KiB after they left",
            held.rss_kib, now.rss_kib
        );
        assert!(
            back,
            "round {round}: RSS stayed at {} KiB after the subscriptions ended (baseline {} KiB)",
            now.rss_kib, baseline.rss_kib
        );
    }
}

/// Counts `"message"` in a chunked stream until `want` or the stream ends; also whether the
/// stream said the connection to Redis was lost.
fn count_messages(stream: &mut TcpStream, want: usize) -> (usize, bool) {
    const MARK: &[u8] = br#""message""#;
    let mut seen = 0;
    let mut lost = false;
    let mut carry: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    while seen < want {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        carry.extend_from_slice(buf.get(..n).unwrap_or_default());
        seen += carry.windows(MARK.len()).filter(|w| *w == MARK).count();
        lost |= carry.windows(6).any(|w| w == br#""lost""#);
        // Keep less than a mark, so that none is counted twice or missed across reads.
        let keep = carry.len().min(MARK.len() - 1);
        carry.drain(..carry.len() - keep);
    }
    (seen, lost)
}

/// A burst of 6,000 publishes of 8 KiB (48 MB, more than Redis's 32 MB `client-output-buffer-limit
/// pubsub`) to 40 subscribers (8 in a debug build) that read and one that does not: the readers get every message, the
/// one that does not read is cut at `--max-stream-buffer`, and the shared connection to Redis is
/// never lost (the reader takes what Redis sends before fanning it out, so a burst waits in the
/// gateway, bounded, not in Redis's output buffer). The code before this change failed it (2 runs
/// of 2: Redis dropped the connection); the brief's 2,000 × 8 KiB to 20 readers passed there too.
#[test]
fn a_burst_cuts_the_subscriber_that_does_not_read_not_the_connection() {
    let _heavy = HEAVY.lock().unwrap_or_else(|e| e.into_inner());
    // The fan-out writes READERS × 48 MB; an unoptimised gateway (plain `cargo test`) takes
    // fewer readers in the same time. The burst itself, the part Redis must not drop, is the same.
    const READERS: usize = if cfg!(debug_assertions) { 8 } else { 40 };
    const MESSAGES: usize = 6000;
    const SIZE: usize = 8 * 1024;
    // A reader may lag 32 MiB behind before it is cut (the default is 1 MiB): on a loaded
    // machine (a suite beside compilers) a reader thread left unscheduled for a moment fell
    // 1 MiB behind and was cut, which is the gateway doing its job, not what this test is about.
    // The 48 MB burst still passes 32 MiB for the one that never reads, so it is still cut.
    let (redis, gateway) =
        Gateway::with_redis(&["--api", "webdis", "--max-stream-buffer", "33554432"]);
    let addr = gateway.addr();
    let subscribe = |stream: &mut TcpStream| {
        send(stream, b"GET /SUBSCRIBE/burst HTTP/1.1\r\nHost: g\r\n\r\n");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(br#""subscribe","burst",1]}"#) {
            let n = stream.read(&mut byte).expect("reading the confirmation");
            assert!(n > 0, "closed before the confirmation: {head:?}");
            head.push(byte[0]);
        }
    };
    let mut idle = connect(addr);
    subscribe(&mut idle);
    let readers: Vec<_> = (0..READERS)
        .map(|_| {
            let mut stream = connect(addr);
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .expect("read timeout");
            subscribe(&mut stream);
            thread::spawn(move || count_messages(&mut stream, MESSAGES))
        })
        .collect();
    gateway.wait_metric("redis_gateway_pubsub_subscriptions", (READERS + 1) as f64);

    let mut publisher = TcpStream::connect(redis.addr()).expect("connecting to redis");
    let mut replies = publisher.try_clone().expect("clone");
    let drain = thread::spawn(move || {
        let mut sink = vec![0u8; 1 << 16];
        let mut lines = 0;
        while lines < MESSAGES {
            match replies.read(&mut sink) {
                Ok(0) | Err(_) => break,
                Ok(n) => lines += sink.iter().take(n).filter(|b| **b == b'\n').count(),
            }
        }
    });
    let payload = vec![b'x'; SIZE];
    let command = support::redis::encode_command(&[b"PUBLISH", b"burst", &payload]);
    for _ in 0..MESSAGES / 100 {
        publisher
            .write_all(&command.repeat(100))
            .expect("publishing");
    }
    drain.join().expect("the reply reader panicked");

    for (k, reader) in readers.into_iter().enumerate() {
        let (seen, lost) = reader.join().expect("a reader panicked");
        assert!(!lost, "reader {k} was told the connection was lost");
        assert_eq!(seen, MESSAGES, "messages reader {k} got");
    }
    gateway.wait_counter("redis_gateway_stream_overflows_total", 1.0);
    assert!(
        !gateway.log().contains("lost"),
        "the shared connection was lost:\n{}",
        gateway.log()
    );
    println!("{READERS} readers got all {MESSAGES} messages of {SIZE} bytes; the idle one was cut");
    drop(idle);
}
