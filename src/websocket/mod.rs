//! WebSockets (RFC 6455): the opening handshake and the frames that follow it, as pure codecs.
//!
//! * [`handshake`]: is an HTTP request an upgrade, is it a valid one (§4.2.1), and the
//!   `101 Switching Protocols` answer with its `Sec-WebSocket-Accept` (§4.2.2).
//! * [`frame`]: client frames in, with every §5 rule checked ([`frame::parse()`]); server frames
//!   out ([`frame::write()`], [`frame::write_close`]); fragments reassembled into messages and text
//!   checked as UTF-8 ([`frame::Assembler`]).
//! * [`sha1`], [`base64`]: the digest and the encoding the handshake needs, from their specs.
//!
//! Like `http` and `resp`, this module never does I/O, never reads a clock, never spawns a
//! thread and never panics on input. Its limits (largest frame payload, largest message) are
//! parameters the caller passes; each is compared with a length read off the wire before
//! anything is allocated. Control frames are bounded by the protocol itself, at 125 bytes.

pub mod base64;
pub mod frame;
pub mod handshake;
pub mod sha1;
