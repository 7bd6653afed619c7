//! The `redis-sentinel` thread: asks the sentinels where the master is and moves the
//! [`Address`] when it changes.
//!
//! ```text
//!   every RESOLVE_INTERVAL, at once after a demotion, every VACANT_RETRY while none is known:
//!       for each sentinel, in order: SENTINEL get-master-addr-by-name NAME   (SENTINEL_TIMEOUT)
//!           an address → it moves to the front; SENTINEL sentinels NAME adds the others it knows
//!           nil (it does not know NAME) or no answer → the next one
//!   all the while: SUBSCRIBE +switch-master on the first sentinel that takes it (another when
//!   that connection fails), read every PUSH_WAIT; "NAME old-ip old-port new-ip new-port" moves
//!   the address at once
//! ```
//!
//! Pushed messages can be missed (while the subscribed sentinel is down or being replaced), so
//! the periodic resolve is what guarantees the address catches up; the subscription only makes
//! it quick. A sentinel's answer is never trusted for writing: the maintainer checks `ROLE` on
//! every connection it opens there.
//!
//! Limits: at most [`MAX_SENTINELS`] sentinels are remembered; every call to a sentinel has
//! [`SENTINEL_TIMEOUT`]. Failures are logged once when they begin and once when they end.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::config::{Config, RedisTarget};
use crate::log;
use crate::redis::{Address, Conn, Error};
use crate::resp::Value;

/// Connecting to a sentinel, and waiting for one of its replies.
pub const SENTINEL_TIMEOUT: Duration = Duration::from_millis(300);
/// How often the master is asked for although no `+switch-master` came.
pub const RESOLVE_INTERVAL: Duration = Duration::from_secs(1);
/// How often the master is asked for while none is known.
pub const VACANT_RETRY: Duration = Duration::from_millis(250);
/// How long a read on the subscribed connection waits: how soon a close is noticed.
pub const PUSH_WAIT: Duration = Duration::from_millis(100);
/// Most sentinels remembered (given plus learned).
pub const MAX_SENTINELS: usize = 16;

/// The running `redis-sentinel` thread.
#[derive(Debug)]
pub struct Watcher {
    closed: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Watcher {
    /// Starts the thread, which moves `address` to wherever the sentinels of `cfg.sentinel` say
    /// the master is.
    ///
    /// # Errors
    ///
    /// When the OS cannot start a thread.
    pub fn spawn(cfg: &Config, address: Arc<Address>) -> io::Result<Watcher> {
        let closed = Arc::new(AtomicBool::new(false));
        let mut sentinel_cfg = cfg.clone();
        sentinel_cfg.redis_connect_timeout = SENTINEL_TIMEOUT.min(cfg.redis_connect_timeout);
        sentinel_cfg.redis_timeout = SENTINEL_TIMEOUT;
        let watch = Watch {
            seen: address.generation(),
            address,
            master: cfg.sentinel.master.clone().unwrap_or_default(),
            sentinels: cfg.sentinel.addrs.clone(),
            login: RedisTarget {
                host: String::new(),
                port: 0,
                user: cfg.sentinel.user.clone(),
                password: cfg
                    .sentinel
                    .password
                    .as_ref()
                    .map(|p| String::from_utf8_lossy(p.expose()).into_owned()),
                db: 0,
            },
            cfg: sentinel_cfg,
            closed: Arc::clone(&closed),
            failing: None,
        };
        let handle = thread::Builder::new()
            .name("redis-sentinel".into())
            .spawn(move || watch.run())?;
        Ok(Watcher {
            closed,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// Stops the thread (within [`PUSH_WAIT`] plus one sentinel call) and joins it.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        let handle = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }
}

/// `host:port,host:port` for messages.
pub fn list(addrs: &[(String, u16)]) -> String {
    addrs
        .iter()
        .map(|(host, port)| format!("{host}:{port}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The thread's state.
struct Watch {
    address: Arc<Address>,
    /// The address's generation after the watcher's own last move: another value means a
    /// connection reported the master demoted, and the sentinels are asked at once.
    seen: u64,
    master: String,
    /// In the order they are asked; the last one that answered first.
    sentinels: Vec<(String, u16)>,
    /// The sentinels' login (host and port filled per call).
    login: RedisTarget,
    /// `cfg` with the sentinel timeouts.
    cfg: Config,
    closed: Arc<AtomicBool>,
    /// Since when no sentinel has answered, and why (logged once).
    failing: Option<(Instant, String)>,
}

impl Watch {
    fn run(mut self) {
        log::info(format_args!(
            "sentinel: looking for master '{}' through {}",
            self.master,
            list(&self.sentinels)
        ));
        let mut next_resolve = Instant::now();
        let mut next_subscribe = Instant::now();
        let mut subscribed: Option<(Conn, (String, u16))> = None;
        while !self.closed.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= next_resolve || self.address.generation() != self.seen {
                let resolved = self.resolve();
                let wait = match (resolved, self.address.vacant()) {
                    (_, Some(_)) => VACANT_RETRY,
                    _ => RESOLVE_INTERVAL,
                };
                next_resolve = Instant::now() + wait;
            }
            if subscribed.is_none() && now >= next_subscribe {
                subscribed = self.subscribe();
                next_subscribe = Instant::now() + RESOLVE_INTERVAL;
            }
            match subscribed.as_mut() {
                Some((conn, at)) => match conn.next_push() {
                    Ok(Some(value)) => {
                        if let Some((host, port)) = switched(&value, &self.master) {
                            let from = format!("+switch-master from sentinel {}:{}", at.0, at.1);
                            self.place(&host, port, &from);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log::debug(format_args!(
                            "sentinel: subscription on {}:{} lost ({e}); subscribing on another",
                            at.0, at.1
                        ));
                        subscribed = None;
                        next_subscribe = Instant::now();
                    }
                },
                None => thread::sleep(PUSH_WAIT),
            }
        }
    }

    /// Moves the address to the master at `host:port`; logs a move.
    fn place(&mut self, host: &str, port: u16, from: &str) {
        let was = match self.address.vacant() {
            Some(_) => None,
            None => Some(self.address.host_port()),
        };
        if self.address.move_to(host, port) {
            match was {
                Some((old_host, old_port)) => log::warn(format_args!(
                    "sentinel: master '{}' moved from {old_host}:{old_port} to {host}:{port} \
                     ({from}); connections to the old one are closed",
                    self.master
                )),
                None => log::info(format_args!(
                    "sentinel: master '{}' is at {host}:{port} ({from})",
                    self.master
                )),
            }
        }
        self.seen = self.address.generation();
    }

    /// Asks the sentinels in turn where the master is and moves the address there; true when
    /// one answered.
    fn resolve(&mut self) -> bool {
        let mut why = Vec::new();
        for k in 0..self.sentinels.len() {
            let Some((host, port)) = self.sentinels.get(k).cloned() else {
                break;
            };
            let mut conn = match self.connect(&host, port) {
                Ok(conn) => conn,
                Err(e) => {
                    why.push(format!("{host}:{port}: {e}"));
                    continue;
                }
            };
            let name = self.master.as_bytes();
            match conn.call(&[&b"SENTINEL"[..], b"get-master-addr-by-name", name]) {
                Ok(reply) => match master_addr(&reply) {
                    Some((master_host, master_port)) => {
                        // The one that answered is asked first from now on.
                        let answered = self.sentinels.remove(k);
                        self.sentinels.insert(0, answered);
                        self.learn(&mut conn);
                        let from = format!("sentinel {host}:{port}");
                        self.place(&master_host, master_port, &from);
                        self.recovered();
                        return true;
                    }
                    None => why.push(format!(
                        "{host}:{port} does not know a master '{}' ({})",
                        self.master,
                        describe(&reply)
                    )),
                },
                Err(e) => why.push(format!("{host}:{port}: {e}")),
            }
        }
        let why = format!(
            "no sentinel named the master '{}': {}",
            self.master,
            why.join("; ")
        );
        self.address.explain_vacancy(why.clone());
        if self.failing.is_none() {
            log::warn(format_args!(
                "sentinel: {why}; retrying (the last known master, if any, is kept)"
            ));
            self.failing = Some((Instant::now(), why));
        }
        // A demotion report is answered by this attempt, whatever came of it.
        self.seen = self.address.generation();
        false
    }

    fn recovered(&mut self) {
        if let Some((since, _)) = self.failing.take() {
            log::info(format_args!(
                "sentinel: the sentinels answer again after {:.1} s",
                since.elapsed().as_secs_f64()
            ));
        }
    }

    /// Adds the sentinels `conn`'s sentinel knows for the master (`SENTINEL sentinels`).
    fn learn(&mut self, conn: &mut Conn) {
        let name = self.master.as_bytes();
        let Ok(reply) = conn.call(&[&b"SENTINEL"[..], b"sentinels", name]) else {
            return;
        };
        for found in peers(&reply) {
            if self.sentinels.len() >= MAX_SENTINELS {
                break;
            }
            if !self.sentinels.contains(&found) {
                log::info(format_args!(
                    "sentinel: learned of sentinel {}:{}",
                    found.0, found.1
                ));
                self.sentinels.push(found);
            }
        }
    }

    /// A subscription to `+switch-master` on the first sentinel that takes one.
    fn subscribe(&self) -> Option<(Conn, (String, u16))> {
        for (host, port) in &self.sentinels {
            let Ok(mut conn) = self.connect(host, *port) else {
                continue;
            };
            let subscribed = conn
                .call(&[&b"SUBSCRIBE"[..], b"+switch-master"])
                .is_ok_and(|reply| matches!(reply, Value::Array(_) | Value::Push(_)));
            if subscribed && conn.set_push_wait(PUSH_WAIT).is_ok() {
                return Some((conn, (host.clone(), *port)));
            }
        }
        None
    }

    fn connect(&self, host: &str, port: u16) -> Result<Conn, Error> {
        let target = RedisTarget {
            host: host.to_string(),
            port,
            ..self.login.clone()
        };
        Conn::connect(&target, &self.cfg)
    }
}

/// The master's address in a `SENTINEL get-master-addr-by-name` reply (`["10.0.0.5", "6379"]`);
/// `None` for nil (the sentinel does not know the name) or anything else.
fn master_addr(reply: &Value) -> Option<(String, u16)> {
    match reply {
        Value::Array(items) => match items.as_slice() {
            [Value::Bulk(host), Value::Bulk(port)] => {
                let host = std::str::from_utf8(host).ok()?;
                let port = std::str::from_utf8(port).ok()?.parse().ok()?;
                (!host.is_empty() && port != 0).then(|| (host.to_string(), port))
            }
            _ => None,
        },
        _ => None,
    }
}

/// The other sentinels in a `SENTINEL sentinels` reply: one flat field/value list per sentinel
/// (RESP2) or a map (RESP3), each with `ip` and `port`.
fn peers(reply: &Value) -> Vec<(String, u16)> {
    let Value::Array(entries) = reply else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.iter().take(MAX_SENTINELS) {
        let pairs: Vec<(&Value, &Value)> = match entry {
            Value::Array(fields) => fields
                .chunks_exact(2)
                .filter_map(|pair| match pair {
                    [key, value] => Some((key, value)),
                    _ => None,
                })
                .collect(),
            Value::Map(pairs) => pairs.iter().map(|(k, v)| (k, v)).collect(),
            _ => continue,
        };
        let field = |name: &[u8]| {
            pairs.iter().find_map(|(k, v)| match (k, v) {
                (Value::Bulk(k), Value::Bulk(v)) if k.as_slice() == name => {
                    std::str::from_utf8(v).ok()
                }
                _ => None,
            })
        };
        let ip = field(b"ip");
        let port = field(b"port").and_then(|p| p.parse::<u16>().ok());
        if let (Some(ip), Some(port)) = (ip, port) {
            if !ip.is_empty() && port != 0 {
                found.push((ip.to_string(), port));
            }
        }
    }
    found
}

/// The new address in a `+switch-master` message about `master`
/// (`["message", "+switch-master", "NAME old-ip old-port new-ip new-port"]`).
fn switched(push: &Value, master: &str) -> Option<(String, u16)> {
    let (Value::Array(items) | Value::Push(items)) = push else {
        return None;
    };
    let [Value::Bulk(kind), Value::Bulk(channel), Value::Bulk(payload)] = items.as_slice() else {
        return None;
    };
    if kind.as_slice() != b"message" || channel.as_slice() != b"+switch-master" {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let words: Vec<&str> = text.split(' ').collect();
    match words.as_slice() {
        [name, _, _, host, port] if *name == master => {
            let port = port.parse().ok().filter(|p| *p != 0)?;
            Some((host.to_string(), port))
        }
        _ => None,
    }
}

/// A reply in a log line: an error's text, or its shape.
fn describe(reply: &Value) -> String {
    match reply {
        Value::Error(text) => String::from_utf8_lossy(text).into_owned(),
        Value::Nil => "nil".into(),
        other => format!("{other:?}").chars().take(100).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::Bulk(text.as_bytes().to_vec())
    }

    #[test]
    fn a_master_address_is_read_and_nil_or_junk_is_none() {
        let reply = Value::Array(vec![bulk("10.0.0.5"), bulk("6380")]);
        assert_eq!(master_addr(&reply), Some(("10.0.0.5".into(), 6380)));
        assert_eq!(master_addr(&Value::Nil), None);
        for bad in [
            Value::Array(vec![bulk("10.0.0.5"), bulk("0")]),
            Value::Array(vec![bulk("10.0.0.5"), bulk("x")]),
            Value::Array(vec![bulk(""), bulk("6379")]),
            Value::Array(vec![bulk("10.0.0.5")]),
            Value::Error(b"NOAUTH Authentication required.".to_vec()),
        ] {
            assert_eq!(master_addr(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn peers_are_read_from_field_lists() {
        let entry = |ip: &str, port: &str| {
            Value::Array(vec![
                bulk("name"),
                bulk("abc"),
                bulk("ip"),
                bulk(ip),
                bulk("port"),
                bulk(port),
            ])
        };
        let reply = Value::Array(vec![
            entry("127.0.0.1", "26380"),
            entry("127.0.0.1", "bad"),
            entry("10.0.0.9", "26381"),
        ]);
        assert_eq!(
            peers(&reply),
            [
                ("127.0.0.1".to_string(), 26380),
                ("10.0.0.9".to_string(), 26381)
            ]
        );
        assert!(peers(&Value::Nil).is_empty());
    }

    #[test]
    fn a_switch_of_our_master_gives_the_new_address() {
        let push = |payload: &str| {
            Value::Array(vec![bulk("message"), bulk("+switch-master"), bulk(payload)])
        };
        let ours = push("m 127.0.0.1 7000 127.0.0.1 7001");
        assert_eq!(switched(&ours, "m"), Some(("127.0.0.1".into(), 7001)));
        assert_eq!(switched(&ours, "other"), None);
        assert_eq!(switched(&push("m 127.0.0.1 7000 127.0.0.1"), "m"), None);
        let confirmation = Value::Array(vec![
            bulk("subscribe"),
            bulk("+switch-master"),
            Value::Integer(1),
        ]);
        assert_eq!(switched(&confirmation, "m"), None);
    }
}
