//! A stand-in model provider speaking the real wire protocols.
//!
//! It answers OpenAI's chat completions, completions, embeddings and models
//! routes and Anthropic's Messages route, plain and streaming, with
//! deterministic usage, so tests can assert exact metering and the load
//! harness has a fast upstream to measure the gateway against.
//!
//! | what | rule |
//! | --- | --- |
//! | prompt tokens | whitespace-separated words of every message (text parts, Anthropic `system` too), directives excluded |
//! | reply | `word1 word2 … wordN`, N = 5 unless a directive says `words=N` |
//! | completion tokens | N (reasoning tokens are reported as a part of it) |
//! | which upstream served | `system_fingerprint` and the `x-stub-upstream` header carry [`StubConfig::name`] |
//!
//! Per-request behaviour is steered from the prompt (see [`Directive`]): the
//! last message may contain `[[stub words=12 cached=3 reasoning=2 status=500
//! delay_ms=50 disconnect_after=3 no_usage=1]]`.

mod anthropic;
mod directive;
mod openai;

pub use directive::{count_words, reply_text, Directive, DEFAULT_WORDS};

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use axum::body::Body;
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use futures::StreamExt as _;
use serde_json::Value;

/// How a stand-in provider behaves.
#[derive(Debug, Clone)]
pub struct StubConfig {
    /// Reported as `system_fingerprint` and the `x-stub-upstream` header.
    pub name: String,
    /// When set, every request answers this status with a provider-shaped error.
    pub fail_status: Option<u16>,
    /// Delay before the response headers, on every request.
    pub latency_ms: u64,
    /// Delay between stream chunks.
    pub chunk_delay_ms: u64,
    /// Keep every request for [`StubUpstream::requests`] (off for load tests).
    pub record: bool,
}

impl Default for StubConfig {
    fn default() -> Self {
        Self {
            name: "stub".to_owned(),
            fail_status: None,
            latency_ms: 0,
            chunk_delay_ms: 0,
            record: true,
        }
    }
}

impl StubConfig {
    /// Defaults with the given name (recording on).
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }
}

/// One request as the stub received it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path without the query, e.g. `/v1/chat/completions`.
    pub path: String,
    /// Query string, when there was one.
    pub query: Option<String>,
    /// Headers by lowercased name; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body; `Null` when empty, a JSON string when not JSON.
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// A running stand-in provider on `127.0.0.1`, stopped on drop.
///
/// It runs on its own thread and multi-threaded runtime, so it keeps serving
/// while the test's runtime is blocked (a test waiting on a Python SDK child
/// process, say).
pub struct StubUpstream {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StubUpstream {
    /// Binds `127.0.0.1:0` and starts serving. Usable from sync and async code.
    pub fn start(config: StubConfig) -> anyhow::Result<StubUpstream> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding the stub upstream to 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(format!("stub-{}", config.name))
            .enable_all()
            .build()
            .context("building the stub upstream's runtime")?;
        let shared = Arc::new(Shared::new(config));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = router(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("stub-upstream-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = serve_router(listener, app, async {
                        let _ = rx.await;
                    })
                    .await;
                });
                // Dropping the runtime here cancels open connections, so a
                // stopped stub looks like a dead provider.
                runtime.shutdown_background();
            })
            .context("spawning the stub upstream's thread")?;
        Ok(StubUpstream {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, the provider base URL to configure.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// Every request received since start or the last [`clear`](Self::clear)
    /// (empty when recording is off).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log().clone()
    }

    /// The most recent request, if any was recorded.
    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.shared.log().last().cloned()
    }

    /// Requests received since start or the last clear (counted even when
    /// recording is off).
    pub fn request_count(&self) -> u64 {
        self.shared.count.load(Ordering::Relaxed)
    }

    /// Forgets recorded requests and resets the count.
    pub fn clear(&self) {
        self.shared.log().clear();
        self.shared.count.store(0, Ordering::Relaxed);
    }

    /// Changes [`StubConfig::fail_status`] while running (to make an upstream
    /// fail, then recover).
    pub fn set_fail_status(&self, status: Option<u16>) {
        self.shared
            .fail_status
            .store(status.map_or(0, u32::from), Ordering::Relaxed);
    }

    /// Changes [`StubConfig::latency_ms`] while running.
    pub fn set_latency_ms(&self, ms: u64) {
        self.shared.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Stops serving and closes open connections.
    pub fn stop(mut self) {
        self.shutdown_now();
    }

    fn shutdown_now(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for StubUpstream {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

impl std::fmt::Debug for StubUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubUpstream")
            .field("name", &self.shared.config.name)
            .field("addr", &self.addr)
            .finish()
    }
}

/// Serves the stub on `listener` until `shutdown` resolves. The binary uses
/// this; tests use [`StubUpstream::start`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: StubConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_router(listener, router(Arc::new(Shared::new(config))), shutdown).await
}

async fn serve_router(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt as _;
    // Streams are many small writes: without TCP_NODELAY, Nagle's algorithm
    // and delayed ACKs add tens of milliseconds to time to first token.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    // Not graceful on purpose: stopping a stub must cut open streams.
    tokio::select! {
        r = axum::serve(listener, app) => r.context("serving the stub upstream"),
        () = shutdown => Ok(()),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/messages", post(anthropic::messages))
        .fallback(not_found)
        .layer(DefaultBodyLimit::disable())
        .with_state(shared)
}

/// State shared by every handler.
pub(crate) struct Shared {
    config: StubConfig,
    fingerprint: HeaderValue,
    fail_status: AtomicU32,
    latency_ms: AtomicU64,
    count: AtomicU64,
    seq: AtomicU64,
    log: Mutex<Vec<RecordedRequest>>,
}

/// Which provider's error shape to answer with.
#[derive(Clone, Copy)]
pub(crate) enum Shape {
    OpenAi,
    Anthropic,
}

impl Shared {
    fn new(config: StubConfig) -> Self {
        let fingerprint = HeaderValue::from_str(&config.name)
            .unwrap_or_else(|_| HeaderValue::from_static("stub"));
        Self {
            fail_status: AtomicU32::new(config.fail_status.map_or(0, u32::from)),
            latency_ms: AtomicU64::new(config.latency_ms),
            fingerprint,
            config,
            count: AtomicU64::new(0),
            seq: AtomicU64::new(0),
            log: Mutex::new(Vec::new()),
        }
    }

    fn log(&self) -> MutexGuard<'_, Vec<RecordedRequest>> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts and records a request, then applies the config-wide failure.
    /// Returns the parsed JSON body (`Null` when empty).
    pub(crate) async fn intake(
        &self,
        shape: Shape,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Result<Value, Response> {
        self.count.fetch_add(1, Ordering::Relaxed);
        let parsed: Option<Value> = if body.is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_slice(body).ok()
        };
        if self.config.record {
            let mut recorded = BTreeMap::new();
            for (name, value) in headers {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                recorded
                    .entry(name.as_str().to_owned())
                    .and_modify(|v: &mut String| {
                        v.push_str(", ");
                        v.push_str(&value);
                    })
                    .or_insert(value);
            }
            let body = parsed
                .clone()
                .unwrap_or_else(|| Value::String(String::from_utf8_lossy(body).into_owned()));
            self.log().push(RecordedRequest {
                method: method.as_str().to_owned(),
                path: uri.path().to_owned(),
                query: uri.query().map(str::to_owned),
                headers: recorded,
                body,
            });
        }
        let fail = self.fail_status.load(Ordering::Relaxed);
        if fail != 0 {
            self.wait(0).await;
            let status = u16::try_from(fail).unwrap_or(500);
            return Err(self.error(
                shape,
                status,
                &format!("stub upstream {} is configured to fail", self.config.name),
            ));
        }
        match parsed {
            Some(v) => Ok(v),
            None => {
                self.wait(0).await;
                Err(self.error(
                    shape,
                    400,
                    "We could not parse the JSON body of your request.",
                ))
            }
        }
    }

    /// Waits the configured latency plus `extra_ms` (a directive's `delay_ms`).
    pub(crate) async fn wait(&self, extra_ms: u64) {
        let ms = self.latency_ms.load(Ordering::Relaxed) + extra_ms;
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// A fresh id suffix for response objects.
    pub(crate) fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn name(&self) -> &str {
        &self.config.name
    }

    pub(crate) fn chunk_delay(&self) -> Duration {
        Duration::from_millis(self.config.chunk_delay_ms)
    }

    /// A provider-shaped error response.
    pub(crate) fn error(&self, shape: Shape, status: u16, message: &str) -> Response {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match shape {
            Shape::OpenAi => openai::error_body(status, message),
            Shape::Anthropic => anthropic::error_body(status, message),
        };
        let mut response = (status, axum::Json(body)).into_response();
        self.tag(&mut response);
        if status == StatusCode::TOO_MANY_REQUESTS {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }

    /// A JSON success response.
    pub(crate) fn json(&self, body: &Value) -> Response {
        let mut response = axum::Json(body).into_response();
        self.tag(&mut response);
        response
    }

    /// An event stream: `events` in order, `chunk_delay` apart. With
    /// `abort_after = Some(k)`, the connection drops after `k` events, with no
    /// terminating chunk, the way a provider dying mid-stream looks.
    pub(crate) fn stream(&self, events: Vec<Bytes>, abort_after: Option<usize>) -> Response {
        let body = Body::from_stream(event_stream(events, self.chunk_delay(), abort_after));
        let mut response = Response::new(body);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        self.tag(&mut response);
        response
    }

    /// Headers then a dropped connection, for non-streaming `disconnect_after`.
    pub(crate) fn broken_json(&self) -> Response {
        let body = Body::from_stream(abort_stream());
        let mut response = Response::new(body);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        self.tag(&mut response);
        response
    }

    fn tag(&self, response: &mut Response) {
        response
            .headers_mut()
            .insert("x-stub-upstream", self.fingerprint.clone());
    }
}

/// The body stream behind [`Shared::stream`].
fn event_stream(
    events: Vec<Bytes>,
    delay: Duration,
    abort_after: Option<usize>,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    // A K past the end means the whole stream goes out and ends cleanly.
    let limit = abort_after.map_or(events.len(), |k| k.min(events.len()));
    let aborts = limit < events.len();
    let sent = futures::stream::iter(events.into_iter().take(limit).enumerate()).then(
        move |(i, event)| async move {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            Ok(event)
        },
    );
    let abort = futures::stream::iter(aborts.then_some(())).flat_map(|()| abort_stream());
    sent.chain(abort)
}

/// A body that fails (after letting the server flush what went before), so
/// the server drops the connection without a terminating chunk.
fn abort_stream() -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "stub upstream disconnect_after",
        ))
    })
}

async fn not_found(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = shared
        .intake(Shape::OpenAi, &method, &uri, &headers, &body)
        .await
    {
        return response;
    }
    shared.error(
        Shape::OpenAi,
        404,
        &format!("Unknown request URL: {} {}.", method, uri.path()),
    )
}

/// Unix seconds, for `created` fields.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The text of a message `content`: a string, or the `text` of its text parts
/// (OpenAI `{"type":"text"}` and Anthropic text blocks alike).
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let mut out = String::new();
            for part in parts {
                if let Some(text) = part.get("text").and_then(Value::as_str) {
                    if !out.is_empty() {
                        out.push('\n');
                    }
                    out.push_str(text);
                }
            }
            out
        }
        _ => String::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
