//! Operational endpoints: health, readiness, metrics, landing page, errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{error_code, spawn_app, Backend};

on_selected_backend!(
    health_readiness_metrics_and_landing,
    unknown_routes_use_the_error_shape,
    readiness_fails_when_the_database_is_gone,
);

async fn health_readiness_metrics_and_landing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let landing = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(landing.status(), 200);
    assert!(landing.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = landing.text().await.unwrap();
    assert!(html.contains("AI Hub control plane"));
    assert!(html.contains("http://127.0.0.1:8080/v1"));

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
    let resp = app.client.get(app.url("/nope")).send().await.unwrap();
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
    assert!(!text.contains("/nope"));
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
