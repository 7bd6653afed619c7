//! The maintainer thread (`redis-maintainer`): keeps the pool at its size.
//!
//! It sleeps until a connection is missing, opens one (connect, AUTH, SELECT, CLIENT SETNAME), and
//! adds it. While Redis is down it retries with capped exponential backoff (50 ms → 500 ms, so the
//! pool refills within about half a second of Redis coming back) and logs
//! the outage once when it starts and once when it ends, with its length: never once per attempt.

use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::{Conn, Pool};
use crate::config::Config;
use crate::log;
use crate::metrics::{Metrics, RedisErrorKind};

/// First retry delay after a failed connection attempt.
pub const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest retry delay while Redis stays down.
pub const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Starts the maintainer thread. It returns when the pool is closed.
///
/// # Errors
///
/// When the OS cannot start a thread.
pub fn spawn(pool: Arc<Pool>, metrics: Arc<Metrics>, cfg: Config) -> io::Result<JoinHandle<()>> {
    thread::Builder::new()
        .name("redis-maintainer".into())
        .spawn(move || run(&pool, &metrics, &cfg))
}

fn run(pool: &Pool, metrics: &Metrics, cfg: &Config) {
    let mut backoff = MIN_BACKOFF;
    // When the current outage began and what it looked like; `None` while all is well.
    let mut outage: Option<(Instant, String)> = None;
    let mut short_logged = false;
    while pool.wait_for_vacancy() {
        match Conn::connect(&cfg.redis, cfg) {
            Ok(conn) => {
                pool.add(conn);
                Metrics::add(&metrics.redis_connects, 1);
                backoff = MIN_BACKOFF;
                if let Some((since, _)) = outage.take() {
                    log::info(format_args!(
                        "redis {} is reachable again after {:.1} s",
                        cfg.redis,
                        since.elapsed().as_secs_f64()
                    ));
                }
                short_logged = false;
            }
            Err(e) => {
                metrics.redis_error(RedisErrorKind::Connect);
                let why = e.to_string();
                let stats = pool.stats();
                if stats.open > 0 {
                    // Redis is up but refuses more connections (e.g. maxclients): say so once and
                    // serve with what we have.
                    if !short_logged {
                        log::warn(format_args!(
                            "pool has {} of {} connections; opening more failed: {why}; retrying",
                            stats.open, stats.size
                        ));
                        short_logged = true;
                    }
                } else if outage.as_ref().map(|(_, w)| w != &why).unwrap_or(true) {
                    log::warn(format_args!(
                        "redis {} unavailable: {why}; requests get 503 until it is back, retrying",
                        cfg.redis
                    ));
                    let since = outage.map(|(since, _)| since).unwrap_or_else(Instant::now);
                    outage = Some((since, why.clone()));
                }
                pool.set_down(why);
                if !pool.pause(backoff) {
                    break;
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}
