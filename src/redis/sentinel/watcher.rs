//! The `redis-sentinel` thread: asks the sentinels where the master is and moves the
//! [`Address`] when it changes.
//!
//! ```text
//!   every RESOLVE_INTERVAL, at once after a demotion, every VACANT_RETRY while none is known:
//!       for each sentinel, in order: SENTINEL get-master-addr-by-name NAME   (SENTINEL_TIMEOUT)
//!           an address → it moves to the front; SENTINEL sentinels NAME adds the others it knows
//!           nil (it does not know NAME) or no answer → the next one
//!   all the while, on every sentinel known (resubscribing every RESOLVE_INTERVAL where that
//!   failed), read every TICK:
//!       SUBSCRIBE +failover-state-send-slaveof-noone   "slave … @ NAME ip port": a failover of
//!           our master is promoting a replica now → the address is vacated (every connection
//!           retired, requests 503) until a new master is named, or FAILOVER_HOLD passes
//!       SUBSCRIBE +switch-master   "NAME old-ip old-port new-ip new-port" → the address moves
//! ```
//!
//! Why vacate at the promotion: Sentinel announces `+switch-master` only once the promoted
//! replica reports itself master (about a second later); until then the old master still takes
//! writes, and they are lost when it is demoted. Only the sentinel that leads the failover
//! announces the promotion, hence a subscription on each. (Measured in `tests/sentinel.rs`:
//! about 1,900 of 2,900 acknowledged writes were lost in a `SENTINEL FAILOVER` without this.)
//!
//! Pushed messages can be missed (while a sentinel is down or being replaced), so the periodic
//! resolve is what guarantees the address catches up; the subscriptions only make it quick. A
//! sentinel's answer is never trusted for writing: the maintainer checks `ROLE` on every
//! connection it opens there.
//!
//! Limits: at most [`MAX_SENTINELS`] sentinels are remembered; every call to a sentinel has
//! [`SENTINEL_TIMEOUT`]. Failures are logged once when they begin and once when they end.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
/// How often the subscribed connections are read: the most a pushed message waits.
pub const TICK: Duration = Duration::from_millis(10);
/// How long the address stays vacant after a promotion began, while the sentinels still name
/// the old master (a failover that failed, or a `+switch-master` missed and not yet resolved).
pub const FAILOVER_HOLD: Duration = Duration::from_secs(10);
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
            failover: None,
            left: None,
        };
        let handle = thread::Builder::new()
            .name("redis-sentinel".into())
            .spawn(move || watch.run())?;
        Ok(Watcher {
            closed,
            thread: Mutex::new(Some(handle)),
        })
    }

    /// Stops the thread (within [`TICK`] plus a few sentinel calls) and joins it.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        crate::redis::join_thread(&self.thread);
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
    /// Since when a promotion of a replica of our master is under way, and the master it
    /// replaces: the address is vacant meanwhile.
    failover: Option<(Instant, (String, u16))>,
    /// When the address last moved away from a master, and that master: a sentinel that has not
    /// caught up still names it for a while, and is not followed back there before
    /// FAILOVER_HOLD unless a `+switch-master` says so.
    left: Option<(Instant, (String, u16))>,
}

/// Where news of the master came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// A `+switch-master` announcement: a failover that ended.
    Announced,
    /// An answer to `SENTINEL get-master-addr-by-name`, which a sentinel that has not caught up
    /// with a failover answers with the old master.
    Asked,
}

/// What a sentinel's pushed message says about our master.
#[derive(Debug, PartialEq, Eq)]
enum News {
    /// `+switch-master`: the master is now at this address.
    Switched(String, u16),
    /// `+failover-state-send-slaveof-noone`: the replica at this address is being promoted, to
    /// replace the master at that one.
    Promoting((String, u16), (String, u16)),
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
        let mut subscribed: Vec<(Conn, (String, u16))> = Vec::new();
        while !self.closed.load(Ordering::Acquire) {
            let now = Instant::now();
            if now >= next_resolve || self.address.generation() != self.seen {
                self.resolve();
                let wait = match self.address.vacant() {
                    Some(_) => VACANT_RETRY,
                    None => RESOLVE_INTERVAL,
                };
                next_resolve = Instant::now() + wait;
            }
            if now >= next_subscribe {
                self.subscribe(&mut subscribed);
                next_subscribe = Instant::now() + RESOLVE_INTERVAL;
            }
            let mut news = Vec::new();
            subscribed.retain_mut(|(conn, at)| {
                let filled = conn.fill_pushes();
                while let Ok(Some(value)) = conn.buffered_push() {
                    if let Some(said) = read_news(&value, &self.master) {
                        news.push((said, format!("sentinel {}:{}", at.0, at.1)));
                    }
                }
                if let Err(e) = &filled {
                    log::debug(format_args!(
                        "sentinel: subscription on {}:{} lost ({e})",
                        at.0, at.1
                    ));
                }
                filled.is_ok()
            });
            for (said, from) in news {
                match said {
                    News::Switched(host, port) => {
                        self.place(
                            &host,
                            port,
                            Source::Announced,
                            &format!("+switch-master from {from}"),
                        );
                    }
                    News::Promoting((host, port), old) => self.promoting(&host, port, &old, &from),
                }
            }
            thread::sleep(TICK);
        }
    }

    /// A replica of our master is being promoted: until the new master is named, no request may
    /// reach the old one (what it acknowledges from now on is lost when it is demoted).
    ///
    /// Only a promotion that replaces the master the address is at counts: sentinels announce
    /// one failover each, and an announcement that arrives after the switch (from a slower
    /// sentinel) names a master already left behind; it must not empty the address again.
    fn promoting(&mut self, host: &str, port: u16, replaced: &(String, u16), from: &str) {
        if self.failover.is_some() || self.address.vacant().is_some() {
            return;
        }
        let old = self.address.host_port();
        if old != *replaced {
            log::debug(format_args!(
                "sentinel: {from} announces the promotion of {host}:{port} to replace {}:{}, \
                 not the current master {}:{}; ignored",
                replaced.0, replaced.1, old.0, old.1
            ));
            return;
        }
        self.address.vacate(format!(
            "Sentinel is failing master '{}' over from {}:{} (promoting {host}:{port}); retry",
            self.master, old.0, old.1
        ));
        log::warn(format_args!(
            "sentinel: {from} is promoting {host}:{port} to replace master '{}' at {}:{}: \
             requests get 503 until the new master is named",
            self.master, old.0, old.1
        ));
        self.failover = Some((Instant::now(), old));
        self.seen = self.address.generation();
    }

    /// Moves the address to the master at `host:port`; logs a move.
    fn place(&mut self, host: &str, port: u16, source: Source, from: &str) {
        if let Some((since, old)) = &self.left {
            if source == Source::Asked
                && old.0 == host
                && old.1 == port
                && since.elapsed() < FAILOVER_HOLD
            {
                return;
            }
        }
        if let Some((since, old)) = &self.failover {
            // During a promotion the sentinels name the old master until the switch: it is not
            // placed again before FAILOVER_HOLD (the failover then failed, or was missed).
            if old.0 == host && old.1 == port && since.elapsed() < FAILOVER_HOLD {
                self.seen = self.address.generation();
                return;
            }
        }
        let was = match self.failover.take() {
            Some((_, old)) => Some(old),
            None if self.address.vacant().is_some() => None,
            None => Some(self.address.host_port()),
        };
        if self.address.move_to(host, port) {
            if let Some(old) = &was {
                self.left = Some((Instant::now(), old.clone()));
            }
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
                        self.place(&master_host, master_port, Source::Asked, &from);
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

    /// Subscribes to the failover announcements on every known sentinel that has no
    /// subscription yet (see the module docs).
    fn subscribe(&self, subscribed: &mut Vec<(Conn, (String, u16))>) {
        for (host, port) in &self.sentinels {
            if subscribed
                .iter()
                .any(|(_, at)| at.0 == *host && at.1 == *port)
            {
                continue;
            }
            let Ok(mut conn) = self.connect(host, *port) else {
                continue;
            };
            // One channel per call: a call reads exactly one reply, and a second confirmation
            // in the same read would be bytes nobody asked for.
            let subscribed_to_both = [
                &b"+switch-master"[..],
                b"+failover-state-send-slaveof-noone",
            ]
            .iter()
            .all(|channel| {
                conn.call(&[&b"SUBSCRIBE"[..], channel])
                    .is_ok_and(|reply| matches!(reply, Value::Array(_) | Value::Push(_)))
            });
            if subscribed_to_both {
                subscribed.push((conn, (host.clone(), *port)));
            }
        }
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

/// What a pushed message says about `master`: a `+switch-master`
/// (`"NAME old-ip old-port new-ip new-port"`) or a promotion starting
/// (`"slave NAME ip port @ MASTER-NAME master-ip master-port"`); `None` for anything else.
fn read_news(push: &Value, master: &str) -> Option<News> {
    let (Value::Array(items) | Value::Push(items)) = push else {
        return None;
    };
    let [Value::Bulk(kind), Value::Bulk(channel), Value::Bulk(payload)] = items.as_slice() else {
        return None;
    };
    if kind.as_slice() != b"message" {
        return None;
    }
    let text = std::str::from_utf8(payload).ok()?;
    let words: Vec<&str> = text.split(' ').collect();
    let port = |text: &str| text.parse::<u16>().ok().filter(|p| *p != 0);
    match (channel.as_slice(), words.as_slice()) {
        (b"+switch-master", [name, _, _, host, new_port]) if *name == master => {
            Some(News::Switched(host.to_string(), port(new_port)?))
        }
        (
            b"+failover-state-send-slaveof-noone",
            ["slave", _, host, replica_port, "@", name, master_host, master_port],
        ) if *name == master => Some(News::Promoting(
            (host.to_string(), port(replica_port)?),
            (master_host.to_string(), port(master_port)?),
        )),
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
    fn switches_and_promotions_of_our_master_are_read() {
        let push = |channel: &str, payload: &str| {
            Value::Array(vec![bulk("message"), bulk(channel), bulk(payload)])
        };
        let switch = push("+switch-master", "m 127.0.0.1 7000 127.0.0.1 7001");
        assert_eq!(
            read_news(&switch, "m"),
            Some(News::Switched("127.0.0.1".into(), 7001))
        );
        assert_eq!(read_news(&switch, "other"), None);
        let short = push("+switch-master", "m 127.0.0.1 7000 127.0.0.1");
        assert_eq!(read_news(&short, "m"), None);
        let promoting = push(
            "+failover-state-send-slaveof-noone",
            "slave 127.0.0.1:7001 127.0.0.1 7001 @ m 127.0.0.1 7000",
        );
        assert_eq!(
            read_news(&promoting, "m"),
            Some(News::Promoting(
                ("127.0.0.1".into(), 7001),
                ("127.0.0.1".into(), 7000)
            ))
        );
        assert_eq!(read_news(&promoting, "n"), None);
        let confirmation = Value::Array(vec![
            bulk("subscribe"),
            bulk("+switch-master"),
            Value::Integer(1),
        ]);
        assert_eq!(read_news(&confirmation, "m"), None);
    }
}
