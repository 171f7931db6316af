//! Prepaid credit: balances (from the ledger), top-ups, operator grants and
//! single-use redemption codes. Paid credit (top-ups) and promotional
//! credit (grants, codes) are separate ledger accounts; usage spends
//! promotional credit first.

use super::ledger::{self, AccountKind, NewTransaction, Posting};
use crate::db::{self, Backend, Entity};
use crate::error::{DomainError, DomainResult};
use aihub_contract::money::nanos_to_decimal;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

/// A developer's spendable credit, nano-units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Balance {
    /// From top-ups.
    pub paid: i64,
    /// From grants and codes.
    pub promo: i64,
}

impl Balance {
    /// Both together.
    pub fn total(&self) -> i64 {
        self.paid.saturating_add(self.promo)
    }

    /// The API shape.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "total": super::money::format(self.total()),
            "paid": super::money::format(self.paid),
            "promotional": super::money::format(self.promo),
        })
    }
}

/// The developer's balance: the negated sums of its credit accounts
/// (credit is a liability, booked as credits).
pub async fn balance(conn: &mut AnyConnection, developer_id: &str) -> DomainResult<Balance> {
    let rows = sqlx::query(
        "SELECT a.kind AS kind, CAST(COALESCE(SUM(e.amount_nanos), 0) AS BIGINT) AS total \
         FROM ledger_accounts a JOIN ledger_entries e ON e.account_id = a.id \
         WHERE a.developer_id = $1 AND a.kind IN ('credit_paid', 'credit_promo') \
         GROUP BY a.kind",
    )
    .bind(developer_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut b = Balance::default();
    for r in rows {
        let kind: String = r.try_get("kind")?;
        let total: i64 = r.try_get("total")?;
        match kind.as_str() {
            "credit_paid" => b.paid = -total,
            _ => b.promo = -total,
        }
    }
    Ok(b)
}

fn amount(nanos: i64) -> rust_decimal::Decimal {
    nanos_to_decimal(nanos)
}

/// Posts `kind` crediting the developer's `credit` account from `source`
/// (a negative amount moves it back), and tells the gateways (the spend
/// limit moved).
#[allow(clippy::too_many_arguments)]
async fn credit(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    kind: &str,
    credit_kind: AccountKind,
    source: AccountKind,
    amount_nanos: i64,
    memo: String,
    idempotency_key: Option<String>,
) -> DomainResult<ledger::Posted> {
    let to = ledger::account(conn, Some(developer_id), credit_kind).await?;
    let from = ledger::account(conn, None, source).await?;
    let posted = ledger::post(
        conn,
        &NewTransaction {
            kind: kind.into(),
            idempotency_key,
            developer_id: Some(developer_id.into()),
            memo,
            postings: vec![
                Posting {
                    account_id: from,
                    amount: amount(amount_nanos),
                },
                Posting {
                    account_id: to,
                    amount: -amount(amount_nanos),
                },
            ],
        },
    )
    .await?;
    if !posted.replayed {
        db::record_change(conn, backend, Entity::Developer, developer_id).await?;
    }
    Ok(posted)
}

/// An operator's grant of promotional credit.
pub async fn grant(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    amount_nanos: i64,
    memo: &str,
) -> DomainResult<ledger::Posted> {
    if amount_nanos <= 0 {
        return Err(DomainError::invalid("amount: must be more than zero"));
    }
    let memo = if memo.trim().is_empty() {
        "Credit granted by the operator".to_string()
    } else {
        memo.trim().to_string()
    };
    credit(
        conn,
        backend,
        developer_id,
        "grant",
        AccountKind::CreditPromo,
        AccountKind::PromotionExpense,
        amount_nanos,
        memo,
        None,
    )
    .await
}

/// Credits a confirmed top-up payment (once per payment id).
pub async fn top_up(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    payment_id: &str,
    amount_nanos: i64,
) -> DomainResult<ledger::Posted> {
    credit(
        conn,
        backend,
        developer_id,
        "top_up",
        AccountKind::CreditPaid,
        AccountKind::Cash,
        amount_nanos,
        format!("Top-up {payment_id}"),
        Some(format!("payment:{payment_id}")),
    )
    .await
}

/// Refunds paid credit (the money itself goes back through the payment
/// provider, by the operator): at most the paid balance.
pub async fn refund(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    amount_nanos: i64,
    memo: &str,
) -> DomainResult<ledger::Posted> {
    let b = balance(conn, developer_id).await?;
    if amount_nanos <= 0 || amount_nanos > b.paid {
        return Err(DomainError::invalid(format!(
            "amount: between 0 and the paid balance, {}",
            super::money::format(b.paid.max(0))
        )));
    }
    let memo = if memo.trim().is_empty() {
        "Refund of prepaid credit".to_string()
    } else {
        memo.trim().to_string()
    };
    // A top-up backwards: paid credit goes back to cash.
    credit(
        conn,
        backend,
        developer_id,
        "refund",
        AccountKind::CreditPaid,
        AccountKind::Cash,
        -amount_nanos,
        memo,
        None,
    )
    .await
}

/// The alphabet of codes: no 0/O, 1/I/L to misread.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

/// A fresh code, `AIHUB-XXXX-XXXX-XXXX` (60 bits of randomness).
fn new_code() -> String {
    let mut rng = rand::thread_rng();
    let groups: Vec<String> = (0..3)
        .map(|_| {
            (0..4)
                .map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char)
                .collect()
        })
        .collect();
    format!("AIHUB-{}", groups.join("-"))
}

/// A code as typed, normalised (upper case, no spaces or dashes, no prefix).
fn normalise(code: &str) -> String {
    let s: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    s.strip_prefix("AIHUB").map(str::to_string).unwrap_or(s)
}

fn code_hash(code: &str) -> String {
    hex::encode(Sha256::digest(normalise(code).as_bytes()))
}

/// A batch of codes created.
#[derive(Debug, Clone)]
pub struct CodeBatch {
    /// `cbt_…`
    pub batch_id: String,
    /// The codes (shown once; only hashes are stored).
    pub codes: Vec<String>,
}

/// Creates `count` single-use codes worth `amount_nanos` each.
pub async fn create_codes(
    conn: &mut AnyConnection,
    count: usize,
    amount_nanos: i64,
    expires_at: Option<i64>,
    created_by: Option<&str>,
) -> DomainResult<CodeBatch> {
    if count == 0 || count > 10_000 {
        return Err(DomainError::invalid("count: between 1 and 10000 codes"));
    }
    if amount_nanos <= 0 {
        return Err(DomainError::invalid("amount: must be more than zero"));
    }
    let now = db::now_ms();
    if expires_at.is_some_and(|e| e <= now) {
        return Err(DomainError::invalid("expires: must be in the future"));
    }
    let batch_id = db::new_id("cbt_");
    let mut codes = Vec::with_capacity(count);
    for _ in 0..count {
        let code = new_code();
        sqlx::query(
            "INSERT INTO credit_codes (id, batch_id, code_hash, hint, amount_nanos, expires_at, \
             created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(db::new_id("ccd_"))
        .bind(&batch_id)
        .bind(code_hash(&code))
        .bind(&code[code.len() - 4..])
        .bind(amount_nanos)
        .bind(expires_at)
        .bind(created_by)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        codes.push(code);
    }
    Ok(CodeBatch { batch_id, codes })
}

/// A batch of codes as operators list it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchSummary {
    /// `cbt_…`
    pub batch_id: String,
    /// What each code is worth.
    pub amount: String,
    /// Codes in the batch.
    pub count: i64,
    /// Codes redeemed so far.
    pub redeemed: i64,
    /// When the codes expire (ms), if they do.
    pub expires_at: Option<i64>,
    /// When made (ms).
    pub created_at: i64,
    /// The operator who made it (`None`: the CLI).
    pub created_by: Option<String>,
}

/// Code batches, newest first, and whether more follow.
pub async fn batches(
    conn: &mut AnyConnection,
    limit: i64,
    starting_after: Option<&str>,
) -> DomainResult<(Vec<BatchSummary>, bool)> {
    let w = crate::db::Where::new(
        "SELECT * FROM (SELECT batch_id, MIN(amount_nanos) AS amount_nanos, COUNT(*) AS codes, \
         CAST(SUM(CASE WHEN redeemed_by IS NULL THEN 0 ELSE 1 END) AS BIGINT) AS redeemed, \
         MIN(expires_at) AS expires_at, MIN(created_at) AS created_at, \
         MIN(created_by) AS created_by FROM credit_codes GROUP BY batch_id) b WHERE 1 = 1",
    );
    w.page(conn, "batch_id", starting_after, limit, |r| {
        Ok(BatchSummary {
            batch_id: r.try_get("batch_id")?,
            amount: super::money::format(r.try_get("amount_nanos")?),
            count: r.try_get("codes")?,
            redeemed: r.try_get("redeemed")?,
            expires_at: r.try_get("expires_at")?,
            created_at: r.try_get("created_at")?,
            created_by: r.try_get("created_by")?,
        })
    })
    .await
}

/// Why a code could not be redeemed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedeemError {
    /// No such code.
    NotFound,
    /// Already used.
    Redeemed,
    /// Past its expiry.
    Expired,
}

/// Redeems a code for the developer: the code is marked used and its
/// amount credited as promotional credit, in one transaction.
pub async fn redeem(
    conn: &mut AnyConnection,
    backend: Backend,
    developer_id: &str,
    code: &str,
) -> DomainResult<Result<i64, RedeemError>> {
    let hash = code_hash(code);
    let now = db::now_ms();
    let row = sqlx::query(
        "SELECT id, amount_nanos, expires_at, redeemed_by FROM credit_codes WHERE code_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Err(RedeemError::NotFound));
    };
    let id: String = row.try_get("id")?;
    let amount_nanos: i64 = row.try_get("amount_nanos")?;
    if row.try_get::<Option<String>, _>("redeemed_by")?.is_some() {
        return Ok(Err(RedeemError::Redeemed));
    }
    if row
        .try_get::<Option<i64>, _>("expires_at")?
        .is_some_and(|e| e <= now)
    {
        return Ok(Err(RedeemError::Expired));
    }
    // The guard makes two concurrent redemptions of one code end with one winner.
    let claimed = sqlx::query(
        "UPDATE credit_codes SET redeemed_by = $1, redeemed_at = $2 \
         WHERE id = $3 AND redeemed_by IS NULL",
    )
    .bind(developer_id)
    .bind(now)
    .bind(&id)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(Err(RedeemError::Redeemed));
    }
    credit(
        conn,
        backend,
        developer_id,
        "redemption",
        AccountKind::CreditPromo,
        AccountKind::PromotionExpense,
        amount_nanos,
        format!(
            "Redemption code …{}",
            &normalise(code)[normalise(code).len().saturating_sub(4)..]
        ),
        Some(format!("redeem:{id}")),
    )
    .await?;
    Ok(Ok(amount_nanos))
}

/// One movement of a developer's credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Movement {
    /// `ltx_…`
    pub id: String,
    /// The transaction kind.
    pub kind: String,
    /// Change of the spendable balance, nano-units.
    pub amount_nanos: i64,
    /// The transaction's memo.
    pub memo: String,
    /// When.
    pub created_at: i64,
}

/// The developer's credit movements, newest first, before `before` (an id).
pub async fn history(
    conn: &mut AnyConnection,
    developer_id: &str,
    limit: i64,
    before: Option<&str>,
) -> DomainResult<Vec<Movement>> {
    let rows = sqlx::query(
        "SELECT t.id AS id, t.kind AS kind, t.memo AS memo, t.created_at AS created_at, \
                CAST(SUM(e.amount_nanos) AS BIGINT) AS total \
         FROM ledger_transactions t \
         JOIN ledger_entries e ON e.transaction_id = t.id \
         JOIN ledger_accounts a ON a.id = e.account_id \
         WHERE a.developer_id = $1 AND a.kind IN ('credit_paid', 'credit_promo') \
           AND ($2 = '' OR t.id < $2) \
         GROUP BY t.id, t.kind, t.memo, t.created_at \
         ORDER BY t.id DESC LIMIT $3",
    )
    .bind(developer_id)
    .bind(before.unwrap_or(""))
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Movement {
                id: r.try_get("id")?,
                kind: r.try_get("kind")?,
                amount_nanos: -r.try_get::<i64, _>("total")?,
                memo: r.try_get("memo")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_normalised() {
        let c = new_code();
        assert_eq!(c.len(), "AIHUB-XXXX-XXXX-XXXX".len());
        assert!(c.starts_with("AIHUB-"));
        assert_eq!(
            code_hash(&c),
            code_hash(&c.to_lowercase().replace('-', " "))
        );
        assert_ne!(code_hash(&c), code_hash(&new_code()));
        assert_eq!(normalise("aihub-abcd-efgh"), "ABCDEFGH");
    }
}
