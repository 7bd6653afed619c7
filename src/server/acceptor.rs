//! The acceptor threads (`accept`, and `admin-accept` when the admin listener is on): each blocks
//! in `accept` on its listener and hands every new connection to the poll loop's inbox.
//!
//! Why a thread and not a nonblocking `accept` in the poll loop: the listen queue is the one
//! readiness signal std gets from the kernel without polling, and a thread blocked in `accept`
//! takes a connection the moment it arrives, whatever the poll loop is doing. The poll loop then
//! sleeps on its inbox instead of napping, so it uses no CPU while nothing happens and wakes at
//! once when something does; and std's listen backlog (128, which std does not let us change)
//! never fills while the poll loop is busy with a long pass.
//!
//! The acceptor also keeps `--max-connections`: past it, a connection gets a 503 and is closed
//! here, without reaching the poll loop.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::connection::{Connection, Listener, Readiness, Received};
use super::input::READ_CHUNK;
use super::lanes::Turn;
use super::queue::Task;
use super::queue::MAX_BATCH;
use super::Shared;
use crate::log;
use crate::metrics::Metrics;

/// Pause after an accept error such as EMFILE, so that the thread does not spin on it.
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// How long stopping an acceptor may take to wake it from `accept`.
const WAKE_TIMEOUT: Duration = Duration::from_secs(1);

/// A running acceptor thread.
#[derive(Debug)]
pub struct Acceptor {
    handle: JoinHandle<()>,
    /// Where a connection wakes it from `accept` (the listener's address, on loopback when it
    /// listens on every address).
    wake: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl Acceptor {
    /// Starts the acceptor of `listener` (made blocking: the thread waits in `accept`).
    ///
    /// # Errors
    ///
    /// When the listener's address cannot be read or the thread cannot start.
    pub fn spawn(
        listener: TcpListener,
        kind: Listener,
        shared: &Arc<Shared>,
    ) -> io::Result<Acceptor> {
        listener.set_nonblocking(false)?;
        let wake = reachable(listener.local_addr()?);
        let stop = Arc::new(AtomicBool::new(false));
        let name = match kind {
            Listener::Data => "accept",
            Listener::Admin => "admin-accept",
        };
        let handle = {
            let (shared, stop) = (Arc::clone(shared), Arc::clone(&stop));
            thread::Builder::new()
                .name(name.into())
                .spawn(move || run(&listener, kind, &shared, &stop))?
        };
        Ok(Acceptor { handle, wake, stop })
    }

    /// Stops accepting on every listener: each thread wakes, closes its listener (the OS refuses
    /// new connections from then on) and ends; returns once all have. All are told first and
    /// woken together, so the listeners close at about the same moment; the admin listener
    /// (last in the list) is woken first, so that a monitor never finds it open after the data
    /// listener has closed.
    pub fn stop_all(acceptors: Vec<Acceptor>) {
        for acceptor in &acceptors {
            acceptor.stop.store(true, Ordering::Relaxed);
        }
        for acceptor in acceptors.into_iter().rev() {
            // A connection of our own wakes `accept`; the thread sees the flag and drops it.
            match TcpStream::connect_timeout(&acceptor.wake, WAKE_TIMEOUT) {
                Ok(_) => {
                    let _ = acceptor.handle.join();
                }
                Err(e) => log::warn(format_args!(
                    "could not wake the acceptor on {} to stop it: {e}",
                    acceptor.wake
                )),
            }
        }
    }
}

/// The address a connection of our own reaches a listener on.
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    addr
}

fn run(listener: &TcpListener, kind: Listener, shared: &Shared, stop: &AtomicBool) {
    let mut last_error_log: Option<Instant> = None;
    let mut scratch = vec![0; READ_CHUNK].into_boxed_slice();
    let mut task = Vec::with_capacity(1);
    loop {
        let accepted = listener.accept();
        if stop.load(Ordering::Relaxed) {
            return; // the listener closes with the thread
        }
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => match e.kind() {
                // The client gave up before we took it, or a signal: take the next one.
                io::ErrorKind::Interrupted
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::ConnectionReset => continue,
                _ => {
                    // EMFILE, ENFILE, ENOBUFS…: the pending connection stays in the backlog. Log
                    // at most once a second and pause instead of spinning.
                    let now = Instant::now();
                    if last_error_log
                        .map_or(true, |t| now.duration_since(t) >= Duration::from_secs(1))
                    {
                        log::error(format_args!(
                            "accept failed: {e} (out of file descriptors? raise `ulimit -n` or lower --max-connections)"
                        ));
                        last_error_log = Some(now);
                    }
                    thread::sleep(ACCEPT_ERROR_PAUSE);
                    continue;
                }
            },
        };
        if let Err(e) = arm(&stream) {
            log::debug(format_args!("dropping {peer}: {e}"));
            continue;
        }
        Metrics::add(&shared.metrics.accepted, 1);
        let conn = Connection::new(stream, peer, kind, Instant::now(), &shared.budget);
        // Counted first, so that `refuse` (which uncounts) keeps the count exact.
        let open = shared.open_connections.fetch_add(1, Ordering::Relaxed) + 1;
        if open > shared.cfg.max_connections && kind == Listener::Data {
            shared.refuse(conn, "too many open connections (--max-connections)");
            continue;
        }
        hand_over(conn, shared, &mut scratch, &mut task);
    }
}

/// Hands a new connection on. Its request often arrives with it (a client writes as soon as it
/// is connected): one read finds it, and a complete request goes straight to the workers, without
/// a turn through the poll loop. Anything else (nothing yet, part of a request, a full queue) goes
/// to the poll loop.
fn hand_over(mut conn: Connection, shared: &Shared, scratch: &mut [u8], task: &mut Vec<Task>) {
    match conn.receive(scratch, Instant::now(), &shared.metrics) {
        Received::Closed => return shared.close_connection(conn),
        Received::Bytes(_) if conn.poll_request(&shared.limits) == Readiness::Ready => {
            conn.take_unparsed();
            task.push(Task {
                conn,
                turn: Turn::Serve,
            });
            shared.queue.push_all(task, MAX_BATCH);
            if let Some(Task { mut conn, .. }) = task.pop() {
                // The queue is full: the poll loop keeps it and tries again.
                conn.mark_unparsed();
                shared.inbox.push(conn);
            }
            return;
        }
        Received::Bytes(_) | Received::Nothing => {}
    }
    shared.inbox.push(conn);
}

/// Prepares an accepted socket: nonblocking for its whole life (the accepted socket may or may
/// not inherit the listener's mode, so set it), and responses go out without Nagle delay.
fn arm(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_every_address_is_woken_on_loopback() {
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(reachable(any), "127.0.0.1:8080".parse().unwrap());
        let any6: SocketAddr = "[::]:8080".parse().unwrap();
        assert_eq!(reachable(any6), "[::1]:8080".parse().unwrap());
        let one: SocketAddr = "10.1.2.3:80".parse().unwrap();
        assert_eq!(reachable(one), one);
    }
}
