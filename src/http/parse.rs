//! Strict, incremental parsing of HTTP/1.1 requests (RFC 9112): bytes in, [`Request`] out.
//!
//! The server appends what it reads to a buffer and calls [`parse_head`], then [`scan_body`]
//! (or [`parse`] for both). Each answers `Ok(Status::Partial)` while bytes are missing,
//! `Ok(Status::Complete(..))` with the number of bytes used, or an error that maps to exactly
//! one HTTP status. Nothing here does I/O, reads a clock or panics on input.
//!
//! # Grammar (RFC 9112 §2.1, §3, §5, §7.1)
//!
//! ```text
//! HTTP-message   = start-line CRLF *( field-line CRLF ) CRLF [ message-body ]
//! request-line   = method SP request-target SP HTTP-version
//! method         = token
//! request-target = origin-form / absolute-form / authority-form / asterisk-form
//! origin-form    = absolute-path [ "?" query ]
//! absolute-form  = absolute-URI
//! asterisk-form  = "*"
//! HTTP-version   = HTTP-name "/" DIGIT "." DIGIT      ; HTTP-name = %s"HTTP"
//! field-line     = field-name ":" OWS field-value OWS
//! field-name     = token
//! field-value    = *( HTAB / SP / VCHAR / obs-text )   ; RFC 9110 §5.5, as one run of bytes
//! token          = 1*tchar
//! tchar          = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
//!                  "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
//!
//! chunked-body   = *chunk last-chunk trailer-section CRLF
//! chunk          = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//! chunk-size     = 1*HEXDIG
//! last-chunk     = 1*("0") [ chunk-ext ] CRLF
//! chunk-ext      = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
//! chunk-ext-name = token
//! chunk-ext-val  = token / quoted-string
//! trailer-section = *( field-line CRLF )
//! ```
//!
//! # Strictness: every doubt is an error
//!
//! A gateway that guesses differently from the proxy in front of it can be tricked into seeing
//! two requests where the proxy saw one (request smuggling), so this parser refuses rather than
//! repairs:
//!
//! * Lines end with CRLF only; a bare LF or bare CR anywhere in the head, a chunk-size line or
//!   the trailers is a 400 (RFC 9112 §2.2 allows bare LF; we do not). Up to four empty lines
//!   before the request line are skipped (§2.2), and count as bytes of the head.
//! * Obsolete line folding, whitespace before a colon, control bytes in values: 400 (§5).
//! * The target is origin-form, `*` (only with `OPTIONS`) or `http(s)://` absolute-form, which is
//!   reduced to origin-form (the `Host` field is then not compared with it); authority-form and
//!   anything else is a 400. Target bytes must not be controls, spaces or DEL.
//! * `HTTP/x.y` other than 1.0 and 1.1 is a 505; a malformed version is a 400.
//! * Framing (§6): `Content-Length` must be `1*DIGIT`, once (a repeated header or a list is a 400
//!   even with equal values); `Content-Length` with `Transfer-Encoding` is a 400;
//!   `Transfer-Encoding` must appear once and not in HTTP/1.0 (400). Its value is judged as:
//!   - malformed list (empty element, a coding that is not a token, bad parameter): 400;
//!   - final coding not `chunked` (`identity`, `gzip`, `chunked, gzip`): 400, because §6.1 says
//!     the body length then cannot be determined and the server MUST answer 400;
//!   - `chunked` more than once: 400 (§7.1: a sender MUST NOT chunk twice);
//!   - `chunked` last but preceded by other codings (`gzip, chunked`) or carrying parameters:
//!     501, a coding we do not implement (§6.1: a server SHOULD answer 501 to a coding it does
//!     not understand);
//!   - exactly `chunked` (any case): accepted.
//! * More than one `Host` field, or a `Host` with bytes no host can hold (space, `/`, `@`,
//!   controls): 400. A missing `Host` is not an error here; the caller decides.
//! * `Expect` other than `100-continue`: 417.
//!
//! # Limits and early errors
//!
//! [`Limits`] bounds the request line, the head (and separately the trailer section), the number
//! of fields (and of trailer fields) and the body. Errors are found as early as the bytes allow:
//! each line is checked from its first byte, so `GET\0` or a TLS ClientHello fails at once, and a
//! buffer longer than a limit without the end of its item fails without waiting.
//!
//! The verdict never depends on how the bytes were split: a scan only looks at the first
//! `max_head_bytes` bytes (the window) and decides each error from the bytes before it, so the
//! first non-partial answer on a growing buffer is the answer on the whole buffer.
//! Every strict prefix of a valid request is `Partial`.
//!
//! # Files
//!
//! This file holds the types, the public entry points, line splitting and the byte classes;
//! the two scans that do the work live in files of their own:
//!
//! * `parse/head.rs`: the request line and the header fields, checked, then built into a [`Head`];
//! * `parse/chunked.rs`: the chunk-size lines, chunk data and trailer section of a chunked body.
//!
//! # Changing these files
//!
//! The tests check the limits at N and N+1 (`parse/limit_tests.rs`), that every prefix of a
//! valid request is `Partial` (`parse/tests.rs`), and that random splits give the same verdict
//! (`parse/property_tests.rs`): keep all three when adding a rule.

use std::fmt;

use super::request::{Framing, Head, Request};

mod chunked;
mod head;

/// How many empty lines (CRLF) may precede the request line (RFC 9112 §2.2: "at least one").
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// Longest chunk-size line, extensions included, CRLF excluded. Real clients send a few hex
/// digits; the cap bounds the rescan of an unfinished line and the cost of extensions nobody uses.
const MAX_CHUNK_LINE_BYTES: usize = 4096;

/// Most hex digits in a chunk size: 16 digits fill a `u64`, so the value cannot overflow.
const MAX_CHUNK_SIZE_DIGITS: usize = 16;

/// The outcome of an incremental parse: the value, or a sign that the buffer ends too early.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status<T> {
    /// A whole item was found; usually with the number of bytes it used.
    Complete(T),
    /// The buffer is a valid prefix: read more bytes and call again.
    Partial,
}

/// Size limits applied while parsing; every number read off the wire is checked against them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, CRLF excluded (the product uses 8 KiB); longer is [`ParseError::RequestLineTooLong`].
    pub max_request_line: usize,
    /// Longest head: leading empty lines, request line, fields and the final CRLFCRLF (the
    /// product uses 16 KiB). The trailer section of a chunked body has the same limit of its own.
    pub max_head_bytes: usize,
    /// Most header fields (the product uses 100); the trailer section has the same limit of its own.
    pub max_headers: usize,
    /// Largest body: `Content-Length`, or the sum of the chunk sizes (the product uses 64 MiB).
    pub max_body_bytes: usize,
}

/// Why bytes from a client are not an acceptable HTTP/1.1 request. Each variant maps to one status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// 400: the request is malformed; the reason is a short lowercase phrase for the client.
    BadRequest(&'static str),
    /// 414: the request line is longer than [`Limits::max_request_line`].
    RequestLineTooLong,
    /// 431: the head (or the trailer section) is longer than [`Limits::max_head_bytes`].
    HeadTooLarge,
    /// 431: more than [`Limits::max_headers`] header fields (or trailer fields).
    TooManyHeaders,
    /// 413: `Content-Length`, or the chunk sizes so far, exceed [`Limits::max_body_bytes`].
    BodyTooLarge,
    /// 505: a well-formed `HTTP/x.y` other than 1.0 and 1.1.
    UnsupportedVersion,
    /// 501: `Transfer-Encoding` ends in `chunked` but adds codings or parameters we do not implement.
    UnsupportedTransferEncoding,
    /// 417: an `Expect` value other than `100-continue`.
    ExpectationFailed,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::BadRequest(reason) => write!(f, "bad request: {reason}"),
            ParseError::RequestLineTooLong => f.write_str("request line too long"),
            ParseError::HeadTooLarge => f.write_str("request header section too large"),
            ParseError::TooManyHeaders => f.write_str("too many header fields"),
            ParseError::BodyTooLarge => f.write_str("request body too large"),
            ParseError::UnsupportedVersion => f.write_str("http version not supported"),
            ParseError::UnsupportedTransferEncoding => {
                f.write_str("transfer coding not implemented")
            }
            ParseError::ExpectationFailed => f.write_str("expectation not supported"),
        }
    }
}

impl std::error::Error for ParseError {}

/// Why a helper stopped: the bytes end too early, or they are wrong.
enum Halt {
    NeedMore,
    Bad(ParseError),
}

impl From<ParseError> for Halt {
    fn from(error: ParseError) -> Halt {
        Halt::Bad(error)
    }
}

/// Turns a helper's result into a public one: `NeedMore` is not an error but `Partial`.
fn status<T>(result: Result<T, Halt>) -> Result<Status<T>, ParseError> {
    match result {
        Ok(value) => Ok(Status::Complete(value)),
        Err(Halt::NeedMore) => Ok(Status::Partial),
        Err(Halt::Bad(error)) => Err(error),
    }
}

fn bad(reason: &'static str) -> ParseError {
    ParseError::BadRequest(reason)
}

// ---------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------

/// Parses one whole request, head and body, from the start of `buf`.
///
/// Returns the request and the number of bytes it used; bytes after it (a pipelined request)
/// are left alone. A server that reads incrementally should rather call [`parse_head`] once
/// and then [`scan_body`] with one [`BodyScan`], which does not rebuild the head on every read.
///
/// # Errors
///
/// Any [`ParseError`] from [`parse_head`] or [`scan_body`].
///
/// # Examples
///
/// ```
/// use redis_gateway::http::{parse, Limits, Method, Status};
///
/// let limits = Limits { max_request_line: 8192, max_head_bytes: 16384, max_headers: 100, max_body_bytes: 1 << 26 };
/// let wire = b"POST /SET/k HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /";
/// let Ok(Status::Complete((request, used))) = parse(wire, &limits) else { panic!("not parsed") };
/// assert_eq!(request.head.method, Method::Post);
/// assert_eq!(request.head.target, b"/SET/k");
/// assert_eq!(request.body, b"hi");
/// assert_eq!(used, wire.len() - b"GET /".len());
/// assert_eq!(parse(b"GET / HTTP/1.1\r\nHost", &limits), Ok(Status::Partial));
/// ```
pub fn parse(buf: &[u8], limits: &Limits) -> Result<Status<(Request, usize)>, ParseError> {
    let (head, head_len) = match parse_head(buf, limits)? {
        Status::Complete(found) => found,
        Status::Partial => return Ok(Status::Partial),
    };
    let rest = buf.get(head_len..).unwrap_or(&[]);
    let body_len = match scan_body(rest, head.framing, &mut BodyScan::default(), limits)? {
        Status::Complete(body_len) => body_len,
        Status::Partial => return Ok(Status::Partial),
    };
    let body = decode_body(rest.get(..body_len).unwrap_or(rest), head.framing);
    Ok(Status::Complete((
        Request { head, body },
        head_len + body_len,
    )))
}

/// Parses the head of the request at the start of `buf`: request line, header fields, blank line.
///
/// Returns the head and the number of bytes it used, including skipped leading empty lines and
/// the final CRLFCRLF; the body (if any, see [`Head::framing`]) starts right after.
///
/// # Errors
///
/// * [`ParseError::BadRequest`] for malformed syntax, framing or `Host` (see the module docs).
/// * [`ParseError::RequestLineTooLong`], [`ParseError::HeadTooLarge`],
///   [`ParseError::TooManyHeaders`] when a limit is exceeded, even before the head is complete.
/// * [`ParseError::BodyTooLarge`] when `Content-Length` exceeds the limit (no need to wait for it).
/// * [`ParseError::UnsupportedVersion`], [`ParseError::UnsupportedTransferEncoding`],
///   [`ParseError::ExpectationFailed`].
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Status<(Head, usize)>, ParseError> {
    status(head::scan_head(buf, limits).and_then(|span| {
        let text = buf.get(span.line_start..span.end).unwrap_or(&[]);
        Ok((head::build_head(text, limits)?, span.end))
    }))
}

/// Progress of a [`scan_body`] over a chunked body, so that a growing buffer is not rescanned.
///
/// Use a fresh `BodyScan::default()` for each body, and pass it with the same (grown) buffer
/// on every call; a fresh one with any buffer is always correct, just slower.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BodyScan {
    /// Where the next unchecked line starts: a chunk-size line, or a trailer line.
    pos: usize,
    /// Sum of the sizes of the chunks checked so far.
    total: usize,
    /// Where the trailer section starts, once the last chunk was seen.
    trailer_start: Option<usize>,
    /// Trailer fields checked so far.
    trailer_fields: usize,
}

/// Finds the end of the body that starts at `buf[0]` (right after the head), without copying it.
///
/// `Complete(n)`: the body occupies `buf[..n]` on the wire, chunk framing and trailers included;
/// pass exactly that to [`decode_body`]. For [`Framing::Chunked`], `scan` remembers the chunks
/// already checked, so each call costs only the new bytes (plus at most one unfinished
/// chunk-size or trailer line).
///
/// # Errors
///
/// * [`ParseError::BodyTooLarge`] when the length, or the chunk sizes so far, exceed
///   [`Limits::max_body_bytes`]; a chunk is refused as soon as its size line arrives.
/// * [`ParseError::BadRequest`] for a malformed chunk-size line (over 4096 bytes included),
///   chunk data not followed by CRLF, or a malformed trailer field.
/// * [`ParseError::HeadTooLarge`], [`ParseError::TooManyHeaders`] when the trailer section
///   exceeds [`Limits::max_head_bytes`] or [`Limits::max_headers`].
pub fn scan_body(
    buf: &[u8],
    framing: Framing,
    scan: &mut BodyScan,
    limits: &Limits,
) -> Result<Status<usize>, ParseError> {
    status(match framing {
        Framing::None => Ok(0),
        Framing::Length(len) if len > limits.max_body_bytes => Err(ParseError::BodyTooLarge.into()),
        Framing::Length(len) if buf.len() >= len => Ok(len),
        Framing::Length(_) => Err(Halt::NeedMore),
        Framing::Chunked => chunked::scan_chunked(buf, scan, limits),
    })
}

/// The payload of a body that [`scan_body`] found complete: `wire` is exactly `buf[..n]`.
///
/// Chunk data is concatenated; extensions and trailers are dropped. Given anything else it
/// does not panic but returns what it can make of it.
pub fn decode_body(wire: &[u8], framing: Framing) -> Vec<u8> {
    match framing {
        Framing::None => Vec::new(),
        Framing::Length(len) => wire.get(..len).unwrap_or(wire).to_vec(),
        Framing::Chunked => {
            // Two passes so that the payload is allocated once; it is never longer than `wire`.
            let len = chunked::chunk_data(wire).map(<[u8]>::len).sum();
            let mut body = Vec::with_capacity(len);
            for data in chunked::chunk_data(wire) {
                body.extend_from_slice(data);
            }
            body
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lines, for the head (parse/head.rs) and the chunked body (parse/chunked.rs)
// ---------------------------------------------------------------------------------------------

/// How a line ends, as far as the buffer shows.
enum Ending {
    /// No terminator yet (or a CR that is the last byte): more bytes are needed.
    Open,
    /// CRLF.
    Crlf,
    /// A bare LF or bare CR.
    Bad(&'static str),
}

/// Splits `rest` at its first CR or LF: the line's content and how it ends.
fn split_line(rest: &[u8]) -> (&[u8], Ending) {
    let Some(end) = rest.iter().position(|&b| b == b'\r' || b == b'\n') else {
        return (rest, Ending::Open);
    };
    let (content, terminator) = rest.split_at(end);
    let ending = match terminator {
        [b'\r', b'\n', ..] => Ending::Crlf,
        [b'\r'] => Ending::Open,
        [b'\r', ..] => Ending::Bad("bare cr"),
        _ => Ending::Bad("bare lf"),
    };
    (content, ending)
}

/// Where the line that starts at `start` with `len` content bytes ends, CRLF included.
fn line_end(ending: Ending, start: usize, len: usize) -> Result<usize, Halt> {
    match ending {
        Ending::Crlf => Ok(start + len + 2),
        Ending::Open => Err(Halt::NeedMore),
        Ending::Bad(reason) => Err(bad(reason).into()),
    }
}

/// `buf` from `pos` on; empty when `pos` is past its end.
fn rest(buf: &[u8], pos: usize) -> &[u8] {
    buf.get(pos..).unwrap_or(&[])
}

// ---------------------------------------------------------------------------------------------
// Byte classes (RFC 9110 §5.6.2, §5.5; RFC 3986 §3.2.2), for the same two
// ---------------------------------------------------------------------------------------------

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_tchar(b))
}

/// HTAB, SP, VCHAR or obs-text: every byte but the other controls and DEL.
fn is_field_value_byte(b: u8) -> bool {
    b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80
}

/// Bytes of `host [ ":" port ]`: unreserved, sub-delims, `:`, `[`, `]` (IP literals) and `%`.
fn is_host_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b)
}

/// `bytes` without leading and trailing SP and HTAB.
fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |last| last + 1);
    bytes.get(start..end).unwrap_or(&[])
}

fn strip_prefix_ignore_case<'a>(bytes: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = bytes.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        bytes.get(prefix.len()..)
    } else {
        None
    }
}

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod property_tests;
#[cfg(test)]
mod tests;
