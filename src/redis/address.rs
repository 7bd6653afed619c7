//! Where a pool's connections, or the subscribed connection, go: one `host:port` that a topology
//! may move (Sentinel's current master; the cluster node the subscriptions live on). For one
//! server it never moves.
//!
//! Whoever connects reads the address at each connection attempt; a move bumps the generation,
//! so a holder of a connection made before the move can tell that it points at the old place.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::config::RedisTarget;

/// A `host:port` that can move, and how many times it has.
#[derive(Debug)]
pub struct Address {
    at: RwLock<(String, u16)>,
    generation: AtomicU64,
}

impl Address {
    /// An address starting at `target`'s host and port.
    pub fn new(target: &RedisTarget) -> Arc<Address> {
        Arc::new(Address {
            at: RwLock::new((target.host.clone(), target.port)),
            generation: AtomicU64::new(0),
        })
    }

    /// `base` (its user, password and database) at the current host and port.
    pub fn target(&self, base: &RedisTarget) -> RedisTarget {
        let at = self.at.read().unwrap_or_else(PoisonError::into_inner);
        RedisTarget {
            host: at.0.clone(),
            port: at.1,
            ..base.clone()
        }
    }

    /// The current host and port.
    pub fn host_port(&self) -> (String, u16) {
        self.at
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many times the address has moved.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Moves the address to `host:port`; returns false (and keeps the generation) when it is
    /// already there.
    pub fn move_to(&self, host: &str, port: u16) -> bool {
        let mut at = self.at.write().unwrap_or_else(PoisonError::into_inner);
        if at.0 == host && at.1 == port {
            return false;
        }
        *at = (host.to_owned(), port);
        self.generation.fetch_add(1, Ordering::AcqRel);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn a_move_changes_the_target_and_the_generation_once() {
        let mut base = Config::default().redis;
        base.password = Some("secret".into());
        base.db = 3;
        let address = Address::new(&base);
        assert_eq!(address.generation(), 0);
        assert!(address.move_to("10.0.0.2", 7000));
        assert!(!address.move_to("10.0.0.2", 7000), "same place: no move");
        assert_eq!(address.generation(), 1);
        let target = address.target(&base);
        assert_eq!((target.host.as_str(), target.port), ("10.0.0.2", 7000));
        assert_eq!((target.password.as_deref(), target.db), (Some("secret"), 3));
    }
}
