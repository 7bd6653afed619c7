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
//! # Changing this file
//!
//! The tests check the limits at N and N+1, that every prefix of a valid request is `Partial`,
//! and that random splits give the same verdict: keep all three when adding a rule.

use std::fmt;

use super::request::{Framing, Head, Header, Method, Request, Version};

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
    status(scan_head(buf, limits).and_then(|span| {
        let text = buf.get(span.line_start..span.end).unwrap_or(&[]);
        Ok((build_head(text, limits)?, span.end))
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
        Framing::Chunked => scan_chunked(buf, scan, limits),
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
            let len = chunk_data(wire).map(<[u8]>::len).sum();
            let mut body = Vec::with_capacity(len);
            for data in chunk_data(wire) {
                body.extend_from_slice(data);
            }
            body
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Lines
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
// Head: scan (check every byte, allocate nothing), then build
// ---------------------------------------------------------------------------------------------

/// Where the head is in the buffer: request line start (after empty lines) and end (after CRLFCRLF).
struct HeadSpan {
    line_start: usize,
    end: usize,
}

/// A field line was checked: either a field, or the blank line that ends the section.
enum FieldLine {
    Field { next: usize },
    Blank { next: usize },
}

/// Checks the head at the start of `buf` and finds its end.
fn scan_head(buf: &[u8], limits: &Limits) -> Result<HeadSpan, Halt> {
    // Bytes past the limit can never belong to an acceptable head. Scanning only the window
    // makes the verdict the same whatever the client sent after it, and however it was split.
    let window = buf.get(..limits.max_head_bytes).unwrap_or(buf);
    match scan_head_window(window, limits) {
        Err(Halt::NeedMore) if buf.len() > window.len() => Err(ParseError::HeadTooLarge.into()),
        other => other,
    }
}

fn scan_head_window(window: &[u8], limits: &Limits) -> Result<HeadSpan, Halt> {
    let mut pos = 0;
    let mut skipped = 0;
    while skipped < MAX_LEADING_EMPTY_LINES && rest(window, pos).starts_with(b"\r\n") {
        pos += 2;
        skipped += 1;
    }
    let line_start = pos;

    // Request line: bytes first (left to right, up to the limit), then length, then the end.
    let (line, ending) = split_line(rest(window, pos));
    check_request_line_bytes(line.get(..limits.max_request_line).unwrap_or(line))?;
    if line.len() > limits.max_request_line {
        return Err(ParseError::RequestLineTooLong.into());
    }
    pos = line_end(ending, pos, line.len())?;
    split_request_line(line)?;

    let mut fields = 0;
    loop {
        match field_line(window, pos, fields, limits.max_headers)? {
            FieldLine::Field { next } => {
                pos = next;
                fields += 1;
            }
            FieldLine::Blank { next } => {
                return Ok(HeadSpan {
                    line_start,
                    end: next,
                })
            }
        }
    }
}

/// Checks the request-line bytes seen so far, left to right, so that a prefix fails exactly
/// when the whole line would fail at the same byte. The end of the line is judged by
/// [`split_request_line`].
fn check_request_line_bytes(line: &[u8]) -> Result<(), ParseError> {
    const VERSION_SHAPE: &[u8] = b"HTTP/0.0"; // '0' stands for any DIGIT
    let mut part = 0; // 0: method, 1: target, 2: version
    let mut len = 0; // bytes of the current part
    for &b in line {
        match part {
            0 if b == b' ' && len > 0 => (part, len) = (1, 0),
            0 if is_tchar(b) => len += 1,
            0 => return Err(bad("invalid method")),
            1 if b == b' ' && len > 0 => (part, len) = (2, 0),
            1 if len == 0 && !(b == b'/' || b == b'*' || b.is_ascii_alphabetic()) => {
                return Err(bad("invalid request target"))
            }
            1 if b <= b' ' || b == 0x7f => return Err(bad("invalid byte in request target")),
            1 => len += 1,
            _ => {
                let fits = match VERSION_SHAPE.get(len) {
                    Some(b'0') => b.is_ascii_digit(),
                    Some(&expected) => b == expected,
                    None => false,
                };
                if !fits {
                    return Err(bad("invalid http version"));
                }
                len += 1;
            }
        }
    }
    Ok(())
}

/// Splits a complete request line (bytes already checked) into method, target and version,
/// and checks what only the whole line shows: the version and the form of the target.
fn split_request_line(line: &[u8]) -> Result<(&[u8], &[u8], Version), ParseError> {
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("missing http version"));
    };
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(ParseError::UnsupportedVersion)
        }
        _ => return Err(bad("invalid http version")),
    };
    origin_form(method, target)?;
    Ok((method, target, version))
}

/// Checks the form of a request target (RFC 9112 §3.2) and returns it in origin-form, as a
/// prefix to add (`/` when an absolute-form target has an empty path) and the bytes to keep.
fn origin_form<'a>(
    method: &[u8],
    target: &'a [u8],
) -> Result<(&'static [u8], &'a [u8]), ParseError> {
    if target.first() == Some(&b'/') {
        return Ok((b"", target));
    }
    if target == b"*" {
        return match method {
            b"OPTIONS" => Ok((b"", target)),
            _ => Err(bad("'*' target is only for options")),
        };
    }
    let after_scheme = strip_prefix_ignore_case(target, b"http://")
        .or_else(|| strip_prefix_ignore_case(target, b"https://"))
        .ok_or(bad("invalid request target"))?;
    let authority_len = after_scheme
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(after_scheme.len());
    let (authority, path) = after_scheme.split_at(authority_len);
    if authority.is_empty() || !authority.iter().all(|&b| is_host_byte(b)) {
        return Err(bad("invalid authority in request target"));
    }
    match path.first() {
        Some(b'/') => Ok((b"", path)),
        _ => Ok((b"/", path)),
    }
}

/// Checks the field line at `pos` (a header or a trailer field) or the blank line ending the section.
fn field_line(
    window: &[u8],
    pos: usize,
    fields: usize,
    max_fields: usize,
) -> Result<FieldLine, Halt> {
    let (line, ending) = split_line(rest(window, pos));
    if line.is_empty() {
        return Ok(FieldLine::Blank {
            next: line_end(ending, pos, 0)?,
        });
    }
    if fields >= max_fields {
        return Err(ParseError::TooManyHeaders.into());
    }
    check_field_bytes(line)?;
    let next = line_end(ending, pos, line.len())?;
    if !line.contains(&b':') {
        return Err(bad("header line without colon").into());
    }
    Ok(FieldLine::Field { next })
}

/// Checks the bytes of a field line seen so far, left to right (see [`check_request_line_bytes`]).
fn check_field_bytes(line: &[u8]) -> Result<(), ParseError> {
    let mut in_name = true;
    for (i, &b) in line.iter().enumerate() {
        if !in_name {
            if !is_field_value_byte(b) {
                return Err(bad("invalid byte in header value"));
            }
            continue;
        }
        match b {
            b':' if i == 0 => return Err(bad("empty header name")),
            b':' => in_name = false,
            b' ' | b'\t' if i == 0 => return Err(bad("obsolete line folding")),
            b' ' | b'\t' => return Err(bad("whitespace before colon")),
            _ if is_tchar(b) => {}
            _ => return Err(bad("invalid header name")),
        }
    }
    Ok(())
}

/// Builds the [`Head`] from the checked bytes `text` (request line to final CRLFCRLF), and
/// decides what the fields mean together: host, framing, expectation, persistence.
fn build_head(text: &[u8], limits: &Limits) -> Result<Head, ParseError> {
    // The scan proved every line ends in CRLF and holds no other CR or LF.
    let mut lines = text
        .split(|&b| b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !line.is_empty());
    let (method, target, version) = split_request_line(lines.next().unwrap_or(&[]))?;
    let (prefix, kept) = origin_form(method, target)?;
    let headers: Vec<Header> = lines
        .map(|line| {
            let colon = line.iter().position(|&b| b == b':').unwrap_or(line.len());
            let (name, value) = line.split_at(colon);
            Header {
                name: name.to_vec(),
                value: trim_ows(value.get(1..).unwrap_or(&[])).to_vec(),
            }
        })
        .collect();

    check_host(&headers)?;
    let framing = framing(&headers, version, limits)?;
    let mut expect_continue = false;
    for value in values(&headers, "expect") {
        if !value.eq_ignore_ascii_case(b"100-continue") {
            return Err(ParseError::ExpectationFailed);
        }
        expect_continue = true;
    }
    let (mut close, mut keep) = (false, false);
    for token in values(&headers, "connection")
        .flat_map(|v| v.split(|&b| b == b','))
        .map(trim_ows)
    {
        close |= token.eq_ignore_ascii_case(b"close");
        keep |= token.eq_ignore_ascii_case(b"keep-alive");
    }

    Ok(Head {
        method: Method::from_token(method),
        target: [prefix, kept].concat(),
        version,
        headers,
        framing,
        keep_alive: !close && (version == Version::Http11 || keep),
        // RFC 9110 §10.1.1: a server MUST ignore 100-continue in an HTTP/1.0 request.
        expect_continue: expect_continue && version == Version::Http11,
    })
}

/// The values of the fields called `name` (ASCII case-insensitive), in order.
fn values<'a>(headers: &'a [Header], name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .iter()
        .filter(move |header| header.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|header| header.value.as_slice())
}

/// At most one `Host`, holding only bytes a host (reg-name, IP literal) and port can hold.
fn check_host(headers: &[Header]) -> Result<(), ParseError> {
    let mut hosts = values(headers, "host");
    if let Some(host) = hosts.next() {
        if hosts.next().is_some() {
            return Err(bad("more than one host header"));
        }
        if !host.iter().all(|&b| is_host_byte(b)) {
            return Err(bad("invalid host header"));
        }
    }
    Ok(())
}

/// Decides how the body is delimited (RFC 9112 §6.3), strictly: see the module docs.
fn framing(headers: &[Header], version: Version, limits: &Limits) -> Result<Framing, ParseError> {
    let mut lengths = values(headers, "content-length");
    let mut codings = values(headers, "transfer-encoding");
    match (lengths.next(), codings.next()) {
        (None, None) => Ok(Framing::None),
        (Some(_), Some(_)) => Err(bad("content-length together with transfer-encoding")),
        (None, Some(coding)) => {
            if codings.next().is_some() {
                return Err(bad("more than one transfer-encoding header"));
            }
            if version == Version::Http10 {
                return Err(bad("transfer-encoding in an http/1.0 request"));
            }
            transfer_coding(coding)
        }
        (Some(length), None) => {
            if lengths.next().is_some() {
                return Err(bad("more than one content-length header"));
            }
            let length = content_length(length)?;
            if length > limits.max_body_bytes {
                return Err(ParseError::BodyTooLarge);
            }
            Ok(Framing::Length(length))
        }
    }
}

/// `Content-Length = 1*DIGIT`, as a `usize`.
fn content_length(value: &[u8]) -> Result<usize, ParseError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(bad("invalid content-length"));
    }
    value.iter().try_fold(0usize, |n, &digit| {
        n.checked_mul(10)
            .and_then(|n| n.checked_add(usize::from(digit - b'0')))
            .ok_or(bad("content-length overflows"))
    })
}

/// Judges a `Transfer-Encoding` value (RFC 9112 §6.1, §7): see the module docs for the 400/501 split.
///
/// ```text
/// Transfer-Encoding  = #transfer-coding
/// transfer-coding    = token *( OWS ";" OWS transfer-parameter )
/// transfer-parameter = token BWS "=" BWS ( token / quoted-string )
/// ```
fn transfer_coding(value: &[u8]) -> Result<Framing, ParseError> {
    let mut codings = 0;
    let mut chunked = 0;
    let mut last_is_chunked = false;
    let mut parameters = false;
    for element in value.split(|&b| b == b',') {
        let mut pieces = element.split(|&b| b == b';');
        let name = trim_ows(pieces.next().unwrap_or(&[]));
        if !is_token(name) {
            return Err(bad("malformed transfer-encoding"));
        }
        for parameter in pieces {
            if !is_transfer_parameter(trim_ows(parameter)) {
                return Err(bad("malformed transfer-encoding"));
            }
            parameters = true;
        }
        codings += 1;
        last_is_chunked = name.eq_ignore_ascii_case(b"chunked");
        if last_is_chunked {
            chunked += 1;
        }
    }
    if !last_is_chunked {
        return Err(bad("chunked is not the final transfer coding"));
    }
    if chunked > 1 {
        return Err(bad("chunked applied more than once"));
    }
    if codings > 1 || parameters {
        return Err(ParseError::UnsupportedTransferEncoding);
    }
    Ok(Framing::Chunked)
}

/// `token BWS "=" BWS ( token / quoted-string )`.
fn is_transfer_parameter(parameter: &[u8]) -> bool {
    let Some(equals) = parameter.iter().position(|&b| b == b'=') else {
        return false;
    };
    let (name, value) = parameter.split_at(equals);
    let value = trim_ows(value.get(1..).unwrap_or(&[]));
    is_token(trim_ows(name)) && (is_token(value) || is_quoted_string(value))
}

/// `DQUOTE *( qdtext / quoted-pair ) DQUOTE` (RFC 9110 §5.6.4).
fn is_quoted_string(value: &[u8]) -> bool {
    let Some(inner) = value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
    else {
        return false;
    };
    let mut escaped = false;
    for &b in inner {
        if !is_field_value_byte(b) {
            return false;
        }
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return false,
            _ => {}
        }
    }
    !escaped
}

// ---------------------------------------------------------------------------------------------
// Chunked body
// ---------------------------------------------------------------------------------------------

/// Checks chunks from `scan.pos` on, remembering each complete one, then the trailer section.
fn scan_chunked(buf: &[u8], scan: &mut BodyScan, limits: &Limits) -> Result<usize, Halt> {
    loop {
        if let Some(start) = scan.trailer_start {
            return scan_trailers(buf, start, scan, limits);
        }
        let (size, data_start) = chunk_size_line(buf, scan.pos)?;
        // Refuse the chunk before its data arrives.
        let total = scan
            .total
            .checked_add(size)
            .filter(|&total| total <= limits.max_body_bytes)
            .ok_or(Halt::Bad(ParseError::BodyTooLarge))?;
        if size == 0 {
            scan.trailer_start = Some(data_start);
            scan.pos = data_start;
            continue;
        }
        let data_end = data_start
            .checked_add(size)
            .ok_or(Halt::Bad(ParseError::BodyTooLarge))?;
        match buf.get(data_end..) {
            None | Some([] | [b'\r']) => return Err(Halt::NeedMore),
            Some([b'\r', b'\n', ..]) => {}
            Some(_) => return Err(bad("chunk data not followed by crlf").into()),
        }
        scan.pos = data_end + 2;
        scan.total = total;
    }
}

/// Checks the trailer section that starts at `start`, from `scan.pos` on; its end is the body's end.
fn scan_trailers(
    buf: &[u8],
    start: usize,
    scan: &mut BodyScan,
    limits: &Limits,
) -> Result<usize, Halt> {
    // The same window as for the head, so that the verdict does not depend on the split.
    let window = buf
        .get(..start.saturating_add(limits.max_head_bytes))
        .unwrap_or(buf);
    loop {
        match field_line(window, scan.pos, scan.trailer_fields, limits.max_headers) {
            Ok(FieldLine::Field { next }) => {
                scan.pos = next;
                scan.trailer_fields += 1;
            }
            Ok(FieldLine::Blank { next }) => return Ok(next),
            Err(Halt::NeedMore) if buf.len() > window.len() => {
                return Err(ParseError::HeadTooLarge.into())
            }
            Err(halt) => return Err(halt),
        }
    }
}

/// Checks the chunk-size line at `pos`: returns the chunk size and where its data starts.
fn chunk_size_line(buf: &[u8], pos: usize) -> Result<(usize, usize), Halt> {
    let (line, ending) = split_line(rest(buf, pos));
    let (size, state) = check_chunk_line(line.get(..MAX_CHUNK_LINE_BYTES).unwrap_or(line))?;
    if line.len() > MAX_CHUNK_LINE_BYTES {
        return Err(bad("chunk size line too long").into());
    }
    let next = line_end(ending, pos, line.len())?;
    if line.is_empty() {
        return Err(bad("missing chunk size").into());
    }
    if !matches!(state, Ext::Size | Ext::Name | Ext::Token | Ext::QuoteEnd) {
        return Err(bad("invalid chunk extension").into());
    }
    // A size that does not fit in usize is certainly over any body limit.
    let size = usize::try_from(size).map_err(|_| ParseError::BodyTooLarge)?;
    Ok((size, next))
}

/// Where a chunk-size line scan stands (RFC 9112 §7.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// In the hex digits.
    Size,
    /// In whitespace that must be followed by `;`.
    Gap,
    /// After `;`: whitespace, then an extension name.
    Semi,
    /// In an extension name.
    Name,
    /// Whitespace after a name: `=` or `;` must follow.
    NameGap,
    /// After `=`: whitespace, then a token or a quoted string.
    Equals,
    /// In a token value.
    Token,
    /// In a quoted string.
    Quoted,
    /// After a backslash in a quoted string.
    QuotedPair,
    /// Right after the closing quote.
    QuoteEnd,
}

/// Checks the chunk-size line bytes seen so far, left to right: the size so far and the state.
fn check_chunk_line(line: &[u8]) -> Result<(u64, Ext), ParseError> {
    let mut size: u64 = 0;
    let mut digits = 0;
    let mut state = Ext::Size;
    for &b in line {
        let space = b == b' ' || b == b'\t';
        state = match state {
            Ext::Size if b.is_ascii_hexdigit() => {
                digits += 1;
                if digits > MAX_CHUNK_SIZE_DIGITS {
                    return Err(bad("chunk size has too many digits"));
                }
                let digit = u64::from(char::from(b).to_digit(16).unwrap_or(0));
                size = size
                    .checked_mul(16)
                    .and_then(|s| s.checked_add(digit))
                    .ok_or(bad("chunk size overflows"))?;
                Ext::Size
            }
            Ext::Size if digits == 0 => return Err(bad("invalid chunk size")),
            Ext::Size | Ext::Token | Ext::QuoteEnd | Ext::Gap if space => Ext::Gap,
            Ext::Size | Ext::Token | Ext::QuoteEnd | Ext::Gap | Ext::Name | Ext::NameGap
                if b == b';' =>
            {
                Ext::Semi
            }
            Ext::Semi if space => Ext::Semi,
            Ext::Semi | Ext::Name if is_tchar(b) => Ext::Name,
            Ext::Name | Ext::NameGap if space => Ext::NameGap,
            Ext::Name | Ext::NameGap if b == b'=' => Ext::Equals,
            Ext::Equals if space => Ext::Equals,
            Ext::Equals if b == b'"' => Ext::Quoted,
            Ext::Equals | Ext::Token if is_tchar(b) => Ext::Token,
            Ext::Quoted if b == b'"' => Ext::QuoteEnd,
            Ext::Quoted if b == b'\\' => Ext::QuotedPair,
            Ext::Quoted | Ext::QuotedPair if is_field_value_byte(b) => Ext::Quoted,
            _ => return Err(bad("invalid chunk extension")),
        };
    }
    Ok((size, state))
}

/// The data of each chunk of a chunked body that was found complete; lenient, never panics.
fn chunk_data(wire: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut rest = wire;
    std::iter::from_fn(move || {
        let line_len = rest.windows(2).position(|pair| pair == b"\r\n")?;
        let size = rest
            .iter()
            .take(line_len.min(MAX_CHUNK_SIZE_DIGITS))
            .map_while(|&b| char::from(b).to_digit(16))
            .fold(0u64, |size, digit| {
                size.saturating_mul(16).saturating_add(u64::from(digit))
            });
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size == 0 {
            return None;
        }
        let after_line = rest.get(line_len + 2..).unwrap_or(&[]);
        let data = after_line.get(..size).unwrap_or(after_line);
        rest = after_line.get(size.saturating_add(2)..).unwrap_or(&[]);
        Some(data)
    })
}

// ---------------------------------------------------------------------------------------------
// Byte classes (RFC 9110 §5.6.2, §5.5; RFC 3986 §3.2.2)
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
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    fn limits() -> Limits {
        Limits {
            max_request_line: 8 * 1024,
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 64 * 1024 * 1024,
        }
    }

    /// What `parse` should answer for one table row.
    #[derive(Debug, Clone)]
    enum Want {
        /// The whole input is one request.
        Whole,
        /// The first `n` bytes are one request (more follow).
        Used(usize),
        /// Any 400.
        Bad,
        /// Exactly this error.
        Fails(ParseError),
        /// A valid prefix.
        Partial,
    }

    const BODY_TOO_LARGE: &[u8] = b"POST / HTTP/1.1\r\nContent-Length: 67108865\r\n\r\n";

    #[rustfmt::skip]
    const CASES: &[(&str, &[u8], Want)] = &[
        // Accepted.
        ("simple get", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Want::Whole),
        ("http/1.0 without host", b"GET /x HTTP/1.0\r\n\r\n", Want::Whole),
        ("no header fields", b"GET / HTTP/1.1\r\n\r\n", Want::Whole),
        ("one leading empty line", b"\r\nGET / HTTP/1.1\r\n\r\n", Want::Whole),
        ("four leading empty lines", b"\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", Want::Whole),
        ("pipelined: one request only", b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", Want::Used(19)),
        ("pipelined after a body", b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n\r\n", Want::Used(40)),
        ("post with content-length", b"POST /SET/k HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", Want::Whole),
        ("head with content-length reads its body", b"HEAD / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", Want::Whole),
        ("content-length zero", b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n", Want::Whole),
        ("content-length leading zeros", b"POST / HTTP/1.1\r\nContent-Length: 002\r\n\r\nab", Want::Whole),
        ("content-length with ows", b"POST / HTTP/1.1\r\nContent-Length: \t2 \r\n\r\nab", Want::Whole),
        ("chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", Want::Whole),
        ("chunked upper-case coding and hex", b"POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\nA\r\n0123456789\r\n000\r\n\r\n", Want::Whole),
        ("chunked with extensions", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b ; c\r\nabc\r\n1 ;q=\"x \\\" y\"\r\nd\r\n0;last\r\n\r\n", Want::Whole),
        ("chunked with trailers", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-Sum: 1\r\nX-Other:\r\n\r\n", Want::Whole),
        ("chunked no data", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Want::Whole),
        ("absolute-form", b"GET http://example.com:8080/a?b HTTP/1.1\r\n\r\n", Want::Whole),
        ("absolute-form https upper-case scheme", b"GET HTTPS://example.com HTTP/1.1\r\n\r\n", Want::Whole),
        ("options asterisk", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Want::Whole),
        ("extension method", b"PATCH /k HTTP/1.1\r\n\r\n", Want::Whole),
        ("lower-case method is a token", b"get / HTTP/1.1\r\n\r\n", Want::Whole),
        ("obs-text in value", b"GET / HTTP/1.1\r\nX: caf\xc3\xa9 \xff\r\n\r\n", Want::Whole),
        ("tabs in value", b"GET / HTTP/1.1\r\nX:\ta\tb\t\r\n\r\n", Want::Whole),
        ("empty value", b"GET / HTTP/1.1\r\nX:\r\n\r\n", Want::Whole),
        ("tchar symbols in name", b"GET / HTTP/1.1\r\nX!#$%&'*+-.^_`|~1: v\r\n\r\n", Want::Whole),
        ("odd but legal target bytes", b"GET /a%20b/?x=[1]&y=\"z\"#f HTTP/1.1\r\n\r\n", Want::Whole),
        ("expect 100-continue", b"PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx", Want::Whole),
        ("host with port and ip literal", b"GET / HTTP/1.1\r\nHost: [::1]:6379\r\n\r\n", Want::Whole),
        ("empty host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Want::Whole),
        ("several connection headers", b"GET / HTTP/1.1\r\nConnection: a\r\nConnection: b, close\r\n\r\n", Want::Whole),
        // Request line.
        ("tls client hello", b"\x16\x03\x01\x02\x00\x01", Want::Bad),
        ("nul in method", b"GET\0", Want::Bad),
        ("empty method", b" / HTTP/1.1\r\n\r\n", Want::Bad),
        ("lower-case version", b"GET / http/1.1\r\n\r\n", Want::Bad),
        ("three version digits", b"GET / HTTP/1.10\r\n\r\n", Want::Bad),
        ("version without minor", b"GET / HTTP/1\r\n\r\n", Want::Bad),
        ("http/2.0", b"GET / HTTP/2.0\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
        ("http/1.2", b"GET / HTTP/1.2\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
        ("http/0.9", b"GET / HTTP/0.9\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
        ("http/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Want::Fails(ParseError::UnsupportedVersion)),
        ("http/0.9 style request", b"GET /\r\n\r\n", Want::Bad),
        ("method alone", b"GET\r\n\r\n", Want::Bad),
        ("double space", b"GET  / HTTP/1.1\r\n\r\n", Want::Bad),
        ("space after version", b"GET / HTTP/1.1 \r\n\r\n", Want::Bad),
        ("tab as separator", b"GET\t/ HTTP/1.1\r\n\r\n", Want::Bad),
        ("space inside target", b"GET /a b HTTP/1.1\r\n\r\n", Want::Bad),
        ("del in target", b"GET /a\x7f HTTP/1.1\r\n\r\n", Want::Bad),
        ("nul in target", b"GET /\0 HTTP/1.1\r\n\r\n", Want::Bad),
        ("relative target", b"GET foo HTTP/1.1\r\n\r\n", Want::Bad),
        ("asterisk with get", b"GET * HTTP/1.1\r\n\r\n", Want::Bad),
        ("asterisk followed by more", b"OPTIONS *x HTTP/1.1\r\n\r\n", Want::Bad),
        ("other scheme", b"GET ftp://h/ HTTP/1.1\r\n\r\n", Want::Bad),
        ("absolute-form without host", b"GET http:///a HTTP/1.1\r\n\r\n", Want::Bad),
        ("absolute-form with userinfo", b"GET http://u@h/ HTTP/1.1\r\n\r\n", Want::Bad),
        ("authority-form", b"CONNECT h:443 HTTP/1.1\r\n\r\n", Want::Bad),
        ("five leading empty lines", b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\r\n", Want::Bad),
        // Line ends.
        ("bare lf after request line", b"GET / HTTP/1.1\n\r\n", Want::Bad),
        ("bare lf ending the head", b"GET / HTTP/1.1\r\nX: 1\r\n\n", Want::Bad),
        ("bare lf after a field", b"GET / HTTP/1.1\r\nX: 1\nY: 2\r\n\r\n", Want::Bad),
        ("bare cr in a field", b"GET / HTTP/1.1\r\nX: 1\r2\r\n\r\n", Want::Bad),
        ("bare cr in request line", b"GET /\r HTTP/1.1\r\n\r\n", Want::Bad),
        ("leading bare lf", b"\nGET / HTTP/1.1\r\n\r\n", Want::Bad),
        // Field lines.
        ("obs-fold", b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", Want::Bad),
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Want::Bad),
        ("no colon", b"GET / HTTP/1.1\r\nHost\r\n\r\n", Want::Bad),
        ("empty name", b"GET / HTTP/1.1\r\n: a\r\n\r\n", Want::Bad),
        ("non-token name", b"GET / HTTP/1.1\r\nX(y): a\r\n\r\n", Want::Bad),
        ("nul in value", b"GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", Want::Bad),
        ("vertical tab in value", b"GET / HTTP/1.1\r\nX: a\x0bb\r\n\r\n", Want::Bad),
        ("del in value", b"GET / HTTP/1.1\r\nX: a\x7f\r\n\r\n", Want::Bad),
        // Framing.
        ("content-length and transfer-encoding", b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Bad),
        ("two equal content-lengths", b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx", Want::Bad),
        ("content-length list", b"POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\nx", Want::Bad),
        ("content-length with sign", b"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\nx", Want::Bad),
        ("content-length in hex", b"POST / HTTP/1.1\r\nContent-Length: 0x1\r\n\r\nx", Want::Bad),
        ("content-length with inner space", b"POST / HTTP/1.1\r\nContent-Length: 1 0\r\n\r\nx", Want::Bad),
        ("empty content-length", b"POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", Want::Bad),
        ("content-length overflows", b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", Want::Bad),
        ("content-length over the limit", BODY_TOO_LARGE, Want::Fails(ParseError::BodyTooLarge)),
        ("gzip then chunked", b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", Want::Fails(ParseError::UnsupportedTransferEncoding)),
        ("chunked with parameter", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;a=\"b\"\r\n\r\n0\r\n\r\n", Want::Fails(ParseError::UnsupportedTransferEncoding)),
        ("identity alone", b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n", Want::Bad),
        ("chunked not last", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Want::Bad),
        ("chunked twice", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Want::Bad),
        ("transfer-encoding trailing comma", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked,\r\n\r\n", Want::Bad),
        ("transfer-encoding empty", b"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n", Want::Bad),
        ("transfer-encoding lookalike", b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", Want::Bad),
        ("transfer-encoding bad parameter", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked;a\r\n\r\n", Want::Bad),
        ("two transfer-encoding headers", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Bad),
        ("transfer-encoding in http/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", Want::Bad),
        // Host and Expect.
        ("two hosts", b"GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", Want::Bad),
        ("host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Want::Bad),
        ("host with slash", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Want::Bad),
        ("host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Want::Bad),
        ("unknown expectation", b"PUT / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", Want::Fails(ParseError::ExpectationFailed)),
        // Chunked body.
        ("chunk size not hex", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\ng\r\n", Want::Bad),
        ("chunk size 0x", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", Want::Bad),
        ("chunk size with sign", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", Want::Bad),
        ("chunk size after space", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 1\r\nx\r\n0\r\n\r\n", Want::Bad),
        ("chunk size with trailing space", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1 \r\nx\r\n0\r\n\r\n", Want::Bad),
        ("empty chunk size line", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", Want::Bad),
        ("chunk size of 17 digits", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n00000000000000001\r\nx\r\n0\r\n\r\n", Want::Bad),
        ("chunk size over the limit", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n", Want::Fails(ParseError::BodyTooLarge)),
        ("chunk extension without name", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;=x\r\nx\r\n0\r\n\r\n", Want::Bad),
        ("chunk extension open quote", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;a=\"x\r\nx\r\n0\r\n\r\n", Want::Bad),
        ("chunk data too long", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n0\r\n\r\n", Want::Bad),
        ("chunk data then bare lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\n0\r\n\r\n", Want::Bad),
        ("chunk size then bare lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", Want::Bad),
        ("trailer without colon", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX\r\n\r\n", Want::Bad),
        ("trailer obs-fold", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n", Want::Bad),
        ("last chunk then bare lf", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", Want::Bad),
        // Partial.
        ("nothing yet", b"", Want::Partial),
        ("only an empty line", b"\r\n", Want::Partial),
        ("head not finished", b"GET / HTTP/1.1\r\n", Want::Partial),
        ("cr at the end", b"GET / HTTP/1.1\r", Want::Partial),
        ("body not finished", b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhell", Want::Partial),
        ("chunk data not finished", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe", Want::Partial),
        ("trailers not finished", b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", Want::Partial),
    ];

    #[test]
    fn parse_table() {
        for (name, raw, want) in CASES {
            let got = parse(raw, &limits());
            let ok = match (want, &got) {
                (Want::Whole, Ok(Status::Complete((_, used)))) => *used == raw.len(),
                (Want::Used(n), Ok(Status::Complete((_, used)))) => used == n,
                (Want::Bad, Err(ParseError::BadRequest(_))) => true,
                (Want::Fails(error), Err(got)) => error == got,
                (Want::Partial, Ok(Status::Partial)) => true,
                _ => false,
            };
            assert!(ok, "{name}: want {want:?}, got {got:?}");
        }
    }

    /// The rows that hold a valid request, with the number of bytes it uses.
    fn valid_cases() -> impl Iterator<Item = (&'static str, &'static [u8], usize)> {
        CASES.iter().filter_map(|(name, raw, want)| match want {
            Want::Whole => Some((*name, *raw, raw.len())),
            Want::Used(n) => Some((*name, *raw, *n)),
            _ => None,
        })
    }

    #[test]
    fn every_prefix_of_a_valid_request_is_partial() {
        for (name, raw, used) in valid_cases() {
            let Ok(Status::Complete((_, head_len))) = parse_head(raw, &limits()) else {
                panic!("{name}: head not parsed");
            };
            for cut in 0..used {
                assert_eq!(
                    parse(&raw[..cut], &limits()),
                    Ok(Status::Partial),
                    "{name} cut {cut}"
                );
                if cut < head_len {
                    assert_eq!(
                        parse_head(&raw[..cut], &limits()),
                        Ok(Status::Partial),
                        "{name} cut {cut}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_growing_buffer_resumes_the_body_scan() {
        for (name, raw, used) in valid_cases() {
            let Ok(Status::Complete((head, head_len))) = parse_head(raw, &limits()) else {
                panic!("{name}: head not parsed");
            };
            let body = &raw[head_len..used];
            let mut scan = BodyScan::default();
            for cut in 0..body.len() {
                let got = scan_body(&body[..cut], head.framing, &mut scan, &limits());
                assert_eq!(got, Ok(Status::Partial), "{name} cut {cut}");
            }
            let got = scan_body(body, head.framing, &mut scan, &limits());
            assert_eq!(got, Ok(Status::Complete(body.len())), "{name}");
        }
    }

    fn head_of(raw: &[u8]) -> Head {
        match parse_head(raw, &limits()) {
            Ok(Status::Complete((head, _))) => head,
            other => panic!("{:?}: {other:?}", String::from_utf8_lossy(raw)),
        }
    }

    #[test]
    fn accepted_heads_carry_method_target_version_and_framing() {
        type Case = (&'static [u8], Method, &'static [u8], Version, Framing);
        let cases: Vec<Case> = vec![
            (
                b"GET /a?b HTTP/1.1\r\n\r\n",
                Method::Get,
                b"/a?b",
                Version::Http11,
                Framing::None,
            ),
            (
                b"HEAD / HTTP/1.0\r\n\r\n",
                Method::Head,
                b"/",
                Version::Http10,
                Framing::None,
            ),
            (
                b"POST /p HTTP/1.1\r\ncontent-length: 12\r\n\r\n",
                Method::Post,
                b"/p",
                Version::Http11,
                Framing::Length(12),
            ),
            (
                b"PUT /p HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n",
                Method::Put,
                b"/p",
                Version::Http11,
                Framing::Chunked,
            ),
            (
                b"DELETE /k HTTP/1.1\r\n\r\n",
                Method::Delete,
                b"/k",
                Version::Http11,
                Framing::None,
            ),
            (
                b"OPTIONS * HTTP/1.1\r\n\r\n",
                Method::Options,
                b"*",
                Version::Http11,
                Framing::None,
            ),
            (
                b"PATCH /x HTTP/1.1\r\n\r\n",
                Method::Other("PATCH".into()),
                b"/x",
                Version::Http11,
                Framing::None,
            ),
            (
                b"get /x HTTP/1.1\r\n\r\n",
                Method::Other("get".into()),
                b"/x",
                Version::Http11,
                Framing::None,
            ),
        ];
        for (raw, method, target, version, framing) in cases {
            let head = head_of(raw);
            assert_eq!(
                (
                    &head.method,
                    head.target.as_slice(),
                    head.version,
                    head.framing
                ),
                (&method, target, version, framing)
            );
        }
    }

    #[test]
    fn absolute_form_is_reduced_to_origin_form() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"http://h/a/b?c=d", b"/a/b?c=d"),
            (b"http://h", b"/"),
            (b"http://h:80", b"/"),
            (b"http://h?x=1", b"/?x=1"),
            (b"HtTpS://h.example:443/", b"/"),
            (b"http://[::1]:6379/k", b"/k"),
        ];
        for (target, want) in cases {
            let raw = [b"GET ", *target, b" HTTP/1.1\r\n\r\n"].concat();
            assert_eq!(
                head_of(&raw).target,
                *want,
                "{:?}",
                String::from_utf8_lossy(target)
            );
        }
    }

    #[test]
    fn keep_alive_follows_version_and_connection_tokens() {
        let cases: &[(&str, &str, bool)] = &[
            ("1.1", "", true),
            ("1.1", "Connection: close\r\n", false),
            ("1.1", "Connection: CLOSE\r\n", false),
            ("1.1", "Connection: keep-alive\r\n", true),
            ("1.1", "Connection: upgrade, close\r\n", false),
            ("1.1", "Connection: upgrade\r\nConnection:close \r\n", false),
            ("1.1", "Connection: closed\r\n", true),
            ("1.0", "", false),
            ("1.0", "Connection: keep-alive\r\n", true),
            ("1.0", "Connection: Keep-Alive\r\n", true),
            ("1.0", "Connection: te,\tkeep-alive\r\n", true),
            ("1.0", "Connection: keep-alive, close\r\n", false),
            ("1.0", "Connection: x\r\nConnection: keep-alive\r\n", true),
        ];
        for (version, fields, want) in cases {
            let raw = format!("GET / HTTP/{version}\r\n{fields}\r\n");
            assert_eq!(head_of(raw.as_bytes()).keep_alive, *want, "{raw:?}");
        }
    }

    #[test]
    fn expect_continue_is_honoured_only_in_http_1_1() {
        let head = head_of(b"PUT / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(head.expect_continue);
        let head = head_of(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n");
        assert!(!head.expect_continue);
        assert!(!head_of(b"PUT / HTTP/1.1\r\n\r\n").expect_continue);
    }

    #[test]
    fn header_values_lose_surrounding_whitespace_and_names_keep_their_case() {
        let head = head_of(b"GET / HTTP/1.1\r\nX-Key: \t a b \t\r\nempty:\r\n\r\n");
        assert_eq!(
            head.headers[0],
            Header {
                name: b"X-Key".to_vec(),
                value: b"a b".to_vec()
            }
        );
        assert_eq!(head.header("x-key"), Some(&b"a b"[..]));
        assert_eq!(head.header("EMPTY"), Some(&b""[..]));
    }

    #[test]
    fn bodies_are_decoded() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", b"hello"),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\nA\r\n0123456789\r\n0\r\nT: 1\r\n\r\n", b"abc0123456789"),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n\r\n\r\n0\r\n\r\n", b"\r\n"),
            (b"GET / HTTP/1.1\r\n\r\n", b""),
        ];
        for (raw, want) in cases {
            let Ok(Status::Complete((request, used))) = parse(raw, &limits()) else {
                panic!("{:?}", String::from_utf8_lossy(raw));
            };
            assert_eq!(used, raw.len());
            assert_eq!(request.body, *want);
        }
    }

    #[test]
    fn decode_body_never_panics_on_misuse() {
        let inputs: &[&[u8]] = &[
            b"",
            b"5\r\nab",
            b"ffffffffffffffffff\r\nx",
            b"zz\r\n",
            b"\r\n\r\n",
            b"1\r\nx",
        ];
        for input in inputs {
            let _ = decode_body(input, Framing::Chunked);
            assert!(decode_body(input, Framing::Length(1000)).len() <= input.len());
            assert!(decode_body(input, Framing::None).is_empty());
        }
        assert_eq!(decode_body(b"3\r\nabc", Framing::Chunked), b"abc");
    }

    #[test]
    fn errors_display_as_lowercase_phrases() {
        let errors = [
            ParseError::BadRequest("bare lf"),
            ParseError::RequestLineTooLong,
            ParseError::HeadTooLarge,
            ParseError::TooManyHeaders,
            ParseError::BodyTooLarge,
            ParseError::UnsupportedVersion,
            ParseError::UnsupportedTransferEncoding,
            ParseError::ExpectationFailed,
        ];
        for error in errors {
            let text = error.to_string();
            assert_eq!(text, text.to_lowercase());
            assert!(!text.is_empty());
        }
        assert_eq!(
            ParseError::BadRequest("bare lf").to_string(),
            "bad request: bare lf"
        );
    }

    // -----------------------------------------------------------------------------------------
    // Limits: N is accepted, N + 1 is refused, and a buffer already past N fails without waiting.
    // -----------------------------------------------------------------------------------------

    /// A chunked body scanned from the start, with a fresh [`BodyScan`].
    fn scan_chunked(body: &[u8], limits: &Limits) -> Result<Status<usize>, ParseError> {
        scan_body(body, Framing::Chunked, &mut BodyScan::default(), limits)
    }

    fn small_limits() -> Limits {
        Limits {
            max_request_line: 30,
            max_head_bytes: 100,
            max_headers: 3,
            max_body_bytes: 10,
        }
    }

    #[test]
    fn request_line_limit_at_n_and_n_plus_one() {
        let l = small_limits();
        // "GET /" + path + " HTTP/1.1" = 14 + path bytes.
        let line = |len: usize| format!("GET /{} HTTP/1.1", "a".repeat(len - 14));
        let at_limit = format!("{}\r\n\r\n", line(30));
        assert_eq!(line(30).len(), 30);
        assert!(matches!(
            parse_head(at_limit.as_bytes(), &l),
            Ok(Status::Complete(_))
        ));
        let over = format!("{}\r\n\r\n", line(31));
        assert_eq!(
            parse_head(over.as_bytes(), &l),
            Err(ParseError::RequestLineTooLong)
        );
        // Without waiting for the CRLF:
        assert_eq!(parse_head(&over.as_bytes()[..30], &l), Ok(Status::Partial));
        assert_eq!(
            parse_head(&over.as_bytes()[..31], &l),
            Err(ParseError::RequestLineTooLong)
        );
        // A CR right at the limit is the end of an acceptable line, not an excess byte.
        assert_eq!(
            parse_head(&at_limit.as_bytes()[..31], &l),
            Ok(Status::Partial)
        );
    }

    #[test]
    fn head_size_limit_at_n_and_n_plus_one() {
        let l = small_limits();
        // "GET / HTTP/1.1\r\n" (16) + "X: " (3) + value + "\r\n\r\n" (4) = 23 + value bytes.
        let head = |len: usize| format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "v".repeat(len - 23));
        assert_eq!(head(100).len(), 100);
        assert!(matches!(
            parse_head(head(100).as_bytes(), &l),
            Ok(Status::Complete((_, 100)))
        ));
        assert_eq!(
            parse_head(head(101).as_bytes(), &l),
            Err(ParseError::HeadTooLarge)
        );
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "v".repeat(200));
        assert_eq!(
            parse_head(&endless.as_bytes()[..100], &l),
            Ok(Status::Partial)
        );
        assert_eq!(
            parse_head(&endless.as_bytes()[..101], &l),
            Err(ParseError::HeadTooLarge)
        );
        // Leading empty lines count as head bytes.
        let padded = format!("\r\n{}", head(99));
        assert_eq!(
            parse_head(padded.as_bytes(), &l),
            Err(ParseError::HeadTooLarge)
        );
    }

    #[test]
    fn header_count_limit_at_n_and_n_plus_one() {
        let l = small_limits();
        let head = |fields: usize| format!("GET / HTTP/1.1\r\n{}\r\n", "A: 1\r\n".repeat(fields));
        assert!(matches!(
            parse_head(head(3).as_bytes(), &l),
            Ok(Status::Complete(_))
        ));
        assert_eq!(
            parse_head(head(4).as_bytes(), &l),
            Err(ParseError::TooManyHeaders)
        );
        // The first byte of a fourth field is enough.
        let started = format!("GET / HTTP/1.1\r\n{}B", "A: 1\r\n".repeat(3));
        assert_eq!(
            parse_head(started.as_bytes(), &l),
            Err(ParseError::TooManyHeaders)
        );
    }

    #[test]
    fn content_length_limit_at_n_and_n_plus_one_is_decided_from_the_head() {
        let l = small_limits();
        let at_limit = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789";
        assert!(matches!(parse(at_limit, &l), Ok(Status::Complete((_, 49)))));
        let over = b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
        assert_eq!(parse_head(over, &l), Err(ParseError::BodyTooLarge));
        let mut scan = BodyScan::default();
        assert_eq!(
            scan_body(b"", Framing::Length(11), &mut scan, &l),
            Err(ParseError::BodyTooLarge)
        );
    }

    #[test]
    fn chunked_body_limit_at_n_and_n_plus_one_is_decided_before_the_data() {
        let l = small_limits();
        let mut scan = BodyScan::default();
        let at_limit = b"4\r\n0123\r\n6\r\n456789\r\n0\r\n\r\n";
        let got = scan_body(at_limit, Framing::Chunked, &mut scan, &l);
        assert_eq!(got, Ok(Status::Complete(at_limit.len())));
        let over = b"4\r\n0123\r\n7\r\n";
        let got = scan_body(over, Framing::Chunked, &mut BodyScan::default(), &l);
        assert_eq!(got, Err(ParseError::BodyTooLarge));
        let huge = b"ffffffffffffffff\r\n";
        let got = scan_body(huge, Framing::Chunked, &mut BodyScan::default(), &limits());
        assert_eq!(got, Err(ParseError::BodyTooLarge));
    }

    #[test]
    fn chunk_line_limit_at_n_and_n_plus_one() {
        let l = limits();
        let line = |len: usize| format!("1;{}", "e".repeat(len - 2));
        let at_limit = format!("{}\r\nx\r\n0\r\n\r\n", line(MAX_CHUNK_LINE_BYTES));
        let got = scan_chunked(at_limit.as_bytes(), &l);
        assert_eq!(got, Ok(Status::Complete(at_limit.len())));
        let over = format!("{}\r\nx\r\n0\r\n\r\n", line(MAX_CHUNK_LINE_BYTES + 1));
        let got = scan_chunked(over.as_bytes(), &l);
        assert!(matches!(got, Err(ParseError::BadRequest(_))), "{got:?}");
        // Without waiting for the CRLF:
        let cut = &over.as_bytes()[..MAX_CHUNK_LINE_BYTES + 1];
        let got = scan_body(cut, Framing::Chunked, &mut BodyScan::default(), &l);
        assert!(matches!(got, Err(ParseError::BadRequest(_))), "{got:?}");
        let cut = &over.as_bytes()[..MAX_CHUNK_LINE_BYTES];
        let got = scan_body(cut, Framing::Chunked, &mut BodyScan::default(), &l);
        assert_eq!(got, Ok(Status::Partial));
    }

    #[test]
    fn chunk_size_digit_limit_at_n_and_n_plus_one() {
        let sixteen = b"000000000000000a\r\n0123456789\r\n0\r\n\r\n";
        let got = scan_body(
            sixteen,
            Framing::Chunked,
            &mut BodyScan::default(),
            &limits(),
        );
        assert_eq!(got, Ok(Status::Complete(sixteen.len())));
        let seventeen = b"0000000000000000a";
        let got = scan_body(
            seventeen,
            Framing::Chunked,
            &mut BodyScan::default(),
            &limits(),
        );
        assert!(matches!(got, Err(ParseError::BadRequest(_))), "{got:?}");
    }

    #[test]
    fn trailer_limits_at_n_and_n_plus_one() {
        let l = small_limits();
        let body = |fields: usize| format!("0\r\n{}\r\n", "T: 1\r\n".repeat(fields));
        let ok = body(3);
        let got = scan_chunked(ok.as_bytes(), &l);
        assert_eq!(got, Ok(Status::Complete(ok.len())));
        let got = scan_chunked(body(4).as_bytes(), &l);
        assert_eq!(got, Err(ParseError::TooManyHeaders));
        // Trailer section bytes: "T: " + value + "\r\n" + "\r\n" = 7 + value bytes, after "0\r\n".
        let trailers = |len: usize| format!("0\r\nT: {}\r\n\r\n", "v".repeat(len - 7));
        let ok = trailers(100);
        let got = scan_chunked(ok.as_bytes(), &l);
        assert_eq!(got, Ok(Status::Complete(ok.len())));
        let got = scan_chunked(trailers(101).as_bytes(), &l);
        assert_eq!(got, Err(ParseError::HeadTooLarge));
    }

    #[test]
    fn body_scan_resumes_where_complete_chunks_end() {
        // 1000 one-byte chunks, then a chunk whose data has not arrived.
        let mut wire = b"1\r\nx\r\n".repeat(1000);
        wire.extend_from_slice(b"1\r\n");
        let mut scan = BodyScan::default();
        let got = scan_body(&wire, Framing::Chunked, &mut scan, &limits());
        assert_eq!(got, Ok(Status::Partial));
        assert_eq!(
            (scan.pos, scan.total),
            (6000, 1000),
            "complete chunks are not scanned again"
        );
        wire.extend_from_slice(b"x\r\n0\r\n\r\n");
        let got = scan_body(&wire, Framing::Chunked, &mut scan, &limits());
        assert_eq!(got, Ok(Status::Complete(wire.len())));
        assert_eq!(decode_body(&wire, Framing::Chunked), vec![b'x'; 1001]);
    }

    #[test]
    fn many_small_chunks_arriving_in_small_reads_scan_in_linear_time() {
        // 64 KiB of one-byte chunks in 1 KiB reads: a rescan from the start on each read would
        // cost about 200 MB of scanning here; resuming costs each byte once (plus one line).
        let mut wire = b"1\r\nx\r\n".repeat(64 * 1024);
        wire.extend_from_slice(b"0\r\n\r\n");
        let mut scan = BodyScan::default();
        let mut got = Ok(Status::Partial);
        for end in (1024..wire.len()).step_by(1024).chain([wire.len()]) {
            got = scan_body(&wire[..end], Framing::Chunked, &mut scan, &limits());
            if got != Ok(Status::Partial) {
                break;
            }
        }
        assert_eq!(got, Ok(Status::Complete(wire.len())));
    }

    // -----------------------------------------------------------------------------------------
    // Properties with the shared PRNG: replay a failure with GATEWAY_SEED=<seed>.
    // -----------------------------------------------------------------------------------------

    fn pick<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
        items[rng.below(items.len())]
    }

    fn random_text(rng: &mut Rng, alphabet: &[u8], max_len: usize) -> Vec<u8> {
        let len = rng.below(max_len + 1);
        (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    }

    /// A random valid request: its bytes and the request `parse` must give for them.
    fn random_request(rng: &mut Rng) -> (Vec<u8>, Method, Vec<u8>, Vec<u8>) {
        let method = pick(
            rng,
            &["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"],
        );
        let http10 = rng.one_in(5);
        let mut target = b"/".to_vec();
        target.extend(random_text(rng, b"abcXYZ019-._~%!$&'()*+,;=:@/?", 16));
        if method == "OPTIONS" && rng.one_in(3) {
            target = b"*".to_vec();
        }
        let mut wire = Vec::new();
        wire.extend_from_slice(method.as_bytes());
        wire.push(b' ');
        let absolute = rng.one_in(8) && target != b"*";
        if absolute {
            wire.extend_from_slice(b"http://example.com:8080");
        }
        wire.extend_from_slice(&target);
        wire.extend_from_slice(if http10 {
            b" HTTP/1.0\r\n"
        } else {
            b" HTTP/1.1\r\n"
        });
        if !rng.one_in(5) {
            wire.extend_from_slice(b"Host: localhost:8080\r\n");
        }
        for _ in 0..rng.below(4) {
            wire.extend_from_slice(pick(rng, &["X-A", "accept", "User-Agent", "x_b!"]).as_bytes());
            wire.extend_from_slice(pick(rng, &[":", ": ", ":\t ", ":  "]).as_bytes());
            wire.extend(random_text(rng, b"abc =;,\"\\/\t\x80\xff~!", 12));
            wire.extend_from_slice(pick(rng, &["", " ", "\t"]).as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        if rng.one_in(4) {
            let connection = pick(rng, &["close", "keep-alive", "Upgrade, close", "x"]);
            wire.extend_from_slice(format!("Connection: {connection}\r\n").as_bytes());
        }
        let body_len = rng.below(40);
        let body = rng.bytes(body_len);
        match rng.below(3) {
            0 if body.is_empty() || rng.one_in(2) => {
                wire.extend_from_slice(b"\r\n");
                return (
                    wire,
                    Method::from_token(method.as_bytes()),
                    target,
                    Vec::new(),
                );
            }
            1 if !http10 => {
                wire.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = body.as_slice();
                while !rest.is_empty() {
                    let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
                    let size = if rng.one_in(2) {
                        format!("{:x}", chunk.len())
                    } else {
                        format!("{:X}", chunk.len())
                    };
                    let zeros = "0".repeat(rng.below(2));
                    let ext = pick(rng, &["", ";a", ";a=b", " ; a = \"x;\\\" y\"", ";a;b=c"]);
                    wire.extend_from_slice(format!("{zeros}{size}{ext}\r\n").as_bytes());
                    wire.extend_from_slice(chunk);
                    wire.extend_from_slice(b"\r\n");
                    rest = tail;
                }
                wire.extend_from_slice(pick(rng, &["0\r\n", "000;end\r\n"]).as_bytes());
                for _ in 0..rng.below(3) {
                    wire.extend_from_slice(b"X-Trailer: t\r\n");
                }
                wire.extend_from_slice(b"\r\n");
            }
            _ => {
                wire.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                wire.extend_from_slice(&body);
            }
        }
        (wire, Method::from_token(method.as_bytes()), target, body)
    }

    /// Parses a whole stream of pipelined requests, stopping at the first non-request.
    fn parse_all(stream: &[u8], limits: &Limits) -> (Vec<Request>, Result<Status<()>, ParseError>) {
        let mut requests = Vec::new();
        let mut pos = 0;
        loop {
            match parse(&stream[pos..], limits) {
                Ok(Status::Complete((request, used))) => {
                    requests.push(request);
                    pos += used;
                }
                Ok(Status::Partial) => return (requests, Ok(Status::Partial)),
                Err(error) => return (requests, Err(error)),
            }
        }
    }

    #[test]
    fn random_valid_requests_parse_to_what_was_sent() {
        let (mut rng, seed) = Rng::from_env(0x4854_5450);
        for _ in 0..Rng::iterations(2_000) {
            let (wire, method, target, body) = random_request(&mut rng);
            let text = String::from_utf8_lossy(&wire);
            let Ok(Status::Complete((request, used))) = parse(&wire, &limits()) else {
                panic!("seed {seed}: {text:?}: {:?}", parse(&wire, &limits()));
            };
            assert_eq!(used, wire.len(), "seed {seed}: {text:?}");
            assert_eq!(
                (request.head.method, request.head.target, request.body),
                (method, target, body),
                "seed {seed}: {text:?}"
            );
            let cut = rng.below(wire.len());
            assert_eq!(
                parse(&wire[..cut], &limits()),
                Ok(Status::Partial),
                "seed {seed} cut {cut}: {text:?}"
            );
        }
    }

    #[test]
    fn pipelined_stream_fed_in_random_pieces_gives_the_same_requests() {
        let (mut rng, seed) = Rng::from_env(0x5049_5045);
        let l = limits();
        for _ in 0..Rng::iterations(500) {
            let mut stream = Vec::new();
            let mut sent = Vec::new();
            for _ in 0..1 + rng.below(5) {
                let (wire, method, target, body) = random_request(&mut rng);
                stream.extend_from_slice(&wire);
                sent.push((method, target, body));
            }
            let (whole, rest) = parse_all(&stream, &l);
            assert_eq!(rest, Ok(Status::Partial), "seed {seed}");
            let got: Vec<_> = whole
                .iter()
                .map(|r| (r.head.method.clone(), r.head.target.clone(), r.body.clone()))
                .collect();
            assert_eq!(got, sent, "seed {seed}");

            // As a server does it: append what arrives, parse the head once, resume the body scan.
            let mut received = Vec::new();
            let mut start = 0;
            let mut head: Option<(Head, usize)> = None;
            let mut scan = BodyScan::default();
            let mut served = Vec::new();
            while received.len() < stream.len() {
                let end = (received.len() + 1 + rng.below(48)).min(stream.len());
                received.extend_from_slice(&stream[received.len()..end]);
                loop {
                    if head.is_none() {
                        match parse_head(&received[start..], &l) {
                            Ok(Status::Complete(found)) => head = Some(found),
                            Ok(Status::Partial) => break,
                            Err(error) => panic!("seed {seed}: {error}"),
                        }
                    }
                    let Some((found, head_len)) = &head else {
                        break;
                    };
                    let body_start = start + head_len;
                    match scan_body(&received[body_start..], found.framing, &mut scan, &l) {
                        Ok(Status::Complete(body_len)) => {
                            let wire = &received[body_start..body_start + body_len];
                            let body = decode_body(wire, found.framing);
                            served.push(Request {
                                head: found.clone(),
                                body,
                            });
                            start = body_start + body_len;
                            head = None;
                            scan = BodyScan::default();
                        }
                        Ok(Status::Partial) => break,
                        Err(error) => panic!("seed {seed}: {error}"),
                    }
                }
            }
            assert_eq!(served, whole, "seed {seed}");
        }
    }

    /// Changes `bytes` in one of the ways a broken or hostile client might.
    fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>) {
        let at = rng.below(bytes.len() + 1);
        let line_starts: Vec<usize> = std::iter::once(0)
            .chain(
                bytes
                    .windows(2)
                    .enumerate()
                    .filter(|(_, w)| w == b"\r\n")
                    .map(|(i, _)| i + 2),
            )
            .collect();
        let line = rng.below(line_starts.len());
        let (line_start, line_end) = (
            line_starts[line],
            *line_starts.get(line + 1).unwrap_or(&bytes.len()),
        );
        match rng.below(6) {
            0 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
            1 => bytes.insert(at, *b"\r\n\0: \t;\"0".get(rng.below(9)).unwrap_or(&b'x')),
            2 if at < bytes.len() => {
                bytes.remove(at);
            }
            3 => {
                let copy = bytes[line_start..line_end].to_vec();
                bytes.splice(line_start..line_start, copy);
            }
            4 => {
                bytes.drain(line_start..line_end);
            }
            _ => bytes.insert(at, b"0123456789abcdefABCDEF"[rng.below(22)]),
        }
    }

    /// Feeds growing prefixes of `bytes` to `f` in random steps: the first answer that is not
    /// `Partial` must be the answer on the whole buffer.
    fn assert_split_independent<T: PartialEq + fmt::Debug>(
        rng: &mut Rng,
        bytes: &[u8],
        what: &str,
        seed: u64,
        f: impl Fn(&[u8]) -> Result<Status<T>, ParseError>,
    ) {
        let whole = f(bytes);
        let mut end = 0;
        loop {
            end = (end + 1 + rng.below(24)).min(bytes.len());
            let got = f(&bytes[..end]);
            if got != Ok(Status::Partial) || end == bytes.len() {
                let text = String::from_utf8_lossy(bytes);
                assert_eq!(got, whole, "seed {seed}: {what} at {end} of {text:?}");
                return;
            }
        }
    }

    #[test]
    fn mutated_streams_never_panic_and_their_verdict_does_not_depend_on_the_split() {
        let (mut rng, seed) = Rng::from_env(0x4D55_5441);
        for _ in 0..Rng::iterations(2_000) {
            let mut stream = Vec::new();
            for _ in 0..1 + rng.below(2) {
                stream.extend(random_request(&mut rng).0);
            }
            for _ in 0..1 + rng.below(3) {
                mutate(&mut rng, &mut stream);
            }
            // Small random limits too, so that limit errors race with syntax errors.
            let l = if rng.one_in(2) {
                limits()
            } else {
                Limits {
                    max_request_line: 10 + rng.below(50),
                    max_head_bytes: 20 + rng.below(200),
                    max_headers: rng.below(6),
                    max_body_bytes: rng.below(60),
                }
            };
            assert_split_independent(&mut rng, &stream, "parse_head", seed, |b| parse_head(b, &l));
            assert_split_independent(&mut rng, &stream, "parse", seed, |b| parse(b, &l));
            if let Ok(Status::Complete((head, head_len))) = parse_head(&stream, &l) {
                // The resumable scan agrees with a fresh scan of the whole body.
                let body = &stream[head_len..];
                let fresh = scan_body(body, head.framing, &mut BodyScan::default(), &l);
                let mut scan = BodyScan::default();
                assert_split_independent(&mut rng, body, "scan_body", seed, |b| {
                    scan_body(b, head.framing, &mut scan.clone(), &l)
                });
                let mut end = 0;
                let resumed = loop {
                    end = (end + 1 + rng.below(24)).min(body.len());
                    let got = scan_body(&body[..end], head.framing, &mut scan, &l);
                    if got != Ok(Status::Partial) || end == body.len() {
                        break got;
                    }
                };
                assert_eq!(resumed, fresh, "seed {seed}");
                if let Ok(Status::Complete(n)) = fresh {
                    let _ = decode_body(&body[..n], head.framing);
                }
            }
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let (mut rng, seed) = Rng::from_env(0x5241_4E44);
        let alphabet = b"GET /HTTP1.0\r\n\r\n:;=\" \t\0\x7f\xffchunkedContent-LengthTransfer-Encoding0123456789abcdef";
        for _ in 0..Rng::iterations(2_000) {
            let bytes = if rng.one_in(2) {
                let len = rng.below(200);
                rng.bytes(len)
            } else {
                random_text(&mut rng, alphabet, 200)
            };
            let l = limits();
            let _ = parse(&bytes, &l);
            let _ = parse_head(&bytes, &l);
            for framing in [
                Framing::None,
                Framing::Length(rng.below(300)),
                Framing::Chunked,
            ] {
                let mut scan = BodyScan::default();
                if let Ok(Status::Complete(n)) = scan_body(&bytes, framing, &mut scan, &l) {
                    assert!(n <= bytes.len(), "seed {seed}");
                }
                let decoded = decode_body(&bytes, framing);
                assert!(decoded.len() <= bytes.len(), "seed {seed}");
            }
        }
    }
}
