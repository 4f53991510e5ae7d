//! The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json. Kept
//! by hand next to the router; a test checks that every route is described
//! and nothing else is.

use serde_json::{Value, json};

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn secured(mut operation: Value) -> Value {
    operation["security"] = json!([{ "bearer": [] }, { "session": [] }]);
    let responses = operation["responses"].as_object_mut().expect("responses");
    responses.insert("401".into(), error_response("no valid credentials"));
    responses.insert(
        "403".into(),
        error_response("the caller lacks a right; `details.missing_right` names it"),
    );
    operation
}

fn readiness_group_parameters(paged: bool) -> Value {
    let p = |name: &str, required: bool, schema: Value, description: &str| json!({ "name": name, "in": "query", "required": required, "schema": schema, "description": description });
    let mut params = vec![
        p(
            "scope",
            true,
            json!({ "type": "string" }),
            "forest or tenant name",
        ),
        p(
            "action",
            true,
            json!({ "type": "string" }),
            "disable, enable, force-password-reset, unlock, set-password, revoke-sessions, confirm-compromised",
        ),
        p(
            "reason",
            true,
            json!({ "type": "string", "enum": riposte_core::readiness::GapReason::ALL.map(|r| r.as_str()) }),
            "the gap group",
        ),
    ];
    if paged {
        params.push(p(
            "page",
            false,
            json!({ "type": "integer", "minimum": 1 }),
            "from 1",
        ));
        params.push(p(
            "per_page",
            false,
            json!({ "type": "integer", "minimum": 1, "maximum": 1000 }),
            "default 100",
        ));
    }
    Value::Array(params)
}

fn job_id_parameter() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

fn list_parameters() -> Value {
    let p = |name: &str, schema: Value, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description });
    json!([
        p(
            "target",
            json!({ "type": "string", "maxLength": 1024 }),
            "reference, DN or SID (substring)"
        ),
        p(
            "action",
            json!({ "$ref": "#/components/schemas/Action" }),
            "action"
        ),
        p(
            "outcome",
            json!({ "$ref": "#/components/schemas/Outcome" }),
            "outcome"
        ),
        p(
            "requester",
            json!({ "type": "string" }),
            "who asked, e.g. token:soar or user:alice"
        ),
        p(
            "source",
            json!({ "type": "string", "enum": crate::api::JOB_SOURCES }),
            "where the request came from"
        ),
        p(
            "state",
            json!({ "type": "string", "enum": ["queued", "running", "finished"] }),
            "job state"
        ),
        p(
            "since",
            json!({ "type": "string", "format": "date-time" }),
            "created at or after (RFC 3339)"
        ),
        p(
            "until",
            json!({ "type": "string", "format": "date-time" }),
            "created before (RFC 3339)"
        ),
        p(
            "bulk",
            json!({ "type": "string", "format": "uuid" }),
            "only the children of this bulk operation"
        ),
        p(
            "limit",
            json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
            "page size (default 50)"
        ),
        p(
            "offset",
            json!({ "type": "integer", "minimum": 0 }),
            "page start"
        ),
    ])
}

/// The document itself.
pub fn document() -> Value {
    let job = json!({ "$ref": "#/components/schemas/Job" });
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "riposte API",
            "version": "1",
            "description": "Contain compromised identities. Every action is a job whose outcome is read back from the directory."
        },
        "paths": {
            "/healthz": { "get": { "summary": "Liveness", "security": [], "responses": { "200": json_response("alive", json!({ "type": "object" })) } } },
            "/readyz": { "get": { "summary": "Readiness (the job ledger can be read)", "security": [],
                "responses": { "200": json_response("ready", json!({ "type": "object" })), "503": error_response("not ready") } } },
            "/metrics": { "get": secured(json!({ "summary": "Prometheus metrics",
                "responses": { "200": { "description": "text exposition format", "content": { "text/plain": { "schema": { "type": "string" } } } } } })) },
            "/api/v1/openapi.json": { "get": { "summary": "This document", "security": [], "responses": { "200": json_response("OpenAPI 3.1", json!({ "type": "object" })) } } },
            "/api/v1/whoami": { "get": secured(json!({ "summary": "The caller as riposte sees them",
                "responses": { "200": json_response("principal", json!({ "type": "object", "properties": {
                    "principal": { "type": "string" }, "role": { "type": "string" }, "scope": { "type": "object" },
                    "person": { "type": ["string", "null"], "description": "the person behind the credential; null for a service token, which can never approve" } } })) } })) },
            "/api/v1/identities": { "get": secured(json!({ "summary": "Search every forest",
                "parameters": [
                    { "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 256 } },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 200 } }
                ],
                "responses": { "200": json_response("matches", json!({ "type": "object" })), "400": error_response("malformed query") } })) },
            "/api/v1/identities/{reference}": { "get": secured(json!({ "summary": "One account's state now, and the actions the caller may request",
                "parameters": [{ "name": "reference", "in": "path", "required": true, "schema": { "type": "string", "maxLength": 1024 },
                    "description": "corp:bert, bert@corp.example.test, a DN, a SID or an objectGUID" }],
                "responses": { "200": json_response("the account", json!({ "type": "object" })),
                    "400": error_response("invalid reference or unknown forest"), "404": error_response("no such identity"),
                    "409": error_response("the reference matches several accounts; details.candidates lists them") } })) },
            "/api/v1/actions": { "post": secured(json!({ "summary": "Request an action; it runs as a job",
                "parameters": [{ "name": "Idempotency-Key", "in": "header", "required": false, "schema": { "type": "string", "minLength": 1, "maxLength": 200 } }],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ActionRequest" } } } },
                "responses": { "202": json_response("queued (or, for an idempotency key this caller sent before, its earlier job: keys are per caller)", json!({ "type": "object", "properties": {
                        "job_id": { "type": "string", "format": "uuid" }, "state": { "type": "string" }, "replayed": { "type": "boolean" },
                        "awaiting_approval": { "type": "boolean" } } })),
                    "400": error_response("malformed request, invalid reference, unknown forest or missing reason"),
                    "404": error_response("no such identity"), "409": error_response("ambiguous reference"),
                    "503": error_response("the job ledger cannot be written") } })) },
            "/api/v1/jobs": { "get": secured(json!({ "summary": "The Action Center: jobs, newest first", "parameters": list_parameters(),
                "responses": { "200": json_response("a page of jobs", json!({ "type": "object", "properties": {
                    "jobs": { "type": "array", "items": job.clone() }, "limit": { "type": "integer" }, "offset": { "type": "integer" },
                    "next_offset": { "type": ["integer", "null"] } } })), "400": error_response("malformed query") } })) },
            "/api/v1/jobs/export.csv": { "get": secured(json!({ "summary": "The same list as CSV", "parameters": list_parameters(),
                "responses": { "200": { "description": "CSV", "content": { "text/csv": { "schema": { "type": "string" } } } },
                    "400": error_response("malformed query") } })) },
            "/api/v1/jobs/{id}": { "get": secured(json!({ "summary": "One job with evidence and timeline", "parameters": [job_id_parameter()],
                "responses": { "200": json_response("the job", job.clone()), "400": error_response("malformed id"), "404": error_response("no such job") } })) },
            "/api/v1/jobs/{id}/events": { "get": secured(json!({ "summary": "Server-sent events for every state change, until the outcome, or an `idle` event after [limits] event_stream_idle_seconds without one",
                "parameters": [job_id_parameter()],
                "responses": { "200": { "description": "text/event-stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                    "400": error_response("malformed id"), "404": error_response("no such job"),
                    "429": error_response("the caller already holds [limits] event_streams_per_caller streams (too_many_streams, with Retry-After)") } })) },
            "/api/v1/jobs/{id}/approve": { "post": secured(json!({ "summary": "A second person approves a protected job", "parameters": [job_id_parameter()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Decision" } } } },
                "responses": { "200": json_response("the job", job.clone()), "400": error_response("malformed"), "404": error_response("no such job"),
                    "409": error_response("not awaiting approval") } })) },
            "/api/v1/jobs/{id}/reject": { "post": secured(json!({ "summary": "A second person rejects a protected job; it ends denied", "parameters": [job_id_parameter()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Decision" } } } },
                "responses": { "200": json_response("the job", job.clone()), "400": error_response("malformed"), "404": error_response("no such job"),
                    "409": error_response("not awaiting approval") } })) },
            "/api/v1/events": { "post": secured(json!({ "summary": "A forwarder's batch of events through the detection pipeline (needs the Ingest permission: responder or admin)",
                "requestBody": { "required": false, "description": "at most 4 MiB; an empty batch is accepted (a forwarder's heartbeat) and counts nothing",
                    "content": {
                        "application/x-ndjson": { "schema": { "type": "string", "description": "one Windows event JSON object or Samba audit line per line" } },
                        "application/json": { "schema": { "description": "an array of Windows event objects or Samba audit lines, or one event; the body is read like NDJSON otherwise, and whatever is not an event is counted as unparsed, with its location (202, never refused)" } } } },
                "responses": { "202": json_response("counts: accepted, ignored, unparsed (with errors[].location), alerts_raised, alerts", json!({ "type": "object", "properties": {
                        "accepted": { "type": "integer" }, "ignored": { "type": "integer" }, "unparsed": { "type": "integer" },
                        "refused_as_evidence": { "type": "integer", "description": "events dated further from now than the allowed skew: kept out of detection" },
                        "errors": { "type": "array", "items": { "type": "object", "properties": { "location": { "type": "object" }, "message": { "type": "string" } } } },
                        "alerts_raised": { "type": "integer" }, "alerts": { "type": "array" } } })),
                    "413": error_response("body too large") } })) },
            "/api/v1/alerts": { "get": secured(json!({ "summary": "Detection alerts, newest first",
                "parameters": [
                    { "name": "technique", "in": "query", "required": false, "schema": { "type": "string" }, "description": "ATT&CK technique, e.g. T1110.003" },
                    { "name": "user", "in": "query", "required": false, "schema": { "type": "string" }, "description": "a user entity (substring)" },
                    { "name": "since", "in": "query", "required": false, "schema": { "type": "string", "format": "date-time" } },
                    { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500 } },
                    { "name": "offset", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }],
                "responses": { "200": json_response("a page of alerts", json!({ "type": "object", "properties": {
                    "alerts": { "type": "array", "items": { "$ref": "#/components/schemas/Alert" } }, "next_offset": { "type": ["integer", "null"] } } })),
                    "400": error_response("malformed query") } })) },
            "/api/v1/alerts/{id}": { "get": secured(json!({ "summary": "One alert with its events' references",
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }],
                "responses": { "200": json_response("the alert", json!({ "$ref": "#/components/schemas/Alert" })),
                    "400": error_response("malformed id"), "404": error_response("no such alert") } })) },
            "/api/v1/readiness": { "get": secured(json!({ "summary": "The last readiness report: per forest and tenant, connection, rights per OU, coverage per action with gap groups (first accounts of each), and the fixes",
                "responses": { "200": json_response("the report", json!({ "$ref": "#/components/schemas/Readiness" })),
                    "404": error_response("no report yet (the first assessment runs at start-up)") } })) },
            "/api/v1/readiness/refresh": { "post": secured(json!({ "summary": "Assess readiness now (responder or admin); returns the new report",
                "responses": { "200": json_response("the new report", json!({ "$ref": "#/components/schemas/Readiness" })) } })) },
            "/api/v1/readiness/accounts": { "get": secured(json!({ "summary": "The accounts of one gap group, a page at a time",
                "parameters": readiness_group_parameters(true),
                "responses": { "200": json_response("a page of accounts", json!({ "type": "object", "properties": {
                    "count": { "type": "integer" }, "page": { "type": "integer" }, "next_page": { "type": ["integer", "null"] },
                    "accounts": { "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string" }, "sam_account_name": { "type": "string" }, "detail": { "type": "string" } } } } } })),
                    "400": error_response("malformed query or unknown reason"), "404": error_response("no report yet") } })) },
            "/api/v1/readiness/accounts.csv": { "get": secured(json!({ "summary": "One gap group, whole, as CSV",
                "parameters": readiness_group_parameters(false),
                "responses": { "200": { "description": "CSV: account, sam_account_name, reason, detail", "content": { "text/csv": { "schema": { "type": "string" } } } },
                    "400": error_response("malformed query or unknown reason"), "404": error_response("no report yet") } })) },
            "/api/v1/bulk": {
                "post": secured(json!({ "summary": "Mass containment: one action on many accounts (a list, an OU, a group's members, an alert's users). Needs RequestBulk (responder or admin) and RequestAction on each account; protected and out-of-scope accounts are skipped and listed. With dry_run: the count, the accounts, the protected ones and the unresolvable references; nothing is changed",
                    "requestBody": { "required": true, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/BulkRequest" } } } },
                    "responses": { "200": json_response("dry run: the plan", json!({ "type": "object", "properties": { "dry_run": { "const": true }, "plan": { "$ref": "#/components/schemas/BulkPlan" } } })),
                        "202": json_response("recorded; the service runs the children (Location: the bulk)", json!({ "$ref": "#/components/schemas/Bulk" })),
                        "400": error_response("malformed request, bad selector (OU outside every forest, hostile DN, unknown group, empty list) or missing reason; nothing recorded"),
                        "404": error_response("no such alert"),
                        "503": error_response("the directory could not list the accounts; nothing recorded") } })),
                "get": secured(json!({ "summary": "Bulk operations, newest first",
                    "parameters": [
                        { "name": "state", "in": "query", "required": false, "schema": { "type": "string", "enum": ["running", "paused", "cancelled", "finished"] } },
                        { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 500 } },
                        { "name": "offset", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 0 } }],
                    "responses": { "200": json_response("a page", json!({ "type": "object", "properties": {
                        "bulk": { "type": "array", "items": { "$ref": "#/components/schemas/Bulk" } }, "next_offset": { "type": ["integer", "null"] } } })),
                        "400": error_response("malformed query") } }))
            },
            "/api/v1/bulk/{id}": { "get": secured(json!({ "summary": "One bulk operation: state, counts (from its child jobs), progress, what was left out",
                "parameters": [job_id_parameter(), { "name": "jobs", "in": "query", "required": false, "schema": { "type": "boolean" }, "description": "include each child job in short" }],
                "responses": { "200": json_response("the bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed id"), "404": error_response("no such bulk operation") } })) },
            "/api/v1/bulk/{id}/pause": { "post": secured(json!({ "summary": "Pause: no new child starts; running ones finish (ControlBulk: responder or admin)",
                "parameters": [job_id_parameter()],
                "responses": { "200": json_response("the bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed id"), "404": error_response("no such bulk operation"), "409": error_response("not running") } })) },
            "/api/v1/bulk/{id}/resume": { "post": secured(json!({ "summary": "Resume a paused bulk operation",
                "parameters": [job_id_parameter()],
                "responses": { "200": json_response("the bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed id"), "404": error_response("no such bulk operation"), "409": error_response("not paused") } })) },
            "/api/v1/bulk/{id}/cancel": { "post": secured(json!({ "summary": "Cancel: queued children end failed (\"cancelled before it started\"), running ones finish normally",
                "parameters": [job_id_parameter()],
                "responses": { "200": json_response("the bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed id"), "404": error_response("no such bulk operation"), "409": error_response("already cancelled or finished") } })) },
            "/api/v1/bulk/{id}/approve": { "post": secured(json!({ "summary": "Approve a bulk operation waiting for a second person (more accounts than [bulk] approval_above): a person other than its requester, with every child in their scope; it then runs",
                "parameters": [job_id_parameter()],
                "requestBody": { "required": false, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false, "properties": { "comment": { "type": "string" } } } } } },
                "responses": { "200": json_response("the bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed"), "403": error_response("not a second person, or a child outside the caller's scope"), "404": error_response("no such bulk operation"), "409": error_response("not waiting for an approval") } })) },
            "/api/v1/bulk/{id}/reject": { "post": secured(json!({ "summary": "Reject a bulk operation waiting for a second person: it ends cancelled, nothing written",
                "parameters": [job_id_parameter()],
                "requestBody": { "required": false, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false, "properties": { "comment": { "type": "string" } } } } } },
                "responses": { "200": json_response("the bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed"), "403": error_response("not a second person, or a child outside the caller's scope"), "404": error_response("no such bulk operation"), "409": error_response("not waiting for an approval") } })) },
            "/api/v1/bulk/{id}/undo": { "post": secured(json!({ "summary": "Undo a finished or cancelled disable/enable bulk: a new bulk with the reverse action on exactly the accounts it changed (verified), not those already in the state",
                "parameters": [job_id_parameter()],
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "type": "object", "additionalProperties": false, "required": ["reason"], "properties": { "reason": { "type": "string", "minLength": 1 } } } } } },
                "responses": { "202": json_response("the undo bulk operation", json!({ "$ref": "#/components/schemas/Bulk" })),
                    "400": error_response("malformed"), "404": error_response("no such bulk operation"),
                    "409": error_response("still running, not undoable, or nothing to undo") } })) }
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "an API token from `riposte token create`" },
                "session": { "type": "apiKey", "in": "cookie", "name": "riposte_session" }
            },
            "schemas": {
                "Readiness": { "type": "object", "required": ["generated_at", "forests", "tenants"], "properties": {
                    "generated_at": { "type": "string", "format": "date-time" }, "duration_ms": { "type": "integer" },
                    "forests": { "type": "array", "items": { "type": "object", "properties": {
                        "name": { "type": "string" }, "base_dn": { "type": "string" }, "bind_method": { "type": "string" },
                        "action_account": { "type": ["object", "null"] },
                        "dcs": { "type": "array", "items": { "type": "object", "properties": { "url": { "type": "string" }, "reached": { "type": "boolean" }, "error": { "type": "string" }, "clock_skew_secs": { "type": "integer" }, "tls": { "type": "object" } } } },
                        "users_scanned": { "type": "integer" },
                        "ous": { "type": "array", "items": { "type": "object" } },
                        "coverage": { "type": "array", "items": { "$ref": "#/components/schemas/ActionCoverage" } },
                        "fixes": { "type": "array", "items": { "type": "object" } }, "error": { "type": "string" } } } },
                    "tenants": { "type": "array", "items": { "type": "object", "properties": {
                        "name": { "type": "string" }, "app_permissions": { "type": "array", "items": { "type": "string" } },
                        "directory_roles": { "type": "array", "items": { "type": "string" } }, "users_scanned": { "type": "integer" },
                        "coverage": { "type": "array", "items": { "$ref": "#/components/schemas/ActionCoverage" } },
                        "fixes": { "type": "array", "items": { "type": "object" } }, "error": { "type": "string" } } } } } },
                "ActionCoverage": { "type": "object", "properties": {
                    "action": { "type": "string" }, "covered": { "type": "integer" }, "not_covered": { "type": "integer" },
                    "groups": { "type": "array", "items": { "type": "object", "properties": {
                        "reason": { "type": "string" }, "label": { "type": "string" }, "count": { "type": "integer" },
                        "accounts_truncated": { "type": "boolean" }, "accounts": { "type": "array", "items": { "type": "object" } } } } } } },
                "BulkRequest": { "type": "object", "additionalProperties": false, "required": ["action", "selector", "reason"], "properties": {
                    "action": { "$ref": "#/components/schemas/Action" },
                    "selector": { "oneOf": [
                        { "type": "object", "required": ["kind", "value"], "properties": { "kind": { "const": "references" }, "value": { "type": "array", "items": { "type": "string" }, "maxItems": 100000 } } },
                        { "type": "object", "required": ["kind", "value"], "properties": { "kind": { "const": "ou" }, "value": { "type": "string", "description": "an OU DN inside a configured forest; users in its subtree" } } },
                        { "type": "object", "required": ["kind", "value"], "properties": { "kind": { "const": "group" }, "value": { "type": "string", "description": "forest:sAMAccountName or the group's DN; its direct user members" } } },
                        { "type": "object", "required": ["kind", "value"], "properties": { "kind": { "const": "alert" }, "value": { "type": "string", "format": "uuid", "description": "a stored alert; its user entities" } } }] },
                    "reason": { "type": "string", "minLength": 1 },
                    "dry_run": { "type": "boolean", "default": false },
                    "clear_blocking_flags": { "type": "boolean", "default": false },
                    "with_mfa": { "type": "boolean", "default": false } } },
                "BulkPlan": { "type": "object", "properties": {
                    "action": { "$ref": "#/components/schemas/Action" }, "selector_kind": { "type": "string" }, "selector_value": { "type": "string" },
                    "count": { "type": "integer" },
                    "accounts": { "type": "array", "items": { "type": "object", "properties": { "reference": { "type": "string" }, "forest": { "type": ["string", "null"] }, "dn": { "type": ["string", "null"] }, "enabled": { "type": ["boolean", "null"] } } } },
                    "protected": { "type": "array", "items": { "$ref": "#/components/schemas/LeftOut" } },
                    "skipped": { "type": "array", "items": { "$ref": "#/components/schemas/LeftOut" } },
                    "unresolved": { "type": "array", "items": { "$ref": "#/components/schemas/LeftOut" } } } },
                "LeftOut": { "type": "object", "properties": { "reference": { "type": "string" }, "kind": { "type": "string", "enum": ["protected", "out-of-scope", "not-applicable", "unresolved"] }, "reason": { "type": "string" } } },
                "Bulk": { "type": "object", "properties": {
                    "bulk_id": { "type": "string", "format": "uuid" }, "created_at": { "type": "string", "format": "date-time" },
                    "finished_at": { "type": ["string", "null"], "format": "date-time" },
                    "action": { "$ref": "#/components/schemas/Action" },
                    "selector": { "type": "object", "properties": { "kind": { "type": "string", "enum": ["references", "ou", "group", "alert", "undo"] }, "value": { "type": "string" } } },
                    "requested_by": { "type": "string" }, "requester_person": { "type": ["string", "null"] }, "source": { "type": "string" }, "reason": { "type": "string" },
                    "state": { "type": "string", "enum": ["running", "paused", "cancelled", "finished"] },
                    "undo_of": { "type": ["string", "null"], "format": "uuid" },
                    "awaiting_approval": { "type": "boolean" },
                    "approval": { "type": ["string", "null"], "enum": ["pending", "approved", "rejected", null] },
                    "approval_reason": { "type": ["string", "null"] }, "decided_by": { "type": ["string", "null"] },
                    "counts": { "type": "object", "properties": { "total": { "type": "integer" }, "queued": { "type": "integer" }, "running": { "type": "integer" }, "finished": { "type": "integer" },
                        "verified": { "type": "integer" }, "already": { "type": "integer" }, "ineffective": { "type": "integer" }, "denied": { "type": "integer" }, "failed": { "type": "integer" } } },
                    "progress": { "type": "number", "minimum": 0, "maximum": 1 },
                    "left_out": { "type": "object", "properties": { "protected": { "type": "array" }, "skipped": { "type": "array" }, "unresolved": { "type": "array" } } },
                    "jobs": { "type": "array", "items": { "type": "object" } } } },
                "Action": { "type": "string", "enum": ["disable", "enable", "force-password-reset", "unlock", "set-password"] },
                "Outcome": { "type": "string", "enum": ["verified", "already", "ineffective", "denied", "failed"] },
                "ActionRequest": { "type": "object", "additionalProperties": false, "required": ["target", "action", "reason"], "properties": {
                    "target": { "type": "string", "minLength": 1, "maxLength": 1024 },
                    "action": { "$ref": "#/components/schemas/Action" },
                    "reason": { "type": "string", "minLength": 1 },
                    "clear_blocking_flags": { "type": "boolean" },
                    "with_mfa": { "type": "boolean", "description": "Entra ID forced reset: also require MFA" } } },
                "Alert": { "type": "object", "properties": {
                    "id": { "type": "string", "format": "uuid" }, "raised_at": { "type": "string", "format": "date-time" },
                    "rule_id": { "type": "string" }, "title": { "type": "string" }, "technique": { "type": ["string", "null"] },
                    "severity": { "type": "string", "enum": ["low", "medium", "high", "critical"] }, "description": { "type": "string" },
                    "entities": { "type": "object", "properties": { "users": { "type": "array" }, "actors": { "type": "array" }, "sources": { "type": "array" }, "dcs": { "type": "array" }, "services": { "type": "array" } } },
                    "first_seen": { "type": ["string", "null"] }, "last_seen": { "type": ["string", "null"] }, "event_count": { "type": "integer" },
                    "events": { "type": "array", "description": "references: origin (file, record or line), event_id, time, user, source" },
                    "input": { "type": "string", "description": "tail:<forest> (a DC log riposte tails), api:<principal> (POST /api/v1/events) or file:<principal> (riposte ingest)" },
                    "fed_by": { "type": ["object", "null"], "description": "the credential that sent the events: name, role, scope (null for a tailed DC log)" } } },
                "Decision": { "type": "object", "additionalProperties": false, "properties": { "comment": { "type": "string" } } },
                "Job": { "type": "object", "properties": {
                    "job_id": { "type": "string", "format": "uuid" }, "action": { "$ref": "#/components/schemas/Action" },
                    "target": { "type": "object" }, "state": { "type": "string" },
                    "outcome": { "oneOf": [{ "$ref": "#/components/schemas/Outcome" }, { "type": "null" }] },
                    "message": { "type": ["string", "null"] }, "reason": { "type": "string" }, "requested_by": { "type": "string" }, "requester_person": { "type": ["string", "null"] },
                    "evidence_input": { "type": ["string", "null"], "description": "an automatic job: the input of the alert it answers (tail:<forest>, api:<principal>, file:<principal>); whoever fed it cannot approve" },
                    "evidence": { "type": ["object", "null"] }, "events": { "type": "array" } } },
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string", "description": "stable; branch on this" },
                    "message": { "type": "string", "description": "for people" },
                    "details": { "type": "object" } } } } }
            }
        }
    })
}
