//! `/api/v1/developer/event-types` and `/api/v1/developer/events*`: the
//! event catalog, a developer's events (list, one, replay to webhooks) and
//! the live stream (Server-Sent Events). Every route but the catalog takes
//! [`AuthUser`]; another developer's event answers 404.
//!
//! The stream first sends the events after `Last-Event-ID` (header, or
//! `?last_event_id=`), oldest first, then polls the database every 500 ms.
//! Ids are time-ordered but a transaction may commit an older id after a
//! newer one, so the live phase looks back a few seconds by emission time
//! and skips what it already sent. It ends when the server shuts down or
//! the session ends (checked every minute).

use super::guard::AuthUser;
use super::webhooks::limit_of;
use super::{Api, ApiFailure};
use crate::db;
use crate::error::DomainError;
use crate::http::AppState;
use crate::webhooks::{catalog, delivery, queries};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The event routes.
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    AppState: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(event_types))
        .routes(routes!(list))
        .routes(routes!(stream))
        .routes(routes!(show))
        .routes(routes!(replay))
}

/// The shapes of the event routes' answers, for the OpenAPI document.
#[allow(dead_code)]
pub(crate) mod doc {
    use super::super::webhooks::doc::Delivery;
    use serde_json::{Map, Value};
    use utoipa::ToSchema;

    /// An event type of the catalog.
    #[derive(ToSchema)]
    pub struct EventType {
        /// `api_key.created`, …
        #[schema(rename = "type")]
        pub event_type: String,
        /// One sentence.
        pub description: String,
        /// An example of its events' `data`.
        #[schema(value_type = Object)]
        pub example: Map<String, Value>,
    }

    /// `GET /api/v1/developer/event-types`.
    #[derive(ToSchema)]
    pub struct EventTypeList {
        /// In the order the portal lists them.
        pub data: Vec<EventType>,
    }

    /// An event: what webhooks receive as their body and the stream sends
    /// as `data`.
    #[derive(ToSchema)]
    pub struct Event {
        /// `evt_…` (time-ordered).
        pub id: String,
        /// Its type (`GET /api/v1/developer/event-types`).
        #[schema(rename = "type")]
        pub event_type: String,
        /// When it was emitted.
        pub created_at_ms: i64,
        /// What happened; its shape depends on the type.
        #[schema(value_type = Object)]
        pub data: Map<String, Value>,
    }

    /// A page of events.
    #[derive(ToSchema)]
    pub struct EventList {
        /// Newest first.
        pub data: Vec<Event>,
        /// Whether more follow (pass the last id as `starting_after`).
        pub has_more: bool,
    }

    /// `POST /api/v1/developer/events/{id}/replay`.
    #[derive(ToSchema)]
    #[schema(as = ReplayedDeliveries)]
    pub struct Replayed {
        /// The new deliveries, pending (none when no enabled endpoint subscribes).
        pub data: Vec<Delivery>,
    }
}

/// The event catalog.
///
/// `GET /api/v1/developer/event-types` → `{"data": [{"type", "description", "example"}]}`.
#[utoipa::path(get, path = "/api/v1/developer/event-types", tag = "events", operation_id = "list_event_types", security(("bearer" = [])),
    responses((status = 200, description = "Every event type an endpoint can subscribe to", body = doc::EventTypeList), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
async fn event_types(AuthUser(_who): AuthUser) -> Json<Value> {
    Json(json!({"data": catalog::to_json()}))
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(rename = "type")]
    types: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    limit: Option<i64>,
    starting_after: Option<String>,
}

/// List events.
///
/// `GET /api/v1/developer/events?type=a,b&since_ms&until_ms&limit&starting_after`
/// → `{"data": [EVENT…], "has_more"}`, newest first.
#[utoipa::path(get, path = "/api/v1/developer/events", tag = "events", operation_id = "list_events", security(("bearer" = [])),
    params(("type" = Option<String>, Query, description = "Event types, comma-separated (any of them)"),
        ("since_ms" = Option<i64>, Query, description = "Emitted at or after (unix ms)"),
        ("until_ms" = Option<i64>, Query, description = "Emitted before (unix ms)"),
        ("limit" = Option<i64>, Query, description = "Page size, 1–100 (default 20)"),
        ("starting_after" = Option<String>, Query, description = "An event id: the page after it (older)")),
    responses((status = 200, description = "A page of the developer's events", body = doc::EventList),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
async fn list(
    Api(api): Api,
    AuthUser(who): AuthUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let filter = queries::EventFilter {
        types: super::comma_list(q.types),
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        limit: limit_of(q.limit)?,
        starting_after: q.starting_after.filter(|s| !s.is_empty()),
    };
    let mut c = api.conn().await?;
    let page = queries::list_events(&mut c, &who.developer.id, &filter).await?;
    Ok(Json(json!({"data": page.data, "has_more": page.has_more})))
}

/// One event.
///
/// `GET /api/v1/developer/events/{id}` → EVENT.
#[utoipa::path(get, path = "/api/v1/developer/events/{id}", tag = "events", operation_id = "get_event", security(("bearer" = [])),
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    responses((status = 200, description = "The event", body = doc::Event), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such event (or not yours)", body = super::openapi::ErrorBody)))]
async fn show(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiFailure> {
    let mut c = api.conn().await?;
    let e = queries::get_event(&mut c, &who.developer.id, &id).await?;
    Ok(Json(e.to_json()))
}

/// Where to replay an event.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = ReplayEvent)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    /// One of the developer's enabled endpoints (`we_…`), subscribed or
    /// not; absent: every enabled endpoint subscribed to the event's type.
    #[serde(default)]
    endpoint_id: Option<String>,
}

/// Send an event to webhooks again.
///
/// `POST /api/v1/developer/events/{id}/replay` `{endpoint_id?}` → 202
/// `{"data": [DELIVERY…]}`: new deliveries of the event (same
/// `webhook-id`), to that endpoint or to every enabled subscribed one.
#[utoipa::path(post, path = "/api/v1/developer/events/{id}/replay", tag = "events", operation_id = "replay_event", security(("bearer" = [])),
    params(("id" = String, Path, description = "Event id (`evt_…`)")),
    request_body(content = Option<ReplayRequest>, description = "Optional"),
    responses((status = 202, description = "The new deliveries, queued", body = doc::Replayed),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 404, description = "No such event or endpoint (or not yours)", body = super::openapi::ErrorBody),
        (status = 409, description = "The endpoint is disabled", body = super::openapi::ErrorBody)))]
async fn replay(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiFailure> {
    let r: ReplayRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ReplayRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiFailure::invalid(e.to_string()))?
    };
    let dev = who.developer.id.as_str();
    let db = api.accounts.db();
    let mut tx = db.begin_write().await.map_err(DomainError::from)?;
    let ids = queries::replay(&mut tx, dev, &id, r.endpoint_id.as_deref()).await?;
    let mut data = Vec::new();
    for d in &ids {
        data.push(queries::get_delivery(&mut tx, dev, d).await?);
    }
    tx.commit().await.map_err(DomainError::from)?;
    if !ids.is_empty() {
        delivery::WAKE.notify_one();
    }
    Ok((StatusCode::ACCEPTED, Json(json!({"data": data}))).into_response())
}

#[derive(Deserialize)]
struct StreamQuery {
    last_event_id: Option<String>,
}

/// How often the stream looks for new events.
const POLL: Duration = Duration::from_millis(500);
/// How far back (by emission time) the live phase looks for late commits.
const LOOK_BACK_MS: i64 = 5_000;
/// Rows read per query.
const BATCH: i64 = 200;
/// How often the stream checks that the session is still live.
const REAUTH: Duration = Duration::from_secs(60);

struct StreamState {
    api: Arc<super::ApiState>,
    token: String,
    developer_id: String,
    shutdown: watch::Receiver<bool>,
    /// Catching up after `Last-Event-ID`: the last id sent.
    catch_up: Option<String>,
    /// The `Last-Event-ID` given: it and older ids are never sent.
    resumed_from: Option<String>,
    /// Live: ids sent with their emission time, within the look-back.
    sent: HashMap<String, i64>,
    /// Live: the newest emission time sent (or the connection time).
    newest_ms: i64,
    queue: VecDeque<queries::Event>,
    first_poll: bool,
    /// Live without `Last-Event-ID`: what exists at connection is not sent.
    seeded: bool,
    checked_at: Instant,
}

impl StreamState {
    /// The next event to send, waiting for one; `None` ends the stream.
    async fn next(&mut self) -> Option<queries::Event> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                if self.catch_up.is_some() {
                    self.catch_up = Some(e.id.clone());
                }
                self.newest_ms = self.newest_ms.max(e.created_at_ms);
                self.sent.insert(e.id.clone(), e.created_at_ms);
                return Some(e);
            }
            if *self.shutdown.borrow() {
                return None;
            }
            if !self.first_poll {
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = self.shutdown.wait_for(|stop| *stop) => return None,
                }
            }
            self.first_poll = false;
            if self.checked_at.elapsed() >= REAUTH {
                self.checked_at = Instant::now();
                if self.api.accounts.authenticate(&self.token).await.is_err() {
                    return None;
                }
            }
            match self.fetch().await {
                Ok(events) => self.queue.extend(events),
                Err(e) => tracing::warn!(error = %e, "event stream cannot read events"),
            }
        }
    }

    async fn fetch(&mut self) -> Result<Vec<queries::Event>, DomainError> {
        let mut c = self.api.accounts.db().pool().acquire().await?;
        if let Some(after) = self.catch_up.clone() {
            let events = queries::events_after(&mut c, &self.developer_id, &after, BATCH).await?;
            if (events.len() as i64) < BATCH {
                // Caught up: from here on, look back by time.
                self.catch_up = None;
            }
            return Ok(events);
        }
        let floor = self.newest_ms - LOOK_BACK_MS;
        self.sent.retain(|_, at| *at >= floor);
        let events = queries::events_since(&mut c, &self.developer_id, floor, BATCH * 5).await?;
        if !self.seeded {
            // What was emitted before the connection is history, not news.
            self.seeded = true;
            let connected = self.newest_ms;
            for e in events.iter().filter(|e| e.created_at_ms < connected) {
                self.sent.insert(e.id.clone(), e.created_at_ms);
            }
        }
        let resumed_from = self.resumed_from.as_deref().unwrap_or("");
        Ok(events
            .into_iter()
            .filter(|e| !self.sent.contains_key(&e.id) && e.id.as_str() > resumed_from)
            .collect())
    }
}

/// Stream events live.
///
/// `GET /api/v1/developer/events/stream`: the developer's events as
/// Server-Sent Events (`id: evt_…`, `event: <type>`, `data: EVENT`),
/// keep-alive comments every 15 s.
#[utoipa::path(get, path = "/api/v1/developer/events/stream", tag = "events", operation_id = "stream_events", security(("bearer" = [])),
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume: first send the events after this id, oldest first"),
        ("last_event_id" = Option<String>, Query, description = "The same, for clients that cannot set headers (the header wins)")),
    responses((status = 200, description = "A `text/event-stream` of events: `id: evt_…`, `event: <type>`, `data: EVENT` (JSON). Ends when the session ends or the server shuts down.", content_type = "text/event-stream", body = String),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
async fn stream(
    State(app): State<AppState>,
    Api(api): Api,
    AuthUser(who): AuthUser,
    headers: HeaderMap,
    query: Result<Query<StreamQuery>, QueryRejection>,
) -> Result<Response, ApiFailure> {
    let Query(q) = query.map_err(|e| ApiFailure::invalid(e.body_text()))?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.last_event_id)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' ').map(|(_, t)| t.trim().to_string()))
        .unwrap_or_default();
    let now = db::now_ms();
    let seeded = last.is_some();
    let state = StreamState {
        api,
        token,
        developer_id: who.developer.id.clone(),
        shutdown: app.shutdown.clone(),
        resumed_from: last.clone(),
        catch_up: last,
        sent: HashMap::new(),
        newest_ms: now,
        queue: VecDeque::new(),
        first_poll: true,
        seeded,
        checked_at: Instant::now(),
    };
    let events = futures::stream::unfold(state, |mut s| async move {
        let e = s.next().await?;
        let sse = SseEvent::default()
            .id(e.id.clone())
            .event(e.event_type.clone())
            .json_data(e.to_json())
            .unwrap_or_else(|_| SseEvent::default().comment("unencodable event"));
        Some((Ok::<_, std::convert::Infallible>(sse), s))
    });
    let sse = Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(Duration::from_secs(15))
            .text("keep-alive"),
    );
    let mut response = sse.into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-cache"),
    );
    response
        .headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    Ok(response)
}
