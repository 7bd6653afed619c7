//! The `redis-pubsub` thread of the [`Hub`]: it connects (to wherever the hub's [`Address`] is
//! now), subscribes to every topic, writes the commands the hub queued, reads what Redis pushes,
//! and fans it out to the listeners; after a failure, or when the address moves, it tells every
//! listener the connection was lost and starts over.

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Arc, PoisonError};
use std::thread;
use std::time::Instant;

use super::{
    queue, unsubscribe, Event, FrameCache, Hub, Kind, Listener, MAX_FANOUT_BATCH,
    MAX_FANOUT_BATCH_BYTES, MAX_WRITE_CHUNK, READ_WAIT,
};
use crate::log;
use crate::memory::Account;
use crate::redis::maintainer::{MAX_BACKOFF, MIN_BACKOFF};
use crate::redis::{Conn, Error};
use crate::resp::Value;

impl Hub {
    /// The thread: connect, subscribe to everything, fan messages out; after a failure, tell
    /// every listener and start over.
    pub(super) fn run(&self) {
        let mut backoff = MIN_BACKOFF;
        let mut down_since: Option<Instant> = None;
        loop {
            {
                let mut state = self.lock();
                while !state.closed && state.topics.is_empty() {
                    state = self
                        .wake
                        .wait(state)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if state.closed {
                    return;
                }
            }
            let generation = self.address.generation();
            let target = self.address.target(&self.cfg.redis);
            // While the address is vacant (Sentinel: a promotion under way), nothing is
            // connected: subscribers wait for the new master.
            let vacant = self.address.vacant().map(Error::Unavailable);
            let conn = vacant
                .map_or(Ok(()), Err)
                .and_then(|()| Conn::connect(&target, &self.cfg));
            let conn = conn.and_then(|conn| {
                let writer = conn.writer()?;
                writer.set_write_timeout(Some(self.cfg.redis_timeout))?;
                Ok((conn, writer))
            });
            let (mut conn, mut writer) = match conn {
                Ok(pair) => pair,
                Err(e) => {
                    if down_since.is_none() {
                        log::warn(format_args!(
                            "pub/sub: redis {} unavailable: {e}; subscribers get messages again when it is back",
                            target
                        ));
                        down_since = Some(Instant::now());
                    }
                    thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            backoff = MIN_BACKOFF;
            // What it reads ahead of the fan-out counts in the process's budget, so that the other
            // buffers are pushed back while a burst waits here (the burst itself is never
            // refused: Redis would drop the connection instead).
            conn.attach(Account::new(&self.budget));
            if let Some(since) = down_since.take() {
                log::info(format_args!(
                    "pub/sub: redis {} is reachable again after {:.1} s; subscribing again",
                    target,
                    since.elapsed().as_secs_f64()
                ));
            }
            self.resubscribe();
            let error = self.fan_out(&mut conn, &mut writer, generation);
            if self.lock().closed {
                return;
            }
            log::warn(format_args!(
                "pub/sub: connection to redis {} lost ({error}); subscribers were told, reconnecting",
                target
            ));
            down_since = Some(Instant::now());
            self.lost();
        }
    }

    /// Marks the new connection up and queues a subscription to every topic, in the order they
    /// were first subscribed (so confirmations come in that order).
    fn resubscribe(&self) {
        let mut state = self.lock();
        state.connected = true;
        state.queued.clear();
        state.draining.clear();
        let mut topics: Vec<(u64, Kind, Vec<u8>)> = state
            .topics
            .iter()
            .map(|((kind, topic), entry)| (entry.seq, *kind, topic.clone()))
            .collect();
        topics.sort_unstable_by_key(|(seq, _, _)| *seq);
        for (_, kind, topic) in topics {
            queue(&mut state, kind.subscribe(), &topic);
        }
    }

    /// Writes queued commands and reads pushed values until the connection fails or the hub
    /// closes; returns why it stopped.
    fn fan_out(&self, conn: &mut Conn, writer: &mut TcpStream, generation: u64) -> Error {
        if let Err(e) = conn.set_push_wait(READ_WAIT) {
            return e;
        }
        let mut batch = Vec::with_capacity(MAX_FANOUT_BATCH);
        loop {
            let chunk = {
                let mut state = self.lock();
                if state.closed {
                    return Error::Closed;
                }
                if self.address.generation() != generation {
                    let (host, port) = self.address.host_port();
                    return Error::Unavailable(format!("redis moved to {host}:{port}"));
                }
                let n = state.queued.len().min(MAX_WRITE_CHUNK);
                let chunk = state.queued.drain(..n).collect::<Vec<u8>>();
                state.give_back();
                chunk
            };
            if !chunk.is_empty() {
                if let Err(e) = writer.write_all(&chunk) {
                    return Error::from(e);
                }
            }
            // Take everything Redis has sent so far before fanning out the next batch, so that
            // Redis never holds a burst (it drops a subscriber past its output buffer limit); the
            // burst waits in the connection's buffer, bounded by --max-reply-bytes. Subscribers
            // that fall behind are cut by their own outbox bound, never waited for.
            let filled = conn.fill_pushes();
            let first = match conn.buffered_push() {
                Ok(Some(value)) => Some(value),
                Ok(None) if filled.is_ok() => match conn.next_push() {
                    Ok(value) => value,
                    Err(e) => return e,
                },
                Ok(None) => None,
                Err(e) => return e,
            };
            if let Some(value) = first {
                // What is already read goes out together, up to a bound.
                let mut bytes = payload_len(&value);
                batch.push(value);
                while batch.len() < MAX_FANOUT_BATCH && bytes < MAX_FANOUT_BATCH_BYTES {
                    match conn.buffered_push() {
                        Ok(Some(value)) => {
                            bytes += payload_len(&value);
                            batch.push(value);
                        }
                        Ok(None) => break,
                        Err(e) => return e,
                    }
                }
                self.dispatch(&batch);
                batch.clear();
            }
            if let Err(e) = filled {
                // The connection failed: what it delivered before still goes out, in order,
                // before the listeners are told it was lost.
                while let Ok(Some(value)) = conn.buffered_push() {
                    batch.push(value);
                    if batch.len() >= MAX_FANOUT_BATCH {
                        self.dispatch(&batch);
                        batch.clear();
                    }
                }
                self.dispatch(&batch);
                return e;
            }
        }
    }

    /// Hands pushed values to the listeners they concern, in order. A run of messages on one
    /// topic goes to each of its listeners in one delivery (one write per client socket instead
    /// of one per message).
    pub(super) fn dispatch(&self, values: &[Value]) {
        let mut run: Vec<Event<'_>> = Vec::new();
        for value in values {
            match parse_push(value) {
                Push::Message(event) => {
                    let (kind, topic) = event_topic(&event);
                    if run
                        .first()
                        .is_some_and(|first| event_topic(first) != (kind, topic))
                    {
                        self.deliver_run(&mut run);
                    }
                    run.push(event);
                }
                Push::Subscribed(kind, topic) => {
                    self.deliver_run(&mut run);
                    // The topic is marked confirmed and its listeners are taken in one critical
                    // section: a listener that joins later sees the topic confirmed and confirms
                    // itself (see `subscribe`), one that joined earlier is in this snapshot; no
                    // listener is in both, so none is confirmed twice.
                    let listeners = {
                        let mut state = self.lock();
                        let key = (kind, topic.to_vec());
                        if state.draining.contains_key(&key) {
                            continue;
                        }
                        match state.topics.get_mut(&key) {
                            Some(entry) if !entry.confirmed => {
                                entry.confirmed = true;
                                entry.listeners.clone()
                            }
                            // Already confirmed: a late duplicate; nobody is waiting for it.
                            _ => continue,
                        }
                    };
                    let events = [Event::Subscribed { kind, topic }];
                    self.deliver_to_snapshot(kind, topic, &listeners, &events);
                }
                Push::Unsubscribed(kind, topic) => {
                    self.deliver_run(&mut run);
                    let mut state = self.lock();
                    let key = (kind, topic.to_vec());
                    if let Some(count) = state.draining.get_mut(&key) {
                        *count -= 1;
                        if *count == 0 {
                            state.draining.remove(&key);
                            state.give_back();
                        }
                    }
                }
                Push::Other => {}
            }
        }
        self.deliver_run(&mut run);
    }

    /// Delivers a run of messages of one topic, and empties it.
    fn deliver_run(&self, run: &mut Vec<Event<'_>>) {
        if let Some(first) = run.first() {
            let (kind, topic) = event_topic(first);
            self.deliver_to(kind, topic, run);
        }
        run.clear();
    }

    /// Delivers `events` (all of one topic) to a snapshot of the topic's listeners (see
    /// [`Hub::deliver_to_snapshot`]).
    ///
    /// Messages reach a topic only once Redis confirmed its current subscription: a topic made
    /// anew after its last listener left stays unconfirmed while its old `UNSUBSCRIBE` drains,
    /// so what was published before the new listener subscribed never reaches it.
    fn deliver_to(&self, kind: Kind, topic: &[u8], events: &[Event<'_>]) {
        let key = (kind, topic.to_vec());
        let messages = events.iter().all(|e| matches!(e, Event::Message { .. }));
        let listeners = match self.lock().topics.get(&key) {
            Some(entry) if messages && !entry.confirmed => return,
            Some(entry) => entry.listeners.clone(),
            None => return,
        };
        self.deliver_to_snapshot(kind, topic, &listeners, events);
    }

    /// Delivers `events` (all of one topic) to `listeners`, a snapshot taken under the lock,
    /// outside it; then forgets those that are gone (a topic left without listeners is
    /// unsubscribed).
    fn deliver_to_snapshot(
        &self,
        kind: Kind,
        topic: &[u8],
        listeners: &[Arc<dyn Listener>],
        events: &[Event<'_>],
    ) {
        let mut cache = FrameCache::default();
        let gone: Vec<u64> = listeners
            .iter()
            .filter(|l| !l.deliver(events, &mut cache))
            .map(|l| l.id())
            .collect();
        if gone.is_empty() {
            return;
        }
        let key = (kind, topic.to_vec());
        let mut state = self.lock();
        if let Some(entry) = state.topics.get_mut(&key) {
            entry.listeners.retain(|l| !gone.contains(&l.id()));
            if entry.listeners.is_empty() {
                state.topics.remove(&key);
                unsubscribe(&mut state, kind, key.1);
                state.give_back();
            }
        }
    }

    /// The connection is gone: nothing is confirmed any more, and every listener is told.
    fn lost(&self) {
        let keys: Vec<(Kind, Vec<u8>)> = {
            let mut state = self.lock();
            state.connected = false;
            state.queued.clear();
            for entry in state.topics.values_mut() {
                entry.confirmed = false;
            }
            state.topics.keys().cloned().collect()
        };
        for (kind, topic) in keys {
            self.deliver_to(
                kind,
                &topic,
                &[Event::Lost {
                    kind,
                    topic: &topic,
                }],
            );
        }
    }
}

/// The topic an event belongs to.
fn event_topic<'a>(event: &Event<'a>) -> (Kind, &'a [u8]) {
    match *event {
        Event::Subscribed { kind, topic }
        | Event::Message { kind, topic, .. }
        | Event::Lost { kind, topic } => (kind, topic),
    }
}

/// The bytes of the strings in a pushed value (what delivering it copies).
fn payload_len(value: &Value) -> usize {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| match item {
                Value::Bulk(b) => b.len(),
                _ => 0,
            })
            .sum(),
        _ => 0,
    }
}

/// What Redis pushes on a subscribed connection.
enum Push<'a> {
    /// `message channel payload` or `pmessage pattern channel payload`.
    Message(Event<'a>),
    /// `subscribe topic n` or `psubscribe topic n`.
    Subscribed(Kind, &'a [u8]),
    /// `unsubscribe topic n` or `punsubscribe topic n`.
    Unsubscribed(Kind, &'a [u8]),
    /// Anything else (nothing else is expected).
    Other,
}

fn parse_push(value: &Value) -> Push<'_> {
    let Value::Array(items) = value else {
        return Push::Other;
    };
    let bulk = |i: usize| match items.get(i) {
        Some(Value::Bulk(b)) => Some(b.as_slice()),
        _ => None,
    };
    match (bulk(0), bulk(1), bulk(2), bulk(3), items.len()) {
        (Some(b"message"), Some(channel), Some(payload), _, 3) => Push::Message(Event::Message {
            kind: Kind::Channel,
            topic: channel,
            channel,
            payload,
        }),
        (Some(b"pmessage"), Some(pattern), Some(channel), Some(payload), 4) => {
            Push::Message(Event::Message {
                kind: Kind::Pattern,
                topic: pattern,
                channel,
                payload,
            })
        }
        (Some(b"subscribe"), Some(topic), _, _, 3) => Push::Subscribed(Kind::Channel, topic),
        (Some(b"psubscribe"), Some(topic), _, _, 3) => Push::Subscribed(Kind::Pattern, topic),
        (Some(b"unsubscribe"), Some(topic), _, _, 3) => Push::Unsubscribed(Kind::Channel, topic),
        (Some(b"punsubscribe"), Some(topic), _, _, 3) => Push::Unsubscribed(Kind::Pattern, topic),
        _ => Push::Other,
    }
}
