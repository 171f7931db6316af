//! The Redis store: each decision is one Lua script, run atomically on the
//! server, one round trip. Times come from the Redis server's clock (`TIME`)
//! so gateways with skewed clocks still share one limit.
//!
//! Keys (prefix `aihub:` by default):
//! - `rl:{k|d}:{id}:{requests|tokens}` — a rate limit's GCRA theoretical
//!   arrival time in microseconds, expiring when it is whole again;
//! - `q:{k|d|f}:{id}` — a hash of quota counters (`f`: an account's funds,
//!   by developer id): `tt`/`ct` tokens and cost ever, `tm`/`cm` tokens and
//!   cost in month `m`, `rt`/`rc` reserved by requests in flight, and
//!   `r:{request id}` = `tokens:cost` per reservation. For funds, `ct`/`cm`
//!   count only what was charged beyond the plan's allowance, and `tt` stays
//!   as seeded (see [`super::admit_funds`]);
//! - `q:{k|d|f}:{id}:res` — reservation expiry times (a reservation whose
//!   gateway died is released after `reservation_ttl_secs`).
//!
//! A counter hash missing (first use, or a Redis that lost its data) is
//! created from the control plane's usage base, so totals survive.

use super::{
    scope_letter, QuotaCheck, QuotaDecision, QuotaKind, RateCheck, RateDecision, RateState,
    Reservation, Settlement,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

const RATE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = 60000000
local news = {}
local out = {0, 0}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local cost = tonumber(ARGV[2 * i])
  if cost > limit then return {-i, 0} end
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local new = tat + cost * interval
  local ahead = new - now
  if ahead > window + 0.5 then
    return {i, math.ceil(ahead - window), 0, math.ceil(tat - now)}
  end
  news[i] = new
  out[#out + 1] = math.floor((window - ahead) / interval + 0.000001)
  out[#out + 1] = math.ceil(ahead)
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', news[i]), 'PX',
    math.ceil((news[i] - now) / 1000) + 1000)
end
return out
"#;

const REFUND: &str = r#"
for i = 1, #KEYS do
  local limit = tonumber(ARGV[2 * i - 1])
  local cost = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat > 0 then
    local ttl = redis.call('PTTL', KEYS[i])
    local back = tat - cost * 60000000 / limit
    if ttl > 0 then
      redis.call('SET', KEYS[i], string.format('%.0f', back), 'PX', ttl)
    end
  end
end
return 1
"#;

/// Shared by the reserve and settle scripts: creates a scope's hash from
/// its seed, rolls its month, releases reservations past their expiry;
/// `share` is [`super::share`], exact while `a` and `whole`² stay below 2^53.
const PREPARE: &str = r#"
local function share(a, part, whole)
  if a <= 0 or part <= 0 or whole <= 0 then return 0 end
  if part >= whole then return a end
  -- a * part / whole as q * part + rem * part / whole, each product exact.
  local q = math.floor(a / whole)
  while q * whole > a do q = q - 1 end
  while (q + 1) * whole <= a do q = q + 1 end
  local x = (a - q * whole) * part
  local k = math.floor(x / whole)
  while k * whole < x do k = k + 1 end
  while k > 0 and (k - 1) * whole >= x do k = k - 1 end
  return q * part + k
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local month = ARGV[1]
local function prepare(h, z, base)
  if redis.call('EXISTS', h) == 0 then
    redis.call('HSET', h, 'tt', ARGV[base], 'ct', ARGV[base + 1], 'tm', ARGV[base + 2],
      'cm', ARGV[base + 3], 'm', month, 'rt', 0, 'rc', 0)
  else
    if redis.call('HGET', h, 'm') ~= month then
      redis.call('HSET', h, 'm', month, 'tm', 0, 'cm', 0)
    end
    -- Never below what the control plane knows was used.
    local cur = redis.call('HMGET', h, 'tt', 'ct', 'tm', 'cm')
    local names = {'tt', 'ct', 'tm', 'cm'}
    for j = 1, 4 do
      if tonumber(ARGV[base + j - 1]) > tonumber(cur[j] or '0') then
        redis.call('HSET', h, names[j], ARGV[base + j - 1])
      end
    end
  end
  local stale = redis.call('ZRANGEBYSCORE', z, '-inf', now)
  for _, id in ipairs(stale) do
    local a = redis.call('HGET', h, 'r:' .. id)
    if a then
      local rt, rc = string.match(a, '(%d+):(%d+)')
      redis.call('HINCRBY', h, 'rt', 0 - tonumber(rt))
      redis.call('HINCRBY', h, 'rc', 0 - tonumber(rc))
      redis.call('HDEL', h, 'r:' .. id)
    end
  end
  if #stale > 0 then redis.call('ZREMRANGEBYSCORE', z, '-inf', now) end
end
"#;

/// ARGV: month, request id, min tokens, tokens, min cost, cost, ttl ms, then
/// per scope 10 values: seeds tt ct tm cm, limits tt tm ct cm (-1 = none),
/// funds allowance (-1 = not a funds scope) and spend limit (-1 = none).
/// KEYS: per scope the hash and the expiry set.
const RESERVE: &str = r#"
local rid = ARGV[2]
local min_t, est_t = tonumber(ARGV[3]), tonumber(ARGV[4])
local min_c, est_c = tonumber(ARGV[5]), tonumber(ARGV[6])
local ttl = tonumber(ARGV[7])
local n = #KEYS / 2
local function room(limit, used, reserved)
  if limit < 0 then return nil end
  local r = limit - used - reserved
  if r < 0 then r = 0 end
  return r
end
-- admit_funds: what to reserve, or nil.
local function funds(allowance, limit, tm, ct, rt, rc)
  local tok_room = allowance - tm - rt
  if tok_room < 0 then tok_room = 0 end
  local take_t = math.min(est_t, tok_room)
  local money = room(limit, ct, rc)
  if tok_room > 0 and tok_room >= min_t then
    if money == nil then return {take_t, 0} end
    return {take_t, math.min(share(est_c, est_t - take_t, est_t), money)}
  end
  if money == nil then return {take_t, 0} end
  if money > 0 and money >= min_c then return {take_t, math.min(est_c, money)} end
  return nil
end
local amounts = {}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 8 + (i - 1) * 10
  prepare(h, z, base)
  local v = redis.call('HMGET', h, 'tt', 'ct', 'tm', 'cm', 'rt', 'rc')
  local tt, ct, tm, cm = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), tonumber(v[4])
  local rt, rc = tonumber(v[5]), tonumber(v[6])
  local allowance, limit = tonumber(ARGV[base + 8]), tonumber(ARGV[base + 9])
  local take_t, take_c = est_t, est_c
  if allowance >= 0 then
    local a = funds(allowance, limit, tm, ct, rt, rc)
    if a == nil then
      local in_flight = 0
      if funds(allowance, limit, tm, ct, 0, 0) ~= nil then in_flight = 1 end
      return {i, 5, in_flight}
    end
    take_t, take_c = a[1], a[2]
  end
  local checks = {
    {1, room(tonumber(ARGV[base + 4]), tt, rt), min_t},
    {2, room(tonumber(ARGV[base + 5]), tm, rt), min_t},
    {3, room(tonumber(ARGV[base + 6]), ct, rc), min_c},
    {4, room(tonumber(ARGV[base + 7]), cm, rc), min_c},
  }
  local used = {tt, tm, ct, cm}
  if allowance >= 0 then checks = {} end
  for _, c in ipairs(checks) do
    local r = c[2]
    if r ~= nil then
      if r == 0 or r < c[3] then
        local free = tonumber(ARGV[base + 3 + c[1]]) - used[c[1]]
        local in_flight = 0
        if free > 0 and free >= c[3] then in_flight = 1 end
        return {i, c[1], in_flight}
      end
      if c[1] <= 2 then
        if r < take_t then take_t = r end
      elseif r < take_c then
        take_c = r
      end
    end
  end
  amounts[i] = {take_t, take_c}
end
local out = {0, 0}
for i = 1, n do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local a = amounts[i]
  redis.call('HINCRBY', h, 'rt', a[1])
  redis.call('HINCRBY', h, 'rc', a[2])
  redis.call('HSET', h, 'r:' .. rid, string.format('%d:%d', a[1], a[2]))
  redis.call('ZADD', z, now + ttl, rid)
  out[#out + 1] = a[1]
  out[#out + 1] = a[2]
end
return out
"#;

/// ARGV: month, request id, tokens, cost, then per scope 10 values as in
/// RESERVE (only the seeds and the funds allowance are used). KEYS as in
/// RESERVE. A funds scope is charged [`super::funds_charge`].
const SETTLE: &str = r#"
local rid = ARGV[2]
local tokens, cost = tonumber(ARGV[3]), tonumber(ARGV[4])
for i = 1, #KEYS / 2 do
  local h, z = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 5 + (i - 1) * 10
  prepare(h, z, base)
  local a = redis.call('HGET', h, 'r:' .. rid)
  if a then
    local rt, rc = string.match(a, '(%d+):(%d+)')
    -- `0 - x`, not `-x`: Redis refuses -0 (a reservation of 0) as an integer.
    redis.call('HINCRBY', h, 'rt', 0 - tonumber(rt))
    redis.call('HINCRBY', h, 'rc', 0 - tonumber(rc))
    redis.call('HDEL', h, 'r:' .. rid)
    redis.call('ZREM', z, rid)
  end
  local allowance = tonumber(ARGV[base + 8])
  if allowance >= 0 then
    local before = tonumber(redis.call('HGET', h, 'tm') or '0')
    local over = before + tokens - allowance
    if over < 0 then over = 0 end
    if over > tokens then over = tokens end
    local charge = share(cost, over, tokens)
    redis.call('HINCRBY', h, 'tm', tokens)
    redis.call('HINCRBY', h, 'ct', string.format('%d', charge))
    redis.call('HINCRBY', h, 'cm', string.format('%d', charge))
  else
    redis.call('HINCRBY', h, 'tt', tokens)
    redis.call('HINCRBY', h, 'tm', tokens)
    redis.call('HINCRBY', h, 'ct', cost)
    redis.call('HINCRBY', h, 'cm', cost)
  end
end
return 1
"#;

/// Rate limits and quotas in Redis.
pub struct RedisLimits {
    client: redis::Client,
    conn: tokio::sync::OnceCell<ConnectionManager>,
    prefix: String,
    timeout: Duration,
    reservation_ttl: Duration,
    /// Unix ms before which Redis is not tried again after a failure.
    down_until_ms: AtomicI64,
    rate: Script,
    refund: Script,
    reserve: Script,
    settle: Script,
}

/// Why Redis could not decide.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Recently failed; not retried yet.
    #[error("redis is marked down after a recent failure")]
    Down,
    /// The call failed or took longer than the timeout.
    #[error("redis: {0}")]
    Redis(String),
}

fn opt_u(v: Option<u64>) -> i64 {
    v.map_or(-1, |x| i64::try_from(x).unwrap_or(i64::MAX))
}

fn opt_i(v: Option<i64>) -> i64 {
    v.map_or(-1, |x| x.max(0))
}

impl RedisLimits {
    /// A store for `url` (`redis://host:port/db`); connects on first use.
    pub fn new(
        url: &str,
        prefix: &str,
        timeout: Duration,
        reservation_ttl: Duration,
    ) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|e| format!("redis.url: {e}"))?;
        Ok(RedisLimits {
            client,
            conn: tokio::sync::OnceCell::new(),
            prefix: prefix.to_string(),
            timeout,
            reservation_ttl,
            down_until_ms: AtomicI64::new(0),
            rate: Script::new(RATE),
            refund: Script::new(REFUND),
            reserve: Script::new(&format!("{PREPARE}{RESERVE}")),
            settle: Script::new(&format!("{PREPARE}{SETTLE}")),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        if crate::context::now_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(StoreError::Down);
        }
        let cfg = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let conn = self
            .conn
            .get_or_try_init(|| ConnectionManager::new_with_config(self.client.clone(), cfg))
            .await;
        match conn {
            Ok(c) => Ok(c.clone()),
            Err(e) => Err(self.failed(e.to_string())),
        }
    }

    /// Marks Redis down for a second, so requests do not each wait for it.
    fn failed(&self, why: String) -> StoreError {
        self.down_until_ms
            .store(crate::context::now_ms() + 1000, Ordering::Relaxed);
        StoreError::Redis(why)
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        inv: redis::ScriptInvocation<'_>,
    ) -> Result<T, StoreError> {
        let mut conn = self.connection().await?;
        match tokio::time::timeout(self.timeout, inv.invoke_async(&mut conn)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.failed(e.to_string())),
            Err(_) => Err(self.failed(format!("no answer within {:?}", self.timeout))),
        }
    }

    fn rate_key(&self, c: &RateCheck) -> String {
        format!("{}rl:{}", self.prefix, c.bucket())
    }

    /// See [`super::local::LocalLimits::admit`].
    pub async fn admit(&self, checks: &[RateCheck]) -> Result<RateDecision, StoreError> {
        let mut inv = self.rate.prepare_invoke();
        for c in checks {
            inv.key(self.rate_key(c))
                .arg(c.limit.max(1))
                .arg(c.cost.max(1));
        }
        let out: Vec<i64> = self.run(inv).await?;
        let us = |v: i64| Duration::from_micros(u64::try_from(v).unwrap_or(0));
        let first = out.first().copied().unwrap_or(0);
        if first < 0 {
            return Ok(RateDecision::TooLarge {
                index: usize::try_from(-first - 1).unwrap_or(0),
            });
        }
        if first > 0 {
            let index = usize::try_from(first - 1).unwrap_or(0);
            let limit = checks.get(index).map_or(0, |c| c.limit);
            let retry_after = us(out.get(1).copied().unwrap_or(0));
            return Ok(RateDecision::Refused {
                index,
                retry_after,
                state: RateState {
                    limit,
                    remaining: 0,
                    reset: us(out.get(3).copied().unwrap_or(0)),
                },
            });
        }
        let states = checks
            .iter()
            .enumerate()
            .map(|(i, c)| RateState {
                limit: c.limit,
                remaining: u64::try_from(out.get(2 + 2 * i).copied().unwrap_or(0)).unwrap_or(0),
                reset: us(out.get(3 + 2 * i).copied().unwrap_or(0)),
            })
            .collect();
        Ok(RateDecision::Allowed(states))
    }

    /// Gives back checks that passed.
    pub async fn refund(&self, checks: &[RateCheck]) -> Result<(), StoreError> {
        let mut inv = self.refund.prepare_invoke();
        for c in checks {
            inv.key(self.rate_key(c))
                .arg(c.limit.max(1))
                .arg(c.cost.max(1));
        }
        let _: i64 = self.run(inv).await?;
        Ok(())
    }

    fn quota_keys(&self, inv: &mut redis::ScriptInvocation<'_>, check: &QuotaCheck) {
        let h = format!(
            "{}q:{}:{}",
            self.prefix,
            scope_letter(check.scope),
            check.id
        );
        inv.key(&h).key(format!("{h}:res"));
    }

    fn scope_args(inv: &mut redis::ScriptInvocation<'_>, check: &QuotaCheck, month: &str) {
        let (tt, ct, tm, cm) = super::seed(check.base.as_ref(), month);
        inv.arg(tt)
            .arg(ct)
            .arg(tm)
            .arg(cm)
            .arg(opt_u(check.tokens_total))
            .arg(opt_u(check.tokens_month))
            .arg(opt_i(check.cost_total))
            .arg(opt_i(check.cost_month))
            .arg(opt_u(
                check.funds.as_ref().map(|f| f.allowance_tokens_monthly),
            ))
            .arg(opt_i(
                check.funds.as_ref().and_then(|f| f.spend_limit_nanos),
            ));
    }

    /// See [`super::local::LocalLimits::reserve`].
    pub async fn reserve(&self, r: &Reservation) -> Result<QuotaDecision, StoreError> {
        let mut inv = self.reserve.prepare_invoke();
        inv.arg(&r.month.name)
            .arg(&r.request_id)
            .arg(r.min_tokens)
            .arg(r.tokens)
            .arg(r.min_cost_nanos.max(0))
            .arg(r.cost_nanos.max(0))
            .arg(u64::try_from(self.reservation_ttl.as_millis()).unwrap_or(u64::MAX));
        for c in &r.checks {
            self.quota_keys(&mut inv, c);
            Self::scope_args(&mut inv, c, &r.month.name);
        }
        let out: Vec<i64> = self.run(inv).await?;
        let first = out.first().copied().unwrap_or(0);
        if first > 0 {
            let kind = match out.get(1).copied().unwrap_or(1) {
                1 => QuotaKind::TokensTotal,
                2 => QuotaKind::TokensMonth,
                3 => QuotaKind::CostTotal,
                4 => QuotaKind::CostMonth,
                _ => QuotaKind::Funds,
            };
            return Ok(QuotaDecision::Refused {
                index: usize::try_from(first - 1).unwrap_or(0),
                kind,
                in_flight: out.get(2).copied() == Some(1),
            });
        }
        let amounts = (0..r.checks.len())
            .map(|i| {
                (
                    u64::try_from(out.get(2 + 2 * i).copied().unwrap_or(0)).unwrap_or(0),
                    out.get(3 + 2 * i).copied().unwrap_or(0),
                )
            })
            .collect();
        Ok(QuotaDecision::Admitted(amounts))
    }

    /// See [`super::local::LocalLimits::settle`].
    pub async fn settle(&self, s: &Settlement) -> Result<(), StoreError> {
        let mut inv = self.settle.prepare_invoke();
        inv.arg(&s.month.name)
            .arg(&s.request_id)
            .arg(s.tokens)
            .arg(s.cost_nanos.max(0));
        for (c, _) in &s.scopes {
            self.quota_keys(&mut inv, c);
            Self::scope_args(&mut inv, c, &s.month.name);
        }
        let _: i64 = self.run(inv).await?;
        Ok(())
    }
}
