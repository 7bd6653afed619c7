//! How Redis's replies become Upstash answers.
//!
//! ```text
//!   reply            JSON (default)        Upstash-Encoding: base64
//!   +OK              "OK"                  "OK"           (as a whole result only: nested, "T0s=")
//!   +PONG, $bulk     "PONG", "value"       "UE9ORw==", "dmFsdWU="
//!   :42              42                    42
//!   $-1, *-1         null                  null
//!   *[…]             […], at any depth     […], every string encoded at any depth
//!   -ERR x           400 {"error":"ERR x"} (never encoded)
//! ```
//!
//! A single command answers `{"result": …}`; `/pipeline` and `/multi-exec` answer a list of
//! `{"result": …}` or `{"error": "…"}`, one per command, in order. Without base64, a bulk string
//! that is not UTF-8 is written with U+FFFD in place of each bad sequence (JSON holds text only):
//! clients that store binary values use base64, as `@upstash/redis` does by default.
//!
//! `Upstash-Response-Format: resp2` answers the reply's RESP2 bytes instead
//! (`application/octet-stream`; a pipeline's replies one after another, a transaction's `EXEC`
//! array). It cannot be combined with base64 (400).
//!
//! An answer is refused (502) when its size bound passes `--max-reply-bytes`, before it is built:
//! escaping and base64 can make it several times the reply.

use super::super::{Error, ReadBatch};
use crate::http::response::Response;
use crate::json;
use crate::redis::{self, Outcome};
use crate::resp::{self, Value};
use crate::websocket::base64;

/// The `Content-Type` of JSON answers.
pub const JSON: &str = "application/json";
/// The `Content-Type` of RESP2 answers.
pub const RESP: &str = "application/octet-stream";

/// How strings are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// As JSON text (U+FFFD for bytes that are not UTF-8).
    Plain,
    /// Base64, except the `OK` status (`Upstash-Encoding: base64`).
    Base64,
}

/// What the answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON, `{"result": …}`.
    Json,
    /// The reply's RESP2 bytes (`Upstash-Response-Format: resp2`).
    Resp2,
}

/// How to answer the replies of one request.
#[derive(Debug, Clone)]
pub struct Reply {
    /// How strings are written.
    pub encoding: Encoding,
    /// JSON or RESP2.
    pub format: Format,
    /// `--max-reply-bytes`: the largest answer body.
    pub max_body: usize,
}

impl Reply {
    /// The answer to one command's reply.
    pub fn respond(&self, reply: Value) -> Response {
        if let Value::Error(text) = reply {
            return self.error(Error::Command(String::from_utf8_lossy(&text).into_owned()));
        }
        self.answer(|out| self.result(&reply, out), self.bound(&reply) + 12)
    }

    /// An error answer.
    pub fn error(&self, error: Error) -> Response {
        error.into_response()
    }

    /// A 200 answer whose body `write` makes, unless `bound` passes the limit.
    fn answer(&self, write: impl FnOnce(&mut Vec<u8>), bound: usize) -> Response {
        if bound > self.max_body {
            return self.error(Error::Redis(redis::Error::ReplyTooLarge));
        }
        let mut body = Vec::with_capacity(bound.min(64 * 1024));
        write(&mut body);
        let content_type = match self.format {
            Format::Json => JSON,
            Format::Resp2 => RESP,
        };
        Response::bytes(200, content_type, body)
    }

    /// `{"result":…}` (or the RESP bytes).
    fn result(&self, value: &Value, out: &mut Vec<u8>) {
        match self.format {
            Format::Resp2 => resp::encode(value, out),
            Format::Json => {
                out.extend_from_slice(b"{\"result\":");
                write_value(value, self.encoding, Depth::Result, out);
                out.push(b'}');
            }
        }
    }

    /// `{"result":…}` or `{"error":"…"}` for one command of a list.
    fn entry(&self, value: &Value, out: &mut Vec<u8>) {
        match (self.format, value) {
            (Format::Json, Value::Error(text)) => {
                out.extend_from_slice(b"{\"error\":");
                json::write_str(out, text);
                out.push(b'}');
            }
            _ => self.result(value, out),
        }
    }

    /// The answer to a list of replies: a JSON array of entries, or the RESP bytes in a row.
    fn list(&self, values: &[Value]) -> Response {
        let bound = values
            .iter()
            .map(|v| self.bound(v).saturating_add(12))
            .fold(2usize, usize::saturating_add);
        self.answer(
            |out| {
                if self.format == Format::Json {
                    out.push(b'[');
                }
                for (i, value) in values.iter().enumerate() {
                    if i > 0 && self.format == Format::Json {
                        out.push(b',');
                    }
                    self.entry(value, out);
                }
                if self.format == Format::Json {
                    out.push(b']');
                }
            },
            bound,
        )
    }

    /// At least the bytes the value's answer takes.
    fn bound(&self, value: &Value) -> usize {
        match self.format {
            // RESP adds at most a header line of 32 bytes to each value.
            Format::Resp2 => resp_bound(value),
            Format::Json => json_bound(value, self.encoding),
        }
    }
}

impl ReadBatch for Reply {
    /// A transport failure fails the whole answer (with its status): some commands may have
    /// run, and a 200 would hide that.
    fn pipeline(&self, replies: Vec<Result<Value, redis::Error>>) -> Response {
        let mut values = Vec::with_capacity(replies.len());
        for reply in replies {
            match reply {
                Ok(value) => values.push(value),
                Err(e) => return self.error(Error::Redis(e)),
            }
        }
        self.list(&values)
    }

    fn transaction(&self, outcome: Result<Outcome, redis::Error>) -> Response {
        match outcome {
            Ok(Outcome::Committed(values)) if self.format == Format::Resp2 => {
                let all = Value::Array(values);
                self.answer(|out| resp::encode(&all, out), resp_bound(&all))
            }
            Ok(Outcome::Committed(values)) => self.list(&values),
            Ok(Outcome::Aborted(text)) => {
                self.error(Error::Command(String::from_utf8_lossy(&text).into_owned()))
            }
            Err(e) => self.error(Error::Redis(e)),
        }
    }
}

/// Where a value sits in the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// It is the whole result.
    Result,
    /// It is inside an array.
    Nested,
}

/// Writes a reply as JSON. Only an `OK` status that is the whole result escapes base64 (the
/// clients read a result of `"OK"` as is, but decode every string inside an array); an error
/// inside an array (a script's) is its text.
fn write_value(value: &Value, encoding: Encoding, depth: Depth, out: &mut Vec<u8>) {
    let text = |bytes: &[u8], out: &mut Vec<u8>| match encoding {
        Encoding::Plain => json::write_str(out, bytes),
        Encoding::Base64 => {
            out.push(b'"');
            out.extend_from_slice(base64::encode(bytes).as_bytes());
            out.push(b'"');
        }
    };
    match value {
        Value::Simple(s) if s == b"OK" && depth == Depth::Result => {
            out.extend_from_slice(b"\"OK\"");
        }
        Value::Simple(s) | Value::Bulk(s) | Value::Double(s) | Value::BigNumber(s) => text(s, out),
        Value::Verbatim(_, s) => text(s, out),
        Value::Error(e) => json::write_str(out, e),
        Value::Integer(n) => json::write_i64(out, *n),
        Value::Boolean(b) => out.push(if *b { b'1' } else { b'0' }),
        Value::Nil => out.extend_from_slice(b"null"),
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, encoding, Depth::Nested, out);
            }
            out.push(b']');
        }
        Value::Map(pairs) => {
            // RESP2 has no map; a RESP3 one is written as RESP2 writes it: flat.
            out.push(b'[');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(k, encoding, Depth::Nested, out);
                out.push(b',');
                write_value(v, encoding, Depth::Nested, out);
            }
            out.push(b']');
        }
    }
}

/// An upper bound of what [`write_value`] writes.
fn json_bound(value: &Value, encoding: Encoding) -> usize {
    let text = |s: &[u8]| match encoding {
        Encoding::Plain => json::write::str_len(s),
        Encoding::Base64 => s.len().div_ceil(3).saturating_mul(4).saturating_add(2),
    };
    match value {
        Value::Simple(s) | Value::Bulk(s) | Value::Double(s) | Value::BigNumber(s) => text(s),
        Value::Verbatim(_, s) => text(s),
        Value::Error(e) => json::write::str_len(e),
        Value::Integer(_) | Value::Boolean(_) | Value::Nil => 20,
        Value::Array(items) | Value::Set(items) | Value::Push(items) => items
            .iter()
            .map(|v| json_bound(v, encoding).saturating_add(1))
            .fold(2, usize::saturating_add),
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| {
                json_bound(k, encoding)
                    .saturating_add(json_bound(v, encoding))
                    .saturating_add(2)
            })
            .fold(2, usize::saturating_add),
    }
}

/// An upper bound of what `resp::encode` writes.
fn resp_bound(value: &Value) -> usize {
    let own = match value {
        Value::Simple(s) | Value::Bulk(s) | Value::Double(s) | Value::BigNumber(s) => s.len(),
        Value::Error(s) => s.len(),
        Value::Verbatim(_, s) => s.len().saturating_add(4),
        Value::Integer(_) | Value::Boolean(_) | Value::Nil => 0,
        Value::Array(items) | Value::Set(items) | Value::Push(items) => {
            items.iter().map(resp_bound).fold(0, usize::saturating_add)
        }
        Value::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| resp_bound(k).saturating_add(resp_bound(v)))
            .fold(0, usize::saturating_add),
    };
    own.saturating_add(32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(encoding: Encoding, format: Format) -> Reply {
        Reply {
            encoding,
            format,
            max_body: 1 << 20,
        }
    }

    fn body(response: &Response) -> String {
        String::from_utf8_lossy(&response.body).into_owned()
    }

    fn nested() -> Value {
        Value::Array(vec![
            Value::Bulk(b"a".to_vec()),
            Value::Integer(1),
            Value::Nil,
            Value::Array(vec![
                Value::Bulk(b"\xff".to_vec()),
                Value::Simple(b"OK".to_vec()),
            ]),
        ])
    }

    #[test]
    fn plain_json_keeps_text_and_replaces_bad_utf8() {
        let r = reply(Encoding::Plain, Format::Json).respond(nested());
        assert_eq!(r.status, 200);
        assert_eq!(
            body(&r),
            "{\"result\":[\"a\",1,null,[\"\u{FFFD}\",\"OK\"]]}"
        );
    }

    #[test]
    fn base64_encodes_every_string_at_any_depth_but_ok() {
        let r = reply(Encoding::Base64, Format::Json).respond(nested());
        assert_eq!(
            body(&r),
            "{\"result\":[\"YQ==\",1,null,[\"/w==\",\"T0s=\"]]}"
        );
        let ok = reply(Encoding::Base64, Format::Json).respond(Value::Simple(b"OK".to_vec()));
        assert_eq!(body(&ok), "{\"result\":\"OK\"}");
        let pong = reply(Encoding::Base64, Format::Json).respond(Value::Simple(b"PONG".to_vec()));
        assert_eq!(body(&pong), "{\"result\":\"UE9ORw==\"}");
    }

    #[test]
    fn an_error_reply_is_400_and_never_encoded() {
        let r = reply(Encoding::Base64, Format::Json).respond(Value::Error(b"ERR x".to_vec()));
        assert_eq!(r.status, 400);
        let list = reply(Encoding::Base64, Format::Json).pipeline(vec![
            Ok(Value::Integer(1)),
            Ok(Value::Error(b"WRONGTYPE no".to_vec())),
        ]);
        assert_eq!(body(&list), "[{\"result\":1},{\"error\":\"WRONGTYPE no\"}]");
    }

    #[test]
    fn resp2_is_the_reply_bytes() {
        let r = reply(Encoding::Plain, Format::Resp2).respond(nested());
        assert_eq!(r.content_type, Some(RESP));
        assert_eq!(
            r.body,
            b"*4\r\n$1\r\na\r\n:1\r\n$-1\r\n*2\r\n$1\r\n\xff\r\n+OK\r\n"
        );
    }

    #[test]
    fn transactions_answer_a_list_or_the_first_refusal() {
        let r = reply(Encoding::Plain, Format::Json);
        let done = r.transaction(Ok(Outcome::Committed(vec![Value::Simple(b"OK".to_vec())])));
        assert_eq!(body(&done), "[{\"result\":\"OK\"}]");
        let aborted = r.transaction(Ok(Outcome::Aborted(b"ERR unknown command".to_vec())));
        assert_eq!(aborted.status, 400);
        assert!(body(&aborted).contains("ERR unknown command"));
        assert_eq!(r.transaction(Err(redis::Error::Timeout)).status, 504);
    }

    #[test]
    fn answers_past_the_limit_are_refused_before_they_are_built() {
        let mut r = reply(Encoding::Base64, Format::Json);
        let value = Value::Bulk(vec![b'x'; 300]);
        r.max_body = 300;
        assert_eq!(r.respond(value.clone()).status, 502);
        r.max_body = 500;
        assert_eq!(r.respond(value).status, 200);
    }
}
