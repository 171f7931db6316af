//! `aihub admin billing …`: plans, credit, redemption codes, month close,
//! manual payments and reconciliation, for operators at a shell.

use super::Output;
use crate::api::billing::{close_json, reconcile_json};
use crate::billing::{self, credit, invoices, money, payments, plans, reconcile};
use crate::config::Config;
use crate::db::Db;
use crate::developers;
use aihub_contract::calendar::{month_named, month_of, previous};
use anyhow::Context;
use clap::Subcommand;
use serde_json::json;

/// `aihub admin billing …`
#[derive(Debug, Subcommand)]
pub enum BillingCommand {
    /// List the plans.
    Plans,
    /// Put a developer on a plan at once, optionally with custom terms.
    SetPlan {
        /// Id or email.
        developer: String,
        /// Plan id (free, developer, pro, payg, enterprise).
        plan: String,
        /// Custom monthly fee (USD).
        #[arg(long)]
        price: Option<String>,
        /// Custom included tokens a month.
        #[arg(long)]
        included_tokens: Option<i64>,
        /// Custom overage mode: prepaid or invoice.
        #[arg(long)]
        overage: Option<String>,
    },
    /// Set (or with --remove, drop) a price agreed with one developer for a
    /// model, in USD per million tokens.
    SetPrice {
        /// Id or email.
        developer: String,
        /// Public model name.
        model: String,
        /// Prompt tokens.
        #[arg(long, required_unless_present = "remove")]
        input: Option<String>,
        /// Completion tokens.
        #[arg(long, required_unless_present = "remove")]
        output: Option<String>,
        /// Cached prompt tokens (default: the input price).
        #[arg(long)]
        cached: Option<String>,
        /// Back to the catalog's price.
        #[arg(long, conflicts_with_all = ["input", "output", "cached"])]
        remove: bool,
    },
    /// Grant promotional credit.
    Grant {
        /// Id or email.
        developer: String,
        /// Amount (USD), e.g. 10.00.
        amount: String,
        /// A note shown to the developer.
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Create a batch of single-use redemption codes (printed once).
    Codes {
        /// How many.
        #[arg(long, default_value_t = 1)]
        count: usize,
        /// Amount each (USD).
        #[arg(long)]
        amount: String,
        /// Days until they expire (default: never).
        #[arg(long)]
        expires_in_days: Option<i64>,
    },
    /// Charge pending usage, write invoice drafts and finalize a month
    /// (default: last month). Closing twice creates nothing twice.
    CloseMonth {
        /// YYYY-MM.
        month: Option<String>,
        /// Only write drafts; do not finalize.
        #[arg(long)]
        draft: bool,
    },
    /// Record a payment received outside Stripe for an open invoice.
    RecordPayment {
        /// Invoice id.
        invoice: String,
        /// Amount (USD; default: all that is due).
        #[arg(long)]
        amount: Option<String>,
    },
    /// Void an open invoice (the ledger reverses what its month booked).
    Void {
        /// Invoice id.
        invoice: String,
    },
    /// Mark an open invoice uncollectible (what is due is written off).
    Uncollectible {
        /// Invoice id.
        invoice: String,
    },
    /// Take back paid credit (return the money through the payment provider).
    Refund {
        /// Id or email.
        developer: String,
        /// Amount (USD), at most the paid balance.
        amount: String,
        /// A note shown to the developer.
        #[arg(long, default_value = "")]
        memo: String,
    },
    /// Prove that usage, charges, ledger, invoices and totals agree for a
    /// month (default: this month); exits 1 naming each difference.
    Reconcile {
        /// YYYY-MM.
        month: Option<String>,
    },
}

fn month_arg(
    m: Option<String>,
    default_last: bool,
) -> anyhow::Result<aihub_contract::calendar::Month> {
    let now = month_of(crate::db::now_ms());
    match m {
        Some(name) => {
            month_named(&name).with_context(|| format!("month: expected YYYY-MM, got '{name}'"))
        }
        None if default_last => Ok(previous(&now)),
        None => Ok(now),
    }
}

/// Runs one billing command.
pub async fn run(
    db: &Db,
    config: &Config,
    cmd: BillingCommand,
    out: &Output,
) -> anyhow::Result<()> {
    let b = billing::Billing::from_config(config)?;
    match cmd {
        BillingCommand::Plans => {
            let mut conn = db.pool().acquire().await?;
            let all = plans::list(&mut conn).await?;
            let text = all
                .iter()
                .map(|p| {
                    format!(
                        "{:<11} {:<14} ${:>8}/month  {:>9} tokens  overage {}{}",
                        p.id,
                        p.name,
                        money::format(p.price_nanos),
                        p.included_tokens,
                        p.overage.as_str(),
                        if p.public {
                            ""
                        } else {
                            "  (assigned by operators)"
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            out.emit(
                &json!({"plans": all.iter().map(|p| p.to_json()).collect::<Vec<_>>()}),
                &text,
            )
        }
        BillingCommand::SetPlan {
            developer,
            plan,
            price,
            included_tokens,
            overage,
        } => {
            let mut tx = db.begin_write().await?;
            let dev = developers::resolve(&mut tx, &developer).await?;
            plans::change(&mut tx, db.backend(), &dev.id, &plan, false).await?;
            let price = price
                .map(|p| money::parse_non_negative(&p, "price", 2))
                .transpose()?;
            let overage = match overage.as_deref() {
                Some(o) => {
                    Some(plans::Overage::parse(o).context("overage: expected prepaid or invoice")?)
                }
                None => None,
            };
            if price.is_some() || included_tokens.is_some() || overage.is_some() {
                plans::set_terms(
                    &mut tx,
                    db.backend(),
                    &dev.id,
                    &plans::Terms {
                        price_nanos: price,
                        included_tokens,
                        overage,
                    },
                )
                .await?;
            }
            let sub = plans::subscription(&mut tx, &dev.id).await?;
            tx.commit().await?;
            out.emit(
                &json!({"developer": dev.id, "plan": sub.plan.id, "price": money::format(sub.price_nanos),
                        "included_tokens": sub.included_tokens, "overage": sub.overage.as_str()}),
                &format!(
                    "{} is on the {} plan: ${}/month, {} tokens included, overage {}",
                    dev.email,
                    sub.plan.name,
                    money::format(sub.price_nanos),
                    sub.included_tokens,
                    sub.overage.as_str()
                ),
            )
        }
        BillingCommand::SetPrice {
            developer,
            model,
            input,
            output,
            cached,
            remove,
        } => {
            use crate::catalog::prices::parse_price;
            let prices = if remove {
                None
            } else {
                let input = parse_price("--input", input.as_deref().unwrap_or_default())?;
                Some(aihub_contract::money::Prices {
                    input_per_million: input,
                    output_per_million: parse_price(
                        "--output",
                        output.as_deref().unwrap_or_default(),
                    )?,
                    cached_per_million: match cached.as_deref() {
                        Some(c) => parse_price("--cached", c)?,
                        None => input,
                    },
                })
            };
            let mut tx = db.begin_write().await?;
            let dev = developers::resolve(&mut tx, &developer).await?;
            plans::set_custom_price(&mut tx, db.backend(), &dev.id, &model, prices.as_ref())
                .await?;
            let all = plans::custom_prices(&mut tx, &dev.id).await?;
            tx.commit().await?;
            let text = if all.is_empty() {
                format!("{} pays the catalog's prices", dev.email)
            } else {
                all.iter()
                    .map(|(m, p)| {
                        format!(
                            "{m}: input {} / output {} / cached {} per million tokens",
                            p.input_per_million, p.output_per_million, p.cached_per_million
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            out.emit(
                &json!({"developer": dev.id, "prices": all.iter().map(|(m, p)| json!({
                    "model": m,
                    "input_per_million": p.input_per_million.normalize().to_string(),
                    "output_per_million": p.output_per_million.normalize().to_string(),
                    "cached_per_million": p.cached_per_million.normalize().to_string(),
                })).collect::<Vec<_>>()}),
                &text,
            )
        }
        BillingCommand::Grant {
            developer,
            amount,
            memo,
        } => {
            let amount = money::parse_positive(&amount, "amount", 9)?;
            let mut tx = db.begin_write().await?;
            let dev = developers::resolve(&mut tx, &developer).await?;
            let posted = credit::grant(&mut tx, db.backend(), &dev.id, amount, &memo).await?;
            let balance = credit::balance(&mut tx, &dev.id).await?;
            tx.commit().await?;
            out.emit(
                &json!({"developer": dev.id, "transaction_id": posted.id, "balance": balance.to_json()}),
                &format!(
                    "granted ${} to {}; balance ${}",
                    money::format(amount),
                    dev.email,
                    money::format(balance.total())
                ),
            )
        }
        BillingCommand::Codes {
            count,
            amount,
            expires_in_days,
        } => {
            let amount = money::parse_positive(&amount, "amount", 2)?;
            let expires = expires_in_days.map(|d| crate::db::now_ms() + d * 86_400_000);
            let mut tx = db.begin_write().await?;
            let batch = credit::create_codes(&mut tx, count, amount, expires, None).await?;
            tx.commit().await?;
            out.emit(
                &json!({"batch_id": batch.batch_id, "amount": money::format(amount), "expires_at": expires, "codes": batch.codes}),
                &batch.codes.join("\n"),
            )
        }
        BillingCommand::CloseMonth { month, draft } => {
            let month = month_arg(month, true)?;
            let report = invoices::close_month(db, &b.settings, &b.source, &month, !draft).await?;
            out.emit(
                &close_json(&report),
                &format!(
                    "{}: {} usage rows charged, {} drafts, {} invoices finalized, {} already final{}",
                    report.period,
                    report.charged_rows,
                    report.drafts,
                    report.finalized,
                    report.unchanged,
                    if report.closed { "; month closed" } else { "" }
                ),
            )
        }
        BillingCommand::RecordPayment { invoice, amount } => {
            let amount = amount
                .map(|a| money::parse_positive(&a, "amount", 2))
                .transpose()?;
            let mut tx = db.begin_write().await?;
            let inv = invoices::get(&mut tx, &invoice, None).await?;
            let id = payments::record_manual(&mut tx, db.backend(), &inv, amount).await?;
            let inv = invoices::get(&mut tx, &invoice, None).await?;
            tx.commit().await?;
            out.emit(
                &json!({"payment_id": id, "invoice": inv.to_json()}),
                &format!("payment {id} recorded; invoice is {}", inv.status),
            )
        }
        BillingCommand::Void { invoice } => {
            let mut tx = db.begin_write().await?;
            let inv = invoices::get(&mut tx, &invoice, None).await?;
            invoices::void(&mut tx, &inv).await?;
            tx.commit().await?;
            out.emit(
                &json!({"invoice": invoice, "status": "void"}),
                &format!("invoice {invoice} voided"),
            )
        }
        BillingCommand::Uncollectible { invoice } => {
            let mut tx = db.begin_write().await?;
            let inv = invoices::get(&mut tx, &invoice, None).await?;
            invoices::write_off(&mut tx, &inv).await?;
            tx.commit().await?;
            out.emit(
                &json!({"invoice": invoice, "status": "uncollectible", "written_off": money::format(inv.amount_due())}),
                &format!("invoice {invoice} marked uncollectible; ${} written off", money::format(inv.amount_due())),
            )
        }
        BillingCommand::Refund {
            developer,
            amount,
            memo,
        } => {
            let amount = money::parse_positive(&amount, "amount", 2)?;
            let mut tx = db.begin_write().await?;
            let dev = developers::resolve(&mut tx, &developer).await?;
            let posted = credit::refund(&mut tx, db.backend(), &dev.id, amount, &memo).await?;
            let balance = credit::balance(&mut tx, &dev.id).await?;
            tx.commit().await?;
            out.emit(
                &json!({"developer": dev.id, "transaction_id": posted.id, "balance": balance.to_json()}),
                &format!(
                    "refunded ${} of {}'s paid credit; balance ${}",
                    money::format(amount),
                    dev.email,
                    money::format(balance.total())
                ),
            )
        }
        BillingCommand::Reconcile { month } => {
            let month = month_arg(month, false)?;
            let report = reconcile::run(db, &b.source, &month).await?;
            let text = if report.ok() {
                format!(
                    "{}: everything agrees ({} usage rows costing ${}, ${} charged, {} ledger transactions, {} invoices)",
                    report.period,
                    report.usage_rows,
                    money::format(report.usage_cost_nanos),
                    money::format(report.charged_nanos),
                    report.transactions,
                    report.invoices
                )
            } else {
                format!(
                    "{}: {} differences\n{}",
                    report.period,
                    report.differences.len(),
                    report.differences.join("\n")
                )
            };
            out.emit(&reconcile_json(&report), &text)?;
            if !report.ok() {
                anyhow::bail!(
                    "reconciliation found {} differences",
                    report.differences.len()
                );
            }
            Ok(())
        }
    }
}
