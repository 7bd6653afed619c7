//! A scripted fake Redis for what a real one never does: malformed, huge, endless, trickled, cut and
//! unsolicited replies. The fake answers the handshake (`CLIENT SETNAME` → `+OK`, `PING` → `+PONG`)
//! and misbehaves on `GET` of chosen keys. `SET` stores; every other `GET KEY` is answered with the
//! stored value, or else with `KEY` itself, so a reply delivered to the wrong request shows as a wrong
//! body.
//!
//! The fake in `tests/support` writes one reply per command in one write and never closes; the cases
//! here need more (byte-at-a-time writes, a trickle, a close mid-reply, bytes after a reply, and a
//! record of which connection got which command and whether the gateway closed it), so this file has
//! its own. `tests/redis_faults.rs` checks the statuses of a few of these replies; this file adds the
//! other replies, the time bounds, the memory bound, and that the poisoned connection is closed and
//! never reused.

mod support;

use std::collections::HashMap;
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};
use support::redis::read_reply;
use support::*;

/// `--redis-timeout` given to the gateway.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// How much later than the reply timeout a 504 may come.
const SLACK: Duration = Duration::from_millis(500);
/// How long a 502 may take (no waiting is involved).
const FAST: Duration = Duration::from_millis(1_500);
/// RSS the gateway may gain over the test (KiB).
const RSS_SLACK_KIB: u64 = 16 * 1024;
/// Interval of the trickle.
const TRICKLE_EVERY: Duration = Duration::from_millis(100);

/// What the fake does for one `GET`.
#[derive(Debug, Clone)]
enum Act {
    /// Writes these bytes in one write.
    Reply(Vec<u8>),
    /// Writes these bytes one byte per write, a moment apart.
    Bytewise(Vec<u8>),
    /// Writes these bytes and then nothing more, ever (but keeps reading).
    Partial(Vec<u8>),
    /// Writes these bytes, then one more byte every [`TRICKLE_EVERY`] until the gateway hangs up.
    Trickle(Vec<u8>),
    /// Writes these bytes and closes the connection.
    CloseAfter(Vec<u8>),
    /// Writes the first bytes, and the second ones 50 ms later, unasked.
    ThenLater(Vec<u8>, Vec<u8>),
}

/// What one accepted connection saw.
#[derive(Debug, Default, Clone)]
struct ConnLog {
    /// Every command, in order, as text.
    commands: Vec<String>,
    /// The gateway closed (or reset) the connection.
    closed_by_gateway: bool,
    /// The fake finished writing what `Act::ThenLater` sends late. From then on it answers every
    /// command 200 ms late, so that a gateway reading its socket finds the stray reply alone first.
    late_bytes_sent: bool,
}

type Script = dyn Fn(&str) -> Option<Act> + Send + Sync;

/// What `SET` stored, shared by all connections.
type Store = Mutex<HashMap<String, String>>;

struct Fake {
    port: u16,
    conns: Arc<Mutex<Vec<ConnLog>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    /// Starts the fake; `script` says what to do for `GET KEY` (`None`: the default answer).
    fn start(script: Arc<Script>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let port = listener.local_addr().expect("fake addr").port();
        let conns: Arc<Mutex<Vec<ConnLog>>> = Arc::default();
        let store: Arc<Store> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (conns2, stop2) = (Arc::clone(&conns), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let id = {
                            let mut conns = conns2.lock().unwrap();
                            conns.push(ConnLog::default());
                            conns.len() - 1
                        };
                        let (conns, stop, script, store) = (
                            Arc::clone(&conns2),
                            Arc::clone(&stop2),
                            Arc::clone(&script),
                            Arc::clone(&store),
                        );
                        thread::spawn(move || serve(stream, id, &conns, &stop, &*script, &store));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Fake {
            port,
            conns,
            stop,
            thread: Some(thread),
        }
    }

    fn log(&self) -> Vec<ConnLog> {
        self.conns.lock().unwrap().clone()
    }

    /// Connections accepted so far.
    fn accepted(&self) -> usize {
        self.conns.lock().unwrap().len()
    }

    /// The connection that received `GET key` last.
    fn conn_of(&self, key: &str) -> Option<usize> {
        let wanted = format!("GET {key}");
        self.log()
            .iter()
            .rposition(|c| c.commands.contains(&wanted))
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if thread::panicking() {
            for (id, conn) in self.log().iter().enumerate() {
                eprintln!("fake redis connection {id}: {conn:?}");
            }
        }
    }
}

fn serve(
    stream: TcpStream,
    id: usize,
    conns: &Mutex<Vec<ConnLog>>,
    stop: &AtomicBool,
    script: &Script,
    store: &Store,
) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let update = |f: &dyn Fn(&mut ConnLog)| f(&mut conns.lock().unwrap()[id]);
    let gone = || update(&|c| c.closed_by_gateway = true);
    while !stop.load(Ordering::Relaxed) {
        let args: Vec<String> = match read_reply(&mut reader) {
            Ok(RespReply::Array(items)) => items
                .iter()
                .map(|item| match item {
                    RespReply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect(),
            Ok(_) => return gone(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return gone(),
        };
        let command = args.join(" ");
        update(&|c| c.commands.push(command.clone()));
        if conns.lock().unwrap()[id].late_bytes_sent {
            thread::sleep(Duration::from_millis(200));
        }
        let name = args
            .first()
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default();
        let act = match (name.as_str(), args.get(1)) {
            ("PING", _) => Act::Reply(b"+PONG\r\n".to_vec()),
            ("GET", Some(key)) => script(key).unwrap_or_else(|| {
                let stored = store.lock().unwrap().get(key).cloned();
                Act::Reply(default_get(key, stored))
            }),
            ("SET", Some(key)) => {
                let value = args.get(2).cloned().unwrap_or_default();
                store.lock().unwrap().insert(key.clone(), value);
                Act::Reply(b"+OK\r\n".to_vec())
            }
            _ => Act::Reply(b"+OK\r\n".to_vec()),
        };
        let written = match act {
            Act::Reply(bytes) | Act::Partial(bytes) => out.write_all(&bytes),
            Act::Bytewise(bytes) => bytes.iter().try_for_each(|b| {
                thread::sleep(Duration::from_millis(2));
                out.write_all(&[*b])
            }),
            Act::Trickle(head) => {
                let mut result = out.write_all(&head);
                let deadline = Instant::now() + Duration::from_secs(30);
                while result.is_ok() && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    thread::sleep(TRICKLE_EVERY);
                    result = out.write_all(b"x");
                }
                result
            }
            Act::CloseAfter(bytes) => {
                let _ = out.write_all(&bytes);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Act::ThenLater(first, later) => out.write_all(&first).and_then(|()| {
                thread::sleep(Duration::from_millis(50));
                out.write_all(&later)?;
                update(&|c| c.late_bytes_sent = true);
                Ok(())
            }),
        };
        if written.is_err() {
            return gone();
        }
    }
}

/// `$-1` for the readiness probe, else what `SET` stored, else the key itself as the value.
fn default_get(key: &str, stored: Option<String>) -> Vec<u8> {
    if key == "__probe__" {
        return b"$-1\r\n".to_vec();
    }
    let value = stored.unwrap_or_else(|| key.to_string());
    format!("${}\r\n{value}\r\n", value.len()).into_bytes()
}

/// The misbehaving replies, by key.
fn script(key: &str) -> Option<Act> {
    let act = match key {
        "unknown-type" => Act::Reply(b"?x\r\n".to_vec()),
        "negative-length" => Act::Reply(b"$-5\r\n".to_vec()),
        "huge-bulk" => Act::Reply(b"$99999999999999\r\n".to_vec()),
        "huge-array" => Act::Reply(b"*2147483648\r\n".to_vec()),
        "deep-nesting" => Act::Reply(b"*1\r\n".repeat(100_000)),
        "byte-at-a-time" => Act::Bytewise(b"$14\r\nbyte-at-a-time\r\n".to_vec()),
        "never-ends" => Act::Partial(b"$10\r\nabc".to_vec()),
        "trickle" => Act::Trickle(b"$1000000\r\n".to_vec()),
        "eof-mid-reply" => Act::CloseAfter(b"$10\r\nabc".to_vec()),
        "extra-same-write" => Act::Reply(b"$3\r\nabc\r\n$4\r\nevil\r\n".to_vec()),
        "extra-later" => Act::ThenLater(b"$3\r\nabc\r\n".to_vec(), b"$4\r\nevil\r\n".to_vec()),
        _ => return None,
    };
    Some(act)
}

fn setup() -> (Fake, Gateway) {
    setup_with_pool("2")
}

fn setup_with_pool(pool: &str) -> (Fake, Gateway) {
    let fake = Fake::start(Arc::new(script));
    let gateway = Gateway::start_port(fake.port, &["--pool-size", pool, "--redis-timeout", "1s"]);
    gateway.wait_ready();
    let size: usize = pool.parse().expect("pool size");
    assert!(
        poll_until(START_TIMEOUT, || fake.accepted() >= size),
        "the gateway never opened {size} connections to the fake"
    );
    (fake, gateway)
}

/// GET /KEY on a fresh connection, timed; panics when no answer comes.
fn get(gateway: &Gateway, key: &str) -> (Response, Duration) {
    let started = Instant::now();
    let response = try_request(gateway.addr(), "GET", &format!("/{key}"), &[], b"")
        .unwrap_or_else(|e| panic!("GET /{key}: no answer after {:?}: {e}", started.elapsed()));
    (response, started.elapsed())
}

/// A normal GET that must be answered with its own key, on a connection other than `poisoned`.
#[track_caller]
fn expect_normal(fake: &Fake, gateway: &Gateway, key: &str, poisoned: Option<usize>) {
    let (response, took) = get(gateway, key);
    assert_eq!(
        (response.status, response.text()),
        (200, key.to_string()),
        "normal GET /{key} (took {took:?}):\n{response:?}"
    );
    let conn = fake.conn_of(key);
    assert!(
        poisoned.is_none() || conn != poisoned,
        "GET /{key} went over connection {conn:?}, the poisoned one"
    );
}

/// Waits for the gateway to close connection `id`, and checks it carried nothing after `GET key`.
#[track_caller]
fn expect_discarded(fake: &Fake, id: usize, key: &str) {
    let closed = poll_until(Duration::from_secs(3), || fake.log()[id].closed_by_gateway);
    let conn = fake.log()[id].clone();
    assert!(
        closed,
        "the gateway kept connection {id} open after GET /{key}: {conn:?}"
    );
    assert_eq!(
        conn.commands.last().map(String::as_str),
        Some(format!("GET {key}").as_str()),
        "connection {id} was used again after GET /{key}: {conn:?}"
    );
}

#[test]
fn malformed_and_huge_replies_give_502_poison_the_connection_and_keep_memory_bounded() {
    let (fake, mut gateway) = setup();
    expect_normal(&fake, &gateway, "warm-up", None);
    let baseline = gateway.usage();
    let accepted_before = fake.accepted();
    let cases = [
        "unknown-type",
        "negative-length",
        "huge-bulk",
        "huge-array",
        "deep-nesting",
    ];
    for (n, key) in cases.iter().enumerate() {
        let (response, took) = get(&gateway, key);
        assert_eq!(
            response.status, 502,
            "GET /{key} (took {took:?}):\n{response:?}"
        );
        expect_common_headers(&response);
        assert!(took <= FAST, "502 for GET /{key} took {took:?}");
        let rss = gateway.usage().rss_kib;
        assert!(
            rss <= baseline.rss_kib + RSS_SLACK_KIB,
            "RSS {rss} KiB after GET /{key}, baseline {} KiB",
            baseline.rss_kib
        );
        let id = fake.conn_of(key).expect("the fake saw the GET");
        expect_discarded(&fake, id, key);
        expect_normal(&fake, &gateway, &format!("after-{n}"), Some(id));
    }
    // One replacement per poisoned connection, not a reconnect storm.
    poll_until(START_TIMEOUT, || {
        fake.accepted() - accepted_before >= cases.len()
    });
    poll_until(support::gateway::QUIET_PERIOD, || false);
    let opened = fake.accepted() - accepted_before;
    assert!(
        opened == cases.len(),
        "{opened} connections opened for {} poisoned ones",
        cases.len()
    );
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn a_reply_in_one_byte_writes_is_served_whole() {
    let (fake, mut gateway) = setup();
    let baseline = gateway.usage();
    for round in 0..3 {
        let (response, took) = get(&gateway, "byte-at-a-time");
        assert_eq!(
            (response.status, response.text().as_str()),
            (200, "byte-at-a-time"),
            "round {round} (took {took:?}):\n{response:?}"
        );
        expect_normal(&fake, &gateway, &format!("after-bytes-{round}"), None);
    }
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn endless_and_trickled_replies_give_504_at_the_reply_timeout_and_are_discarded() {
    let (fake, mut gateway) = setup();
    let baseline = gateway.usage();
    for key in ["never-ends", "trickle"] {
        let (response, took) = get(&gateway, key);
        assert_eq!(
            response.status, 504,
            "GET /{key} (took {took:?}):\n{response:?}"
        );
        expect_common_headers(&response);
        assert!(
            took >= REPLY_TIMEOUT - Duration::from_millis(100) && took <= REPLY_TIMEOUT + SLACK,
            "504 for GET /{key} after {took:?}, want about {REPLY_TIMEOUT:?}"
        );
        let id = fake.conn_of(key).expect("the fake saw the GET");
        expect_discarded(&fake, id, key);
        expect_normal(&fake, &gateway, &format!("after-{key}"), Some(id));
    }
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn eof_in_mid_reply_gives_502_and_a_fresh_connection() {
    let (fake, mut gateway) = setup();
    let baseline = gateway.usage();
    let accepted = fake.accepted();
    let (response, took) = get(&gateway, "eof-mid-reply");
    assert_eq!(
        response.status, 502,
        "GET /eof-mid-reply (took {took:?}):\n{response:?}"
    );
    assert!(took <= FAST, "502 took {took:?}");
    let id = fake.conn_of("eof-mid-reply").expect("the fake saw the GET");
    assert!(
        poll_until(START_TIMEOUT, || fake.accepted() > accepted),
        "the closed connection was not replaced"
    );
    expect_normal(&fake, &gateway, "after-eof", Some(id));
    assert_eq!(
        fake.log()[id].commands.last().map(String::as_str),
        Some("GET eof-mid-reply")
    );
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn bytes_after_a_complete_reply_in_the_same_write_never_answer_another_request() {
    let (fake, mut gateway) = setup();
    let baseline = gateway.usage();
    let (response, took) = get(&gateway, "extra-same-write");
    assert!(
        (response.status, response.body.as_slice()) == (200, &b"abc"[..]) || response.status == 502,
        "GET /extra-same-write (took {took:?}), want 200 abc or 502:\n{response:?}"
    );
    let id = fake
        .conn_of("extra-same-write")
        .expect("the fake saw the GET");
    for i in 0..6 {
        expect_normal(&fake, &gateway, &format!("after-same-{i}"), Some(id));
    }
    expect_discarded(&fake, id, "extra-same-write");
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn an_unsolicited_reply_arriving_after_a_valid_one_never_answers_the_next_request() {
    // One pooled connection, so that the next request surely goes over the one holding the stray reply.
    let (fake, mut gateway) = setup_with_pool("1");
    let baseline = gateway.usage();
    let (response, took) = get(&gateway, "extra-later");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "abc"),
        "GET /extra-later (took {took:?}):\n{response:?}"
    );
    let id = fake.conn_of("extra-later").expect("the fake saw the GET");
    assert!(
        poll_until(START_TIMEOUT, || fake.log()[id].late_bytes_sent),
        "the fake never sent its unsolicited reply"
    );
    // The next requests must each get their own value (or a 5xx), never "evil".
    let mut answers = Vec::new();
    for i in 0..6 {
        let key = format!("after-late-{i}");
        let (response, _) = get(&gateway, &key);
        answers.push(format!(
            "GET /{key} → {} {:?} over connection {:?}",
            response.status,
            response.text(),
            fake.conn_of(&key)
        ));
        if response.status == 200 && response.text() != key {
            // Keep going a little to show what follows, then fail with the whole sequence.
            for j in 0..3 {
                let key = format!("after-wrong-{j}");
                let (response, _) = get(&gateway, &key);
                answers.push(format!(
                    "GET /{key} → {} {:?}",
                    response.status,
                    response.text()
                ));
            }
            panic!(
                "a request received another command's reply:\n{}",
                answers.join("\n")
            );
        }
    }
    expect_normal(&fake, &gateway, "after-late-last", Some(id));
    expect_discarded(&fake, id, "extra-later");
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}
