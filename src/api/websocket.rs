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
//! as webdis's JSON objects (or RESP arrays on `/.raw`).

use std::net::IpAddr;

use crate::json;
use crate::redis::subscriber::{Kind, MAX_TOPIC_BYTES};
use crate::resp::{self, Value};
use crate::webdis::command::Format;
use crate::webdis::format::Render;
use crate::webdis::{self, acl, Settings};

/// What a WebSocket message asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Run this command and send its reply.
    Call(Vec<Vec<u8>>),
    /// Join the subscriptions.
    Subscribe(Kind, Vec<Vec<u8>>),
    /// Send this answer (an error) without running anything.
    Answer(Vec<u8>),
}

/// Reads a message and decides what it needs. `raw`: the `/.raw` endpoint.
pub fn plan(payload: &[u8], raw: bool, settings: &Settings, peer: IpAddr, max: usize) -> Step {
    let args = match if raw {
        resp_command(payload, max)
    } else {
        json_command(payload, max)
    } {
        Ok(args) => args,
        Err(why) => return Step::Answer(error(raw, 400, &why)),
    };
    let name = args.first().cloned().unwrap_or_default();
    let client = acl::Client {
        addr: peer,
        credentials: None,
    };
    if !acl::allows(&settings.acl, client, &name) {
        return Step::Answer(error(raw, 403, "Forbidden"));
    }
    if name.eq_ignore_ascii_case(b"SUBSCRIBE") || name.eq_ignore_ascii_case(b"PSUBSCRIBE") {
        let kind = if name.eq_ignore_ascii_case(b"SUBSCRIBE") {
            Kind::Channel
        } else {
            Kind::Pattern
        };
        let topics: Vec<Vec<u8>> = args.into_iter().skip(1).collect();
        if topics.is_empty() {
            return Step::Answer(error(raw, 400, "name at least one channel"));
        }
        if topics.iter().any(|t| t.len() > MAX_TOPIC_BYTES) {
            let text = format!("a channel or pattern name has at most {MAX_TOPIC_BYTES} bytes");
            return Step::Answer(error(raw, 400, &text));
        }
        return Step::Subscribe(kind, topics);
    }
    if let Some(why) = webdis::refusal(&name) {
        let text = format!("{}: {why}", String::from_utf8_lossy(&name));
        return Step::Answer(error(raw, 403, &text));
    }
    if webdis::blocks(&args) {
        return Step::Answer(error(
            raw,
            403,
            "XREAD/XREADGROUP with BLOCK would hold a shared Redis connection",
        ));
    }
    Step::Call(args)
}

/// The answer to a command's reply: webdis's JSON object, or the RESP bytes; an error answer
/// when it would be larger than `max` bytes (JSON escaping can make it several times the reply).
pub fn reply(raw: bool, command: &[u8], value: &Value, max: usize) -> Vec<u8> {
    let render = Render {
        command: command.to_vec(),
        format: if raw { Format::Raw } else { Format::Json },
        jsonp: None,
        sep: Vec::new(),
        content_type: None,
    };
    if render.len_bound(value) > max {
        return error(raw, 502, &crate::redis::Error::ReplyTooLarge.to_string());
    }
    render.write(value).bytes
}

/// An error answer: `{"message":…,"error":true,"http_status":N}`, or `-ERR …\r\n` in raw.
pub fn error(raw: bool, status: u16, message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 48);
    if raw {
        out.extend_from_slice(b"-ERR ");
        // One line: a CR or LF inside would end the RESP error early.
        out.extend(
            message
                .bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(b"{\"message\":");
        json::write_str(&mut out, message.as_bytes());
        out.extend_from_slice(b",\"error\":true,\"http_status\":");
        json::write_i64(&mut out, i64::from(status));
        out.push(b'}');
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

    fn plan_json(text: &str, settings: &Settings) -> Step {
        plan(
            text.as_bytes(),
            false,
            settings,
            IpAddr::from([127, 0, 0, 1]),
            1 << 20,
        )
    }

    #[test]
    fn json_and_raw_commands_are_read() {
        let s = Settings::default();
        assert_eq!(
            plan_json(r#"["SET","hello","world"]"#, &s),
            Step::Call(vec![b"SET".to_vec(), b"hello".to_vec(), b"world".to_vec()])
        );
        assert_eq!(
            plan_json(r#"["INCRBY","n",5]"#, &s),
            Step::Call(vec![b"INCRBY".to_vec(), b"n".to_vec(), b"5".to_vec()])
        );
        let raw = plan(
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
            true,
            &s,
            IpAddr::from([127, 0, 0, 1]),
            1 << 20,
        );
        assert_eq!(raw, Step::Call(vec![b"GET".to_vec(), b"k".to_vec()]));
        for bad in ["[]", "{}", "\"GET\"", "[[\"GET\"]]", "[true]", "not json"] {
            assert!(matches!(plan_json(bad, &s), Step::Answer(_)), "{bad}");
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
            plan_json(r#"["flushall"]"#, &s),
            Step::Answer(br#"{"message":"Forbidden","error":true,"http_status":403}"#.to_vec())
        );
        let raw = plan(
            b"*1\r\n$8\r\nFLUSHALL\r\n",
            true,
            &s,
            IpAddr::from([127, 0, 0, 1]),
            64,
        );
        assert_eq!(raw, Step::Answer(b"-ERR Forbidden\r\n".to_vec()));
        assert!(matches!(plan_json(r#"["MULTI"]"#, &s), Step::Answer(_)));
        assert_eq!(
            plan_json(r#"["SUBSCRIBE","a","b"]"#, &s),
            Step::Subscribe(Kind::Channel, vec![b"a".to_vec(), b"b".to_vec()])
        );
    }

    #[test]
    fn replies_have_the_http_shapes() {
        assert_eq!(
            reply(false, b"SET", &Value::Simple(b"OK".to_vec()), 1024),
            br#"{"SET":[true,"OK"]}"#
        );
        assert_eq!(
            reply(true, b"SET", &Value::Simple(b"OK".to_vec()), 1024),
            b"+OK\r\n"
        );
        // 100 control bytes are 600 bytes of JSON: over a 500-byte bound.
        let control = Value::Bulk(vec![1; 100]);
        assert!(reply(false, b"GET", &control, 500).starts_with(br#"{"message":"#));
        assert_eq!(reply(true, b"GET", &control, 500).len(), 108);
        assert_eq!(error(true, 502, "a\r\nb"), b"-ERR a  b\r\n");
    }
}
