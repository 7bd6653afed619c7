//! The RESP encoder: commands for Redis, and any [`Value`] in its canonical form.
//!
//! Encoding cannot fail and never writes anything but exactly one well-framed value: text that would break
//! a line (a CR or LF inside a simple string, error, double or big number) is written in a length-prefixed
//! form instead. Commands are always arrays of bulk strings, so no argument can inject a second command:
//!
//! ```text
//! command = "*" N CRLF N("$" len CRLF len-bytes CRLF)
//! ```
//!
//! [`encode()`] recurses once per level of nesting, like `Drop` and `PartialEq` on [`Value`]; values decoded
//! by [`decode()`](super::decode()) are at most [`Limits::max_depth`](super::Limits::max_depth) deep.

use super::Value;

/// Appends a Redis command to `out`: an array of bulk strings, one per argument.
///
/// Binary safe: arguments may hold any bytes, CR and LF included.
///
/// # Examples
///
/// ```
/// use redis_gateway::resp::encode_command;
///
/// let mut out = Vec::new();
/// encode_command(&["SET", "k", "v"], &mut out);
/// assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
/// ```
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    header(b'*', args.len(), out);
    for arg in args {
        blob(b'$', arg.as_ref(), out);
    }
}

/// Appends the canonical RESP encoding of `value` to `out`.
///
/// RESP2 forms for [`Value::Simple`], [`Value::Error`], [`Value::Integer`], [`Value::Bulk`], [`Value::Nil`]
/// (as `$-1`) and [`Value::Array`]; RESP3 forms for the rest. Exceptions, so that the output is always one
/// value: an error holding CR or LF is written as a blob error (`!`), and a simple string, double or big
/// number holding CR or LF as a bulk string. A verbatim format that is not 3 bytes long is written as given
/// and does not decode back to the same value.
///
/// # Examples
///
/// ```
/// use redis_gateway::resp::{encode, Value};
///
/// let mut out = Vec::new();
/// encode(&Value::Array(vec![Value::Integer(1), Value::Nil]), &mut out);
/// assert_eq!(out, b"*2\r\n:1\r\n$-1\r\n");
/// ```
pub fn encode(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Simple(text) => line(b'+', text, out),
        Value::Error(text) if has_crlf(text) => blob(b'!', text, out),
        Value::Error(text) => line(b'-', text, out),
        Value::Integer(n) => line(b':', n.to_string().as_bytes(), out),
        Value::Bulk(data) => blob(b'$', data, out),
        Value::Nil => out.extend_from_slice(b"$-1\r\n"),
        Value::Array(items) => aggregate(b'*', items, out),
        Value::Double(text) => line(b',', text, out),
        Value::Boolean(true) => out.extend_from_slice(b"#t\r\n"),
        Value::Boolean(false) => out.extend_from_slice(b"#f\r\n"),
        Value::BigNumber(digits) => line(b'(', digits, out),
        Value::Verbatim(format, data) => {
            header(
                b'=',
                format.len().saturating_add(1).saturating_add(data.len()),
                out,
            );
            out.extend_from_slice(format);
            out.push(b':');
            out.extend_from_slice(data);
            out.extend_from_slice(b"\r\n");
        }
        Value::Map(pairs) => {
            header(b'%', pairs.len(), out);
            for (key, value) in pairs {
                encode(key, out);
                encode(value, out);
            }
        }
        Value::Set(items) => aggregate(b'~', items, out),
        Value::Push(items) => aggregate(b'>', items, out),
    }
}

/// Writes `<kind><text>CRLF`, or a bulk string when `text` would break the line.
fn line(kind: u8, text: &[u8], out: &mut Vec<u8>) {
    if has_crlf(text) {
        blob(b'$', text, out);
        return;
    }
    out.push(kind);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

/// Writes `<kind><len>CRLF<data>CRLF`.
fn blob(kind: u8, data: &[u8], out: &mut Vec<u8>) {
    header(kind, data.len(), out);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Writes `<kind><count>CRLF` and the items.
fn aggregate(kind: u8, items: &[Value], out: &mut Vec<u8>) {
    header(kind, items.len(), out);
    for item in items {
        encode(item, out);
    }
}

/// Writes `<kind><n>CRLF`.
fn header(kind: u8, n: usize, out: &mut Vec<u8>) {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Whether `text` holds a CR or LF, which a RESP line cannot.
fn has_crlf(text: &[u8]) -> bool {
    text.iter().any(|&b| b == b'\r' || b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        encode(value, &mut out);
        out
    }

    #[test]
    fn each_variant_encodes_canonically() {
        use Value::*;
        let cases: Vec<(Value, &[u8])> = vec![
            (Simple(b"OK".to_vec()), b"+OK\r\n"),
            (Error(b"ERR bad".to_vec()), b"-ERR bad\r\n"),
            (Integer(-5), b":-5\r\n"),
            (Integer(i64::MIN), b":-9223372036854775808\r\n"),
            (Bulk(b"a\r\nb".to_vec()), b"$4\r\na\r\nb\r\n"),
            (Bulk(vec![]), b"$0\r\n\r\n"),
            (Nil, b"$-1\r\n"),
            (Array(vec![]), b"*0\r\n"),
            (
                Array(vec![Integer(1), Array(vec![Nil])]),
                b"*2\r\n:1\r\n*1\r\n$-1\r\n",
            ),
            (Double(b"3.14".to_vec()), b",3.14\r\n"),
            (Boolean(true), b"#t\r\n"),
            (Boolean(false), b"#f\r\n"),
            (BigNumber(b"-123".to_vec()), b"(-123\r\n"),
            (
                Verbatim(b"txt".to_vec(), b"hi".to_vec()),
                b"=6\r\ntxt:hi\r\n",
            ),
            (
                Map(vec![(Simple(b"k".to_vec()), Integer(1))]),
                b"%1\r\n+k\r\n:1\r\n",
            ),
            (Set(vec![Boolean(true)]), b"~1\r\n#t\r\n"),
            (Push(vec![Bulk(b"m".to_vec())]), b">1\r\n$1\r\nm\r\n"),
        ];
        for (value, expected) in cases {
            assert_eq!(encoded(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn text_with_crlf_is_written_length_prefixed_never_as_a_line() {
        assert_eq!(
            encoded(&Value::Error(b"ERR a\r\n+OK".to_vec())),
            b"!10\r\nERR a\r\n+OK\r\n"
        );
        assert_eq!(encoded(&Value::Simple(b"a\nb".to_vec())), b"$3\r\na\nb\r\n");
        assert_eq!(encoded(&Value::Double(b"1\r".to_vec())), b"$2\r\n1\r\r\n");
        assert_eq!(encoded(&Value::BigNumber(b"\n".to_vec())), b"$1\r\n\n\r\n");
    }

    #[test]
    fn command_arguments_with_crlf_cannot_inject_a_second_command() {
        let mut out = Vec::new();
        encode_command(&[&b"GET"[..], b"k\r\n*1\r\n$8\r\nFLUSHALL\r\n"], &mut out);
        assert_eq!(
            out,
            b"*2\r\n$3\r\nGET\r\n$21\r\nk\r\n*1\r\n$8\r\nFLUSHALL\r\n\r\n"
        );
        let limits = crate::resp::Limits::default();
        let decoded = crate::resp::decode(&out, &limits);
        let expected = Value::Array(vec![
            Value::Bulk(b"GET".to_vec()),
            Value::Bulk(b"k\r\n*1\r\n$8\r\nFLUSHALL\r\n".to_vec()),
        ]);
        assert_eq!(
            decoded,
            Ok(crate::resp::Status::Complete((expected, out.len())))
        );
    }

    #[test]
    fn empty_command_is_an_empty_array() {
        let mut out = Vec::new();
        encode_command::<&str>(&[], &mut out);
        assert_eq!(out, b"*0\r\n");
    }

    #[test]
    fn encode_appends_without_clearing() {
        let mut out = b"xx".to_vec();
        encode(&Value::Integer(1), &mut out);
        encode_command(&[String::from("PING")], &mut out);
        assert_eq!(out, b"xx:1\r\n*1\r\n$4\r\nPING\r\n");
    }
}
