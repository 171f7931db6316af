//! A stand-in for the parts of Stripe's HTTP API AI Hub uses, speaking
//! Stripe's wire format, so payment tests run without the real service.
//!
//! | route | what it does |
//! | --- | --- |
//! | `POST /v1/checkout/sessions` | creates a Checkout Session from a form-encoded body (`line_items[0][price_data][unit_amount]=2000`, `metadata[k]=v`, …); bearer (or basic) auth with the secret key; honours `Idempotency-Key` |
//! | `GET /v1/checkout/sessions/{id}` | the session as it is now |
//! | `POST /v1/checkout/sessions/{id}/expire` | expires an open session and sends `checkout.session.expired` |
//! | `GET /checkout/{id}` | the hosted payment page: the amount, a "Pay" button and a "Cancel" link |
//! | `POST /checkout/{id}/pay` | pays: the session turns `complete`/`paid`, `checkout.session.completed` is sent, then a 303 to `success_url` (`{CHECKOUT_SESSION_ID}` replaced) |
//!
//! Errors have Stripe's shape, `{"error":{"type":"invalid_request_error",
//! "message":…,"param":…,"code":…}}`, with Stripe's statuses and messages.
//!
//! Webhook events are POSTed as JSON to the configured URL with
//! `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//! (see [`sign`]). Unlike real Stripe, the payment page delivers the event
//! *before* it answers the redirect, so a test that lands on the success page
//! finds the webhook already handled; Stripe gives no such order, and the
//! receiver's answer does not change the redirect. Deliveries are not retried
//! on their own: a test retries with [`StripeStandIn::resend`].
//!
//! Only `mode=payment` with inline `price_data` is supported; stored Prices,
//! subscriptions, setup mode and embedded checkout answer a 400 that says so.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hmac::{Hmac, Mac as _};
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

/// The API version stamped on events.
pub const API_VERSION: &str = "2024-06-20";

/// How long a delivery waits for the receiver's answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How a Stripe stand-in is set up.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// The secret API key clients must send (`Authorization: Bearer …`).
    pub secret_key: String,
    /// Where webhook events are POSTed; `None` sends nothing (events are still
    /// kept, see [`StripeStandIn::events`]). Changeable while running with
    /// [`StripeStandIn::set_webhook_url`].
    pub webhook_url: Option<String>,
    /// The endpoint's signing secret (`whsec_…`), the HMAC key as is.
    pub webhook_secret: String,
}

impl Default for StripeConfig {
    fn default() -> Self {
        Self {
            secret_key: "sk_test_stub".to_owned(),
            webhook_url: None,
            webhook_secret: "whsec_test_stub".to_owned(),
        }
    }
}

/// A Checkout Session as it was created, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatedSession {
    /// `cs_test_…`.
    pub id: String,
    /// The form parameters as decoded, in the order sent
    /// (`("line_items[0][quantity]", "1")`, …).
    pub params: Vec<(String, String)>,
    /// The `Idempotency-Key` header, when there was one.
    pub idempotency_key: Option<String>,
    /// The session object as it is now.
    pub object: Value,
}

impl CreatedSession {
    /// The last value sent for a form parameter, by its full name
    /// (`metadata[developer_id]`).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One webhook delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The event's `id` (empty when a raw body is not an event).
    pub event_id: String,
    /// The event's `type` (empty when a raw body is not an event).
    pub event_type: String,
    /// The raw body sent.
    pub body: String,
    /// The `Stripe-Signature` header sent.
    pub signature: String,
    /// The receiver's HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// Why no answer came (connection refused, timeout).
    pub error: Option<String>,
}

impl Delivery {
    /// Whether the receiver answered 2xx, which Stripe counts as delivered.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The `Stripe-Signature` header value for `body` sent at `timestamp`:
/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        Err(e) => unreachable!("HMAC accepts any key length: {e}"),
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// A running Stripe stand-in on `127.0.0.1`, stopped on drop.
///
/// It runs on its own thread and runtime (like
/// [`StubUpstream`](crate::StubUpstream)), so it keeps serving while the
/// test's runtime is blocked.
pub struct StripeStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StripeStandIn {
    /// Binds `127.0.0.1:0` and starts serving. Usable from sync and async code.
    pub fn start(config: StripeConfig) -> anyhow::Result<StripeStandIn> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding the Stripe stand-in to 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stub-stripe")
            .enable_all()
            .build()
            .context("building the Stripe stand-in's runtime")?;
        let handle = runtime.handle().clone();
        let shared = Arc::new(Shared::new(config, addr)?);
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(format!("stub-stripe-{}", addr.port()))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = axum::serve(listener, app) => {}
                        _ = rx => {}
                    }
                });
                runtime.shutdown_background();
            })
            .context("spawning the Stripe stand-in's thread")?;
        Ok(StripeStandIn {
            addr,
            shared,
            runtime: handle,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the API base to configure (Stripe's
    /// `https://api.stripe.com`); API routes live under `/v1`.
    pub fn base_url(&self) -> String {
        self.shared.base.clone()
    }

    /// Points webhooks somewhere else (or nowhere), for when the receiver
    /// starts after the stand-in.
    pub fn set_webhook_url(&self, url: Option<String>) {
        *lock(&self.shared.webhook_url) = url;
    }

    /// Every session created, oldest first (idempotent replays are not new
    /// sessions).
    pub fn sessions(&self) -> Vec<CreatedSession> {
        self.shared.state().sessions.clone()
    }

    /// One session object as it is now.
    pub fn session(&self, id: &str) -> Option<Value> {
        self.shared
            .state()
            .sessions
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.object.clone())
    }

    /// Pays an open session as the payment page's "Pay" button does: marks it
    /// `complete`/`paid`, sends `checkout.session.completed` once (when a
    /// webhook URL is set) and returns the event. Errs for an unknown or
    /// no-longer-open session.
    pub async fn complete(&self, session_id: &str) -> anyhow::Result<Value> {
        let shared = self.shared.clone();
        let id = session_id.to_owned();
        self.on_runtime(async move { shared.complete(&id).await.map(|(event, _)| event) })
            .await
    }

    /// Expires an open session and sends `checkout.session.expired` (when a
    /// webhook URL is set); returns the event.
    pub async fn expire(&self, session_id: &str) -> anyhow::Result<Value> {
        let shared = self.shared.clone();
        let id = session_id.to_owned();
        self.on_runtime(async move { shared.expire(&id).await })
            .await
    }

    /// Sends an event already sent again, as Stripe retries: the same id and
    /// body, a fresh signature timestamp.
    pub async fn resend(&self, event_id: &str) -> anyhow::Result<Delivery> {
        let shared = self.shared.clone();
        let id = event_id.to_owned();
        self.on_runtime(async move {
            let body = shared
                .state()
                .events
                .iter()
                .find(|(eid, _)| *eid == id)
                .map(|(_, body)| body.clone())
                .ok_or_else(|| anyhow!("no event {id} was made"))?;
            shared.deliver(body, None).await
        })
        .await
    }

    /// Sends any body with any `Stripe-Signature` header to the webhook URL
    /// (bad signatures, stale timestamps, forged events).
    pub async fn send_raw(
        &self,
        body: impl Into<String>,
        signature_header: impl Into<String>,
    ) -> anyhow::Result<Delivery> {
        let shared = self.shared.clone();
        let body = body.into();
        let signature = signature_header.into();
        self.on_runtime(async move { shared.deliver(body, Some(signature)).await })
            .await
    }

    /// Every event made (completed, expired), oldest first, whether or not a
    /// webhook URL was set.
    pub fn events(&self) -> Vec<Value> {
        self.shared
            .state()
            .events
            .iter()
            .filter_map(|(_, body)| serde_json::from_str(body).ok())
            .collect()
    }

    /// Every delivery attempt, oldest first, with the receiver's status.
    pub fn events_sent(&self) -> Vec<Delivery> {
        self.shared.state().deliveries.clone()
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

    /// Runs `f` on the stand-in's runtime, so webhook connections belong to
    /// the runtime that outlives them whatever runtime the caller uses.
    async fn on_runtime<T: Send + 'static>(
        &self,
        f: impl Future<Output = anyhow::Result<T>> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.runtime
            .spawn(f)
            .await
            .map_err(|e| anyhow!("the Stripe stand-in stopped: {e}"))?
    }
}

impl Drop for StripeStandIn {
    fn drop(&mut self) {
        self.shutdown_now();
    }
}

impl std::fmt::Debug for StripeStandIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeStandIn")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Serves the stand-in on `listener` until `shutdown` resolves. The binary
/// uses this; tests use [`StripeStandIn::start`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    config: StripeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let app = router(Arc::new(Shared::new(config, addr)?));
    tokio::select! {
        r = axum::serve(listener, app) => r.context("serving the Stripe stand-in"),
        () = shutdown => Ok(()),
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}", get(retrieve_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/checkout/{id}", get(payment_page))
        .route("/checkout/{id}/pay", post(pay))
        .fallback(unrecognized)
        .with_state(shared)
}

struct Shared {
    secret_key: String,
    webhook_secret: String,
    webhook_url: Mutex<Option<String>>,
    base: String,
    /// Makes ids unique across stand-ins and runs.
    nonce: String,
    seq: AtomicU64,
    client: reqwest::Client,
    state: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    sessions: Vec<CreatedSession>,
    /// Idempotency key → (the request's params, the response sent).
    idempotency: HashMap<String, (Vec<(String, String)>, Value)>,
    /// (event id, the event's body as sent).
    events: Vec<(String, String)>,
    deliveries: Vec<Delivery>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Shared {
    fn new(config: StripeConfig, addr: SocketAddr) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(DELIVERY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .build()
            .context("building the webhook client")?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let nonce = hex::encode(Sha256::digest(format!(
            "{addr}:{nanos}:{}",
            std::process::id()
        )));
        Ok(Self {
            secret_key: config.secret_key,
            webhook_secret: config.webhook_secret,
            webhook_url: Mutex::new(config.webhook_url),
            base: format!("http://{addr}"),
            nonce,
            seq: AtomicU64::new(0),
            client,
            state: Mutex::new(Store::default()),
        })
    }

    fn state(&self) -> MutexGuard<'_, Store> {
        lock(&self.state)
    }

    /// `prefix` followed by 24 characters unique to this stand-in and call.
    fn id(&self, prefix: &str) -> String {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let digest = hex::encode(Sha256::digest(format!("{}:{n}", self.nonce)));
        format!("{prefix}{}", &digest[..24])
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return Err(stripe_error(
                StatusCode::UNAUTHORIZED,
                "You did not provide an API key. You need to provide your API key in the \
                 Authorization header, using Bearer auth (e.g. 'Authorization: Bearer \
                 YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for \
                 details, or we can help at https://support.stripe.com/.",
                None,
                None,
            ));
        };
        let key = if let Some(token) = value.strip_prefix("Bearer ") {
            token.trim().to_owned()
        } else if let Some(basic) = value.strip_prefix("Basic ") {
            // Stripe also takes the key as the basic-auth user name.
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD
                .decode(basic.trim())
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .map(|s| s.split(':').next().unwrap_or_default().to_owned())
                .unwrap_or_default()
        } else {
            String::new()
        };
        if key.is_empty() {
            return Err(stripe_error(
                StatusCode::UNAUTHORIZED,
                "Invalid API Key provided. Use Bearer auth: 'Authorization: Bearer \
                 YOUR_SECRET_KEY'.",
                None,
                None,
            ));
        }
        if key != self.secret_key {
            // As Stripe shows it: `sk_test_****wxyz`.
            let chars: Vec<char> = key.chars().collect();
            let tail: String = chars[chars.len().saturating_sub(4)..].iter().collect();
            let prefix = match key.match_indices('_').nth(1) {
                Some((at, _)) if key.len() > 12 => &key[..=at],
                _ => "",
            };
            let shown = format!("{prefix}****{tail}");
            return Err(stripe_error(
                StatusCode::UNAUTHORIZED,
                &format!("Invalid API Key provided: {shown}"),
                None,
                None,
            ));
        }
        Ok(())
    }

    fn create(
        &self,
        headers: &HeaderMap,
        params: Vec<(String, String)>,
    ) -> Result<(Value, bool), ApiError> {
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(key) = &key {
            if let Some((sent, response)) = self.state().idempotency.get(key) {
                if *sent != params {
                    return Err(stripe_error_with(
                        StatusCode::BAD_REQUEST,
                        "idempotency_error",
                        &format!(
                            "Keys for idempotent requests can only be used with the same \
                             parameters they were first used with. Try using a key other \
                             than '{key}' if you meant to execute a different request."
                        ),
                        None,
                    ));
                }
                return Ok((response.clone(), true));
            }
        }
        let input = SessionInput::parse(&params)?;
        let id = self.id("cs_test_");
        let created = now_unix();
        let object = json!({
            "id": id,
            "object": "checkout.session",
            "amount_subtotal": input.amount_total,
            "amount_total": input.amount_total,
            "cancel_url": input.cancel_url,
            "client_reference_id": input.client_reference_id,
            "created": created,
            "currency": input.currency,
            "customer": null,
            "customer_details": null,
            "customer_email": input.customer_email,
            "expires_at": input.expires_at.unwrap_or(created + 24 * 3600),
            "livemode": false,
            "metadata": input.metadata,
            "mode": "payment",
            "payment_intent": null,
            "payment_method_types": ["card"],
            "payment_status": "unpaid",
            "status": "open",
            "success_url": input.success_url,
            "ui_mode": "hosted",
            "url": format!("{}/checkout/{id}", self.base),
        });
        let mut state = self.state();
        // A concurrent request with the same key may have won the race.
        if let Some(key) = &key {
            if let Some((_, response)) = state.idempotency.get(key) {
                return Ok((response.clone(), true));
            }
            state
                .idempotency
                .insert(key.clone(), (params.clone(), object.clone()));
        }
        state.sessions.push(CreatedSession {
            id,
            params,
            idempotency_key: key,
            object: object.clone(),
        });
        Ok((object, false))
    }

    /// Marks a session paid and sends the event. Returns the event and the
    /// session object.
    async fn complete(&self, session_id: &str) -> anyhow::Result<(Value, Value)> {
        let payment_intent = self.id("pi_test_");
        let session = self.transition(session_id, |object| {
            object["status"] = json!("complete");
            object["payment_status"] = json!("paid");
            object["payment_intent"] = json!(payment_intent);
            // Stripe drops the URL once a session is no longer open.
            object["url"] = Value::Null;
            object["customer_details"] = json!({
                "email": object["customer_email"].clone(),
                "name": null,
                "phone": null,
                "address": null,
                "tax_exempt": "none",
                "tax_ids": [],
            });
        })?;
        let event = self.emit("checkout.session.completed", &session).await?;
        Ok((event, session))
    }

    async fn expire(&self, session_id: &str) -> anyhow::Result<Value> {
        let session = self.transition(session_id, |object| {
            object["status"] = json!("expired");
            object["url"] = Value::Null;
        })?;
        self.emit("checkout.session.expired", &session).await
    }

    /// Applies `change` to an open session; errs when it is unknown or not open.
    fn transition(
        &self,
        session_id: &str,
        change: impl FnOnce(&mut Value),
    ) -> anyhow::Result<Value> {
        let mut state = self.state();
        let session = state
            .sessions
            .iter_mut()
            .find(|s| s.id == session_id)
            .ok_or_else(|| anyhow!("No such checkout.session: '{session_id}'"))?;
        let status = session.object["status"].as_str().unwrap_or_default();
        if status != "open" {
            bail!("checkout session {session_id} is {status}, not open");
        }
        change(&mut session.object);
        Ok(session.object.clone())
    }

    /// Makes an event for `session`, keeps it, and delivers it when a webhook
    /// URL is set (a failed delivery is recorded, not an error).
    async fn emit(&self, event_type: &str, session: &Value) -> anyhow::Result<Value> {
        let event = json!({
            "id": self.id("evt_test_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": now_unix(),
            "data": { "object": session },
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": event_type,
        });
        let body = serde_json::to_string(&event)?;
        let id = event["id"].as_str().unwrap_or_default().to_owned();
        self.state().events.push((id, body.clone()));
        if lock(&self.webhook_url).is_some() {
            self.deliver(body, None).await?;
        }
        Ok(event)
    }

    /// POSTs `body` to the webhook URL, signed now unless `signature` is given.
    async fn deliver(&self, body: String, signature: Option<String>) -> anyhow::Result<Delivery> {
        let url = lock(&self.webhook_url)
            .clone()
            .ok_or_else(|| anyhow!("the Stripe stand-in has no webhook_url"))?;
        let signature = signature.unwrap_or_else(|| sign(&self.webhook_secret, now_unix(), &body));
        let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let field = |name: &str| parsed[name].as_str().unwrap_or_default().to_owned();
        let mut delivery = Delivery {
            event_id: field("id"),
            event_type: field("type"),
            body: body.clone(),
            signature: signature.clone(),
            status: None,
            error: None,
        };
        let sent = self
            .client
            .post(&url)
            .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
            .header("Stripe-Signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => {
                delivery.status = Some(response.status().as_u16());
                // Read the answer so the connection is reusable.
                let _ = response.bytes().await;
            }
            Err(e) => delivery.error = Some(format!("{e:#}")),
        }
        self.state().deliveries.push(delivery.clone());
        Ok(delivery)
    }
}

/// What a create request asked for, validated as Stripe does.
struct SessionInput {
    amount_total: i64,
    currency: String,
    success_url: String,
    cancel_url: Option<String>,
    client_reference_id: Option<String>,
    customer_email: Option<String>,
    metadata: Map<String, Value>,
    expires_at: Option<i64>,
}

/// The Checkout Session create parameters Stripe knows.
const SESSION_PARAMS: &[&str] = &[
    "after_expiration",
    "allow_promotion_codes",
    "automatic_tax",
    "billing_address_collection",
    "cancel_url",
    "client_reference_id",
    "consent_collection",
    "currency",
    "custom_fields",
    "custom_text",
    "customer",
    "customer_creation",
    "customer_email",
    "customer_update",
    "discounts",
    "expand",
    "expires_at",
    "invoice_creation",
    "line_items",
    "locale",
    "metadata",
    "mode",
    "payment_intent_data",
    "payment_method_collection",
    "payment_method_configuration",
    "payment_method_data",
    "payment_method_options",
    "payment_method_types",
    "phone_number_collection",
    "redirect_on_completion",
    "return_url",
    "saved_payment_method_options",
    "setup_intent_data",
    "shipping_address_collection",
    "shipping_options",
    "submit_type",
    "subscription_data",
    "success_url",
    "tax_id_collection",
    "ui_mode",
];
const LINE_ITEM_PARAMS: &[&str] = &[
    "adjustable_quantity",
    "dynamic_tax_rates",
    "price",
    "price_data",
    "quantity",
    "tax_rates",
];
const PRICE_DATA_PARAMS: &[&str] = &[
    "currency",
    "product",
    "product_data",
    "recurring",
    "tax_behavior",
    "unit_amount",
    "unit_amount_decimal",
];
const PRODUCT_DATA_PARAMS: &[&str] = &["description", "images", "metadata", "name", "tax_code"];

impl SessionInput {
    fn parse(params: &[(String, String)]) -> Result<Self, ApiError> {
        let tree = nest(params)?;
        check_known(&tree, "", SESSION_PARAMS)?;
        let mode = string(&tree, "mode", "mode")?.ok_or_else(|| missing("mode"))?;
        match mode.as_str() {
            "payment" => {}
            "setup" | "subscription" => {
                return Err(invalid(
                    "mode",
                    &format!("The Stripe stand-in supports only mode=payment, not {mode}."),
                ))
            }
            _ => {
                return Err(invalid(
                    "mode",
                    "Invalid mode: must be one of payment, setup, or subscription",
                ))
            }
        }
        if let Some(ui_mode) = string(&tree, "ui_mode", "ui_mode")? {
            if ui_mode != "hosted" {
                return Err(invalid(
                    "ui_mode",
                    "The Stripe stand-in supports only ui_mode=hosted.",
                ));
            }
        }
        let items = match tree.get("line_items") {
            None => return Err(missing("line_items")),
            Some(v) => array(v, "line_items")?,
        };
        if items.is_empty() {
            return Err(missing("line_items"));
        }
        let mut amount_total = 0_i64;
        let mut currency: Option<String> = None;
        for (i, item) in items.iter().enumerate() {
            let at = format!("line_items[{i}]");
            let item = hash(item, &at)?;
            check_known(item, &at, LINE_ITEM_PARAMS)?;
            if let Some(price) = string(item, "price", &format!("{at}[price]"))? {
                return Err(stripe_error_with(
                    StatusCode::BAD_REQUEST,
                    "resource_missing",
                    &format!("No such price: '{price}'"),
                    Some(&format!("{at}[price]")),
                ));
            }
            let pd_at = format!("{at}[price_data]");
            let price_data = match item.get("price_data") {
                Some(v) => hash(v, &pd_at)?,
                None => {
                    return Err(stripe_error(
                        StatusCode::BAD_REQUEST,
                        &format!("You must specify either `price` or `price_data` in {at}."),
                        Some(&pd_at),
                        None,
                    ))
                }
            };
            check_known(price_data, &pd_at, PRICE_DATA_PARAMS)?;
            if price_data.contains_key("recurring") {
                return Err(invalid(
                    &format!("{pd_at}[recurring]"),
                    "The Stripe stand-in supports only one-time prices.",
                ));
            }
            let item_currency = string(price_data, "currency", &format!("{pd_at}[currency]"))?
                .ok_or_else(|| missing(&format!("{pd_at}[currency]")))?
                .to_ascii_lowercase();
            if item_currency.len() != 3 || !item_currency.chars().all(|c| c.is_ascii_alphabetic()) {
                return Err(invalid(
                    &format!("{pd_at}[currency]"),
                    &format!("Invalid currency: {item_currency}."),
                ));
            }
            if let Some(c) = &currency {
                if *c != item_currency {
                    return Err(invalid(
                        &format!("{pd_at}[currency]"),
                        "All line items must have the same currency.",
                    ));
                }
            }
            currency = Some(item_currency);
            let pdd_at = format!("{pd_at}[product_data]");
            match (price_data.get("product"), price_data.get("product_data")) {
                (Some(_), _) => {
                    return Err(invalid(
                        &format!("{pd_at}[product]"),
                        "The Stripe stand-in has no stored Products; use product_data.",
                    ))
                }
                (None, None) => return Err(missing(&pdd_at)),
                (None, Some(product)) => {
                    let product = hash(product, &pdd_at)?;
                    check_known(product, &pdd_at, PRODUCT_DATA_PARAMS)?;
                    let name = string(product, "name", &format!("{pdd_at}[name]"))?;
                    if name.as_deref().is_none_or(str::is_empty) {
                        return Err(missing(&format!("{pdd_at}[name]")));
                    }
                }
            }
            let ua_at = format!("{pd_at}[unit_amount]");
            let unit_amount =
                integer(price_data, "unit_amount", &ua_at)?.ok_or_else(|| missing(&ua_at))?;
            if unit_amount < 0 {
                return Err(invalid(
                    &ua_at,
                    "This value must be greater than or equal to 0.",
                ));
            }
            let q_at = format!("{at}[quantity]");
            let quantity = integer(item, "quantity", &q_at)?.ok_or_else(|| missing(&q_at))?;
            if quantity < 1 {
                return Err(invalid(
                    &q_at,
                    "This value must be greater than or equal to 1.",
                ));
            }
            amount_total = unit_amount
                .checked_mul(quantity)
                .and_then(|a| a.checked_add(amount_total))
                .ok_or_else(|| invalid(&ua_at, "The amount is too large."))?;
        }
        let success_url =
            string(&tree, "success_url", "success_url")?.ok_or_else(|| missing("success_url"))?;
        url(&success_url, "success_url")?;
        let cancel_url = string(&tree, "cancel_url", "cancel_url")?;
        if let Some(cancel) = &cancel_url {
            url(cancel, "cancel_url")?;
        }
        let metadata = match tree.get("metadata") {
            None => Map::new(),
            Some(v) => {
                let m = hash(v, "metadata")?;
                if m.len() > 50 {
                    return Err(invalid("metadata", "Metadata can have at most 50 keys."));
                }
                let mut out = Map::new();
                for (k, v) in m {
                    let at = format!("metadata[{k}]");
                    let Value::String(s) = v else {
                        return Err(invalid(&at, "Invalid string: metadata values are strings."));
                    };
                    if k.chars().count() > 40 {
                        return Err(invalid(&at, "Metadata keys can be at most 40 characters."));
                    }
                    if s.chars().count() > 500 {
                        return Err(invalid(
                            &at,
                            "Metadata values can be at most 500 characters.",
                        ));
                    }
                    if !s.is_empty() {
                        out.insert(k.clone(), Value::String(s.clone()));
                    }
                }
                out
            }
        };
        Ok(SessionInput {
            amount_total,
            currency: currency.unwrap_or_default(),
            success_url,
            cancel_url,
            client_reference_id: string(&tree, "client_reference_id", "client_reference_id")?,
            customer_email: string(&tree, "customer_email", "customer_email")?,
            metadata,
            expires_at: integer(&tree, "expires_at", "expires_at")?,
        })
    }
}

/// Decodes an `application/x-www-form-urlencoded` body into its pairs, in
/// order (`+` is a space, `%XX` a byte).
fn decode_form(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    fn decode(part: &[u8]) -> Option<String> {
        let mut out = Vec::with_capacity(part.len());
        let mut i = 0;
        while i < part.len() {
            match part[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = part.get(i + 1..i + 3)?;
                    let hex = std::str::from_utf8(hex).ok()?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    let mut pairs = Vec::new();
    for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match part.iter().position(|b| *b == b'=') {
            Some(at) => (&part[..at], &part[at + 1..]),
            None => (part, &b""[..]),
        };
        match (decode(k), decode(v)) {
            (Some(k), Some(v)) => pairs.push((k, v)),
            _ => {
                return Err(stripe_error(
                    StatusCode::BAD_REQUEST,
                    "Invalid request: the body is not valid application/x-www-form-urlencoded \
                     UTF-8.",
                    None,
                    None,
                ))
            }
        }
    }
    Ok(pairs)
}

/// Builds the nested hash Stripe reads from `a[b][0][c]=v` keys. Every level
/// is an object; arrays are objects keyed by index until [`array`] reads them.
fn nest(params: &[(String, String)]) -> Result<Map<String, Value>, ApiError> {
    let mut root = Map::new();
    for (key, value) in params {
        let (head, rest) = match key.find('[') {
            Some(at) => (&key[..at], &key[at..]),
            None => (key.as_str(), ""),
        };
        let mut path = vec![head.to_owned()];
        let mut rest = rest;
        while !rest.is_empty() {
            let close = rest
                .strip_prefix('[')
                .and_then(|r| r.find(']'))
                .ok_or_else(|| invalid(key, &format!("Invalid parameter name: {key}")))?;
            path.push(rest[1..=close].to_owned());
            rest = &rest[close + 2..];
        }
        if path.iter().any(String::is_empty) {
            return Err(invalid(
                key,
                &format!("Invalid array: give {key} an explicit index"),
            ));
        }
        let mut node = &mut root;
        let (last, parents) = path.split_last().unwrap_or((&path[0], &[]));
        let mut at = String::new();
        for segment in parents {
            at = if at.is_empty() {
                segment.clone()
            } else {
                format!("{at}[{segment}]")
            };
            let entry = node
                .entry(segment.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            node = match entry {
                Value::Object(m) => m,
                _ => return Err(invalid(&at, "Invalid hash")),
            };
        }
        if matches!(node.get(last), Some(Value::Object(_))) {
            return Err(invalid(key, "Invalid hash"));
        }
        node.insert(last.clone(), Value::String(value.clone()));
    }
    Ok(root)
}

fn check_known(map: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), ApiError> {
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            let name = if at.is_empty() {
                key.clone()
            } else {
                format!("{at}[{key}]")
            };
            return Err(stripe_error_with(
                StatusCode::BAD_REQUEST,
                "parameter_unknown",
                &format!("Received unknown parameter: {name}"),
                Some(&name),
            ));
        }
    }
    Ok(())
}

fn hash<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ApiError> {
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(invalid(at, "Invalid hash")),
    }
}

fn array<'a>(v: &'a Value, at: &str) -> Result<Vec<&'a Value>, ApiError> {
    let m = hash(v, at).map_err(|_| invalid(at, "Invalid array"))?;
    let mut items = Vec::with_capacity(m.len());
    for i in 0..m.len() {
        items.push(
            m.get(&i.to_string())
                .ok_or_else(|| invalid(at, "Invalid array"))?,
        );
    }
    Ok(items)
}

fn string(map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<String>, ApiError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(at, &format!("Invalid string: {at} is a hash"))),
    }
}

fn integer(map: &Map<String, Value>, key: &str, at: &str) -> Result<Option<i64>, ApiError> {
    match string(map, key, at)? {
        None => Ok(None),
        Some(s) => s
            .parse::<i64>()
            .map(Some)
            .map_err(|_| invalid(at, &format!("Invalid integer: {s}"))),
    }
}

fn url(value: &str, at: &str) -> Result<(), ApiError> {
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(())
    } else {
        Err(invalid(at, "Not a valid URL"))
    }
}

fn missing(param: &str) -> ApiError {
    stripe_error_with(
        StatusCode::BAD_REQUEST,
        "parameter_missing",
        &format!("Missing required param: {param}."),
        Some(param),
    )
}

fn invalid(param: &str, message: &str) -> ApiError {
    stripe_error_with(
        StatusCode::BAD_REQUEST,
        "parameter_invalid",
        message,
        Some(param),
    )
}

/// An API error, answered as `{"error":{"type":"invalid_request_error",
/// "message":…,"param":…,"code":…,"doc_url":…}}` with its status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    param: Option<String>,
    code: Option<String>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "type": "invalid_request_error", "message": self.message });
        if let Some(param) = self.param {
            error["param"] = json!(param);
        }
        if let Some(code) = self.code {
            error["doc_url"] = json!(format!(
                "https://stripe.com/docs/error-codes/{}",
                code.replace('_', "-")
            ));
            error["code"] = json!(code);
        }
        with_request_id((self.status, axum::Json(json!({ "error": error }))).into_response())
    }
}

fn stripe_error(
    status: StatusCode,
    message: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> ApiError {
    ApiError {
        status,
        message: message.to_owned(),
        param: param.map(str::to_owned),
        code: code.map(str::to_owned),
    }
}

/// [`stripe_error`] with a `code` (and its `doc_url`).
fn stripe_error_with(
    status: StatusCode,
    code: &str,
    message: &str,
    param: Option<&str>,
) -> ApiError {
    stripe_error(status, message, param, Some(code))
}

fn with_request_id(mut response: Response) -> Response {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed) + 1;
    if let Ok(v) = HeaderValue::from_str(&format!("req_stub{n:012}")) {
        response.headers_mut().insert("request-id", v);
    }
    response
}

fn json_response(body: &Value) -> Response {
    with_request_id(axum::Json(body).into_response())
}

fn no_such_session(id: &str) -> ApiError {
    stripe_error_with(
        StatusCode::NOT_FOUND,
        "resource_missing",
        &format!("No such checkout.session: '{id}'"),
        Some("session"),
    )
}

async fn create_session(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    shared.authorize(&headers)?;
    let params = decode_form(&body)?;
    let (object, replayed) = shared.create(&headers, params)?;
    let mut response = json_response(&object);
    if replayed {
        response
            .headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn retrieve_session(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    shared.authorize(&headers)?;
    let object = shared
        .state()
        .sessions
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.object.clone());
    match object {
        Some(object) => Ok(json_response(&object)),
        None => Err(no_such_session(&id)),
    }
}

async fn expire_session(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    shared.authorize(&headers)?;
    match shared.expire(&id).await {
        Ok(event) => Ok(json_response(&event["data"]["object"])),
        Err(_) if shared.state().sessions.iter().all(|s| s.id != id) => Err(no_such_session(&id)),
        Err(_) => Err(stripe_error(
            StatusCode::BAD_REQUEST,
            "Only Checkout Sessions with a status of `open` can be expired.",
            None,
            None,
        )),
    }
}

async fn payment_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(session) = shared
        .state()
        .sessions
        .iter()
        .find(|s| s.id == id)
        .map(|s| s.object.clone())
    else {
        return page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>No such checkout session.</p>",
        );
    };
    let amount = format_amount(
        session["amount_total"].as_i64().unwrap_or(0),
        session["currency"].as_str().unwrap_or_default(),
    );
    let status = session["status"].as_str().unwrap_or_default();
    let mut body = format!(
        "<h1>Pay AI Hub</h1>\n<p class=\"amount\" data-testid=\"amount\">{}</p>\n",
        escape(&amount)
    );
    if status == "open" {
        let _ = writeln!(
            body,
            "<form method=\"post\" action=\"/checkout/{}/pay\"><button type=\"submit\">Pay</button></form>",
            escape(&id)
        );
        if let Some(cancel) = session["cancel_url"].as_str() {
            let _ = writeln!(body, "<a href=\"{}\">Cancel</a>", escape(cancel));
        }
    } else {
        let _ = writeln!(
            body,
            "<p data-testid=\"status\">This checkout session is {}.</p>",
            escape(status)
        );
    }
    page(StatusCode::OK, "Stripe Checkout (stand-in)", &body)
}

async fn pay(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let session = match shared.complete(&id).await {
        Ok((_, session)) => session,
        Err(e) => {
            let current = shared
                .state()
                .sessions
                .iter()
                .find(|s| s.id == id)
                .map(|s| s.object.clone());
            match current {
                // Paying twice lands on the success page again, nothing sent.
                Some(s) if s["status"] == "complete" => s,
                Some(_) => {
                    return page(
                        StatusCode::BAD_REQUEST,
                        "Cannot pay",
                        &format!("<p>{}</p>", escape(&format!("{e:#}"))),
                    )
                }
                None => {
                    return page(
                        StatusCode::NOT_FOUND,
                        "Not found",
                        "<p>No such checkout session.</p>",
                    )
                }
            }
        }
    };
    let target = session["success_url"]
        .as_str()
        .unwrap_or_default()
        .replace("{CHECKOUT_SESSION_ID}", &id);
    match HeaderValue::from_str(&target) {
        Ok(location) => {
            let mut response = StatusCode::SEE_OTHER.into_response();
            response.headers_mut().insert(header::LOCATION, location);
            response
        }
        Err(_) => page(StatusCode::INTERNAL_SERVER_ERROR, "Bad success_url", ""),
    }
}

async fn unrecognized(method: Method, uri: Uri) -> ApiError {
    stripe_error(
        StatusCode::NOT_FOUND,
        &format!(
            "Unrecognized request URL ({method}: {}). Please see https://stripe.com/docs or \
             we can help at https://support.stripe.com/.",
            uri.path()
        ),
        None,
        None,
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{body}</body></html>\n",
        escape(title)
    );
    (status, Html(html)).into_response()
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `2000`, `usd` → `$20.00`; zero-decimal currencies (`jpy`) as they are.
fn format_amount(amount: i64, currency: &str) -> String {
    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    let code = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&currency) {
        return format!("{amount} {code}");
    }
    let sign = if amount < 0 { "-" } else { "" };
    let abs = amount.unsigned_abs();
    let major = abs / 100;
    let minor = abs % 100;
    match currency {
        "usd" => format!("{sign}${major}.{minor:02}"),
        "eur" => format!("{sign}€{major}.{minor:02}"),
        "gbp" => format!("{sign}£{major}.{minor:02}"),
        _ => format!("{sign}{major}.{minor:02} {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_form_bodies() {
        let pairs = decode_form(b"a=1&b%5B0%5D%5Bc%5D=x+y%21&empty=&flag").ok();
        assert_eq!(
            pairs,
            Some(vec![
                ("a".to_owned(), "1".to_owned()),
                ("b[0][c]".to_owned(), "x y!".to_owned()),
                ("empty".to_owned(), String::new()),
                ("flag".to_owned(), String::new()),
            ])
        );
    }

    #[test]
    fn formats_amounts() {
        assert_eq!(format_amount(2000, "usd"), "$20.00");
        assert_eq!(format_amount(5, "cad"), "0.05 CAD");
        assert_eq!(format_amount(500, "jpy"), "500 JPY");
    }
}
