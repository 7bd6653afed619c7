//! Counters for `/metrics`, and their rendering in the Prometheus text exposition format 0.0.4.
//!
//! Every counter is an atomic updated with `Relaxed` ordering: a scrape may see one counter a
//! request ahead of another, which monitoring tolerates, and the request path never takes a lock.
//! Gauges that other parts own (pool, queue, connections) are read at scrape time and passed in
//! as a [`Snapshot`].
//!
//! ```text
//! # HELP redis_gateway_requests_total HTTP requests answered, by method and status class.
//! # TYPE redis_gateway_requests_total counter
//! redis_gateway_requests_total{method="GET",class="2xx"} 1027
//! ```

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Methods counted apart; anything else is `other`.
const METHODS: [&str; 7] = ["GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS", "other"];
/// Status classes `1xx` … `5xx`.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// Upper bounds of the request-duration histogram buckets, in seconds (`+Inf` is implied).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Kinds of Redis failure counted in `redis_gateway_redis_errors_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisErrorKind {
    /// No reply within the reply timeout.
    Timeout,
    /// The connection failed or closed.
    Io,
    /// A malformed, oversized or unsolicited reply.
    Protocol,
    /// Redis answered with an error reply (`-ERR …`).
    ErrorReply,
    /// Opening a connection failed (connect or handshake).
    Connect,
}

const REDIS_ERROR_KINDS: [(RedisErrorKind, &str); 5] = [
    (RedisErrorKind::Timeout, "timeout"),
    (RedisErrorKind::Io, "io"),
    (RedisErrorKind::Protocol, "protocol"),
    (RedisErrorKind::ErrorReply, "error_reply"),
    (RedisErrorKind::Connect, "connect"),
];

/// Every counter of the gateway.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: [[AtomicU64; 5]; 7],
    duration_buckets: [AtomicU64; 14],
    duration_count: AtomicU64,
    duration_sum_micros: AtomicU64,
    /// Bytes read from clients.
    pub bytes_in: AtomicU64,
    /// Bytes written to clients.
    pub bytes_out: AtomicU64,
    /// Client connections accepted.
    pub accepted: AtomicU64,
    /// Client connections refused with 503 (connection cap reached or task queue full).
    pub refused: AtomicU64,
    /// Of those, refused because the task queue was full.
    pub queue_full: AtomicU64,
    /// Pub/sub messages handed to streams (one per message per subscriber).
    pub stream_messages: AtomicU64,
    /// Streams disconnected because their client fell more than `--max-stream-buffer` behind.
    pub stream_overflows: AtomicU64,
    /// Requests refused (503) because their declared body did not fit in the memory budget.
    pub memory_refusals: AtomicU64,
    /// Connections cut because the memory budget was spent and they held the most.
    pub memory_cuts: AtomicU64,
    /// Answers that closed their connection to keep the quiet lane short (the client reconnects
    /// for its next request).
    pub closed_for_room: AtomicU64,
    /// Requests a worker waited for on the connection it had just served (no hand-over).
    pub awaited_requests: AtomicU64,
    /// Passes of the poll loop.
    pub poll_passes: AtomicU64,
    /// Times the poll loop slept because a pass found nothing to do.
    pub poll_sleeps: AtomicU64,
    /// Redis connections opened by the maintainer (the first fill included).
    pub redis_connects: AtomicU64,
    redis_errors: [AtomicU64; 5],
}

/// A snapshot of the Redis connection pool, for `/metrics`, `/healthz` and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// The configured number of connections.
    pub size: usize,
    /// Live connections (idle + in use).
    pub open: usize,
    /// Connections waiting in the pool.
    pub idle: usize,
}

/// Gauges read at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The pool.
    pub pool: PoolStats,
    /// Tasks waiting for a worker.
    pub queue_depth: usize,
    /// Open client connections.
    pub open: usize,
    /// Of those, parked in the poll loop (idle, or receiving a request).
    pub parked: usize,
    /// Of those, in the quiet lane (answered a moment ago, idle since).
    pub quiet: usize,
    /// Open connections a watcher thread waits on (not parked).
    pub watched: usize,
    /// Watcher threads alive.
    pub watcher_threads: usize,
    /// The memory budget (`--max-memory`), and what is counted against it now.
    pub memory_limit: usize,
    /// See `memory_limit`.
    pub memory_used: usize,
    /// Time since start-up.
    pub uptime: Duration,
    /// Channels and patterns subscribed on the shared pub/sub connection.
    pub pubsub_topics: usize,
    /// Subscriptions of streams to them, in all.
    pub pubsub_subscriptions: usize,
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, method: &str, status: u16, took: Duration) {
        let m = METHODS
            .iter()
            .position(|name| *name == method)
            .unwrap_or(METHODS.len() - 1);
        let c = usize::from(status / 100).clamp(1, 5) - 1;
        if let Some(counter) = self.requests.get(m).and_then(|row| row.get(c)) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        let secs = took.as_secs_f64();
        // Cumulative buckets are computed at render time; here only the first bucket that fits.
        if let Some(i) = DURATION_BUCKETS.iter().position(|le| secs <= *le) {
            if let Some(bucket) = self.duration_buckets.get(i) {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one Redis failure.
    pub fn redis_error(&self, kind: RedisErrorKind) {
        if let Some(i) = REDIS_ERROR_KINDS.iter().position(|(k, _)| *k == kind) {
            if let Some(counter) = self.redis_errors.get(i) {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds `n` to a counter (a shorthand for the public counters).
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The whole exposition, in the Prometheus text format 0.0.4.
    pub fn render(&self, now: &Snapshot) -> String {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::with_capacity(8 * 1024);
        header(
            &mut out,
            "requests_total",
            "counter",
            "HTTP requests answered, by method and status class.",
        );
        for (m, row) in METHODS.iter().zip(&self.requests) {
            for (c, counter) in CLASSES.iter().zip(row) {
                let _ = writeln!(
                    out,
                    "redis_gateway_requests_total{{method=\"{m}\",class=\"{c}\"}} {}",
                    get(counter)
                );
            }
        }
        header(
            &mut out,
            "request_duration_seconds",
            "histogram",
            "Time from a request's first byte to its response being queued.",
        );
        let mut cumulative = 0;
        for (le, bucket) in DURATION_BUCKETS.iter().zip(&self.duration_buckets) {
            cumulative += get(bucket);
            let _ = writeln!(
                out,
                "redis_gateway_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let count = get(&self.duration_count);
        let _ = writeln!(
            out,
            "redis_gateway_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = get(&self.duration_sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "redis_gateway_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "redis_gateway_request_duration_seconds_count {count}");
        let counters: [(&str, &str, u64); 14] = [
            (
                "received_bytes_total",
                "Bytes read from clients.",
                get(&self.bytes_in),
            ),
            (
                "sent_bytes_total",
                "Bytes written to clients.",
                get(&self.bytes_out),
            ),
            (
                "connections_accepted_total",
                "Client connections accepted.",
                get(&self.accepted),
            ),
            (
                "connections_refused_total",
                "Client connections refused with 503 (connection cap or full queue).",
                get(&self.refused),
            ),
            (
                "queue_full_total",
                "Connections answered 503 because the task queue was full.",
                get(&self.queue_full),
            ),
            (
                "stream_messages_total",
                "Pub/sub messages handed to streams, one per message per subscriber.",
                get(&self.stream_messages),
            ),
            (
                "stream_overflows_total",
                "Streams disconnected because the client fell more than --max-stream-buffer behind.",
                get(&self.stream_overflows),
            ),
            (
                "memory_refusals_total",
                "Requests answered 503 before their body was read: the memory budget could not hold it.",
                get(&self.memory_refusals),
            ),
            (
                "memory_cuts_total",
                "Stalled connections closed because the memory budget was spent and they held the most.",
                get(&self.memory_cuts),
            ),
            (
                "connections_closed_for_room_total",
                "Answers that closed their connection (Connection: close) to keep the quiet lane short.",
                get(&self.closed_for_room),
            ),
            (
                "awaited_requests_total",
                "Requests a worker waited for on the connection it had just served, without a hand-over.",
                get(&self.awaited_requests),
            ),
            (
                "poll_passes_total",
                "Passes of the poll loop.",
                get(&self.poll_passes),
            ),
            (
                "poll_sleeps_total",
                "Times the poll loop slept after a pass with nothing to do.",
                get(&self.poll_sleeps),
            ),
            (
                "redis_connections_opened_total",
                "Redis connections opened by the maintainer, the first fill included.",
                get(&self.redis_connects),
            ),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "redis_gateway_{name} {value}");
        }
        header(
            &mut out,
            "redis_errors_total",
            "counter",
            "Redis failures, by kind.",
        );
        for ((_, kind), counter) in REDIS_ERROR_KINDS.iter().zip(&self.redis_errors) {
            let _ = writeln!(
                out,
                "redis_gateway_redis_errors_total{{kind=\"{kind}\"}} {}",
                get(counter)
            );
        }
        let in_use = now.pool.open.saturating_sub(now.pool.idle);
        let gauges: [(&str, &str, f64); 16] = [
            (
                "pubsub_topics",
                "Channels and patterns subscribed on the shared pub/sub connection.",
                now.pubsub_topics as f64,
            ),
            (
                "pubsub_subscriptions",
                "Subscriptions of client streams to those channels and patterns.",
                now.pubsub_subscriptions as f64,
            ),
            (
                "connections_open",
                "Open client connections.",
                now.open as f64,
            ),
            (
                "connections_active",
                "Client connections queued or being served by a worker.",
                now.open.saturating_sub(now.parked + now.watched) as f64,
            ),
            (
                "connections_parked",
                "Client connections parked in the poll loop (idle, or receiving a request).",
                now.parked as f64,
            ),
            (
                "connections_quiet",
                "Parked connections answered in the last 2 s and idle since (the quiet lane).",
                now.quiet as f64,
            ),
            (
                "connections_watched",
                "Idle connections a watcher thread waits on for their next request.",
                now.watched as f64,
            ),
            (
                "watcher_threads",
                "Watcher threads alive (at most --watchers).",
                now.watcher_threads as f64,
            ),
            (
                "memory_budget_bytes",
                "The memory budget of client and Redis buffers (--max-memory).",
                now.memory_limit as f64,
            ),
            (
                "memory_accounted_bytes",
                "Bytes of client and Redis buffers counted against the memory budget now.",
                now.memory_used as f64,
            ),
            (
                "queue_depth",
                "Tasks waiting for a worker.",
                now.queue_depth as f64,
            ),
            (
                "pool_size",
                "Configured number of pooled Redis connections.",
                now.pool.size as f64,
            ),
            (
                "pool_idle",
                "Pooled Redis connections idle.",
                now.pool.idle as f64,
            ),
            (
                "pool_in_use",
                "Pooled Redis connections lent to workers.",
                in_use as f64,
            ),
            (
                "pool_open",
                "Live pooled Redis connections (idle and in use).",
                now.pool.open as f64,
            ),
            (
                "uptime_seconds",
                "Seconds since the gateway started.",
                now.uptime.as_secs_f64(),
            ),
        ];
        for (name, help, value) in gauges {
            header(&mut out, name, "gauge", help);
            let _ = writeln!(out, "redis_gateway_{name} {value}");
        }
        header(
            &mut out,
            "build_info",
            "gauge",
            "Always 1; the version is a label.",
        );
        let _ = writeln!(
            out,
            "redis_gateway_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP redis_gateway_{name} {help}");
    let _ = writeln!(out, "# TYPE redis_gateway_{name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot() -> Snapshot {
        Snapshot {
            pool: PoolStats {
                size: 40,
                open: 40,
                idle: 38,
            },
            queue_depth: 0,
            open: 5,
            parked: 3,
            quiet: 2,
            watched: 1,
            watcher_threads: 2,
            memory_limit: 1024,
            memory_used: 12,
            uptime: Duration::from_secs(12),
            pubsub_topics: 1,
            pubsub_subscriptions: 3,
        }
    }

    fn value(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
            .and_then(|v| v.parse().ok())
    }

    #[test]
    fn requests_are_counted_by_method_and_class() {
        let m = Metrics::default();
        m.request("GET", 200, Duration::from_micros(300));
        m.request("GET", 404, Duration::from_millis(3));
        m.request("PATCH", 405, Duration::from_secs(20));
        let text = m.render(&snapshot());
        let get = |s: &str| value(&text, s);
        assert_eq!(
            get("redis_gateway_requests_total{method=\"GET\",class=\"2xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("redis_gateway_requests_total{method=\"GET\",class=\"4xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("redis_gateway_requests_total{method=\"other\",class=\"4xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("redis_gateway_request_duration_seconds_bucket{le=\"0.0005\"}"),
            Some(1.0)
        );
        assert_eq!(
            get("redis_gateway_request_duration_seconds_bucket{le=\"0.005\"}"),
            Some(2.0)
        );
        assert_eq!(
            get("redis_gateway_request_duration_seconds_bucket{le=\"10\"}"),
            Some(2.0)
        );
        assert_eq!(
            get("redis_gateway_request_duration_seconds_bucket{le=\"+Inf\"}"),
            Some(3.0)
        );
        assert_eq!(
            get("redis_gateway_request_duration_seconds_count"),
            Some(3.0)
        );
        assert_eq!(get("redis_gateway_pool_in_use"), Some(2.0));
        assert_eq!(get("redis_gateway_connections_active"), Some(1.0));
    }

    #[test]
    fn every_sample_follows_its_help_and_type() {
        let text = Metrics::default().render(&snapshot());
        let mut typed = Vec::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.push(rest.split(' ').next().unwrap_or_default().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap_or_default();
                let family = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| {
                        name.strip_suffix(s)
                            .filter(|f| typed.iter().any(|t| t == f))
                    })
                    .unwrap_or(name);
                assert_eq!(typed.last().map(String::as_str), Some(family), "{line}");
            }
        }
    }
}
