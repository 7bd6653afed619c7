//! A master, one replica and three Redis Sentinels, all real `redis-server` processes on free
//! loopback ports: what the Sentinel tests run the gateway against.
//!
//! Each sentinel is `redis-server <conf> --sentinel` with a writable conf file of its own in a
//! temp dir (Sentinel rewrites it after a failover) that monitors the master as `m` with a
//! quorum of 2, `down-after-milliseconds` [`DOWN_AFTER`] and `failover-timeout`
//! [`FAILOVER_TIMEOUT`]. A sentinel may be left unstarted (to start with one down). Every
//! process is killed on drop; their logs are printed if the test is panicking.

use super::redis::{redis_binary, RespConn, RespReply};
use super::{free_port, poll_until, read_log, RedisServer, TempDir, START_TIMEOUT};
use std::fs::{self, File};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The name the sentinels monitor the master under.
pub const MASTER_NAME: &str = "m";
/// `sentinel down-after-milliseconds`.
pub const DOWN_AFTER: Duration = Duration::from_millis(1000);
/// `sentinel failover-timeout`.
pub const FAILOVER_TIMEOUT: Duration = Duration::from_millis(5000);

/// One `redis-server --sentinel` process (or a port where one may be started).
pub struct SentinelServer {
    child: Option<Child>,
    /// The `requirepass` of its conf, if any.
    password: Option<String>,
    port: u16,
    dir: TempDir,
    conf: PathBuf,
    log_path: PathBuf,
}

impl SentinelServer {
    /// A sentinel monitoring the master at `master_port`, not started yet; `extra` is added to
    /// its conf file (e.g. `requirepass secret`).
    fn new(master_port: u16, extra: &str) -> SentinelServer {
        let dir = TempDir::new("sentinel");
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {MASTER_NAME} 127.0.0.1 {master_port} 2\n\
             sentinel down-after-milliseconds {MASTER_NAME} {}\n\
             sentinel failover-timeout {MASTER_NAME} {}\n{extra}\n",
            dir.path().display(),
            DOWN_AFTER.as_millis(),
            FAILOVER_TIMEOUT.as_millis(),
        );
        fs::write(&conf, text).unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        let log_path = dir.path().join("sentinel.log");
        let password = extra
            .lines()
            .find_map(|l| l.strip_prefix("requirepass "))
            .map(str::to_string);
        SentinelServer {
            child: None,
            password,
            port,
            dir,
            conf,
            log_path,
        }
    }

    /// Starts it and waits for `PING`.
    ///
    /// # Panics
    /// When `redis-server` is missing (saying how to install it) or the sentinel does not answer.
    pub fn start(&mut self) {
        let args = [self.conf.clone().into_os_string(), "--sentinel".into()];
        self.child = Some(super::redis::spawn_logged(&args, &self.log_path));
        let up = poll_until(
            START_TIMEOUT,
            || matches!(self.try_cmd(&[b"PING"]), Ok(RespReply::Simple(ref s)) if s == "PONG"),
        );
        assert!(
            up,
            "sentinel on port {} did not answer PING; log:\n{}",
            self.port,
            read_log(&self.log_path)
        );
    }

    /// Its port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Whether it was started (and not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// One command on a fresh connection (authenticated with the conf's `requirepass`).
    pub fn try_cmd(&self, args: &[&[u8]]) -> std::io::Result<RespReply> {
        let mut conn = RespConn::connect(self.addr())?;
        if let Some(password) = &self.password {
            conn.cmd(&[b"AUTH", password.as_bytes()])?;
        }
        conn.cmd(args)
    }

    /// One command on a fresh connection.
    ///
    /// # Panics
    /// When the sentinel cannot be reached.
    pub fn cmd(&self, args: &[&[u8]]) -> RespReply {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("sentinel {}: {e}", self.port))
    }

    /// The master's port as this sentinel names it now (`None`: it does not answer or know).
    pub fn master_port(&self) -> Option<u16> {
        let reply = self
            .try_cmd(&[
                b"SENTINEL",
                b"get-master-addr-by-name",
                MASTER_NAME.as_bytes(),
            ])
            .ok()?;
        match reply {
            RespReply::Array(items) => items
                .get(1)?
                .bulk()
                .and_then(|p| String::from_utf8(p).ok()?.parse().ok()),
            _ => None,
        }
    }

    /// How many entries `SENTINEL <what> m` lists (`replicas`, `sentinels`).
    pub fn count(&self, what: &str) -> usize {
        match self.try_cmd(&[b"SENTINEL", what.as_bytes(), MASTER_NAME.as_bytes()]) {
            Ok(RespReply::Array(items)) => items.len(),
            _ => 0,
        }
    }

    /// How many replicas this sentinel could promote now: listed with the flags `slave` alone
    /// (connected, not down) and `master-link-status` `ok`.
    pub fn good_replicas(&self) -> usize {
        let Ok(RespReply::Array(entries)) =
            self.try_cmd(&[b"SENTINEL", b"replicas", MASTER_NAME.as_bytes()])
        else {
            return 0;
        };
        let field = |fields: &[RespReply], name: &str| {
            fields.chunks(2).find_map(|pair| match pair {
                [RespReply::Bulk(k), RespReply::Bulk(v)] if k == name.as_bytes() => {
                    Some(String::from_utf8_lossy(v).into_owned())
                }
                _ => None,
            })
        };
        entries
            .iter()
            .filter(|entry| match entry {
                RespReply::Array(fields) => {
                    field(fields, "flags").as_deref() == Some("slave")
                        && field(fields, "master-link-status").as_deref() == Some("ok")
                }
                _ => false,
            })
            .count()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// SIGKILL, and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for SentinelServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- sentinel log (port {}) -----\n{}\n----- end of sentinel log -----",
                self.port,
                read_log(&self.log_path)
            );
        }
        let _ = &self.dir;
    }
}

/// A master, its replica and three sentinels.
pub struct SentinelSet {
    /// The master the sentinels were started with.
    pub master: RedisServer,
    /// Its replica (`--replicaof`).
    pub replica: RedisServer,
    /// The three sentinels; those not started are down.
    pub sentinels: Vec<SentinelServer>,
}

impl SentinelSet {
    /// Starts the master, the replica (waiting until it is in sync) and the sentinels whose
    /// index is not in `down`, then waits until every running sentinel knows the replica and
    /// the other running sentinels (so a failover can be agreed).
    ///
    /// # Panics
    /// When a process does not start or the sentinels do not meet within 20 s.
    pub fn start(down: &[usize]) -> SentinelSet {
        SentinelSet::start_with(down, "")
    }

    /// [`SentinelSet::start`] with `extra` lines in every sentinel's conf file (with
    /// `requirepass P`, add `sentinel sentinel-pass P` so that they still meet).
    pub fn start_with(down: &[usize], extra: &str) -> SentinelSet {
        let master = RedisServer::start();
        let replicaof = format!("127.0.0.1 {}", master.port());
        let replica = RedisServer::start_with(&["--replicaof", &replicaof]);
        let synced = poll_until(START_TIMEOUT, || {
            replica
                .cmd(&[b"INFO", b"replication"])
                .text()
                .contains("master_link_status:up")
        });
        assert!(synced, "the replica did not sync; log:\n{}", replica.log());
        let mut sentinels: Vec<SentinelServer> = (0..3)
            .map(|_| SentinelServer::new(master.port(), extra))
            .collect();
        for (k, sentinel) in sentinels.iter_mut().enumerate() {
            if !down.contains(&k) {
                sentinel.start();
            }
        }
        let set = SentinelSet {
            master,
            replica,
            sentinels,
        };
        set.wait_sentinels_met();
        set
    }

    /// Waits until every running sentinel lists the replica and the other running sentinels.
    pub fn wait_sentinels_met(&self) {
        let running = self.sentinels.iter().filter(|s| s.is_running()).count();
        // A liveness bound: sentinels say hello every 2 s, but two suites at once on 2 cores once
        // kept them from meeting for over 20 s.
        let met = poll_until(Duration::from_secs(60), || {
            self.sentinels
                .iter()
                .filter(|s| s.is_running())
                .all(|s| s.count("replicas") >= 1 && s.count("sentinels") + 1 >= running)
        });
        assert!(
            met,
            "the sentinels did not discover each other and the replica in 60 s"
        );
    }

    /// `127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3`: every sentinel, running or not.
    pub fn sentinel_list(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| s.addr().to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until every running sentinel names the master at `port`.
    pub fn wait_master_named(&self, port: u16, within: Duration) -> bool {
        poll_until(within, || {
            self.sentinels
                .iter()
                .filter(|s| s.is_running())
                .all(|s| s.master_port() == Some(port))
        })
    }
}

/// `ROLE`'s first word from the server at `addr` (`master`, `slave`), or `None`.
pub fn role(addr: SocketAddr) -> Option<String> {
    let reply = RespConn::connect(addr).ok()?.cmd(&[b"ROLE"]).ok()?;
    match reply {
        RespReply::Array(items) => items
            .first()?
            .bulk()
            .and_then(|r| String::from_utf8(r).ok()),
        _ => None,
    }
}
