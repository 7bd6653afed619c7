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
pub mod worker;

use std::io;
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::http;
use crate::log;
use crate::redis::{maintainer, Pool};
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
    /// The Redis connections.
    pub pool: Arc<Pool>,
    /// Client connections open now (parked, queued or being served).
    pub open_connections: AtomicUsize,
    /// Set to stop the poll loop.
    pub stopping: AtomicBool,
}

impl Shared {
    /// Shared state for `cfg`, with an empty pool.
    pub fn new(cfg: Config) -> Shared {
        let limits = http::Limits {
            max_request_line: cfg.max_request_line,
            max_head_bytes: cfg.max_head_bytes,
            max_headers: cfg.max_headers,
            max_body_bytes: cfg.max_body_bytes,
        };
        Shared {
            limits,
            queue: TaskQueue::new(cfg.queue_size),
            handback: Handback::default(),
            pool: Arc::new(Pool::new(cfg.pool_size, cfg.ping_interval)),
            open_connections: AtomicUsize::new(0),
            stopping: AtomicBool::new(false),
            cfg,
        }
    }

    /// Closes a client connection and counts it.
    pub fn close_connection(&self, conn: Connection) {
        drop(conn);
        self.open_connections.fetch_sub(1, Ordering::Relaxed);
    }

    /// True once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
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

/// Binds the listener, starts the maintainer and the workers, and runs the poll loop on the
/// calling thread until the process ends.
///
/// # Errors
///
/// When the address cannot be bound or a thread cannot be started.
pub fn run(cfg: Config) -> io::Result<()> {
    let listener = TcpListener::bind(cfg.listen)?;
    let local = listener.local_addr()?;
    let shared = Arc::new(Shared::new(cfg));
    let cfg = &shared.cfg;
    log::info(format_args!(
        "redis-gateway {} listening on {local}, redis {}, {} workers, pool {}",
        env!("CARGO_PKG_VERSION"),
        cfg.redis,
        cfg.workers,
        cfg.pool_size
    ));
    let maintainer = maintainer::spawn(Arc::clone(&shared.pool), cfg.clone())?;
    let workers = worker::spawn(cfg.workers, &shared)?;
    let mut poll = poll::PollLoop::new(listener)?;
    poll.run(&shared);
    // Orderly stop: no new tasks, workers finish theirs, the pool closes, every thread joins.
    shared.queue.close();
    for handle in workers {
        let _ = handle.join();
    }
    shared.pool.close();
    let _ = maintainer.join();
    Ok(())
}
