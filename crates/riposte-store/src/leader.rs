//! Leader election for periodic work that must run on one node at a time
//! (the Samba audit-log tailer, the sweep that takes over jobs whose lease
//! ran out).
//!
//! A node calls [`LeaderLock::try_lead`] for a task; the one that gets a
//! [`Leadership`] runs the task while it holds it, and checks it with
//! [`Leadership::still_leading`] between rounds. Dropping the leadership
//! releases it; so does the node dying (the backend ties the lock to
//! something the operating system or the database server frees: a
//! connection, a file lock). Followers call `try_lead` again periodically.

use async_trait::async_trait;

use crate::StoreError;

#[async_trait]
pub trait LeaderLock: Send + Sync {
    /// Becomes the one holder of `task`'s lock, or `None` when another node
    /// (or another part of this process) holds it. Never waits for it.
    async fn try_lead(&self, task: &str) -> Result<Option<Leadership>, StoreError>;
}

/// What a backend holds while a node leads a task; dropping it releases the lock.
#[async_trait]
pub trait LeaderGuard: Send {
    /// `true` while the lock is still held (e.g. the connection holding it is alive).
    async fn still_held(&mut self) -> Result<bool, StoreError>;

    /// Releases the lock now (dropping the guard releases it too, but a
    /// database may notice a dropped connection only a moment later).
    async fn release(&mut self);
}

/// The right to run one task on one node, held until dropped.
pub struct Leadership {
    task: String,
    guard: Box<dyn LeaderGuard>,
}

impl Leadership {
    pub fn new(task: &str, guard: Box<dyn LeaderGuard>) -> Self {
        Leadership {
            task: task.to_string(),
            guard,
        }
    }

    pub fn task(&self) -> &str {
        &self.task
    }

    /// `false` once the lock is lost (the node must stop the task and try
    /// to lead again); an error counts as lost.
    pub async fn still_leading(&mut self) -> bool {
        matches!(self.guard.still_held().await, Ok(true))
    }

    /// Gives the task up at once, so another node can take it.
    pub async fn release(mut self) {
        self.guard.release().await;
    }
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("task", &self.task)
            .finish()
    }
}
