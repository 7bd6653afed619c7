//! The strict JSON parser (RFC 8259): one whole text in, one [`Value`] or one [`JsonError`] out.
//!
//! It reads configuration files and WebSocket commands, so it is written for two readers: a hostile peer,
//! who must not be able to make it panic, recurse or allocate much more than the bytes it sent, and a person
//! editing `webdis.json`, who must be told what is wrong and where (`line L column C`).
//!
//! It never does I/O and never panics. The size limit is checked before anything else; the input must then
//! be valid UTF-8 as a whole (RFC 8259 §8.1). Parsing is one loop over an explicit stack of open arrays and
//! objects, never recursion, and [`Limits::max_depth`] is checked at every `[` and `{`. Memory: the value
//! built takes a few tens of bytes per input byte at worst (`[0,0,0,…]`), so `max_bytes` bounds it too.
//!
//! The grammar, from RFC 8259 §2–§7 (`ws` is allowed around every structural character):
//!
//! ```text
//! JSON-text = ws value ws
//! value     = false / null / true / object / array / number / string
//! object    = "{" ws [ member *( ws "," ws member ) ] ws "}"
//! member    = string ws ":" ws value
//! array     = "[" ws [ value *( ws "," ws value ) ] ws "]"
//! number    = [ "-" ] int [ frac ] [ exp ]
//! int       = "0" / ( %x31-39 *DIGIT )                ; no leading zeros
//! frac      = "." 1*DIGIT
//! exp       = ( "e" / "E" ) [ "-" / "+" ] 1*DIGIT
//! string    = %x22 *char %x22
//! char      = unescaped / "\" ( %x22 / "\" / "/" / "b" / "f" / "n" / "r" / "t" / "u" 4HEXDIG )
//! unescaped = %x20-21 / %x23-5B / %x5D-10FFFF          ; no raw control characters
//! ws        = *( %x20 / %x09 / %x0A / %x0D )
//! ```
//!
//! Decisions where the RFC leaves a choice (each tested):
//! * Strict: no comments, no trailing commas, no `NaN` or `Infinity`, no single quotes, and no byte order
//!   mark (§8.1 allows ignoring one; a config file saved with one gets an error that says so).
//! * A character above U+FFFF may be escaped as a UTF-16 surrogate pair (`\uD834\uDD1E`), which is
//!   combined; a lone surrogate, high or low, is an error (§8.2 calls such strings unpredictable).
//! * Duplicate member names are kept in order (§4: the application decides).
//! * Numbers (§6): integer text that fits an `i64` is [`Number::Int`] (`-0` becomes `0`); every other number
//!   is the nearest [`Number::Float`], and one that overflows to infinity (`1e400`) is an error.
//! * Columns count characters (a tab is one column), from 1; lines count `\n`, from 1.

use std::fmt;

use super::value::{Number, Value};

/// The default largest text, in bytes: 1 MiB. A `webdis.json` is a few hundred bytes and a WebSocket
/// command a few kilobytes; a megabyte leaves room for long ACL lists and still bounds what a peer can make
/// the parser allocate (see the module docs).
pub const MAX_BYTES: usize = 1024 * 1024;

/// The default deepest nesting of arrays and objects: 32. A config nests three levels (`{"acl":[{"enabled":
/// […]}]}`) and a command one; 32 leaves room and keeps the recursion of `Drop`, `PartialEq` and
/// [`write()`](super::write()) on a parsed value far from the stack's end.
pub const MAX_DEPTH: usize = 32;

/// The limits on what a text may make the parser do; each is checked before anything is allocated for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest input, in bytes. A longer input is [`JsonError::TooLarge`] before a byte is read.
    pub max_bytes: usize,
    /// The most arrays and objects nested inside one another (a top-level `[]` is depth 1, a lone `5` is
    /// depth 0). Deeper is [`JsonError::TooDeep`]. The parser itself never recurses, but the value it returns
    /// is dropped, compared and written recursively, so keep this small: thousands of levels can overflow a
    /// thread's stack after `parse` returns.
    pub max_depth: usize,
}

impl Limits {
    /// [`MAX_BYTES`] (1 MiB) and [`MAX_DEPTH`] (32).
    pub const DEFAULT: Limits = Limits {
        max_bytes: MAX_BYTES,
        max_depth: MAX_DEPTH,
    };
}

impl Default for Limits {
    /// [`Limits::DEFAULT`].
    fn default() -> Limits {
        Limits::DEFAULT
    }
}

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
    fn of(input: &[u8], offset: usize) -> Position {
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

/// Why a text is not one valid JSON value within the [`Limits`].
///
/// Every variant but [`JsonError::TooLarge`] carries the [`Position`] of the offending byte, and `Display`
/// names it as `line L column C` so that a person can find it in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// The input is `len` bytes long, more than [`Limits::max_bytes`] (`max`).
    TooLarge {
        /// The input's length in bytes.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// A `[` or `{` (at `at`) would nest deeper than [`Limits::max_depth`] (`max`).
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

/// Parses `input`, which must hold exactly one JSON value with optional whitespace around it.
///
/// # Errors
///
/// A [`JsonError`] when `input` is longer than `limits.max_bytes`, is not valid UTF-8, nests deeper than
/// `limits.max_depth`, or breaks any rule of RFC 8259 (see the module docs for the strict choices). The
/// error names the first problem only.
///
/// # Examples
///
/// ```
/// use redis_gateway::json::{parse, JsonError, Limits, Value};
///
/// let config = parse(br#"{"threads": 5, "acl": [{"disabled": ["DEBUG"]}]}"#, &Limits::DEFAULT).unwrap();
/// assert_eq!(config.get("threads").and_then(Value::as_i64), Some(5));
///
/// let error = parse(b"{ \"daemonize\": false,\n  \"websockets\": true, }", &Limits::DEFAULT).unwrap_err();
/// assert!(matches!(error, JsonError::TrailingComma { .. }));
/// assert_eq!(error.to_string(), "trailing comma before '}' at line 2 column 21");
/// ```
pub fn parse(input: &[u8], limits: &Limits) -> Result<Value, JsonError> {
    if input.len() > limits.max_bytes {
        return Err(JsonError::TooLarge {
            len: input.len(),
            max: limits.max_bytes,
        });
    }
    let text = match std::str::from_utf8(input) {
        Ok(text) => text,
        Err(error) => {
            return Err(JsonError::NotUtf8 {
                at: Position::of(input, error.valid_up_to()),
            })
        }
    };
    if text.starts_with('\u{FEFF}') {
        return Err(JsonError::Syntax {
            at: Position::of(input, 0),
            expected: "a value, not a byte order mark (save the file as UTF-8 without BOM)",
        });
    }
    let mut parser = Parser {
        text,
        bytes: input,
        pos: 0,
    };
    parser.document(limits)
}

/// An array or object whose closing bracket has not been read yet.
enum Frame {
    /// An array and its elements so far.
    Array(Vec<Value>),
    /// An object, its members so far, and the name of the member whose value is being read.
    Object(Vec<(String, Value)>, String),
}

/// A read position in the input; every read checks the input's end.
struct Parser<'a> {
    /// The whole input, known to be valid UTF-8.
    text: &'a str,
    /// The same input as bytes.
    bytes: &'a [u8],
    /// The next byte to read; never more than `bytes.len()`.
    pos: usize,
}

impl<'a> Parser<'a> {
    /// Reads the one value of the text and checks that only whitespace follows it.
    fn document(&mut self, limits: &Limits) -> Result<Value, JsonError> {
        // One entry per array or object opened and not yet closed: never more than `max_depth`.
        let mut open: Vec<Frame> = Vec::new();
        'values: loop {
            // Read a value. An array or object that is not empty goes on the stack, and its first element
            // or member is read on the next turn.
            self.skip_whitespace();
            let mut value = match self.peek() {
                Some(b'[') => {
                    self.enter(open.len(), limits)?;
                    self.pos += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        Value::Array(Vec::new())
                    } else {
                        open.push(Frame::Array(Vec::new()));
                        continue 'values;
                    }
                }
                Some(b'{') => {
                    self.enter(open.len(), limits)?;
                    self.pos += 1;
                    self.skip_whitespace();
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        Value::Object(Vec::new())
                    } else {
                        let name = self.name()?;
                        open.push(Frame::Object(Vec::new(), name));
                        continue 'values;
                    }
                }
                _ => self.scalar()?,
            };
            // `value` is whole. It joins the innermost open array or object; after it comes either a comma
            // (read the next value) or the closing bracket, which makes that array or object whole in turn.
            loop {
                self.skip_whitespace();
                let Some(frame) = open.last_mut() else {
                    if self.pos < self.bytes.len() {
                        return Err(JsonError::TrailingData {
                            at: self.at(self.pos),
                        });
                    }
                    return Ok(value);
                };
                match frame {
                    Frame::Array(items) => {
                        items.push(value);
                        match self.peek() {
                            Some(b',') => {
                                self.comma(b']')?;
                                continue 'values;
                            }
                            Some(b']') => value = Value::Array(std::mem::take(items)),
                            _ => return Err(self.expected("',' or ']' after an array element")),
                        }
                    }
                    Frame::Object(members, name) => {
                        members.push((std::mem::take(name), value));
                        match self.peek() {
                            Some(b',') => {
                                self.comma(b'}')?;
                                *name = self.name()?;
                                continue 'values;
                            }
                            Some(b'}') => value = Value::Object(std::mem::take(members)),
                            _ => return Err(self.expected("',' or '}' after an object member")),
                        }
                    }
                }
                self.pos += 1; // past the closing bracket
                open.pop(); // the frame just emptied into `value`
            }
        }
    }

    /// Refuses to open one more array or object when `depth` are open already and that is the limit.
    fn enter(&self, depth: usize, limits: &Limits) -> Result<(), JsonError> {
        if depth >= limits.max_depth {
            return Err(JsonError::TooDeep {
                at: self.at(self.pos),
                max: limits.max_depth,
            });
        }
        Ok(())
    }

    /// Steps over a `,` and refuses a trailing one: RFC 8259 has no `[1,]` and no `{"a":1,}`.
    fn comma(&mut self, closer: u8) -> Result<(), JsonError> {
        let comma = self.pos;
        self.pos += 1;
        self.skip_whitespace();
        if self.peek() == Some(closer) {
            return Err(JsonError::TrailingComma {
                at: self.at(comma),
                closer: char::from(closer),
            });
        }
        Ok(())
    }

    /// Reads a member's name and the `:` after it.
    fn name(&mut self) -> Result<String, JsonError> {
        self.skip_whitespace();
        if self.peek() != Some(b'"') {
            return Err(self.expected("a member name in double quotes"));
        }
        let name = self.string()?;
        self.skip_whitespace();
        if self.peek() != Some(b':') {
            return Err(self.expected("':' after a member name"));
        }
        self.pos += 1;
        Ok(name)
    }

    /// Reads a value that is not an array or object.
    fn scalar(&mut self) -> Result<Value, JsonError> {
        match self.peek() {
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'-' | b'0'..=b'9') => Ok(Value::Number(self.number()?)),
            _ => Err(self.expected("a value")),
        }
    }

    /// Reads the literal `word`, which stands for `value`.
    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, JsonError> {
        if !self.rest().starts_with(word.as_bytes()) {
            return Err(self.expected(word));
        }
        self.pos += word.len();
        Ok(value)
    }

    /// Reads a number (see the grammar in the module docs).
    fn number(&mut self) -> Result<Number, JsonError> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if matches!(self.peek(), Some(b'0'..=b'9')) {
                    return Err(self.bad_number(start, "leading zero"));
                }
            }
            Some(b'1'..=b'9') => self.skip_digits(),
            _ => return Err(self.bad_number(self.pos, "a digit must follow '-'")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.bad_number(self.pos, "a digit must follow '.'"));
            }
            self.skip_digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            integer = false;
            self.pos += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.bad_number(self.pos, "a digit must follow the exponent's 'e'"));
            }
            self.skip_digits();
        }
        // The text now follows the RFC's grammar, which Rust's `i64` and `f64` parsers both accept.
        let text = self.slice(start, self.pos)?;
        if integer {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Number::Int(n));
            }
        }
        match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Number::Float(x)),
            _ => Err(self.bad_number(start, "too large for a 64-bit float")),
        }
    }

    /// Steps over ASCII digits.
    fn skip_digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
    }

    /// Reads a string from its opening `"` to its closing one, decoding escapes. Runs of plain characters
    /// are copied whole; the string grows as it is read, never reserving from anything in the input.
    fn string(&mut self) -> Result<String, JsonError> {
        let open_quote = self.pos;
        self.pos += 1;
        let mut out = String::new();
        let mut run = self.pos; // the start of the characters not copied to `out` yet
        loop {
            match self.peek() {
                None => return Err(self.bad_string(open_quote, "string never closed")),
                Some(b'"') => {
                    out.push_str(self.slice(run, self.pos)?);
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    out.push_str(self.slice(run, self.pos)?);
                    out.push(self.escape()?);
                    run = self.pos;
                }
                Some(b'\n') => {
                    return Err(self.bad_string(
                        self.pos,
                        "line break inside a string (is a closing '\"' missing?)",
                    ))
                }
                Some(0x00..=0x1F) => {
                    return Err(self.bad_string(
                        self.pos,
                        "raw control character in a string (write it as an escape such as \\t)",
                    ))
                }
                Some(_) => self.pos += 1,
            }
        }
    }

    /// Reads one escape, from its `\`, and returns the character it stands for.
    fn escape(&mut self) -> Result<char, JsonError> {
        let backslash = self.pos;
        self.pos += 1;
        let decoded = match self.peek() {
            Some(b'"') => '"',
            Some(b'\\') => '\\',
            Some(b'/') => '/',
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{C}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                self.pos += 1;
                return self.unicode_escape(backslash);
            }
            _ => {
                return Err(self.bad_string(
                    backslash,
                    "invalid escape (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                ))
            }
        };
        self.pos += 1;
        Ok(decoded)
    }

    /// Reads the hex digits of a `\u` escape that starts at `backslash`, and the second half of a surrogate
    /// pair when the first is a high surrogate: `\uD834\uDD1E` is U+1D11E (RFC 8259 §7).
    fn unicode_escape(&mut self, backslash: usize) -> Result<char, JsonError> {
        const LONE: &str = "lone UTF-16 surrogate in a \\u escape";
        let first = self.hex4(backslash)?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.rest().starts_with(b"\\u") {
                    return Err(self.bad_string(backslash, LONE));
                }
                self.pos += 2;
                let second = self.hex4(backslash)?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.bad_string(backslash, LONE));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.bad_string(backslash, LONE)),
            _ => first,
        };
        // Always a valid character by now: surrogates are excluded and the largest is U+10FFFF.
        char::from_u32(code).ok_or_else(|| self.bad_string(backslash, LONE))
    }

    /// Reads the four hex digits of a `\u` escape that starts at `backslash`.
    fn hex4(&mut self, backslash: usize) -> Result<u32, JsonError> {
        let mut code = 0;
        for _ in 0..4 {
            let digit = self
                .peek()
                .and_then(|byte| char::from(byte).to_digit(16))
                .ok_or_else(|| {
                    self.bad_string(backslash, "\\u must be followed by 4 hex digits")
                })?;
            code = code * 16 + digit;
            self.pos += 1;
        }
        Ok(code)
    }

    /// Steps over the whitespace RFC 8259 allows: space, tab, line feed, carriage return.
    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// The next byte, or `None` at the end of the input.
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    /// The bytes not read yet.
    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    /// The text from `start` to `end`. Both sit next to ASCII bytes (quotes, backslashes, the characters of
    /// a number), which are character boundaries of valid UTF-8, so the `NotUtf8` error cannot happen.
    fn slice(&self, start: usize, end: usize) -> Result<&'a str, JsonError> {
        self.text
            .get(start..end)
            .ok_or_else(|| JsonError::NotUtf8 { at: self.at(start) })
    }

    /// The position of byte `offset`.
    fn at(&self, offset: usize) -> Position {
        Position::of(self.bytes, offset)
    }

    /// `expected` is missing at the current byte, or the input ended before it.
    fn expected(&self, expected: &'static str) -> JsonError {
        let at = self.at(self.pos);
        if self.pos < self.bytes.len() {
            JsonError::Syntax { at, expected }
        } else {
            JsonError::UnexpectedEnd { at, expected }
        }
    }

    /// A [`JsonError::BadString`] at `offset`.
    fn bad_string(&self, offset: usize, why: &'static str) -> JsonError {
        JsonError::BadString {
            at: self.at(offset),
            why,
        }
    }

    /// A [`JsonError::BadNumber`] at `offset`.
    fn bad_number(&self, offset: usize, why: &'static str) -> JsonError {
        JsonError::BadNumber {
            at: self.at(offset),
            why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::write;
    use crate::test_rng::Rng;

    fn int(n: i64) -> Value {
        Value::Number(Number::Int(n))
    }

    fn float(x: f64) -> Value {
        Value::Number(Number::Float(x))
    }

    fn string(s: &str) -> Value {
        Value::String(s.to_string())
    }

    fn object(members: &[(&str, Value)]) -> Value {
        Value::Object(
            members
                .iter()
                .map(|(name, value)| (name.to_string(), value.clone()))
                .collect(),
        )
    }

    fn parse_default(input: &[u8]) -> Result<Value, JsonError> {
        parse(input, &Limits::DEFAULT)
    }

    /// The position of byte `offset` of a one-line ASCII input.
    fn col(offset: usize) -> Position {
        Position {
            offset,
            line: 1,
            column: offset + 1,
        }
    }

    #[test]
    fn rfc_8259_section_13_examples_parse() {
        let image = br#"{
        "Image": {
            "Width":  800,
            "Height": 600,
            "Title":  "View from 15th Floor",
            "Thumbnail": {
                "Url":    "http://www.example.com/image/481989943",
                "Height": 125,
                "Width":  100
            },
            "Animated" : false,
            "IDs": [116, 943, 234, 38793]
          }
      }"#;
        let expected = object(&[(
            "Image",
            object(&[
                ("Width", int(800)),
                ("Height", int(600)),
                ("Title", string("View from 15th Floor")),
                (
                    "Thumbnail",
                    object(&[
                        ("Url", string("http://www.example.com/image/481989943")),
                        ("Height", int(125)),
                        ("Width", int(100)),
                    ]),
                ),
                ("Animated", Value::Bool(false)),
                (
                    "IDs",
                    Value::Array(vec![int(116), int(943), int(234), int(38793)]),
                ),
            ]),
        )]);
        assert_eq!(parse_default(image), Ok(expected));

        let places = br#"[
        {
           "precision": "zip",
           "Latitude":  37.7668,
           "Longitude": -122.3959,
           "Address":   "",
           "City":      "SAN FRANCISCO",
           "State":     "CA",
           "Zip":       "94107",
           "Country":   "US"
        },
        {
           "precision": "zip",
           "Latitude":  37.371991,
           "Longitude": -122.026020,
           "Address":   "",
           "City":      "SUNNYVALE",
           "State":     "CA",
           "Zip":       "94085",
           "Country":   "US"
        }
      ]"#;
        let place = |lat: f64, long: f64, city: &str, zip: &str| {
            object(&[
                ("precision", string("zip")),
                ("Latitude", float(lat)),
                ("Longitude", float(long)),
                ("Address", string("")),
                ("City", string(city)),
                ("State", string("CA")),
                ("Zip", string(zip)),
                ("Country", string("US")),
            ])
        };
        let expected = Value::Array(vec![
            place(37.7668, -122.3959, "SAN FRANCISCO", "94107"),
            place(37.371991, -122.02602, "SUNNYVALE", "94085"),
        ]);
        assert_eq!(parse_default(places), Ok(expected));

        // §13: "Here are three small JSON texts containing only values".
        assert_eq!(
            parse_default(br#""Hello world!""#),
            Ok(string("Hello world!"))
        );
        assert_eq!(parse_default(b"42"), Ok(int(42)));
        assert_eq!(parse_default(b"true"), Ok(Value::Bool(true)));
    }

    #[test]
    fn table_of_valid_texts_parses_to_each_value() {
        let cases: Vec<(&[u8], Value)> = vec![
            (b"null", Value::Null),
            (b"false", Value::Bool(false)),
            (b" \t\r\n true \t\r\n ", Value::Bool(true)),
            (b"[]", Value::Array(vec![])),
            (b"[ ]", Value::Array(vec![])),
            (b"{}", Value::Object(vec![])),
            (b"{ \n }", Value::Object(vec![])),
            (
                b"[[],{}]",
                Value::Array(vec![Value::Array(vec![]), Value::Object(vec![])]),
            ),
            (
                b"[ 1 , [ 2 ] , { \"a\" : [ ] } ]",
                Value::Array(vec![
                    int(1),
                    Value::Array(vec![int(2)]),
                    object(&[("a", Value::Array(vec![]))]),
                ]),
            ),
            (
                br#"{"a":1,"b":2,"a":3}"#,
                object(&[("a", int(1)), ("b", int(2)), ("a", int(3))]),
            ),
            (br#"{"":null}"#, object(&[("", Value::Null)])),
            // Numbers.
            (b"0", int(0)),
            (b"-0", int(0)),
            (b"-1", int(-1)),
            (b"1234567890", int(1_234_567_890)),
            (b"9223372036854775807", int(i64::MAX)),
            (b"-9223372036854775808", int(i64::MIN)),
            (b"9223372036854775808", float(9_223_372_036_854_775_808.0)),
            (b"-9223372036854775809", float(-9_223_372_036_854_775_808.0)),
            (
                b"123456789012345678901234567890",
                float(1.2345678901234568e29),
            ),
            (b"1.5", float(1.5)),
            (b"-0.0", float(-0.0)),
            (b"1.0", float(1.0)),
            (b"0.1", float(0.1)),
            (b"1e2", float(100.0)),
            (b"1E2", float(100.0)),
            (b"1e+2", float(100.0)),
            (b"1e-2", float(0.01)),
            (b"2.5E-3", float(0.0025)),
            (b"1e-400", float(0.0)),
            (b"1.7976931348623157e308", float(f64::MAX)),
            (b"5e-324", float(5e-324)),
            // Strings and escapes.
            (br#""""#, string("")),
            (br#""\"\\\/\b\f\n\r\t""#, string("\"\\/\u{8}\u{C}\n\r\t")),
            (br#""\u005C""#, string("\\")), // §7's example of a reverse solidus
            (br#""\u0000\u001f\u001F""#, string("\u{0}\u{1F}\u{1F}")),
            (br#""\u00e9\u00E9""#, string("éé")),
            (br#""\uD834\uDD1E""#, string("\u{1D11E}")), // §7's G clef
            (br#""\udbff\udfff""#, string("\u{10FFFF}")),
            (br#""\uFFFF\uE000""#, string("\u{FFFF}\u{E000}")),
            (
                "\"é€𝄞 \u{2028}\u{7F}\"".as_bytes(),
                string("é€𝄞 \u{2028}\u{7F}"),
            ),
            (br#""a/b c""#, string("a/b c")),
            (
                br#"["a\"]", "b"]"#,
                Value::Array(vec![string("a\"]"), string("b")]),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_default(input),
                Ok(expected),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    fn syntax(offset: usize, expected: &'static str) -> JsonError {
        JsonError::Syntax {
            at: col(offset),
            expected,
        }
    }

    fn end(offset: usize, expected: &'static str) -> JsonError {
        JsonError::UnexpectedEnd {
            at: col(offset),
            expected,
        }
    }

    fn trailing_comma(offset: usize, closer: char) -> JsonError {
        JsonError::TrailingComma {
            at: col(offset),
            closer,
        }
    }

    fn trailing_data(offset: usize) -> JsonError {
        JsonError::TrailingData { at: col(offset) }
    }

    fn bad_string(offset: usize, why: &'static str) -> JsonError {
        JsonError::BadString {
            at: col(offset),
            why,
        }
    }

    fn bad_number(offset: usize, why: &'static str) -> JsonError {
        JsonError::BadNumber {
            at: col(offset),
            why,
        }
    }

    fn not_utf8(offset: usize) -> JsonError {
        JsonError::NotUtf8 { at: col(offset) }
    }

    #[test]
    fn table_of_rejected_inputs_reports_each_error() {
        const VALUE: &str = "a value";
        const NAME: &str = "a member name in double quotes";
        const COLON: &str = "':' after a member name";
        const ARRAY_NEXT: &str = "',' or ']' after an array element";
        const OBJECT_NEXT: &str = "',' or '}' after an object member";
        const BOM: &str = "a value, not a byte order mark (save the file as UTF-8 without BOM)";
        const CONTROL: &str =
            "raw control character in a string (write it as an escape such as \\t)";
        const LINE_BREAK: &str = "line break inside a string (is a closing '\"' missing?)";
        const UNCLOSED: &str = "string never closed";
        const ESCAPE: &str = "invalid escape (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)";
        const HEX: &str = "\\u must be followed by 4 hex digits";
        const LONE: &str = "lone UTF-16 surrogate in a \\u escape";
        const ZERO: &str = "leading zero";
        const MINUS: &str = "a digit must follow '-'";
        const POINT: &str = "a digit must follow '.'";
        const EXP: &str = "a digit must follow the exponent's 'e'";
        const HUGE: &str = "too large for a 64-bit float";
        let huge_integer = "9".repeat(400);
        let cases: Vec<(&[u8], JsonError)> = vec![
            // Not one value.
            (b"", end(0, VALUE)),
            (b"  \t", end(3, VALUE)),
            (b"1 2", trailing_data(2)),
            (b"[] []", trailing_data(3)),
            (b"{}}", trailing_data(2)),
            (b"truex", trailing_data(4)),
            (b"0x10", trailing_data(1)),
            // Trailing commas.
            (b"[1,]", trailing_comma(2, ']')),
            (b"[1 , ]", trailing_comma(3, ']')),
            (br#"{"a":1,}"#, trailing_comma(6, '}')),
            (
                br#"{ "daemonize": false, "websockets": true, }"#,
                trailing_comma(40, '}'),
            ),
            // Other structure.
            (b"[1,,2]", syntax(3, VALUE)),
            (b"[,1]", syntax(1, VALUE)),
            (b"{,}", syntax(1, NAME)),
            (b"{a:1}", syntax(1, NAME)),
            (b"{1:2}", syntax(1, NAME)),
            (b"{'a':1}", syntax(1, NAME)),
            (br#"{"a":1,,"b":2}"#, syntax(7, NAME)),
            (br#"{"a" 1}"#, syntax(5, COLON)),
            (br#"{"a"=1}"#, syntax(4, COLON)),
            (br#"{"a":}"#, syntax(5, VALUE)),
            (b"[1 2]", syntax(3, ARRAY_NEXT)),
            (b"[1}", syntax(2, ARRAY_NEXT)),
            (br#"{"a":1 "b":2}"#, syntax(7, OBJECT_NEXT)),
            (br#"{"a":1]"#, syntax(6, OBJECT_NEXT)),
            (b"]", syntax(0, VALUE)),
            (b"'a'", syntax(0, VALUE)),
            (b"[1", end(2, ARRAY_NEXT)),
            (b"[1,", end(3, VALUE)),
            (b"{", end(1, NAME)),
            (br#"{"a""#, end(4, COLON)),
            (br#"{"a":"#, end(5, VALUE)),
            (br#"{"a":1"#, end(6, OBJECT_NEXT)),
            // Comments.
            (b"// comment\n1", syntax(0, VALUE)),
            (b"/* c */ 1", syntax(0, VALUE)),
            (b"# c\n1", syntax(0, VALUE)),
            (b"1 // comment", trailing_data(2)),
            (b"[1, /* c */ 2]", syntax(4, VALUE)),
            // Literals.
            (b"tru", syntax(0, "true")),
            (b"nul", syntax(0, "null")),
            (b"fals", syntax(0, "false")),
            (b"True", syntax(0, VALUE)),
            (b"NULL", syntax(0, VALUE)),
            (b"NaN", syntax(0, VALUE)),
            (b"nan", syntax(0, "null")),
            (b"Infinity", syntax(0, VALUE)),
            (b"undefined", syntax(0, VALUE)),
            // Whitespace RFC 8259 does not allow: vertical tab, form feed, no-break space; and a BOM.
            (b"\x0b1", syntax(0, VALUE)),
            (b"[1,\x0c2]", syntax(3, VALUE)),
            ("\u{A0}1".as_bytes(), syntax(0, VALUE)),
            (b"\xef\xbb\xbf{}", syntax(0, BOM)),
            // Numbers.
            (b"-Infinity", bad_number(1, MINUS)),
            (b"-", bad_number(1, MINUS)),
            (b"-a", bad_number(1, MINUS)),
            (b"- 1", bad_number(1, MINUS)),
            (b"+1", syntax(0, VALUE)),
            (b".5", syntax(0, VALUE)),
            (b"01", bad_number(0, ZERO)),
            (b"00", bad_number(0, ZERO)),
            (b"-01", bad_number(0, ZERO)),
            (b"[1, 007]", bad_number(4, ZERO)),
            (b"1.", bad_number(2, POINT)),
            (b"1.e3", bad_number(2, POINT)),
            (b"1..2", bad_number(2, POINT)),
            (b"1e", bad_number(2, EXP)),
            (b"1E+", bad_number(3, EXP)),
            (b"1e-x", bad_number(3, EXP)),
            (b"1.5e", bad_number(4, EXP)),
            (b"1e400", bad_number(0, HUGE)),
            (b"-1e400", bad_number(0, HUGE)),
            (b"[0, 1.8e308]", bad_number(4, HUGE)),
            (huge_integer.as_bytes(), bad_number(0, HUGE)),
            // Strings.
            (b"\"a\tb\"", bad_string(2, CONTROL)),
            (b"\"\x00\"", bad_string(1, CONTROL)),
            (b"\"\x1f\"", bad_string(1, CONTROL)),
            (b"\"\r\"", bad_string(1, CONTROL)),
            (b"\"a\nb\"", bad_string(2, LINE_BREAK)),
            (b"\"abc", bad_string(0, UNCLOSED)),
            (b"[\"abc]", bad_string(1, UNCLOSED)),
            (br#""\x""#, bad_string(1, ESCAPE)),
            (br#""\a""#, bad_string(1, ESCAPE)),
            (br#""\U0041""#, bad_string(1, ESCAPE)),
            (br#""\'""#, bad_string(1, ESCAPE)),
            (b"\"\\", bad_string(1, ESCAPE)),
            (br#""\u12""#, bad_string(1, HEX)),
            (br#""\u12G4""#, bad_string(1, HEX)),
            (br#""\u+123""#, bad_string(1, HEX)),
            (br#""\u"#, bad_string(1, HEX)),
            (br#""\uD834\uDD""#, bad_string(1, HEX)),
            (br#""\uD834""#, bad_string(1, LONE)),
            (br#""\uDD1E""#, bad_string(1, LONE)),
            (br#""\uDFFF\uD800""#, bad_string(1, LONE)),
            (br#""\uD834\u0041""#, bad_string(1, LONE)),
            (br#""\uD834\uD834""#, bad_string(1, LONE)),
            (br#""\uD834x""#, bad_string(1, LONE)),
            (br#""\uD834\n""#, bad_string(1, LONE)),
            // Not UTF-8, inside and outside strings: truncated, stray continuation, overlong, an encoded
            // surrogate, above U+10FFFF.
            (b"\"\xff\"", not_utf8(1)),
            (b"\"ab\xc3\"", not_utf8(3)),
            (b"\"\xc0\xaf\"", not_utf8(1)),
            (b"\"\xed\xa0\x80\"", not_utf8(1)),
            (b"\"\xf4\x90\x80\x80\"", not_utf8(1)),
            (b"[1,\x80]", not_utf8(3)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                parse_default(input),
                Err(expected),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn input_at_max_bytes_parses_and_one_more_is_too_large() {
        let limits = Limits {
            max_bytes: 8,
            max_depth: 4,
        };
        assert_eq!(
            parse(b"[1,2,34]", &limits),
            Ok(Value::Array(vec![int(1), int(2), int(34)]))
        );
        assert_eq!(
            parse(b"[1,2,345]", &limits),
            Err(JsonError::TooLarge { len: 9, max: 8 })
        );
        // Size is checked before anything else, validity included.
        assert_eq!(
            parse(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff", &limits),
            Err(JsonError::TooLarge { len: 9, max: 8 })
        );
        assert_eq!(
            parse(
                b"",
                &Limits {
                    max_bytes: 0,
                    max_depth: 4
                }
            ),
            Err(JsonError::UnexpectedEnd {
                at: col(0),
                expected: "a value"
            })
        );
    }

    /// `depth` arrays or objects nested inside one another, innermost empty.
    fn nested(depth: usize, object: bool) -> Vec<u8> {
        let (open, close) = if object { ("{\"a\":", "}") } else { ("[", "]") };
        let mut text = open.repeat(depth);
        text.push_str("[]");
        text.push_str(&close.repeat(depth));
        text.into_bytes()
    }

    #[test]
    fn nesting_at_max_depth_parses_and_one_more_is_too_deep() {
        for object in [false, true] {
            // `nested(n)` is n + 1 levels deep, counting the innermost `[]`.
            let at_limit = nested(MAX_DEPTH - 1, object);
            assert!(parse_default(&at_limit).is_ok(), "object {object}");
            let error = parse_default(&nested(MAX_DEPTH, object)).unwrap_err();
            let offset = if object { 5 * MAX_DEPTH } else { MAX_DEPTH };
            assert_eq!(
                error,
                JsonError::TooDeep {
                    at: col(offset),
                    max: MAX_DEPTH
                },
                "object {object}"
            );
        }
        let flat = Limits {
            max_bytes: 64,
            max_depth: 0,
        };
        assert_eq!(
            parse(b"\"scalars need no depth\"", &flat),
            Ok(string("scalars need no depth"))
        );
        assert_eq!(
            parse(b"[]", &flat),
            Err(JsonError::TooDeep { at: col(0), max: 0 })
        );
        assert_eq!(
            parse(b"{}", &flat),
            Err(JsonError::TooDeep { at: col(0), max: 0 })
        );
    }

    #[test]
    fn nesting_100k_deep_is_too_deep_without_overflowing_the_stack() {
        let arrays = "[".repeat(100_000);
        assert_eq!(
            parse_default(arrays.as_bytes()),
            Err(JsonError::TooDeep {
                at: col(MAX_DEPTH),
                max: MAX_DEPTH
            })
        );
        let objects = "{\"a\":".repeat(100_000);
        assert_eq!(
            parse_default(objects.as_bytes()),
            Err(JsonError::TooDeep {
                at: col(5 * MAX_DEPTH),
                max: MAX_DEPTH
            })
        );
        let mixed = "[{\"a\":".repeat(50_000);
        assert!(matches!(
            parse_default(mixed.as_bytes()),
            Err(JsonError::TooDeep { .. })
        ));
        // The parser itself keeps its stack on the heap: even without a depth limit, 100,000 unclosed
        // levels are an error at the end of the text, not a stack overflow.
        let unbounded = Limits {
            max_bytes: MAX_BYTES,
            max_depth: usize::MAX,
        };
        for text in [arrays, objects] {
            assert!(matches!(
                parse(text.as_bytes(), &unbounded),
                Err(JsonError::UnexpectedEnd { .. })
            ));
        }
    }

    #[test]
    fn errors_name_line_and_column_for_a_person() {
        let cases: Vec<(&[u8], &str)> = vec![
            (
                b"{\n\t\"redis_host\": \"127.0.0.1\",\n\t\"threads\": 5,\n}\n",
                "trailing comma before '}' at line 3 column 14",
            ),
            (
                br#"{ "daemonize": false, "websockets": true, }"#,
                "trailing comma before '}' at line 1 column 41",
            ),
            (b"{\"acl\": [\n  {\"enabled\": [\"GET\",]}\n]}", "trailing comma before ']' at line 2 column 21"),
            (b"{\n  \"threads\" 5\n}", "expected ':' after a member name at line 2 column 13"),
            (b"{\n  \"threads\": 05\n}", "bad number (leading zero) at line 2 column 14"),
            (b"{\n  \"a\": 1\n", "unexpected end of text, expected ',' or '}' after an object member at line 3 column 1"),
            (
                b"{\"logfile\": \"webdis.log\n}",
                "line break inside a string (is a closing '\"' missing?) at line 1 column 24",
            ),
            (b"{\"a\": \"\\q\"}", "invalid escape (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX) at line 1 column 8"),
            (b"{} x", "unexpected text after the JSON value at line 1 column 4"),
            (b"\"\\uDEAD\"", "lone UTF-16 surrogate in a \\u escape at line 1 column 2"),
            (b"\n\n  \"\xff\"", "invalid UTF-8 at line 3 column 4"),
            // Columns count characters: "é" and "𝄞" are one column each, though 2 and 4 bytes.
            ("{\"é𝄞\" 1}".as_bytes(), "expected ':' after a member name at line 1 column 7"),
            (b"1e999", "bad number (too large for a 64-bit float) at line 1 column 1"),
        ];
        for (input, message) in cases {
            let error = parse_default(input).unwrap_err();
            assert_eq!(
                error.to_string(),
                message,
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
        let deep = parse(
            b"[[",
            &Limits {
                max_bytes: 10,
                max_depth: 1,
            },
        )
        .unwrap_err();
        assert_eq!(
            deep.to_string(),
            "arrays and objects nested more than 1 deep at line 1 column 2"
        );
        let large = parse(
            b"[1]",
            &Limits {
                max_bytes: 2,
                max_depth: 1,
            },
        )
        .unwrap_err();
        assert_eq!(
            large.to_string(),
            "JSON text is 3 bytes, more than the limit of 2"
        );
        assert_eq!(large.position(), None);
        assert_eq!(
            parse_default(b"\n [1,]").unwrap_err().position(),
            Some(Position {
                offset: 4,
                line: 2,
                column: 4
            })
        );
    }

    #[test]
    fn webdis_config_fixture_parses_into_its_structure() {
        let config = br#"{
	"redis_host":	"127.0.0.1",

	"redis_port":	6379,
	"redis_auth":	null,

	"http_host":	"0.0.0.0",
	"http_port":	7379,

	"threads":	5,
	"pool_size": 20,

	"daemonize":	false,
	"websockets":	false,

	"database":	0,

	"acl": [
		{
			"disabled":	["DEBUG"]
		},

		{
			"http_basic_auth":	"user:password",
			"enabled":		["DEBUG"]
		},

		{
			"ip":	"192.168.10.0/24",
			"enabled":	["SET", "DEL"]
		}
	],

	"verbosity": 4,
	"logfile": "webdis.log"
}
"#;
        let value = parse_default(config).unwrap();
        let names: Vec<&str> = value
            .as_object()
            .unwrap()
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "redis_host",
                "redis_port",
                "redis_auth",
                "http_host",
                "http_port",
                "threads",
                "pool_size",
                "daemonize",
                "websockets",
                "database",
                "acl",
                "verbosity",
                "logfile"
            ]
        );
        assert_eq!(
            value.get("redis_host").and_then(Value::as_str),
            Some("127.0.0.1")
        );
        assert_eq!(value.get("redis_port").and_then(Value::as_i64), Some(6379));
        assert_eq!(value.get("redis_auth"), Some(&Value::Null));
        assert_eq!(value.get("threads").and_then(Value::as_i64), Some(5));
        assert_eq!(value.get("pool_size").and_then(Value::as_i64), Some(20));
        assert_eq!(value.get("daemonize").and_then(Value::as_bool), Some(false));
        assert_eq!(
            value.get("logfile").and_then(Value::as_str),
            Some("webdis.log")
        );
        let acl = value.get("acl").and_then(Value::as_array).unwrap();
        assert_eq!(acl.len(), 3);
        assert_eq!(
            acl[0],
            object(&[("disabled", Value::Array(vec![string("DEBUG")]))])
        );
        assert_eq!(
            acl[1].get("http_basic_auth").and_then(Value::as_str),
            Some("user:password")
        );
        let enabled: Vec<&str> = acl[2]
            .get("enabled")
            .and_then(Value::as_array)
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(enabled, ["SET", "DEL"]);
    }

    #[test]
    fn default_limits_are_the_documented_ones() {
        assert_eq!(
            Limits::DEFAULT,
            Limits {
                max_bytes: 1024 * 1024,
                max_depth: 32
            }
        );
        assert_eq!(Limits::default(), Limits::DEFAULT);
    }

    /// Valid texts that the mutation test starts from: they touch every part of the grammar.
    const SEEDS: &[&str] = &[
        r#"{"redis_host": "127.0.0.1", "threads": 5, "acl": [{"disabled": ["DEBUG"]}, {"enabled": []}]}"#,
        r#"[0, -0, 1.5e-3, -12E+2, 9223372036854775808, true, false, null, "", {}]"#,
        r#"["\"\\\/\b\f\n\r\t", "\u0041\u00e9\uD834\uDD1E", "é€𝄞", {"a": {"b": [[[1]]]}}]"#,
        "  \n\t\"plain\"\r\n ",
    ];

    /// Bytes that matter to the grammar, so that mutations often make near-valid texts.
    const INTERESTING: &[u8] =
        b"[]{}\",:\\/ \t\n0123456789-+.eEutfnlrsabUD\x00\x1f\x7f\x80\xc3\xa9\xed\xf0\xff";

    /// `text` with one to four random edits: replace, insert or delete a byte, or cut the text short.
    fn mutate(rng: &mut Rng, text: &[u8]) -> Vec<u8> {
        let mut bytes = text.to_vec();
        for _ in 0..1 + rng.below(4) {
            let byte = if rng.one_in(2) {
                INTERESTING[rng.below(INTERESTING.len())]
            } else {
                rng.bytes(1)[0]
            };
            let at = rng.below(bytes.len() + 1);
            match rng.below(4) {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.truncate(at),
            }
        }
        bytes
    }

    #[test]
    fn random_mutations_of_valid_texts_never_panic() {
        let (mut rng, seed) = Rng::from_env(0x4A50_4E21);
        let small = Limits {
            max_bytes: 96,
            max_depth: 3,
        };
        for _ in 0..Rng::iterations(5_000) {
            let text = SEEDS[rng.below(SEEDS.len())].as_bytes();
            let input = mutate(&mut rng, text);
            for limits in [&Limits::DEFAULT, &small] {
                match parse(&input, limits) {
                    Ok(value) => {
                        // Whatever parses writes back to a text that parses to the same value.
                        let mut out = Vec::new();
                        write::write(&mut out, &value);
                        assert_eq!(
                            parse(&out, &Limits::DEFAULT),
                            Ok(value),
                            "seed {seed} input {input:?}"
                        );
                    }
                    Err(error) => {
                        let at = error.position().map_or(0, |p| p.offset);
                        assert!(
                            at <= input.len(),
                            "seed {seed} input {input:?} error {error:?}"
                        );
                        assert!(!error.to_string().is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let (mut rng, seed) = Rng::from_env(0x0B17_E500);
        for _ in 0..Rng::iterations(5_000) {
            let len = rng.below(40);
            let input: Vec<u8> = (0..len)
                .map(|_| INTERESTING[rng.below(INTERESTING.len())])
                .collect();
            if let Err(error) = parse(&input, &Limits::DEFAULT) {
                let at = error.position().map_or(0, |p| p.offset);
                assert!(at <= input.len(), "seed {seed} input {input:?}");
            }
        }
    }
}
