//! Configuration: every limit and timeout, its documented default, and the command line that changes it.
//!
//! Each default below is a named constant. Nothing else in the crate hard-codes a limit: the server,
//! the codecs and the pool all read them from a [`Config`]. The command line is parsed here by hand
//! (`--name value` and `--name=value`, plus the seed's positional `PORT REDIS_HOST REDIS_PORT`).

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::log::Level;
use crate::webdis;

mod webdis_json;

/// Default number of worker threads (the design report's 9).
pub const DEFAULT_WORKERS: usize = 9;
/// Default number of pooled Redis connections (the design report's 40).
pub const DEFAULT_POOL_SIZE: usize = 40;
/// Default bound of the task queue. A complete request that finds it full stays parked and
/// retries on the next pass; after waiting `checkout_timeout` for a slot it gets 503 and is closed.
pub const DEFAULT_QUEUE_SIZE: usize = 1024;
/// Default cap on open client connections; the next one gets 503 and is closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Longest request line (method, target, version) in bytes; longer → 414.
pub const MAX_REQUEST_LINE_BYTES: usize = 8 * 1024;
/// Largest header block (request line, fields, blank line) in bytes; larger → 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header fields in one request; more → 431.
pub const MAX_HEADERS: usize = 100;
/// Largest request body in bytes; larger → 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;
/// Most bytes a stream (a subscription, a WebSocket) may hold for a client that does not read;
/// beyond, the client is disconnected.
pub const MAX_STREAM_BUFFER_BYTES: usize = 1024 * 1024;
/// Largest WebSocket message (all its fragments) in bytes; larger → close 1009.
pub const MAX_WS_MESSAGE_BYTES: usize = 1024 * 1024;
/// Largest Redis reply in bytes the gateway will buffer; larger → 502.
pub const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024 + 64 * 1024;
/// A request head must be complete within this time of its first byte; else 408.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// A request body may not pause longer than this; else 408.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// A keep-alive connection with no request in progress is closed after this.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A client that takes none of its pending response for this long is closed.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connecting to Redis may take at most this long.
pub const REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// A Redis reply must arrive within this time; else 504 and the connection is dropped.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(5);
/// A worker waits at most this long for a pooled Redis connection; else 503.
pub const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(1);
/// A pooled connection idle longer than this gets a PING before it is lent out again.
pub const PING_INTERVAL: Duration = Duration::from_secs(30);
/// On `POST /shutdown`, requests in flight get at most this long to finish.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Prefix of the environment variable of every option: `--pool-size` is `REDIS_GATEWAY_POOL_SIZE`.
pub const ENV_PREFIX: &str = "REDIS_GATEWAY_";

/// Which HTTP API the data listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The seed's key/value API: `GET/PUT/DELETE /KEY`, `POST /` form.
    KeyValue,
    /// Webdis's command API: `/COMMAND/arg0/…[.ext]` (see [`crate::webdis`]).
    Webdis,
}

impl Api {
    /// The name `--api` takes.
    pub fn name(self) -> &'static str {
        match self {
            Api::KeyValue => "keyvalue",
            Api::Webdis => "webdis",
        }
    }
}

/// Where Redis is and how to log in to it.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisTarget {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// ACL user for `AUTH user password`; `None` means `AUTH password` (or no AUTH).
    pub user: Option<String>,
    /// Password; `None` means no AUTH.
    pub password: Option<String>,
    /// Database number selected on every new connection.
    pub db: u32,
}

impl fmt::Debug for RedisTarget {
    // Never print the password: Debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} db {}", self.host, self.port, self.db)
    }
}

/// The whole configuration of one gateway process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address of the HTTP listener.
    pub listen: SocketAddr,
    /// The Redis server.
    pub redis: RedisTarget,
    /// Worker threads.
    pub workers: usize,
    /// Pooled Redis connections kept open by the maintainer.
    pub pool_size: usize,
    /// Bound of the task queue.
    pub queue_size: usize,
    /// Cap on open client connections.
    pub max_connections: usize,
    /// See [`MAX_REQUEST_LINE_BYTES`].
    pub max_request_line: usize,
    /// See [`MAX_HEAD_BYTES`].
    pub max_head_bytes: usize,
    /// See [`MAX_HEADERS`].
    pub max_headers: usize,
    /// See [`MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`MAX_REPLY_BYTES`].
    pub max_reply_bytes: usize,
    /// See [`HEADER_TIMEOUT`].
    pub header_timeout: Duration,
    /// See [`BODY_TIMEOUT`].
    pub body_timeout: Duration,
    /// See [`IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// See [`REDIS_CONNECT_TIMEOUT`].
    pub redis_connect_timeout: Duration,
    /// See [`REDIS_TIMEOUT`].
    pub redis_timeout: Duration,
    /// See [`CHECKOUT_TIMEOUT`].
    pub checkout_timeout: Duration,
    /// See [`PING_INTERVAL`].
    pub ping_interval: Duration,
    /// See [`DRAIN_TIMEOUT`].
    pub drain_timeout: Duration,
    /// The most detailed log level written to stderr.
    pub log_level: Level,
    /// Where the access log goes: `None` (off), `stderr`, or a file path.
    pub access_log: Option<String>,
    /// Address of the admin listener (`/healthz`, `/metrics`, `/shutdown`); `None`: off.
    pub admin: Option<SocketAddr>,
    /// The API of the data listener.
    pub api: Api,
    /// The `webdis.json` read at start-up, if any (its settings are already applied).
    pub webdis_config: Option<String>,
    /// Accept WebSocket upgrades (webdis API only).
    pub websockets: bool,
    /// See [`MAX_STREAM_BUFFER_BYTES`].
    pub max_stream_buffer: usize,
    /// See [`MAX_WS_MESSAGE_BYTES`].
    pub max_ws_message: usize,
    /// What the webdis API needs (ACL, default root, database pools); from `--webdis-config`.
    pub webdis: webdis::Settings,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis: RedisTarget {
                host: "127.0.0.1".to_string(),
                port: 6379,
                user: None,
                password: None,
                db: 0,
            },
            workers: DEFAULT_WORKERS,
            pool_size: DEFAULT_POOL_SIZE,
            queue_size: DEFAULT_QUEUE_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_request_line: MAX_REQUEST_LINE_BYTES,
            max_head_bytes: MAX_HEAD_BYTES,
            max_headers: MAX_HEADERS,
            max_body_bytes: MAX_BODY_BYTES,
            max_reply_bytes: MAX_REPLY_BYTES,
            header_timeout: HEADER_TIMEOUT,
            body_timeout: BODY_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            write_timeout: WRITE_TIMEOUT,
            redis_connect_timeout: REDIS_CONNECT_TIMEOUT,
            redis_timeout: REDIS_TIMEOUT,
            checkout_timeout: CHECKOUT_TIMEOUT,
            ping_interval: PING_INTERVAL,
            drain_timeout: DRAIN_TIMEOUT,
            log_level: Level::Info,
            access_log: None,
            admin: None,
            api: Api::KeyValue,
            webdis_config: None,
            websockets: false,
            max_stream_buffer: MAX_STREAM_BUFFER_BYTES,
            max_ws_message: MAX_WS_MESSAGE_BYTES,
            webdis: webdis::Settings::default(),
        }
    }
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Run the gateway with this configuration.
    Run(Box<Config>),
    /// Print the usage text and exit 0.
    Help,
    /// Print the version and exit 0.
    Version,
    /// Print the effective configuration (secrets masked) and exit 0.
    PrintConfig(Box<Config>),
}

/// Why a command line was refused; printed as one line, followed by a pointer to `--help`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// A flag the gateway does not know.
    UnknownFlag(String),
    /// A flag given without its value.
    MissingValue(&'static str),
    /// A value that does not parse; names the flag and what is expected.
    BadValue {
        /// The flag, e.g. `--workers`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is expected, e.g. "a whole number from 1 to 1024".
        expected: &'static str,
    },
    /// More than three positional arguments.
    TooManyPositional(String),
    /// The `--webdis-config` file cannot be read or is not a valid webdis configuration.
    WebdisConfig {
        /// The file.
        path: String,
        /// What is wrong, with a line and column when it is a JSON error.
        error: String,
    },
    /// An environment variable holds a bad value.
    BadEnv {
        /// The variable, e.g. `REDIS_GATEWAY_WORKERS`.
        var: String,
        /// What is wrong with its value.
        error: Box<ArgError>,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::UnknownFlag(flag) => write!(f, "unknown option '{flag}'"),
            ArgError::MissingValue(flag) => write!(f, "option '{flag}' needs a value"),
            ArgError::BadValue {
                flag,
                value,
                expected,
            } => write!(f, "bad value '{value}' for '{flag}': expected {expected}"),
            ArgError::BadEnv { var, error } => write!(f, "environment variable {var}: {error}"),
            ArgError::WebdisConfig { path, error } => write!(f, "webdis config {path}: {error}"),
            ArgError::TooManyPositional(arg) => write!(
                f,
                "unexpected argument '{arg}': at most PORT REDIS_HOST REDIS_PORT"
            ),
        }
    }
}

impl std::error::Error for ArgError {}

/// The text `--help` prints.
pub const USAGE: &str = "\
redis-gateway: an HTTP/1.1 gateway to Redis

USAGE:
    redis-gateway [OPTIONS] [PORT [REDIS_HOST [REDIS_PORT]]]

    With no arguments it listens on 127.0.0.1:8080 and uses Redis at 127.0.0.1:6379.
    The positional form listens on 127.0.0.1:PORT. To accept connections from other
    machines, say so: --listen 0.0.0.0:8080.

EXAMPLES:
    redis-gateway                                  # 127.0.0.1:8080 -> redis 127.0.0.1:6379
    redis-gateway 8080 127.0.0.1 6379              # the same, positional form
    redis-gateway --listen 0.0.0.0:8080 --redis redis://:secret@10.0.0.5:6379/2
    curl -X PUT --data-binary @photo.jpg http://127.0.0.1:8080/photo
    curl http://127.0.0.1:8080/photo

OPTIONS (every option takes '--name value' or '--name=value'):
    --listen ADDR:PORT          HTTP listen address                    [127.0.0.1:8080]
    --redis HOST:PORT|URL       Redis address, or redis://[[user]:password@]host[:port][/db]
                                                                       [127.0.0.1:6379]
    --redis-user NAME           ACL user for AUTH (needs a password)
    --redis-password PASS       Redis password; better: the REDIS_PASSWORD environment
                                variable, which does not show in the process list
    --db N                      Redis database number                  [0]
    --workers N                 worker threads                         [9]
    --pool-size N               pooled Redis connections               [40]
    --queue-size N              task queue bound; full for 1s: 503     [1024]
    --max-connections N         open client connections; beyond: 503   [10000]

  Limits (bytes or counts):
    --max-request-line N        request line; longer: 414              [8192]
    --max-head-bytes N          header block; larger: 431              [16384]
    --max-headers N             header fields; more: 431               [100]
    --max-body-bytes N          request body; larger: 413              [67108864]
    --max-reply-bytes N         Redis reply; larger: 502               [67174400]

  Timeouts (10s, 500ms, 2m, or a number of seconds):
    --header-timeout T          request head must arrive within; 408   [10s]
    --body-timeout T            longest pause inside a body; 408       [10s]
    --idle-timeout T            keep-alive connection idle; closed     [60s]
    --write-timeout T           client reads none of its response; closed [10s]
    --redis-connect-timeout T   connecting to Redis                    [1s]
    --redis-timeout T           waiting for a Redis reply; 504         [5s]
    --checkout-timeout T        waiting for a free Redis connection; 503  [1s]
    --ping-interval T           PING a pooled connection idle longer   [30s]
    --drain-timeout T           POST /shutdown: in-flight requests get [10s]

  Operations:
    --admin ADDR:PORT           admin listener: /healthz /metrics /shutdown  [off]
    --log-level LEVEL           error, warn, info or debug             [info]
    --access-log stderr|PATH    one line per request (Common Log Format + µs) [off]
    --print-config              print the effective configuration and exit

  Webdis API (a drop-in for webdis):
    --api keyvalue|webdis       the API of the HTTP listener           [keyvalue]
    --webdis-config FILE        read webdis's webdis.json; implies --api webdis
                                (the environment and flags win over the file)
    --max-db N                  highest database a /DB/... prefix names [15]
    --db-pool-size N            connections per other database in use  [2]
    --websockets on|off         WebSocket endpoints /.json and /.raw    [off]
    --max-stream-buffer N       bytes a stream may hold for a client that
                                does not read; beyond: disconnected     [1048576]
    --max-ws-message N          WebSocket message; larger: close 1009  [1048576]

    --help                      print this text
    --version                   print the version

    Every option can also be set in the environment as REDIS_GATEWAY_<NAME>, e.g.
    REDIS_GATEWAY_POOL_SIZE=20; flags win over the environment.

API:
    GET /KEY       200 value bytes | 404        HEAD /KEY   the same, no body
    PUT /KEY       body = value; ?ex=SECONDS or ?px=MILLISECONDS; 204
    DELETE /KEY    204 | 404
    POST /         form k1=v1&k2=v2 (application/x-www-form-urlencoded), one MSET; 200 OK

  With --api webdis:
    GET /COMMAND/arg0/.../argN[.json|.msg|.raw|.txt|.html|.xml|.png|.jpg]
    GET /7/GET/key                      the same on database 7
    POST / with body COMMAND/arg0/...   PUT /COMMAND/arg0 with the last argument as body
    curl http://127.0.0.1:7379/SET/hello/world      -> {\"SET\":[true,\"OK\"]}
";

/// Parses the process arguments (without the program name) over the environment: every option
/// may also be given as `REDIS_GATEWAY_<NAME>` (`--pool-size` → `REDIS_GATEWAY_POOL_SIZE`), and the
/// Redis password as `REDIS_PASSWORD`. Flags win over the environment, which wins over defaults.
///
/// # Errors
///
/// An [`ArgError`] naming the first bad argument or variable.
pub fn parse_args<I>(args: I, env: &dyn Fn(&str) -> Option<String>) -> Result<Command, ArgError>
where
    I: IntoIterator<Item = String>,
{
    let args: Vec<String> = args.into_iter().collect();
    let mut cfg = Config::default();
    cfg.redis.password = env("REDIS_PASSWORD").filter(|p| !p.is_empty());
    // A webdis.json comes first, so that the environment and flags can override what it says.
    if let Some(path) = webdis_config_path(&args, env) {
        let text =
            read_bounded(&path, crate::json::MAX_BYTES).map_err(|e| ArgError::WebdisConfig {
                path: path.clone(),
                error: e.to_string(),
            })?;
        webdis_json::apply(&text, &mut cfg, env).map_err(|error| ArgError::WebdisConfig {
            path: path.clone(),
            error,
        })?;
        cfg.webdis_config = Some(path);
    }
    let mut db = None;
    for flag in FLAGS {
        let var = env_var(flag);
        if let Some(value) = env(&var) {
            set(&mut cfg, &mut db, flag, &value).map_err(|error| ArgError::BadEnv {
                var,
                error: Box::new(error),
            })?;
        }
    }
    let mut positional = Vec::new();
    let mut print_config = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--help" | "-h" => return Ok(Command::Help),
            "--version" | "-V" => return Ok(Command::Version),
            "--print-config" => {
                print_config = true;
                continue;
            }
            _ => {}
        }
        if !arg.starts_with("--") || arg == "--" {
            if arg.starts_with('-') && arg != "-" && arg != "--" {
                return Err(ArgError::UnknownFlag(arg));
            }
            positional.push(arg);
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_string(), Some(value.to_string())),
            None => (arg.clone(), None),
        };
        let flag = FLAGS
            .iter()
            .copied()
            .find(|f| *f == name)
            .ok_or(ArgError::UnknownFlag(name))?;
        let value = match inline {
            Some(v) => v,
            None => args.next().ok_or(ArgError::MissingValue(flag))?,
        };
        set(&mut cfg, &mut db, flag, &value)?;
    }
    if positional.len() > 3 {
        return Err(ArgError::TooManyPositional(positional.swap_remove(3)));
    }
    if let Some(port) = positional.first() {
        let port = number("PORT", port, 0, 65535)? as u16;
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], port));
    }
    if let Some(host) = positional.get(1) {
        cfg.redis.host = host.clone();
    }
    if let Some(port) = positional.get(2) {
        cfg.redis.port = number("REDIS_PORT", port, 1, 65535)? as u16;
    }
    if let Some(db) = db {
        // `--db` wins over a database in a `redis://` URL, whatever their order.
        cfg.redis.db = db;
    }
    if cfg.redis.user.is_some() && cfg.redis.password.is_none() {
        return Err(ArgError::BadValue {
            flag: "--redis-user",
            value: cfg.redis.user.clone().unwrap_or_default(),
            expected: "a password too (--redis-password or REDIS_PASSWORD)",
        });
    }
    if print_config {
        return Ok(Command::PrintConfig(Box::new(cfg)));
    }
    Ok(Command::Run(Box::new(cfg)))
}

/// Reads a file of at most `max` bytes (a larger one is an error, found without reading it all).
fn read_bounded(path: &str, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut text = Vec::new();
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    std::fs::File::open(path)?
        .take(limit)
        .read_to_end(&mut text)?;
    if text.len() > max {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {max} bytes"),
        ));
    }
    Ok(text)
}

/// The `--webdis-config` file named on the command line (last one wins) or in the environment.
fn webdis_config_path(args: &[String], env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let mut path = env(&env_var("--webdis-config")).filter(|p| !p.is_empty());
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--webdis-config" {
            path = args.next().cloned();
        } else if let Some(value) = arg.strip_prefix("--webdis-config=") {
            path = Some(value.to_string());
        }
    }
    path
}

/// The environment variable of a flag: `--pool-size` → `REDIS_GATEWAY_POOL_SIZE`.
pub fn env_var(flag: &str) -> String {
    let name = flag
        .trim_start_matches('-')
        .replace('-', "_")
        .to_ascii_uppercase();
    format!("{ENV_PREFIX}{name}")
}

fn set(
    cfg: &mut Config,
    db: &mut Option<u32>,
    flag: &'static str,
    value: &str,
) -> Result<(), ArgError> {
    match flag {
        "--db" => *db = Some(number(flag, value, 0, 1_000_000)? as u32),
        // Read before everything else (see `parse_args`); giving one selects the webdis API.
        "--webdis-config" if value.is_empty() => {}
        "--webdis-config" => cfg.api = Api::Webdis,
        _ => apply(cfg, flag, value)?,
    }
    Ok(())
}

impl Config {
    /// The configuration as `REDIS_GATEWAY_<NAME>=value` lines, one per option, the password
    /// masked: what `--print-config` prints, usable as a systemd `EnvironmentFile=`.
    pub fn describe(&self) -> String {
        let secs = |d: Duration| {
            if d.subsec_millis() == 0 {
                format!("{}s", d.as_secs())
            } else {
                format!("{}ms", d.as_millis())
            }
        };
        let redis = &self.redis;
        let host = if redis.host.contains(':') {
            format!("[{}]", redis.host)
        } else {
            redis.host.clone()
        };
        let lines: Vec<(&str, String)> = vec![
            ("--listen", self.listen.to_string()),
            ("--redis", format!("{host}:{}", redis.port)),
            ("--redis-user", redis.user.clone().unwrap_or_default()),
            (
                "--redis-password",
                redis
                    .password
                    .as_ref()
                    .map(|_| "***".into())
                    .unwrap_or_default(),
            ),
            ("--db", redis.db.to_string()),
            ("--workers", self.workers.to_string()),
            ("--pool-size", self.pool_size.to_string()),
            ("--queue-size", self.queue_size.to_string()),
            ("--max-connections", self.max_connections.to_string()),
            ("--max-request-line", self.max_request_line.to_string()),
            ("--max-head-bytes", self.max_head_bytes.to_string()),
            ("--max-headers", self.max_headers.to_string()),
            ("--max-body-bytes", self.max_body_bytes.to_string()),
            ("--max-reply-bytes", self.max_reply_bytes.to_string()),
            ("--header-timeout", secs(self.header_timeout)),
            ("--body-timeout", secs(self.body_timeout)),
            ("--idle-timeout", secs(self.idle_timeout)),
            ("--write-timeout", secs(self.write_timeout)),
            ("--redis-connect-timeout", secs(self.redis_connect_timeout)),
            ("--redis-timeout", secs(self.redis_timeout)),
            ("--checkout-timeout", secs(self.checkout_timeout)),
            ("--ping-interval", secs(self.ping_interval)),
            ("--drain-timeout", secs(self.drain_timeout)),
            ("--log-level", self.log_level.name().to_string()),
            ("--access-log", self.access_log.clone().unwrap_or_default()),
            (
                "--admin",
                self.admin.map(|a| a.to_string()).unwrap_or_default(),
            ),
            ("--api", self.api.name().to_string()),
            // The file comes first when these lines are read back: the lines after it override
            // what it sets, and its ACL and default_root (which no option holds) still apply.
            (
                "--webdis-config",
                self.webdis_config.clone().unwrap_or_default(),
            ),
            ("--max-db", self.webdis.max_db.to_string()),
            ("--db-pool-size", self.webdis.db_pool_size.to_string()),
            (
                "--websockets",
                if self.websockets { "on" } else { "off" }.to_string(),
            ),
            ("--max-stream-buffer", self.max_stream_buffer.to_string()),
            ("--max-ws-message", self.max_ws_message.to_string()),
        ];
        let mut out = String::from("# effective configuration: flags > environment > defaults\n");
        for (flag, value) in lines {
            out.push_str(&format!("{}={value}\n", env_var(flag)));
        }
        out
    }
}

/// Every flag that takes a value.
const FLAGS: &[&str] = &[
    "--listen",
    "--redis",
    "--redis-user",
    "--redis-password",
    "--db",
    "--workers",
    "--pool-size",
    "--queue-size",
    "--max-connections",
    "--max-request-line",
    "--max-head-bytes",
    "--max-headers",
    "--max-body-bytes",
    "--max-reply-bytes",
    "--header-timeout",
    "--body-timeout",
    "--idle-timeout",
    "--write-timeout",
    "--redis-connect-timeout",
    "--redis-timeout",
    "--checkout-timeout",
    "--ping-interval",
    "--drain-timeout",
    "--log-level",
    "--access-log",
    "--admin",
    "--api",
    "--webdis-config",
    "--max-db",
    "--db-pool-size",
    "--websockets",
    "--max-stream-buffer",
    "--max-ws-message",
];

fn apply(cfg: &mut Config, flag: &'static str, value: &str) -> Result<(), ArgError> {
    let bytes = |max| number(flag, value, 1, max).map(|n| n as usize);
    match flag {
        "--listen" => cfg.listen = listen_addr(flag, value)?,
        "--redis" => redis_target(&mut cfg.redis, flag, value)?,
        "--redis-user" => cfg.redis.user = Some(value.to_string()).filter(|v| !v.is_empty()),
        "--redis-password" => {
            cfg.redis.password = Some(value.to_string()).filter(|v| !v.is_empty())
        }
        "--workers" => cfg.workers = bytes(1024)?,
        "--pool-size" => cfg.pool_size = bytes(10_000)?,
        "--queue-size" => cfg.queue_size = bytes(1 << 20)?,
        "--max-connections" => cfg.max_connections = bytes(1 << 20)?,
        "--max-request-line" => cfg.max_request_line = bytes(1 << 20)?,
        "--max-head-bytes" => cfg.max_head_bytes = bytes(1 << 24)?,
        "--max-headers" => cfg.max_headers = bytes(10_000)?,
        "--max-body-bytes" => cfg.max_body_bytes = bytes(1 << 32)?,
        "--max-reply-bytes" => cfg.max_reply_bytes = bytes(1 << 32)?,
        "--header-timeout" => cfg.header_timeout = duration(flag, value)?,
        "--body-timeout" => cfg.body_timeout = duration(flag, value)?,
        "--idle-timeout" => cfg.idle_timeout = duration(flag, value)?,
        "--write-timeout" => cfg.write_timeout = duration(flag, value)?,
        "--redis-connect-timeout" => cfg.redis_connect_timeout = duration(flag, value)?,
        "--redis-timeout" => cfg.redis_timeout = duration(flag, value)?,
        "--checkout-timeout" => cfg.checkout_timeout = duration(flag, value)?,
        "--ping-interval" => cfg.ping_interval = duration(flag, value)?,
        "--drain-timeout" => cfg.drain_timeout = duration(flag, value)?,
        "--log-level" => {
            cfg.log_level = Level::parse(value).ok_or_else(|| ArgError::BadValue {
                flag,
                value: value.to_string(),
                expected: "error, warn, info or debug",
            })?
        }
        // An empty value (e.g. from an environment file) means "off".
        "--access-log" => cfg.access_log = Some(value.to_string()).filter(|v| !v.is_empty()),
        "--admin" if value.is_empty() => cfg.admin = None,
        "--admin" => cfg.admin = Some(listen_addr(flag, value)?),
        "--api" => {
            cfg.api = match value {
                "keyvalue" => Api::KeyValue,
                "webdis" => Api::Webdis,
                _ => {
                    return Err(ArgError::BadValue {
                        flag,
                        value: value.to_string(),
                        expected: "keyvalue or webdis",
                    })
                }
            }
        }
        "--max-db" => cfg.webdis.max_db = number(flag, value, 0, 1_000_000)? as u32,
        "--db-pool-size" => cfg.webdis.db_pool_size = bytes(64)?,
        "--websockets" => {
            cfg.websockets = match value {
                "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    return Err(ArgError::BadValue {
                        flag,
                        value: value.to_string(),
                        expected: "on or off",
                    })
                }
            }
        }
        "--max-stream-buffer" => cfg.max_stream_buffer = bytes(1 << 30)?,
        "--max-ws-message" => cfg.max_ws_message = bytes(1 << 30)?,
        _ => return Err(ArgError::UnknownFlag(flag.to_string())),
    }
    Ok(())
}

fn number(flag: &'static str, value: &str, min: u64, max: u64) -> Result<u64, ArgError> {
    let bad = || ArgError::BadValue {
        flag,
        value: value.to_string(),
        expected: "a whole number in range (see --help)",
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(bad()),
    }
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds; never zero (a zero timeout means "block forever" to std).
fn duration(flag: &'static str, value: &str) -> Result<Duration, ArgError> {
    let bad = || ArgError::BadValue {
        flag,
        value: value.to_string(),
        expected: "a positive duration like 10s, 500ms or 2m",
    };
    let (digits, unit_ms) = if let Some(d) = value.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = value.strip_suffix('s') {
        (d, 1000)
    } else if let Some(d) = value.strip_suffix('m') {
        (d, 60_000)
    } else {
        (value, 1000)
    };
    let n = number(flag, digits, 1, 1 << 40).map_err(|_| bad())?;
    n.checked_mul(unit_ms)
        .filter(|ms| *ms <= 7 * 24 * 3600 * 1000)
        .map(Duration::from_millis)
        .ok_or_else(bad)
}

fn listen_addr(flag: &'static str, value: &str) -> Result<SocketAddr, ArgError> {
    value.parse().map_err(|_| ArgError::BadValue {
        flag,
        value: value.to_string(),
        expected: "IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080",
    })
}

/// `HOST:PORT`, `HOST`, or `redis://[[user]:password@]host[:port][/db]`.
fn redis_target(target: &mut RedisTarget, flag: &'static str, value: &str) -> Result<(), ArgError> {
    let bad = || ArgError::BadValue {
        flag,
        value: value.to_string(),
        expected: "HOST:PORT or redis://[[user]:password@]host[:port][/db]",
    };
    let rest = match value.strip_prefix("redis://") {
        Some(rest) => rest,
        None => {
            let (host, port) = host_port(value).ok_or_else(bad)?;
            target.host = host;
            target.port = port.unwrap_or(6379);
            return Ok(());
        }
    };
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (hostport, db) = match rest.split_once('/') {
        Some((hp, "")) => (hp, None),
        Some((hp, db)) => (hp, Some(number(flag, db, 0, 1_000_000).map_err(|_| bad())?)),
        None => (rest, None),
    };
    let (host, port) = host_port(hostport).ok_or_else(bad)?;
    target.host = host;
    target.port = port.unwrap_or(6379);
    if let Some(db) = db {
        target.db = db as u32;
    }
    if let Some(auth) = auth {
        let (user, password) = auth.split_once(':').unwrap_or(("", auth));
        target.user = Some(user.to_string()).filter(|u| !u.is_empty());
        target.password = Some(password.to_string()).filter(|p| !p.is_empty());
    }
    Ok(())
}

fn host_port(value: &str) -> Option<(String, Option<u16>)> {
    if value.is_empty() {
        return None;
    }
    if let Some(rest) = value.strip_prefix('[') {
        // [::1]:6379
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok().filter(|p| *p > 0)?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match value.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => Some((
            host.to_string(),
            Some(port.parse().ok().filter(|p| *p > 0)?),
        )),
        Some(_) => None,
        None => Some((value.to_string(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn run(args: &[&str]) -> Result<Config, ArgError> {
        match parse_args(args.iter().map(|s| s.to_string()), &no_env)? {
            Command::Run(cfg) => Ok(*cfg),
            other => panic!("expected Run, got {other:?}"),
        }
    }

    #[test]
    fn no_arguments_give_the_documented_defaults() {
        let cfg = run(&[]).unwrap();
        assert_eq!(cfg, Config::default());
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8080");
        assert_eq!((cfg.workers, cfg.pool_size), (9, 40));
    }

    #[test]
    fn positional_form_is_the_seed_contract() {
        let cfg = run(&["8081", "10.1.2.3", "6380"]).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:8081");
        assert_eq!(
            (cfg.redis.host.as_str(), cfg.redis.port),
            ("10.1.2.3", 6380)
        );
    }

    #[test]
    fn both_flag_forms_are_accepted() {
        let cfg = run(&["--workers", "3", "--pool-size=5", "--idle-timeout=500ms"]).unwrap();
        assert_eq!((cfg.workers, cfg.pool_size), (3, 5));
        assert_eq!(cfg.idle_timeout, Duration::from_millis(500));
    }

    #[test]
    fn durations_take_units_and_bare_seconds() {
        for (text, ms) in [
            ("10s", 10_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("7", 7_000),
        ] {
            assert_eq!(
                duration("--x", text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for text in ["0", "0s", "", "s", "-1s", "1.5s", "10h", "9999999999999m"] {
            assert!(duration("--x", text).is_err(), "{text}");
        }
    }

    #[test]
    fn redis_url_sets_user_password_host_port_db() {
        let cfg = run(&["--redis", "redis://bob:pw@example.org:6390/3"]).unwrap();
        let r = &cfg.redis;
        assert_eq!(r.host, "example.org");
        assert_eq!(r.port, 6390);
        assert_eq!(r.user.as_deref(), Some("bob"));
        assert_eq!(r.password.as_deref(), Some("pw"));
        assert_eq!(r.db, 3);
        let cfg = run(&["--redis", "redis://:secret@h"]).unwrap();
        assert_eq!(
            (cfg.redis.user, cfg.redis.password),
            (None, Some("secret".into()))
        );
        let cfg = run(&["--redis", "[::1]:7000"]).unwrap();
        assert_eq!((cfg.redis.host.as_str(), cfg.redis.port), ("::1", 7000));
    }

    #[test]
    fn db_flag_wins_over_url_db() {
        let cfg = run(&["--db", "5", "--redis", "redis://h/3"]).unwrap();
        assert_eq!(cfg.redis.db, 5);
    }

    #[test]
    fn env_password_is_used_and_flag_overrides_it() {
        let env = |name: &str| (name == "REDIS_PASSWORD").then(|| "envpw".to_string());
        let cmd = parse_args(Vec::new(), &env).unwrap();
        let Command::Run(cfg) = cmd else { panic!() };
        assert_eq!(cfg.redis.password.as_deref(), Some("envpw"));
        let args = vec!["--redis-password".to_string(), "flagpw".to_string()];
        let Command::Run(cfg) = parse_args(args, &env).unwrap() else {
            panic!()
        };
        assert_eq!(cfg.redis.password.as_deref(), Some("flagpw"));
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        let cases: &[(&[&str], &str)] = &[
            (&["--nope"], "--nope"),
            (&["-x"], "-x"),
            (&["--workers"], "--workers"),
            (&["--workers", "abc"], "--workers"),
            (&["--workers", "0"], "--workers"),
            (&["--pool-size=-1"], "--pool-size"),
            (&["--listen", "8080"], "--listen"),
            (&["--redis", "redis://h:0"], "--redis"),
            (&["--redis", "h:99999"], "--redis"),
            (&["--header-timeout", "0"], "--header-timeout"),
            (&["70000"], "PORT"),
            (&["1", "h", "2", "extra"], "extra"),
            (&["--redis-user", "bob"], "--redis-user"),
        ];
        for (args, named) in cases {
            let err = run(args).expect_err(&format!("{args:?} should fail"));
            assert!(err.to_string().contains(named), "{args:?}: {err}");
        }
    }

    #[test]
    fn help_and_version_short_circuit() {
        let help = parse_args(["--workers".into(), "3".into(), "--help".into()], &no_env);
        assert_eq!(help, Ok(Command::Help));
        assert_eq!(
            parse_args(["--version".into()], &no_env),
            Ok(Command::Version)
        );
    }

    #[test]
    fn debug_output_hides_the_password() {
        let cfg = run(&["--redis-password", "hunter2"]).unwrap();
        assert!(!format!("{cfg:?}").contains("hunter2"));
    }

    #[test]
    fn every_flag_has_an_environment_variable() {
        assert_eq!(env_var("--pool-size"), "REDIS_GATEWAY_POOL_SIZE");
        assert_eq!(env_var("--listen"), "REDIS_GATEWAY_LISTEN");
        assert_eq!(env_var("--max-body-bytes"), "REDIS_GATEWAY_MAX_BODY_BYTES");
    }

    #[test]
    fn flags_win_over_environment_which_wins_over_defaults() {
        let env = |name: &str| match name {
            "REDIS_GATEWAY_WORKERS" => Some("4".to_string()),
            "REDIS_GATEWAY_POOL_SIZE" => Some("7".to_string()),
            "REDIS_GATEWAY_IDLE_TIMEOUT" => Some("3s".to_string()),
            _ => None,
        };
        let args = ["--workers".to_string(), "2".to_string()];
        let Command::Run(cfg) = parse_args(args, &env).unwrap() else {
            panic!()
        };
        assert_eq!(cfg.workers, 2, "flag beats environment");
        assert_eq!(cfg.pool_size, 7, "environment beats default");
        assert_eq!(cfg.idle_timeout, Duration::from_secs(3));
        assert_eq!(cfg.queue_size, DEFAULT_QUEUE_SIZE, "default when neither");
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = |name: &str| (name == "REDIS_GATEWAY_WORKERS").then(|| "many".to_string());
        let err = parse_args(Vec::new(), &env).unwrap_err();
        assert!(err.to_string().contains("REDIS_GATEWAY_WORKERS"), "{err}");
    }

    #[test]
    fn operability_options_parse() {
        let cfg = run(&[
            "--log-level=debug",
            "--access-log",
            "/var/log/gw.log",
            "--admin",
            "127.0.0.1:9090",
            "--drain-timeout",
            "3s",
        ])
        .unwrap();
        assert_eq!(cfg.log_level, Level::Debug);
        assert_eq!(cfg.access_log.as_deref(), Some("/var/log/gw.log"));
        assert_eq!(
            cfg.admin.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9090")
        );
        assert_eq!(cfg.drain_timeout, Duration::from_secs(3));
        assert!(run(&["--log-level", "loud"]).is_err());
    }

    #[test]
    fn print_config_masks_the_password_and_round_trips_through_the_environment() {
        let args = [
            "--print-config",
            "--redis-password",
            "hunter2",
            "--workers",
            "3",
        ];
        let cmd = parse_args(args.iter().map(|s| s.to_string()), &no_env).unwrap();
        let Command::PrintConfig(cfg) = cmd else {
            panic!("{cmd:?}")
        };
        let text = cfg.describe();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(
            text.contains("REDIS_GATEWAY_REDIS_PASSWORD=***\n"),
            "{text}"
        );
        assert!(text.contains("REDIS_GATEWAY_WORKERS=3\n"), "{text}");
        // Every line but the password, fed back as the environment, gives the same config.
        let vars: Vec<(String, String)> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.contains("PASSWORD"))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let Command::Run(again) = parse_args(Vec::new(), &env).unwrap() else {
            panic!()
        };
        let mut expected = (*cfg).clone();
        expected.redis.password = None;
        assert_eq!(*again, expected);
    }
}
