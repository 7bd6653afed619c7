//! Writing a Redis reply the way webdis does, in the format the request asked for.
//!
//! | format | body | `Content-Type` |
//! |--------|------|----------------|
//! | JSON (default, `.json`) | `{"GET":"world"}`, `{"INCR":1}`, `{"LRANGE":["a","b"]}`, status `{"SET":[true,"OK"]}`, error `{"X":[false,"ERR …"]}`, nil `null`; `HGETALL` an object, `INFO` an object of its fields | `application/json` |
//! | JSONP (`?jsonp=f` or `?callback=f`) | `f({"GET":"world"});` and a newline | `application/javascript` |
//! | MessagePack (`.msg`) | the JSON structure in MessagePack | `application/x-msgpack` |
//! | raw (`.raw`) | the reply's RESP bytes | `binary/octet-stream` |
//! | plain (`.txt` …, `?type=`) | a string's bytes, an integer in decimal, `+status`, `-error`, the strings of a list joined by `?sep=`; nil is 404 with no body | per extension |
//!
//! Pure: a reply in, a body and its type out. The HTTP side (ETag, 304, CORS) is `api::webdis`.

use super::command::Format;
use super::msgpack;
use crate::json::write as json;
use crate::resp::{self, Value};

/// How to write one reply: what the request asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Render {
    /// The command name as the client wrote it: the key of the JSON object (`get` stays `get`).
    pub command: Vec<u8>,
    /// From the extension.
    pub format: Format,
    /// `?jsonp=` or `?callback=`: wrap JSON in a call to this function.
    pub jsonp: Option<String>,
    /// `?sep=`: what joins the strings of a list in plain formats.
    pub sep: Vec<u8>,
    /// `?type=`: the reply is written plain with this `Content-Type`.
    pub content_type: Option<String>,
}

/// A written reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// 200, or 404 for nil in a plain format.
    pub status: u16,
    /// The `Content-Type`; `None` for an empty 404.
    pub content_type: Option<String>,
    /// The bytes.
    pub bytes: Vec<u8>,
}

impl Render {
    /// The `Content-Type` of what [`Render::write`] writes (of a 200 answer, or of the messages
    /// of a subscription).
    pub fn content_type(&self) -> &str {
        if let Some(content_type) = &self.content_type {
            return content_type;
        }
        match self.format {
            Format::Json if self.jsonp.is_some() => "application/javascript",
            Format::Json => "application/json",
            Format::Msgpack => "application/x-msgpack",
            Format::Raw => "binary/octet-stream",
            Format::Plain(content_type) => content_type,
        }
    }

    /// Writes `reply` (error replies included: webdis answers them with 200 and `[false, …]`).
    pub fn write(&self, reply: &Value) -> Body {
        let content_type = self.content_type();
        if self.content_type.is_some() {
            return self.plain(reply, content_type);
        }
        match self.format {
            Format::Json => {
                let mut bytes = Vec::with_capacity(64);
                match &self.jsonp {
                    Some(function) => {
                        bytes.extend_from_slice(function.as_bytes());
                        bytes.push(b'(');
                        self.json_object(reply, &mut bytes);
                        bytes.extend_from_slice(b");\n");
                    }
                    None => self.json_object(reply, &mut bytes),
                }
                ok(content_type, bytes)
            }
            Format::Msgpack => {
                let mut bytes = Vec::with_capacity(64);
                msgpack::write_map_len(&mut bytes, 1);
                msgpack_bytes(&mut bytes, &self.command);
                write_msgpack(&self.command, reply, &mut bytes);
                ok(content_type, bytes)
            }
            Format::Raw => {
                let mut bytes = Vec::with_capacity(64);
                resp::encode(reply, &mut bytes);
                ok(content_type, bytes)
            }
            Format::Plain(_) => self.plain(reply, content_type),
        }
    }

    /// At least the number of bytes [`Render::write`] writes for `reply`: counted before writing,
    /// so that an answer escaping would make too large (a control byte is six bytes in JSON) can
    /// be refused before it is built.
    pub fn len_bound(&self, reply: &Value) -> usize {
        let json = self.content_type.is_none() && self.format == Format::Json;
        let name = if json {
            json::str_len(&self.command)
        } else {
            self.command.len() + 8
        };
        let jsonp = self.jsonp.as_ref().map_or(0, |f| f.len() + 4);
        let mut value = value_len(reply, json);
        if json && self.command.eq_ignore_ascii_case(b"INFO") {
            // INFO becomes an object of its lines: each line's key and value quoted apart.
            value = value.saturating_mul(2);
        }
        name.saturating_add(jsonp)
            .saturating_add(16)
            .saturating_add(value)
    }

    fn json_object(&self, reply: &Value, out: &mut Vec<u8>) {
        out.push(b'{');
        json::write_str(out, &self.command);
        out.push(b':');
        write_json(&self.command, reply, out);
        out.push(b'}');
    }

    fn plain(&self, reply: &Value, content_type: &str) -> Body {
        let bytes = match reply {
            Value::Nil => {
                return Body {
                    status: 404,
                    content_type: None,
                    bytes: Vec::new(),
                }
            }
            Value::Bulk(b) | Value::BigNumber(b) | Value::Double(b) | Value::Verbatim(_, b) => {
                b.clone()
            }
            Value::Integer(n) => n.to_string().into_bytes(),
            Value::Boolean(b) => if *b { "1" } else { "0" }.as_bytes().to_vec(),
            Value::Simple(s) => [b"+".as_slice(), s].concat(),
            Value::Error(e) => [b"-".as_slice(), e].concat(),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let strings = items.iter().filter_map(|item| match item {
                    Value::Bulk(b) => Some(b.as_slice()),
                    _ => None,
                });
                join(strings, &self.sep)
            }
            Value::Map(pairs) => {
                let strings =
                    pairs
                        .iter()
                        .flat_map(|(k, v)| [k, v])
                        .filter_map(|item| match item {
                            Value::Bulk(b) => Some(b.as_slice()),
                            _ => None,
                        });
                join(strings, &self.sep)
            }
        };
        Body {
            status: 200,
            content_type: Some(content_type.to_string()),
            bytes,
        }
    }
}

/// An upper bound of the bytes a value takes, as JSON (`json`) or in the other formats.
fn value_len(value: &Value, json: bool) -> usize {
    let text = |b: &[u8]| {
        if json {
            json::str_len(b)
        } else {
            b.len().saturating_add(16)
        }
    };
    match value {
        Value::Bulk(b)
        | Value::BigNumber(b)
        | Value::Verbatim(_, b)
        | Value::Double(b)
        | Value::Simple(b)
        | Value::Error(b) => text(b).saturating_add(16),
        Value::Nil | Value::Integer(_) | Value::Boolean(_) => 24,
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            items.iter().fold(16usize, |n, item| {
                n.saturating_add(value_len(item, json)).saturating_add(1)
            })
        }
        Value::Map(pairs) => pairs.iter().fold(16usize, |n, (k, v)| {
            n.saturating_add(value_len(k, json))
                .saturating_add(value_len(v, json))
                .saturating_add(2)
        }),
    }
}

fn ok(content_type: &str, bytes: Vec<u8>) -> Body {
    Body {
        status: 200,
        content_type: Some(content_type.to_string()),
        bytes,
    }
}

fn join<'a>(strings: impl Iterator<Item = &'a [u8]>, sep: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, s) in strings.enumerate() {
        if i > 0 {
            out.extend_from_slice(sep);
        }
        out.extend_from_slice(s);
    }
    out
}

/// How a reply is shaped before it is written as JSON or MessagePack: webdis turns `HGETALL`'s
/// flat list into an object and `INFO`'s text into an object of its `field:value` lines.
enum Shape<'a> {
    /// Written as is.
    Value(&'a Value),
    /// Pairs of strings written as an object.
    Object(Vec<(&'a [u8], &'a [u8])>),
}

fn shape<'a>(command: &[u8], reply: &'a Value) -> Shape<'a> {
    match reply {
        Value::Array(items) if command.eq_ignore_ascii_case(b"HGETALL") => {
            let mut pairs = Vec::with_capacity(items.len() / 2);
            for pair in items.chunks(2) {
                match pair {
                    [Value::Bulk(k), Value::Bulk(v)] => pairs.push((k.as_slice(), v.as_slice())),
                    _ => return Shape::Value(reply),
                }
            }
            Shape::Object(pairs)
        }
        Value::Bulk(text) if command.eq_ignore_ascii_case(b"INFO") => Shape::Object(
            text.split(|&b| b == b'\n')
                .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
                .filter(|line| !line.is_empty() && !line.starts_with(b"#"))
                .filter_map(|line| {
                    let colon = line.iter().position(|&b| b == b':')?;
                    Some((line.get(..colon)?, line.get(colon + 1..)?))
                })
                .collect(),
        ),
        _ => Shape::Value(reply),
    }
}

/// Writes the value of the JSON object (everything after `"COMMAND":`).
fn write_json(command: &[u8], reply: &Value, out: &mut Vec<u8>) {
    match shape(command, reply) {
        Shape::Object(pairs) => {
            out.push(b'{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json::write_str(out, k);
                out.push(b':');
                json::write_str(out, v);
            }
            out.push(b'}');
        }
        Shape::Value(value) => json_value(value, out),
    }
}

fn json_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bulk(b) | Value::BigNumber(b) | Value::Verbatim(_, b) => json::write_str(out, b),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Integer(n) => json::write_i64(out, *n),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        // A RESP3 double is already decimal text; `inf` and `nan` are not JSON numbers.
        Value::Double(text) => {
            if text
                .iter()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(b))
            {
                out.extend_from_slice(text);
            } else {
                json::write_str(out, text);
            }
        }
        Value::Simple(s) => {
            out.extend_from_slice(b"[true,");
            json::write_str(out, s);
            out.push(b']');
        }
        Value::Error(e) => {
            out.extend_from_slice(b"[false,");
            json::write_str(out, e);
            out.push(b']');
        }
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_value(item, out);
            }
            out.push(b']');
        }
        Value::Map(pairs) => {
            out.push(b'[');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_value(k, out);
                out.push(b',');
                json_value(v, out);
            }
            out.push(b']');
        }
    }
}

/// A string as MessagePack `str` when it is UTF-8 (what the format requires of `str`), else as
/// `bin`, so that binary values reach strict decoders intact.
fn msgpack_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    if std::str::from_utf8(bytes).is_ok() {
        msgpack::write_str(out, bytes);
    } else {
        msgpack::write_bin(out, bytes);
    }
}

/// Writes the value of the MessagePack map, shaped as for JSON.
fn write_msgpack(command: &[u8], reply: &Value, out: &mut Vec<u8>) {
    match shape(command, reply) {
        Shape::Object(pairs) => {
            msgpack::write_map_len(out, pairs.len());
            for (k, v) in pairs {
                msgpack_bytes(out, k);
                msgpack_bytes(out, v);
            }
        }
        Shape::Value(value) => msgpack_value(value, out),
    }
}

fn msgpack_value(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Bulk(b) | Value::BigNumber(b) | Value::Verbatim(_, b) | Value::Double(b) => {
            msgpack_bytes(out, b)
        }
        Value::Nil => msgpack::write_nil(out),
        Value::Integer(n) => msgpack::write_int(out, *n),
        Value::Boolean(b) => msgpack::write_bool(out, *b),
        Value::Simple(s) => {
            msgpack::write_array_len(out, 2);
            msgpack::write_bool(out, true);
            msgpack_bytes(out, s);
        }
        Value::Error(e) => {
            msgpack::write_array_len(out, 2);
            msgpack::write_bool(out, false);
            msgpack_bytes(out, e);
        }
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            msgpack::write_array_len(out, items.len());
            for item in items {
                msgpack_value(item, out);
            }
        }
        Value::Map(pairs) => {
            msgpack::write_array_len(out, pairs.len() * 2);
            for (k, v) in pairs {
                msgpack_value(k, out);
                msgpack_value(v, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(command: &str, format: Format) -> Render {
        Render {
            command: command.as_bytes().to_vec(),
            format,
            jsonp: None,
            sep: Vec::new(),
            content_type: None,
        }
    }

    fn json(command: &str, reply: Value) -> String {
        let body = render(command, Format::Json).write(&reply);
        assert_eq!(body.status, 200);
        assert_eq!(body.content_type.as_deref(), Some("application/json"));
        String::from_utf8(body.bytes).unwrap()
    }

    fn bulk(s: &str) -> Value {
        Value::Bulk(s.as_bytes().to_vec())
    }

    #[test]
    fn json_matches_the_webdis_readme() {
        assert_eq!(json("GET", bulk("41")), r#"{"GET":"41"}"#);
        assert_eq!(json("INCR", Value::Integer(42)), r#"{"INCR":42}"#);
        assert_eq!(
            json("LRANGE", Value::Array(vec![bulk("abc"), bulk("def")])),
            r#"{"LRANGE":["abc","def"]}"#
        );
        assert_eq!(
            json("TYPE", Value::Simple(b"string".to_vec())),
            r#"{"TYPE":[true,"string"]}"#
        );
        assert_eq!(
            json(
                "MAKE-ME-COFFEE",
                Value::Error(b"ERR unknown command 'MAKE-ME-COFFEE'".to_vec())
            ),
            r#"{"MAKE-ME-COFFEE":[false,"ERR unknown command 'MAKE-ME-COFFEE'"]}"#
        );
        assert_eq!(json("GET", Value::Nil), r#"{"GET":null}"#);
        assert_eq!(json("get", bulk("x")), r#"{"get":"x"}"#);
    }

    #[test]
    fn jsonp_wraps_the_object() {
        let mut r = render("TYPE", Format::Json);
        r.jsonp = Some("myCustomFunction".into());
        let body = r.write(&Value::Simple(b"string".to_vec()));
        assert_eq!(
            body.bytes,
            b"myCustomFunction({\"TYPE\":[true,\"string\"]});\n"
        );
        assert_eq!(body.content_type.as_deref(), Some("application/javascript"));
    }

    #[test]
    fn hgetall_and_info_become_objects() {
        let reply = Value::Array(vec![bulk("a"), bulk("1"), bulk("b"), bulk("2")]);
        assert_eq!(json("HGETALL", reply), r#"{"HGETALL":{"a":"1","b":"2"}}"#);
        assert_eq!(json("hgetall", Value::Array(vec![])), r#"{"hgetall":{}}"#);
        let info = bulk("# Server\r\nredis_version:7.0.15\r\nos:Linux\r\n\r\n# Keyspace\r\ndb0:keys=1,expires=0\r\n");
        assert_eq!(
            json("INFO", info),
            r#"{"INFO":{"redis_version":"7.0.15","os":"Linux","db0":"keys=1,expires=0"}}"#
        );
    }

    #[test]
    fn nested_arrays_stay_nested() {
        let reply = Value::Array(vec![
            Value::Integer(1),
            Value::Array(vec![Value::Integer(2), bulk("x")]),
            Value::Nil,
        ]);
        assert_eq!(json("EVAL", reply), r#"{"EVAL":[1,[2,"x"],null]}"#);
    }

    #[test]
    fn raw_is_the_resp_bytes() {
        let raw = |reply: Value| render("X", Format::Raw).write(&reply).bytes;
        assert_eq!(raw(bulk("hello")), b"$5\r\nhello\r\n");
        assert_eq!(raw(Value::Integer(2)), b":2\r\n");
        assert_eq!(
            raw(Value::Array(vec![bulk("abc"), bulk("def")])),
            b"*2\r\n$3\r\nabc\r\n$3\r\ndef\r\n"
        );
        assert_eq!(raw(Value::Simple(b"zset".to_vec())), b"+zset\r\n");
        assert_eq!(raw(Value::Nil), b"$-1\r\n");
    }

    #[test]
    fn plain_formats_write_the_value() {
        let txt = |reply: Value, sep: &str| {
            let mut r = render("X", Format::Plain("text/plain"));
            r.sep = sep.as_bytes().to_vec();
            r.write(&reply)
        };
        assert_eq!(txt(bulk("a b"), "").bytes, b"a b");
        assert_eq!(txt(Value::Integer(2), "").bytes, b"2");
        assert_eq!(txt(Value::Simple(b"PONG".to_vec()), "").bytes, b"+PONG");
        assert_eq!(txt(Value::Error(b"ERR x".to_vec()), "").bytes, b"-ERR x");
        let list = Value::Array(vec![bulk("x"), bulk("y"), Value::Integer(3), bulk("z")]);
        assert_eq!(txt(list.clone(), "").bytes, b"xyz");
        assert_eq!(txt(list, ",").bytes, b"x,y,z");
        let nil = txt(Value::Nil, "");
        assert_eq!(
            (nil.status, nil.content_type, nil.bytes),
            (404, None, vec![])
        );
        let mut custom = render("GET", Format::Json);
        custom.content_type = Some("application/pdf".into());
        let body = custom.write(&bulk("%PDF"));
        assert_eq!(body.content_type.as_deref(), Some("application/pdf"));
        assert_eq!(body.bytes, b"%PDF");
    }

    #[test]
    fn msgpack_has_the_json_structure() {
        let body = render("GET", Format::Msgpack).write(&bulk("hi"));
        assert_eq!(body.content_type.as_deref(), Some("application/x-msgpack"));
        // fixmap 1, fixstr "GET", fixstr "hi"
        assert_eq!(body.bytes, b"\x81\xa3GET\xa2hi");
        let status = render("SET", Format::Msgpack).write(&Value::Simple(b"OK".to_vec()));
        // fixmap 1, "SET", fixarray 2 [true, "OK"]
        assert_eq!(status.bytes, b"\x81\xa3SET\x92\xc3\xa2OK");
        let hash =
            render("HGETALL", Format::Msgpack).write(&Value::Array(vec![bulk("a"), bulk("1")]));
        assert_eq!(hash.bytes, b"\x81\xa7HGETALL\x81\xa1a\xa11");
        let nil = render("GET", Format::Msgpack).write(&Value::Nil);
        assert_eq!(nil.bytes, b"\x81\xa3GET\xc0");
        // Not UTF-8: bin 8, not str.
        let binary = render("GET", Format::Msgpack).write(&Value::Bulk(vec![0xff, 0x00]));
        assert_eq!(binary.bytes, b"\x81\xa3GET\xc4\x02\xff\x00");
    }
}
