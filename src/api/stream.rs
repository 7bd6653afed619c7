//! What a stream asks of the server: a subscription answered with a body that never ends, or a
//! connection upgraded to WebSocket.
//!
//! The server frames and writes bytes; the API decides what they say. An event of the shared
//! subscriptions ([`Event`]) becomes the bytes of one message through the stream's
//! [`EventFormat`], and the server wraps them in a chunk or a WebSocket frame. A WebSocket
//! message is read by the connection's [`Session`], which says what it needs ([`Message`]) and
//! writes the answer to a command's reply.

use std::fmt;
use std::sync::Arc;

use super::Client;
use crate::http::response::Response;
use crate::redis;
use crate::redis::subscriber::{Event, Kind};
use crate::resp::Value;

/// How a stream's messages are written: one per event, and one per error the server reports on
/// the stream.
pub trait EventFormat: Send + Sync + fmt::Debug {
    /// One event as the bytes of one message; `confirmed` is how many topics Redis has
    /// confirmed for this stream so far (the count in webdis's confirmation).
    fn event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8>;

    /// An error as the bytes of one message (e.g. too many channels for one stream).
    fn error(&self, status: u16, text: &str) -> Vec<u8>;

    /// Streams whose formats have equal keys write every message alike, so a message is
    /// rendered once for all of them. Two formats that could write a message differently must
    /// have different keys.
    fn share_key(&self) -> &[u8];

    /// A message that says nothing, sent on a stream that has sent nothing for
    /// [`crate::config::STREAM_KEEPALIVE_INTERVAL`], so that proxies and clients do not take a
    /// quiet stream for a dead one (an SSE comment line). The default sends none.
    fn keepalive(&self) -> Option<Vec<u8>> {
        None
    }
}

/// A request that becomes a stream of pub/sub messages: a chunked answer that never ends.
#[derive(Debug)]
pub struct Subscription {
    /// The answer's status and headers; its body is the stream's messages, one chunk each.
    pub head: Response,
    /// Channels or patterns.
    pub kind: Kind,
    /// Their names, at least one.
    pub topics: Vec<Vec<u8>>,
    /// How its events are written.
    pub format: Arc<dyn EventFormat>,
}

/// How a WebSocket's messages are framed (RFC 6455 §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frames {
    /// Text frames: the payload must be UTF-8.
    Text,
    /// Binary frames: any bytes.
    Binary,
    /// A text frame when the message is valid UTF-8 (the only thing a text frame may carry), a
    /// binary frame otherwise: webdis sends RESP in text frames, and RESP can hold any bytes.
    TextWhenUtf8,
}

/// A WebSocket handshake that passed its checks.
#[derive(Debug)]
pub struct Upgrade {
    /// The whole `101 Switching Protocols` response.
    pub handshake: Vec<u8>,
    /// How every message the server sends on it is framed.
    pub frames: Frames,
    /// How events of its subscriptions are written.
    pub format: Arc<dyn EventFormat>,
    /// Reads its messages.
    pub session: Box<dyn Session>,
}

/// The API's side of one WebSocket: reads each message the client sends.
pub trait Session: Send + fmt::Debug {
    /// Decides what a (whole, reassembled) message needs.
    fn message(&self, payload: &[u8], client: Client) -> Message;

    /// The answer to a command's outcome, and its status for the metrics.
    fn reply(&self, call: &MessageCall, reply: Result<Value, redis::Error>) -> (Vec<u8>, u16);

    /// The answer for one topic left by [`Message::Unsubscribe`] (`None`: the stream had no
    /// topic of that kind to leave), with the number of topics the stream still has, as Redis
    /// counts them.
    fn unsubscribed(&self, kind: Kind, topic: Option<&[u8]>, remaining: usize) -> Vec<u8>;
}

/// What a WebSocket message needs.
#[derive(Debug, PartialEq, Eq)]
pub enum Message {
    /// Send this answer without running anything (a refusal); `status` is for the metrics.
    Answer {
        /// The answer's bytes.
        bytes: Vec<u8>,
        /// The HTTP status it stands for.
        status: u16,
    },
    /// Run a command, then send [`Session::reply`].
    Call(MessageCall),
    /// Join the shared subscriptions of these topics.
    Subscribe(Kind, Vec<Vec<u8>>),
    /// Leave these topics; none named: every topic of that kind the stream has.
    Unsubscribe(Kind, Vec<Vec<u8>>),
}

/// A command a WebSocket message asks to run.
#[derive(Debug, PartialEq, Eq)]
pub struct MessageCall {
    /// The command and its arguments.
    pub args: Vec<Vec<u8>>,
}
