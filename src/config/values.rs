//! The grammars of option values: whole numbers, durations, addresses, `redis://` URLs, switches.
//!
//! Each value type has a pair of functions: one reads the text an operator writes (a flag, an
//! environment variable), the other writes a value back as that same text, for `--print-config`
//! and the defaults in `--help`. What is written reads back to the same value: the option table's
//! tests check it for every option.
//!
//! A reader that refuses its text returns what it expected (an [`Expected`]); the caller adds the
//! flag and the value to make an [`ArgError::BadValue`](super::ArgError::BadValue). Nothing here
//! knows a flag's name.

use std::net::SocketAddr;
use std::time::Duration;

use super::{Api, RedisTarget, DEFAULT_REDIS_PORT};
use crate::log::Level;

/// What a value should have looked like, e.g. "a positive duration like 10s, 500ms or 2m".
pub type Expected = &'static str;

/// What [`whole`] expects; the range of each option is in `--help`.
const WHOLE_NUMBER: Expected = "a whole number in range";

/// The longest duration an option takes: a week.
const MAX_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The highest database number an option or a `redis://` URL may name.
pub const MAX_DATABASE: u64 = 1_000_000;

/// A whole number from `min` to `max`, written in decimal digits only (no sign, no spaces).
pub fn whole<T: TryFrom<u64>>(text: &str, min: u64, max: u64) -> Result<T, Expected> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(WHOLE_NUMBER);
    }
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => T::try_from(n).map_err(|_| WHOLE_NUMBER),
        _ => Err(WHOLE_NUMBER),
    }
}

/// A count or size from 1 to `max`: no limit, pool or timeout of the gateway may be zero.
pub fn count(text: &str, max: u64) -> Result<usize, Expected> {
    whole(text, 1, max)
}

/// A size in bytes from 1 to `max`: a whole number, optionally with a binary unit (`64KiB`,
/// `32MiB`, `1GiB`; `K`, `M`, `G` and `KB`, `MB`, `GB` mean the same).
pub fn bytes(text: &str, max: u64) -> Result<usize, Expected> {
    const BAD: Expected = "a size in bytes in range, like 1048576, 512KiB, 32MiB or 1GiB";
    let units: [(&str, u64); 9] = [
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("KB", 1 << 10),
        ("MB", 1 << 20),
        ("GB", 1 << 30),
        ("K", 1 << 10),
        ("M", 1 << 20),
        ("G", 1 << 30),
    ];
    let (digits, unit) = units
        .iter()
        .find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|d| (d, *unit)))
        .unwrap_or((text, 1));
    let n: u64 = whole(digits, 1, max).map_err(|_| BAD)?;
    match n.checked_mul(unit) {
        Some(total) if total <= max => usize::try_from(total).map_err(|_| BAD),
        _ => Err(BAD),
    }
}

/// `10s`, `500ms`, `2m`, or a bare number of seconds; never zero (a zero timeout means "block
/// forever" to std) and at most a week.
pub fn duration(text: &str) -> Result<Duration, Expected> {
    const BAD: Expected = "a positive duration like 10s, 500ms or 2m";
    let (digits, unit_ms) = if let Some(d) = text.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = text.strip_suffix('s') {
        (d, 1000)
    } else if let Some(d) = text.strip_suffix('m') {
        (d, 60_000)
    } else {
        (text, 1000)
    };
    let n: u64 = whole(digits, 1, 1 << 40).map_err(|_| BAD)?;
    n.checked_mul(unit_ms)
        .map(Duration::from_millis)
        .filter(|d| *d <= MAX_DURATION)
        .ok_or(BAD)
}

/// A duration as [`duration`] reads it: `10s`, or `1500ms` when it is not whole seconds.
pub fn duration_text(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// An `IP:PORT` to listen on.
pub fn listen_addr(text: &str) -> Result<SocketAddr, Expected> {
    text.parse()
        .map_err(|_| "IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
}

/// Text as an optional setting: empty (e.g. from an environment file) means none.
pub fn optional(text: &str) -> Option<String> {
    Some(text.to_string()).filter(|t| !t.is_empty())
}

/// `HOST:PORT`, `HOST`, or `redis://[[user]:password@]host[:port][/db]` into `target`. A plain
/// address changes only the host and port; a URL also sets what it names of the credentials and
/// the database.
pub fn redis_target(target: &mut RedisTarget, text: &str) -> Result<(), Expected> {
    const BAD: Expected = "HOST:PORT or redis://[[user]:password@]host[:port][/db]";
    let rest = match text.strip_prefix("redis://") {
        Some(rest) => rest,
        None => {
            let (host, port) = host_port(text).ok_or(BAD)?;
            target.host = host;
            target.port = port.unwrap_or(DEFAULT_REDIS_PORT);
            return Ok(());
        }
    };
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) => (Some(auth), rest),
        None => (None, rest),
    };
    let (hostport, db) = match rest.split_once('/') {
        Some((hp, "")) => (hp, None),
        Some((hp, db)) => (hp, Some(whole(db, 0, MAX_DATABASE).map_err(|_| BAD)?)),
        None => (rest, None),
    };
    let (host, port) = host_port(hostport).ok_or(BAD)?;
    target.host = host;
    target.port = port.unwrap_or(DEFAULT_REDIS_PORT);
    if let Some(db) = db {
        target.db = db;
    }
    if let Some(auth) = auth {
        let (user, password) = auth.split_once(':').unwrap_or(("", auth));
        target.user = optional(user);
        target.password = optional(password);
    }
    Ok(())
}

/// The Redis address as [`redis_target`] reads it back: `host:port`, `[::1]:port`.
pub fn redis_address_text(target: &RedisTarget) -> String {
    if target.host.contains(':') {
        format!("[{}]:{}", target.host, target.port)
    } else {
        format!("{}:{}", target.host, target.port)
    }
}

fn host_port(text: &str) -> Option<(String, Option<u16>)> {
    if text.is_empty() {
        return None;
    }
    if let Some(rest) = text.strip_prefix('[') {
        // [::1]:6379
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok().filter(|p| *p > 0)?),
            None if after.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && !host.contains(':') => Some((
            host.to_string(),
            Some(port.parse().ok().filter(|p| *p > 0)?),
        )),
        Some(_) => None,
        None => Some((text.to_string(), None)),
    }
}

/// `HOST:PORT[,HOST:PORT…]`: the seeds of a Redis Cluster (a port is required); empty: none.
pub fn cluster_seeds(text: &str) -> Result<Vec<(String, u16)>, Expected> {
    const BAD: Expected = "HOST:PORT[,HOST:PORT...], e.g. 10.0.0.1:7000,10.0.0.2:7000";
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|one| match host_port(one.trim()) {
            Some((host, Some(port))) => Ok((host, port)),
            _ => Err(BAD),
        })
        .collect()
}

/// The seeds as [`cluster_seeds`] reads them back.
pub fn cluster_seeds_text(seeds: &[(String, u16)]) -> String {
    let texts: Vec<String> = seeds
        .iter()
        .map(|(host, port)| {
            let target = RedisTarget {
                host: host.clone(),
                port: *port,
                user: None,
                password: None,
                db: 0,
            };
            redis_address_text(&target)
        })
        .collect();
    texts.join(",")
}

/// A duration, or `auto` (`None`).
pub fn duration_or_auto(text: &str) -> Result<Option<Duration>, Expected> {
    match text {
        "auto" => Ok(None),
        _ => duration(text)
            .map(Some)
            .map_err(|_| "auto, or a duration such as 3s or 500ms"),
    }
}

/// A duration as [`duration_or_auto`] reads it back.
pub fn duration_or_auto_text(d: Option<Duration>) -> String {
    d.map_or_else(|| "auto".to_string(), duration_text)
}

/// The port of a sentinel given without one.
pub const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// `HOST:PORT[,HOST:PORT…]` (a port left out is 26379); empty: none. At most 16.
pub fn sentinel_addrs(text: &str) -> Result<Vec<(String, u16)>, Expected> {
    const BAD: Expected = "HOST:PORT[,HOST:PORT...] (at most 16)";
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let addrs = text
        .split(',')
        .map(|one| {
            let (host, port) = host_port(one.trim()).ok_or(BAD)?;
            Ok((host, port.unwrap_or(DEFAULT_SENTINEL_PORT)))
        })
        .collect::<Result<Vec<_>, Expected>>()?;
    if addrs.len() > 16 {
        return Err(BAD);
    }
    Ok(addrs)
}

/// Sentinel addresses as [`sentinel_addrs`] reads them.
pub fn sentinel_addrs_text(addrs: &[(String, u16)]) -> String {
    addrs
        .iter()
        .map(|(host, port)| {
            if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `error`, `warn`, `info` or `debug`.
pub fn log_level(text: &str) -> Result<Level, Expected> {
    Level::parse(text).ok_or("error, warn, info or debug")
}

/// `keyvalue` or `webdis`.
pub fn api(text: &str) -> Result<Api, Expected> {
    match text {
        "keyvalue" => Ok(Api::KeyValue),
        "webdis" => Ok(Api::Webdis),
        "upstash" => Ok(Api::Upstash),
        _ => Err("keyvalue, webdis or upstash"),
    }
}

/// `on` or `off` (also `true`/`false`, `1`/`0`).
pub fn switch(text: &str) -> Result<bool, Expected> {
    match text {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err("on or off"),
    }
}

/// A switch as [`switch`] reads it: `on` or `off`.
pub fn switch_text(on: bool) -> String {
    if on { "on" } else { "off" }.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units_and_bare_seconds() {
        for (text, ms) in [
            ("10s", 10_000),
            ("500ms", 500),
            ("2m", 120_000),
            ("7", 7_000),
        ] {
            assert_eq!(duration(text), Ok(Duration::from_millis(ms)), "{text}");
        }
        for text in ["0", "0s", "", "s", "-1s", "1.5s", "10h", "9999999999999m"] {
            assert!(duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn durations_are_capped_at_a_week() {
        assert_eq!(duration("10080m"), Ok(MAX_DURATION));
        assert!(duration("10081m").is_err());
        assert!(duration("604800001ms").is_err());
    }

    #[test]
    fn durations_read_back_what_they_write() {
        for ms in [1, 500, 1000, 1500, 60_000, 604_800_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(duration(&duration_text(d)), Ok(d), "{ms} ms");
        }
    }

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(bytes("1048576", 1 << 30), Ok(1 << 20));
        assert_eq!(bytes("512KiB", 1 << 30), Ok(512 << 10));
        assert_eq!(bytes("32MiB", 1 << 30), Ok(32 << 20));
        assert_eq!(bytes("32M", 1 << 30), Ok(32 << 20));
        assert_eq!(bytes("1GiB", 1 << 30), Ok(1 << 30));
        for bad in [
            "", "0", "0MiB", "2GiB", "1.5MiB", "MiB", "-1", "1 MiB", "1mib", "1TiB",
        ] {
            assert!(bytes(bad, 1 << 30).is_err(), "{bad}");
        }
    }

    #[test]
    fn whole_numbers_are_checked_at_both_ends() {
        assert_eq!(whole::<u32>("0", 0, 10), Ok(0));
        assert_eq!(whole::<u32>("10", 0, 10), Ok(10));
        assert!(whole::<u32>("11", 0, 10).is_err());
        assert!(count("0", 10).is_err());
        assert_eq!(count("1", 10), Ok(1));
        for text in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "99999999999999999999",
        ] {
            assert!(whole::<u64>(text, 0, u64::MAX).is_err(), "{text:?}");
        }
        // In range for the check but not for the type: refused, not truncated.
        assert!(whole::<u16>("70000", 0, 1 << 20).is_err());
    }

    #[test]
    fn redis_addresses_read_back_what_they_write() {
        for text in ["127.0.0.1:6379", "example.org:6390", "[::1]:7000"] {
            let mut target = super::super::Config::default().redis;
            redis_target(&mut target, text).unwrap();
            assert_eq!(redis_address_text(&target), text);
        }
    }
}
