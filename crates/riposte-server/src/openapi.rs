//! The OpenAPI 3.1 document of API v1, served at /api/v1/openapi.json, derived
//! (utoipa) from the `#[utoipa::path]` on each handler and the `ToSchema` and
//! `IntoParams` of the bodies and queries they read. A test checks that every
//! route is described and nothing else is.

mod names;
mod schemas;
#[cfg(test)]
mod tests;

use std::sync::LazyLock;

use axum::Json;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

pub(crate) use names::{
    ActionName, BulkStateName, GapReasonName, JobSourceName, JobStateName, OutcomeName,
    ReferenceList,
};
pub(crate) use schemas::*;

/// The two ways a caller proves who they are (`security` names them).
pub(crate) const BEARER: &str = "bearer";
pub(crate) const SESSION: &str = "session";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "riposte API",
        version = "1",
        description = "Contain compromised identities. Every action is a job whose outcome is read back from the directory."
    ),
    paths(
        crate::healthz,
        crate::readyz,
        crate::metrics_text,
        openapi_json,
        crate::api::whoami,
        crate::api::search_identities,
        crate::api::get_identity,
        crate::api::request_action,
        crate::api::list_jobs,
        crate::api::export_jobs_csv,
        crate::api::get_job,
        crate::api::job_events,
        crate::api::approve_job,
        crate::api::reject_job,
        crate::api::ingest_events,
        crate::api::list_alerts,
        crate::api::get_alert,
        crate::readiness::get_report,
        crate::readiness::refresh,
        crate::readiness::group_accounts,
        crate::readiness::group_csv,
        crate::bulk::create_bulk,
        crate::bulk::list_bulks,
        crate::bulk::get_bulk,
        crate::bulk::pause_bulk,
        crate::bulk::resume_bulk,
        crate::bulk::cancel_bulk,
        crate::bulk::approve_bulk,
        crate::bulk::reject_bulk,
        crate::bulk::undo_bulk,
    ),
    // Named here: the schemas that only parameters refer to are not collected on their own.
    components(schemas(
        ActionName,
        OutcomeName,
        JobSourceName,
        JobStateName,
        BulkStateName,
        GapReasonName
    )),
    modifiers(&CallerRefusals)
)]
struct ApiDoc;

/// Every operation that needs a caller also answers 401 (no valid credentials)
/// and 403 (a right missing): said here once rather than on each handler. An
/// operation that needs none says `security(())`, written `[]` in the document.
struct CallerRefusals;

impl Modify for CallerRefusals {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("an API token from `riposte token create`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("riposte_session"))),
        );
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(RefOr::Ref(Ref::from_schema_name(ErrorBody::name()))))
                        .build(),
                )
                .build()
        };
        // As today: no license line, no tags (utoipa's default tag is the module path).
        openapi.info.license = None;
        for item in openapi.paths.paths.values_mut() {
            let operations: [&mut Option<Operation>; 3] =
                [&mut item.get, &mut item.post, &mut item.delete];
            for operation in operations.into_iter().flatten() {
                operation.tags = None;
                let security = operation.security.get_or_insert_with(Vec::new);
                if security.iter().all(|s| *s == Default::default()) {
                    security.clear();
                    continue;
                }
                let responses = &mut operation.responses.responses;
                responses
                    .entry("401".into())
                    .or_insert_with(|| error("no valid credentials").into());
                responses.entry("403".into()).or_insert_with(|| {
                    error("the caller lacks a right; `details.missing_right` names it").into()
                });
            }
        }
    }
}

/// The document itself.
pub fn document() -> Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
        let mut document =
            serde_json::to_value(ApiDoc::openapi()).expect("the OpenAPI document serialises");
        absent_not_null(&mut document);
        unsigned_formats(&mut document);
        document
    });
    DOCUMENT.clone()
}

/// An optional body or parameter is one the caller leaves out, never a JSON
/// `null` (the handlers refuse a `null` body, and a query or header cannot be
/// null). utoipa writes `Option<T>` as "T or null": said here once, such a
/// schema is T, and the body or parameter is not required.
fn absent_not_null(document: &mut Value) {
    let Some(paths) = document["paths"].as_object_mut() else {
        return;
    };
    let operations = paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        if let Some(parameters) = operation
            .get_mut("parameters")
            .and_then(Value::as_array_mut)
        {
            for parameter in parameters {
                if parameter["required"] != Value::Bool(true)
                    && let Some(schema) = parameter.get_mut("schema")
                {
                    *schema = without_null(schema.take());
                }
            }
        }
        let Some(body) = operation.get_mut("requestBody") else {
            continue;
        };
        if body["required"] == Value::Bool(true) {
            continue;
        }
        let Some(content) = body.get_mut("content").and_then(Value::as_object_mut) else {
            continue;
        };
        for schema in content.values_mut().filter_map(|c| c.get_mut("schema")) {
            *schema = without_null(schema.take());
        }
    }
}

/// utoipa's `non_strict_integers` formats come out kebab-cased (`u-int32`); they
/// are spelled `uint32` and `uint64` wherever they are known. Without them a u32
/// would be `int32`, whose bound a client would hold against offsets it may send.
fn unsigned_formats(value: &mut Value) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(format)) = object.get_mut("format")
                && let Some(bits) = format.strip_prefix("u-int")
            {
                *format = format!("uint{bits}");
            }
            object.values_mut().for_each(unsigned_formats);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_formats),
        _ => {}
    }
}

/// The schema without its `null` alternative.
fn without_null(schema: Value) -> Value {
    let null = serde_json::json!({ "type": "null" });
    if let Some(one_of) = schema.get("oneOf").and_then(Value::as_array) {
        let rest: Vec<&Value> = one_of.iter().filter(|s| **s != null).collect();
        if let [only] = rest.as_slice() {
            return (*only).clone();
        }
    }
    if let Some(types) = schema.get("type").and_then(Value::as_array) {
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let mut schema = schema.clone();
        schema["type"] = match rest.as_slice() {
            [only] => only.clone(),
            _ => Value::Array(rest),
        };
        return schema;
    }
    schema
}

/// GET /api/v1/openapi.json.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    summary = "This document",
    security(()),
    responses((status = 200, description = "OpenAPI 3.1", body = Object))
)]
pub(crate) async fn openapi_json() -> Json<Value> {
    Json(document())
}
