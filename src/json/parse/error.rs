//! What the parser answers when a text is refused: a [`JsonError`] that names the first problem,
//! and the [`Position`] (byte offset, line and column) where it was found, for a person to read.

use std::fmt;

/// Where in the input an error was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The byte offset from the start of the input, from 0.
    pub offset: usize,
    /// The line, from 1: one more than the number of `\n` before `offset`.
    pub line: usize,
    /// The column, from 1, in characters (not bytes) since the start of the line; a tab counts as one.
    pub column: usize,
}

impl Position {
    /// The position of byte `offset` of `input`. Errors are rare and texts small, so this scans from the
    /// start rather than have the parser count lines as it goes.
    pub(super) fn of(input: &[u8], offset: usize) -> Position {
        let before = input.get(..offset).unwrap_or(input);
        let mut line = 1;
        let mut column = 1;
        for &byte in before {
            if byte == b'\n' {
                line += 1;
                column = 1;
            } else if byte & 0xC0 != 0x80 {
                // Every byte starts a character except UTF-8 continuation bytes (10xxxxxx).
                column += 1;
            }
        }
        Position {
            offset,
            line,
            column,
        }
    }
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} column {}", self.line, self.column)
    }
}

/// Why a text is not one valid JSON value within the [`Limits`](super::Limits).
///
/// Every variant but [`JsonError::TooLarge`] carries the [`Position`] of the offending byte, and `Display`
/// names it as `line L column C` so that a person can find it in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// The input is `len` bytes long, more than [`Limits::max_bytes`](super::Limits::max_bytes) (`max`).
    TooLarge {
        /// The input's length in bytes.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// A `[` or `{` (at `at`) would nest deeper than [`Limits::max_depth`](super::Limits::max_depth) (`max`).
    TooDeep {
        /// The bracket that went one level too deep.
        at: Position,
        /// The limit it broke.
        max: usize,
    },
    /// The input is not valid UTF-8 from `at` on.
    NotUtf8 {
        /// The first byte that is not part of a valid UTF-8 character.
        at: Position,
    },
    /// Something else was found where `expected` must be.
    Syntax {
        /// The unexpected byte.
        at: Position,
        /// What would have been valid there, such as `"a value"` or `"':' after a member name"`.
        expected: &'static str,
    },
    /// The input ends where `expected` must be.
    UnexpectedEnd {
        /// The end of the input.
        at: Position,
        /// What would have been valid there.
        expected: &'static str,
    },
    /// A `,` is followed by the `]` or `}` (`closer`) that ends its array or object: `[1,]`, `{"a":1,}`.
    TrailingComma {
        /// The comma.
        at: Position,
        /// The `]` or `}` after it.
        closer: char,
    },
    /// A string holds a raw control character, an invalid escape or a lone surrogate, or is never closed.
    BadString {
        /// The control character, the `\` of the escape, or the opening `"` of an unclosed string.
        at: Position,
        /// What is wrong, for a person.
        why: &'static str,
    },
    /// A number is malformed (`01`, `1.`, `-`, `1e`) or too large for an `f64` (`1e400`).
    BadNumber {
        /// The first byte of the number, or the byte where a digit is missing.
        at: Position,
        /// What is wrong, for a person.
        why: &'static str,
    },
    /// Something other than whitespace follows the value: `1 2`, `{}}`, `// comment`.
    TrailingData {
        /// The first byte after the value and its whitespace.
        at: Position,
    },
}

impl JsonError {
    /// Where the error was found; `None` for [`JsonError::TooLarge`], which is about the whole input.
    pub fn position(&self) -> Option<Position> {
        match self {
            JsonError::TooLarge { .. } => None,
            JsonError::TooDeep { at, .. }
            | JsonError::NotUtf8 { at }
            | JsonError::Syntax { at, .. }
            | JsonError::UnexpectedEnd { at, .. }
            | JsonError::TrailingComma { at, .. }
            | JsonError::BadString { at, .. }
            | JsonError::BadNumber { at, .. }
            | JsonError::TrailingData { at } => Some(*at),
        }
    }
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JsonError::TooLarge { len, max } => {
                write!(f, "JSON text is {len} bytes, more than the limit of {max}")
            }
            JsonError::TooDeep { at, max } => {
                write!(f, "arrays and objects nested more than {max} deep at {at}")
            }
            JsonError::NotUtf8 { at } => write!(f, "invalid UTF-8 at {at}"),
            JsonError::Syntax { at, expected } => write!(f, "expected {expected} at {at}"),
            JsonError::UnexpectedEnd { at, expected } => {
                write!(f, "unexpected end of text, expected {expected} at {at}")
            }
            JsonError::TrailingComma { at, closer } => {
                write!(f, "trailing comma before '{closer}' at {at}")
            }
            JsonError::BadString { at, why } => write!(f, "{why} at {at}"),
            JsonError::BadNumber { at, why } => write!(f, "bad number ({why}) at {at}"),
            JsonError::TrailingData { at } => {
                write!(f, "unexpected text after the JSON value at {at}")
            }
        }
    }
}

impl std::error::Error for JsonError {}
