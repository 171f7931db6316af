//! Passive upstream health: every deployment's recent attempts decide
//! whether routing tries it.
//!
//! After `eject_after_failures` failed attempts in a row (connection error,
//! timeout, 5xx, or the provider refusing the operator's key) a deployment
//! is ejected for `ejection_ms`: routing skips it while others can serve.
//! When the ejection ends, one request every `probe_interval_ms` is let
//! through as a recovery probe; the first success puts the deployment back
//! in rotation, a failure ejects it again for twice as long (up to
//! `max_ejection_ms`). When every deployment of a model is ejected, all are
//! tried anyway: a likely failure beats a certain refusal.
//!
//! State lives in a [`Registry`] that outlives configuration reloads; each
//! table [`crate::tables::Deployment`] holds its entry, so the request path
//! touches only that entry's atomics, no lock.

use aihub_contract::health::DeploymentHealth as Reported;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// When to eject and for how long (the `routing` plugin's settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures in a row that eject a deployment; 0 never ejects.
    pub eject_after_failures: u32,
    /// First ejection, ms.
    pub ejection_ms: u64,
    /// Longest ejection, ms.
    pub max_ejection_ms: u64,
    /// After an ejection, at most one probe this often, ms.
    pub probe_interval_ms: u64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            eject_after_failures: 5,
            ejection_ms: 30_000,
            max_ejection_ms: 300_000,
            probe_interval_ms: 5_000,
        }
    }
}

/// Counters are kept in two half-minute buckets: a report covers the last
/// 30 to 60 seconds.
const BUCKET_MS: u64 = 30_000;

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    errors: u64,
    ok: u64,
    latency_sum_ms: u64,
}

impl Counts {
    fn add(self, o: Counts) -> Counts {
        Counts {
            requests: self.requests + o.requests,
            errors: self.errors + o.errors,
            ok: self.ok + o.ok,
            latency_sum_ms: self.latency_sum_ms.saturating_add(o.latency_sum_ms),
        }
    }
}

/// One half-minute's counters.
#[derive(Debug, Default)]
struct Bucket {
    requests: AtomicU64,
    errors: AtomicU64,
    ok: AtomicU64,
    latency_sum_ms: AtomicU64,
}

impl Bucket {
    fn add(&self, c: Counts) {
        for (counter, n) in [
            (&self.requests, c.requests),
            (&self.errors, c.errors),
            (&self.ok, c.ok),
            (&self.latency_sum_ms, c.latency_sum_ms),
        ] {
            if n != 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    fn load(&self) -> Counts {
        Counts {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            latency_sum_ms: self.latency_sum_ms.load(Ordering::Relaxed),
        }
    }

    /// Its counts, leaving it at zero.
    fn take(&self) -> Counts {
        Counts {
            requests: self.requests.swap(0, Ordering::Relaxed),
            errors: self.errors.swap(0, Ordering::Relaxed),
            ok: self.ok.swap(0, Ordering::Relaxed),
            latency_sum_ms: self.latency_sum_ms.swap(0, Ordering::Relaxed),
        }
    }

    fn set(&self, c: Counts) {
        self.requests.store(c.requests, Ordering::Relaxed);
        self.errors.store(c.errors, Ordering::Relaxed);
        self.ok.store(c.ok, Ordering::Relaxed);
        self.latency_sum_ms
            .store(c.latency_sum_ms, Ordering::Relaxed);
    }
}

/// The current and the previous half-minute, without a lock: the request
/// path adds to `current`; the first caller to see a new half-minute moves
/// it to `previous`. An attempt counted during that move may land in the
/// wrong half-minute; these figures are for people, not for billing.
#[derive(Debug, Default)]
struct Window {
    bucket: AtomicU64,
    current: Bucket,
    previous: Bucket,
}

impl Window {
    /// Moves to the half-minute of `now` (a clock going back changes nothing).
    fn roll(&self, now: u64) {
        let b = now / BUCKET_MS;
        let seen = self.bucket.load(Ordering::Acquire);
        if b <= seen
            || self
                .bucket
                .compare_exchange(seen, b, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return;
        }
        let current = self.current.take();
        self.previous.set(if b == seen + 1 {
            current
        } else {
            Counts::default()
        });
    }

    fn add(&self, now: u64, c: Counts) {
        self.roll(now);
        self.current.add(c);
    }

    /// The last 30 to 60 seconds.
    fn recent(&self, now: u64) -> Counts {
        self.roll(now);
        self.previous.load().add(self.current.load())
    }
}

/// One deployment's health.
#[derive(Debug, Default)]
pub struct Health {
    consecutive: AtomicU32,
    /// Unix ms the ejection ends; 0 = in rotation.
    ejected_until: AtomicU64,
    /// Ejections in a row (the backoff's exponent).
    ejections: AtomicU32,
    /// Unix ms from which the next recovery probe may go.
    next_probe: AtomicU64,
    window: Window,
}

/// What a failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Still in rotation (or still ejected).
    Unchanged,
    /// Ejected now, until the given unix ms.
    Ejected(u64),
}

impl Health {
    /// Whether routing may try it now: in rotation, or its ejection is over
    /// and this caller takes the probe that is due (at most one per
    /// `probe_interval_ms`).
    pub fn admits(&self, now: u64, policy: &Policy) -> bool {
        let until = self.ejected_until.load(Ordering::Acquire);
        if until == 0 {
            return true;
        }
        if now < until {
            return false;
        }
        let due = self.next_probe.load(Ordering::Acquire);
        due <= now
            && self
                .next_probe
                .compare_exchange(
                    due,
                    now.saturating_add(policy.probe_interval_ms),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
    }

    /// Whether it is out of rotation (ejected, or awaiting a successful probe).
    pub fn is_ejected(&self) -> bool {
        self.ejected_until.load(Ordering::Acquire) != 0
    }

    /// An attempt got a good answer after `latency_ms`: back in rotation.
    /// Returns whether it had been ejected.
    pub fn success(&self, now: u64, latency_ms: u64) -> bool {
        self.window.add(
            now,
            Counts {
                requests: 1,
                ok: 1,
                latency_sum_ms: latency_ms,
                ..Counts::default()
            },
        );
        // Written only when they change: the usual success leaves these
        // shared lines alone.
        if self.consecutive.load(Ordering::Acquire) != 0 {
            self.consecutive.store(0, Ordering::Release);
        }
        if self.ejected_until.load(Ordering::Acquire) == 0 {
            return false;
        }
        let was = self.ejected_until.swap(0, Ordering::AcqRel) != 0;
        if was {
            self.ejections.store(0, Ordering::Release);
        }
        was
    }

    /// An attempt failed.
    pub fn failure(&self, now: u64, policy: &Policy) -> Verdict {
        self.window.add(
            now,
            Counts {
                requests: 1,
                errors: 1,
                ..Counts::default()
            },
        );
        let in_row = self
            .consecutive
            .fetch_add(1, Ordering::AcqRel)
            .saturating_add(1);
        if policy.eject_after_failures == 0 {
            return Verdict::Unchanged;
        }
        let until = self.ejected_until.load(Ordering::Acquire);
        let eject = if until != 0 {
            // A probe (or a request let through while all were ejected)
            // failed after the ejection ended: eject again, for longer.
            now >= until
        } else {
            in_row >= policy.eject_after_failures
        };
        if !eject {
            return Verdict::Unchanged;
        }
        let n = self.ejections.fetch_add(1, Ordering::AcqRel).min(16);
        let span = policy
            .ejection_ms
            .saturating_mul(1u64 << n)
            .min(policy.max_ejection_ms.max(policy.ejection_ms));
        let until = now.saturating_add(span);
        self.ejected_until.store(until, Ordering::Release);
        self.next_probe.store(until, Ordering::Release);
        Verdict::Ejected(until)
    }

    fn report(&self, id: &str, now: u64) -> Option<Reported> {
        let c = self.window.recent(now);
        let until = self.ejected_until.load(Ordering::Acquire);
        if c.requests == 0 && until == 0 {
            return None;
        }
        Some(Reported {
            deployment_id: id.to_string(),
            requests: c.requests,
            errors: c.errors,
            latency_ms: c.latency_sum_ms.checked_div(c.ok),
            consecutive_failures: self.consecutive.load(Ordering::Acquire),
            ejected_until_ms: (until != 0).then_some(until),
        })
    }
}

/// Every deployment's [`Health`], by deployment id; survives reloads.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<HashMap<String, Arc<Health>>>,
}

impl Registry {
    /// The entry of `id`, made if new.
    pub fn get(&self, id: &str) -> Arc<Health> {
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(id.to_string()).or_default().clone()
    }

    /// Forgets deployments the configuration no longer has.
    pub fn retain(&self, ids: &HashSet<&str>) {
        let mut m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|id, _| ids.contains(id.as_str()));
    }

    /// Deployments tried in the last minute or out of rotation, by id.
    pub fn report(&self, now: u64) -> Vec<Reported> {
        let entries: Vec<(String, Arc<Health>)> = {
            let m = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut out: Vec<Reported> = entries
            .iter()
            .filter_map(|(id, h)| h.report(id, now))
            .collect();
        out.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
        out
    }
}

/// Sends this gateway's [`Registry::report`] to the control plane every
/// `control_plane.health_report_ms` (signed like every internal call), and
/// keeps the `upstream_ejected` gauge current.
pub struct Reporter {
    live: Arc<crate::tables::Live>,
    metrics: Arc<crate::metrics::Metrics>,
    client: reqwest::Client,
    url: String,
    secret: Vec<u8>,
    gateway_id: String,
    every: std::time::Duration,
}

impl Reporter {
    /// A reporter for the control plane at `base`.
    pub fn new(
        config: &crate::config::ControlPlaneConfig,
        gateway_id: String,
        live: Arc<crate::tables::Live>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> anyhow::Result<Reporter> {
        Ok(Reporter {
            live,
            metrics,
            client: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
            url: format!(
                "{}{}",
                config.url.trim_end_matches('/'),
                aihub_contract::routes::HEALTH
            ),
            secret: config.shared_secret.as_bytes().to_vec(),
            gateway_id,
            every: std::time::Duration::from_millis(config.health_report_ms),
        })
    }

    async fn send(&self) -> anyhow::Result<()> {
        let now = u64::try_from(crate::context::now_ms()).unwrap_or(0);
        let deployments = self.live.health.report(now);
        let ejected = deployments
            .iter()
            .filter(|d| d.ejected_until_ms.is_some())
            .count();
        self.metrics
            .upstream_ejected
            .set(i64::try_from(ejected).unwrap_or(i64::MAX));
        let body = serde_json::to_vec(&aihub_contract::health::HealthReport {
            gateway_id: self.gateway_id.clone(),
            deployments,
        })?;
        let sig = aihub_contract::signing::sign(
            &self.secret,
            crate::context::now_ms() / 1000,
            "POST",
            aihub_contract::routes::HEALTH,
            &body,
        );
        let resp = self
            .client
            .post(&self.url)
            .header(aihub_contract::signing::HEADER, sig)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        if !resp.status().is_success() {
            anyhow::bail!("control plane answered {}", resp.status());
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl pingora::services::background::BackgroundService for Reporter {
    async fn start(&self, mut shutdown: pingora::server::ShutdownWatch) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = shutdown.changed() => return,
            }
            if let Err(e) = self.send().await {
                tracing::debug!("upstream health report: {e:#}");
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const P: Policy = Policy {
        eject_after_failures: 3,
        ejection_ms: 1_000,
        max_ejection_ms: 3_000,
        probe_interval_ms: 100,
    };

    #[test]
    fn failures_in_a_row_eject_and_a_probe_brings_it_back() {
        let h = Health::default();
        assert_eq!(h.failure(10, &P), Verdict::Unchanged);
        assert_eq!(h.failure(11, &P), Verdict::Unchanged);
        // A success in between starts the count again.
        h.success(12, 40);
        assert_eq!(h.failure(13, &P), Verdict::Unchanged);
        assert_eq!(h.failure(14, &P), Verdict::Unchanged);
        assert_eq!(h.failure(15, &P), Verdict::Ejected(1_015));
        assert!(h.is_ejected());
        assert!(!h.admits(500, &P));
        // Over: one probe per interval.
        assert!(h.admits(1_015, &P));
        assert!(!h.admits(1_016, &P));
        assert!(h.admits(1_115, &P));
        // The probe fails: ejected twice as long, then at most the maximum.
        assert_eq!(h.failure(1_120, &P), Verdict::Ejected(3_120));
        assert!(h.admits(3_120, &P));
        assert_eq!(h.failure(3_121, &P), Verdict::Ejected(6_121));
        // A failure while still ejected (all were ejected) changes nothing.
        assert_eq!(h.failure(3_200, &P), Verdict::Unchanged);
        assert!(h.admits(6_121, &P));
        assert!(h.success(6_130, 50));
        assert!(!h.is_ejected());
        assert!(h.admits(6_131, &P));
        // Back to the first ejection's length after a recovery.
        for t in 0..3 {
            h.failure(7_000 + t, &P);
        }
        assert_eq!(h.ejected_until.load(Ordering::Acquire), 8_002);
    }

    #[test]
    fn never_ejects_when_turned_off() {
        let off = Policy {
            eject_after_failures: 0,
            ..P
        };
        let h = Health::default();
        for t in 0..100 {
            assert_eq!(h.failure(t, &off), Verdict::Unchanged);
        }
        assert!(h.admits(100, &off));
    }

    #[test]
    fn reports_cover_the_last_half_minute_or_two() {
        let r = Registry::default();
        let a = r.get("dep_a");
        r.get("dep_idle");
        a.success(1_000, 100);
        a.success(2_000, 300);
        a.failure(31_000, &P);
        let got = r.report(40_000);
        assert_eq!(got.len(), 1, "idle deployments are left out");
        assert_eq!(
            (got[0].requests, got[0].errors, got[0].latency_ms),
            (3, 1, Some(200))
        );
        assert_eq!(got[0].consecutive_failures, 1);
        assert_eq!(got[0].ejected_until_ms, None);
        // Two buckets later the first one is gone, then everything.
        let got = r.report(61_000);
        assert_eq!((got[0].requests, got[0].latency_ms), (1, None));
        assert!(r.report(95_000).is_empty());
        // The same entry across reloads; forgotten when removed.
        assert!(Arc::ptr_eq(&a, &r.get("dep_a")));
        r.retain(&HashSet::from(["dep_idle"]));
        assert!(!Arc::ptr_eq(&a, &r.get("dep_a")));
    }
}
