//! What reaches the poll loop from other threads, and how it is woken for it.
//!
//! ```text
//!   acceptor threads ── new connections ──┐
//!                                         ├──► Inbox ──(take, or wait with a deadline)──► poll loop
//!   workers ── served connections ────────┤
//!   watchers ── readable connections ─────┘
//! ```
//!
//! The poll loop sleeps here when it has nothing to do, until the next parked connection is due
//! for a look or something arrives; a push wakes it at once. So a new connection or a served one
//! is picked up within microseconds, and a gateway with nothing to look at uses no CPU at all.
//! Unbounded in type, bounded in fact: it never holds more than the open connections, which the
//! acceptors cap at `--max-connections`.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use super::connection::Connection;

/// The hand-over point to the poll loop.
#[derive(Debug, Default)]
pub struct Inbox {
    state: Mutex<State>,
    /// Signalled when something is pushed (or the inbox is nudged).
    arrived: Condvar,
}

#[derive(Debug, Default)]
struct State {
    /// Connections for the poll loop: accepted, or served and handed back.
    conns: Vec<Connection>,
    /// Set by [`Inbox::nudge`]: the poll loop should look at the world again.
    nudged: bool,
    /// The poll loop is waiting (so a push must wake it).
    waiting: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Inbox>();
};

impl Inbox {
    /// The lock; poisoning is taken over (pushes and swaps cannot be half-done).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a connection to the poll loop, waking it if it waits.
    pub fn push(&self, conn: Connection) {
        let mut state = self.lock();
        state.conns.push(conn);
        let wake = state.waiting;
        drop(state);
        if wake {
            self.arrived.notify_one();
        }
    }

    /// Wakes the poll loop without handing it anything (a drain began).
    pub fn nudge(&self) {
        let mut state = self.lock();
        state.nudged = true;
        drop(state);
        self.arrived.notify_one();
    }

    /// The poll loop takes everything pushed, appending it to `into`; true when anything was
    /// there (or the inbox was nudged).
    pub fn take(&self, into: &mut Vec<Connection>) -> bool {
        let mut state = self.lock();
        let any = !state.conns.is_empty() || state.nudged;
        state.nudged = false;
        into.append(&mut state.conns);
        super::shrink_spare(&mut state.conns);
        any
    }

    /// The poll loop waits until something is pushed or `deadline` passes (at once when
    /// something is already there).
    pub fn wait(&self, deadline: Instant) {
        let mut state = self.lock();
        while state.conns.is_empty() && !state.nudged {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            state.waiting = true;
            state = self
                .arrived
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            state.waiting = false;
        }
    }

    /// How many connections wait in it.
    pub fn len(&self) -> usize {
        self.lock().conns.len()
    }

    /// True when none does.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::connection::Listener;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    fn connection() -> Connection {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        Connection::new(
            stream,
            addr,
            Listener::Data,
            Instant::now(),
            &crate::memory::Budget::unlimited(),
        )
    }

    #[test]
    fn a_push_wakes_a_waiting_poll_loop_at_once() {
        let inbox = Arc::new(Inbox::default());
        let pusher = {
            let inbox = Arc::clone(&inbox);
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(50));
                inbox.push(connection());
            })
        };
        let started = Instant::now();
        inbox.wait(started + Duration::from_secs(30));
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "woken by the push"
        );
        let mut got = Vec::new();
        assert!(inbox.take(&mut got));
        assert_eq!(got.len(), 1);
        assert!(!inbox.take(&mut got), "taken once");
        pusher.join().unwrap();
    }

    #[test]
    fn wait_returns_at_its_deadline_or_at_once_when_nudged() {
        let inbox = Inbox::default();
        let deadline = Instant::now() + Duration::from_millis(20);
        inbox.wait(deadline);
        assert!(Instant::now() >= deadline);
        inbox.nudge();
        inbox.wait(Instant::now() + Duration::from_secs(30));
        assert!(
            inbox.take(&mut Vec::new()),
            "a nudge counts as something to look at"
        );
    }
}
