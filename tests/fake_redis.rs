//! A scripted fake Redis for what a real one never does: malformed, huge, endless, trickled, cut and
//! unsolicited replies. The fake answers the handshake (`CLIENT SETNAME` → `+OK`, `PING` → `+PONG`)
//! and misbehaves on `GET` of chosen keys. `SET` stores; every other `GET KEY` is answered with the
//! stored value, or else with `KEY` itself, so a reply delivered to the wrong request shows as a wrong
//! body.
//!
//! The fake is the one of `tests/support`, which records which connection got which command and whether
//! the gateway closed it. `tests/redis_faults.rs` checks the statuses of a few of these replies; this file
//! adds the other replies, the time bounds, the memory bound, and that the poisoned connection is closed
//! and never reused.

mod support;

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use support::*;

/// `--redis-timeout` given to the gateway.
const REPLY_TIMEOUT: Duration = Duration::from_secs(1);
/// How much later than the reply timeout a 504 may come: a liveness bound (the gateway must not
/// wait for Redis forever), generous for a loaded machine; earlier than the timeout is refused.
const SLACK: Duration = Duration::from_secs(3);
/// How long a 502 may take (no waiting is involved).
const FAST: Duration = Duration::from_millis(1_500);
/// RSS the gateway may gain over the test (KiB).
const RSS_SLACK_KIB: u64 = 16 * 1024;

/// Starts the fake: the handshake, the misbehaviour of [`script`] for `GET` of its keys, `SET` stored,
/// and [`default_get`] for every other `GET`.
fn start_fake() -> FakeRedis {
    // What `SET` stored, shared by all connections.
    let store: Mutex<HashMap<String, String>> = Mutex::default();
    FakeRedis::start(move |args| {
        let args: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let name = args
            .first()
            .map(|a| a.to_ascii_uppercase())
            .unwrap_or_default();
        let mut store = store.lock().unwrap_or_else(PoisonError::into_inner);
        match (name.as_str(), args.get(1)) {
            ("PING", _) => Act::reply(b"+PONG\r\n"),
            ("GET", Some(key)) => {
                script(key).unwrap_or_else(|| Act::Reply(default_get(key, store.get(key).cloned())))
            }
            ("SET", Some(key)) => {
                let value = args.get(2).cloned().unwrap_or_default();
                store.insert(key.clone(), value);
                Act::reply(b"+OK\r\n")
            }
            _ => Act::reply(b"+OK\r\n"),
        }
    })
}

/// The connection that received `GET key` last.
fn conn_of(fake: &FakeRedis, key: &str) -> Option<usize> {
    fake.conn_of(&format!("GET {key}"))
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

/// The fake, and a ready gateway in front of it with a pool of `pool` connections, all opened.
fn fake_and_gateway(pool: &str) -> (FakeRedis, Gateway) {
    let fake = start_fake();
    let gateway = Gateway::start_port(fake.port(), &["--pool-size", pool, "--redis-timeout", "1s"]);
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
fn expect_normal(fake: &FakeRedis, gateway: &Gateway, key: &str, poisoned: Option<usize>) {
    let (response, took) = get(gateway, key);
    assert_eq!(
        (response.status, response.text()),
        (200, key.to_string()),
        "normal GET /{key} (took {took:?}):\n{response:?}"
    );
    let conn = conn_of(fake, key);
    assert!(
        poisoned.is_none() || conn != poisoned,
        "GET /{key} went over connection {conn:?}, the poisoned one"
    );
}

/// Waits for the gateway to close connection `id`, and checks it carried nothing after `GET key`.
#[track_caller]
fn expect_discarded(fake: &FakeRedis, id: usize, key: &str) {
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
    let (fake, mut gateway) = fake_and_gateway("2");
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
        let id = conn_of(&fake, key).expect("the fake saw the GET");
        expect_discarded(&fake, id, key);
        expect_normal(&fake, &gateway, &format!("after-{n}"), Some(id));
    }
    // One replacement per poisoned connection, not a reconnect storm. Once the pool is full again the
    // count is final: the maintainer opens a connection only for a vacancy.
    poll_until(START_TIMEOUT, || {
        fake.accepted() - accepted_before >= cases.len()
    });
    let size = gateway.metric("redis_gateway_pool_size");
    gateway.wait_metric("redis_gateway_pool_open", size);
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
    let (fake, mut gateway) = fake_and_gateway("2");
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
    let (fake, mut gateway) = fake_and_gateway("2");
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
        let id = conn_of(&fake, key).expect("the fake saw the GET");
        expect_discarded(&fake, id, key);
        expect_normal(&fake, &gateway, &format!("after-{key}"), Some(id));
    }
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn eof_in_mid_reply_gives_502_and_a_fresh_connection() {
    let (fake, mut gateway) = fake_and_gateway("2");
    let baseline = gateway.usage();
    let accepted = fake.accepted();
    let (response, took) = get(&gateway, "eof-mid-reply");
    assert_eq!(
        response.status, 502,
        "GET /eof-mid-reply (took {took:?}):\n{response:?}"
    );
    assert!(took <= FAST, "502 took {took:?}");
    let id = conn_of(&fake, "eof-mid-reply").expect("the fake saw the GET");
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
    let (fake, mut gateway) = fake_and_gateway("2");
    let baseline = gateway.usage();
    let (response, took) = get(&gateway, "extra-same-write");
    assert!(
        (response.status, response.body.as_slice()) == (200, &b"abc"[..]) || response.status == 502,
        "GET /extra-same-write (took {took:?}), want 200 abc or 502:\n{response:?}"
    );
    let id = conn_of(&fake, "extra-same-write").expect("the fake saw the GET");
    for i in 0..6 {
        expect_normal(&fake, &gateway, &format!("after-same-{i}"), Some(id));
    }
    expect_discarded(&fake, id, "extra-same-write");
    gateway.expect_survived(baseline, 4, RSS_SLACK_KIB);
}

#[test]
fn an_unsolicited_reply_arriving_after_a_valid_one_never_answers_the_next_request() {
    // One pooled connection, so that the next request surely goes over the one holding the stray reply.
    let (fake, mut gateway) = fake_and_gateway("1");
    let baseline = gateway.usage();
    let (response, took) = get(&gateway, "extra-later");
    assert_eq!(
        (response.status, response.text().as_str()),
        (200, "abc"),
        "GET /extra-later (took {took:?}):\n{response:?}"
    );
    let id = conn_of(&fake, "extra-later").expect("the fake saw the GET");
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
            conn_of(&fake, &key)
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
