//! JSON: a strict parser with size and depth limits (for `webdis.json` and WebSocket commands)
//! and a writer whose output matches webdis's byte for byte. A pure codec: bytes in, values out.

pub mod parse;
pub mod value;
pub mod write;
