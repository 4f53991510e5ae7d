//! Mass containment: one request on many accounts. The selector (a list of
//! references, an OU, a group's members, an alert's users) is resolved
//! through the [`Directory`](riposte_core::directory::Directory) trait; each
//! account passes the same containment plan, safeguards and policy as a
//! single request; protected and out-of-scope accounts are skipped and
//! listed, never acted on. What is left becomes ordinary child jobs of one
//! bulk operation, run with bounded concurrency per forest (its DC) and per
//! Entra tenant, each through the same executor (compare-and-swap write,
//! read-back) and ledger as any job.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures_util::StreamExt;
use riposte_core::account::AccountState;
use riposte_core::containment::{Identity, Step};
use riposte_core::directory::{AccountSet, AccountSetError, MAX_SET};
use riposte_core::entity::{forest_namings, reference_for_entity};
use riposte_core::identity::IdentityRef;
use riposte_core::policy::{self, Permission, Principal};
use riposte_core::safeguards;
use riposte_core::{Action, ActionOptions, Outcome};
use riposte_store::{BulkOperation, BulkState, Job, JobState, NewAuditRecord, NewBulk, NewJob};
use serde::Serialize;
use serde_json::json;
use tokio::sync::Semaphore;
use tracing::{error, info};
use uuid::Uuid;

use crate::intake::{planned_steps, require_reason};
use crate::{Runner, RunnerError, Target};

/// How many child jobs run at once, per forest (its DC: a forest's jobs go to
/// its first reachable DC, over that DC's pooled connection) and per Entra tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkLimits {
    #[serde(default = "default_per_dc")]
    pub per_dc: usize,
    #[serde(default = "default_per_tenant")]
    pub per_tenant: usize,
    /// A bulk operation on more accounts than this waits for a second
    /// person's approval before its first child runs (`[bulk] approval_above`).
    #[serde(default = "default_approval_above")]
    pub approval_above: usize,
}

fn default_approval_above() -> usize {
    25
}

fn default_per_dc() -> usize {
    8
}

/// Enough children at once for their Graph requests to go together in
/// `$batch` calls of up to 20 (riposte-entra coalesces a tenant's concurrent
/// requests); Graph sees at most 4 HTTP requests of a tenant in flight.
fn default_per_tenant() -> usize {
    20
}

impl Default for BulkLimits {
    fn default() -> Self {
        BulkLimits {
            per_dc: default_per_dc(),
            per_tenant: default_per_tenant(),
            approval_above: default_approval_above(),
        }
    }
}

/// Which accounts a bulk request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// References as a person types them (corp:ernie, UPN, DN, SID, GUID).
    References(Vec<String>),
    /// Every user under an OU (subtree).
    Ou(String),
    /// A group's members: direct only, or with `nested` its member groups' too.
    Group { group: String, nested: bool },
    /// A stored alert's user entities (the front end reads the alert).
    Alert { id: Uuid, users: Vec<String> },
}

impl Selector {
    pub fn kind(&self) -> &'static str {
        match self {
            Selector::References(_) => "references",
            Selector::Ou(_) => "ou",
            Selector::Group { .. } => "group",
            Selector::Alert { .. } => "alert",
        }
    }

    pub fn value(&self) -> String {
        match self {
            Selector::References(refs) => refs.join("\n"),
            Selector::Ou(dn) => dn.clone(),
            Selector::Group {
                group,
                nested: false,
            } => group.clone(),
            Selector::Group {
                group,
                nested: true,
            } => format!("{group} (nested)"),
            Selector::Alert { id, .. } => id.to_string(),
        }
    }
}

/// The most references one list may hold.
pub const MAX_REFERENCES: usize = MAX_SET;

/// A request on many accounts.
#[derive(Debug, Clone)]
pub struct BulkRequest {
    pub selector: Selector,
    pub action: Action,
    pub options: ActionOptions,
    pub reason: String,
    pub requested_by: String,
    /// The person behind the requester's credential (`Principal::person`).
    pub requester_person: Option<String>,
    pub source: String,
    pub remote_addr: Option<String>,
}

/// An account a bulk would act on.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedAccount {
    pub reference: String,
    pub forest: Option<String>,
    pub dn: Option<String>,
    /// AD state now (None for cloud-only identities).
    pub enabled: Option<bool>,
}

/// An account left out, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub reference: String,
    /// `protected`, `out-of-scope`, `not-applicable` or `unresolved`.
    pub kind: &'static str,
    pub reason: String,
}

/// What a bulk request resolves to: the dry run's answer, and what a real
/// run records.
#[derive(Debug, Clone, Serialize)]
pub struct BulkPlan {
    pub action: Action,
    pub selector_kind: &'static str,
    pub selector_value: String,
    pub count: usize,
    pub accounts: Vec<PlannedAccount>,
    /// Protected accounts: never acted on in bulk (act on each alone, with approval).
    pub protected: Vec<Skipped>,
    /// Outside the requester's scope, or the action does not apply.
    pub skipped: Vec<Skipped>,
    /// References that name no single account, or whose directory could not be searched.
    pub unresolved: Vec<Skipped>,
    /// Why a second person must approve before the first account is acted
    /// on (more accounts than `[bulk] approval_above`), if they must.
    pub approval_required: Option<String>,
    #[serde(skip)]
    children: Vec<(NewJob, PlannedAccount)>,
}

impl BulkPlan {
    fn left_out(&self) -> serde_json::Value {
        json!({
            "protected": self.protected,
            "skipped": self.skipped,
            "unresolved": self.unresolved,
        })
    }
}

/// How a bulk run ended here.
#[derive(Debug, Clone)]
pub struct BulkRun {
    pub bulk: BulkOperation,
    /// The weakest outcome among the children (None when there were none).
    pub weakest: Option<Outcome>,
}

/// The reference by which an undo names a job's account again: its SID
/// (stable across renames and moves), else its DN, else the reference given.
fn reference_of(job: &Job) -> String {
    match (&job.forest, &job.target_sid, &job.target_dn) {
        (Some(f), Some(sid), _) => format!("{f}:{sid}"),
        (Some(f), None, Some(dn)) => format!("{f}:{dn}"),
        _ => job.target_ref.clone(),
    }
}

impl Runner {
    /// An alert's user entities (`CORP\\ernie`, ...) as references, through
    /// the one rule automation uses; an entity naming no configured forest is
    /// listed as unresolved with the reason, never guessed.
    fn alert_references(
        &self,
        users: &[String],
        unresolved: &mut Vec<Skipped>,
    ) -> Result<Vec<String>, RunnerError> {
        if users.len() > MAX_REFERENCES {
            return Err(RunnerError::BadSelector(format!(
                "the alert names {} users; the limit is {MAX_REFERENCES}",
                users.len()
            )));
        }
        let forests = forest_namings(self.directory().as_ref());
        let mut references = Vec::new();
        for entity in users {
            match reference_for_entity(entity, &forests) {
                Ok(reference) => references.push(reference),
                Err(why) => unresolved.push(Skipped {
                    reference: entity.escape_debug().take(200).collect(),
                    kind: "unresolved",
                    reason: why.to_string(),
                }),
            }
        }
        Ok(references)
    }

    pub fn with_bulk_limits(mut self, limits: BulkLimits) -> Self {
        self.bulk_limits = BulkLimits {
            per_dc: limits.per_dc.max(1),
            per_tenant: limits.per_tenant.max(1),
            approval_above: limits.approval_above,
        };
        self
    }

    pub fn bulk_limits(&self) -> BulkLimits {
        self.bulk_limits
    }

    /// The policy's word on a bulk request; a refusal is audited.
    pub(crate) async fn check_bulk(
        &self,
        principal: &Principal,
        wanted: &Permission<'_>,
        what: &str,
        source: &str,
        remote_addr: Option<String>,
    ) -> Result<(), RunnerError> {
        let Err(refusal) = policy::authorize(principal, wanted) else {
            return Ok(());
        };
        self.audit_refusal(
            principal,
            source,
            remote_addr,
            what,
            json!({ "bulk": true, "role": principal.role, "missing_right": refusal.missing }),
        )
        .await?;
        Err(refusal.into())
    }

    /// Resolves a bulk request to the accounts it would act on, and those it
    /// would leave out. Reads the directory; writes nothing.
    pub async fn plan_bulk(
        &self,
        principal: &Principal,
        request: &BulkRequest,
    ) -> Result<BulkPlan, RunnerError> {
        require_reason(&request.reason)?;
        if request.action == Action::SetPassword {
            return Err(RunnerError::BadSelector(
                "set-password is not offered in bulk: each new password must be shown to someone; use `user set-password` per account".into(),
            ));
        }
        self.check_bulk(
            principal,
            &Permission::RequestBulk {
                action: request.action,
            },
            &format!("{}:{}", request.selector.kind(), request.selector.value()),
            &request.source,
            request.remote_addr.clone(),
        )
        .await?;
        let mut unresolved = Vec::new();
        let identities: Vec<Identity> = match &request.selector {
            Selector::Ou(dn) => {
                self.identities_in(&AccountSet::Ou { dn: dn.clone() })
                    .await?
            }
            Selector::Group { group, nested } => {
                self.identities_in(&AccountSet::Group {
                    reference: group.clone(),
                    nested: *nested,
                })
                .await?
            }
            Selector::References(_) | Selector::Alert { .. } => {
                let refs = match &request.selector {
                    Selector::Alert { users, .. } => {
                        self.alert_references(users, &mut unresolved)?
                    }
                    Selector::References(refs) => refs.clone(),
                    _ => Vec::new(),
                };
                if refs.len() > MAX_REFERENCES {
                    return Err(RunnerError::BadSelector(format!(
                        "{} references in one request; the limit is {MAX_REFERENCES}",
                        refs.len()
                    )));
                }
                let mut seen = HashSet::new();
                let refs: Vec<String> = refs
                    .iter()
                    .map(|r| r.trim().to_string())
                    .filter(|r| !r.is_empty() && !r.starts_with('#') && seen.insert(r.clone()))
                    .collect();
                if refs.is_empty() && unresolved.is_empty() {
                    return Err(RunnerError::BadSelector(
                        "the list names no account; give one reference per line".into(),
                    ));
                }
                // Looked up `per_dc` at once in AD, and `per_tenant` at once
                // for references that name a tenant (those go to Graph
                // together, in `$batch` calls, when many wait).
                let (ad_slots, tenant_slots) = (
                    Semaphore::new(self.bulk_limits.per_dc),
                    Semaphore::new(self.bulk_limits.per_tenant),
                );
                let (ad_slots, tenant_slots) = (&ad_slots, &tenant_slots);
                let resolved: Vec<(String, Result<Target, RunnerError>)> =
                    futures_util::stream::iter(refs)
                        .map(|r| async move {
                            let names_tenant = IdentityRef::parse(&r)
                                .ok()
                                .and_then(|parsed| parsed.forest)
                                .is_some_and(|prefix| self.tenant_named(&prefix));
                            let slots = if names_tenant { tenant_slots } else { ad_slots };
                            let _slot = slots.acquire().await;
                            let target = self.resolve_target(&r).await;
                            (r, target)
                        })
                        .buffered(self.bulk_limits.per_dc + self.bulk_limits.per_tenant)
                        .collect()
                        .await;
                let mut out = Vec::new();
                for (reference, target) in resolved {
                    match target {
                        Ok(Target::Identity(identity)) => out.push(*identity),
                        Ok(Target::Unreachable { message, .. }) => unresolved.push(Skipped {
                            reference,
                            kind: "unresolved",
                            reason: format!("the directory could not be searched: {message}"),
                        }),
                        Err(RunnerError::Store(e)) => return Err(e.into()),
                        Err(e) => unresolved.push(Skipped {
                            reference,
                            kind: "unresolved",
                            reason: e.to_string(),
                        }),
                    }
                }
                out
            }
        };
        let mut plan = BulkPlan {
            action: request.action,
            selector_kind: request.selector.kind(),
            selector_value: request.selector.value(),
            count: 0,
            accounts: Vec::new(),
            protected: Vec::new(),
            skipped: Vec::new(),
            unresolved,
            approval_required: None,
            children: Vec::new(),
        };
        let mut seen = HashSet::new();
        for identity in identities {
            let reference = identity.reference();
            let (forest, dn) = identity.location();
            // The same account however its DN is written (the one DN rule); a
            // cloud identity's location is not a DN and is compared as text.
            let key = (
                forest.clone(),
                riposte_core::dn::Dn::parse(&dn).map_err(|_| dn.to_ascii_lowercase()),
            );
            if !seen.insert(key) {
                continue;
            }
            if let Some(why) = self.identity_protection(&identity) {
                plan.protected.push(Skipped {
                    reference,
                    kind: "protected",
                    reason: format!(
                        "{why}; protected accounts are never acted on in bulk: act on it alone, a second person approves"
                    ),
                });
                continue;
            }
            if let Err(refusal) = policy::authorize(
                principal,
                &Permission::RequestAction {
                    action: request.action,
                    forest: &forest,
                    dn: &dn,
                },
            ) {
                plan.skipped.push(Skipped {
                    reference,
                    kind: "out-of-scope",
                    reason: refusal.to_string(),
                });
                continue;
            }
            let steps = match planned_steps(&identity, request.action) {
                Ok(steps) => steps,
                Err(why) => {
                    plan.skipped.push(Skipped {
                        reference,
                        kind: "not-applicable",
                        reason: why.to_string(),
                    });
                    continue;
                }
            };
            let ad: Option<&AccountState> = identity.ad.as_ref();
            let account = PlannedAccount {
                reference: reference.clone(),
                forest: Some(forest.clone()),
                dn: ad.map(|a| a.dn.clone()),
                enabled: ad.map(|a| a.enabled()),
            };
            let job = NewJob {
                requested_by: request.requested_by.clone(),
                requester_person: request.requester_person.clone(),
                source: request.source.clone(),
                reason: request.reason.clone(),
                action: request.action,
                options: request.options,
                target_ref: reference,
                forest: Some(forest),
                target_dn: ad.map(|a| a.dn.clone()),
                target_sid: ad.and_then(|a| a.sid.as_ref().map(|s| s.to_string())),
                idempotency_key: None,
                approval_required: None,
                steps,
                evidence_input: None,
            };
            plan.children.push((job, account));
        }
        plan.accounts = plan.children.iter().map(|(_, a)| a.clone()).collect();
        plan.count = plan.accounts.len();
        plan.approval_required =
            safeguards::bulk_approval_needed(plan.count, self.bulk_limits.approval_above);
        Ok(plan)
    }

    /// The accounts of an OU or group, each with its linked Entra accounts.
    async fn identities_in(&self, set: &AccountSet) -> Result<Vec<Identity>, RunnerError> {
        let accounts = self
            .directory
            .accounts_in(set, MAX_SET)
            .await
            .map_err(|e| match e {
                AccountSetError::Directory(d) => {
                    RunnerError::SetUnavailable(format!("could not list {set}: {d}"))
                }
                other => RunnerError::BadSelector(other.to_string()),
            })?;
        Ok(futures_util::stream::iter(accounts)
            .map(|ad| async move {
                let (linked, cloud_error) = self.linked_accounts(&ad).await;
                Identity::from_ad(ad, linked, cloud_error)
            })
            .buffered(self.bulk_limits.per_tenant)
            .collect()
            .await)
    }

    /// The dry run: the plan, and one audit record saying it was asked for.
    pub async fn dry_run_bulk(
        &self,
        principal: &Principal,
        request: &BulkRequest,
    ) -> Result<BulkPlan, RunnerError> {
        let plan = self.plan_bulk(principal, request).await?;
        let record = NewAuditRecord {
            actor: principal.name.clone(),
            source: request.source.clone(),
            remote_addr: request.remote_addr.clone(),
            event: "bulk-dry-run".into(),
            target: Some(format!(
                "{}:{}",
                plan.selector_kind,
                first_line(&plan.selector_value)
            )),
            job_id: None,
            result: "success".into(),
            details: json!({
                "action": request.action, "reason": request.reason, "count": plan.count,
                "protected": plan.protected.len(), "skipped": plan.skipped.len(),
                "unresolved": plan.unresolved.len(),
            }),
        };
        self.store.append(record).await?;
        Ok(plan)
    }

    /// Records a bulk operation and its child jobs (all queued), and audits
    /// the request naming every child. Nothing runs yet: see [`Runner::run_bulk`].
    pub async fn start_bulk(
        &self,
        principal: &Principal,
        request: &BulkRequest,
    ) -> Result<(BulkOperation, BulkPlan), RunnerError> {
        let plan = self.plan_bulk(principal, request).await?;
        self.record_bulk(request, plan, None).await
    }

    async fn record_bulk(
        &self,
        request: &BulkRequest,
        plan: BulkPlan,
        undo_of: Option<Uuid>,
    ) -> Result<(BulkOperation, BulkPlan), RunnerError> {
        let children: Vec<NewJob> = plan.children.iter().map(|(j, _)| j.clone()).collect();
        riposte_core::failpoint::hit("bulk-planned").await;
        let selector_kind: String = if undo_of.is_some() {
            "undo".into()
        } else {
            plan.selector_kind.into()
        };
        // The children's request record, written with them in one transaction
        // (the store adds the bulk's id and names every child): no action
        // without its request in the trail.
        let record = NewAuditRecord {
            actor: request.requested_by.clone(),
            source: request.source.clone(),
            remote_addr: request.remote_addr.clone(),
            event: "bulk-requested".into(),
            target: Some(format!(
                "{selector_kind}:{}",
                first_line(&plan.selector_value)
            )),
            job_id: None,
            result: "success".into(),
            details: json!({
                "action": request.action, "reason": request.reason,
                "undo_of": undo_of, "left_out": plan.left_out(),
            }),
        };
        let bulk = self
            .store
            .create_bulk(
                NewBulk {
                    action: request.action,
                    options: request.options,
                    selector_kind,
                    selector_value: plan.selector_value.clone(),
                    requested_by: request.requested_by.clone(),
                    requester_person: request.requester_person.clone(),
                    source: request.source.clone(),
                    reason: request.reason.clone(),
                    undo_of,
                    skipped: plan.left_out(),
                    approval_required: plan.approval_required.clone(),
                },
                children,
                record,
            )
            .await?;
        riposte_core::failpoint::hit("after-create-bulk").await;
        info!(bulk = %bulk.id, count = bulk.counts.total, action = %bulk.action, "bulk operation recorded");
        self.wake_workers();
        Ok((bulk, plan))
    }

    /// Runs the queued children of a running bulk here until none is left or
    /// the bulk is paused or cancelled (from anywhere), with at most
    /// `per_dc` at once per forest and `per_tenant` per Entra tenant.
    /// `on_done` is told of each finished child. A bulk whose children are
    /// all finished becomes `finished`.
    pub async fn run_bulk(
        &self,
        id: Uuid,
        on_done: &(dyn Fn(&Job) + Send + Sync),
    ) -> Result<BulkRun, RunnerError> {
        riposte_core::failpoint::hit("bulk-driver").await;
        let jobs = self.store.bulk_jobs(id).await?;
        let forests: HashSet<String> = self
            .directory
            .forest_names()
            .into_iter()
            .map(|f| f.to_ascii_lowercase())
            .collect();
        let mut keys: Vec<Option<String>> = jobs
            .iter()
            .filter(|j| j.state == JobState::Queued)
            .map(|j| j.forest.clone())
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        keys.sort();
        let tenants: HashMap<String, Arc<Semaphore>> = jobs
            .iter()
            .flat_map(|j| j.steps.iter())
            .filter_map(|s| match s {
                Step::Cloud { tenant, .. } => Some(tenant.to_ascii_lowercase()),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .map(|t| (t, Arc::new(Semaphore::new(self.bulk_limits.per_tenant))))
            .collect();
        let mut workers = Vec::new();
        for key in &keys {
            let n = match key {
                Some(k) if forests.contains(&k.to_ascii_lowercase()) => self.bulk_limits.per_dc,
                // A cloud-only identity's job names its tenant.
                Some(_) => self.bulk_limits.per_tenant,
                None => 1,
            };
            for _ in 0..n {
                workers.push(self.bulk_worker(id, key.as_deref(), &tenants, on_done));
            }
        }
        let results = futures_util::future::join_all(workers).await;
        let mut first_error = None;
        for r in results {
            if let Err(e) = r {
                error!(bulk = %id, error = %e, "a bulk worker stopped");
                first_error.get_or_insert(e);
            }
        }
        let mut bulk = self
            .store
            .get_bulk(id)
            .await?
            .ok_or(RunnerError::NoSuchBulk(id.to_string()))?;
        if bulk.state == BulkState::Running && bulk.counts.queued == 0 && bulk.counts.running == 0 {
            riposte_core::failpoint::hit("bulk-before-finish").await;
            // Finished with its `bulk-finished` record (the counts as the
            // change saw them) in one transaction, or neither.
            let record = bulk_record(id, &bulk.requested_by, &bulk.source, "bulk-finished");
            match self
                .store
                .set_bulk_state_recorded(id, &[BulkState::Running], BulkState::Finished, record)
                .await
            {
                Ok(done) => bulk = done,
                // Paused, cancelled or finished meanwhile by someone else.
                Err(riposte_store::StoreError::Conflict(reason)) => {
                    info!(bulk = %id, %reason, "bulk not marked finished here")
                }
                // The bulk stays running, without the record: the next
                // driver (the worker's next look, or recovery) finishes it.
                Err(e) => {
                    error!(bulk = %id, error = %e, "the bulk could not be marked finished with its record; it stays running and a later driver finishes it");
                    return Err(e.into());
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let weakest = self
            .store
            .bulk_jobs(id)
            .await?
            .iter()
            .filter_map(|j| j.outcome)
            .max_by_key(|o| o.weakness());
        Ok(BulkRun { bulk, weakest })
    }

    async fn bulk_worker(
        &self,
        id: Uuid,
        key: Option<&str>,
        tenants: &HashMap<String, Arc<Semaphore>>,
        on_done: &(dyn Fn(&Job) + Send + Sync),
    ) -> Result<(), RunnerError> {
        loop {
            let Some(job) = self
                .store
                .claim_next_in_bulk(id, key, self.worker.as_str(), self.lease)
                .await?
            else {
                return Ok(());
            };
            let mut permits = Vec::new();
            for step in &job.steps {
                if let Step::Cloud { tenant, .. } = step
                    && let Some(sem) = tenants.get(&tenant.to_ascii_lowercase())
                    && let Ok(p) = sem.clone().acquire_owned().await
                {
                    permits.push(p);
                }
            }
            let done = self.run_claimed(job, None, false, None).await?;
            drop(permits);
            on_done(&done.job);
        }
    }

    /// Undo: a new bulk operation with the reverse action, on exactly the
    /// accounts the original changed (`verified`), never on those that were
    /// `already` in the state. The original must have stopped (finished or
    /// cancelled) with no child running.
    pub async fn undo_bulk(
        &self,
        principal: &Principal,
        id: Uuid,
        reason: &str,
        source: &str,
        remote_addr: Option<String>,
    ) -> Result<(BulkOperation, BulkPlan), RunnerError> {
        let original = self
            .store
            .get_bulk(id)
            .await?
            .ok_or(RunnerError::NoSuchBulk(id.to_string()))?;
        let Some(reverse) = original.action.undo() else {
            return Err(RunnerError::BulkConflict(format!(
                "{} cannot be undone; only disable and enable can",
                original.action
            )));
        };
        if !original.state.is_final() || original.counts.running > 0 {
            return Err(RunnerError::BulkConflict(format!(
                "bulk operation {id} is {} with {} job(s) running; cancel it or let it finish before undoing it",
                original.state, original.counts.running
            )));
        }
        // Undoing is controlling: only whoever may control the original.
        self.check_bulk_control(principal, &original, "undo", source)
            .await?;
        let references: Vec<String> = self
            .store
            .bulk_jobs(id)
            .await?
            .iter()
            .filter(|j| j.changed_something())
            .map(reference_of)
            .collect();
        let request = BulkRequest {
            selector: Selector::References(references),
            action: reverse,
            options: ActionOptions::default(),
            reason: reason.to_string(),
            requested_by: principal.name.clone(),
            requester_person: principal.person.clone(),
            source: source.to_string(),
            remote_addr,
        };
        if let Selector::References(r) = &request.selector
            && r.is_empty()
        {
            return Err(RunnerError::BulkConflict(format!(
                "bulk operation {id} changed no account, so there is nothing to undo"
            )));
        }
        let mut plan = self.plan_bulk(principal, &request).await?;
        plan.selector_value = id.to_string();
        self.record_bulk(&request, plan, Some(id)).await
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or_default()
}

/// A bulk's state-change record (`bulk-finished`, `bulk-paused`, ...); the
/// store adds the bulk's action, new state and counts
/// ([`riposte_store::describe_bulk`]) in the transaction that changes it.
pub(crate) fn bulk_record(id: Uuid, actor: &str, source: &str, event: &str) -> NewAuditRecord {
    NewAuditRecord {
        actor: actor.to_string(),
        source: source.to_string(),
        remote_addr: None,
        event: event.into(),
        target: Some(format!("bulk:{id}")),
        job_id: None,
        result: "success".into(),
        details: json!({}),
    }
}
