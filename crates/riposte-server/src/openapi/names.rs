//! The schemas of the enumerations that bodies share with the layers below
//! the server (core, store, detection), which know nothing of OpenAPI: each
//! lists its values from the type itself (its `ALL`, or an exhaustive match
//! that stops the build when a variant is added), so the document follows the
//! code.

use std::borrow::Cow;

use riposte_core::readiness::GapReason;
use riposte_core::{Action, Outcome};
use riposte_response::Severity;
use riposte_store::{Approval, BulkState, JobState};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A string schema whose values are the serde names of `values`.
fn names<T: Serialize>(description: &str, values: &[T]) -> RefOr<Schema> {
    let names: Vec<String> = values
        .iter()
        .filter_map(|v| serde_json::to_value(v).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .into()
}

macro_rules! named_enum {
    ($schema:ident, $name:literal, $description:literal, $values:expr) => {
        #[doc = $description]
        pub(crate) struct $schema;

        impl PartialSchema for $schema {
            fn schema() -> RefOr<Schema> {
                names($description, &$values)
            }
        }

        impl ToSchema for $schema {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

named_enum!(
    ActionName,
    "Action",
    "A containment action (riposte-core's Action: every one it knows).",
    Action::ALL
);
named_enum!(
    OutcomeName,
    "Outcome",
    "A job's outcome, read back from the directory.",
    Outcome::ALL
);
named_enum!(
    GapReasonName,
    "GapReason",
    "Why accounts are not covered by an action (a readiness gap group).",
    GapReason::ALL
);
named_enum!(JobStateName, "JobState", "Where a job is.", job_states());
named_enum!(
    BulkStateName,
    "BulkState",
    "Where a bulk operation is.",
    bulk_states()
);
named_enum!(
    ApprovalName,
    "Approval",
    "A second person's decision on a protected job or a large bulk.",
    approvals()
);
named_enum!(
    SeverityName,
    "Severity",
    "An alert's severity.",
    severities()
);

// The store and detection enumerations have no list of their own: each match
// below is exhaustive, so a new variant stops the build here until it is listed.
fn job_states() -> [JobState; 3] {
    let all = [JobState::Queued, JobState::Running, JobState::Finished];
    for s in all {
        match s {
            JobState::Queued | JobState::Running | JobState::Finished => {}
        }
    }
    all
}

fn bulk_states() -> [BulkState; 4] {
    let all = [
        BulkState::Running,
        BulkState::Paused,
        BulkState::Cancelled,
        BulkState::Finished,
    ];
    for s in all {
        match s {
            BulkState::Running | BulkState::Paused | BulkState::Cancelled | BulkState::Finished => {
            }
        }
    }
    all
}

fn approvals() -> [Approval; 3] {
    let all = [Approval::Pending, Approval::Approved, Approval::Rejected];
    for a in all {
        match a {
            Approval::Pending | Approval::Approved | Approval::Rejected => {}
        }
    }
    all
}

fn severities() -> [Severity; 4] {
    let all = [
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];
    for s in all {
        match s {
            Severity::Low | Severity::Medium | Severity::High | Severity::Critical => {}
        }
    }
    all
}

/// A bulk operation's list of references, at most `riposte_jobs::bulk::MAX_REFERENCES`.
pub(crate) struct ReferenceList;

impl PartialSchema for ReferenceList {
    fn schema() -> RefOr<Schema> {
        ArrayBuilder::new()
            .items(String::schema())
            .max_items(Some(riposte_jobs::bulk::MAX_REFERENCES))
            .description(Some(
                "references: forest:sAMAccountName, a UPN, a DN, a SID or an objectGUID",
            ))
            .into()
    }
}

impl ToSchema for ReferenceList {}

/// Where a job's request came from: the API's own list ([`crate::api::JOB_SOURCES`]).
pub(crate) struct JobSourceName;

impl PartialSchema for JobSourceName {
    fn schema() -> RefOr<Schema> {
        names("where a job's request came from", &crate::api::JOB_SOURCES)
    }
}

impl ToSchema for JobSourceName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("JobSource")
    }
}

/// How a bulk operation named its accounts: `riposte_jobs::Selector::kind` of each
/// selector (an exhaustive match: a new one stops the build here), and `undo`.
pub(crate) struct SelectorKindName;

fn selector_kinds() -> Vec<&'static str> {
    use riposte_jobs::Selector;
    let all = [
        Selector::References(Vec::new()),
        Selector::Ou(String::new()),
        Selector::Group {
            group: String::new(),
            nested: false,
        },
        Selector::Alert {
            id: uuid::Uuid::nil(),
            users: Vec::new(),
        },
    ];
    for s in &all {
        match s {
            Selector::References(_)
            | Selector::Ou(_)
            | Selector::Group { .. }
            | Selector::Alert { .. } => {}
        }
    }
    let mut kinds: Vec<&'static str> = all.iter().map(Selector::kind).collect();
    // An undo names the accounts its original changed (riposte-jobs' undo_bulk).
    kinds.push("undo");
    kinds
}

impl PartialSchema for SelectorKindName {
    fn schema() -> RefOr<Schema> {
        names("how a bulk operation named its accounts", &selector_kinds())
    }
}

impl ToSchema for SelectorKindName {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("SelectorKind")
    }
}

/// A value that is always `true` (a dry run's answer says it is one).
pub(crate) struct AlwaysTrue;

impl PartialSchema for AlwaysTrue {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .enum_values(Some([true]))
            .into()
    }
}

impl ToSchema for AlwaysTrue {}
