//! WebSockets (RFC 6455): the opening handshake's digest and encoding.

pub mod base64;
pub mod sha1;
