//! Rows into records, once for every dialect (each dialect's [`Row`] turns
//! its column types into the same values).

use riposte_core::evidence::Evidence;
use riposte_store::{
    ApiToken, AuditRecord, BulkCounts, BulkOperation, Job, NewAlert, Person, StoreError,
    StoredAlert,
};
use time::OffsetDateTime;

use crate::dialect::{Dialect, Fields, Row};

pub(crate) fn job<D: Dialect>(row: &D::Row) -> Result<Job, StoreError> {
    let f = Fields::new(row, "job");
    Ok(Job {
        id: f.uuid("id")?,
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
        requested_by: f.text("requested_by")?,
        requester_person: f.opt_text("requester_person")?,
        source: f.text("source")?,
        reason: f.text("reason")?,
        action: f.parse("action")?,
        options: f.json("options")?,
        target_ref: f.text("target_ref")?,
        forest: f.opt_text("forest")?,
        target_dn: f.opt_text("target_dn")?,
        target_sid: f.opt_text("target_sid")?,
        state: f.parse("state")?,
        phase: f.opt_text("phase")?,
        dc: f.opt_text("dc")?,
        owner: f.opt_text("owner")?,
        lease_expires_at: f.opt_time("lease_expires_at")?,
        write_sent: f.flag("write_sent")?,
        outcome: f.opt_parse("outcome")?,
        message: f.opt_text("message")?,
        evidence: f.opt_json::<Evidence>("evidence")?,
        finished_at: f.opt_time("finished_at")?,
        // A job keyed before SQLite's migration 0010 kept its key in the old column.
        idempotency_key: f
            .opt_text(D::KEY_COLUMN)?
            .or(f.opt_text("idempotency_key")?),
        approval: f.opt_parse("approval")?,
        approval_reason: f.opt_text("approval_reason")?,
        decided_by: f.opt_text("decided_by")?,
        steps: f.opt_json("steps")?.unwrap_or_default(),
        bulk_id: f.opt_uuid("bulk_id")?,
        evidence_input: f.opt_text("evidence_input")?,
    })
}

pub(crate) fn audit_record<R: Row>(row: &R) -> Result<AuditRecord, StoreError> {
    let seq = Fields::new(row, "audit record").int("seq")?;
    let f = Fields::new(row, format!("audit record {seq}"));
    Ok(AuditRecord {
        seq,
        at: f.time("at")?,
        actor: f.text("actor")?,
        source: f.text("source")?,
        remote_addr: f.opt_text("remote_addr")?,
        event: f.text("event")?,
        target: f.opt_text("target")?,
        job_id: f.opt_uuid("job_id")?,
        result: f.text("result")?,
        details: f.json_text("details")?,
        prev_hash: f.text("prev_hash")?,
        hash: f.text("hash")?,
    })
}

pub(crate) fn token<R: Row>(row: &R) -> Result<ApiToken, StoreError> {
    let f = Fields::new(row, "api token");
    Ok(ApiToken {
        id: f.uuid("id")?,
        name: f.text("name")?,
        role: f.parse("role")?,
        scope: f.json("scope")?,
        created_by: f.text("created_by")?,
        owner: f.opt_text("owner")?,
        created_at: f.time("created_at")?,
        revoked_at: f.opt_time("revoked_at")?,
        expires_at: f.opt_time("expires_at")?,
        last_used_at: f.opt_time("last_used_at")?,
    })
}

pub(crate) fn person<R: Row>(row: &R) -> Result<Person, StoreError> {
    let f = Fields::new(row, "person");
    Ok(Person {
        id: f.uuid("id")?,
        name: f.text("name")?,
        role: f.parse("role")?,
        scope: f.json("scope")?,
        password_hash: f.text("password_hash")?,
        disabled: f.flag("disabled")?,
        created_by: f.text("created_by")?,
        created_at: f.time("created_at")?,
        issuer: f.opt_text("issuer")?,
        subject: f.opt_text("subject")?,
        totp_enabled: f.flag("totp_enabled")?,
        must_change_password: f.flag("must_change_password")?,
    })
}

pub(crate) fn alert<R: Row>(row: &R) -> Result<StoredAlert, StoreError> {
    let f = Fields::new(row, "alert");
    let event_count = f.int("event_count")?;
    Ok(StoredAlert {
        id: f.uuid("id")?,
        raised_at: f.time("raised_at")?,
        alert: NewAlert {
            rule_id: f.text("rule_id")?,
            title: f.text("title")?,
            technique: f.opt_text("technique")?,
            severity: f.text("severity")?,
            description: f.text("description")?,
            entities: f.json("entities")?,
            first_seen: f.opt_time("first_seen")?,
            last_seen: f.opt_time("last_seen")?,
            event_count: u64::try_from(event_count).map_err(|e| f.corrupt("event_count", &e))?,
            events: f.json("events")?,
            input: f.text("input")?,
            fed_by: f.opt_json("fed_by")?,
        },
    })
}

/// A bulk operation's row, with its children's counts read apart.
pub(crate) fn bulk<R: Row>(
    row: &R,
    (counts, finished_at): (BulkCounts, Option<OffsetDateTime>),
) -> Result<BulkOperation, StoreError> {
    let f = Fields::new(row, "bulk operation");
    Ok(BulkOperation {
        id: f.uuid("id")?,
        created_at: f.time("created_at")?,
        updated_at: f.time("updated_at")?,
        finished_at,
        action: f.parse("action")?,
        options: f.json("options")?,
        selector_kind: f.text("selector_kind")?,
        selector_value: f.text("selector_value")?,
        requested_by: f.text("requested_by")?,
        requester_person: f.opt_text("requester_person")?,
        source: f.text("source")?,
        reason: f.text("reason")?,
        state: f.parse("state")?,
        approval: f.opt_parse("approval")?,
        approval_reason: f.opt_text("approval_reason")?,
        decided_by: f.opt_text("decided_by")?,
        undo_of: f.opt_uuid("undo_of")?,
        skipped: f.json_text("skipped")?,
        counts,
    })
}
