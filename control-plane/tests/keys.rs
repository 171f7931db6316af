//! The developer keys API over real HTTP: create (secret once), list,
//! update, disable, delete, regenerate with and without grace, isolation
//! between developers, Idempotency-Key, the email-verification policy,
//! per-key usage, endpoint scopes, limits, IP allow-lists and metadata
//! (validation, narrowing to the account's limits), and the gateway feed,
//! audit log and events behind them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::keys as contract_keys;
use aihub_contract::routes;
use aihub_contract::snapshot::ProviderKind;
use aihub_contract::snapshot::{Changes, EndpointScope, KeyEntry, KeyLimits, Snapshot};
use aihub_contract::usage::{IngestResult, UsageBatch, UsageRow};
use aihub_control_plane::catalog::{self, NewDeployment, NewProvider};
use common::hub::{call, developer_session, expect_error, parts};
use common::{spawn_app, spawn_app_with, Backend, TestApp};
use figment::providers::Serialized;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sqlx::Row;

on_selected_backend!(
    keys_are_created_once_listed_without_secrets_and_fed_to_gateways,
    updates_disabling_and_deletion_reach_the_gateways,
    regeneration_with_and_without_grace,
    developers_cannot_see_or_touch_each_others_keys,
    idempotency_keys_replay_and_conflict,
    unverified_developers_are_refused_when_the_policy_requires_it,
    per_key_usage_by_day,
    scopes_limits_allowlists_and_metadata_round_trip_and_reach_the_gateways,
    invalid_scopes_limits_allowlists_and_metadata_are_refused,
);

const KEYS: &str = "/api/v1/developer/keys";
const DAY_MS: i64 = 86_400_000;

async fn catalog_with(app: &TestApp, models: &[&str]) {
    catalog::add_provider(
        &app.db,
        &common::vault(),
        NewProvider {
            name: "openai".into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            api_key: String::new(),
        },
    )
    .await
    .unwrap();
    for m in models {
        catalog::add_model(&app.db, NewDeployment::new(*m, "openai"))
            .await
            .unwrap();
    }
}

async fn api(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    parts(call(app, method, path, Some(token), body).await).await
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (status, key) = api(app, Method::POST, KEYS, token, Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    key
}

async fn snapshot(app: &TestApp) -> Snapshot {
    let resp = app.signed_get(routes::SNAPSHOT).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

fn entry<'a>(snap: &'a Snapshot, id: &str) -> Option<&'a KeyEntry> {
    snap.keys.iter().find(|k| k.id == id)
}

/// The changes after `since` (waits for the version watcher to see them).
async fn changes(app: &TestApp, since: i64) -> Changes {
    let resp = app
        .signed_get(&format!("{}?since={since}&wait_ms=5000", routes::CHANGES))
        .await;
    assert_eq!(resp.status(), 200);
    let c: Changes = resp.json().await.unwrap();
    assert!(c.version > since, "no change after {since}: {c:?}");
    c
}

async fn audit_actions(app: &TestApp, target: &str) -> Vec<(String, String, String)> {
    sqlx::query(
        "SELECT action, actor_id, actor_ip FROM audit_log WHERE target_id = $1 ORDER BY at_ms, id",
    )
    .bind(target)
    .fetch_all(app.db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        (
            r.get::<String, _>("action"),
            r.get::<String, _>("actor_id"),
            r.get::<String, _>("actor_ip"),
        )
    })
    .collect()
}

/// (type, data) of a developer's events, oldest first.
async fn events(app: &TestApp, developer_id: &str) -> Vec<(String, Value)> {
    sqlx::query(
        "SELECT id, type, data FROM events WHERE developer_id = $1 ORDER BY created_at_ms, id",
    )
    .bind(developer_id)
    .fetch_all(app.db.pool())
    .await
    .unwrap()
    .iter()
    .map(|r| {
        assert!(r.get::<String, _>("id").starts_with("evt_"));
        (
            r.get::<String, _>("type"),
            serde_json::from_str(&r.get::<String, _>("data")).unwrap(),
        )
    })
    .collect()
}

fn assert_key_shape(key: &Value) {
    let obj = key.as_object().unwrap();
    let mut fields: Vec<&str> = obj.keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "allowed_endpoints",
            "allowed_models",
            "created_at_ms",
            "display_prefix",
            "enabled",
            "expires_at_ms",
            "id",
            "ip_allowlist",
            "last_used_at_ms",
            "limits",
            "metadata",
            "name"
        ],
        "{key}"
    );
}

async fn keys_are_created_once_listed_without_secrets_and_fed_to_gateways(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    catalog_with(&app, &["gpt-4o-mini", "claude-3.5-sonnet"]).await;
    let (dev, token) = developer_session(&app, "grace@example.com", true).await;

    // Created: the secret once, well formed, its hash (only) on the gateway.
    let before = aihub_control_plane::db::now_ms();
    let first = create(
        &app,
        &token,
        json!({"name": "backend", "allowed_models": ["gpt-4o-mini"]}),
    )
    .await;
    let secret = first["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("ahub_"), "{secret}");
    assert!(contract_keys::is_well_formed(&secret));
    let id = first["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("key_"));
    assert_eq!(first["name"], "backend");
    assert_eq!(first["enabled"], true);
    assert_eq!(first["allowed_models"], json!(["gpt-4o-mini"]));
    assert_eq!(first["last_used_at_ms"], Value::Null);
    assert_eq!(
        first["display_prefix"],
        contract_keys::display_prefix(&secret)
    );
    let expires = first["expires_at_ms"].as_i64().unwrap();
    assert!(expires >= before + 365 * DAY_MS && expires <= before + 366 * DAY_MS);
    let snap = snapshot(&app).await;
    let e = entry(&snap, &id).unwrap();
    assert_eq!(e.hash, contract_keys::hash(&secret));
    assert_eq!(e.developer_id, dev);
    assert_eq!(e.allowed_models, Some(vec!["gpt-4o-mini".to_string()]));
    assert_eq!(e.expires_at_ms, Some(expires));

    // No expiry with null; all models without a list; newest first.
    let second = create(
        &app,
        &token,
        json!({"name": "never", "expires_in_days": null}),
    )
    .await;
    assert_eq!(second["expires_at_ms"], Value::Null);
    assert_eq!(second["allowed_models"], Value::Null);
    let third = create(&app, &token, json!({"name": "week", "expires_in_days": 7})).await;
    assert!(
        third["expires_at_ms"].as_i64().unwrap() <= aihub_control_plane::db::now_ms() + 7 * DAY_MS
    );

    let (status, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(status, StatusCode::OK);
    let data = list["data"].as_array().unwrap();
    let names: Vec<&str> = data.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["week", "never", "backend"]);
    for k in data {
        assert_key_shape(k);
    }
    let raw = list.to_string();
    assert!(!raw.contains(&secret) && !raw.contains(&contract_keys::hash(&secret)));

    // Refusals name the field.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({}), "name"),
        (json!({"name": "a", "expires_in_days": 0}), "expires"),
        (json!({"name": "a", "allowed_models": []}), "models"),
        (
            json!({"name": "a", "allowed_models": ["gpt-4o-mini", "gpt-5-imaginary"]}),
            "gpt-5-imaginary",
        ),
    ] {
        let msg = expect_error(
            call(&app, Method::POST, KEYS, Some(&token), Some(body.clone())).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(msg.contains(field), "{body}: {msg}");
    }
    assert_eq!(
        api(&app, Method::GET, KEYS, &token, None).await.1["data"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // Without a token: 401.
    expect_error(
        call(&app, Method::GET, KEYS, None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Audit (who, from where) and the event, in the same transaction.
    let audit = audit_actions(&app, &id).await;
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].0, "api_key.created");
    assert_eq!(audit[0].1, dev);
    assert_eq!(audit[0].2, "127.0.0.1");
    let evs = events(&app, &dev).await;
    assert_eq!(evs.len(), 3);
    assert_eq!(evs[0].0, "api_key.created");
    assert_eq!(evs[0].1["id"], id.as_str());
    assert!(!evs[0].1.to_string().contains(&secret));
}

async fn updates_disabling_and_deletion_reach_the_gateways(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    catalog_with(&app, &["gpt-4o-mini", "claude-3.5-sonnet"]).await;
    let (dev, token) = developer_session(&app, "grace@example.com", true).await;
    let key = create(&app, &token, json!({"name": "ci"})).await;
    let id = key["id"].as_str().unwrap().to_string();
    let path = format!("{KEYS}/{id}");

    // Rename, narrow the models, set an expiry.
    let v0 = snapshot(&app).await.version;
    let at = aihub_control_plane::db::now_ms() + 10 * DAY_MS;
    let (status, updated) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"name": "ci-runner", "allowed_models": ["claude-3.5-sonnet"], "expires_at_ms": at})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_key_shape(&updated);
    assert_eq!(updated["name"], "ci-runner");
    assert_eq!(updated["allowed_models"], json!(["claude-3.5-sonnet"]));
    assert_eq!(updated["expires_at_ms"], at);
    let c = changes(&app, v0).await;
    let up = c.keys_upsert.iter().find(|k| k.id == id).unwrap();
    assert_eq!(
        up.allowed_models,
        Some(vec!["claude-3.5-sonnet".to_string()])
    );
    assert_eq!(up.expires_at_ms, Some(at));

    // Back to all models and no expiry (null), the name kept.
    let (_, updated) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"allowed_models": null, "expires_at_ms": null})),
    )
    .await;
    assert_eq!(updated["name"], "ci-runner");
    assert_eq!(updated["allowed_models"], Value::Null);
    assert_eq!(updated["expires_at_ms"], Value::Null);
    for body in [
        json!({"allowed_models": ["nope"]}),
        json!({"name": ""}),
        json!({"expires_at_ms": 1000}),
    ] {
        expect_error(
            call(&app, Method::PUT, &path, Some(&token), Some(body)).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }

    // Disabled: removed from the gateways; enabled again: back.
    let v1 = snapshot(&app).await.version;
    let (_, off) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(off["enabled"], false);
    let c = changes(&app, v1).await;
    assert!(c.keys_remove.contains(&id), "{c:?}");
    assert!(entry(&snapshot(&app).await, &id).is_none());
    let v2 = snapshot(&app).await.version;
    api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"enabled": true})),
    )
    .await;
    assert!(changes(&app, v2)
        .await
        .keys_upsert
        .iter()
        .any(|k| k.id == id));

    // Deleted: 204, gone from the list, the gateways and further calls.
    let v3 = snapshot(&app).await.version;
    let (status, _) = api(&app, Method::DELETE, &path, &token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(changes(&app, v3).await.keys_remove.contains(&id));
    assert!(entry(&snapshot(&app).await, &id).is_none());
    assert_eq!(
        api(&app, Method::GET, KEYS, &token, None).await.1["data"],
        json!([])
    );
    let (status, _) = api(&app, Method::DELETE, &path, &token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let actions: Vec<String> = audit_actions(&app, &id)
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.created",
            "api_key.updated",
            "api_key.updated",
            "api_key.updated",
            "api_key.updated",
            "api_key.deleted"
        ]
    );
    let types: Vec<String> = events(&app, &dev).await.into_iter().map(|e| e.0).collect();
    assert_eq!(types, actions);
}

async fn regeneration_with_and_without_grace(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "grace@example.com", true).await;
    let key = create(&app, &token, json!({"name": "rotating"})).await;
    let id = key["id"].as_str().unwrap().to_string();
    let first = key["secret"].as_str().unwrap().to_string();
    let path = format!("{KEYS}/{id}/regenerate");

    // Grace 0 (no body): the old hash is gone at once.
    let v0 = snapshot(&app).await.version;
    let (status, second) = api(&app, Method::POST, &path, &token, None).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_secret = second["secret"].as_str().unwrap().to_string();
    assert!(contract_keys::is_well_formed(&second_secret));
    assert_ne!(second_secret, first);
    assert_eq!(second["id"], id.as_str());
    assert_eq!(second["grace_expires_at_ms"], Value::Null);
    assert_eq!(
        second["display_prefix"],
        contract_keys::display_prefix(&second_secret)
    );
    let c = changes(&app, v0).await;
    let up = c.keys_upsert.iter().find(|k| k.id == id).unwrap();
    assert_eq!(up.hash, contract_keys::hash(&second_secret));
    let snap = snapshot(&app).await;
    assert!(snap
        .keys
        .iter()
        .all(|k| k.hash != contract_keys::hash(&first)));
    assert!(entry(&snap, &format!("{id}:grace")).is_none());

    // Grace 3600: the old secret stays as `<id>:grace` until then.
    let v1 = snapshot(&app).await.version;
    let before = aihub_control_plane::db::now_ms();
    let (status, third) = api(
        &app,
        Method::POST,
        &path,
        &token,
        Some(json!({"grace_seconds": 3600})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let third_secret = third["secret"].as_str().unwrap().to_string();
    let grace_end = third["grace_expires_at_ms"].as_i64().unwrap();
    assert!(grace_end >= before + 3_600_000 && grace_end <= before + 3_610_000);
    let snap = snapshot(&app).await;
    assert_eq!(
        entry(&snap, &id).unwrap().hash,
        contract_keys::hash(&third_secret)
    );
    let grace = entry(&snap, &format!("{id}:grace")).unwrap();
    assert_eq!(grace.hash, contract_keys::hash(&second_secret));
    assert_eq!(grace.developer_id, dev);
    assert_eq!(grace.expires_at_ms, Some(grace_end));
    let c = changes(&app, v1).await;
    assert!(c.keys_upsert.iter().any(|k| k.id == format!("{id}:grace")));

    // Disabling the key also ends the grace entry.
    let v2 = snapshot(&app).await.version;
    api(
        &app,
        Method::PUT,
        &format!("{KEYS}/{id}"),
        &token,
        Some(json!({"enabled": false})),
    )
    .await;
    let c = changes(&app, v2).await;
    assert!(c.keys_remove.contains(&id));
    assert!(c.keys_remove.contains(&format!("{id}:grace")), "{c:?}");
    assert!(snapshot(&app).await.keys.is_empty());

    // Too long a grace is refused; an unknown key is 404.
    expect_error(
        call(
            &app,
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"grace_seconds": 8 * 86_400})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let (status, _) = api(
        &app,
        Method::POST,
        &format!("{KEYS}/key_nope/regenerate"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let actions: Vec<String> = audit_actions(&app, &id)
        .await
        .into_iter()
        .map(|a| a.0)
        .collect();
    assert_eq!(
        actions,
        [
            "api_key.created",
            "api_key.regenerated",
            "api_key.regenerated",
            "api_key.updated"
        ]
    );
    let evs = events(&app, &dev).await;
    assert_eq!(evs[2].0, "api_key.regenerated");
    assert_eq!(evs[2].1["grace_seconds"], 3600);
    assert!(!evs.iter().any(|e| e.1.to_string().contains(&third_secret)));
}

async fn developers_cannot_see_or_touch_each_others_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, mine) = developer_session(&app, "owner@example.com", true).await;
    let (_, theirs) = developer_session(&app, "mallory@example.com", true).await;
    let key = create(
        &app,
        &mine,
        json!({
            "name": "private",
            "allowed_endpoints": ["chat"],
            "limits": {"requests_per_minute": 10},
            "ip_allowlist": ["198.51.100.0/24"],
            "metadata": {"owner": "me"}
        }),
    )
    .await;
    let id = key["id"].as_str().unwrap().to_string();

    let (_, list) = api(&app, Method::GET, KEYS, &theirs, None).await;
    assert_eq!(list["data"], json!([]));
    for (method, path, body) in [
        (Method::GET, format!("{KEYS}/{id}/usage"), None),
        (
            Method::PUT,
            format!("{KEYS}/{id}"),
            Some(json!({"enabled": false})),
        ),
        (
            Method::PUT,
            format!("{KEYS}/{id}"),
            Some(json!({
                "allowed_endpoints": ["files"],
                "limits": {"requests_per_minute": 1},
                "ip_allowlist": ["192.0.2.1"],
                "metadata": {"owner": "mallory"}
            })),
        ),
        (
            Method::PUT,
            format!("{KEYS}/{id}"),
            Some(json!({"limits": null, "ip_allowlist": null})),
        ),
        (Method::DELETE, format!("{KEYS}/{id}"), None),
        (
            Method::POST,
            format!("{KEYS}/{id}/regenerate"),
            Some(json!({"grace_seconds": 60})),
        ),
    ] {
        expect_error(
            call(&app, method.clone(), &path, Some(&theirs), body).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // Untouched: same secret, scopes and limits on the gateway, enabled,
    // listed for its owner.
    let snap = snapshot(&app).await;
    let e = entry(&snap, &id).unwrap();
    assert_eq!(e.hash, contract_keys::hash(key["secret"].as_str().unwrap()));
    assert_eq!(e.allowed_endpoints, Some(vec![EndpointScope::Chat]));
    assert_eq!(e.limits.requests_per_minute, Some(10));
    assert_eq!(e.ip_allowlist, Some(vec!["198.51.100.0/24".to_string()]));
    assert!(entry(&snap, &format!("{id}:grace")).is_none());
    let (_, list) = api(&app, Method::GET, KEYS, &mine, None).await;
    assert_eq!(list["data"][0]["enabled"], true);
    assert_eq!(list["data"][0]["metadata"], json!({"owner": "me"}));
    assert_eq!(list["data"][0]["limits"]["requests_per_minute"], 10);
    assert_eq!(audit_actions(&app, &id).await.len(), 1);
}

async fn idempotency_keys_replay_and_conflict(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "retry@example.com", true).await;
    let (_, other) = developer_session(&app, "other@example.com", true).await;
    let send = |token: String, idem: &'static str, body: Value| {
        let app = &app;
        async move {
            app.client
                .post(app.url(KEYS))
                .bearer_auth(token)
                .header("idempotency-key", idem)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };

    let first = send(token.clone(), "order-1", json!({"name": "once"})).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let first: Value = first.json().await.unwrap();
    let again = send(token.clone(), "order-1", json!({"name": "once"})).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);
    assert!(contract_keys::is_well_formed(
        again["secret"].as_str().unwrap()
    ));

    // The stored answer does not hold the secret in clear.
    let stored: Vec<String> = sqlx::query("SELECT response_body FROM idempotency_keys")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("response_body"))
        .collect();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(first["secret"].as_str().unwrap()));

    // Same key, other body: 409; nothing created.
    expect_error(
        send(token.clone(), "order-1", json!({"name": "twice"})).await,
        StatusCode::CONFLICT,
        "idempotency_conflict",
    )
    .await;
    // Another developer's identical key is independent.
    let theirs = send(other.clone(), "order-1", json!({"name": "once"})).await;
    assert_eq!(theirs.status(), StatusCode::CREATED);
    let theirs: Value = theirs.json().await.unwrap();
    assert_ne!(theirs["id"], first["id"]);
    // A new key: a new key.
    let fresh: Value = send(token.clone(), "order-2", json!({"name": "once"}))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(fresh["id"], first["id"]);

    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    let (_, list) = api(&app, Method::GET, KEYS, &other, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // Concurrent retries with one key create one key and all get its answer.
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let client = app.client.clone();
        let url = app.url(KEYS);
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(token)
                .header("idempotency-key", "burst")
                .json(&json!({"name": "burst"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::CREATED);
            resp.json::<Value>().await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 3);

    // Malformed idempotency keys are refused.
    expect_error(
        send(token.clone(), "", json!({"name": "x"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}

async fn unverified_developers_are_refused_when_the_policy_requires_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "new@example.com", false).await;
    let msg = expect_error(
        call(
            &app,
            Method::POST,
            KEYS,
            Some(&token),
            Some(json!({"name": "k"})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "email_not_verified",
    )
    .await;
    assert!(msg.contains("verify"), "{msg}");
    assert_eq!(
        api(&app, Method::GET, KEYS, &token, None).await.1["data"],
        json!([])
    );
    app.stop().await;

    // With the policy off, the same developer may.
    let Some(app) = spawn_app_with(backend, |f| {
        f.merge(Serialized::default(
            "accounts.require_email_verification_for_keys",
            false,
        ))
    })
    .await
    else {
        return;
    };
    let (_, token) = developer_session(&app, "new@example.com", false).await;
    create(&app, &token, json!({"name": "k"})).await;
}

fn usage_row(request_id: &str, key_id: &str, dev: &str, ts_ms: i64, status: u16) -> UsageRow {
    UsageRow {
        request_id: request_id.into(),
        ts_ms,
        developer_id: dev.into(),
        key_id: key_id.into(),
        endpoint: "chat.completions".into(),
        method: "POST".into(),
        model: "gpt-4o-mini".into(),
        deployment_id: "dep_1".into(),
        provider_id: "prov_1".into(),
        prompt_tokens: 100,
        completion_tokens: 20,
        cached_tokens: 0,
        reasoning_tokens: 0,
        cost_nanos: 5_000,
        latency_ms: 300,
        ttft_ms: None,
        status,
        stream: false,
        attempts: 1,
        ip: "203.0.113.7".into(),
        user_agent: "OpenAI/Python".into(),
        error: String::new(),
        gateway_id: "gw-1".into(),
        batch_id: String::new(),
    }
}

async fn per_key_usage_by_day(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "stats@example.com", true).await;
    let key = create(&app, &token, json!({"name": "stats"})).await;
    let other = create(&app, &token, json!({"name": "other"})).await;
    let id = key["id"].as_str().unwrap().to_string();
    let other_id = other["id"].as_str().unwrap();
    let now = aihub_control_plane::db::now_ms();
    let today = now / DAY_MS * DAY_MS;
    let yesterday = today - DAY_MS;
    let grace_id = format!("{id}:grace");
    let batch = UsageBatch {
        rows: vec![
            usage_row("r1", &id, &dev, today + 1, 200),
            usage_row("r2", &id, &dev, today + 2, 429),
            usage_row("r3", &id, &dev, yesterday + 5, 200),
            // Made with the previous secret during a grace period.
            usage_row("r4", &grace_id, &dev, yesterday + 6, 500),
            // Another key, and a row older than the window.
            usage_row("r5", other_id, &dev, today + 3, 200),
            usage_row("r6", &id, &dev, today - 40 * DAY_MS, 200),
        ],
    };
    let resp = app
        .signed_post(routes::USAGE, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    let r: IngestResult = resp.json().await.unwrap();
    assert_eq!(r.inserted, 6);

    let (status, u) = api(
        &app,
        Method::GET,
        &format!("{KEYS}/{id}/usage?days=30"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{u}");
    assert_eq!(u["key_id"], id.as_str());
    assert_eq!(
        u["totals"],
        json!({"requests": 4, "prompt_tokens": 400, "completion_tokens": 80, "cost_nanos": 20_000, "errors": 2})
    );
    let by_day = u["by_day"].as_array().unwrap();
    assert_eq!(by_day.len(), 30);
    let last = &by_day[29];
    let expected_today = humantime_date(today);
    assert_eq!(last["date"], expected_today.as_str());
    assert_eq!(
        last,
        &json!({"date": expected_today, "requests": 2, "tokens": 240, "cost_nanos": 10_000, "errors": 1})
    );
    assert_eq!(by_day[28]["requests"], 2);
    assert_eq!(by_day[28]["errors"], 1);
    assert_eq!(by_day[0]["requests"], 0);
    assert_eq!(u["last_used_at_ms"], today + 2);
    assert_eq!(
        api(&app, Method::GET, KEYS, &token, None).await.1["data"][1]["last_used_at_ms"],
        today + 2
    );

    // A one-day window; out-of-range windows refused.
    let (_, u) = api(
        &app,
        Method::GET,
        &format!("{KEYS}/{id}/usage?days=1"),
        &token,
        None,
    )
    .await;
    assert_eq!(u["totals"]["requests"], 2);
    assert_eq!(u["by_day"].as_array().unwrap().len(), 1);
    expect_error(
        call(
            &app,
            Method::GET,
            &format!("{KEYS}/{id}/usage?days=abc"),
            Some(&token),
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    let (status, _) = api(
        &app,
        Method::GET,
        &format!("{KEYS}/{id}/usage?days=0"),
        &token,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

/// The KEY fields this issue added, as the API answers them.
fn permissions(key: &Value) -> Value {
    json!({
        "allowed_endpoints": key["allowed_endpoints"],
        "limits": key["limits"],
        "ip_allowlist": key["ip_allowlist"],
        "metadata": key["metadata"],
    })
}

/// `limits` with nothing set.
fn no_limits() -> Value {
    json!({
        "requests_per_minute": null, "tokens_per_minute": null,
        "token_quota_total": null, "token_quota_monthly": null,
        "budget_total": null, "budget_monthly": null
    })
}

async fn set_account_quota(app: &TestApp, developer_id: &str, tokens: u64) {
    aihub_control_plane::developers::set_limits(
        &app.db,
        developer_id,
        aihub_control_plane::developers::AccountLimits {
            rate_limit: None,
            quota_limit: Some(tokens),
        },
    )
    .await
    .unwrap();
}

async fn scopes_limits_allowlists_and_metadata_round_trip_and_reach_the_gateways(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "scoped@example.com", true).await;

    // The account's limits are listed with the keys (the Free plan's: no
    // hard token cap), here with a cap an operator set.
    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(
        list,
        json!({"data": [], "account_limits": {"requests_per_minute": 100, "token_quota_monthly": null}})
    );
    set_account_quota(&app, &dev, 1000).await;
    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(
        list,
        json!({"data": [], "account_limits": {"requests_per_minute": 100, "token_quota_monthly": 1000}})
    );

    // Without the new fields: all endpoints, no limits, any address, {}.
    let plain = create(&app, &token, json!({"name": "plain"})).await;
    assert_eq!(
        permissions(&plain),
        json!({"allowed_endpoints": null, "limits": no_limits(), "ip_allowlist": null, "metadata": {}})
    );

    // Every field, as the API answers it and as the gateways see it.
    let v0 = snapshot(&app).await.version;
    let key = create(
        &app,
        &token,
        json!({
            "name": "search",
            "allowed_endpoints": ["embeddings", "chat", "chat"],
            "limits": {
                "requests_per_minute": 100, "tokens_per_minute": 50_000,
                "token_quota_total": 2_000_000, "token_quota_monthly": 1000,
                "budget_total": "12.5", "budget_monthly": 5
            },
            "ip_allowlist": ["203.0.113.9/24", "2001:db8::/32", "198.51.100.7"],
            "metadata": {"team": "search", "ticket": "OPS-12"}
        }),
    )
    .await;
    let id = key["id"].as_str().unwrap().to_string();
    let expected = json!({
        "allowed_endpoints": ["chat", "embeddings"],
        "limits": {
            "requests_per_minute": 100, "tokens_per_minute": 50_000,
            "token_quota_total": 2_000_000, "token_quota_monthly": 1000,
            "budget_total": "12.50", "budget_monthly": "5.00"
        },
        "ip_allowlist": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"],
        "metadata": {"team": "search", "ticket": "OPS-12"}
    });
    assert_eq!(permissions(&key), expected);
    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_key_shape(&list["data"][0]);
    assert_eq!(permissions(&list["data"][0]), expected);
    let gateway_limits = KeyLimits {
        requests_per_minute: Some(100),
        tokens_per_minute: Some(50_000),
        token_quota_total: Some(2_000_000),
        token_quota_monthly: Some(1000),
        budget_total_nanos: Some(12_500_000_000),
        budget_monthly_nanos: Some(5_000_000_000),
    };
    let allow = vec![
        "203.0.113.0/24".to_string(),
        "2001:db8::/32".to_string(),
        "198.51.100.7/32".to_string(),
    ];
    let scopes = Some(vec![EndpointScope::Chat, EndpointScope::Embeddings]);
    let snap = snapshot(&app).await;
    let e = entry(&snap, &id).unwrap();
    assert_eq!(e.allowed_endpoints, scopes);
    assert_eq!(e.limits, gateway_limits);
    assert_eq!(e.ip_allowlist, Some(allow.clone()));
    let plain_entry = entry(&snap, plain["id"].as_str().unwrap()).unwrap();
    assert_eq!(plain_entry.allowed_endpoints, None);
    assert_eq!(plain_entry.limits, KeyLimits::default());
    assert_eq!(plain_entry.ip_allowlist, None);
    let c = changes(&app, v0).await;
    assert_eq!(c.keys_upsert.iter().find(|k| k.id == id).unwrap(), e);
    let evs = events(&app, &dev).await;
    assert_eq!(evs[1].0, "api_key.created");
    assert_eq!(permissions(&evs[1].1), expected);

    // A grace entry carries its key's scopes, limits and allow-list.
    let (status, _) = api(
        &app,
        Method::POST,
        &format!("{KEYS}/{id}/regenerate"),
        &token,
        Some(json!({"grace_seconds": 600})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let snap = snapshot(&app).await;
    let grace = entry(&snap, &format!("{id}:grace")).unwrap();
    assert_eq!(grace.allowed_endpoints, scopes);
    assert_eq!(grace.limits, gateway_limits);
    assert_eq!(grace.ip_allowlist, Some(allow.clone()));

    // PUT: absent fields stay; a limits object replaces every limit.
    let path = format!("{KEYS}/{id}");
    let v1 = snapshot(&app).await.version;
    let (status, updated) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"limits": {"tokens_per_minute": 10, "budget_monthly": "0.000001"}, "metadata": {"team": "ads"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_key_shape(&updated);
    assert_eq!(updated["allowed_endpoints"], expected["allowed_endpoints"]);
    assert_eq!(updated["ip_allowlist"], expected["ip_allowlist"]);
    let mut narrowed = no_limits();
    narrowed["tokens_per_minute"] = json!(10);
    narrowed["budget_monthly"] = json!("0.000001");
    assert_eq!(updated["limits"], narrowed);
    assert_eq!(updated["metadata"], json!({"team": "ads"}));
    let c = changes(&app, v1).await;
    let want = KeyLimits {
        tokens_per_minute: Some(10),
        budget_monthly_nanos: Some(1_000),
        ..KeyLimits::default()
    };
    for k in [id.clone(), format!("{id}:grace")] {
        let up = c.keys_upsert.iter().find(|e| e.id == k).unwrap();
        assert_eq!(up.limits, want, "{k}");
        assert_eq!(up.allowed_endpoints, scopes, "{k}");
    }
    let evs = events(&app, &dev).await;
    let last = &evs.last().unwrap().1;
    assert_eq!(last["changed"]["limits"], narrowed);
    assert_eq!(last["changed"]["metadata"], json!({"team": "ads"}));
    assert!(last["changed"].get("ip_allowlist").is_none(), "{last}");
    let details: String =
        sqlx::query("SELECT details FROM audit_log WHERE target_id = $1 AND action = $2 ORDER BY at_ms DESC, id DESC")
            .bind(&id)
            .bind("api_key.updated")
            .fetch_one(app.db.pool())
            .await
            .unwrap()
            .get("details");
    let details: Value = serde_json::from_str(&details).unwrap();
    assert_eq!(details["changed"]["limits"], narrowed);

    // PUT null clears every one of them.
    let v2 = snapshot(&app).await.version;
    let (status, cleared) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"allowed_endpoints": null, "limits": null, "ip_allowlist": null, "metadata": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{cleared}");
    assert_eq!(
        permissions(&cleared),
        json!({"allowed_endpoints": null, "limits": no_limits(), "ip_allowlist": null, "metadata": {}})
    );
    assert_eq!(cleared["name"], "search");
    let c = changes(&app, v2).await;
    let up = c.keys_upsert.iter().find(|k| k.id == id).unwrap();
    assert_eq!(up.allowed_endpoints, None);
    assert_eq!(up.limits, KeyLimits::default());
    assert_eq!(up.ip_allowlist, None);
    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(permissions(&list["data"][0]), permissions(&cleared));

    // And back, by PUT, with everything at once.
    let (status, again) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({
            "allowed_endpoints": ["embeddings", "chat"],
            "limits": expected["limits"],
            "ip_allowlist": ["203.0.113.0/24", "2001:db8::/32", "198.51.100.7/32"],
            "metadata": {"team": "search", "ticket": "OPS-12"}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(permissions(&again), expected);
    assert_eq!(
        entry(&snapshot(&app).await, &id).unwrap().limits,
        gateway_limits
    );
}

async fn invalid_scopes_limits_allowlists_and_metadata_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "strict@example.com", true).await;
    set_account_quota(&app, &dev, 1000).await;
    let key = create(
        &app,
        &token,
        json!({"name": "kept", "limits": {"requests_per_minute": 5}}),
    )
    .await;
    let id = key["id"].as_str().unwrap().to_string();
    let path = format!("{KEYS}/{id}");
    let v0 = snapshot(&app).await.version;
    let events_before = events(&app, &dev).await.len();

    let many: serde_json::Map<String, Value> =
        (0..17).map(|i| (format!("k{i}"), json!("v"))).collect();
    let many_ips: Vec<String> = (0..101).map(|i| format!("10.0.{i}.0/24")).collect();
    let cases = [
        (
            json!({"allowed_endpoints": ["chat", "images"]}),
            "allowed_endpoints",
        ),
        (json!({"allowed_endpoints": []}), "allowed_endpoints"),
        (
            json!({"limits": {"requests_per_minute": 0}}),
            "limits.requests_per_minute",
        ),
        (
            json!({"limits": {"tokens_per_minute": -5}}),
            "limits.tokens_per_minute",
        ),
        (
            json!({"limits": {"token_quota_total": "many"}}),
            "limits.token_quota_total",
        ),
        (
            json!({"limits": {"budget_total": "1.0000001"}}),
            "limits.budget_total",
        ),
        (
            json!({"limits": {"budget_monthly": 0}}),
            "limits.budget_monthly",
        ),
        (
            json!({"limits": {"budget_monthly": "-1"}}),
            "limits.budget_monthly",
        ),
        (json!({"limits": {"per_hour": 5}}), "limits.per_hour"),
        (json!({"limits": "lots"}), "limits"),
        (json!({"ip_allowlist": ["203.0.113.0/33"]}), "ip_allowlist"),
        (json!({"ip_allowlist": ["not-an-ip"]}), "ip_allowlist"),
        (json!({"ip_allowlist": []}), "ip_allowlist"),
        (json!({"ip_allowlist": many_ips}), "ip_allowlist"),
        (json!({"metadata": many}), "metadata"),
        (json!({"metadata": {"k".repeat(41): "v"}}), "metadata"),
        (json!({"metadata": {"note": "v".repeat(501)}}), "metadata"),
        (json!({"metadata": {"count": 3}}), "metadata.count"),
        // Narrowing: a key may not exceed its account's limits (100 rpm,
        // 1000 tokens a month by default).
        (
            json!({"limits": {"requests_per_minute": 101}}),
            "limits.requests_per_minute",
        ),
        (
            json!({"limits": {"token_quota_monthly": 1001}}),
            "limits.token_quota_monthly",
        ),
    ];
    for (fields, field) in &cases {
        let mut create_body = json!({"name": "refused"});
        for (k, v) in fields.as_object().unwrap() {
            create_body[k] = v.clone();
        }
        for (method, path, body) in [
            (Method::POST, KEYS.to_string(), create_body),
            (Method::PUT, path.clone(), fields.clone()),
        ] {
            let msg = expect_error(
                call(
                    &app,
                    method.clone(),
                    &path,
                    Some(&token),
                    Some(body.clone()),
                )
                .await,
                StatusCode::BAD_REQUEST,
                "invalid_request",
            )
            .await;
            assert!(msg.starts_with(field), "{method} {body}: {msg}");
        }
    }
    let msg = expect_error(
        call(
            &app,
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({"limits": {"requests_per_minute": 101}})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(msg.contains("at most 100 (your account's limit)"), "{msg}");
    // An unknown top-level field is still refused.
    expect_error(
        call(
            &app,
            Method::PUT,
            &path,
            Some(&token),
            Some(json!({"scopes": ["chat"]})),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;

    // Nothing was written: one key, unchanged, no change rows, no events.
    let (_, list) = api(&app, Method::GET, KEYS, &token, None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(permissions(&list["data"][0]), permissions(&key));
    assert_eq!(snapshot(&app).await.version, v0);
    assert_eq!(events(&app, &dev).await.len(), events_before);
    assert_eq!(audit_actions(&app, &id).await.len(), 1);

    // Exactly at the account's limits is fine; 6 decimals are fine.
    let (status, ok) = api(
        &app,
        Method::PUT,
        &path,
        &token,
        Some(json!({"limits": {"requests_per_minute": 100, "token_quota_monthly": 1000, "budget_total": "0.123456"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ok}");
    assert_eq!(ok["limits"]["budget_total"], "0.123456");
}

/// `YYYY-MM-DD` of a unix ms time, computed independently of the server.
fn humantime_date(ms: i64) -> String {
    let days = ms.div_euclid(DAY_MS);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}")
}
