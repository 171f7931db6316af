//! The usage spool: rows are appended to a local file first, then shipped in
//! batches to the usage store, so an unreachable store or a crash delays
//! usage but never loses it, and a row reaches the store once.
//!
//! Files in `spool.dir`:
//! - `active-<n>.jsonl` — being appended (one JSON row a line), flushed and
//!   fsynced every `flush_interval_ms` (group commit);
//! - `ready-<n>.jsonl` — sealed every `ship_interval_ms`, waiting to ship;
//!   deleted once the store acknowledged every row;
//! - `ready-<n>.acked` — how many leading rows of `ready-<n>.jsonl` the store
//!   acknowledged (ASCII decimal), rewritten after every acknowledged batch
//!   (written to `ready-<n>.acked.tmp`, fsynced, renamed, directory fsynced)
//!   and removed after the segment.
//!
//! Exactly once: rollups in ClickHouse count a row as often as it is
//! inserted, so an acknowledged row is never sent again — shipping resumes
//! after the acknowledged count. Segments ship strictly in order and the
//! shipper stops at the first failure, so at most one batch can have an
//! unknown outcome (a failed call whose insert may have landed, or a crash
//! between the store's ack and the `.acked` write); that batch is sent with
//! [`UsageStore::ship_retry`], which skips rows the store already has. After
//! a restart, every remaining batch of the first unfinished segment goes
//! through `ship_retry` (`batch_rows` may have changed, so the batch the
//! previous run had in flight may span several of ours); so does a segment
//! whose `.acked` file cannot be read.
//!
//! At start, leftover `active-*` files (a crash) are sealed, `.acked` files
//! without their segment are removed, and everything ready is shipped.
//!
//! How far a row gets before the response it meters completes
//! (`spool.durability`, [`Durability`]):
//! - `write` (the default): the request's thread writes the row's line to
//!   the active segment itself (one `write(2)` under the writer's lock), so
//!   it is in the kernel before the client can have the whole response and
//!   survives the gateway's crash (`kill -9`, an OOM kill, a panic); the
//!   writer fsyncs every `flush_interval_ms` (group commit), so a power loss
//!   can lose the last interval;
//! - `fsync`: [`SpoolHandle::append`] queues the row, wakes the writer at
//!   once and returns its sequence number; the request waits in
//!   [`SpoolHandle::wait_durable`] until a group commit covering it is
//!   fsynced. Rows arriving during one fsync share the next, so the wait is
//!   one to two fsyncs; survives a power loss too;
//! - `off`: rows are queued in memory and written and fsynced every
//!   `flush_interval_ms`; a crash loses that last interval.

use crate::metrics::Metrics;
use aihub_contract::usage::UsageRow;
use anyhow::Context;
use async_trait::async_trait;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How far a usage row gets before the response it meters completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Queued in memory; written and fsynced every flush interval.
    Off,
    /// Written to the spool file (the kernel's cache) by the request itself;
    /// fsynced every flush interval. Survives the gateway's crash.
    Write,
    /// Fsynced before the response completes. Survives a power loss.
    Fsync,
}

/// How long a request waits for its row's group commit before its response
/// goes out anyway (counted in `aihub_gateway_spool_durable_timeouts_total`):
/// a stuck disk must not hang every client.
const DURABLE_WAIT: Duration = Duration::from_secs(5);

/// Where rows end up.
#[async_trait]
pub trait UsageStore: Send + Sync {
    /// Label for metrics and logs.
    fn name(&self) -> &'static str;
    /// Stores rows. The spool never sends a row again once this returned
    /// `Ok`, so it need not deduplicate (ClickHouse's rollups do not).
    async fn ship(&self, rows: &[UsageRow]) -> anyhow::Result<()>;
    /// Stores the rows among `rows` the store does not have yet (by request
    /// id) and returns how many it already had. Used for a batch whose
    /// earlier attempt may have been stored. The default calls [`Self::ship`],
    /// right for stores that deduplicate by request id themselves.
    async fn ship_retry(&self, rows: &[UsageRow]) -> anyhow::Result<u64> {
        self.ship(rows).await.map(|()| 0)
    }
}

/// Rows handed over by request threads, drained by the writer on each group
/// commit, and the sequence number of the last row appended. A plain buffer
/// rather than a channel: appending is a short uncontended lock and a push.
#[derive(Default)]
struct PendingRows {
    rows: Vec<UsageRow>,
    appended: u64,
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The sequence number up to which rows are on disk, and the waiters.
#[derive(Default)]
struct Committed {
    upto: std::sync::Mutex<u64>,
    changed: std::sync::Condvar,
}

impl Committed {
    fn advance(&self, seq: u64) {
        let mut upto = lock(&self.upto);
        if seq > *upto {
            *upto = seq;
            self.changed.notify_all();
        }
    }

    /// Blocks until `seq` is committed or `timeout` passed; true if committed.
    fn wait(&self, seq: u64, timeout: Duration) -> bool {
        let upto = lock(&self.upto);
        let (upto, _) = self
            .changed
            .wait_timeout_while(upto, timeout, |upto| *upto < seq)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *upto >= seq
    }
}

/// What request threads and the writer share.
struct Core {
    durability: Durability,
    pending: std::sync::Mutex<PendingRows>,
    /// The active segment; `None` until recovery at start is done (rows
    /// wait in `pending` meanwhile).
    writer: std::sync::Mutex<Option<Writer>>,
    /// Wakes the writer for a commit now (`fsync` rows).
    urgent: Notify,
    committed: Committed,
    metrics: Arc<Metrics>,
    /// Rows on disk not yet shipped.
    depth: AtomicI64,
    /// Timestamp (ms) of the oldest unshipped row, 0 when none.
    oldest_ms: AtomicI64,
}

/// Rows as spool lines, ready for one `write(2)`.
struct Lines {
    bytes: Vec<u8>,
    rows: i64,
    first_ts_ms: Option<i64>,
}

impl Lines {
    fn of(rows: &[UsageRow]) -> Lines {
        let mut lines = Lines {
            bytes: Vec::with_capacity(rows.len() * 512),
            rows: 0,
            first_ts_ms: rows.first().map(|r| r.ts_ms),
        };
        for row in rows {
            match serde_json::to_writer(&mut lines.bytes, row) {
                Ok(()) => {
                    lines.bytes.push(b'\n');
                    lines.rows += 1;
                }
                Err(e) => {
                    tracing::error!(request_id = %row.request_id, "usage row not serialisable: {e}")
                }
            }
        }
        lines
    }
}

impl Core {
    /// Writes lines to the active segment (not synced).
    fn write_lines(&self, writer: &mut Writer, lines: &Lines) {
        if let Err(e) = writer.write(&lines.bytes) {
            tracing::error!(rows = lines.rows, "usage spool write failed: {e:#}");
            return;
        }
        if let Some(first) = lines.first_ts_ms {
            let _ = self
                .oldest_ms
                .compare_exchange(0, first, Ordering::Relaxed, Ordering::Relaxed);
        }
        let depth = self.depth.fetch_add(lines.rows, Ordering::Relaxed) + lines.rows;
        self.metrics.spool_depth.set(depth);
    }
}

/// The cheap handle request threads use to hand rows over.
#[derive(Clone)]
pub struct SpoolHandle {
    core: Arc<Core>,
}

impl SpoolHandle {
    /// Whether the writer runs: rows reach the disk (recovery at start is done).
    pub fn running(&self) -> bool {
        lock(&self.core.writer).is_some()
    }

    /// The configured durability.
    pub fn durability(&self) -> Durability {
        self.core.durability
    }

    /// Hands a row over. `write`: writes it to the spool file now (queues it
    /// while the writer is not running yet); `off`: queues it; `fsync`:
    /// queues it, wakes the writer and returns the sequence number to give
    /// [`Self::wait_durable`].
    pub fn append(&self, row: UsageRow) -> Option<u64> {
        let core = &self.core;
        if core.durability == Durability::Write {
            // Serialised before taking the lock other requests wait on.
            let lines = Lines::of(std::slice::from_ref(&row));
            if let Some(writer) = lock(&core.writer).as_mut() {
                core.write_lines(writer, &lines);
                return None;
            }
        }
        let seq = {
            let mut pending = lock(&core.pending);
            pending.rows.push(row);
            pending.appended += 1;
            pending.appended
        };
        if core.durability == Durability::Fsync {
            core.urgent.notify_one();
            Some(seq)
        } else {
            None
        }
    }

    /// Waits until the row numbered `seq` is fsynced (at most 5 s) and says
    /// whether it is. Called from the proxy's synchronous body filter as
    /// well as from async code, so it blocks the thread: on a work-stealing
    /// runtime through `block_in_place`, which hands the thread's other
    /// tasks to another worker meanwhile; on a single-threaded one
    /// (`server.work_stealing = false`) the thread waits.
    pub fn wait_durable(&self, seq: u64) -> bool {
        let started = Instant::now();
        let wait = || self.core.committed.wait(seq, DURABLE_WAIT);
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let done = if multi_thread {
            tokio::task::block_in_place(wait)
        } else {
            wait()
        };
        let metrics = &self.core.metrics;
        metrics
            .spool_durable_wait
            .observe(started.elapsed().as_secs_f64());
        if !done {
            metrics.spool_durable_timeouts.inc();
            tracing::warn!(
                seq,
                "a usage row was not on disk within {DURABLE_WAIT:?}; answering anyway"
            );
        }
        done
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
    /// How far a row gets before its response completes.
    pub durability: Durability,
}

/// The writer and shipper, run as a background service.
pub struct Spool {
    settings: SpoolSettings,
    core: Arc<Core>,
    store: Arc<dyn UsageStore>,
    metrics: Arc<Metrics>,
    sealed: Arc<Notify>,
    /// A batch was sent and its acknowledgement is not on disk (the call
    /// failed, or recording it did): the next batch goes through `ship_retry`.
    uncertain: AtomicBool,
    /// The first unfinished segment found at start (`u64::MAX` when none):
    /// the previous run may have had a batch of it in flight, so all of its
    /// remaining batches go through `ship_retry`.
    resume_segment: AtomicU64,
}

/// Creates the spool and the handle that feeds it.
pub fn spool(
    settings: SpoolSettings,
    store: Arc<dyn UsageStore>,
    metrics: Arc<Metrics>,
) -> (Spool, SpoolHandle) {
    let core = Arc::new(Core {
        durability: settings.durability,
        pending: Default::default(),
        writer: std::sync::Mutex::new(None),
        urgent: Notify::new(),
        committed: Committed::default(),
        metrics: metrics.clone(),
        depth: AtomicI64::new(0),
        oldest_ms: AtomicI64::new(0),
    });
    (
        Spool {
            settings,
            core: core.clone(),
            store,
            metrics,
            sealed: Arc::new(Notify::new()),
            uncertain: AtomicBool::new(false),
            resume_segment: AtomicU64::new(u64::MAX),
        },
        SpoolHandle { core },
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

/// The acknowledgement file of segment `ready-<n>.jsonl`.
fn acked_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("ready-{n:012}.acked"))
}

/// How many leading rows of a segment the store acknowledged: 0 when there
/// is no acknowledgement file, an error when it cannot be read or parsed.
fn read_acked(path: &Path) -> anyhow::Result<usize> {
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .trim()
            .parse()
            .with_context(|| format!("parsing {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Makes renames and removals in `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Durably records that the first `acked` rows of a segment are stored:
/// a temporary file, fsynced, renamed over `path`, the directory fsynced.
fn write_acked(path: &Path, acked: usize) -> anyhow::Result<()> {
    let tmp = path.with_extension("acked.tmp");
    let mut file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    writeln!(file, "{acked}")?;
    file.sync_all()
        .with_context(|| format!("syncing {}", tmp.display()))?;
    drop(file);
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    if let Some(dir) = path.parent() {
        sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
    }
    Ok(())
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

/// The active segment. Unbuffered: what `write` returns from is in the
/// kernel, so it survives the process.
struct Writer {
    dir: PathBuf,
    next_segment: u64,
    current: Option<(u64, std::fs::File)>,
    unsynced: bool,
}

impl Writer {
    fn new(dir: PathBuf, first_segment: u64) -> Writer {
        Writer {
            dir,
            next_segment: first_segment,
            current: None,
            unsynced: false,
        }
    }

    /// Appends whole lines.
    fn write(&mut self, lines: &[u8]) -> anyhow::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        if self.current.is_none() {
            let n = self.next_segment;
            self.next_segment += 1;
            let path = self.dir.join(format!("active-{n:012}.jsonl"));
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening {}", path.display()))?;
            self.current = Some((n, file));
        }
        if let Some((_, file)) = self.current.as_mut() {
            self.unsynced = true;
            file.write_all(lines)?;
        }
        Ok(())
    }

    /// What `sync` would fsync, as a second handle to the same file, so the
    /// fsync can run without the writer's lock (request threads keep
    /// appending meanwhile; what they wrote before the call is covered).
    /// `None` when nothing is unsynced.
    fn sync_handle(&mut self) -> std::io::Result<Option<std::fs::File>> {
        match (self.unsynced, self.current.as_ref()) {
            (true, Some((_, file))) => {
                let handle = file.try_clone()?;
                self.unsynced = false;
                Ok(Some(handle))
            }
            _ => Ok(None),
        }
    }

    /// Group commit: everything written so far reaches the disk.
    fn sync(&mut self) -> anyhow::Result<()> {
        if let (true, Some((_, file))) = (self.unsynced, self.current.as_mut()) {
            file.sync_data()?;
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
    /// Prepares the directory: seals what a crash left active, removes
    /// acknowledgement files without a segment, counts the backlog.
    fn recover(&self) -> anyhow::Result<u64> {
        let dir = &self.settings.dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let mut max = 0;
        for (n, path) in list(dir, "active-")? {
            let to = dir.join(format!("ready-{n:012}.jsonl"));
            std::fs::rename(&path, &to)?;
            max = max.max(n);
        }
        let ready = list(dir, "ready-")?;
        // An `.acked` file outlives its segment after a crash between the two
        // removals; segment numbers start again above the highest file left,
        // so a stale one could otherwise skip rows of a new segment.
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let orphan = if name.ends_with(".acked.tmp") {
                true
            } else if let Some(n) = name
                .strip_prefix("ready-")
                .and_then(|s| s.strip_suffix(".acked"))
            {
                n.parse::<u64>()
                    .map_or(true, |n| !ready.iter().any(|(r, _)| *r == n))
            } else {
                false
            };
            if orphan {
                std::fs::remove_file(entry.path())
                    .with_context(|| format!("removing {}", entry.path().display()))?;
            }
        }
        let mut backlog = 0i64;
        let mut oldest = 0i64;
        let mut resume = u64::MAX;
        for (n, path) in &ready {
            max = max.max(*n);
            let rows = read_segment(path)?;
            let acked = read_acked(&acked_path(dir, *n))
                .unwrap_or(0)
                .min(rows.len());
            let left = &rows[acked..];
            if !left.is_empty() && resume == u64::MAX {
                resume = *n;
            }
            backlog += left.len() as i64;
            if let Some(first) = left.iter().map(|r| r.ts_ms).min() {
                if oldest == 0 || first < oldest {
                    oldest = first;
                }
            }
        }
        self.resume_segment.store(resume, Ordering::Relaxed);
        self.core.depth.store(backlog, Ordering::Relaxed);
        self.core.oldest_ms.store(oldest, Ordering::Relaxed);
        self.metrics.spool_depth.set(backlog);
        if backlog > 0 {
            tracing::info!(
                rows = backlog,
                "usage spool has rows from an earlier run; shipping them"
            );
        }
        Ok(max + 1)
    }

    /// Group commit: writes the rows queued since the last one, fsyncs
    /// whatever was written (by request threads too), then releases the
    /// requests waiting for the queued rows — also when writing failed
    /// (logged): a broken disk must not hold every response.
    fn commit(&self) {
        let core = &self.core;
        let (rows, upto) = {
            let mut pending = lock(&core.pending);
            (std::mem::take(&mut pending.rows), pending.appended)
        };
        let lines = (!rows.is_empty()).then(|| Lines::of(&rows));
        let to_sync = match lock(&core.writer).as_mut() {
            Some(writer) => {
                if let Some(lines) = &lines {
                    core.write_lines(writer, lines);
                }
                writer.sync_handle()
            }
            None => Ok(None),
        };
        // The fsync runs outside the lock: request threads writing their
        // rows (`write`) do not wait for the disk.
        if let Err(e) = to_sync.and_then(|f| f.map_or(Ok(()), |f| f.sync_data())) {
            tracing::error!("usage spool sync failed: {e:#}");
        }
        core.committed.advance(upto);
    }

    /// Commits, then seals the active segment for shipping.
    fn seal(&self) {
        self.commit();
        let sealed = match lock(&self.core.writer).as_mut() {
            Some(writer) => writer.seal(),
            None => Ok(false),
        };
        match sealed {
            Ok(true) => self.sealed.notify_one(),
            Ok(false) => {}
            Err(e) => tracing::error!("usage spool seal failed: {e:#}"),
        }
    }

    async fn write_loop(&self, first_segment: u64) {
        *lock(&self.core.writer) = Some(Writer::new(self.settings.dir.clone(), first_segment));
        // The first ticks come one period after start (there is nothing to
        // write before).
        let every = |period| tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        let mut flush = every(self.settings.flush_interval);
        let mut seal = every(self.settings.ship_interval);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        seal.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The spool has its own runtime, so its blocking file calls never
        // stall the proxy's threads.
        loop {
            tokio::select! {
                _ = flush.tick() => self.commit(),
                // A request waits for its row (`fsync`): commit now. Rows
                // appended during this commit's fsync leave a permit, so
                // they go in the next one straight after.
                _ = self.core.urgent.notified() => self.commit(),
                _ = seal.tick() => self.seal(),
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
            for (n, path) in segments {
                match self.ship_segment(n, &path).await {
                    Ok(()) => backoff = Duration::from_millis(100),
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

    /// Ships the rows of segment `n` not acknowledged yet, recording the
    /// acknowledged count after each batch, then removes the segment.
    async fn ship_segment(&self, n: u64, path: &Path) -> anyhow::Result<()> {
        let sink = self.store.name();
        let dir = &self.settings.dir;
        let rows = read_segment(path).with_context(|| format!("reading {}", path.display()))?;
        let acked_file = acked_path(dir, n);
        let (mut acked, mut all_retry) = match read_acked(&acked_file) {
            Ok(acked) => (acked.min(rows.len()), false),
            Err(e) => {
                // Unknown progress: send everything, but only what is missing.
                tracing::warn!("{e:#}; re-checking every row of the segment with the store");
                (0, true)
            }
        };
        all_retry |= self.resume_segment.load(Ordering::Relaxed) == n;
        while acked < rows.len() {
            let end = (acked + self.settings.batch_rows).min(rows.len());
            let batch = &rows[acked..end];
            // Set before sending, cleared once the ack is on disk: any failure
            // in between leaves the outcome of this batch uncertain.
            let retry = self.uncertain.swap(true, Ordering::Relaxed) || all_retry;
            let already = if retry {
                self.store.ship_retry(batch).await?
            } else {
                self.store.ship(batch).await?;
                0
            };
            write_acked(&acked_file, end)?;
            self.uncertain.store(false, Ordering::Relaxed);
            acked = end;

            let already = already.min(batch.len() as u64);
            self.metrics
                .rows_shipped
                .with_label_values(&[sink])
                .inc_by(batch.len() as u64 - already);
            if already > 0 {
                self.metrics
                    .rows_deduplicated
                    .with_label_values(&[sink])
                    .inc_by(already);
                tracing::info!(
                    sink,
                    rows = already,
                    "usage rows already stored were not sent again"
                );
            }
            let k = batch.len() as i64;
            let left = self.core.depth.fetch_sub(k, Ordering::Relaxed) - k;
            if left <= 0 {
                self.core.depth.store(0, Ordering::Relaxed);
                self.core.oldest_ms.store(0, Ordering::Relaxed);
            }
            self.metrics.spool_depth.set(left.max(0));
        }
        // The segment goes first, durably, then its ack file: a crash in
        // between leaves an ack file without a segment, removed at start;
        // the other order could leave a segment without one, shipped again.
        std::fs::remove_file(path).with_context(|| format!("removing {}", path.display()))?;
        sync_dir(dir).with_context(|| format!("syncing {}", dir.display()))?;
        match std::fs::remove_file(&acked_file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", acked_file.display()))
            }
            _ => {}
        }
        Ok(())
    }

    fn update_lag(&self) {
        let oldest = self.core.oldest_ms.load(Ordering::Relaxed);
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
        let mut w = Writer::new(dir.path().to_path_buf(), 5);
        w.write(&line("a")).unwrap();
        assert!(w.seal().unwrap());
        assert!(!w.seal().unwrap());
        w.write(&line("b")).unwrap();
        w.sync().unwrap();
        let ready = list(dir.path(), "ready-").unwrap();
        let active = list(dir.path(), "active-").unwrap();
        assert_eq!(ready.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5]);
        assert_eq!(active.iter().map(|r| r.0).collect::<Vec<_>>(), vec![6]);
        assert_eq!(read_segment(&active[0].1).unwrap()[0].request_id, "b");
    }

    /// A store that keeps rows in memory and deduplicates in `ship_retry` as
    /// ClickHouseStore does; the call numbered `fail_on_call` (0-based) stores
    /// its rows and then fails, as when the ack is lost.
    #[derive(Default)]
    struct FakeStore {
        rows: std::sync::Mutex<Vec<UsageRow>>,
        calls: std::sync::Mutex<Vec<(&'static str, Vec<String>)>>,
        fail_on_call: Option<usize>,
    }

    impl FakeStore {
        fn ids(&self) -> Vec<String> {
            self.rows
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.request_id.clone())
                .collect()
        }

        fn calls(&self) -> Vec<(&'static str, Vec<String>)> {
            self.calls.lock().unwrap().clone()
        }

        fn record(&self, kind: &'static str, rows: &[UsageRow]) -> anyhow::Result<()> {
            let mut calls = self.calls.lock().unwrap();
            let call = calls.len();
            calls.push((kind, rows.iter().map(|r| r.request_id.clone()).collect()));
            self.rows.lock().unwrap().extend_from_slice(rows);
            if self.fail_on_call == Some(call) {
                anyhow::bail!("stored, but the answer was lost");
            }
            Ok(())
        }
    }

    #[async_trait]
    impl UsageStore for FakeStore {
        fn name(&self) -> &'static str {
            "fake"
        }

        async fn ship(&self, rows: &[UsageRow]) -> anyhow::Result<()> {
            self.record("ship", rows)
        }

        async fn ship_retry(&self, rows: &[UsageRow]) -> anyhow::Result<u64> {
            let have = self.ids();
            let missing: Vec<UsageRow> = rows
                .iter()
                .filter(|r| !have.contains(&r.request_id))
                .cloned()
                .collect();
            self.record("retry", &missing)?;
            Ok((rows.len() - missing.len()) as u64)
        }
    }

    fn test_spool(dir: &Path, store: Arc<FakeStore>) -> (Spool, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new().unwrap());
        let (spool, _handle) = spool(
            SpoolSettings {
                dir: dir.to_path_buf(),
                flush_interval: Duration::from_millis(10),
                ship_interval: Duration::from_millis(10),
                batch_rows: 2,
                durability: Durability::Off,
            },
            store,
            metrics.clone(),
        );
        (spool, metrics)
    }

    /// Rows in the active segments of `dir`.
    fn active_ids(dir: &Path) -> Vec<String> {
        list(dir, "active-")
            .unwrap()
            .iter()
            .flat_map(|(_, p)| read_segment(p).unwrap())
            .map(|r| r.request_id)
            .collect()
    }

    /// One row as a spool line.
    fn line(id: &str) -> Vec<u8> {
        let mut l = serde_json::to_vec(&row(id)).unwrap();
        l.push(b'\n');
        l
    }

    /// A spool whose timed flushes and seals never come within a test.
    fn untimed_spool(dir: &Path, durability: Durability) -> (Spool, SpoolHandle, Arc<Metrics>) {
        let metrics = Arc::new(Metrics::new().unwrap());
        let hour = Duration::from_secs(3600);
        let (spool, handle) = spool(
            SpoolSettings {
                dir: dir.to_path_buf(),
                flush_interval: hour,
                ship_interval: hour,
                batch_rows: 10,
                durability,
            },
            Arc::new(FakeStore::default()),
            metrics.clone(),
        );
        (spool, handle, metrics)
    }

    #[test]
    fn an_fsync_row_is_on_disk_when_its_wait_returns() {
        let dir = tempfile::tempdir().unwrap();
        // Only a row's own commit can write it.
        let (spool, handle, metrics) = untimed_spool(dir.path(), Durability::Fsync);
        let first = spool.recover().unwrap();
        // The spool runs on its own runtime and thread, as in the gateway
        // (this one runs until the test process ends).
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(spool.write_loop(first));
        });
        // Four request threads finishing at once.
        let waits: Vec<_> = (0..4)
            .map(|i| {
                let handle = handle.clone();
                std::thread::spawn(move || {
                    let seq = handle.append(row(&format!("r{i}"))).unwrap();
                    (seq, handle.wait_durable(seq))
                })
            })
            .collect();
        let mut seqs: Vec<u64> = waits
            .into_iter()
            .map(|w| {
                let (seq, on_disk) = w.join().unwrap();
                assert!(on_disk, "row {seq} was not committed");
                seq
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, vec![1, 2, 3, 4]);
        let mut on_disk = active_ids(dir.path());
        on_disk.sort();
        assert_eq!(on_disk, ids(&["r0", "r1", "r2", "r3"]));
        assert_eq!(
            count(&metrics, "aihub_gateway_spool_durable_timeouts_total"),
            0.0
        );
        assert_eq!(
            count(&metrics, "aihub_gateway_spool_durable_wait_seconds_count"),
            4.0
        );
    }

    #[test]
    fn a_write_row_is_in_the_file_when_append_returns() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, handle, metrics) = untimed_spool(dir.path(), Durability::Write);
        let first = spool.recover().unwrap();
        // Before the writer runs (recovery at start), rows wait in memory.
        assert!(!handle.running());
        assert_eq!(handle.append(row("early")), None);
        assert!(active_ids(dir.path()).is_empty());
        *lock(&spool.core.writer) = Some(Writer::new(dir.path().to_path_buf(), first));
        assert!(handle.running());
        // Then the request's own call writes its line: no commit needed.
        assert_eq!(handle.append(row("r0")), None);
        assert_eq!(active_ids(dir.path()), ids(&["r0"]));
        // The next commit writes what waited and fsyncs.
        spool.commit();
        assert_eq!(active_ids(dir.path()), ids(&["r0", "early"]));
        assert_eq!(count(&metrics, "aihub_gateway_spool_depth_rows"), 2.0);
    }

    #[test]
    fn an_off_row_waits_in_memory_for_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, handle, _) = untimed_spool(dir.path(), Durability::Off);
        let first = spool.recover().unwrap();
        *lock(&spool.core.writer) = Some(Writer::new(dir.path().to_path_buf(), first));
        assert_eq!(handle.append(row("r0")), None);
        assert!(active_ids(dir.path()).is_empty());
        spool.commit();
        assert_eq!(active_ids(dir.path()), ids(&["r0"]));
    }

    fn write_ready(dir: &Path, n: u64, ids: &[&str]) -> PathBuf {
        let path = dir.join(format!("ready-{n:012}.jsonl"));
        let mut data = Vec::new();
        for id in ids {
            serde_json::to_writer(&mut data, &row(id)).unwrap();
            data.push(b'\n');
        }
        std::fs::write(&path, data).unwrap();
        path
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn count(metrics: &Metrics, name: &str) -> f64 {
        let text = String::from_utf8(metrics.render()).unwrap();
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    }

    #[tokio::test]
    async fn a_lost_ack_is_retried_without_storing_a_row_twice() {
        let dir = tempfile::tempdir().unwrap();
        // The second batch (c, d) is stored but its call fails.
        let store = Arc::new(FakeStore {
            fail_on_call: Some(1),
            ..FakeStore::default()
        });
        let (spool, metrics) = test_spool(dir.path(), store.clone());
        spool.recover().unwrap();
        let path = write_ready(dir.path(), 1, &["a", "b", "c", "d", "e"]);

        assert!(spool.ship_segment(1, &path).await.is_err());
        assert_eq!(read_acked(&acked_path(dir.path(), 1)).unwrap(), 2);
        spool.ship_segment(1, &path).await.unwrap();

        assert_eq!(store.ids(), ids(&["a", "b", "c", "d", "e"]));
        assert_eq!(
            store.calls(),
            vec![
                ("ship", ids(&["a", "b"])),
                ("ship", ids(&["c", "d"])),
                ("retry", vec![]),
                ("ship", ids(&["e"])),
            ]
        );
        assert!(!path.exists());
        assert!(!acked_path(dir.path(), 1).exists());
        assert_eq!(
            count(&metrics, "aihub_gateway_usage_rows_deduplicated_total"),
            2.0
        );
        assert_eq!(
            count(&metrics, "aihub_gateway_usage_rows_shipped_total"),
            3.0
        );
    }

    #[tokio::test]
    async fn recovery_skips_acknowledged_rows_and_rechecks_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        // The previous run had a, b, c acknowledged, then d stored and
        // crashed before recording it.
        let store = Arc::new(FakeStore::default());
        store
            .rows
            .lock()
            .unwrap()
            .extend(["a", "b", "c", "d"].map(row));
        let path = write_ready(dir.path(), 4, &["a", "b", "c", "d", "e", "f", "g"]);
        std::fs::write(acked_path(dir.path(), 4), "3\n").unwrap();
        // Leftovers of a crash: an ack file whose segment is gone (its number
        // would be reused) and a half-written temporary one.
        std::fs::write(acked_path(dir.path(), 9), "2\n").unwrap();
        std::fs::write(dir.path().join("ready-000000000004.acked.tmp"), "").unwrap();

        let (spool, metrics) = test_spool(dir.path(), store.clone());
        assert_eq!(spool.recover().unwrap(), 5);
        assert_eq!(spool.core.depth.load(Ordering::Relaxed), 4);
        assert!(!acked_path(dir.path(), 9).exists());
        assert!(!dir.path().join("ready-000000000004.acked.tmp").exists());

        spool.ship_segment(4, &path).await.unwrap();
        assert_eq!(store.ids(), ids(&["a", "b", "c", "d", "e", "f", "g"]));
        // Every remaining batch of the segment in flight at the crash is
        // re-checked (the previous run's batch size is unknown).
        assert_eq!(
            store.calls(),
            vec![("retry", ids(&["e"])), ("retry", ids(&["f", "g"]))]
        );
        assert!(!path.exists());
        assert!(!acked_path(dir.path(), 4).exists());
        assert_eq!(spool.core.depth.load(Ordering::Relaxed), 0);
        assert_eq!(
            count(&metrics, "aihub_gateway_usage_rows_deduplicated_total"),
            1.0
        );
    }

    #[tokio::test]
    async fn later_segments_after_recovery_ship_plainly() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FakeStore::default());
        let first = write_ready(dir.path(), 1, &["a", "b", "c"]);
        std::fs::write(acked_path(dir.path(), 1), "3\n").unwrap();
        let second = write_ready(dir.path(), 2, &["d", "e", "f"]);
        let (spool, _) = test_spool(dir.path(), store.clone());
        spool.recover().unwrap();
        // Segment 1 was fully acknowledged: it is only removed.
        spool.ship_segment(1, &first).await.unwrap();
        assert!(!first.exists() && !acked_path(dir.path(), 1).exists());
        spool.ship_segment(2, &second).await.unwrap();
        assert_eq!(
            store.calls(),
            vec![("retry", ids(&["d", "e"])), ("retry", ids(&["f"]))]
        );
        let third = write_ready(dir.path(), 3, &["g"]);
        spool.ship_segment(3, &third).await.unwrap();
        assert_eq!(store.calls()[2], ("ship", ids(&["g"])));
    }

    #[tokio::test]
    async fn an_unreadable_ack_file_rechecks_the_whole_segment() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FakeStore::default());
        store.rows.lock().unwrap().extend(["a", "b"].map(row));
        let (spool, _) = test_spool(dir.path(), store.clone());
        spool.recover().unwrap();
        let path = write_ready(dir.path(), 1, &["a", "b", "c"]);
        std::fs::write(acked_path(dir.path(), 1), "garbage").unwrap();
        spool.ship_segment(1, &path).await.unwrap();
        assert_eq!(store.ids(), ids(&["a", "b", "c"]));
        assert_eq!(
            store.calls(),
            vec![("retry", vec![]), ("retry", ids(&["c"]))]
        );
    }
}
