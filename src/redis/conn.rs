//! One Redis connection: connect with a timeout, run the handshake, send commands, read replies.
//!
//! Commands always go out as RESP arrays of bulk strings ([`crate::resp::encode_command`]), so
//! bytes inside a key or value can never start a second command. Replies are read into a buffer
//! that the decoder checks after each read; the buffer never grows past `max_reply_bytes`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Address, Error};
use crate::config::{Config, RedisTarget};
use crate::memory::Account;
use crate::resp::{self, Value};

/// A reply buffer may grow to this without asking the memory budget: small replies are always
/// read; a larger one is refused while the budget cannot hold it.
const SMALL_REPLY: usize = 256 * 1024;
/// Bytes read from the socket per `read` call: a batch of replies usually arrives in one.
const READ_CHUNK: usize = 64 * 1024;
/// A buffer that grew past this is given back to the allocator after use. Smaller ones are kept:
/// allocating them anew each batch (above the 64 KiB mmap threshold, see `main.rs`) would cost
/// an mmap, page faults and an munmap every time.
const KEEP_BUFFER_BYTES: usize = 256 * 1024;

/// One open, handshaken connection to Redis.
#[derive(Debug)]
pub struct Conn {
    stream: TcpStream,
    /// Reply bytes read but not yet decoded.
    buf: Vec<u8>,
    /// In subscribed mode, how much of `buf` is already decoded ([`Conn::next_push`]).
    pushed: usize,
    scratch: Box<[u8]>,
    out: Vec<u8>,
    limits: resp::Limits,
    max_reply_bytes: usize,
    reply_timeout: Duration,
    last_used: Instant,
    /// What the connection holds of the memory budget, once it is in a pool.
    account: Option<Account>,
    /// The address it was made for and that address's generation then (see [`Conn::follow`]).
    origin: Option<(Arc<Address>, u64)>,
}

impl Conn {
    /// Connects to `target` within `cfg.redis_connect_timeout` and runs the handshake:
    /// `AUTH` (when a password is set), `SELECT` (when the db is not 0), `CLIENT SETNAME redis-gateway`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when no address answers, [`Error::Handshake`] when Redis refuses a step
    /// (wrong password, `max number of clients reached`, a bad db number).
    pub fn connect(target: &RedisTarget, cfg: &Config) -> Result<Conn, Error> {
        let stream = open(target, cfg.redis_connect_timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(cfg.redis_timeout))?;
        stream.set_write_timeout(Some(cfg.redis_timeout))?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
            pushed: 0,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            out: Vec::new(),
            limits: resp::Limits {
                max_bulk_bytes: cfg.max_reply_bytes,
                ..resp::Limits::default()
            },
            max_reply_bytes: cfg.max_reply_bytes,
            reply_timeout: cfg.redis_timeout,
            last_used: Instant::now(),
            account: None,
            origin: None,
        };
        conn.handshake(target)?;
        Ok(conn)
    }

    fn handshake(&mut self, target: &RedisTarget) -> Result<(), Error> {
        self.handshake_steps(target).map_err(|e| match e {
            // On a connection just opened, "closed before replying" means Redis hung up on us.
            Error::Stale => Error::Closed,
            other => other,
        })
    }

    fn handshake_steps(&mut self, target: &RedisTarget) -> Result<(), Error> {
        if let Some(password) = &target.password {
            let reply = match &target.user {
                Some(user) => self.call(&[b"AUTH", user.as_bytes(), password.as_bytes()])?,
                None => self.call(&[b"AUTH".as_slice(), password.as_bytes()])?,
            };
            expect_ok("AUTH", &reply)?;
        }
        if target.db != 0 {
            let db = target.db.to_string();
            let reply = self.call(&[b"SELECT".as_slice(), db.as_bytes()])?;
            if let Value::Error(text) = &reply {
                // The one place Redis's text is read: every other layer sees the typed error.
                if text.starts_with(b"ERR DB index is out of range") {
                    return Err(Error::NoSuchDatabase(target.db));
                }
            }
            expect_ok("SELECT", &reply)?;
        }
        let reply = self.call(&[b"CLIENT".as_slice(), b"SETNAME", b"redis-gateway"])?;
        expect_ok("CLIENT SETNAME", &reply)
    }

    /// Checks that the server is a master (`ROLE`), for an address of [`super::address::Role::Master`].
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] saying what `ROLE` answered when it is not `master` (a replica
    /// whose promotion is still to come, or an old master that came back); any transport error.
    pub fn confirm_master(&mut self, target: &RedisTarget) -> Result<(), Error> {
        let reply = self.call(&[b"ROLE"])?;
        let role = match &reply {
            Value::Array(items) | Value::Push(items) => match items.first() {
                Some(Value::Bulk(role) | Value::Simple(role)) => role.clone(),
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        if role == b"master" {
            return Ok(());
        }
        let said = match (&reply, role.is_empty()) {
            (Value::Error(text), _) => String::from_utf8_lossy(text).into_owned(),
            (_, false) => String::from_utf8_lossy(&role).into_owned(),
            (other, true) => format!("{other:?}"),
        };
        Err(Error::Unavailable(format!(
            "{}:{} is not a master (ROLE says {said}): waiting for Sentinel to name the new one",
            target.host, target.port
        )))
    }

    /// Remembers that the connection was made for `address` at `generation`; once the address
    /// moves (or its server is [`Address::demoted`]) the connection is no longer current.
    pub fn follow(&mut self, address: &Arc<Address>, generation: u64) {
        self.origin = Some((Arc::clone(address), generation));
    }

    /// False once the address the connection was made for has moved on (always true for a
    /// connection made without one).
    pub fn is_current(&self) -> bool {
        match &self.origin {
            Some((address, generation)) => address.generation() == *generation,
            None => true,
        }
    }

    /// Whether the connection's address must be a master.
    pub fn wants_master(&self) -> bool {
        self.origin
            .as_ref()
            .is_some_and(|(address, _)| address.role() == super::address::Role::Master)
    }

    /// Tells the connection's address that its server answered as a replica (`READONLY`), so
    /// that every connection made there is retired ([`Address::demoted`]).
    pub fn report_demoted(&self) {
        if let Some((address, generation)) = &self.origin {
            address.demoted(*generation);
        }
    }

    /// Counts the connection's buffers against the memory budget from now on: a reply that would
    /// grow them past what the budget holds fails ([`Error::MemoryBudget`]) instead.
    pub fn attach(&mut self, mut account: Account) {
        account.set(self.footprint());
        self.account = Some(account);
    }

    /// The memory the connection's buffers hold.
    fn footprint(&self) -> usize {
        self.buf.capacity() + self.out.capacity() + self.scratch.len()
    }

    /// Keeps the account equal to the buffers.
    fn recount(&mut self) {
        let footprint = self.footprint();
        if let Some(account) = &mut self.account {
            account.set(footprint);
        }
    }

    /// Sends one command and reads its reply. A Redis error reply is `Ok(Value::Error(..))`.
    ///
    /// # Errors
    ///
    /// Any [`Error`]; after one, the connection must be dropped (see [`Error::poisons_connection`]).
    pub fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Result<Value, Error> {
        let (mut values, error) = self.pipeline(&[args]);
        match (values.pop(), error) {
            (_, Some(e)) => Err(e),
            (Some(value), None) => Ok(value),
            (None, None) => Err(Error::Closed),
        }
    }

    /// Sends several commands in one write and reads their replies, in order, within one reply
    /// timeout. Returns the replies read, and the error that stopped it early, if any: then the
    /// commands after the last reply got none (they may or may not have run) and the connection
    /// must be dropped.
    pub fn pipeline<A: AsRef<[u8]>>(&mut self, commands: &[&[A]]) -> (Vec<Value>, Option<Error>) {
        match self.send(commands) {
            Ok(()) => self.receive(commands.len()),
            Err(e) => self.settle(Vec::new(), Err(e)),
        }
    }

    /// The first half of [`Conn::pipeline`]: the commands in one write. Their `commands.len()`
    /// replies must be read with [`Conn::receive`] before anything else is sent; meanwhile the
    /// caller may send to other connections, so that several servers work at once.
    ///
    /// # Errors
    ///
    /// When the write fails ([`Error::Stale`] when Redis had closed the connection: nothing ran);
    /// the connection must then be dropped.
    pub fn send<A: AsRef<[u8]>>(&mut self, commands: &[&[A]]) -> Result<(), Error> {
        self.out.clear();
        for args in commands {
            resp::encode_command(args, &mut self.out);
        }
        let result = self.stream.write_all(&self.out).map_err(stale_or);
        if self.out.capacity() > KEEP_BUFFER_BYTES {
            self.out = Vec::new();
        }
        result
    }

    /// The second half of [`Conn::pipeline`]: reads `n` replies, as it does.
    pub fn receive(&mut self, n: usize) -> (Vec<Value>, Option<Error>) {
        let mut values = Vec::with_capacity(n.min(1024));
        let result = self.read_replies(n, &mut values);
        self.settle(values, result)
    }

    fn settle(
        &mut self,
        values: Vec<Value>,
        result: Result<(), Error>,
    ) -> (Vec<Value>, Option<Error>) {
        self.last_used = Instant::now();
        self.recount();
        let error = match result {
            Ok(()) => None,
            // Closed or reset before a single reply byte: Redis had dropped the connection (for
            // instance its `timeout` closed it while it sat idle in the pool) and never ran the
            // commands.
            Err(Error::Closed) if values.is_empty() && self.buf.is_empty() => Some(Error::Stale),
            Err(Error::Io(e)) if values.is_empty() && self.buf.is_empty() => Some(stale_or(e)),
            Err(e) => Some(e),
        };
        (values, error)
    }

    /// Whether nothing arrived while the connection sat idle. A byte means Redis sent something
    /// nobody asked for: the stream is out of step, and the next command would read that as its
    /// reply. EOF means Redis closed the connection. Either way it must not carry a command.
    /// Costs three system calls (nonblocking on, read, off) and never blocks.
    pub fn is_clean(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return false;
        }
        let mut probe = [0u8; 1];
        let clean = matches!(
            self.stream.read(&mut probe),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
        );
        self.stream.set_nonblocking(false).is_ok() && clean
    }

    /// How long this connection has been unused.
    pub fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }

    /// For a connection in subscribed mode: a second handle on the socket, so that one thread can
    /// write `SUBSCRIBE`/`UNSUBSCRIBE` while another reads the pushed messages.
    ///
    /// # Errors
    ///
    /// When the OS cannot duplicate the socket.
    pub fn writer(&self) -> Result<TcpStream, Error> {
        Ok(self.stream.try_clone()?)
    }

    /// For a connection in subscribed mode: how long [`Conn::next_push`] waits.
    ///
    /// # Errors
    ///
    /// When the socket option cannot be set.
    pub fn set_push_wait(&mut self, wait: Duration) -> Result<(), Error> {
        Ok(self.stream.set_read_timeout(Some(wait))?)
    }

    /// For a connection in subscribed mode: the next pushed value already read, without reading
    /// the socket; `None` when the buffer holds no complete value.
    ///
    /// # Errors
    ///
    /// When the bytes are not RESP.
    pub fn buffered_push(&mut self) -> Result<Option<Value>, Error> {
        let rest = self.buf.get(self.pushed..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        match resp::decode(rest, &self.limits).map_err(Error::Protocol)? {
            resp::Status::Complete((value, used)) => {
                self.pushed += used;
                Ok(Some(value))
            }
            resp::Status::Partial => Ok(None),
        }
    }

    /// For a connection in subscribed mode: reads whatever the socket holds now, without
    /// waiting, while fewer than `max_reply_bytes` bytes wait to be decoded; returns how many
    /// bytes it read. Called between deliveries, it keeps Redis's output buffer for this
    /// connection (`client-output-buffer-limit pubsub`, 32 MB by default) near empty whatever the
    /// fan-out costs: a burst waits here, bounded, instead of in Redis, which would drop the
    /// connection.
    ///
    /// # Errors
    ///
    /// When the socket fails or closes (what was read before stays buffered).
    pub fn fill_pushes(&mut self) -> Result<usize, Error> {
        // Drop what was decoded once it is half the buffer (amortized: no move per value).
        if self.pushed > 0 && self.pushed >= self.buf.len() / 2 {
            self.buf.drain(..self.pushed);
            self.pushed = 0;
        }
        self.stream.set_nonblocking(true)?;
        let mut total = 0;
        let result = loop {
            let waiting = self.buf.len().saturating_sub(self.pushed);
            if waiting.saturating_add(self.scratch.len()) > self.max_reply_bytes {
                break Ok(());
            }
            match self.stream.read(&mut self.scratch) {
                Ok(0) => break Err(Error::Closed),
                Ok(n) => {
                    self.buf
                        .extend_from_slice(self.scratch.get(..n).unwrap_or_default());
                    total += n;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => break Err(Error::Io(e)),
            }
        };
        self.stream.set_nonblocking(false)?;
        self.recount();
        result.map(|()| total)
    }

    /// For a connection in subscribed mode: the next value Redis pushes, or `None` when nothing
    /// complete arrived within the wait set by [`Conn::set_push_wait`] (bytes of a value that is
    /// still arriving are kept).
    ///
    /// # Errors
    ///
    /// When the socket fails or closes, or the bytes are not RESP.
    pub fn next_push(&mut self) -> Result<Option<Value>, Error> {
        loop {
            if let Some(value) = self.buffered_push()? {
                return Ok(Some(value));
            }
            // Everything decoded so far can go: keep only the start of the next value, and give
            // back what a burst made the buffer grow to.
            self.buf.drain(..self.pushed);
            self.pushed = 0;
            if self.buf.capacity() > 4 * READ_CHUNK && self.buf.len() < self.buf.capacity() / 4 {
                self.buf.shrink_to(self.buf.len().max(READ_CHUNK));
                self.recount();
            }
            let n = match self.stream.read(&mut self.scratch) {
                Ok(0) => return Err(Error::Closed),
                Ok(n) => n,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return Ok(None)
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from(e)),
            };
            if self.buf.len().saturating_add(n) > self.max_reply_bytes {
                return Err(Error::ReplyTooLarge);
            }
            self.buf
                .extend_from_slice(self.scratch.get(..n).unwrap_or_default());
        }
    }

    /// Reads `n` replies into `values` within the reply timeout.
    fn read_replies(&mut self, n: usize, values: &mut Vec<Value>) -> Result<(), Error> {
        let deadline = Instant::now() + self.reply_timeout;
        let mut reads = 0;
        let mut armed = self.reply_timeout; // the socket's read timeout now
        let mut decoded = 0; // bytes of `buf` already turned into values
        let result = loop {
            while values.len() < n {
                let rest = self.buf.get(decoded..).unwrap_or_default();
                if rest.is_empty() {
                    break;
                }
                match resp::decode(rest, &self.limits).map_err(Error::Protocol)? {
                    resp::Status::Complete((value, used)) => {
                        values.push(value);
                        decoded += used;
                    }
                    resp::Status::Partial => break,
                }
            }
            if values.len() == n {
                break Ok(());
            }
            if reads > 0 {
                // Replies that trickle in must not hold the worker past the deadline: the socket
                // timeout follows what is left of it, re-armed whenever it is off by more than an
                // eighth of the reply timeout. A reply is thus cut within 1.125 × the timeout, at
                // the cost of at most eight system calls for a slow reply and none for a fast one.
                let left = deadline
                    .checked_duration_since(Instant::now())
                    .filter(|d| !d.is_zero())
                    .ok_or(Error::Timeout)?;
                if armed.saturating_sub(left) > self.reply_timeout / 8 {
                    self.stream.set_read_timeout(Some(left))?;
                    armed = left;
                }
            }
            reads += 1;
            let n = self.stream.read(&mut self.scratch)?;
            if n == 0 {
                break Err(Error::Closed);
            }
            if decoded == self.buf.len() {
                // Every byte so far is decoded: start the buffer over instead of growing it.
                self.buf.clear();
                decoded = 0;
            }
            if (self.buf.len() - decoded).saturating_add(n) > self.max_reply_bytes {
                break Err(Error::ReplyTooLarge);
            }
            let grown = self.buf.len() + n;
            if grown > self.buf.capacity() && grown > SMALL_REPLY {
                // A large reply is counted before its buffer grows, and refused when the budget
                // cannot hold it (the connection is then dropped, the reply unread).
                let want =
                    grown.max(self.buf.capacity() * 2) + self.out.capacity() + self.scratch.len();
                if let Some(account) = &mut self.account {
                    if !account.try_grow_to(want) {
                        break Err(Error::MemoryBudget);
                    }
                }
            }
            self.buf
                .extend_from_slice(self.scratch.get(..n).unwrap_or_default());
        };
        result?;
        if armed != self.reply_timeout {
            // Restore the full reply timeout for the next call.
            self.stream.set_read_timeout(Some(self.reply_timeout))?;
        }
        if decoded != self.buf.len() {
            // Bytes nobody asked for: the stream is out of step. Refuse to guess which reply
            // belongs to which command.
            return Err(Error::Unsolicited);
        }
        self.buf.clear();
        if self.buf.capacity() > KEEP_BUFFER_BYTES {
            self.buf = Vec::new();
        }
        Ok(())
    }
}

/// A reset or broken pipe means the peer had closed the connection; anything else stays an error.
fn stale_or(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => Error::Stale,
        _ => Error::from(e),
    }
}

fn open(target: &RedisTarget, timeout: Duration) -> Result<TcpStream, Error> {
    let addrs = (target.host.as_str(), target.port).to_socket_addrs()?;
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "host has no address")
    })))
}

fn expect_ok(step: &str, reply: &Value) -> Result<(), Error> {
    match reply {
        Value::Simple(s) if s == b"OK" => Ok(()),
        Value::Error(text) => Err(Error::Handshake(format!(
            "{step}: {}",
            String::from_utf8_lossy(text)
        ))),
        other => Err(Error::Handshake(format!(
            "{step}: unexpected reply {other:?}"
        ))),
    }
}
