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
//!
//! Files: the errors, [`JsonError`] and the [`Position`] they name, are in `parse/error.rs`; the tests
//! are in `parse/tests.rs` (examples and tables), `parse/limit_tests.rs` and `parse/property_tests.rs`.

use super::value::{Number, Value};

mod error;

pub use error::{JsonError, Position};

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
mod limit_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;
