//! RESP, the Redis serialization protocol: values, an incremental decoder and an encoder.
//!
//! This module owns the bytes exchanged with Redis. It is a pure codec: bytes in, values out. It never does
//! I/O, never blocks, never reads a clock, and never panics on input; the caller (`redis`) owns the socket and
//! the buffer, and calls [`decode()`] again when more bytes arrive.
//!
//! Both protocol versions are understood (RESP spec, redis.io "Redis serialization protocol specification"):
//!
//! ```text
//! RESP2   +<text>CRLF            simple string        -<text>CRLF           simple error
//!         :[+|-]<digits>CRLF     integer (i64)        $<len>CRLF<bytes>CRLF bulk string ($-1 = null)
//!         *<count>CRLF<values>   array (*-1 = null)
//! RESP3   _CRLF                  null                 #t / #fCRLF           boolean
//!         ,<double>CRLF          double               (<digits>CRLF         big number
//!         !<len>CRLF<bytes>CRLF  blob error           =<len>CRLF<fmt>:<bytes>CRLF  verbatim string
//!         %<count>CRLF<2*count values>  map           ~<count>CRLF<values>  set
//!         ><count>CRLF<values>   push                 |<count>CRLF<2*count values><value>  attribute
//! ```
//!
//! Attributes are validated and skipped; streamed strings and aggregates (`$?`, `*?`) are not supported.
//!
//! Limits: every length and count read off the wire is compared with [`Limits`] before it is used, so a
//! hostile or broken peer can make the decoder return an error but never allocate more than the bytes it
//! actually sent, nor recurse. The defaults are documented on [`Limits`].
//!
//! If a variant is added to [`Value`], [`decode()`] (the `Item` scan), [`encode()`] and the random value
//! generator of the property tests must change with it.

pub mod decode;
pub mod encode;
pub mod value;

pub use decode::{decode, DecodeError, Limits, Status};
pub use encode::{encode, encode_command};
pub use value::Value;

#[cfg(test)]
mod property_tests;
