//! Reading webdis's own `webdis.json` into the gateway's configuration (`--webdis-config FILE`).
//!
//! | key | becomes |
//! |-----|---------|
//! | `redis_host`, `redis_port`, `database` | the Redis address and database |
//! | `redis_auth` | a password, or `[user, password]` |
//! | `http_host`, `http_port` | the listen address |
//! | `http_max_request_size` | `--max-body-bytes` |
//! | `acl`, `default_root` | the webdis API's ACL and what `/` runs |
//! | `verbosity` | the log level: 0 error, 1 warn, 2–3 info, 4 and above debug |
//! | `websockets` | `--websockets` |
//! | `threads`, `pool_size`, `logfile`, `daemonize`, `pidfile`, `user`, `group`, `log_fsync`, `hiredis` | not used; a start-up line says so and what to use instead |
//! | `ssl` with `"enabled": true`, a UNIX socket `redis_host` | refused: not supported |
//!
//! A string value written `"$NAME"` (capitals, digits, `_`) is read from the environment variable
//! `NAME`, as webdis does. Unknown keys are reported, not fatal. The file is parsed with the
//! JSON limits of [`crate::json::parse::Limits::DEFAULT`].
//!
//! It lives in `config`, not in `webdis`, because it writes a [`Config`]: `config` may use webdis's
//! data types ([`Rule`], [`crate::webdis::Settings`]), but nothing in `webdis` may use `config`.

use std::net::{IpAddr, SocketAddr};

use super::{Api, Config};
use crate::json::parse::{parse, Limits};
use crate::json::value::{Number, Value};
use crate::log::Level;
use crate::webdis::acl::{Cidr, Rule};

/// Applies the webdis configuration `text` to `cfg` and selects the webdis API. `env` reads
/// environment variables for `"$NAME"` values.
///
/// # Errors
///
/// A sentence naming the key and what is wrong (or the JSON error with its line and column).
pub fn apply(
    text: &[u8],
    cfg: &mut Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let root = parse(text, &Limits::DEFAULT).map_err(|e| e.to_string())?;
    let Value::Object(members) = root else {
        return Err("the file must hold one JSON object".into());
    };
    cfg.api = Api::Webdis;
    let mut http_host: Option<IpAddr> = None;
    let mut http_port: Option<u16> = None;
    for (key, value) in &members {
        let value = &expand(value, env).map_err(|e| format!("\"{key}\": {e}"))?;
        let bad = |expected: &str| format!("\"{key}\" must be {expected}");
        match key.as_str() {
            "redis_host" => {
                let host = value.as_str().ok_or_else(|| bad("a string"))?;
                if host.starts_with('/') {
                    return Err(format!(
                        "\"redis_host\": UNIX sockets ({host}) are not supported; use Redis's TCP port"
                    ));
                }
                cfg.redis.host = host.to_string();
            }
            "redis_port" => cfg.redis.port = port(value).ok_or_else(|| bad("a port number"))?,
            "redis_auth" => match value {
                Value::Null => {}
                Value::String(password) => {
                    cfg.redis.user = None;
                    cfg.redis.password = Some(password.clone());
                }
                Value::Array(pair) => match pair.as_slice() {
                    [Value::String(user), Value::String(password)] => {
                        cfg.redis.user = Some(user.clone());
                        cfg.redis.password = Some(password.clone());
                    }
                    _ => return Err(bad("a password or [\"user\", \"password\"]")),
                },
                _ => return Err(bad("a password or [\"user\", \"password\"]")),
            },
            "database" => {
                cfg.redis.db = integer(value)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("a database number"))?;
            }
            "http_host" => {
                let host = value.as_str().ok_or_else(|| bad("an IP address"))?;
                http_host = Some(host.parse().map_err(|_| bad("an IP address"))?);
            }
            "http_port" => http_port = Some(port(value).ok_or_else(|| bad("a port number"))?),
            "http_max_request_size" => {
                cfg.max_body_bytes = integer(value)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("a positive number of bytes"))?;
            }
            "default_root" => {
                let root = value.as_str().ok_or_else(|| bad("a path such as /GET/index.html"))?;
                cfg.webdis.default_root = Some(root.to_string());
            }
            "verbosity" => {
                cfg.log_level = match integer(value).ok_or_else(|| bad("a number"))? {
                    i64::MIN..=0 => Level::Error,
                    1 => Level::Warn,
                    2 | 3 => Level::Info,
                    _ => Level::Debug,
                };
            }
            "acl" => cfg.webdis.acl = acl(value)?,
            "ssl" if value.get("enabled").and_then(Value::as_bool) == Some(true) => {
                return Err("\"ssl\": TLS to Redis is not supported; use a local TLS tunnel \
                            (e.g. stunnel) and point redis_host at it"
                    .into());
            }
            "ssl" => {}
            "threads" | "pool_size" => cfg.webdis.notes.push(format!(
                "webdis.json \"{key}\" is not used: the gateway runs --workers {} and --pool-size {}",
                cfg.workers, cfg.pool_size
            )),
            "logfile" => cfg.webdis.notes.push(
                "webdis.json \"logfile\" is not used: the gateway logs to stderr \
                 (redirect it, or let the service manager collect it)"
                    .into(),
            ),
            "daemonize" | "pidfile" | "user" | "group" => cfg.webdis.notes.push(format!(
                "webdis.json \"{key}\" is not used: the gateway runs in the foreground as the \
                 user that starts it (use the service manager for that)"
            )),
            "websockets" => {
                cfg.websockets = value.as_bool().ok_or_else(|| bad("true or false"))?;
            }
            "log_fsync" | "hiredis" => cfg
                .webdis
                .notes
                .push(format!("webdis.json \"{key}\" is not supported and is ignored")),
            _ => cfg
                .webdis
                .notes
                .push(format!("webdis.json: unknown key \"{key}\" ignored")),
        }
    }
    if http_host.is_some() || http_port.is_some() {
        let ip = http_host.unwrap_or_else(|| cfg.listen.ip());
        let port = http_port.unwrap_or(7379);
        cfg.listen = SocketAddr::new(ip, port);
    }
    Ok(())
}

/// A `"$NAME"` string replaced by the environment variable `NAME`.
fn expand(value: &Value, env: &dyn Fn(&str) -> Option<String>) -> Result<Value, String> {
    let Value::String(text) = value else {
        return Ok(value.clone());
    };
    let Some(name) = text.strip_prefix('$') else {
        return Ok(value.clone());
    };
    let is_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if !is_name {
        return Ok(value.clone());
    }
    env(name)
        .map(Value::String)
        .ok_or_else(|| format!("environment variable {name} is not set"))
}

/// A whole number, or a string of one (what an environment variable gives).
fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(Number::Int(n)) => Some(*n),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

fn port(value: &Value) -> Option<u16> {
    integer(value)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|p| *p > 0)
}

/// The `acl` array: each entry an object with optional `ip`, `http_basic_auth`, `enabled`,
/// `disabled`.
fn acl(value: &Value) -> Result<Vec<Rule>, String> {
    let entries = value
        .as_array()
        .ok_or("\"acl\" must be an array of rules")?;
    if entries.len() > super::MAX_ACL_RULES {
        return Err(format!(
            "\"acl\" holds {} rules; at most {} are allowed (every request walks them all)",
            entries.len(),
            super::MAX_ACL_RULES
        ));
    }
    let mut rules = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let Value::Object(members) = entry else {
            return Err(format!("acl rule {} must be an object", i + 1));
        };
        let mut rule = Rule::default();
        for (key, value) in members {
            let bad = |expected: &str| format!("acl rule {}: \"{key}\" must be {expected}", i + 1);
            match key.as_str() {
                "ip" => {
                    let text = value.as_str().ok_or_else(|| bad("a subnet string"))?;
                    rule.ip =
                        Some(Cidr::parse(text).map_err(|e| format!("acl rule {}: {e}", i + 1))?);
                }
                "http_basic_auth" => {
                    let text = value.as_str().ok_or_else(|| bad("\"user:password\""))?;
                    if !text.contains(':') {
                        return Err(bad("\"user:password\""));
                    }
                    rule.basic_auth = Some(text.as_bytes().to_vec());
                }
                "enabled" | "disabled" => {
                    let names = value
                        .as_array()
                        .ok_or_else(|| bad("an array of command names"))?
                        .iter()
                        .map(|c| c.as_str().map(|c| c.to_ascii_uppercase().into_bytes()))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| bad("an array of command names"))?;
                    if key == "enabled" {
                        rule.enabled = names;
                    } else {
                        rule.disabled = names;
                    }
                }
                _ => return Err(format!("acl rule {}: unknown key \"{key}\"", i + 1)),
            }
        }
        rules.push(rule);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The configuration file webdis ships, with its ACL examples.
    const WEBDIS_JSON: &str = r#"{
        "redis_host":	"127.0.0.1",
        "redis_port":	6379,
        "redis_auth":	null,
        "http_host":	"0.0.0.0",
        "http_port":	7379,
        "threads":	5,
        "pool_size": 20,
        "daemonize":	false,
        "websockets":	false,
        "database":	0,
        "acl": [
            {
                "disabled":	["DEBUG"]
            },
            {
                "http_basic_auth":	"user:password",
                "enabled":		["DEBUG"]
            }
        ],
        "verbosity": 4,
        "logfile": "webdis.log"
    }"#;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn the_shipped_file_is_understood() {
        let mut cfg = Config::default();
        apply(WEBDIS_JSON.as_bytes(), &mut cfg, &no_env).unwrap();
        assert_eq!(cfg.api, Api::Webdis);
        assert_eq!(cfg.listen, "0.0.0.0:7379".parse().unwrap());
        assert_eq!(cfg.redis.port, 6379);
        assert_eq!(cfg.log_level, Level::Debug);
        assert_eq!(cfg.webdis.acl.len(), 2);
        assert_eq!(cfg.webdis.acl[0].disabled, [b"DEBUG".to_vec()]);
        assert_eq!(
            cfg.webdis.acl[1].basic_auth.as_deref(),
            Some(&b"user:password"[..])
        );
        // threads, pool_size, daemonize, logfile: each reported once.
        assert_eq!(cfg.webdis.notes.len(), 4, "{:?}", cfg.webdis.notes);
        assert!(!cfg.websockets);
        assert_eq!(cfg.workers, super::super::DEFAULT_WORKERS);
    }

    #[test]
    fn env_values_and_auth_pairs() {
        let env = |name: &str| match name {
            "REDIS_HOST" => Some("10.0.0.9".to_string()),
            "REDIS_PORT" => Some("6390".to_string()),
            _ => None,
        };
        let text = r#"{"redis_host": "$REDIS_HOST", "redis_port": "$REDIS_PORT",
                       "redis_auth": ["bob", "pw"], "default_root": "/GET/index.html"}"#;
        let mut cfg = Config::default();
        apply(text.as_bytes(), &mut cfg, &env).unwrap();
        assert_eq!(cfg.redis.host, "10.0.0.9");
        assert_eq!(cfg.redis.port, 6390);
        assert_eq!(cfg.redis.user.as_deref(), Some("bob"));
        assert_eq!(cfg.redis.password.as_deref(), Some("pw"));
        assert_eq!(cfg.webdis.default_root.as_deref(), Some("/GET/index.html"));
        let missing = apply(br#"{"redis_host": "$NOPE"}"#, &mut cfg, &env).unwrap_err();
        assert!(missing.contains("NOPE is not set"), "{missing}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&str, &str)] = &[
            (r#"{"redis_port": "x"}"#, "redis_port"),
            (r#"{"redis_port": 70000}"#, "redis_port"),
            (r#"{"http_host": "localhost"}"#, "http_host"),
            (r#"{"redis_auth": 5}"#, "redis_auth"),
            (r#"{"acl": [{"ip": "10.0.0.0/40"}]}"#, "10.0.0.0/40"),
            (
                r#"{"acl": [{"http_basic_auth": "nocolon"}]}"#,
                "http_basic_auth",
            ),
            (r#"{"acl": [{"enabled": "GET"}]}"#, "enabled"),
            (r#"{"acl": [{"allow": ["GET"]}]}"#, "allow"),
            (r#"{"redis_host": "/tmp/redis.sock"}"#, "UNIX"),
            (r#"{"ssl": {"enabled": true}}"#, "TLS"),
            (r#"[1]"#, "one JSON object"),
            (r#"{"daemonize": false,}"#, "line 1"),
        ];
        let many = format!(
            "{{\"acl\": [{}{{}}]}}",
            "{\"disabled\": [\"DEBUG\"]},".repeat(super::super::MAX_ACL_RULES)
        );
        let err = apply(many.as_bytes(), &mut Config::default(), &no_env).unwrap_err();
        assert!(err.contains("at most 1024"), "{err}");
        let enough = format!(
            "{{\"acl\": [{}{{}}]}}",
            "{\"disabled\": [\"DEBUG\"]},".repeat(super::super::MAX_ACL_RULES - 1)
        );
        assert!(apply(enough.as_bytes(), &mut Config::default(), &no_env).is_ok());
        for (text, needle) in cases {
            let err = apply(text.as_bytes(), &mut Config::default(), &no_env).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
