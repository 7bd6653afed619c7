//! A `redis-server` child process on a free loopback port, and a RESP client of the tests' own.
//!
//! The RESP client is independent of the gateway's codec on purpose: a test that checks the gateway with the
//! gateway's own decoder could not see a bug they share.

use super::{free_port, poll_until, read_log, TempDir, START_TIMEOUT};
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Timeout of every read and write on a test's Redis socket.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// How many times a start on a random free port is tried before giving up (the port may be taken meanwhile).
const START_ATTEMPTS: usize = 5;

/// One RESP2 reply.
#[derive(Clone, PartialEq, Eq)]
pub enum RespReply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$3\r\nabc`
    Bulk(Vec<u8>),
    /// `$-1` or `*-1`
    Nil,
    /// `*2 ...`
    Array(Vec<RespReply>),
}

impl fmt::Debug for RespReply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RespReply::Simple(s) => write!(f, "+{s}"),
            RespReply::Error(s) => write!(f, "-{s}"),
            RespReply::Integer(n) => write!(f, ":{n}"),
            RespReply::Bulk(b) if b.len() > 200 => {
                write!(
                    f,
                    "${} {:?}...",
                    b.len(),
                    String::from_utf8_lossy(&b[..200])
                )
            }
            RespReply::Bulk(b) => write!(f, "${} {:?}", b.len(), String::from_utf8_lossy(b)),
            RespReply::Nil => write!(f, "(nil)"),
            RespReply::Array(items) => f.debug_list().entries(items).finish(),
        }
    }
}

impl RespReply {
    /// The integer of an `Integer` reply; panics with the reply otherwise.
    pub fn integer(&self) -> i64 {
        match self {
            RespReply::Integer(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// The bytes of a `Bulk` reply, `None` for `Nil`; panics with the reply otherwise.
    pub fn bulk(&self) -> Option<Vec<u8>> {
        match self {
            RespReply::Bulk(b) => Some(b.clone()),
            RespReply::Nil => None,
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }

    /// The text of a `Bulk` or `Simple` reply; panics with the reply otherwise.
    pub fn text(&self) -> String {
        match self {
            RespReply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            RespReply::Simple(s) => s.clone(),
            other => panic!("expected a text reply, got {other:?}"),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Reads one RESP2 value (reply or command) from `r`.
pub fn read_reply(r: &mut impl BufRead) -> io::Result<RespReply> {
    let line = read_line(r)?;
    let (kind, rest) = line
        .split_first()
        .ok_or_else(|| bad_data("empty RESP line".to_string()))?;
    let rest = String::from_utf8_lossy(rest).into_owned();
    let number = |s: &str| -> io::Result<i64> {
        s.parse::<i64>()
            .map_err(|_| bad_data(format!("bad RESP number {s:?}")))
    };
    match kind {
        b'+' => Ok(RespReply::Simple(rest)),
        b'-' => Ok(RespReply::Error(rest)),
        b':' => Ok(RespReply::Integer(number(&rest)?)),
        b'$' => {
            let len = number(&rest)?;
            if len < 0 {
                return Ok(RespReply::Nil);
            }
            let mut data = vec![0; len as usize + 2];
            r.read_exact(&mut data)?;
            if !data.ends_with(b"\r\n") {
                return Err(bad_data("bulk string not followed by CRLF".to_string()));
            }
            data.truncate(len as usize);
            Ok(RespReply::Bulk(data))
        }
        b'*' => {
            let len = number(&rest)?;
            if len < 0 {
                return Ok(RespReply::Nil);
            }
            let mut items = Vec::new();
            for _ in 0..len {
                items.push(read_reply(r)?);
            }
            Ok(RespReply::Array(items))
        }
        other => Err(bad_data(format!("unknown RESP type byte {other:?}"))),
    }
}

fn read_line(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(bad_data(format!(
            "RESP line without CRLF: {:?}",
            String::from_utf8_lossy(&line)
        )));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// A RESP connection of the tests' own.
pub struct RespConn {
    reader: BufReader<TcpStream>,
}

impl RespConn {
    /// Connects with timeouts on every operation.
    pub fn connect(addr: SocketAddr) -> io::Result<RespConn> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(RespConn {
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command and reads its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> io::Result<RespReply> {
        self.reader.get_mut().write_all(&encode_command(args))?;
        read_reply(&mut self.reader)
    }
}

/// A `redis-server` child on a loopback port; killed on drop, its log printed if the test is panicking.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    extra: Vec<String>,
    password: Option<String>,
    dir: TempDir,
    log_path: PathBuf,
}

impl RedisServer {
    /// Starts `redis-server` on a free port with persistence off.
    ///
    /// # Panics
    /// At once when no `redis-server` binary is found, and when it does not answer `PING` in time.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Like [`RedisServer::start`] with more `redis-server` arguments (e.g. `--requirepass secret`).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let mut server = RedisServer::new(free_port(), extra);
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(log) => last_log = log,
            }
        }
        panic!("redis-server did not start after {START_ATTEMPTS} attempts; last log:\n{last_log}");
    }

    /// Starts `redis-server` on the given port (used to bring Redis up where a gateway already looks for it).
    pub fn start_on(port: u16, extra: &[&str]) -> RedisServer {
        let mut server = RedisServer::new(port, extra);
        server.restart();
        server
    }

    fn new(port: u16, extra: &[&str]) -> RedisServer {
        let password = extra
            .iter()
            .position(|a| *a == "--requirepass")
            .and_then(|i| extra.get(i + 1))
            .map(|p| p.to_string());
        let dir = TempDir::new("redis");
        let log_path = dir.path().join("redis.log");
        RedisServer {
            child: None,
            port,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            password,
            dir,
            log_path,
        }
    }

    /// Spawns the child and waits for `PING`; on failure kills it and returns its log.
    fn spawn_and_wait(&mut self) -> Result<(), String> {
        let mut args: Vec<std::ffi::OsString> = vec!["--port".into(), self.port.to_string().into()];
        for arg in ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"] {
            args.push(arg.into());
        }
        args.extend(["--daemonize".into(), "no".into(), "--dir".into()]);
        args.push(self.dir.path().into());
        args.extend(self.extra.iter().map(Into::into));
        self.child = Some(spawn_logged(&args, &self.log_path));
        let mut exited = false;
        let up = poll_until(START_TIMEOUT, || {
            if let Some(child) = self.child.as_mut() {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    exited = true;
                    return true;
                }
            }
            matches!(self.cmd_result(&[b"PING"]), Ok(RespReply::Simple(ref s)) if s == "PONG")
        });
        if up && !exited {
            return Ok(());
        }
        self.kill();
        Err(read_log(&self.log_path))
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// The process id of the running child.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("redis-server is not running")
            .id()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }

    /// Runs one command on a fresh connection (authenticated when started with `--requirepass`).
    ///
    /// # Panics
    /// When Redis cannot be reached or answers with something that is not RESP.
    pub fn cmd(&self, args: &[&[u8]]) -> RespReply {
        self.cmd_result(args)
            .unwrap_or_else(|e| panic!("redis command {:?} failed: {e}", printable(args)))
    }

    /// Runs commands in order on one fresh connection (e.g. `SELECT 3` then `GET k`) and returns every reply.
    pub fn cmds(&self, commands: &[&[&[u8]]]) -> Vec<RespReply> {
        let run = || -> io::Result<Vec<RespReply>> {
            let mut conn = self.conn()?;
            commands.iter().map(|args| conn.cmd(args)).collect()
        };
        run().unwrap_or_else(|e| panic!("redis commands failed: {e}"))
    }

    /// Runs one command on a fresh connection; an error when Redis cannot be reached.
    pub fn try_cmd(&self, args: &[&[u8]]) -> io::Result<RespReply> {
        self.cmd_result(args)
    }

    /// Its working directory (`--dir`: its log, and `nodes.conf` for a cluster node).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Whether the child runs (it was not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    fn cmd_result(&self, args: &[&[u8]]) -> io::Result<RespReply> {
        self.conn()?.cmd(args)
    }

    fn conn(&self) -> io::Result<RespConn> {
        let mut conn = RespConn::connect(self.addr())?;
        if let Some(password) = &self.password {
            match conn.cmd(&[b"AUTH", password.as_bytes()])? {
                RespReply::Simple(_) => {}
                other => return Err(bad_data(format!("AUTH failed: {other:?}"))),
            }
        }
        Ok(conn)
    }

    /// Polls `CLIENT LIST` until exactly `size` connections are named `redis-gateway` (the
    /// gateway's pool is full; or, with 0, gone). `Ok(how long it took)`, or `Err(how many there
    /// were)` after `within`.
    pub fn wait_gateway_pool(&self, size: usize, within: Duration) -> Result<Duration, usize> {
        let started = Instant::now();
        let mut seen = 0;
        if poll_until(within, || {
            seen = self.clients_named("redis-gateway");
            seen == size
        }) {
            Ok(started.elapsed())
        } else {
            Err(seen)
        }
    }

    /// The lines of `CLIENT LIST` whose client name is `name`.
    pub fn clients_named(&self, name: &str) -> usize {
        let list = self.cmd(&[b"CLIENT", b"LIST"]).text();
        let wanted = format!("name={name} ");
        list.lines().filter(|l| l.contains(&wanted)).count()
    }

    /// Bytes that arrived on established connections to this server and were not read yet (`rx_queue` in
    /// `/proc/net/tcp`): what a client sent to a server stopped with `SIGSTOP`.
    pub fn unread_bytes(&self) -> u64 {
        let table = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
        table
            .lines()
            .skip(1)
            .filter_map(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                let local_port = fields.get(1)?.split(':').nth(1)?;
                let established = *fields.get(3)? == "01";
                let rx_queue = fields.get(4)?.split(':').nth(1)?;
                (u16::from_str_radix(local_port, 16).ok()? == self.port && established)
                    .then(|| u64::from_str_radix(rx_queue, 16).ok())
                    .flatten()
            })
            .sum()
    }

    /// Kills the child with SIGKILL and waits for it. Does nothing when it is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port with the same arguments, retrying while the port is busy.
    pub fn restart(&mut self) {
        self.kill();
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(log) => last_log = log,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "redis-server did not restart on port {} after {START_ATTEMPTS} attempts; log:\n{last_log}",
            self.port
        );
    }

    /// Sends a signal by name (`"STOP"`, `"CONT"`) to the child with the `kill` command.
    pub fn stop_signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap_or_else(|e| panic!("run kill -{signal}: {e}"));
        assert!(
            status.success(),
            "kill -{signal} {} failed: {status}",
            self.pid()
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // SIGKILL also ends a process stopped by SIGSTOP.
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "----- redis-server log (port {}) -----\n{}\n----- end of redis-server log -----",
                self.port,
                read_log(&self.log_path)
            );
        }
    }
}

/// The `redis-server` binary: `$REDIS_SERVER`, else the first `redis-server` on `PATH`.
///
/// # Panics
/// At once, saying how to install it, when there is none: a test that skips silently cannot fail.
pub fn redis_binary() -> PathBuf {
    redis_binary_from(std::env::var_os("REDIS_SERVER"), std::env::var_os("PATH"))
}

/// [`redis_binary`] with the two environment variables given.
pub fn redis_binary_from(redis_server: Option<OsString>, path: Option<OsString>) -> PathBuf {
    const HINT: &str =
        "install it (apt-get install redis-server) or set REDIS_SERVER=/path/to/redis-server";
    if let Some(explicit) = redis_server.filter(|p| !p.is_empty()) {
        let explicit = PathBuf::from(explicit);
        if explicit.is_file() {
            return explicit;
        }
        panic!(
            "redis-server not found at REDIS_SERVER={}: {HINT}",
            explicit.display()
        );
    }
    for dir in path.iter().flat_map(std::env::split_paths) {
        let candidate = dir.join("redis-server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("redis-server not found: {HINT}");
}

fn printable(args: &[&[u8]]) -> Vec<String> {
    args.iter()
        .map(|a| {
            let s = String::from_utf8_lossy(a);
            if a.len() > 60 {
                format!(
                    "{}... ({} bytes)",
                    s.chars().take(60).collect::<String>(),
                    a.len()
                )
            } else {
                s.into_owned()
            }
        })
        .collect()
}

/// Starts `redis-server` with `args`, its output appended to `log_path`.
///
/// # Panics
/// When `redis-server` is missing (saying how to install it) or cannot be started.
pub fn spawn_logged(
    args: &[std::ffi::OsString],
    log_path: &std::path::Path,
) -> std::process::Child {
    let binary = redis_binary();
    let log = File::options()
        .create(true)
        .append(true)
        .open(log_path)
        .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
    let log_err = log.try_clone().expect("clone log file handle");
    Command::new(&binary)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {} {args:?}: {e}", binary.display()))
}
