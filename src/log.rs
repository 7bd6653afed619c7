//! The stderr logger: one line per event, `2026-11-28T04:50:43.123Z LEVEL message`.
//!
//! Each line is formatted first and written with one `write_all` on a locked stderr, so lines from
//! different threads never interleave. A failed write to stderr is ignored: logging must never take
//! the gateway down.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// How important a log line is; lines below the configured level are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Something failed and an operator should look.
    Error = 1,
    /// Something unusual that the gateway handled.
    Warn = 2,
    /// Start-up, shutdown, Redis outages beginning and ending.
    Info = 3,
    /// Per-connection detail, for debugging.
    Debug = 4,
}

impl Level {
    /// The level named `error`, `warn`, `info` or `debug`.
    pub fn parse(name: &str) -> Option<Level> {
        match name {
            "error" => Some(Level::Error),
            "warn" => Some(Level::Warn),
            "info" => Some(Level::Info),
            "debug" => Some(Level::Debug),
            _ => None,
        }
    }

    /// The level's name, as [`Level::parse`] takes it.
    pub fn name(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);

/// Sets the most detailed level that is written.
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// True when lines of `level` are written.
pub fn enabled(level: Level) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// Writes one line at `level`, e.g. `log::write(Level::Warn, format_args!("pool {n}"))`.
pub fn write(level: Level, args: fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let name = match level {
        Level::Error => "ERROR",
        Level::Warn => "WARN ",
        Level::Info => "INFO ",
        Level::Debug => "DEBUG",
    };
    let line = format!("{} {name} {args}\n", timestamp(SystemTime::now()));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes the start-up line whatever the level: it says where the gateway listens (an address
/// ending in `:0` is only known from it) and what it talks to.
pub fn startup(args: fmt::Arguments<'_>) {
    let line = format!("{} INFO  {args}\n", timestamp(SystemTime::now()));
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Writes an error line.
pub fn error(args: fmt::Arguments<'_>) {
    write(Level::Error, args);
}

/// Writes a warning line.
pub fn warn(args: fmt::Arguments<'_>) {
    write(Level::Warn, args);
}

/// Writes an informational line.
pub fn info(args: fmt::Arguments<'_>) {
    write(Level::Info, args);
}

/// Writes a debug line.
pub fn debug(args: fmt::Arguments<'_>) {
    write(Level::Debug, args);
}

/// The access log: one line per answered request, in the Common Log Format followed by the time
/// taken in microseconds:
///
/// ```text
/// 127.0.0.1 - - [28/Nov/2026:05:18:00 +0000] "GET /key HTTP/1.1" 200 8192 153
/// ```
#[derive(Debug)]
pub struct AccessLog {
    sink: Sink,
}

#[derive(Debug)]
enum Sink {
    Stderr,
    File(Mutex<File>),
}

impl AccessLog {
    /// Opens the access log: `stderr`, or a file path opened for appending (created if missing).
    ///
    /// # Errors
    ///
    /// When the file cannot be opened.
    pub fn open(spec: &str) -> io::Result<AccessLog> {
        let sink = if spec == "stderr" {
            Sink::Stderr
        } else {
            let file = OpenOptions::new().create(true).append(true).open(spec)?;
            Sink::File(Mutex::new(file))
        };
        Ok(AccessLog { sink })
    }

    /// Writes one line (a newline is added) with one `write` call. Failures are ignored: a full
    /// disk must not stop the gateway from answering.
    pub fn write(&self, line: &str) {
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        match &self.sink {
            Sink::Stderr => {
                let _ = io::stderr().lock().write_all(&bytes);
            }
            Sink::File(file) => {
                let _ = file
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .write_all(&bytes);
            }
        }
    }
}

/// The Common Log Format time: `28/Nov/2026:05:18:00 +0000` (always UTC).
pub fn clf_time(now: SystemTime) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let (year, month, day) = crate::http::date::civil_from_days(secs / 86_400);
    let month = MONTHS
        .get((month as usize).saturating_sub(1))
        .copied()
        .unwrap_or("Jan");
    let rem = secs % 86_400;
    format!(
        "{day:02}/{month}/{year:04}:{:02}:{:02}:{:02} +0000",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// RFC 3339 UTC time with milliseconds.
fn timestamp(now: SystemTime) -> String {
    let since = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = crate::http::date::civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamp_is_rfc3339_utc() {
        let t = UNIX_EPOCH + Duration::from_millis(784_111_777_042);
        assert_eq!(timestamp(t), "1994-11-06T08:49:37.042Z");
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn clf_time_is_day_month_year_time_zone() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(clf_time(t), "06/Nov/1994:08:49:37 +0000");
    }

    #[test]
    fn levels_filter_by_order() {
        assert!(Level::Error < Level::Debug);
        assert!(enabled(Level::Error));
    }
}
