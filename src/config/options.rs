//! THE list of options: one row per option that takes a value, in one table, [`OPTIONS`].
//!
//! Everything that names an option is made from this table: the flag lookup and the environment
//! variables of [`parse_args`](super::parse_args), the option columns of `--help` and the lines of
//! `--print-config` (both in `help.rs`). Adding an option is adding one row here (and its field to
//! [`Config`], with its default). Three things are not rows, because they take no value and set
//! nothing: `--help`, `--version` and `--print-config`; `parse_args` knows them by name.
//!
//! The rows are in the order `parse_args` reads the environment and `--print-config` prints; each
//! section of `--help` lists its rows in this order too. Order matters in one place: a `redis://`
//! URL in `REDIS_GATEWAY_REDIS` is read before `REDIS_GATEWAY_REDIS_USER`/`_PASSWORD`, which win.
//!
//! Must never: hold state or read the environment itself (that is `args.rs`), or print.

use super::values::{
    api, bytes, cluster_seeds, cluster_seeds_text, count, duration, duration_or_auto,
    duration_or_auto_text, duration_text, listen_addr, log_level, optional, redis_address_text,
    redis_target, sentinel_addrs, sentinel_addrs_text, switch, switch_text, whole, Expected,
    MAX_DATABASE,
};
use super::{Api, Config, Secret, ENV_PREFIX, MASK};
use crate::http::origin;

/// One option that takes a value: `--flag ARG`, or `REDIS_GATEWAY_<FLAG>` in the environment.
pub struct Opt {
    /// The flag, e.g. `--pool-size`; its environment variable is made from it by [`env_var`].
    pub flag: &'static str,
    /// What the value is, as `--help` names it, e.g. `N`, `T`, `ADDR:PORT`.
    pub arg: &'static str,
    /// The help text: one line, or several separated by `\n`.
    pub help: &'static str,
    /// The `--help` section the option is listed in.
    pub section: Section,
    /// What `--help` shows in brackets as the default.
    pub default: Shown,
    /// Reads the value into the configuration, or says what it expected instead.
    pub set: fn(&mut Config, &str) -> Result<(), Expected>,
    /// The value in the configuration as `set` reads it (a password masked): for `--print-config`
    /// and, of `Config::default()`, for `--help`.
    pub show: fn(&Config) -> String,
}

/// A group of options in `--help`, listed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// Where to listen, where Redis is, and how many threads and connections.
    General,
    /// Sizes and counts of a request and a reply.
    Limits,
    /// Every timeout.
    Timeouts,
    /// Logs and the admin listener.
    Operations,
    /// What only the webdis API uses.
    Webdis,
}

impl Section {
    /// Every section, in the order `--help` lists them.
    pub const ALL: [Section; 5] = [
        Section::General,
        Section::Limits,
        Section::Timeouts,
        Section::Operations,
        Section::Webdis,
    ];

    /// The line `--help` writes above the section's options.
    pub fn heading(self) -> &'static str {
        match self {
            Section::General => "OPTIONS (every option takes '--name value' or '--name=value'):",
            Section::Limits => "  Limits (BYTES: 1048576, 512KiB, 32MiB or 1GiB; N: a count):",
            Section::Timeouts => "  Timeouts (10s, 500ms, 2m, or a number of seconds):",
            Section::Operations => "  Operations:",
            Section::Webdis => "  Webdis and Upstash APIs:",
        }
    }
}

/// What `--help` shows in brackets after an option's help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// What `show` gives for `Config::default()`, e.g. `[40]`; nothing when that is empty.
    Value,
    /// This text, for a default that `show` gives as empty, e.g. `[off]`.
    Stated(&'static str),
}

/// Stores a value read by one of the `values` readers in a field of the configuration.
fn put<T>(field: &mut T, value: Result<T, Expected>) -> Result<(), Expected> {
    *field = value?;
    Ok(())
}

/// A secret as `--print-config` shows it: masked when set.
fn masked(secret: &Option<String>) -> String {
    match secret {
        Some(_) => MASK.to_string(),
        None => String::new(),
    }
}

/// The token in a `--token-file`: its first line, which must not be empty.
fn token_file(path: &str) -> Result<String, Expected> {
    const BAD: Expected = "a readable file whose first line is the token";
    let text = std::fs::read_to_string(path).map_err(|_| BAD)?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        return Err(BAD);
    }
    Ok(token.to_string())
}

/// Every option that takes a value.
pub static OPTIONS: &[Opt] = &[
    // ----- General -----
    Opt {
        flag: "--listen",
        arg: "ADDR:PORT",
        help: "HTTP listen address",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.listen, listen_addr(v)),
        show: |cfg| cfg.listen.to_string(),
    },
    Opt {
        flag: "--redis",
        arg: "HOST:PORT|URL",
        help: "Redis address, or redis://[[user]:password@]host[:port][/db]",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| redis_target(&mut cfg.redis, v),
        // Host and port only: the user, password and database have rows of their own.
        show: |cfg| redis_address_text(&cfg.redis),
    },
    Opt {
        flag: "--redis-user",
        arg: "NAME",
        help: "ACL user for AUTH (needs a password)",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| {
            cfg.redis.user = optional(v);
            Ok(())
        },
        show: |cfg| cfg.redis.user.clone().unwrap_or_default(),
    },
    Opt {
        flag: "--redis-password",
        arg: "PASS",
        help: "Redis password; better: the REDIS_PASSWORD environment\n\
               variable, which does not show in the process list",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| {
            cfg.redis.password = optional(v);
            Ok(())
        },
        show: |cfg| match cfg.redis.password {
            Some(_) => MASK.to_string(),
            None => String::new(),
        },
    },
    Opt {
        flag: "--token",
        arg: "T",
        help: "bearer token every API asks for (Authorization: Bearer T);\n\
               required by --api upstash; better: REDIS_GATEWAY_TOKEN",
        section: Section::General,
        default: Shown::Stated("none"),
        set: |cfg, v| {
            cfg.tokens.full = optional(v);
            Ok(())
        },
        show: |cfg| masked(&cfg.tokens.full),
    },
    Opt {
        flag: "--token-file",
        arg: "FILE",
        help: "read --token from this file (one line)",
        section: Section::General,
        default: Shown::Stated("none"),
        set: |cfg, v| {
            cfg.tokens.file = optional(v);
            if let Some(path) = &cfg.tokens.file {
                cfg.tokens.full = Some(token_file(path)?);
            }
            Ok(())
        },
        show: |cfg| cfg.tokens.file.clone().unwrap_or_default(),
    },
    Opt {
        flag: "--readonly-token",
        arg: "T",
        help: "a second token that may only read",
        section: Section::General,
        default: Shown::Stated("none"),
        set: |cfg, v| {
            cfg.tokens.readonly = optional(v);
            Ok(())
        },
        show: |cfg| masked(&cfg.tokens.readonly),
    },
    Opt {
        flag: "--sentinel",
        arg: "HOST:PORT,...",
        help: "find the master through these Redis Sentinels (and follow\n\
               its failovers) instead of --redis's address; needs\n\
               --sentinel-master",
        section: Section::General,
        default: Shown::Stated("off"),
        set: |cfg, v| put(&mut cfg.sentinel.addrs, sentinel_addrs(v)),
        show: |cfg| sentinel_addrs_text(&cfg.sentinel.addrs),
    },
    Opt {
        flag: "--sentinel-master",
        arg: "NAME",
        help: "the master's name in the sentinels' config",
        section: Section::General,
        default: Shown::Stated("none"),
        set: |cfg, v| {
            cfg.sentinel.master = optional(v);
            Ok(())
        },
        show: |cfg| cfg.sentinel.master.clone().unwrap_or_default(),
    },
    Opt {
        flag: "--sentinel-user",
        arg: "NAME",
        help: "ACL user for AUTH to the sentinels",
        section: Section::General,
        default: Shown::Stated("none"),
        set: |cfg, v| {
            cfg.sentinel.user = optional(v);
            Ok(())
        },
        show: |cfg| cfg.sentinel.user.clone().unwrap_or_default(),
    },
    Opt {
        flag: "--sentinel-password",
        arg: "PASS",
        help: "password for AUTH to the sentinels (not to Redis);\n\
               better: REDIS_GATEWAY_SENTINEL_PASSWORD",
        section: Section::General,
        default: Shown::Stated("none"),
        set: |cfg, v| {
            cfg.sentinel.password = optional(v).map(Secret::new);
            Ok(())
        },
        show: |cfg| match cfg.sentinel.password {
            Some(_) => MASK.to_string(),
            None => String::new(),
        },
    },
    Opt {
        flag: "--db",
        arg: "N",
        help: "Redis database number",
        section: Section::General,
        default: Shown::Value,
        // `parse_args` makes it win over a database in a `redis://` URL, whatever their order.
        set: |cfg, v| put(&mut cfg.redis.db, whole(v, 0, MAX_DATABASE)),
        show: |cfg| cfg.redis.db.to_string(),
    },
    Opt {
        flag: "--cluster",
        arg: "HOST:PORT,...",
        help: "Redis Cluster seed nodes (instead of --redis);\n\
               AUTH as for one Redis; database 0 only",
        section: Section::General,
        default: Shown::Stated("off"),
        set: |cfg, v| put(&mut cfg.cluster.seeds, cluster_seeds(v)),
        show: |cfg| cluster_seeds_text(&cfg.cluster.seeds),
    },
    Opt {
        flag: "--cluster-split-multi-key",
        arg: "on|off",
        help: "cluster: split MSET/MGET/DEL/EXISTS across slots\n\
               (NOT atomic); off: 409 naming {hash tags}",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.cluster.split_multi_key, switch(v)),
        show: |cfg| switch_text(cfg.cluster.split_multi_key),
    },
    Opt {
        flag: "--workers",
        arg: "N",
        help: "worker threads",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.workers, count(v, 1024)),
        show: |cfg| cfg.workers.to_string(),
    },
    Opt {
        flag: "--pool-size",
        arg: "N",
        help: "pooled Redis connections",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.pool_size, count(v, 10_000)),
        show: |cfg| cfg.pool_size.to_string(),
    },
    Opt {
        flag: "--queue-size",
        arg: "N",
        help: "task queue bound; full for 1s: 503",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.queue_size, count(v, 1 << 20)),
        show: |cfg| cfg.queue_size.to_string(),
    },
    Opt {
        flag: "--max-connections",
        arg: "N",
        help: "open client connections; beyond: 503",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_connections, count(v, 1 << 20)),
        show: |cfg| cfg.max_connections.to_string(),
    },
    Opt {
        flag: "--watchers",
        arg: "N",
        help: "threads waiting on idle connections; 0: none",
        section: Section::General,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.watchers, whole(v, 0, 1 << 20)),
        show: |cfg| cfg.watchers.to_string(),
    },
    // ----- Limits -----
    Opt {
        flag: "--max-request-line",
        arg: "BYTES",
        help: "request line; longer: 414",
        section: Section::Limits,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_request_line, bytes(v, 1 << 20)),
        show: |cfg| cfg.max_request_line.to_string(),
    },
    Opt {
        flag: "--max-head-bytes",
        arg: "BYTES",
        help: "header block; larger: 431",
        section: Section::Limits,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_head_bytes, bytes(v, 1 << 24)),
        show: |cfg| cfg.max_head_bytes.to_string(),
    },
    Opt {
        flag: "--max-headers",
        arg: "N",
        help: "header fields; more: 431",
        section: Section::Limits,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_headers, count(v, 10_000)),
        show: |cfg| cfg.max_headers.to_string(),
    },
    Opt {
        flag: "--max-body-bytes",
        arg: "BYTES",
        help: "request body; larger: 413",
        section: Section::Limits,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_body_bytes, bytes(v, 1 << 32)),
        show: |cfg| cfg.max_body_bytes.to_string(),
    },
    Opt {
        flag: "--max-reply-bytes",
        arg: "BYTES",
        help: "Redis reply; larger: 502",
        section: Section::Limits,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_reply_bytes, bytes(v, 1 << 32)),
        show: |cfg| cfg.max_reply_bytes.to_string(),
    },
    Opt {
        flag: "--max-memory",
        arg: "BYTES",
        help: "client and Redis buffers, all connections\n\
               together; past it: 503",
        section: Section::Limits,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_memory, bytes(v, 1 << 40)),
        show: |cfg| cfg.max_memory.to_string(),
    },
    // ----- Timeouts -----
    Opt {
        flag: "--header-timeout",
        arg: "T",
        help: "request head must arrive within; 408",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.header_timeout, duration(v)),
        show: |cfg| duration_text(cfg.header_timeout),
    },
    Opt {
        flag: "--body-timeout",
        arg: "T",
        help: "longest pause inside a body; 408",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.body_timeout, duration(v)),
        show: |cfg| duration_text(cfg.body_timeout),
    },
    Opt {
        flag: "--idle-timeout",
        arg: "T",
        help: "keep-alive connection idle; closed",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.idle_timeout, duration(v)),
        show: |cfg| duration_text(cfg.idle_timeout),
    },
    Opt {
        flag: "--write-timeout",
        arg: "T",
        help: "client reads none of its response; closed",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.write_timeout, duration(v)),
        show: |cfg| duration_text(cfg.write_timeout),
    },
    Opt {
        flag: "--redis-connect-timeout",
        arg: "T",
        help: "connecting to Redis",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.redis_connect_timeout, duration(v)),
        show: |cfg| duration_text(cfg.redis_connect_timeout),
    },
    Opt {
        flag: "--redis-timeout",
        arg: "T",
        help: "waiting for a Redis reply; 504",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.redis_timeout, duration(v)),
        show: |cfg| duration_text(cfg.redis_timeout),
    },
    Opt {
        flag: "--cluster-retry-deadline",
        arg: "T|auto",
        help: "cluster: retry through a failover, then 503;\n\
               auto: cluster-node-timeout + 2s",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.cluster.retry_deadline, duration_or_auto(v)),
        show: |cfg| duration_or_auto_text(cfg.cluster.retry_deadline),
    },
    Opt {
        flag: "--checkout-timeout",
        arg: "T",
        help: "waiting for a free Redis connection; 503",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.checkout_timeout, duration(v)),
        show: |cfg| duration_text(cfg.checkout_timeout),
    },
    Opt {
        flag: "--ping-interval",
        arg: "T",
        help: "PING a pooled connection idle longer",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.ping_interval, duration(v)),
        show: |cfg| duration_text(cfg.ping_interval),
    },
    Opt {
        flag: "--drain-timeout",
        arg: "T",
        help: "POST /shutdown: in-flight requests get",
        section: Section::Timeouts,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.drain_timeout, duration(v)),
        show: |cfg| duration_text(cfg.drain_timeout),
    },
    // ----- Operations -----
    Opt {
        flag: "--log-level",
        arg: "LEVEL",
        help: "error, warn, info or debug",
        section: Section::Operations,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.log_level, log_level(v)),
        show: |cfg| cfg.log_level.name().to_string(),
    },
    Opt {
        flag: "--access-log",
        arg: "stderr|PATH",
        help: "one line per request (Common Log Format + µs)",
        section: Section::Operations,
        default: Shown::Stated("off"),
        set: |cfg, v| {
            cfg.access_log = optional(v);
            Ok(())
        },
        show: |cfg| cfg.access_log.clone().unwrap_or_default(),
    },
    Opt {
        flag: "--admin",
        arg: "ADDR:PORT",
        help: "admin listener: /healthz /metrics /shutdown",
        section: Section::Operations,
        default: Shown::Stated("off"),
        set: |cfg, v| {
            cfg.admin = match v {
                "" => None,
                _ => Some(listen_addr(v)?),
            };
            Ok(())
        },
        show: |cfg| cfg.admin.map(|a| a.to_string()).unwrap_or_default(),
    },
    Opt {
        flag: "--admin-token",
        arg: "T",
        help: "POST /shutdown needs 'Authorization: Bearer T'\n\
               (else: the header 'X-Redis-Gateway: shutdown')",
        section: Section::Operations,
        default: Shown::Stated("off"),
        set: |cfg, v| {
            cfg.admin_token = optional(v).map(Secret::new);
            Ok(())
        },
        show: |cfg| match cfg.admin_token {
            Some(_) => MASK.to_string(),
            None => String::new(),
        },
    },
    Opt {
        flag: "--allow-origin",
        arg: "ORIGIN,...",
        help: "pages of these origins may write, and get CORS;\n\
               other pages' PUT/POST/DELETE get 403\n\
               (e.g. https://app.example,http://localhost:3000)",
        section: Section::Operations,
        default: Shown::Stated("none; webdis: any"),
        set: |cfg, v| {
            cfg.allow_origins = origin::parse_list(v).map_err(|_| {
                "comma-separated origins like https://app.example or http://localhost:3000"
            })?;
            Ok(())
        },
        show: |cfg| cfg.allow_origins.join(","),
    },
    // ----- Webdis API -----
    Opt {
        flag: "--api",
        arg: "keyvalue|webdis|upstash",
        help: "the API of the HTTP listener",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.api, api(v)),
        show: |cfg| cfg.api.name().to_string(),
    },
    Opt {
        flag: "--webdis-config",
        arg: "FILE",
        help: "read webdis's webdis.json; implies --api webdis\n\
               (the environment and flags win over the file)",
        section: Section::Webdis,
        default: Shown::Value,
        // `parse_args` reads the file before everything else, so that the rest can override what
        // it says; here, giving one only selects the webdis API. When `--print-config` lines are
        // read back, the file still comes first and its ACL and default_root (which no option
        // holds) still apply.
        set: |cfg, v| {
            if !v.is_empty() {
                cfg.api = Api::Webdis;
            }
            Ok(())
        },
        show: |cfg| cfg.webdis_config.clone().unwrap_or_default(),
    },
    Opt {
        flag: "--max-db",
        arg: "N",
        help: "highest database a /DB/... prefix names",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.webdis.max_db, whole(v, 0, MAX_DATABASE)),
        show: |cfg| cfg.webdis.max_db.to_string(),
    },
    Opt {
        flag: "--db-pool-size",
        arg: "N",
        help: "connections per other database in use",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.webdis.db_pool_size, count(v, 64)),
        show: |cfg| cfg.webdis.db_pool_size.to_string(),
    },
    Opt {
        flag: "--max-db-pools",
        arg: "N",
        help: "most other-database pools open at once\n\
               (each has a thread); beyond: the least\n\
               recently used idle one is closed, or 503",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.webdis.max_db_pools, count(v, 1024)),
        show: |cfg| cfg.webdis.max_db_pools.to_string(),
    },
    Opt {
        flag: "--websockets",
        arg: "on|off",
        help: "WebSockets on any path: RESP when it ends in .raw (/.raw), JSON otherwise (/.json)",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.websockets, switch(v)),
        show: |cfg| switch_text(cfg.websockets),
    },
    Opt {
        flag: "--webdis-allow-html",
        arg: "on|off",
        help: "serve .html .xhtml .xml and ?type= HTML/XML/SVG (as webdis);\n\
               off: 403, so no stored value runs as a page of this origin",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.webdis_allow_html, switch(v)),
        show: |cfg| switch_text(cfg.webdis_allow_html),
    },
    Opt {
        flag: "--max-transactions",
        arg: "N",
        help: "pooled connections /multi-exec may hold at once (upstash)",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_transactions, count(v, 1024)),
        show: |cfg| cfg.max_transactions.to_string(),
    },
    Opt {
        flag: "--max-stream-buffer",
        arg: "BYTES",
        help: "bytes a stream may hold for a client that\n\
               does not read; beyond: disconnected",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_stream_buffer, bytes(v, 1 << 30)),
        show: |cfg| cfg.max_stream_buffer.to_string(),
    },
    Opt {
        flag: "--max-ws-message",
        arg: "BYTES",
        help: "WebSocket message; larger: close 1009",
        section: Section::Webdis,
        default: Shown::Value,
        set: |cfg, v| put(&mut cfg.max_ws_message, bytes(v, 1 << 30)),
        show: |cfg| cfg.max_ws_message.to_string(),
    },
];

/// The option whose flag is `flag`, e.g. `--pool-size`.
pub fn find(flag: &str) -> Option<&'static Opt> {
    OPTIONS.iter().find(|opt| opt.flag == flag)
}

/// The environment variable of a flag: `--pool-size` → `REDIS_GATEWAY_POOL_SIZE`.
pub fn env_var(flag: &str) -> String {
    let name = flag
        .trim_start_matches('-')
        .replace('-', "_")
        .to_ascii_uppercase();
    format!("{ENV_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flag_has_an_environment_variable() {
        assert_eq!(env_var("--pool-size"), "REDIS_GATEWAY_POOL_SIZE");
        assert_eq!(env_var("--listen"), "REDIS_GATEWAY_LISTEN");
        assert_eq!(env_var("--max-body-bytes"), "REDIS_GATEWAY_MAX_BODY_BYTES");
    }

    #[test]
    fn flags_are_well_formed_and_each_is_one_row() {
        for (i, opt) in OPTIONS.iter().enumerate() {
            let name = opt.flag.strip_prefix("--").unwrap_or("");
            assert!(
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{}",
                opt.flag
            );
            assert!(!opt.arg.is_empty(), "{} names no value", opt.flag);
            assert!(
                OPTIONS[i + 1..].iter().all(|o| o.flag != opt.flag),
                "{} has two rows",
                opt.flag
            );
            assert!(find(opt.flag).is_some_and(|o| std::ptr::eq(o, opt)));
        }
        // The three flags that take no value are not rows: `parse_args` knows them by name.
        for flag in ["--help", "--version", "--print-config"] {
            assert!(find(flag).is_none(), "{flag}");
        }
    }

    #[test]
    fn every_default_reads_back_as_itself() {
        let defaults = Config::default();
        for opt in OPTIONS {
            let mut cfg = Config::default();
            let shown = (opt.show)(&defaults);
            assert_eq!(
                (opt.set)(&mut cfg, &shown),
                Ok(()),
                "{} {shown:?}",
                opt.flag
            );
            assert_eq!(cfg, defaults, "{} {shown:?}", opt.flag);
        }
    }

    #[test]
    fn a_changed_value_shows_as_it_was_given() {
        let cases: &[(&str, &str)] = &[
            ("--listen", "0.0.0.0:7379"),
            ("--redis", "[::1]:7000"),
            ("--redis-user", "bob"),
            ("--db", "3"),
            ("--workers", "2"),
            ("--idle-timeout", "1500ms"),
            ("--log-level", "debug"),
            ("--access-log", "stderr"),
            ("--admin", "127.0.0.1:9090"),
            ("--allow-origin", "https://a.example,http://localhost:3000"),
            ("--api", "webdis"),
            ("--max-db", "0"),
            ("--websockets", "on"),
            ("--webdis-allow-html", "off"),
            ("--max-ws-message", "1"),
            ("--api", "upstash"),
            ("--allow-origin", "https://a.example,https://b.example"),
            ("--max-transactions", "3"),
            ("--cluster", "10.0.0.1:7000,[::1]:7001"),
            ("--cluster-retry-deadline", "3s"),
            ("--cluster-split-multi-key", "on"),
            ("--sentinel", "10.0.0.1:26379,[::1]:26380"),
            ("--sentinel-master", "mymaster"),
            ("--sentinel-user", "watcher"),
        ];
        for (flag, value) in cases {
            let opt = find(flag).unwrap();
            let mut cfg = Config::default();
            (opt.set)(&mut cfg, value).unwrap();
            assert_eq!((opt.show)(&cfg), *value, "{flag}");
        }
        let password = find("--redis-password").unwrap();
        let mut cfg = Config::default();
        (password.set)(&mut cfg, "hunter2").unwrap();
        assert_eq!((password.show)(&cfg), MASK);
        let token = find("--admin-token").unwrap();
        (token.set)(&mut cfg, "s3cret").unwrap();
        assert_eq!((token.show)(&cfg), MASK);
        assert!(!format!("{cfg:?}").contains("s3cret"));
        let sentinel = find("--sentinel-password").unwrap();
        (sentinel.set)(&mut cfg, "s3ntinel").unwrap();
        assert_eq!((sentinel.show)(&cfg), MASK);
        assert!(!format!("{cfg:?}").contains("s3ntinel"));
    }

    #[test]
    fn sentinels_default_to_port_26379_and_a_bad_list_is_refused() {
        let opt = find("--sentinel").unwrap();
        let mut cfg = Config::default();
        (opt.set)(&mut cfg, "a.example, b.example:5000").unwrap();
        let want = [
            ("a.example".to_string(), 26379),
            ("b.example".to_string(), 5000),
        ];
        assert_eq!(cfg.sentinel.addrs, want);
        for bad in ["a.example:0", "a:b", ",", "h:1,"] {
            assert!((opt.set)(&mut cfg, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn allowed_origins_are_checked_when_read() {
        let opt = find("--allow-origin").unwrap();
        let mut cfg = Config::default();
        assert!((opt.set)(&mut cfg, "https://a.example/path").is_err());
        assert!((opt.set)(&mut cfg, "*").is_err());
        (opt.set)(&mut cfg, "HTTPS://A.example:443").unwrap();
        assert_eq!(cfg.allow_origins, ["https://a.example"]);
    }

    #[test]
    fn tokens_are_masked() {
        for flag in ["--token", "--readonly-token"] {
            let token = find(flag).unwrap();
            let mut cfg = Config::default();
            (token.set)(&mut cfg, "s3cret").unwrap();
            assert_eq!((token.show)(&cfg), MASK, "{flag}");
            assert!(!format!("{cfg:?}").contains("s3cret"), "{flag} in Debug");
        }
    }

    #[test]
    fn a_token_file_gives_its_first_line_and_an_empty_or_missing_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("gateway-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        let opt = find("--token-file").unwrap();
        std::fs::write(&file, "  t0k3n \nsecond line\n").unwrap();
        let mut cfg = Config::default();
        (opt.set)(&mut cfg, file.to_str().unwrap()).unwrap();
        assert_eq!(cfg.tokens.full.as_deref(), Some("t0k3n"));
        std::fs::write(&file, "\n").unwrap();
        assert!((opt.set)(&mut Config::default(), file.to_str().unwrap()).is_err());
        assert!((opt.set)(&mut Config::default(), dir.join("none").to_str().unwrap()).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_section_has_options() {
        for section in Section::ALL {
            assert!(OPTIONS.iter().any(|o| o.section == section), "{section:?}");
        }
    }
}
