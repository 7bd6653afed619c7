//! The connections parked in the poll loop, in three lanes, and the clock of one pass.
//!
//! std has no epoll, so a parked connection is found readable only by reading it, about a
//! microsecond a read. Where a connection is parked says how often it is read:
//!
//! ```text
//!   hot      active in the last 5 ms, or accepted in the last 250 ms and silent since:
//!            read on every pass
//!   quiet    keep-alive connections answered, and WebSockets active, in the last 2 s, idle
//!            since: read round-robin, each every 1 ms while they are at most QUIET_CAPACITY
//!            (beyond, the interval grows with their number)
//!   dormant  idle longer, never sent anything, subscriptions, closing: read round-robin on a
//!            small budget (DORMANT_READS_PER_SEC), each at least every 10 ms
//! ```
//!
//! A connection that would be dormant and only awaits its next request leaves the lanes for a
//! watcher thread while `--watchers` has room (`watch.rs`): the kernel tells that thread when it
//! sends. A pass thus costs in proportion to the active connections, and 10,000 idle connections
//! cost a small, fixed number of reads a second. What keeps requests quick is that few connections wait
//! in the quiet lane: once it holds [`QUIET_CAPACITY`], an answer tells its client to reconnect
//! for its next request (`Connection: close`, see the worker), and a new connection is seen the
//! moment it arrives (the acceptor thread). A client that sends back to back stays hot and keeps
//! its connection.

use std::time::{Duration, Instant};

use super::connection::{Connection, Phase};
use super::shrink_spare;
use crate::config::Config;

/// A connection with activity this recent is read on every pass.
pub const HOT_WINDOW: Duration = Duration::from_millis(5);
/// A connection that has sent nothing since it was accepted stays in the hot lane this long.
///
/// A client usually sends its request right after connecting, but not always at once: `ab -c
/// 1000` opens all its connections before it writes the first request, so each waits tens of
/// milliseconds.
pub const FRESH_WINDOW: Duration = Duration::from_millis(250);
/// An answered connection idle for less than this is quiet; longer, dormant.
pub const DORMANT_AFTER: Duration = Duration::from_secs(2);
/// Each quiet connection is read at least this often while there are at most
/// [`QUIET_CAPACITY`] of them.
pub const QUIET_INTERVAL: Duration = Duration::from_millis(1);
/// Budget of reads per second for the quiet lane.
pub const QUIET_READS_PER_SEC: u64 = 20_000;
/// How many quiet connections the budget reads every [`QUIET_INTERVAL`]: past this, an answer
/// closes its connection instead of leaving it to wait in the quiet lane.
pub const QUIET_CAPACITY: usize = (QUIET_READS_PER_SEC / 1000) as usize;
/// Dormant connections are read at least this often, however few there are.
pub const DORMANT_INTERVAL: Duration = Duration::from_millis(10);
/// Budget of reads per second for the dormant lane (10,000 idle connections: each every 2 s).
pub const DORMANT_READS_PER_SEC: u64 = 5_000;

/// How far ahead [`Lanes::next_visit`] looks when nothing is parked.
const IDLE_WAIT: Duration = Duration::from_secs(3600);

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
    /// To a watcher thread (`watch.rs`): it would be dormant, and only awaits its next request.
    Watch,
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
    /// An answered connection active after this is quiet, not dormant.
    quiet_after: Option<Instant>,
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
            quiet_after: now.checked_sub(DORMANT_AFTER),
            idle_before: now.checked_sub(cfg.idle_timeout),
            header_before: now.checked_sub(cfg.header_timeout),
            body_before: now.checked_sub(cfg.body_timeout),
            write_before: now.checked_sub(cfg.write_timeout),
        }
    }

    /// The lane a connection belongs in now (see the module docs).
    fn lane(&self, conn: &Connection) -> Lane {
        let schedule = &conn.schedule;
        let after = |t: Instant, after: Option<Instant>| after.map_or(true, |a| t > a);
        if (schedule.fresh && after(schedule.last_activity, self.fresh_after))
            || conn.has_unparsed()
            || after(schedule.last_activity, self.hot_after)
        {
            return Lane::Hot;
        }
        // Quiet: a keep-alive connection answered a moment ago, or a WebSocket (its client may
        // send a command at any moment). Subscriptions only need a read to see their client go;
        // lingering connections, one to see it close.
        let keeps_talking = match conn.phase() {
            Phase::Open => schedule.answered.is_some(),
            Phase::Stream(stream) => stream.websocket.is_some(),
            Phase::Closing | Phase::Lingering { .. } => false,
        };
        if keeps_talking && after(schedule.last_activity, self.quiet_after) {
            Lane::Quiet
        } else {
            Lane::Dormant
        }
    }
}

/// The three lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Hot,
    Quiet,
    Dormant,
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
    /// Answered a moment ago, idle since: visited round-robin, each about every millisecond.
    quiet: RoundRobin,
    /// Idle longer, never sent anything, or closing: visited round-robin on a small budget.
    dormant: RoundRobin,
    /// When the last pass began.
    last_pass: Instant,
}

impl Lanes {
    /// No connection parked yet.
    pub fn new(now: Instant) -> Lanes {
        Lanes {
            hot: Vec::new(),
            quiet: RoundRobin::new(QUIET_READS_PER_SEC, QUIET_INTERVAL),
            dormant: RoundRobin::new(DORMANT_READS_PER_SEC, DORMANT_INTERVAL),
            last_pass: now,
        }
    }

    /// How many connections are parked.
    pub fn len(&self) -> usize {
        self.hot.len() + self.quiet.conns.len() + self.dormant.conns.len()
    }

    /// True when none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many connections wait in the quiet lane.
    pub fn quiet_len(&self) -> usize {
        self.quiet.conns.len()
    }

    /// Parks a connection in the hot lane (new, or back from a worker).
    pub fn park(&mut self, conn: Connection) {
        self.hot.push(conn);
    }

    /// Takes every parked connection out.
    pub fn drain(&mut self) -> Vec<Connection> {
        let mut all = std::mem::take(&mut self.hot);
        all.append(&mut self.quiet.take());
        all.append(&mut self.dormant.take());
        all
    }

    /// Parks a connection in the dormant lane (one a watcher could not take).
    pub fn park_dormant(&mut self, conn: Connection) {
        self.dormant.conns.push(conn);
    }

    /// Visits every hot connection and the quiet and dormant ones due in this pass with
    /// `visit`; a connection moves to the lane it now belongs in (its buffers freed when it
    /// leaves the hot lane); one that leaves is handed to `leave`. Up to `watch_room` of those
    /// that would be dormant and only await their next request leave to be watched instead.
    /// True when anything progressed.
    pub fn visit(
        &mut self,
        pass: &Pass,
        watch_room: usize,
        mut visit: impl FnMut(&mut Connection) -> Verdict,
        mut leave: impl FnMut(Connection, Leave),
    ) -> bool {
        let mut room = watch_room;
        // Whether a connection now in `lane` leaves to be watched (taking one place of the room).
        let mut to_watch = |lane: Lane, conn: &Connection| {
            let watch = lane == Lane::Dormant && room > 0 && conn.awaits_request();
            if watch {
                room -= 1;
            }
            watch
        };
        let elapsed = pass.now.saturating_duration_since(self.last_pass);
        self.last_pass = pass.now;
        let quiet_budget = self.quiet.budget(elapsed);
        let dormant_budget = self.dormant.budget(elapsed);
        let mut moved = Vec::new();
        let mut progress = false;
        let mut i = 0;
        while let Some(conn) = self.hot.get_mut(i) {
            let verdict = visit(conn);
            progress |= verdict.progress;
            match verdict.action {
                Action::Keep => match pass.lane(conn) {
                    Lane::Hot => i += 1,
                    lane => {
                        let mut conn = self.hot.swap_remove(i);
                        conn.free_buffers();
                        if to_watch(lane, &conn) {
                            leave(conn, Leave::Watch);
                        } else {
                            moved.push((lane, conn));
                        }
                    }
                },
                Action::Close => leave(self.hot.swap_remove(i), Leave::Close),
                Action::Dispatch(turn) => leave(self.hot.swap_remove(i), Leave::Dispatch(turn)),
            }
        }
        for (from, budget) in [(Lane::Quiet, quiet_budget), (Lane::Dormant, dormant_budget)] {
            let lane = match from {
                Lane::Quiet => &mut self.quiet,
                _ => &mut self.dormant,
            };
            progress |= lane.visit(
                budget,
                |conn| {
                    let verdict = visit(conn);
                    match verdict.action {
                        Action::Keep => {
                            let now_in = pass.lane(conn);
                            let moved = if to_watch(now_in, conn) {
                                Some(Moved::Leave(Leave::Watch))
                            } else {
                                (now_in != from).then_some(Moved::To(now_in))
                            };
                            (verdict.progress, moved)
                        }
                        Action::Close => (true, Some(Moved::Leave(Leave::Close))),
                        Action::Dispatch(turn) => (true, Some(Moved::Leave(Leave::Dispatch(turn)))),
                    }
                },
                |conn, moved_to| match moved_to {
                    Moved::To(lane) => moved.push((lane, conn)),
                    Moved::Leave(how) => leave(conn, how),
                },
            );
        }
        for (lane, conn) in moved {
            match lane {
                Lane::Hot => self.hot.push(conn),
                Lane::Quiet => self.quiet.conns.push(conn),
                Lane::Dormant => self.dormant.conns.push(conn),
            }
        }
        shrink_spare(&mut self.hot);
        shrink_spare(&mut self.quiet.conns);
        shrink_spare(&mut self.dormant.conns);
        progress
    }

    /// Takes out the connections holding the most of the memory budget among those that made no
    /// progress since `stalled_before` (nothing read or written) and hold more than `at_least`
    /// each, the greediest first, until they hold `want` bytes in all.
    pub fn take_greediest(
        &mut self,
        stalled_before: Instant,
        at_least: usize,
        want: usize,
    ) -> Vec<Connection> {
        let mut candidates: Vec<(usize, Lane, usize)> = Vec::new();
        let lanes = [
            (Lane::Hot, &self.hot),
            (Lane::Quiet, &self.quiet.conns),
            (Lane::Dormant, &self.dormant.conns),
        ];
        for (lane, conns) in lanes {
            for (i, conn) in conns.iter().enumerate() {
                let held = conn.held();
                if held > at_least && conn.schedule.last_activity <= stalled_before {
                    candidates.push((held, lane, i));
                }
            }
        }
        candidates.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        let mut freed = 0;
        let mut picked: Vec<(Lane, usize)> = Vec::new();
        for (held, lane, i) in candidates {
            if freed >= want {
                break;
            }
            freed += held;
            picked.push((lane, i));
        }
        // Removed from the highest index down, so that `swap_remove` never moves a picked one.
        picked.sort_unstable_by_key(|p| std::cmp::Reverse(p.1));
        let mut taken = Vec::with_capacity(picked.len());
        for (lane, i) in picked {
            let conns = match lane {
                Lane::Hot => &mut self.hot,
                Lane::Quiet => &mut self.quiet.conns,
                Lane::Dormant => &mut self.dormant.conns,
            };
            if i < conns.len() {
                taken.push(conns.swap_remove(i));
            }
        }
        taken
    }

    /// When the lanes next need a pass if nothing arrives before: `None` while connections are
    /// hot (they are read on every pass, after a nap); otherwise when the quiet or the dormant
    /// lane has earned its next visit, at the earliest one interval of its own from now (so an
    /// idle lane of many connections wakes the loop for a batch of reads, not for each one).
    pub fn next_visit(&self, now: Instant) -> Option<Instant> {
        if !self.hot.is_empty() {
            return None;
        }
        let due = [&self.quiet, &self.dormant]
            .into_iter()
            .filter_map(|lane| lane.next_visit(self.last_pass, now))
            .min();
        Some(due.unwrap_or(now + IDLE_WAIT))
    }
}

/// Where a visited connection goes.
enum Moved {
    /// To another lane.
    To(Lane),
    /// Out of the lanes.
    Leave(Leave),
}

/// A lane visited round-robin: each connection once per interval, the interval spreading a
/// budget of reads per second over them (and never shorter than `min_interval`).
#[derive(Debug)]
struct RoundRobin {
    conns: Vec<Connection>,
    /// Where the round goes on.
    cursor: usize,
    /// Visits earned by the time since the last pass and not yet made.
    credit: f64,
    reads_per_sec: u64,
    min_interval: Duration,
}

impl RoundRobin {
    fn new(reads_per_sec: u64, min_interval: Duration) -> RoundRobin {
        RoundRobin {
            conns: Vec::new(),
            cursor: 0,
            credit: 0.0,
            reads_per_sec,
            min_interval,
        }
    }

    fn take(&mut self) -> Vec<Connection> {
        self.cursor = 0;
        std::mem::take(&mut self.conns)
    }

    /// How long a round over the lane takes: each of its connections is read once per this.
    fn interval(&self) -> Duration {
        let n = self.conns.len() as u64;
        Duration::from_micros(1_000_000 * n / self.reads_per_sec).max(self.min_interval)
    }

    /// The visits `elapsed` earns: the time since the last pass buys that share of a round.
    /// Spread evenly, the reads never stall the active connections behind a burst.
    fn budget(&mut self, elapsed: Duration) -> usize {
        let n = self.conns.len() as f64;
        let share = n * elapsed.as_secs_f64() / self.interval().as_secs_f64();
        self.credit = (self.credit + share).min(n);
        let budget = self.credit as usize;
        self.credit -= budget as f64;
        budget
    }

    /// When the next visit is earned, at the earliest `min_interval` after `last_pass`;
    /// `None` when the lane is empty.
    fn next_visit(&self, last_pass: Instant, now: Instant) -> Option<Instant> {
        if self.conns.is_empty() {
            return None;
        }
        let per_visit = self.interval().as_secs_f64() / self.conns.len() as f64;
        let wait = Duration::from_secs_f64((1.0 - self.credit).max(0.0) * per_visit);
        Some((last_pass + wait.max(self.min_interval)).max(now))
    }

    /// Visits the next `budget` connections from the cursor; `visit` says whether it progressed
    /// and where the connection goes (`None`: it stays); one that goes is handed to `gone`.
    fn visit(
        &mut self,
        budget: usize,
        mut visit: impl FnMut(&mut Connection) -> (bool, Option<Moved>),
        mut gone: impl FnMut(Connection, Moved),
    ) -> bool {
        let mut progress = false;
        for _ in 0..budget {
            if self.cursor >= self.conns.len() {
                self.cursor = 0;
            }
            let Some(conn) = self.conns.get_mut(self.cursor) else {
                break;
            };
            let (progressed, moved) = visit(conn);
            progress |= progressed;
            match moved {
                None => self.cursor += 1,
                // The last connection takes the cursor's place: it is visited next.
                Some(to) => gone(self.conns.swap_remove(self.cursor), to),
            }
        }
        progress
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_spreads_its_read_budget() {
        let quiet = RoundRobin::new(QUIET_READS_PER_SEC, QUIET_INTERVAL);
        assert_eq!(quiet.interval(), QUIET_INTERVAL);
        let dormant = RoundRobin::new(DORMANT_READS_PER_SEC, DORMANT_INTERVAL);
        assert_eq!(dormant.interval(), DORMANT_INTERVAL);
    }

    /// A connection accepted at `at` (with its client's end, kept open).
    fn connection(at: Instant) -> (Connection, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (server, peer) = listener.accept().unwrap();
        let budget = crate::memory::Budget::unlimited();
        let conn = Connection::new(
            server,
            peer,
            super::super::connection::Listener::Data,
            at,
            &budget,
        );
        (conn, client)
    }

    #[test]
    fn a_connection_that_would_be_dormant_is_watched_while_there_is_room() {
        let start = Instant::now();
        let cfg = Config::default();
        let mut lanes = Lanes::new(start);
        let (a, _client_a) = connection(start);
        let (b, _client_b) = connection(start);
        lanes.park(a);
        lanes.park(b);
        // Past the fresh window, silent: both would be dormant; room for one.
        let later = start + FRESH_WINDOW + Duration::from_millis(1);
        let mut left = Vec::new();
        lanes.visit(
            &Pass::new(later, &cfg),
            1,
            |_| Verdict::keep(false),
            |_, leave| left.push(leave),
        );
        assert_eq!(left, [Leave::Watch]);
        assert_eq!(lanes.len(), 1, "the other is parked, dormant");
        // No room: it stays; room again: it leaves on its next visit.
        let next = later + DORMANT_INTERVAL * 2;
        lanes.visit(
            &Pass::new(next, &cfg),
            0,
            |_| Verdict::keep(false),
            |_, leave| left.push(leave),
        );
        assert_eq!(lanes.len(), 1);
        lanes.visit(
            &Pass::new(next + DORMANT_INTERVAL * 2, &cfg),
            1,
            |_| Verdict::keep(false),
            |_, leave| left.push(leave),
        );
        assert_eq!(left, [Leave::Watch, Leave::Watch]);
        assert!(lanes.is_empty());
    }

    #[test]
    fn the_quiet_capacity_is_what_the_budget_reads_each_interval() {
        assert_eq!(
            QUIET_CAPACITY as u64 * 1_000_000 / QUIET_READS_PER_SEC,
            QUIET_INTERVAL.as_micros() as u64
        );
    }
}
