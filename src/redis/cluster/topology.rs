//! What the gateway knows of the cluster, and the thread that keeps it true (`redis-cluster`):
//! the slot map, the commands Redis described, a pool (and its maintainer) per master, and where
//! the subscriptions live.
//!
//! ```text
//!   worker ── want_refresh (MOVED, CLUSTERDOWN, READONLY, a master unreachable) ──┐
//!                                                                                 ▼
//!   redis-cluster thread: one refresh at a time, ≥ REFRESH_COOLDOWN apart, and every
//!   REFRESH_INTERVAL (every HEALTH_INTERVAL while no node has answered yet):
//!   CLUSTER SLOTS asked of the known nodes in random order, then the seeds
//!        │ new map → pools for new masters; pools of nodes no longer masters closed;
//!        │           the subscriptions' Address moved off a node the map no longer names
//!        ▼
//!   worker ── await_refresh(generation, until) ── wakes at the next map (or the next failure)
//! ```
//!
//! Must never: do I/O under its lock (connections are made, and maintainers joined, outside it),
//! or refresh more than once per [`REFRESH_COOLDOWN`] however many workers ask.
//!
//! Connections: `--pool-size` is a budget for the whole cluster, split evenly between the
//! masters a pool is made for (3 masters and 40: 13 each), so that Redis and the gateway's memory
//! see what they would see of one Redis.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::commands::Commands;
use super::map::{Map, NodeAddr};
use crate::config::{Config, RedisTarget};
use crate::log;
use crate::memory::Budget;
use crate::metrics::Metrics;
use crate::redis::subscriber::Hub;
use crate::redis::{maintainer, Address, Conn, Error, Pool, PoolStats};
use crate::resp::Value;

/// Least time between two refreshes, however many requests ask for one.
pub const REFRESH_COOLDOWN: Duration = Duration::from_millis(200);
/// A refresh happens at least this often, asked for or not.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(45);
/// How often the thread looks whether a master's pool has lost every connection (then it
/// refreshes: the master may have failed over).
pub const HEALTH_INTERVAL: Duration = Duration::from_millis(500);
/// The retry deadline when the nodes do not tell their `cluster-node-timeout` (Redis's default
/// node timeout, 15 s, + 2 s).
pub const DEFAULT_RETRY_DEADLINE: Duration = Duration::from_secs(17);
/// Added to the cluster's node timeout for the automatic retry deadline: a replica is promoted
/// within about the node timeout plus an election (≤ 1 s), and the map is read within 200 ms.
pub const FAILOVER_MARGIN: Duration = Duration::from_secs(2);

/// A master's pool and the maintainer that fills it.
#[derive(Debug)]
pub struct Node {
    /// Where it is.
    pub addr: NodeAddr,
    /// Its connections.
    pub pool: Arc<Pool>,
    maintainer: Mutex<Option<JoinHandle<()>>>,
}

/// The shared knowledge of the cluster (see the module docs).
#[derive(Debug)]
pub struct Topology {
    cfg: Config,
    metrics: Arc<Metrics>,
    budget: Arc<Budget>,
    /// Where the subscriptions live: a node of the map.
    pub hub_address: Arc<Address>,
    /// The subscriptions, once made: a hub that lost its connection asks for a refresh.
    pub hub: OnceLock<Arc<Hub>>,
    state: Mutex<State>,
    /// Signalled when a refresh is wanted, when one ends, and on close.
    changed: Condvar,
}

#[derive(Debug, Default)]
struct State {
    map: Option<Arc<Map>>,
    commands: Arc<Commands>,
    /// Bumped by every refresh attempt, successful or not.
    generation: u64,
    nodes: HashMap<NodeAddr, Arc<Node>>,
    /// Pools to close and maintainers to join, outside the lock.
    retired: Vec<Arc<Node>>,
    wanted: bool,
    /// Why the last refresh failed; `None` after a success.
    failure: Option<String>,
    node_timeout: Option<Duration>,
    closed: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Topology>();
};

impl Topology {
    /// Knowledge of nothing yet; [`Topology::spawn`] starts learning.
    pub fn new(cfg: &Config, metrics: Arc<Metrics>, budget: &Arc<Budget>) -> Topology {
        let first = cfg.cluster.seeds.first().cloned().unwrap_or_default();
        let at = RedisTarget {
            host: first.0,
            port: first.1,
            ..cfg.redis.clone()
        };
        Topology {
            cfg: cfg.clone(),
            metrics,
            budget: Arc::clone(budget),
            hub_address: Address::new(&at),
            hub: OnceLock::new(),
            state: Mutex::new(State {
                wanted: true,
                ..State::default()
            }),
            changed: Condvar::new(),
        }
    }

    /// The state is replaced or updated field by field, never left half-done across a panic:
    /// a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the `redis-cluster` thread.
    ///
    /// # Errors
    ///
    /// When the OS cannot start a thread.
    pub fn spawn(self: &Arc<Topology>) -> io::Result<JoinHandle<()>> {
        let topology = Arc::clone(self);
        thread::Builder::new()
            .name("redis-cluster".into())
            .spawn(move || topology.run())
    }

    /// The current map (`None` until the first refresh succeeds), the commands, and the
    /// generation they belong to.
    pub fn snapshot(&self) -> (Option<Arc<Map>>, Arc<Commands>, u64) {
        let state = self.lock();
        (
            state.map.clone(),
            Arc::clone(&state.commands),
            state.generation,
        )
    }

    /// Why the last refresh failed, if it did.
    pub fn failure(&self) -> Option<String> {
        self.lock().failure.clone()
    }

    /// The pool of the master at `addr`, made (with its maintainer) when it has none yet (a
    /// `MOVED` may name a master the map does not know yet).
    pub fn node(&self, addr: &NodeAddr) -> Option<Arc<Node>> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        if let Some(node) = state.nodes.get(addr) {
            return Some(Arc::clone(node));
        }
        let masters = state.map.as_ref().map_or(1, |m| m.masters().len().max(1));
        let node = self.make_node(addr, masters)?;
        state.nodes.insert(addr.clone(), Arc::clone(&node));
        Some(node)
    }

    fn make_node(&self, addr: &NodeAddr, masters: usize) -> Option<Arc<Node>> {
        let size = (self.cfg.pool_size / masters).max(1);
        let pool = Arc::new(Pool::new(size, self.cfg.ping_interval, &self.budget));
        let target = RedisTarget {
            host: addr.0.clone(),
            port: addr.1,
            ..self.cfg.redis.clone()
        };
        let handle = maintainer::spawn_named(
            format!("redis-maintainer-{}", addr.1),
            Arc::clone(&pool),
            Address::new(&target),
            Arc::clone(&self.metrics),
            self.cfg.clone(),
            maintainer::MAX_BACKOFF,
        );
        match handle {
            Ok(handle) => Some(Arc::new(Node {
                addr: addr.clone(),
                pool,
                maintainer: Mutex::new(Some(handle)),
            })),
            Err(e) => {
                log::warn(format_args!(
                    "cannot start a maintainer for {}:{}: {e}",
                    addr.0, addr.1
                ));
                None
            }
        }
    }

    /// Asks for a refresh; returns at once (the thread does it, at most once per cooldown).
    pub fn want_refresh(&self) {
        self.lock().wanted = true;
        self.changed.notify_all();
    }

    /// Waits until a refresh after `generation` ended, or `until`; returns the generation then.
    pub fn await_refresh(&self, generation: u64, until: Instant) -> u64 {
        let mut state = self.lock();
        while state.generation <= generation && !state.closed {
            let Some(left) = until.checked_duration_since(Instant::now()) else {
                break;
            };
            if left.is_zero() {
                break;
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state.generation
    }

    /// How long a request retries through a failover.
    pub fn retry_deadline(&self) -> Duration {
        if let Some(deadline) = self.cfg.cluster.retry_deadline {
            return deadline;
        }
        self.lock()
            .node_timeout
            .map_or(DEFAULT_RETRY_DEADLINE, |t| {
                t.saturating_add(FAILOVER_MARGIN)
            })
    }

    /// The pools' gauges, summed over the masters.
    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        let mut total = PoolStats {
            size: 0,
            open: 0,
            idle: 0,
        };
        for node in state.nodes.values() {
            let stats = node.pool.stats();
            total.size += stats.size;
            total.open += stats.open;
            total.idle += stats.idle;
        }
        total
    }

    /// Stops the thread's work and every pool; the caller joins the thread, then calls
    /// [`Topology::join_all`].
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        let nodes: Vec<Arc<Node>> = state.nodes.drain().map(|(_, n)| n).collect();
        state.retired.extend(nodes);
        drop(state);
        self.changed.notify_all();
    }

    /// Closes retired pools and joins their maintainers.
    pub fn join_all(&self) {
        let retired = std::mem::take(&mut self.lock().retired);
        for node in &retired {
            node.pool.close();
        }
        for node in retired {
            crate::redis::join_thread(&node.maintainer);
        }
    }

    /// The thread: refresh when asked (not sooner than the cooldown), when a master lost every
    /// connection, and every [`REFRESH_INTERVAL`].
    fn run(&self) {
        let mut last = Instant::now() - REFRESH_INTERVAL;
        loop {
            {
                let mut state = self.lock();
                loop {
                    if state.closed {
                        return;
                    }
                    // Without a map (no node answered yet), keep asking every HEALTH_INTERVAL.
                    let cooldown = if state.map.is_none() && !state.wanted {
                        HEALTH_INTERVAL
                    } else {
                        REFRESH_COOLDOWN
                    };
                    let due =
                        state.wanted || state.map.is_none() || last.elapsed() >= REFRESH_INTERVAL;
                    if due && last.elapsed() >= cooldown {
                        state.wanted = false;
                        break;
                    }
                    let wait = if due {
                        cooldown.saturating_sub(last.elapsed())
                    } else {
                        HEALTH_INTERVAL
                    };
                    let (next, timeout) = self
                        .changed
                        .wait_timeout(state, wait.max(Duration::from_millis(1)))
                        .unwrap_or_else(PoisonError::into_inner);
                    state = next;
                    if timeout.timed_out() && !state.wanted && state.map.is_some() {
                        // A master whose pool lost every connection, or the subscriptions'
                        // node, may have failed over.
                        let hub_down = self.hub.get().is_some_and(|hub| hub.is_disconnected());
                        state.wanted =
                            hub_down || state.nodes.values().any(|n| n.pool.stats().open == 0);
                    }
                }
            }
            last = Instant::now();
            self.refresh();
            self.join_all();
        }
    }

    /// One refresh: the map from the first node that answers, then the pools and the hub's
    /// address made to match it.
    fn refresh(&self) {
        let (known, have_commands) = {
            let state = self.lock();
            let known: Vec<NodeAddr> = state
                .map
                .as_ref()
                .map(|m| m.nodes().to_vec())
                .unwrap_or_default();
            (known, !state.commands.is_empty())
        };
        let mut candidates = known;
        shuffle(&mut candidates);
        for seed in &self.cfg.cluster.seeds {
            if !candidates.contains(seed) {
                candidates.push(seed.clone());
            }
        }
        let mut failures = Vec::new();
        let mut learned = None;
        for addr in &candidates {
            match self.ask(addr, have_commands) {
                Ok(found) => {
                    learned = Some(found);
                    break;
                }
                Err(e) => failures.push(format!("{}:{}: {e}", addr.0, addr.1)),
            }
        }
        log::debug(format_args!(
            "redis cluster: refresh asked {} nodes: {}",
            failures.len() + usize::from(learned.is_some()),
            if learned.is_some() { "a map" } else { "no map" }
        ));
        let mut state = self.lock();
        state.generation += 1;
        match learned {
            Some((map, commands, node_timeout)) => {
                let masters_changed = state
                    .map
                    .as_ref()
                    .is_some_and(|old| old.masters() != map.masters());
                if state.failure.take().is_some() || state.map.is_none() || masters_changed {
                    let masters: Vec<String> = map
                        .masters()
                        .iter()
                        .map(|(host, port)| format!("{host}:{port}"))
                        .collect();
                    log::info(format_args!(
                        "redis cluster: masters {}, {} nodes known, {} slots without a master",
                        masters.join(" "),
                        map.nodes().len(),
                        map.uncovered()
                    ));
                }
                if let Some(commands) = commands {
                    state.commands = Arc::new(commands);
                }
                if node_timeout.is_some() {
                    state.node_timeout = node_timeout;
                }
                self.adopt(&mut state, map);
            }
            None => {
                let why = format!(
                    "no cluster node answered CLUSTER SLOTS ({})",
                    failures.join("; ")
                );
                if state.failure.as_ref() != Some(&why) {
                    log::warn(format_args!("{why}; retrying"));
                }
                state.failure = Some(why);
            }
        }
        drop(state);
        self.changed.notify_all();
    }

    /// Makes pools and the hub follow a new map.
    fn adopt(&self, state: &mut State, map: Map) {
        let masters = map.masters().len().max(1);
        for addr in map.masters() {
            if !state.nodes.contains_key(addr) {
                if let Some(node) = self.make_node(addr, masters) {
                    state.nodes.insert(addr.clone(), node);
                }
            }
        }
        let gone: Vec<NodeAddr> = state
            .nodes
            .keys()
            .filter(|addr| !map.masters().contains(addr))
            .cloned()
            .collect();
        for addr in gone {
            if let Some(node) = state.nodes.remove(&addr) {
                state.retired.push(node);
            }
        }
        let hub = self.hub_address.host_port();
        if !map.nodes().contains(&hub) {
            if let Some((host, port)) = map.masters().first() {
                if self.hub_address.move_to(host, *port) {
                    log::info(format_args!(
                        "redis cluster: subscriptions move to {host}:{port}"
                    ));
                }
            }
        }
        state.map = Some(Arc::new(map));
    }

    /// `CLUSTER SLOTS` (and, the first time, `COMMAND`; and `CONFIG GET cluster-node-timeout`)
    /// asked of one node on a connection of its own.
    fn ask(
        &self,
        addr: &NodeAddr,
        with_commands: bool,
    ) -> Result<(Map, Option<Commands>, Option<Duration>), String> {
        let target = RedisTarget {
            host: addr.0.clone(),
            port: addr.1,
            ..self.cfg.redis.clone()
        };
        let mut conn = Conn::connect(&target, &self.cfg).map_err(|e| e.to_string())?;
        let reply = conn
            .call(&[b"CLUSTER".as_slice(), b"SLOTS"])
            .map_err(|e| e.to_string())?;
        let map = Map::parse(&reply, &addr.0).map_err(|e| e.to_string())?;
        let commands = if with_commands {
            None
        } else {
            let reply = conn.call(&[b"COMMAND"]).map_err(|e: Error| e.to_string())?;
            Some(Commands::parse(&reply))
        };
        let timeout = match conn.call(&[b"CONFIG".as_slice(), b"GET", b"cluster-node-timeout"]) {
            Ok(Value::Array(pair)) => match pair.get(1) {
                Some(Value::Bulk(ms)) => std::str::from_utf8(ms)
                    .ok()
                    .and_then(|ms| ms.parse::<u64>().ok())
                    .map(Duration::from_millis),
                _ => None,
            },
            _ => None,
        };
        Ok((map, commands, timeout))
    }
}

/// Shuffles `nodes` so that refreshes spread over the nodes (a hand-rolled xorshift seeded by the
/// clock: the order only needs to differ between refreshes).
fn shuffle(nodes: &mut [NodeAddr]) {
    let mut x = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0x9E37_79B9, |d| u64::from(d.subsec_nanos()))
        | 1;
    for i in (1..nodes.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = (x % (i as u64 + 1)) as usize;
        nodes.swap(i, j);
    }
}
