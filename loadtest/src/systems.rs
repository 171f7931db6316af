//! The systems under test, each started on free ports and stopped on drop:
//! the stand-in provider, AI Hub (control plane + gateway), a bare nginx
//! reverse-proxy hop, and LiteLLM's proxy.

use aihub_testkit::procs::{bin_path, free_port, Proc};
use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const START: Duration = Duration::from_secs(60);
const LITELLM_KEY: &str = "sk-loadtest-7f3a9c2e5b1d4f6a8c0e2b4d6f8a1c3e";
/// The internal API's shared secret of the systems started here.
pub const SECRET: &str = "loadtest-shared-secret-0123456789abcdefghijkl";
const TOKEN_SECRET: &str = "loadtest-token-secret-0123456789abcdefghijklm";

/// The stand-in provider.
pub struct Stub {
    /// Its process (stopped on drop).
    _proc: Proc,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl Stub {
    /// Starts `aihub-stub-upstream` with `threads` worker threads.
    pub async fn start(threads: usize) -> anyhow::Result<Stub> {
        let threads = threads.to_string();
        let mut proc = Proc::bin(
            "aihub-stub-upstream",
            &[
                "--listen",
                "127.0.0.1:0",
                "--name",
                "stub",
                "--threads",
                &threads,
            ],
            &[],
        )?;
        let line = proc.wait_for_line("listening on", START).await?;
        let addr = line
            .rsplit(' ')
            .next()
            .context("stub printed no address")?
            .trim()
            .to_string();
        Ok(Stub { _proc: proc, addr })
    }

    /// Base URL with `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }
}

/// AI Hub: control plane and gateway.
pub struct AiHub {
    /// Control plane process (stopped on drop).
    control_plane: Proc,
    /// Its listen address and base environment, to restart it with other
    /// batch settings between phases.
    cp_listen: String,
    cp_env: Vec<(String, String)>,
    /// Gateway process.
    pub gateway: Proc,
    /// Gateway base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Gateway ops URL.
    pub ops_url: String,
    /// An API key for the load.
    pub key: String,
    /// The control plane's database.
    pub database_url: String,
    /// The control plane's base URL (`http://127.0.0.1:PORT`).
    pub cp_url: String,
    dir: tempfile::TempDir,
}

/// Where an [`AiHub`]'s control plane keeps its data.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Database URL; `None`: SQLite in the system's temporary directory.
    pub database_url: Option<String>,
    /// Extra `AIHUB_*` variables for the control plane.
    pub env: Vec<(String, String)>,
    /// Where the temporary directory goes (`None`: the system's).
    pub temp_in: Option<PathBuf>,
}

impl AiHub {
    /// Runs `aihub --json <args>` against this system's database.
    pub fn admin(&self, args: &[&str]) -> anyhow::Result<serde_json::Value> {
        aihub_admin(&self.database_url, args)
    }

    /// Runs `aihub --json <args>` and answers whether it succeeded, its
    /// JSON report and its standard error, also when it exits 1.
    pub fn admin_report(&self, args: &[&str]) -> anyhow::Result<(bool, serde_json::Value, String)> {
        aihub_admin_report(&self.database_url, args)
    }

    /// The SQLite database file, when the control plane runs on SQLite.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        let rest = self.database_url.strip_prefix("sqlite://")?;
        Some(PathBuf::from(rest.split('?').next().unwrap_or(rest)))
    }

    /// Warnings and errors the control plane logged so far (its log level
    /// is `warn`), the last `n` lines.
    pub fn control_plane_warnings(&self, n: usize) -> Vec<String> {
        let out = self.control_plane.stdout() + &self.control_plane.stderr();
        let lines: Vec<String> = out
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR") || l.contains("\"level\""))
            .map(|l| l.chars().take(400).collect())
            .collect();
        lines[lines.len().saturating_sub(n)..].to_vec()
    }

    /// Stops the control plane (SIGTERM: it drains) and starts it again on
    /// the same address and database with `extra` added to its environment
    /// (e.g. batch worker settings); the gateway keeps running and reaches
    /// it again at the same URL.
    pub async fn restart_control_plane(&mut self, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        self.stop_control_plane()?;
        self.start_control_plane(extra).await
    }

    /// Stops the control plane (SIGTERM: it drains); the gateway keeps
    /// serving from its last snapshot. [`AiHub::start_control_plane`]
    /// starts it again.
    pub fn stop_control_plane(&mut self) -> anyhow::Result<()> {
        self.control_plane
            .terminate(Duration::from_secs(15))
            .context("stopping the control plane")?;
        Ok(())
    }

    /// Starts the control plane again on the same address and database
    /// with `extra` added to its environment.
    pub async fn start_control_plane(&mut self, extra: &[(&str, &str)]) -> anyhow::Result<()> {
        let mut env: Vec<(&str, &str)> = self
            .cp_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend_from_slice(extra);
        self.control_plane = start_control_plane(&self.cp_listen, &env).await?;
        Ok(())
    }
}

async fn start_control_plane(listen: &str, env: &[(&str, &str)]) -> anyhow::Result<Proc> {
    let mut proc = Proc::bin("aihub", &["serve"], env)?;
    proc.wait_http_ok(&format!("http://{listen}/readyz"), START)
        .await?;
    Ok(proc)
}

fn aihub_admin(database_url: &str, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let (ok, out, stderr) = aihub_admin_report(database_url, args)?;
    if !ok {
        bail!("aihub {args:?}: {}", stderr.trim());
    }
    Ok(out)
}

/// Runs `aihub --json <args>`: whether it succeeded, its JSON answer
/// (`null` when it printed none) and its standard error. For commands that
/// print a report and exit 1 when it finds a problem (`billing reconcile`).
fn aihub_admin_report(
    database_url: &str,
    args: &[&str],
) -> anyhow::Result<(bool, serde_json::Value, String)> {
    let out = Command::new(bin_path("aihub")?)
        .arg("--json")
        .args(args)
        .env("AIHUB_DATABASE__URL", database_url)
        .env("AIHUB_INTERNAL__SHARED_SECRET", SECRET)
        .env("AIHUB_AUTH__TOKEN_SECRET", TOKEN_SECRET)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout);
    if out.status.success() {
        return Ok((true, json?, stderr));
    }
    Ok((false, json.unwrap_or(serde_json::Value::Null), stderr))
}

impl AiHub {
    /// Starts both planes on SQLite with one provider (the stub), one model
    /// and one developer key; the gateway gets `threads` worker threads.
    pub async fn start(stub: &Stub, threads: usize) -> anyhow::Result<AiHub> {
        Self::start_with(stub, threads, &Setup::default()).await
    }

    /// The temporary directory (SQLite database, gateway state, spool).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// [`AiHub::start`] with the control plane's database and extra
    /// settings from `setup`.
    pub async fn start_with(stub: &Stub, threads: usize, setup: &Setup) -> anyhow::Result<AiHub> {
        let dir = match &setup.temp_in {
            Some(parent) => tempfile::Builder::new()
                .prefix("aihub-loadtest-")
                .tempdir_in(parent)?,
            None => tempfile::tempdir()?,
        };
        let database_url = match &setup.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}/aihub.db?mode=rwc", dir.path().display()),
        };
        let cp_port = free_port();
        let cp_listen = format!("127.0.0.1:{cp_port}");
        // The gateway's address is chosen first: the batch worker sends items
        // through it.
        let gw_port = free_port();
        let listen = format!("127.0.0.1:{gw_port}");
        let gateway_url = format!("http://{listen}");
        let cp_env: Vec<(String, String)> = [
            ("AIHUB_DATABASE__URL", database_url.as_str()),
            ("AIHUB_SERVER__LISTEN", cp_listen.as_str()),
            ("AIHUB_INTERNAL__SHARED_SECRET", SECRET),
            ("AIHUB_AUTH__TOKEN_SECRET", TOKEN_SECRET),
            ("AIHUB_LOG__LEVEL", "warn"),
            // The webhook scenario's receiver listens on 127.0.0.1.
            ("AIHUB_WEBHOOKS__ALLOW_PRIVATE_NETWORKS", "true"),
            // Millions of tokens go through one account: invoiced, not
            // refused for want of credit (the charger still charges it all).
            ("AIHUB_BILLING__DEFAULT_PLAN", "enterprise"),
            // Batch items go through the gateway started below.
            ("AIHUB_BATCHES__GATEWAY_URL", gateway_url.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(setup.env.iter().cloned())
        .collect();
        let env: Vec<(&str, &str)> = cp_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let control_plane = start_control_plane(&cp_listen, &env).await?;
        aihub_admin(
            &database_url,
            &[
                "admin",
                "add-provider",
                "--name",
                "stub",
                "--kind",
                "openai",
                "--base-url",
                &stub.base_url(),
                "--api-key",
                "sk-stub",
            ],
        )?;
        aihub_admin(
            &database_url,
            &[
                "admin",
                "add-model",
                "--name",
                "gpt-4o-mini",
                "--provider",
                "stub",
                "--upstream-model",
                "stub-mini",
            ],
        )?;
        let dev = aihub_admin(
            &database_url,
            &[
                "admin",
                "create-developer",
                "--email",
                "load@example.com",
                "--name",
                "Load Tester",
                // Far above what a load test sends: the gateway enforces
                // account limits.
                "--rate-limit",
                "100000000",
                "--quota-limit",
                "1000000000000",
            ],
        )?;
        let dev_id = dev["id"].as_str().context("developer id")?.to_string();
        let key = aihub_admin(
            &database_url,
            &["admin", "create-key", "--developer", &dev_id],
        )?;
        let key = key["secret"].as_str().context("key secret")?.to_string();

        let cp_url = format!("http://{cp_listen}");
        let threads = threads.to_string();
        let gateway = start_gateway(&GatewayRun {
            listen: &listen,
            cp_url: &cp_url,
            threads: &threads,
            dir: dir.path(),
            name: "gateway",
            extra: &[],
        })
        .await?;
        Ok(AiHub {
            control_plane,
            cp_listen,
            cp_env,
            gateway: gateway.proc,
            url: gateway.url,
            ops_url: gateway.ops_url,
            key,
            database_url,
            cp_url,
            dir,
        })
    }
}

/// What a gateway of an [`AiHub`] is started with.
struct GatewayRun<'a> {
    listen: &'a str,
    cp_url: &'a str,
    threads: &'a str,
    /// The system's directory; the gateway keeps `<name>/state` and
    /// `<name>/spool` in it.
    dir: &'a Path,
    name: &'a str,
    extra: &'a [(&'a str, &'a str)],
}

/// A running gateway.
pub struct Gateway {
    /// Its process (stopped on drop).
    pub proc: Proc,
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Ops URL.
    pub ops_url: String,
}

async fn start_gateway(run: &GatewayRun<'_>) -> anyhow::Result<Gateway> {
    let ops = format!("127.0.0.1:{}", free_port());
    // The first gateway keeps the directory names earlier versions used.
    let (state, spool) = if run.name == "gateway" {
        (run.dir.join("gateway"), run.dir.join("spool"))
    } else {
        (
            run.dir.join(run.name).join("state"),
            run.dir.join(run.name).join("spool"),
        )
    };
    let state = state.display().to_string();
    let spool = spool.display().to_string();
    let mut env = vec![
        ("AIHUB_GW_SERVER__LISTEN", run.listen),
        ("AIHUB_GW_SERVER__OPS_LISTEN", ops.as_str()),
        ("AIHUB_GW_SERVER__THREADS", run.threads),
        ("AIHUB_GW_SERVER__SHUTDOWN_GRACE_SECS", "1"),
        ("AIHUB_GW_CONTROL_PLANE__URL", run.cp_url),
        ("AIHUB_GW_CONTROL_PLANE__SHARED_SECRET", SECRET),
        ("AIHUB_GW_CONTROL_PLANE__STATE_DIR", state.as_str()),
        ("AIHUB_GW_SPOOL__DIR", spool.as_str()),
        ("AIHUB_GW_LOG__LEVEL", "error"),
    ];
    env.extend_from_slice(run.extra);
    let mut proc = Proc::bin("aihub-gateway", &[], &env)?;
    proc.wait_http_ok(&format!("http://{ops}/readyz"), START)
        .await?;
    Ok(Gateway {
        proc,
        url: format!("http://{}", run.listen),
        ops_url: format!("http://{ops}"),
    })
}

/// The spool setting that defers shipping: the active segment is sealed
/// (and so shipped) once an hour, i.e. not during a measured run.
const DEFERRED_SHIP: (&str, &str) = ("AIHUB_GW_SPOOL__SHIP_INTERVAL_MS", "3600000");

impl AiHub {
    /// Starts a second gateway on the same control plane that meters and
    /// spools every row (written and fsynced as usual) but ships none until
    /// [`AiHub::ship_deferred`]: the figure for the gateway alone, without
    /// the usage store's ingest competing for this machine's cores.
    pub async fn start_deferred_gateway(&self, threads: usize) -> anyhow::Result<Gateway> {
        let threads = threads.to_string();
        start_gateway(&GatewayRun {
            listen: &format!("127.0.0.1:{}", free_port()),
            cp_url: &self.cp_url,
            threads: &threads,
            dir: self.dir.path(),
            name: "deferred",
            extra: &[DEFERRED_SHIP],
        })
        .await
    }

    /// Stops the deferred gateway and starts it again on the same spool with
    /// the usual shipping, then waits until its spool is empty: returns the
    /// rows it shipped (every row written during the deferred runs).
    pub async fn ship_deferred(&self, mut gw: Gateway) -> anyhow::Result<f64> {
        gw.proc
            .terminate(Duration::from_secs(15))
            .context("stopping the deferred gateway")?;
        let threads = "1".to_string();
        let listen = gw.url.trim_start_matches("http://").to_string();
        drop(gw);
        let gw = start_gateway(&GatewayRun {
            listen: &listen,
            cp_url: &self.cp_url,
            threads: &threads,
            dir: self.dir.path(),
            name: "deferred",
            extra: &[],
        })
        .await?;
        let deadline = std::time::Instant::now() + Duration::from_secs(300);
        loop {
            let depth =
                crate::report::gateway_metric(&gw.ops_url, "aihub_gateway_spool_depth_rows").await;
            let shipped = crate::report::gateway_metric(
                &gw.ops_url,
                "aihub_gateway_usage_rows_shipped_total",
            )
            .await;
            if let (Some(depth), Some(shipped)) = (depth, shipped) {
                if depth == 0.0 && shipped > 0.0 {
                    return Ok(shipped);
                }
            }
            anyhow::ensure!(
                std::time::Instant::now() < deadline,
                "the deferred gateway's spool did not empty within 5 minutes"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A bare nginx reverse-proxy hop in front of the stub.
pub struct Nginx {
    /// Its master process (stopped on drop).
    proc: Proc,
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM lets the master stop and reap its workers; killing it
        // outright would leave them behind.
        let _ = self.proc.terminate(Duration::from_secs(5));
    }
}

impl Nginx {
    /// Starts nginx with `workers` worker processes, proxying to `upstream`.
    pub async fn start(upstream: &str, workers: usize) -> anyhow::Result<Nginx> {
        let nginx = which("nginx").context("nginx is not installed (apt-get install nginx)")?;
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let d = dir.path().display();
        let conf = format!(
            "worker_processes {workers};\n\
             daemon off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log warn;\n\
             events {{ worker_connections 8192; }}\n\
             http {{\n\
               access_log off;\n\
               client_body_temp_path {d}/body;\n\
               proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n\
               scgi_temp_path {d}/scgi;\n\
               upstream stub {{ server {upstream}; keepalive 256; }}\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 location / {{\n\
                   proxy_pass http://stub;\n\
                   proxy_http_version 1.1;\n\
                   proxy_set_header Connection \"\";\n\
                   proxy_buffering off;\n\
                 }}\n\
               }}\n\
             }}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf)?;
        let mut cmd = Command::new(nginx);
        cmd.arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"));
        let mut proc = Proc::spawn(cmd)?;
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_http_ok(&format!("{url}/v1/models"), START)
            .await?;
        Ok(Nginx {
            proc,
            url,
            _dir: dir,
        })
    }
}

/// LiteLLM's proxy with one model pointed at the stub, no database.
pub struct LiteLlm {
    /// Its process (stopped on drop).
    _proc: Proc,
    /// Base URL.
    pub url: String,
    /// Its master key (LiteLLM refuses to start without one), sent as the
    /// bearer token, so both gateways authenticate every request.
    pub key: String,
    _dir: tempfile::TempDir,
}

/// The virtual environment LiteLLM is installed into (created on first use).
pub fn litellm_venv(cache: &Path) -> anyhow::Result<PathBuf> {
    let venv = cache.join("litellm-venv");
    let litellm = venv.join("bin/litellm");
    if litellm.exists() {
        return Ok(venv);
    }
    eprintln!("installing LiteLLM's proxy into {} (once)…", venv.display());
    let status = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()?;
    if !status.success() {
        bail!("python3 -m venv failed (apt-get install python3-venv)");
    }
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "litellm[proxy]"])
        .status()?;
    if !status.success() {
        bail!("pip install 'litellm[proxy]' failed");
    }
    Ok(venv)
}

impl LiteLlm {
    /// Starts `litellm` from `venv` with one worker.
    pub async fn start(venv: &Path, stub_base_url: &str) -> anyhow::Result<LiteLlm> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let config = format!(
            "model_list:\n  - model_name: gpt-4o-mini\n    litellm_params:\n      model: openai/stub-mini\n      api_base: {stub_base_url}\n      api_key: sk-stub\n\
             litellm_settings:\n  drop_params: true\n  telemetry: false\n"
        );
        let config_path = dir.path().join("litellm.yaml");
        std::fs::write(&config_path, config)?;
        let mut cmd = Command::new(venv.join("bin/litellm"));
        cmd.arg("--config")
            .arg(&config_path)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--num_workers",
                "1",
            ])
            .env("LITELLM_MASTER_KEY", LITELLM_KEY)
            .env("LITELLM_LOG", "ERROR")
            .env("LITELLM_TELEMETRY", "False")
            .env("NO_DOCS", "True");
        let mut proc = Proc::spawn(cmd)?;
        let url = format!("http://127.0.0.1:{port}");
        proc.wait_http_ok(
            &format!("{url}/health/liveliness"),
            Duration::from_secs(180),
        )
        .await?;
        Ok(LiteLlm {
            _proc: proc,
            url,
            key: LITELLM_KEY.to_string(),
            _dir: dir,
        })
    }
}

/// Finds a program on PATH (and in /usr/sbin, where Debian puts nginx).
pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Resident set size of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
