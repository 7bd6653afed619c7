//! One memory budget for the whole process (`--max-memory`): every buffer that grows with what
//! clients send or Redis answers is counted against it.
//!
//! Per-connection limits bound what one client can make the gateway hold; the budget bounds the
//! sum. Owners of such buffers (a client connection's input and output, a stream's outbox, a
//! Redis connection's reply buffer, a request body being served) hold an [`Account`] and keep it
//! equal to what they hold. Before a large allocation that a client asks for (a declared body), the
//! owner first [`Budget::try_reserve`]s it, so that the gateway refuses (503) instead of
//! allocating; what cannot be refused (an answer already built, bytes already read) is counted
//! anyway, and the poll loop sheds the greediest connections while the budget is spent.
//!
//! Lock-free: one atomic counter, updated with `Relaxed` ordering (the budget is a bound, not a
//! synchronisation point).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The budget of the whole process.
pub struct Budget {
    limit: usize,
    used: AtomicUsize,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit)
            .field("used", &self.used())
            .finish()
    }
}

impl Budget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            used: AtomicUsize::new(0),
        })
    }

    /// A budget that is never spent (for tests and tools).
    pub fn unlimited() -> Arc<Budget> {
        Budget::new(usize::MAX)
    }

    /// The limit, in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes counted now.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// True when nothing more may be reserved: what is counted has reached the limit.
    pub fn is_spent(&self) -> bool {
        self.used() >= self.limit
    }

    /// Counts `n` more bytes if that keeps the total within the limit; false (nothing counted)
    /// otherwise.
    pub fn try_reserve(&self, n: usize) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    /// Counts `n` more bytes, past the limit if need be (memory already allocated).
    fn add(&self, n: usize) {
        self.used.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts `n` bytes fewer.
    fn sub(&self, n: usize) {
        // Never below zero, even after a bug elsewhere.
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(n))
            });
    }
}

/// What one owner holds of the budget; given back when dropped.
#[derive(Debug)]
pub struct Account {
    budget: Arc<Budget>,
    held: usize,
}

impl Account {
    /// An account holding nothing yet.
    pub fn new(budget: &Arc<Budget>) -> Account {
        Account {
            budget: Arc::clone(budget),
            held: 0,
        }
    }

    /// An account holding `n` bytes already counted (see [`Budget::try_reserve`]).
    pub fn reserved(budget: &Arc<Budget>, n: usize) -> Account {
        Account {
            budget: Arc::clone(budget),
            held: n,
        }
    }

    /// Makes the account hold exactly `bytes`, counted whatever the budget says (the memory is
    /// already allocated).
    pub fn set(&mut self, bytes: usize) {
        if bytes > self.held {
            self.budget.add(bytes - self.held);
        } else {
            self.budget.sub(self.held - bytes);
        }
        self.held = bytes;
    }

    /// Makes the account hold at least `bytes` if the budget allows it; false (nothing changed)
    /// when it does not.
    pub fn try_grow_to(&mut self, bytes: usize) -> bool {
        if bytes <= self.held {
            return true;
        }
        if self.budget.try_reserve(bytes - self.held) {
            self.held = bytes;
            true
        } else {
            false
        }
    }

    /// What it holds.
    pub fn held(&self) -> usize {
        self.held
    }

    /// The budget it counts against.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.budget
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        self.budget.sub(self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_stop_at_the_limit_and_accounts_give_back() {
        let budget = Budget::new(100);
        assert!(budget.try_reserve(60));
        assert!(!budget.try_reserve(41), "past the limit: refused");
        assert_eq!(budget.used(), 60);
        let mut a = Account::reserved(&budget, 60);
        assert!(a.try_grow_to(100));
        assert!(budget.is_spent());
        assert!(!a.try_grow_to(101));
        a.set(150); // already allocated: counted past the limit
        assert_eq!(budget.used(), 150);
        a.set(10);
        assert_eq!(budget.used(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn many_accounts_add_up() {
        let budget = Budget::new(1_000);
        let mut accounts: Vec<Account> = (0..10).map(|_| Account::new(&budget)).collect();
        for (i, a) in accounts.iter_mut().enumerate() {
            a.set(i * 10);
        }
        assert_eq!(budget.used(), 450);
        accounts.truncate(5);
        assert_eq!(budget.used(), 100);
    }
}
