//! The seam between the APIs and Redis: what a request may ask of Redis, whatever Redis is (one
//! server today; a cluster or a master found through Sentinel plug in here).
//!
//! ```text
//!   worker ── run(commands) ──► Backend ── pools, routing, retries ──► Redis
//!   worker ── transaction(cmds) ► Backend ── one exclusive connection: MULTI … EXEC ──► Redis
//!   worker ── hub().subscribe ─► the shared subscriptions (one subscribed connection)
//! ```
//!
//! A backend owns its connections and the threads that keep them; the server starts it, asks it,
//! and closes it. Its errors are typed ([`Error`]): nothing above it reads Redis's error texts to
//! learn what went wrong.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::subscriber::Hub;
use super::{Error, PoolStats};
use crate::resp::Value;

/// One command to run: its arguments, and the database it runs on.
#[derive(Debug, Clone, Copy)]
pub struct Command<'a> {
    /// The database; `None` for the configured one.
    pub db: Option<u32>,
    /// The command name and its arguments.
    pub args: &'a [Cow<'a, [u8]>],
}

/// How a `MULTI` … `EXEC` transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `EXEC` ran the commands: one reply each, error replies included.
    Committed(Vec<Value>),
    /// Redis refused to queue a command, so nothing ran (`EXECABORT`): the text of the first
    /// refusal (e.g. `ERR unknown command 'NOPE'`).
    Aborted(Vec<u8>),
}

/// What the APIs ask of Redis.
pub trait Backend: Send + Sync + fmt::Debug {
    /// Runs independent commands (of one request or of several), each at most once, in as few
    /// round trips as it can; one result per command, in order. Commands that reach the same
    /// connection run in the order given, so two commands on one key run in order.
    fn run(&self, commands: &[Command<'_>]) -> Vec<Result<Value, Error>>;

    /// Runs `commands` atomically on a connection no one else uses meanwhile: `MULTI`, the
    /// commands and `EXEC` in one write, then exactly `commands.len() + 2` replies read. At most
    /// a configured number of transactions hold a connection at once; a transport failure or a
    /// timeout closes that connection and the transaction is never sent again (it may have run).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] when no connection (or no transaction slot) came free in time; any
    /// transport error.
    fn transaction(&self, commands: &[&[Cow<'_, [u8]>]]) -> Result<Outcome, Error>;

    /// The shared pub/sub subscriptions.
    fn hub(&self) -> &Arc<Hub>;

    /// The pool's gauges, for `/metrics` and `/healthz`.
    fn stats(&self) -> PoolStats;

    /// Stops its threads and closes its connections; requests after this fail fast.
    fn close(&self);
}
