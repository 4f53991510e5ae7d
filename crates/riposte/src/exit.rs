//! Exit statuses, one per kind of result, and which status an error gets.

use riposte_core::Outcome;
use riposte_jobs::{FindJobError, RunnerError};
use riposte_store::StoreError;

use crate::config::ConfigError;

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const USAGE: u8 = 2;
pub const INEFFECTIVE: u8 = 3;
pub const DENIED: u8 = 4;
/// A protected identity: the job waits for a second person's approval.
pub const PENDING_APPROVAL: u8 = 5;
/// The job ledger cannot be written (its disk is full or read-only):
/// nothing new was accepted; jobs already accepted wait in the ledger.
pub const LEDGER_UNWRITABLE: u8 = 6;

/// Bad input from the command line (exit 2): the message says what to give instead.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A job's status: its outcome, or waiting for approval.
pub fn for_job(job: &riposte_store::Job) -> u8 {
    if job.awaiting_approval() {
        return PENDING_APPROVAL;
    }
    match job.outcome {
        Some(Outcome::Verified | Outcome::Already) => OK,
        Some(Outcome::Ineffective) => INEFFECTIVE,
        Some(Outcome::Denied) => DENIED,
        Some(Outcome::Failed) | None => FAILED,
    }
}

/// A command's error: 6 when the ledger refused the write, 2 for bad
/// input (configuration, arguments, an unknown or ambiguous job), else 1.
pub fn for_error(e: &anyhow::Error) -> u8 {
    let bad_input = e.chain().any(|c| {
        c.downcast_ref::<ConfigError>().is_some()
            || c.downcast_ref::<RunnerError>()
                .is_some_and(RunnerError::is_bad_input)
            || c.downcast_ref::<FindJobError>()
                .is_some_and(|f| !matches!(f, FindJobError::Store(_)))
            || c.downcast_ref::<UsageError>().is_some()
    });
    let unwritable = e.chain().any(|c| {
        matches!(
            c.downcast_ref::<StoreError>(),
            Some(StoreError::Unwritable { .. })
        ) || matches!(
            c.downcast_ref::<RunnerError>(),
            Some(RunnerError::Store(StoreError::Unwritable { .. }))
        )
    });
    if unwritable {
        LEDGER_UNWRITABLE
    } else if bad_input {
        USAGE
    } else {
        FAILED
    }
}
