//! The main thread's poll loop: accept, read parked connections, dispatch, enforce timeouts.
//!
//! std has no epoll, so readiness is found by trying: a nonblocking `accept` until `WouldBlock`,
//! then a nonblocking `read` on each parked connection that is due for a look. The loop never
//! blocks and does bounded work per pass:
//!
//! * at most [`ACCEPTS_PER_PASS`] accepts and one read of at most [`READ_CHUNK`] per connection;
//! * parked connections live in two lanes. One active in the last [`HOT_WINDOW`] is in the hot
//!   lane, visited (and read) on every pass. The others are in the quiet lane, visited
//!   round-robin, a share on each pass, so that each is read once per quiet interval; the
//!   interval grows with the number of parked connections ([`SCAN_READS_PER_SEC`] reads per
//!   second in all, at least every [`MIN_SCAN_INTERVAL`]). So a pass costs in proportion to the
//!   active connections, 1,000 idle keep-alive connections cost a few percent of a core, and the
//!   quiet reads never come in a burst; the price is that a request on a connection quiet among
//!   1,000 others waits up to 100 ms to be noticed (std has no epoll to say which is readable);
//! * a connection that has sent nothing since it was accepted stays hot for [`FRESH_WINDOW`],
//!   but is reread after a pause growing from [`FRESH_MIN_PAUSE`] to [`MAX_NAP`]: a burst of new
//!   connections is served within a millisecond of each request's arrival without costing a
//!   read per connection per pass;
//! * when a pass finds nothing to do, the loop sleeps [`MIN_NAP`], doubling up to [`MAX_NAP`];
//!   any progress resets the nap, so a request on a quiet gateway waits about a millisecond.
//!
//! A connection goes to the workers only when its buffer holds a complete request (or bytes the
//! parser already rejects), so no worker ever waits for a client to send. Response bytes a client
//! does not take at once are written by the loop as the client reads them; a client that takes
//! nothing for `--write-timeout` is closed.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, Instant};

use super::connection::{Connection, Flush};
use super::queue::Task;
use super::stream::{Outbox, Transport};
use super::worker::MAX_BATCH;
use super::Shared;
use crate::config::Config;
use crate::http::{self, Status};
use crate::log;
use crate::metrics::Metrics;
use crate::websocket::frame;

/// Most connections accepted in one pass, so a connection storm cannot starve parked clients.
pub const ACCEPTS_PER_PASS: usize = 64;
/// Largest read from one connection in one pass.
pub const READ_CHUNK: usize = 64 * 1024;
/// A connection with activity this recent is read on every pass.
pub const HOT_WINDOW: Duration = Duration::from_millis(5);
/// Budget of reads per second spent on quiet connections.
pub const SCAN_READS_PER_SEC: u64 = 10_000;
/// Quiet connections are read at least this often, however few there are.
pub const MIN_SCAN_INTERVAL: Duration = Duration::from_millis(1);
/// First sleep after a pass that found nothing to do.
pub const MIN_NAP: Duration = Duration::from_micros(20);
/// Longest sleep between passes.
pub const MAX_NAP: Duration = Duration::from_millis(1);
/// A connection that has sent nothing since it was accepted stays in the hot lane this long.
///
/// A client usually sends its request right after connecting, but not always at once: `ab -c
/// 1000` opens all its connections before it writes the first request, so each waits tens of
/// milliseconds. Moved to the quiet lane after [`HOT_WINDOW`] like an idle keep-alive
/// connection, such a request waited up to the quiet interval (100 ms among 1,000) to be seen.
pub const FRESH_WINDOW: Duration = Duration::from_millis(250);
/// First pause before reading again a fresh connection that had nothing to read; it doubles
/// up to [`MAX_NAP`] while the connection stays silent, so a thousand connections waiting for
/// their first request cost at most one read each per millisecond, not one each per pass.
pub const FRESH_MIN_PAUSE: Duration = Duration::from_micros(50);
/// How long a closing connection is drained before it is closed for good.
pub const LINGER: Duration = Duration::from_secs(2);
/// Pause after an accept error such as EMFILE, so that the loop does not spin on it.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The loop's own state: the listener and the parked connections.
#[derive(Debug)]
pub struct PollLoop {
    /// The data listener and, when configured, the admin listener (`true`). Emptied when a
    /// drain begins, so that the OS refuses new connections.
    listeners: Vec<(TcpListener, bool)>,
    /// Parked connections with recent activity: visited on every pass.
    hot: Vec<Connection>,
    /// Parked connections without: visited round-robin, a share on each pass.
    quiet: Vec<Connection>,
    /// Where the round-robin over `quiet` goes on.
    quiet_cursor: usize,
    /// Quiet visits earned by the time since the last pass and not yet made.
    quiet_credit: f64,
    /// When the last pass began.
    last_pass: Instant,
    returned: Vec<Connection>,
    /// Connections found ready during the current pass.
    ready: Vec<Task>,
    scratch: Box<[u8]>,
    nap: Duration,
    accept_paused_until: Option<Instant>,
    last_accept_error_log: Option<Instant>,
    /// Refusals already reported in the log, and when the last report was.
    refusals_reported: u64,
    last_refusal_log: Option<Instant>,
}

impl PollLoop {
    /// Takes the bound data listener and, optionally, the admin listener, and makes them
    /// nonblocking.
    ///
    /// # Errors
    ///
    /// When a listener cannot be made nonblocking.
    pub fn new(listener: TcpListener, admin: Option<TcpListener>) -> io::Result<PollLoop> {
        let mut listeners = vec![(listener, false)];
        listeners.extend(admin.map(|a| (a, true)));
        for (listener, _) in &listeners {
            listener.set_nonblocking(true)?;
        }
        Ok(PollLoop {
            listeners,
            hot: Vec::new(),
            quiet: Vec::new(),
            quiet_cursor: 0,
            quiet_credit: 0.0,
            last_pass: Instant::now(),
            returned: Vec::new(),
            ready: Vec::new(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            nap: MIN_NAP,
            accept_paused_until: None,
            last_accept_error_log: None,
            refusals_reported: 0,
            last_refusal_log: None,
        })
    }

    /// Runs passes until a drain completes: once `POST /shutdown` sets `shared.draining`, the
    /// listeners close (new connections are refused), idle connections are closed, and the loop
    /// returns when every connection is closed or `--drain-timeout` has passed.
    pub fn run(&mut self, shared: &Shared) {
        let mut drain_deadline = None;
        loop {
            if drain_deadline.is_none() && shared.is_stopping() {
                drain_deadline = Some(Instant::now() + shared.cfg.drain_timeout);
                self.listeners.clear();
                log::info(format_args!(
                    "draining: no new connections; finishing requests in flight (at most {:?})",
                    shared.cfg.drain_timeout
                ));
            }
            let progress = self.pass(shared);
            Metrics::add(&shared.metrics.poll_passes, 1);
            if let Some(deadline) = drain_deadline {
                let open = shared.open_connections.load(Ordering::Relaxed);
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
            } else {
                Metrics::add(&shared.metrics.poll_sleeps, 1);
                thread::sleep(self.nap);
                self.nap = (self.nap * 2).min(MAX_NAP);
            }
        }
        for conn in self.hot.drain(..).chain(self.quiet.drain(..)) {
            shared.close_connection(conn);
        }
    }

    /// One pass; true when it made progress.
    fn pass(&mut self, shared: &Shared) -> bool {
        let now = Instant::now();
        let mut progress = self.accept(shared, now);
        shared.handback.drain_into(&mut self.returned);
        if !self.returned.is_empty() {
            progress = true;
            for mut conn in self.returned.drain(..) {
                conn.next_check = now;
                self.hot.push(conn);
            }
        }
        // Each quiet connection is visited once per quiet interval: the time since the last
        // pass earns that share of the quiet lane, visited round-robin. Spread evenly, those
        // reads never stall the active connections behind a burst of a thousand.
        let parked = self.hot.len() + self.quiet.len();
        let elapsed = now.duration_since(self.last_pass).as_secs_f64();
        self.last_pass = now;
        let share = self.quiet.len() as f64 * elapsed / quiet_interval(parked).as_secs_f64();
        self.quiet_credit = (self.quiet_credit + share).min(self.quiet.len() as f64);
        let budget = self.quiet_credit as usize;
        self.quiet_credit -= budget as f64;
        let pass = Pass::new(now, &shared.cfg);
        let PollLoop {
            hot,
            quiet,
            quiet_cursor,
            scratch,
            ready,
            ..
        } = self;
        progress |= visit_hot(hot, quiet, scratch, ready, shared, &pass);
        progress |= visit_quiet(
            quiet,
            hot,
            quiet_cursor,
            budget,
            scratch,
            ready,
            shared,
            &pass,
        );
        if !self.ready.is_empty() {
            // One push for the whole pass, so workers can take several connections at once.
            shared.queue.push_all(&mut self.ready, MAX_BATCH);
            for task in self.ready.drain(..) {
                // The queue is full. A burst should not turn into 503s: the connection stays
                // parked and tries again on the next pass. Only one that has waited longer than
                // the checkout timeout for a slot (sustained overload) is refused.
                let (Task::Serve(mut conn) | Task::TimedOut(mut conn)) = task;
                let since = *conn.waiting_since.get_or_insert(now);
                // A stream is never refused with an HTTP answer (it would land inside its
                // frames): it waits, parked, with what it sent buffered (bounded, see
                // `visit_stream`).
                if conn.outbox.is_none() && now.duration_since(since) >= shared.cfg.checkout_timeout
                {
                    Metrics::add(&shared.metrics.queue_full, 1);
                    refuse(conn, shared, "server busy: task queue full, retry");
                } else {
                    conn.unparsed = true;
                    conn.next_check = now;
                    self.hot.push(conn);
                }
            }
        }
        shared
            .parked_connections
            .store(self.hot.len() + self.quiet.len(), Ordering::Relaxed);
        self.report_refusals(shared, now);
        progress
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

    fn accept(&mut self, shared: &Shared, now: Instant) -> bool {
        if let Some(until) = self.accept_paused_until {
            if now < until {
                return false;
            }
            self.accept_paused_until = None;
        }
        let mut progress = false;
        let mut accepted = 0;
        for (listener, admin) in &self.listeners {
            if accepted >= ACCEPTS_PER_PASS {
                break;
            }
            loop {
                if accepted >= ACCEPTS_PER_PASS {
                    break;
                }
                let (stream, peer) = match listener.accept() {
                    Ok(pair) => pair,
                    Err(e) => match accept_error(&e) {
                        AcceptError::Done => break,
                        AcceptError::Retry => continue,
                        AcceptError::Pause => {
                            // EMFILE, ENFILE, ENOBUFS…: the pending connection stays in the
                            // backlog. Log at most once a second and stop accepting briefly
                            // instead of spinning.
                            let log_now = self
                                .last_accept_error_log
                                .map(|t| now.duration_since(t) >= Duration::from_secs(1))
                                .unwrap_or(true);
                            if log_now {
                                log::error(format_args!(
                                    "accept failed: {e} (out of file descriptors? raise `ulimit -n` or lower --max-connections)"
                                ));
                                self.last_accept_error_log = Some(now);
                            }
                            self.accept_paused_until = Some(now + ACCEPT_ERROR_PAUSE);
                            return progress;
                        }
                    },
                };
                progress = true;
                accepted += 1;
                if let Err(e) = arm(&stream) {
                    log::debug(format_args!("dropping {peer}: {e}"));
                    continue;
                }
                Metrics::add(&shared.metrics.accepted, 1);
                let mut conn = Connection::new(stream, peer, now);
                conn.admin = *admin;
                // Counted first, so that `refuse` (which uncounts) keeps the count exact.
                let open = shared.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
                if open > shared.cfg.max_connections && !admin {
                    refuse(
                        conn,
                        shared,
                        "too many open connections (--max-connections)",
                    );
                    continue;
                }
                self.hot.push(conn);
            }
        }
        progress
    }
}

/// Visits every hot connection (see [`visit`]): hands ready ones to `ready`, closes those that
/// are done, and moves one that has gone quiet to `quiet`. True when anything progressed.
fn visit_hot(
    hot: &mut Vec<Connection>,
    quiet: &mut Vec<Connection>,
    scratch: &mut [u8],
    ready: &mut Vec<Task>,
    shared: &Shared,
    pass: &Pass,
) -> bool {
    let mut progress = false;
    let mut i = 0;
    while let Some(conn) = hot.get_mut(i) {
        let verdict = visit(conn, scratch, shared, pass);
        progress |= verdict.progress;
        match verdict.action {
            Action::Keep if pass.is_hot(conn) => i += 1,
            Action::Keep => quiet.push(hot.swap_remove(i)),
            Action::Close => shared.close_connection(hot.swap_remove(i)),
            Action::Dispatch(timed_out) => ready.push(task(hot.swap_remove(i), timed_out)),
        }
    }
    progress
}

/// Visits the next `budget` quiet connections round-robin from `cursor`: hands ready ones to
/// `ready`, closes those that are done, and moves one that woke up to `hot`.
#[allow(clippy::too_many_arguments)]
fn visit_quiet(
    quiet: &mut Vec<Connection>,
    hot: &mut Vec<Connection>,
    cursor: &mut usize,
    budget: usize,
    scratch: &mut [u8],
    ready: &mut Vec<Task>,
    shared: &Shared,
    pass: &Pass,
) -> bool {
    let mut progress = false;
    for _ in 0..budget {
        if *cursor >= quiet.len() {
            *cursor = 0;
        }
        let Some(conn) = quiet.get_mut(*cursor) else {
            break;
        };
        let verdict = visit(conn, scratch, shared, pass);
        progress |= verdict.progress;
        // A removal moves the last connection into the cursor's place; it is visited next.
        match verdict.action {
            Action::Keep if pass.is_hot(conn) => hot.push(quiet.swap_remove(*cursor)),
            Action::Keep => *cursor += 1,
            Action::Close => shared.close_connection(quiet.swap_remove(*cursor)),
            Action::Dispatch(timed_out) => ready.push(task(quiet.swap_remove(*cursor), timed_out)),
        }
    }
    progress
}

fn task(conn: Connection, timed_out: bool) -> Task {
    if timed_out {
        Task::TimedOut(conn)
    } else {
        Task::Serve(conn)
    }
}

/// Looks at one parked connection: reads if due, checks timeouts, decides what to do.
fn visit(conn: &mut Connection, scratch: &mut [u8], shared: &Shared, pass: &Pass) -> Verdict {
    let now = pass.now;
    if let Some(until) = conn.linger_until {
        return linger(conn, scratch, now, until);
    }
    if let Some(outbox) = conn.outbox.clone() {
        return visit_stream(conn, &outbox, scratch, shared, pass);
    }
    let mut progress = false;
    if conn.has_output() {
        // A response the client has not taken yet: nothing else happens on this connection
        // until it is written (back-pressure: no reading, no new request).
        if conn.next_check > now {
            return Verdict::keep(false);
        }
        match conn.flush(now, &shared.metrics) {
            Ok(Flush::Done) => progress = true,
            Ok(Flush::Blocked) => {
                if expired(conn.last_activity, pass.write_before) {
                    log::debug(format_args!("{} stopped reading; closing", conn.peer));
                    return Verdict::close();
                }
                conn.next_check = now;
                return Verdict::keep(false);
            }
            Err(_) => return Verdict::close(),
        }
    }
    if conn.close_after_flush {
        // Everything is written: stop sending, drain what the client still sends, close.
        let _ = conn.stream.shutdown(Shutdown::Write);
        conn.linger_until = Some(now + LINGER);
        conn.next_check = now;
        return Verdict::keep(true);
    }
    if conn.next_check <= now {
        match conn.stream.read(scratch) {
            Ok(0) => return Verdict::close(),
            Ok(n) => {
                progress = true;
                Metrics::add(&shared.metrics.bytes_in, n as u64);
                if conn.buf.is_empty() {
                    conn.request_started = Some(now);
                }
                conn.buf
                    .extend_from_slice(scratch.get(..n).unwrap_or_default());
                conn.last_activity = now;
                conn.next_check = now;
                conn.unparsed = true;
                conn.fresh = false;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.next_check = now;
                if conn.fresh {
                    conn.next_check = now + fresh_pause(conn.empty_reads);
                    conn.empty_reads = conn.empty_reads.saturating_add(1);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Verdict::close(),
        }
    }
    if conn.buf.is_empty() {
        return if expired(conn.last_activity, pass.idle_before) || shared.is_stopping() {
            Verdict::close()
        } else {
            Verdict::keep(progress)
        };
    }
    if conn.unparsed {
        // Parse only when bytes arrived (or a worker left some): a slow client costs one
        // parse per read, not one per pass.
        conn.unparsed = false;
        if let Readiness::Ready = readiness(conn, shared) {
            return Verdict {
                action: Action::Dispatch(false),
                progress: true,
            };
        }
    }
    if timed_out(conn, pass) {
        return Verdict {
            action: Action::Dispatch(true),
            progress: true,
        };
    }
    Verdict::keep(progress)
}

/// Looks at a stream: finishes writes the client did not take, reads what it sends (WebSocket
/// frames go to a worker once complete; anything sent on a subscription is ignored), closes it
/// when the client leaves, falls behind, or the gateway drains. Streams have no idle timeout.
fn visit_stream(
    conn: &mut Connection,
    outbox: &Outbox,
    scratch: &mut [u8],
    shared: &Shared,
    pass: &Pass,
) -> Verdict {
    let now = pass.now;
    if outbox.is_gone() || outbox.stalled(now, shared.cfg.write_timeout) {
        // Gone, or its client took nothing of what waits for `--write-timeout`.
        return Verdict::close();
    }
    let mut progress = false;
    match outbox.flush() {
        Ok(true) if conn.close_after_flush => return Verdict::close(),
        Ok(_) => {}
        Err(_) => return Verdict::close(),
    }
    if shared.is_stopping() {
        // Draining: end the stream cleanly (the last chunk, or a WebSocket close "going away").
        let mut bye = Vec::new();
        match outbox.transport() {
            Transport::Chunked => bye.extend_from_slice(b"0\r\n\r\n"),
            Transport::WebSocketText | Transport::WebSocketBinary => {
                frame::write_close(&mut bye, 1001, "server shutting down")
            }
        }
        outbox.send_raw(&bye);
        return Verdict::close();
    }
    // A WebSocket client that sends faster than it is served is not read further until its
    // buffer drains below one message and one read (back-pressure, bounded memory).
    let full = conn.buf.len() > shared.cfg.max_ws_message.saturating_add(READ_CHUNK);
    if conn.next_check > now {
        return Verdict::keep(false);
    }
    let read = if full {
        Err(io::ErrorKind::WouldBlock.into())
    } else {
        conn.stream.read(scratch)
    };
    match read {
        Ok(0) => return Verdict::close(),
        Ok(n) => {
            progress = true;
            Metrics::add(&shared.metrics.bytes_in, n as u64);
            conn.last_activity = now;
            if conn.websocket.is_some() && !conn.close_after_flush {
                conn.buf
                    .extend_from_slice(scratch.get(..n).unwrap_or_default());
                conn.unparsed = true;
            }
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
        Err(_) => return Verdict::close(),
    }
    conn.next_check = now;
    if conn.unparsed && !outbox.is_awaiting(now, shared.cfg.redis_timeout) {
        conn.unparsed = false;
        // A complete frame, or bytes that cannot be one: a worker answers. (While a SUBSCRIBE
        // waits for its confirmation, the messages after it wait too.)
        if !matches!(
            frame::parse(&conn.buf, shared.cfg.max_ws_message),
            Ok(Status::Partial)
        ) {
            return Verdict {
                action: Action::Dispatch(false),
                progress: true,
            };
        }
    }
    Verdict::keep(progress)
}

#[derive(Debug)]
enum Action {
    Keep,
    Close,
    /// Hand to a worker; `true` when the request timed out (408).
    Dispatch(bool),
}

#[derive(Debug)]
struct Verdict {
    action: Action,
    progress: bool,
}

impl Verdict {
    fn keep(progress: bool) -> Verdict {
        Verdict {
            action: Action::Keep,
            progress,
        }
    }
    fn close() -> Verdict {
        Verdict {
            action: Action::Close,
            progress: true,
        }
    }
}

enum Readiness {
    /// A complete request, or bytes the parser rejects: a worker must answer.
    Ready,
    /// More bytes are needed.
    Waiting,
}

/// Advances the cached parse of the request at the start of `conn.buf`.
fn readiness(conn: &mut Connection, shared: &Shared) -> Readiness {
    let limits = &shared.limits;
    if conn.head.is_none() {
        match http::parse_head(&conn.buf, limits) {
            Ok(Status::Partial) => return Readiness::Waiting,
            Ok(Status::Complete(head)) => conn.head = Some(head),
            Err(_) => return Readiness::Ready,
        }
    }
    let Some((head, head_len)) = &conn.head else {
        return Readiness::Waiting;
    };
    let body = conn.buf.get(*head_len..).unwrap_or_default();
    match http::scan_body(body, head.framing, &mut conn.scan, limits) {
        Ok(Status::Complete(_)) | Err(_) => Readiness::Ready,
        Ok(Status::Partial) => {
            if head.expect_continue && !conn.continue_sent && body.is_empty() {
                // RFC 9110 §10.1.1: the client waits for this before sending the body. The head
                // passed every check that does not need the body, so the request will be read.
                conn.continue_sent = true;
                if conn.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n").ok() != Some(25) {
                    return Readiness::Ready; // the worker will find the socket broken
                }
            }
            Readiness::Waiting
        }
    }
}

/// Whether the request being received has been too slow: the head must be complete within the
/// header timeout of its first byte; a body may not pause longer than the body timeout.
fn timed_out(conn: &Connection, pass: &Pass) -> bool {
    match (&conn.head, conn.request_started) {
        (None, Some(started)) => expired(started, pass.header_before),
        (Some(_), _) => expired(conn.last_activity, pass.body_before),
        (None, None) => false,
    }
}

/// The instants one pass compares with, computed once per pass: comparing two `Instant`s is
/// cheap, while computing a `Duration` per connection per pass was a fifth of the loop's
/// instructions (measured with callgrind).
#[derive(Debug)]
struct Pass {
    now: Instant,
    /// Activity after this makes a connection hot (read every pass).
    hot_after: Option<Instant>,
    /// A connection accepted after this that has sent nothing yet is hot too.
    fresh_after: Option<Instant>,
    idle_before: Option<Instant>,
    header_before: Option<Instant>,
    body_before: Option<Instant>,
    write_before: Option<Instant>,
}

impl Pass {
    fn new(now: Instant, cfg: &Config) -> Pass {
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
        (conn.fresh
            && self
                .fresh_after
                .map_or(true, |after| conn.last_activity > after))
            || conn.unparsed
            || self
                .hot_after
                .map_or(true, |after| conn.last_activity > after)
    }
}

/// True when `t` is at or before `before` (`None`: the process is younger than the timeout).
fn expired(t: Instant, before: Option<Instant>) -> bool {
    before.is_some_and(|before| t <= before)
}

/// Reads and discards from a closing connection until EOF or the deadline.
fn linger(conn: &mut Connection, scratch: &mut [u8], now: Instant, until: Instant) -> Verdict {
    if now >= until {
        return Verdict::close();
    }
    if conn.next_check > now {
        return Verdict::keep(false);
    }
    match conn.stream.read(scratch) {
        Ok(0) => Verdict::close(),
        Ok(_) => Verdict::keep(true),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            conn.next_check = now + Duration::from_millis(10);
            Verdict::keep(false)
        }
        Err(_) => Verdict::close(),
    }
}

/// The pause before reading again a fresh connection (nothing received yet) whose last
/// `empty_reads` reads found nothing: [`FRESH_MIN_PAUSE`] doubling up to [`MAX_NAP`].
fn fresh_pause(empty_reads: u32) -> Duration {
    FRESH_MIN_PAUSE
        .saturating_mul(1 << empty_reads.min(16))
        .min(MAX_NAP)
}

/// The interval at which quiet connections are read: the read budget spread over all of them.
fn quiet_interval(parked: usize) -> Duration {
    let per_conn = Duration::from_micros(1_000_000 * parked as u64 / SCAN_READS_PER_SEC);
    per_conn.max(MIN_SCAN_INTERVAL)
}

/// Prepares an accepted socket: nonblocking for its whole life (the accepted socket may or may
/// not inherit the listener's mode, so set it), and responses go out without Nagle delay.
fn arm(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)
}

/// Answers 503 with a best-effort nonblocking write and closes; used when no worker can take it.
fn refuse(conn: Connection, shared: &Shared, why: &str) {
    Metrics::add(&shared.metrics.refused, 1);
    let response = crate::api::Error::Overloaded(why.to_string()).into_response();
    let response = shared.decorate(response, conn.admin);
    let mut out = Vec::new();
    http::response::write(&response, false, &shared.date(), &mut out);
    let mut stream = &conn.stream;
    let _ = stream.write(&out);
    let _ = conn.stream.shutdown(Shutdown::Both);
    shared.close_connection(conn);
}

/// What to do after a failed `accept`.
enum AcceptError {
    /// Nothing more to accept now (`WouldBlock`).
    Done,
    /// Try the next one: interrupted, or the client gave up before we accepted it.
    Retry,
    /// A resource problem (out of descriptors…): pause accepting.
    Pause,
}

fn accept_error(e: &io::Error) -> AcceptError {
    match e.kind() {
        io::ErrorKind::WouldBlock => AcceptError::Done,
        io::ErrorKind::Interrupted
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset => AcceptError::Retry,
        _ => AcceptError::Pause,
    }
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

    #[test]
    fn fresh_pause_doubles_up_to_the_longest_nap() {
        assert_eq!(fresh_pause(0), FRESH_MIN_PAUSE);
        assert_eq!(fresh_pause(1), FRESH_MIN_PAUSE * 2);
        assert_eq!(fresh_pause(40), MAX_NAP);
        assert_eq!(fresh_pause(u32::MAX), MAX_NAP);
    }
}
