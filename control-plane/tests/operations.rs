//! Operational endpoints: health, readiness, metrics, errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{error_code, spawn_app, Backend};

on_selected_backend!(
    health_readiness_and_metrics,
    unknown_routes_use_the_error_shape,
    readiness_fails_when_the_database_is_gone,
);

async fn health_readiness_and_metrics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    // The requests above were counted by route template and status.
    assert!(
        text.contains(
            r#"aihub_cp_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(text.contains("aihub_cp_http_request_duration_seconds_bucket"));
    assert!(text.contains("aihub_cp_change_long_polls_open 0"));
    assert!(text.contains("aihub_cp_usage_rows_ingested_total 0"));
    app.stop().await;
}

async fn unknown_routes_use_the_error_shape(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let resp = app
        .client
        .get(app.url("/api/v1/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");
    let resp = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(error_code(resp).await, "method_not_allowed");
    // Unknown paths are one metric label, not one per path.
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains("/api/v1/nope"));
    app.stop().await;
}

async fn readiness_fails_when_the_database_is_gone(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.db.close().await;
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), 503);
    assert_eq!(error_code(resp).await, "unavailable");
    // Still alive, though.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    app.stop().await;
}
