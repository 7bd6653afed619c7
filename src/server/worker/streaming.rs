//! The worker's side of streams: turning a connection into a webdis subscription or a WebSocket,
//! and serving the messages a WebSocket sends. Pushed messages themselves never pass through a
//! worker: the `redis-pubsub` thread writes them into each stream's outbox.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::{Item, Worker, MAX_WS_MESSAGES_PER_TURN};
use crate::api;
use crate::api::webdis::{Subscribe, Upgrade};
use crate::api::websocket::Step as WsStep;
use crate::http::response::{self, Response};
use crate::http::Status;
use crate::log;
use crate::redis;
use crate::redis::subscriber::Listener;
use crate::server::connection::Connection;
use crate::server::stream::{Outbox, Transport, WebSocket, MAX_SUBSCRIPTIONS_PER_STREAM};
use crate::webdis::command::Format;
use crate::webdis::format::Render;
use crate::websocket::frame::{self, Message, Opcode};
use crate::websocket::handshake;

impl Worker<'_> {
    /// Answers a webdis `SUBSCRIBE`: a chunked 200 whose chunks are the confirmation and then
    /// the messages, delivered by the `redis-pubsub` thread through the connection's outbox.
    pub(super) fn start_subscription(
        &mut self,
        conn: &mut Connection,
        item: &Item,
        sub: Subscribe,
    ) {
        let content_type = match (
            &sub.render.content_type,
            &sub.render.jsonp,
            sub.render.format,
        ) {
            (Some(custom), _, _) => custom.clone(),
            (None, Some(_), _) => "application/javascript".to_string(),
            (None, None, Format::Json) => "application/json".to_string(),
            (None, None, Format::Raw) => "binary/octet-stream".to_string(),
            (None, None, Format::Msgpack) => "application/x-msgpack".to_string(),
            (None, None, Format::Plain(plain)) => plain.to_string(),
        };
        let response =
            api::webdis::with_cors(Response::empty(200).with_header("Content-Type", content_type));
        self.record(conn, item, &response, true);
        let mut head = Vec::with_capacity(256);
        response::write_chunked_head(&response, self.date.get(), &mut head);
        let outbox = match self.open_outbox(conn, Transport::Chunked, sub.render) {
            Some(outbox) => outbox,
            None => return,
        };
        outbox.send_raw(&head);
        // Whatever the client pipelined after the subscription is not served: the response
        // that answers it never ends.
        conn.buf.clear();
        conn.head = None;
        if !outbox.reserve_subscriptions(sub.topics.len()) {
            let mut error = Vec::new();
            let text = format!("at most {MAX_SUBSCRIPTIONS_PER_STREAM} channels per stream");
            error.extend_from_slice(&api::websocket::error(false, 400, &text));
            outbox.send_message(&error);
            outbox.send_raw(b"0\r\n\r\n");
            conn.close_after_flush = true;
            return;
        }
        for topic in &sub.topics {
            let listener: Arc<dyn Listener> = outbox.clone();
            if let Err(e) = self.shared.hub.subscribe(listener, sub.kind, topic) {
                log::error(format_args!("subscription failed: {e}"));
                outbox.close();
                return;
            }
        }
    }

    /// Completes a WebSocket handshake: `101 Switching Protocols`, then frames both ways.
    pub(super) fn start_websocket(&mut self, conn: &mut Connection, item: &Item, upgrade: Upgrade) {
        let response = Response::empty(101);
        self.record(conn, item, &response, true);
        let (transport, format) = if upgrade.raw {
            (Transport::WebSocketBinary, Format::Raw)
        } else {
            (Transport::WebSocketText, Format::Json)
        };
        let render = Render {
            command: b"SUBSCRIBE".to_vec(),
            format,
            jsonp: None,
            sep: Vec::new(),
            content_type: None,
        };
        let Some(outbox) = self.open_outbox(conn, transport, render) else {
            return;
        };
        outbox.send_raw(&handshake::response(&upgrade.accept));
        conn.websocket = Some(Box::new(WebSocket {
            raw: upgrade.raw,
            ..WebSocket::default()
        }));
        conn.head = None;
        conn.unparsed = !conn.buf.is_empty();
    }

    /// Makes `conn` a stream; on failure (the socket cannot be duplicated) it is closed.
    fn open_outbox(
        &self,
        conn: &mut Connection,
        transport: Transport,
        render: Render,
    ) -> Option<Arc<Outbox>> {
        match Outbox::new(
            &conn.stream,
            transport,
            render,
            self.shared.cfg.max_stream_buffer,
            Arc::clone(&self.shared.metrics),
        ) {
            Ok(outbox) => {
                // Answers to requests pipelined before this one, not yet taken by the client,
                // go first, in order.
                if conn.has_output() {
                    outbox.send_raw(conn.out.get(conn.out_pos..).unwrap_or_default());
                    conn.out = Vec::new();
                    conn.out_pos = 0;
                }
                conn.outbox = Some(Arc::clone(&outbox));
                Some(outbox)
            }
            Err(e) => {
                log::warn(format_args!("cannot open a stream for {}: {e}", conn.peer));
                conn.close_after_flush = true;
                None
            }
        }
    }

    /// Serves the complete WebSocket messages buffered on `conn`, a bounded number per turn.
    pub(super) fn serve_websocket(&mut self, conn: &mut Connection) {
        let Some(outbox) = conn.outbox.clone() else {
            return;
        };
        conn.waiting_since = None;
        let max = self.shared.cfg.max_ws_message;
        for _ in 0..MAX_WS_MESSAGES_PER_TURN {
            if conn.close_after_flush {
                return;
            }
            if outbox.is_awaiting(Instant::now(), self.shared.cfg.redis_timeout) {
                // A SUBSCRIBE's confirmation comes first; the poll loop brings the connection
                // back once it has.
                break;
            }
            let (frame, used) = match frame::parse(&conn.buf, max) {
                Ok(Status::Partial) => break,
                Ok(Status::Complete(pair)) => pair,
                Err(e) => return fail_websocket(conn, &outbox, e.close_code(), &e.to_string()),
            };
            conn.buf.drain(..used);
            let Some(ws) = conn.websocket.as_mut() else {
                return;
            };
            let raw = ws.raw;
            let message = match ws.assembler.push(frame, max) {
                Ok(None) => continue,
                Ok(Some(message)) => message,
                Err(e) => return fail_websocket(conn, &outbox, e.close_code(), &e.to_string()),
            };
            match message {
                Message::Ping(payload) => {
                    let mut pong = Vec::with_capacity(payload.len() + 2);
                    frame::write(&mut pong, Opcode::Pong, &payload);
                    outbox.send_raw(&pong);
                }
                Message::Pong(_) => {}
                Message::Close(code, _) => {
                    // Echo the status (RFC 6455 §5.5.1), then close once it is written.
                    let mut close = Vec::with_capacity(4);
                    match code {
                        Some(code) => frame::write_close(&mut close, code, ""),
                        None => frame::write(&mut close, Opcode::Close, &[]),
                    }
                    outbox.send_raw(&close);
                    conn.close_after_flush = true;
                }
                Message::Text(text) => self.websocket_command(conn, &outbox, raw, text.as_bytes()),
                Message::Binary(bytes) => self.websocket_command(conn, &outbox, raw, &bytes),
            }
        }
        conn.unparsed = !conn.buf.is_empty();
    }

    /// Runs one command that arrived as a WebSocket message and sends the answer.
    fn websocket_command(
        &mut self,
        conn: &Connection,
        outbox: &Arc<Outbox>,
        raw: bool,
        payload: &[u8],
    ) {
        let started = Instant::now();
        let cfg = &self.shared.cfg;
        let (answer, status) = match api::websocket::plan(
            payload,
            raw,
            &cfg.webdis,
            conn.peer.ip(),
            cfg.max_ws_message,
        ) {
            WsStep::Answer(bytes) => (bytes, 400),
            WsStep::Subscribe(kind, topics) => {
                if !outbox.reserve_subscriptions(topics.len()) {
                    let text =
                        format!("at most {MAX_SUBSCRIPTIONS_PER_STREAM} channels per stream");
                    outbox.send_message(&api::websocket::error(raw, 400, &text));
                    return;
                }
                for topic in &topics {
                    // The next message waits for this confirmation, so that answers stay in
                    // the order of the messages.
                    outbox.await_confirmation(kind, topic);
                    let listener: Arc<dyn Listener> = outbox.clone();
                    if let Err(e) = self.shared.hub.subscribe(listener, kind, topic) {
                        let text = e.to_string();
                        outbox.send_message(&api::websocket::error(raw, 503, &text));
                        return;
                    }
                }
                return;
            }
            WsStep::Call(args) => {
                let command: Vec<Cow<'_, [u8]>> =
                    args.iter().map(|a| Cow::Borrowed(a.as_slice())).collect();
                let reply = self
                    .round_trip(&self.shared.pool, &[command.as_slice()])
                    .pop()
                    .unwrap_or(Err(redis::Error::Closed));
                self.count_redis_outcome(&reply);
                let name = args.first().map(Vec::as_slice).unwrap_or_default();
                match reply {
                    Ok(value) => {
                        let max = self.shared.cfg.max_reply_bytes;
                        (api::websocket::reply(raw, name, &value, max), 200)
                    }
                    Err(e) => {
                        let e = api::Error::Redis(e);
                        let status = e.status();
                        (api::websocket::error(raw, status, &e.to_string()), status)
                    }
                }
            }
        };
        self.shared.metrics.request("WS", status, started.elapsed());
        outbox.send_message(&answer);
    }
}

/// Ends a WebSocket after a protocol error: a close frame with its code, then the close.
fn fail_websocket(conn: &mut Connection, outbox: &Outbox, code: u16, why: &str) {
    log::debug(format_args!(
        "websocket {}: {why}; closing with {code}",
        conn.peer
    ));
    let mut close = Vec::with_capacity(64);
    frame::write_close(&mut close, code, why);
    outbox.send_raw(&close);
    conn.buf.clear();
    conn.close_after_flush = true;
}
