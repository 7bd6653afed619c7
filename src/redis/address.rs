//! Where a pool's connections, or the subscribed connection, go: one `host:port` that a topology
//! may move (Sentinel's current master; the cluster node the subscriptions live on). For one
//! server it never moves.
//!
//! Whoever connects reads the address at each connection attempt; a move bumps the generation,
//! so a holder of a connection made before the move can tell that it points at the old place.
//!
//! An address may also say what must answer there ([`Role`]): Sentinel's master address is
//! [`Role::Master`], and every new connection to it must see `ROLE` say `master` before it
//! serves. Such an address may start *vacant* (no master known yet: nothing is connected to);
//! and a connection that finds its master demoted ([`Address::demoted`]) bumps the generation
//! without a move, so that every connection made there is retired.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::config::RedisTarget;

/// A `host:port` that can move, and how many times it has.
#[derive(Debug)]
pub struct Address {
    at: RwLock<(String, u16)>,
    generation: AtomicU64,
    role: Role,
    /// Why there is nowhere to connect to yet; `None` once the address has a place.
    vacant: RwLock<Option<String>>,
}

/// What must answer at an address before a connection made there may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Whatever answers: one fixed server.
    Any,
    /// A master: `ROLE` must say `master` (Sentinel), and a `READONLY` reply means it was
    /// demoted.
    Master,
}

impl Address {
    /// An address starting at `target`'s host and port.
    pub fn new(target: &RedisTarget) -> Arc<Address> {
        Arc::new(Address {
            at: RwLock::new((target.host.clone(), target.port)),
            generation: AtomicU64::new(0),
            role: Role::Any,
            vacant: RwLock::new(None),
        })
    }

    /// A master's address not known yet: vacant, `why` saying so, until the first
    /// [`Address::move_to`].
    pub fn for_master(why: String) -> Arc<Address> {
        Arc::new(Address {
            at: RwLock::new((String::new(), 0)),
            generation: AtomicU64::new(0),
            role: Role::Master,
            vacant: RwLock::new(Some(why)),
        })
    }

    /// What must answer at the address.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Why there is nowhere to connect to yet; `None` once the address has a place.
    pub fn vacant(&self) -> Option<String> {
        self.vacant
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// While the address is vacant, replaces the reason (what requests are told meanwhile).
    pub fn explain_vacancy(&self, why: String) {
        let mut vacant = self.vacant.write().unwrap_or_else(PoisonError::into_inner);
        if vacant.is_some() {
            *vacant = Some(why);
        }
    }

    /// Leaves the address vacant, saying `why` (Sentinel is failing the master over): the
    /// generation is bumped so that every connection made there is retired, and no new one is
    /// made until the next [`Address::move_to`] (which may name the same place again).
    pub fn vacate(&self, why: String) {
        let _at = self.at.write().unwrap_or_else(PoisonError::into_inner);
        *self.vacant.write().unwrap_or_else(PoisonError::into_inner) = Some(why);
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Says that the server at the address, as of `generation`, is no longer a master (a
    /// connection made then got `READONLY`): the generation is bumped, without a move, so every
    /// connection made there is retired and new ones must pass the role check again. Returns
    /// false when the generation had already moved on (someone else said so first).
    pub fn demoted(&self, generation: u64) -> bool {
        let _at = self.at.write().unwrap_or_else(PoisonError::into_inner);
        self.generation
            .compare_exchange(
                generation,
                generation.wrapping_add(1),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
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
        let mut vacant = self.vacant.write().unwrap_or_else(PoisonError::into_inner);
        if at.0 == host && at.1 == port && vacant.is_none() {
            return false;
        }
        *at = (host.to_owned(), port);
        *vacant = None;
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
        assert_eq!((address.role(), address.vacant()), (Role::Any, None));
    }

    #[test]
    fn a_master_address_is_vacant_until_placed_and_a_demotion_retires_one_generation() {
        let address = Address::for_master("no master yet".into());
        assert_eq!(address.role(), Role::Master);
        assert_eq!(address.vacant().as_deref(), Some("no master yet"));
        address.explain_vacancy("sentinels unreachable".into());
        assert_eq!(address.vacant().as_deref(), Some("sentinels unreachable"));
        assert!(address.move_to("127.0.0.1", 7000));
        assert_eq!(address.vacant(), None);
        address.explain_vacancy("ignored once placed".into());
        assert_eq!(address.vacant(), None);
        assert_eq!(address.generation(), 1);
        assert!(address.demoted(1), "the first to see READONLY bumps it");
        assert!(
            !address.demoted(1),
            "a second report of the same generation does not"
        );
        assert_eq!(address.generation(), 2);
        assert_eq!(address.host_port(), ("127.0.0.1".to_string(), 7000));
        address.vacate("failing over".into());
        assert_eq!(address.vacant().as_deref(), Some("failing over"));
        assert_eq!(address.generation(), 3);
        assert!(
            address.move_to("127.0.0.1", 7000),
            "the same place, vacant: a move"
        );
        assert_eq!((address.vacant(), address.generation()), (None, 4));
    }
}
