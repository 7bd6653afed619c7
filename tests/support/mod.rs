//! Test support shared by every integration test file: a `redis-server` guard, a gateway guard
//! ([`Gateway::with_redis`] starts both), a scripted fake Redis for the faults a real one cannot produce, a
//! raw HTTP client over `TcpStream`, a tiny RESP client, and the SplitMix64 PRNG.
//!
//! Rules kept here so that the tests need not repeat them:
//! * every socket has read and write timeouts, every wait is a poll with a deadline;
//! * a guard that is dropped while the test panics prints the log of the process it owns;
//! * nothing skips: without `redis-server` a test fails at once and says how to install it.
#![allow(dead_code, unused_imports)]

pub mod cluster;
pub mod fake_redis;
pub mod gateway;
pub mod http;
pub mod redis;
pub mod rng;
pub mod sentinel;

pub use cluster::RedisCluster;
pub use fake_redis::{Act, FakeRedis};
pub use gateway::{
    admin_addr, run, usage, Env, Gateway, Run, Usage, CONNECT_FAILURES, EXIT_TIMEOUT, PING_JSON,
    SHUTDOWN_HEADER,
};
pub use http::{
    connect, expect_common_headers, expect_continue, expect_status, expect_text_error,
    format_request, format_request_to, is_closed, read_head_response, read_response, request,
    request_on, send, try_read_response, try_request, wait_closed, Closed, KeepAlive, Response,
};
pub use redis::{RedisServer, RespReply};

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long any single start-up or recovery wait may take before the test fails.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The pause between two polls: short, so that waits end soon after the condition holds.
pub const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// Calls `check` every [`POLL_INTERVAL`] until it returns true (→ true) or `timeout` passes (→ false).
pub fn poll_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// A loopback port that was free a moment ago (bound, read, released). Callers retry when it is taken since.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    listener
        .local_addr()
        .expect("local_addr of a bound listener")
        .port()
}

/// A loopback port nothing listens on, for "Redis is down" tests: below the kernel's ephemeral
/// range, so that neither a server another test starts on a [`free_port`] nor an outgoing
/// connection's own source port (a TCP self-connect to a closed port) can take it meanwhile.
/// Both happened with a `free_port` here: a test's "down" Redis was up, or connected to itself.
pub fn closed_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = low.saturating_sub(10_000).max(1);
    let mut rng = rng::Rng::new(u64::from(std::process::id()) ^ nanos());
    for _ in 0..100 {
        let port = 10_000 + u16::try_from(rng.below(usize::from(span))).unwrap_or(0);
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no closed loopback port found between 10000 and {low}");
}

/// Nanoseconds of the wall clock, to seed a test's randomness.
fn nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| {
            u64::try_from(d.as_nanos() & u128::from(u64::MAX)).unwrap_or(0)
        })
}

/// A fresh directory under the system temp dir, removed with its contents on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `<tmp>/redis-gateway-test-<what>-<pid>-<n>-<nanos>`.
    pub fn new(what: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir().join(format!(
            "redis-gateway-test-{what}-{}-{n}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("create temp dir {}: {e}", path.display()));
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

/// The text of a log file, lossily decoded; empty when it cannot be read.
pub fn read_log(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// `%XX`-encodes every byte of `bytes` (for paths and form bodies made of arbitrary bytes).
pub fn percent_encode_all(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// `%XX`-encodes every byte except ASCII letters and digits.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The numbers of the threads of `pid` and their names (`/proc/PID/task/*/comm`).
pub fn thread_names(pid: u32) -> Vec<String> {
    let dir = format!("/proc/{pid}/task");
    let Ok(entries) = fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        if let Ok(comm) = fs::read_to_string(entry.path().join("comm")) {
            names.push(comm.trim_end().to_string());
        }
    }
    names.sort();
    names
}
