//! Configuration: every limit and timeout, its documented default, and the command line and
//! environment that change them.
//!
//! Each default below is a named constant. Nothing else in the crate hard-codes a limit: the server,
//! the codecs and the pool all read them from a [`Config`], which is built once at start-up and
//! never changed after. The parts:
//!
//! * here: [`Config`] and its parts, the defaults, what the command line asks for ([`Command`])
//!   and why it was refused ([`ArgError`]);
//! * `options.rs`: THE table of options, one row each (flag, help, how to set and show it). The
//!   flag lookup, the environment variable names, `--help` and `--print-config` are all made from
//!   it: a new option is a new row there, a field here and its default;
//! * `values.rs`: how each kind of value is read and written back (numbers, durations, addresses,
//!   `redis://` URLs);
//! * `args.rs`: [`parse_args`], where values come from and which wins (`webdis.json` <
//!   environment < flags < positional `PORT REDIS_HOST REDIS_PORT`);
//! * `help.rs`: [`usage`] (`--help`) and [`Config::describe`] (`--print-config`);
//! * `webdis_json.rs`: webdis's own `webdis.json`, read into a [`Config`].
//!
//! This module uses `webdis`'s data types ([`webdis::Settings`], the ACL rules) but nothing in
//! `webdis` may use this module: the dependency goes one way. It never prints and never exits:
//! `main` does.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use crate::log::Level;
use crate::webdis;

mod args;
mod help;
mod options;
mod values;
mod webdis_json;

pub use args::parse_args;
pub use help::usage;
pub use options::env_var;

/// Default number of worker threads (the design report's 9).
pub const DEFAULT_WORKERS: usize = 9;
/// Default number of pooled Redis connections (the design report's 40).
pub const DEFAULT_POOL_SIZE: usize = 40;
/// Default bound of the task queue. A complete request that finds it full stays parked and
/// retries on the next pass; after waiting `checkout_timeout` for a slot it gets 503 and is closed.
pub const DEFAULT_QUEUE_SIZE: usize = 1024;
/// Default cap on open client connections; the next one gets 503 and is closed.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Default cap on watcher threads, each waiting in the kernel for one idle keep-alive connection
/// to send (see `server/watch.rs`): about 10 KiB of RSS and 16 KiB of kernel stack each.
pub const DEFAULT_WATCHERS: usize = 5_000;
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
/// The memory budget: the most bytes the buffers that grow with client input or Redis output may
/// hold, all connections together (see [`crate::memory`]). Past it, new large bodies get 503 before
/// they are read, greedy connections are not read further, and the greediest are cut.
pub const MAX_MEMORY_BYTES: usize = 512 * 1024 * 1024;
/// Largest WebSocket message (all its fragments) in bytes; larger → close 1009.
pub const MAX_WS_MESSAGE_BYTES: usize = 1024 * 1024;
/// Most ACL rules a `--webdis-config` file may hold; a file with more is refused at start-up.
/// Every webdis request walks the rules in order (a later match overrides an earlier one), so
/// the cost of a request grows with their number: 25,000 rules took a gateway from 72k to 3.3k
/// requests/s. The walk is linear, so 1,024 rules cost at most about a 24th of that; an ACL that
/// needs more is better kept in Redis (an ACL user, `--redis-user`).
pub const MAX_ACL_RULES: usize = 1024;
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
/// A stream whose format has a keep-alive message (Upstash SSE) and has sent nothing for this
/// long sends one.
pub const STREAM_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);
/// Pooled connections `/multi-exec` transactions may hold at once (each holds its connection
/// for the whole transaction); more wait for one, up to the checkout timeout.
pub const MAX_TRANSACTIONS: usize = 8;
/// Prefix of the environment variable of every option: `--pool-size` is `REDIS_GATEWAY_POOL_SIZE`.
pub const ENV_PREFIX: &str = "REDIS_GATEWAY_";
/// Redis's own port: the default, and the port of an address that names none.
pub const DEFAULT_REDIS_PORT: u16 = 6379;
/// What a password is shown as, wherever the configuration is printed or logged.
const MASK: &str = "***";

/// Which HTTP API the data listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// The seed's key/value API: `GET/PUT/DELETE /KEY`, `POST /` form.
    KeyValue,
    /// Webdis's command API: `/COMMAND/arg0/…[.ext]` (see [`crate::webdis`]).
    Webdis,
    /// The Upstash Redis REST API: `POST /` JSON commands, `/pipeline`, `/multi-exec` (see
    /// [`crate::api::upstash`]); needs a token.
    Upstash,
}

impl Api {
    /// The name `--api` takes.
    pub fn name(self) -> &'static str {
        match self {
            Api::KeyValue => "keyvalue",
            Api::Webdis => "webdis",
            Api::Upstash => "upstash",
        }
    }
}

/// The gateway's bearer tokens (`--token`, `--readonly-token`): with one set, every API asks
/// for it. Never printed (see the `Debug` below).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tokens {
    /// The token that may run every command the API serves.
    pub full: Option<String>,
    /// The token that may only read (`GET`/`HEAD` on the key/value API, read-only commands on
    /// the Upstash API).
    pub readonly: Option<String>,
    /// The file `full` was read from, if it was (`--token-file`).
    pub file: Option<String>,
}

impl fmt::Debug for Tokens {
    // Never print a token: Debug output ends up in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokens")
            .field("full", &self.full.as_ref().map(|_| MASK))
            .field("readonly", &self.readonly.as_ref().map(|_| MASK))
            .field("file", &self.file)
            .finish()
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
            .field("password", &self.password.as_ref().map(|_| MASK))
            .field("db", &self.db)
            .finish()
    }
}

impl fmt::Display for RedisTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} db {}", self.host, self.port, self.db)
    }
}

/// A secret from the command line or the environment (the admin token): never printed, in
/// `Debug` output or anywhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Keeps `text` as a secret.
    pub fn new(text: String) -> Secret {
        Secret(text)
    }

    /// The secret's bytes, for a comparison.
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
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
    /// See [`DEFAULT_WATCHERS`]; 0: idle connections are only read by the poll loop.
    pub watchers: usize,
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
    /// `--admin-token`: when set, `POST /shutdown` needs `Authorization: Bearer` this token.
    pub admin_token: Option<Secret>,
    /// `--allow-origin`: the web origins (serialized, see [`crate::http::origin`]) whose pages
    /// may change data and get CORS headers; empty: none (the webdis API: any, as webdis).
    pub allow_origins: Vec<String>,
    /// The API of the data listener.
    pub api: Api,
    /// The `webdis.json` read at start-up, if any (its settings are already applied).
    pub webdis_config: Option<String>,
    /// Accept WebSocket upgrades (webdis API only).
    pub websockets: bool,
    /// `--webdis-allow-html`: serve answers a browser renders as a page (`.html`, `?type=text/html`,
    /// XML, SVG), as webdis does; off: 403.
    pub webdis_allow_html: bool,
    /// See [`MAX_STREAM_BUFFER_BYTES`].
    pub max_stream_buffer: usize,
    /// See [`MAX_MEMORY_BYTES`].
    pub max_memory: usize,
    /// See [`MAX_WS_MESSAGE_BYTES`].
    pub max_ws_message: usize,
    /// What the webdis API needs (ACL, default root, database pools); from `--webdis-config`.
    pub webdis: webdis::Settings,
    /// The bearer tokens every API asks for when set.
    pub tokens: Tokens,
    /// See [`MAX_TRANSACTIONS`].
    pub max_transactions: usize,
    /// Redis Cluster: the seeds (`--cluster`) and how requests are routed there.
    pub cluster: ClusterSettings,
    /// `--sentinel`: find the master through Redis Sentinel instead of `redis`'s address.
    pub sentinel: Sentinels,
}

impl fmt::Display for ClusterSettings {
    /// The seeds, as the start-up line names them: `cluster 10.0.0.1:7000,10.0.0.2:7000`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cluster ")?;
        for (i, (host, port)) in self.seeds.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            if host.contains(':') {
                write!(f, "{comma}[{host}]:{port}")?;
            } else {
                write!(f, "{comma}{host}:{port}")?;
            }
        }
        Ok(())
    }
}

/// How to reach a Redis Cluster (`--cluster`); with no seed the gateway talks to one Redis.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSettings {
    /// Nodes to ask for the slot map first (`host`, `port`); empty: no cluster.
    pub seeds: Vec<(String, u16)>,
    /// How long a request retries through a failover (`TRYAGAIN`, `CLUSTERDOWN`, a dead master)
    /// before 503; `None`: the cluster's `cluster-node-timeout` + 2 s as the nodes report it.
    pub retry_deadline: Option<Duration>,
    /// Split `MSET`, `MGET`, `DEL`, `EXISTS`… whose keys span several slots into one command per
    /// slot (not atomic) instead of refusing them with 409.
    pub split_multi_key: bool,
}

/// The sentinels to ask where the master is (`--sentinel`, `--sentinel-master`), and the login
/// to the sentinels themselves (not Redis's: that stays `--redis-user`/`--redis-password`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sentinels {
    /// `host:port` of each sentinel given; empty: Sentinel is not used.
    pub addrs: Vec<(String, u16)>,
    /// The name the sentinels monitor the master under.
    pub master: Option<String>,
    /// ACL user for `AUTH` to the sentinels.
    pub user: Option<String>,
    /// Password for `AUTH` to the sentinels.
    pub password: Option<Secret>,
}

impl Config {
    /// Where Redis is, as the start-up line says it: its address and database, the cluster's
    /// seeds (`cluster 10.0.0.1:7000,10.0.0.2:7000`), or the master the sentinels name
    /// (`master 'm' via sentinels h1:26379,h2:26379 db 0`).
    pub fn redis_text(&self) -> String {
        if !self.cluster.seeds.is_empty() {
            return self.cluster.to_string();
        }
        match &self.sentinel.master {
            Some(master) if !self.sentinel.addrs.is_empty() => format!(
                "master '{master}' via sentinels {} db {}",
                values::sentinel_addrs_text(&self.sentinel.addrs),
                self.redis.db
            ),
            _ => self.redis.to_string(),
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            redis: RedisTarget {
                host: "127.0.0.1".to_string(),
                port: DEFAULT_REDIS_PORT,
                user: None,
                password: None,
                db: 0,
            },
            workers: DEFAULT_WORKERS,
            pool_size: DEFAULT_POOL_SIZE,
            queue_size: DEFAULT_QUEUE_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            watchers: DEFAULT_WATCHERS,
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
            admin_token: None,
            allow_origins: Vec::new(),
            api: Api::KeyValue,
            webdis_config: None,
            websockets: false,
            webdis_allow_html: true,
            max_stream_buffer: MAX_STREAM_BUFFER_BYTES,
            max_memory: MAX_MEMORY_BYTES,
            max_ws_message: MAX_WS_MESSAGE_BYTES,
            webdis: webdis::Settings::default(),
            tokens: Tokens::default(),
            max_transactions: MAX_TRANSACTIONS,
            cluster: ClusterSettings::default(),
            sentinel: Sentinels::default(),
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
