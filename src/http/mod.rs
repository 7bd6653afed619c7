//! HTTP/1.1 requests: strict, incremental parsing (RFC 9112), percent-decoding and forms, and dates.
//!
//! This module owns the bytes a client sends and the few textual formats a response needs:
//!
//! * [`request`]: the parsed values ([`Request`], [`Head`], [`Method`], [`Framing`]).
//! * [`mod@parse`]: bytes in, a [`Request`] out, or [`Status::Partial`] while bytes are missing, or a
//!   [`ParseError`] that maps to exactly one HTTP status. Every size it reads is checked against
//!   [`Limits`] before anything is allocated.
//! * [`url`]: `%XX` decoding and `application/x-www-form-urlencoded` bodies.
//! * [`date`]: the IMF-fixdate of a `Date:` header, from a time the caller passes in.
//! * [`origin`]: web origins (`Origin`, `--allow-origin`); [`credentials`]: comparing secrets
//!   in constant time.
//!
//! It never does I/O, never reads a clock, never spawns a thread and never panics on input:
//! the server feeds it bytes and decides what to do with the verdict.
pub mod credentials;
pub mod date;
pub mod origin;
pub mod parse;
pub mod request;
pub mod response;
pub mod url;

pub use parse::{decode_body, parse, parse_head, scan_body, BodyScan, Limits, ParseError, Status};
pub use request::{Framing, Head, Header, Method, Request, Version};
