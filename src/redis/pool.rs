//! The pool of Redis connections: workers borrow with [`Pool::checkout`], the maintainer fills.
//!
//! ```text
//!   worker ── checkout (waits ≤ checkout timeout) ──► PooledConn ── drop ──► back to idle
//!                                                       │ error
//!                                                       ▼
//!                              discarded; `open` drops; maintainer is woken to replace it
//! ```
//!
//! `open` counts every live connection, idle or lent; the maintainer keeps it at `size`. No I/O
//! happens under the lock: connections are closed after it is released.
//!
//! A connection made for an address that has moved since (Sentinel's master changed, see
//! [`super::Address`]) is retired, never lent: at checkout it is closed and replaced, and one in
//! flight is closed when it comes back ([`Conn::is_current`]).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::{Conn, Error};
use crate::memory::{Account, Budget};
pub use crate::metrics::PoolStats;
use crate::resp::Value;

/// How often the maintainer looks for idle connections whose address has moved.
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// A bounded set of Redis connections shared by all workers.
#[derive(Debug)]
pub struct Pool {
    size: usize,
    /// The memory budget its connections count against.
    budget: Arc<Budget>,
    ping_interval: Duration,
    state: Mutex<State>,
    /// Signalled when a connection becomes idle or the pool closes (workers wait on it).
    returned: Condvar,
    /// Signalled when a connection is discarded or the pool closes (the maintainer waits on it).
    vacancy: Condvar,
}

#[derive(Debug, Default)]
struct State {
    idle: Vec<Conn>,
    /// Idle plus lent connections.
    open: usize,
    closed: bool,
    /// Why the last connection attempt failed; `None` once one succeeds.
    down: Option<Error>,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Pool>();
};

impl Pool {
    /// An empty pool that the maintainer will fill to `size` connections, whose buffers count
    /// against `budget`.
    pub fn new(size: usize, ping_interval: Duration, budget: &Arc<Budget>) -> Pool {
        Pool {
            size,
            budget: Arc::clone(budget),
            ping_interval,
            state: Mutex::new(State::default()),
            returned: Condvar::new(),
            vacancy: Condvar::new(),
        }
    }

    /// The lock. A panic while holding it cannot leave `State` half-updated (every update is a
    /// single field write or push), so a poisoned lock is simply taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Borrows a connection, waiting at most `timeout`. Every connection is first checked for
    /// bytes nobody asked for or a close by Redis ([`Conn::is_clean`]); one idle longer than the
    /// ping interval also gets a `PING`. One that fails a check is replaced.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when Redis is known to be down, the pool is closed, or no
    /// connection became free in time; [`Error::NoSuchDatabase`] when Redis refused the
    /// pool's database.
    pub fn checkout(&self, timeout: Duration) -> Result<PooledConn<'_>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut conn = self.take_idle(deadline)?;
            if !conn.is_current() || !conn.is_clean() {
                // Out of step or closed by Redis: replace it, never send on it.
                drop(conn);
                self.discard(false);
                continue;
            }
            if conn.idle_for() < self.ping_interval {
                return Ok(PooledConn {
                    pool: self,
                    conn: Some(conn),
                });
            }
            let mut lent = PooledConn {
                pool: self,
                conn: Some(conn),
            };
            match lent.call(&[b"PING"]) {
                Ok(Value::Simple(pong)) if pong == b"PONG" => return Ok(lent),
                Ok(_) => lent.discard(false),
                Err(_) => {} // `call` already discarded it
            }
        }
    }

    fn take_idle(&self, deadline: Instant) -> Result<Conn, Error> {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Err(Error::Unavailable("the gateway is shutting down".into()));
            }
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open == 0 {
                if let Some(why) = &state.down {
                    // Nothing to wait for: fail fast instead of holding the worker.
                    return Err(match why {
                        Error::NoSuchDatabase(_) | Error::Unavailable(_) => why.clone(),
                        other => Error::Unavailable(other.to_string()),
                    });
                }
            }
            let left = match deadline.checked_duration_since(Instant::now()) {
                Some(left) if !left.is_zero() => left,
                _ => {
                    return Err(Error::Unavailable(
                        "every pooled connection is busy (--checkout-timeout passed)".into(),
                    ))
                }
            };
            state = self
                .returned
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Returns a healthy connection to the idle set (one made for an address that has moved
    /// since is closed instead, and replaced).
    fn put_back(&self, conn: Conn) {
        if !conn.is_current() {
            drop(conn);
            self.discard(false);
            return;
        }
        let mut state = self.lock();
        if state.closed {
            state.open = state.open.saturating_sub(1);
            drop(state);
            drop(conn);
            return;
        }
        state.idle.push(conn);
        drop(state);
        self.returned.notify_one();
    }

    /// Forgets a lent connection that failed. When the failure says the server went away, every
    /// idle connection is suspect too and is closed, so that the next requests fail fast or get
    /// fresh connections instead of each finding one dead socket.
    fn discard(&self, server_gone: bool) {
        let mut state = self.lock();
        state.open = state.open.saturating_sub(1);
        let suspects = if server_gone {
            let idle = std::mem::take(&mut state.idle);
            state.open = state.open.saturating_sub(idle.len());
            idle
        } else {
            Vec::new()
        };
        drop(state);
        drop(suspects);
        self.vacancy.notify_one();
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        PoolStats {
            size: self.size,
            open: state.open,
            idle: state.idle.len(),
        }
    }

    /// Closes the pool: waiting checkouts fail, idle connections are closed, the maintainer stops.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let idle = std::mem::take(&mut state.idle);
        state.open = state.open.saturating_sub(idle.len());
        drop(state);
        drop(idle);
        self.returned.notify_all();
        self.vacancy.notify_all();
    }

    /// For the maintainer: waits until the pool has room for another connection. Returns false
    /// once the pool is closed. Every [`SWEEP_INTERVAL`] meanwhile, idle connections made for an
    /// address that has moved since are closed, so that a failover closes every connection to
    /// the old master even when no request comes to find them.
    pub(super) fn wait_for_vacancy(&self) -> bool {
        let mut state = self.lock();
        while !state.closed && state.open >= self.size {
            state = self
                .vacancy
                .wait_timeout(state, SWEEP_INTERVAL)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            if state.idle.iter().any(|conn| !conn.is_current()) {
                let (stale, current): (Vec<Conn>, Vec<Conn>) = std::mem::take(&mut state.idle)
                    .into_iter()
                    .partition(|conn| !conn.is_current());
                state.idle = current;
                state.open = state.open.saturating_sub(stale.len());
                drop(state);
                drop(stale); // closed outside the lock
                state = self.lock();
            }
        }
        !state.closed
    }

    /// The memory budget its connections count against.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// For the maintainer: adds a freshly opened connection.
    pub(super) fn add(&self, mut conn: Conn) {
        conn.attach(Account::new(&self.budget));
        let mut state = self.lock();
        if state.closed {
            return;
        }
        state.open += 1;
        state.down = None;
        state.idle.push(conn);
        drop(state);
        self.returned.notify_one();
    }

    /// For the maintainer: records why connecting failed, so checkouts can fail fast.
    pub(super) fn set_down(&self, why: Error) {
        self.lock().down = Some(why);
        // Wake waiting workers so that they see `down` instead of sleeping out their timeout.
        self.returned.notify_all();
    }

    /// For the maintainer: sleeps `pause`, or less when the pool closes. Returns false if closed.
    pub(super) fn pause(&self, pause: Duration) -> bool {
        let deadline = Instant::now() + pause;
        let mut state = self.lock();
        while !state.closed {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                return true;
            };
            state = self
                .vacancy
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        false
    }
}

/// A connection borrowed from the [`Pool`]; dropping it returns it (or, after an error, frees its
/// slot for a fresh one).
#[derive(Debug)]
pub struct PooledConn<'a> {
    pool: &'a Pool,
    conn: Option<Conn>,
}

impl PooledConn<'_> {
    /// Runs one command. After a transport error the connection is discarded, never reused.
    ///
    /// # Errors
    ///
    /// See [`Conn::call`]; a second call after an error gives [`Error::Unavailable`].
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, Error> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Unavailable("connection already discarded".into()))?;
        let result = conn.call(args);
        if let Err(e) = &result {
            if e.poisons_connection() {
                self.discard(e.server_gone());
            }
        }
        result
    }

    /// Runs several commands in one round trip (see [`Conn::pipeline`]). After an error the
    /// connection is discarded.
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, commands: &[&[A]]) -> (Vec<Value>, Option<Error>) {
        let Some(conn) = self.conn.as_mut() else {
            let gone = Error::Unavailable("connection already discarded".into());
            return (Vec::new(), Some(gone));
        };
        let (values, error) = conn.pipeline(commands);
        if let Some(e) = &error {
            if e.poisons_connection() {
                self.discard(e.server_gone());
            }
        }
        (values, error)
    }

    /// Sends commands whose replies [`PooledConn::receive`] reads (see [`Conn::send`]). After an
    /// error the connection is discarded.
    ///
    /// # Errors
    ///
    /// See [`Conn::send`].
    pub fn send<A: AsRef<[u8]>>(&mut self, commands: &[&[A]]) -> Result<(), Error> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| Error::Unavailable("connection already discarded".into()))?;
        let result = conn.send(commands);
        if let Err(e) = &result {
            if e.poisons_connection() {
                self.discard(e.server_gone());
            }
        }
        result
    }

    /// Reads the replies of what [`PooledConn::send`] sent (see [`Conn::receive`]). After an
    /// error the connection is discarded.
    pub fn receive(&mut self, n: usize) -> (Vec<Value>, Option<Error>) {
        let Some(conn) = self.conn.as_mut() else {
            let gone = Error::Unavailable("connection already discarded".into());
            return (Vec::new(), Some(gone));
        };
        let (values, error) = conn.receive(n);
        if let Some(e) = &error {
            if e.poisons_connection() {
                self.discard(e.server_gone());
            }
        }
        (values, error)
    }

    /// For a connection whose address must be a master: `None` when the replies can be
    /// trusted, else why not, after which the connection is closed. They cannot when the address
    /// moved while they were read (they came from the old master, and a write there may be
    /// lost in the failover) or when one is `READONLY` (the server was demoted: every connection
    /// made there is retired and Sentinel is asked again). Always `None` otherwise.
    pub fn master_verdict(&mut self, values: &[Value]) -> Option<Error> {
        let conn = self.conn.as_ref()?;
        if !conn.wants_master() {
            return None;
        }
        let why = if values.iter().any(is_readonly) {
            conn.report_demoted();
            "the master was demoted to a replica (READONLY) while the request ran; its outcome \
             is unknown, retry"
        } else if !conn.is_current() {
            "the master changed while the request ran (a failover); its outcome is unknown, retry"
        } else {
            return None;
        };
        self.discard(false);
        Some(Error::Unavailable(why.into()))
    }

    fn discard(&mut self, server_gone: bool) {
        if let Some(conn) = self.conn.take() {
            drop(conn);
            self.pool.discard(server_gone);
        }
    }
}

/// A `READONLY` error reply, at the top or one level down (in `EXEC`'s reply).
fn is_readonly(value: &Value) -> bool {
    match value {
        Value::Error(text) => text.starts_with(b"READONLY"),
        Value::Array(items) => items
            .iter()
            .any(|item| matches!(item, Value::Error(text) if text.starts_with(b"READONLY"))),
        _ => false,
    }
}

impl Drop for PooledConn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.put_back(conn);
        }
    }
}
