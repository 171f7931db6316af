//! The operator console's API (issue 10): the audit log, and that no admin
//! route answers a developer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hub::{call, developer_session, expect_error, operator_session, parts};
use common::{spawn_app_with, Backend, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_selected_backend!(
    operator_changes_are_in_the_audit_log_with_who_when_and_where,
    no_admin_route_answers_a_developer,
);

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = parts(call(app, Method::GET, path, Some(token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn operator_changes_are_in_the_audit_log_with_who_when_and_where(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (dev, _token) = developer_session(&app, "ada@example.com", true).await;
    let admin = operator_session(&app, "olive@example.com").await;
    let before = get(&app, "/api/v1/admin/audit-log", &admin).await;
    assert_eq!(before["has_more"], false);

    // Two changes by the operator: credit, then a plan.
    let credit = format!("/api/v1/admin/developers/{dev}/credit");
    let resp = call(
        &app,
        Method::POST,
        &credit,
        Some(&admin),
        Some(json!({"amount": "2.50", "memo": "Welcome"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let plan = format!("/api/v1/admin/developers/{dev}/plan");
    let (status, body) = parts(
        call(
            &app,
            Method::PUT,
            &plan,
            Some(&admin),
            Some(json!({"plan_id": "developer"})),
        )
        .await,
    )
    .await;
    assert!(status.is_success(), "{body}");

    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}"),
        &admin,
    )
    .await;
    let entries = log["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        ["billing.plan_assigned", "billing.credit_granted"],
        "{log}"
    );
    for e in entries {
        assert_eq!(e["actor"]["email"], "olive@example.com");
        assert!(e["actor"]["id"].as_str().unwrap().starts_with("dev_"));
        assert!(!e["actor"]["ip"].as_str().unwrap().is_empty());
        assert!(e["at_ms"].as_i64().unwrap() > 0);
        assert_eq!(e["target_id"], dev.as_str());
    }
    assert_eq!(entries[1]["details"]["amount"], "2.50");
    assert_eq!(entries[1]["details"]["memo"], "Welcome");

    // Filters and paging.
    let granted = get(
        &app,
        "/api/v1/admin/audit-log?action=billing.credit_granted",
        &admin,
    )
    .await;
    assert_eq!(granted["data"].as_array().unwrap().len(), 1);
    let first = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}&limit=1"),
        &admin,
    )
    .await;
    assert_eq!(first["has_more"], true);
    let after = first["data"][0]["id"].as_str().unwrap();
    let second = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}&limit=1&starting_after={after}"),
        &admin,
    )
    .await;
    assert_eq!(second["data"][0]["action"], "billing.credit_granted");
    assert_eq!(second["has_more"], false);
    let nobody = get(&app, "/api/v1/admin/audit-log?actor_id=dev_nobody", &admin).await;
    assert_eq!(nobody["data"], json!([]));

    // Bad input: the API's error shape.
    for bad in [
        "/api/v1/admin/audit-log?limit=0",
        "/api/v1/admin/audit-log?limit=many",
        "/api/v1/admin/audit-log?colour=red",
    ] {
        let resp = call(&app, Method::GET, bad, Some(&admin), None).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    app.stop().await;
}

async fn no_admin_route_answers_a_developer(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "mallory@example.com", true).await;
    let routes: [(Method, String); 19] = [
        (Method::GET, "/api/v1/admin/overview".into()),
        (Method::GET, "/api/v1/admin/audit-log".into()),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/credit"),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/refund"),
        ),
        (Method::PUT, format!("/api/v1/admin/developers/{dev}/plan")),
        (
            Method::PUT,
            format!("/api/v1/admin/developers/{dev}/prices"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/developers/{dev}/prices/gpt-4o"),
        ),
        (Method::POST, "/api/v1/admin/invoices/inv_x/payments".into()),
        (Method::POST, "/api/v1/admin/invoices/inv_x/void".into()),
        (
            Method::POST,
            "/api/v1/admin/invoices/inv_x/uncollectible".into(),
        ),
        (Method::POST, "/api/v1/admin/redemption-codes".into()),
        (Method::POST, "/api/v1/admin/billing/close-month".into()),
        (Method::GET, "/api/v1/admin/billing/reconcile".into()),
        (Method::GET, "/api/v1/admin/analytics/overview".into()),
        (Method::GET, "/api/v1/admin/analytics/revenue".into()),
        (Method::GET, "/api/v1/admin/analytics/margin".into()),
        (Method::GET, "/api/v1/admin/analytics/developers".into()),
        (Method::GET, "/api/v1/admin/analytics/models".into()),
        (Method::GET, "/api/v1/admin/analytics/report".into()),
    ];
    for (method, path) in routes {
        let body = (method == Method::POST || method == Method::PUT).then(|| json!({}));
        let resp = call(&app, method.clone(), &path, Some(&token), body).await;
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} answered a developer"
        );
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Nothing a developer tried is in the log.
    let admin = operator_session(&app, "olive@example.com").await;
    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?actor_id={dev}"),
        &admin,
    )
    .await;
    assert_eq!(log["data"], json!([]));
    app.stop().await;
}
