//! The server: the poll loop on the main thread, the task queue, the workers, the pool's
//! maintainer, and how they start and stop.
//!
//! ```text
//!   main thread: poll::PollLoop ──push(Task)──► queue::TaskQueue ──pop──► worker::Worker × N
//!        ▲                                                                  │
//!        └──────────── queue::Handback (served connections) ◄───────────────┘
//! ```
//!
//! With the defaults the process has exactly 11 threads: the main thread (poll loop), 9 workers
//! and the Redis maintainer.

pub mod connection;
pub mod poll;
pub mod queue;
pub mod stream;
pub mod worker;

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::config::{Api, Config};
use crate::http;
use crate::http::response::Response;
use crate::log::{self, AccessLog};
use crate::metrics::{Metrics, Snapshot};
use crate::redis::subscriber::{Hub, Listener};
use crate::redis::{maintainer, Databases, Pool};
use connection::Connection;
use queue::{Handback, TaskQueue};

/// State shared by the poll loop and the workers.
#[derive(Debug)]
pub struct Shared {
    /// The configuration.
    pub cfg: Config,
    /// HTTP parser limits taken from the configuration.
    pub limits: http::Limits,
    /// Poll loop → workers.
    pub queue: TaskQueue,
    /// Workers → poll loop.
    pub handback: Handback,
    /// The Redis connections of the configured database.
    pub pool: Arc<Pool>,
    /// The pools by database (webdis's `/7/GET/key`), the one above included.
    pub databases: Databases,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The shared pub/sub subscriptions of every stream.
    pub hub: Arc<Hub>,
    /// The access log, when one is configured.
    pub access_log: Option<AccessLog>,
    /// Client connections open now (parked, queued or being served).
    pub open_connections: AtomicUsize,
    /// Client connections parked in the poll loop now.
    pub parked_connections: AtomicUsize,
    /// Set by `POST /shutdown`: stop accepting, finish what is in flight, exit.
    pub draining: AtomicBool,
    /// When the gateway started.
    pub started: Instant,
}

impl Shared {
    /// Shared state for `cfg`, with an empty pool.
    ///
    /// # Errors
    ///
    /// When the access log file cannot be opened.
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
        let pool = Arc::new(Pool::new(cfg.pool_size, cfg.ping_interval));
        let metrics = Arc::new(Metrics::default());
        let databases = Databases::new(
            Arc::clone(&pool),
            cfg.clone(),
            cfg.webdis.db_pool_size,
            Arc::clone(&metrics),
        );
        Ok(Shared {
            limits,
            queue: TaskQueue::new(cfg.queue_size),
            handback: Handback::default(),
            pool,
            databases,
            hub: Hub::new(cfg.clone()),
            metrics,
            access_log,
            open_connections: AtomicUsize::new(0),
            parked_connections: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            started: Instant::now(),
            cfg,
        })
    }

    /// Closes a client connection and counts it; a stream leaves its subscriptions.
    pub fn close_connection(&self, mut conn: Connection) {
        if let Some(outbox) = conn.outbox.take() {
            outbox.close();
            self.hub.leave(outbox.id());
        }
        drop(conn);
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds what the API puts on every response of the data listener: the webdis API's CORS
    /// headers (errors and refusals included).
    pub fn decorate(&self, response: Response, admin: bool) -> Response {
        if self.cfg.api == Api::Webdis && !admin {
            crate::api::webdis::with_cors(response)
        } else {
            response
        }
    }

    /// True once a drain has begun: responses close their connections.
    pub fn is_stopping(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// The gauges of `/metrics` and `/healthz`, now.
    pub fn snapshot(&self) -> Snapshot {
        let (pubsub_topics, pubsub_subscriptions) = self.hub.stats();
        Snapshot {
            pool: self.pool.stats(),
            queue_depth: self.queue.len(),
            open: self.open_connections.load(Ordering::Relaxed),
            parked: self.parked_connections.load(Ordering::Relaxed),
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
    let shared = Arc::new(Shared::new(cfg)?);
    let cfg = &shared.cfg;
    let admin_note = admin_addr
        .map(|a| format!(", admin on {a}"))
        .unwrap_or_default();
    log::startup(format_args!(
        "redis-gateway {} listening on {local} ({} API), redis {}, {} workers, pool {}{admin_note}",
        env!("CARGO_PKG_VERSION"),
        cfg.api.name(),
        cfg.redis,
        cfg.workers,
        cfg.pool_size
    ));
    for note in &cfg.webdis.notes {
        log::warn(format_args!("{note}"));
    }
    let maintainer = maintainer::spawn(
        Arc::clone(&shared.pool),
        Arc::clone(&shared.metrics),
        cfg.clone(),
    )?;
    let workers = worker::spawn(cfg.workers, &shared)?;
    let mut poll = poll::PollLoop::new(listener, admin)?;
    poll.run(&shared);
    // Orderly stop: no new tasks, workers finish theirs, the pool closes, every thread joins.
    shared.queue.close();
    for handle in workers {
        let _ = handle.join();
    }
    shared.pool.close();
    shared.databases.close_others();
    shared.hub.close();
    let _ = maintainer.join();
    log::info(format_args!("drained; exiting"));
    Ok(())
}
