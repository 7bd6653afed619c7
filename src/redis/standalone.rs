//! One Redis server at a fixed address: the pool of the configured database, a small pool for
//! each other database a request names, the maintainer thread, and the shared subscriptions.
//! Sentinel's backend is this too, at an address its watcher moves ([`Standalone::start_at`]).

use std::borrow::Cow;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::backend::{Backend, Command, Outcome};
use super::subscriber::Hub;
use super::transaction::{self, Slots};
use super::{maintainer, Address, Databases, Error, Pool, PoolStats};
use crate::config::Config;
use crate::memory::Budget;
use crate::metrics::Metrics;
use crate::resp::Value;

/// One Redis server.
#[derive(Debug)]
pub struct Standalone {
    pool: Arc<Pool>,
    databases: Databases,
    hub: Arc<Hub>,
    transactions: Slots,
    checkout_timeout: Duration,
    maintainer: Mutex<Option<JoinHandle<()>>>,
}

impl Standalone {
    /// Starts the maintainer, which fills the pool of `cfg.redis` in the background (Redis may
    /// well be down at start: requests get 503 until it is up).
    ///
    /// # Errors
    ///
    /// When the maintainer thread cannot start.
    pub fn start(
        cfg: &Config,
        metrics: Arc<Metrics>,
        budget: &Arc<Budget>,
    ) -> io::Result<Standalone> {
        Standalone::start_at(cfg, metrics, budget, Address::new(&cfg.redis))
    }

    /// [`Standalone::start`] at an address someone else may move (Sentinel's master), with the
    /// login and database of `cfg.redis`.
    ///
    /// # Errors
    ///
    /// When the maintainer thread cannot start.
    pub fn start_at(
        cfg: &Config,
        metrics: Arc<Metrics>,
        budget: &Arc<Budget>,
        address: Arc<Address>,
    ) -> io::Result<Standalone> {
        let pool = Arc::new(Pool::new(cfg.pool_size, cfg.ping_interval, budget));
        let databases = Databases::new(
            Arc::clone(&pool),
            Arc::clone(&address),
            cfg.clone(),
            cfg.webdis.db_pool_size,
            cfg.webdis.max_db_pools,
            Arc::clone(&metrics),
        );
        let maintainer = maintainer::spawn(
            Arc::clone(&pool),
            Arc::clone(&address),
            metrics,
            cfg.clone(),
        )?;
        Ok(Standalone {
            pool,
            databases,
            hub: Hub::new(cfg.clone(), address, budget),
            transactions: Slots::new(cfg.max_transactions),
            checkout_timeout: cfg.checkout_timeout,
            maintainer: Mutex::new(Some(maintainer)),
        })
    }

    /// Runs `commands` in one round trip on a connection of `db`'s pool (see [`round_trip`]).
    fn run_on(&self, db: Option<u32>, commands: &[&[Cow<'_, [u8]>]]) -> Vec<Result<Value, Error>> {
        let results = match self.databases.pool(db) {
            Ok(pool) => round_trip(&pool, commands, self.checkout_timeout),
            Err(e) => return commands.iter().map(|_| Err(e.clone())).collect(),
        };
        if let Some(Err(Error::NoSuchDatabase(db))) = results.first() {
            self.databases.refused(*db);
        }
        results
    }
}

impl Backend for Standalone {
    /// One round trip per database the commands name (almost always just one).
    fn run(&self, commands: &[Command<'_>]) -> Vec<Result<Value, Error>> {
        let Some(first) = commands.first() else {
            return Vec::new();
        };
        if commands.iter().all(|c| c.db == first.db) {
            // The usual case: every command for one database, one round trip.
            let args: Vec<&[Cow<'_, [u8]>]> = commands.iter().map(|c| c.args).collect();
            return self.run_on(first.db, &args);
        }
        let mut results: Vec<Option<Result<Value, Error>>> =
            commands.iter().map(|_| None).collect();
        let mut done: Vec<Option<u32>> = Vec::new();
        for command in commands {
            if done.contains(&command.db) {
                continue;
            }
            done.push(command.db);
            let picked: Vec<usize> = (0..commands.len())
                .filter(|k| commands.get(*k).is_some_and(|c| c.db == command.db))
                .collect();
            let args: Vec<&[Cow<'_, [u8]>]> = picked
                .iter()
                .filter_map(|k| commands.get(*k).map(|c| c.args))
                .collect();
            let replies = self.run_on(command.db, &args);
            for (k, reply) in picked.into_iter().zip(replies) {
                if let Some(slot) = results.get_mut(k) {
                    *slot = Some(reply);
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// On the configured database's pool, within the `--max-transactions` cap.
    fn transaction(&self, commands: &[&[Cow<'_, [u8]>]]) -> Result<Outcome, Error> {
        transaction::run(
            &self.pool,
            &self.transactions,
            commands,
            self.checkout_timeout,
        )
    }

    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn stats(&self) -> PoolStats {
        self.pool.stats()
    }

    fn close(&self) {
        self.pool.close();
        self.databases.close_others();
        self.hub.close();
        crate::redis::join_thread(&self.maintainer);
    }
}

/// Runs `commands` in one round trip on a pooled connection; one result per command. When
/// Redis had closed the pooled connection before the commands reached it (they did not run),
/// they are sent once more on another connection.
pub(super) fn round_trip(
    pool: &Pool,
    commands: &[&[Cow<'_, [u8]>]],
    checkout_timeout: Duration,
) -> Vec<Result<Value, Error>> {
    if commands.is_empty() {
        return Vec::new();
    }
    let mut retried = false;
    loop {
        let (values, error) = match pool.checkout(checkout_timeout) {
            Ok(mut conn) => {
                let (values, error) = conn.pipeline(commands);
                match conn.master_verdict(&values) {
                    // From an old or demoted master (Sentinel): no reply can be trusted.
                    Some(e) => (Vec::new(), Some(e)),
                    None => (values, error),
                }
            }
            Err(e) => (Vec::new(), Some(e)),
        };
        match error {
            None => return values.into_iter().map(Ok).collect(),
            Some(Error::Stale) if !retried && values.is_empty() => retried = true,
            Some(e) => {
                let mut results: Vec<_> = values.into_iter().map(Ok).collect();
                results.resize_with(commands.len(), || Err(e.clone()));
                return results;
            }
        }
    }
}
