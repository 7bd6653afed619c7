//! Worker threads (`worker-1` … `worker-N`): pop a connection, answer every complete request
//! buffered on it, in order, then hand it back to the poll loop or close it.
//!
//! A worker never waits for a client. It reads nothing (the poll loop gave it complete requests)
//! and writes without blocking: what the client does not take at once stays in the connection's
//! output buffer and the poll loop finishes writing it. A worker blocks only on Redis, bounded by
//! the checkout and reply timeouts. A panic in a handler is caught: the client gets 500, the
//! worker lives on.

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::connection::{Connection, Flush};
use super::queue::Task;
use super::Shared;
use crate::api::{self, Context};
use crate::http::response::{self, Response};
use crate::http::{self, date, Method, Status};
use crate::log;

/// Answers to pipelined requests are collected up to this many bytes before they are written,
/// so that a burst of small requests costs one `write`, not one each.
pub const OUT_BATCH_BYTES: usize = 64 * 1024;

/// Starts `n` workers popping from the shared queue.
///
/// # Errors
///
/// When the OS cannot start a thread.
pub fn spawn(n: usize, shared: &Arc<Shared>) -> io::Result<Vec<JoinHandle<()>>> {
    (1..=n)
        .map(|i| {
            let shared = Arc::clone(shared);
            thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || Worker::new(&shared).run())
        })
        .collect()
}

/// One worker's reusable state.
struct Worker<'a> {
    shared: &'a Shared,
    date: DateCache,
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared) -> Worker<'a> {
        Worker {
            shared,
            date: DateCache::default(),
        }
    }

    fn run(mut self) {
        while let Some(task) = self.shared.queue.pop() {
            let mut conn = match task {
                Task::Serve(mut conn) => {
                    self.answer_buffered(&mut conn);
                    conn
                }
                Task::TimedOut(mut conn) => {
                    let response = api::Error::SlowRequest.into_response();
                    self.queue_response(&mut conn, &response, false);
                    conn
                }
            };
            match conn.flush(Instant::now()) {
                // The poll loop writes the rest, reads the next request, or lingers and closes.
                Ok(_) => self.shared.handback.push(conn),
                Err(_) => self.shared.close_connection(conn),
            }
        }
    }

    /// Answers the complete requests at the start of `conn.buf`, appending the responses to
    /// `conn.out`, and writing whenever a batch is full.
    fn answer_buffered(&mut self, conn: &mut Connection) {
        let shared = self.shared;
        let ctx = Context {
            pool: &shared.pool,
            cfg: &shared.cfg,
        };
        while !conn.close_after_flush {
            if conn.out.len() >= OUT_BATCH_BYTES {
                match conn.flush(Instant::now()) {
                    Ok(Flush::Done) => {}
                    // The client is slow to read: stop answering (back-pressure) and let the
                    // poll loop write the rest and bring the connection back for the remaining
                    // requests.
                    Ok(Flush::Blocked) | Err(_) => return,
                }
            }
            let (response, head_only, keep_alive, used) =
                match http::parse(&conn.buf, &shared.limits) {
                    Ok(Status::Partial) => return,
                    Ok(Status::Complete((req, used))) => {
                        let response =
                            panic::catch_unwind(AssertUnwindSafe(|| api::handle(&req, &ctx)))
                                .unwrap_or_else(|_| {
                                    log::error(format_args!(
                                        "bug: handler panicked on {} from {}",
                                        req.head.method.as_str(),
                                        conn.peer
                                    ));
                                    api::Error::Internal.into_response()
                                });
                        let head_only = req.head.method == Method::Head;
                        (response, head_only, req.head.keep_alive, used)
                    }
                    Err(e) => {
                        log::debug(format_args!("bad request from {}: {e}", conn.peer));
                        let response = api::Error::Http(e).into_response();
                        (response, false, false, conn.buf.len())
                    }
                };
            let response = if !keep_alive || shared.is_stopping() {
                response.closing()
            } else {
                response
            };
            self.queue_response(conn, &response, head_only);
            conn.consume(used, Instant::now());
        }
    }

    /// Appends one response to the connection's output; a closing response ends the connection
    /// once it is written.
    fn queue_response(&mut self, conn: &mut Connection, response: &Response, head_only: bool) {
        response::write(response, head_only, self.date.get(), &mut conn.out);
        if response.close {
            conn.close_after_flush = true;
        }
    }
}

/// The `Date` header text, formatted once per second.
#[derive(Default)]
struct DateCache {
    second: u64,
    text: String,
}

impl DateCache {
    fn get(&mut self) -> &str {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now != self.second || self.text.is_empty() {
            self.second = now;
            self.text = date::imf_fixdate(now);
        }
        &self.text
    }
}
