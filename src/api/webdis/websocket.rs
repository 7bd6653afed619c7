//! Commands over a WebSocket (webdis API, `--websockets on`): one message in, one message out.
//!
//! ```text
//!   /.json   in: ["SET","hello","world"]          out: {"SET":[true,"OK"]}
//!   /.raw    in: *3\r\n$3\r\nSET\r\n…  (RESP)     out: +OK\r\n
//! ```
//!
//! The ACL applies to every command exactly as over HTTP (by address; a WebSocket has no Basic
//! credentials per message), and the commands refused over HTTP are refused here too. A refused
//! command is answered `{"message":"Forbidden","error":true,"http_status":403}` in JSON and
//! `-ERR Forbidden` in raw, as webdis does; other failures use the same shape with their status.
//! `SUBSCRIBE`/`PSUBSCRIBE` join the shared subscriptions: their confirmation and messages arrive
//! as webdis's JSON objects (or RESP arrays on `/.raw`). `UNSUBSCRIBE`/`PUNSUBSCRIBE` leave them
//! and are answered as Redis answers them, one message per topic left:
//! `{"UNSUBSCRIBE":["unsubscribe","ch",1]}` (the count is the topics the socket still has), and
//! `{"UNSUBSCRIBE":["unsubscribe",null,0]}` when there was nothing to leave.

use std::sync::Arc;

use super::vet::{vet, Vetted};
use crate::api::stream::{Message, MessageCall, Session};
use crate::api::{Client, Error};
use crate::json;
use crate::redis;
use crate::redis::subscriber::Kind;
use crate::resp::{self, Value};
use crate::webdis::command::Format;
use crate::webdis::format::Render;
use crate::webdis::{acl, Settings};

/// What a WebSocket's messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// `/` and `/.json`: JSON arrays in, webdis's JSON objects out.
    Json,
    /// `/.raw`: RESP in, RESP out.
    Resp,
}

/// One webdis WebSocket: reads its commands, writes their answers.
#[derive(Debug)]
pub struct Socket {
    wire: Wire,
    settings: Arc<Settings>,
    /// `--max-ws-message`: the largest command.
    max_message: usize,
    /// `--max-reply-bytes`: the largest answer.
    max_reply: usize,
}

impl Socket {
    /// A session in `wire` format, with the ACL of `settings`.
    pub fn new(
        wire: Wire,
        settings: Arc<Settings>,
        max_message: usize,
        max_reply: usize,
    ) -> Socket {
        Socket {
            wire,
            settings,
            max_message,
            max_reply,
        }
    }
}

impl Session for Socket {
    fn message(&self, payload: &[u8], client: Client) -> Message {
        let args = match self.wire {
            Wire::Resp => resp_command(payload, self.max_message),
            Wire::Json => json_command(payload, self.max_message),
        };
        let args = match args {
            Ok(args) => args,
            Err(why) => return self.refuse(&Error::BadRequest(why)),
        };
        // A WebSocket has no Basic credentials per message: the ACL sees the address only.
        let acl_client = acl::Client {
            addr: client.addr,
            credentials: None,
        };
        match vet(&args, &self.settings, acl_client) {
            Ok(Vetted::Command) => Message::Call(MessageCall { args }),
            Ok(Vetted::Subscribe(kind, topics)) => Message::Subscribe(kind, topics),
            Ok(Vetted::Unsubscribe(kind, topics)) => Message::Unsubscribe(kind, topics),
            Err(e) => self.refuse(&e),
        }
    }

    fn reply(&self, call: &MessageCall, reply: Result<Value, redis::Error>) -> (Vec<u8>, u16) {
        let name = call.args.first().map(Vec::as_slice).unwrap_or_default();
        match reply {
            Ok(value) => (answer(self.wire, name, &value, self.max_reply), 200),
            Err(e) => {
                let e = Error::Redis(e);
                let status = e.status();
                (error_message(self.wire, status, &e.to_string()), status)
            }
        }
    }

    fn unsubscribed(&self, kind: Kind, topic: Option<&[u8]>, remaining: usize) -> Vec<u8> {
        let (command, reply): (&[u8], &[u8]) = match kind {
            Kind::Channel => (b"UNSUBSCRIBE", b"unsubscribe"),
            Kind::Pattern => (b"PUNSUBSCRIBE", b"punsubscribe"),
        };
        // What Redis answers: ["unsubscribe", channel or nil, subscriptions left].
        let value = Value::Array(vec![
            Value::Bulk(reply.to_vec()),
            topic.map_or(Value::Nil, |t| Value::Bulk(t.to_vec())),
            Value::Integer(i64::try_from(remaining).unwrap_or(i64::MAX)),
        ]);
        answer(self.wire, command, &value, usize::MAX)
    }
}

impl Socket {
    /// The answer to a refused message. An ACL refusal says just `Forbidden`, as webdis does.
    fn refuse(&self, e: &Error) -> Message {
        let status = e.status();
        let text = match e {
            Error::NotAllowed(_) => "Forbidden".to_string(),
            other => other.to_string(),
        };
        Message::Answer {
            bytes: error_message(self.wire, status, &text),
            status,
        }
    }
}

/// The answer to a command's reply: webdis's JSON object, or the RESP bytes; an error answer
/// when it would be larger than `max` bytes (JSON escaping can make it several times the reply).
pub fn answer(wire: Wire, command: &[u8], value: &Value, max: usize) -> Vec<u8> {
    let render = Render {
        command: command.to_vec(),
        format: match wire {
            Wire::Resp => Format::Raw,
            Wire::Json => Format::Json,
        },
        jsonp: None,
        sep: Vec::new(),
        content_type: None,
    };
    if render.len_bound(value) > max {
        let e = Error::Redis(redis::Error::ReplyTooLarge);
        return error_message(wire, e.status(), &e.to_string());
    }
    render.write(value).bytes
}

/// An error answer: `{"message":…,"error":true,"http_status":N}`, or `-ERR …\r\n` in RESP.
pub fn error_message(wire: Wire, status: u16, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 48);
    match wire {
        Wire::Resp => {
            out.extend_from_slice(b"-ERR ");
            // One line: a CR or LF inside would end the RESP error early.
            out.extend(
                message
                    .bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
        Wire::Json => {
            out.extend_from_slice(b"{\"message\":");
            json::write_str(&mut out, message.as_bytes());
            out.extend_from_slice(b",\"error\":true,\"http_status\":");
            json::write_i64(&mut out, i64::from(status));
            out.push(b'}');
        }
    }
    out
}

/// `["SET","k","v"]`: strings, or numbers (sent as their text).
fn json_command(payload: &[u8], max: usize) -> Result<Vec<Vec<u8>>, String> {
    let limits = json::Limits {
        max_bytes: max,
        max_depth: 2,
    };
    let value = json::parse(payload, &limits).map_err(|e| format!("not a JSON command: {e}"))?;
    let items = value
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or("a command is a JSON array of strings, e.g. [\"GET\",\"key\"]")?;
    items
        .iter()
        .map(|item| match item {
            json::Value::String(s) => Ok(s.as_bytes().to_vec()),
            json::Value::Number(json::Number::Int(n)) => Ok(n.to_string().into_bytes()),
            json::Value::Number(json::Number::Float(f)) => Ok(f.to_string().into_bytes()),
            _ => Err("command arguments must be strings or numbers".to_string()),
        })
        .collect()
}

/// One RESP array of bulk strings, the whole message.
fn resp_command(payload: &[u8], max: usize) -> Result<Vec<Vec<u8>>, String> {
    let limits = resp::Limits {
        max_bulk_bytes: max,
        ..resp::Limits::default()
    };
    let bad = || "a command is one RESP array of bulk strings".to_string();
    match resp::decode(payload, &limits) {
        Ok(resp::Status::Complete((Value::Array(items), used))) if used == payload.len() => {
            let args: Option<Vec<Vec<u8>>> = items
                .into_iter()
                .map(|item| match item {
                    Value::Bulk(b) => Some(b),
                    _ => None,
                })
                .collect();
            args.filter(|a| !a.is_empty()).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn client() -> Client {
        Client {
            addr: IpAddr::from([127, 0, 0, 1]),
        }
    }

    fn socket(wire: Wire, settings: Settings, max: usize) -> Socket {
        Socket::new(wire, Arc::new(settings), max, 1 << 20)
    }

    fn plan_json(text: &str, settings: &Settings) -> Message {
        socket(Wire::Json, settings.clone(), 1 << 20).message(text.as_bytes(), client())
    }

    fn answer_bytes(message: Message) -> Vec<u8> {
        match message {
            Message::Answer { bytes, .. } => bytes,
            other => panic!("not an answer: {other:?}"),
        }
    }

    #[test]
    fn json_and_raw_commands_are_read() {
        let s = Settings::default();
        let call = |args: &[&str]| {
            Message::Call(MessageCall {
                args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            })
        };
        assert_eq!(
            plan_json(r#"["SET","hello","world"]"#, &s),
            call(&["SET", "hello", "world"])
        );
        assert_eq!(
            plan_json(r#"["INCRBY","n",5]"#, &s),
            call(&["INCRBY", "n", "5"])
        );
        let raw = socket(Wire::Resp, s.clone(), 1 << 20)
            .message(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", client());
        assert_eq!(raw, call(&["GET", "k"]));
        for bad in ["[]", "{}", "\"GET\"", "[[\"GET\"]]", "[true]", "not json"] {
            assert!(
                matches!(plan_json(bad, &s), Message::Answer { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn forbidden_is_answered_as_webdis_does() {
        let mut s = Settings::default();
        s.acl.push(acl::Rule {
            disabled: vec![b"FLUSHALL".to_vec()],
            ..acl::Rule::default()
        });
        assert_eq!(
            answer_bytes(plan_json(r#"["flushall"]"#, &s)),
            br#"{"message":"Forbidden","error":true,"http_status":403}"#.to_vec()
        );
        let raw = socket(Wire::Resp, s.clone(), 64).message(b"*1\r\n$8\r\nFLUSHALL\r\n", client());
        assert_eq!(answer_bytes(raw), b"-ERR Forbidden\r\n".to_vec());
        assert!(matches!(
            plan_json(r#"["MULTI"]"#, &s),
            Message::Answer { .. }
        ));
        assert_eq!(
            plan_json(r#"["SUBSCRIBE","a","b"]"#, &s),
            Message::Subscribe(Kind::Channel, vec![b"a".to_vec(), b"b".to_vec()])
        );
    }

    #[test]
    fn replies_have_the_http_shapes() {
        assert_eq!(
            answer(Wire::Json, b"SET", &Value::Simple(b"OK".to_vec()), 1024),
            br#"{"SET":[true,"OK"]}"#
        );
        assert_eq!(
            answer(Wire::Resp, b"SET", &Value::Simple(b"OK".to_vec()), 1024),
            b"+OK\r\n"
        );
        // 100 control bytes are 600 bytes of JSON: over a 500-byte bound.
        let control = Value::Bulk(vec![1; 100]);
        assert!(answer(Wire::Json, b"GET", &control, 500).starts_with(br#"{"message":"#));
        assert_eq!(answer(Wire::Resp, b"GET", &control, 500).len(), 108);
        assert_eq!(error_message(Wire::Resp, 502, "a\r\nb"), b"-ERR a  b\r\n");
    }

    #[test]
    fn unsubscriptions_are_answered_as_redis_does() {
        let json = socket(Wire::Json, Settings::default(), 64);
        assert_eq!(
            json.unsubscribed(Kind::Channel, Some(b"ch"), 1),
            br#"{"UNSUBSCRIBE":["unsubscribe","ch",1]}"#
        );
        assert_eq!(
            json.unsubscribed(Kind::Pattern, None, 0),
            br#"{"PUNSUBSCRIBE":["punsubscribe",null,0]}"#
        );
        let raw = socket(Wire::Resp, Settings::default(), 64);
        assert_eq!(
            raw.unsubscribed(Kind::Channel, Some(b"ch"), 0),
            b"*3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"
        );
        assert_eq!(
            plan_json(r#"["UNSUBSCRIBE"]"#, &Settings::default()),
            Message::Unsubscribe(Kind::Channel, vec![])
        );
    }
}
