//! Files, batches and tasks on the control plane alone (the worker is off:
//! what it does is tested through the gateway in gateway/tests/batches.rs):
//! API-key authentication and scoping of `/v1/files` and `/v1/batches`,
//! validation, the task API's three types, cancellation, exports.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_control_plane::batches::tasks;
use common::hub::{call, developer_session, expect_error, parts};
use common::{spawn_app_with, Backend, TestApp};
use figment::providers::Serialized;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_selected_backend!(
    files_and_batches_need_a_key_and_stay_with_their_owner,
    tasks_are_created_checked_listed_and_cancelled,
    a_usage_export_task_writes_a_downloadable_csv,
    a_batch_past_its_window_expires_with_its_items_in_the_error_file,
);

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |f| {
        f.merge(Serialized::default("batches.run_worker", false))
    })
    .await
}

/// A developer with a key: (developer id, access token, key secret).
async fn developer_with_key(app: &TestApp, email: &str, body: Value) -> (String, String, String) {
    let (dev, token) = developer_session(app, email, true).await;
    let (status, key) = parts(
        call(
            app,
            Method::POST,
            "/api/v1/developer/keys",
            Some(&token),
            Some(body),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    (dev, token, key["secret"].as_str().unwrap().to_string())
}

async fn upload(app: &TestApp, key: &str, name: &str, data: &str) -> reqwest::Response {
    let form = reqwest::multipart::Form::new()
        .text("purpose", "batch")
        .part(
            "file",
            reqwest::multipart::Part::text(data.to_string()).file_name(name.to_string()),
        );
    app.client
        .post(app.url("/v1/files"))
        .bearer_auth(key)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

fn line(id: &str) -> String {
    json!({"custom_id": id, "method": "POST", "url": "/v1/chat/completions",
           "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}})
    .to_string()
}

async fn oai_error(resp: reqwest::Response, status: StatusCode) -> Value {
    let got = resp.status();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(got, status, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["error"]["type"].is_string(), "{body}");
    body["error"].clone()
}

async fn files_and_batches_need_a_key_and_stay_with_their_owner(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, _, key) = developer_with_key(&app, "owner@example.com", json!({"name": "k"})).await;
    let (_, _, other) = developer_with_key(&app, "other@example.com", json!({"name": "k"})).await;
    let (_, _, chat_only) = developer_with_key(
        &app,
        "chat@example.com",
        json!({"name": "k", "allowed_endpoints": ["chat"]}),
    )
    .await;

    // No key, a wrong key, a key without the files scope.
    let resp = app.client.get(app.url("/v1/files")).send().await.unwrap();
    assert_eq!(
        oai_error(resp, StatusCode::UNAUTHORIZED).await["code"],
        "missing_api_key"
    );
    let resp = app
        .client
        .get(app.url("/v1/files"))
        .bearer_auth("ahub_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(
        oai_error(resp, StatusCode::UNAUTHORIZED).await["code"],
        "invalid_api_key"
    );
    let resp = upload(&app, &chat_only, "in.jsonl", &line("a")).await;
    assert_eq!(
        oai_error(resp, StatusCode::FORBIDDEN).await["code"],
        "endpoint_not_allowed"
    );

    // Upload, read back, list; another developer sees none of it.
    let data = format!("{}\n{}\n", line("a"), line("b"));
    let resp = upload(&app, &key, "in.jsonl", &data).await;
    assert_eq!(resp.status(), 200);
    let f: Value = resp.json().await.unwrap();
    assert_eq!(
        (f["object"].as_str(), f["purpose"].as_str()),
        (Some("file"), Some("batch"))
    );
    assert_eq!(f["bytes"], data.len());
    let id = f["id"].as_str().unwrap().to_string();
    let content = app
        .client
        .get(app.url(&format!("/v1/files/{id}/content")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(content.text().await.unwrap(), data);
    let list: Value = app
        .client
        .get(app.url("/v1/files"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["id"], id.as_str());
    for path in [format!("/v1/files/{id}"), format!("/v1/files/{id}/content")] {
        let resp = app
            .client
            .get(app.url(&path))
            .bearer_auth(&other)
            .send()
            .await
            .unwrap();
        oai_error(resp, StatusCode::NOT_FOUND).await;
    }
    let theirs: Value = app
        .client
        .get(app.url("/v1/files"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["data"], json!([]));

    // Bad uploads.
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::text("x").file_name("x.jsonl"),
    );
    let resp = app
        .client
        .post(app.url("/v1/files"))
        .bearer_auth(&key)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(
        oai_error(resp, StatusCode::BAD_REQUEST).await["param"],
        "purpose"
    );

    // A batch: as the owner only; bad requests refused with the param named.
    let create = |k: &str, body: Value| {
        app.client
            .post(app.url("/v1/batches"))
            .bearer_auth(k.to_string())
            .json(&body)
            .send()
    };
    let good = json!({"input_file_id": id, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let resp = create(&other, good.clone()).await.unwrap();
    assert_eq!(
        oai_error(resp, StatusCode::BAD_REQUEST).await["param"],
        "input_file_id"
    );
    for (body, param) in [
        (
            json!({"input_file_id": id, "endpoint": "/v1/moderations", "completion_window": "24h"}),
            "endpoint",
        ),
        (
            json!({"input_file_id": id, "endpoint": "/v1/chat/completions", "completion_window": "1h"}),
            "completion_window",
        ),
        (
            json!({"endpoint": "/v1/chat/completions", "completion_window": "24h"}),
            "input_file_id",
        ),
    ] {
        let resp = create(&key, body).await.unwrap();
        assert_eq!(
            oai_error(resp, StatusCode::BAD_REQUEST).await["param"],
            param
        );
    }
    let b: Value = create(&key, good).await.unwrap().json().await.unwrap();
    assert_eq!(b["status"], "in_progress");
    assert_eq!(
        b["request_counts"],
        json!({"total": 2, "completed": 0, "failed": 0})
    );
    let bid = b["id"].as_str().unwrap().to_string();
    let resp = app
        .client
        .get(app.url(&format!("/v1/batches/{bid}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    oai_error(resp, StatusCode::NOT_FOUND).await;
    // Cancelled with nothing in flight: cancelled at once, no results.
    let c: Value = app
        .client
        .post(app.url(&format!("/v1/batches/{bid}/cancel")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(c["status"], "cancelled", "{c}");
    assert!(c["output_file_id"].is_null());
    app.stop().await;
}

async fn tasks_are_created_checked_listed_and_cancelled(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (_, token) = developer_session(&app, "nokey@example.com", true).await;
    let body =
        json!({"type": "batch_generate", "input": {"model": "gpt-4o-mini", "prompts": ["a"]}});
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/developer/tasks",
        Some(&token),
        Some(body),
    )
    .await;
    let msg = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(msg.contains("create one first"), "{msg}");

    let (_, token, key) = developer_with_key(&app, "tasks@example.com", json!({"name": "k"})).await;
    let create = |body: Value| {
        call(
            &app,
            Method::POST,
            "/api/v1/developer/tasks",
            Some(&token),
            Some(body),
        )
    };
    let (status, t) = parts(
        create(json!({"type": "batch_generate", "input": {
            "model": "gpt-4o-mini", "prompts": ["one", "two", "three"],
            "options": {"max_tokens": 20, "temperature": 0.2, "system": "Be brief."}}}))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(
        (t["status"].as_str(), t["progress"].as_i64()),
        (Some("running"), Some(0))
    );
    assert_eq!(t["request_counts"]["total"], 3);
    let gen_id = t["id"].as_str().unwrap().to_string();
    // The items are what the worker will send.
    let results = call(
        &app,
        Method::GET,
        &format!("/api/v1/developer/tasks/{gen_id}/results"),
        Some(&token),
        None,
    )
    .await;
    let (_, r) = parts(results).await;
    assert_eq!(r["data"].as_array().unwrap().len(), 3);
    assert_eq!(r["data"][0]["status"], "pending");
    let body: String =
        sqlx::query_scalar("SELECT body FROM batch_items WHERE line_no = 1 AND batch_id = $1")
            .bind(t["batch_id"].as_str().unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "one"})
    );
    assert_eq!(
        (body["max_tokens"].as_i64(), body["model"].as_str()),
        (Some(20), Some("gpt-4o-mini"))
    );

    // A template over an uploaded CSV.
    let f: Value = upload(
        &app,
        &key,
        "people.csv",
        "name,city\nAda,London\n\"Grace, R.\",Arlington\n",
    )
    .await
    .json()
    .await
    .unwrap();
    let (status, p) = parts(
        create(json!({"type": "batch_process", "input": {
            "model": "gpt-4o-mini", "file_id": f["id"], "template": "Where does {{name}} live? {{city}}"}}))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    let content: String =
        sqlx::query_scalar("SELECT body FROM batch_items WHERE line_no = 2 AND batch_id = $1")
            .bind(p["batch_id"].as_str().unwrap())
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(
        content.contains("Where does Grace, R. live? Arlington"),
        "{content}"
    );

    // Bad input names what to fix and creates nothing.
    for (body, needle) in [
        (json!({"type": "nope", "input": {}}), "type"),
        (
            json!({"type": "batch_generate", "input": {"prompts": ["a"]}}),
            "model",
        ),
        (
            json!({"type": "batch_generate", "input": {"model": "m", "prompts": []}}),
            "prompts",
        ),
        (
            json!({"type": "batch_generate", "input": {"model": "m", "prompts": ["a"], "options": {"stream": true}}}),
            "options.stream",
        ),
        (
            json!({"type": "batch_process", "input": {"model": "m", "file_id": f["id"], "template": "{{missing}}"}}),
            "missing",
        ),
        (
            json!({"type": "batch_process", "input": {"model": "m", "file_id": "file-nope", "template": "x"}}),
            "file_id",
        ),
        (
            json!({"type": "data_export", "input": {"from": "yesterday"}}),
            "from",
        ),
    ] {
        let msg = expect_error(
            create(body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(msg.contains(needle), "{msg} should name {needle}");
    }
    let (_, list) = parts(
        call(
            &app,
            Method::GET,
            "/api/v1/developer/tasks",
            Some(&token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);

    // Cancelled: pending items stop, the task says so, and again is a conflict.
    let (status, c) = parts(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/developer/tasks/{gen_id}/cancel"),
            Some(&token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "cancelled");
    let again = call(
        &app,
        Method::POST,
        &format!("/api/v1/developer/tasks/{gen_id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    expect_error(again, StatusCode::CONFLICT, "conflict").await;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE type = 'task.failed' OR type = 'task.completed'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 0, "a cancelled task is neither completed nor failed");
    // Someone else's task is not found.
    let (_, other) = developer_session(&app, "nosy@example.com", true).await;
    let resp = call(
        &app,
        Method::GET,
        &format!("/api/v1/developer/tasks/{gen_id}"),
        Some(&other),
        None,
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn a_usage_export_task_writes_a_downloadable_csv(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token, _) =
        developer_with_key(&app, "export@example.com", json!({"name": "k"})).await;
    let now = aihub_control_plane::db::now_ms();
    let rows: Vec<aihub_contract::usage::UsageRow> = (0..3)
        .map(|i| aihub_contract::usage::UsageRow {
            request_id: format!("exp-{i}"),
            ts_ms: now - 1000 + i,
            developer_id: dev.clone(),
            key_id: "key_x".into(),
            endpoint: "chat.completions".into(),
            method: "POST".into(),
            model: "gpt-4o-mini".into(),
            prompt_tokens: 10,
            completion_tokens: 5,
            cost_nanos: 1_500,
            status: 200,
            attempts: 1,
            ..Default::default()
        })
        .collect();
    let resp = app
        .signed_post(
            aihub_contract::routes::USAGE,
            serde_json::to_vec(&aihub_contract::usage::UsageBatch { rows }).unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let (status, t) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/developer/tasks",
            Some(&token),
            Some(json!({"type": "data_export", "input": {"kind": "usage"}})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    assert_eq!(t["status"], "pending");
    let id = t["id"].as_str().unwrap().to_string();
    let not_yet = call(
        &app,
        Method::GET,
        &format!("/api/v1/developer/tasks/{id}/results/download"),
        Some(&token),
        None,
    )
    .await;
    expect_error(not_yet, StatusCode::CONFLICT, "not_ready").await;
    // What the worker does.
    let mut c = app.db.pool().acquire().await.unwrap();
    let task = tasks::get(&mut c, &dev, &id).await.unwrap();
    drop(c);
    tasks::run_export(
        &app.db,
        &aihub_control_plane::billing::charges::Source::Sql,
        &task,
    )
    .await
    .unwrap();
    let (_, t) = parts(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/developer/tasks/{id}"),
            Some(&token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(
        (t["status"].as_str(), t["progress"].as_i64()),
        (Some("completed"), Some(100))
    );
    let csv = app
        .client
        .get(app.url(&format!("/api/v1/developer/tasks/{id}/results/download")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[1].starts_with("exp-0,"));
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE type = 'task.completed' AND developer_id = $1",
    )
    .bind(&dev)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 1);
    app.stop().await;
}

async fn a_batch_past_its_window_expires_with_its_items_in_the_error_file(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token, _) = developer_with_key(&app, "late@example.com", json!({"name": "k"})).await;
    let (status, t) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/developer/tasks",
            Some(&token),
            Some(json!({"type": "batch_generate", "input": {"model": "m", "prompts": ["a", "b"]}})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{t}");
    let batch_id = t["batch_id"].as_str().unwrap().to_string();
    // The 24 hours are over.
    sqlx::query("UPDATE batches SET expires_at = 1 WHERE id = $1")
        .bind(&batch_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let config = aihub_control_plane::config::Config::from_figment(
        app.database
            .figment()
            .merge(Serialized::default("batches.run_worker", false)),
    )
    .unwrap();
    let worker = aihub_control_plane::batches::worker::Worker::new(
        app.db.clone(),
        aihub_control_plane::batches::Settings::from_config(&config),
        std::sync::Arc::new(tokio::sync::Notify::new()),
    );
    worker.round().await.unwrap();
    let mut c = app.db.pool().acquire().await.unwrap();
    let b = aihub_control_plane::batches::store::get(&mut c, &dev, &batch_id)
        .await
        .unwrap();
    assert_eq!(b.status, "expired");
    assert_eq!((b.completed, b.failed), (0, 2));
    let errors =
        aihub_control_plane::batches::files::content(&mut c, b.error_file_id.as_deref().unwrap())
            .await
            .unwrap();
    let text = String::from_utf8(errors).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().all(|l| l.contains("batch_expired")), "{text}");
    drop(c);
    let (_, t) = parts(
        call(
            &app,
            Method::GET,
            &format!("/api/v1/developer/tasks/{}", t["id"].as_str().unwrap()),
            Some(&token),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(t["status"], "failed");
    assert!(t["error_message"].as_str().unwrap().contains("24 hours"));
    app.stop().await;
}
