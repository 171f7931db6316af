//! The Stripe stand-in, driven over HTTP the way AI Hub and a browser drive
//! Stripe: form-encoded API calls, the hosted payment page, and signed
//! webhooks received by a small axum server here that checks signatures with
//! its own HMAC code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use aihub_testkit::procs::Proc;
use aihub_testkit::stripe::{sign, StripeConfig, StripeStandIn};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::mpsc;

const SECRET_KEY: &str = "sk_test_51standin0000000000abcd";
const WEBHOOK_SECRET: &str = "whsec_test_standin_secret";

/// One webhook as the receiver got it.
#[derive(Debug)]
struct Received {
    signature: String,
    content_type: String,
    body: String,
    verified: bool,
}

/// Checks a `Stripe-Signature` header the way Stripe's libraries do, written
/// here independently of the stand-in's `sign`.
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = Some(t.to_owned()),
            Some(("v1", sig)) => v1.push(sig.to_owned()),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{timestamp}.{body}").as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    v1.contains(&expected)
}

/// A webhook endpoint on 127.0.0.1: answers 200 to well-signed events, 400
/// otherwise, and hands every request to the test.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/webhooks/stripe",
        post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                let body = String::from_utf8(body.to_vec()).unwrap();
                let signature = header("stripe-signature");
                let verified = verify(WEBHOOK_SECRET, &signature, &body);
                let _ = tx.send(Received {
                    signature,
                    content_type: header("content-type"),
                    body,
                    verified,
                });
                if verified {
                    StatusCode::OK
                } else {
                    StatusCode::BAD_REQUEST
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/webhooks/stripe"), rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no webhook within 10 s")
        .expect("receiver closed")
}

fn stand_in(webhook_url: Option<String>) -> StripeStandIn {
    StripeStandIn::start(StripeConfig {
        secret_key: SECRET_KEY.to_owned(),
        webhook_url,
        webhook_secret: WEBHOOK_SECRET.to_owned(),
    })
    .unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A top-up the way AI Hub asks for one.
fn top_up_form() -> Vec<(&'static str, &'static str)> {
    vec![
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "usd"),
        ("line_items[0][price_data][unit_amount]", "2000"),
        (
            "line_items[0][price_data][product_data][name]",
            "AI Hub credit & more",
        ),
        ("line_items[0][quantity]", "1"),
        (
            "success_url",
            "http://portal.test/billing/success?session_id={CHECKOUT_SESSION_ID}",
        ),
        ("cancel_url", "http://portal.test/billing?cancelled=1"),
        ("client_reference_id", "dev_42"),
        ("customer_email", "ada@example.com"),
        ("metadata[developer_id]", "dev_42"),
        ("metadata[purpose]", "top up"),
    ]
}

async fn create(
    stripe: &StripeStandIn,
    form: &[(&str, &str)],
    idempotency_key: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = client()
        .post(format!("{}/v1/checkout/sessions", stripe.base_url()))
        .bearer_auth(SECRET_KEY)
        .form(form);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.unwrap())
}

#[tokio::test]
async fn creates_a_checkout_session_from_a_form_encoded_body() {
    let stripe = stand_in(None);
    let (status, headers, session) = create(&stripe, &top_up_form(), None).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert!(headers.contains_key("request-id"));
    let id = session["id"].as_str().unwrap();
    assert!(id.starts_with("cs_test_"), "{id}");
    assert_eq!(session["object"], "checkout.session");
    assert_eq!(
        session["url"],
        format!("{}/checkout/{id}", stripe.base_url())
    );
    assert_eq!(session["status"], "open");
    assert_eq!(session["payment_status"], "unpaid");
    assert_eq!(session["amount_total"], 2000);
    assert_eq!(session["currency"], "usd");
    assert_eq!(session["mode"], "payment");
    assert_eq!(session["client_reference_id"], "dev_42");
    assert_eq!(session["customer_email"], "ada@example.com");
    assert_eq!(session["metadata"]["developer_id"], "dev_42");
    assert_eq!(session["metadata"]["purpose"], "top up");
    assert_eq!(session["payment_intent"], Value::Null);
    assert_eq!(
        session["success_url"],
        "http://portal.test/billing/success?session_id={CHECKOUT_SESSION_ID}"
    );
    assert!(session["created"].as_i64().unwrap() > 1_700_000_000);

    let sessions = stripe.sessions();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].id, id);
    assert_eq!(
        sessions[0].param("line_items[0][price_data][product_data][name]"),
        Some("AI Hub credit & more")
    );
    assert_eq!(sessions[0].param("metadata[purpose]"), Some("top up"));

    let fetched: Value = client()
        .get(format!("{}/v1/checkout/sessions/{id}", stripe.base_url()))
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fetched, session);

    let missing = client()
        .get(format!(
            "{}/v1/checkout/sessions/cs_test_nope",
            stripe.base_url()
        ))
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "resource_missing");
}

#[tokio::test]
async fn refuses_requests_without_the_secret_key() {
    let stripe = stand_in(None);
    let url = format!("{}/v1/checkout/sessions", stripe.base_url());
    let form = top_up_form();

    let none = client().post(&url).form(&form).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    let body: Value = none.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("You did not provide an API key"));

    let wrong = client()
        .post(&url)
        .bearer_auth("sk_test_51wrongkey000000000wxyz")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert_eq!(
        body["error"]["message"],
        "Invalid API Key provided: sk_test_****wxyz"
    );

    // Stripe also takes the key as the basic-auth user name.
    let basic = client()
        .post(&url)
        .basic_auth(SECRET_KEY, None::<&str>)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::OK);

    let get = client()
        .get(format!("{url}/cs_test_x"))
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(stripe.sessions().len(), 1);
}

type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, &'a str, &'a str);

#[tokio::test]
async fn names_the_missing_or_unknown_param() {
    let stripe = stand_in(None);
    // (param dropped, param added, param named in the error, error code)
    let cases: &[Case] = &[
        (
            "line_items[0][quantity]",
            None,
            "line_items[0][quantity]",
            "parameter_missing",
        ),
        ("mode", None, "mode", "parameter_missing"),
        ("success_url", None, "success_url", "parameter_missing"),
        (
            "line_items[0][price_data][unit_amount]",
            None,
            "line_items[0][price_data][unit_amount]",
            "parameter_missing",
        ),
        ("", Some(("colour", "blue")), "colour", "parameter_unknown"),
        (
            "line_items[0][quantity]",
            Some(("line_items[0][quantity]", "one")),
            "line_items[0][quantity]",
            "parameter_invalid",
        ),
    ];
    for (drop, add, param, code) in cases {
        let mut form: Vec<(&str, &str)> = top_up_form()
            .into_iter()
            .filter(|(k, _)| k != drop)
            .collect();
        if let Some(extra) = add {
            form.push(*extra);
        }
        let (status, _, body) = create(&stripe, &form, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{drop}: {body}");
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert_eq!(body["error"]["param"], *param, "{body}");
        assert_eq!(body["error"]["code"], *code, "{body}");
        if *code == "parameter_missing" {
            assert_eq!(
                body["error"]["message"],
                format!("Missing required param: {param}.")
            );
        }
    }
    // A JSON body is not what Stripe takes: nothing it needs is there.
    let json = client()
        .post(format!("{}/v1/checkout/sessions", stripe.base_url()))
        .bearer_auth(SECRET_KEY)
        .json(&serde_json::json!({"mode": "payment"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), StatusCode::BAD_REQUEST);
    assert!(stripe.sessions().is_empty());
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_session() {
    let stripe = stand_in(None);
    let form = top_up_form();
    let (s1, h1, first) = create(&stripe, &form, Some("topup-dev_42-1")).await;
    let (s2, h2, second) = create(&stripe, &form, Some("topup-dev_42-1")).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first, second);
    assert!(!h1.contains_key("idempotent-replayed"));
    assert_eq!(h2["idempotent-replayed"], "true");
    assert_eq!(stripe.sessions().len(), 1);
    assert_eq!(
        stripe.sessions()[0].idempotency_key.as_deref(),
        Some("topup-dev_42-1")
    );

    let (s3, _, third) = create(&stripe, &form, Some("topup-dev_42-2")).await;
    assert_eq!(s3, StatusCode::OK);
    assert_ne!(third["id"], first["id"]);

    let mut changed = form.clone();
    changed[2] = ("line_items[0][price_data][unit_amount]", "5000");
    let (s4, _, reused) = create(&stripe, &changed, Some("topup-dev_42-1")).await;
    assert_eq!(s4, StatusCode::BAD_REQUEST);
    assert_eq!(reused["error"]["code"], "idempotency_error");
    assert_eq!(stripe.sessions().len(), 2);
}

#[tokio::test]
async fn paying_on_the_page_redirects_and_sends_a_signed_webhook() {
    let (webhook_url, mut rx) = receiver().await;
    let stripe = stand_in(Some(webhook_url));
    let (_, _, session) = create(&stripe, &top_up_form(), None).await;
    let id = session["id"].as_str().unwrap();

    let page = client()
        .get(session["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("$20.00"), "{html}");
    assert!(
        html.contains(&format!("action=\"/checkout/{id}/pay\"")),
        "{html}"
    );
    assert!(html.contains(">Pay</button>"), "{html}");
    assert!(
        html.contains("href=\"http://portal.test/billing?cancelled=1\">Cancel</a>"),
        "{html}"
    );

    let paid = client()
        .post(format!("{}/checkout/{id}/pay", stripe.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        paid.headers()["location"],
        format!("http://portal.test/billing/success?session_id={id}").as_str()
    );

    let got = next(&mut rx).await;
    assert!(got.verified, "bad signature {}", got.signature);
    assert!(got.content_type.starts_with("application/json"));
    let t: i64 = got
        .signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(sign(WEBHOOK_SECRET, t, &got.body), got.signature);
    let event: Value = serde_json::from_str(&got.body).unwrap();
    assert!(event["id"].as_str().unwrap().starts_with("evt_test_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "checkout.session.completed");
    assert_eq!(event["livemode"], false);
    assert_eq!(event["api_version"], "2024-06-20");
    let object = &event["data"]["object"];
    assert_eq!(object["id"], id);
    assert_eq!(object["status"], "complete");
    assert_eq!(object["payment_status"], "paid");
    assert!(object["payment_intent"]
        .as_str()
        .unwrap()
        .starts_with("pi_test_"));
    assert_eq!(object["metadata"]["developer_id"], "dev_42");

    let now: Value = client()
        .get(format!("{}/v1/checkout/sessions/{id}", stripe.base_url()))
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(&now, object);

    let sent = stripe.events_sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].status, Some(200));
    assert!(sent[0].succeeded());
    assert_eq!(sent[0].event_id, event["id"].as_str().unwrap());

    // Paying again lands on the success page; nothing more is sent.
    let again = client()
        .post(format!("{}/checkout/{id}/pay", stripe.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert_eq!(stripe.events_sent().len(), 1);
    assert!(stripe.complete(id).await.is_err());
}

#[tokio::test]
async fn resend_delivers_the_identical_event_again() {
    let (webhook_url, mut rx) = receiver().await;
    let stripe = stand_in(None);
    // The receiver may start after the stand-in.
    stripe.set_webhook_url(Some(webhook_url));
    let (_, _, session) = create(&stripe, &top_up_form(), None).await;
    let id = session["id"].as_str().unwrap();

    let event = stripe.complete(id).await.unwrap();
    let first = next(&mut rx).await;
    assert!(first.verified);
    assert_eq!(serde_json::from_str::<Value>(&first.body).unwrap(), event);

    let event_id = event["id"].as_str().unwrap();
    let delivery = stripe.resend(event_id).await.unwrap();
    assert_eq!(delivery.status, Some(200));
    let second = next(&mut rx).await;
    assert!(second.verified);
    assert_eq!(second.body, first.body);

    let sent = stripe.events_sent();
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|d| d.event_id == event_id));
    assert!(stripe.resend("evt_test_unknown").await.is_err());
}

#[tokio::test]
async fn a_bad_signature_is_delivered_as_given_and_its_refusal_recorded() {
    let (webhook_url, mut rx) = receiver().await;
    let stripe = stand_in(Some(webhook_url));
    let (_, _, session) = create(&stripe, &top_up_form(), None).await;
    let event = stripe
        .complete(session["id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(next(&mut rx).await.verified);

    let body = serde_json::to_string(&event).unwrap();
    let forged = sign("whsec_someone_else", 1_700_000_000, &body);
    let delivery = stripe.send_raw(body.clone(), forged.clone()).await.unwrap();
    assert_eq!(delivery.status, Some(400));
    assert!(!delivery.succeeded());
    let got = next(&mut rx).await;
    assert!(!got.verified);
    assert_eq!(got.signature, forged);
    assert_eq!(got.body, body);
    assert_eq!(stripe.events_sent()[1].status, Some(400));
}

#[tokio::test]
async fn expiring_a_session_sends_the_expired_event() {
    let (webhook_url, mut rx) = receiver().await;
    let stripe = stand_in(Some(webhook_url));
    let (_, _, first) = create(&stripe, &top_up_form(), None).await;
    let (_, _, second) = create(&stripe, &top_up_form(), None).await;

    let event = stripe.expire(first["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(event["type"], "checkout.session.expired");
    assert_eq!(event["data"]["object"]["status"], "expired");
    let got = next(&mut rx).await;
    assert!(got.verified);
    assert!(stripe
        .complete(first["id"].as_str().unwrap())
        .await
        .is_err());

    // Stripe's own expire call.
    let url = format!(
        "{}/v1/checkout/sessions/{}/expire",
        stripe.base_url(),
        second["id"].as_str().unwrap()
    );
    let expired: Value = client()
        .post(&url)
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(expired["status"], "expired");
    let got: Value = serde_json::from_str(&next(&mut rx).await.body).unwrap();
    assert_eq!(got["type"], "checkout.session.expired");
    let twice = client()
        .post(&url)
        .bearer_auth(SECRET_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stripe.events().len(), 2);
}

#[tokio::test]
async fn the_binary_announces_its_url_and_serves() {
    let (webhook_url, mut rx) = receiver().await;
    let mut proc = Proc::bin(
        "aihub-stub-stripe",
        &[
            "--secret-key",
            SECRET_KEY,
            "--webhook-url",
            &webhook_url,
            "--webhook-secret",
            WEBHOOK_SECRET,
        ],
        &[],
    )
    .unwrap();
    let line = proc
        .wait_for_line("listening on", Duration::from_secs(10))
        .await
        .unwrap();
    let base = line.trim_start_matches("listening on ").to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let session: Value = client()
        .post(format!("{base}/v1/checkout/sessions"))
        .bearer_auth(SECRET_KEY)
        .form(&top_up_form())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        session["url"],
        format!("{base}/checkout/{}", session["id"].as_str().unwrap())
    );
    let paid = client()
        .post(format!("{}/pay", session["url"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), StatusCode::SEE_OTHER);
    assert!(next(&mut rx).await.verified);

    let status = proc.terminate(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "{status}\n{}", proc.log_tail(20));
}
