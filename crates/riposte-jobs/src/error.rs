//! What a request can fail on. Bad input (a missing reason, a reference
//! that names nothing, a refusal) is told apart from the system failing
//! ([`RunnerError::is_bad_input`]): front ends answer the first with what to
//! change, the second as an error of the service.

use riposte_core::containment::NotApplicable;
use riposte_core::identity::IdentityRefError;
use riposte_store::StoreError;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("a reason is required: say why this action is taken (it is kept in the job ledger)")]
    MissingReason,
    #[error(transparent)]
    BadReference(#[from] IdentityRefError),
    #[error("{0}")]
    UnknownForest(String),
    #[error("no user matches {kind} {value:?} in {searched}")]
    NotFound {
        kind: &'static str,
        value: String,
        searched: String,
    },
    #[error("{reference:?} matches {} accounts; name one of them:\n{}", candidates.len(), candidates.join("\n"))]
    Ambiguous {
        reference: String,
        candidates: Vec<String>,
    },
    #[error(transparent)]
    NotApplicable(NotApplicable),
    #[error(transparent)]
    Refused(#[from] riposte_core::policy::Refusal),
    /// Automation never acts on a protected identity (nothing is recorded but the refusal).
    #[error(
        "{0}; protected identities are never acted on automatically: a person acts on it alone, and a second person approves"
    )]
    ProtectedFromAutomation(String),
    #[error("job {0} is not waiting for an approval (it may have been decided already)")]
    NotAwaitingApproval(Uuid),
    #[error("no job has the id {0}")]
    NoSuchJob(Uuid),
    /// A bulk request's selector is wrong (bad OU, unknown group, empty list...): nothing was recorded.
    #[error("{0}")]
    BadSelector(String),
    /// The directory could not list a bulk request's accounts: nothing was recorded.
    #[error("{0}")]
    SetUnavailable(String),
    #[error("no bulk operation has the id {0:?}; `riposte bulk list` shows the recent ones")]
    NoSuchBulk(String),
    /// The bulk operation is not in a state that allows this.
    #[error("{0}")]
    BulkConflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl RunnerError {
    /// The requester's input was wrong (as opposed to the system failing).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, RunnerError::Store(_) | RunnerError::SetUnavailable(_))
    }
}
