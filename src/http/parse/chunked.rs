//! The body of a request sent with `Transfer-Encoding: chunked` (RFC 9112 §7.1): chunk-size
//! lines with their extensions, chunk data, the last chunk and the trailer section.
//!
//! [`scan_chunked`] checks a growing body and remembers in a [`BodyScan`] how far it got, so each
//! byte is checked once; [`chunk_data`] then reads the data of a body found complete.

use super::head::{field_line, FieldLine};
use super::{
    bad, is_field_value_byte, is_tchar, line_end, rest, split_line, BodyScan, Halt, Limits,
    ParseError, MAX_CHUNK_LINE_BYTES, MAX_CHUNK_SIZE_DIGITS,
};

/// Checks chunks from `scan.pos` on, remembering each complete one, then the trailer section.
pub(super) fn scan_chunked(
    buf: &[u8],
    scan: &mut BodyScan,
    limits: &Limits,
) -> Result<usize, Halt> {
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
pub(super) fn chunk_data(wire: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
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
