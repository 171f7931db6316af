//! `POST /internal/v1/usage`: idempotent ingest, refusals.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::routes;
use aihub_contract::usage::{IngestResult, UsageBatch, UsageRow};
use aihub_control_plane::developers::{self, DeveloperType, Email, NewDeveloper, Role};
use aihub_control_plane::keys::{self, Expiry, NewKey};
use aihub_control_plane::usage;
use common::{error_code, spawn_app, Backend};

on_selected_backend!(
    ingest_is_idempotent_and_moves_last_used,
    malformed_batches_are_refused_with_the_error_shape,
    oversized_bodies_are_refused,
);

fn row(request_id: &str, key_id: &str, developer_id: &str, ts_ms: i64) -> UsageRow {
    UsageRow {
        request_id: request_id.into(),
        ts_ms,
        developer_id: developer_id.into(),
        key_id: key_id.into(),
        endpoint: "chat.completions".into(),
        method: "POST".into(),
        model: "gpt-4o-mini".into(),
        deployment_id: "dep_1".into(),
        provider_id: "prov_1".into(),
        prompt_tokens: 1_000,
        completion_tokens: 200,
        cached_tokens: 100,
        reasoning_tokens: 0,
        cost_nanos: 180_000,
        latency_ms: 830,
        ttft_ms: Some(120),
        status: 200,
        stream: true,
        attempts: 1,
        ip: "203.0.113.7".into(),
        user_agent: "OpenAI/Python 1.40".into(),
        error: String::new(),
        gateway_id: "gw-1".into(),
        batch_id: String::new(),
    }
}

async fn ingest_is_idempotent_and_moves_last_used(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dev = developers::create_developer(
        &app.db,
        NewDeveloper {
            email: Email::parse("alan@example.com").unwrap(),
            full_name: "Alan".into(),
            company_name: None,
            developer_type: DeveloperType::Individual,
            role: Role::Developer,
            password: None,
            email_verified: false,
            language: Default::default(),
        },
    )
    .await
    .unwrap();
    let key = keys::create_key(
        &app.db,
        NewKey {
            developer: dev.id.clone(),
            name: None,
            allowed_models: None,
            expiry: Expiry::Never,
        },
    )
    .await
    .unwrap();
    assert_eq!(key.key.expires_at_ms, None);
    assert_eq!(key.key.last_used_at_ms, None);

    let mut failed = row("req_3", "", "", 1_700_000_000_500);
    failed.status = 401;
    failed.ttft_ms = None;
    failed.stream = false;
    failed.error = "invalid_api_key".into();
    let batch = UsageBatch {
        rows: vec![
            row("req_1", &key.key.id, &dev.id, 1_700_000_000_000),
            row("req_2", &key.key.id, &dev.id, 1_700_000_001_000),
            failed,
        ],
    };
    let body = serde_json::to_vec(&batch).unwrap();

    let first = app.signed_post(routes::USAGE, body.clone()).await;
    assert_eq!(first.status(), 200);
    let first: IngestResult = first.json().await.unwrap();
    assert_eq!(
        first,
        IngestResult {
            inserted: 3,
            duplicates: 0
        }
    );
    assert_eq!(usage::count(&app.db).await.unwrap(), 3);

    let again = app.signed_post(routes::USAGE, body).await;
    assert_eq!(again.status(), 200);
    let again: IngestResult = again.json().await.unwrap();
    assert_eq!(
        again,
        IngestResult {
            inserted: 0,
            duplicates: 3
        }
    );
    assert_eq!(usage::count(&app.db).await.unwrap(), 3);

    // A batch repeating a row within itself counts it once.
    let repeat = UsageBatch {
        rows: vec![
            row("req_4", &key.key.id, &dev.id, 1_700_000_000_000),
            row("req_4", &key.key.id, &dev.id, 1_700_000_000_000),
        ],
    };
    let r: IngestResult = app
        .signed_post(routes::USAGE, serde_json::to_vec(&repeat).unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((r.inserted, r.duplicates), (1, 1));
    assert_eq!(usage::count(&app.db).await.unwrap(), 4);

    // last_used_at is the newest request seen, never moved backwards.
    let listed = keys::list_keys(&app.db, &dev.email).await.unwrap();
    assert_eq!(listed[0].last_used_at_ms, Some(1_700_000_001_000));

    assert_eq!(
        app.metric("aihub_cp_usage_rows_ingested_total").await,
        Some(4.0)
    );
    assert_eq!(
        app.metric("aihub_cp_usage_rows_duplicate_total").await,
        Some(4.0)
    );
    // Usage is telemetry, not configuration: gateways are not told.
    let snap_version = aihub_control_plane::gateway_feed::version(&app.db)
        .await
        .unwrap();
    assert_eq!(snap_version, 2);
    app.stop().await;
}

async fn malformed_batches_are_refused_with_the_error_shape(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for body in [
        b"not json".to_vec(),
        br#"{"rows": [{"request_id": "x"}]}"#.to_vec(),
        br#"{"rows": [{"request_id": "x", "prompt_tokens": -1}]}"#.to_vec(),
    ] {
        let resp = app.signed_post(routes::USAGE, body).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "invalid_json");
    }
    // Well-formed JSON with an unusable row: refused whole, nothing stored.
    let mut bad = row("", "k", "d", 1);
    bad.request_id = String::new();
    let batch = UsageBatch {
        rows: vec![row("ok_1", "k", "d", 1), bad],
    };
    let resp = app
        .signed_post(routes::USAGE, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(error_code(resp).await, "invalid_request");
    // Token counts beyond i64 are refused too, before anything is written.
    let mut huge = row("huge", "k", "d", 1);
    huge.prompt_tokens = u64::MAX;
    let batch = UsageBatch {
        rows: vec![row("ok_2", "k", "d", 1), huge],
    };
    let resp = app
        .signed_post(routes::USAGE, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(usage::count(&app.db).await.unwrap(), 0);
    app.stop().await;
}

async fn oversized_bodies_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = vec![b' '; aihub_control_plane::http::BODY_LIMIT + 1];
    let resp = app.signed_post(routes::USAGE, body).await;
    assert_eq!(resp.status(), 413);
    assert_eq!(error_code(resp).await, "payload_too_large");
    app.stop().await;
}
