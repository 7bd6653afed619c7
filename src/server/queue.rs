//! The task queue, poll loop → workers. Bounded: `push_all` leaves out what does not fit so the
//! poll loop can answer 503 instead of letting memory grow. Workers take tasks in batches. (The
//! way back, workers → poll loop, is the poll loop's inbox.)

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::connection::{Class, Connection};
use super::lanes::Turn;

/// Most connections pushed to or taken from the queue at once (a worker's batch).
pub const MAX_BATCH: usize = 8;

/// A connection for a worker, and what to do with it.
#[derive(Debug)]
pub struct Task {
    /// The connection, with a complete request (or bytes the parser rejects) at the front of its
    /// input, or a WebSocket message.
    pub conn: Connection,
    /// Serve it, or answer 408 because its request came too slowly.
    pub turn: Turn,
}

/// A bounded multi-consumer queue of tasks (Mutex + Condvar).
#[derive(Debug)]
pub struct TaskQueue {
    capacity: usize,
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    /// Tasks served first: requests of connections that did not use up their last turn.
    urgent: VecDeque<Task>,
    /// Connections whose last turn produced a full share of answers (large responses, deep
    /// pipelines, clients that do not read): served when no urgent task waits, so that they
    /// cannot make a small request wait behind them.
    bulk: VecDeque<Task>,
    closed: bool,
}

impl QueueState {
    fn len(&self) -> usize {
        self.urgent.len() + self.bulk.len()
    }
}

impl Task {
    fn is_bulk(&self) -> bool {
        self.conn.schedule.class == Class::Bulk
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TaskQueue>();
};

impl TaskQueue {
    /// An empty queue holding at most `capacity` tasks.
    pub fn new(capacity: usize) -> TaskQueue {
        TaskQueue {
            capacity,
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
        }
    }

    /// The lock. A panic cannot leave the state half-updated (each update is one push, pop or
    /// flag write), so a poisoned lock is taken over.
    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds every task of `tasks` that fits, waking one worker per `batch` tasks; the tasks
    /// that did not fit (queue full or closed) are left in `tasks`.
    pub fn push_all(&self, tasks: &mut Vec<Task>, batch: usize) {
        let mut state = self.lock();
        let room = if state.closed {
            0
        } else {
            self.capacity.saturating_sub(state.len())
        };
        let take = room.min(tasks.len());
        // Keep arrival order within each class: the oldest ready connection is served first.
        let rest = tasks.split_off(take);
        for task in tasks.drain(..) {
            if task.is_bulk() {
                state.bulk.push_back(task);
            } else {
                state.urgent.push_back(task);
            }
        }
        *tasks = rest;
        drop(state);
        for _ in 0..take.div_ceil(batch.max(1)) {
            self.ready.notify_one();
        }
    }

    /// Waits for work and takes up to `max` tasks at once (so that one worker can serve several
    /// ready connections with one Redis round trip), urgent ones before bulk ones; takes nothing
    /// once the queue is closed and empty.
    pub fn pop_batch(&self, max: usize, into: &mut Vec<Task>) {
        let mut state = self.lock();
        loop {
            let class = if state.urgent.is_empty() {
                &mut state.bulk
            } else {
                &mut state.urgent
            };
            if !class.is_empty() {
                let n = max.max(1).min(class.len());
                into.extend(class.drain(..n));
                let more = state.len() > 0;
                drop(state);
                if more {
                    // Work is left: let another worker take it rather than wait for us.
                    self.ready.notify_one();
                }
                return;
            }
            if state.closed {
                return;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Tasks waiting for a worker.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no task is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the queue: pushes fail, and workers return once it is empty.
    pub fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::connection::Listener;
    use std::net::{TcpListener, TcpStream};
    use std::time::Instant;

    fn tasks(n: usize) -> Vec<Task> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        (0..n)
            .map(|_| {
                let stream = TcpStream::connect(addr).unwrap();
                Task {
                    conn: Connection::new(
                        stream,
                        addr,
                        Listener::Data,
                        Instant::now(),
                        &crate::memory::Budget::unlimited(),
                    ),
                    turn: Turn::Serve,
                }
            })
            .collect()
    }

    #[test]
    fn push_all_keeps_what_does_not_fit() {
        let queue = TaskQueue::new(3);
        let mut batch = tasks(5);
        queue.push_all(&mut batch, 8);
        assert_eq!((queue.len(), batch.len()), (3, 2));
    }

    #[test]
    fn pop_batch_takes_at_most_max_in_order() {
        let queue = TaskQueue::new(10);
        let mut batch = tasks(5);
        let first_peer = batch[0].conn.socket().local_addr().unwrap();
        queue.push_all(&mut batch, 8);
        let mut got = Vec::new();
        queue.pop_batch(3, &mut got);
        assert_eq!((got.len(), queue.len()), (3, 2));
        assert_eq!(got[0].conn.socket().local_addr().unwrap(), first_peer);
    }

    #[test]
    fn urgent_tasks_are_taken_before_bulk_ones() {
        let queue = TaskQueue::new(10);
        let mut batch = tasks(3);
        for task in &mut batch[..2] {
            task.conn.schedule.class = Class::Bulk;
        }
        queue.push_all(&mut batch, 8);
        let mut got = Vec::new();
        queue.pop_batch(8, &mut got);
        assert_eq!(got.len(), 1, "the one urgent task comes alone, first");
        assert!(!got[0].is_bulk());
        got.clear();
        queue.pop_batch(8, &mut got);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(Task::is_bulk));
    }

    #[test]
    fn closed_queue_refuses_pushes_and_drains_then_ends_pops() {
        let queue = TaskQueue::new(10);
        let mut batch = tasks(1);
        queue.push_all(&mut batch, 8);
        queue.close();
        let mut more = tasks(1);
        queue.push_all(&mut more, 8);
        assert_eq!(more.len(), 1, "a closed queue takes nothing");
        let mut got = Vec::new();
        queue.pop_batch(8, &mut got);
        assert_eq!(got.len(), 1, "what was queued is still served");
        got.clear();
        queue.pop_batch(8, &mut got);
        assert!(got.is_empty(), "then pop returns at once");
    }
}
