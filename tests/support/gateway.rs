//! The gateway binary as a child process: started on `127.0.0.1:0`, its address read from the start-up log
//! line, killed on drop with its log printed if the test is panicking. Also runs the binary to completion for
//! command-line tests, with a deadline.

use super::http::{try_request, Response};
use super::redis::RedisServer;
use super::{poll_until, read_log, TempDir, START_TIMEOUT};
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

/// The binary under test, built by Cargo for integration tests.
pub const BINARY: &str = env!("CARGO_BIN_EXE_redis-gateway");

/// A running gateway.
pub struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
    log_path: PathBuf,
    _dir: TempDir,
}

impl Gateway {
    /// Starts the gateway in front of `redis` on a free port, with more arguments after the defaults.
    pub fn start(redis: &RedisServer, extra: &[&str]) -> Gateway {
        Gateway::start_port(redis.port(), extra)
    }

    /// Starts the gateway in front of whatever listens on `127.0.0.1:redis_port` (maybe nothing).
    pub fn start_port(redis_port: u16, extra: &[&str]) -> Gateway {
        let redis = format!("127.0.0.1:{redis_port}");
        let mut args = vec!["--listen", "127.0.0.1:0", "--redis", redis.as_str()];
        args.extend_from_slice(extra);
        Gateway::spawn(&args, &[])
    }

    /// Starts the binary with exactly `args` and extra environment variables, and waits for the
    /// `listening on ADDR` line on stderr.
    ///
    /// # Panics
    /// When the process exits first or no such line appears within 10 s; the message holds the log.
    pub fn spawn(args: &[&str], env: &[(&str, &str)]) -> Gateway {
        let dir = TempDir::new("gateway");
        let log_path = dir.path().join("gateway.log");
        let log = File::create(&log_path)
            .unwrap_or_else(|e| panic!("create {}: {e}", log_path.display()));
        let child = Command::new(BINARY)
            .args(args)
            .env_remove("REDIS_PASSWORD")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {BINARY}: {e}"));
        let mut gateway = Gateway {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
            _dir: dir,
        };
        let mut addr = None;
        let mut exited = None;
        poll_until(START_TIMEOUT, || {
            if let Some(child) = gateway.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    exited = Some(status);
                    // The log may hold the line even so; read it once more below.
                }
            }
            addr = listening_addr(&gateway.log());
            addr.is_some() || exited.is_some()
        });
        match (addr, exited) {
            (Some(addr), None) => gateway.addr = addr,
            (_, Some(status)) => panic!(
                "gateway {args:?} exited with {status} before serving; log:\n{}",
                gateway.log()
            ),
            (None, None) => panic!(
                "gateway {args:?} logged no `listening on ADDR` line within {START_TIMEOUT:?}; log:\n{}",
                gateway.log()
            ),
        }
        gateway
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("gateway is running").id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Polls `GET /__probe__` until it returns 404, which proves a Redis round trip works.
    ///
    /// # Panics
    /// After 10 s, with the last response.
    pub fn wait_ready(&self) {
        wait_ready_at(self.addr);
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }
}

/// One `GET /__probe__` that reports failures instead of panicking.
fn probe(addr: SocketAddr) -> Result<Response, String> {
    try_request(addr, "GET", "/__probe__", &[], b"")
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- gateway log ({}) -----\n{}\n----- end of gateway log -----",
                self.addr,
                self.log()
            );
        }
    }
}

/// The address after `admin on ` in the start-up line (`... listening on A, ..., admin on B`), up
/// to the first ',' or whitespace.
pub fn admin_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains("listening on "))?;
    let rest = &line[line.find("admin on ")? + "admin on ".len()..];
    let end = rest
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// The address after `listening on ` up to the first ',' or whitespace.
pub fn listening_addr(log: &str) -> Option<SocketAddr> {
    let line = log.lines().find(|l| l.contains("listening on "))?;
    let rest = &line[line.find("listening on ")? + "listening on ".len()..];
    let end = rest
        .find(|c: char| c == ',' || c.is_whitespace())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

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

/// Runs the binary with `args` to completion, killing it after `timeout` (a binary that should have exited
/// but serves instead must fail the test, not hang it).
pub fn run(args: &[&str], timeout: Duration) -> Run {
    let dir = TempDir::new("gateway-run");
    let out_path = dir.path().join("stdout");
    let err_path = dir.path().join("stderr");
    let mut child = Command::new(BINARY)
        .args(args)
        .env_remove("REDIS_PASSWORD")
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).expect("create stdout file"))
        .stderr(File::create(&err_path).expect("create stderr file"))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {BINARY}: {e}"));
    let mut status = None;
    poll_until(timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    Run {
        status,
        stdout: read_log(&out_path),
        stderr: read_log(&err_path),
    }
}

/// The pause used by tests that must show something does *not* happen for a while.
pub const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// Polls `GET /__probe__` on `addr` until it returns 404, which proves a Redis round trip works
/// (for gateways a test started itself as well as for [`Gateway`]).
///
/// # Panics
/// After 10 s, with the last response.
pub fn wait_ready_at(addr: SocketAddr) {
    wait_answered(addr, "/__probe__", "404", |r| r.status == 404);
}

/// `{"PING":[true,"PONG"]}`: the webdis API's answer to `GET /PING`.
pub const PING_JSON: &[u8] = br#"{"PING":[true,"PONG"]}"#;

/// [`wait_ready_at`] for a gateway with the webdis API, where `/__probe__` would run as a command:
/// polls `GET /PING` until it is answered [`PING_JSON`].
///
/// # Panics
/// After 10 s, with the last response.
pub fn wait_webdis_ready(addr: SocketAddr) {
    wait_answered(addr, "/PING", "{\"PING\":[true,\"PONG\"]}", |r| {
        r.status == 200 && r.body == PING_JSON
    });
}

/// Polls `GET path` until `ok` accepts the answer; panics after 10 s with the last response.
fn wait_answered(addr: SocketAddr, path: &str, expected: &str, ok: impl Fn(&Response) -> bool) {
    let mut last = String::from("no response");
    let ready = poll_until(START_TIMEOUT, || {
        match try_request(addr, "GET", path, &[], b"") {
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

impl Gateway {
    /// The process's open descriptors and memory now; take it before an attack as the baseline.
    pub fn usage(&self) -> Usage {
        usage(self.pid())
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
