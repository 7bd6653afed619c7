//! The two hand-over points between the poll loop and the workers.
//!
//! * [`TaskQueue`]: poll loop → workers. Bounded; `push` refuses when full so the poll loop can
//!   answer 503 instead of letting memory grow.
//! * [`Handback`]: workers → poll loop. Connections that are served and may get another request.
//!   Unbounded in type but bounded in fact: it never holds more than the open connections.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::connection::Connection;

/// What a worker should do with a connection.
#[derive(Debug)]
pub enum Task {
    /// The buffer holds a complete request (or a request the parser rejects): serve it.
    Serve(Connection),
    /// The client was too slow sending its request: answer 408 and close.
    TimedOut(Connection),
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
    tasks: VecDeque<Task>,
    closed: bool,
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<TaskQueue>();
    assert_send_sync::<Handback>();
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

    /// Adds a task for the workers.
    ///
    /// # Errors
    ///
    /// Gives the task back when the queue is full or closed, so the caller can answer 503 on its
    /// connection. (Moving a few hundred bytes back is cheaper than boxing every task.)
    #[allow(clippy::result_large_err)]
    pub fn push(&self, task: Task) -> Result<(), Task> {
        let mut state = self.lock();
        if state.closed || state.tasks.len() >= self.capacity {
            return Err(task);
        }
        state.tasks.push_back(task);
        drop(state);
        self.ready.notify_one();
        Ok(())
    }

    /// Waits for a task; `None` once the queue is closed and empty.
    pub fn pop(&self) -> Option<Task> {
        let mut state = self.lock();
        loop {
            if let Some(task) = state.tasks.pop_front() {
                return Some(task);
            }
            if state.closed {
                return None;
            }
            state = self
                .ready
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Tasks waiting for a worker.
    pub fn len(&self) -> usize {
        self.lock().tasks.len()
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

/// Connections handed back by workers to the poll loop.
#[derive(Debug, Default)]
pub struct Handback {
    conns: Mutex<Vec<Connection>>,
}

impl Handback {
    /// The lock; poisoning is taken over (pushes and swaps cannot be half-done).
    fn lock(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A worker returns a connection.
    pub fn push(&self, conn: Connection) {
        self.lock().push(conn);
    }

    /// The poll loop takes every returned connection, appending them to `into`.
    pub fn drain_into(&self, into: &mut Vec<Connection>) {
        let mut conns = self.lock();
        into.append(&mut conns);
    }
}
