//! One client connection: its socket, the bytes received and not yet served, the responses not
//! yet written, and the phase of its life.
//!
//! ```text
//!   accepted ─► Open ──(a closing response is queued)──► Closing ──(written)──► Lingering ─► closed
//!                │ ▲                                                              (EOF or 2 s)
//!     serve ─────┘ │
//!                  └── SUBSCRIBE / WebSocket upgrade ──► Stream ──(gone, behind, drained)──► closed
//! ```
//!
//! The socket is nonblocking for its whole life. The poll loop owns a connection while it waits
//! for bytes or for the client to take pending output; a worker owns it while serving. A
//! connection keeps the parse progress of the request at the front of its input, so the poll loop
//! can look at a growing buffer without starting over on each read, and a worker takes the
//! request without parsing its head a second time.

use std::io::{self, Read};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::input::Input;
use super::output::{Flush, Output};
use super::stream::Outbox;
use crate::api::Session;
use crate::memory::{Account, Budget};
use crate::metrics::Metrics;
use crate::websocket::frame;

mod request;

use request::Progress;
pub use request::{Incoming, Readiness};

/// How long a closing connection is drained before it is closed for good.
pub const LINGER: Duration = Duration::from_secs(2);
/// A declared body larger than this is counted against the memory budget before it is read
/// (and refused when it does not fit).
pub const SMALL_BODY: usize = 64 * 1024;
/// While the memory budget is spent, a connection that reserved nothing reads at most this much
/// input (see [`Connection::read_allowance`]).
pub const SPENT_READ: usize = 4 * 1024;

/// A request that comes within this of the answer before shows a client that sends one request
/// after another: its connection is kept open even when the quiet lane is full (see the
/// worker's `make_room`). Clients that send now and then (every half second, say) reconnect
/// instead; a busy client on a loaded machine still sends within this.
pub const QUICK_GAP: Duration = Duration::from_millis(100);

/// Which listener accepted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// The data listener: served by the configured API.
    Data,
    /// The admin listener: `/healthz`, `/metrics`, `/shutdown` only.
    Admin,
}

/// Where a connection is in its life (see the module diagram).
#[derive(Debug)]
pub enum Phase {
    /// Serving requests: each is read whole, then answered; answers wait in the output until
    /// the client takes them, and no request is read while one does.
    Open,
    /// The last response is queued: once it is written, the connection lingers.
    Closing,
    /// Everything is written and our side is shut: what the client still sends is read and
    /// dropped until EOF or `until` (a "lingering close", so that unread bytes do not make the
    /// kernel reset the connection before the client has read our last response).
    Lingering {
        /// When the connection is closed anyway.
        until: Instant,
    },
    /// A subscription or a WebSocket: every write goes through the stream's outbox.
    Stream(Box<Stream>),
}

/// The state of a connection that became a stream.
#[derive(Debug)]
pub struct Stream {
    /// Where everything sent on the stream goes.
    pub outbox: Arc<Outbox>,
    /// Set when the connection speaks WebSocket: its input holds frames, not HTTP requests.
    pub websocket: Option<WebSocket>,
    /// Close once the outbox is written (after a close frame, or the end of a refused stream).
    pub ending: bool,
}

/// The incoming side of a WebSocket.
#[derive(Debug)]
pub struct WebSocket {
    /// Reassembles fragmented messages.
    pub assembler: frame::Assembler,
    /// The API's reader of its messages.
    pub session: Box<dyn Session>,
}

/// Which queue class a connection's next turn with a worker takes (see `TaskQueue`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Small requests: served first.
    Urgent,
    /// Its last turn ended because it had its full share of answers: served behind the urgent.
    Bulk,
}

/// What the poll loop keeps about a parked connection to decide when to look at it again.
#[derive(Debug)]
pub struct Schedule {
    /// When bytes last arrived or were last written.
    pub last_activity: Instant,
    /// When the poll loop should next try to read it.
    pub next_check: Instant,
    /// No byte has arrived yet (see `poll::FRESH_WINDOW`).
    pub fresh: bool,
    /// Reads that found nothing while the connection was fresh.
    pub empty_reads: u32,
    /// Since when a complete request waits for room in the full task queue.
    pub waiting_since: Option<Instant>,
    /// The queue class of its next turn.
    pub class: Class,
    /// When its last answer was queued (`None`: not answered yet).
    pub answered: Option<Instant>,
    /// How long after the answer before its last request came (`None`: its first request).
    pub gap: Option<Duration>,
    /// The socket's read timeout, once one is set (see `await_input`).
    pub read_timeout: Option<Duration>,
}

/// What one read found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// This many bytes.
    Bytes(usize),
    /// Nothing now.
    Nothing,
    /// The client closed its side, or the socket failed.
    Closed,
}

/// What [`Connection::await_readable`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readable {
    /// Something to read: bytes, the client's close, or an error.
    Now,
    /// Nothing within the wait.
    NotYet,
    /// The socket could not be made nonblocking again: it must be closed, never parked.
    Broken,
}

/// Why [`Connection::blocking`] did not run its read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Switch {
    /// The socket could not be made blocking: it is as it was.
    Unchanged,
    /// It could not be made nonblocking again after the read: it must be closed.
    StuckBlocking,
}

/// A client connection.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    listener: Listener,
    /// Bytes received and not yet consumed by a served request (or WebSocket frames).
    input: Input,
    request: Progress,
    /// Response bytes not yet taken by the client (not used once the connection is a stream).
    output: Output,
    phase: Phase,
    /// What the connection holds of the memory budget: its buffers, or the declared body of
    /// the request being received when that is more (reserved when its head arrived).
    account: Account,
    /// The declared body reserved for the request being received.
    reserved_body: usize,
    /// The poll loop's bookkeeping.
    pub schedule: Schedule,
}

impl Connection {
    /// A connection accepted at `now` on `listener`, its buffers counted against `budget`.
    pub fn new(
        stream: TcpStream,
        peer: SocketAddr,
        listener: Listener,
        now: Instant,
        budget: &Arc<Budget>,
    ) -> Connection {
        Connection {
            stream,
            peer,
            listener,
            input: Input::default(),
            request: Progress::default(),
            output: Output::default(),
            phase: Phase::Open,
            account: Account::new(budget),
            reserved_body: 0,
            schedule: Schedule {
                last_activity: now,
                next_check: now,
                fresh: true,
                empty_reads: 0,
                waiting_since: None,
                class: Class::Urgent,
                answered: None,
                gap: None,
                read_timeout: None,
            },
        }
    }

    /// The client's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Which listener accepted it.
    pub fn listener(&self) -> Listener {
        self.listener
    }

    /// Where it is in its life.
    pub fn phase(&self) -> &Phase {
        &self.phase
    }

    /// The socket (for a stream's outbox, which writes on a clone of it).
    pub fn socket(&self) -> &TcpStream {
        &self.stream
    }

    /// The stream state, once it is one.
    pub fn stream_mut(&mut self) -> Option<&mut Stream> {
        match &mut self.phase {
            Phase::Stream(stream) => Some(stream),
            _ => None,
        }
    }

    /// Its outbox, once it is a stream.
    pub fn outbox(&self) -> Option<&Arc<Outbox>> {
        match &self.phase {
            Phase::Stream(stream) => Some(&stream.outbox),
            _ => None,
        }
    }

    /// Reads once from the socket into the input (never blocks).
    pub fn receive(&mut self, scratch: &mut [u8], now: Instant, metrics: &Metrics) -> Received {
        match self.stream.read(scratch) {
            Ok(0) => Received::Closed,
            Ok(n) => {
                Metrics::add(&metrics.bytes_in, n as u64);
                if self.input.is_empty() {
                    self.request.started = Some(now);
                }
                self.input.extend(scratch.get(..n).unwrap_or_default());
                self.request.unparsed = true;
                self.schedule.last_activity = now;
                self.schedule.fresh = false;
                self.reaccount();
                Received::Bytes(n)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Received::Nothing,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Received::Nothing,
            Err(_) => Received::Closed,
        }
    }

    /// Waits up to `wait` for bytes, and reads them into the input (a worker waiting for the next
    /// request of a client sending back to back).
    pub fn await_input(
        &mut self,
        wait: Duration,
        scratch: &mut [u8],
        metrics: &Metrics,
    ) -> Received {
        match self.blocking(wait, |conn| conn.receive(scratch, Instant::now(), metrics)) {
            Ok(received) => received,
            Err(Switch::Unchanged) => Received::Nothing,
            Err(Switch::StuckBlocking) => Received::Closed,
        }
    }

    /// Waits up to `wait` for the client to send (or close) without taking anything (a watcher,
    /// see `server/watch.rs`).
    pub fn await_readable(&mut self, wait: Duration) -> Readable {
        let peeked = self.blocking(wait, |conn| match conn.stream.peek(&mut [0; 1]) {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                Readable::NotYet
            }
            // Bytes, the client's close, or an error: a read will tell which.
            _ => Readable::Now,
        });
        match peeked {
            Ok(readable) => readable,
            Err(Switch::Unchanged) => Readable::Now,
            Err(Switch::StuckBlocking) => Readable::Broken,
        }
    }

    /// Runs `read` with the socket blocking for this one call and `wait` as its read timeout (set
    /// only when it changed: a nonblocking read ignores it, so it is left in place).
    fn blocking<T>(
        &mut self,
        wait: Duration,
        read: impl FnOnce(&mut Self) -> T,
    ) -> Result<T, Switch> {
        if self.schedule.read_timeout != Some(wait) {
            if self.stream.set_read_timeout(Some(wait)).is_err() {
                return Err(Switch::Unchanged);
            }
            self.schedule.read_timeout = Some(wait);
        }
        if self.stream.set_nonblocking(false).is_err() {
            return Err(Switch::Unchanged);
        }
        let done = read(self);
        if self.stream.set_nonblocking(true).is_err() {
            return Err(Switch::StuckBlocking);
        }
        Ok(done)
    }

    /// Reads once from the socket and drops what came (a lingering connection, a subscription
    /// whose client has nothing to say).
    pub fn discard(&mut self, scratch: &mut [u8]) -> Received {
        match self.stream.read(scratch) {
            Ok(0) => Received::Closed,
            Ok(n) => Received::Bytes(n),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Received::Nothing,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Received::Nothing,
            Err(_) => Received::Closed,
        }
    }

    /// Bytes received and not yet consumed.
    pub fn input(&self) -> &[u8] {
        self.input.bytes()
    }

    /// Drops the first `n` bytes of the input (WebSocket frames that were served).
    pub fn consume_input(&mut self, n: usize) {
        self.input.consume(n);
        self.request.unparsed = !self.input.is_empty();
        self.reaccount();
    }

    /// Drops the whole input.
    pub fn clear_input(&mut self) {
        self.input.free();
        self.request = Progress::default();
        self.reserved_body = 0;
        self.reaccount();
    }

    /// True when bytes arrived since the input was last parsed; clears the mark.
    pub fn take_unparsed(&mut self) -> bool {
        std::mem::take(&mut self.request.unparsed)
    }

    /// Whether its last request came within [`QUICK_GAP`] of the answer before: a client that
    /// sends one request after another, not now and then.
    pub fn is_quick(&self) -> bool {
        self.schedule.gap.is_some_and(|gap| gap <= QUICK_GAP)
    }

    /// True when bytes arrived since the input was last parsed.
    pub fn has_unparsed(&self) -> bool {
        self.request.unparsed
    }

    /// Marks the input as worth parsing again (a worker left bytes, the queue was full).
    pub fn mark_unparsed(&mut self) {
        self.request.unparsed = !self.input.is_empty();
    }

    /// Keeps the account equal to what the connection holds: its buffers, or its reserved
    /// request when that is more.
    fn reaccount(&mut self) {
        let buffers = self.input.capacity().max(self.reserved_body) + self.output.capacity();
        let assembling = match &self.phase {
            Phase::Stream(stream) => stream
                .websocket
                .as_ref()
                .map_or(0, |ws| ws.assembler.buffered()),
            _ => 0,
        };
        self.account.set(buffers + assembling);
    }

    /// What the connection holds of the memory budget.
    pub fn held(&self) -> usize {
        self.account.held()
    }

    /// How many bytes the next read may take (at most `chunk`): while the memory budget is
    /// spent, a connection still within the body it reserved reads on, and any other only up to
    /// [`SPENT_READ`] bytes of input (room for a small request's head); the rest wait in the
    /// kernel (back-pressure). 10,000 connections thus hold at most 40 MiB past the budget.
    pub fn read_allowance(&self, chunk: usize) -> usize {
        if !self.account.budget().is_spent() || self.input.len() < self.reserved_body {
            return chunk;
        }
        SPENT_READ.saturating_sub(self.input.len()).min(chunk)
    }

    /// True when nothing is buffered and the client has sent nothing more (one nonblocking
    /// `read`). Closing a socket with unread bytes makes the kernel send a reset, which can
    /// destroy the last response before the client reads it; without any, a plain close is safe.
    pub fn nothing_pending(&mut self) -> bool {
        let mut probe = [0u8; 1];
        self.input.is_empty()
            && matches!(
                self.stream.read(&mut probe),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            )
    }

    /// The output an answer is written into, at `now`. A closing answer must be followed by
    /// [`Connection::close_after_output`].
    pub fn output(&mut self, now: Instant) -> &mut Vec<u8> {
        self.schedule.answered = Some(now);
        self.output.tail()
    }

    /// Response bytes waiting for the client.
    pub fn pending_output(&self) -> usize {
        self.output.len()
    }

    /// True while response bytes wait for the client.
    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    /// True when all it waits for is its client's next request: open, nothing received, nothing
    /// to write (so a watcher may wait on it, see `server/watch.rs`).
    pub fn awaits_request(&self) -> bool {
        matches!(self.phase, Phase::Open) && self.input.is_empty() && self.output.is_empty()
    }

    /// The last response is queued: no further request is served, and the connection lingers and
    /// closes once it is written.
    pub fn close_after_output(&mut self) {
        if matches!(self.phase, Phase::Open) {
            self.phase = Phase::Closing;
        }
    }

    /// Writes pending output until all is written or the socket would block; never blocks.
    ///
    /// # Errors
    ///
    /// When the socket fails (the client is gone).
    pub fn flush(&mut self, now: Instant, metrics: &Metrics) -> io::Result<Flush> {
        if self.output.is_empty() {
            return Ok(Flush::Done);
        }
        let before = self.output.len();
        let flushed = self.output.write_to(&mut self.stream, metrics);
        if self.output.len() < before {
            self.schedule.last_activity = now;
        }
        self.reaccount();
        flushed
    }

    /// Everything is written: shuts our side and starts draining what the client still sends.
    pub fn begin_linger(&mut self, now: Instant) {
        let _ = self.stream.shutdown(Shutdown::Write);
        self.phase = Phase::Lingering {
            until: now + LINGER,
        };
        self.schedule.next_check = now;
    }

    /// Makes the connection a stream writing through `outbox`. Answers to requests pipelined
    /// before, not yet taken by the client, go first, in order.
    pub fn become_stream(&mut self, outbox: Arc<Outbox>, websocket: Option<WebSocket>) {
        if self.has_output() {
            outbox.send_raw(&self.output.take());
        }
        self.output.free();
        self.request.head = None;
        self.request.unparsed = !self.input.is_empty();
        self.phase = Phase::Stream(Box::new(Stream {
            outbox,
            websocket,
            ending: false,
        }));
        self.reaccount();
    }

    /// Counts again what the connection holds, after its queued answer or its WebSocket's
    /// message assembly changed.
    pub fn recount(&mut self) {
        self.reaccount();
    }

    /// Frees the buffers of a connection that holds nothing (a quiet keep-alive connection).
    pub fn free_buffers(&mut self) {
        if self.input.is_empty() {
            self.input.free();
        }
        if self.output.is_empty() {
            self.output.free();
        }
        self.reaccount();
    }
}
