//! Everything that touches a Redis socket, behind one seam ([`Backend`]): one connection
//! ([`Conn`]), the pool workers borrow from ([`Pool`], [`PooledConn`]), the thread that keeps the
//! pool full ([`maintainer`]), the shared subscriptions ([`subscriber`]), and the topologies: a
//! single server ([`Standalone`]), a Redis Cluster ([`Cluster`]), and a master followed through
//! Redis Sentinel ([`Sentinel`]).
//!
//! A connection that saw an I/O error, a timeout or a malformed reply is never reused: a late reply
//! would otherwise answer the next request. It is dropped, and the maintainer opens a new one.

use std::fmt;
use std::io;
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

pub mod address;
pub mod backend;
pub mod cluster;
pub mod conn;
pub mod databases;
pub mod maintainer;
pub mod pool;
pub mod sentinel;
pub mod standalone;
pub mod subscriber;
pub mod transaction;

pub use address::Address;
pub use backend::{Backend, Command, Outcome};
pub use cluster::Cluster;
pub use conn::Conn;
pub use databases::Databases;
pub use pool::{Pool, PoolStats, PooledConn};
pub use sentinel::Sentinel;
pub use standalone::Standalone;

/// Joins the thread kept in `slot` once (the slot is left empty, so a second close does not wait
/// again); a panic of that thread is not passed on: it was logged where it happened.
pub(crate) fn join_thread(slot: &Mutex<Option<JoinHandle<()>>>) {
    let handle = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    if let Some(handle) = handle {
        let _ = handle.join();
    }
}

/// Why a Redis round trip failed. A Redis `-ERR` reply is not an error here: it is a
/// [`crate::resp::Value::Error`] value.
#[derive(Debug)]
pub enum Error {
    /// The socket failed (reset, refused, broken pipe).
    Io(io::Error),
    /// Redis closed the connection before the reply was complete.
    Closed,
    /// Redis had closed the connection before the command reached it (no reply byte came back):
    /// the command did not run, so running it again on a fresh connection is safe.
    Stale,
    /// No complete reply within the reply timeout.
    Timeout,
    /// The reply is not valid RESP.
    Protocol(crate::resp::DecodeError),
    /// The reply is larger than the configured maximum.
    ReplyTooLarge,
    /// Redis sent bytes after a complete reply that no command asked for.
    Unsolicited,
    /// No pooled connection could be had within the checkout timeout, or Redis is down.
    Unavailable(String),
    /// The connection handshake (AUTH, SELECT, CLIENT SETNAME) was refused by Redis.
    Handshake(String),
    /// `SELECT` was refused: this Redis has no database with that number.
    NoSuchDatabase(u32),
    /// The reply did not fit in the gateway's memory budget (`--max-memory`).
    MemoryBudget,
    /// The topology cannot run the command as asked (e.g. a cluster and keys in several hash
    /// slots); the text says why and what to do instead. Nothing was sent, or, for
    /// [`Refusal::Partial`], only part of it ran.
    Refused(Refusal, String),
}

/// Why a topology refused a command (see [`Error::Refused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The keys live in several hash slots, and the command must run on one node at once.
    CrossSlot,
    /// The topology has no such thing (another database) or no way to merge the answers.
    Unsupported,
    /// A command split by slot failed on some slots after others ran.
    Partial,
}

impl Error {
    /// True for errors after which the connection must not carry another command.
    pub fn poisons_connection(&self) -> bool {
        !matches!(
            self,
            Error::Unavailable(_) | Error::NoSuchDatabase(_) | Error::Refused(..)
        )
    }

    /// True when the error suggests the server went away, so that every idle connection is suspect.
    pub fn server_gone(&self) -> bool {
        matches!(self, Error::Io(_) | Error::Closed | Error::Stale)
    }
}

impl Clone for Error {
    /// A copy for every command of a pipeline that one failure stopped. `io::Error` is not
    /// `Clone`; its kind and text are kept.
    fn clone(&self) -> Error {
        match self {
            Error::Io(e) => Error::Io(io::Error::new(e.kind(), e.to_string())),
            Error::Closed => Error::Closed,
            Error::Stale => Error::Stale,
            Error::Timeout => Error::Timeout,
            Error::Protocol(e) => Error::Protocol(e.clone()),
            Error::ReplyTooLarge => Error::ReplyTooLarge,
            Error::Unsolicited => Error::Unsolicited,
            Error::Unavailable(why) => Error::Unavailable(why.clone()),
            Error::Handshake(why) => Error::Handshake(why.clone()),
            Error::NoSuchDatabase(db) => Error::NoSuchDatabase(*db),
            Error::MemoryBudget => Error::MemoryBudget,
            Error::Refused(why, text) => Error::Refused(*why, text.clone()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "redis connection failed: {e}"),
            Error::Closed => f.write_str("redis closed the connection"),
            Error::Stale => f.write_str("redis had closed the pooled connection"),
            Error::Timeout => f.write_str("redis did not answer in time"),
            Error::Protocol(e) => write!(f, "malformed reply from redis: {e}"),
            Error::ReplyTooLarge => f.write_str("redis reply larger than --max-reply-bytes"),
            Error::Unsolicited => f.write_str("redis sent a reply nobody asked for"),
            Error::Unavailable(why) => write!(f, "redis unavailable: {why}"),
            Error::Handshake(why) => write!(f, "redis refused the connection setup: {why}"),
            Error::NoSuchDatabase(db) => write!(f, "database {db} does not exist in this Redis"),
            Error::MemoryBudget => f.write_str(
                "the gateway's memory budget (--max-memory) cannot hold the reply now; retry",
            ),
            Error::Refused(_, text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        match e.kind() {
            // A read timeout shows as WouldBlock on Unix and TimedOut on Windows.
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout,
            _ => Error::Io(e),
        }
    }
}
