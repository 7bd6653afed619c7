//! How webdis writes pub/sub events: `["subscribe", channel, count]`, `["message", channel,
//! payload]`, `["pmessage", pattern, channel, payload]`, and the gateway's own `["lost", channel,
//! why]` when the connection to Redis dropped; under the command's name in JSON (or JSONP, or as
//! raw RESP arrays).
//!
//! Over HTTP the key is the command as the client typed it (`{"subscribe":[…]}`); on a WebSocket,
//! where one connection may hold both kinds, it is `SUBSCRIBE` or `PSUBSCRIBE` by the event's kind.

use super::websocket;
use crate::api::stream::EventFormat;
use crate::redis::subscriber::{Event, Kind};
use crate::resp::Value;
use crate::webdis::command::Format;
use crate::webdis::format::Render;

/// What the `lost` event says.
const LOST: &[u8] =
    b"the connection to redis was lost: messages are missed until the subscription is confirmed again";

/// The events of a `GET /SUBSCRIBE/…` stream, written as the request asked (JSON, JSONP, raw…).
#[derive(Debug)]
pub struct ChunkEvents {
    render: Render,
    key: Vec<u8>,
}

impl ChunkEvents {
    /// Events written as `render` writes a reply.
    pub fn new(render: Render) -> ChunkEvents {
        let format: &[u8] = match render.format {
            Format::Json => b"json",
            Format::Msgpack => b"msgpack",
            Format::Raw => b"raw",
            Format::Plain(content_type) => content_type.as_bytes(),
        };
        let key = share_key(&[
            b"webdis-http",
            &render.command,
            format,
            render.jsonp.as_deref().unwrap_or_default().as_bytes(),
            &render.sep,
            render
                .content_type
                .as_deref()
                .unwrap_or_default()
                .as_bytes(),
        ]);
        ChunkEvents { render, key }
    }
}

impl EventFormat for ChunkEvents {
    fn event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8> {
        self.render.write(&event_value(event, confirmed)).bytes
    }

    fn error(&self, status: u16, text: &str) -> Vec<u8> {
        websocket::error_message(websocket::Wire::Json, status, text)
    }

    fn share_key(&self) -> &[u8] {
        &self.key
    }
}

/// The events of a WebSocket: JSON on `/` and `/.json`, RESP on `/.raw`.
#[derive(Debug)]
pub struct SocketEvents {
    wire: websocket::Wire,
    key: Vec<u8>,
}

impl SocketEvents {
    /// Events in the WebSocket's wire format.
    pub fn new(wire: websocket::Wire) -> SocketEvents {
        let tag: &[u8] = match wire {
            websocket::Wire::Json => b"json",
            websocket::Wire::Resp => b"raw",
        };
        SocketEvents {
            wire,
            key: share_key(&[b"webdis-websocket", tag]),
        }
    }
}

impl EventFormat for SocketEvents {
    fn event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8> {
        let (Event::Subscribed { kind, .. }
        | Event::Message { kind, .. }
        | Event::Lost { kind, .. }) = *event;
        let command: &[u8] = match kind {
            Kind::Channel => b"SUBSCRIBE",
            Kind::Pattern => b"PSUBSCRIBE",
        };
        let render = Render {
            command: command.to_vec(),
            format: match self.wire {
                websocket::Wire::Json => Format::Json,
                websocket::Wire::Resp => Format::Raw,
            },
            jsonp: None,
            sep: Vec::new(),
            content_type: None,
        };
        render.write(&event_value(event, confirmed)).bytes
    }

    fn error(&self, status: u16, text: &str) -> Vec<u8> {
        websocket::error_message(self.wire, status, text)
    }

    fn share_key(&self) -> &[u8] {
        &self.key
    }
}

/// An event as the array webdis writes.
fn event_value(event: &Event<'_>, confirmed: usize) -> Value {
    let bulk = |b: &[u8]| Value::Bulk(b.to_vec());
    match *event {
        Event::Subscribed { kind, topic } => Value::Array(vec![
            bulk(match kind {
                Kind::Channel => b"subscribe",
                Kind::Pattern => b"psubscribe",
            }),
            bulk(topic),
            Value::Integer(i64::try_from(confirmed).unwrap_or(i64::MAX)),
        ]),
        Event::Message {
            kind: Kind::Channel,
            channel,
            payload,
            ..
        } => Value::Array(vec![bulk(b"message"), bulk(channel), bulk(payload)]),
        Event::Message {
            kind: Kind::Pattern,
            topic,
            channel,
            payload,
        } => Value::Array(vec![
            bulk(b"pmessage"),
            bulk(topic),
            bulk(channel),
            bulk(payload),
        ]),
        Event::Lost { topic, .. } => Value::Array(vec![bulk(b"lost"), bulk(topic), bulk(LOST)]),
    }
}

/// A key made of `parts`, each with its length in front, so that no two lists of parts make the
/// same key.
fn share_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = Vec::new();
    for part in parts {
        key.extend_from_slice(&(part.len() as u64).to_le_bytes());
        key.extend_from_slice(part);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(format: Format, jsonp: Option<&str>) -> Render {
        Render {
            command: b"SUBSCRIBE".to_vec(),
            format,
            jsonp: jsonp.map(str::to_string),
            sep: Vec::new(),
            content_type: None,
        }
    }

    #[test]
    fn http_events_are_webdis_json_under_the_command() {
        let events = ChunkEvents::new(render(Format::Json, None));
        let subscribed = Event::Subscribed {
            kind: Kind::Channel,
            topic: b"ch",
        };
        assert_eq!(
            events.event(&subscribed, 1),
            br#"{"SUBSCRIBE":["subscribe","ch",1]}"#
        );
        let message = Event::Message {
            kind: Kind::Channel,
            topic: b"ch",
            channel: b"ch",
            payload: b"hi \"x\"",
        };
        assert_eq!(
            events.event(&message, 1),
            br#"{"SUBSCRIBE":["message","ch","hi \"x\""]}"#
        );
    }

    #[test]
    fn websocket_events_are_keyed_by_kind() {
        let events = SocketEvents::new(websocket::Wire::Json);
        let message = Event::Message {
            kind: Kind::Pattern,
            topic: b"h*",
            channel: b"hello",
            payload: b"m",
        };
        assert_eq!(
            events.event(&message, 1),
            br#"{"PSUBSCRIBE":["pmessage","h*","hello","m"]}"#
        );
    }

    #[test]
    fn formats_that_write_alike_share_a_key_and_others_do_not() {
        let a = ChunkEvents::new(render(Format::Json, None));
        let b = ChunkEvents::new(render(Format::Json, None));
        let c = ChunkEvents::new(render(Format::Json, Some("f")));
        let d = ChunkEvents::new(render(Format::Raw, None));
        assert_eq!(a.share_key(), b.share_key());
        assert_ne!(a.share_key(), c.share_key());
        assert_ne!(a.share_key(), d.share_key());
        assert_ne!(
            SocketEvents::new(websocket::Wire::Json).share_key(),
            SocketEvents::new(websocket::Wire::Resp).share_key()
        );
        // Length prefixes: ("ab", "") and ("a", "b") are different lists.
        assert_ne!(share_key(&[b"ab", b""]), share_key(&[b"a", b"b"]));
    }
}
