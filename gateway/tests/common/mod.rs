//! A whole AI Hub on free ports for end-to-end tests: the real control plane
//! (`aihub serve`), the real gateway (`aihub-gateway`), stand-in providers,
//! and the backend the run asks for (SQLite or PostgreSQL; usage through
//! the control plane or ClickHouse).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod hooks;

use aihub_contract::usage::UsageRow;
use aihub_testkit::procs::{bin_path, free_port, Proc};
use aihub_testkit::procs::{postgres_database_url, sqlite_url, unique_name, TestEnv};
use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};

/// Password of developers made by [`Stack::developer_session`].
pub const PASSWORD: &str = "session-test-pass-1";
pub const SECRET: &str = "test-shared-secret-0123456789-abcdefghijklmnop";
/// The key the control plane signs developers' access tokens with.
pub const TOKEN_SECRET: &str = "test-token-secret-0123456789-abcdefghijklmnop";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where usage rows land in this run.
pub enum UsageStore {
    /// The control plane's own table.
    Sql(sqlx::AnyPool),
    /// ClickHouse.
    ClickHouse { url: String, database: String },
}

pub struct Stack {
    pub env: TestEnv,
    pub dir: tempfile::TempDir,
    pub database_url: String,
    pub cp_port: u16,
    pub gw_port: u16,
    pub ops_port: u16,
    pub cp: Option<Proc>,
    pub gw: Option<Proc>,
    pub store: UsageStore,
    pub clickhouse: Option<(String, String)>,
    /// Points the gateway at another ClickHouse URL (e.g. one that is down).
    pub clickhouse_url_override: Option<String>,
    /// Extra `AIHUB_GW_*` variables for the gateway.
    pub gateway_env: Vec<(String, String)>,
    /// Redis for limits in this run (URL, key prefix), in the production setup.
    pub redis: Option<(String, String)>,
    /// Extra `AIHUB_*` variables for the control plane.
    pub cp_env: Vec<(String, String)>,
    pub client: reqwest::Client,
}

/// Runs `aihub` with the stack's database and returns its JSON output.
pub fn aihub_json(database_url: &str, args: &[&str]) -> Value {
    let out = Command::new(bin_path("aihub").unwrap())
        .arg("--json")
        .args(args)
        .env("AIHUB_DATABASE__URL", database_url)
        .env("AIHUB_INTERNAL__SHARED_SECRET", SECRET)
        .env("AIHUB_AUTH__TOKEN_SECRET", TOKEN_SECRET)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aihub {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "aihub {args:?} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn create_postgres_database(server: &str) -> String {
    let name = unique_name("gw_e2e");
    let out = Command::new("psql")
        .arg(server)
        .arg("-v")
        .arg("ON_ERROR_STOP=1")
        .arg("-c")
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("psql must be installed for the PostgreSQL setup");
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    postgres_database_url(server, &name)
}

impl Stack {
    /// Starts the control plane with a fresh database (the gateway comes later,
    /// once the catalog is set up).
    pub async fn start() -> Stack {
        Self::start_with(&[]).await
    }

    /// [`Stack::start`] with extra `AIHUB_*` variables for the control plane.
    pub async fn start_with(cp_env: &[(&str, &str)]) -> Stack {
        Self::start_in(TestEnv::from_env(), cp_env).await
    }

    /// [`Stack::start_with`] on a database of the PostgreSQL server at
    /// `server` (e.g. a private one the test stops), whatever the run uses.
    pub async fn start_on_postgres(server: &str, cp_env: &[(&str, &str)]) -> Stack {
        let mut env = TestEnv::from_env();
        env.database_url = Some(server.to_string());
        Self::start_in(env, cp_env).await
    }

    async fn start_in(env: TestEnv, cp_env: &[(&str, &str)]) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match &env.database_url {
            Some(server) => create_postgres_database(server),
            None => sqlite_url(dir.path()),
        };
        let mut clickhouse = None;
        if let Some(url) = &env.clickhouse_url {
            let db = unique_name("gw_usage");
            aihub_testkit::clickhouse::apply_schema(url, &db)
                .await
                .unwrap();
            clickhouse = Some((url.clone(), db));
        }
        let store = match &clickhouse {
            Some((url, database)) => UsageStore::ClickHouse {
                url: url.clone(),
                database: database.clone(),
            },
            None => {
                sqlx::any::install_default_drivers();
                UsageStore::Sql(
                    sqlx::any::AnyPoolOptions::new()
                        .max_connections(2)
                        .connect_lazy(&database_url)
                        .unwrap(),
                )
            }
        };
        let mut stack = Stack {
            env,
            dir,
            database_url,
            cp_port: free_port(),
            gw_port: free_port(),
            ops_port: free_port(),
            cp: None,
            gw: None,
            store,
            clickhouse,
            clickhouse_url_override: None,
            gateway_env: Vec::new(),
            cp_env: cp_env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            redis: aihub_testkit::procs::redis_url()
                .map(|u| (u, format!("{}:", unique_name("gw")))),
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
        };
        stack.start_control_plane().await;
        stack
    }

    pub async fn start_control_plane(&mut self) {
        let cp = self.spawn_control_plane(self.cp_port).await;
        self.cp = Some(cp);
    }

    /// Starts one more control plane on the same database (and ClickHouse),
    /// on its own port; returns it with its port.
    pub async fn start_extra_control_plane(&self) -> (Proc, u16) {
        let port = free_port();
        (self.spawn_control_plane(port).await, port)
    }

    async fn spawn_control_plane(&self, port: u16) -> Proc {
        let listen = format!("127.0.0.1:{port}");
        let mut envs = vec![
            ("AIHUB_DATABASE__URL", self.database_url.as_str()),
            ("AIHUB_SERVER__LISTEN", listen.as_str()),
            ("AIHUB_INTERNAL__SHARED_SECRET", SECRET),
            ("AIHUB_AUTH__TOKEN_SECRET", TOKEN_SECRET),
            ("AIHUB_LOG__LEVEL", "info"),
            // Tests about other things are not limited by money: usage is
            // charged and invoiced, never refused (billing tests choose a plan).
            ("AIHUB_BILLING__DEFAULT_PLAN", "enterprise"),
            // Batch items go through this stack's gateway, looked for often.
            ("AIHUB_BATCHES__POLL_MS", "50"),
        ];
        let batch_gateway = format!("http://127.0.0.1:{}", self.gw_port);
        envs.push(("AIHUB_BATCHES__GATEWAY_URL", batch_gateway.as_str()));
        // Mail (usage alerts, …) goes to files in the stack's folder.
        let outbox = self.dir.path().join("outbox").display().to_string();
        envs.push(("AIHUB_EMAIL__OUTBOX_DIR", outbox.as_str()));
        let clickhouse = self.clickhouse.clone();
        if let Some((url, db)) = &clickhouse {
            envs.push(("AIHUB_CLICKHOUSE__URL", url.as_str()));
            envs.push(("AIHUB_CLICKHOUSE__DATABASE", db.as_str()));
        }
        envs.extend(self.cp_env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let mut cp = Proc::bin("aihub", &["serve"], &envs).unwrap();
        cp.wait_http_ok(&format!("http://{listen}/readyz"), START_TIMEOUT)
            .await
            .unwrap();
        cp
    }

    /// Kills the control plane without warning (SIGKILL).
    pub fn kill_control_plane(&mut self) {
        if let Some(mut cp) = self.cp.take() {
            cp.kill();
        }
    }

    pub fn stop_control_plane(&mut self) {
        if let Some(mut cp) = self.cp.take() {
            cp.terminate(Duration::from_secs(10)).unwrap();
        }
    }

    /// Starts (or restarts) the gateway and waits until it has a configuration.
    pub async fn start_gateway(&mut self) {
        let gw = self
            .spawn_gateway("gw-test", self.gw_port, self.ops_port, self.cp_port, &[])
            .await;
        self.gw = Some(gw);
    }

    /// Starts one more gateway on the same control plane (its own ports,
    /// state and spool); `extra` are further `AIHUB_GW_*` variables.
    /// Returns it with its public port.
    pub async fn start_extra_gateway(&self, name: &str, extra: &[(&str, &str)]) -> (Proc, u16) {
        self.start_extra_gateway_on(name, self.cp_port, extra).await
    }

    /// [`Stack::start_extra_gateway`] following the control plane on `cp_port`.
    pub async fn start_extra_gateway_on(
        &self,
        name: &str,
        cp_port: u16,
        extra: &[(&str, &str)],
    ) -> (Proc, u16) {
        let (gw, port, _ops) = self
            .start_extra_gateway_with_ops(name, cp_port, extra)
            .await;
        (gw, port)
    }

    /// [`Stack::start_extra_gateway_on`], also returning the operations port.
    pub async fn start_extra_gateway_with_ops(
        &self,
        name: &str,
        cp_port: u16,
        extra: &[(&str, &str)],
    ) -> (Proc, u16, u16) {
        let (port, ops) = (free_port(), free_port());
        let gw = self.spawn_gateway(name, port, ops, cp_port, extra).await;
        (gw, port, ops)
    }

    async fn spawn_gateway(
        &self,
        name: &str,
        port: u16,
        ops_port: u16,
        cp_port: u16,
        extra: &[(&str, &str)],
    ) -> Proc {
        let listen = format!("127.0.0.1:{port}");
        let ops = format!("127.0.0.1:{ops_port}");
        let cp_url = format!("http://127.0.0.1:{cp_port}");
        let (state, spool) = if name == "gw-test" {
            (
                self.dir.path().join("gateway-state"),
                self.dir.path().join("spool"),
            )
        } else {
            (
                self.dir.path().join(format!("{name}-state")),
                self.dir.path().join(format!("{name}-spool")),
            )
        };
        let mut envs: Vec<(&str, String)> = vec![
            ("AIHUB_GW_SERVER__LISTEN", listen.clone()),
            ("AIHUB_GW_SERVER__OPS_LISTEN", ops.clone()),
            ("AIHUB_GW_SERVER__SHUTDOWN_GRACE_SECS", "1".into()),
            ("AIHUB_GW_SERVER__INSTANCE_ID", name.into()),
            ("AIHUB_GW_CONTROL_PLANE__URL", cp_url),
            ("AIHUB_GW_CONTROL_PLANE__SHARED_SECRET", SECRET.into()),
            (
                "AIHUB_GW_CONTROL_PLANE__STATE_DIR",
                state.display().to_string(),
            ),
            ("AIHUB_GW_SPOOL__DIR", spool.display().to_string()),
            ("AIHUB_GW_LOG__LEVEL", "info".into()),
        ];
        if let Some((url, db)) = &self.clickhouse {
            let url = self.clickhouse_url_override.clone().unwrap_or(url.clone());
            envs.push(("AIHUB_GW_CLICKHOUSE__URL", url));
            envs.push(("AIHUB_GW_CLICKHOUSE__DATABASE", db.clone()));
        }
        if let Some((url, prefix)) = &self.redis {
            envs.push(("AIHUB_GW_REDIS__URL", url.clone()));
            envs.push(("AIHUB_GW_REDIS__KEY_PREFIX", prefix.clone()));
        }
        let mut envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        envs.extend(
            self.gateway_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        // Later entries override earlier ones (Command::env).
        envs.extend_from_slice(extra);
        let mut gw = Proc::bin("aihub-gateway", &[], &envs).unwrap();
        gw.wait_http_ok(&format!("http://{ops}/readyz"), START_TIMEOUT)
            .await
            .unwrap();
        gw
    }

    pub fn gateway(&mut self) -> &mut Proc {
        self.gw.as_mut().expect("gateway not started")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.gw_port)
    }

    pub fn ops_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ops_port)
    }

    /// The gateway's Prometheus text.
    pub async fn metrics(&self) -> String {
        self.metrics_on(self.ops_port).await
    }

    /// The Prometheus text of the gateway whose operations listener is on
    /// `ops` (this stack's or an extra one's).
    pub async fn metrics_on(&self, ops: u16) -> String {
        self.client
            .get(format!("http://127.0.0.1:{ops}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn aihub(&self, args: &[&str]) -> Value {
        aihub_json(&self.database_url, args)
    }

    /// The environment `aihub` commands need to act on this stack's
    /// control plane (its database, and its ClickHouse when it has one).
    pub fn cli_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("AIHUB_DATABASE__URL".to_string(), self.database_url.clone()),
            (
                "AIHUB_INTERNAL__SHARED_SECRET".to_string(),
                SECRET.to_string(),
            ),
            (
                "AIHUB_AUTH__TOKEN_SECRET".to_string(),
                TOKEN_SECRET.to_string(),
            ),
        ];
        if let Some((url, db)) = &self.clickhouse {
            env.push(("AIHUB_CLICKHOUSE__URL".to_string(), url.clone()));
            env.push(("AIHUB_CLICKHOUSE__DATABASE".to_string(), db.clone()));
        }
        env
    }

    /// A developer with one key; returns (developer id, key id, secret).
    pub fn developer_with_key(&self, email: &str, extra: &[&str]) -> (String, String, String) {
        let dev = self.aihub(&[
            "admin",
            "create-developer",
            "--email",
            email,
            "--name",
            "Test Dev",
            // Generous account limits: tests of limits set their own.
            "--rate-limit",
            "100000",
            "--quota-limit",
            "1000000000",
        ]);
        let dev_id = dev["id"].as_str().unwrap().to_string();
        let mut args = vec!["admin", "create-key", "--developer", dev_id.as_str()];
        args.extend_from_slice(extra);
        let key = self.aihub(&args);
        (
            dev_id,
            key["id"].as_str().unwrap().to_string(),
            key["secret"].as_str().unwrap().to_string(),
        )
    }

    /// A developer who can log in (password [`PASSWORD`]), with one key
    /// issued by the admin CLI; `account` are extra `create-developer`
    /// flags. Logs in through the gateway on `port`. Returns (dev id, key
    /// id, secret, access token).
    pub async fn developer_session(
        &self,
        port: u16,
        email: &str,
        account: &[&str],
    ) -> (String, String, String, String) {
        let mut args = vec![
            "admin",
            "create-developer",
            "--email",
            email,
            "--name",
            "Session Dev",
            "--password",
            PASSWORD,
        ];
        args.extend_from_slice(account);
        let dev = self.aihub(&args);
        let dev_id = dev["id"].as_str().unwrap().to_string();
        let key = self.aihub(&["admin", "create-key", "--developer", &dev_id]);
        let login: Value = self
            .client
            .post(format!("http://127.0.0.1:{port}/api/v1/developer/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            dev_id,
            key["id"].as_str().unwrap().to_string(),
            key["secret"].as_str().unwrap().to_string(),
            login["access_token"]
                .as_str()
                .unwrap_or_else(|| panic!("login failed: {login}"))
                .to_string(),
        )
    }

    /// An operator (created with the admin CLI) logged in through the
    /// gateway on `port`; returns the access token.
    pub async fn operator_token(&self, port: u16, email: &str) -> String {
        self.aihub(&[
            "admin",
            "create-operator",
            "--email",
            email,
            "--password",
            PASSWORD,
        ]);
        let login: Value = self
            .client
            .post(format!("http://127.0.0.1:{port}/api/v1/developer/login"))
            .json(&serde_json::json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("login failed: {login}"))
            .to_string()
    }

    pub fn add_provider(&self, name: &str, kind: &str, base_url: &str, api_key: &str) -> String {
        let p = self.aihub(&[
            "admin",
            "add-provider",
            "--name",
            name,
            "--kind",
            kind,
            "--base-url",
            base_url,
            "--api-key",
            api_key,
        ]);
        p["id"].as_str().unwrap().to_string()
    }

    /// Adds a deployment of `model` on `provider`; returns its id.
    pub fn add_model(&self, model: &str, provider: &str, extra: &[&str]) -> String {
        let mut args = vec![
            "admin",
            "add-model",
            "--name",
            model,
            "--provider",
            provider,
        ];
        args.extend_from_slice(extra);
        let m = self.aihub(&args);
        m["deployment_id"].as_str().unwrap().to_string()
    }

    /// Every usage row stored so far.
    pub async fn usage_rows(&self) -> Vec<UsageRow> {
        match &self.store {
            UsageStore::Sql(pool) => sql_rows(pool).await,
            UsageStore::ClickHouse { url, database } => clickhouse_rows(url, database).await,
        }
    }

    /// Waits until every request of `ids` has its usage row, checks each has
    /// exactly one, and returns all rows stored.
    pub async fn wait_rows_of(&self, ids: &[String]) -> Vec<UsageRow> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let rows = loop {
            let rows = self.usage_rows().await;
            let missing = ids
                .iter()
                .filter(|id| !rows.iter().any(|r| &r.request_id == *id))
                .count();
            if missing == 0 {
                break rows;
            }
            assert!(
                Instant::now() < deadline,
                "{missing} of {} answered requests have no usage row\n--- gateway log ---\n{}",
                ids.len(),
                self.gw.as_ref().map(|g| g.log_tail(40)).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for id in ids {
            assert_eq!(
                rows.iter().filter(|r| &r.request_id == id).count(),
                1,
                "usage rows of {id}"
            );
        }
        rows
    }

    /// Waits until `aihub admin billing reconcile` agrees for this month
    /// (every row charged once, ledger and totals equal) and, with
    /// `min_rows`, covers at least that many usage rows; returns its report.
    pub async fn reconciled(&self, min_rows: Option<i64>) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new(bin_path("aihub").unwrap())
                .args(["--json", "admin", "billing", "reconcile"])
                .envs(self.cli_env())
                .output()
                .unwrap();
            let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            if out.status.success()
                && report["ok"] == true
                && min_rows.is_none_or(|n| report["usage_rows"].as_i64() >= Some(n))
            {
                return report;
            }
            assert!(
                Instant::now() < deadline,
                "reconciliation never agreed: {report} {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `n` rows are stored (and no more), then returns them.
    pub async fn wait_usage_rows(&self, n: usize) -> Vec<UsageRow> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = self.usage_rows().await;
            if rows.len() >= n || Instant::now() > deadline {
                assert_eq!(
                    rows.len(),
                    n,
                    "expected {n} usage rows, found {}: {rows:#?}\n--- gateway log ---\n{}",
                    rows.len(),
                    self.gw.as_ref().map(|g| g.log_tail(40)).unwrap_or_default()
                );
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The usage row of one request.
    pub async fn wait_usage_row(&self, request_id: &str) -> UsageRow {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(r) = self
                .usage_rows()
                .await
                .into_iter()
                .find(|r| r.request_id == request_id)
            {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no usage row for {request_id}\n--- gateway log ---\n{}",
                self.gw.as_ref().map(|g| g.log_tail(40)).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// POSTs JSON to the gateway with a key.
    /// Sends the chat request `body` with `key` to the gateway on `port`
    /// until it answers `status` (configuration changes reach gateways
    /// through the change stream within a second); returns that answer.
    pub async fn wait_for_status(
        &self,
        port: u16,
        key: &str,
        body: &Value,
        status: u16,
    ) -> reqwest::Response {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let resp = self
                .client
                .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
                .bearer_auth(key)
                .json(body)
                .send()
                .await
                .unwrap();
            if resp.status() == status {
                return resp;
            }
            assert!(
                Instant::now() < deadline,
                "never answered {status} (last {}: {})",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn post(&self, path: &str, key: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

const COLUMNS: &str = "request_id, ts_ms, developer_id, key_id, endpoint, method, model, deployment_id, provider_id, prompt_tokens, completion_tokens, cached_tokens, reasoning_tokens, cost_nanos, latency_ms, ttft_ms, status, stream, attempts, ip, user_agent, error, gateway_id, batch_id";

async fn sql_rows(pool: &sqlx::AnyPool) -> Vec<UsageRow> {
    use sqlx::Row;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM usage_records ORDER BY ts_ms"
    ))
    .fetch_all(pool)
    .await
    .unwrap();
    rows.iter()
        .map(|r| UsageRow {
            request_id: r.get(0),
            ts_ms: r.get(1),
            developer_id: r.get(2),
            key_id: r.get(3),
            endpoint: r.get(4),
            method: r.get(5),
            model: r.get(6),
            deployment_id: r.get(7),
            provider_id: r.get(8),
            prompt_tokens: r.get::<i64, _>(9) as u64,
            completion_tokens: r.get::<i64, _>(10) as u64,
            cached_tokens: r.get::<i64, _>(11) as u64,
            reasoning_tokens: r.get::<i64, _>(12) as u64,
            cost_nanos: r.get(13),
            latency_ms: r.get::<i64, _>(14) as u32,
            ttft_ms: r.get::<Option<i64>, _>(15).map(|v| v as u32),
            status: r.get::<i64, _>(16) as u16,
            // SQLite keeps the flag as an integer, PostgreSQL as a boolean.
            stream: r
                .try_get::<bool, _>(17)
                .unwrap_or_else(|_| r.get::<i64, _>(17) != 0),
            attempts: r.get::<i64, _>(18) as u8,
            ip: r.get(19),
            user_agent: r.get(20),
            error: r.get(21),
            gateway_id: r.get(22),
            batch_id: r.get(23),
        })
        .collect()
}

async fn clickhouse_rows(url: &str, database: &str) -> Vec<UsageRow> {
    let text = aihub_testkit::clickhouse::query(
        url,
        &format!(
            "SELECT {COLUMNS} FROM {database}.usage_records FINAL ORDER BY ts_ms FORMAT TabSeparated"
        ),
    )
    .await
    .unwrap();
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            let n = |i: usize| f[i].parse::<i64>().unwrap();
            UsageRow {
                request_id: f[0].into(),
                ts_ms: n(1),
                developer_id: f[2].into(),
                key_id: f[3].into(),
                endpoint: f[4].into(),
                method: f[5].into(),
                model: f[6].into(),
                deployment_id: f[7].into(),
                provider_id: f[8].into(),
                prompt_tokens: n(9) as u64,
                completion_tokens: n(10) as u64,
                cached_tokens: n(11) as u64,
                reasoning_tokens: n(12) as u64,
                cost_nanos: n(13),
                latency_ms: n(14) as u32,
                ttft_ms: (f[15] != "\\N").then(|| n(15) as u32),
                status: n(16) as u16,
                stream: f[17] == "1",
                attempts: n(18) as u8,
                ip: f[19].into(),
                user_agent: f[20].into(),
                error: f[21].into(),
                gateway_id: f[22].into(),
                batch_id: f[23].into(),
            }
        })
        .collect()
}

/// Reads an SSE body into its `data:` payloads.
/// The value of the unlabelled sample `name` in Prometheus text; 0 when the
/// metric has no sample yet.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

pub fn sse_data(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter_map(|e| {
            e.lines()
                .find_map(|l| l.strip_prefix("data: ").map(str::to_string))
        })
        .collect()
}

// ---------------------------------------------------------------- rate-limit bursts

/// Fires `n` requests at once, spread over `ports`; returns the answers
/// and how long the burst took.
pub async fn burst(
    s: &Stack,
    ports: &[u16],
    key: &str,
    n: usize,
) -> (Vec<reqwest::Response>, Duration) {
    let t0 = Instant::now();
    let sends = (0..n).map(|i| {
        let url = format!(
            "http://127.0.0.1:{}/v1/chat/completions",
            ports[i % ports.len()]
        );
        s.client
            .post(url)
            .bearer_auth(key)
            .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}))
            .send()
    });
    let resps = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    (resps, t0.elapsed())
}

/// Waits until the gateway on `port` enforces `limit` requests/min for
/// `key`: the first answer carrying it has used one request of it.
pub async fn prime(s: &Stack, port: u16, key: &str, limit: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = s
            .client
            .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}))
            .send()
            .await
            .unwrap();
        let header = r.headers().get("x-ratelimit-limit-requests").cloned();
        if r.status() == 200 && header.is_some_and(|h| h == limit.to_string().as_str()) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "gateway {port} never enforced the limit"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A limit of N per minute lets N through at once, plus one more every 60/N s.
pub fn tolerance(limit: usize, elapsed: Duration) -> usize {
    (elapsed.as_secs_f64() * limit as f64 / 60.0).ceil() as usize
}

/// `already` requests of the limit were used by [`prime`].
pub fn check_burst(resps: &[reqwest::Response], elapsed: Duration, limit: usize, already: usize) {
    let ok = resps.iter().filter(|r| r.status() == 200).count() + already;
    let limited = resps.iter().filter(|r| r.status() == 429).count();
    assert_eq!(
        ok - already + limited,
        resps.len(),
        "only 200s and 429s expected"
    );
    let most = limit + tolerance(limit, elapsed);
    assert!(
        (limit..=most).contains(&ok),
        "{ok} of {} let through with a limit of {limit} (allowed {limit}..={most})",
        resps.len() + already
    );
    let refused = resps
        .iter()
        .find(|r| r.status() == 429)
        .expect("some refused");
    let h = refused.headers();
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "retry-after {retry}");
    assert_eq!(h["x-ratelimit-limit-requests"], limit.to_string().as_str());
    assert_eq!(h["x-ratelimit-remaining-requests"], "0");
    assert!(h.get("x-ratelimit-reset-requests").is_some());
    let passed = resps
        .iter()
        .find(|r| r.status() == 200)
        .expect("some passed");
    assert_eq!(
        passed.headers()["x-ratelimit-limit-requests"],
        limit.to_string().as_str()
    );
}
