//! Plans and subscriptions. Every developer has one subscription row (its
//! plan, a pending downgrade, custom terms) and a history of plan changes
//! (`plan_changes`) that prorates the monthly fee on the invoice.
//!
//! Changing to a plan with a higher fee takes effect at once (the month's
//! fee is prorated by the millisecond between the plans, and the new
//! plan's included tokens apply for the whole month); changing to a
//! cheaper one takes effect at the start of the next month.

use super::money;
use crate::catalog::prices::{check_price, stored_price};
use crate::db::{self, get_bool, Backend, Entity};
use crate::error::{DomainError, DomainResult};
use aihub_contract::calendar::month_of;
use aihub_contract::money::Prices;
use aihub_contract::snapshot::Funds;
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// The plan a developer has when no subscription row exists.
pub const DEFAULT_PLAN: &str = "free";

/// Makes `plan_id` the plan new developers start on (`billing.default_plan`,
/// written at start so the CLI and every control plane agree).
pub async fn set_default(conn: &mut AnyConnection, plan_id: &str) -> DomainResult<()> {
    get(conn, plan_id).await.map_err(|_| {
        DomainError::invalid(format!(
            "billing.default_plan: there is no plan '{plan_id}' (free, developer, pro, payg, enterprise)"
        ))
    })?;
    sqlx::query("UPDATE billing_settings SET value = $1 WHERE name = 'default_plan'")
        .bind(plan_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn default_plan(conn: &mut AnyConnection) -> DomainResult<String> {
    let row = sqlx::query("SELECT value FROM billing_settings WHERE name = 'default_plan'")
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(r) => r.try_get("value")?,
        None => DEFAULT_PLAN.to_string(),
    })
}

/// How usage beyond the included tokens is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overage {
    /// From credit; refused when there is none.
    Prepaid,
    /// On the monthly invoice.
    Invoice,
}

impl Overage {
    /// Stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Overage::Prepaid => "prepaid",
            Overage::Invoice => "invoice",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Overage> {
        match s {
            "prepaid" => Some(Overage::Prepaid),
            "invoice" => Some(Overage::Invoice),
            _ => None,
        }
    }
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// `free`, `developer`, …
    pub id: String,
    /// Display name.
    pub name: String,
    /// Monthly fee, nano-units.
    pub price_nanos: i64,
    /// Tokens a month included.
    pub included_tokens: i64,
    /// Account requests/min applied with the plan (0 = none).
    pub requests_per_minute: i64,
    /// Account hard monthly token cap applied with the plan (0 = none).
    pub token_quota_monthly: i64,
    /// How overage is paid.
    pub overage: Overage,
    /// Open to self-service.
    pub public: bool,
    /// Display order.
    pub sort_order: i64,
}

impl Plan {
    /// The API shape.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "name": self.name,
            "price": money::format(self.price_nanos),
            "included_tokens": self.included_tokens,
            "requests_per_minute": positive(self.requests_per_minute),
            "token_quota_monthly": positive(self.token_quota_monthly),
            "overage": self.overage.as_str(),
        })
    }
}

fn positive(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

const PLAN_COLUMNS: &str = "id, name, price_nanos, included_tokens, requests_per_minute, \
     token_quota_monthly, overage, public, sort_order";

fn plan_from_row(r: &AnyRow) -> DomainResult<Plan> {
    let overage: String = r.try_get("overage")?;
    Ok(Plan {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        price_nanos: r.try_get("price_nanos")?,
        included_tokens: r.try_get("included_tokens")?,
        requests_per_minute: r.try_get("requests_per_minute")?,
        token_quota_monthly: r.try_get("token_quota_monthly")?,
        overage: Overage::parse(&overage)
            .ok_or_else(|| DomainError::Internal(format!("plan overage '{overage}'")))?,
        public: get_bool(r, "public")?,
        sort_order: r.try_get("sort_order")?,
    })
}

/// Every plan, in display order.
pub async fn list(conn: &mut AnyConnection) -> DomainResult<Vec<Plan>> {
    let rows = sqlx::query(&format!(
        "SELECT {PLAN_COLUMNS} FROM plans ORDER BY sort_order, id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(plan_from_row).collect()
}

/// One plan, `NotFound` when there is no such id.
pub async fn get(conn: &mut AnyConnection, id: &str) -> DomainResult<Plan> {
    let row = sqlx::query(&format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(r) => plan_from_row(&r),
        None => Err(DomainError::NotFound(format!("plan '{id}' does not exist"))),
    }
}

/// A plan as an operator writes it (create: every field but `sort_order`
/// and `public` required; update: only the fields given change).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanInput {
    /// `[a-z0-9][a-z0-9_-]{0,39}`; create only.
    pub id: Option<String>,
    /// Display name, 1 to 80 characters.
    pub name: Option<String>,
    /// Monthly fee, a decimal amount ("29.00"), 0 for free.
    pub price: Option<String>,
    /// Tokens a month included.
    pub included_tokens: Option<i64>,
    /// Account requests/min applied when the plan is assigned (0 = none).
    pub requests_per_minute: Option<i64>,
    /// Account monthly token cap applied when assigned (0 = none).
    pub token_quota_monthly: Option<i64>,
    /// `prepaid` or `invoice`.
    pub overage: Option<String>,
    /// Listed to developers and open to self-service changes.
    pub public: Option<bool>,
    /// Display order.
    pub sort_order: Option<i64>,
}

fn valid_plan_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 40
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

fn count(field: &str, v: i64) -> DomainResult<i64> {
    if v < 0 {
        return Err(DomainError::invalid(format!("{field}: must be 0 or more")));
    }
    Ok(v)
}

/// `plan` with `input` applied and checked.
fn apply(mut plan: Plan, input: &PlanInput) -> DomainResult<Plan> {
    if let Some(n) = &input.name {
        let n = n.trim();
        if n.is_empty() || n.chars().count() > 80 {
            return Err(DomainError::invalid("name: expected 1 to 80 characters"));
        }
        plan.name = n.to_string();
    }
    if let Some(p) = &input.price {
        plan.price_nanos = money::parse_non_negative(p, "price", 2)?;
    }
    if let Some(v) = input.included_tokens {
        plan.included_tokens = count("included_tokens", v)?;
    }
    if let Some(v) = input.requests_per_minute {
        plan.requests_per_minute = count("requests_per_minute", v)?;
    }
    if let Some(v) = input.token_quota_monthly {
        plan.token_quota_monthly = count("token_quota_monthly", v)?;
    }
    if let Some(o) = &input.overage {
        plan.overage = Overage::parse(o).ok_or_else(|| {
            DomainError::invalid(format!("overage: expected prepaid or invoice, got '{o}'"))
        })?;
    }
    if let Some(p) = input.public {
        plan.public = p;
    }
    if let Some(o) = input.sort_order {
        plan.sort_order = o;
    }
    Ok(plan)
}

/// Creates a plan (the caller audits it in the same transaction).
pub async fn create(conn: &mut AnyConnection, input: &PlanInput) -> DomainResult<Plan> {
    let id = input
        .id
        .as_deref()
        .ok_or_else(|| DomainError::invalid("id: required"))?;
    if !valid_plan_id(id) {
        return Err(DomainError::invalid(
            "id: expected 1 to 40 of a-z, 0-9, '_' and '-', starting with a letter or digit",
        ));
    }
    for (field, given) in [
        ("name", input.name.is_some()),
        ("price", input.price.is_some()),
        ("included_tokens", input.included_tokens.is_some()),
        ("overage", input.overage.is_some()),
    ] {
        if !given {
            return Err(DomainError::invalid(format!("{field}: required")));
        }
    }
    let exists = sqlx::query("SELECT id FROM plans WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some();
    if exists {
        return Err(DomainError::Conflict(format!("plan '{id}' exists already")));
    }
    let plan = apply(
        Plan {
            id: id.to_string(),
            name: String::new(),
            price_nanos: 0,
            included_tokens: 0,
            requests_per_minute: 0,
            token_quota_monthly: 0,
            overage: Overage::Prepaid,
            public: true,
            sort_order: 100,
        },
        input,
    )?;
    sqlx::query(
        "INSERT INTO plans (id, name, price_nanos, included_tokens, requests_per_minute, \
         token_quota_monthly, overage, public, sort_order, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&plan.id)
    .bind(&plan.name)
    .bind(plan.price_nanos)
    .bind(plan.included_tokens)
    .bind(plan.requests_per_minute)
    .bind(plan.token_quota_monthly)
    .bind(plan.overage.as_str())
    .bind(plan.public)
    .bind(plan.sort_order)
    .bind(crate::db::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(plan)
}

/// Changes a plan. Its fee applies from the subscribers' next invoice; a
/// change of the included tokens or of how overage is paid reaches every
/// gateway for every subscriber with the next snapshot; the account limits
/// apply to assignments from now on. Returns the plan before and after.
pub async fn update(
    conn: &mut AnyConnection,
    backend: crate::db::Backend,
    id: &str,
    input: &PlanInput,
) -> DomainResult<(Plan, Plan)> {
    if input.id.is_some() {
        return Err(DomainError::invalid("id: a plan's id cannot change"));
    }
    let before = get(conn, id).await?;
    let after = apply(before.clone(), input)?;
    sqlx::query(
        "UPDATE plans SET name = $1, price_nanos = $2, included_tokens = $3, \
         requests_per_minute = $4, token_quota_monthly = $5, overage = $6, public = $7, \
         sort_order = $8 WHERE id = $9",
    )
    .bind(&after.name)
    .bind(after.price_nanos)
    .bind(after.included_tokens)
    .bind(after.requests_per_minute)
    .bind(after.token_quota_monthly)
    .bind(after.overage.as_str())
    .bind(after.public)
    .bind(after.sort_order)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if before.included_tokens != after.included_tokens || before.overage != after.overage {
        let subscribers: Vec<String> =
            sqlx::query_scalar("SELECT developer_id FROM subscriptions WHERE plan_id = $1")
                .bind(id)
                .fetch_all(&mut *conn)
                .await?;
        for d in subscribers {
            crate::db::record_change(conn, backend, crate::db::Entity::Developer, &d).await?;
        }
    }
    Ok((before, after))
}

/// The operator's view of a plan: [`Plan::to_json`] with `public`,
/// `sort_order` and the number of subscribers.
pub async fn admin_json(conn: &mut AnyConnection, plan: &Plan) -> DomainResult<Value> {
    let subscribers: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM subscriptions WHERE plan_id = $1")
            .bind(&plan.id)
            .fetch_one(&mut *conn)
            .await?;
    let mut v = plan.to_json();
    v["public"] = json!(plan.public);
    v["sort_order"] = json!(plan.sort_order);
    v["subscribers"] = json!(subscribers);
    Ok(v)
}

/// A developer's subscription with its terms resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The developer.
    pub developer_id: String,
    /// The plan.
    pub plan: Plan,
    /// A cheaper plan starting next month.
    pub pending_plan: Option<Plan>,
    /// The fee in force (custom or the plan's).
    pub price_nanos: i64,
    /// Included tokens in force.
    pub included_tokens: i64,
    /// Overage in force.
    pub overage: Overage,
}

/// The developer's subscription (the default plan's terms when a row is
/// missing, e.g. an account created before billing existed).
pub async fn subscription(
    conn: &mut AnyConnection,
    developer_id: &str,
) -> DomainResult<Subscription> {
    let row = sqlx::query(
        "SELECT plan_id, pending_plan_id, custom_price_nanos, custom_included_tokens, custom_overage \
         FROM subscriptions WHERE developer_id = $1",
    )
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?;
    let (plan_id, pending, price, included, overage) = match row {
        Some(r) => (
            r.try_get::<String, _>("plan_id")?,
            r.try_get::<Option<String>, _>("pending_plan_id")?,
            r.try_get::<Option<i64>, _>("custom_price_nanos")?,
            r.try_get::<Option<i64>, _>("custom_included_tokens")?,
            r.try_get::<Option<String>, _>("custom_overage")?,
        ),
        None => (DEFAULT_PLAN.to_string(), None, None, None, None),
    };
    let plan = get(conn, &plan_id).await?;
    let pending_plan = match pending {
        Some(p) => Some(get(conn, &p).await?),
        None => None,
    };
    Ok(Subscription {
        developer_id: developer_id.to_string(),
        price_nanos: price.unwrap_or(plan.price_nanos),
        included_tokens: included.unwrap_or(plan.included_tokens),
        overage: overage
            .as_deref()
            .and_then(Overage::parse)
            .unwrap_or(plan.overage),
        plan,
        pending_plan,
    })
}

/// Puts a new developer on the default plan (`billing.default_plan`; inside its creating
/// transaction) and applies the plan's account limits.
pub async fn start(conn: &mut AnyConnection, developer_id: &str) -> DomainResult<()> {
    let id = default_plan(conn).await?;
    let plan = get(conn, &id).await?;
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO subscriptions (developer_id, plan_id, updated_at) VALUES ($1, $2, $3)",
    )
    .bind(developer_id)
    .bind(&plan.id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    record_plan(conn, developer_id, &plan.id, plan.price_nanos, now).await?;
    apply_limits(conn, developer_id, &plan).await
}

/// Puts the account's limits back to its plan's (undoing custom limits);
/// gateways follow with the next snapshot.
pub async fn reset_limits(
    conn: &mut AnyConnection,
    backend: db::Backend,
    developer_id: &str,
) -> DomainResult<()> {
    let sub = subscription(conn, developer_id).await?;
    apply_limits(conn, developer_id, &sub.plan).await?;
    db::record_change(conn, backend, Entity::Developer, developer_id).await?;
    Ok(())
}

async fn record_plan(
    conn: &mut AnyConnection,
    developer_id: &str,
    plan_id: &str,
    price_nanos: i64,
    effective_at: i64,
) -> DomainResult<()> {
    sqlx::query(
        "INSERT INTO plan_changes (id, developer_id, plan_id, price_nanos, effective_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(db::new_id("pch_"))
    .bind(developer_id)
    .bind(plan_id)
    .bind(price_nanos)
    .bind(effective_at)
    .bind(db::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn apply_limits(
    conn: &mut AnyConnection,
    developer_id: &str,
    plan: &Plan,
) -> DomainResult<()> {
    sqlx::query(
        "UPDATE developers SET api_rate_limit = $1, api_quota_limit = $2, updated_at = $3 \
         WHERE id = $4",
    )
    .bind(plan.requests_per_minute)
    .bind(plan.token_quota_monthly)
    .bind(db::now_ms())
    .bind(developer_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What a plan change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// In force now.
    Now,
    /// Starts with the next month.
    NextMonth,
    /// A pending change was cancelled (the current plan was chosen again).
    Cancelled,
    /// Nothing to do.
    Unchanged,
}

/// Changes a developer's plan: a dearer one now, a cheaper one at the end
/// of the month. `self_service` refuses plans not open to developers.
/// Operators (`self_service = false`) change at once either way.
pub async fn change(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    plan_id: &str,
    self_service: bool,
) -> DomainResult<Change> {
    let target = match get(conn, plan_id).await {
        Ok(p) => p,
        Err(DomainError::NotFound(_)) => {
            return Err(DomainError::invalid(format!(
                "plan_id: there is no plan '{plan_id}'"
            )))
        }
        Err(e) => return Err(e),
    };
    if self_service && !target.public {
        return Err(DomainError::invalid(format!(
            "plan_id: the {} plan is arranged with the operator, not chosen here",
            target.name
        )));
    }
    let current = subscription(conn, developer_id).await?;
    let now = db::now_ms();
    if target.id == current.plan.id {
        if current.pending_plan.is_some() {
            sqlx::query(
                "UPDATE subscriptions SET pending_plan_id = NULL, updated_at = $1 \
                 WHERE developer_id = $2",
            )
            .bind(now)
            .bind(developer_id)
            .execute(&mut *conn)
            .await?;
            return Ok(Change::Cancelled);
        }
        return Ok(Change::Unchanged);
    }
    if self_service && target.price_nanos < current.price_nanos {
        sqlx::query(
            "UPDATE subscriptions SET pending_plan_id = $1, updated_at = $2 WHERE developer_id = $3",
        )
        .bind(&target.id)
        .bind(now)
        .bind(developer_id)
        .execute(&mut *conn)
        .await?;
        return Ok(Change::NextMonth);
    }
    switch(conn, backend, developer_id, &target, now).await?;
    Ok(Change::Now)
}

/// Puts the developer on `plan` from `effective_at`, clearing custom terms
/// and any pending change, applying its limits, and telling the gateways.
async fn switch(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    plan: &Plan,
    effective_at: i64,
) -> DomainResult<()> {
    let now = db::now_ms();
    let updated = sqlx::query(
        "UPDATE subscriptions SET plan_id = $1, pending_plan_id = NULL, custom_price_nanos = NULL, \
         custom_included_tokens = NULL, custom_overage = NULL, updated_at = $2 \
         WHERE developer_id = $3",
    )
    .bind(&plan.id)
    .bind(now)
    .bind(developer_id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query(
            "INSERT INTO subscriptions (developer_id, plan_id, updated_at) VALUES ($1, $2, $3)",
        )
        .bind(developer_id)
        .bind(&plan.id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    record_plan(conn, developer_id, &plan.id, plan.price_nanos, effective_at).await?;
    apply_limits(conn, developer_id, plan).await?;
    db::record_change(conn, backend, Entity::Developer, developer_id).await?;
    Ok(())
}

/// Custom terms an operator sets (Enterprise and special deals); `None`
/// fields keep the plan's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Terms {
    /// Monthly fee, nano-units.
    pub price_nanos: Option<i64>,
    /// Included tokens a month.
    pub included_tokens: Option<i64>,
    /// Overage mode.
    pub overage: Option<Overage>,
}

/// Sets custom terms on the developer's current plan (from now on); terms
/// left `None` keep their current value (custom or the plan's).
pub async fn set_terms(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    terms: &Terms,
) -> DomainResult<()> {
    if terms.price_nanos.is_some_and(|p| p < 0) || terms.included_tokens.is_some_and(|t| t < 0) {
        return Err(DomainError::invalid(
            "terms: the price and included tokens cannot be negative",
        ));
    }
    let current = subscription(conn, developer_id).await?;
    let now = db::now_ms();
    // Terms not given keep their current custom value.
    sqlx::query(
        "UPDATE subscriptions SET custom_price_nanos = COALESCE($1, custom_price_nanos), \
         custom_included_tokens = COALESCE($2, custom_included_tokens), \
         custom_overage = COALESCE($3, custom_overage), updated_at = $4 WHERE developer_id = $5",
    )
    .bind(terms.price_nanos)
    .bind(terms.included_tokens)
    .bind(terms.overage.map(Overage::as_str))
    .bind(now)
    .bind(developer_id)
    .execute(&mut *conn)
    .await?;
    let price = terms.price_nanos.unwrap_or(current.price_nanos);
    if price != current.price_nanos {
        record_plan(conn, developer_id, &current.plan.id, price, now).await?;
    }
    db::record_change(conn, backend, Entity::Developer, developer_id).await?;
    Ok(())
}

/// Applies pending downgrades whose month has begun (run by the billing
/// job; idempotent). Returns how many developers changed plan.
pub async fn apply_pending(
    conn: &mut AnyConnection,
    backend: Backend,
    now_ms: i64,
) -> DomainResult<usize> {
    let rows = sqlx::query(
        "SELECT developer_id, pending_plan_id, updated_at FROM subscriptions \
         WHERE pending_plan_id IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = 0;
    for r in rows {
        let developer_id: String = r.try_get("developer_id")?;
        let pending: String = r.try_get("pending_plan_id")?;
        let chosen_at: i64 = r.try_get("updated_at")?;
        let starts = month_of(chosen_at).end_ms;
        if starts > now_ms {
            continue;
        }
        let plan = get(conn, &pending).await?;
        switch(conn, backend, &developer_id, &plan, starts).await?;
        changed += 1;
    }
    Ok(changed)
}

/// [`apply_pending`] in its own transaction.
pub async fn apply_pending_now(db: &crate::db::Db) -> DomainResult<usize> {
    let mut tx = db.begin_write().await?;
    let n = apply_pending(&mut tx, db.backend(), db::now_ms()).await?;
    tx.commit().await?;
    Ok(n)
}

/// When a pending change starts: the start of the month after it was chosen.
pub async fn pending_starts_at(
    conn: &mut AnyConnection,
    developer_id: &str,
) -> DomainResult<Option<i64>> {
    let row = sqlx::query(
        "SELECT updated_at FROM subscriptions WHERE developer_id = $1 AND pending_plan_id IS NOT NULL",
    )
    .bind(developer_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Some(month_of(r.try_get::<i64, _>("updated_at")?).end_ms),
        None => None,
    })
}

/// One stretch of a month under one fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Plan id.
    pub plan_id: String,
    /// Fee per whole month, nano-units.
    pub price_nanos: i64,
    /// Start, unix ms (inclusive).
    pub from_ms: i64,
    /// End, unix ms (exclusive).
    pub to_ms: i64,
}

/// The fee segments of `[start, end)` from the developer's plan history.
pub async fn segments(
    conn: &mut AnyConnection,
    developer_id: &str,
    start_ms: i64,
    end_ms: i64,
) -> DomainResult<Vec<Segment>> {
    let rows = sqlx::query(
        "SELECT plan_id, price_nanos, effective_at FROM plan_changes \
         WHERE developer_id = $1 AND effective_at < $2 ORDER BY effective_at, created_at",
    )
    .bind(developer_id)
    .bind(end_ms)
    .fetch_all(&mut *conn)
    .await?;
    let mut history: Vec<(String, i64, i64)> = Vec::with_capacity(rows.len());
    for r in rows {
        history.push((
            r.try_get("plan_id")?,
            r.try_get("price_nanos")?,
            r.try_get("effective_at")?,
        ));
    }
    Ok(split(&history, start_ms, end_ms))
}

/// Cuts `[start, end)` into segments from a plan history sorted by time
/// (a change at the same instant as another replaces it).
pub fn split(history: &[(String, i64, i64)], start_ms: i64, end_ms: i64) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for (i, (plan, price, at)) in history.iter().enumerate() {
        let next = history.get(i + 1).map(|h| h.2).unwrap_or(end_ms);
        let from = (*at).max(start_ms);
        let to = next.min(end_ms);
        if to <= from {
            continue;
        }
        out.push(Segment {
            plan_id: plan.clone(),
            price_nanos: *price,
            from_ms: from,
            to_ms: to,
        });
    }
    out
}

/// A developer's custom prices by model.
pub async fn custom_prices(
    conn: &mut AnyConnection,
    developer_id: &str,
) -> DomainResult<std::collections::BTreeMap<String, Prices>> {
    let rows = sqlx::query(
        "SELECT model, input_price_per_million, output_price_per_million, cached_price_per_million \
         FROM custom_prices WHERE developer_id = $1 ORDER BY model",
    )
    .bind(developer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = std::collections::BTreeMap::new();
    for r in rows {
        out.insert(
            r.try_get::<String, _>("model")?,
            Prices {
                input_per_million: stored_price(
                    &r.try_get::<String, _>("input_price_per_million")?,
                )?,
                output_per_million: stored_price(
                    &r.try_get::<String, _>("output_price_per_million")?,
                )?,
                cached_per_million: stored_price(
                    &r.try_get::<String, _>("cached_price_per_million")?,
                )?,
            },
        );
    }
    Ok(out)
}

/// Sets (or with `None` removes) a developer's price for a model; the
/// gateways use it within a poll.
pub async fn set_custom_price(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    model: &str,
    prices: Option<&Prices>,
) -> DomainResult<()> {
    let model = model.trim();
    if model.is_empty() || model.len() > 200 {
        return Err(DomainError::invalid("model: expected a public model name"));
    }
    match prices {
        Some(p) => {
            for (field, d) in [
                ("input_per_million", p.input_per_million),
                ("output_per_million", p.output_per_million),
                ("cached_per_million", p.cached_per_million),
            ] {
                if check_price(d).is_none() {
                    return Err(DomainError::invalid(format!(
                        "{field}: expected a decimal from 0 to 1000000 with at most 9 decimals"
                    )));
                }
            }
            sqlx::query(
                "INSERT INTO custom_prices (developer_id, model, input_price_per_million, \
                 output_price_per_million, cached_price_per_million, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (developer_id, model) DO UPDATE SET \
                 input_price_per_million = excluded.input_price_per_million, \
                 output_price_per_million = excluded.output_price_per_million, \
                 cached_price_per_million = excluded.cached_price_per_million, \
                 updated_at = excluded.updated_at",
            )
            .bind(developer_id)
            .bind(model)
            .bind(p.input_per_million.normalize().to_string())
            .bind(p.output_per_million.normalize().to_string())
            .bind(p.cached_per_million.normalize().to_string())
            .bind(db::now_ms())
            .execute(&mut *conn)
            .await?;
        }
        None => {
            let n = sqlx::query("DELETE FROM custom_prices WHERE developer_id = $1 AND model = $2")
                .bind(developer_id)
                .bind(model)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            if n == 0 {
                return Err(DomainError::NotFound(format!(
                    "no custom price for model '{model}'"
                )));
            }
        }
    }
    db::record_change(conn, backend, Entity::Developer, developer_id).await?;
    Ok(())
}

/// Sets the funds and custom prices of each gateway entry: operators are
/// not limited by money (`funds: None`), developers by their plan and credit.
pub async fn fill_funds(
    conn: &mut AnyConnection,
    entries: &mut [aihub_contract::snapshot::DeveloperEntry],
) -> DomainResult<()> {
    for e in entries.iter_mut() {
        e.prices = custom_prices(conn, &e.id).await?;
        let role: Option<String> = sqlx::query("SELECT role FROM developers WHERE id = $1")
            .bind(&e.id)
            .fetch_optional(&mut *conn)
            .await?
            .map(|r| r.try_get("role"))
            .transpose()?;
        e.funds = match role.as_deref() {
            Some("developer") => Some(funds(conn, &e.id).await?),
            _ => None,
        };
    }
    Ok(())
}

/// The gateway's [`Funds`] for a developer: its plan's allowance and, for
/// prepaid overage, the spend limit (spendable balance + charges posted).
pub async fn funds(conn: &mut AnyConnection, developer_id: &str) -> DomainResult<Funds> {
    let sub = subscription(conn, developer_id).await?;
    let spend_limit_nanos = match sub.overage {
        Overage::Invoice => None,
        Overage::Prepaid => {
            let balance = super::credit::balance(conn, developer_id).await?;
            let charged = super::charges::charged_total(conn, developer_id).await?;
            Some(balance.total().saturating_add(charged))
        }
    };
    Ok(Funds {
        plan: sub.plan.name.clone(),
        allowance_tokens_monthly: u64::try_from(sub.included_tokens).unwrap_or(0),
        spend_limit_nanos,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_is_cut_at_each_change() {
        let h = vec![
            ("free".to_string(), 0, 0),
            ("developer".to_string(), 29, 100),
            ("pro".to_string(), 99, 150),
        ];
        let s = split(&h, 50, 200);
        assert_eq!(
            s.iter()
                .map(|s| (s.plan_id.as_str(), s.from_ms, s.to_ms))
                .collect::<Vec<_>>(),
            vec![
                ("free", 50, 100),
                ("developer", 100, 150),
                ("pro", 150, 200)
            ]
        );
        // Changes after the period and before it are cut away.
        assert_eq!(split(&h, 160, 170).len(), 1);
        assert!(split(&h[..0], 0, 10).is_empty());
        // Two changes at one instant: only the later one counts.
        let same = vec![("a".to_string(), 1, 10), ("b".to_string(), 2, 10)];
        assert_eq!(split(&same, 0, 20)[0].plan_id, "b");
        assert_eq!(split(&same, 0, 20).len(), 1);
    }
}
