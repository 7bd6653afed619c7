//! The maintainer thread (`redis-maintainer`): keeps the pool at its size.
//!
//! It sleeps until a connection is missing, opens one (connect, AUTH, SELECT, CLIENT SETNAME), and
//! adds it. While Redis is down it retries with capped exponential backoff (50 ms → 500 ms, so the
//! pool refills within about half a second of Redis coming back) and logs
//! the outage once when it starts and once when it ends, with its length: never once per attempt.
//!
//! The address is read at every attempt, so a moved address is followed; an address that must be
//! a master ([`Role::Master`], Sentinel) gets no connection while it is vacant, and each new
//! connection must see `ROLE` say `master` before it joins the pool.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::address::Role;
use super::{Address, Conn, Error, Pool};
use crate::config::{Config, RedisTarget};
use crate::log;
use crate::metrics::{Metrics, RedisErrorKind};

/// First retry delay after a failed connection attempt.
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest retry delay while Redis stays down.
pub const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Longest retry delay of the pool of a database other than the configured one while Redis
/// refuses its setup (typically `SELECT`: `ERR DB index is out of range`, a database Redis does
/// not have): such a refusal does not go away by itself, so it is retried rarely.
pub const REFUSED_DB_BACKOFF: Duration = Duration::from_secs(10);

/// Starts the maintainer thread. It returns when the pool is closed.
///
/// # Errors
///
/// When the OS cannot start a thread.
pub fn spawn(
    pool: Arc<Pool>,
    address: Arc<Address>,
    metrics: Arc<Metrics>,
    cfg: Config,
) -> io::Result<JoinHandle<()>> {
    spawn_named(
        "redis-maintainer".into(),
        pool,
        address,
        metrics,
        cfg,
        MAX_BACKOFF,
    )
}

/// [`spawn`] with another thread name, and the longest retry delay while Redis refuses the
/// connection setup (the pools of other databases use [`REFUSED_DB_BACKOFF`]).
///
/// # Errors
///
/// When the OS cannot start a thread.
pub fn spawn_named(
    name: String,
    pool: Arc<Pool>,
    address: Arc<Address>,
    metrics: Arc<Metrics>,
    cfg: Config,
    refused_backoff: Duration,
) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name(name)
        .spawn(move || run(&pool, &address, &metrics, &cfg, refused_backoff))
}

/// What a failed connection attempt says about Redis. An outage is logged when it begins and
/// again only when its kind changes (e.g. from unreachable to refusing our password), never once
/// per attempt and never because the error text changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Nothing answers, or the connection dies: Redis is down or restarting.
    Unreachable,
    /// Redis answers but refuses the setup (wrong password, bad database…).
    Refused,
    /// Redis is up but at `maxclients`: the pool works with what it has.
    Full,
}

fn classify(e: &Error) -> Failure {
    match e {
        Error::Handshake(text) if text.contains("max number of clients") => Failure::Full,
        Error::Handshake(_) | Error::NoSuchDatabase(_) => Failure::Refused,
        _ => Failure::Unreachable,
    }
}

/// The failure as an operator should read it: when nothing listens at Redis's address (the
/// first thing a newcomer meets), say so and what to do. This text is also what requests get
/// with their 503 while Redis is down.
fn explained(e: Error, target: &RedisTarget) -> Error {
    match &e {
        Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            Error::Unavailable(format!(
                "nothing listens at {}:{} (connection refused): is redis-server running there? \
                 Start it (e.g. `redis-server --daemonize yes`) or point --redis at it",
                target.host, target.port
            ))
        }
        _ => e,
    }
}

/// Opens one connection to where `address` is now, with the login and database of `cfg.redis`,
/// tagged with the address's generation; for a master's address, only once `ROLE` confirms it.
/// Returns the place tried, as the log names it, with the result.
fn open(address: &Arc<Address>, cfg: &Config) -> (String, Result<Conn, Error>) {
    // The generation is read before the place: a move in between tags the connection as old
    // (it is replaced at once), never a connection to the old place as new.
    let generation = address.generation();
    let target = address.target(&cfg.redis);
    if let Some(why) = address.vacant() {
        return ("(no address yet)".into(), Err(Error::Unavailable(why)));
    }
    let result = Conn::connect(&target, cfg).and_then(|mut conn| {
        if address.role() == Role::Master {
            conn.confirm_master(&target)?;
        }
        conn.follow(address, generation);
        Ok(conn)
    });
    (
        target.to_string(),
        result.map_err(|e| explained(e, &target)),
    )
}

/// Opens connections to `address` (read at every attempt, so a moved address is followed) with
/// the login and database of `cfg.redis`.
fn run(
    pool: &Pool,
    address: &Arc<Address>,
    metrics: &Metrics,
    cfg: &Config,
    refused_backoff: Duration,
) {
    let mut backoff = MIN_BACKOFF;
    // When the current outage began and its kind; `None` while Redis accepts connections.
    let mut outage: Option<(Instant, Failure)> = None;
    let mut short_logged = false;
    while pool.wait_for_vacancy() {
        let (target, result) = open(address, cfg);
        match result {
            Ok(conn) => {
                pool.add(conn);
                Metrics::add(&metrics.redis_connects, 1);
                backoff = MIN_BACKOFF;
                if let Some((since, _)) = outage.take() {
                    log::info(format_args!(
                        "redis {} is reachable again after {:.1} s",
                        target,
                        since.elapsed().as_secs_f64()
                    ));
                }
                let stats = pool.stats();
                if stats.open >= stats.size {
                    short_logged = false;
                }
            }
            Err(e) => {
                metrics.redis_error(RedisErrorKind::Connect);
                let why = match &e {
                    Error::Unavailable(why) => why.clone(),
                    other => other.to_string(),
                };
                let failure = classify(&e);
                match failure {
                    Failure::Full => {
                        if !short_logged {
                            let stats = pool.stats();
                            log::warn(format_args!(
                                "pool has {} of {} connections: {why}; serving with those, retrying",
                                stats.open, stats.size
                            ));
                            short_logged = true;
                        }
                    }
                    kind => {
                        if outage.map(|(_, k)| k) != Some(kind) {
                            log::warn(format_args!(
                                "redis {} unavailable: {why}; requests get 503 until it is back, retrying",
                                target
                            ));
                            let since = outage.map_or_else(Instant::now, |(since, _)| since);
                            outage = Some((since, kind));
                        }
                    }
                }
                pool.set_down(e);
                if !pool.pause(backoff) {
                    break;
                }
                let max = if failure == Failure::Refused {
                    refused_backoff.max(MAX_BACKOFF)
                } else {
                    MAX_BACKOFF
                };
                backoff = (backoff * 2).min(max);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified_by_kind_not_text() {
        let io = Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(classify(&io), Failure::Unreachable);
        assert_eq!(classify(&Error::Closed), Failure::Unreachable);
        assert_eq!(classify(&Error::Timeout), Failure::Unreachable);
        let auth = Error::Handshake("AUTH: WRONGPASS invalid username-password pair".into());
        assert_eq!(classify(&auth), Failure::Refused);
        let full = Error::Handshake("CLIENT SETNAME: ERR max number of clients reached".into());
        assert_eq!(classify(&full), Failure::Full);
    }

    #[test]
    fn a_refused_connection_says_what_to_check() {
        let target = Config::default().redis;
        let refused = Error::Io(io::Error::from(io::ErrorKind::ConnectionRefused));
        let text = explained(refused, &target).to_string();
        assert!(
            text.contains("127.0.0.1:6379") && text.contains("is redis-server running"),
            "{text}"
        );
        assert_eq!(
            classify(&explained(Error::Closed, &target)),
            Failure::Unreachable
        );
    }
}
