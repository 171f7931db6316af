//! Test support: `spawn_app()` starts the real router on a random port over
//! a fresh database (SQLite in a temp dir, or a new PostgreSQL database when
//! `AIHUB_TEST_DATABASE_URL` is set), and signs internal requests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod hub;

use aihub_contract::signing;
use aihub_control_plane::config::{Config, DEFAULTS};
use aihub_control_plane::db::Db;
use aihub_control_plane::server::Application;
use figment::providers::{Format, Serialized, Toml};
use figment::Figment;
use sqlx::Connection;
use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// The secret every test app shares with its "gateway".
pub const SECRET: &str = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

/// The key test apps sign access tokens with.
pub const TOKEN_SECRET: &str = "test-token-secret-0123456789-abcdefghijklmnopq";

/// The upstream-key vault of a test control plane (its token secret).
#[allow(dead_code)]
pub fn vault() -> aihub_control_plane::catalog::KeyVault {
    aihub_control_plane::catalog::KeyVault::new(TOKEN_SECRET.as_bytes())
}

/// Env var naming a PostgreSQL server where tests may create databases.
pub const PG_ENV: &str = "AIHUB_TEST_DATABASE_URL";

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend this run tests: PostgreSQL when `AIHUB_TEST_DATABASE_URL`
    /// is set (the production setup of `.ci/test`), SQLite otherwise. Every
    /// story test runs on exactly the selected backend, so none passes
    /// without having run.
    pub fn selected() -> Backend {
        match std::env::var(PG_ENV) {
            Ok(v) if !v.trim().is_empty() => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// A fresh, empty database for one test; a PostgreSQL one is dropped at the end.
pub struct TestDb {
    pub url: String,
    /// (server URL, database name) to drop, for PostgreSQL.
    drop_from: Option<(String, String)>,
    dir: tempfile::TempDir,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_from.take() else {
            return;
        };
        // Drop runs inside the test's runtime: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut conn = sqlx::AnyConnection::connect(&admin_url).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop test database {}", self.url);
        }
    }
}

impl TestDb {
    /// `None` when the backend is PostgreSQL and no server is configured.
    pub async fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().unwrap();
        let mut drop_from = None;
        let url = match backend {
            Backend::Sqlite => format!("sqlite://{}/aihub.db", dir.path().display()),
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(PG_ENV) else {
                    eprintln!("{PG_ENV} not set: skipping the PostgreSQL variant");
                    return None;
                };
                sqlx::any::install_default_drivers();
                let name = format!("aihub_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::AnyConnection::connect(&admin_url).await.unwrap();
                // A database name cannot be a bound parameter; this one is generated.
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
                let mut url = reqwest::Url::parse(&admin_url).unwrap();
                url.set_path(&format!("/{name}"));
                drop_from = Some((admin_url, name));
                url.to_string()
            }
        };
        Some(TestDb {
            url,
            drop_from,
            dir,
        })
    }

    /// Where the development outbox (`email.mode = "log"`) writes.
    pub fn outbox_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("outbox")
    }

    /// The test configuration over this database.
    pub fn config(&self) -> Config {
        Config::from_figment(self.figment()).unwrap()
    }

    /// The test configuration's layers, for tests that add their own.
    /// Mail goes to a development outbox in the test's temp dir unless a
    /// test points `email.*` at an SMTP server.
    pub fn figment(&self) -> Figment {
        Figment::from(Toml::string(DEFAULTS))
            .merge(Serialized::default("server.listen", "127.0.0.1:0"))
            // Every answer of a described route is checked against the
            // OpenAPI document: each API test is a test of the document too.
            .merge(Serialized::default("server.check_responses", true))
            .merge(Serialized::default("database.url", &self.url))
            .merge(Serialized::default("database.max_connections", 5))
            .merge(Serialized::default("internal.shared_secret", SECRET))
            .merge(Serialized::default("auth.token_secret", TOKEN_SECRET))
            .merge(Serialized::default(
                "email.outbox_dir",
                self.outbox_dir().display().to_string(),
            ))
            .merge(Serialized::default("log.level", "warn"))
    }
}

/// A running control plane.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db: Db,
    pub client: reqwest::Client,
    pub database: TestDb,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Starts the real application; `None` when the backend is unavailable.
pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |f| f).await
}

/// [`spawn_app`] with configuration layered over the test defaults.
pub async fn spawn_app_with(
    backend: Backend,
    configure: impl FnOnce(Figment) -> Figment,
) -> Option<TestApp> {
    let database = TestDb::new(backend).await?;
    Some(start_on(database, configure).await)
}

/// Starts the real application on an existing test database (after
/// [`TestApp::shutdown`], to test what survives a restart).
pub async fn start_on(database: TestDb, configure: impl FnOnce(Figment) -> Figment) -> TestApp {
    let config = Config::from_figment(configure(database.figment())).unwrap();
    let app = Application::build(&config).await.unwrap();
    let addr = app.local_addr().unwrap();
    let db = app.db();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        base: format!("http://{addr}"),
        db,
        client: reqwest::Client::new(),
        database,
        stop: Some(stop),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A GET signed with the shared secret.
    pub async fn signed_get(&self, path_and_query: &str) -> reqwest::Response {
        let sig = signing::sign(SECRET.as_bytes(), unix_now(), "GET", path_and_query, b"");
        self.client
            .get(self.url(path_and_query))
            .header(signing::HEADER, sig)
            .send()
            .await
            .unwrap()
    }

    /// A POST signed with the shared secret.
    pub async fn signed_post(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        let sig = signing::sign(SECRET.as_bytes(), unix_now(), "POST", path, &body);
        self.client
            .post(self.url(path))
            .header(signing::HEADER, sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
    }

    /// The value of an unlabelled metric on `/metrics`.
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(self) {
        self.shutdown().await;
    }

    /// Stops the server gracefully and hands back its database, which
    /// [`start_on`] can start a new application on.
    pub async fn shutdown(mut self) -> TestDb {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
        self.db.close().await;
        self.database
    }
}

pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `check` until it returns `Some`, failing after `deadline`.
pub async fn eventually<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = Instant::now() + deadline;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts the `{"error": {"code", "message"}}` shape and returns the code.
pub async fn error_code(resp: reqwest::Response) -> String {
    let body: serde_json::Value = resp.json().await.unwrap();
    let code = body["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "error shape: {body}"
    );
    code
}

/// Defines a test around `async fn NAME(Backend)` on the backend this run selects
/// ([`Backend::selected`]); `.ci/test` runs the suite once per backend.
#[macro_export]
macro_rules! on_selected_backend {
    ($($name:ident),+ $(,)?) => {
        mod selected_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::common::Backend::selected()).await;
                }
            )+
        }
    };
}
