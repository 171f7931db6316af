//! The developer portal: the React app in `control-plane/portal`, built by
//! `build.rs`, embedded in the binary and served for every path the API does
//! not own.
//!
//! | request | answer |
//! | --- | --- |
//! | `/api/*`, `/internal/*`, any non-GET/HEAD | the API's JSON 404 |
//! | an embedded file (`/assets/index-3f2a.js`, `/favicon.svg`) | the file; `/assets/*` are content-hashed, so cached for a year |
//! | a missing path that looks like a file (`/x.json`, `/assets/old.js`) | the API's JSON 404, never HTML by mistake |
//! | any other path (`/`, `/login`, `/verify-email?token=…`) | `index.html`, never cached: the app's router draws the page |

use crate::http::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

/// The built portal (`portal/dist`, or a placeholder page when the build
/// skipped it; see `build.rs`).
#[derive(Embed)]
#[folder = "$AIHUB_PORTAL_DIR"]
struct Portal;

const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";
const SHORT: &str = "public, max-age=3600";

/// What the app may load: only its own files and its own API.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
    base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// The router's fallback: the portal for pages, the JSON 404 for the rest.
pub async fn fallback(req: Request) -> Response {
    let path = req.uri().path();
    let method = req.method();
    if (method != Method::GET && method != Method::HEAD) || is_api(path) {
        return not_found(method, path);
    }
    let file = path.trim_start_matches('/');
    if !file.is_empty() && file != INDEX {
        if let Some(asset) = Portal::get(file) {
            let cache = if file.starts_with("assets/") {
                IMMUTABLE
            } else {
                SHORT
            };
            return respond(req.headers(), asset, cache);
        }
        if looks_like_file(file) {
            return not_found(method, path);
        }
    }
    match Portal::get(INDEX) {
        Some(index) => respond(req.headers(), index, REVALIDATE),
        None => not_found(method, path),
    }
}

fn is_api(path: &str) -> bool {
    ["/api", "/internal"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Client-side routes have no extension; a missing `x.js` is a real 404.
fn looks_like_file(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'))
}

fn not_found(method: &Method, path: &str) -> Response {
    ApiError::NotFound(format!("no route for {method} {path}")).into_response()
}

fn respond(request: &HeaderMap, file: rust_embed::EmbeddedFile, cache: &'static str) -> Response {
    let hash = file.metadata.sha256_hash();
    let etag = format!(
        "\"{}\"",
        hash[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mime = file.metadata.mimetype();
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let content_type = if mime.starts_with("text/") || mime == "application/javascript" {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if mime == "text/html" {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    (StatusCode::OK, headers, Body::from(file.data.into_owned())).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_not_pages() {
        assert!(is_api("/api"));
        assert!(is_api("/api/v1/nope"));
        assert!(is_api("/internal/v1/snapshot"));
        assert!(!is_api("/apis"));
        assert!(!is_api("/login"));
        assert!(!is_api("/"));
    }

    #[test]
    fn files_are_told_from_routes() {
        assert!(looks_like_file("assets/index-abc.js"));
        assert!(looks_like_file("nope.json"));
        assert!(!looks_like_file("verify-email"));
        assert!(!looks_like_file("v1.2/settings/profile"));
    }
}
