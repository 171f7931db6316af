//! `aihub up`: the embedded one-machine setup. Runs the control plane in
//! this process and the gateway (`aihub-gateway`, next to this binary) as a
//! child, sharing a generated secret (and generating the access-token
//! signing key); a signal stops both, and either one dying stops the other.

use crate::config::{Config, SharedSecret};
use crate::server::{shutdown_signal, Application};
use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use rand::distributions::Alphanumeric;
use rand::Rng;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::process::Command;

const DATA_DIR: &str = "data";
const SECRET_FILE: &str = "data/internal-secret";
const TOKEN_SECRET_FILE: &str = "data/token-secret";
const SECRET_LEN: usize = 48;
const GATEWAY_BIN: &str = "aihub-gateway";
/// How long the gateway gets to drain after SIGTERM.
const GATEWAY_GRACE: Duration = Duration::from_secs(20);

/// Reads the generated secret, creating it (mode 0600) the first time.
fn ensure_secret(path: &Path) -> anyhow::Result<SharedSecret> {
    if path.exists() {
        let s = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let s = s.trim().to_string();
        if s.len() < crate::config::MIN_SECRET_LEN {
            bail!(
                "{} holds a secret shorter than {} characters; delete it to generate a new one",
                path.display(),
                crate::config::MIN_SECRET_LEN
            );
        }
        return Ok(SharedSecret::new(s));
    }
    let secret: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    writeln!(f, "{secret}")?;
    Ok(SharedSecret::new(secret))
}

/// The server secret `auth.token_secret` the control plane uses, for
/// commands that seal what it must open: the configured one, or else the
/// one `aihub up` keeps in `data/token-secret` in this folder. Never makes
/// one: a secret the server does not share would seal unreadably.
pub fn server_token_secret(config: &Config) -> anyhow::Result<SharedSecret> {
    if !config.auth.token_secret.is_empty() {
        return Ok(config.auth.token_secret.clone());
    }
    if Path::new(TOKEN_SECRET_FILE).exists() {
        return ensure_secret(Path::new(TOKEN_SECRET_FILE));
    }
    bail!(
        "auth.token_secret: this command seals the upstream key with the control plane's secret; \
         set AIHUB_AUTH__TOKEN_SECRET as for `aihub serve`, or run it in the folder of `aihub up` \
         (which keeps it in {TOKEN_SECRET_FILE}), or add the provider in the portal's Admin area"
    )
}

fn gateway_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot locate the aihub binary")?;
    let dir = exe
        .parent()
        .context("the aihub binary has no parent folder")?;
    let gw = dir.join(GATEWAY_BIN);
    if !gw.is_file() {
        bail!(
            "the gateway binary {GATEWAY_BIN} was not found at {}; build both binaries with `cargo build --release` and run target/release/aihub up",
            gw.display()
        );
    }
    Ok(gw)
}

fn say(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

/// Runs the embedded setup until a signal or until one side dies.
pub async fn run(mut config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(DATA_DIR).with_context(|| format!("cannot create ./{DATA_DIR}"))?;
    if config.internal.shared_secret.is_empty() {
        config.internal.shared_secret = ensure_secret(Path::new(SECRET_FILE))?;
    }
    if config.auth.token_secret.is_empty() {
        config.auth.token_secret = ensure_secret(Path::new(TOKEN_SECRET_FILE))?;
    }
    let gateway = gateway_binary()?;

    let app = Application::build(&config).await?;
    let addr = app.local_addr()?;
    // The gateway reaches us over loopback even when we listen on all interfaces.
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let cp_url = format!("http://{host}:{}", addr.port());

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(app.run_until(async {
        let _ = stop_rx.await;
    }));

    let mut child = Command::new(&gateway)
        .env("AIHUB_GW_CONTROL_PLANE__URL", &cp_url)
        .env(
            "AIHUB_GW_CONTROL_PLANE__SHARED_SECRET",
            config.internal.shared_secret.expose(),
        )
        .env("AIHUB_GW_SPOOL__DIR", "./data/spool")
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", gateway.display()))?;

    say(&format!(
        "AI Hub is up.\n\
         \n  developer portal:           {gw}/\
         \n  gateway (point SDKs here):  {gw}/v1\
         \n  control plane:              {cp_url}  (health {cp_url}/healthz, metrics {cp_url}/metrics)\
         \n  database:                   {db}\
         \n\nNext step, in another terminal in this folder: create the first operator,\
         \n  aihub admin create-operator --email you@example.com        # password from AIHUB_ADMIN_PASSWORD or --password\
         \nthen sign in at {gw}/admin: the setup checklist walks through providers, models, plans,\
         \nmail and payments. The same from a shell (here, so `add-provider` finds data/token-secret):\
         \n  aihub admin add-provider --name openai --kind openai --base-url https://api.openai.com/v1   # key from AIHUB_PROVIDER_API_KEY\
         \n  aihub admin add-model --name gpt-4o-mini --provider openai\
         \n  aihub admin create-developer --email dev@example.com --name 'Dev'\
         \n  aihub admin create-key --developer dev@example.com\
         \n\nPress Ctrl-C to stop both.",
        gw = config.public.gateway_url.trim_end_matches('/'),
        db = crate::config::redact_url(&config.database.url),
    ))?;

    enum Ended {
        Signal,
        Gateway(std::io::Result<std::process::ExitStatus>),
        Server(Result<anyhow::Result<()>, tokio::task::JoinError>),
    }
    let ended = tokio::select! {
        _ = shutdown_signal() => Ended::Signal,
        status = child.wait() => Ended::Gateway(status),
        result = &mut server => Ended::Server(result),
    };

    match ended {
        Ended::Signal => {
            tracing::info!("stopping the gateway and the control plane");
            stop_gateway(&mut child).await;
            let _ = stop_tx.send(());
            server.await.context("control plane task failed")??;
            Ok(())
        }
        Ended::Gateway(status) => {
            let _ = stop_tx.send(());
            let _ = server.await;
            let status = status.context("cannot wait for the gateway")?;
            bail!("the gateway exited ({status}); the control plane was stopped too")
        }
        Ended::Server(result) => {
            stop_gateway(&mut child).await;
            match result {
                Ok(Ok(())) => {
                    bail!("the control plane stopped unexpectedly; the gateway was stopped too")
                }
                Ok(Err(e)) => {
                    Err(e.context("the control plane failed; the gateway was stopped too"))
                }
                Err(e) => Err(anyhow::Error::new(e).context("the control plane task failed")),
            }
        }
    }
}

/// Forwards SIGTERM so the gateway drains, then kills it after a grace period.
async fn stop_gateway(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        if let Err(e) = kill(Pid::from_raw(pid), Signal::SIGTERM) {
            tracing::warn!(error = %e, "cannot signal the gateway");
        }
    }
    match tokio::time::timeout(GATEWAY_GRACE, child.wait()).await {
        Ok(Ok(status)) => tracing::info!(%status, "gateway stopped"),
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot wait for the gateway"),
        Err(_) => {
            tracing::warn!("gateway did not stop in time; killing it");
            let _ = child.kill().await;
        }
    }
}
