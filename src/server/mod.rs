//! The server: the poll loop on the main thread, the task queue, the workers, and how they start
//! and stop. It moves bytes between clients and the API it is given; it knows no API.
//!
//! ```text
//!   acceptor::Acceptor ──new──┐
//!                             ▼
//!   main thread: poll::PollLoop ──push(Task)──► queue::TaskQueue ──pop──► worker::Worker × N
//!        ▲  lanes::Lanes (parked connections)                               │ api::Service
//!        └──────────── inbox::Inbox (served connections) ◄──────────────────┘ redis::Backend
//! ```
//!
//! * `connection`: one client connection, its buffers and its phase; `output`: the bytes a
//!   client has not taken yet; `stream`: a connection that became a stream of pushed messages.
//!
//! * `watch`: threads that wait in the kernel on idle connections for their next request.
//!
//! With the defaults the process starts with 12 threads: the main thread (poll loop), 9 workers,
//! the Redis maintainer and the acceptor (13 with the admin listener, which has its own); watcher
//! threads come and go with idle connections (at most `--watchers`).

pub mod acceptor;
pub mod connection;
pub mod inbox;
pub mod input;
pub mod lanes;
pub mod output;
pub mod poll;
pub mod queue;
pub mod stream;
pub mod watch;
pub mod worker;

use std::io::{self, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::api::{self, Service};
use crate::config::Config;
use crate::http;
use crate::http::response::{Body, Response};
use crate::http::Head;
use crate::log::{self, AccessLog};
use crate::memory::Budget;
use crate::metrics::{Metrics, Snapshot};
use crate::redis::{Backend, Cluster, Sentinel, Standalone};
use acceptor::Acceptor;
use connection::{Connection, Listener};
use inbox::Inbox;
use queue::TaskQueue;

/// A list of connections keeps this many places at least when it shrinks.
pub const SPARE_MIN: usize = 256;

/// Gives back the spare capacity of a list that is less than a quarter full (keeping twice its
/// length, at least [`SPARE_MIN`]): a burst of 5,000 connections through a list would otherwise
/// keep its 2 MiB for the life of the process.
pub fn shrink_spare<T>(list: &mut Vec<T>) {
    if list.capacity() > SPARE_MIN && list.len() < list.capacity() / 4 {
        list.shrink_to((list.len() * 2).max(SPARE_MIN));
    }
}

/// State shared by the poll loop and the workers.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub cfg: Config,
    /// HTTP parser limits taken from the configuration.
    pub limits: http::Limits,
    /// Poll loop → workers.
    pub queue: TaskQueue,
    /// Acceptors and workers → poll loop.
    pub inbox: Inbox,
    /// The API of the data listener.
    pub api: Box<dyn Service>,
    /// Redis: what the API's commands run on, and the shared subscriptions.
    pub backend: Box<dyn Backend>,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The memory budget of every client and Redis buffer (`--max-memory`).
    pub budget: Arc<Budget>,
    /// The access log, when one is configured.
    pub access_log: Option<AccessLog>,
    /// Client connections open now (parked, queued or being served).
    pub open_connections: AtomicUsize,
    /// Client connections parked in the poll loop now.
    pub parked_connections: AtomicUsize,
    /// Of those, in the quiet lane (answered a moment ago, idle since).
    pub quiet_parked: AtomicUsize,
    /// Connections a watcher thread waits on (see `watch.rs`), and those threads.
    pub watched_connections: AtomicUsize,
    /// See `watched_connections`.
    pub watcher_threads: AtomicUsize,
    /// Workers waiting on a connection for its next request (see `worker.rs`).
    pub awaiting_workers: AtomicUsize,
    /// What admin requests must show (its `Host`, the shutdown header or token); `None` until
    /// the admin listener is bound, and without one.
    pub admin_doors: Option<api::admin::Doors>,
    /// Set by `POST /shutdown`: stop accepting, finish what is in flight, exit.
    pub draining: AtomicBool,
    /// When the gateway started.
    pub started: Instant,
}

impl Shared {
    /// Shared state for `cfg`, with the Redis backend started (its pool fills in the background).
    ///
    /// # Errors
    ///
    /// When the access log file cannot be opened or a thread cannot start.
    pub fn new(cfg: Config) -> io::Result<Shared> {
        let limits = http::Limits {
            max_request_line: cfg.max_request_line,
            max_head_bytes: cfg.max_head_bytes,
            max_headers: cfg.max_headers,
            max_body_bytes: cfg.max_body_bytes,
        };
        let access_log = match &cfg.access_log {
            Some(spec) => Some(AccessLog::open(spec).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot open access log {spec}: {e}"))
            })?),
            None => None,
        };
        let metrics = Arc::new(Metrics::default());
        let budget = Budget::new(cfg.max_memory);
        let backend: Box<dyn Backend> = if !cfg.cluster.seeds.is_empty() {
            Box::new(Cluster::start(&cfg, Arc::clone(&metrics), &budget)?)
        } else if !cfg.sentinel.addrs.is_empty() {
            Box::new(Sentinel::start(&cfg, Arc::clone(&metrics), &budget)?)
        } else {
            Box::new(Standalone::start(&cfg, Arc::clone(&metrics), &budget)?)
        };
        Ok(Shared {
            limits,
            queue: TaskQueue::new(cfg.queue_size),
            inbox: Inbox::default(),
            api: api::service(&cfg),
            backend,
            metrics,
            budget,
            access_log,
            open_connections: AtomicUsize::new(0),
            parked_connections: AtomicUsize::new(0),
            quiet_parked: AtomicUsize::new(0),
            watched_connections: AtomicUsize::new(0),
            watcher_threads: AtomicUsize::new(0),
            awaiting_workers: AtomicUsize::new(0),
            admin_doors: None,
            draining: AtomicBool::new(false),
            started: Instant::now(),
            cfg,
        })
    }

    /// Closes a client connection and counts it; a stream leaves its subscriptions.
    pub fn close_connection(&self, conn: Connection) {
        if let Some(outbox) = conn.outbox() {
            outbox.close();
            self.backend.hub().leave(outbox.id());
        }
        drop(conn);
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds what the API puts on every response of the data listener (errors and refusals
    /// included), given the request's head when there is one; the admin listener's responses
    /// are left as they are.
    pub fn decorate(
        &self,
        response: Response,
        listener: Listener,
        head: Option<&Head>,
    ) -> Response {
        match listener {
            Listener::Data => self.api.decorate(response, head),
            Listener::Admin => response,
        }
    }

    /// Answers 503 with a best-effort nonblocking write and closes; for a connection no worker can
    /// take (too many open, or the task queue full for too long).
    pub fn refuse(&self, conn: Connection, why: &str) {
        Metrics::add(&self.metrics.refused, 1);
        let response = api::Error::Overloaded(why.to_string()).into_response();
        let response = self.decorate(response, conn.listener(), None);
        let mut out = Vec::new();
        http::response::write(&response, Body::Send, &self.date(), &mut out);
        let mut socket = conn.socket();
        let _ = socket.write(&out);
        let _ = socket.shutdown(Shutdown::Both);
        self.close_connection(conn);
    }

    /// True once a drain has begun: responses close their connections.
    pub fn is_stopping(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The gauges of `/metrics` and `/healthz`, now.
    pub fn snapshot(&self) -> Snapshot {
        let (pubsub_topics, pubsub_subscriptions) = self.backend.hub().stats();
        Snapshot {
            pool: self.backend.stats(),
            queue_depth: self.queue.len(),
            open: self.open_connections.load(Ordering::Relaxed),
            parked: self.parked_connections.load(Ordering::Relaxed),
            quiet: self.quiet_parked.load(Ordering::Relaxed),
            watched: self.watched_connections.load(Ordering::Relaxed),
            watcher_threads: self.watcher_threads.load(Ordering::Relaxed),
            memory_limit: self.budget.limit(),
            memory_used: self.budget.used(),
            uptime: self.started.elapsed(),
            pubsub_topics,
            pubsub_subscriptions,
        }
    }

    /// The current `Date` header text (workers cache their own; this is for rare paths).
    pub fn date(&self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        http::date::imf_fixdate(now)
    }
}

/// Binds the listeners, starts the maintainer and the workers, and runs the poll loop on the
/// calling thread until a drain (`POST /shutdown` on the admin port) completes; then stops every
/// thread and returns.
///
/// # Errors
///
/// When an address cannot be bound, the access log cannot be opened, or a thread cannot start.
pub fn run(cfg: Config) -> io::Result<()> {
    let listener = TcpListener::bind(cfg.listen)?;
    let local = listener.local_addr()?;
    let admin = match cfg.admin {
        Some(addr) => Some(TcpListener::bind(addr).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot bind admin address {addr}: {e}"))
        })?),
        None => None,
    };
    let admin_addr = admin.as_ref().map(TcpListener::local_addr).transpose()?;
    let mut shared = Shared::new(cfg)?;
    shared.admin_doors = admin_addr.map(|bound| api::admin::Doors::new(bound, &shared.cfg));
    let shared = Arc::new(shared);
    let cfg = &shared.cfg;
    let admin_note = admin_addr
        .map(|a| format!(", admin on {a}"))
        .unwrap_or_default();
    let redis = cfg.redis_text();
    log::startup(format_args!(
        "redis-gateway {} listening on {local} ({} API), redis {redis}, {} workers, pool {}{admin_note}",
        env!("CARGO_PKG_VERSION"),
        cfg.api.name(),
        cfg.workers,
        cfg.pool_size
    ));
    for note in &cfg.webdis.notes {
        log::warn(format_args!("{note}"));
    }
    let workers = worker::spawn(cfg.workers, &shared)?;
    let mut acceptors = vec![Acceptor::spawn(listener, Listener::Data, &shared)?];
    if let Some(admin) = admin {
        acceptors.push(Acceptor::spawn(admin, Listener::Admin, &shared)?);
    }
    let watchers = watch::Watchers::new(Arc::clone(&shared));
    let mut poll = poll::PollLoop::new(acceptors, watchers);
    poll.run(&shared);
    // Orderly stop: no new tasks, workers finish theirs, the pool closes, every thread joins.
    shared.queue.close();
    for handle in workers {
        let _ = handle.join();
    }
    shared.backend.close();
    log::info(format_args!("drained; exiting"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_gives_back_its_spare_capacity_once_less_than_a_quarter_full() {
        let mut list: Vec<u64> = Vec::with_capacity(10_000);
        list.extend(0..3_000);
        shrink_spare(&mut list);
        assert!(list.capacity() >= 10_000, "over a quarter full: kept");
        list.truncate(100);
        shrink_spare(&mut list);
        assert!(
            (SPARE_MIN..1_000).contains(&list.capacity()),
            "{}",
            list.capacity()
        );
        assert_eq!(list.len(), 100);
        let mut small: Vec<u64> = Vec::with_capacity(SPARE_MIN);
        shrink_spare(&mut small);
        assert_eq!(small.capacity(), SPARE_MIN, "small lists keep their room");
    }
}
