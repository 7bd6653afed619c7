//! The pools by database: the configured database's pool, and a small one for each other
//! database a request has named (webdis's `/7/GET/key`).
//!
//! A pooled connection never runs `SELECT` after its handshake, so a connection of one database
//! can never answer for another. The pool of another database is made on first use, with
//! `db_pool_size` connections and a maintainer thread of its own (`redis-db7`). Client input
//! must not grow the process without a bound, so:
//!
//! * a pool is made only for a database Redis has: the count is learnt once with
//!   `CONFIG GET databases` (or, where `CONFIG` is renamed away, from the first database Redis
//!   refuses), and a request for a higher one gets [`Error::NoSuchDatabase`] (400) at once;
//! * at most `max_db_pools` such pools exist at once: a new one replaces the least recently
//!   used pool no request is using, and when every one is in use the request gets
//!   [`Error::Unavailable`] (503);
//! * a pool unused for [`IDLE_DB_POOL_TIMEOUT`] is closed (its connections and its thread end)
//!   the next time any other database is named.
//!
//! Each cause is logged once per process, never once per pool or request.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{maintainer, Address, Error, Pool};
use crate::config::Config;
use crate::log;
use crate::metrics::Metrics;
use crate::resp::Value;

/// How long the pool of another database may stay unused before it is closed.
pub const IDLE_DB_POOL_TIMEOUT: Duration = Duration::from_secs(60);

/// The pools of every database in use.
#[derive(Debug)]
pub struct Databases {
    main: Arc<Pool>,
    /// Where every pool's connections go (the maintainers read it at each attempt).
    address: Arc<Address>,
    cfg: Config,
    db_pool_size: usize,
    max_db_pools: usize,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
    /// Whether "every database pool is in use" has been logged.
    full_logged: AtomicBool,
}

#[derive(Debug, Default)]
struct State {
    others: Vec<Other>,
    /// The number of databases Redis has, once known.
    count: Option<u32>,
    /// Whether `CONFIG GET databases` has answered (with a count or a refusal).
    asked: bool,
}

#[derive(Debug)]
struct Other {
    db: u32,
    pool: Arc<Pool>,
    last_used: Instant,
    maintainer: Option<JoinHandle<()>>,
}

impl Other {
    /// No request holds the pool: the list and the maintainer thread hold the only references.
    fn unused(&self) -> bool {
        Arc::strong_count(&self.pool) <= 2
    }

    /// Closes the pool; its maintainer thread ends by itself. The handle is returned so that
    /// whoever needs to wait for the thread can join it outside the lock.
    fn close(mut self) -> Option<JoinHandle<()>> {
        self.pool.close();
        self.maintainer.take()
    }
}

impl Databases {
    /// The pools around `main`, the pool of `cfg.redis.db`; at most `max_db_pools` others.
    pub fn new(
        main: Arc<Pool>,
        address: Arc<Address>,
        cfg: Config,
        db_pool_size: usize,
        max_db_pools: usize,
        metrics: Arc<Metrics>,
    ) -> Databases {
        Databases {
            main,
            address,
            cfg,
            db_pool_size,
            max_db_pools,
            metrics,
            state: Mutex::new(State::default()),
            full_logged: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pool for `db` (`None`: the configured database), made on first use.
    ///
    /// # Errors
    ///
    /// [`Error::NoSuchDatabase`] when Redis has no database `db`; [`Error::Unavailable`] when
    /// every one of the `max_db_pools` pools is in use or a maintainer thread cannot start.
    pub fn pool(&self, db: Option<u32>) -> Result<Arc<Pool>, Error> {
        let db = match db {
            Some(db) if db != self.cfg.redis.db => db,
            _ => return Ok(Arc::clone(&self.main)),
        };
        self.learn_count();
        let now = Instant::now();
        let mut state = self.lock();
        if state.count.is_some_and(|count| db >= count) {
            return Err(Error::NoSuchDatabase(db));
        }
        if let Some(other) = state.others.iter_mut().find(|o| o.db == db) {
            other.last_used = now;
            return Ok(Arc::clone(&other.pool));
        }
        // Close the pools unused for a while, then make room for one more if needed.
        let (stale, mut kept): (Vec<Other>, Vec<Other>) = std::mem::take(&mut state.others)
            .into_iter()
            .partition(|o| o.unused() && now.duration_since(o.last_used) >= IDLE_DB_POOL_TIMEOUT);
        if kept.len() >= self.max_db_pools.max(1) {
            let oldest = kept
                .iter()
                .enumerate()
                .filter(|(_, o)| o.unused())
                .min_by_key(|(_, o)| o.last_used)
                .map(|(k, _)| k);
            match oldest {
                Some(k) => drop(kept.swap_remove(k).close()),
                None => {
                    state.others = kept;
                    drop(state);
                    stale.into_iter().for_each(|o| drop(o.close()));
                    if !self.full_logged.swap(true, Ordering::Relaxed) {
                        log::warn(format_args!(
                            "all {} database pools (--max-db-pools) are in use: requests naming \
                             yet another database get 503 until one is free",
                            self.max_db_pools
                        ));
                    }
                    return Err(Error::Unavailable(format!(
                        "all {} database pools (--max-db-pools) are in use; retry",
                        self.max_db_pools
                    )));
                }
            }
        }
        stale.into_iter().for_each(|o| drop(o.close()));
        let pool = Arc::new(Pool::new(
            self.db_pool_size,
            self.cfg.ping_interval,
            self.main.budget(),
        ));
        let mut cfg = self.cfg.clone();
        cfg.redis.db = db;
        let handle = maintainer::spawn_named(
            format!("redis-db{db}"),
            Arc::clone(&pool),
            Arc::clone(&self.address),
            Arc::clone(&self.metrics),
            cfg,
            maintainer::REFUSED_DB_BACKOFF,
        )
        .map_err(|e: io::Error| {
            Error::Unavailable(format!("cannot start a pool for db {db}: {e}"))
        });
        let handle = match handle {
            Ok(handle) => handle,
            Err(e) => {
                state.others = kept;
                return Err(e);
            }
        };
        kept.push(Other {
            db,
            pool: Arc::clone(&pool),
            last_used: now,
            maintainer: Some(handle),
        });
        state.others = kept;
        Ok(pool)
    }

    /// Asks Redis once how many databases it has (`CONFIG GET databases`). While Redis is
    /// unreachable it is asked again at the next request; a refusal (e.g. `CONFIG` renamed) is
    /// final and leaves [`Databases::refused`] to learn the bound.
    fn learn_count(&self) {
        if self.lock().asked {
            return;
        }
        let reply = match self.main.checkout(self.cfg.checkout_timeout) {
            Ok(mut conn) => conn.call(&[&b"CONFIG"[..], b"GET", b"databases"]),
            Err(e) => Err(e),
        };
        let count = match reply {
            Ok(Value::Array(items)) => parse_count(&items),
            Ok(Value::Map(pairs)) => {
                let items: Vec<Value> = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
                parse_count(&items)
            }
            Ok(_) => None,
            Err(_) => return, // Redis unreachable or busy: ask again next time
        };
        let mut state = self.lock();
        state.asked = true;
        if count.is_some() {
            state.count = count;
        }
    }

    /// Called when Redis refused database `db` (`ERR DB index is out of range`): no database
    /// from `db` on exists, so their pools are closed and never made again.
    pub fn refused(&self, db: u32) {
        let mut state = self.lock();
        let bound = state.count.map_or(db, |count| count.min(db));
        let first = state.count != Some(bound);
        state.count = Some(bound);
        let (gone, kept): (Vec<Other>, Vec<Other>) = std::mem::take(&mut state.others)
            .into_iter()
            .partition(|o| o.db >= bound);
        state.others = kept;
        drop(state);
        gone.into_iter().for_each(|o| drop(o.close()));
        if first {
            log::info(format_args!(
                "redis refused database {db}: requests naming database {bound} or above get 400"
            ));
        }
    }

    /// How many pools of other databases are open.
    pub fn open_pools(&self) -> usize {
        self.lock().others.len()
    }

    /// Closes the pools of other databases and joins their maintainers (the main pool is closed
    /// by its owner).
    pub fn close_others(&self) {
        let others = std::mem::take(&mut self.lock().others);
        for handle in others.into_iter().filter_map(Other::close) {
            let _ = handle.join();
        }
    }
}

/// The count in a `CONFIG GET databases` reply (`["databases", "16"]`).
fn parse_count(items: &[Value]) -> Option<u32> {
    match items {
        [Value::Bulk(name), Value::Bulk(count)] if name.eq_ignore_ascii_case(b"databases") => {
            std::str::from_utf8(count).ok()?.parse().ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_is_read_from_config_get() {
        let reply = [
            Value::Bulk(b"databases".to_vec()),
            Value::Bulk(b"16".to_vec()),
        ];
        assert_eq!(parse_count(&reply), Some(16));
        assert_eq!(parse_count(&[]), None);
        let bad = [
            Value::Bulk(b"databases".to_vec()),
            Value::Bulk(b"x".to_vec()),
        ];
        assert_eq!(parse_count(&bad), None);
    }
}
