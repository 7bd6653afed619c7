//! Webdis's command API (`--api webdis`): `/COMMAND/arg/…[.ext]` over HTTP, its output formats
//! and its ACL. Everything here is pure; `api::webdis` serves it.
//!
//! * [`command`]: the path (or a `POST` body) → database, arguments, format.
//! * [`mod@format`]: a Redis reply → JSON, JSONP, MessagePack, raw RESP or a plain value.
//! * [`acl`]: which client may run which command.
//! * [`md5`] (the `ETag`), [`msgpack`] (the `.msg` writer).
//!
//! This module knows nothing of the gateway's configuration: the configuration reads webdis's
//! `webdis.json` into [`Settings`] (and the rest of its options), never the other way round.

pub mod acl;
pub mod command;
pub mod format;
pub mod md5;
pub mod msgpack;

/// Highest database number a `/DB/…` prefix may name by default: Redis has 16 databases
/// (`databases 16`) unless configured otherwise.
pub const MAX_DB: u32 = 15;
/// Connections kept open for each database other than the configured one, once a `/DB/…` prefix
/// has used it.
pub const DB_POOL_SIZE: usize = 2;
/// Default most pools of databases other than the configured one open at once.
pub const MAX_DB_POOLS: usize = 16;

/// What `--api webdis` needs beyond the common configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The ACL rules, in order.
    pub acl: Vec<acl::Rule>,
    /// What `GET /` runs, e.g. `/GET/index.html`.
    pub default_root: Option<String>,
    /// Highest database number of a `/DB/…` prefix.
    pub max_db: u32,
    /// Connections per extra database pool.
    pub db_pool_size: usize,
    /// Most pools of other databases open at once (each has a thread).
    pub max_db_pools: usize,
    /// Lines to log at start-up about `webdis.json` keys the gateway does not use.
    pub notes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            acl: Vec::new(),
            default_root: None,
            max_db: MAX_DB,
            db_pool_size: DB_POOL_SIZE,
            max_db_pools: MAX_DB_POOLS,
            notes: Vec::new(),
        }
    }
}

/// Why a command cannot run over the shared pooled connections, or `None` when it can.
///
/// Each pooled connection serves many clients one command at a time, so a command that leaves
/// state on the connection (a transaction, another database, other credentials, a subscription)
/// or holds it (blocking pops, `MONITOR`) would leak into other clients' requests.
pub fn refusal(command: &[u8]) -> Option<&'static str> {
    let upper = command.to_ascii_uppercase();
    let why = match upper.as_slice() {
        b"MULTI" | b"EXEC" | b"DISCARD" | b"WATCH" | b"UNWATCH" => {
            "transactions need a connection of their own; send the commands one by one"
        }
        b"SELECT" => "use a database prefix instead: /7/GET/key runs GET key on database 7",
        b"AUTH" | b"HELLO" | b"RESET" | b"QUIT" | b"CLIENT" | b"READONLY" | b"READWRITE"
        | b"ASKING" => "it changes the state of a shared Redis connection",
        b"UNSUBSCRIBE" | b"PUNSUBSCRIBE" | b"SUNSUBSCRIBE" => {
            "over HTTP a subscription ends when its stream is closed (a WebSocket may unsubscribe)"
        }
        b"SSUBSCRIBE" => "sharded pub/sub is not supported; use SUBSCRIBE",
        b"MONITOR" | b"SYNC" | b"PSYNC" | b"REPLCONF" => "it takes over a Redis connection",
        b"BLPOP" | b"BRPOP" | b"BRPOPLPUSH" | b"BLMOVE" | b"BLMPOP" | b"BZPOPMIN" | b"BZPOPMAX"
        | b"BZMPOP" | b"WAIT" | b"WAITAOF" => {
            "blocking commands would hold a shared Redis connection; use the non-blocking form"
        }
        _ => return None,
    };
    Some(why)
}

/// True when the arguments of `XREAD`/`XREADGROUP` ask to block (`BLOCK ms`).
pub fn blocks(args: &[impl AsRef<[u8]>]) -> bool {
    let name = args.first().map(AsRef::as_ref).unwrap_or_default();
    (name.eq_ignore_ascii_case(b"XREAD") || name.eq_ignore_ascii_case(b"XREADGROUP"))
        && args
            .iter()
            .skip(1)
            .any(|a| a.as_ref().eq_ignore_ascii_case(b"BLOCK"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_changing_commands_are_refused_in_any_case() {
        for c in [
            "MULTI",
            "exec",
            "Select",
            "AUTH",
            "HELLO",
            "CLIENT",
            "MONITOR",
            "BLPOP",
            "unsubscribe",
        ] {
            assert!(refusal(c.as_bytes()).is_some(), "{c}");
        }
        for c in ["GET", "SET", "INFO", "EVAL", "XREAD", "PUBLISH", "client2"] {
            assert!(refusal(c.as_bytes()).is_none(), "{c}");
        }
        assert!(blocks(&["XREAD", "block", "0", "STREAMS", "s", "$"]));
        assert!(!blocks(&["XREAD", "COUNT", "1", "STREAMS", "s", "0"]));
        assert!(!blocks(&["GET", "BLOCK"]));
    }
}
