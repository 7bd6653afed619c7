//! HTTP/1.1 → Redis gateway on std alone. Read in this order: config, http, resp, redis, server,
//! api; then json, webdis and websocket for the webdis API.
//!
//! ```text
//!  clients ─► main thread (server::poll) ─push─► TaskQueue ─pop─► 9 workers (worker-1..9)
//!             · nonblocking accept                                │ http::parse
//!             · scan of parked connections ◄── socket back ───────┤ api: HTTP request → Redis command
//!             · idle / slow-header timeouts                       ▼ checkout, one round trip, drop = return
//!             maintainer thread ─connect/AUTH/SELECT/PING/replace─► redis::Pool (≤ 40 connections)
//!
//!  webdis API only, started on first use:
//!             redis-pubsub thread ─ one subscribed connection ─► fans messages out to the streams
//!                                   (subscriptions, WebSockets) parked in the poll loop
//!             redis-dbN threads ─ a small pool per database named by a /N/ prefix
//! ```
//!
//! * `http`, `resp`, `json`, `websocket` and `webdis` are pure: bytes in, values out; no
//!   sockets, threads or clocks.
//! * Only `server` touches client sockets; only `redis` touches Redis sockets.
//! * `api` turns one parsed request into one Redis command and one response, and owns the single
//!   mapping from errors to HTTP statuses.
//!
//! The design follows the course's design report: a listener feeds a task queue, 9 workers pop
//! connections and serve them, 1 thread keeps up to 40 Redis connections open. Unlike the report's
//! version, no thread ever waits for a client to send bytes: the poll loop owns idle and slow clients.
#![forbid(unsafe_code)]
#![deny(missing_docs, rust_2018_idioms)]

pub mod api;
pub mod config;
pub mod http;
pub mod json;
pub mod log;
pub mod metrics;
pub mod redis;
pub mod resp;
pub mod server;
pub mod webdis;
pub mod websocket;

#[cfg(test)]
#[path = "../tests/support/rng.rs"]
mod test_rng;
