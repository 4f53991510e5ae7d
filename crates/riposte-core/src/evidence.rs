//! What is kept with every outcome: the attributes before and after, what
//! was written, and the replication metadata that proves it landed.

use serde::{Deserialize, Serialize};

use crate::account::{AttributeMetadata, Snapshot};
use crate::rights::DelegationAdvice;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The DC the final read-back came from.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub dc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub action_account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<Snapshot>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<Snapshot>,
    /// Each write sent, in order (never a secret value).
    #[serde(default)]
    pub writes: Vec<String>,
    /// Flags removed by --clear-blocking-flags.
    #[serde(default)]
    pub cleared_flags: Vec<String>,
    /// replPropertyMetaData of each attribute written, read back.
    #[serde(default)]
    pub written_metadata: Vec<AttributeMetadata>,
    /// Failed attempts and retries, in order.
    #[serde(default)]
    pub attempts: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delegation: Option<DelegationAdvice>,
    /// For an identity acted on in several directories: each step's outcome.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub steps: Vec<StepRecord>,
}

/// One directory's part of a job, with its own outcome and evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub step: crate::containment::Step,
    pub outcome: crate::outcome::Outcome,
    pub message: String,
    /// The step's own evidence (AD attributes, or Graph before/after).
    #[serde(default)]
    pub details: serde_json::Value,
}
