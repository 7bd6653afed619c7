//! Streams: connections that stay open to receive pushed messages (a webdis `SUBSCRIBE` over
//! chunked HTTP, or a WebSocket).
//!
//! Once a connection becomes a stream, every byte sent on it goes through its [`Outbox`]: the
//! worker that answers a command, the `redis-pubsub` thread that delivers a message and the poll
//! loop that finishes a write all take the outbox's lock, so frames never interleave. A write
//! that the client does not take at once waits in the outbox, up to `--max-stream-buffer` bytes;
//! a client that falls further behind is disconnected (counted in `/metrics` and logged at debug
//! level) instead of slowing the others or growing memory. Nothing here ever blocks: the socket
//! is nonblocking, as every client socket is.

use std::io::{self, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::log;
use crate::metrics::Metrics;
use crate::redis::subscriber::{Event, FrameCache, Kind, Listener};
use crate::resp::Value;
use crate::webdis::format::Render;
use crate::websocket::frame::{self, Opcode};

/// The incoming side of a WebSocket: how its messages are read and answered.
#[derive(Debug, Default)]
pub struct WebSocket {
    /// Reassembles fragmented messages.
    pub assembler: frame::Assembler,
    /// `/.raw`: RESP in and out; otherwise JSON.
    pub raw: bool,
}

/// How events and replies are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 `Transfer-Encoding: chunked`: one chunk per message.
    Chunked,
    /// WebSocket text frames (JSON).
    WebSocketText,
    /// WebSocket binary frames (raw RESP).
    WebSocketBinary,
}

/// The outgoing side of a stream.
#[derive(Debug)]
pub struct Outbox {
    id: u64,
    transport: Transport,
    /// How events are written (webdis's JSON, JSONP or raw RESP).
    render: Render,
    /// Streams with the same key write a message the same way (see [`FrameCache`]).
    share_key: String,
    max_pending: usize,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// A second handle on the client's socket (nonblocking).
    socket: TcpStream,
    /// Bytes not yet taken by the client; `pending[pos..]` is still to be written.
    pending: Vec<u8>,
    pos: usize,
    /// The client left, failed, or fell behind: nothing more is sent.
    gone: bool,
    /// Since when pending bytes wait without the client taking any (`None`: nothing waits).
    last_progress: Option<Instant>,
    /// Topics a WebSocket subscribed to whose confirmation has not come yet, and since when:
    /// its next message waits for them, so that answers stay in order.
    awaiting: Vec<(Kind, Vec<u8>)>,
    awaiting_since: Option<Instant>,
    /// Topics this stream asked for (at most [`MAX_SUBSCRIPTIONS_PER_STREAM`]).
    requested: usize,
    /// Topics Redis confirmed for this stream (their number is the count in webdis's
    /// confirmation; a confirmation again after a reconnect does not add one).
    confirmed: Vec<(Kind, Vec<u8>)>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Most channels and patterns one stream may subscribe to: what one client can make the hub
/// (and Redis) hold is bounded.
pub const MAX_SUBSCRIPTIONS_PER_STREAM: usize = 1024;

impl Outbox {
    /// An outbox writing on `socket` (a clone of the connection's).
    ///
    /// # Errors
    ///
    /// When the socket cannot be duplicated.
    pub fn new(
        socket: &TcpStream,
        transport: Transport,
        render: Render,
        max_pending: usize,
        metrics: Arc<Metrics>,
    ) -> io::Result<Arc<Outbox>> {
        Ok(Arc::new(Outbox {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            share_key: format!("{transport:?}|{render:?}"),
            transport,
            render,
            max_pending,
            metrics,
            state: Mutex::new(State {
                socket: socket.try_clone()?,
                pending: Vec::new(),
                pos: 0,
                gone: false,
                last_progress: None,
                awaiting: Vec::new(),
                awaiting_since: None,
                requested: 0,
                confirmed: Vec::new(),
            }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How replies and events are framed.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Sends bytes exactly as given (a response head); false when the stream is gone.
    pub fn send_raw(&self, bytes: &[u8]) -> bool {
        let mut state = self.lock();
        self.push(&mut state, bytes)
    }

    /// Sends one message in the stream's framing (a chunk or a frame); false when gone.
    pub fn send_message(&self, payload: &[u8]) -> bool {
        let mut framed = Vec::with_capacity(payload.len() + 16);
        self.frame_into(&mut framed, payload);
        self.send_raw(&framed)
    }

    /// Appends one message in the stream's framing to `out`.
    fn frame_into(&self, out: &mut Vec<u8>, payload: &[u8]) {
        match self.transport {
            Transport::Chunked => {
                out.extend_from_slice(format!("{:x}\r\n", payload.len()).as_bytes());
                out.extend_from_slice(payload);
                out.extend_from_slice(b"\r\n");
            }
            Transport::WebSocketText => frame::write(out, Opcode::Text, payload),
            Transport::WebSocketBinary => frame::write(out, Opcode::Binary, payload),
        }
    }

    /// Writes what the client did not take before; `Ok(true)` when nothing is left.
    ///
    /// # Errors
    ///
    /// When the socket fails.
    pub fn flush(&self) -> io::Result<bool> {
        let mut state = self.lock();
        if state.gone {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        write_pending(&mut state, &self.metrics)
    }

    /// Counts `n` more subscriptions for this stream; false (and nothing counted) when that
    /// would pass [`MAX_SUBSCRIPTIONS_PER_STREAM`].
    pub fn reserve_subscriptions(&self, n: usize) -> bool {
        let mut state = self.lock();
        match state.requested.checked_add(n) {
            Some(total) if total <= MAX_SUBSCRIPTIONS_PER_STREAM => {
                state.requested = total;
                true
            }
            _ => false,
        }
    }

    /// Notes that a confirmation of `topic` is expected (a WebSocket `SUBSCRIBE`).
    pub fn await_confirmation(&self, kind: Kind, topic: &[u8]) {
        let mut state = self.lock();
        state.awaiting.push((kind, topic.to_vec()));
        state.awaiting_since.get_or_insert_with(Instant::now);
    }

    /// True while a confirmation this stream asked for has not come, for at most `timeout`
    /// (after that, for instance while Redis is down, the stream's next messages are served
    /// anyway).
    pub fn is_awaiting(&self, now: Instant, timeout: Duration) -> bool {
        let mut state = self.lock();
        if state.awaiting.is_empty() {
            state.awaiting_since = None;
            return false;
        }
        let waited = state
            .awaiting_since
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        if waited > timeout {
            state.awaiting.clear();
            state.awaiting_since = None;
            return false;
        }
        true
    }

    /// True once the stream must be closed (client gone, or too far behind).
    pub fn is_gone(&self) -> bool {
        self.lock().gone
    }

    /// True while bytes wait for the client.
    pub fn has_pending(&self) -> bool {
        let state = self.lock();
        state.pos < state.pending.len()
    }

    /// Marks the stream gone and shuts the socket, so the poll loop closes the connection.
    pub fn close(&self) {
        let mut state = self.lock();
        state.gone = true;
        let _ = state.socket.shutdown(Shutdown::Both);
    }

    /// Writes `bytes` after what is pending, as much as the client takes now, and keeps the
    /// rest. Nothing is copied that would make more than `max_pending` bytes wait: a client that
    /// leaves that much unread is cut (its buffer freed at once).
    fn push(&self, state: &mut State, bytes: &[u8]) -> bool {
        if state.gone {
            return false;
        }
        let mut rest = bytes;
        match write_pending(state, &self.metrics) {
            // Nothing waits: write straight from `bytes`, copying only what the socket refuses.
            Ok(true) => match write_some(&mut state.socket, rest, &self.metrics) {
                Ok(n) => rest = rest.get(n..).unwrap_or_default(),
                Err(_) => return self.fail(state),
            },
            Ok(false) => {}
            Err(_) => return self.fail(state),
        }
        if !rest.is_empty() {
            state.last_progress.get_or_insert_with(Instant::now);
        }
        let waiting = state.pending.len() - state.pos;
        if waiting.saturating_add(rest.len()) > self.max_pending {
            let _ = state.socket.shutdown(Shutdown::Both);
            Metrics::add(&self.metrics.stream_overflows, 1);
            log::debug(format_args!(
                "stream {}: the client left {} bytes unread (--max-stream-buffer {}); disconnected",
                self.id,
                waiting.saturating_add(rest.len()),
                self.max_pending
            ));
            return self.fail(state);
        }
        if state.pos > 0 && state.pos >= state.pending.len() / 2 {
            // Drop what was written, so the buffer holds only what waits: a client that keeps
            // up without ever catching up does not make it grow.
            let pos = state.pos;
            state.pending.drain(..pos);
            state.pos = 0;
        }
        state.pending.extend_from_slice(rest);
        true
    }

    /// Marks the stream gone and frees what it held.
    fn fail(&self, state: &mut State) -> bool {
        state.gone = true;
        state.pending = Vec::new();
        state.pos = 0;
        false
    }

    /// True when bytes have waited for the client longer than `timeout` without it taking any:
    /// a stream whose client stopped reading is closed like any other connection.
    pub fn stalled(&self, now: Instant, timeout: Duration) -> bool {
        let state = self.lock();
        state.pos < state.pending.len()
            && state
                .last_progress
                .is_some_and(|t| now.saturating_duration_since(t) > timeout)
    }

    /// Remembers a confirmed topic (and forgets a lost one); the number of topics confirmed now.
    fn note_confirmation(&self, event: &Event<'_>) -> usize {
        let mut state = self.lock();
        if let Event::Lost { kind, topic } = *event {
            // Confirmed again after the reconnect: counted again from there.
            state.confirmed.retain(|(k, t)| !(*k == kind && t == topic));
        }
        if let Event::Subscribed { kind, topic } = *event {
            state.awaiting.retain(|(k, t)| !(*k == kind && t == topic));
            if !state
                .confirmed
                .iter()
                .any(|(k, t)| *k == kind && t == topic)
            {
                state.confirmed.push((kind, topic.to_vec()));
            }
        }
        state.confirmed.len()
    }

    /// The event as webdis writes it: `["message", channel, payload]` under the command name, or
    /// `["pmessage", pattern, channel, payload]`, `["subscribe", channel, count]`; and
    /// `["lost", channel, why]` when the Redis connection dropped.
    fn render_event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8> {
        let bulk = |b: &[u8]| Value::Bulk(b.to_vec());
        let value = match *event {
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
            Event::Lost { topic, .. } => Value::Array(vec![
                bulk(b"lost"),
                bulk(topic),
                bulk(b"the connection to redis was lost: messages are missed until the subscription is confirmed again"),
            ]),
        };
        if self.transport == Transport::Chunked {
            return self.render.write(&value).bytes;
        }
        // On a WebSocket the key says which kind of subscription the event belongs to.
        let mut render = self.render.clone();
        render.command = match *event {
            Event::Subscribed { kind, .. }
            | Event::Message { kind, .. }
            | Event::Lost { kind, .. } => match kind {
                Kind::Channel => b"SUBSCRIBE".to_vec(),
                Kind::Pattern => b"PSUBSCRIBE".to_vec(),
            },
        };
        render.write(&value).bytes
    }
}

impl Listener for Outbox {
    fn id(&self) -> u64 {
        self.id
    }

    fn deliver(&self, events: &[Event<'_>], cache: &mut FrameCache) -> bool {
        let messages = events
            .iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .count();
        Metrics::add(&self.metrics.stream_messages, messages as u64);
        let render = || {
            let mut framed = Vec::new();
            for event in events {
                let confirmed = self.note_confirmation(event);
                self.frame_into(&mut framed, &self.render_event(event, confirmed));
            }
            framed
        };
        if messages < events.len() {
            // A confirmation's count is this stream's own: nothing to share.
            return self.send_raw(&render());
        }
        // Streams that write alike share one rendering of the messages.
        let framed = cache.get_or_render(&self.share_key, render);
        self.send_raw(&framed)
    }
}

/// Writes the pending bytes; `Ok(true)` when none is left.
fn write_pending(state: &mut State, metrics: &Metrics) -> io::Result<bool> {
    let State {
        socket,
        pending,
        pos,
        ..
    } = state;
    let written = write_some(socket, pending.get(*pos..).unwrap_or_default(), metrics)?;
    if written > 0 {
        state.last_progress = Some(Instant::now());
    }
    state.pos += written;
    if state.pos < state.pending.len() {
        return Ok(false);
    }
    state.pending.clear();
    state.pos = 0;
    state.last_progress = None;
    if state.pending.capacity() > 64 * 1024 {
        state.pending = Vec::new();
    }
    Ok(true)
}

/// Writes as much of `bytes` as the socket takes now; how much.
fn write_some(socket: &mut TcpStream, bytes: &[u8], metrics: &Metrics) -> io::Result<usize> {
    let mut written = 0;
    while let Some(rest) = bytes.get(written..).filter(|r| !r.is_empty()) {
        match socket.write(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                written += n;
                Metrics::add(&metrics.bytes_out, n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webdis::command::Format;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected pair of loopback sockets: (the gateway's side, nonblocking; the client's).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        (server, client)
    }

    fn render(format: Format, jsonp: Option<&str>) -> Render {
        Render {
            command: b"SUBSCRIBE".to_vec(),
            format,
            jsonp: jsonp.map(str::to_string),
            sep: Vec::new(),
            content_type: None,
        }
    }

    /// An outbox on `server` writing `format` events, and its metrics.
    fn outbox_on(
        server: &TcpStream,
        transport: Transport,
        format: Format,
        max_pending: usize,
    ) -> (Arc<Outbox>, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::new(
            server,
            transport,
            render(format, None),
            max_pending,
            Arc::clone(&metrics),
        )
        .unwrap();
        (outbox, metrics)
    }

    fn read_exactly(client: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        client.read_exact(&mut got).unwrap();
        got
    }

    #[test]
    fn events_are_chunks_of_webdis_json() {
        let (server, mut client) = pair();
        let (outbox, _metrics) = outbox_on(&server, Transport::Chunked, Format::Json, 1 << 20);
        assert!(outbox.deliver(
            &[Event::Subscribed {
                kind: Kind::Channel,
                topic: b"ch"
            }],
            &mut FrameCache::default()
        ));
        assert!(outbox.deliver(
            &[Event::Message {
                kind: Kind::Channel,
                topic: b"ch",
                channel: b"ch",
                payload: b"hi \"x\"",
            }],
            &mut FrameCache::default()
        ));
        // A second confirmation of the same channel (after a reconnect) keeps the count at 1.
        assert!(outbox.deliver(
            &[Event::Subscribed {
                kind: Kind::Channel,
                topic: b"ch"
            }],
            &mut FrameCache::default()
        ));
        let expected: &[u8] = b"22\r\n{\"SUBSCRIBE\":[\"subscribe\",\"ch\",1]}\r\n\
29\r\n{\"SUBSCRIBE\":[\"message\",\"ch\",\"hi \\\"x\\\"\"]}\r\n\
22\r\n{\"SUBSCRIBE\":[\"subscribe\",\"ch\",1]}\r\n";
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
    }

    #[test]
    fn websocket_events_are_frames_keyed_by_kind() {
        let (server, mut client) = pair();
        let (outbox, _metrics) =
            outbox_on(&server, Transport::WebSocketText, Format::Json, 1 << 20);
        assert!(outbox.deliver(
            &[Event::Message {
                kind: Kind::Pattern,
                topic: b"h*",
                channel: b"hello",
                payload: b"m",
            }],
            &mut FrameCache::default()
        ));
        let json = br#"{"PSUBSCRIBE":["pmessage","h*","hello","m"]}"#;
        let mut expected = vec![0x81, json.len() as u8];
        expected.extend_from_slice(json);
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
    }

    #[test]
    fn a_client_that_does_not_read_is_cut_at_the_limit() {
        let (server, client) = pair();
        let (outbox, metrics) = outbox_on(&server, Transport::Chunked, Format::Raw, 64 * 1024);
        let payload = vec![b'x'; 1024];
        let mut sent = 0;
        while outbox.deliver(
            &[Event::Message {
                kind: Kind::Channel,
                topic: b"ch",
                channel: b"ch",
                payload: &payload,
            }],
            &mut FrameCache::default(),
        ) {
            sent += 1;
            assert!(sent < 100_000, "never cut");
        }
        assert!(outbox.is_gone());
        assert_eq!(metrics.stream_overflows.load(Ordering::Relaxed), 1);
        assert!(!outbox.send_message(b"more"), "nothing is sent once gone");
        drop(client);
    }
    #[test]
    fn bytes_the_client_does_not_take_make_the_stream_stalled() {
        let (server, client) = pair();
        let (outbox, _metrics) = outbox_on(&server, Transport::Chunked, Format::Raw, 64 << 20);
        let now = Instant::now();
        assert!(
            !outbox.stalled(now, Duration::from_secs(1)),
            "nothing waits"
        );
        // More than the kernel's buffers take: some bytes wait in the outbox.
        let chunk = vec![b'x'; 1 << 20];
        while !outbox.has_pending() {
            assert!(outbox.send_raw(&chunk));
        }
        assert!(!outbox.stalled(Instant::now(), Duration::from_secs(1)));
        assert!(outbox.stalled(
            Instant::now() + Duration::from_secs(2),
            Duration::from_secs(1)
        ));
        drop(client);
    }
    #[test]
    fn confirmations_count_up_again_after_a_reconnect() {
        let (server, mut client) = pair();
        let (outbox, _metrics) = outbox_on(&server, Transport::Chunked, Format::Raw, 1 << 20);
        let subscribed = |topic: &'static [u8]| Event::Subscribed {
            kind: Kind::Channel,
            topic,
        };
        let lost = |topic: &'static [u8]| Event::Lost {
            kind: Kind::Channel,
            topic,
        };
        let events = [
            subscribed(b"a"),
            subscribed(b"b"),
            lost(b"a"),
            lost(b"b"),
            subscribed(b"a"),
            subscribed(b"b"),
        ];
        assert!(outbox.deliver(&events, &mut FrameCache::default()));
        drop(outbox);
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).unwrap();
        let text = String::from_utf8_lossy(&got);
        let counts: Vec<&str> = text
            .split("\r\n")
            .filter(|line| line.starts_with(':'))
            .collect();
        assert_eq!(counts, [":1", ":2", ":1", ":2"], "{text}");
    }
}
