//! The schemas of the response bodies that are built as JSON values (by the
//! views in `riposte-jobs::view`, the store's serialised rows and the
//! handlers' own `json!`), not as typed values the server could derive from.
//! The tests in `openapi.rs` hold each one against a body the code really
//! builds, so a key added to or dropped from a view fails them.
// Described, never built: the bodies themselves are JSON values.
#![allow(dead_code)]

use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::names::{
    ActionName, AlwaysTrue, ApprovalName, BulkStateName, GapReasonName, JobStateName, OutcomeName,
    SelectorKindName, SeverityName,
};

/// Every refusal and failure: a stable code to branch on and a sentence for people.
#[derive(ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
pub(crate) struct ErrorDetail {
    /// stable; branch on this
    code: String,
    /// for people
    message: String,
    /// e.g. `missing_right` on a 403, `candidates` on an ambiguous reference
    #[schema(value_type = Object, required = false)]
    details: Option<Value>,
}

/// `{"status": "ok"}` or `{"status": "ready"}`.
#[derive(ToSchema)]
pub(crate) struct Status {
    status: String,
}

/// The caller as riposte sees them.
#[derive(ToSchema)]
pub(crate) struct Whoami {
    principal: String,
    role: String,
    #[schema(value_type = Object)]
    scope: Value,
    /// the person behind the credential; null for a service token, which can never approve
    #[schema(required)]
    person: Option<String>,
}

/// Accounts whose names contain the text, in every forest.
#[derive(ToSchema)]
pub(crate) struct IdentitySearch {
    #[schema(value_type = Vec<Object>)]
    identities: Vec<Value>,
    /// the forests searched
    searched: Vec<String>,
    unreachable: Vec<UnreachableForest>,
}

#[derive(ToSchema)]
pub(crate) struct UnreachableForest {
    forest: String,
    error: String,
}

/// An action queued (or, for an Idempotency-Key this caller sent before, its earlier job).
#[derive(ToSchema)]
pub(crate) struct Queued {
    job_id: Uuid,
    #[schema(value_type = JobStateName)]
    state: String,
    #[schema(value_type = Option<OutcomeName>, required)]
    outcome: Option<String>,
    replayed: bool,
    awaiting_approval: bool,
    #[schema(required)]
    approval_reason: Option<String>,
    links: QueuedLinks,
}

#[derive(ToSchema)]
pub(crate) struct QueuedLinks {
    job: String,
    events: String,
}

/// A job's target as requested and as resolved.
#[derive(ToSchema)]
pub(crate) struct JobTarget {
    reference: String,
    #[schema(required)]
    forest: Option<String>,
    #[schema(required)]
    dn: Option<String>,
    #[schema(required)]
    sid: Option<String>,
}

/// A job with its target, outcome, evidence and timeline (`riposte_jobs::view::job`).
#[derive(ToSchema)]
pub(crate) struct Job {
    job_id: Uuid,
    #[schema(value_type = ActionName)]
    action: String,
    target: JobTarget,
    #[schema(value_type = Option<OutcomeName>, required)]
    outcome: Option<String>,
    /// whether the job changed something in a directory: its outcome, or one of its steps',
    /// is verified (what undo reverses)
    changed_something: bool,
    #[schema(required)]
    message: Option<String>,
    reason: String,
    requested_by: String,
    #[schema(required)]
    requester_person: Option<String>,
    /// cli, api, portal or automation
    source: String,
    /// an automatic job: the input of the alert it answers (tail:<forest>, api:<principal>,
    /// file:<principal>); whoever fed it cannot approve
    #[schema(required)]
    evidence_input: Option<String>,
    #[schema(value_type = JobStateName)]
    state: String,
    #[schema(value_type = Option<ApprovalName>, required)]
    approval: Option<String>,
    #[schema(required)]
    approval_reason: Option<String>,
    #[schema(required)]
    decided_by: Option<String>,
    #[schema(value_type = Object)]
    options: Value,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime, required)]
    finished_at: Option<String>,
    #[schema(value_type = Option<Object>, required)]
    evidence: Option<Value>,
    /// the timeline (empty in lists)
    events: Vec<JobEvent>,
}

#[derive(ToSchema)]
pub(crate) struct JobEvent {
    #[schema(format = DateTime)]
    at: String,
    #[schema(value_type = JobStateName)]
    state: String,
    #[schema(required)]
    phase: Option<String>,
    message: String,
}

/// A page of jobs, newest first.
#[derive(ToSchema)]
pub(crate) struct JobPage {
    jobs: Vec<Job>,
    limit: u32,
    offset: u32,
    #[schema(required)]
    next_offset: Option<u32>,
}

/// A forwarder's batch, counted.
#[derive(ToSchema)]
pub(crate) struct IngestReport {
    accepted: u64,
    ignored: u64,
    unparsed: u64,
    /// the first 100 lines that were not events, with where they were
    errors: Vec<Unparsed>,
    /// events dated further from now than the allowed skew: kept out of detection
    refused_as_evidence: u64,
    alerts_raised: u64,
    alerts: Vec<RaisedAlert>,
}

#[derive(ToSchema)]
pub(crate) struct Unparsed {
    #[schema(value_type = Object)]
    location: Value,
    message: String,
}

#[derive(ToSchema)]
pub(crate) struct RaisedAlert {
    id: Uuid,
    rule_id: String,
    #[schema(required)]
    technique: Option<String>,
    link: String,
}

/// A detection alert (the store's row).
#[derive(ToSchema)]
pub(crate) struct Alert {
    id: Uuid,
    #[schema(format = DateTime)]
    raised_at: String,
    rule_id: String,
    title: String,
    #[schema(required)]
    technique: Option<String>,
    #[schema(value_type = SeverityName)]
    severity: String,
    description: String,
    entities: AlertEntities,
    #[schema(format = DateTime, required)]
    first_seen: Option<String>,
    #[schema(format = DateTime, required)]
    last_seen: Option<String>,
    event_count: u64,
    /// references: origin (file, record or line), event_id, time, user, source
    #[schema(value_type = Vec<Object>)]
    events: Value,
    /// tail:<forest> (a DC log riposte tails), api:<principal> (POST /api/v1/events) or
    /// file:<principal> (riposte ingest)
    input: String,
    /// the credential that sent the events: name, role, scope (null for a tailed DC log)
    #[schema(value_type = Option<Object>, required)]
    fed_by: Option<Value>,
}

#[derive(ToSchema)]
pub(crate) struct AlertEntities {
    users: Vec<String>,
    actors: Vec<String>,
    sources: Vec<String>,
    dcs: Vec<String>,
    services: Vec<String>,
}

/// A page of alerts, newest first.
#[derive(ToSchema)]
pub(crate) struct AlertPage {
    alerts: Vec<Alert>,
    limit: u32,
    offset: u32,
    #[schema(required)]
    next_offset: Option<u32>,
}

/// The readiness report: per forest and tenant, connection, rights per OU, coverage per
/// action with gap groups (their first accounts), and the fixes.
#[derive(ToSchema)]
pub(crate) struct Readiness {
    #[schema(format = DateTime)]
    generated_at: String,
    #[schema(required = false)]
    duration_ms: u64,
    forests: Vec<ForestReadiness>,
    tenants: Vec<TenantReadiness>,
}

#[derive(ToSchema)]
pub(crate) struct ForestReadiness {
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    base_dn: String,
    #[schema(required = false)]
    bind_method: String,
    #[schema(value_type = Option<Object>, required = false)]
    action_account: Value,
    #[schema(required = false)]
    dcs: Vec<DcReadiness>,
    #[schema(required = false)]
    users_scanned: u64,
    #[schema(value_type = Vec<Object>, required = false)]
    ous: Value,
    #[schema(required = false)]
    coverage: Vec<ActionCoverage>,
    #[schema(value_type = Vec<Object>, required = false)]
    fixes: Value,
    #[schema(required = false)]
    error: String,
}

#[derive(ToSchema)]
pub(crate) struct DcReadiness {
    #[schema(required = false)]
    url: String,
    #[schema(required = false)]
    reached: bool,
    #[schema(required = false)]
    error: String,
    #[schema(required = false)]
    clock_skew_secs: i64,
    #[schema(value_type = Object, required = false)]
    tls: Value,
}

#[derive(ToSchema)]
pub(crate) struct TenantReadiness {
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    app_permissions: Vec<String>,
    #[schema(required = false)]
    directory_roles: Vec<String>,
    #[schema(required = false)]
    users_scanned: u64,
    #[schema(required = false)]
    coverage: Vec<ActionCoverage>,
    #[schema(value_type = Vec<Object>, required = false)]
    fixes: Value,
    #[schema(required = false)]
    error: String,
}

#[derive(ToSchema)]
pub(crate) struct ActionCoverage {
    #[schema(required = false)]
    action: String,
    #[schema(required = false)]
    covered: u64,
    #[schema(required = false)]
    not_covered: u64,
    #[schema(required = false)]
    groups: Vec<GapGroup>,
}

#[derive(ToSchema)]
pub(crate) struct GapGroup {
    #[schema(value_type = GapReasonName, required = false)]
    reason: String,
    #[schema(required = false)]
    label: String,
    #[schema(required = false)]
    count: u64,
    #[schema(required = false)]
    accounts_truncated: bool,
    #[schema(value_type = Vec<Object>, required = false)]
    accounts: Value,
}

/// A page of one gap group's accounts.
#[derive(ToSchema)]
pub(crate) struct GapAccounts {
    scope: String,
    action: String,
    #[schema(value_type = GapReasonName)]
    reason: String,
    count: u64,
    page: u64,
    per_page: u64,
    #[schema(required)]
    next_page: Option<u64>,
    accounts: Vec<GapAccount>,
    #[schema(format = DateTime)]
    generated_at: String,
}

#[derive(ToSchema)]
pub(crate) struct GapAccount {
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    sam_account_name: String,
    #[schema(required = false)]
    detail: String,
}

/// A dry run's plan: nothing was changed.
#[derive(ToSchema)]
pub(crate) struct DryRun {
    #[schema(value_type = AlwaysTrue, inline)]
    dry_run: bool,
    plan: BulkPlan,
}

/// What a bulk operation would act on, and what it leaves out.
#[derive(ToSchema)]
pub(crate) struct BulkPlan {
    #[schema(value_type = ActionName)]
    action: String,
    selector_kind: String,
    selector_value: String,
    count: u64,
    accounts: Vec<PlannedAccount>,
    protected: Vec<LeftOut>,
    skipped: Vec<LeftOut>,
    unresolved: Vec<LeftOut>,
    #[schema(required)]
    approval_required: Option<String>,
}

#[derive(ToSchema)]
pub(crate) struct PlannedAccount {
    reference: String,
    #[schema(required)]
    forest: Option<String>,
    #[schema(required)]
    dn: Option<String>,
    #[schema(required)]
    enabled: Option<bool>,
}

#[derive(ToSchema)]
pub(crate) struct LeftOut {
    reference: String,
    kind: LeftOutKind,
    reason: String,
}

/// Why an account was left out (the kinds `riposte-jobs` plans with).
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub(crate) enum LeftOutKind {
    Protected,
    OutOfScope,
    NotApplicable,
    Unresolved,
}

/// A bulk operation (`riposte_jobs::view::bulk`): state, counts from its children,
/// progress, what was left out.
#[derive(ToSchema)]
pub(crate) struct Bulk {
    bulk_id: Uuid,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    #[schema(format = DateTime, required)]
    finished_at: Option<String>,
    #[schema(value_type = ActionName)]
    action: String,
    selector: BulkSelector,
    requested_by: String,
    #[schema(required)]
    requester_person: Option<String>,
    source: String,
    reason: String,
    #[schema(value_type = BulkStateName)]
    state: String,
    #[schema(required)]
    undo_of: Option<Uuid>,
    awaiting_approval: bool,
    #[schema(value_type = Option<ApprovalName>, required)]
    approval: Option<String>,
    #[schema(required)]
    approval_reason: Option<String>,
    #[schema(required)]
    decided_by: Option<String>,
    counts: BulkCounts,
    #[schema(minimum = 0, maximum = 1)]
    progress: f64,
    left_out: BulkLeftOut,
    links: BulkLinks,
    /// with ?jobs=true: each child in short
    #[schema(required = false)]
    jobs: Vec<BulkChild>,
}

/// The accounts the plan left out, as it listed them.
#[derive(ToSchema)]
pub(crate) struct BulkLeftOut {
    #[schema(value_type = Vec<Value>, required = false)]
    protected: Vec<Value>,
    #[schema(value_type = Vec<Value>, required = false)]
    skipped: Vec<Value>,
    #[schema(value_type = Vec<Value>, required = false)]
    unresolved: Vec<Value>,
}

#[derive(ToSchema)]
pub(crate) struct BulkSelector {
    #[schema(value_type = SelectorKindName)]
    kind: String,
    value: String,
}

#[derive(ToSchema)]
pub(crate) struct BulkCounts {
    total: u64,
    queued: u64,
    running: u64,
    finished: u64,
    verified: u64,
    already: u64,
    ineffective: u64,
    denied: u64,
    failed: u64,
}

#[derive(ToSchema)]
pub(crate) struct BulkLinks {
    #[schema(rename = "self")]
    this: String,
    jobs: String,
}

#[derive(ToSchema)]
pub(crate) struct BulkChild {
    job_id: Uuid,
    target: String,
    #[schema(required)]
    dn: Option<String>,
    #[schema(value_type = JobStateName)]
    state: String,
    #[schema(value_type = Option<OutcomeName>, required)]
    outcome: Option<String>,
    #[schema(required)]
    message: Option<String>,
}

/// A page of bulk operations, newest first.
#[derive(ToSchema)]
pub(crate) struct BulkPage {
    bulk: Vec<Bulk>,
    limit: u32,
    offset: u32,
    #[schema(required)]
    next_offset: Option<u32>,
}
