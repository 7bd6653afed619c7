//! A Redis Cluster (`--cluster`): commands routed by hash slot to the master that serves it,
//! redirects followed, failovers waited out, and refusals where a cluster cannot keep a promise
//! the API makes.
//!
//! ```text
//!   run(commands) ── route (route.rs: keys → slot) ── grouped per master ──► one pipeline each
//!        │                                                                      │
//!        │  MOVED → that node, refresh · ASK → ASKING + command there, once     │
//!        │  TRYAGAIN CLUSTERDOWN LOADING MASTERDOWN, a master unreachable:       ▼
//!        └─ retried with backoff until the retry deadline, then 503 ◄──── resolve (one command)
//! ```
//!
//! * `slot`: CRC16 and hash tags; `map`: the `CLUSTER SLOTS` reply; `commands`: Redis's `COMMAND`
//!   reply (key positions, tips); `route`: where a command goes; `merge`: one reply from several;
//!   `topology`: the map, the pools per master, and the `redis-cluster` thread that refreshes.
//!
//! Must never: answer from a node that does not serve the slot (a node's `MOVED` is followed,
//! never ignored); send a write twice (after a connection broke mid-command the write may have
//! run, so it is not retried: only read-only commands, per Redis's `readonly` flag, and commands
//! that never left the gateway are); split a multi-key write without `--cluster-split-multi-key`.

pub mod commands;
pub mod map;
pub mod merge;
pub mod route;
pub mod slot;
mod spread;
pub mod topology;

use std::borrow::Cow;
use std::io;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use self::map::NodeAddr;
use self::route::{by_slot, cross_slot_text, route, Route};
use self::topology::{Node, Topology};
use super::backend::{Backend, Command, Outcome};
use super::maintainer::{MAX_BACKOFF, MIN_BACKOFF};
use super::standalone::round_trip;
use super::subscriber::Hub;
use super::transaction::{self, Slots};
use super::{Error, PoolStats, Refusal};
use crate::config::Config;
use crate::memory::Budget;
use crate::metrics::Metrics;
use crate::resp::Value;

/// Most `MOVED`/`ASK` redirects one command follows; past it, 503.
pub const MAX_REDIRECTS: usize = 5;

/// Whether a command whose keys span several slots may be split into one command per slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Refuse it with 409 (the default: the API's promise of all or nothing holds).
    Refuse,
    /// Split it (`--cluster-split-multi-key`): not atomic.
    PerSlot,
}

/// A Redis Cluster.
#[derive(Debug)]
pub struct Cluster {
    topology: Arc<Topology>,
    hub: Arc<Hub>,
    transactions: Slots,
    checkout_timeout: Duration,
    split: Split,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What one try of a command on one node says.
enum Answer {
    /// The answer (a value, an error reply that is the command's own, or a final error).
    Done(Result<Value, Error>),
    /// `MOVED`: the slot is served there now.
    Moved(NodeAddr),
    /// `ASK`: this one command, there, after `ASKING`.
    Ask(NodeAddr),
    /// `TRYAGAIN`, `CLUSTERDOWN`, `LOADING`, `MASTERDOWN`, `READONLY`: nothing ran; try again
    /// later (the flag: after a refresh of the map).
    Later(Value, bool),
    /// The command never reached Redis (no connection): trying again is safe.
    NotSent(Error),
    /// The connection broke after the command was sent: it may have run.
    Broken(Error),
}

/// Reads one try's result; `node_host` fills a redirect that names no host (`MOVED 1 :7001`).
fn classify(result: Result<Value, Error>, node_host: &str) -> Answer {
    match result {
        Ok(Value::Error(text)) => {
            let mut words = text.split(|b| *b == b' ');
            let code = words.next().unwrap_or_default();
            let mut target = || {
                let at = words.nth(1)?;
                let at = std::str::from_utf8(at).ok()?;
                let (host, port) = at.rsplit_once(':')?;
                let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
                let host = if host.is_empty() { node_host } else { host };
                Some((host.to_owned(), port))
            };
            match code {
                b"MOVED" => {
                    target().map_or(Answer::Done(Ok(Value::Error(text.clone()))), Answer::Moved)
                }
                b"ASK" => {
                    target().map_or(Answer::Done(Ok(Value::Error(text.clone()))), Answer::Ask)
                }
                b"TRYAGAIN" | b"LOADING" | b"MASTERDOWN" => {
                    Answer::Later(Value::Error(text), false)
                }
                b"CLUSTERDOWN" | b"READONLY" => Answer::Later(Value::Error(text), true),
                _ => Answer::Done(Ok(Value::Error(text))),
            }
        }
        Ok(value) => Answer::Done(Ok(value)),
        Err(e @ (Error::Unavailable(_) | Error::Stale)) => Answer::NotSent(e),
        Err(
            e @ (Error::Io(_)
            | Error::Closed
            | Error::Timeout
            | Error::Protocol(_)
            | Error::Unsolicited),
        ) => Answer::Broken(e),
        Err(e) => Answer::Done(Err(e)),
    }
}

impl Cluster {
    /// Starts the `redis-cluster` thread, which reads the slot map from the seeds (some may be
    /// down: requests get 503 until one answers) and makes a pool per master.
    ///
    /// # Errors
    ///
    /// `InvalidInput` when `--db` is not 0 (a cluster has one database); when a thread cannot
    /// start.
    pub fn start(cfg: &Config, metrics: Arc<Metrics>, budget: &Arc<Budget>) -> io::Result<Cluster> {
        if cfg.redis.db != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "--db {}: a Redis Cluster has only database 0 (SELECT is refused there); drop --db",
                    cfg.redis.db
                ),
            ));
        }
        let topology = Arc::new(Topology::new(cfg, metrics, budget));
        let hub = Hub::new(cfg.clone(), Arc::clone(&topology.hub_address), budget);
        let _ = topology.hub.set(Arc::clone(&hub));
        let thread = topology.spawn()?;
        Ok(Cluster {
            hub,
            topology,
            transactions: Slots::new(cfg.max_transactions),
            checkout_timeout: cfg.checkout_timeout,
            split: if cfg.cluster.split_multi_key {
                Split::PerSlot
            } else {
                Split::Refuse
            },
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The master of `slot` (`None`: any master, the first of the map), waiting for the first
    /// map when there is none yet.
    fn master_for(&self, slot: Option<u16>, deadline: Instant) -> Result<NodeAddr, Error> {
        loop {
            let (map, _, generation) = self.topology.snapshot();
            if let Some(map) = &map {
                let found = match slot {
                    Some(slot) => map.master(slot),
                    None => map.masters().first(),
                };
                if let Some(addr) = found {
                    return Ok(addr.clone());
                }
            } else if let Some(why) = self.topology.failure() {
                // Not one node answered the last refresh: fail fast rather than hold a worker.
                self.topology.want_refresh();
                return Err(Error::Unavailable(why));
            }
            if Instant::now() >= deadline {
                let what = slot.map_or_else(|| "any slot".to_string(), |s| format!("slot {s}"));
                return Err(Error::Unavailable(format!(
                    "no master serves {what} in the cluster's slot map"
                )));
            }
            self.topology.want_refresh();
            self.topology
                .await_refresh(generation, deadline.min(Instant::now() + MAX_BACKOFF));
        }
    }

    /// One try of `args` on the master at `addr` (after `ASKING` when asked to).
    fn send(&self, addr: &NodeAddr, args: &[Cow<'_, [u8]>], asking: bool) -> Result<Value, Error> {
        let node = self
            .topology
            .node(addr)
            .ok_or_else(|| Error::Unavailable("the gateway is shutting down".into()))?;
        if asking {
            let asking: [Cow<'_, [u8]>; 1] = [Cow::Borrowed(b"ASKING")];
            let mut replies = round_trip(&node.pool, &[&asking, args], self.checkout_timeout);
            return replies.pop().unwrap_or(Err(Error::Closed));
        }
        round_trip(&node.pool, &[args], self.checkout_timeout)
            .pop()
            .unwrap_or(Err(Error::Closed))
    }

    /// Sleeps a backoff step (waking early when a refresh ends); false once `deadline` passed.
    fn pause(&self, deadline: Instant, backoff: &mut Duration) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let (_, _, generation) = self.topology.snapshot();
        self.topology
            .await_refresh(generation, deadline.min(now + *backoff));
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        true
    }

    /// Runs one command to its end: redirects followed, failovers waited out within the retry
    /// deadline. `first` is a try already made (in a pipeline) and its node.
    fn resolve(
        &self,
        args: &[Cow<'_, [u8]>],
        slot: Option<u16>,
        readonly: bool,
        first: Option<(NodeAddr, Result<Value, Error>)>,
    ) -> Result<Value, Error> {
        enum Next {
            Map,
            Node(NodeAddr),
            Asking(NodeAddr),
        }
        let deadline = Instant::now() + self.topology.retry_deadline();
        let mut backoff = MIN_BACKOFF;
        let mut redirects = 0;
        let mut next = Next::Map;
        let mut pending = first;
        loop {
            let (addr, result) = match pending.take() {
                Some(tried) => tried,
                None => {
                    let (addr, asking) = match std::mem::replace(&mut next, Next::Map) {
                        Next::Map => (self.master_for(slot, deadline)?, false),
                        Next::Node(addr) => (addr, false),
                        Next::Asking(addr) => (addr, true),
                    };
                    let result = self.send(&addr, args, asking);
                    (addr, result)
                }
            };
            match classify(result, &addr.0) {
                Answer::Done(result) => return result,
                Answer::Moved(to) | Answer::Ask(to) if redirects >= MAX_REDIRECTS => {
                    self.topology.want_refresh();
                    return Err(Error::Unavailable(format!(
                        "more than {MAX_REDIRECTS} cluster redirects (last to {}:{}): the slot is moving; retry",
                        to.0, to.1
                    )));
                }
                Answer::Moved(to) => {
                    redirects += 1;
                    self.topology.want_refresh();
                    next = Next::Node(to);
                }
                Answer::Ask(to) => {
                    redirects += 1;
                    next = Next::Asking(to);
                }
                Answer::Later(value, refresh) => {
                    if refresh {
                        self.topology.want_refresh();
                    }
                    next = Next::Map;
                    if !self.pause(deadline, &mut backoff) {
                        return Ok(value);
                    }
                }
                Answer::NotSent(e) => {
                    self.topology.want_refresh();
                    next = Next::Map;
                    if !self.pause(deadline, &mut backoff) {
                        return Err(e);
                    }
                }
                Answer::Broken(e) => {
                    self.topology.want_refresh();
                    // A write may have run: never sent again, the client learns it failed.
                    if !readonly || !self.pause(deadline, &mut backoff) {
                        return Err(e);
                    }
                    next = Next::Map;
                }
            }
        }
    }
}

impl Backend for Cluster {
    /// Commands for one slot's master are pipelined per master; a command that was redirected,
    /// fanned out, split, or whose keys need `COMMAND GETKEYS` runs alone after them.
    fn run(&self, commands: &[Command<'_>]) -> Vec<Result<Value, Error>> {
        let mut results: Vec<Option<Result<Value, Error>>> =
            commands.iter().map(|_| None).collect();
        let (_, table, _) = self.topology.snapshot();
        let deadline = Instant::now() + self.checkout_timeout;
        // Per master: the commands (their index and slot) to pipeline there.
        let mut groups: Vec<(NodeAddr, Vec<Pending>)> = Vec::new();
        let mut alone = Vec::new();
        for (i, command) in commands.iter().enumerate() {
            if let Some(db) = command.db.filter(|db| *db != 0) {
                let why = format!(
                    "a Redis Cluster has only database 0: the database prefix /{db}/ is refused"
                );
                results[i] = Some(Err(Error::Refused(Refusal::Unsupported, why)));
                continue;
            }
            let slot = match route(command.args, table.spec(command.args)) {
                Route::Slot(slot) if !table.is_empty() => Some(slot),
                Route::Any if !table.is_empty() => None,
                _ => {
                    alone.push(i);
                    continue;
                }
            };
            match self.master_for(slot, deadline) {
                Ok(addr) => match groups.iter_mut().find(|(a, _)| *a == addr) {
                    Some((_, members)) => members.push((i, slot)),
                    None => groups.push((addr, vec![(i, slot)])),
                },
                Err(e) => results[i] = Some(Err(e)),
            }
        }
        // Connections are taken in one order (by address), so that two workers each holding one
        // master's last free connection can never wait for each other's.
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        let batches: Vec<Vec<&[Cow<'_, [u8]>]>> = groups
            .iter()
            .map(|(_, members)| {
                members
                    .iter()
                    .filter_map(|(i, _)| commands.get(*i).map(|c| c.args))
                    .collect()
            })
            .collect();
        let nodes: Vec<Option<Arc<Node>>> = groups
            .iter()
            .map(|(addr, _)| self.topology.node(addr))
            .collect();
        let all_replies = self.pipelines(&nodes, &batches);
        for ((addr, members), replies) in groups.into_iter().zip(all_replies) {
            for ((i, slot), reply) in members.into_iter().zip(replies) {
                let finished = match reply {
                    Ok(value) if !needs_resolving(&value) => Ok(value),
                    other => {
                        let args = commands.get(i).map_or(&[][..], |c| c.args);
                        let readonly = table.spec(args).is_some_and(|s| s.readonly);
                        self.resolve(args, slot, readonly, Some((addr.clone(), other)))
                    }
                };
                results[i] = Some(finished);
            }
        }
        for i in alone {
            let args = commands.get(i).map_or(&[][..], |c| c.args);
            let (_, table, _) = self.topology.snapshot();
            let result = if table.is_empty() {
                // The first map (and the commands with it) is not read yet.
                self.master_for(None, Instant::now() + self.topology.retry_deadline())
                    .and_then(|_| self.run_alone(args, &self.topology.snapshot().1))
            } else {
                self.run_alone(args, &table)
            };
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::Closed)))
            .collect()
    }

    /// On the master of the one slot every command's keys are in (409 otherwise); a transaction
    /// refused before it ran (`MOVED`, `TRYAGAIN`… while queueing) is sent again.
    fn transaction(&self, commands: &[&[Cow<'_, [u8]>]]) -> Result<Outcome, Error> {
        let deadline = Instant::now() + self.topology.retry_deadline();
        self.master_for(None, deadline)?;
        let (_, table, _) = self.topology.snapshot();
        let mut slot: Option<u16> = None;
        let mut keys_seen: Vec<Cow<'_, [u8]>> = vec![Cow::Borrowed(b"MULTI")];
        for args in commands {
            let found = match route(args, table.spec(args)) {
                Route::Slot(s) => Some(s),
                Route::Any => None,
                Route::AskKeys => match self.slot_of_movable(args)? {
                    Ok(found) => found,
                    Err(text) => return Err(Error::Refused(Refusal::CrossSlot, text)),
                },
                Route::Slots(groups) => {
                    return Err(Error::Refused(
                        Refusal::CrossSlot,
                        cross_slot_text(args, &groups),
                    ))
                }
                Route::Every(_) | Route::Refused(_) => {
                    let name =
                        String::from_utf8_lossy(args.first().map_or(&[][..], |a| a)).to_uppercase();
                    return Err(Error::Refused(
                        Refusal::Unsupported,
                        format!("{name} needs every node of the Redis Cluster and cannot run in a transaction"),
                    ));
                }
            };
            if let Some(s) = found {
                if let Some(key) = args.get(1) {
                    keys_seen.push(key.clone());
                }
                match slot {
                    Some(prev) if prev != s => {
                        let groups = by_slot(&keys_seen, &(1..keys_seen.len()).collect::<Vec<_>>());
                        return Err(Error::Refused(
                            Refusal::CrossSlot,
                            cross_slot_text(&keys_seen, &groups),
                        ));
                    }
                    _ => slot = Some(s),
                }
            }
        }
        let mut backoff = MIN_BACKOFF;
        let mut redirects = 0;
        let mut moved_to: Option<NodeAddr> = None;
        loop {
            let addr = match moved_to.take() {
                Some(addr) => addr,
                None => self.master_for(slot, deadline)?,
            };
            let node = self
                .topology
                .node(&addr)
                .ok_or_else(|| Error::Unavailable("the gateway is shutting down".into()))?;
            let outcome = transaction::run(
                &node.pool,
                &self.transactions,
                commands,
                self.checkout_timeout,
            );
            // Refused while queueing: nothing ran, so it may be sent again.
            let answer = match &outcome {
                Ok(Outcome::Aborted(text)) => classify(Ok(Value::Error(text.clone())), &addr.0),
                Err(Error::Unavailable(why)) => Answer::NotSent(Error::Unavailable(why.clone())),
                _ => return outcome,
            };
            match answer {
                Answer::Moved(to) if redirects < MAX_REDIRECTS => {
                    redirects += 1;
                    self.topology.want_refresh();
                    moved_to = Some(to);
                }
                Answer::Later(_, _) | Answer::NotSent(_) if Instant::now() < deadline => {
                    self.topology.want_refresh();
                    self.pause(deadline, &mut backoff);
                }
                _ => return outcome,
            }
        }
    }

    fn hub(&self) -> &Arc<Hub> {
        &self.hub
    }

    fn stats(&self) -> PoolStats {
        self.topology.stats()
    }

    fn close(&self) {
        self.topology.close();
        self.hub.close();
        crate::redis::join_thread(&self.thread);
        self.topology.join_all();
    }
}

impl Cluster {
    /// One pipeline per master, all written before any reply is read, so that the masters work
    /// at once: one result per command of each batch. A pipeline that found its pooled
    /// connection closed by Redis (nothing ran) is sent again on its own.
    fn pipelines(
        &self,
        nodes: &[Option<Arc<Node>>],
        batches: &[Vec<&[Cow<'_, [u8]>]>],
    ) -> Vec<Vec<Result<Value, Error>>> {
        let gone = || Error::Unavailable("the gateway is shutting down".into());
        let mut sent = Vec::with_capacity(nodes.len());
        for (node, batch) in nodes.iter().zip(batches) {
            let Some(node) = node else {
                sent.push(Err(gone()));
                continue;
            };
            match node.pool.checkout(self.checkout_timeout) {
                Ok(mut conn) => match conn.send(batch) {
                    Ok(()) => sent.push(Ok(conn)),
                    Err(e) => sent.push(Err(e)),
                },
                Err(e) => sent.push(Err(e)),
            }
        }
        let mut all = Vec::with_capacity(nodes.len());
        for ((node, batch), conn) in nodes.iter().zip(batches).zip(sent) {
            let (values, error) = match conn {
                Ok(mut conn) => conn.receive(batch.len()),
                Err(e) => (Vec::new(), Some(e)),
            };
            let replies = match (error, node) {
                (None, _) => values.into_iter().map(Ok).collect(),
                // Redis had closed the pooled connection before the commands reached it.
                (Some(Error::Stale), Some(node)) if values.is_empty() => {
                    round_trip(&node.pool, batch, self.checkout_timeout)
                }
                (Some(e), _) => {
                    let mut replies: Vec<_> = values.into_iter().map(Ok).collect();
                    replies.resize_with(batch.len(), || Err(e.clone()));
                    replies
                }
            };
            all.push(replies);
        }
        all
    }
}

/// A command waiting for its master's pipeline: its index in the batch, and its slot (`None`:
/// keyless, any master).
type Pending = (usize, Option<u16>);

/// Whether a pipelined reply is a cluster redirect or a "not now" that [`Cluster::resolve`]
/// must handle.
fn needs_resolving(value: &Value) -> bool {
    let Value::Error(text) = value else {
        return false;
    };
    let code = text.split(|b| *b == b' ').next().unwrap_or_default();
    matches!(
        code,
        b"MOVED" | b"ASK" | b"TRYAGAIN" | b"CLUSTERDOWN" | b"LOADING" | b"MASTERDOWN" | b"READONLY"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_and_retries_are_told_apart() {
        let err = |t: &str| Ok(Value::Error(t.as_bytes().to_vec()));
        assert!(
            matches!(classify(err("MOVED 3999 127.0.0.1:7002"), "h"), Answer::Moved(a) if a == ("127.0.0.1".into(), 7002))
        );
        assert!(
            matches!(classify(err("MOVED 3999 :7002"), "h"), Answer::Moved(a) if a == ("h".into(), 7002))
        );
        assert!(
            matches!(classify(err("ASK 3999 10.0.0.1:7000"), "h"), Answer::Ask(a) if a == ("10.0.0.1".into(), 7000))
        );
        assert!(matches!(
            classify(
                err("TRYAGAIN Multiple keys request during rehashing of slot"),
                "h"
            ),
            Answer::Later(_, false)
        ));
        assert!(matches!(
            classify(err("CLUSTERDOWN The cluster is down"), "h"),
            Answer::Later(_, true)
        ));
        assert!(matches!(
            classify(
                err("READONLY You can't write against a read only replica."),
                "h"
            ),
            Answer::Later(_, true)
        ));
        assert!(matches!(
            classify(err("WRONGTYPE x"), "h"),
            Answer::Done(Ok(_))
        ));
        assert!(matches!(
            classify(err("MOVED garbage"), "h"),
            Answer::Done(Ok(_))
        ));
        assert!(matches!(
            classify(Err(Error::Stale), "h"),
            Answer::NotSent(_)
        ));
        assert!(matches!(
            classify(Err(Error::Closed), "h"),
            Answer::Broken(_)
        ));
        assert!(matches!(
            classify(Err(Error::ReplyTooLarge), "h"),
            Answer::Done(Err(_))
        ));
        assert!(needs_resolving(&Value::Error(b"ASK 1 h:1".to_vec())));
        assert!(!needs_resolving(&Value::Error(b"ERR x".to_vec())));
    }
}
