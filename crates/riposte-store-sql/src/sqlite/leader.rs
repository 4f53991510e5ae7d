//! Leadership on SQLite: an exclusive OS file lock (`flock`) on
//! `<ledger>.leader-<task>.lock` beside the ledger, held for the guard's
//! life. A SQLite ledger is one file on one host, so every process that can
//! open it can see the lock; the kernel frees it when the holding process
//! dies, so a killed node never keeps the task. A second `try_lead` in the
//! same process opens the file again and is refused like any other.

use std::path::Path;

use async_trait::async_trait;
use riposte_store::{LeaderGuard, Leadership, StoreError};

struct FileLeader {
    file: Option<std::fs::File>,
}

#[async_trait]
impl LeaderGuard for FileLeader {
    async fn still_held(&mut self) -> Result<bool, StoreError> {
        Ok(self.file.is_some())
    }

    async fn release(&mut self) {
        if let Some(file) = self.file.take() {
            let _ = file.unlock();
        }
    }
}

pub(super) fn try_lead(ledger: &Path, task: &str) -> Result<Option<Leadership>, StoreError> {
    let safe: String = task
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut name = ledger.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".leader-{safe}.lock"));
    let lock_path = ledger.with_file_name(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| {
            StoreError::Backend(format!(
                "cannot open the leader lock file {}: {e}; check the data directory's permissions",
                lock_path.display()
            ))
        })?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Leadership::new(
            task,
            Box::new(FileLeader { file: Some(file) }),
        ))),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backend(format!(
            "cannot lock the leader lock file {}: {e}",
            lock_path.display()
        ))),
    }
}
