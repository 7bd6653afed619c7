//! The main thread's poll loop: accept, look at parked connections, dispatch, enforce timeouts.
//!
//! std has no epoll, so readiness is found by trying: a nonblocking `read` on each parked
//! connection that is due for a look (which ones, and how often, is the lanes' business: see
//! `lanes.rs`); idle ones may be handed to watcher threads instead (`watch.rs`). New connections
//! come from the acceptor threads, served ones from the workers and watched ones that became
//! readable from their watchers, all through the inbox. The loop never blocks on a client and does bounded work per pass: one
//! read of at most [`READ_CHUNK`] per connection visited. When a pass finds nothing to do, the
//! loop waits on its inbox: while connections are hot, [`MIN_NAP`] doubling up to [`MAX_NAP`]
//! (any progress resets it); otherwise until the lanes' next visit is due. Anything pushed to the
//! inbox wakes it at once, so a gateway with nothing to look at uses no CPU.
//!
//! A visit follows the connection's phase (see `connection/`):
//!
//! ```text
//!   Open       write what the client has not taken (nothing else until it has); read; a
//!              complete request → a worker; too slow → 408 by a worker; idle too long → close
//!   Closing    write the rest of the last response, then shut our side → Lingering
//!   Lingering  read and drop until EOF or the linger deadline → close
//!   Stream     write what waits in the outbox; read WebSocket frames (a complete message →
//!              a worker); the client gone, too far behind, or a drain → close
//! ```
//!
//! A connection goes to the workers only when its input holds a complete request (or bytes the
//! parser already rejects), so no worker ever waits for a client to send. Response bytes a client
//! does not take at once are written by the loop as the client reads them; a client that takes
//! nothing for `--write-timeout` is closed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::acceptor::Acceptor;
use super::connection::{Connection, Phase, Readiness, Received};
use super::input::READ_CHUNK;
use super::lanes::{expired, Lanes, Leave, Pass, Turn, Verdict};
use super::output::Flush;
use super::queue::Task;
use super::queue::MAX_BATCH;
use super::watch::Watchers;
use super::{shrink_spare, Shared};
use crate::config::STREAM_KEEPALIVE_INTERVAL;
use crate::http::Status;
use crate::log;
use crate::metrics::Metrics;
use crate::websocket::frame;

/// First sleep after a pass that found nothing to do.
pub const MIN_NAP: Duration = Duration::from_micros(20);
/// Longest sleep between passes.
pub const MAX_NAP: Duration = Duration::from_millis(1);
/// First pause before reading again a fresh connection that had nothing to read; it doubles
/// up to [`MAX_NAP`] while the connection stays silent, so a thousand connections waiting for
/// their first request cost at most one read each per millisecond, not one each per pass.
pub const FRESH_MIN_PAUSE: Duration = Duration::from_micros(50);
/// How often a lingering connection is read.
pub const LINGER_CHECK: Duration = Duration::from_millis(10);
/// While the memory budget is spent, a stalled connection is cut at most this often.
pub const SHED_INTERVAL: Duration = Duration::from_millis(10);
/// A connection that has made no progress for this long is stalled (see `PollLoop::shed`).
pub const SHED_STALL: Duration = Duration::from_secs(1);
/// Cuts for memory are logged at most this often, with their count.
pub const SHED_LOG_INTERVAL: Duration = Duration::from_secs(10);
/// A connection holding less than this is never cut for memory.
pub const SHED_AT_LEAST: usize = 64 * 1024;
/// Longest wait on the inbox when nothing is parked (a drain is noticed within it at worst; it
/// also wakes the loop at once).
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// The loop's own state: the acceptors and the parked connections.
#[derive(Debug)]
pub struct PollLoop {
    /// The threads accepting on the data and the admin listener. Stopped when a drain begins,
    /// so that the OS refuses new connections.
    acceptors: Vec<Acceptor>,
    lanes: Lanes,
    /// Connections taken from the inbox (accepted, or handed back by workers).
    arrived: Vec<Connection>,
    /// Connections found ready during the current pass.
    ready: Vec<Task>,
    /// The threads that wait on idle connections, and those they could not take this pass.
    watchers: Watchers,
    unwatched: Vec<Connection>,
    scratch: Box<[u8]>,
    nap: Duration,
    /// Refusals already reported in the log, and when the last report was.
    refusals_reported: u64,
    last_refusal_log: Option<Instant>,
    /// When connections were last cut for memory; those cut since the last log line, and when
    /// that was.
    last_shed: Option<Instant>,
    shed_count: u64,
    shed_bytes: usize,
    last_shed_log: Option<Instant>,
}

impl PollLoop {
    /// A loop over no connection yet, fed by `acceptors` (through the inbox), handing idle
    /// connections to `watchers`.
    pub fn new(acceptors: Vec<Acceptor>, watchers: Watchers) -> PollLoop {
        PollLoop {
            acceptors,
            lanes: Lanes::new(Instant::now()),
            arrived: Vec::new(),
            ready: Vec::new(),
            watchers,
            unwatched: Vec::new(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            nap: MIN_NAP,
            refusals_reported: 0,
            last_refusal_log: None,
            last_shed: None,
            shed_count: 0,
            shed_bytes: 0,
            last_shed_log: None,
        }
    }

    /// Runs passes until a drain completes: once `POST /shutdown` sets `shared.draining`, the
    /// listeners close (new connections are refused), idle connections are closed, and the loop
    /// returns when every connection is closed or `--drain-timeout` has passed.
    pub fn run(&mut self, shared: &Shared) {
        let mut drain_deadline = None;
        loop {
            if drain_deadline.is_none() && shared.is_stopping() {
                drain_deadline = Some(Instant::now() + shared.cfg.drain_timeout);
                Acceptor::stop_all(std::mem::take(&mut self.acceptors));
                log::info(format_args!(
                    "draining: no new connections; finishing requests in flight (at most {:?})",
                    shared.cfg.drain_timeout
                ));
            }
            let progress = self.pass(shared);
            Metrics::add(&shared.metrics.poll_passes, 1);
            if let Some(deadline) = drain_deadline {
                // Connections a watcher waits on are idle: the exit closes them (one that sends
                // meanwhile comes back through the inbox and is served).
                let open = shared
                    .open_connections
                    .load(Ordering::Relaxed)
                    .saturating_sub(shared.watched_connections.load(Ordering::Relaxed));
                if open == 0 {
                    break;
                }
                if Instant::now() >= deadline {
                    log::warn(format_args!(
                        "drain timeout: closing {open} connections still open"
                    ));
                    break;
                }
            }
            if progress {
                self.nap = MIN_NAP;
                continue;
            }
            Metrics::add(&shared.metrics.poll_sleeps, 1);
            let now = Instant::now();
            let until = match self.lanes.next_visit(now) {
                // Hot connections are read again after a nap that grows while nothing happens.
                None => {
                    let until = now + self.nap;
                    self.nap = (self.nap * 2).min(MAX_NAP);
                    until
                }
                Some(due) => due.min(now + MAX_WAIT),
            };
            let until = drain_deadline.map_or(until, |deadline| until.min(deadline));
            shared.inbox.wait(until);
        }
        Acceptor::stop_all(std::mem::take(&mut self.acceptors));
        for conn in self.lanes.drain() {
            shared.close_connection(conn);
        }
        let mut left = Vec::new();
        shared.inbox.take(&mut left);
        for conn in left {
            shared.close_connection(conn);
        }
    }

    /// One pass; true when it made progress.
    fn pass(&mut self, shared: &Shared) -> bool {
        let now = Instant::now();
        let mut progress = shared.inbox.take(&mut self.arrived);
        for mut conn in self.arrived.drain(..) {
            conn.schedule.next_check = now;
            self.lanes.park(conn);
        }
        shrink_spare(&mut self.arrived);
        let pass = Pass::new(now, &shared.cfg);
        let PollLoop {
            lanes,
            scratch,
            ready,
            watchers,
            unwatched,
            ..
        } = self;
        progress |= lanes.visit(
            &pass,
            watchers.room(),
            |conn| visit(conn, scratch, shared, &pass),
            |conn, leave| match leave {
                Leave::Close => shared.close_connection(conn),
                Leave::Dispatch(turn) => ready.push(Task { conn, turn }),
                Leave::Watch => {
                    if let Some(conn) = watchers.watch(conn) {
                        unwatched.push(conn);
                    }
                }
            },
        );
        for conn in self.unwatched.drain(..) {
            self.lanes.park_dormant(conn);
        }
        if !self.ready.is_empty() {
            // One push for the whole pass, so workers can take several connections at once.
            shared.queue.push_all(&mut self.ready, MAX_BATCH);
            for Task { mut conn, .. } in self.ready.drain(..) {
                // The queue is full. A burst should not turn into 503s: the connection stays
                // parked and tries again on the next pass. Only one that has waited longer than
                // the checkout timeout for a slot (sustained overload) is refused. A stream is
                // never refused with an HTTP answer (it would land inside its frames): it waits,
                // parked, with what it sent buffered (bounded, see `visit_stream`).
                let since = *conn.schedule.waiting_since.get_or_insert(now);
                let is_stream = matches!(conn.phase(), Phase::Stream(_));
                if !is_stream && now.duration_since(since) >= shared.cfg.checkout_timeout {
                    Metrics::add(&shared.metrics.queue_full, 1);
                    shared.refuse(conn, "server busy: task queue full, retry");
                } else {
                    conn.mark_unparsed();
                    conn.schedule.next_check = now;
                    self.lanes.park(conn);
                }
            }
            shrink_spare(&mut self.ready);
        }
        if shared.budget.is_spent() {
            self.shed(shared, now);
        }
        shared
            .parked_connections
            .store(self.lanes.len(), Ordering::Relaxed);
        shared
            .quiet_parked
            .store(self.lanes.quiet_len(), Ordering::Relaxed);
        self.report_refusals(shared, now);
        progress
    }

    /// While the memory budget is spent, cuts stalled connections that hold the most, the
    /// greediest first, until what they held brings the budget back to 90 % (at most every
    /// [`SHED_INTERVAL`]): a client that holds memory and makes no progress (a body it stopped
    /// sending, a WebSocket message never finished, answers it never reads) gives way to the
    /// others. Small requests are served meanwhile; new large bodies get 503 before they are read.
    fn shed(&mut self, shared: &Shared, now: Instant) {
        if self
            .last_shed
            .is_some_and(|t| now.duration_since(t) < SHED_INTERVAL)
        {
            return;
        }
        self.last_shed = Some(now);
        let Some(stalled_before) = now.checked_sub(SHED_STALL) else {
            return;
        };
        let budget = &shared.budget;
        let want = budget.used().saturating_sub(budget.limit() / 10 * 9);
        for conn in self
            .lanes
            .take_greediest(stalled_before, SHED_AT_LEAST, want)
        {
            Metrics::add(&shared.metrics.memory_cuts, 1);
            self.shed_count += 1;
            self.shed_bytes += conn.held();
            match conn.phase() {
                Phase::Open if !conn.has_output() => shared.refuse(
                    conn,
                    "the gateway's memory budget (--max-memory) is spent; retry",
                ),
                _ => shared.close_connection(conn),
            }
        }
        let due = self
            .last_shed_log
            .map_or(true, |t| now.duration_since(t) >= SHED_LOG_INTERVAL);
        if self.shed_count > 0 && due {
            log::warn(format_args!(
                "memory budget (--max-memory {}) spent: closed {} stalled connections that held {} bytes (memory_cuts_total counts them)",
                budget.limit(),
                self.shed_count,
                self.shed_bytes
            ));
            self.shed_count = 0;
            self.shed_bytes = 0;
            self.last_shed_log = Some(now);
        }
    }

    /// Logs refused connections at most once a second, with their count: an overload is
    /// visible in the log without a line per connection.
    fn report_refusals(&mut self, shared: &Shared, now: Instant) {
        let refused = shared.metrics.refused.load(Ordering::Relaxed);
        if refused == self.refusals_reported {
            return;
        }
        let due = self
            .last_refusal_log
            .map_or(true, |t| now.duration_since(t) >= Duration::from_secs(1));
        if due {
            log::warn(format_args!(
                "refused {} connections with 503: more than --max-connections {} open, or the task queue ({}) full",
                refused - self.refusals_reported,
                shared.cfg.max_connections,
                shared.cfg.queue_size
            ));
            self.refusals_reported = refused;
            self.last_refusal_log = Some(now);
        }
    }
}

/// Looks at one parked connection, as its phase says (see the module docs).
fn visit(conn: &mut Connection, scratch: &mut [u8], shared: &Shared, pass: &Pass) -> Verdict {
    match conn.phase() {
        Phase::Open => visit_open(conn, scratch, shared, pass),
        Phase::Closing => visit_closing(conn, shared, pass),
        Phase::Lingering { until } => {
            let until = *until;
            linger(conn, scratch, pass.now, until)
        }
        Phase::Stream(_) => visit_stream(conn, scratch, shared, pass),
    }
}

/// A keep-alive connection: finishes a response the client has not taken, reads, and hands a
/// complete request to a worker.
fn visit_open(conn: &mut Connection, scratch: &mut [u8], shared: &Shared, pass: &Pass) -> Verdict {
    let now = pass.now;
    let mut progress = false;
    if conn.has_output() {
        // A response the client has not taken yet: nothing else happens on this connection
        // until it is written (back-pressure: no reading, no new request).
        match write_out(conn, shared, pass) {
            Ok(true) => progress = true,
            Ok(false) => return Verdict::keep(false),
            Err(verdict) => return verdict,
        }
    }
    // A complete request already waiting (a pipelining client's next one, left by a worker) is
    // served before anything more is read: a client that pipelines without reading its answers
    // thus holds at most one read ahead of its unfinished request, not all it sends.
    if conn.take_unparsed() && conn.poll_request(&shared.limits) == Readiness::Ready {
        return Verdict::dispatch(Turn::Serve);
    }
    // While the memory budget is spent, a connection holding much is not read further
    // (back-pressure: its client's sends wait in the kernel).
    let allowance = conn.read_allowance(scratch.len());
    if conn.schedule.next_check <= now && allowance > 0 {
        let scratch = scratch.get_mut(..allowance).unwrap_or_default();
        match conn.receive(scratch, now, &shared.metrics) {
            Received::Closed => return Verdict::close(),
            Received::Bytes(_) => {
                progress = true;
                conn.schedule.next_check = now;
            }
            Received::Nothing => {
                conn.schedule.next_check = now;
                if conn.schedule.fresh {
                    conn.schedule.next_check = now + fresh_pause(conn.schedule.empty_reads);
                    conn.schedule.empty_reads = conn.schedule.empty_reads.saturating_add(1);
                }
            }
        }
    }
    if conn.input().is_empty() {
        let idle = expired(conn.schedule.last_activity, pass.idle_before);
        return if idle || shared.is_stopping() {
            Verdict::close()
        } else {
            Verdict::keep(progress)
        };
    }
    // Parse only when bytes arrived (or a worker left some): a slow client costs one parse per
    // read, not one per pass.
    if conn.take_unparsed() && conn.poll_request(&shared.limits) == Readiness::Ready {
        return Verdict::dispatch(Turn::Serve);
    }
    if conn.request_timed_out(pass.header_before, pass.body_before) {
        return Verdict::dispatch(Turn::TimedOut);
    }
    Verdict::keep(progress)
}

/// A connection whose last response is queued: writes it, then starts the lingering close.
fn visit_closing(conn: &mut Connection, shared: &Shared, pass: &Pass) -> Verdict {
    match write_out(conn, shared, pass) {
        Ok(true) => {
            // Everything is written: stop sending, drain what the client still sends, close.
            conn.begin_linger(pass.now);
            Verdict::keep(true)
        }
        Ok(false) => Verdict::keep(false),
        Err(verdict) => verdict,
    }
}

/// Writes what waits for the client: `Ok(true)` when all is written, `Ok(false)` when some still
/// waits, `Err(close)` when the client is gone or has taken nothing for `--write-timeout`.
fn write_out(conn: &mut Connection, shared: &Shared, pass: &Pass) -> Result<bool, Verdict> {
    if conn.schedule.next_check > pass.now {
        return Ok(!conn.has_output());
    }
    match conn.flush(pass.now, &shared.metrics) {
        Ok(Flush::Done) => Ok(true),
        Ok(Flush::Blocked) => {
            if expired(conn.schedule.last_activity, pass.write_before) {
                log::debug(format_args!("{} stopped reading; closing", conn.peer()));
                return Err(Verdict::close());
            }
            conn.schedule.next_check = pass.now;
            Ok(false)
        }
        Err(_) => Err(Verdict::close()),
    }
}

/// Reads and discards from a closing connection until EOF or the deadline.
fn linger(conn: &mut Connection, scratch: &mut [u8], now: Instant, until: Instant) -> Verdict {
    if now >= until {
        return Verdict::close();
    }
    if conn.schedule.next_check > now {
        return Verdict::keep(false);
    }
    match conn.discard(scratch) {
        Received::Closed => Verdict::close(),
        Received::Bytes(_) => Verdict::keep(true),
        Received::Nothing => {
            conn.schedule.next_check = now + LINGER_CHECK;
            Verdict::keep(false)
        }
    }
}

/// Looks at a stream: finishes writes the client did not take, reads what it sends (WebSocket
/// frames go to a worker once complete; anything sent on a subscription is ignored), closes it
/// when the client leaves, falls behind, or the gateway drains. Streams have no idle timeout.
fn visit_stream(
    conn: &mut Connection,
    scratch: &mut [u8],
    shared: &Shared,
    pass: &Pass,
) -> Verdict {
    let now = pass.now;
    let Some(stream) = conn.stream_mut() else {
        return Verdict::close();
    };
    let outbox = std::sync::Arc::clone(&stream.outbox);
    let ending = stream.ending;
    let websocket = stream.websocket.is_some();
    if outbox.is_gone() || outbox.stalled(now, shared.cfg.write_timeout) {
        // Gone, or its client took nothing of what waits for `--write-timeout`.
        return Verdict::close();
    }
    match outbox.flush() {
        Ok(true) if ending => return Verdict::close(),
        Ok(_) => {}
        Err(_) => return Verdict::close(),
    }
    if !ending && !outbox.keep_alive(now, STREAM_KEEPALIVE_INTERVAL) {
        return Verdict::close();
    }
    if shared.is_stopping() {
        // Draining: end the stream cleanly (the last chunk, or a WebSocket close "going away").
        outbox.send_raw(&outbox.goodbye(1001, "server shutting down"));
        return Verdict::close();
    }
    if conn.schedule.next_check > now {
        return Verdict::keep(false);
    }
    conn.schedule.next_check = now;
    let mut progress = false;
    if websocket && !ending {
        // A WebSocket client that sends faster than it is served is not read further until its
        // input drains below one message and one read (back-pressure, bounded memory).
        let full = conn.input().len() > shared.cfg.max_ws_message.saturating_add(READ_CHUNK);
        let allowance = conn.read_allowance(scratch.len());
        if !full && allowance > 0 {
            let scratch = scratch.get_mut(..allowance).unwrap_or_default();
            match conn.receive(scratch, now, &shared.metrics) {
                Received::Closed => return Verdict::close(),
                Received::Bytes(_) => progress = true,
                Received::Nothing => {}
            }
        }
    } else {
        match conn.discard(scratch) {
            Received::Closed => return Verdict::close(),
            Received::Bytes(n) => {
                progress = true;
                Metrics::add(&shared.metrics.bytes_in, n as u64);
                conn.schedule.last_activity = now;
            }
            Received::Nothing => {}
        }
    }
    if conn.has_unparsed() && !outbox.is_awaiting(now, shared.cfg.redis_timeout) {
        conn.take_unparsed();
        // A complete frame, or bytes that cannot be one: a worker answers. (While a SUBSCRIBE
        // waits for its confirmation, the messages after it wait too.)
        if !matches!(
            frame::parse(conn.input(), shared.cfg.max_ws_message),
            Ok(Status::Partial)
        ) {
            return Verdict::dispatch(Turn::Serve);
        }
    }
    Verdict::keep(progress)
}

/// The pause before reading again a fresh connection (nothing received yet) whose last
/// `empty_reads` reads found nothing: [`FRESH_MIN_PAUSE`] doubling up to [`MAX_NAP`].
fn fresh_pause(empty_reads: u32) -> Duration {
    FRESH_MIN_PAUSE
        .saturating_mul(1 << empty_reads.min(16))
        .min(MAX_NAP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_pause_doubles_up_to_the_longest_nap() {
        assert_eq!(fresh_pause(0), FRESH_MIN_PAUSE);
        assert_eq!(fresh_pause(1), FRESH_MIN_PAUSE * 2);
        assert_eq!(fresh_pause(40), MAX_NAP);
        assert_eq!(fresh_pause(u32::MAX), MAX_NAP);
    }
}
