//! Worker threads (`worker-1` … `worker-N`): pop a connection, serve every complete request
//! buffered on it, in order, then hand it back to the poll loop or close it.
//!
//! A worker never reads from a client: the poll loop gave it only complete requests. It blocks
//! only to write a response (bounded by the write timeout) and to talk to Redis (bounded by the
//! checkout and reply timeouts). A panic in a handler is caught: the client gets 500, the worker
//! lives on.

use std::io::{self, Write};
use std::net::Shutdown;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::connection::Connection;
use super::poll::LINGER;
use super::queue::Task;
use super::Shared;
use crate::api::{self, Context};
use crate::http::response::{self, Response};
use crate::http::{self, date, Method, Status};
use crate::log;

/// Bodies larger than this are written with their own `write` instead of being copied after
/// the head.
const COPY_BODY_BYTES: usize = 64 * 1024;

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
    out: Vec<u8>,
    date: DateCache,
}

/// What happens to a connection after serving.
enum After {
    /// Back to the poll loop to wait for the next request.
    Park,
    /// Close after draining what the client still sends.
    Linger,
    /// Close now (the socket failed).
    Close,
}

impl<'a> Worker<'a> {
    fn new(shared: &'a Shared) -> Worker<'a> {
        Worker {
            shared,
            out: Vec::with_capacity(16 * 1024),
            date: DateCache::default(),
        }
    }

    fn run(mut self) {
        while let Some(task) = self.shared.queue.pop() {
            let (mut conn, after) = match task {
                Task::Serve(mut conn) => {
                    let after = self.serve(&mut conn);
                    (conn, after)
                }
                Task::TimedOut(mut conn) => {
                    let response = api::Error::SlowRequest.into_response();
                    let after = match self.send(&mut conn, &response, false) {
                        Ok(()) => After::Linger,
                        Err(_) => After::Close,
                    };
                    (conn, after)
                }
            };
            match after {
                After::Park if conn.stream.set_nonblocking(true).is_ok() => {
                    self.shared.handback.push(conn)
                }
                After::Linger => {
                    let _ = conn.stream.shutdown(Shutdown::Write);
                    if conn.stream.set_nonblocking(true).is_ok() {
                        conn.linger_until = Some(Instant::now() + LINGER);
                        self.shared.handback.push(conn);
                    } else {
                        self.shared.close_connection(conn);
                    }
                }
                _ => self.shared.close_connection(conn),
            }
        }
    }

    /// Serves the complete requests at the start of `conn.buf`.
    fn serve(&mut self, conn: &mut Connection) -> After {
        if conn.stream.set_nonblocking(false).is_err() {
            return After::Close;
        }
        let shared = self.shared;
        let ctx = Context {
            pool: &shared.pool,
            cfg: &shared.cfg,
        };
        loop {
            let (response, head_only, keep_alive, used) =
                match http::parse(&conn.buf, &shared.limits) {
                    Ok(Status::Partial) => return After::Park,
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
                        (
                            api::Error::Http(e).into_response(),
                            false,
                            false,
                            conn.buf.len(),
                        )
                    }
                };
            let close = response.close || !keep_alive || shared.is_stopping();
            let response = if close && !response.close {
                response.closing()
            } else {
                response
            };
            if self.send(conn, &response, head_only).is_err() {
                return After::Close;
            }
            conn.consume(used, Instant::now());
            if close {
                return After::Linger;
            }
        }
    }

    /// Writes one response: head and body in one write when the body is small.
    fn send(
        &mut self,
        conn: &mut Connection,
        response: &Response,
        head_only: bool,
    ) -> io::Result<()> {
        self.out.clear();
        let date = self.date.get();
        let large = !head_only && response.body.len() > COPY_BODY_BYTES;
        response::write_head(response, date, &mut self.out);
        if !head_only && !large {
            self.out.extend_from_slice(&response.body);
        }
        conn.stream.write_all(&self.out)?;
        if large {
            conn.stream.write_all(&response.body)?;
        }
        if self.out.capacity() > 1024 * 1024 {
            self.out = Vec::with_capacity(16 * 1024);
        }
        Ok(())
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
