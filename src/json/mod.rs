//! JSON: a strict parser with size and depth limits (for `webdis.json` and WebSocket commands)
//! and a writer whose output matches webdis's byte for byte. A pure codec: bytes in, values out.
//!
//! * [`parse()`] reads one whole text under [`Limits`] (1 MiB, 32 levels by default), strictly after
//!   RFC 8259, and names the line and column of the first problem in its [`JsonError`].
//! * [`write()`], [`write_str`] and [`write_i64`] append compact text as webdis (jansson) writes it.
//! * [`Value`] keeps object members in order, duplicates included, and integers exact ([`Number`]).
//!
//! It never does I/O, never reads a clock and never panics on input. The parser never recurses; writing,
//! dropping and comparing a value recurse once per level, which the parser's depth limit bounds.
//!
//! If a variant is added to [`Value`], [`parse()`], [`write()`] and the random value generator of the
//! writer's property tests must change with it.

pub mod parse;
pub mod value;
pub mod write;

pub use parse::{parse, JsonError, Limits, Position, MAX_BYTES, MAX_DEPTH};
pub use value::{Number, Value};
pub use write::{write, write_i64, write_str};
