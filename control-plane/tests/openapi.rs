//! The OpenAPI document: the committed snapshot is what the code generates,
//! it is served, and the response check can fail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_control_plane::api::openapi;
use common::{spawn_app, Backend};
use serde_json::{json, Value};

const SNAPSHOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[test]
fn the_committed_snapshot_is_what_the_code_generates() {
    let generated = openapi::json();
    if std::env::var_os("AIHUB_UPDATE_OPENAPI").is_some() {
        std::fs::write(SNAPSHOT, generated).unwrap();
    }
    let committed = std::fs::read_to_string(SNAPSHOT).unwrap_or_default();
    assert!(
        committed == generated,
        "control-plane/openapi.json differs from the document the code generates; \
         if the API change is intended, run \
         `AIHUB_UPDATE_OPENAPI=1 cargo test -p aihub-control-plane --test openapi` and commit it"
    );
}

#[test]
fn the_document_is_openapi_3_1_with_described_operations() {
    let doc: Value = serde_json::from_str(openapi::json()).unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.contains_key("/api/v1/developer/keys/{id}"));
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} lists no responses"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
            for name in path
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            {
                let declared = op["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(
                    declared,
                    "{method} {path}: path parameter {name} is not described"
                );
            }
        }
    }
}

/// Each module's own document: the whole one is their merge, in which a
/// schema name used twice would silently keep only one of the shapes.
fn module_documents() -> Vec<(&'static str, Value)> {
    use aihub_control_plane::api;
    use aihub_control_plane::http::AppState;
    let doc = |o: utoipa::openapi::OpenApi| serde_json::to_value(o).unwrap();
    vec![
        (
            "developer",
            doc(api::developer::router::<AppState>().into_openapi()),
        ),
        ("keys", doc(api::keys::router::<AppState>().into_openapi())),
        (
            "webhooks",
            doc(api::webhooks::router::<AppState>().into_openapi()),
        ),
        (
            "events",
            doc(api::events::router::<AppState>().into_openapi()),
        ),
        (
            "admin",
            doc(api::admin::router::<AppState>().into_openapi()),
        ),
        (
            "billing",
            doc(api::billing::router::<AppState>().into_openapi()),
        ),
        (
            "analytics",
            doc(api::analytics::router::<AppState>().into_openapi()),
        ),
        (
            "files",
            doc(api::files::router::<AppState>().into_openapi()),
        ),
        (
            "tasks",
            doc(api::tasks::router::<AppState>().into_openapi()),
        ),
    ]
}

#[test]
fn schema_names_mean_one_shape_across_modules() {
    let mut seen: std::collections::BTreeMap<String, (&str, Value)> = Default::default();
    for (module, doc) in module_documents() {
        let Some(schemas) = doc["components"]["schemas"].as_object() else {
            continue;
        };
        for (name, schema) in schemas {
            if let Some((other, first)) = seen.get(name) {
                assert_eq!(
                    first, schema,
                    "schema {name} has one shape in {other} and another in {module}: rename one"
                );
            } else {
                seen.insert(name.clone(), (module, schema.clone()));
            }
        }
    }
    assert!(seen.len() > 10, "{} schemas", seen.len());
}

#[test]
fn every_api_route_is_registered_with_its_description() {
    // `routes!` takes the path from the handler's `#[utoipa::path]`; a plain
    // `.route(` would serve a path the document does not know.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.contains(".route(") && !line.contains("/api/v1/openapi.json") {
                panic!("{}:{}: {line}", path.display(), n + 1);
            }
        }
    }
}

#[test]
fn operation_ids_are_unique() {
    let doc: Value = serde_json::from_str(openapi::json()).unwrap();
    let mut ids: std::collections::BTreeMap<String, String> = Default::default();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_default().to_string();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            let here = format!("{method} {path}");
            if let Some(first) = ids.insert(id.clone(), here.clone()) {
                panic!("operationId {id} is used by {first} and {here}");
            }
        }
    }
}

#[test]
fn the_response_check_refuses_what_the_document_does_not_say() {
    let key = json!({
        "id": "key_1", "name": "n", "display_prefix": "ahub_Ab3d…x9Yz", "enabled": true,
        "created_at_ms": 1, "expires_at_ms": null, "last_used_at_ms": null,
        "allowed_models": null, "allowed_endpoints": null,
        "limits": {"requests_per_minute": null, "tokens_per_minute": null,
                   "token_quota_total": null, "token_quota_monthly": null,
                   "budget_total": null, "budget_monthly": null},
        "ip_allowlist": null, "metadata": {}
    });
    let path = "/api/v1/developer/keys/{id}";
    let ok = serde_json::to_vec(&key).unwrap();
    assert_eq!(openapi::check("PUT", path, 200, Some(&ok)), Ok(()));
    let mut wrong = key.clone();
    wrong["enabled"] = json!("yes");
    let err =
        openapi::check("PUT", path, 200, Some(&serde_json::to_vec(&wrong).unwrap())).unwrap_err();
    assert!(err.contains("enabled"), "{err}");
    let mut missing = key;
    missing.as_object_mut().unwrap().remove("limits");
    assert!(openapi::check(
        "PUT",
        path,
        200,
        Some(&serde_json::to_vec(&missing).unwrap())
    )
    .is_err());
    // A status the operation does not list.
    let err = openapi::check("PUT", path, 418, None).unwrap_err();
    assert!(err.contains("does not list"), "{err}");
    // Errors have the error shape.
    assert!(openapi::check("PUT", path, 404, Some(br#"{"detail": "nope"}"#)).is_err());
    assert_eq!(
        openapi::check(
            "PUT",
            path,
            404,
            Some(br#"{"error": {"code": "not_found", "message": "m"}}"#)
        ),
        Ok(())
    );
    // Routes the document does not describe are not checked.
    assert_eq!(openapi::check("GET", "/healthz", 200, Some(b"{}")), Ok(()));
}

#[tokio::test]
async fn the_document_is_served() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let resp = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    assert_eq!(resp.text().await.unwrap(), openapi::json());
}
