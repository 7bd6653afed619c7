//! A scripted fake Redis on a free loopback port, for the faults a real one cannot produce: malformed,
//! huge, endless, trickled, cut and unsolicited replies. A real `redis-server` ([`super::RedisServer`])
//! serves every other test.
//!
//! The fake reads RESP commands and asks the test's script what to do for each ([`Act`]). It records, per
//! accepted connection, the commands it received and whether the gateway closed it ([`ConnLog`]), so that
//! a test can see which connection carried a bad reply and that it was never used again.

use super::redis::{read_reply, RespReply};
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How often a connection's thread looks at the stop flag while the gateway sends nothing.
const READ_TIMEOUT: Duration = Duration::from_millis(100);

/// The pause between two writes of [`Act::Bytewise`].
const BYTEWISE_EVERY: Duration = Duration::from_millis(2);

/// The pause between two bytes of [`Act::Trickle`].
pub const TRICKLE_EVERY: Duration = Duration::from_millis(100);

/// How long [`Act::Trickle`] goes on at most, should the gateway never hang up.
const TRICKLE_FOR: Duration = Duration::from_secs(30);

/// How long after its reply [`Act::ThenLater`] sends the stray bytes.
const LATER_BY: Duration = Duration::from_millis(50);

/// How late a connection answers every command once it has sent stray bytes (see [`Act::ThenLater`]).
const LATE_BY: Duration = Duration::from_millis(200);

/// What the fake does to answer one command.
#[derive(Debug, Clone)]
pub enum Act {
    /// Writes these bytes in one write.
    Reply(Vec<u8>),
    /// Writes these bytes one byte per write, a moment apart.
    Bytewise(Vec<u8>),
    /// Writes these bytes and then nothing more, ever (but keeps reading).
    Partial(Vec<u8>),
    /// Writes these bytes, then one more byte every [`TRICKLE_EVERY`] until the gateway hangs up.
    Trickle(Vec<u8>),
    /// Writes these bytes and closes the connection.
    CloseAfter(Vec<u8>),
    /// Writes the first bytes, and the second ones a moment later, unasked. From then on the connection
    /// answers every command late, so that a gateway reading its socket finds the stray reply alone first.
    ThenLater(Vec<u8>, Vec<u8>),
}

impl Act {
    /// [`Act::Reply`] of a copy of `bytes`.
    pub fn reply(bytes: &[u8]) -> Act {
        Act::Reply(bytes.to_vec())
    }
}

/// What one accepted connection saw.
#[derive(Debug, Default, Clone)]
pub struct ConnLog {
    /// Every command, in order, its arguments joined by spaces (`GET key`).
    pub commands: Vec<String>,
    /// The gateway closed (or reset) the connection.
    pub closed_by_gateway: bool,
    /// The fake finished writing the stray bytes of an [`Act::ThenLater`].
    pub late_bytes_sent: bool,
}

/// What the fake does for one command, given its arguments (the command name first, as sent).
pub type Script = dyn Fn(&[Vec<u8>]) -> Act + Send + Sync;

/// The connections accepted so far, in order, shared with their threads.
type Conns = Arc<Mutex<Vec<ConnLog>>>;

/// A running fake Redis; stopped on drop, its connections' logs printed if the test is panicking.
pub struct FakeRedis {
    addr: SocketAddr,
    conns: Conns,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeRedis {
    /// Starts the fake; each accepted connection is served on a thread of its own, by `script`.
    pub fn start(script: impl Fn(&[Vec<u8>]) -> Act + Send + Sync + 'static) -> FakeRedis {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake redis");
        let addr = listener.local_addr().expect("the fake redis's address");
        let conns: Conns = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (accepted, stopping) = (Arc::clone(&conns), Arc::clone(&stop));
        // A blocking accept: `drop` wakes it with a connection of its own after setting the flag.
        let thread = thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else {
                    continue;
                };
                let id = {
                    let mut conns = lock(&accepted);
                    conns.push(ConnLog::default());
                    conns.len() - 1
                };
                let (conns, stop, script) = (
                    Arc::clone(&accepted),
                    Arc::clone(&stopping),
                    Arc::clone(&script),
                );
                thread::spawn(move || serve(stream, id, &conns, &stop, &*script));
            }
        });
        FakeRedis {
            addr,
            conns,
            stop,
            thread: Some(thread),
        }
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// What every connection accepted so far saw.
    pub fn log(&self) -> Vec<ConnLog> {
        lock(&self.conns).clone()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        lock(&self.conns).len()
    }

    /// The connection that received `command` (its arguments joined by spaces) last.
    pub fn conn_of(&self, command: &str) -> Option<usize> {
        self.log()
            .iter()
            .rposition(|c| c.commands.iter().any(|seen| seen == command))
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if thread::panicking() {
            for (id, conn) in self.log().iter().enumerate() {
                eprintln!("fake redis connection {id}: {conn:?}");
            }
        }
    }
}

/// The log; a thread that panicked holding the lock left it whole (every update is one assignment).
fn lock(conns: &Mutex<Vec<ConnLog>>) -> MutexGuard<'_, Vec<ConnLog>> {
    conns.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serves one connection until the gateway closes it or the fake stops.
fn serve(
    stream: TcpStream,
    id: usize,
    conns: &Mutex<Vec<ConnLog>>,
    stop: &AtomicBool,
    script: &Script,
) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let update = |f: &dyn Fn(&mut ConnLog)| f(&mut lock(conns)[id]);
    let gone = || update(&|c| c.closed_by_gateway = true);
    while !stop.load(Ordering::Relaxed) {
        let args: Vec<Vec<u8>> = match read_reply(&mut reader) {
            Ok(RespReply::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    RespReply::Bulk(bytes) => bytes,
                    other => format!("{other:?}").into_bytes(),
                })
                .collect(),
            Ok(_) => return gone(),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return gone(),
        };
        let command: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        update(&|c| c.commands.push(command.join(" ")));
        if lock(conns)[id].late_bytes_sent {
            thread::sleep(LATE_BY);
        }
        let written = match script(&args) {
            Act::Reply(bytes) | Act::Partial(bytes) => out.write_all(&bytes),
            Act::Bytewise(bytes) => bytes.iter().try_for_each(|b| {
                thread::sleep(BYTEWISE_EVERY);
                out.write_all(&[*b])
            }),
            Act::Trickle(head) => {
                let mut result = out.write_all(&head);
                let deadline = Instant::now() + TRICKLE_FOR;
                while result.is_ok() && !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    thread::sleep(TRICKLE_EVERY);
                    result = out.write_all(b"x");
                }
                result
            }
            Act::CloseAfter(bytes) => {
                let _ = out.write_all(&bytes);
                let _ = out.shutdown(Shutdown::Both);
                return;
            }
            Act::ThenLater(first, later) => out.write_all(&first).and_then(|()| {
                thread::sleep(LATER_BY);
                out.write_all(&later)?;
                update(&|c| c.late_bytes_sent = true);
                Ok(())
            }),
        };
        if written.is_err() {
            return gone();
        }
    }
}
