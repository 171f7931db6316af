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
