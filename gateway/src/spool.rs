//! The usage spool: rows are appended to a local file first, then shipped in
//! batches to the usage store, so an unreachable store or a crash delays
//! usage but never loses it.
//!
//! Files in `spool.dir`:
//! - `active-<n>.jsonl` — being appended (one JSON row a line), flushed and
//!   fsynced every `flush_interval_ms` (group commit);
//! - `ready-<n>.jsonl` — sealed every `ship_interval_ms`, waiting to ship;
//!   deleted once the store acknowledged every row.
//!
//! At start, leftover `active-*` files (a crash) are sealed and everything
//! ready is shipped. Stores deduplicate by request id, so a segment shipped
//! twice (crash after the store acked, before the delete) still counts once.

use crate::metrics::Metrics;
use aihub_contract::usage::UsageRow;
use anyhow::Context;
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Where rows end up.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Label for metrics and logs.
    fn name(&self) -> &'static str;
    /// Stores rows; must be idempotent by request id.
    async fn ship(&self, rows: &[UsageRow]) -> anyhow::Result<()>;
}

/// Rows handed over by request threads, drained by the writer on each group
/// commit. A plain buffer rather than a channel: appending wakes nobody, so
/// the request path pays for a short uncontended lock and a push, not for a
/// cross-thread wake-up per request.
type Pending = Arc<std::sync::Mutex<Vec<UsageRow>>>;

/// The cheap handle request threads use to hand rows over.
#[derive(Clone)]
pub struct SpoolHandle {
    pending: Pending,
}

impl SpoolHandle {
    /// Queues a row for the next group commit. Never blocks on I/O.
    pub fn append(&self, row: UsageRow) {
        match self.pending.lock() {
            Ok(mut rows) => rows.push(row),
            Err(poisoned) => poisoned.into_inner().push(row),
        }
    }
}

/// Settings of the spool.
#[derive(Debug, Clone)]
pub struct SpoolSettings {
    /// Directory.
    pub dir: PathBuf,
    /// Group commit interval.
    pub flush_interval: Duration,
    /// Seal interval.
    pub ship_interval: Duration,
    /// Rows per batch.
    pub batch_rows: usize,
}

/// The writer and shipper, run as a background service.
pub struct Spool {
    settings: SpoolSettings,
    pending: Pending,
    store: Arc<dyn UsageStore>,
    metrics: Arc<Metrics>,
    /// Rows on disk not yet shipped.
    depth: Arc<AtomicI64>,
    /// Timestamp (ms) of the oldest unshipped row, 0 when none.
    oldest_ms: Arc<AtomicI64>,
    sealed: Arc<Notify>,
}

/// Creates the spool and the handle that feeds it.
pub fn spool(
    settings: SpoolSettings,
    store: Arc<dyn UsageStore>,
    metrics: Arc<Metrics>,
) -> (Spool, SpoolHandle) {
    let pending: Pending = Arc::default();
    (
        Spool {
            settings,
            pending: pending.clone(),
            store,
            metrics,
            depth: Arc::new(AtomicI64::new(0)),
            oldest_ms: Arc::new(AtomicI64::new(0)),
            sealed: Arc::new(Notify::new()),
        },
        SpoolHandle { pending },
    )
}

fn segment_number(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(".jsonl")?
        .parse()
        .ok()
}

/// Lists `prefix-<n>.jsonl` files in order.
fn list(dir: &Path, prefix: &str) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(n) = entry
            .file_name()
            .to_str()
            .and_then(|s| segment_number(s, prefix))
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Reads the complete rows of a segment (a torn last line is skipped).
pub fn read_segment(path: &Path) -> std::io::Result<Vec<UsageRow>> {
    let data = std::fs::read(path)?;
    let mut rows = Vec::new();
    for line in data.split(|b| *b == b'\n') {
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<UsageRow>(line) {
            Ok(r) => rows.push(r),
            Err(e) => {
                tracing::warn!(segment = %path.display(), "skipping unreadable spool line: {e}")
            }
        }
    }
    Ok(rows)
}

struct Writer {
    dir: PathBuf,
    next_segment: u64,
    current: Option<(u64, std::io::BufWriter<std::fs::File>)>,
    unsynced: bool,
}

impl Writer {
    fn write(&mut self, row: &UsageRow) -> anyhow::Result<()> {
        if self.current.is_none() {
            let n = self.next_segment;
            self.next_segment += 1;
            let path = self.dir.join(format!("active-{n:012}.jsonl"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            self.current = Some((n, std::io::BufWriter::with_capacity(256 * 1024, file)));
        }
        if let Some((_, w)) = self.current.as_mut() {
            serde_json::to_writer(&mut *w, row)?;
            w.write_all(b"\n")?;
            self.unsynced = true;
        }
        Ok(())
    }

    /// Group commit: everything written so far reaches the disk.
    fn sync(&mut self) -> anyhow::Result<()> {
        if let (true, Some((_, w))) = (self.unsynced, self.current.as_mut()) {
            w.flush()?;
            w.get_ref().sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Seals the active segment for shipping. Returns whether one was sealed.
    fn seal(&mut self) -> anyhow::Result<bool> {
        self.sync()?;
        let Some((n, w)) = self.current.take() else {
            return Ok(false);
        };
        drop(w);
        let from = self.dir.join(format!("active-{n:012}.jsonl"));
        let to = self.dir.join(format!("ready-{n:012}.jsonl"));
        std::fs::rename(&from, &to).with_context(|| format!("sealing {}", from.display()))?;
        Ok(true)
    }
}

impl Spool {
    /// Prepares the directory: seals what a crash left active, counts the backlog.
    fn recover(&self) -> anyhow::Result<u64> {
        let dir = &self.settings.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut max = 0;
        for (n, path) in list(dir, "active-")? {
            let to = dir.join(format!("ready-{n:012}.jsonl"));
            std::fs::rename(&path, &to)?;
            max = max.max(n);
        }
        let mut backlog = 0i64;
        let mut oldest = 0i64;
        for (n, path) in list(dir, "ready-")? {
            max = max.max(n);
            let rows = read_segment(&path)?;
            backlog += rows.len() as i64;
            if let Some(first) = rows.iter().map(|r| r.ts_ms).min() {
                if oldest == 0 || first < oldest {
                    oldest = first;
                }
            }
        }
        self.depth.store(backlog, Ordering::Relaxed);
        self.oldest_ms.store(oldest, Ordering::Relaxed);
        if backlog > 0 {
            tracing::info!(
                rows = backlog,
                "usage spool has rows from an earlier run; shipping them"
            );
        }
        Ok(max + 1)
    }

    /// Takes the rows handed over since the last call.
    fn take_pending(&self) -> Vec<UsageRow> {
        match self.pending.lock() {
            Ok(mut rows) => std::mem::take(&mut *rows),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }

    /// Group commit: writes every pending row and fsyncs once.
    fn commit(&self, writer: &mut Writer) {
        let rows = self.take_pending();
        if rows.is_empty() {
            return;
        }
        let mut written = 0i64;
        for row in &rows {
            match writer.write(row) {
                Ok(()) => written += 1,
                Err(e) => {
                    tracing::error!(request_id = %row.request_id, "usage spool write failed: {e:#}")
                }
            }
        }
        if let Err(e) = writer.sync() {
            tracing::error!("usage spool sync failed: {e:#}");
        }
        if let Some(first) = rows.first() {
            let _ = self.oldest_ms.compare_exchange(
                0,
                first.ts_ms,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
        let depth = self.depth.fetch_add(written, Ordering::Relaxed) + written;
        self.metrics.spool_depth.set(depth);
    }

    async fn write_loop(&self, first_segment: u64) {
        let mut writer = Writer {
            dir: self.settings.dir.clone(),
            next_segment: first_segment,
            current: None,
            unsynced: false,
        };
        let mut flush = tokio::time::interval(self.settings.flush_interval);
        let mut seal = tokio::time::interval(self.settings.ship_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        seal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The spool has its own runtime, so its blocking file calls never
        // stall the proxy's threads.
        loop {
            tokio::select! {
                _ = flush.tick() => self.commit(&mut writer),
                _ = seal.tick() => {
                    self.commit(&mut writer);
                    match writer.seal() {
                        Ok(true) => self.sealed.notify_one(),
                        Ok(false) => {}
                        Err(e) => tracing::error!("usage spool seal failed: {e:#}"),
                    }
                }
            }
        }
    }

    async fn ship_loop(&self) {
        let sink = self.store.name();
        let mut backoff = Duration::from_millis(100);
        loop {
            let segments = match list(&self.settings.dir, "ready-") {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("listing usage spool failed: {e}");
                    Vec::new()
                }
            };
            let mut failed = false;
            for (_, path) in segments {
                match self.ship_segment(&path).await {
                    Ok(n) => {
                        self.metrics
                            .rows_shipped
                            .with_label_values(&[sink])
                            .inc_by(n);
                        backoff = Duration::from_millis(100);
                    }
                    Err(e) => {
                        self.metrics.ship_errors.with_label_values(&[sink]).inc();
                        tracing::warn!(sink, "shipping usage failed, will retry: {e:#}");
                        failed = true;
                        break;
                    }
                }
            }
            self.update_lag();
            if failed {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            } else {
                // Woken when a segment is sealed; the timeout re-checks the lag.
                let _ = tokio::time::timeout(Duration::from_secs(1), self.sealed.notified()).await;
            }
        }
    }

    async fn ship_segment(&self, path: &Path) -> anyhow::Result<u64> {
        let rows = read_segment(path).with_context(|| format!("reading {}", path.display()))?;
        for batch in rows.chunks(self.settings.batch_rows) {
            self.store.ship(batch).await?;
        }
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        let n = rows.len() as i64;
        let left = self.depth.fetch_sub(n, Ordering::Relaxed) - n;
        if left <= 0 {
            self.depth.store(0, Ordering::Relaxed);
            self.oldest_ms.store(0, Ordering::Relaxed);
        }
        self.metrics.spool_depth.set(left.max(0));
        Ok(rows.len() as u64)
    }

    fn update_lag(&self) {
        let oldest = self.oldest_ms.load(Ordering::Relaxed);
        let lag = if oldest == 0 {
            0
        } else {
            (crate::context::now_ms() - oldest).max(0)
        };
        self.metrics.ship_lag_ms.set(lag);
    }
}

#[async_trait]
impl pingora::services::background::BackgroundService for Spool {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        let first_segment = match self.recover() {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("usage spool cannot start: {e:#}");
                return;
            }
        };
        // The writer and shipper run until the process ends: rows from requests
        // still finishing during the shutdown grace period are written and
        // shipped too. Whatever is on disk when the process ends ships at the
        // next start.
        tokio::join!(self.write_loop(first_segment), self.ship_loop(), async {
            let _ = shutdown.changed().await;
            tracing::info!("shutdown: usage spool keeps shipping until the process ends");
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) fn row(id: &str) -> UsageRow {
        UsageRow {
            request_id: id.into(),
            ts_ms: 1,
            developer_id: "dev".into(),
            key_id: "key".into(),
            endpoint: "chat.completions".into(),
            method: "POST".into(),
            model: "m".into(),
            deployment_id: "d".into(),
            provider_id: "p".into(),
            prompt_tokens: 1,
            completion_tokens: 2,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_nanos: 3,
            latency_ms: 4,
            ttft_ms: None,
            status: 200,
            stream: false,
            attempts: 1,
            ip: "127.0.0.1".into(),
            user_agent: "t".into(),
            error: String::new(),
            gateway_id: "g".into(),
            batch_id: String::new(),
        }
    }

    #[test]
    fn torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ready-000000000001.jsonl");
        let mut data = serde_json::to_vec(&row("a")).unwrap();
        data.push(b'\n');
        data.extend_from_slice(br#"{"request_id":"b","ts_"#);
        std::fs::write(&path, data).unwrap();
        let rows = read_segment(&path).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].request_id, "a");
    }

    #[test]
    fn writer_seals_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer {
            dir: dir.path().to_path_buf(),
            next_segment: 5,
            current: None,
            unsynced: false,
        };
        w.write(&row("a")).unwrap();
        assert!(w.seal().unwrap());
        assert!(!w.seal().unwrap());
        w.write(&row("b")).unwrap();
        w.sync().unwrap();
        let ready = list(dir.path(), "ready-").unwrap();
        let active = list(dir.path(), "active-").unwrap();
        assert_eq!(ready.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5]);
        assert_eq!(active.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6]);
        assert_eq!(read_segment(&active[0].1).unwrap()[0].request_id, "b");
    }
}
