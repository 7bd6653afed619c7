//! Watchers: threads that each wait in the kernel for one idle keep-alive connection to send, so
//! that its request is seen the moment it arrives.
//!
//! std has no epoll: the poll loop finds a request only by reading (see `lanes.rs`), and a
//! connection that has been silent for a while (a pre-warmed pool's, never used yet, or one
//! answered seconds ago) waits in the dormant lane, read once a second among 5,000. While there is
//! room, the loop hands such a connection to a watcher instead: a thread blocked in `peek` on that
//! one socket (nothing is taken from it), woken by the kernel when bytes or the client's close
//! arrive. The watcher hands the connection back through the inbox, where the loop reads it at
//! once: a sparse client's request waits microseconds instead of up to a second.
//!
//! ```text
//!   poll loop ── a connection that awaits its next request ──► Watchers::watch ──► watcher thread
//!                                                                        peek, blocking, ≤ 1 s
//!   poll loop ◄── inbox ◄── bytes or close arrived, --idle-timeout passed, or a drain ──┘
//! ```
//!
//! Bounded: at most `--watchers` threads (about 10 KiB of RSS and 16 KiB of kernel stack each,
//! measured); beyond, connections stay in the dormant lane. Up to [`IDLE_KEEP`] threads with no
//! connection to watch wait [`THREAD_LINGER`] for one, the others end at once. A thread that
//! cannot start (a pids or thread limit) lowers the bound below the threads alive, logged once.
//! A watcher sleeps until its connection's `--idle-timeout` at the latest: it costs no CPU while
//! it waits. It never closes, reads or answers: the poll loop does, as for any parked
//! connection. A drain does not wait for watched connections (they are idle; the process's exit
//! closes them), while a request that arrives on one meanwhile is still served.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use super::connection::{Connection, Readable};
use super::Shared;
use crate::log;

/// A thread with no connection to watch for this long ends.
pub const THREAD_LINGER: Duration = Duration::from_secs(2);
/// At most this many threads wait for a connection to watch; more end at once (so that 5,000
/// connections closing together do not leave 5,000 threads to time out together).
pub const IDLE_KEEP: usize = 16;
/// A watcher's stack. It needs little; below 32 KiB glibc's placement of the thread's own data
/// made each thread cost 13.6 KiB of RSS instead of 9.6 (5,000 threads, measured).
pub const STACK_SIZE: usize = 64 * 1024;
/// After a thread failed to start, the bound is set this far below the threads alive, so that
/// the process keeps room for the threads it needs (a Redis connection's, pub/sub's).
pub const SPAWN_HEADROOM: usize = 32;

/// The watcher threads and the connections they wait on.
#[derive(Debug)]
pub struct Watchers {
    pool: Arc<Pool>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Pool {
    state: Mutex<State>,
    /// Signalled when a connection is queued for an idle thread.
    job: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Connections handed over and not taken by a thread yet.
    jobs: Vec<Connection>,
    /// Threads waiting for a connection to watch.
    idle: usize,
    /// Threads alive.
    threads: usize,
    /// Most threads (`--watchers`, lowered after a thread failed to start).
    cap: usize,
    /// Connections handed over and not given back yet.
    watching: usize,
}

impl Watchers {
    /// No thread yet; at most `shared.cfg.watchers`.
    pub fn new(shared: Arc<Shared>) -> Watchers {
        let cap = shared.cfg.watchers;
        Watchers {
            pool: Arc::new(Pool {
                state: Mutex::new(State {
                    cap,
                    ..State::default()
                }),
                job: Condvar::new(),
            }),
            shared,
        }
    }

    /// How many more connections can be watched now.
    pub fn room(&self) -> usize {
        let state = self.pool.lock();
        state.cap.saturating_sub(state.watching)
    }

    /// Hands `conn` to a watcher: an idle thread, or a new one. Gives it back when there is no
    /// room, or no thread could start (it stays with the caller).
    pub fn watch(&self, conn: Connection) -> Option<Connection> {
        let mut state = self.pool.lock();
        if state.watching >= state.cap {
            return Some(conn);
        }
        state.watching += 1;
        state.jobs.push(conn);
        self.shared
            .watched_connections
            .store(state.watching, Ordering::Relaxed);
        if state.idle >= state.jobs.len() {
            drop(state);
            self.pool.job.notify_one();
            return None;
        }
        state.threads += 1;
        self.shared
            .watcher_threads
            .store(state.threads, Ordering::Relaxed);
        drop(state);
        let pool = Arc::clone(&self.pool);
        let shared = Arc::clone(&self.shared);
        let spawned = thread::Builder::new()
            .name("watcher".to_string())
            .stack_size(STACK_SIZE)
            .spawn(move || run(&pool, &shared));
        match spawned {
            Ok(_) => None,
            Err(e) => {
                let mut state = self.pool.lock();
                state.threads -= 1;
                self.shared
                    .watcher_threads
                    .store(state.threads, Ordering::Relaxed);
                let cap = state.threads.saturating_sub(SPAWN_HEADROOM);
                log::warn(format_args!(
                    "cannot start a watcher thread ({e}): --watchers lowered from {} to {cap}; \
                     idle connections beyond wait in the poll loop (raise the process's thread \
                     limit, or set --watchers)",
                    state.cap
                ));
                state.cap = cap;
                // Any queued connection will do: they are alike to the caller.
                let conn = state.jobs.pop();
                if conn.is_some() {
                    state.watching -= 1;
                    self.shared
                        .watched_connections
                        .store(state.watching, Ordering::Relaxed);
                }
                conn
            }
        }
    }
}

impl Pool {
    /// The lock; poisoning is taken over (the state is counts and a list, never half-changed).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next connection to watch, waiting up to [`THREAD_LINGER`] for one; `None`: the thread
    /// is to end (and is no longer counted).
    fn next(&self, shared: &Shared) -> Option<Connection> {
        let mut state = self.lock();
        let mut waited = false;
        loop {
            if let Some(conn) = state.jobs.pop() {
                super::shrink_spare(&mut state.jobs);
                return Some(conn);
            }
            if waited || state.threads > state.cap || state.idle >= IDLE_KEEP {
                state.threads -= 1;
                shared
                    .watcher_threads
                    .store(state.threads, Ordering::Relaxed);
                return None;
            }
            state.idle += 1;
            let (next, timeout) = self
                .job
                .wait_timeout(state, THREAD_LINGER)
                .unwrap_or_else(PoisonError::into_inner);
            state = next;
            state.idle -= 1;
            waited = timeout.timed_out();
        }
    }

    /// A connection was given back.
    fn done(&self, shared: &Shared) {
        let mut state = self.lock();
        state.watching -= 1;
        shared
            .watched_connections
            .store(state.watching, Ordering::Relaxed);
    }
}

/// A watcher thread: watches connections one after another until none comes for a while.
fn run(pool: &Pool, shared: &Shared) {
    while let Some(conn) = pool.next(shared) {
        let conn = wait_for_request(conn, shared);
        pool.done(shared);
        if let Some(conn) = conn {
            shared.inbox.push(conn);
        }
    }
}

/// Blocks until `conn` has something to read or its `--idle-timeout` has passed; the connection
/// then goes back to the poll loop, which reads it or closes it. `None`: its socket could not be
/// made nonblocking again, and it was closed.
fn wait_for_request(mut conn: Connection, shared: &Shared) -> Option<Connection> {
    let idle_until = conn.schedule.last_activity + shared.cfg.idle_timeout;
    loop {
        let left = idle_until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Some(conn);
        }
        match conn.await_readable(left) {
            Readable::NotYet => {}
            Readable::Now => return Some(conn),
            Readable::Broken => {
                shared.close_connection(conn);
                return None;
            }
        }
    }
}
