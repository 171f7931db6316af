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

// ------------------------------------------------- the developer CLI, all of it

/// The whole AI Hub of the gateway's end-to-end tests (control plane and
/// gateway processes, stand-in provider), reused as it is.
#[path = "../../gateway/tests/common/mod.rs"]
mod stack;

/// A developer at a terminal: the `aihub` binary with a clean `AIHUB_*`
/// environment, a server, a private credentials file and a working folder.
struct Dev {
    server: String,
    password: String,
    api_key: Option<String>,
    dir: tempfile::TempDir,
}

impl Dev {
    fn new(server: &str, password: &str) -> Dev {
        Dev {
            server: server.to_string(),
            password: password.to_string(),
            api_key: None,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aihub"));
        for (k, _) in std::env::vars() {
            if k.starts_with("AIHUB_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AIHUB_SERVER", &self.server)
            .env("AIHUB_CREDENTIALS", self.path("credentials.json"))
            .env("AIHUB_PASSWORD", &self.password)
            .current_dir(self.dir.path())
            .args(args)
            .kill_on_drop(true);
        if let Some(k) = &self.api_key {
            cmd.env("AIHUB_API_KEY", k);
        }
        cmd
    }

    async fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().await.unwrap()
    }

    /// A command that must succeed; its stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "aihub {args:?} failed ({:?}): {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `--json` + a command that must succeed with one JSON line.
    async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let text = self.ok(&all).await;
        assert_eq!(text.trim().lines().count(), 1, "one JSON line: {text}");
        serde_json::from_str(text.trim()).unwrap()
    }

    /// A command that must fail with `code`; its stderr.
    async fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args).await;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(code), "aihub {args:?}: {err}");
        assert!(out.stdout.is_empty(), "nothing on stdout on failure");
        if code != 2 {
            // clap explains a bad command line at length; the API's
            // refusals are one line.
            assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
        }
        err
    }
}

/// `aihub events tail` running in the background, once it is listening.
struct Tail(tokio::process::Child);

impl Tail {
    async fn start(dev: &Dev, args: &[&str]) -> Tail {
        use tokio::io::{AsyncBufReadExt, BufReader};
        let mut child = dev
            .cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("listening for events") {
                    return;
                }
            }
            panic!("events tail ended before listening");
        })
        .await
        .expect("events tail must start listening");
        Tail(child)
    }

    /// Waits for it to exit by itself; its stdout lines as JSON.
    async fn events(self) -> Vec<Value> {
        let out = tokio::time::timeout(Duration::from_secs(30), self.0.wait_with_output())
            .await
            .expect("events tail must stop after --count events")
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A local webhook receiver answering 200.
async fn webhook_receiver() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().route("/hook", axum::routing::post(|| async { "ok" }));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/hook")
}

/// Keys, usage, billing, invoices, webhooks, tasks and the live event
/// stream against a running control plane.
#[tokio::test]
async fn developer_command_groups_against_a_running_control_plane() {
    use figment::providers::Serialized;
    let Some(app) = common::spawn_app_with(Backend::Sqlite, |f| {
        f.merge(Serialized::default("webhooks.allow_private_networks", true))
    })
    .await
    else {
        return;
    };
    let (dev_id, _) = common::hub::developer_session(&app, "tools@example.com", true).await;
    let dev = Dev::new(&app.base, common::hub::PASSWORD);
    dev.ok(&["login", "--email", "tools@example.com"]).await;

    // The live stream sees the key events as they happen.
    let tail = Tail::start(
        &dev,
        &[
            "--json",
            "events",
            "tail",
            "--type",
            "api_key.*",
            "--count",
            "3",
        ],
    )
    .await;

    // keys create / update / regenerate.
    let key = dev.json(&["keys", "create", "ci"]).await;
    let id = key["id"].as_str().unwrap().to_string();
    let old_secret = key["secret"].as_str().unwrap().to_string();
    let k = dev
        .json(&[
            "keys",
            "update",
            &id,
            "--name",
            "ci-2",
            "--disable",
            "--rpm",
            "60",
        ])
        .await;
    assert_eq!(k["name"], "ci-2");
    assert_eq!(k["enabled"], false);
    assert_eq!(k["limits"]["requests_per_minute"], 60);
    // One limit changed at a time: the others stay.
    let k = dev
        .json(&[
            "keys",
            "update",
            &id,
            "--tpm",
            "1000",
            "--budget-monthly",
            "25",
        ])
        .await;
    assert_eq!(k["limits"]["requests_per_minute"], 60, "{k}");
    assert_eq!(k["limits"]["tokens_per_minute"], 1000, "{k}");
    assert_eq!(k["limits"]["budget_monthly"], "25.00", "{k}");
    let k = dev
        .json(&["keys", "update", &id, "--rpm", "none", "--enable"])
        .await;
    assert_eq!(k["limits"]["requests_per_minute"], Value::Null, "{k}");
    assert_eq!(k["limits"]["tokens_per_minute"], 1000, "{k}");
    assert_eq!(k["enabled"], true);
    let text = dev.ok(&["keys", "update", &id, "--no-limits"]).await;
    assert!(text.contains(&id) && text.contains("ci-2"), "{text}");
    // Nothing to change, a bad value, an unknown key.
    assert!(dev
        .fails(5, &["keys", "update", &id])
        .await
        .contains("nothing to change"));
    dev.fails(2, &["keys", "update", &id, "--rpm", "lots"])
        .await;
    dev.fails(4, &["keys", "update", "key_nope", "--name", "x"])
        .await;
    dev.fails(4, &["keys", "update", "key_nope", "--rpm", "1"])
        .await;

    let text = dev.ok(&["keys", "regenerate", &id]).await;
    assert!(text.contains("not shown again"), "{text}");
    let new_secret = text
        .split_whitespace()
        .find(|w| w.starts_with("ahub_"))
        .unwrap()
        .to_string();
    assert_ne!(new_secret, old_secret);
    dev.fails(4, &["keys", "regenerate", "key_nope"]).await;

    let events = tail.events().await;
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["api_key.created", "api_key.updated", "api_key.updated"],
        "{events:?}"
    );
    assert!(events
        .iter()
        .all(|e| e["id"].as_str().unwrap().starts_with("evt_")));

    // Resuming after an event replays what came after it.
    let tail = Tail::start(
        &dev,
        &[
            "--json",
            "events",
            "tail",
            "--after",
            events[2]["id"].as_str().unwrap(),
            "--count",
            "1",
            "--type",
            "api_key.regenerated",
        ],
    )
    .await;
    let replayed = tail.events().await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(replayed[0]["type"], "api_key.regenerated");

    // usage: periods, groups, CSV.
    let usage = dev.json(&["usage", "--period", "7d", "--by", "day"]).await;
    let to = chrono::NaiveDate::parse_from_str(usage["period"]["to"].as_str().unwrap(), "%Y-%m-%d")
        .unwrap();
    let from =
        chrono::NaiveDate::parse_from_str(usage["period"]["from"].as_str().unwrap(), "%Y-%m-%d")
            .unwrap();
    assert_eq!((to - from).num_days(), 6, "{usage}");
    assert_eq!(usage["group_by"], "day");
    let usage = dev
        .json(&[
            "usage",
            "--from",
            "2026-01-01",
            "--to",
            "2026-01-31",
            "--by",
            "key",
        ])
        .await;
    assert_eq!(usage["period"]["from"], "2026-01-01");
    assert_eq!(usage["period"]["to"], "2026-01-31");
    let csv = dev.ok(&["usage", "--csv", "--by", "model"]).await;
    assert_eq!(
        csv.lines().next(),
        Some("model,requests,prompt_tokens,completion_tokens,tokens,cost,errors,avg_latency_ms")
    );
    let table = dev.ok(&["usage"]).await;
    assert!(
        table.contains("TOTAL") && table.contains("REQUESTS"),
        "{table}"
    );
    dev.fails(2, &["usage", "--period", "7d", "--from", "2026-01-01"])
        .await;
    dev.fails(2, &["usage", "--period", "fortnight"]).await;
    dev.fails(5, &["usage", "--from", "2026-03-01", "--to", "2026-01-01"])
        .await;
    let export = dev
        .json(&[
            "usage",
            "--export",
            "-o",
            "usage.csv",
            "--period",
            "this-month",
        ])
        .await;
    assert_eq!(export["rows"], 0, "{export}");
    assert!(std::fs::read_to_string(dev.path("usage.csv"))
        .unwrap()
        .contains(','));

    // billing and invoices.
    let billing = dev.json(&["billing"]).await;
    assert!(billing["plan"]["id"].is_string(), "{billing}");
    let text = dev.ok(&["billing"]).await;
    assert!(text.contains("Plan") && text.contains("Credit"), "{text}");
    assert_eq!(dev.json(&["invoices"]).await["data"], serde_json::json!([]));
    // On the Developer plan (29.00 a month) since long ago; last month closed.
    sqlx::query("UPDATE subscriptions SET plan_id = 'developer' WHERE developer_id = $1")
        .bind(&dev_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE plan_changes SET plan_id = 'developer', price_nanos = 29000000000, effective_at = 0 WHERE developer_id = $1",
    )
    .bind(&dev_id)
    .execute(app.db.pool())
    .await
    .unwrap();
    run_json(
        &app.database.url,
        &["admin", "billing", "close-month", "--json"],
    )
    .await;
    let invoices = dev.json(&["invoices"]).await;
    let inv = &invoices["data"][0];
    let inv_id = inv["id"].as_str().unwrap().to_string();
    assert_eq!(inv["total"], "29.00", "{invoices}");
    let list = dev.ok(&["invoices", "list"]).await;
    assert!(
        list.starts_with("ID") && list.contains(&inv_id) && list.contains("29.00"),
        "{list}"
    );
    let shown = dev.ok(&["invoices", "show", &inv_id]).await;
    assert!(
        shown.contains("subscription") && shown.contains("29.00"),
        "{shown}"
    );
    let saved = dev.json(&["invoices", "download", &inv_id]).await;
    let html = std::fs::read_to_string(dev.path(&format!("{inv_id}.html"))).unwrap();
    assert_eq!(saved["bytes"], html.len());
    assert!(html.contains("<html") && html.contains("29.00"), "{html}");
    dev.fails(4, &["invoices", "show", "inv_nope"]).await;
    dev.fails(4, &["invoices", "download", "inv_nope"]).await;

    // webhooks.
    let hook_url = webhook_receiver().await;
    let hook = dev
        .json(&[
            "webhooks",
            "create",
            &hook_url,
            "--events",
            "webhook.test,task.completed",
            "--description",
            "from the cli",
        ])
        .await;
    let hook_id = hook["id"].as_str().unwrap().to_string();
    assert!(
        hook["secret"].as_str().unwrap().starts_with("whsec_"),
        "{hook}"
    );
    assert_eq!(
        hook["event_types"],
        serde_json::json!(["webhook.test", "task.completed"])
    );
    let list = dev.ok(&["webhooks", "list"]).await;
    assert!(
        list.contains(&hook_id) && list.contains(&hook_url),
        "{list}"
    );
    let test = dev.json(&["webhooks", "test", &hook_id]).await;
    assert_eq!(test["attempt"]["status_code"], 200, "{test}");
    let text = dev.ok(&["webhooks", "test", &hook_id]).await;
    assert!(text.contains("HTTP 200"), "{text}");
    let deliveries = dev.json(&["webhooks", "deliveries", &hook_id]).await;
    let delivered = deliveries["data"].as_array().unwrap();
    assert_eq!(delivered.len(), 2, "{deliveries}");
    assert!(delivered.iter().all(|d| d["event_type"] == "webhook.test"));
    dev.fails(5, &["webhooks", "create", "ftp://example.com/x"])
        .await;
    dev.fails(4, &["webhooks", "deliveries", "we_nope"]).await;

    // tasks: an export runs to completion and downloads.
    let task = dev
        .json(&[
            "tasks",
            "create",
            "export",
            "--wait",
            "--poll-interval",
            "100ms",
        ])
        .await;
    let task_id = task["id"].as_str().unwrap().to_string();
    assert_eq!(task["status"], "completed", "{task}");
    let saved = dev
        .json(&[
            "tasks",
            "results",
            &task_id,
            "--download",
            "-o",
            "export.csv",
        ])
        .await;
    assert_eq!(saved["task"], task_id.as_str());
    let csv = std::fs::read_to_string(dev.path("export.csv")).unwrap();
    assert!(csv.lines().next().unwrap().contains(','), "{csv}");
    let list = dev.json(&["tasks", "list", "--status", "completed"]).await;
    assert_eq!(list["data"][0]["id"], task_id.as_str(), "{list}");
    let status = dev.ok(&["tasks", "status", &task_id]).await;
    assert!(
        status.contains("completed") && status.contains("data_export"),
        "{status}"
    );
    // The webhook endpoint got the task's completion.
    let (d_ref, hook_ref) = (&dev, hook_id.as_str());
    common::eventually(
        "the task.completed delivery",
        Duration::from_secs(30),
        || async move {
            let d = d_ref
                .json(&[
                    "webhooks",
                    "deliveries",
                    hook_ref,
                    "--event-type",
                    "task.completed",
                ])
                .await;
            (d["data"].as_array().unwrap().len() == 1).then_some(())
        },
    )
    .await;
    // A generation task (no gateway here: it cannot finish) is cancelled;
    // waiting for it then exits 6.
    let gen = dev
        .json(&[
            "tasks",
            "create",
            "generate",
            "--model",
            "gpt-4o-mini",
            "--prompt",
            "hi",
            "--prompt",
            "there",
        ])
        .await;
    let gen_id = gen["id"].as_str().unwrap().to_string();
    assert_eq!(gen["type"], "batch_generate", "{gen}");
    assert_eq!(gen["input"]["prompts"], serde_json::json!(["hi", "there"]));
    let cancelled = dev.json(&["tasks", "cancel", &gen_id]).await;
    // Cancelled at once, or still running while items a worker already
    // took finish (on PostgreSQL the worker is quick to take them); either
    // way it ends cancelled, which the wait below checks.
    assert!(
        ["cancelled", "running", "pending"].contains(&cancelled["status"].as_str().unwrap_or("")),
        "{cancelled}"
    );
    // The final state goes to stdout, the reason for the exit code to stderr.
    let out = dev
        .run(&[
            "--json",
            "tasks",
            "status",
            &gen_id,
            "--wait",
            "--poll-interval",
            "100ms",
        ])
        .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let ended: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ended["status"], "cancelled");
    assert!(String::from_utf8_lossy(&out.stderr).contains("ended cancelled"));
    dev.fails(4, &["tasks", "status", "task_nope"]).await;
    dev.fails(4, &["tasks", "cancel", "task_nope"]).await;
    assert!(dev
        .fails(5, &["tasks", "create", "generate", "--model", "m"])
        .await
        .contains("no prompts"));

    // Not signed in: every group says so with exit code 3.
    dev.ok(&["logout"]).await;
    for args in [
        &["usage"][..],
        &["billing"],
        &["invoices"],
        &["tasks", "list"],
        &["webhooks", "list"],
        &["events", "tail"],
        &["keys", "regenerate", "key_x"],
    ] {
        let err = dev.fails(3, args).await;
        assert!(err.contains("aihub login"), "{args:?}: {err}");
    }
    app.stop().await;
}

/// `aihub completions SHELL` prints a script for that shell.
#[tokio::test]
async fn completions_for_every_shell() {
    let dev = Dev::new("http://127.0.0.1:9", "unused");
    for (shell, marker) in [
        ("bash", "complete -F _aihub"),
        ("zsh", "#compdef aihub"),
        ("fish", "complete -c aihub"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = dev.ok(&["completions", shell]).await;
        assert!(script.contains(marker), "{shell}: {script}");
        for sub in ["batch", "webhooks", "events", "usage"] {
            assert!(script.contains(sub), "{shell} completes {sub}");
        }
    }
    dev.fails(2, &["completions", "cmd.exe"]).await;
}

/// A JSONL batch input: `n` chat requests, then one for a model that does
/// not exist.
fn batch_input(n: usize, delay_ms: u32) -> String {
    let mut lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({"custom_id": format!("req-{i}"), "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "gpt-4o-mini", "max_tokens": 3, "messages": [{"role": "user",
                    "content": format!("item {i} [[stub words=3 delay_ms={delay_ms}]]")}]}})
            .to_string()
        })
        .collect();
    lines.push(
        serde_json::json!({"custom_id": "bad-model", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]}})
        .to_string(),
    );
    lines.join("\n") + "\n"
}

/// Batches (with an API key), tasks and usage through the real gateway
/// and a stand-in provider.
#[tokio::test]
async fn batches_tasks_and_usage_through_the_gateway() {
    let up =
        aihub_testkit::StubUpstream::start(aihub_testkit::StubConfig::named("primary")).unwrap();
    let mut s = stack::Stack::start().await;
    s.add_provider("primary", "openai", &up.base_url(), "k");
    s.add_model("gpt-4o-mini", "primary", &[]);
    s.start_gateway().await;
    let gateway = s.url("");
    let (_, _, secret, _) = s
        .developer_session(s.gw_port, "batcher@example.com", &[])
        .await;
    let mut dev = Dev::new(gateway.trim_end_matches('/'), stack::PASSWORD);

    // Without a key the batch commands say how to give one.
    let err = dev.fails(3, &["batch", "list"]).await;
    assert!(err.contains("AIHUB_API_KEY"), "{err}");
    dev.api_key = Some(secret.clone());

    std::fs::write(dev.path("requests.jsonl"), batch_input(5, 0)).unwrap();
    let done = dev
        .json(&[
            "batch",
            "submit",
            "requests.jsonl",
            "--wait",
            "--poll-interval",
            "100ms",
            "--metadata",
            "job=cli-test",
        ])
        .await;
    let id = done["id"].as_str().unwrap().to_string();
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["endpoint"], "/v1/chat/completions");
    assert_eq!(done["metadata"]["job"], "cli-test");
    assert_eq!(
        done["request_counts"],
        serde_json::json!({"total": 6, "completed": 5, "failed": 1})
    );

    // Download: results in input order, the failed request beside them.
    let saved = dev
        .json(&["batch", "download", &id, "-o", "results.jsonl"])
        .await;
    assert_eq!(saved["output_lines"], 5, "{saved}");
    assert_eq!(saved["error_lines"], 1, "{saved}");
    let results = std::fs::read_to_string(dev.path("results.jsonl")).unwrap();
    let ids: Vec<String> = results
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            assert_eq!(v["response"]["status_code"], 200, "{v}");
            v["custom_id"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(ids, (0..5).map(|i| format!("req-{i}")).collect::<Vec<_>>());
    let errors = std::fs::read_to_string(dev.path("results.errors.jsonl")).unwrap();
    let failed: Value = serde_json::from_str(errors.trim()).unwrap();
    assert_eq!(failed["custom_id"], "bad-model");
    assert_eq!(failed["response"]["status_code"], 404);
    // To stdout: both files' lines.
    let both = dev.ok(&["batch", "download", &id]).await;
    assert_eq!(both.lines().count(), 6);

    let status = dev.ok(&["batch", "status", &id]).await;
    assert!(
        status.contains("completed") && status.contains("5 completed, 1 failed"),
        "{status}"
    );
    let list = dev.json(&["batch", "list"]).await;
    assert_eq!(list["data"][0]["id"], id.as_str(), "{list}");
    assert!(dev.ok(&["batch", "list"]).await.contains(&id));

    // A refused input file: the batch fails, and --wait says so (exit 6).
    std::fs::write(
        dev.path("bad.jsonl"),
        "{\"custom_id\": \"a\", \"method\": \"POST\", \"url\": \"/v1/chat/completions\", \"body\": {\"model\": \"gpt-4o-mini\"}}\nnot json\n",
    )
    .unwrap();
    let out = dev
        .run(&[
            "batch",
            "submit",
            "bad.jsonl",
            "--wait",
            "--poll-interval",
            "100ms",
        ])
        .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("failed") && text.contains("invalid_json"),
        "{text}"
    );

    // Cancel a slow batch; waiting for it then ends in exit code 6 too.
    std::fs::write(dev.path("slow.jsonl"), batch_input(40, 3000)).unwrap();
    let slow = dev.json(&["batch", "submit", "slow.jsonl"]).await;
    let slow_id = slow["id"].as_str().unwrap().to_string();
    assert_eq!(slow["status"], "in_progress");
    let cancelled = dev.json(&["batch", "cancel", &slow_id]).await;
    assert!(
        ["cancelling", "cancelled"].contains(&cancelled["status"].as_str().unwrap()),
        "{cancelled}"
    );
    let out = dev
        .run(&[
            "batch",
            "status",
            &slow_id,
            "--wait",
            "--poll-interval",
            "100ms",
            "--json",
        ])
        .await;
    assert_eq!(out.status.code(), Some(6), "{out:?}");
    let ended: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ended["status"], "cancelled");
    dev.fails(4, &["batch", "status", "batch_nope"]).await;

    // Tasks through the same machinery.
    dev.ok(&["login", "--email", "batcher@example.com"]).await;
    std::fs::write(dev.path("prompts.txt"), "first\n\nsecond\n").unwrap();
    let task = dev
        .json(&[
            "tasks",
            "create",
            "generate",
            "--model",
            "gpt-4o-mini",
            "--prompts-file",
            "prompts.txt",
            "--max-tokens",
            "5",
            "--wait",
            "--poll-interval",
            "100ms",
        ])
        .await;
    assert_eq!(task["status"], "completed", "{task}");
    let task_id = task["id"].as_str().unwrap();
    let results = dev.json(&["tasks", "results", task_id]).await;
    let items = results["data"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{results}");
    assert!(
        items
            .iter()
            .all(|i| i["status"] == "succeeded"
                && i["output"].as_str().is_some_and(|o| !o.is_empty()))
    );
    let table = dev.ok(&["tasks", "results", task_id, "--limit", "1"]).await;
    assert_eq!(table.lines().count(), 2, "a header and one item: {table}");

    // The usage of all this, as CSV, once the gateway has reported it.
    let d_ref = &dev;
    let row = common::eventually(
        "usage of the batch",
        Duration::from_secs(60),
        || async move {
            let csv = d_ref.ok(&["usage", "--csv", "--by", "model"]).await;
            let mut reader = csv::Reader::from_reader(csv.as_bytes());
            let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
            rows.into_iter()
                .find(|r| &r[0] == "gpt-4o-mini" && r[1].parse::<i64>().unwrap() >= 5 + 2)
        },
    )
    .await;
    assert!(row[4].parse::<i64>().unwrap() > 0, "tokens: {row:?}");
    drop(up);
    s.stop_control_plane();
}
