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

/// Decodes `%XX` escapes (either case) in `input`; with `plus_as_space`, `+` becomes a space
/// (as in form bodies and query strings), otherwise `+` stays `+` (as in paths).
///
/// # Errors
///
/// [`UrlError::BadEscape`] when a `%` is not followed by two hexadecimal digits (`%`, `%4`, `%zz`).
///
/// # Examples
///
/// ```
/// use redis_gateway::http::url::percent_decode;
/// assert_eq!(percent_decode(b"a%20b+c%ff", true).unwrap(), b"a b c\xff");
/// assert_eq!(percent_decode(b"a+b", false).unwrap(), b"a+b");
/// ```
pub fn percent_decode(input: &[u8], plus_as_space: bool) -> Result<Vec<u8>, UrlError> {
    let special = |b: &u8| *b == b'%' || (plus_as_space && *b == b'+');
    // The output is never longer than the input, so one allocation suffices.
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    loop {
        // Copy the run of ordinary bytes in one go (a byte-at-a-time push was most of the cost
        // of a form POST, measured with callgrind), then decode the one special byte after it.
        let run = rest.iter().position(special).unwrap_or(rest.len());
        let (plain, tail) = rest.split_at(run);
        out.extend_from_slice(plain);
        let Some((&byte, tail)) = tail.split_first() else {
            return Ok(out);
        };
        if byte == b'+' {
            out.push(b' ');
            rest = tail;
            continue;
        }
        let (high, low) = match tail {
            [high, low, ..] => (hex_value(*high), hex_value(*low)),
            _ => (None, None),
        };
        match (high, low) {
            (Some(high), Some(low)) => out.push(high << 4 | low),
            _ => return Err(UrlError::BadEscape),
        }
        rest = tail.get(2..).unwrap_or(&[]);
    }
}

/// Splits an `application/x-www-form-urlencoded` body into decoded `(name, value)` pairs, in
/// order, duplicates kept (the caller decides which one wins). Empty segments, as in `a=1&&b=2`
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
/// let pairs = parse_form(b"key=a+b&value=%E2%82%AC").unwrap();
/// assert_eq!(pairs, vec![(b"key".to_vec(), b"a b".to_vec()), (b"value".to_vec(), "€".as_bytes().to_vec())]);
/// ```
#[allow(clippy::type_complexity)] // plain pairs of bytes, as the callers expect
pub fn parse_form(body: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, UrlError> {
    let mut pairs = Vec::new();
    for segment in body.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
        let equals = segment
            .iter()
            .position(|&b| b == b'=')
            .ok_or(UrlError::MissingEquals)?;
        let (name, value) = segment.split_at(equals);
        let value = value.get(1..).unwrap_or(&[]);
        pairs.push((percent_decode(name, true)?, percent_decode(value, true)?));
    }
    if pairs.is_empty() {
        return Err(UrlError::EmptyBody);
    }
    Ok(pairs)
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
        type Case<'a> = (&'a [u8], bool, Result<&'a [u8], UrlError>);
        let cases: &[Case<'_>] = &[
            (b"", true, Ok(b"")),
            (b"plain", true, Ok(b"plain")),
            (b"a+b", true, Ok(b"a b")),
            (b"a+b", false, Ok(b"a+b")),
            (b"%2B", true, Ok(b"+")),
            (b"%20%2f%2F", false, Ok(b" //")),
            (b"%00%ff%FF", true, Ok(b"\x00\xff\xff")),
            (b"%C3%A9t%C3%A9", true, Ok("été".as_bytes())),
            ("été".as_bytes(), true, Ok("été".as_bytes())),
            (b"100%25", true, Ok(b"100%")),
            (b"%", true, Err(UrlError::BadEscape)),
            (b"abc%", true, Err(UrlError::BadEscape)),
            (b"%4", true, Err(UrlError::BadEscape)),
            (b"%zz", true, Err(UrlError::BadEscape)),
            (b"%G1", true, Err(UrlError::BadEscape)),
            (b"%1G", true, Err(UrlError::BadEscape)),
            (b"%+1", true, Err(UrlError::BadEscape)),
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
                &parse_form(body),
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
    fn reference_decode(input: &[u8], plus_as_space: bool) -> Result<Vec<u8>, UrlError> {
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
                b'+' if plus_as_space => {
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
            for plus in [false, true] {
                assert_eq!(
                    percent_decode(&input, plus),
                    reference_decode(&input, plus),
                    "seed {seed}, input {input:?}, plus_as_space {plus}"
                );
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
                percent_decode(encoded.as_bytes(), true),
                Ok(raw.clone()),
                "seed {seed}"
            );
            // Random input never panics, and what decodes is never longer than its input.
            if let Ok(out) = percent_decode(&raw, true) {
                assert!(out.len() <= raw.len(), "seed {seed}");
            }
            let _ = parse_form(&raw);
        }
    }
}
