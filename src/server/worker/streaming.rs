//! The worker's side of streams: turning a connection into a subscription or a WebSocket, and
//! serving the messages a WebSocket sends. Pushed messages themselves never pass through a
//! worker: the `redis-pubsub` thread writes them into each stream's outbox.
//!
//! What the messages say is the API's ([`crate::api::EventFormat`], [`crate::api::Session`]);
//! here they are framed, ordered and bounded.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::{Item, Worker, MAX_WS_MESSAGES_PER_TURN};
use crate::api::{Client, Message, Session, Subscription, Upgrade};
use crate::http::response::{self, Body, Response};
use crate::http::Status;
use crate::log;
use crate::redis::subscriber::{Kind, Listener};
use crate::redis::{self, Command};
use crate::server::connection::{Connection, WebSocket};
use crate::server::stream::{Outbox, Transport, MAX_SUBSCRIPTIONS_PER_STREAM};
use crate::websocket::frame::{self, Opcode};

impl Worker<'_> {
    /// Answers a subscription: a chunked 200 whose chunks are the confirmation and then the
    /// messages, delivered by the `redis-pubsub` thread through the connection's outbox.
    pub(super) fn start_subscription(
        &mut self,
        conn: &mut Connection,
        item: &Item,
        subscription: Subscription,
    ) {
        let response = self
            .shared
            .decorate(subscription.head, item.listener(), item.head());
        self.record(conn, item, &response, Body::Omit);
        let mut head = Vec::with_capacity(256);
        response::write_chunked_head(&response, self.date.get(), &mut head);
        let Some(outbox) = self.open_outbox(conn, Transport::Chunked, subscription.format) else {
            return;
        };
        outbox.send_raw(&head);
        // Whatever the client pipelined after the subscription is not served: the response
        // that answers it never ends.
        conn.clear_input();
        if !outbox.reserve_subscriptions(subscription.topics.len()) {
            let text = format!("at most {MAX_SUBSCRIPTIONS_PER_STREAM} channels per stream");
            outbox.send_error(400, &text);
            outbox.send_raw(&outbox.goodbye(1000, ""));
            if let Some(stream) = conn.stream_mut() {
                stream.ending = true;
            }
            return;
        }
        for topic in &subscription.topics {
            let listener: Arc<dyn Listener> = outbox.clone();
            let hub = self.shared.backend.hub();
            if let Err(e) = hub.subscribe(listener, subscription.kind, topic) {
                log::error(format_args!("subscription failed: {e}"));
                outbox.close();
                return;
            }
        }
    }

    /// Completes a WebSocket handshake: `101 Switching Protocols`, then frames both ways.
    pub(super) fn start_websocket(&mut self, conn: &mut Connection, item: &Item, upgrade: Upgrade) {
        self.record(conn, item, &Response::empty(101), Body::Omit);
        let transport = Transport::WebSocket(upgrade.frames);
        let Some(outbox) = self.open_outbox(conn, transport, upgrade.format) else {
            return;
        };
        outbox.send_raw(&upgrade.handshake);
        if let Some(stream) = conn.stream_mut() {
            stream.websocket = Some(WebSocket {
                assembler: frame::Assembler::default(),
                session: upgrade.session,
            });
        }
    }

    /// Makes `conn` a stream; on failure (the socket cannot be duplicated) it is closed.
    fn open_outbox(
        &self,
        conn: &mut Connection,
        transport: Transport,
        format: Arc<dyn crate::api::EventFormat>,
    ) -> Option<Arc<Outbox>> {
        match Outbox::new(
            conn.socket(),
            transport,
            format,
            self.shared.cfg.max_stream_buffer,
            Arc::clone(&self.shared.metrics),
            &self.shared.budget,
        ) {
            Ok(outbox) => {
                conn.become_stream(Arc::clone(&outbox), None);
                Some(outbox)
            }
            Err(e) => {
                log::warn(format_args!(
                    "cannot open a stream for {}: {e}",
                    conn.peer()
                ));
                conn.close_after_output();
                None
            }
        }
    }

    /// Serves the complete WebSocket messages buffered on `conn`, a bounded number per turn.
    pub(super) fn serve_websocket(&mut self, conn: &mut Connection) {
        let Some(outbox) = conn.outbox().cloned() else {
            return;
        };
        conn.schedule.waiting_since = None;
        let max = self.shared.cfg.max_ws_message;
        for _ in 0..MAX_WS_MESSAGES_PER_TURN {
            if conn.stream_mut().map_or(true, |s| s.ending) {
                return;
            }
            if outbox.is_awaiting(Instant::now(), self.shared.cfg.redis_timeout) {
                // A SUBSCRIBE's confirmation comes first; the poll loop brings the connection
                // back once it has.
                break;
            }
            let (frame, used) = match frame::parse(conn.input(), max) {
                Ok(Status::Partial) => break,
                Ok(Status::Complete(pair)) => pair,
                Err(e) => return fail_websocket(conn, &outbox, e.close_code(), &e.to_string()),
            };
            conn.consume_input(used);
            let Some(ws) = conn.stream_mut().and_then(|s| s.websocket.as_mut()) else {
                return;
            };
            let message = match ws.assembler.push(frame, max) {
                Ok(None) => continue,
                Ok(Some(message)) => message,
                Err(e) => return fail_websocket(conn, &outbox, e.close_code(), &e.to_string()),
            };
            match message {
                frame::Message::Ping(payload) => {
                    let mut pong = Vec::with_capacity(payload.len() + 2);
                    frame::write(&mut pong, Opcode::Pong, &payload);
                    outbox.send_raw(&pong);
                }
                frame::Message::Pong(_) => {}
                frame::Message::Close(code, _) => {
                    // Echo the status (RFC 6455 §5.5.1), then close once it is written.
                    let mut close = Vec::with_capacity(4);
                    match code {
                        Some(code) => frame::write_close(&mut close, code, ""),
                        None => frame::write(&mut close, Opcode::Close, &[]),
                    }
                    outbox.send_raw(&close);
                    if let Some(stream) = conn.stream_mut() {
                        stream.ending = true;
                    }
                }
                frame::Message::Text(text) => {
                    self.websocket_message(conn, &outbox, text.as_bytes())
                }
                frame::Message::Binary(bytes) => self.websocket_message(conn, &outbox, &bytes),
            }
        }
        conn.mark_unparsed();
        conn.recount();
    }

    /// Serves one message of a WebSocket: asks the API what it needs, runs it, sends the answer.
    fn websocket_message(&mut self, conn: &mut Connection, outbox: &Arc<Outbox>, payload: &[u8]) {
        let started = Instant::now();
        let client = Client {
            addr: conn.peer().ip(),
        };
        let Some(session) = conn
            .stream_mut()
            .and_then(|s| s.websocket.as_ref())
            .map(|ws| &ws.session)
        else {
            return;
        };
        let (answer, status) = match session.message(payload, client) {
            Message::Answer { bytes, status } => (bytes, status),
            Message::Subscribe(kind, topics) => {
                self.websocket_subscribe(outbox, kind, &topics);
                return;
            }
            Message::Unsubscribe(kind, topics) => {
                self.websocket_unsubscribe(outbox, session.as_ref(), kind, topics);
                return;
            }
            Message::Call(call) => {
                let args: Vec<Cow<'_, [u8]>> = call
                    .args
                    .iter()
                    .map(|a| Cow::Borrowed(a.as_slice()))
                    .collect();
                let command = Command {
                    db: None,
                    args: &args,
                };
                let reply = self
                    .shared
                    .backend
                    .run(&[command])
                    .pop()
                    .unwrap_or(Err(redis::Error::Closed));
                self.count_redis_outcome(&reply);
                session.reply(&call, reply)
            }
        };
        self.shared.metrics.request("WS", status, started.elapsed());
        outbox.send_message(&answer);
    }

    /// Joins the shared subscriptions of `topics`; each confirmation is awaited before the
    /// stream's next message is served, so that answers stay in the order of the messages.
    fn websocket_subscribe(&self, outbox: &Arc<Outbox>, kind: Kind, topics: &[Vec<u8>]) {
        if !outbox.join(kind, topics) {
            let text = format!("at most {MAX_SUBSCRIPTIONS_PER_STREAM} channels per stream");
            outbox.send_error(400, &text);
            return;
        }
        for topic in topics {
            outbox.await_confirmation(kind, topic);
            let listener: Arc<dyn Listener> = outbox.clone();
            if let Err(e) = self.shared.backend.hub().subscribe(listener, kind, topic) {
                outbox.send_error(503, &e.to_string());
                return;
            }
        }
    }
}

impl Worker<'_> {
    /// Leaves `topics` (none: every topic of `kind` the stream joined), answering once per topic
    /// in the API's words, with the number of topics the stream still has.
    fn websocket_unsubscribe(
        &self,
        outbox: &Arc<Outbox>,
        session: &dyn Session,
        kind: Kind,
        topics: Vec<Vec<u8>>,
    ) {
        let topics = if topics.is_empty() {
            outbox.joined(kind)
        } else {
            topics
        };
        if topics.is_empty() {
            // As Redis answers when there is nothing to leave.
            let remaining = outbox.joined(Kind::Channel).len() + outbox.joined(Kind::Pattern).len();
            outbox.send_message(&session.unsubscribed(kind, None, remaining));
            return;
        }
        let hub = self.shared.backend.hub();
        for topic in &topics {
            hub.unsubscribe(outbox.id(), kind, topic);
            let remaining = outbox.leave(kind, topic);
            outbox.send_message(&session.unsubscribed(kind, Some(topic), remaining));
        }
    }
}

/// Ends a WebSocket after a protocol error: a close frame with its code, then the close.
fn fail_websocket(conn: &mut Connection, outbox: &Outbox, code: u16, why: &str) {
    log::debug(format_args!(
        "websocket {}: {why}; closing with {code}",
        conn.peer()
    ));
    let mut close = Vec::with_capacity(64);
    frame::write_close(&mut close, code, why);
    outbox.send_raw(&close);
    conn.clear_input();
    if let Some(stream) = conn.stream_mut() {
        stream.ending = true;
    }
}
