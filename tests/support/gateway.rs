//! The gateway binary as a child process, and what a test asks of it.
//!
//! [`Gateway::with_redis`] is where most tests start: a fresh `redis-server` and a gateway in front of it,
//! ready to serve. Every gateway started with [`Gateway::start`] also has an admin listener on a free port
//! ([`Gateway::admin`]), so that a test can wait on the gateway's own counters ([`Gateway::metric`],
//! [`Gateway::wait_metric`]) instead of sleeping to show that something did not happen.
//!
//! The child's stdout and stderr go to files of its own temp dir; it is killed on drop, and its log is
//! printed if the test is panicking. [`run`] runs the binary to completion, with a deadline, for
//! command-line tests.

use super::http::{expect_status, request, try_request, Response};
use super::redis::RedisServer;
use super::{poll_until, read_log, TempDir, START_TIMEOUT};
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The binary under test, built by Cargo for integration tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_redis-gateway");

/// How long a run of the binary that should exit by itself may take: longer means it serves instead.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// One environment variable for the child: name, value.
pub type Env<'a> = (&'a str, &'a str);

/// The admin listener [`Gateway::start`] gives every gateway.
const ADMIN_ARGS: [&str; 2] = ["--admin", "127.0.0.1:0"];

/// The series of `/metrics` that counts the maintainer's failed attempts to open a Redis connection.
pub const CONNECT_FAILURES: &str = "redis_gateway_redis_errors_total{kind=\"connect\"}";

/// The header `POST /shutdown` needs when no `--admin-token` is set.
pub const SHUTDOWN_HEADER: (&str, &str) = ("X-Redis-Gateway", "shutdown");

/// `{"PING":[true,"PONG"]}`: the webdis API's answer to `GET /PING`.
pub const PING_JSON: &[u8] = br#"{"PING":[true,"PONG"]}"#;

// ----- a child process of the binary -----

/// The binary as a child, stdout and stderr in files; killed on drop, its stderr printed if the test is
/// panicking.
struct Process {
    child: Child,
    /// The exit status, once seen.
    status: Option<ExitStatus>,
    /// What the log printed on a panic is called (`gateway 127.0.0.1:4000`).
    name: String,
    out_path: PathBuf,
    err_path: PathBuf,
    _dir: TempDir,
}

impl Process {
    /// Spawns the binary with `args` and `env`.
    fn spawn(args: &[&str], env: &[Env<'_>]) -> Process {
        let mut command = Command::new(BINARY);
        command.args(args);
        Process::spawn_command(command, env)
    }

    /// Spawns the binary through `sh -c 'ulimit -n LIMIT && exec BINARY ARGS…'`.
    fn spawn_with_fd_limit(fd_limit: u32, args: &[&str]) -> Process {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {fd_limit} && exec \"$0\" \"$@\""))
            .arg(BINARY)
            .args(args);
        Process::spawn_command(command, &[])
    }

    /// Spawns `command` with the environment variables `env` but not the test's own `REDIS_PASSWORD`
    /// (a test gives the password, or none), stdin closed.
    fn spawn_command(mut command: Command, env: &[Env<'_>]) -> Process {
        let dir = TempDir::new("gateway");
        let out_path = dir.path().join("stdout");
        let err_path = dir.path().join("stderr");
        let create = |path: &PathBuf| {
            File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()))
        };
        let child = command
            .env_remove("REDIS_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(create(&out_path))
            .stderr(create(&err_path))
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {:?}: {e}", command.get_program()));
        Process {
            child,
            status: None,
            name: "gateway".to_string(),
            out_path,
            err_path,
            _dir: dir,
        }
    }

    fn stdout(&self) -> String {
        read_log(&self.out_path)
    }

    fn stderr(&self) -> String {
        read_log(&self.err_path)
    }

    /// The exit status if it has exited by now.
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// Polls for the exit status for up to `timeout`.
    fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        poll_until(timeout, || self.exited().is_some());
        self.status
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "----- {0} log -----\n{1}\n----- end of {0} log -----",
                self.name,
                self.stderr()
            );
        }
    }
}

// ----- a serving gateway -----

/// A running gateway.
pub struct Gateway {
    process: Process,
    addr: SocketAddr,
    /// The admin listener, when it has one.
    admin: Option<SocketAddr>,
    /// It speaks the webdis API (its start-up line says `(webdis API)`).
    webdis: bool,
    /// It speaks the Upstash API (its start-up line says `(upstash API)`).
    upstash: bool,
    /// The `--token` it was started with (the last one given), which `wait_ready` sends.
    token: Option<String>,
}

impl Gateway {
    /// A fresh `redis-server` and a gateway in front of it started with `args`, ready to serve.
    ///
    /// # Panics
    /// When either does not start, or the gateway does not answer within 10 s.
    pub fn with_redis(args: &[&str]) -> (RedisServer, Gateway) {
        let redis = RedisServer::start();
        let gateway = Gateway::start(&redis, args);
        gateway.wait_ready();
        (redis, gateway)
    }

    /// Starts the gateway in front of `redis` on a free port, with an admin listener and `args` after
    /// them (the last of a repeated flag wins). It does not wait for Redis: see [`Gateway::wait_ready`].
    pub fn start(redis: &RedisServer, args: &[&str]) -> Gateway {
        Gateway::start_port(redis.port(), args)
    }

    /// [`Gateway::start`] with the environment variables `env` as well.
    pub fn start_with_env(redis: &RedisServer, args: &[&str], env: &[Env<'_>]) -> Gateway {
        Gateway::start_at(redis.port(), args, env)
    }

    /// Like [`Gateway::start`], in front of whatever listens on `127.0.0.1:redis_port` (maybe nothing).
    pub fn start_port(redis_port: u16, args: &[&str]) -> Gateway {
        Gateway::start_at(redis_port, args, &[])
    }

    /// `--listen 127.0.0.1:0 --redis 127.0.0.1:PORT --admin 127.0.0.1:0`, then `args`, with `env`.
    fn start_at(redis_port: u16, args: &[&str], env: &[Env<'_>]) -> Gateway {
        let redis = format!("127.0.0.1:{redis_port}");
        let mut all = vec!["--listen", "127.0.0.1:0", "--redis", redis.as_str()];
        all.extend_from_slice(&ADMIN_ARGS);
        all.extend_from_slice(args);
        Gateway::spawn(&all, env)
    }

    /// Starts the binary with exactly `args` and the environment variables `env`, and waits for its
    /// start-up line (`listening on ADDR`).
    ///
    /// # Panics
    /// When the process exits first or no such line appears within 10 s; the message holds the log.
    pub fn spawn(args: &[&str], env: &[Env<'_>]) -> Gateway {
        Gateway::listening(Process::spawn(args, env), args)
    }

    /// [`Gateway::spawn`] under `ulimit -n fd_limit`.
    pub fn spawn_with_fd_limit(fd_limit: u32, args: &[&str]) -> Gateway {
        Gateway::listening(Process::spawn_with_fd_limit(fd_limit, args), args)
    }

    /// Waits for the start-up line of `process` and reads its addresses and API from it.
    fn listening(mut process: Process, args: &[&str]) -> Gateway {
        let mut addr = None;
        poll_until(START_TIMEOUT, || {
            // Exited or not, the log may hold the line: it is read after the exit check.
            let exited = process.exited().is_some();
            addr = listening_addr(&process.stderr());
            addr.is_some() || exited
        });
        let log = process.stderr();
        match (addr, process.exited()) {
            (Some(addr), None) => {
                process.name = format!("gateway {addr}");
                Gateway {
                    process,
                    addr,
                    admin: admin_addr(&log),
                    webdis: startup_line(&log).is_some_and(|l| l.contains("(webdis API)")),
                    upstash: startup_line(&log).is_some_and(|l| l.contains("(upstash API)")),
                    token: args
                        .windows(2)
                        .rev()
                        .find(|w| w[0] == "--token")
                        .map(|w| w[1].to_string()),
                }
            }
            (_, Some(status)) => {
                panic!("gateway {args:?} exited with {status} before serving; log:\n{log}")
            }
            (None, None) => panic!(
                "gateway {args:?} logged no `listening on ADDR` line within {START_TIMEOUT:?}; \
                 log:\n{log}"
            ),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Where its admin listener is (`/healthz`, `/metrics`, `POST /shutdown`).
    ///
    /// # Panics
    /// When it was started without `--admin`.
    #[track_caller]
    pub fn admin(&self) -> SocketAddr {
        self.admin.unwrap_or_else(|| {
            panic!(
                "no `admin on ADDR` in the start-up line; log:\n{}",
                self.log()
            )
        })
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        self.process.stderr()
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.process.exited().is_none()
    }

    /// Polls for the exit status for up to `timeout`; `None` while it still runs.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(timeout)
    }

    /// Asks for a shutdown (`POST /shutdown` on the admin listener, with [`SHUTDOWN_HEADER`]) and waits for the process to exit:
    /// after that its log is complete, so what is not in it was never written.
    ///
    /// # Panics
    /// When the shutdown is refused or the process still runs after 10 s.
    #[track_caller]
    pub fn shut_down(&mut self) {
        let response = request(self.admin(), "POST", "/shutdown", &[SHUTDOWN_HEADER], b"");
        expect_status(&response, 202);
        let status = self.wait_exit(START_TIMEOUT);
        assert!(
            status.is_some(),
            "the gateway still runs {START_TIMEOUT:?} after POST /shutdown; log:\n{}",
            self.log()
        );
    }

    /// Polls a request that needs a Redis round trip until it is answered as it should be: with the
    /// key/value API `GET /__probe__` → 404, with the webdis API `GET /PING` → [`PING_JSON`], with
    /// the Upstash API `GET /ping` → `{"result":"PONG"}`; with the `--token` it was started with.
    ///
    /// # Panics
    /// After 10 s, with the last response.
    pub fn wait_ready(&self) {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let auth: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("Authorization", b))
            .into_iter()
            .collect();
        if self.webdis {
            wait_answered(
                self.addr,
                "/PING",
                &auth,
                "{\"PING\":[true,\"PONG\"]}",
                |r| r.status == 200 && r.body == PING_JSON,
            );
        } else if self.upstash {
            wait_answered(self.addr, "/ping", &auth, "{\"result\":\"PONG\"}", |r| {
                r.status == 200 && r.body == br#"{"result":"PONG"}"#
            });
        } else {
            wait_answered(self.addr, "/__probe__", &auth, "404", |r| r.status == 404);
        }
    }
}

// ----- the gateway's own counters -----

impl Gateway {
    /// The value of `series` in `GET /metrics` on the admin listener. `series` is written as the
    /// exposition writes it: a name (`redis_gateway_pool_open`), or a name and its labels
    /// ([`CONNECT_FAILURES`]).
    ///
    /// # Panics
    /// When the scrape fails or has no such series.
    #[track_caller]
    pub fn metric(&self, series: &str) -> f64 {
        // `Connection: close`: the gateway closes the scrape's connection itself, at once, so that it
        // is not counted among the open connections and descriptors a moment longer.
        let response = request(
            self.admin(),
            "GET",
            "/metrics",
            &[("Connection", "close")],
            b"",
        );
        expect_status(&response, 200);
        let text = response.text();
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no sample {series} in /metrics:\n{text}"))
    }

    /// Polls `/metrics` until `series` equals `want`.
    ///
    /// # Panics
    /// After 10 s, with the last value.
    #[track_caller]
    pub fn wait_metric(&self, series: &str, want: f64) {
        let mut seen = f64::NAN;
        let reached = poll_until(START_TIMEOUT, || {
            seen = self.metric(series);
            seen == want
        });
        assert!(
            reached,
            "{series} stayed {seen} instead of {want} for {START_TIMEOUT:?}"
        );
    }

    /// Polls `/metrics` until the counter `series` reaches `at_least`.
    ///
    /// # Panics
    /// After 10 s, with the last value.
    #[track_caller]
    pub fn wait_counter(&self, series: &str, at_least: f64) {
        let mut seen = f64::NAN;
        let reached = poll_until(START_TIMEOUT, || {
            seen = self.metric(series);
            seen >= at_least
        });
        assert!(
            reached,
            "{series} stayed {seen}, below {at_least}, for {START_TIMEOUT:?}"
        );
    }

    /// Waits until the maintainer has failed `more` further attempts to open a Redis connection
    /// ([`CONNECT_FAILURES`]). Each failure is a chance to log again, so a log line that is still
    /// single after them was not repeated; and a line logged on a failure has been written by the
    /// time the next attempt fails.
    #[track_caller]
    pub fn wait_connect_failures(&self, more: u32) {
        let now = self.metric(CONNECT_FAILURES);
        self.wait_counter(CONNECT_FAILURES, now + f64::from(more));
    }

    /// Waits until `redis` lists exactly `size` connections named `redis-gateway` and `/metrics`
    /// shows the pool full (`pool_size` and `pool_open` both `size`), then counts the connections
    /// again: the maintainer opens a connection only for a vacancy, so a full pool's count is final.
    ///
    /// # Panics
    /// When any of these does not hold within 10 s; the message shows `CLIENT LIST`.
    #[track_caller]
    pub fn expect_pool(&self, redis: &RedisServer, size: usize) {
        if let Err(seen) = redis.wait_gateway_pool(size, START_TIMEOUT) {
            panic!("CLIENT LIST shows {seen} connections named redis-gateway, want {size}");
        }
        self.wait_metric("redis_gateway_pool_size", size as f64);
        self.wait_metric("redis_gateway_pool_open", size as f64);
        let list = redis.cmd(&[b"CLIENT", b"LIST"]).text();
        assert_eq!(
            redis.clients_named("redis-gateway"),
            size,
            "more Redis connections than the pool size:\n{list}"
        );
    }
}

// ----- what the process uses -----

/// What the gateway process uses, read from `/proc`: open file descriptors and resident memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Entries in `/proc/PID/fd`.
    pub fds: usize,
    /// `VmRSS` in KiB.
    pub rss_kib: u64,
}

/// Reads the [`Usage`] of process `pid`.
pub fn usage(pid: u32) -> Usage {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("read /proc/{pid}/fd: {e}"));
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/status: {e}"));
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"));
    Usage { fds, rss_kib }
}

/// The number of threads of process `pid` (entries in `/proc/PID/task`).
pub fn threads(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("read /proc/{pid}/task: {e}"))
}

impl Gateway {
    /// The process's threads now (`/proc/PID/task`).
    pub fn threads(&self) -> usize {
        threads(self.pid())
    }

    /// The process's threads now, less its `watcher` threads (one per idle connection, bounded by
    /// `--watchers`, tested in `tests/watchers.rs`): what a test of the other threads counts, so
    /// that a connection idle for a moment does not count as a pool's thread.
    pub fn threads_but_watchers(&self) -> usize {
        super::thread_names(self.pid())
            .iter()
            .filter(|name| *name != "watcher")
            .count()
    }

    /// The process's open descriptors and memory now; take it before an attack as the baseline.
    pub fn usage(&self) -> Usage {
        usage(self.pid())
    }

    /// [`Gateway::usage`] once the Redis pool is full (`pool_open` equals `pool_size` on `/metrics`):
    /// the maintainer fills the pool after start-up, and its growth must not be mistaken for leaked
    /// descriptors.
    #[track_caller]
    pub fn steady_usage(&self) -> Usage {
        let size = self.metric("redis_gateway_pool_size");
        self.wait_metric("redis_gateway_pool_open", size);
        self.usage()
    }

    /// The three checks that end every attack: the process is alive, a normal request succeeds
    /// (`PUT` then `GET` of a fresh key through a new connection), and, polled for up to 10 s,
    /// open descriptors are back within `fd_slack` of `baseline` and RSS within `rss_slack_kib`.
    ///
    /// # Panics
    ///
    /// When any of the three does not hold; the message says which and shows the numbers.
    pub fn expect_survived(&mut self, baseline: Usage, fd_slack: usize, rss_slack_kib: u64) {
        assert!(self.is_running(), "the gateway died during the attack");
        let key = format!("/survivor-{}", std::process::id());
        let put = try_request(self.addr(), "PUT", &key, &[], b"alive")
            .unwrap_or_else(|e| panic!("a normal PUT after the attack failed: {e}"));
        assert_eq!(put.status, 204, "a normal PUT after the attack: {put:?}");
        let get = try_request(self.addr(), "GET", &key, &[], b"")
            .unwrap_or_else(|e| panic!("a normal GET after the attack failed: {e}"));
        assert_eq!(
            (get.status, get.body.as_slice()),
            (200, &b"alive"[..]),
            "a normal GET after the attack: {get:?}"
        );
        let mut now = self.usage();
        let settled = poll_until(Duration::from_secs(10), || {
            now = self.usage();
            now.fds <= baseline.fds + fd_slack && now.rss_kib <= baseline.rss_kib + rss_slack_kib
        });
        assert!(
            settled,
            "resources did not return near baseline within 10 s: baseline {baseline:?}, now {now:?} \
             (slack: {fd_slack} fds, {rss_slack_kib} KiB)"
        );
    }
}

// ----- a run to completion -----

/// What a finished run of the binary printed.
#[derive(Debug)]
pub struct Run {
    /// Exit status; `None` when it had to be killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

impl Run {
    /// The exit code, if it exited by itself.
    pub fn code(&self) -> Option<i32> {
        self.status.and_then(|s| s.code())
    }
}

/// Runs the binary with `args` and the environment variables `env` to completion, killing it after
/// `timeout` (a binary that should have exited but serves instead must fail the test, not hang it).
pub fn run(args: &[&str], env: &[Env<'_>], timeout: Duration) -> Run {
    let mut process = Process::spawn(args, env);
    let status = process.wait_exit(timeout);
    Run {
        status,
        stdout: process.stdout(),
        stderr: process.stderr(),
    }
}

// ----- the start-up line -----

/// The line of `log` that says where the gateway listens (`... listening on A (webdis API), ..., admin on
/// B`).
fn startup_line(log: &str) -> Option<&str> {
    log.lines().find(|l| l.contains("listening on "))
}

/// The address after `listening on ` in the start-up line, up to the first ',' or whitespace.
pub fn listening_addr(log: &str) -> Option<SocketAddr> {
    addr_after(startup_line(log)?, "listening on ")
}

/// The address after `admin on ` in the start-up line, up to the first ',' or whitespace.
pub fn admin_addr(log: &str) -> Option<SocketAddr> {
    addr_after(startup_line(log)?, "admin on ")
}

/// The address after `marker` in `line`, up to the first ',' or whitespace.
fn addr_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = &line[line.find(marker)? + marker.len()..];
    let end = rest
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Polls `GET path` until `ok` accepts the answer; panics after 10 s with the last response.
fn wait_answered(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    expected: &str,
    ok: impl Fn(&Response) -> bool,
) {
    let mut last = String::from("no response");
    let ready = poll_until(START_TIMEOUT, || {
        match try_request(addr, "GET", path, headers, b"") {
            Ok(response) if ok(&response) => true,
            Ok(response) => {
                last = format!("{response:?}");
                false
            }
            Err(e) => {
                last = e;
                false
            }
        }
    });
    assert!(
        ready,
        "gateway at {addr} never answered GET {path} with {expected} within {START_TIMEOUT:?}; last: {last}"
    );
}
