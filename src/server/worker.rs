//! Worker threads (`worker-1` … `worker-N`): take a batch of ready connections, answer every
//! complete request buffered on them, in order, then hand them back to the poll loop.
//!
//! A batch is served in waves. A wave takes the next request of every connection in the batch,
//! sends all their Redis commands in one round trip (one write, then the replies in order), and
//! appends each response to its connection's output. Waves repeat while connections hold complete
//! requests, so pipelined requests are answered in order, and under load one wakeup and one Redis
//! round trip serve several clients.
//!
//! A worker never waits for a client. It reads nothing (the poll loop gave it complete requests)
//! and writes without blocking: what a client does not take at once stays in the connection's
//! output, the connection takes no more requests until the client reads it, and the poll loop
//! finishes the writing. A worker blocks only on Redis, bounded by the checkout and reply
//! timeouts. A panic in a handler is caught: the client gets 500, the worker lives on.
//!
//! The worker knows no API: it asks the configured one ([`crate::api::Service`]) what a request
//! needs, runs the commands through the Redis backend, and writes what the API answers. A
//! request that turns its connection into a stream (a subscription, a WebSocket handshake) and
//! the messages a WebSocket sends are served by the steps in `worker/streaming.rs`.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod streaming;

use super::connection::{Class, Connection, Incoming, Listener, Phase, Readiness, Received};
use super::input::READ_CHUNK;
use super::lanes::{Turn, QUIET_CAPACITY};
use super::output::Flush;
use super::queue::MAX_BATCH;
use super::Shared;
use crate::api::admin::Admin;
use crate::api::{self, Client, Step};
use crate::http::response::{self, Body, Response};
use crate::http::{date, Head, Method, Request, Version};
use crate::log;
use crate::metrics::{Metrics, RedisErrorKind};
use crate::redis::{self, Command};
use crate::resp::Value;

/// How long a worker waits for the next request of a client that sends back to back (see
/// `Worker::await_next_request`): long enough for a client on the same host or network to read
/// an answer and send again, short enough that a worker is never held long.
pub const NEXT_REQUEST_WAIT: Duration = Duration::from_micros(500);
/// A client whose last request came within this of the answer before sends back to back: a
/// worker may wait for its next one.
pub const BACK_TO_BACK: Duration = Duration::from_millis(1);
/// Most workers waiting for a next request at once, so that most are always free for the queue.
pub const MAX_AWAITING_WORKERS: usize = 3;
/// Most WebSocket messages of one connection served in one turn, so that a client sending a
/// flood of frames cannot keep a worker to itself.
pub const MAX_WS_MESSAGES_PER_TURN: usize = 64;
/// A connection with this many response bytes waiting takes no further request in this turn:
/// the bound (plus one response) on what a pipelining client can make the gateway hold for it.
pub const OUT_BATCH_BYTES: usize = 64 * 1024;

/// Starts `n` workers taking batches from the shared queue.
///
/// # Errors
///
/// When the OS cannot start a thread.
pub fn spawn(n: usize, shared: &Arc<Shared>) -> io::Result<Vec<JoinHandle<()>>> {
    (1..=n)
        .map(|i| {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || Worker::new(&shared).run())
        })
        .collect()
}

/// One worker's reusable state.
struct Worker<'a> {
    shared: &'a Shared,
    date: DateCache,
    /// Where a read of a connection the worker waits on lands.
    scratch: Box<[u8]>,
}

/// One request of a wave, taken off its connection's input.
enum Item {
    /// A request to serve.
    Request {
        req: Request,
        /// Arrived on the data or the admin listener.
        listener: Listener,
        /// When its first byte arrived.
        started: Instant,
    },
    /// Bytes the parser refused: answer this (closing) response.
    Refused(Response, Instant),
}

impl Item {
    /// The request's method, when there is one.
    fn method(&self) -> Option<&Method> {
        match self {
            Item::Request { req, .. } => Some(&req.head.method),
            Item::Refused(..) => None,
        }
    }

    /// A `HEAD` request's answer is sent without its body.
    fn body(&self) -> Body {
        match self.method() {
            Some(Method::Head) => Body::Omit,
            _ => Body::Send,
        }
    }

    /// The request's head, when there is one.
    fn head(&self) -> Option<&Head> {
        match self {
            Item::Request { req, .. } => Some(&req.head),
            Item::Refused(..) => None,
        }
    }

    /// The listener it came from (a refusal is answered as the data listener answers).
    fn listener(&self) -> Listener {
        match self {
            Item::Request { listener, .. } => *listener,
            Item::Refused(..) => Listener::Data,
        }
    }
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared) -> Worker<'a> {
        Worker {
            shared,
            date: DateCache::default(),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
        }
    }

    fn run(mut self) {
        let mut tasks = Vec::with_capacity(MAX_BATCH);
        let mut conns = Vec::with_capacity(MAX_BATCH);
        loop {
            self.shared.queue.pop_batch(MAX_BATCH, &mut tasks);
            if tasks.is_empty() {
                return; // the queue is closed
            }
            for mut task in tasks.drain(..) {
                task.conn.schedule.class = Class::Urgent;
                if task.turn == Turn::TimedOut {
                    let listener = task.conn.listener();
                    let response = self.shared.decorate(
                        api::Error::SlowRequest.into_response(),
                        listener,
                        None,
                    );
                    self.queue_response(&mut task.conn, &response, Body::Send);
                }
                conns.push(task.conn);
            }
            loop {
                while self.wave(&mut conns) {}
                for conn in &mut conns {
                    if conn.stream_mut().is_some_and(|s| s.websocket.is_some()) {
                        self.serve_websocket(conn);
                    }
                }
                if !self.await_next_request(&mut conns) {
                    break;
                }
            }
            let now = Instant::now();
            for mut conn in conns.drain(..) {
                if let Some(outbox) = conn.outbox() {
                    // A stream: the poll loop owns it from here.
                    if outbox.is_gone() {
                        self.shared.close_connection(conn);
                    } else {
                        self.shared.inbox.push(conn);
                    }
                    continue;
                }
                let closing = matches!(conn.phase(), Phase::Closing);
                match conn.flush(now, &self.shared.metrics) {
                    Ok(Flush::Done) if closing && conn.nothing_pending() => {
                        // All written and the client sent nothing more: closing now cannot reset
                        // the connection under the client's feet, so no lingering is needed.
                        self.shared.close_connection(conn)
                    }
                    // The poll loop writes the rest, reads the next request, or lingers and closes.
                    Ok(_) => self.shared.inbox.push(conn),
                    Err(_) => self.shared.close_connection(conn),
                }
            }
        }
    }

    /// Keeps a lone connection whose client sends back to back for a moment, in case its next
    /// request comes at once: then it is served here, without the two hand-overs through the
    /// poll loop and the queue (each a thread wake-up). True when a request came.
    ///
    /// Only when it costs nobody anything: the batch is this one keep-alive connection, its
    /// answer is written, its last request came right after the answer before ([`BACK_TO_BACK`]),
    /// nothing waits in the task queue, and at most [`MAX_AWAITING_WORKERS`] workers wait so at
    /// once. The wait is a blocking read of at most [`NEXT_REQUEST_WAIT`]; a task that arrives
    /// meanwhile is taken by another worker.
    fn await_next_request(&mut self, conns: &mut [Connection]) -> bool {
        let [conn] = conns else {
            return false;
        };
        let eligible = matches!(conn.phase(), Phase::Open)
            && conn.schedule.gap.is_some_and(|gap| gap <= BACK_TO_BACK)
            && conn.input().is_empty()
            && self.shared.queue.is_empty()
            && conn.flush(Instant::now(), &self.shared.metrics).ok() == Some(Flush::Done);
        if !eligible {
            return false;
        }
        let awaiting = &self.shared.awaiting_workers;
        if awaiting.fetch_add(1, Ordering::Relaxed) >= MAX_AWAITING_WORKERS {
            awaiting.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        let received = conn.await_input(NEXT_REQUEST_WAIT, &mut self.scratch, &self.shared.metrics);
        awaiting.fetch_sub(1, Ordering::Relaxed);
        let served = matches!(received, Received::Bytes(_))
            && conn.poll_request(&self.shared.limits) == Readiness::Ready;
        if served {
            Metrics::add(&self.shared.metrics.awaited_requests, 1);
        }
        served
    }

    /// Serves the next complete request of every connection that can take one; false when none
    /// could. Answers that need no Redis (admin endpoints, errors, `OPTIONS`) are written first,
    /// so that a slow Redis round trip for the others never holds up a health check. (Each
    /// connection has at most one request in a wave, so this never reorders a connection's
    /// answers.)
    fn wave(&mut self, conns: &mut [Connection]) -> bool {
        let mut items = Vec::with_capacity(conns.len());
        for (i, conn) in conns.iter_mut().enumerate() {
            if let Some(item) = self.take_request(conn) {
                items.push((i, item));
            }
        }
        if items.is_empty() {
            return false;
        }
        let mut calls = Vec::with_capacity(items.len());
        let mut transactions = Vec::new();
        for (i, item) in &items {
            let Some(conn) = conns.get_mut(*i) else {
                continue;
            };
            let client = Client {
                addr: conn.peer().ip(),
            };
            let step = match item {
                Item::Request {
                    req,
                    listener: Listener::Admin,
                    ..
                } => Step::Answer(self.admin(req)),
                Item::Request { req, .. } => guarded(req, || self.shared.api.plan(req, client)),
                Item::Refused(response, _) => Step::Answer(response.clone()),
            };
            match step {
                Step::Answer(response) => {
                    self.deliver(conn, item, response);
                    let _ = conn.flush(Instant::now(), &self.shared.metrics);
                }
                Step::Call(call) => calls.push((*i, item, Pending::One(call))),
                Step::Pipeline(batch) => calls.push((*i, item, Pending::Many(batch))),
                Step::Transaction(batch) => transactions.push((*i, item, batch)),
                Step::Subscribe(subscription) => {
                    self.start_subscription(conn, item, subscription);
                }
                Step::Upgrade(upgrade) => self.start_websocket(conn, item, upgrade),
            }
        }
        let mut commands: Vec<Command<'_>> = Vec::with_capacity(calls.len());
        for (_, _, pending) in &calls {
            match pending {
                Pending::One(call) => commands.push(Command {
                    db: call.db,
                    args: &call.args,
                }),
                Pending::Many(batch) => {
                    commands.extend(batch.commands.iter().map(|args| Command { db: None, args }));
                }
            }
        }
        let mut replies = self.shared.backend.run(&commands).into_iter();
        for (i, item, pending) in &calls {
            let response = match pending {
                Pending::One(call) => {
                    let reply = replies.next().unwrap_or(Err(redis::Error::Closed));
                    self.count_redis_outcome(&reply);
                    match item {
                        Item::Request { req, .. } => guarded(req, || call.finish(reply)),
                        Item::Refused(..) => call.finish(reply),
                    }
                }
                Pending::Many(batch) => {
                    let mine: Vec<_> = (&mut replies).take(batch.commands.len()).collect();
                    mine.iter()
                        .for_each(|reply| self.count_redis_outcome(reply));
                    match item {
                        Item::Request { req, .. } => guarded(req, || batch.read.pipeline(mine)),
                        Item::Refused(..) => batch.read.pipeline(mine),
                    }
                }
            };
            if let Some(conn) = conns.get_mut(*i) {
                self.deliver(conn, item, response);
            }
        }
        // Last, so that the wave's other answers never wait for one (they are written first):
        // each transaction runs on an exclusive connection of its own, in a round trip of its own.
        if !transactions.is_empty() {
            for (i, _, _) in &calls {
                if let Some(conn) = conns.get_mut(*i) {
                    let _ = conn.flush(Instant::now(), &self.shared.metrics);
                }
            }
        }
        for (i, item, batch) in transactions {
            let commands: Vec<&[_]> = batch.commands.iter().map(Vec::as_slice).collect();
            let outcome = self.shared.backend.transaction(&commands);
            if let Err(e) = &outcome {
                self.count_redis_outcome(&Err(e.clone()));
            }
            let response = match item {
                Item::Request { req, .. } => guarded(req, || batch.read.transaction(outcome)),
                Item::Refused(..) => batch.read.transaction(outcome),
            };
            if let Some(conn) = conns.get_mut(i) {
                self.deliver(conn, item, response);
                let _ = conn.flush(Instant::now(), &self.shared.metrics);
            }
        }
        true
    }

    /// Completes a response for its connection (closing, or keep-alive for HTTP/1.0), counts
    /// it, and appends it to the connection's output.
    fn deliver(&mut self, conn: &mut Connection, item: &Item, response: Response) {
        let make_room = self.make_room(conn, item);
        let (keep_alive, http10) = match item {
            Item::Request { req, .. } => (req.head.keep_alive, req.head.version == Version::Http10),
            Item::Refused(..) => (false, false),
        };
        let response = self.shared.decorate(response, item.listener(), item.head());
        let response = if !keep_alive || self.shared.is_stopping() {
            response.closing()
        } else if make_room {
            Metrics::add(&self.shared.metrics.closed_for_room, 1);
            response.closing()
        } else if http10 && !response.close {
            // An HTTP/1.0 client keeps the connection only when told so (RFC 9112 §9.3);
            // without this it waits for a close that never comes.
            response.with_header("Connection", "keep-alive")
        } else {
            response
        };
        self.record(conn, item, &response, item.body());
        self.queue_response(conn, &response, item.body());
    }

    /// Whether this answer should close its connection to keep the quiet lane short (see
    /// `lanes.rs`): the quiet lane is full, no further request waits on the connection, and its
    /// client did not send this request right after its previous answer. Such a client is
    /// likely to be quiet for a while, and its next request, on a new connection, is seen the
    /// moment it connects instead of when the loop next looks at a quiet connection. The answer
    /// says `Connection: close` (RFC 9112 §9.6), so the client knows before it sends again.
    fn make_room(&mut self, conn: &mut Connection, item: &Item) -> bool {
        let crowded = item.listener() == Listener::Data
            && !conn.is_quick()
            && conn.input().is_empty()
            && self.shared.quiet_parked.load(Ordering::Relaxed) >= QUIET_CAPACITY;
        // A last look at the socket: a client that pipelined its next request keeps its
        // connection (the request is served in the next wave).
        crowded
            && conn.receive(&mut self.scratch, Instant::now(), &self.shared.metrics)
                == Received::Nothing
    }

    /// Counts an answered request in the metrics and writes its access-log line.
    fn record(&self, conn: &Connection, item: &Item, response: &Response, body: Body) {
        let (method, started) = match item {
            Item::Request { req, started, .. } => (req.head.method.as_str(), *started),
            Item::Refused(_, started) => ("-", *started),
        };
        let took = started.elapsed();
        self.shared.metrics.request(method, response.status, took);
        let Some(access_log) = &self.shared.access_log else {
            return;
        };
        let request_line = match item {
            Item::Request { req, .. } => format!(
                "{method} {} {}",
                escape(&req.head.target),
                match req.head.version {
                    Version::Http10 => "HTTP/1.0",
                    Version::Http11 => "HTTP/1.1",
                }
            ),
            Item::Refused(..) => "-".to_string(),
        };
        let bytes = match body {
            Body::Omit => 0,
            Body::Send => response.body.len(),
        };
        access_log.write(&format!(
            "{} - - [{}] \"{request_line}\" {} {bytes} {}",
            conn.peer().ip(),
            log::clf_time(SystemTime::now()),
            response.status,
            took.as_micros()
        ));
    }

    /// Takes the next complete request off `conn`, if it can take one now.
    fn take_request(&mut self, conn: &mut Connection) -> Option<Item> {
        if conn.pending_output() >= OUT_BATCH_BYTES {
            // This connection had its share of this turn. The poll loop writes the output as the
            // client reads it and then queues the connection again, as bulk work behind small
            // requests: a client that pipelines large answers (or never reads them) cannot
            // monopolize a worker or delay others, and the gateway holds at most one batch of
            // answers for it.
            conn.schedule.class = Class::Bulk;
            return None;
        }
        let listener = conn.listener();
        match conn.take_request(&self.shared.limits, Instant::now())? {
            (Incoming::Request(req), started) => Some(Item::Request {
                req,
                listener,
                started,
            }),
            (Incoming::Bad(e), started) => {
                log::debug(format_args!("bad request from {}: {e}", conn.peer()));
                Some(Item::Refused(api::Error::Http(e).into_response(), started))
            }
            (Incoming::OverBudget, started) => {
                Metrics::add(&self.shared.metrics.memory_refusals, 1);
                let e = api::Error::Overloaded(
                    "the gateway's memory budget (--max-memory) cannot hold this body now; retry"
                        .into(),
                );
                Some(Item::Refused(e.into_response(), started))
            }
        }
    }

    /// Serves a request that arrived on the admin listener; `POST /shutdown` starts the drain.
    fn admin(&self, req: &Request) -> Response {
        let shared = self.shared;
        let Some(doors) = &shared.admin_doors else {
            // No admin listener, so no admin request: a bug if it happens.
            return api::Error::Internal.into_response();
        };
        match api::admin::handle(req, doors, &shared.snapshot(), &shared.metrics) {
            Admin::Answer(response) => response,
            Admin::Shutdown(response) => {
                log::info(format_args!(
                    "shutdown requested (POST /shutdown on the admin port)"
                ));
                shared.draining.store(true, Ordering::Relaxed);
                response
            }
        }
    }

    /// Counts a failed Redis command by kind.
    fn count_redis_outcome(&self, reply: &Result<Value, redis::Error>) {
        let kind = match reply {
            Ok(Value::Error(_)) => RedisErrorKind::ErrorReply,
            Ok(_) => return,
            Err(redis::Error::Timeout) => RedisErrorKind::Timeout,
            Err(redis::Error::Io(_) | redis::Error::Closed | redis::Error::Stale) => {
                RedisErrorKind::Io
            }
            Err(
                redis::Error::Protocol(_) | redis::Error::ReplyTooLarge | redis::Error::Unsolicited,
            ) => RedisErrorKind::Protocol,
            Err(
                redis::Error::Unavailable(_)
                | redis::Error::Handshake(_)
                | redis::Error::NoSuchDatabase(_),
            ) => RedisErrorKind::Connect,
            // Not Redis's failure: the gateway's own budget (counted in memory_refusals_total).
            Err(redis::Error::MemoryBudget) => return,
            // The topology's refusal, or a split command's partial failure (counted per part).
            Err(redis::Error::Refused(..)) => return,
        };
        self.shared.metrics.redis_error(kind);
    }

    /// Appends one response to the connection's output; a closing response ends the connection
    /// once it is written.
    fn queue_response(&mut self, conn: &mut Connection, response: &Response, body: Body) {
        let date = self.date.get();
        response::write(response, body, date, conn.output(Instant::now()));
        conn.recount();
        if response.close {
            conn.close_after_output();
        }
    }
}

/// A request's commands waiting for the wave's round trip.
enum Pending<'r> {
    /// One command.
    One(api::Call<'r>),
    /// A pipeline: its commands, one after another in the wave's round trip.
    Many(api::Batch<'r>),
}

/// A request target made safe for a log line: `"`, `\\` and bytes outside printable ASCII are
/// written as `\\xNN`.
fn escape(target: &[u8]) -> String {
    let mut out = String::with_capacity(target.len());
    for &b in target {
        if (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Runs handler code, turning a panic (a bug) into a 500 instead of a dead worker.
fn guarded<T>(req: &Request, f: impl FnOnce() -> T) -> T
where
    T: From<Response>,
{
    panic::catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error(format_args!(
            "bug: handler panicked on {} {}",
            req.head.method.as_str(),
            String::from_utf8_lossy(&req.head.target)
        ));
        T::from(api::Error::Internal.into_response())
    })
}

/// The `Date` header text, formatted once per second.
#[derive(Default)]
struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    fn get(&mut self) -> &str {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now != self.second || self.text.is_empty() {
            self.second = now;
            self.text = date::imf_fixdate(now);
        }
        &self.text
    }
}
