//! The incremental RESP decoder: one value from the front of a buffer, or `Partial` when it ends early.
//!
//! It never does I/O and never panics. Check, then build: a first pass (`check`) walks the buffer without
//! copying anything (bulk payloads are skipped by their length) and decides whether one whole, valid value is
//! there; only then does a second pass (`build`) copy it into a [`Value`]. Both passes are loops over an
//! explicit stack of open aggregates, never recursion, and the stack is bounded by [`Limits::max_depth`].
//!
//! The wire forms, after the spec's grammar (CRLF is `\r\n`; `<len>` and `<count>` are below):
//!
//! ```text
//! value    = simple / error / integer / bulk / array / null / double / boolean / bignum
//!          / blob-err / verbatim / map / set / push / attribute value    ; the attribute is skipped
//! simple   = "+" line CRLF           error    = "-" line CRLF       ; line: no CR, no LF
//! integer  = ":" ["+" / "-"] 1*DIGIT CRLF                            ; must fit in an i64
//! bulk     = "$" len CRLF len-bytes CRLF / "$-1" CRLF
//! array    = "*" count CRLF count-values / "*-1" CRLF
//! null     = "_" CRLF                boolean  = "#" ("t" / "f") CRLF
//! double   = "," ["+" / "-"] (mantissa [("e" / "E") ["+" / "-"] 1*DIGIT] / "inf" / "nan") CRLF
//! mantissa = 1*DIGIT ["." *DIGIT] / "." 1*DIGIT
//! bignum   = "(" ["+" / "-"] 1*DIGIT CRLF
//! blob-err = "!" len CRLF len-bytes CRLF
//! verbatim = "=" len CRLF 3byte-format ":" (len - 4)-bytes CRLF      ; len >= 4
//! map      = "%" count CRLF 2*count-values     attribute = "|" count CRLF 2*count-values
//! set      = "~" count CRLF count-values       push      = ">" count CRLF count-values
//! len      = count = "0" / %x31-39 *DIGIT
//! ```
//!
//! Decisions where the spec is loose (each tested):
//! * Lengths and counts are digits only, without sign or leading zeros (`$05`, `$+5`, `$ 5` are
//!   [`DecodeError::BadLength`]), which is what Redis itself writes and accepts (`string2ll`). The only
//!   negative length is `-1`, and only for `$` and `*`.
//! * Integers accept a leading `+` or `-` (the spec's `:[<+|->]<value>`) and leading zeros (`:007` is 7).
//! * Doubles accept `inf` and `nan` in any letter case, with an optional sign; the text is kept as sent.
//! * Streamed strings and aggregates (`$?`, `*?`) are [`DecodeError::BadLength`]: Redis never sends them.
//!
//! Cost: a call that ends in `Partial` has scanned the whole buffer, so a caller that retries after every
//! small read of a large reply does quadratic work in the worst case; read in large chunks.

use std::fmt;

use super::Value;

/// Whether a whole item was found, like `httparse::Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// The item, complete.
    Complete(T),
    /// The buffer ends before the item does: read more bytes and call again with the whole buffer.
    Partial,
}

/// The limits on what a peer may make the decoder accept; each is checked before anything is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The largest bulk string, blob error or verbatim string payload, in bytes. A larger `$<len>` is
    /// [`DecodeError::BadLength`] as soon as its header is read.
    pub max_bulk_bytes: usize,
    /// The most elements in one aggregate; a map or attribute of `n` pairs counts `2n`. A larger count is
    /// [`DecodeError::BadLength`] as soon as its header is read.
    pub max_elements: usize,
    /// The most aggregates nested inside one another (a top-level array is depth 1). Deeper is
    /// [`DecodeError::TooDeep`]. It also bounds the recursion of dropping, comparing and encoding a value.
    pub max_depth: usize,
    /// The longest line, CRLF and type byte excluded (simple strings, errors, headers, numbers). Longer is
    /// [`DecodeError::BadLine`], even before its CRLF arrives.
    pub max_line_bytes: usize,
}

impl Default for Limits {
    /// The defaults, chosen for replies from a trusted-but-checked Redis:
    ///
    /// * `max_bulk_bytes`: 512 MiB, Redis's own default `proto-max-bulk-len`: no string Redis stores by
    ///   default is longer.
    /// * `max_elements`: 1,048,576 (2^20) per aggregate: room for big `LRANGE`/`HGETALL` replies, while one
    ///   header can never promise more than about 60 MiB of values.
    /// * `max_depth`: 64: Redis replies nest a handful of levels deep (`XREAD`, `COMMAND DOCS`); 64 leaves
    ///   room and keeps the recursive `Drop` of a value far from the stack's end.
    /// * `max_line_bytes`: 64 KiB, Redis's own `PROTO_INLINE_MAX_SIZE`: status and error lines are short.
    fn default() -> Limits {
        Limits {
            max_bulk_bytes: 512 * 1024 * 1024,
            max_elements: 1 << 20,
            max_depth: 64,
            max_line_bytes: 64 * 1024,
        }
    }
}

/// Why bytes from Redis are not a valid RESP value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The type byte is not one of `+ - : $ * _ , # ( ! = % ~ > |`.
    UnknownType(u8),
    /// A length or count is malformed, negative (other than `-1` for `$` and `*`), overflowing, streamed
    /// (`?`), or above its limit.
    BadLength,
    /// An `:` integer is malformed or does not fit in an `i64`.
    BadInteger,
    /// A line holds a bare CR or LF or is longer than its limit, bulk data is not followed by CRLF, or the
    /// text of a null, boolean, double, big number or verbatim format is invalid.
    BadLine,
    /// Aggregates are nested deeper than [`Limits::max_depth`].
    TooDeep,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownType(byte) => write!(f, "unknown RESP type byte 0x{byte:02x}"),
            DecodeError::BadLength => f.write_str("bad RESP length or count"),
            DecodeError::BadInteger => f.write_str("bad RESP integer"),
            DecodeError::BadLine => f.write_str("bad RESP line"),
            DecodeError::TooDeep => f.write_str("RESP value nested too deeply"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes the one value at the front of `buf`, returning it with the number of bytes it used.
///
/// Bytes after the value (the next pipelined reply) are left alone: call again on `&buf[used..]`. RESP3
/// attributes before the value are checked and dropped; their bytes count in `used`.
///
/// # Errors
///
/// A [`DecodeError`] when the bytes cannot begin a valid value within `limits`. Errors are reported as early
/// as possible, often before the whole value has arrived; every strict prefix of a valid value is
/// `Ok(Status::Partial)`. After an error the connection's byte stream cannot be trusted any more.
///
/// # Examples
///
/// ```
/// use redis_gateway::resp::{decode, Limits, Status, Value};
///
/// let limits = Limits::default();
/// assert_eq!(
///     decode(b"+OK\r\n", &limits),
///     Ok(Status::Complete((Value::Simple(b"OK".to_vec()), 5)))
/// );
/// assert_eq!(decode(b"$5\r\nhel", &limits), Ok(Status::Partial));
/// ```
pub fn decode(buf: &[u8], limits: &Limits) -> Result<Status<(Value, usize)>, DecodeError> {
    match check(buf, limits).and_then(|_| build(buf, limits)) {
        Ok(done) => Ok(Status::Complete(done)),
        Err(Halt::NeedMore) => Ok(Status::Partial),
        Err(Halt::Bad(error)) => Err(error),
    }
}

/// Why a helper stopped: `?` carries both; only [`decode()`] turns `NeedMore` into `Partial`.
#[derive(Debug)]
enum Halt {
    NeedMore,
    Bad(DecodeError),
}

impl From<DecodeError> for Halt {
    fn from(error: DecodeError) -> Halt {
        Halt::Bad(error)
    }
}

/// The kinds of aggregate; a map's and an attribute's element count is twice their pair count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Array,
    Map,
    Set,
    Push,
    Attribute,
}

/// One wire item: a whole scalar (borrowing from the buffer) or the header of an aggregate.
enum Item<'a> {
    Simple(&'a [u8]),
    Error(&'a [u8]),
    Integer(i64),
    Bulk(&'a [u8]),
    Nil,
    Double(&'a [u8]),
    Boolean(bool),
    BigNumber(&'a [u8]),
    Verbatim(&'a [u8], &'a [u8]),
    /// An aggregate header with the number of values that follow (`2n` for maps and attributes).
    Open(Kind, usize),
}

/// Pass one: whether one whole valid value starts `buf`, and how long it is. Allocates only the stack of
/// open aggregates, which [`enter`] keeps to `max_depth` entries.
fn check(buf: &[u8], limits: &Limits) -> Result<usize, Halt> {
    let mut cursor = Cursor {
        buf,
        pos: 0,
        limits,
    };
    // One entry per open aggregate: how many values it still needs, and whether it is an attribute
    // (which, once complete, does not fill a slot of its parent: the value after it does).
    let mut open: Vec<(usize, bool)> = Vec::new();
    loop {
        let mut finished = match cursor.item()? {
            Item::Open(kind, count) => {
                enter(open.len(), limits)?;
                if count > 0 {
                    open.push((count, kind == Kind::Attribute));
                }
                count == 0 && kind != Kind::Attribute
            }
            _ => true,
        };
        // A finished value fills one slot of the innermost aggregate, which may finish it in turn.
        while finished {
            let Some((missing, is_attribute)) = open.last_mut() else {
                return Ok(cursor.pos);
            };
            *missing -= 1; // never underflows: entries are pushed non-zero and popped at zero
            finished = *missing == 0 && !*is_attribute;
            if *missing == 0 {
                open.pop();
            }
        }
    }
}

/// One aggregate being built by [`build`].
struct Frame {
    kind: Kind,
    want: usize,
    items: Vec<Value>,
}

/// Pass two: builds the value that [`check`] found whole and valid, with the bytes it used.
fn build(buf: &[u8], limits: &Limits) -> Result<(Value, usize), Halt> {
    let mut cursor = Cursor {
        buf,
        pos: 0,
        limits,
    };
    let mut open: Vec<Frame> = Vec::new();
    loop {
        let mut finished = match cursor.item()? {
            Item::Simple(text) => Some(Value::Simple(text.to_vec())),
            Item::Error(text) => Some(Value::Error(text.to_vec())),
            Item::Integer(n) => Some(Value::Integer(n)),
            Item::Bulk(data) => Some(Value::Bulk(data.to_vec())),
            Item::Nil => Some(Value::Nil),
            Item::Double(text) => Some(Value::Double(text.to_vec())),
            Item::Boolean(b) => Some(Value::Boolean(b)),
            Item::BigNumber(digits) => Some(Value::BigNumber(digits.to_vec())),
            Item::Verbatim(format, data) => Some(Value::Verbatim(format.to_vec(), data.to_vec())),
            Item::Open(kind, want) => {
                enter(open.len(), limits)?;
                // `check` saw all `want` values in `buf`, each at least 3 bytes long: the count is now
                // backed by bytes that arrived, so reserving it cannot be made absurd.
                let frame = Frame {
                    kind,
                    want,
                    items: Vec::with_capacity(want),
                };
                if want > 0 {
                    open.push(frame);
                    None
                } else {
                    close(frame)
                }
            }
        };
        while let Some(value) = finished.take() {
            let Some(frame) = open.last_mut() else {
                return Ok((value, cursor.pos));
            };
            frame.items.push(value);
            if frame.items.len() == frame.want {
                finished = open.pop().and_then(close);
            }
        }
    }
}

/// The value a complete aggregate makes, or `None` for an attribute, which is dropped.
fn close(frame: Frame) -> Option<Value> {
    match frame.kind {
        Kind::Array => Some(Value::Array(frame.items)),
        Kind::Set => Some(Value::Set(frame.items)),
        Kind::Push => Some(Value::Push(frame.items)),
        Kind::Map => {
            let mut pairs = Vec::with_capacity(frame.items.len() / 2);
            let mut items = frame.items.into_iter();
            while let (Some(key), Some(value)) = (items.next(), items.next()) {
                pairs.push((key, value));
            }
            Some(Value::Map(pairs))
        }
        Kind::Attribute => None,
    }
}

/// Refuses to open one more aggregate when `depth` are open already and that is the limit.
fn enter(depth: usize, limits: &Limits) -> Result<(), Halt> {
    if depth >= limits.max_depth {
        return Err(Halt::Bad(DecodeError::TooDeep));
    }
    Ok(())
}

/// Whether a length line may be `-1`: only for `$` and `*`, RESP2's null bulk string and null array.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nil {
    /// `-1` means null and is read as `None`.
    Allowed,
    /// `-1` is [`DecodeError::BadLength`], like any other sign.
    Refused,
}

/// A read position in the buffer; every read checks the buffer's end and the limits.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: &'a Limits,
}

impl<'a> Cursor<'a> {
    /// Reads the next item: a type byte and everything up to the first value it contains.
    fn item(&mut self) -> Result<Item<'a>, Halt> {
        let kind = *self.buf.get(self.pos).ok_or(Halt::NeedMore)?;
        self.pos += 1; // cannot overflow: `pos` indexes a byte of `buf`
        let item = match kind {
            b'+' => Item::Simple(self.line()?),
            b'-' => Item::Error(self.line()?),
            b':' => Item::Integer(parse_integer(self.line()?)?),
            b'$' => match self.length(Nil::Allowed)? {
                None => Item::Nil,
                Some(len) => Item::Bulk(self.blob(len)?),
            },
            b'!' => match self.length(Nil::Refused)? {
                Some(len) => Item::Error(self.blob(len)?),
                None => return Err(DecodeError::BadLength.into()),
            },
            b'=' => {
                let len = self.length(Nil::Refused)?.ok_or(DecodeError::BadLength)?;
                if len < 4 {
                    return Err(DecodeError::BadLength.into());
                }
                let blob = self.blob(len)?;
                match (blob.get(..3), blob.get(3..)) {
                    (Some(format), Some([b':', data @ ..])) => Item::Verbatim(format, data),
                    _ => return Err(DecodeError::BadLine.into()),
                }
            }
            b'_' => match self.line()? {
                [] => Item::Nil,
                _ => return Err(DecodeError::BadLine.into()),
            },
            b'#' => match self.line()? {
                b"t" => Item::Boolean(true),
                b"f" => Item::Boolean(false),
                _ => return Err(DecodeError::BadLine.into()),
            },
            b',' => {
                let text = self.line()?;
                if !is_double(text) {
                    return Err(DecodeError::BadLine.into());
                }
                Item::Double(text)
            }
            b'(' => {
                let text = self.line()?;
                let digits = text
                    .strip_prefix(b"-")
                    .or_else(|| text.strip_prefix(b"+"))
                    .unwrap_or(text);
                if !is_digits(digits) {
                    return Err(DecodeError::BadLine.into());
                }
                Item::BigNumber(text)
            }
            b'*' => match self.length(Nil::Allowed)? {
                None => Item::Nil,
                Some(count) => Item::Open(Kind::Array, self.elements(count, 1)?),
            },
            b'~' => Item::Open(Kind::Set, self.count(1)?),
            b'>' => Item::Open(Kind::Push, self.count(1)?),
            b'%' => Item::Open(Kind::Map, self.count(2)?),
            b'|' => Item::Open(Kind::Attribute, self.count(2)?),
            other => return Err(DecodeError::UnknownType(other).into()),
        };
        Ok(item)
    }

    /// Reads a line up to its CRLF, which it consumes; the line is at most `max_line_bytes` long and holds
    /// no CR or LF. An over-long line is an error as soon as `max_line_bytes + 1` bytes are there.
    fn line(&mut self) -> Result<&'a [u8], Halt> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let longest = self.limits.max_line_bytes;
        // Look no further than where the CR of the longest allowed line would be.
        let end = rest
            .iter()
            .take(longest.saturating_add(1))
            .position(|&b| b == b'\r' || b == b'\n');
        let Some(end) = end else {
            return Err(if rest.len() > longest {
                DecodeError::BadLine.into()
            } else {
                Halt::NeedMore
            });
        };
        match (rest.get(end), rest.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => {
                self.pos += end + 2; // cannot overflow: the CRLF is inside `buf`
                Ok(rest.get(..end).unwrap_or_default())
            }
            (Some(b'\r'), None) => Err(Halt::NeedMore),
            _ => Err(DecodeError::BadLine.into()), // a bare LF, or a CR followed by something else
        }
    }

    /// Reads a length or count line: `None` for `-1` where `nil` allows it, else digits without sign
    /// or leading zeros.
    fn length(&mut self, nil: Nil) -> Result<Option<usize>, Halt> {
        match self.line()? {
            b"-1" if nil == Nil::Allowed => Ok(None),
            [b'0', _, ..] => Err(DecodeError::BadLength.into()),
            digits if is_digits(digits) => {
                let mut n: usize = 0;
                for &d in digits {
                    n = n
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(usize::from(d - b'0')))
                        .ok_or(DecodeError::BadLength)?;
                }
                Ok(Some(n))
            }
            _ => Err(DecodeError::BadLength.into()),
        }
    }

    /// Reads the count of a `~ > % |` aggregate (never null) and turns it into an element count.
    fn count(&mut self, per_entry: usize) -> Result<usize, Halt> {
        let count = self.length(Nil::Refused)?.ok_or(DecodeError::BadLength)?;
        self.elements(count, per_entry)
    }

    /// The number of values `count` entries of `per_entry` values each make, within `max_elements`.
    fn elements(&self, count: usize, per_entry: usize) -> Result<usize, Halt> {
        match count.checked_mul(per_entry) {
            Some(n) if n <= self.limits.max_elements => Ok(n),
            _ => Err(DecodeError::BadLength.into()),
        }
    }

    /// Reads `len` payload bytes and their CRLF. The payload is borrowed, never copied.
    fn blob(&mut self, len: usize) -> Result<&'a [u8], Halt> {
        if len > self.limits.max_bulk_bytes {
            return Err(DecodeError::BadLength.into());
        }
        let end = self.pos.checked_add(len).ok_or(DecodeError::BadLength)?;
        let Some(data) = self.buf.get(self.pos..end) else {
            return Err(Halt::NeedMore);
        };
        match (self.buf.get(end), self.buf.get(end + 1)) {
            (Some(b'\r'), Some(b'\n')) => {
                self.pos = end + 2; // cannot overflow: the CRLF is inside `buf`
                Ok(data)
            }
            (None, _) | (Some(b'\r'), None) => Err(Halt::NeedMore),
            _ => Err(DecodeError::BadLine.into()), // the data is longer than its length said
        }
    }
}

/// Parses an integer: an optional sign, then digits (leading zeros allowed), within `i64`.
fn parse_integer(text: &[u8]) -> Result<i64, DecodeError> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        _ => (false, text),
    };
    if !is_digits(digits) {
        return Err(DecodeError::BadInteger);
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        // Accumulating towards the sign reaches i64::MIN, whose magnitude i64::MAX cannot hold.
        let next = n.checked_mul(10).and_then(|n| {
            if negative {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        });
        n = next.ok_or(DecodeError::BadInteger)?;
    }
    Ok(n)
}

/// Whether `text` is one or more ASCII digits.
fn is_digits(text: &[u8]) -> bool {
    !text.is_empty() && text.iter().all(u8::is_ascii_digit)
}

/// Whether `text` looks like a double (see the grammar in the module docs); the check is loose on purpose:
/// the text is passed on as sent, so it only has to be a number a reader can recognize.
fn is_double(text: &[u8]) -> bool {
    let unsigned = match text {
        [b'-' | b'+', rest @ ..] => rest,
        _ => text,
    };
    if unsigned.eq_ignore_ascii_case(b"inf") || unsigned.eq_ignore_ascii_case(b"nan") {
        return true;
    }
    let (mantissa, exponent) = match unsigned.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => (
            unsigned.get(..at).unwrap_or_default(),
            unsigned.get(at + 1..),
        ),
        None => (unsigned, None),
    };
    let (integral, fraction) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (
            mantissa.get(..at).unwrap_or_default(),
            mantissa.get(at + 1..).unwrap_or_default(),
        ),
        None => (mantissa, &[][..]),
    };
    let mantissa_ok = (is_digits(integral) || integral.is_empty())
        && (is_digits(fraction) || fraction.is_empty())
        && !(integral.is_empty() && fraction.is_empty());
    let exponent_ok = match exponent {
        None => true,
        Some([b'-' | b'+', digits @ ..]) | Some(digits) => is_digits(digits),
    };
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &[u8]) -> Value {
        Value::Bulk(s.to_vec())
    }

    fn simple(s: &[u8]) -> Value {
        Value::Simple(s.to_vec())
    }

    /// Decodes with the default limits.
    fn dec(input: &[u8]) -> Result<Status<(Value, usize)>, DecodeError> {
        decode(input, &Limits::default())
    }

    fn complete(value: Value, used: usize) -> Result<Status<(Value, usize)>, DecodeError> {
        Ok(Status::Complete((value, used)))
    }

    #[test]
    fn table_of_valid_values_decodes_with_exact_length() {
        use Value::*;
        let cases: Vec<(&[u8], Value)> = vec![
            (b"+OK\r\n", simple(b"OK")),
            (b"+\r\n", simple(b"")),
            (b"+hello world\r\n", simple(b"hello world")),
            (
                b"-ERR unknown command\r\n",
                Error(b"ERR unknown command".to_vec()),
            ),
            (b"-\r\n", Error(b"".to_vec())),
            (b":0\r\n", Integer(0)),
            (b":1000\r\n", Integer(1000)),
            (b":-42\r\n", Integer(-42)),
            (b":+42\r\n", Integer(42)),
            (b":007\r\n", Integer(7)),
            (b":-0\r\n", Integer(0)),
            (b":9223372036854775807\r\n", Integer(i64::MAX)),
            (b":-9223372036854775808\r\n", Integer(i64::MIN)),
            (b"$5\r\nhello\r\n", bulk(b"hello")),
            (b"$0\r\n\r\n", bulk(b"")),
            (b"$4\r\na\r\nb\r\n", bulk(b"a\r\nb")),
            (b"$-1\r\n", Nil),
            (b"*-1\r\n", Nil),
            (b"_\r\n", Nil),
            (b"*0\r\n", Array(vec![])),
            (
                b"*2\r\n$3\r\nfoo\r\n:1\r\n",
                Array(vec![bulk(b"foo"), Integer(1)]),
            ),
            (
                b"*2\r\n*1\r\n:1\r\n*0\r\n",
                Array(vec![Array(vec![Integer(1)]), Array(vec![])]),
            ),
            (b"*3\r\n$-1\r\n*-1\r\n_\r\n", Array(vec![Nil, Nil, Nil])),
            (b",3.14\r\n", Double(b"3.14".to_vec())),
            (b",10\r\n", Double(b"10".to_vec())),
            (b",-1.5e-10\r\n", Double(b"-1.5e-10".to_vec())),
            (b",1E+3\r\n", Double(b"1E+3".to_vec())),
            (b",inf\r\n", Double(b"inf".to_vec())),
            (b",-inf\r\n", Double(b"-inf".to_vec())),
            (b",nan\r\n", Double(b"nan".to_vec())),
            (b",.5\r\n", Double(b".5".to_vec())),
            (b"#t\r\n", Boolean(true)),
            (b"#f\r\n", Boolean(false)),
            (
                b"(3492890328409238509324850943850943825024385\r\n",
                BigNumber(b"3492890328409238509324850943850943825024385".to_vec()),
            ),
            (b"(-12\r\n", BigNumber(b"-12".to_vec())),
            (
                b"!21\r\nSYNTAX invalid syntax\r\n",
                Error(b"SYNTAX invalid syntax".to_vec()),
            ),
            (
                b"=15\r\ntxt:Some string\r\n",
                Verbatim(b"txt".to_vec(), b"Some string".to_vec()),
            ),
            (b"=4\r\nmkd:\r\n", Verbatim(b"mkd".to_vec(), b"".to_vec())),
            (
                b"%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
                Map(vec![
                    (simple(b"first"), Integer(1)),
                    (simple(b"second"), Integer(2)),
                ]),
            ),
            (b"%0\r\n", Map(vec![])),
            (b"~2\r\n+a\r\n+b\r\n", Set(vec![simple(b"a"), simple(b"b")])),
            (
                b">2\r\n+message\r\n$2\r\nhi\r\n",
                Push(vec![simple(b"message"), bulk(b"hi")]),
            ),
            (b"|1\r\n+ttl\r\n:3600\r\n+OK\r\n", simple(b"OK")),
            (b"|0\r\n:5\r\n", Integer(5)),
            (
                b"*2\r\n|1\r\n+a\r\n*1\r\n:1\r\n:7\r\n:8\r\n",
                Array(vec![Integer(7), Integer(8)]),
            ),
            (b"|1\r\n+a\r\n:1\r\n|1\r\n+b\r\n:2\r\n#t\r\n", Boolean(true)),
            (
                b"%1\r\n|1\r\n+k\r\n+v\r\n:1\r\n:2\r\n",
                Map(vec![(Integer(1), Integer(2))]),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                dec(input),
                complete(expected, input.len()),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn table_of_invalid_inputs_reports_each_error() {
        use DecodeError::*;
        let cases: Vec<(&[u8], DecodeError)> = vec![
            (b"?", UnknownType(b'?')),
            (b"x123\r\n", UnknownType(b'x')),
            (b"\r\n", UnknownType(b'\r')),
            (b"*1\r\n@", UnknownType(b'@')),
            (b"$-2\r\n", BadLength),
            (b"$+5\r\nhello\r\n", BadLength),
            (b"$ 5\r\nhello\r\n", BadLength),
            (b"$05\r\nhello\r\n", BadLength),
            (b"$\r\n", BadLength),
            (b"$5x\r\n", BadLength),
            (b"$99999999999999999999999\r\n", BadLength),
            (b"$?\r\n", BadLength),
            (b"*?\r\n", BadLength),
            (b"*-2\r\n", BadLength),
            (b"*3000000000\r\n", BadLength),
            (b"%-1\r\n", BadLength),
            (b"~-1\r\n", BadLength),
            (b">-1\r\n", BadLength),
            (b"|-1\r\n", BadLength),
            (b"!-1\r\n", BadLength),
            (b"=-1\r\n", BadLength),
            (b"=3\r\ntxt\r\n", BadLength),
            (b"%600000\r\n", BadLength),
            (b":9223372036854775808\r\n", BadInteger),
            (b":-9223372036854775809\r\n", BadInteger),
            (b":\r\n", BadInteger),
            (b":-\r\n", BadInteger),
            (b":1.5\r\n", BadInteger),
            (b": 1\r\n", BadInteger),
            (b"$2\r\nabc\r\n", BadLine),
            (b"$2\r\nab\n\r", BadLine),
            (b"+OK\nmore\r\n", BadLine),
            (b"+O\rK\r\n", BadLine),
            (b"-ERR\n", BadLine),
            (b"#x\r\n", BadLine),
            (b"#\r\n", BadLine),
            (b"#tt\r\n", BadLine),
            (b"_x\r\n", BadLine),
            (b",\r\n", BadLine),
            (b",1.2.3\r\n", BadLine),
            (b",1e\r\n", BadLine),
            (b",abc\r\n", BadLine),
            (b"(\r\n", BadLine),
            (b"(12a\r\n", BadLine),
            (b"=5\r\ntxt_x\r\n", BadLine),
        ];
        for (input, expected) in cases {
            assert_eq!(
                dec(input),
                Err(expected.clone()),
                "input {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Limits small enough to test each at N and N + 1.
    fn small() -> Limits {
        Limits {
            max_bulk_bytes: 8,
            max_elements: 4,
            max_depth: 3,
            max_line_bytes: 10,
        }
    }

    #[test]
    fn bulk_at_max_bulk_bytes_decodes_and_one_more_is_bad_length() {
        assert_eq!(
            decode(b"$8\r\n12345678\r\n", &small()),
            complete(bulk(b"12345678"), 14)
        );
        assert_eq!(decode(b"$9\r\n", &small()), Err(DecodeError::BadLength));
        assert_eq!(decode(b"!9\r\n", &small()), Err(DecodeError::BadLength));
        assert_eq!(decode(b"=9\r\n", &small()), Err(DecodeError::BadLength));
    }

    #[test]
    fn aggregate_at_max_elements_decodes_and_one_more_is_bad_length() {
        let four = Value::Array(vec![Value::Integer(1); 4]);
        assert_eq!(
            decode(b"*4\r\n:1\r\n:1\r\n:1\r\n:1\r\n", &small()),
            complete(four, 20)
        );
        assert_eq!(decode(b"*5\r\n", &small()), Err(DecodeError::BadLength));
        assert_eq!(decode(b"~5\r\n", &small()), Err(DecodeError::BadLength));
        assert_eq!(decode(b">5\r\n", &small()), Err(DecodeError::BadLength));
        // A map of n pairs is 2n elements.
        assert_eq!(decode(b"%2\r\n", &small()), Ok(Status::Partial));
        assert_eq!(decode(b"%3\r\n", &small()), Err(DecodeError::BadLength));
        assert_eq!(decode(b"|3\r\n", &small()), Err(DecodeError::BadLength));
    }

    #[test]
    fn nesting_at_max_depth_decodes_and_one_more_is_too_deep() {
        let three = Value::Array(vec![Value::Array(vec![Value::Array(vec![])])]);
        assert_eq!(decode(b"*1\r\n*1\r\n*0\r\n", &small()), complete(three, 12));
        assert_eq!(
            decode(b"*1\r\n*1\r\n*1\r\n*0\r\n", &small()),
            Err(DecodeError::TooDeep)
        );
        assert_eq!(
            decode(b"*1\r\n%1\r\n~1\r\n>0\r\n", &small()),
            Err(DecodeError::TooDeep)
        );
        // An attribute is an aggregate too.
        assert_eq!(
            decode(b"*1\r\n*1\r\n*1\r\n|1\r\n", &small()),
            Err(DecodeError::TooDeep)
        );
        let zero = Limits {
            max_depth: 0,
            ..small()
        };
        assert_eq!(decode(b"*0\r\n", &zero), Err(DecodeError::TooDeep));
        assert_eq!(decode(b":1\r\n", &zero), complete(Value::Integer(1), 4));
    }

    #[test]
    fn line_at_max_line_bytes_decodes_and_one_more_is_bad_line() {
        assert_eq!(
            decode(b"+0123456789\r\n", &small()),
            complete(simple(b"0123456789"), 13)
        );
        assert_eq!(
            decode(b"+0123456789A\r\n", &small()),
            Err(DecodeError::BadLine)
        );
        assert_eq!(
            decode(b"-0123456789A\r\n", &small()),
            Err(DecodeError::BadLine)
        );
        // Detected before any CRLF arrives, once the buffer holds more than the longest line.
        assert_eq!(decode(b"+0123456789", &small()), Ok(Status::Partial));
        assert_eq!(decode(b"+0123456789\r", &small()), Ok(Status::Partial));
        assert_eq!(decode(b"+0123456789A", &small()), Err(DecodeError::BadLine));
        assert_eq!(decode(b"$00000000000", &small()), Err(DecodeError::BadLine));
        // Bulk payloads are not lines.
        let limits = Limits {
            max_bulk_bytes: 100,
            ..small()
        };
        assert_eq!(
            decode(b"$20\r\n01234567890123456789\r\n", &limits),
            complete(bulk(b"01234567890123456789"), 27)
        );
    }

    #[test]
    fn huge_count_within_limits_without_elements_is_partial() {
        assert_eq!(dec(b"*1048576\r\n"), Ok(Status::Partial));
        assert_eq!(dec(b"*1048577\r\n"), Err(DecodeError::BadLength));
        assert_eq!(dec(b"$536870912\r\n"), Ok(Status::Partial));
        assert_eq!(dec(b"$536870913\r\n"), Err(DecodeError::BadLength));
        let unlimited = Limits {
            max_bulk_bytes: usize::MAX,
            max_elements: usize::MAX,
            max_depth: 64,
            max_line_bytes: 64,
        };
        assert_eq!(decode(b"*3000000000\r\n", &unlimited), Ok(Status::Partial));
        assert_eq!(
            decode(b"%18446744073709551615\r\n", &unlimited),
            Err(DecodeError::BadLength)
        );
        assert_eq!(
            decode(b"$18446744073709551615\r\nab", &unlimited),
            Err(DecodeError::BadLength)
        );
    }

    #[test]
    fn nesting_100k_deep_is_too_deep_without_overflowing_the_stack() {
        let mut input = b"*1\r\n".repeat(100_000);
        assert_eq!(dec(&input), Err(DecodeError::TooDeep));
        input.extend_from_slice(b":1\r\n");
        assert_eq!(dec(&input), Err(DecodeError::TooDeep));
        // With a limit above the nesting, the scan is still a loop: a partial input is just partial.
        let deep = Limits {
            max_depth: 200_000,
            ..Limits::default()
        };
        assert_eq!(
            decode(&input[..input.len() - 1], &deep),
            Ok(Status::Partial)
        );
    }

    #[test]
    fn errors_are_found_before_the_value_is_complete() {
        assert_eq!(dec(b"x"), Err(DecodeError::UnknownType(b'x')));
        assert_eq!(dec(b"*2\r\n:1\r\n!"), Ok(Status::Partial));
        assert_eq!(dec(b"*2\r\n:1\r\nx"), Err(DecodeError::UnknownType(b'x')));
        assert_eq!(dec(b"*2\r\n#x\r\n"), Err(DecodeError::BadLine));
        assert_eq!(dec(b"$2\r\nabc"), Err(DecodeError::BadLine));
        assert_eq!(dec(b"$2\r\nab\r"), Ok(Status::Partial));
        assert_eq!(dec(b"+a\nb"), Err(DecodeError::BadLine));
    }

    #[test]
    fn pipelined_values_decode_one_at_a_time_with_exact_lengths() {
        let input: &[u8] =
            b"+OK\r\n:12\r\n$3\r\nfoo\r\n*2\r\n$1\r\na\r\n_\r\n|1\r\n+k\r\n+v\r\n#f\r\n-ERR x\r\n";
        let expected = [
            (simple(b"OK"), 5),
            (Value::Integer(12), 5),
            (bulk(b"foo"), 9),
            (Value::Array(vec![bulk(b"a"), Value::Nil]), 14),
            (Value::Boolean(false), 16),
            (Value::Error(b"ERR x".to_vec()), 8),
        ];
        let mut rest = input;
        for (value, used) in expected {
            assert_eq!(dec(rest), complete(value, used));
            rest = &rest[used..];
        }
        assert!(rest.is_empty());
        assert_eq!(dec(rest), Ok(Status::Partial));
    }

    #[test]
    fn every_strict_prefix_of_a_valid_value_is_partial() {
        let inputs: [&[u8]; 8] = [
            b"+OK\r\n",
            b":-9223372036854775808\r\n",
            b"$5\r\nhe\r\no\r\n",
            b"*3\r\n$-1\r\n*-1\r\n_\r\n",
            b"%1\r\n~1\r\n,1.5e3\r\n>1\r\n(-7\r\n",
            b"|1\r\n+a\r\n=7\r\ntxt:abc\r\n#t\r\n",
            b"!3\r\nERR\r\n",
            b"*2\r\n|0\r\n:1\r\n*0\r\n",
        ];
        for input in inputs {
            assert!(
                matches!(dec(input), Ok(Status::Complete((_, n))) if n == input.len()),
                "{input:?}"
            );
            for cut in 0..input.len() {
                assert_eq!(
                    dec(&input[..cut]),
                    Ok(Status::Partial),
                    "{input:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn default_limits_are_the_documented_ones() {
        let limits = Limits::default();
        assert_eq!(limits.max_bulk_bytes, 536_870_912);
        assert_eq!(limits.max_elements, 1_048_576);
        assert_eq!(limits.max_depth, 64);
        assert_eq!(limits.max_line_bytes, 65_536);
    }

    #[test]
    fn errors_display_as_lowercase_phrases() {
        assert_eq!(
            DecodeError::UnknownType(0x3f).to_string(),
            "unknown RESP type byte 0x3f"
        );
        for error in [
            DecodeError::BadLength,
            DecodeError::BadInteger,
            DecodeError::BadLine,
            DecodeError::TooDeep,
        ] {
            assert!(!error.to_string().is_empty());
        }
    }
}
