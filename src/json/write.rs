//! The JSON writer: compact text, byte for byte what webdis writes, because clients compare bytes.
//!
//! webdis builds its replies with jansson's `json_dumps(…, JSON_COMPACT)`; this writer follows the same
//! rules, so `{"GET":"world"}` and `{"SET":[true,"OK"]}` come out exactly as webdis sends them:
//!
//! * No whitespace at all: `{"a":1,"b":[true,null]}`. Members in the order the [`Value`] holds them.
//! * Strings: `"` → `\"`, `\` → `\\`, the five short escapes `\b \f \n \r \t`, every other byte below
//!   0x20 as `\u00XX` with UPPERCASE hex (`\u001B`, as jansson's `%04X`). Nothing else is escaped: not `/`,
//!   not DEL (0x7F), not non-ASCII characters, not U+2028 or U+2029.
//! * Integers in decimal. Floats: see [`write()`].
//!
//! One deliberate difference: webdis answers a reply that is not valid UTF-8 with `{}` (jansson refuses the
//! string), while [`write_str`] replaces each maximal invalid sequence with U+FFFD, as
//! [`String::from_utf8_lossy`] does, so that the rest of the reply still reaches the client.
//!
//! Writing cannot fail and never panics. [`write()`] recurses once per level of nesting, like `Drop` and
//! `PartialEq` on [`Value`]; values from [`parse()`](super::parse()) are at most
//! [`Limits::max_depth`](super::Limits::max_depth) deep.

use super::value::{Number, Value};

/// Appends `value` to `out` as compact JSON text.
///
/// A [`Number::Float`] is written as the shortest decimal text that reads back as the same `f64` (Rust's
/// `{}` formatting), with `.0` added when that text has no `.`, so that it reads back as a float and not an
/// integer: `1.0`, `0.1`, `-0.0`, `1e300` as `1` followed by 300 zeros and `.0`. jansson would write 17
/// significant digits (`0.10000000000000001`); webdis never sends floats, Redis 2 replies having none. A
/// float that is not finite cannot come from the parser; if one is built by hand it is written as `null`,
/// since JSON has no NaN or infinity.
///
/// # Examples
///
/// ```
/// use redis_gateway::json::{write, Number, Value};
///
/// let reply = Value::Object(vec![(
///     "SET".to_string(),
///     Value::Array(vec![Value::Bool(true), Value::String("OK".to_string())]),
/// )]);
/// let mut out = Vec::new();
/// write(&mut out, &reply);
/// assert_eq!(out, br#"{"SET":[true,"OK"]}"#);
///
/// out.clear();
/// write(&mut out, &Value::Number(Number::Float(1.0)));
/// assert_eq!(out, b"1.0");
/// ```
pub fn write(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(Number::Int(n)) => write_i64(out, *n),
        Value::Number(Number::Float(x)) => write_f64(out, *x),
        Value::String(text) => write_str(out, text.as_bytes()),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => {
            out.push(b'{');
            for (i, (name, item)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, name.as_bytes());
                out.push(b':');
                write(out, item);
            }
            out.push(b'}');
        }
    }
}

/// Appends `n` in decimal, with a `-` when negative: what jansson writes for an integer.
///
/// # Examples
///
/// ```
/// use redis_gateway::json::write_i64;
///
/// let mut out = Vec::new();
/// write_i64(&mut out, -42);
/// assert_eq!(out, b"-42");
/// ```
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    out.extend_from_slice(n.to_string().as_bytes());
}

/// Appends a float as [`write()`] documents: shortest round-trip text, always with a `.`; `null` if not
/// finite.
fn write_f64(out: &mut Vec<u8>, x: f64) {
    if !x.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    let text = x.to_string(); // Rust's `{}` for f64 never uses an exponent, so `.` is the only mark
    out.extend_from_slice(text.as_bytes());
    if !text.contains(['.', 'e', 'E']) {
        out.extend_from_slice(b".0");
    }
}

/// Appends `text` as a JSON string literal, quotes included, escaped as webdis escapes (see the module docs).
///
/// `text` is bytes because Redis values are: valid UTF-8 is written as is, and each maximal invalid sequence
/// is replaced by U+FFFD (where webdis would answer `{}`). Allocates nothing but the growth of `out`.
///
/// # Examples
///
/// ```
/// use redis_gateway::json::write_str;
///
/// let mut out = Vec::new();
/// write_str(&mut out, b"a/b \"q\" \x1b[0m\n\xff");
/// assert_eq!(out, "\"a/b \\\"q\\\" \\u001B[0m\\n\u{FFFD}\"".as_bytes());
/// ```
pub fn write_str(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    let mut rest = text;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                escape(out, valid.as_bytes());
                break;
            }
            Err(error) => {
                // `valid_up_to()` is at most `rest.len()`, so `split_at` cannot panic.
                let (valid, invalid) = rest.split_at(error.valid_up_to());
                escape(out, valid);
                out.extend_from_slice("\u{FFFD}".as_bytes());
                // `error_len()` is `None` when the input ends inside a character: replace what is left.
                let bad = error.error_len().unwrap_or(invalid.len());
                rest = invalid.get(bad..).unwrap_or_default();
            }
        }
    }
    out.push(b'"');
}

/// How many bytes [`write_str`] writes for `text` (quotes included), without writing them: lets a
/// caller refuse an answer before building one that escaping makes too large (a control byte
/// becomes six).
pub fn str_len(text: &[u8]) -> usize {
    let escaped = |valid: &[u8]| -> usize {
        valid
            .iter()
            .map(|&byte| match byte {
                b'"' | b'\\' | 0x08 | 0x0C | b'\n' | b'\r' | b'\t' => 2,
                0x00..=0x1F => 6,
                _ => 1,
            })
            .sum()
    };
    let mut len = 2;
    let mut rest = text;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => return len + escaped(valid.as_bytes()),
            Err(error) => {
                let (valid, invalid) = rest.split_at(error.valid_up_to());
                len += escaped(valid) + "\u{FFFD}".len();
                let bad = error.error_len().unwrap_or(invalid.len());
                rest = invalid.get(bad..).unwrap_or_default();
            }
        }
    }
}

/// Appends valid UTF-8 `text`, escaped. Byte by byte is enough: every byte of a multi-byte UTF-8 character
/// is 0x80 or above, so only ASCII bytes are ever escaped and characters are copied whole.
fn escape(out: &mut Vec<u8>, text: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in text {
        match byte {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0C => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x00..=0x1F => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0x0F)]);
            }
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse, Limits};
    use crate::test_rng::Rng;

    fn written(value: &Value) -> String {
        let mut out = Vec::new();
        write(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    fn written_str(text: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_str(&mut out, text);
        out
    }

    #[test]
    fn table_of_string_escapes_matches_webdis() {
        let cases: Vec<(&[u8], &[u8])> = vec![
            (b"", br#""""#),
            (b"plain text", br#""plain text""#),
            (b"\"", br#""\"""#),
            (b"\\", br#""\\""#),
            (b"\x08", br#""\b""#),
            (b"\x0c", br#""\f""#),
            (b"\n", br#""\n""#),
            (b"\r", br#""\r""#),
            (b"\t", br#""\t""#),
            (b"\x00", br#""\u0000""#),
            (b"\x01", br#""\u0001""#),
            (b"\x0b", br#""\u000B""#),
            (b"\x1b", br#""\u001B""#),
            (b"\x1b[31mred\x1b[0m", br#""\u001B[31mred\u001B[0m""#),
            (b"\x1f", br#""\u001F""#),
            (b" ", br#"" ""#),
            (b"/", br#""/""#),
            (b"</script>", br#""</script>""#),
            (b"\x7f", b"\"\x7f\""),
            ("é€𝄞".as_bytes(), "\"é€𝄞\"".as_bytes()),
            (
                "\u{2028}\u{2029}".as_bytes(),
                "\"\u{2028}\u{2029}\"".as_bytes(),
            ),
            ("\u{FFFD}".as_bytes(), "\"\u{FFFD}\"".as_bytes()),
            // Not UTF-8: each maximal invalid sequence becomes one U+FFFD.
            (b"\xff", "\"\u{FFFD}\"".as_bytes()),
            (b"a\xffb", "\"a\u{FFFD}b\"".as_bytes()),
            (b"\xff\xfe", "\"\u{FFFD}\u{FFFD}\"".as_bytes()),
            (b"\xc3", "\"\u{FFFD}\"".as_bytes()),
            (b"\xc3(", "\"\u{FFFD}(\"".as_bytes()),
            (b"\xf0\x9f\x98", "\"\u{FFFD}\"".as_bytes()),
            (b"\xf0\x9f\x98\"", "\"\u{FFFD}\\\"\"".as_bytes()),
            (b"\xc0\xaf", "\"\u{FFFD}\u{FFFD}\"".as_bytes()),
            (b"\xed\xa0\x80", "\"\u{FFFD}\u{FFFD}\u{FFFD}\"".as_bytes()),
            (b"ok\xe2\x82", "\"ok\u{FFFD}\"".as_bytes()),
            (b"\x1b\xff\n", "\"\\u001B\u{FFFD}\\n\"".as_bytes()),
        ];
        for (input, expected) in cases {
            assert_eq!(
                String::from_utf8_lossy(&written_str(input)),
                String::from_utf8_lossy(expected),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn every_ascii_byte_is_escaped_exactly_when_required() {
        for byte in 0..=0x7Fu8 {
            let expected: Vec<u8> = match byte {
                b'"' => b"\\\"".to_vec(),
                b'\\' => b"\\\\".to_vec(),
                0x08 => b"\\b".to_vec(),
                0x0C => b"\\f".to_vec(),
                0x0A => b"\\n".to_vec(),
                0x0D => b"\\r".to_vec(),
                0x09 => b"\\t".to_vec(),
                0x00..=0x1F => format!("\\u{byte:04X}").into_bytes(),
                _ => vec![byte],
            };
            assert_eq!(
                written_str(&[byte]),
                [&b"\""[..], &expected, b"\""].concat(),
                "byte 0x{byte:02x}"
            );
        }
    }

    #[test]
    fn values_are_written_compactly() {
        let int = |n| Value::Number(Number::Int(n));
        let cases = vec![
            (Value::Null, "null"),
            (Value::Bool(true), "true"),
            (Value::Bool(false), "false"),
            (Value::String("world".into()), r#""world""#),
            (Value::Array(vec![]), "[]"),
            (Value::Object(vec![]), "{}"),
            (
                Value::Object(vec![
                    ("a".into(), int(1)),
                    (
                        "b".into(),
                        Value::Array(vec![Value::Bool(true), Value::Null]),
                    ),
                ]),
                r#"{"a":1,"b":[true,null]}"#,
            ),
            (
                Value::Object(vec![("GET".into(), Value::String("world".into()))]),
                r#"{"GET":"world"}"#,
            ),
            (
                Value::Object(vec![("x".into(), int(1)), ("x".into(), int(2))]),
                r#"{"x":1,"x":2}"#,
            ),
            (
                Value::Object(vec![(
                    "a\"\n".into(),
                    Value::Array(vec![Value::Array(vec![])]),
                )]),
                r#"{"a\"\n":[[]]}"#,
            ),
            (int(0), "0"),
            (int(-1), "-1"),
            (int(i64::MAX), "9223372036854775807"),
            (int(i64::MIN), "-9223372036854775808"),
        ];
        for (value, expected) in cases {
            assert_eq!(written(&value), expected, "value {value:?}");
        }
    }

    #[test]
    fn floats_are_shortest_round_trip_text_with_a_point() {
        let float = |x| Value::Number(Number::Float(x));
        let cases = vec![
            (1.0, "1.0".to_string()),
            (0.1, "0.1".to_string()),
            (-0.0, "-0.0".to_string()),
            (1.5, "1.5".to_string()),
            (-122.02602, "-122.02602".to_string()),
            (1e20, "100000000000000000000.0".to_string()),
            (1e300, format!("1{}.0", "0".repeat(300))),
            (5e-324, format!("0.{}5", "0".repeat(323))),
            (f64::NAN, "null".to_string()),
            (f64::INFINITY, "null".to_string()),
            (f64::NEG_INFINITY, "null".to_string()),
        ];
        for (x, expected) in cases {
            assert_eq!(written(&float(x)), expected, "float {x:?}");
        }
        let max = written(&float(f64::MAX));
        assert!(max.ends_with(".0"), "{max}");
        assert_eq!(max.trim_end_matches(".0").parse::<f64>(), Ok(f64::MAX));
    }

    #[test]
    fn write_i64_writes_decimal() {
        let mut out = Vec::new();
        for n in [0, 7, -7, 1_000_000, i64::MAX, i64::MIN] {
            out.clear();
            write_i64(&mut out, n);
            assert_eq!(out, n.to_string().as_bytes());
        }
    }

    /// A random character: mostly the ones JSON strings care about, sometimes any scalar value.
    fn random_char(rng: &mut Rng) -> char {
        const SPECIAL: &[char] = &[
            '"',
            '\\',
            '/',
            '\u{0}',
            '\u{8}',
            '\t',
            '\n',
            '\u{C}',
            '\r',
            '\u{1B}',
            '\u{1F}',
            ' ',
            'a',
            'Z',
            '\u{7F}',
            'é',
            '\u{2028}',
            '\u{FEFF}',
            '\u{FFFD}',
            '\u{FFFF}',
            '𝄞',
            '\u{10FFFF}',
        ];
        if rng.one_in(3) {
            // Any Unicode scalar value: `from_u32` refuses surrogates and values above U+10FFFF.
            char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('?')
        } else {
            SPECIAL[rng.below(SPECIAL.len())]
        }
    }

    fn random_string(rng: &mut Rng) -> String {
        (0..rng.below(12)).map(|_| random_char(rng)).collect()
    }

    fn random_float(rng: &mut Rng) -> f64 {
        const NICE: &[f64] = &[
            0.0,
            -0.0,
            0.5,
            1.0,
            -1.5,
            0.1,
            1e20,
            1e300,
            -1e-300,
            5e-324,
            f64::MAX,
            f64::MIN,
        ];
        if rng.one_in(2) {
            return NICE[rng.below(NICE.len())];
        }
        let x = f64::from_bits(rng.next_u64());
        if x.is_finite() {
            x
        } else {
            0.25
        }
    }

    /// A random value at most `depth` arrays and objects deep.
    fn random_value(rng: &mut Rng, depth: usize) -> Value {
        let kinds = if depth == 0 { 6 } else { 8 };
        match rng.below(kinds) {
            0 => Value::Null,
            1 => Value::Bool(rng.one_in(2)),
            2 => Value::Number(Number::Int(rng.next_u64() as i64 >> rng.below(64))),
            3 => Value::Number(Number::Float(random_float(rng))),
            4 | 5 => Value::String(random_string(rng)),
            6 => Value::Array(
                (0..rng.below(6))
                    .map(|_| random_value(rng, depth - 1))
                    .collect(),
            ),
            _ => Value::Object(
                (0..rng.below(6))
                    .map(|_| {
                        // Names repeat now and then: duplicates must survive the trip.
                        let name = if rng.one_in(4) {
                            "dup".to_string()
                        } else {
                            random_string(rng)
                        };
                        (name, random_value(rng, depth - 1))
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn random_values_written_parse_back_to_themselves() {
        let (mut rng, seed) = Rng::from_env(0x5EED_0150);
        for _ in 0..Rng::iterations(3_000) {
            let value = random_value(&mut rng, 6);
            let mut out = Vec::new();
            write(&mut out, &value);
            assert_eq!(
                parse(&out, &Limits::DEFAULT),
                Ok(value),
                "seed {seed} text {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }

    /// Bytes that escaping and UTF-8 repair care about: controls, quotes, and pieces of characters.
    const INTERESTING: &[u8] = b"\x00\x1b\"\\/\n\x7f\xc3\xa9\xed\xa0\x80\xf0\x9f\x98";

    #[test]
    fn random_bytes_written_parse_back_as_their_lossy_text() {
        let (mut rng, seed) = Rng::from_env(0xB17E_5000);
        for _ in 0..Rng::iterations(3_000) {
            let len = rng.below(24);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.one_in(2) {
                        rng.bytes(1)[0]
                    } else {
                        INTERESTING[rng.below(INTERESTING.len())]
                    }
                })
                .collect();
            let out = written_str(&bytes);
            let lossy = String::from_utf8_lossy(&bytes).into_owned();
            assert_eq!(
                written_str(lossy.as_bytes()),
                out,
                "seed {seed} bytes {bytes:?}"
            );
            assert_eq!(
                parse(&out, &Limits::DEFAULT),
                Ok(Value::String(lossy)),
                "seed {seed} bytes {bytes:?}"
            );
        }
    }
}
