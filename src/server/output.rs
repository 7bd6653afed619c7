//! Bytes waiting for a client that has not taken them yet: the one output buffer of both a
//! keep-alive connection (responses) and a stream (pushed messages).
//!
//! Client sockets are nonblocking for life, so a write takes what the kernel accepts now and the
//! rest waits here; the poll loop writes it as the client reads. What is written is dropped from
//! the front (so a buffer holds only what waits), and a buffer that grew for one large answer is
//! given back to the allocator once it is written, so an idle connection holds no memory for
//! the largest answer it ever had.

use std::io::{self, Write};
use std::net::TcpStream;

use crate::metrics::Metrics;

/// A written-out buffer with more capacity than this is freed instead of kept for the next
/// answer. Smaller ones are kept: most answers fit, and reusing the buffer saves an allocation
/// per answer.
pub const KEEP_BUFFER_BYTES: usize = 64 * 1024;

/// What a write achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Every pending byte is written.
    Done,
    /// The client is not taking more right now; some bytes are still pending.
    Blocked,
}

/// Bytes not yet taken by the client; `buf[pos..]` is still to be written.
#[derive(Debug, Default)]
pub struct Output {
    buf: Vec<u8>,
    pos: usize,
}

impl Output {
    /// The bytes still to be written.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// How many bytes wait.
    pub fn len(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The memory the buffer holds (its capacity), for the memory budget.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The buffer to append to (a response writer appends here). What was already written is
    /// dropped first when it is at least half the buffer, so that a client that keeps up without
    /// ever catching up does not make the buffer grow.
    pub fn tail(&mut self) -> &mut Vec<u8> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        &mut self.buf
    }

    /// Appends `bytes` after what waits.
    pub fn push(&mut self, bytes: &[u8]) {
        self.tail().extend_from_slice(bytes);
    }

    /// Writes what waits until all is written or the socket would block; never blocks.
    ///
    /// # Errors
    ///
    /// When the socket fails (the client is gone).
    pub fn write_to(&mut self, socket: &mut TcpStream, metrics: &Metrics) -> io::Result<Flush> {
        let written = write_some(socket, self.pending(), metrics)?;
        self.pos += written;
        if self.pos < self.buf.len() {
            return Ok(Flush::Blocked);
        }
        self.clear();
        Ok(Flush::Done)
    }

    /// Forgets what waits; a large buffer is freed, a small one kept for reuse.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.pos = 0;
        if self.buf.capacity() > KEEP_BUFFER_BYTES {
            self.buf = Vec::new();
        }
    }

    /// Forgets what waits and frees the buffer (a connection going quiet keeps nothing).
    pub fn free(&mut self) {
        self.buf = Vec::new();
        self.pos = 0;
    }

    /// Moves what waits out, leaving this buffer empty.
    pub fn take(&mut self) -> Vec<u8> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.drain(..self.pos);
        self.pos = 0;
        buf
    }
}

/// Writes as much of `bytes` as the socket takes now, without blocking; how much it took.
///
/// # Errors
///
/// When the socket fails, or takes nothing while saying it is writable (`WriteZero`).
pub fn write_some(socket: &mut TcpStream, bytes: &[u8], metrics: &Metrics) -> io::Result<usize> {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|r| !r.is_empty()) {
        match socket.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                Metrics::add(&metrics.bytes_out, n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected pair of loopback sockets: (the gateway's side, nonblocking; the client's).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (server, client)
    }

    #[test]
    fn what_the_client_takes_is_written_and_the_rest_waits() {
        let (mut server, mut client) = pair();
        let metrics = Metrics::default();
        let mut out = Output::default();
        out.push(b"hello");
        assert_eq!(out.write_to(&mut server, &metrics).unwrap(), Flush::Done);
        assert!(out.is_empty());
        let mut got = [0; 5];
        client.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");
        // More than the kernel takes at once: some waits, and is written once the client reads.
        let chunk = vec![b'x'; 1 << 20];
        let mut pushed = 0;
        loop {
            out.push(&chunk);
            pushed += chunk.len();
            if out.write_to(&mut server, &metrics).unwrap() == Flush::Blocked {
                break;
            }
        }
        assert!(!out.is_empty() && out.len() < pushed);
        let mut drained = 0;
        let mut buf = vec![0; 1 << 16];
        while drained < pushed {
            drained += client.read(&mut buf).unwrap();
            let _ = out.write_to(&mut server, &metrics).unwrap();
        }
        assert!(out.is_empty());
        assert_eq!(
            metrics.bytes_out.load(std::sync::atomic::Ordering::Relaxed),
            5 + pushed as u64
        );
    }

    #[test]
    fn written_bytes_are_dropped_from_the_front() {
        let mut out = Output::default();
        out.push(b"0123456789");
        out.pos = 6;
        out.push(b"ab");
        assert_eq!(out.pending(), b"6789ab");
        assert_eq!(
            out.pos, 0,
            "written bytes dropped when they were half the buffer"
        );
        assert_eq!(out.take(), b"6789ab");
        assert!(out.is_empty());
    }

    #[test]
    fn a_large_buffer_is_freed_once_written() {
        let mut out = Output::default();
        out.push(&vec![0; KEEP_BUFFER_BYTES + 1]);
        out.clear();
        assert_eq!(out.buf.capacity(), 0);
        out.push(&[0; 100]);
        out.clear();
        assert!(
            out.buf.capacity() >= 100,
            "a small buffer is kept for reuse"
        );
        out.free();
        assert_eq!(out.buf.capacity(), 0);
    }
}
