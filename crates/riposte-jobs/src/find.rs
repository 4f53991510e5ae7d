//! Jobs and bulk operations as a person names them: a full id, or the
//! start of one.

use riposte_store::{BulkOperation, Job, StoreError};
use uuid::Uuid;

use crate::{Runner, RunnerError};

#[derive(Debug, thiserror::Error)]
pub enum FindJobError {
    #[error("no job has the id {0:?}; `riposte actions list` shows the recent ones")]
    NotFound(String),
    #[error("{prefix:?} is the start of several job ids; give more of it: {}", ids.join(", "))]
    Ambiguous { prefix: String, ids: Vec<String> },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Runner {
    /// A job by full id or unique prefix.
    pub async fn find_job(&self, id_or_prefix: &str) -> Result<Job, FindJobError> {
        if let Ok(id) = Uuid::parse_str(id_or_prefix) {
            return self
                .store
                .get(id)
                .await?
                .ok_or(FindJobError::NotFound(id_or_prefix.to_string()));
        }
        let mut found = self.store.find_by_prefix(id_or_prefix).await?;
        match found.len() {
            0 => Err(FindJobError::NotFound(id_or_prefix.to_string())),
            1 => Ok(found.remove(0)),
            _ => Err(FindJobError::Ambiguous {
                prefix: id_or_prefix.to_string(),
                ids: found.iter().map(|j| j.id.to_string()).collect(),
            }),
        }
    }

    /// A bulk operation by full id or unique prefix.
    pub async fn find_bulk(&self, id_or_prefix: &str) -> Result<BulkOperation, RunnerError> {
        if let Ok(id) = Uuid::parse_str(id_or_prefix) {
            return self
                .store
                .get_bulk(id)
                .await?
                .ok_or(RunnerError::NoSuchBulk(id_or_prefix.to_string()));
        }
        let prefix = id_or_prefix.to_ascii_lowercase();
        let found: Vec<BulkOperation> = self
            .store
            .list_bulks(None, 1000, 0)
            .await?
            .into_iter()
            .filter(|b| prefix.len() >= 4 && b.id.to_string().starts_with(&prefix))
            .collect();
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one")),
            0 => Err(RunnerError::NoSuchBulk(id_or_prefix.to_string())),
            _ => Err(RunnerError::BulkConflict(format!(
                "{id_or_prefix:?} is the start of several bulk ids; give more of it"
            ))),
        }
    }
}
