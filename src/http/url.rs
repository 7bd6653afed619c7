//! Percent-decoding (RFC 3986 §2.1) and `application/x-www-form-urlencoded` bodies (WHATWG URL
//! standard, "application/x-www-form-urlencoded parsing").
//!
//! Decoding produces arbitrary bytes: `%00` and `%FF` are fine, UTF-8 is not required, because
//! Redis keys and values are binary. What is refused is a malformed escape, never its result.
//! The output is never longer than the input, so nothing here can be made to allocate more than
//! the caller already holds.
//!
//! ```text
//! pct-encoded = "%" HEXDIG HEXDIG
//! form        = pair *( "&" pair )      ; empty segments ("a=1&&b=2", a trailing "&") are skipped
//! pair        = name "=" value          ; "+" means SP, %XX is decoded, in both name and value
//! ```

use std::borrow::Cow;
use std::fmt;

/// Why a URL component or a form body cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// A `%` not followed by exactly two hexadecimal digits.
    BadEscape,
    /// A form segment without `=`.
    MissingEquals,
    /// A form body with no pair at all.
    EmptyBody,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UrlError::BadEscape => "bad %-escape",
            UrlError::MissingEquals => "a form pair without '='",
            UrlError::EmptyBody => "empty form body",
        })
    }
}

impl std::error::Error for UrlError {}

/// What a `+` stands for in the text being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plus {
    /// `+` is a space, as in form bodies and query strings (WHATWG URL standard).
    Space,
    /// `+` is itself, as in a path (RFC 3986 gives it no special meaning).
    Literal,
}

/// Decodes `%XX` escapes (either case) in `input`; a `+` becomes a space with [`Plus::Space`]
/// and stays `+` with [`Plus::Literal`].
///
/// # Errors
///
/// [`UrlError::BadEscape`] when a `%` is not followed by two hexadecimal digits (`%`, `%4`, `%zz`).
///
/// # Examples
///
/// ```
/// use redis_gateway::http::url::{percent_decode, Plus};
/// assert_eq!(percent_decode(b"a%20b+c%ff", Plus::Space).unwrap(), b"a b c\xff");
/// assert_eq!(percent_decode(b"a+b", Plus::Literal).unwrap(), b"a+b");
/// ```
pub fn percent_decode(input: &[u8], plus: Plus) -> Result<Vec<u8>, UrlError> {
    let special = match plus {
        Plus::Space => &PLUS_SPECIAL,
        Plus::Literal => &PATH_SPECIAL,
    };
    // Neither table holds `&` or `=`, so the scan runs to the end of the input.
    decode_until(input, special).map(|(out, _)| out.into_owned())
}

/// Bytes a form scan stops at: escapes, `+`, and the separators `&` and `=`.
const FORM_SPECIAL: [bool; 256] = special_table(b"%+&=");
/// Bytes a scan with `+` as space stops at: escapes and `+`.
const PLUS_SPECIAL: [bool; 256] = special_table(b"%+");
/// Bytes a path scan stops at: escapes only.
const PATH_SPECIAL: [bool; 256] = special_table(b"%");

const fn special_table(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// Decodes `input` up to its first `&` or `=` (when `special` marks them), turning `%XX` into a
/// byte and (when `special` marks it) `+` into a space. Returns the decoded bytes and how many
/// input bytes were used; the separator that stopped it is not used.
///
/// Bytes without any escape (the common case) are borrowed from `input`, not copied. Otherwise
/// runs of ordinary bytes are copied whole (see [`ordinary_run`]): decoding byte by byte was 62 %
/// of a form POST's instructions (measured with callgrind), and copying every name and value
/// into a buffer reserved for the whole rest of the body another fifth, in `malloc` and `free`.
fn decode_until<'a>(
    input: &'a [u8],
    special: &[bool; 256],
) -> Result<(Cow<'a, [u8]>, usize), UrlError> {
    let first = ordinary_run(input, special);
    if let None | Some(b'&' | b'=') = input.get(first) {
        return Ok((Cow::Borrowed(input.get(..first).unwrap_or_default()), first));
    }
    // An escape or `+` follows: decode into a buffer of its own, which grows as runs are copied.
    let mut out = input.get(..first).unwrap_or_default().to_vec();
    let mut pos = first;
    loop {
        match input.get(pos) {
            None | Some(b'&' | b'=') => return Ok((Cow::Owned(out), pos)),
            Some(b'+') => {
                out.push(b' ');
                pos += 1;
            }
            Some(_) => {
                // `%`: exactly two hex digits follow.
                let high = input.get(pos + 1).copied().and_then(hex_value);
                let low = input.get(pos + 2).copied().and_then(hex_value);
                match (high, low) {
                    (Some(high), Some(low)) => out.push(high << 4 | low),
                    _ => return Err(UrlError::BadEscape),
                }
                pos += 3;
            }
        }
        let rest = input.get(pos..).unwrap_or_default();
        let run = ordinary_run(rest, special);
        out.extend_from_slice(rest.get(..run).unwrap_or_default());
        pos += run;
    }
}

/// How many bytes at the start of `input` `special` does not mark.
///
/// Blocks of 16 bytes holding none of the form's special bytes (`% + & =`, which include those
/// of every table) are skipped first: comparing a block with four constants compiles to a few
/// vector instructions, where the table lookup costs about six instructions per byte (callgrind:
/// half of a form POST's instructions). The block that holds one, and the tail, are looked up
/// byte by byte.
fn ordinary_run(input: &[u8], special: &[bool; 256]) -> usize {
    let clear = input
        .chunks_exact(16)
        .take_while(|block| !has_form_special(block))
        .count();
    let skipped = clear * 16;
    let rest = input.get(skipped..).unwrap_or_default();
    skipped
        + rest
            .iter()
            .position(|&b| special[usize::from(b)])
            .unwrap_or(rest.len())
}

/// Whether `block` holds a byte of [`FORM_SPECIAL`]. Written as an OR of comparisons over the
/// whole block, with no early exit, so that it compiles to vector compares (checked in the
/// assembly); a table lookup or a short-circuiting `any` stays byte by byte.
fn has_form_special(block: &[u8]) -> bool {
    let mut found = 0u8;
    for &b in block {
        found |=
            u8::from(b == b'%') | u8::from(b == b'+') | u8::from(b == b'&') | u8::from(b == b'=');
    }
    found != 0
}

/// Splits an `application/x-www-form-urlencoded` body into decoded `(name, value)` pairs, in
/// order, duplicates kept (the caller decides which one wins). A name or value without escapes
/// is borrowed from `body`; one with escapes is decoded into its own buffer. Empty segments, as in `a=1&&b=2`
/// or a trailing `&`, are skipped: browsers produce them and they carry no pair. An empty name
/// (`=v`) is kept; the caller decides whether it means anything.
///
/// # Errors
///
/// * [`UrlError::EmptyBody`] when the body holds no pair at all (`""`, `"&&"`).
/// * [`UrlError::MissingEquals`] when a non-empty segment has no `=` (`a=1&b`).
/// * [`UrlError::BadEscape`] when a name or value holds a malformed `%` escape.
///
/// # Examples
///
/// ```
/// use redis_gateway::http::url::parse_form;
/// use std::borrow::Cow;
/// let pairs = parse_form(b"key=a+b&value=%E2%82%AC").unwrap();
/// assert_eq!(pairs.len(), 2);
/// assert_eq!((&*pairs[0].0, &*pairs[0].1), (&b"key"[..], &b"a b"[..]));
/// assert_eq!((&*pairs[1].0, &*pairs[1].1), (&b"value"[..], "€".as_bytes()));
/// assert!(matches!(pairs[0].0, Cow::Borrowed(_)), "no escape: borrowed from the body");
/// ```
#[allow(clippy::type_complexity)] // plain pairs of bytes, as the callers expect
pub fn parse_form(body: &[u8]) -> Result<Vec<(Cow<'_, [u8]>, Cow<'_, [u8]>)>, UrlError> {
    let mut pairs = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        // One pass per pair: the name up to `=` (or `&`), the value up to `&`.
        let (name, used) = decode_until(rest, &FORM_SPECIAL)?;
        match rest.get(used) {
            Some(b'=') => {
                let after = rest.get(used + 1..).unwrap_or_default();
                let (value, n) = value_until_amp(after)?;
                pairs.push((name, value));
                rest = after.get(n..).unwrap_or_default();
            }
            // `&` right away (an empty segment) is skipped; a name without `=` is an error.
            Some(b'&') if used == 0 => rest = rest.get(1..).unwrap_or_default(),
            _ => return Err(UrlError::MissingEquals),
        }
        if let Some(after_amp) = rest.strip_prefix(b"&") {
            rest = after_amp;
        }
    }
    if pairs.is_empty() {
        return Err(UrlError::EmptyBody);
    }
    Ok(pairs)
}

/// A form value: decoded up to the next `&`; an `=` inside a value is an ordinary byte.
fn value_until_amp(input: &[u8]) -> Result<(Cow<'_, [u8]>, usize), UrlError> {
    let (first, mut used) = decode_until(input, &FORM_SPECIAL)?;
    if input.get(used) != Some(&b'=') {
        return Ok((first, used));
    }
    let mut value = first.into_owned();
    while input.get(used) == Some(&b'=') {
        value.push(b'=');
        let (more, n) = decode_until(input.get(used + 1..).unwrap_or_default(), &FORM_SPECIAL)?;
        value.extend_from_slice(&more);
        used += 1 + n;
    }
    Ok((Cow::Owned(value), used))
}

/// The value of one hexadecimal digit, either case.
fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn percent_decode_table() {
        type Case<'a> = (&'a [u8], Plus, Result<&'a [u8], UrlError>);
        let cases: &[Case<'_>] = &[
            (b"", Plus::Space, Ok(b"")),
            (b"plain", Plus::Space, Ok(b"plain")),
            (b"a+b", Plus::Space, Ok(b"a b")),
            (b"a+b", Plus::Literal, Ok(b"a+b")),
            (b"%2B", Plus::Space, Ok(b"+")),
            (b"%20%2f%2F", Plus::Literal, Ok(b" //")),
            (b"%00%ff%FF", Plus::Space, Ok(b"\x00\xff\xff")),
            (b"%C3%A9t%C3%A9", Plus::Space, Ok("été".as_bytes())),
            ("été".as_bytes(), Plus::Space, Ok("été".as_bytes())),
            (b"100%25", Plus::Space, Ok(b"100%")),
            (b"%", Plus::Space, Err(UrlError::BadEscape)),
            (b"abc%", Plus::Space, Err(UrlError::BadEscape)),
            (b"%4", Plus::Space, Err(UrlError::BadEscape)),
            (b"%zz", Plus::Space, Err(UrlError::BadEscape)),
            (b"%G1", Plus::Space, Err(UrlError::BadEscape)),
            (b"%1G", Plus::Space, Err(UrlError::BadEscape)),
            (b"%+1", Plus::Space, Err(UrlError::BadEscape)),
        ];
        for &(input, plus, ref want) in cases {
            let got = percent_decode(input, plus);
            assert_eq!(
                got.as_deref().map_err(Clone::clone),
                want.clone(),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

    fn pairs(list: &[(&[u8], &[u8])]) -> Pairs {
        list.iter().map(|(n, v)| (n.to_vec(), v.to_vec())).collect()
    }

    /// `parse_form`'s pairs as owned bytes, to compare with a table.
    #[allow(clippy::type_complexity)] // the type `parse_form` returns
    fn owned(
        result: Result<Vec<(Cow<'_, [u8]>, Cow<'_, [u8]>)>, UrlError>,
    ) -> Result<Pairs, UrlError> {
        result.map(|pairs| {
            pairs
                .into_iter()
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect()
        })
    }

    #[test]
    fn parse_form_table() {
        let cases: &[(&[u8], Result<Pairs, UrlError>)] = &[
            (b"a=1", Ok(pairs(&[(b"a", b"1")]))),
            (b"a=1&b=2", Ok(pairs(&[(b"a", b"1"), (b"b", b"2")]))),
            (b"a=1&a=2", Ok(pairs(&[(b"a", b"1"), (b"a", b"2")]))),
            (b"k=a+b%21", Ok(pairs(&[(b"k", b"a b!")]))),
            (b"a%3D=b%26", Ok(pairs(&[(b"a=", b"b&")]))),
            (b"a=", Ok(pairs(&[(b"a", b"")]))),
            (b"=v", Ok(pairs(&[(b"", b"v")]))),
            (b"a==b", Ok(pairs(&[(b"a", b"=b")]))),
            (b"a=%00%ff", Ok(pairs(&[(b"a", b"\x00\xff")]))),
            (b"a=1&&b=2", Ok(pairs(&[(b"a", b"1"), (b"b", b"2")]))),
            (b"a=1&", Ok(pairs(&[(b"a", b"1")]))),
            (b"&a=1", Ok(pairs(&[(b"a", b"1")]))),
            (b"", Err(UrlError::EmptyBody)),
            (b"&", Err(UrlError::EmptyBody)),
            (b"&&", Err(UrlError::EmptyBody)),
            (b"a", Err(UrlError::MissingEquals)),
            (b"a=1&b", Err(UrlError::MissingEquals)),
            (b"a=%zz", Err(UrlError::BadEscape)),
            (b"%=1", Err(UrlError::BadEscape)),
        ];
        for (body, want) in cases {
            assert_eq!(
                &owned(parse_form(body)),
                want,
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn errors_display_as_lowercase_phrases() {
        assert_eq!(UrlError::BadEscape.to_string(), "bad %-escape");
        assert_eq!(
            UrlError::MissingEquals.to_string(),
            "a form pair without '='"
        );
        assert_eq!(UrlError::EmptyBody.to_string(), "empty form body");
    }

    /// The plain definition: one byte at a time. `percent_decode` copies runs for speed and must
    /// agree with this on every input.
    fn reference_decode(input: &[u8], plus: Plus) -> Result<Vec<u8>, UrlError> {
        let mut out = Vec::new();
        let mut i = 0;
        while let Some(&b) = input.get(i) {
            match b {
                b'%' => {
                    let digits = input.get(i + 1..i + 3).ok_or(UrlError::BadEscape)?;
                    let text = std::str::from_utf8(digits).map_err(|_| UrlError::BadEscape)?;
                    if !text.bytes().all(|d| d.is_ascii_hexdigit()) {
                        return Err(UrlError::BadEscape);
                    }
                    out.push(u8::from_str_radix(text, 16).map_err(|_| UrlError::BadEscape)?);
                    i += 3;
                }
                b'+' if plus == Plus::Space => {
                    out.push(b' ');
                    i += 1;
                }
                _ => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        Ok(out)
    }

    #[test]
    fn run_copying_decoder_agrees_with_the_byte_at_a_time_definition() {
        let (mut rng, seed) = Rng::from_env(0x5EED_D0DE);
        let alphabet = b"%+aZ09fF=&\x00\xff ";
        for _ in 0..Rng::iterations(5_000) {
            let len = rng.below(30);
            let input: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            for plus in [Plus::Literal, Plus::Space] {
                assert_eq!(
                    percent_decode(&input, plus),
                    reference_decode(&input, plus),
                    "seed {seed}, input {input:?}, {plus:?}"
                );
            }
        }
    }

    /// The plain definition of a form: split on `&`, skip empty segments, split each at its
    /// first `=`, decode both sides. `parse_form` scans once and must agree with this.
    fn reference_form(body: &[u8]) -> Result<Pairs, UrlError> {
        let mut pairs = Vec::new();
        for segment in body.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
            let equals = segment.iter().position(|&b| b == b'=');
            let equals = equals.ok_or(UrlError::MissingEquals)?;
            let name = reference_decode(&segment[..equals], Plus::Space)?;
            let value = reference_decode(&segment[equals + 1..], Plus::Space)?;
            pairs.push((name, value));
        }
        if pairs.is_empty() {
            return Err(UrlError::EmptyBody);
        }
        Ok(pairs)
    }

    #[test]
    fn block_check_matches_the_tables_it_stands_for() {
        for b in 0..=255u8 {
            let i = usize::from(b);
            let mut block = [b'a'; 16];
            block[i % 16] = b;
            assert_eq!(has_form_special(&block), FORM_SPECIAL[i], "byte {b}");
            assert!(
                FORM_SPECIAL[i] || !PLUS_SPECIAL[i] && !PATH_SPECIAL[i],
                "byte {b}"
            );
        }
    }

    #[test]
    fn ordinary_run_stops_at_the_first_special_byte_across_blocks() {
        let (mut rng, seed) = Rng::from_env(0x5EED_B10C);
        for _ in 0..Rng::iterations(5_000) {
            // Long runs with a rare special byte: every block position is reached.
            let len = rng.below(80);
            let input: Vec<u8> = (0..len)
                .map(|_| match rng.below(40) {
                    0 => b"%+&="[rng.below(4)],
                    _ => b"aZ09\x00\xff "[rng.below(7)],
                })
                .collect();
            for table in [&FORM_SPECIAL, &PLUS_SPECIAL, &PATH_SPECIAL] {
                let want = input
                    .iter()
                    .position(|&b| table[usize::from(b)])
                    .unwrap_or(input.len());
                assert_eq!(
                    ordinary_run(&input, table),
                    want,
                    "seed {seed}, input {input:?}"
                );
            }
        }
    }

    #[test]
    fn one_pass_form_parser_agrees_with_the_split_definition() {
        let (mut rng, seed) = Rng::from_env(0x5EED_F0A3);
        let alphabet = b"ab=&%+4F";
        for _ in 0..Rng::iterations(5_000) {
            let len = rng.below(24);
            let body: Vec<u8> = (0..len)
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let got = owned(parse_form(&body));
            let want = reference_form(&body);
            // Both must accept and decode alike; on input that is wrong in two ways at once
            // (`%zz` and no `=`), which error is named first may differ.
            match (&got, &want) {
                (Ok(_), _) | (_, Ok(_)) => {
                    assert_eq!(
                        got,
                        want,
                        "seed {seed}, body {:?}",
                        String::from_utf8_lossy(&body)
                    )
                }
                (Err(_), Err(_)) => {}
            }
        }
    }

    #[test]
    fn every_byte_survives_encoding_then_decoding() {
        let (mut rng, seed) = Rng::from_env(0x5EED_0F0F);
        for _ in 0..Rng::iterations(2_000) {
            let len = rng.below(40);
            let raw = rng.bytes(len);
            let encoded: String = raw.iter().map(|b| format!("%{b:02X}")).collect();
            assert_eq!(
                percent_decode(encoded.as_bytes(), Plus::Space),
                Ok(raw.clone()),
                "seed {seed}"
            );
            // Random input never panics, and what decodes is never longer than its input.
            if let Ok(out) = percent_decode(&raw, Plus::Space) {
                assert!(out.len() <= raw.len(), "seed {seed}");
            }
            let _ = parse_form(&raw);
        }
    }
}
