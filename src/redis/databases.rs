//! The pools by database: the configured database's pool, and a small one for each other
//! database a request has named (webdis's `/7/GET/key`).
//!
//! A pooled connection never runs `SELECT` after its handshake, so a connection of one database
//! can never answer for another. The pool of another database is made on first use, with
//! `db_pool_size` connections and a maintainer thread of its own (`redis-db7`): the
//! process's shape grows only when a request names another database, by one thread and a few
//! connections per database, bounded by the number of databases Redis has.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::{maintainer, Error, Pool};
use crate::config::Config;
use crate::metrics::Metrics;

/// The pools of every database in use.
#[derive(Debug)]
pub struct Databases {
    main: Arc<Pool>,
    cfg: Config,
    db_pool_size: usize,
    metrics: Arc<Metrics>,
    others: Mutex<Vec<Other>>,
}

#[derive(Debug)]
struct Other {
    db: u32,
    pool: Arc<Pool>,
    maintainer: Option<JoinHandle<()>>,
}

impl Databases {
    /// The pools around `main`, the pool of `cfg.redis.db`.
    pub fn new(
        main: Arc<Pool>,
        cfg: Config,
        db_pool_size: usize,
        metrics: Arc<Metrics>,
    ) -> Databases {
        Databases {
            main,
            cfg,
            db_pool_size,
            metrics,
            others: Mutex::new(Vec::new()),
        }
    }

    /// The pool for `db` (`None`: the configured database), made on first use.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when the maintainer thread of a new pool cannot start.
    pub fn pool(&self, db: Option<u32>) -> Result<Arc<Pool>, Error> {
        let db = match db {
            Some(db) if db != self.cfg.redis.db => db,
            _ => return Ok(Arc::clone(&self.main)),
        };
        // The list is short (at most the databases Redis has) and only read under the lock.
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(other) = others.iter().find(|o| o.db == db) {
            return Ok(Arc::clone(&other.pool));
        }
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
            Arc::clone(&self.metrics),
            cfg,
            maintainer::REFUSED_DB_BACKOFF,
        )
        .map_err(|e: io::Error| {
            Error::Unavailable(format!("cannot start a pool for db {db}: {e}"))
        })?;
        others.push(Other {
            db,
            pool: Arc::clone(&pool),
            maintainer: Some(handle),
        });
        Ok(pool)
    }

    /// Closes the pools of other databases and joins their maintainers (the main pool is closed
    /// by its owner).
    pub fn close_others(&self) {
        let mut others = self.others.lock().unwrap_or_else(PoisonError::into_inner);
        for other in others.iter_mut() {
            other.pool.close();
            if let Some(handle) = other.maintainer.take() {
                let _ = handle.join();
            }
        }
    }
}
