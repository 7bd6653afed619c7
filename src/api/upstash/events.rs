//! Pub/sub over Server-Sent Events: how `/subscribe/<channel>` and `/psubscribe/<pattern>`
//! streams write their events (the server frames them as chunks of a body that never ends).
//!
//! ```text
//!   data: subscribe,<channel>,<n>            n: topics Redis has confirmed for this stream
//!   data: psubscribe,<pattern>,<n>
//!   data: message,<channel>,<payload>
//!   data: pmessage,<pattern>,<channel>,<payload>
//!   : lost <topic>                           a comment: the connection to Redis dropped;
//!                                            messages are missed until `subscribe` comes again
//!   event: error / data: <text>              the gateway ends the stream (e.g. a slow reader)
//!   : keep-alive                             a comment, after 15 s without an event
//! ```
//!
//! Each event ends with a blank line. A payload holding a line break is written over several
//! `data:` lines, one per line, which an SSE reader joins back with `\n` (HTML's SSE rules); so
//! `\r\n` and a lone `\r` in a payload arrive as `\n`. Bytes are written as Redis sent them: a
//! payload that is not UTF-8 is decoded by the reader with U+FFFD, as SSE is UTF-8.

use crate::api::stream::EventFormat;
use crate::redis::subscriber::{Event, Kind};

/// The events of an Upstash SSE stream.
#[derive(Debug)]
pub struct SseEvents;

impl EventFormat for SseEvents {
    fn event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8> {
        let mut out = Vec::new();
        match *event {
            Event::Subscribed { kind, topic } => {
                let name: &[u8] = match kind {
                    Kind::Channel => b"subscribe",
                    Kind::Pattern => b"psubscribe",
                };
                let count = confirmed.to_string();
                data(&[name, topic, count.as_bytes()], &mut out);
            }
            Event::Message {
                kind: Kind::Channel,
                channel,
                payload,
                ..
            } => data(&[b"message", channel, payload], &mut out),
            Event::Message {
                kind: Kind::Pattern,
                topic,
                channel,
                payload,
            } => data(&[b"pmessage", topic, channel, payload], &mut out),
            Event::Lost { topic, .. } => {
                out.extend_from_slice(b": lost ");
                out.extend(
                    topic
                        .iter()
                        .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
                );
                out.extend_from_slice(b"\n\n");
            }
        }
        out
    }

    fn error(&self, _status: u16, text: &str) -> Vec<u8> {
        let mut out = b"event: error\n".to_vec();
        data(&[text.as_bytes()], &mut out);
        out
    }

    fn share_key(&self) -> &[u8] {
        b"upstash-sse"
    }

    fn keepalive(&self) -> Option<Vec<u8>> {
        Some(b": keep-alive\n\n".to_vec())
    }
}

/// One `data:` event of `fields` joined with commas; each line break starts a new `data:` line.
fn data(fields: &[&[u8]], out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    let mut previous = 0u8;
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        for &b in *field {
            match b {
                // `\r\n` is one line break.
                b'\n' if previous == b'\r' => {}
                b'\r' | b'\n' => out.extend_from_slice(b"\ndata: "),
                _ => out.push(b),
            }
            previous = b;
        }
    }
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(event: &Event<'_>, confirmed: usize) -> String {
        String::from_utf8(SseEvents.event(event, confirmed)).unwrap()
    }

    #[test]
    fn events_are_data_lines_ending_with_a_blank_line() {
        let sub = Event::Subscribed {
            kind: Kind::Channel,
            topic: b"news",
        };
        assert_eq!(text(&sub, 1), "data: subscribe,news,1\n\n");
        let msg = Event::Message {
            kind: Kind::Channel,
            topic: b"news",
            channel: b"news",
            payload: b"hi",
        };
        assert_eq!(text(&msg, 1), "data: message,news,hi\n\n");
        let pmsg = Event::Message {
            kind: Kind::Pattern,
            topic: b"n*",
            channel: b"news",
            payload: b"hi",
        };
        assert_eq!(text(&pmsg, 1), "data: pmessage,n*,news,hi\n\n");
    }

    #[test]
    fn a_payload_with_line_breaks_spans_data_lines() {
        let msg = Event::Message {
            kind: Kind::Channel,
            topic: b"c",
            channel: b"c",
            payload: b"a\nb\r\nc\rd",
        };
        assert_eq!(
            text(&msg, 1),
            "data: message,c,a\ndata: b\ndata: c\ndata: d\n\n"
        );
    }
}
