//! The embedded developer portal: pages fall back to the app, files carry
//! the right types and cache headers, API-looking paths keep the JSON 404.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{error_code, spawn_app, Backend};

on_selected_backend!(
    pages_are_the_app_and_assets_are_cached,
    api_and_file_paths_are_not_pages,
);

async fn pages_are_the_app_and_assets_are_cached(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut index = String::new();
    // The emailed links and every client-side route get the same page.
    for path in [
        "/",
        "/login",
        "/verify-email?token=abc",
        "/profile/deep/link",
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert_eq!(
            headers["content-type"], "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(headers["cache-control"], "no-cache", "{path}");
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
        let body = resp.text().await.unwrap();
        assert!(body.contains("<title>AI Hub</title>"), "{body}");
        index = body;
    }

    // A conditional request for an unchanged page is answered with 304.
    let resp = app.client.get(app.url("/")).send().await.unwrap();
    let etag = resp.headers()["etag"].clone();
    let resp = app
        .client
        .get(app.url("/login"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 304);

    // A built portal links hashed assets, served for a year; the placeholder
    // page (AIHUB_SKIP_PORTAL_BUILD=1) has none.
    if let Some(start) = index.find("/assets/") {
        let end = start + index[start..].find('"').unwrap();
        let asset = &index[start..end];
        let resp = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{asset}");
        assert_eq!(
            resp.headers()["cache-control"],
            "public, max-age=31536000, immutable"
        );
        let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(
            kind.starts_with("text/javascript")
                || kind.starts_with("application/javascript")
                || kind.starts_with("text/css"),
            "{asset}: {kind}"
        );
    }
    app.stop().await;
}

async fn api_and_file_paths_are_not_pages(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for path in [
        "/api",
        "/api/v1/nope",
        "/internal/v1/nope",
        "/nope.json",
        "/assets/gone-1234.js",
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 404, "{path}");
        assert_eq!(error_code(resp).await, "not_found", "{path}");
    }
    // Only GET and HEAD reach pages.
    let resp = app.client.post(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(error_code(resp).await, "not_found");
    let resp = app.client.head(app.url("/login")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    app.stop().await;
}
