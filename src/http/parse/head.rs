//! The head of a request (RFC 9112 §2–§6): the request line and the header fields, from the
//! first byte to the blank line that ends them.
//!
//! Check, then build: [`scan_head`] checks every byte of the head, left to right, and finds its
//! end without allocating anything; only then does [`build_head`] copy it into a [`Head`] and
//! decide what the fields mean together (host, framing, expectation, persistence). The field-line
//! check is shared with the trailer section of a chunked body (`chunked.rs`).

use super::{
    bad, is_field_value_byte, is_host_byte, is_tchar, is_token, line_end, rest, split_line,
    strip_prefix_ignore_case, trim_ows, Halt, Limits, ParseError, MAX_LEADING_EMPTY_LINES,
};
use crate::http::request::{Framing, Head, Header, Method, Version};

/// Where the head is in the buffer: request line start (after empty lines) and end (after CRLFCRLF).
pub(super) struct HeadSpan {
    pub(super) line_start: usize,
    pub(super) end: usize,
}

/// A field line was checked: either a field, or the blank line that ends the section.
pub(super) enum FieldLine {
    Field { next: usize },
    Blank { next: usize },
}

/// Checks the head at the start of `buf` and finds its end.
pub(super) fn scan_head(buf: &[u8], limits: &Limits) -> Result<HeadSpan, Halt> {
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
pub(super) fn field_line(
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
pub(super) fn build_head(text: &[u8], limits: &Limits) -> Result<Head, ParseError> {
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
    check_authorization(&headers)?;
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

/// At most one `Authorization`: with two, which one a check reads and which one is believed could
/// differ (RFC 9110 §11.6.2 allows one credential per request).
fn check_authorization(headers: &[Header]) -> Result<(), ParseError> {
    if values(headers, "authorization").nth(1).is_some() {
        return Err(bad("more than one authorization header"));
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
