//! Follows the control plane's configuration: a full snapshot at start, then
//! the long-poll change stream. Each new configuration is compiled into
//! [`Tables`] off the request path, swapped in, and written to disk so a
//! restarted gateway serves at once even while the control plane is away.

use crate::metrics::Metrics;
use crate::tables::{Live, Tables};
use aihub_contract::routes;
use aihub_contract::signing;
use aihub_contract::snapshot::{Changes, Snapshot};
use anyhow::Context;
use async_trait::async_trait;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The background service that keeps [`Live`] current.
pub struct ConfigSync {
    client: reqwest::Client,
    base: String,
    secret: Vec<u8>,
    state_file: PathBuf,
    long_poll_ms: u64,
    live: Arc<Live>,
    metrics: Arc<Metrics>,
}

impl ConfigSync {
    /// A follower of the control plane at `base`.
    pub fn new(
        base: &str,
        secret: &str,
        state_dir: PathBuf,
        long_poll_ms: u64,
        live: Arc<Live>,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        Ok(ConfigSync {
            client: reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(3))
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            secret: secret.as_bytes().to_vec(),
            state_file: state_dir.join("snapshot.json"),
            long_poll_ms,
            live,
            metrics,
        })
    }

    /// Installs the snapshot kept on disk, if any. Returns it.
    pub fn load_from_disk(&self) -> Option<Snapshot> {
        let data = std::fs::read(&self.state_file).ok()?;
        match serde_json::from_slice::<Snapshot>(&data) {
            Ok(s) => {
                tracing::info!(
                    version = s.version,
                    "serving the configuration kept on disk until the control plane answers"
                );
                self.install(&s);
                Some(s)
            }
            Err(e) => {
                tracing::warn!(file = %self.state_file.display(), "ignoring unreadable snapshot: {e}");
                None
            }
        }
    }

    fn install(&self, snapshot: &Snapshot) {
        let (tables, warnings) = Tables::build(snapshot, &self.live.health);
        for w in warnings {
            tracing::warn!("configuration: {w}");
        }
        self.metrics.config_version.set(snapshot.version);
        self.live.store(tables);
    }

    fn persist(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        let dir = self
            .state_file
            .parent()
            .context("state file has no directory")?;
        std::fs::create_dir_all(dir)?;
        let tmp = self.state_file.with_extension("json.tmp");
        {
            use std::io::Write;
            #[cfg(unix)]
            use std::os::unix::fs::OpenOptionsExt;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            // It holds upstream credentials.
            #[cfg(unix)]
            opts.mode(0o600);
            let mut f = opts.open(&tmp)?;
            f.write_all(&serde_json::to_vec(snapshot)?)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.state_file)?;
        Ok(())
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path_and_query: &str,
        timeout: Duration,
    ) -> anyhow::Result<T> {
        let sig = signing::sign(
            &self.secret,
            crate::context::now_ms() / 1000,
            "GET",
            path_and_query,
            b"",
        );
        let resp = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .header(signing::HEADER, sig)
            .timeout(timeout)
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default();
            anyhow::bail!("{path_and_query}: control plane answered {status}: {body}");
        }
        Ok(resp.json().await?)
    }

    async fn follow(&self, mut current: Option<Snapshot>) -> anyhow::Result<()> {
        loop {
            let mut snapshot = match current.take() {
                Some(s) => s,
                None => {
                    let s: Snapshot = self
                        .get(routes::SNAPSHOT, Duration::from_secs(30))
                        .await
                        .context("fetching the configuration snapshot")?;
                    self.install(&s);
                    self.mark_synced();
                    if let Err(e) = self.persist(&s) {
                        tracing::warn!("could not keep the snapshot on disk: {e:#}");
                    }
                    tracing::info!(
                        version = s.version,
                        keys = s.keys.len(),
                        models = s.catalog.models.len(),
                        "configuration loaded"
                    );
                    s
                }
            };
            loop {
                let path = format!(
                    "{}?since={}&wait_ms={}",
                    routes::CHANGES,
                    snapshot.version,
                    self.long_poll_ms
                );
                let changes: Changes = self
                    .get(&path, Duration::from_millis(self.long_poll_ms + 10_000))
                    .await
                    .context("following configuration changes")?;
                self.mark_synced();
                if changes.resync {
                    tracing::info!("control plane asked for a full resync");
                    break;
                }
                if changes.version == snapshot.version {
                    continue;
                }
                snapshot.apply(changes);
                self.install(&snapshot);
                if let Err(e) = self.persist(&snapshot) {
                    tracing::warn!("could not keep the snapshot on disk: {e:#}");
                }
                tracing::debug!(version = snapshot.version, "configuration updated");
            }
        }
    }

    fn mark_synced(&self) {
        self.metrics
            .config_synced_at
            .set(crate::context::now_ms() / 1000);
    }
}

#[async_trait]
impl pingora::services::background::BackgroundService for ConfigSync {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let mut backoff = Duration::from_millis(100);
        let mut from_disk = None;
        if !self.live.is_loaded() {
            from_disk = self.load_from_disk();
        }
        let mut first = true;
        loop {
            // After a failure, start from a fresh snapshot (changes may be missed).
            let start = if first { from_disk.take() } else { None };
            first = false;
            tokio::select! {
                r = self.follow(start) => {
                    if let Err(e) = r {
                        tracing::warn!("configuration sync: {e:#}; retrying in {backoff:?}");
                    }
                }
                _ = shutdown.changed() => return,
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }
}
