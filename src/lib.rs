//! HTTP/1.1 → Redis gateway on std alone.
//!
//! ```text
//!  clients ─► acceptor thread ─► inbox
//!                                  ▼
//!             main thread (server::poll) ─push─► TaskQueue ─pop─► 9 workers (worker-1..9)
//!             · sleeps on the inbox when idle                     │ http::parse
//!             · parked connections (server::lanes) ◄── back ──────┤ api::Service: request → Step
//!             · idle / slow-request / write timeouts              ▼ redis::Backend: one round trip
//!             maintainer thread ─connect/AUTH/SELECT/PING/replace─► redis::Pool (≤ 40 connections)
//!
//!  webdis API only, started on first use:
//!             redis-pubsub thread ─ one subscribed connection ─► fans messages out to the streams
//!                                   (subscriptions, WebSockets) parked in the poll loop
//!             redis-dbN threads ─ a small pool per database named by a /N/ prefix
//!
//!  with --sentinel: redis-sentinel thread ─ asks the sentinels, moves redis::Address
//! ```
//!
//! # Reading order
//!
//! **The key/value core** (the course's design, end to end), in this order:
//!
//! 1. [`config`]: every limit and timeout with its default, and the one table of options that
//!    makes the flags, the environment variables, `--help` and `--print-config`.
//! 2. [`http`]: the request parser (incremental, RFC 9112), URL decoding, the response writer.
//! 3. [`resp`]: the RESP codec Redis speaks.
//! 4. [`redis`]: one connection, the pool, the maintainer thread, behind one seam
//!    ([`redis::Backend`]); [`redis::Standalone`] is one Redis server, [`redis::Cluster`] a
//!    Redis Cluster, [`redis::Sentinel`] a master found and followed through Redis Sentinel.
//! 5. [`server`]: a connection and its phases, the poll loop and its lanes, the task queue, the
//!    workers.
//! 6. [`api`]: [`api::Service`], the one interface of an API; [`api::keyvalue`], the seed's
//!    API; [`api::error`], the one mapping from errors to HTTP statuses; [`api::admin`].
//! 7. [`log`] and [`metrics`]: the stderr logger, the counters of `/metrics`.
//! 8. [`memory`]: the one memory budget (`--max-memory`) every growing buffer is counted in.
//!
//! **The extras** (the webdis-compatible API, pub/sub and WebSockets), read after the core:
//! [`api::webdis`] (the API), [`webdis`] (its command paths, output formats and ACL), [`json`]
//! (parser and writer), [`websocket`] (handshake and frames), `redis::subscriber` (the shared
//! subscriptions), `server::stream` (connections that became streams).
//!
//! **The Upstash REST API** (`--api upstash`), read after the webdis extras: [`api::token`] (the
//! gateway's bearer tokens, which every API checks), [`api::upstash`] (JSON and path-style
//! commands, `/pipeline`, `/multi-exec`, base64 and RESP2 answers, SSE), and
//! [`redis::transaction`] (`MULTI` … `EXEC` on an exclusive connection, capped).
//!
//! # Rules the layout keeps
//!
//! * `http`, `resp`, `json`, `websocket` and `webdis` are pure: bytes in, values out; no
//!   sockets, threads or clocks.
//! * Only `server` touches client sockets; only `redis` touches Redis sockets.
//! * `server` moves bytes and knows no API; each API is one room in `api`, which turns a parsed
//!   request into commands and a response, and owns the single mapping from errors to statuses.
//! * No import circles: `main` → `server` → `api` → `redis` → `config` → the codecs; `log` and
//!   `metrics` import nothing of the crate.
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
pub mod memory;
pub mod metrics;
pub mod redis;
pub mod resp;
pub mod server;
pub mod webdis;
pub mod websocket;

#[cfg(test)]
#[path = "../tests/support/rng.rs"]
mod test_rng;
