//! The connections parked in the poll loop, in two lanes, and the clock of one pass.
//!
//! std has no epoll, so a parked connection is found readable only by reading it. A connection
//! active in the last [`HOT_WINDOW`] is in the hot lane, visited on every pass. The others are in
//! the quiet lane, visited round-robin, a share on each pass, so that each is read once per quiet
//! interval; the interval grows with the number of parked connections ([`SCAN_READS_PER_SEC`]
//! reads per second in all, at least every [`MIN_SCAN_INTERVAL`]). A pass thus costs in
//! proportion to the active connections, and the quiet reads never come in a burst; the price is
//! that a request on a connection quiet among 1,000 others waits up to 100 ms to be noticed.
//!
//! A connection that has sent nothing since it was accepted stays hot for [`FRESH_WINDOW`]:
//! a burst of new connections is served within a millisecond of each request's arrival.

use std::time::{Duration, Instant};

use super::connection::Connection;
use crate::config::Config;

/// A connection with activity this recent is read on every pass.
pub const HOT_WINDOW: Duration = Duration::from_millis(5);
/// Budget of reads per second spent on quiet connections.
pub const SCAN_READS_PER_SEC: u64 = 10_000;
/// Quiet connections are read at least this often, however few there are.
pub const MIN_SCAN_INTERVAL: Duration = Duration::from_millis(1);
/// A connection that has sent nothing since it was accepted stays in the hot lane this long.
///
/// A client usually sends its request right after connecting, but not always at once: `ab -c
/// 1000` opens all its connections before it writes the first request, so each waits tens of
/// milliseconds. Moved to the quiet lane after [`HOT_WINDOW`] like an idle keep-alive
/// connection, such a request waited up to the quiet interval (100 ms among 1,000) to be seen.
pub const FRESH_WINDOW: Duration = Duration::from_millis(250);

/// What a visit decided for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// It stays parked.
    Keep,
    /// It is done: close it.
    Close,
    /// A worker must serve it.
    Dispatch(Turn),
}

/// What a worker is to do with a connection handed to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Serve the complete request (or answer the bytes the parser rejects).
    Serve,
    /// The request arrived too slowly: answer 408 and close.
    TimedOut,
}

/// The outcome of one visit.
#[derive(Debug, Clone, Copy)]
pub struct Verdict {
    /// What becomes of the connection.
    pub action: Action,
    /// Whether anything happened (bytes moved, a state changed): the loop naps only after a pass
    /// without progress.
    pub progress: bool,
}

impl Verdict {
    /// It stays parked.
    pub fn keep(progress: bool) -> Verdict {
        Verdict {
            action: Action::Keep,
            progress,
        }
    }

    /// Close it.
    pub fn close() -> Verdict {
        Verdict {
            action: Action::Close,
            progress: true,
        }
    }

    /// Hand it to a worker.
    pub fn dispatch(turn: Turn) -> Verdict {
        Verdict {
            action: Action::Dispatch(turn),
            progress: true,
        }
    }
}

/// Where a connection leaving the lanes goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leave {
    /// To be closed.
    Close,
    /// To a worker.
    Dispatch(Turn),
}

/// The instants one pass compares with, computed once per pass: comparing two `Instant`s is
/// cheap, while computing a `Duration` per connection per pass was a fifth of the loop's
/// instructions (measured with callgrind).
#[derive(Debug)]
pub struct Pass {
    /// When the pass began.
    pub now: Instant,
    /// Activity after this makes a connection hot (read every pass).
    hot_after: Option<Instant>,
    /// A connection accepted after this that has sent nothing yet is hot too.
    fresh_after: Option<Instant>,
    /// Idle since before this: closed (`--idle-timeout`).
    pub idle_before: Option<Instant>,
    /// A head begun before this is too slow (`--header-timeout`).
    pub header_before: Option<Instant>,
    /// A body quiet since before this is too slow (`--body-timeout`).
    pub body_before: Option<Instant>,
    /// Output unread since before this: the client stopped reading (`--write-timeout`).
    pub write_before: Option<Instant>,
}

impl Pass {
    /// The clock of a pass beginning at `now`.
    pub fn new(now: Instant, cfg: &Config) -> Pass {
        Pass {
            now,
            hot_after: now.checked_sub(HOT_WINDOW),
            fresh_after: now.checked_sub(FRESH_WINDOW),
            idle_before: now.checked_sub(cfg.idle_timeout),
            header_before: now.checked_sub(cfg.header_timeout),
            body_before: now.checked_sub(cfg.body_timeout),
            write_before: now.checked_sub(cfg.write_timeout),
        }
    }

    /// Whether a connection belongs in the hot lane: active in the last [`HOT_WINDOW`],
    /// accepted in the last [`FRESH_WINDOW`] and silent since, or holding bytes not yet parsed.
    fn is_hot(&self, conn: &Connection) -> bool {
        let schedule = &conn.schedule;
        let after = |t: Instant, after: Option<Instant>| after.map_or(true, |a| t > a);
        (schedule.fresh && after(schedule.last_activity, self.fresh_after))
            || conn.has_unparsed()
            || after(schedule.last_activity, self.hot_after)
    }
}

/// True when `t` is at or before `before` (`None`: the process is younger than the timeout).
pub fn expired(t: Instant, before: Option<Instant>) -> bool {
    before.is_some_and(|before| t <= before)
}

/// The parked connections.
#[derive(Debug)]
pub struct Lanes {
    /// Connections with recent activity: visited on every pass.
    hot: Vec<Connection>,
    /// Connections without: visited round-robin, a share on each pass.
    quiet: Vec<Connection>,
    /// Where the round-robin over `quiet` goes on.
    cursor: usize,
    /// Quiet visits earned by the time since the last pass and not yet made.
    credit: f64,
    /// When the last pass began.
    last_pass: Instant,
}

impl Lanes {
    /// No connection parked yet.
    pub fn new(now: Instant) -> Lanes {
        Lanes {
            hot: Vec::new(),
            quiet: Vec::new(),
            cursor: 0,
            credit: 0.0,
            last_pass: now,
        }
    }

    /// How many connections are parked.
    pub fn len(&self) -> usize {
        self.hot.len() + self.quiet.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parks a connection in the hot lane (new, or back from a worker).
    pub fn park(&mut self, conn: Connection) {
        self.hot.push(conn);
    }

    /// Takes every parked connection out.
    pub fn drain(&mut self) -> Vec<Connection> {
        let mut all = std::mem::take(&mut self.hot);
        all.append(&mut self.quiet);
        self.cursor = 0;
        all
    }

    /// Visits every hot connection and the quiet ones due in this pass with `visit`; a
    /// connection that goes quiet moves to the quiet lane (its buffers freed), one that wakes up
    /// to the hot lane; one that leaves is handed to `leave`. True when anything progressed.
    pub fn visit(
        &mut self,
        pass: &Pass,
        mut visit: impl FnMut(&mut Connection) -> Verdict,
        mut leave: impl FnMut(Connection, Leave),
    ) -> bool {
        let budget = self.quiet_budget(pass.now);
        let mut progress = false;
        let mut i = 0;
        while let Some(conn) = self.hot.get_mut(i) {
            let verdict = visit(conn);
            progress |= verdict.progress;
            match verdict.action {
                Action::Keep if pass.is_hot(conn) => i += 1,
                Action::Keep => {
                    let mut conn = self.hot.swap_remove(i);
                    conn.free_buffers();
                    self.quiet.push(conn);
                }
                Action::Close => leave(self.hot.swap_remove(i), Leave::Close),
                Action::Dispatch(turn) => leave(self.hot.swap_remove(i), Leave::Dispatch(turn)),
            }
        }
        for _ in 0..budget {
            if self.cursor >= self.quiet.len() {
                self.cursor = 0;
            }
            let Some(conn) = self.quiet.get_mut(self.cursor) else {
                break;
            };
            let verdict = visit(conn);
            progress |= verdict.progress;
            // A removal moves the last connection into the cursor's place; it is visited next.
            match verdict.action {
                Action::Keep if pass.is_hot(conn) => {
                    self.hot.push(self.quiet.swap_remove(self.cursor));
                }
                Action::Keep => self.cursor += 1,
                Action::Close => leave(self.quiet.swap_remove(self.cursor), Leave::Close),
                Action::Dispatch(turn) => {
                    leave(self.quiet.swap_remove(self.cursor), Leave::Dispatch(turn));
                }
            }
        }
        progress
    }

    /// How many quiet connections this pass visits: each is visited once per quiet interval, so
    /// the time since the last pass earns that share of the quiet lane. Spread evenly, those
    /// reads never stall the active connections behind a burst of a thousand.
    fn quiet_budget(&mut self, now: Instant) -> usize {
        let elapsed = now.duration_since(self.last_pass).as_secs_f64();
        self.last_pass = now;
        let quiet = self.quiet.len() as f64;
        let share = quiet * elapsed / quiet_interval(self.len()).as_secs_f64();
        self.credit = (self.credit + share).min(quiet);
        let budget = self.credit as usize;
        self.credit -= budget as f64;
        budget
    }
}

/// The interval at which quiet connections are read: the read budget spread over all of them.
fn quiet_interval(parked: usize) -> Duration {
    let per_conn = Duration::from_micros(1_000_000 * parked as u64 / SCAN_READS_PER_SEC);
    per_conn.max(MIN_SCAN_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_interval_spreads_the_read_budget() {
        assert_eq!(quiet_interval(0), MIN_SCAN_INTERVAL);
        assert_eq!(quiet_interval(10), MIN_SCAN_INTERVAL);
        assert_eq!(quiet_interval(1000), Duration::from_millis(100));
    }
}
