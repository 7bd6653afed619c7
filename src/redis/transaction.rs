//! `MULTI` … `EXEC` on an exclusive connection, and the cap on how many run at once.
//!
//! A transaction must own its connection from `MULTI` to `EXEC`: two transactions interleaved on
//! one connection give `ERR MULTI calls can not be nested` (serverless-redis-http's issue #25).
//! So a transaction checks out a pooled connection like any request, but sends everything in one
//! write and reads exactly `N + 2` replies (`+OK`, one `+QUEUED` or error per command, `EXEC`'s
//! reply) before giving it back, so no other request can reach it in between.
//!
//! Held connections cannot serve the ordinary requests, so [`Slots`] caps how many transactions
//! hold one at once (`--max-transactions`); one more waits for a slot up to the checkout timeout,
//! then gets [`Error::Unavailable`] (503).
//!
//! Must never: send a transaction twice. After a timeout or a broken connection it may have run,
//! so the connection is closed (the pool replaces it) and the error goes back to the client. Only
//! a connection Redis had closed before a byte of the transaction reached it ([`Error::Stale`],
//! nothing ran) is tried once more.

use std::borrow::Cow;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::backend::Outcome;
use super::{Error, Pool};
use crate::resp::Value;

/// A counting semaphore: how many transactions hold a connection now, out of how many.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    taken: Mutex<usize>,
    freed: Condvar,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Slots>();
};

/// One taken slot; dropping it gives it back.
#[derive(Debug)]
pub struct Slot<'a> {
    slots: &'a Slots,
}

impl Slots {
    /// Room for `max` transactions at once (at least one).
    pub fn new(max: usize) -> Slots {
        Slots {
            max: max.max(1),
            taken: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// The count survives a panic elsewhere: it is a plain number, always consistent.
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a slot, waiting at most `timeout` for one to come free.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when none came free in time.
    pub fn take(&self, timeout: Duration) -> Result<Slot<'_>, Error> {
        let deadline = Instant::now() + timeout;
        let mut taken = self.lock();
        while *taken >= self.max {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|left| !left.is_zero())
                .ok_or_else(|| {
                    Error::Unavailable(format!(
                        "{} transactions already hold a connection (--max-transactions)",
                        self.max
                    ))
                })?;
            taken = self
                .freed
                .wait_timeout(taken, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        *taken += 1;
        Ok(Slot { slots: self })
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        {
            let mut taken = self.slots.lock();
            *taken = taken.saturating_sub(1);
        }
        self.slots.freed.notify_one();
    }
}

/// Runs `commands` between `MULTI` and `EXEC` on one connection of `pool` (see the module docs).
pub fn run(
    pool: &Pool,
    slots: &Slots,
    commands: &[&[Cow<'_, [u8]>]],
    checkout_timeout: Duration,
) -> Result<Outcome, Error> {
    let _slot = slots.take(checkout_timeout)?;
    let multi: [Cow<'_, [u8]>; 1] = [Cow::Borrowed(b"MULTI")];
    let exec: [Cow<'_, [u8]>; 1] = [Cow::Borrowed(b"EXEC")];
    let mut all: Vec<&[Cow<'_, [u8]>]> = Vec::with_capacity(commands.len().saturating_add(2));
    all.push(&multi);
    all.extend_from_slice(commands);
    all.push(&exec);
    let mut retried = false;
    let replies = loop {
        let mut conn = pool.checkout(checkout_timeout)?;
        match conn.pipeline(&all) {
            (values, None) => match conn.master_verdict(&values) {
                // From an old or demoted master (Sentinel): whether it ran is not known.
                Some(e) => return Err(e),
                None => break values,
            },
            (values, Some(Error::Stale)) if !retried && values.is_empty() => retried = true,
            (_, Some(e)) => return Err(e),
        }
    };
    Ok(outcome(replies))
}

/// Reads the `N + 2` replies: `MULTI`'s, one per queued command, `EXEC`'s.
fn outcome(mut replies: Vec<Value>) -> Outcome {
    let exec = replies.pop();
    let first_refusal = replies
        .iter()
        .find_map(|r| r.error_text().map(<[u8]>::to_vec));
    match exec {
        Some(Value::Array(values)) => Outcome::Committed(values),
        _ => Outcome::Aborted(first_refusal.unwrap_or_else(|| match exec {
            Some(Value::Error(text)) => text,
            _ => b"EXECABORT Transaction discarded".to_vec(),
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_array_commits_and_a_queue_refusal_aborts_with_its_text() {
        let ok = |t: &[u8]| Value::Simple(t.to_vec());
        let committed = outcome(vec![
            ok(b"OK"),
            ok(b"QUEUED"),
            Value::Array(vec![Value::Integer(1)]),
        ]);
        assert_eq!(committed, Outcome::Committed(vec![Value::Integer(1)]));
        let aborted = outcome(vec![
            ok(b"OK"),
            ok(b"QUEUED"),
            Value::Error(b"ERR unknown command 'NOPE'".to_vec()),
            Value::Error(b"EXECABORT Transaction discarded because of previous errors.".to_vec()),
        ]);
        assert_eq!(
            aborted,
            Outcome::Aborted(b"ERR unknown command 'NOPE'".to_vec())
        );
    }

    #[test]
    fn slots_cap_and_come_back() {
        let slots = Slots::new(2);
        let a = slots.take(Duration::from_millis(10)).unwrap();
        let _b = slots.take(Duration::from_millis(10)).unwrap();
        assert!(matches!(
            slots.take(Duration::from_millis(10)),
            Err(Error::Unavailable(_))
        ));
        drop(a);
        assert!(slots.take(Duration::from_millis(10)).is_ok());
    }
}
