//! Login throttling: failed logins are counted per account (the email as
//! typed, registered or not, so a lock says nothing about whether an
//! address exists) and per client IP in a sliding window. Past the limit the
//! key is locked for a while; from the third failure on, each failed answer
//! is also slowed a little more.
//!
//! In process: each control plane counts on its own (a client spreading
//! guesses over N control planes gets N times the attempts).

use crate::config::AuthConfig;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often (in recorded events) stale entries are swept out.
const SWEEP_EVERY: u64 = 1024;
/// Failures before answers start being slowed.
const SLOW_AFTER: usize = 2;
/// Added per failure past [`SLOW_AFTER`], up to [`MAX_DELAY`].
const DELAY_STEP: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(2);

/// Limits of one kind of key.
#[derive(Debug, Clone, Copy)]
struct Limit {
    max_failures: usize,
    window: Duration,
    lockout: Duration,
}

#[derive(Debug, Default)]
struct Entry {
    failures: VecDeque<Instant>,
    locked_until: Option<Instant>,
}

impl Entry {
    fn prune(&mut self, now: Instant, window: Duration) {
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.failures.pop_front();
        }
        if self.locked_until.is_some_and(|until| until <= now) {
            self.locked_until = None;
        }
    }

    fn is_stale(&self) -> bool {
        self.failures.is_empty() && self.locked_until.is_none()
    }
}

#[derive(Debug, Default)]
struct Windows {
    entries: HashMap<String, Entry>,
    events: u64,
}

impl Windows {
    fn locked_for(&mut self, key: &str, now: Instant, limit: Limit) -> Option<Duration> {
        let entry = self.entries.get_mut(key)?;
        entry.prune(now, limit.window);
        entry.locked_until.map(|until| until.duration_since(now))
    }

    /// Records a failure; returns how many are now in the window.
    fn fail(&mut self, key: &str, now: Instant, limit: Limit) -> usize {
        self.events += 1;
        if self.events >= SWEEP_EVERY {
            self.events = 0;
            self.entries.retain(|_, e| {
                e.prune(now, limit.window);
                !e.is_stale()
            });
        }
        let entry = self.entries.entry(key.to_string()).or_default();
        entry.prune(now, limit.window);
        entry.failures.push_back(now);
        // Bounded memory per key: older failures cannot matter any more.
        while entry.failures.len() > limit.max_failures {
            entry.failures.pop_front();
        }
        if entry.failures.len() >= limit.max_failures {
            entry.locked_until = Some(now + limit.lockout);
        }
        entry.failures.len()
    }

    fn clear(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

/// Counts failed logins and refuses locked accounts and addresses.
#[derive(Debug)]
pub struct LoginThrottle {
    accounts: Mutex<Windows>,
    ips: Mutex<Windows>,
    account_limit: Limit,
    ip_limit: Limit,
}

impl LoginThrottle {
    /// Limits from `[auth]`.
    pub fn new(config: &AuthConfig) -> LoginThrottle {
        let window = Duration::from_secs(config.failure_window_secs);
        let lockout = Duration::from_secs(config.lockout_secs);
        let limit = |max: u32| Limit {
            max_failures: usize::try_from(max).unwrap_or(usize::MAX).max(1),
            window,
            lockout,
        };
        LoginThrottle {
            accounts: Mutex::new(Windows::default()),
            ips: Mutex::new(Windows::default()),
            account_limit: limit(config.max_failures_per_account),
            ip_limit: limit(config.max_failures_per_ip),
        }
    }

    /// `Err(retry_after)` when the account or the address is locked.
    pub fn check(&self, account: &str, ip: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let by_account = lock(&self.accounts).locked_for(account, now, self.account_limit);
        let by_ip = lock(&self.ips).locked_for(ip, now, self.ip_limit);
        match by_account.into_iter().chain(by_ip).max() {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed login; returns how long to hold the answer back.
    pub fn record_failure(&self, account: &str, ip: &str) -> Duration {
        let now = Instant::now();
        let failures = lock(&self.accounts).fail(account, now, self.account_limit);
        lock(&self.ips).fail(ip, now, self.ip_limit);
        let past = u32::try_from(failures.saturating_sub(SLOW_AFTER)).unwrap_or(u32::MAX);
        DELAY_STEP.saturating_mul(past).min(MAX_DELAY)
    }

    /// A successful login forgets the account's failures (not the address's).
    pub fn record_success(&self, account: &str) {
        lock(&self.accounts).clear(account);
    }
}

/// The windows are plain counters: a panic elsewhere cannot leave them in a
/// state worth refusing to read.
fn lock(m: &Mutex<Windows>) -> std::sync::MutexGuard<'_, Windows> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn throttle(per_account: u32, per_ip: u32) -> LoginThrottle {
        LoginThrottle::new(&AuthConfig {
            token_secret: Default::default(),
            trusted_proxies: vec![],
            max_failures_per_account: per_account,
            max_failures_per_ip: per_ip,
            failure_window_secs: 900,
            lockout_secs: 900,
        })
    }

    #[test]
    fn locks_an_account_after_its_limit() {
        let t = throttle(3, 100);
        for _ in 0..2 {
            t.record_failure("a@x.io", "1.1.1.1");
            assert!(t.check("a@x.io", "1.1.1.1").is_ok());
        }
        t.record_failure("a@x.io", "1.1.1.1");
        let wait = t.check("a@x.io", "2.2.2.2").unwrap_err();
        assert!(wait > Duration::from_secs(890) && wait <= Duration::from_secs(900));
        // Another account from the same address is fine.
        assert!(t.check("b@x.io", "1.1.1.1").is_ok());
    }

    #[test]
    fn locks_an_address_after_its_limit() {
        let t = throttle(100, 4);
        for i in 0..4 {
            t.record_failure(&format!("user{i}@x.io"), "9.9.9.9");
        }
        assert!(t.check("new@x.io", "9.9.9.9").is_err());
        assert!(t.check("new@x.io", "8.8.8.8").is_ok());
    }

    #[test]
    fn success_clears_the_account_and_delays_grow() {
        let t = throttle(10, 100);
        let delays: Vec<Duration> = (0..5).map(|_| t.record_failure("a@x.io", "ip")).collect();
        assert_eq!(delays[0], Duration::ZERO);
        assert_eq!(delays[1], Duration::ZERO);
        assert!(delays[2] < delays[3] && delays[3] < delays[4]);
        t.record_success("a@x.io");
        assert_eq!(t.record_failure("a@x.io", "ip"), Duration::ZERO);
    }

    #[test]
    fn old_failures_leave_the_window() {
        let limit = Limit {
            max_failures: 2,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(60),
        };
        let mut w = Windows::default();
        let start = Instant::now();
        w.fail("k", start, limit);
        // A minute later the first failure no longer counts: no lock.
        assert_eq!(w.fail("k", start + Duration::from_secs(61), limit), 1);
        assert!(w
            .locked_for("k", start + Duration::from_secs(61), limit)
            .is_none());
        w.fail("k", start + Duration::from_secs(62), limit);
        assert!(w
            .locked_for("k", start + Duration::from_secs(63), limit)
            .is_some());
        assert!(w
            .locked_for("k", start + Duration::from_secs(123), limit)
            .is_none());
    }
}
