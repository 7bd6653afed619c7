//! A master found and followed through Redis Sentinel (`--sentinel`, `--sentinel-master`).
//!
//! ```text
//!   redis-sentinel thread ── SENTINEL get-master-addr-by-name, +switch-master ──► sentinels
//!        │ move_to(new master)
//!        ▼
//!   Address (Role::Master) ◄── read at every attempt ── redis-maintainer: connect, ROLE = master?
//!        │ generation                                   └─► Pool (connections tagged with it)
//!        └──────────────────────────────────────────────► pub/sub Hub: lost, then re-confirmed
//! ```
//!
//! It is the single-server backend ([`Standalone`]) at an [`Address`] that the watcher
//! ([`watcher`]) moves, so there is no second pool, maintainer or hub to keep in step:
//!
//! * **resolve**: the watcher asks the sentinels in turn, with short timeouts, where the master
//!   is; the first that answers moves to the front, and the others it knows are learned. Until
//!   one answers, the address is vacant and requests get 503.
//! * **confirm**: every new pooled connection must see `ROLE` say `master` before it serves
//!   (the maintainer, for a [`Role::Master`] address). A replica, or an old master that came
//!   back, is never written to: requests get 503 meanwhile.
//! * **follow**: on `+switch-master` (or a periodic re-resolve, since a pushed message can be
//!   missed) the address moves; every pooled connection made before is closed instead of lent
//!   (one in flight answers 503: its write reached the old master), the pool refills at the new
//!   master, and the pub/sub connection moves, its subscribers told `lost` then re-confirmed.
//! * **demotion**: a `READONLY` reply on a master's connection retires the address's generation
//!   (every connection made there), asks the watcher to resolve at once, and answers 503.
//!
//! Must never: answer 2xx from a connection whose master has moved or was demoted; write to a
//! server `ROLE` does not call master. What it cannot prevent is Redis's own: replication is
//! asynchronous, so a write the old master acknowledged just before it failed can be lost.

use std::borrow::Cow;
use std::io;
use std::sync::Arc;

use super::address::Role;
use super::backend::{Backend, Command, Outcome};
use super::subscriber::Hub;
use super::{Address, Error, PoolStats, Standalone};
use crate::config::Config;
use crate::memory::Budget;
use crate::metrics::Metrics;
use crate::resp::Value;

pub mod watcher;

use watcher::Watcher;

/// The master a set of sentinels names, followed through failovers.
#[derive(Debug)]
pub struct Sentinel {
    master: Standalone,
    watcher: Watcher,
}

impl Sentinel {
    /// Starts the watcher, which looks for the master `cfg.sentinel.master` through
    /// `cfg.sentinel.addrs`, and the single-server backend at the address it finds. Neither
    /// needs a sentinel or the master to be up: requests get 503 until both are.
    ///
    /// # Errors
    ///
    /// When a thread cannot start.
    pub fn start(cfg: &Config, metrics: Arc<Metrics>, budget: &Arc<Budget>) -> io::Result<Self> {
        let name = cfg.sentinel.master.clone().unwrap_or_default();
        let address = Address::for_master(format!(
            "no sentinel has named the master '{name}' yet (asking {})",
            watcher::list(&cfg.sentinel.addrs)
        ));
        debug_assert_eq!(address.role(), Role::Master);
        let watcher = Watcher::spawn(cfg, Arc::clone(&address))?;
        let master = Standalone::start_at(cfg, metrics, budget, address)?;
        Ok(Sentinel { master, watcher })
    }
}

impl Backend for Sentinel {
    fn run(&self, commands: &[Command<'_>]) -> Vec<Result<Value, Error>> {
        self.master.run(commands)
    }

    fn transaction(&self, commands: &[&[Cow<'_, [u8]>]]) -> Result<Outcome, Error> {
        self.master.transaction(commands)
    }

    fn hub(&self) -> &Arc<Hub> {
        self.master.hub()
    }

    fn stats(&self) -> PoolStats {
        self.master.stats()
    }

    fn close(&self) {
        self.watcher.close();
        self.master.close();
    }
}
