//! A real Redis Cluster for the tests: six `redis-server --cluster-enabled yes` children (three
//! masters, three replicas, `cluster-node-timeout` 1000 ms) made into one cluster by `redis-cli
//! --cluster create`, and helpers to read it directly (no gateway in between).

use super::redis::{RedisServer, RespReply};
use super::{free_port, poll_until, TempDir};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The `cluster-node-timeout` the test clusters run with.
pub const NODE_TIMEOUT: Duration = Duration::from_millis(1000);
/// How long forming the cluster, or its recovery, may take before a test fails.
pub const FORM_TIMEOUT: Duration = Duration::from_secs(20);

/// Six nodes, three of them masters, one replica each.
///
/// A cluster shared by a test file lives in a `static`, which Rust never drops: a watchdog
/// (`sh`, polling the test process every second) kills the nodes and removes their
/// directories once the test process is gone. Kill and restart nodes through
/// [`RedisCluster::kill`] and [`RedisCluster::restart`], so that it knows their process ids.
pub struct RedisCluster {
    /// The nodes, in the order they were started (the first three became masters).
    pub nodes: Vec<RedisServer>,
    /// What the watchdog reads: `pids` and `dirs`.
    watch: TempDir,
    /// The watchdog; it ends by itself after the test process.
    watchdog: Option<Child>,
}

impl RedisCluster {
    /// Starts six nodes and forms the cluster; waits until every node says `cluster_state:ok`.
    ///
    /// # Panics
    /// When `redis-server` or `redis-cli` is missing (saying how to install them), or the cluster
    /// does not form within [`FORM_TIMEOUT`].
    pub fn start() -> RedisCluster {
        let cli = redis_cli();
        let timeout = NODE_TIMEOUT.as_millis().to_string();
        let nodes: Vec<RedisServer> = (0..6)
            .map(|_| {
                let bus = free_port().to_string();
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    &timeout,
                    "--cluster-port",
                    &bus,
                    // A replica syncs at once (the default waits 5 s for more replicas); until
                    // it has synced it cannot replace its master.
                    "--repl-diskless-sync-delay",
                    "0",
                ])
            })
            .collect();
        let mut create = Command::new(&cli);
        create.args(["--cluster", "create"]);
        for node in &nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "1", "--cluster-yes"]);
        let out = create
            .output()
            .unwrap_or_else(|e| panic!("run {} --cluster create: {e}", cli.display()));
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut cluster = RedisCluster {
            nodes,
            watch: TempDir::new("cluster-watch"),
            watchdog: None,
        };
        cluster.record();
        cluster.watchdog = Some(cluster.spawn_watchdog());
        cluster.wait_ok(FORM_TIMEOUT);
        cluster
    }

    /// Writes the process ids and directories the watchdog cleans up.
    fn record(&self) {
        let pids: Vec<String> = self.running().map(|n| n.pid().to_string()).collect();
        let mut dirs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| n.dir().display().to_string())
            .collect();
        dirs.push(self.watch.path().display().to_string());
        std::fs::write(self.watch.path().join("pids"), pids.join(" ")).expect("write the pid file");
        std::fs::write(self.watch.path().join("dirs"), dirs.join(" ")).expect("write the dir file");
    }

    fn spawn_watchdog(&self) -> Child {
        let dir = self.watch.path().display().to_string();
        let script = format!(
            "while kill -0 {} 2>/dev/null; do sleep 1; done; kill -9 $(cat {dir}/pids) 2>/dev/null; rm -rf $(cat {dir}/dirs)",
            std::process::id()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog (sh)")
    }

    /// Kills the node on `port` with SIGKILL (`kill -9`).
    pub fn kill(&mut self, port: u16) {
        self.node_mut(port).kill();
        self.record();
    }

    /// Starts the node on `port` again, with its `nodes.conf`: it rejoins the cluster.
    pub fn restart(&mut self, port: u16) {
        self.node_mut(port).restart();
        self.record();
    }

    /// Polls until every running node reports `cluster_state:ok`, the nodes agree on the
    /// masters of every slot, and every replica's link to its master is up (a replica that has
    /// not synced yet cannot replace its master).
    ///
    /// # Panics
    /// After `within`, with each node's `CLUSTER INFO`.
    pub fn wait_ok(&self, within: Duration) {
        let ok = poll_until(within, || {
            let mut maps = Vec::new();
            for node in self.running() {
                let Ok(info) = node.try_cmd(&[b"CLUSTER", b"INFO"]) else {
                    return false;
                };
                if !matches!(&info, RespReply::Bulk(b) if String::from_utf8_lossy(b).contains("cluster_state:ok"))
                {
                    return false;
                }
                let Ok(RespReply::Bulk(replication)) = node.try_cmd(&[b"INFO", b"replication"])
                else {
                    return false;
                };
                let replication = String::from_utf8_lossy(&replication).into_owned();
                if replication.contains("role:slave")
                    && !replication.contains("master_link_status:up")
                {
                    return false;
                }
                match node.try_cmd(&[b"CLUSTER", b"SLOTS"]) {
                    Ok(slots) => maps.push(masters_by_slot(&slots)),
                    Err(_) => return false,
                }
            }
            maps.windows(2).all(|w| w[0] == w[1]) && maps.first().is_some_and(|m| m.len() == 16384)
        });
        if !ok {
            let infos: Vec<String> = self
                .running()
                .map(|n| format!("{}: {:?}", n.port(), n.try_cmd(&[b"CLUSTER", b"INFO"])))
                .collect();
            panic!(
                "the cluster is not ok within {within:?}:\n{}",
                infos.join("\n")
            );
        }
    }

    /// The nodes that run.
    pub fn running(&self) -> impl Iterator<Item = &RedisServer> {
        self.nodes.iter().filter(|n| n.is_running())
    }

    /// `--cluster 127.0.0.1:P1,127.0.0.1:P2,…` seeds: every node.
    pub fn seeds(&self) -> String {
        let seeds: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        seeds.join(",")
    }

    /// The node on `port`.
    pub fn node(&self, port: u16) -> &RedisServer {
        self.nodes
            .iter()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    fn node_mut(&mut self, port: u16) -> &mut RedisServer {
        self.nodes
            .iter_mut()
            .find(|n| n.port() == port)
            .unwrap_or_else(|| panic!("no node on port {port}"))
    }

    /// The port of the master of `slot`, as a running node says.
    pub fn master_of(&self, slot: u16) -> u16 {
        let node = self.running().next().expect("a running node");
        let map = masters_by_slot(&node.cmd(&[b"CLUSTER", b"SLOTS"]));
        map[usize::from(slot)]
    }

    /// `CLUSTER KEYSLOT key`, asked of a running node.
    pub fn keyslot(&self, key: &[u8]) -> u16 {
        let node = self.running().next().expect("a running node");
        let slot = node.cmd(&[b"CLUSTER", b"KEYSLOT", key]).integer();
        u16::try_from(slot).expect("a slot")
    }

    /// The node id of the node on `port` (`CLUSTER MYID`).
    pub fn id(&self, port: u16) -> String {
        self.node(port).cmd(&[b"CLUSTER", b"MYID"]).text()
    }

    /// `GET key` through `redis-cli -c` (which follows redirects itself), as text; `None` for nil.
    pub fn cli_get(&self, key: &str) -> Option<String> {
        let node = self.running().next().expect("a running node");
        let out = Command::new(redis_cli())
            .args(["-c", "-p", &node.port().to_string(), "--no-raw", "GET", key])
            .output()
            .expect("run redis-cli -c GET");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if text == "(nil)" {
            None
        } else {
            Some(text.trim_matches('"').to_string())
        }
    }

    /// The ports of the masters, as a running node's `CLUSTER SLOTS` names them.
    pub fn masters(&self) -> Vec<u16> {
        let node = self.running().next().expect("a running node");
        let mut ports = masters_by_slot(&node.cmd(&[b"CLUSTER", b"SLOTS"]));
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The port of a replica of the master on `port`; waits (up to [`FORM_TIMEOUT`]) while it
    /// has none, as after an earlier test killed and restarted a node that is still rejoining.
    pub fn replica_of(&self, port: u16) -> u16 {
        let id = self.id(port);
        let deadline = Instant::now() + FORM_TIMEOUT;
        let line = loop {
            let node = self.running().next().expect("a running node");
            let replicas = node.cmd(&[b"CLUSTER", b"REPLICAS", id.as_bytes()]);
            let RespReply::Array(lines) = replicas else {
                panic!("CLUSTER REPLICAS: {replicas:?}");
            };
            if let Some(line) = lines.first() {
                break line.text();
            }
            assert!(
                Instant::now() < deadline,
                "the master on {port} has no replica after {FORM_TIMEOUT:?}"
            );
            thread::sleep(Duration::from_millis(100));
        };
        // `<id> 127.0.0.1:7003@17003 slave …`
        let addr = line.split(' ').nth(1).expect("an address field");
        let port = addr.split(['@', ':']).nth(1).expect("a port");
        port.parse().expect("a port number")
    }
}

/// Per slot, the port of its master, from a `CLUSTER SLOTS` reply.
pub fn masters_by_slot(reply: &RespReply) -> Vec<u16> {
    let mut owners = vec![0u16; 16384];
    let mut covered = 0;
    if let RespReply::Array(entries) = reply {
        for entry in entries {
            let RespReply::Array(fields) = entry else {
                continue;
            };
            let (
                Some(RespReply::Integer(start)),
                Some(RespReply::Integer(end)),
                Some(RespReply::Array(master)),
            ) = (fields.first(), fields.get(1), fields.get(2))
            else {
                continue;
            };
            let Some(RespReply::Integer(port)) = master.get(1) else {
                continue;
            };
            for slot in *start..=*end {
                owners[slot as usize] = *port as u16;
                covered += 1;
            }
        }
    }
    owners.truncate(if covered == 16384 {
        16384
    } else {
        covered.min(16384)
    });
    owners
}

/// The `redis-cli` binary: `$REDIS_CLI`, else the first `redis-cli` on `PATH`.
///
/// # Panics
/// At once, saying how to install it, when there is none.
pub fn redis_cli() -> PathBuf {
    const HINT: &str =
        "install it (apt-get install redis-tools) or set REDIS_CLI=/path/to/redis-cli";
    if let Some(explicit) = std::env::var_os("REDIS_CLI").filter(|p| !p.is_empty()) {
        let explicit = PathBuf::from(explicit);
        assert!(
            explicit.is_file(),
            "redis-cli not found at REDIS_CLI={}: {HINT}",
            explicit.display()
        );
        return explicit;
    }
    let path: OsString = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("redis-cli");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("redis-cli not found: {HINT}");
}

/// How long `check` took to become true, polled for up to `within`; `None` if it never did.
pub fn time_until(within: Duration, mut check: impl FnMut() -> bool) -> Option<Duration> {
    let started = Instant::now();
    poll_until(within, &mut check).then(|| started.elapsed())
}
