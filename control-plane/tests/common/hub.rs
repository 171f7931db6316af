//! Helpers for the account tests: an application wired to a real SMTP
//! server process, and the management API's calls.

use super::{start_on, Backend, TestApp, TestDb};
use aihub_testkit::smtp::{ReceivedMail, SmtpServer};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// Where emailed links point in tests.
pub const PORTAL: &str = "http://portal.test";
/// A developer created directly (verified or not) with [`PASSWORD`], and
/// signed in; returns (id, access token).
pub async fn developer_session(app: &TestApp, email: &str, verified: bool) -> (String, String) {
    use aihub_control_plane::developers::{
        self, DeveloperType, Email, NewDeveloper, Password, Role,
    };
    let dev = developers::create_developer(
        &app.db,
        NewDeveloper {
            email: Email::parse(email).unwrap(),
            full_name: "Grace Hopper".into(),
            company_name: None,
            developer_type: DeveloperType::Individual,
            role: Role::Developer,
            password: Some(Password::new(PASSWORD.into(), None).unwrap()),
            email_verified: verified,
            language: Default::default(),
        },
    )
    .await
    .unwrap();
    let session = login(app, email, PASSWORD).await;
    (dev.id, access(&session).to_string())
}

/// A password that meets the policy.
pub const PASSWORD: &str = "correct-horse-42";
/// How long mail may take to arrive.
pub const MAIL_WAIT: Duration = Duration::from_secs(30);

/// An application whose mail goes to a real SMTP server.
pub struct Hub {
    pub app: TestApp,
    pub smtp: SmtpServer,
}

/// Email settings pointing at `port` on 127.0.0.1, plain SMTP.
pub fn smtp_settings(figment: Figment, port: u16) -> Figment {
    figment
        .merge(Serialized::default("email.mode", "smtp"))
        .merge(Serialized::default("email.smtp_host", "127.0.0.1"))
        .merge(Serialized::default("email.smtp_port", port))
        .merge(Serialized::default("email.smtp_tls", "none"))
        .merge(Serialized::default("public.portal_url", PORTAL))
}

impl Hub {
    /// Starts an SMTP server and the application; `None` when the backend
    /// is unavailable.
    pub async fn start(backend: Backend) -> Option<Hub> {
        Hub::start_with(backend, |f| f).await
    }

    /// [`Hub::start`] with more configuration.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(Figment) -> Figment,
    ) -> Option<Hub> {
        let smtp = SmtpServer::start().await.unwrap();
        let database = TestDb::new(backend).await?;
        let port = smtp.port();
        let app = start_on(database, |f| configure(smtp_settings(f, port))).await;
        Some(Hub { app, smtp })
    }

    /// Waits for a mail to `to` with `subject` in its subject.
    pub async fn mail(&self, to: &str, subject: &str) -> ReceivedMail {
        self.smtp.wait_for(to, subject, MAIL_WAIT).await.unwrap()
    }

    /// How many mails `to` has received.
    pub fn mail_count(&self, to: &str) -> usize {
        self.smtp.messages().iter().filter(|m| m.is_to(to)).count()
    }
}

/// The token in the first link containing `path` (e.g. `/verify-email`).
pub fn token_from(mail: &ReceivedMail, path: &str) -> String {
    let link = mail
        .find_link(path)
        .unwrap_or_else(|| panic!("no {path} link in: {}", mail.body_text));
    assert!(
        link.starts_with(PORTAL),
        "links point at the portal: {link}"
    );
    mail.token_in_link(path).unwrap()
}

/// A JSON call to the management API.
pub async fn call(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method, app.url(path));
    if let Some(token) = bearer {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

/// `POST path` with a JSON body.
pub async fn post(app: &TestApp, path: &str, body: Value) -> reqwest::Response {
    call(app, reqwest::Method::POST, path, None, Some(body)).await
}

/// `POST path` as a client at `ip` (the test client is a trusted proxy, as
/// a gateway would be, so `x-forwarded-for` is believed).
pub async fn post_from(app: &TestApp, ip: &str, path: &str, body: Value) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Status and JSON body (`Value::Null` when empty).
pub async fn parts(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, body)
}

/// Asserts an error answer and returns its message.
pub async fn expect_error(resp: reqwest::Response, status: StatusCode, code: &str) -> String {
    let (got, body) = parts(resp).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{body}");
    message.to_string()
}

/// Registers `email` (English unless `language` says otherwise); asserts 202.
pub async fn register(app: &TestApp, email: &str, language: Option<&str>) {
    let mut body = json!({
        "email": email,
        "password": PASSWORD,
        "full_name": "Ada Lovelace",
        "company_name": "Analytical Engines Ltd",
        "developer_type": "enterprise",
    });
    if let Some(l) = language {
        body["language"] = json!(l);
    }
    let (status, body) = parts(post(app, "/api/v1/developer/register", body).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body, json!({"status": "verification_sent"}));
}

/// Logs in; asserts 200 and returns the session body.
pub async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    let resp = post(
        app,
        "/api/v1/developer/login",
        json!({"email": email, "password": password}),
    )
    .await;
    let (status, body) = parts(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    body
}

/// A session's access token.
pub fn access(session: &Value) -> &str {
    session["access_token"].as_str().unwrap()
}

/// A session's refresh token.
pub fn refresh_token(session: &Value) -> &str {
    session["refresh_token"].as_str().unwrap()
}

/// `POST /refresh`.
pub async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    post(
        app,
        "/api/v1/developer/refresh",
        json!({"refresh_token": token}),
    )
    .await
}

/// `GET /profile` with an access token.
pub async fn profile(app: &TestApp, access_token: &str) -> reqwest::Response {
    call(
        app,
        reqwest::Method::GET,
        "/api/v1/developer/profile",
        Some(access_token),
        None,
    )
    .await
}

/// Registers, verifies through the mailed link, and logs in.
pub async fn verified_session(hub: &Hub, email: &str) -> Value {
    register(&hub.app, email, None).await;
    let mail = hub.mail(email, "Verify your email").await;
    let token = token_from(&mail, "/verify-email");
    let resp = post(
        &hub.app,
        "/api/v1/developer/verify-email",
        json!({"token": token}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    login(&hub.app, email, PASSWORD).await
}

/// Runs the real `aihub` binary against the app's database.
pub async fn aihub_cli(
    app: &TestApp,
    args: &[&str],
    envs: &[(&str, &str)],
) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_aihub"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIHUB_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AIHUB_DATABASE__URL", &app.database.url)
        .current_dir(dir.path())
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().await.unwrap()
}

/// Creates a verified operator (role admin) directly in the database and
/// returns an access token of theirs.
#[allow(dead_code)]
pub async fn operator_session(app: &TestApp, email: &str) -> String {
    use aihub_control_plane::developers::{
        self, DeveloperType, Email, NewDeveloper, Password, Role,
    };
    developers::create_developer(
        &app.db,
        NewDeveloper {
            email: Email::parse(email).unwrap(),
            full_name: "Olive Operator".into(),
            company_name: None,
            developer_type: DeveloperType::Individual,
            role: Role::Admin,
            password: Some(Password::new(PASSWORD.into(), None).unwrap()),
            email_verified: true,
            language: Default::default(),
        },
    )
    .await
    .unwrap();
    access(&login(app, email, PASSWORD).await).to_string()
}
