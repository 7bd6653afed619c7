//! One client connection: its socket, the bytes received and not yet served, the bytes of
//! responses not yet written, and what is known about the request arriving on it.
//!
//! The socket is nonblocking for its whole life. The poll loop owns a connection while it waits
//! for bytes or for the client to take pending output; a worker owns it while serving. The parse
//! progress cached here (`head`, `scan`) lets the poll loop look at a growing buffer without
//! starting over on each read.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Instant;

use super::stream::{Outbox, WebSocket};

use crate::http::{BodyScan, Head};
use crate::metrics::Metrics;

/// A client connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket, always nonblocking.
    pub stream: TcpStream,
    /// The client's address, for logs.
    pub peer: SocketAddr,
    /// Accepted on the admin listener: served by the admin endpoints only.
    pub admin: bool,
    /// Bytes received and not yet consumed by a served request.
    pub buf: Vec<u8>,
    /// The parsed head of the request at the start of `buf`, with its length, once complete.
    pub head: Option<(Head, usize)>,
    /// Progress of the body scan of that request.
    pub scan: BodyScan,
    /// Its last turn with a worker ended because it had its full share of answers: queued as
    /// bulk work (see `TaskQueue`), behind connections with small requests.
    pub bulk: bool,
    /// Since when a complete request waits for room in the full task queue.
    pub waiting_since: Option<Instant>,
    /// Bytes arrived (or were left by a worker) since the poll loop last parsed `buf`.
    pub unparsed: bool,
    /// Whether `100 Continue` was already sent for that request.
    pub continue_sent: bool,
    /// When the first byte of the request at the start of `buf` arrived.
    pub request_started: Option<Instant>,
    /// When bytes last arrived or were last written.
    pub last_activity: Instant,
    /// When the poll loop should next try to read it.
    pub next_check: Instant,
    /// Response bytes not yet taken by the client; `out[out_pos..]` is still to be written.
    pub out: Vec<u8>,
    /// How much of `out` is written.
    pub out_pos: usize,
    /// Close (after a lingering drain) once `out` is written.
    pub close_after_flush: bool,
    /// Set when the connection is closing: the poll loop reads and discards until this deadline
    /// (a "lingering close", so that unread bytes do not make the kernel reset the connection
    /// before the client has read our last response).
    pub linger_until: Option<Instant>,
    /// Set once the connection is a stream (a subscription or a WebSocket): every write goes
    /// through it from then on, and `out` is no longer used.
    pub outbox: Option<Arc<Outbox>>,
    /// Set once the connection speaks WebSocket: `buf` holds frames, not HTTP requests.
    pub websocket: Option<Box<WebSocket>>,
    /// No byte has arrived yet: the poll loop keeps it in the hot lane for a while and rereads
    /// it after a pause that grows with `empty_reads` (see `poll::FRESH_WINDOW`).
    pub fresh: bool,
    /// Reads that found nothing while the connection was fresh.
    pub empty_reads: u32,
}

/// What [`Connection::flush`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Every pending byte is written.
    Done,
    /// The client is not taking more right now; some bytes are still pending.
    Blocked,
}

impl Connection {
    /// A fresh connection accepted at `now`.
    pub fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Connection {
        Connection {
            stream,
            peer,
            admin: false,
            buf: Vec::new(),
            head: None,
            scan: BodyScan::default(),
            bulk: false,
            waiting_since: None,
            unparsed: false,
            continue_sent: false,
            request_started: None,
            last_activity: now,
            next_check: now,
            out: Vec::new(),
            out_pos: 0,
            close_after_flush: false,
            linger_until: None,
            outbox: None,
            websocket: None,
            fresh: true,
            empty_reads: 0,
        }
    }

    /// Removes the first request's `used` bytes and forgets its parse progress.
    pub fn consume(&mut self, used: usize, now: Instant) {
        let used = used.min(self.buf.len());
        self.buf.drain(..used);
        if self.buf.is_empty() && self.buf.capacity() > 256 * 1024 {
            // Do not keep a large body's buffer for an idle keep-alive connection.
            self.buf = Vec::new();
        }
        self.head = None;
        self.scan = BodyScan::default();
        self.continue_sent = false;
        self.waiting_since = None;
        self.unparsed = !self.buf.is_empty();
        self.request_started = if self.buf.is_empty() { None } else { Some(now) };
        self.last_activity = now;
    }

    /// True when no unread byte waits, neither in `buf` nor in the socket (one nonblocking
    /// `read`). Closing a socket with unread bytes makes the kernel send a reset, which can
    /// destroy the last response before the client reads it; without any, a plain close is safe.
    pub fn nothing_pending(&mut self) -> bool {
        let mut probe = [0u8; 1];
        self.buf.is_empty()
            && matches!(
                self.stream.read(&mut probe),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock
            )
    }

    /// True while response bytes wait to be written.
    pub fn has_output(&self) -> bool {
        self.out_pos < self.out.len()
    }

    /// Writes pending output until it is all written or the socket would block; never blocks.
    ///
    /// # Errors
    ///
    /// When the socket fails (the client is gone).
    pub fn flush(&mut self, now: Instant, metrics: &Metrics) -> io::Result<Flush> {
        while let Some(pending) = self.out.get(self.out_pos..).filter(|p| !p.is_empty()) {
            match self.stream.write(pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.out_pos += n;
                    self.last_activity = now;
                    Metrics::add(&metrics.bytes_out, n as u64);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Flush::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.out.clear();
        self.out_pos = 0;
        if self.out.capacity() > 256 * 1024 {
            // A large response is written: do not keep its buffer for an idle connection.
            self.out = Vec::new();
        }
        Ok(Flush::Done)
    }
}
