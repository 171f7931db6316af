//! The real `aihub` binary: admin commands with `--json`, errors, `serve`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::routes;
use aihub_contract::signing;
use aihub_contract::snapshot::Changes;
use aihub_control_plane::db::Db;
use aihub_control_plane::gateway_feed;
use common::{eventually, spawn_app, Backend, TestDb, SECRET, TOKEN_SECRET};
use serde_json::Value;
use std::process::Output;
use std::time::Duration;
use tokio::process::Command;

on_selected_backend!(
    creates_a_developer_and_a_key_with_json_output,
    operator_provider_and_model_commands,
    a_key_disabled_by_the_cli_reaches_a_running_control_plane,
    account_limits_set_by_the_cli_reach_a_running_control_plane,
);

/// The binary with a clean `AIHUB_*` environment, run in a temp dir.
fn aihub(db_url: &str, cwd: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aihub"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIHUB_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AIHUB_DATABASE__URL", db_url)
        .env("AIHUB_AUTH__TOKEN_SECRET", common::TOKEN_SECRET)
        .current_dir(cwd)
        .kill_on_drop(true);
    cmd
}

async fn run(db_url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    aihub(db_url, dir.path()).args(args).output().await.unwrap()
}

/// Runs a command that must succeed and print one JSON object.
async fn run_json(db_url: &str, args: &[&str]) -> Value {
    let out = run(db_url, args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim().lines().count(), 1, "one JSON line: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

/// Runs a command that must fail with exit code 1; returns stderr.
async fn run_err(db_url: &str, args: &[&str]) -> String {
    let out = run(db_url, args).await;
    assert_eq!(out.status.code(), Some(1), "{args:?} should fail");
    assert!(out.stdout.is_empty(), "nothing on stdout on failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn creates_a_developer_and_a_key_with_json_output(backend: Backend) {
    let Some(database) = TestDb::new(backend).await else {
        return;
    };
    let url = database.url.as_str();
    let dev = run_json(
        url,
        &[
            "admin",
            "create-developer",
            "--email",
            "Margaret@Example.com",
            "--name",
            "Margaret Hamilton",
            "--company",
            "MIT",
            "--type",
            "enterprise",
            "--json",
        ],
    )
    .await;
    let dev_id = dev["id"].as_str().unwrap().to_string();
    assert!(dev_id.starts_with("dev_"));
    assert_eq!(dev["email"], "margaret@example.com");
    assert_eq!(dev["developer_type"], "enterprise");

    let key = run_json(
        url,
        &[
            "admin",
            "--json",
            "create-key",
            "--developer",
            "margaret@example.com",
            "--name",
            "apollo",
            "--models",
            "gpt-4o,gpt-4o-mini",
        ],
    )
    .await;
    let secret = key["secret"].as_str().unwrap().to_string();
    let key_id = key["id"].as_str().unwrap().to_string();
    assert!(key_id.starts_with("key_"));
    assert!(aihub_contract::keys::is_well_formed(&secret));
    assert_eq!(key["developer_id"], dev_id.as_str());
    assert_eq!(
        key["display_prefix"],
        aihub_contract::keys::display_prefix(&secret).as_str()
    );
    assert_eq!(
        key["allowed_models"],
        serde_json::json!(["gpt-4o", "gpt-4o-mini"])
    );

    // The stored key is the one printed, by hash only.
    let db = Db::connect(&database.config().database).await.unwrap();
    let snap = gateway_feed::snapshot(&db, &common::vault()).await.unwrap();
    assert_eq!(snap.keys.len(), 1);
    assert_eq!(snap.keys[0].hash, aihub_contract::keys::hash(&secret));
    db.close().await;

    // Listing never shows the secret.
    let out = run(
        url,
        &["admin", "list-keys", "--developer", &dev_id, "--json"],
    )
    .await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains(&secret));
    let listed: Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(listed["keys"][0]["id"], key_id.as_str());
    assert_eq!(listed["keys"][0]["name"], "apollo");

    // Human output mentions the secret once, with a warning.
    let out = run(url, &["admin", "create-key", "--developer", &dev_id]).await;
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ahub_") && text.contains("cannot be shown again"));

    // Clear errors, exit code 1, nothing written.
    let err = run_err(
        url,
        &[
            "admin",
            "create-developer",
            "--email",
            "margaret@example.com",
            "--name",
            "Again",
        ],
    )
    .await;
    assert!(err.contains("already exists"), "{err}");
    let err = run_err(
        url,
        &[
            "admin",
            "create-developer",
            "--email",
            "not-an-email",
            "--name",
            "X",
        ],
    )
    .await;
    assert!(err.contains("email: expected"), "{err}");
    let err = run_err(
        url,
        &["admin", "create-key", "--developer", "nobody@example.com"],
    )
    .await;
    assert!(err.contains("no developer"), "{err}");
    let err = run_err(url, &["admin", "disable-key", "key_nope"]).await;
    assert!(err.contains("no key"), "{err}");
}

async fn operator_provider_and_model_commands(backend: Backend) {
    let Some(database) = TestDb::new(backend).await else {
        return;
    };
    let url = database.url.as_str();
    let dir = tempfile::tempdir().unwrap();

    // The password may come from the environment; short ones are refused.
    let out = aihub(url, dir.path())
        .args([
            "admin",
            "create-operator",
            "--email",
            "ops@example.com",
            "--json",
        ])
        .env("AIHUB_ADMIN_PASSWORD", "short")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));
    let out = aihub(url, dir.path())
        .args([
            "admin",
            "create-operator",
            "--email",
            "ops@example.com",
            "--json",
        ])
        .env("AIHUB_ADMIN_PASSWORD", "a very good passphrase")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let op: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(op["role"], "admin");

    let out = aihub(url, dir.path())
        .args([
            "admin",
            "add-provider",
            "--name",
            "openai",
            "--kind",
            "openai",
            "--base-url",
            "https://api.openai.com/v1",
            "--json",
        ])
        .env("AIHUB_PROVIDER_API_KEY", "sk-from-env")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let provider: Value = serde_json::from_slice(&out.stdout).unwrap();
    let provider_id = provider["id"].as_str().unwrap();
    assert!(provider_id.starts_with("prov_"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("sk-from-env"));

    let added = run_json(
        url,
        &[
            "admin",
            "add-model",
            "--name",
            "gpt-4o",
            "--provider",
            "openai",
            "--json",
        ],
    )
    .await;
    assert!(added["model_id"].as_str().unwrap().starts_with("mdl_"));
    assert!(added["deployment_id"].as_str().unwrap().starts_with("dep_"));
    assert_eq!(added["prices"]["input_per_million"], "15");

    let fallback = run_json(
        url,
        &[
            "admin",
            "add-model",
            "--name",
            "gpt-4o",
            "--provider",
            provider_id,
            "--upstream-model",
            "gpt-4o-2024-08-06",
            "--input-price-per-million",
            "2.50",
            "--output-price-per-million",
            "10",
            "--priority",
            "1",
            "--weight",
            "2",
            "--timeout-ms",
            "30000",
            "--json",
        ],
    )
    .await;
    assert_eq!(fallback["model_id"], added["model_id"]);
    assert_eq!(fallback["model_created"], false);
    assert_eq!(fallback["prices"]["cached_per_million"], "2.5");

    let listed = run_json(url, &["admin", "list-models", "--json"]).await;
    let model = &listed["models"][0];
    assert_eq!(model["name"], "gpt-4o");
    assert_eq!(model["prices"]["output_per_million"], "10");
    assert_eq!(
        model["deployments"][1]["upstream_model"],
        "gpt-4o-2024-08-06"
    );
    assert_eq!(model["deployments"][1]["priority"], 1);

    // The upstream key reached the snapshot (and only the snapshot).
    let db = Db::connect(&database.config().database).await.unwrap();
    let snap = gateway_feed::snapshot(&db, &common::vault()).await.unwrap();
    assert_eq!(snap.catalog.providers[0].api_key, "sk-from-env");
    db.close().await;

    let err = run_err(
        url,
        &["admin", "add-model", "--name", "x", "--provider", "nope"],
    )
    .await;
    assert!(err.contains("no provider"), "{err}");
    let err = run_err(
        url,
        &[
            "admin",
            "add-model",
            "--name",
            "x",
            "--provider",
            "openai",
            "--input-price-per-million",
            "abc",
            "--output-price-per-million",
            "1",
        ],
    )
    .await;
    assert!(
        err.contains("input price per million: expected a decimal"),
        "{err}"
    );
    let err = run_err(
        url,
        &[
            "admin",
            "add-provider",
            "--name",
            "openai",
            "--kind",
            "openai",
            "--base-url",
            "http://x",
        ],
    )
    .await;
    assert!(err.contains("already exists"), "{err}");

    // Without the control plane's secret the key could not be opened by
    // it: refused, nothing written, no secret made up.
    let dir = tempfile::tempdir().unwrap();
    let out = aihub(url, dir.path())
        .env_remove("AIHUB_AUTH__TOKEN_SECRET")
        .args([
            "admin",
            "add-provider",
            "--name",
            "other",
            "--kind",
            "openai",
            "--base-url",
            "https://api.example.com/v1",
            "--api-key",
            "sk-x",
        ])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("AIHUB_AUTH__TOKEN_SECRET"), "{err}");
    assert!(!dir.path().join("data").exists());
    let db = Db::connect(&database.config().database).await.unwrap();
    let others: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM providers WHERE name = 'other'")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(others, 0);
    db.close().await;
}

async fn a_key_disabled_by_the_cli_reaches_a_running_control_plane(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.database.url.clone();
    run_json(
        &url,
        &[
            "admin",
            "create-developer",
            "--email",
            "ops@example.com",
            "--name",
            "Ops",
            "--json",
        ],
    )
    .await;
    let key = run_json(
        &url,
        &[
            "admin",
            "create-key",
            "--developer",
            "ops@example.com",
            "--json",
        ],
    )
    .await;
    let key_id = key["id"].as_str().unwrap().to_string();
    let snap: aihub_contract::snapshot::Snapshot =
        app.signed_get(routes::SNAPSHOT).await.json().await.unwrap();
    assert_eq!(snap.keys.len(), 1);

    let pq = format!("{}?since={}&wait_ms=30000", routes::CHANGES, snap.version);
    let sig = signing::sign(SECRET.as_bytes(), common::unix_now(), "GET", &pq, b"");
    let request = app.client.get(app.url(&pq)).header(signing::HEADER, sig);
    let poll = tokio::spawn(async move {
        request
            .send()
            .await
            .unwrap()
            .json::<Changes>()
            .await
            .unwrap()
    });
    eventually(
        "the long poll to be waiting",
        Duration::from_secs(10),
        || async {
            (app.metric("aihub_cp_change_long_polls_open").await == Some(1.0)).then_some(())
        },
    )
    .await;

    run_json(&url, &["admin", "disable-key", &key_id, "--json"]).await;
    let got = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("a change written by another process must wake the long poll")
        .unwrap();
    assert_eq!(got.keys_remove, vec![key_id]);
    app.stop().await;
}

async fn account_limits_set_by_the_cli_reach_a_running_control_plane(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let url = app.database.url.clone();
    // Defaults from the business plan: 100 requests a minute, 1000 tokens a month.
    let plain = run_json(
        &url,
        &[
            "admin",
            "create-developer",
            "--email",
            "plain@example.com",
            "--name",
            "Plain",
            "--json",
        ],
    )
    .await;
    assert_eq!(plain["rate_limit"], 100);
    assert_eq!(plain["quota_limit"], 0);
    let dev = run_json(
        &url,
        &[
            "admin",
            "create-developer",
            "--email",
            "load@example.com",
            "--name",
            "Load",
            "--rate-limit",
            "100000000",
            "--quota-limit",
            "1000000000000",
            "--json",
        ],
    )
    .await;
    let dev_id = dev["id"].as_str().unwrap().to_string();
    assert_eq!(dev["rate_limit"], 100_000_000);
    assert_eq!(dev["quota_limit"], 1_000_000_000_000_i64);
    run_json(
        &url,
        &["admin", "create-key", "--developer", &dev_id, "--json"],
    )
    .await;
    let snap: aihub_contract::snapshot::Snapshot =
        app.signed_get(routes::SNAPSHOT).await.json().await.unwrap();
    assert_eq!(snap.developers.len(), 1);
    assert_eq!(snap.developers[0].requests_per_minute, Some(100_000_000));
    assert_eq!(
        snap.developers[0].token_quota_monthly,
        Some(1_000_000_000_000)
    );

    // set-limits: a developer upsert with the new numbers (0 = unlimited).
    let set = run_json(
        &url,
        &[
            "admin",
            "set-limits",
            "LOAD@example.com",
            "--rate-limit",
            "600",
            "--quota-limit",
            "0",
            "--json",
        ],
    )
    .await;
    assert_eq!(set["id"], dev_id.as_str());
    assert_eq!(set["rate_limit"], 600);
    assert_eq!(set["quota_limit"], 0);
    let pq = format!("{}?since={}&wait_ms=10000", routes::CHANGES, snap.version);
    let got: Changes = app.signed_get(&pq).await.json().await.unwrap();
    assert_eq!(got.developers_upsert.len(), 1, "{got:?}");
    assert_eq!(got.developers_upsert[0].id, dev_id);
    assert_eq!(got.developers_upsert[0].requests_per_minute, Some(600));
    assert_eq!(got.developers_upsert[0].token_quota_monthly, None);

    // Only one of them is fine; neither is a usage error; so is an unknown developer.
    let set = run_json(
        &url,
        &[
            "admin",
            "set-limits",
            &dev_id,
            "--quota-limit",
            "5000",
            "--json",
        ],
    )
    .await;
    assert_eq!(
        (set["rate_limit"].as_i64(), set["quota_limit"].as_i64()),
        (Some(600), Some(5000))
    );
    let neither = run(&url, &["admin", "set-limits", &dev_id]).await;
    assert_eq!(neither.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&neither.stderr).contains("--rate-limit"));
    let err = run_err(
        &url,
        &[
            "admin",
            "set-limits",
            "nobody@example.com",
            "--rate-limit",
            "1",
        ],
    )
    .await;
    assert!(err.contains("nobody@example.com"), "{err}");
    app.stop().await;
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_shared_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/a.db", dir.path().display());
    let out = aihub(&url, dir.path()).arg("serve").output().await.unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("internal.shared_secret: expected"), "{err}");
}

#[tokio::test]
async fn serve_refuses_to_start_without_a_token_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/a.db", dir.path().display());
    let out = aihub(&url, dir.path())
        .arg("serve")
        .env("AIHUB_INTERNAL__SHARED_SECRET", SECRET)
        .env_remove("AIHUB_AUTH__TOKEN_SECRET")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("auth.token_secret: expected"), "{err}");
    assert!(err.contains("AIHUB_AUTH__TOKEN_SECRET"), "{err}");
}

#[tokio::test]
async fn invalid_environment_configuration_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let out = aihub("mysql://x", dir.path())
        .args(["admin", "list-models"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("database.url: expected sqlite://… or postgres://…, got 'mysql://x'"),
        "{err}"
    );
}

#[tokio::test]
async fn serve_runs_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/a.db", dir.path().display());
    // A free port: bind, read it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = aihub(&url, dir.path())
        .arg("serve")
        .env("AIHUB_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("AIHUB_INTERNAL__SHARED_SECRET", SECRET)
        .env("AIHUB_AUTH__TOKEN_SECRET", TOKEN_SECRET)
        .env("AIHUB_LOG__FORMAT", "json")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{port}/readyz");
    eventually("the server to be ready", Duration::from_secs(30), || {
        let client = client.clone();
        let health = health.clone();
        async move {
            let resp = client.get(&health).send().await.ok()?;
            (resp.status() == 200).then_some(())
        }
    })
    .await;
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("serve must exit after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    // Logs were JSON lines, and the request was logged with its status.
    let mut stderr = String::new();
    use tokio::io::AsyncReadExt;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .await
        .unwrap();
    let request_line = stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["path"] == "/readyz" && v["status"] == 200);
    assert!(request_line.is_some(), "{stderr}");
    assert!(stderr.contains("control plane stopped"), "{stderr}");
}

/// The developer commands against a running control plane: login saves a
/// private session, whoami and keys use it (refreshing an expired access
/// token), errors exit with their own codes, logout ends the session.
#[tokio::test]
async fn developer_commands_against_a_running_ai_hub() {
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let (_, _) = common::hub::developer_session(&app, "cli@example.com", true).await;
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("aihub").join("credentials.json");
    let cli = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aihub"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AIHUB_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AIHUB_SERVER", &app.base)
            .env("AIHUB_CREDENTIALS", &credentials)
            .env("AIHUB_PASSWORD", common::hub::PASSWORD)
            .current_dir(dir.path())
            .args(args)
            .kill_on_drop(true);
        cmd
    };
    let run = |args: &'static [&'static str]| {
        let mut cmd = cli(args);
        async move { cmd.output().await.unwrap() }
    };
    let json_of = |out: &Output| -> Value {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // Not signed in yet.
    let out = run(&["whoami"]).await;
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("aihub login"));

    // A wrong password is refused with the API's message, and nothing is saved.
    let out = cli(&["login", "--email", "cli@example.com"])
        .env("AIHUB_PASSWORD", "not-the-password-1")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(!credentials.exists());

    let out = run(&["login", "--email", "cli@example.com"]).await;
    assert!(out.status.success(), "{out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&credentials)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the session is private");
    }

    let me = json_of(&run(&["--json", "whoami"]).await);
    assert_eq!(me["email"], "cli@example.com");

    let key = json_of(
        &run(&[
            "--json",
            "keys",
            "create",
            "from the cli",
            "--expires-in-days",
            "30",
        ])
        .await,
    );
    let id = key["id"].as_str().unwrap().to_string();
    assert!(
        key["secret"].as_str().unwrap().starts_with("ahub_"),
        "{key}"
    );
    assert_eq!(key["allowed_models"], Value::Null, "every model");
    assert!(key["expires_at_ms"].as_i64().is_some(), "{key}");

    // The table lists it, without its secret.
    let out = run(&["keys", "list"]).await;
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{out:?}");
    assert!(table.starts_with("ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("from the cli"),
        "{table}"
    );
    // A model that does not exist is refused by the API (400).
    let out = run(&["keys", "create", "x", "--model", "no-such-model"]).await;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-model"));
    assert!(!table.contains(key["secret"].as_str().unwrap()), "{table}");

    // Refusals: an invalid name (400) and an unknown key (404).
    let out = run(&["keys", "create", " "]).await;
    assert_eq!(out.status.code(), Some(5), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("name"));
    let out = run(&["keys", "delete", "key_nope"]).await;
    assert_eq!(out.status.code(), Some(4), "{out:?}");

    // An access token that no longer works is refreshed and the new pair saved.
    let mut saved: Value = serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    let old_refresh = saved["refresh_token"].clone();
    saved["access_token"] = serde_json::json!("expired-or-forged");
    std::fs::write(&credentials, serde_json::to_vec(&saved).unwrap()).unwrap();
    let me = json_of(&run(&["--json", "whoami"]).await);
    assert_eq!(me["email"], "cli@example.com");
    let saved: Value = serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_ne!(saved["access_token"], "expired-or-forged");
    assert_ne!(
        saved["refresh_token"], old_refresh,
        "refresh rotates the token"
    );

    let out = cli(&["keys", "delete"]).arg(&id).output().await.unwrap();
    assert!(out.status.success(), "{out:?}");
    let list = json_of(&run(&["--json", "keys", "list"]).await);
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");

    // Logout ends the session on the server too.
    let out = run(&["logout"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(!credentials.exists());
    let resp = app
        .client
        .post(app.url("/api/v1/developer/refresh"))
        .json(&serde_json::json!({"refresh_token": saved["refresh_token"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let out = run(&["whoami"]).await;
    assert_eq!(out.status.code(), Some(3));
}
