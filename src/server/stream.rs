//! Streams: connections that stay open to receive pushed messages (a subscription answered with
//! chunked HTTP, or a WebSocket).
//!
//! Once a connection becomes a stream, every byte sent on it goes through its [`Outbox`]: the
//! worker that answers a command, the `redis-pubsub` thread that delivers a message and the poll
//! loop that finishes a write all take the outbox's lock, so frames never interleave. A write
//! that the client does not take at once waits in the outbox, up to `--max-stream-buffer` bytes;
//! a client that falls further behind is disconnected (counted in `/metrics` and logged at debug
//! level) instead of slowing the others or growing memory. Nothing here ever blocks: the socket
//! is nonblocking, as every client socket is.
//!
//! The server only frames: what a message says is the API's (its [`EventFormat`]).

use std::io;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::output::{write_some, Flush, Output};
use crate::api::stream::{EventFormat, Frames};
use crate::log;
use crate::memory::{Account, Budget};
use crate::metrics::Metrics;
use crate::redis::subscriber::{self, Event, FrameCache, Kind};
use crate::websocket::frame::{self, Opcode};

/// How messages are framed on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// HTTP/1.1 `Transfer-Encoding: chunked`: one chunk per message.
    Chunked,
    /// WebSocket frames of this kind: one per message.
    WebSocket(Frames),
}

/// Most channels and patterns one stream may subscribe to: what one client can make the hub
/// (and Redis) hold is bounded.
pub const MAX_SUBSCRIPTIONS_PER_STREAM: usize = 1024;

/// The outgoing side of a stream.
#[derive(Debug)]
pub struct Outbox {
    id: u64,
    transport: Transport,
    /// What events say (the API's).
    format: Arc<dyn EventFormat>,
    /// Streams with the same key write a message the same way (see [`FrameCache`]).
    share_key: Vec<u8>,
    max_pending: usize,
    metrics: Arc<Metrics>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// A second handle on the client's socket (nonblocking).
    socket: TcpStream,
    /// Bytes not yet taken by the client.
    pending: Output,
    /// What `pending` holds of the memory budget.
    account: Account,
    /// The client left, failed, or fell behind: nothing more is sent.
    gone: bool,
    /// Since when pending bytes wait without the client taking any (`None`: nothing waits).
    last_progress: Option<Instant>,
    /// When bytes were last sent (or the stream began): for the keep-alive.
    last_sent: Instant,
    /// Topics a WebSocket subscribed to whose confirmation has not come yet, and since when:
    /// its next message waits for them, so that answers stay in order.
    awaiting: Vec<(Kind, Vec<u8>)>,
    awaiting_since: Option<Instant>,
    /// Topics a chunked stream asked for (at most [`MAX_SUBSCRIPTIONS_PER_STREAM`]).
    requested: usize,
    /// Topics Redis confirmed for this stream (their number is the count in webdis's
    /// confirmation; a confirmation again after a reconnect does not add one).
    confirmed: Vec<(Kind, Vec<u8>)>,
    /// Topics a WebSocket joined and has not left (at most [`MAX_SUBSCRIPTIONS_PER_STREAM`]):
    /// only their events reach it (one it left may still be in a delivery the `redis-pubsub`
    /// thread started before).
    joined: Vec<(Kind, Vec<u8>)>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Outbox {
    /// An outbox writing on `socket` (a clone of the connection's), framing with `transport` the
    /// messages `format` writes.
    ///
    /// # Errors
    ///
    /// When the socket cannot be duplicated.
    pub fn new(
        socket: &TcpStream,
        transport: Transport,
        format: Arc<dyn EventFormat>,
        max_pending: usize,
        metrics: Arc<Metrics>,
        budget: &Arc<Budget>,
    ) -> io::Result<Arc<Outbox>> {
        let tag: &[u8] = match transport {
            Transport::Chunked => b"chunked\0",
            Transport::WebSocket(Frames::Text) => b"text\0",
            Transport::WebSocket(Frames::Binary) => b"binary\0",
            Transport::WebSocket(Frames::TextWhenUtf8) => b"text-when-utf8\0",
        };
        let share_key = [tag, format.share_key()].concat();
        Ok(Arc::new(Outbox {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            transport,
            format,
            share_key,
            max_pending,
            metrics,
            state: Mutex::new(State {
                socket: socket.try_clone()?,
                pending: Output::default(),
                account: Account::new(budget),
                gone: false,
                last_progress: None,
                last_sent: Instant::now(),
                awaiting: Vec::new(),
                awaiting_since: None,
                requested: 0,
                confirmed: Vec::new(),
                joined: Vec::new(),
            }),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A number no other live stream has (its listener id in the hub).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// How messages are framed.
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

    /// Sends an error as one message, in the API's words; false when gone.
    pub fn send_error(&self, status: u16, text: &str) -> bool {
        self.send_message(&self.format.error(status, text))
    }

    /// The bytes that end the stream cleanly: the last chunk, or a WebSocket close frame with
    /// `code` and `reason`.
    pub fn goodbye(&self, code: u16, reason: &str) -> Vec<u8> {
        let mut bye = Vec::new();
        match self.transport {
            Transport::Chunked => bye.extend_from_slice(b"0\r\n\r\n"),
            Transport::WebSocket(_) => frame::write_close(&mut bye, code, reason),
        }
        bye
    }

    /// Appends one message in the stream's framing to `out`.
    fn frame_into(&self, out: &mut Vec<u8>, payload: &[u8]) {
        match self.transport {
            Transport::Chunked => {
                out.extend_from_slice(format!("{:x}\r\n", payload.len()).as_bytes());
                out.extend_from_slice(payload);
                out.extend_from_slice(b"\r\n");
            }
            Transport::WebSocket(Frames::Text) => frame::write(out, Opcode::Text, payload),
            Transport::WebSocket(Frames::Binary) => frame::write(out, Opcode::Binary, payload),
            Transport::WebSocket(Frames::TextWhenUtf8) => {
                let opcode = match std::str::from_utf8(payload) {
                    Ok(_) => Opcode::Text,
                    Err(_) => Opcode::Binary,
                };
                frame::write(out, opcode, payload);
            }
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

    /// Sends the format's keep-alive message when the stream has sent nothing for `interval`;
    /// false when the stream is gone.
    pub fn keep_alive(&self, now: Instant, interval: Duration) -> bool {
        let Some(message) = self.format.keepalive() else {
            return true;
        };
        let due = {
            let state = self.lock();
            if state.gone {
                return false;
            }
            now.saturating_duration_since(state.last_sent) >= interval
        };
        !due || self.send_message(&message)
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

    /// Notes that this WebSocket joins `topics`: their events are delivered from now on. False
    /// (and nothing joined) when that would make it hold more than
    /// [`MAX_SUBSCRIPTIONS_PER_STREAM`] topics; one joined already does not count again.
    pub fn join(&self, kind: Kind, topics: &[Vec<u8>]) -> bool {
        let mut state = self.lock();
        let mut fresh: Vec<&Vec<u8>> = Vec::new();
        for topic in topics {
            let known = |t: &Vec<u8>| t == topic;
            let joined = state.joined.iter().any(|(k, t)| *k == kind && known(t));
            if !joined && !fresh.iter().any(|t| known(t)) {
                fresh.push(topic);
            }
        }
        if state.joined.len().saturating_add(fresh.len()) > MAX_SUBSCRIPTIONS_PER_STREAM {
            return false;
        }
        for topic in fresh {
            state.joined.push((kind, topic.clone()));
        }
        true
    }

    /// Notes that this WebSocket leaves `topic` (a WebSocket `UNSUBSCRIBE`): none of its events
    /// is delivered from now on. The number of topics it still has.
    pub fn leave(&self, kind: Kind, topic: &[u8]) -> usize {
        let mut state = self.lock();
        let same = |(k, t): &(Kind, Vec<u8>)| *k == kind && t == topic;
        state.joined.retain(|e| !same(e));
        state.confirmed.retain(|e| !same(e));
        state.awaiting.retain(|e| !same(e));
        state.joined.len()
    }

    /// The topics of `kind` this WebSocket has joined, in the order it joined them.
    pub fn joined(&self, kind: Kind) -> Vec<Vec<u8>> {
        let state = self.lock();
        state
            .joined
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, t)| t.clone())
            .collect()
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
        !self.lock().pending.is_empty()
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
        state.last_sent = Instant::now();
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
        let waiting = state.pending.len();
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
        state.pending.push(rest);
        let held = state.pending.capacity();
        state.account.set(held);
        true
    }

    /// Marks the stream gone and frees what it held.
    fn fail(&self, state: &mut State) -> bool {
        state.gone = true;
        state.pending.free();
        state.account.set(0);
        false
    }

    /// True when bytes have waited for the client longer than `timeout` without it taking any:
    /// a stream whose client stopped reading is closed like any other connection.
    pub fn stalled(&self, now: Instant, timeout: Duration) -> bool {
        let state = self.lock();
        !state.pending.is_empty()
            && state
                .last_progress
                .is_some_and(|t| now.saturating_duration_since(t) > timeout)
    }

    /// Remembers a confirmed topic (and forgets a lost one); the number of topics confirmed now.
    fn note_confirmation(state: &mut State, event: &Event<'_>) -> usize {
        if let Event::Lost { kind, topic } = *event {
            // Confirmed again after the reconnect: counted again from there.
            state.confirmed.retain(|(k, t)| !(*k == kind && t == topic));
        }
        if let Event::Subscribed { kind, topic } = *event {
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

    /// Sends events that include confirmations: counted, written and, for a WebSocket, the wait
    /// of its next message released, all under one lock. Released before the bytes are queued,
    /// a worker could answer the next message first (a regression test races the two).
    fn deliver_confirmations(&self, state: &mut State, events: &[Event<'_>]) -> bool {
        let mut framed = Vec::new();
        for event in events {
            let confirmed = Self::note_confirmation(state, event);
            self.frame_into(&mut framed, &self.format.event(event, confirmed));
        }
        let sent = self.push(state, &framed);
        for event in events {
            if let Event::Subscribed { kind, topic } = *event {
                state.awaiting.retain(|(k, t)| !(*k == kind && t == topic));
            }
        }
        sent
    }
}

impl subscriber::Listener for Outbox {
    fn id(&self) -> u64 {
        self.id
    }

    fn deliver(&self, events: &[Event<'_>], cache: &mut FrameCache) -> bool {
        // Checked and written under one lock: a WebSocket that left the topic gets nothing
        // after its answer to UNSUBSCRIBE.
        let mut state = self.lock();
        if let (Transport::WebSocket(_), Some(event)) = (self.transport, events.first()) {
            let (Event::Subscribed { kind, topic }
            | Event::Message { kind, topic, .. }
            | Event::Lost { kind, topic }) = *event;
            if !state.joined.iter().any(|(k, t)| *k == kind && t == topic) {
                return !state.gone;
            }
        }
        let messages = events
            .iter()
            .filter(|e| matches!(e, Event::Message { .. }))
            .count();
        Metrics::add(&self.metrics.stream_messages, messages as u64);
        if messages < events.len() {
            // A confirmation's count is this stream's own: nothing to share.
            return self.deliver_confirmations(&mut state, events);
        }
        // Streams that write alike share one rendering of the messages.
        let framed = cache.get_or_render(&self.share_key, || {
            let mut framed = Vec::new();
            for event in events {
                self.frame_into(&mut framed, &self.format.event(event, 0));
            }
            framed
        });
        self.push(&mut state, &framed)
    }
}

/// Writes the pending bytes; `Ok(true)` when none is left.
fn write_pending(state: &mut State, metrics: &Metrics) -> io::Result<bool> {
    let State {
        socket,
        pending,
        last_progress,
        ..
    } = state;
    let before = pending.len();
    let flushed = pending.write_to(socket, metrics)?;
    if pending.len() < before {
        *last_progress = Some(Instant::now());
        let held = pending.capacity();
        state.account.set(held);
    }
    if flushed == Flush::Done {
        *last_progress = None;
        return Ok(true);
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::subscriber::Listener;
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

    /// Events as `kind topic count` or `message channel payload`: the server only frames them.
    #[derive(Debug)]
    struct Plain;

    impl EventFormat for Plain {
        fn event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8> {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            match *event {
                Event::Subscribed { topic, .. } => format!("subscribe {} {confirmed}", text(topic)),
                Event::Message {
                    channel, payload, ..
                } => format!("message {} {}", text(channel), text(payload)),
                Event::Lost { topic, .. } => format!("lost {}", text(topic)),
            }
            .into_bytes()
        }
        fn error(&self, status: u16, text: &str) -> Vec<u8> {
            format!("error {status} {text}").into_bytes()
        }
        fn share_key(&self) -> &[u8] {
            b"plain"
        }
    }

    /// An outbox on `server` writing plain events, and its metrics.
    fn outbox_on(
        server: &TcpStream,
        transport: Transport,
        max_pending: usize,
    ) -> (Arc<Outbox>, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::new(
            server,
            transport,
            Arc::new(Plain),
            max_pending,
            Arc::clone(&metrics),
            &Budget::unlimited(),
        )
        .unwrap();
        (outbox, metrics)
    }

    fn read_exactly(client: &mut TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        client.read_exact(&mut got).unwrap();
        got
    }

    fn message<'a>(payload: &'a [u8]) -> Event<'a> {
        Event::Message {
            kind: Kind::Channel,
            topic: b"ch",
            channel: b"ch",
            payload,
        }
    }

    #[test]
    fn events_are_chunks_and_a_second_confirmation_keeps_the_count() {
        let (server, mut client) = pair();
        let (outbox, _metrics) = outbox_on(&server, Transport::Chunked, 1 << 20);
        let subscribed = Event::Subscribed {
            kind: Kind::Channel,
            topic: b"ch",
        };
        assert!(outbox.deliver(&[subscribed], &mut FrameCache::default()));
        assert!(outbox.deliver(&[message(b"hi")], &mut FrameCache::default()));
        // A second confirmation of the same channel (after a reconnect) keeps the count at 1.
        assert!(outbox.deliver(&[subscribed], &mut FrameCache::default()));
        let expected: &[u8] =
            b"e\r\nsubscribe ch 1\r\nd\r\nmessage ch hi\r\ne\r\nsubscribe ch 1\r\n";
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
    }

    #[test]
    fn websocket_events_are_frames_of_their_kind() {
        let (server, mut client) = pair();
        let (text, _) = outbox_on(&server, Transport::WebSocket(Frames::Text), 1 << 20);
        assert!(text.join(Kind::Channel, &[b"ch".to_vec()]));
        assert!(text.deliver(&[message(b"m")], &mut FrameCache::default()));
        let payload = b"message ch m";
        let mut expected = vec![0x81, payload.len() as u8];
        expected.extend_from_slice(payload);
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
        let (binary, _) = outbox_on(&server, Transport::WebSocket(Frames::Binary), 1 << 20);
        assert!(binary.send_error(400, "no"));
        let payload = b"error 400 no";
        let mut expected = vec![0x82, payload.len() as u8];
        expected.extend_from_slice(payload);
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
    }

    #[test]
    fn raw_websocket_messages_are_text_when_they_are_utf8() {
        let (server, mut client) = pair();
        let (outbox, _) = outbox_on(&server, Transport::WebSocket(Frames::TextWhenUtf8), 1 << 20);
        assert!(outbox.send_message("+héllo\r\n".as_bytes()));
        let mut expected = vec![0x81, 9];
        expected.extend_from_slice("+héllo\r\n".as_bytes());
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
        assert!(outbox.send_message(b"$1\r\n\xff\r\n"));
        let mut expected = vec![0x82, 7];
        expected.extend_from_slice(b"$1\r\n\xff\r\n");
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
    }

    #[test]
    fn a_websocket_gets_nothing_of_a_topic_it_left() {
        let (server, mut client) = pair();
        let (outbox, _) = outbox_on(&server, Transport::WebSocket(Frames::Text), 1 << 20);
        assert!(outbox.deliver(&[message(b"before")], &mut FrameCache::default()));
        assert!(outbox.join(Kind::Channel, &[b"ch".to_vec(), b"ch".to_vec()]));
        assert!(outbox.join(Kind::Pattern, &[b"c*".to_vec()]));
        assert!(outbox.join(Kind::Channel, &[b"ch".to_vec()]));
        assert_eq!(outbox.joined(Kind::Channel), [b"ch".to_vec()]);
        assert!(outbox.deliver(&[message(b"in")], &mut FrameCache::default()));
        assert_eq!(outbox.leave(Kind::Channel, b"ch"), 1, "c* is left");
        assert_eq!(outbox.leave(Kind::Channel, b"ch"), 1, "leaving twice");
        assert!(outbox.deliver(&[message(b"after")], &mut FrameCache::default()));
        assert!(outbox.send_message(b"end"));
        let mut expected = vec![0x81, 13];
        expected.extend_from_slice(b"message ch in");
        expected.extend_from_slice(&[0x81, 3]);
        expected.extend_from_slice(b"end");
        assert_eq!(read_exactly(&mut client, expected.len()), expected);
        assert!(outbox.joined(Kind::Channel).is_empty());
    }

    #[test]
    fn a_websocket_holds_at_most_the_bound_of_topics_however_often_it_joins() {
        let (server, _client) = pair();
        let (outbox, _) = outbox_on(&server, Transport::WebSocket(Frames::Text), 1 << 20);
        let topics: Vec<Vec<u8>> = (0..MAX_SUBSCRIPTIONS_PER_STREAM)
            .map(|i| i.to_string().into_bytes())
            .collect();
        for _ in 0..3 {
            assert!(
                outbox.join(Kind::Channel, &topics),
                "joined again: no more held"
            );
        }
        assert!(!outbox.join(Kind::Pattern, &[b"one more".to_vec()]));
        assert_eq!(
            outbox.leave(Kind::Channel, b"0"),
            MAX_SUBSCRIPTIONS_PER_STREAM - 1
        );
        assert!(
            outbox.join(Kind::Pattern, &[b"one more".to_vec()]),
            "room again after a leave"
        );
    }

    #[test]
    fn streams_that_write_alike_share_one_rendering() {
        let (server, mut client) = pair();
        let (a, _) = outbox_on(&server, Transport::Chunked, 1 << 20);
        let (b, _) = outbox_on(&server, Transport::Chunked, 1 << 20);
        let (c, _) = outbox_on(&server, Transport::WebSocket(Frames::Text), 1 << 20);
        assert!(c.join(Kind::Channel, &[b"ch".to_vec()]));
        let mut cache = FrameCache::default();
        for outbox in [&a, &b, &c] {
            assert!(outbox.deliver(&[message(b"x")], &mut cache));
        }
        assert_eq!(cache.len(), 2, "one rendering per framing");
        assert_eq!(read_exactly(&mut client, 2 * 17 + 14).len(), 48);
    }

    /// Plain events, and a keep-alive message.
    #[derive(Debug)]
    struct KeepsAlive;

    impl EventFormat for KeepsAlive {
        fn event(&self, event: &Event<'_>, confirmed: usize) -> Vec<u8> {
            Plain.event(event, confirmed)
        }
        fn error(&self, status: u16, text: &str) -> Vec<u8> {
            Plain.error(status, text)
        }
        fn share_key(&self) -> &[u8] {
            b"keeps-alive"
        }
        fn keepalive(&self) -> Option<Vec<u8>> {
            Some(b"ka".to_vec())
        }
    }

    #[test]
    fn a_quiet_stream_sends_its_keepalive_and_a_busy_one_does_not() {
        let (server, mut client) = pair();
        let metrics = Arc::new(Metrics::default());
        let outbox = Outbox::new(
            &server,
            Transport::Chunked,
            Arc::new(KeepsAlive),
            1 << 20,
            metrics,
            &Budget::unlimited(),
        )
        .unwrap();
        let interval = Duration::from_secs(15);
        // Just began: not quiet yet.
        assert!(outbox.keep_alive(Instant::now(), interval));
        outbox.send_message(b"m");
        assert_eq!(read_exactly(&mut client, 6), b"1\r\nm\r\n");
        assert!(outbox.keep_alive(Instant::now() + interval, interval));
        assert_eq!(read_exactly(&mut client, 7), b"2\r\nka\r\n");
        // Formats without one (webdis's) send nothing, however quiet.
        let (plain, _) = outbox_on(&server, Transport::Chunked, 1 << 20);
        assert!(plain.keep_alive(Instant::now() + interval * 10, interval));
        assert!(!plain.has_pending());
    }

    #[test]
    fn a_client_that_does_not_read_is_cut_at_the_limit() {
        let (server, client) = pair();
        let (outbox, metrics) = outbox_on(&server, Transport::Chunked, 64 * 1024);
        let payload = vec![b'x'; 1024];
        let mut sent = 0;
        while outbox.deliver(&[message(&payload)], &mut FrameCache::default()) {
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
        let (outbox, _metrics) = outbox_on(&server, Transport::Chunked, 64 << 20);
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

    /// Regression: a WebSocket's next message waits for its SUBSCRIBE's confirmation, but the
    /// wait ended when the confirmation was counted, before its bytes were queued; a worker
    /// answering the next message in that gap wrote its answer first. Raced 300 times.
    #[test]
    fn an_answer_that_awaits_a_confirmation_is_written_after_it() {
        for round in 0..300 {
            let (server, mut client) = pair();
            let (outbox, _) = outbox_on(&server, Transport::Chunked, 1 << 20);
            outbox.await_confirmation(Kind::Channel, b"ch");
            let answerer = {
                let outbox = Arc::clone(&outbox);
                std::thread::spawn(move || {
                    while outbox.is_awaiting(Instant::now(), Duration::from_secs(10)) {
                        std::hint::spin_loop();
                    }
                    assert!(outbox.send_message(b"answer"));
                })
            };
            let subscribed = Event::Subscribed {
                kind: Kind::Channel,
                topic: b"ch",
            };
            assert!(outbox.deliver(&[subscribed], &mut FrameCache::default()));
            answerer.join().unwrap();
            let expected: &[u8] = b"e\r\nsubscribe ch 1\r\n6\r\nanswer\r\n";
            let got = read_exactly(&mut client, expected.len());
            assert_eq!(
                got,
                expected,
                "round {round}: {}",
                String::from_utf8_lossy(&got)
            );
        }
    }

    #[test]
    fn confirmations_count_up_again_after_a_reconnect() {
        let (server, mut client) = pair();
        let (outbox, _metrics) = outbox_on(&server, Transport::Chunked, 1 << 20);
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
            .filter(|line| line.starts_with("subscribe"))
            .map(|line| line.rsplit(' ').next().unwrap_or_default())
            .collect();
        assert_eq!(counts, ["1", "2", "1", "2"], "{text}");
    }
}
