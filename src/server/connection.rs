//! One client connection and what is known about the request arriving on it.
//!
//! The poll loop owns a connection while it waits for bytes; a worker owns it while serving. The
//! parse progress cached here (`head`, `scan`) lets the poll loop look at a growing buffer without
//! starting over on each read.

use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use crate::http::{BodyScan, Head};

/// A client connection.
#[derive(Debug)]
pub struct Connection {
    /// The socket; nonblocking while parked, blocking (with a write timeout) in a worker.
    pub stream: TcpStream,
    /// The client's address, for logs.
    pub peer: SocketAddr,
    /// Bytes received and not yet consumed by a served request.
    pub buf: Vec<u8>,
    /// The parsed head of the request at the start of `buf`, with its length, once complete.
    pub head: Option<(Head, usize)>,
    /// Progress of the body scan of that request.
    pub scan: BodyScan,
    /// Bytes arrived (or were left by a worker) since the poll loop last parsed `buf`.
    pub unparsed: bool,
    /// Whether `100 Continue` was already sent for that request.
    pub continue_sent: bool,
    /// When the first byte of the request at the start of `buf` arrived.
    pub request_started: Option<Instant>,
    /// When bytes last arrived or a response was last written.
    pub last_activity: Instant,
    /// When the poll loop should next try to read it.
    pub next_check: Instant,
    /// Set when the connection is closing: the poll loop reads and discards until this deadline
    /// (a "lingering close", so that unread bytes do not make the kernel reset the connection
    /// before the client has read our last response).
    pub linger_until: Option<Instant>,
}

impl Connection {
    /// A fresh connection accepted at `now`.
    pub fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Connection {
        Connection {
            stream,
            peer,
            buf: Vec::new(),
            head: None,
            scan: BodyScan::default(),
            unparsed: false,
            continue_sent: false,
            request_started: None,
            last_activity: now,
            next_check: now,
            linger_until: None,
        }
    }

    /// Removes the first request's `used` bytes and forgets its parse progress.
    pub fn consume(&mut self, used: usize, now: Instant) {
        let used = used.min(self.buf.len());
        self.buf.drain(..used);
        if self.buf.is_empty() && self.buf.capacity() > 64 * 1024 {
            // Do not keep a large body's buffer for an idle keep-alive connection.
            self.buf = Vec::new();
        }
        self.head = None;
        self.scan = BodyScan::default();
        self.continue_sent = false;
        self.unparsed = !self.buf.is_empty();
        self.request_started = if self.buf.is_empty() { None } else { Some(now) };
        self.last_activity = now;
    }
}
