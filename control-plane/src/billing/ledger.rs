//! The double-entry ledger. Every movement of money — a usage charge, a
//! subscription fee, a top-up, a grant, a redemption, a refund, an
//! adjustment — is one [`NewTransaction`] of two or more [`Posting`]s that
//! sum to exactly zero (debits positive, credits negative). Amounts are
//! `rust_decimal` in code and signed integer nano-units in storage; an
//! amount that needs more than nine decimal places is refused, never
//! rounded. Nothing is updated or deleted: a correction is a new
//! transaction, and a balance is the sum of an account's entries.
//!
//! A transaction may carry an idempotency key (usage charges use the
//! request id): posting the same key again returns the first transaction
//! when it is the same, and is a conflict when it is not, so retries never
//! charge twice.

use crate::db;
use crate::error::{DomainError, DomainResult};
use rust_decimal::Decimal;
use sqlx::{AnyConnection, Row};

/// What a ledger account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountKind {
    /// A developer's paid credit (top-ups): a liability of the operator.
    CreditPaid,
    /// A developer's promotional credit (grants, redemption codes).
    CreditPromo,
    /// What a developer owes (usage beyond credit, subscription fees).
    Receivable,
    /// The operator's usage revenue.
    RevenueUsage,
    /// The operator's subscription revenue.
    RevenueSubscription,
    /// Money received from the payment provider, not yet settled.
    Cash,
    /// The cost of promotional credit given away.
    PromotionExpense,
    /// Receivables written off (uncollectible invoices).
    BadDebt,
}

impl AccountKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::CreditPaid => "credit_paid",
            AccountKind::CreditPromo => "credit_promo",
            AccountKind::Receivable => "receivable",
            AccountKind::RevenueUsage => "revenue_usage",
            AccountKind::RevenueSubscription => "revenue_subscription",
            AccountKind::Cash => "cash",
            AccountKind::PromotionExpense => "promotion_expense",
            AccountKind::BadDebt => "bad_debt",
        }
    }
}

/// One side of a transaction: `amount` to `account_id` (debit > 0, credit < 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    /// A ledger account id (`acc_…`).
    pub account_id: String,
    /// Signed amount in currency units.
    pub amount: Decimal,
}

/// A transaction to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTransaction {
    /// `usage_charge`, `top_up`, `grant`, …
    pub kind: String,
    /// Makes posting idempotent (e.g. the request id of a usage charge).
    pub idempotency_key: Option<String>,
    /// The developer it concerns, if any.
    pub developer_id: Option<String>,
    /// A note for people.
    pub memo: String,
    /// At least two, summing to zero.
    pub postings: Vec<Posting>,
}

/// The exact nano-units of `amount`, or `None` when it needs more than
/// nine decimal places or does not fit.
pub fn exact_nanos(amount: Decimal) -> Option<i64> {
    let scaled = amount.checked_mul(Decimal::from(1_000_000_000_i64))?;
    if scaled.fract() != Decimal::ZERO {
        return None;
    }
    i64::try_from(scaled.trunc()).ok()
}

/// Checks a transaction's shape and returns its postings in nano-units:
/// two or more, none zero, none finer than a nano-unit, summing to zero.
pub fn validate(tx: &NewTransaction) -> DomainResult<Vec<(String, i64)>> {
    if tx.kind.trim().is_empty() {
        return Err(DomainError::invalid("ledger: a transaction needs a kind"));
    }
    if tx.postings.len() < 2 {
        return Err(DomainError::invalid(
            "ledger: a transaction needs at least two postings",
        ));
    }
    let mut out = Vec::with_capacity(tx.postings.len());
    let mut sum: i128 = 0;
    for p in &tx.postings {
        let nanos = exact_nanos(p.amount).ok_or_else(|| {
            DomainError::invalid(format!(
                "ledger: {} is not a whole number of nano-units",
                p.amount
            ))
        })?;
        if nanos == 0 {
            return Err(DomainError::invalid("ledger: a posting cannot be zero"));
        }
        sum += i128::from(nanos);
        out.push((p.account_id.clone(), nanos));
    }
    if sum != 0 {
        return Err(DomainError::invalid(format!(
            "ledger: postings must balance, they are off by {} nano-units",
            sum
        )));
    }
    Ok(out)
}

/// The id of `developer_id`'s account of `kind` (the operator's own when
/// `None`), created on first use.
pub async fn account(
    conn: &mut AnyConnection,
    developer_id: Option<&str>,
    kind: AccountKind,
) -> DomainResult<String> {
    let found = match developer_id {
        Some(dev) => {
            sqlx::query(
                "SELECT id FROM ledger_accounts \
                 WHERE developer_id = $1 AND kind = $2 AND currency = 'USD'",
            )
            .bind(dev)
            .bind(kind.as_str())
            .fetch_optional(&mut *conn)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id FROM ledger_accounts \
                 WHERE developer_id IS NULL AND kind = $1 AND currency = 'USD'",
            )
            .bind(kind.as_str())
            .fetch_optional(&mut *conn)
            .await?
        }
    };
    if let Some(row) = found {
        return Ok(row.try_get("id")?);
    }
    let id = db::new_id("acc_");
    sqlx::query(
        "INSERT INTO ledger_accounts (id, developer_id, kind, currency, created_at) \
         VALUES ($1, $2, $3, 'USD', $4)",
    )
    .bind(&id)
    .bind(developer_id)
    .bind(kind.as_str())
    .bind(db::now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// A posted transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// `ltx_…`
    pub id: String,
    /// True when the idempotency key had already been posted (nothing new written).
    pub replayed: bool,
}

/// Posts a transaction inside the caller's (write) transaction. Two
/// concurrent posts of the same new idempotency key cannot both write: the
/// second waits for the first (SQLite's write lock, PostgreSQL's unique
/// index), then answers as a replay (or a conflict when the amounts differ).
pub async fn post(conn: &mut AnyConnection, tx: &NewTransaction) -> DomainResult<Posted> {
    let postings = validate(tx)?;
    if let Some(key) = &tx.idempotency_key {
        if let Some(done) = replay(&mut *conn, key, &postings).await? {
            return Ok(done);
        }
    }
    // A savepoint, so losing a race on the key leaves the caller's
    // transaction usable.
    sqlx::query("SAVEPOINT ledger_post")
        .execute(&mut *conn)
        .await?;
    match insert(&mut *conn, tx, &postings).await {
        Ok(id) => {
            sqlx::query("RELEASE SAVEPOINT ledger_post")
                .execute(&mut *conn)
                .await?;
            Ok(Posted {
                id,
                replayed: false,
            })
        }
        Err(DomainError::Database(e)) if db::is_unique_violation(&e) => {
            sqlx::query("ROLLBACK TO SAVEPOINT ledger_post")
                .execute(&mut *conn)
                .await?;
            let key = tx.idempotency_key.as_deref().unwrap_or_default();
            replay(&mut *conn, key, &postings)
                .await?
                .ok_or(DomainError::Database(e))
        }
        Err(e) => Err(e),
    }
}

/// The transaction already posted under `key`, if any; a conflict when its
/// postings differ from `postings`.
async fn replay(
    conn: &mut AnyConnection,
    key: &str,
    postings: &[(String, i64)],
) -> DomainResult<Option<Posted>> {
    let existing = sqlx::query("SELECT id FROM ledger_transactions WHERE idempotency_key = $1")
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = existing else {
        return Ok(None);
    };
    let id: String = row.try_get("id")?;
    let mut stored = entries_of(&mut *conn, &id).await?;
    let mut wanted = postings.to_vec();
    stored.sort();
    wanted.sort();
    if stored != wanted {
        return Err(DomainError::Conflict(format!(
            "ledger: idempotency key '{key}' was posted with other amounts"
        )));
    }
    Ok(Some(Posted { id, replayed: true }))
}

async fn insert(
    conn: &mut AnyConnection,
    tx: &NewTransaction,
    postings: &[(String, i64)],
) -> DomainResult<String> {
    let id = db::new_id("ltx_");
    let now = db::now_ms();
    sqlx::query(
        "INSERT INTO ledger_transactions (id, kind, idempotency_key, developer_id, memo, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&tx.kind)
    .bind(&tx.idempotency_key)
    .bind(&tx.developer_id)
    .bind(&tx.memo)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    for (account_id, nanos) in postings {
        sqlx::query(
            "INSERT INTO ledger_entries (id, transaction_id, account_id, amount_nanos, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(db::new_id("len_"))
        .bind(&id)
        .bind(account_id)
        .bind(nanos)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

async fn entries_of(
    conn: &mut AnyConnection,
    transaction_id: &str,
) -> DomainResult<Vec<(String, i64)>> {
    let rows = sqlx::query(
        "SELECT account_id, amount_nanos FROM ledger_entries WHERE transaction_id = $1",
    )
    .bind(transaction_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok((r.try_get("account_id")?, r.try_get("amount_nanos")?)))
        .collect()
}

/// An account's balance (debits − credits), exact.
pub async fn balance(conn: &mut AnyConnection, account_id: &str) -> DomainResult<Decimal> {
    let rows = sqlx::query("SELECT amount_nanos FROM ledger_entries WHERE account_id = $1")
        .bind(account_id)
        .fetch_all(&mut *conn)
        .await?;
    let mut sum: i128 = 0;
    for r in &rows {
        sum += i128::from(r.try_get::<i64, _>("amount_nanos")?);
    }
    Ok(Decimal::from_i128_with_scale(sum, 9).normalize())
}

/// Transactions whose entries do not sum to zero (always none, unless the
/// database was edited by hand): what reconciliation reports.
pub async fn unbalanced(conn: &mut AnyConnection) -> DomainResult<Vec<String>> {
    let rows = sqlx::query(
        "SELECT transaction_id FROM ledger_entries GROUP BY transaction_id \
         HAVING SUM(amount_nanos) <> 0 OR COUNT(*) < 2",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| Ok(r.try_get("transaction_id")?))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::str::FromStr;

    fn tx(amounts: &[Decimal]) -> NewTransaction {
        NewTransaction {
            kind: "adjustment".into(),
            idempotency_key: None,
            developer_id: None,
            memo: String::new(),
            postings: amounts
                .iter()
                .enumerate()
                .map(|(i, a)| Posting {
                    account_id: format!("acc_{i}"),
                    amount: *a,
                })
                .collect(),
        }
    }

    #[test]
    fn amounts_are_exact_or_refused() {
        assert_eq!(
            exact_nanos(Decimal::from_str("0.000000001").unwrap()),
            Some(1)
        );
        assert_eq!(
            exact_nanos(Decimal::from_str("29.99").unwrap()),
            Some(29_990_000_000)
        );
        assert_eq!(
            exact_nanos(Decimal::from_str("0.0000000001").unwrap()),
            None
        );
        assert_eq!(
            exact_nanos(Decimal::from_str("-1.5").unwrap()),
            Some(-1_500_000_000)
        );
        assert!(validate(&tx(&[Decimal::ONE])).is_err());
        assert!(validate(&tx(&[Decimal::ONE, Decimal::ZERO, -Decimal::ONE])).is_err());
    }

    proptest! {
        /// Any set of postings made to balance is accepted, exactly.
        #[test]
        fn balanced_postings_are_accepted(nanos in prop::collection::vec(1i64..=1_000_000_000_000, 1..8)) {
            let mut amounts: Vec<Decimal> = nanos.iter().map(|n| Decimal::new(*n, 9)).collect();
            let total: Decimal = amounts.iter().copied().sum();
            amounts.push(-total);
            let checked = validate(&tx(&amounts)).unwrap();
            prop_assert_eq!(checked.iter().map(|(_, n)| i128::from(*n)).sum::<i128>(), 0);
            prop_assert_eq!(checked.len(), amounts.len());
        }

        /// Anything off by even one nano-unit is refused.
        #[test]
        fn unbalanced_postings_are_refused(
            nanos in prop::collection::vec(1i64..=1_000_000_000_000, 1..8),
            off in prop_oneof![-1_000_000i64..=-1, 1i64..=1_000_000],
        ) {
            let mut amounts: Vec<Decimal> = nanos.iter().map(|n| Decimal::new(*n, 9)).collect();
            let total: Decimal = amounts.iter().copied().sum();
            amounts.push(-total + Decimal::new(off, 9));
            prop_assert!(validate(&tx(&amounts)).is_err());
        }

        /// Nano-units survive the trip through Decimal unchanged.
        #[test]
        fn nanos_round_trip(n in i64::MIN / 2..i64::MAX / 2) {
            prop_assert_eq!(exact_nanos(Decimal::new(n, 9)), Some(n));
        }
    }
}
