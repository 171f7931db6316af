//! The management API's OpenAPI 3.1 document, generated from the handlers:
//! each route is registered through [`utoipa_axum`]'s `routes!` with its
//! `#[utoipa::path]` description, so a route cannot be served without
//! being described. Served at `GET /api/v1/openapi.json`; a snapshot is
//! committed as `control-plane/openapi.json` and the test suite fails when
//! the two differ (`AIHUB_UPDATE_OPENAPI=1 cargo test -p aihub-control-plane
//! --test openapi` rewrites it).
//!
//! With `api.check_responses` on (the test suite turns it on), every answer
//! of a described operation is checked against the schema the document
//! gives for its status ([`check_responses`]); an answer that does not match
//! becomes a 500 `openapi_mismatch`, so every API test is also a test of
//! the document.

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// The error shape of every failed call.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// Stable, machine-readable code (`invalid_request`, `unauthorized`,
    /// `not_found`, `rate_limited`, …).
    code: String,
    /// What happened and what to do, for people.
    message: String,
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The management routes (`/api/v1/…`) take an access token from \
                         `POST /api/v1/developer/login` (or `refresh`). The OpenAI-compatible \
                         Files and Batches routes (`/v1/files`, `/v1/batches`) take an API key \
                         (`ahub_…`) instead, like the rest of `/v1`.",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AI Hub management API",
        description = "Accounts, API keys, usage, billing, tasks, webhooks and \
            administration. JSON in and out; every error is \
            `{\"error\": {\"code\", \"message\"}}`. Creating `POST`s take an \
            `Idempotency-Key` header. The OpenAI-compatible model API (`/v1`) \
            is described in the gateway reference.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "accounts", description = "Sign-up, email verification, sign-in, tokens, password reset, profile."),
        (name = "keys", description = "A developer's API keys: scopes, limits, rotation, usage."),
        (name = "usage", description = "Usage and analytics: totals, trends, costs, performance."),
        (name = "billing", description = "Plans, balance and credit, top-ups, redemption codes, invoices, payments."),
        (name = "tasks", description = "Asynchronous tasks (batch generation) and their results."),
        (name = "files and batches", description = "OpenAI-compatible Files and Batches API (`/v1/files`, `/v1/batches`), called with an API key."),
        (name = "webhooks", description = "Webhook endpoints, signing secrets, test sends, deliveries."),
        (name = "events", description = "The event catalog, the developer's events, replay and the live stream."),
        (name = "admin", description = "The operator console's API: developers, plans, providers, models, invoices, settings, audit. Operators only."),
    )
)]
struct Base;

/// The whole document.
pub fn document() -> &'static utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = Base::openapi();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc.merge(super::router::<crate::http::AppState>().into_openapi());
        add_unavailable(&mut doc);
        doc
    })
}

/// Every operation may answer 503 when the database cannot be reached
/// (`http::database_unreachable`), whatever else it answers.
fn add_unavailable(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{
        schema::{ObjectBuilder, Type},
        ContentBuilder, HeaderBuilder, Ref, RefOr, ResponseBuilder,
    };
    let response = ResponseBuilder::new()
        .description(
            "The database cannot be reached right now; nothing was changed. Retry after              `Retry-After` seconds.",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build(),
        )
        .header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                .description(Some("Seconds to wait before retrying."))
                .build(),
        )
        .build();
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            op.responses
                .responses
                .entry("503".to_string())
                .or_insert_with(|| RefOr::T(response.clone()));
        }
    }
}

/// The document as pretty JSON (what is served and committed).
pub fn json() -> &'static str {
    static TEXT: OnceLock<String> = OnceLock::new();
    TEXT.get_or_init(|| {
        let mut text = document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        text.push('\n');
        text
    })
}

/// `GET /api/v1/openapi.json`.
pub async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json(),
    )
        .into_response()
}

/// Response schemas by (method, path template, status), compiled once.
struct Checker {
    root: Value,
    validators: HashMap<(String, String, u16), Option<jsonschema::Validator>>,
}

fn checker() -> &'static Checker {
    static CHECKER: OnceLock<Checker> = OnceLock::new();
    CHECKER.get_or_init(|| {
        let root: Value = serde_json::from_str(json()).unwrap_or(Value::Null);
        let mut validators = HashMap::new();
        if let Some(paths) = root["paths"].as_object() {
            for (path, item) in paths {
                let Some(item) = item.as_object() else {
                    continue;
                };
                for (method, op) in item {
                    let Some(responses) = op["responses"].as_object() else {
                        continue;
                    };
                    for (status, resp) in responses {
                        let Ok(status) = status.parse::<u16>() else {
                            continue;
                        };
                        let schema = &resp["content"]["application/json"]["schema"];
                        let validator = if schema.is_null() {
                            None
                        } else {
                            // The schema with the document's components, so
                            // `#/components/schemas/…` references resolve.
                            let mut s = schema.clone();
                            if let Some(obj) = s.as_object_mut() {
                                obj.insert("components".into(), root["components"].clone());
                            }
                            jsonschema::validator_for(&s).ok()
                        };
                        validators.insert((method.to_uppercase(), path.clone(), status), validator);
                    }
                }
            }
        }
        Checker { root, validators }
    })
}

/// What the document says of one answer: `Ok` when it matches (or the
/// route is not a described operation), `Err` with the reason otherwise.
/// `body` is `None` for an answer that is not JSON.
pub fn check(method: &str, path: &str, status: u16, body: Option<&[u8]>) -> Result<(), String> {
    let checker = checker();
    if !checker.root["paths"][path][method.to_lowercase()].is_object() {
        return Ok(());
    }
    let Some(validator) = checker
        .validators
        .get(&(method.to_string(), path.to_string(), status))
    else {
        return Err(format!(
            "{method} {path} answered {status}, a status the document does not list"
        ));
    };
    let (Some(validator), Some(body)) = (validator, body) else {
        // No JSON body described, or none sent (204, a file download).
        return Ok(());
    };
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| format!("{method} {path} {status}: the body is not JSON: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(&value)
        .take(5)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{method} {path} {status} does not match the document: {}",
            errors.join("; ")
        ))
    }
}

/// Middleware: checks every answer of a described operation against the
/// document ([`check`]); a mismatch is logged and answered with 500
/// `openapi_mismatch`. Only installed when `api.check_responses` is on.
pub async fn check_responses(req: Request, next: Next) -> Response {
    let method = req.method().as_str().to_string();
    let Some(path) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
    else {
        return next.run(req).await;
    };
    let response = next.run(req).await;
    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !is_json {
        return match check(&method, &path, status, None) {
            Ok(()) => response,
            Err(e) => mismatch(e),
        };
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return mismatch(format!("{method} {path}: the body could not be read"));
    };
    match check(&method, &path, status, Some(&bytes)) {
        Ok(()) => Response::from_parts(parts, Body::from(bytes)),
        Err(e) => mismatch(e),
    }
}

fn mismatch(reason: String) -> Response {
    tracing::error!(%reason, "answer does not match the OpenAPI document");
    super::ApiFailure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "openapi_mismatch",
        reason,
    )
    .into_response()
}
