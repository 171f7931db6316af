//! Billing on a real database through the real router: plans and plan
//! changes, redemption codes and grants, usage charges against the
//! allowance and credit, month close and invoices, Stripe payments through
//! a stand-in that speaks Stripe's protocol, alerts, usage and export,
//! owner scoping, and reconciliation (which must catch a tampered ledger).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::calendar::{month_of, previous};
use aihub_contract::routes;
use aihub_contract::usage::{UsageBatch, UsageRow};
use aihub_control_plane::billing::{self, charges, credit, invoices, reconcile};
use aihub_testkit::stripe::{StripeConfig, StripeStandIn};
use common::hub::{call, developer_session, expect_error, operator_session, parts};
use common::{spawn_app_with, Backend, TestApp};
use figment::providers::Serialized;
use figment::Figment;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_selected_backend!(
    plans_change_now_or_next_month_and_prorate,
    codes_and_grants_credit_the_balance_once,
    usage_beyond_the_allowance_is_charged_from_credit_then_receivable,
    closing_a_month_twice_makes_one_invoice_that_matches_its_lines_and_the_ledger,
    two_control_planes_closing_a_month_at_once_make_each_invoice_once,
    stripe_top_ups_and_invoice_payments_apply_once_however_often_the_webhook_comes,
    alerts_fire_once_per_threshold_and_period,
    usage_reports_and_exports_only_the_callers_rows,
    reconciliation_names_a_tampered_ledger,
    credit_notes_lower_what_is_due_or_credit_the_balance_and_the_books_agree,
);

async fn credit_notes_lower_what_is_due_or_credit_the_balance_and_the_books_agree(
    backend: Backend,
) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "noted@example.com", true).await;
    let admin = operator_session(&app, "ops@example.com").await;
    let now = aihub_control_plane::db::now_ms();
    let last = previous(&month_of(now));
    // Pay as you go since before last month, $12.00 of usage then.
    on_plan_since(&app, &dev, "payg", 0, last.start_ms - 1).await;
    ingest(
        &app,
        vec![row("n1", &dev, last.start_ms + 1000, 1000, 12_000_000_000)],
    )
    .await;
    let b = settings(&app).await;
    invoices::close_month(&app.db, &b.settings, &b.source, &last, true)
        .await
        .unwrap();
    let listed = get(&app, "/api/v1/developer/invoices", &token).await;
    let inv = &listed["data"][0];
    assert_eq!(
        (inv["status"].clone(), inv["total"].clone()),
        (json!("open"), json!("12.00"))
    );
    let id = inv["id"].as_str().unwrap().to_string();
    let notes = format!("/api/v1/admin/invoices/{id}/credit-notes");

    // On an open invoice: what is due goes down.
    let (status, r) = send(
        &app,
        Method::POST,
        &notes,
        &admin,
        json!({"amount": "2.00", "reason": "Outage on the 3rd"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["credit_note"]["applied_to"], "invoice");
    assert_eq!(
        (
            r["invoice"]["amount_credited"].clone(),
            r["invoice"]["amount_due"].clone(),
            r["invoice"]["status"].clone()
        ),
        (json!("2.00"), json!("10.00"), json!("open"))
    );
    for (body, want) in [
        (
            json!({"amount": "10.01", "reason": "Too much"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"amount": "1", "reason": "  "}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"amount": "-1", "reason": "Negative"}),
            StatusCode::BAD_REQUEST,
        ),
        (json!({"amount": "1"}), StatusCode::BAD_REQUEST),
    ] {
        let (got, err) = send(&app, Method::POST, &notes, &admin, body.clone()).await;
        assert_eq!(got, want, "{body}: {err}");
    }
    // Not voidable once credited; paying the rest settles it.
    let (got, _) = send(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{id}/void"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(got, StatusCode::CONFLICT);
    let (status, paid) = send(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{id}/payments"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    assert_eq!(
        (
            paid["invoice"]["status"].clone(),
            paid["invoice"]["amount_paid"].clone()
        ),
        (json!("paid"), json!("10.00"))
    );

    // On a paid invoice: the developer's paid credit, spendable at once.
    let before = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(before["balance"]["paid"], "0.00");
    let (status, r) = send(
        &app,
        Method::POST,
        &notes,
        &admin,
        json!({"amount": "3.50", "reason": "Goodwill"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["credit_note"]["applied_to"], "balance");
    assert_eq!(r["invoice"]["amount_credited"], "5.50");
    let after = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(after["balance"]["paid"], "3.50", "{after}");
    // At most the total: 12.00 − 5.50 left.
    let (got, err) = send(
        &app,
        Method::POST,
        &notes,
        &admin,
        json!({"amount": "6.51", "reason": "Too much"}),
    )
    .await;
    assert_eq!(got, StatusCode::BAD_REQUEST, "{err}");

    // The invoice shows its notes; the audit log and the books agree.
    let full = get(&app, &format!("/api/v1/admin/invoices/{id}"), &admin).await;
    let reasons: Vec<&str> = full["credit_notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["Outage on the 3rd", "Goodwill"]);
    let mine = get(&app, &format!("/api/v1/developer/invoices/{id}"), &token).await;
    assert_eq!(mine["amount_credited"], "5.50");
    let log = get(
        &app,
        "/api/v1/admin/audit-log?action=billing.credit_note_issued",
        &admin,
    )
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 2);
    reconcile_ok(&app, &last).await;
    let resp = call(
        &app,
        Method::POST,
        &notes,
        Some(&token),
        Some(json!({"amount": "1", "reason": "Me"})),
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    app.stop().await;
}

/// Two control planes' schedulers close the same month at the same moment,
/// each through its own connection pool: every invoice exists once, and
/// the books agree.
async fn two_control_planes_closing_a_month_at_once_make_each_invoice_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let now = aihub_control_plane::db::now_ms();
    let last = previous(&month_of(now));
    let mut devs = Vec::new();
    for i in 0..4 {
        let (dev, _) = developer_session(&app, &format!("twice{i}@example.com"), true).await;
        on_plan_since(&app, &dev, "developer", 29_000_000_000, last.start_ms - 1).await;
        ingest(
            &app,
            vec![row(
                &format!("tw{i}"),
                &dev,
                last.start_ms + 1000,
                150_000,
                700_000_000,
            )],
        )
        .await;
        devs.push(dev);
    }
    let b = settings(&app).await;
    let config = app.database.config();
    let other = aihub_control_plane::db::Db::connect(&config.database)
        .await
        .unwrap();
    let (one, two) = tokio::join!(
        invoices::close_month(&app.db, &b.settings, &b.source, &last, true),
        invoices::close_month(&other, &b.settings, &b.source, &last, true),
    );
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(
        one.finalized + two.finalized,
        devs.len(),
        "each invoice finalized by one of them: {one:?} {two:?}"
    );
    assert_eq!(one.charged_rows + two.charged_rows, devs.len());
    for dev in &devs {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE developer_id = $1")
            .bind(dev)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        assert_eq!(n, 1, "{dev} has {n} invoices");
    }
    reconcile_ok(&app, &last).await;
    other.close().await;
    app.stop().await;
}

const WEBHOOK_SECRET: &str = "whsec_billing_tests_0123456789";
const STRIPE_KEY: &str = "sk_test_billing_tests";

/// Test defaults: no background closing (tests close months themselves)
/// and a charger that only runs when the test calls it.
fn quiet(f: Figment) -> Figment {
    f.merge(Serialized::default("billing.close_months", false))
        .merge(Serialized::default("billing.charge_interval_ms", 3_600_000))
}

/// Puts `dev` on `plan` at `price_nanos` a month since `since_ms` (before
/// the month a test closes), as if it had subscribed then.
async fn on_plan_since(app: &TestApp, dev: &str, plan: &str, price_nanos: i64, since_ms: i64) {
    sqlx::query("UPDATE subscriptions SET plan_id = $1 WHERE developer_id = $2")
        .bind(plan)
        .bind(dev)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query(
        "UPDATE plan_changes SET plan_id = $1, price_nanos = $2, effective_at = $3 WHERE developer_id = $4",
    )
    .bind(plan)
    .bind(price_nanos)
    .bind(since_ms)
    .bind(dev)
    .execute(app.db.pool())
    .await
    .unwrap();
}

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, quiet).await
}

async fn settings(app: &TestApp) -> billing::Billing {
    let config =
        aihub_control_plane::config::Config::from_figment(quiet(app.database.figment())).unwrap();
    billing::Billing::from_config(&config).unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = parts(call(app, Method::GET, path, Some(token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> (StatusCode, Value) {
    parts(call(app, method, path, Some(token), Some(body)).await).await
}

fn row(request_id: &str, developer_id: &str, ts_ms: i64, tokens: u64, cost_nanos: i64) -> UsageRow {
    UsageRow {
        request_id: request_id.into(),
        ts_ms,
        developer_id: developer_id.into(),
        key_id: "key_test".into(),
        endpoint: "chat.completions".into(),
        method: "POST".into(),
        model: "gpt-4o-mini".into(),
        deployment_id: "dep_1".into(),
        provider_id: "prov_1".into(),
        prompt_tokens: tokens / 2,
        completion_tokens: tokens - tokens / 2,
        cached_tokens: 0,
        reasoning_tokens: 0,
        cost_nanos,
        latency_ms: 100,
        ttft_ms: None,
        status: 200,
        stream: false,
        attempts: 1,
        ip: String::new(),
        user_agent: String::new(),
        error: String::new(),
        gateway_id: "gw".into(),
        batch_id: String::new(),
    }
}

async fn ingest(app: &TestApp, rows: Vec<UsageRow>) {
    let body = serde_json::to_vec(&UsageBatch { rows }).unwrap();
    let resp = app.signed_post(routes::USAGE, body).await;
    assert_eq!(resp.status(), 200);
}

async fn charge(app: &TestApp) -> usize {
    let b = settings(app).await;
    charges::run_once(&app.db, &b.settings, &b.source)
        .await
        .unwrap()
}

async fn balance(app: &TestApp, dev: &str) -> credit::Balance {
    let mut c = app.db.pool().acquire().await.unwrap();
    credit::balance(&mut c, dev).await.unwrap()
}

async fn reconcile_ok(app: &TestApp, month: &aihub_contract::calendar::Month) -> reconcile::Report {
    let b = settings(app).await;
    let r = reconcile::run(&app.db, &b.source, month).await.unwrap();
    assert!(
        r.ok(),
        "reconciliation of {}: {:?}",
        month.name,
        r.differences
    );
    r
}

async fn plans_change_now_or_next_month_and_prorate(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev_id, token) = developer_session(&app, "plans@example.com", true).await;
    let plans = get(&app, "/api/v1/developer/plans", &token).await;
    let ids: Vec<&str> = plans["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["free", "developer", "pro", "payg"],
        "Enterprise is not self-service"
    );
    assert_eq!(plans["data"][1]["price"], "29.00");
    assert_eq!(plans["data"][2]["included_tokens"], 1_000_000);
    assert_eq!(plans["data"][0]["current"], true);

    let b = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(b["plan"]["id"], "free");
    assert_eq!(
        b["allowance"],
        json!({"included_tokens": 1000, "used_tokens": 0, "remaining_tokens": 1000})
    );
    assert_eq!(b["balance"]["total"], "0.00");
    assert_eq!(b["upcoming_invoice"]["total"], "0.00");

    // Upgrade: now, fee prorated from now to the month's end.
    let (status, b) = send(
        &app,
        Method::POST,
        "/api/v1/developer/billing/plan",
        &token,
        json!({"plan_id": "pro"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(
        (b["change"].as_str(), b["plan"]["id"].as_str()),
        (Some("now"), Some("pro"))
    );
    assert_eq!(b["allowance"]["included_tokens"], 1_000_000);
    let month = month_of(aihub_control_plane::db::now_ms());
    let fee: rust_decimal::Decimal = b["upcoming_invoice"]["subscription"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let full: rust_decimal::Decimal = "99".parse().unwrap();
    assert!(
        fee > rust_decimal::Decimal::ZERO && fee <= full,
        "prorated fee {fee}"
    );
    // The proration is the remaining share of the month, to the cent.
    let share = rust_decimal::Decimal::from(month.end_ms - aihub_control_plane::db::now_ms())
        / rust_decimal::Decimal::from(month.end_ms - month.start_ms);
    assert!(
        (fee - full * share).abs() <= "0.05".parse().unwrap(),
        "{fee} vs {}",
        full * share
    );

    // Downgrade: at the month's end; choosing Pro again cancels it.
    let (_, b) = send(
        &app,
        Method::POST,
        "/api/v1/developer/billing/plan",
        &token,
        json!({"plan_id": "developer"}),
    )
    .await;
    assert_eq!(b["change"], "next_month");
    assert_eq!(b["plan"]["id"], "pro");
    assert_eq!(b["pending_plan"]["id"], "developer");
    assert_eq!(b["pending_plan"]["starts_at"], month.end_ms);
    let (_, b) = send(
        &app,
        Method::POST,
        "/api/v1/developer/billing/plan",
        &token,
        json!({"plan_id": "pro"}),
    )
    .await;
    assert_eq!(b["change"], "pending_change_cancelled");
    assert!(b["pending_plan"].is_null());

    // Enterprise and unknown plans are refused, with nothing changed.
    for bad in ["enterprise", "gold"] {
        let resp = call(
            &app,
            Method::POST,
            "/api/v1/developer/billing/plan",
            Some(&token),
            Some(json!({"plan_id": bad})),
        )
        .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/developer/billing/plan",
        Some(&token),
        Some(json!({"plan": "pro"})),
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(
        get(&app, "/api/v1/developer/billing", &token).await["plan"]["id"],
        "pro"
    );

    // A price agreed with this developer (Enterprise terms): operators only,
    // checked, shown to the developer, and removable.
    let admin = operator_session(&app, "pricing@example.com").await;
    let path = format!("/api/v1/admin/developers/{dev_id}/prices");
    let price = json!({"model": "gpt-4o", "input_per_million": "2.5", "output_per_million": "10"});
    let resp = call(&app, Method::PUT, &path, Some(&token), Some(price.clone())).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let (status, set) = send(&app, Method::PUT, &path, &admin, price).await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let b = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(
        b["custom_prices"],
        json!([{"model": "gpt-4o", "input_per_million": "2.5", "output_per_million": "10", "cached_per_million": "2.5"}])
    );
    let bad = json!({"model": "gpt-4o", "input_per_million": "-1", "output_per_million": "10"});
    let resp = call(&app, Method::PUT, &path, Some(&admin), Some(bad)).await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    let gone = format!("{path}/gpt-4o");
    let (status, _) = send(&app, Method::DELETE, &gone, &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK);
    let b = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(b["custom_prices"], json!([]));
    let (status, _) = send(&app, Method::DELETE, &gone, &admin, json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

async fn codes_and_grants_credit_the_balance_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "codes@example.com", true).await;
    let (other, other_token) = developer_session(&app, "other@example.com", true).await;
    let admin = operator_session(&app, "ops@example.com").await;

    // Developers cannot make codes or grant credit.
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/admin/redemption-codes",
        Some(&token),
        Some(json!({"count": 1, "amount": "5"})),
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;

    let (status, batch) = send(
        &app,
        Method::POST,
        "/api/v1/admin/redemption-codes",
        &admin,
        json!({"count": 3, "amount": "5.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{batch}");
    let codes: Vec<String> = batch["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    assert_eq!(codes.len(), 3);

    let (status, r) = send(
        &app,
        Method::POST,
        "/api/v1/developer/billing/redeem",
        &token,
        json!({"code": codes[0].to_lowercase()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["amount"], "5.00");
    assert_eq!(r["balance"]["promotional"], "5.00");
    // Used: by the same developer or another.
    for t in [&token, &other_token] {
        let resp = call(
            &app,
            Method::POST,
            "/api/v1/developer/billing/redeem",
            Some(t),
            Some(json!({"code": codes[0]})),
        )
        .await;
        expect_error(resp, StatusCode::CONFLICT, "code_redeemed").await;
    }
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/developer/billing/redeem",
        Some(&token),
        Some(json!({"code": "AIHUB-2222-3333-4444"})),
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "code_not_found").await;

    // The batch as operators list it: how many were redeemed, never the codes.
    let batches = get(&app, "/api/v1/admin/redemption-codes", &admin).await;
    assert_eq!(batches["data"].as_array().unwrap().len(), 1, "{batches}");
    let b = &batches["data"][0];
    assert_eq!(b["batch_id"], batch["batch_id"]);
    assert_eq!(
        (
            b["count"].clone(),
            b["redeemed"].clone(),
            b["amount"].clone()
        ),
        (json!(3), json!(1), json!("5.00"))
    );
    for c in &codes {
        assert!(!batches.to_string().contains(c.as_str()));
    }

    // An expired code.
    sqlx::query("UPDATE credit_codes SET expires_at = 1")
        .execute(app.db.pool())
        .await
        .unwrap();
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/developer/billing/redeem",
        Some(&token),
        Some(json!({"code": codes[1]})),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "code_expired").await;
    sqlx::query("UPDATE credit_codes SET expires_at = NULL")
        .execute(app.db.pool())
        .await
        .unwrap();

    // Two developers race for one code: one wins, the other is told.
    let a = call(
        &app,
        Method::POST,
        "/api/v1/developer/billing/redeem",
        Some(&token),
        Some(json!({"code": codes[2]})),
    );
    let b = call(
        &app,
        Method::POST,
        "/api/v1/developer/billing/redeem",
        Some(&other_token),
        Some(json!({"code": codes[2]})),
    );
    let (a, b) = tokio::join!(a, b);
    let mut statuses = [a.status().as_u16(), b.status().as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409]);
    let total = balance(&app, &dev).await.total() + balance(&app, &other).await.total();
    assert_eq!(total, 10_000_000_000, "one code of 5.00 each, once");

    // A grant, with an Idempotency-Key: a retry grants nothing more.
    let before = balance(&app, &dev).await;
    for _ in 0..2 {
        let resp = app
            .client
            .post(app.url(&format!("/api/v1/admin/developers/{dev}/credit")))
            .bearer_auth(&admin)
            .header("idempotency-key", "grant-1")
            .json(&json!({"amount": "2.50", "memo": "Welcome"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    assert_eq!(
        balance(&app, &dev).await.promo - before.promo,
        2_500_000_000
    );
    let history = get(&app, "/api/v1/developer/billing/transactions", &token).await;
    let kinds: Vec<&str> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"grant") && kinds.contains(&"redemption"),
        "{history}"
    );
    assert_eq!(history["data"][0]["amount"], "2.50");
    // Bad input writes nothing.
    for body in [
        json!({"amount": "-1"}),
        json!({"amount": "abc"}),
        json!({"amount": "1", "x": 1}),
    ] {
        let resp = call(
            &app,
            Method::POST,
            &format!("/api/v1/admin/developers/{dev}/credit"),
            Some(&admin),
            Some(body),
        )
        .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/admin/developers/dev_nobody/credit",
        Some(&admin),
        Some(json!({"amount": "1"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let month = month_of(aihub_control_plane::db::now_ms());
    reconcile_ok(&app, &month).await;
    app.stop().await;
}

async fn usage_beyond_the_allowance_is_charged_from_credit_then_receivable(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "usage@example.com", true).await;
    let admin = operator_session(&app, "ops2@example.com").await;
    let now = aihub_control_plane::db::now_ms();
    // 1,000 tokens included. 900 used, then a 300-token row costing $0.30:
    // 200 tokens beyond → two thirds of its cost, $0.20.
    ingest(
        &app,
        vec![
            row("r1", &dev, now - 3, 900, 9_000_000),
            row("r2", &dev, now - 2, 300, 300_000_000),
        ],
    )
    .await;
    // No credit: what is beyond the allowance is receivable.
    assert_eq!(charge(&app).await, 2);
    assert_eq!(charge(&app).await, 0, "charged once");
    let b = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(b["allowance"]["used_tokens"], 1200);
    assert_eq!(b["allowance"]["remaining_tokens"], 0);
    assert_eq!(b["month_usage"]["charged"], "0.20");
    assert_eq!(b["upcoming_invoice"]["overage"], "0.20");
    assert_eq!(b["upcoming_invoice"]["total"], "0.20");

    // With credit: charges come from promotional credit first; what it
    // does not cover is owed.
    send(
        &app,
        Method::POST,
        &format!("/api/v1/admin/developers/{dev}/credit"),
        &admin,
        json!({"amount": "0.10"}),
    )
    .await;
    ingest(&app, vec![row("r3", &dev, now - 1, 500, 123_456_789)]).await;
    // A row ingested again is not charged again.
    ingest(&app, vec![row("r3", &dev, now - 1, 500, 123_456_789)]).await;
    assert_eq!(charge(&app).await, 1);
    let bal = balance(&app, &dev).await;
    assert_eq!(bal.promo, 0, "$0.10 of credit, $0.123456789 charged");
    let b = get(&app, "/api/v1/developer/billing", &token).await;
    assert_eq!(b["month_usage"]["charged"], "0.323456789");
    assert_eq!(b["upcoming_invoice"]["credits_applied"], "-0.10");
    // $0.223456789 owed, invoiced in whole cents.
    assert_eq!(b["upcoming_invoice"]["total"], "0.22");
    let month = month_of(now);
    let r = reconcile_ok(&app, &month).await;
    assert_eq!((r.usage_rows, r.charged_nanos), (3, 323_456_789));
    app.stop().await;
}

async fn closing_a_month_twice_makes_one_invoice_that_matches_its_lines_and_the_ledger(
    backend: Backend,
) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "close@example.com", true).await;
    let (_, other_token) = developer_session(&app, "nosy@example.com", true).await;
    let now = aihub_control_plane::db::now_ms();
    let last = previous(&month_of(now));
    // An account on the Developer plan since before last month, with
    // usage last month beyond its 100,000 included tokens.
    on_plan_since(&app, &dev, "developer", 29_000_000_000, last.start_ms - 1).await;
    ingest(
        &app,
        vec![
            row("c1", &dev, last.start_ms + 1000, 100_000, 1_000_000_000),
            row("c2", &dev, last.start_ms + 2000, 50_000, 700_000_000),
        ],
    )
    .await;
    // A pay-as-you-go account whose usage is not whole cents, and one that
    // had a paid plan long ago and nothing last month (no invoice).
    let (payg, payg_token) = developer_session(&app, "payg@example.com", true).await;
    on_plan_since(&app, &payg, "payg", 0, last.start_ms - 1).await;
    ingest(
        &app,
        vec![row("p1", &payg, last.start_ms + 5000, 10, 1_234_567_891)],
    )
    .await;
    let (former, _) = developer_session(&app, "former@example.com", true).await;
    sqlx::query("UPDATE plan_changes SET plan_id = 'pro', price_nanos = 99000000000, effective_at = $1 WHERE developer_id = $2")
        .bind(last.start_ms - 10_000_000_000)
        .bind(&former)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query("INSERT INTO plan_changes (id, developer_id, plan_id, price_nanos, effective_at, created_at) VALUES ('pch_back', $1, 'free', 0, $2, 0)")
        .bind(&former)
        .bind(last.start_ms - 5_000_000_000)
        .execute(app.db.pool())
        .await
        .unwrap();

    let b = settings(&app).await;
    // Drafts first (the grace window): they follow late usage, so they
    // cannot be voided yet.
    let drafts = invoices::close_month(&app.db, &b.settings, &b.source, &last, false)
        .await
        .unwrap();
    assert_eq!(
        (drafts.charged_rows, drafts.drafts, drafts.finalized),
        (3, 2, 0)
    );
    let listed = get(&app, "/api/v1/developer/invoices", &payg_token).await;
    assert_eq!(listed["data"][0]["status"], "draft");
    assert!(listed["data"][0]["number"].is_null());
    let draft_id = listed["data"][0]["id"].as_str().unwrap().to_string();
    let ops = operator_session(&app, "early@example.com").await;
    let resp = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{draft_id}/void"),
        Some(&ops),
        Some(json!({})),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "conflict").await;
    let first = invoices::close_month(&app.db, &b.settings, &b.source, &last, true)
        .await
        .unwrap();
    assert_eq!((first.charged_rows, first.finalized), (0, 2));
    let second = invoices::close_month(&app.db, &b.settings, &b.source, &last, true)
        .await
        .unwrap();
    assert_eq!(
        (second.charged_rows, second.finalized, second.unchanged),
        (0, 0, 2)
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM invoices WHERE developer_id = $1")
        .bind(&former)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(n, 0, "no invoice for a month without fee or usage");

    // $1.234567891 of usage is invoiced as $1.23, the rest a rounding line
    // the ledger books too.
    let payg_list = get(&app, "/api/v1/developer/invoices", &payg_token).await;
    let payg_inv = &payg_list["data"][0];
    assert_eq!(payg_inv["total"], "1.23");
    let payg_id = payg_inv["id"].as_str().unwrap().to_string();
    let full = get(
        &app,
        &format!("/api/v1/developer/invoices/{payg_id}"),
        &payg_token,
    )
    .await;
    let kinds: Vec<&str> = full["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["overage", "rounding"]);
    assert_eq!(full["lines"][1]["amount"], "-0.004567891");
    reconcile_ok(&app, &last).await;
    // Voided: the ledger reverses what it booked, and still agrees.
    let admin = operator_session(&app, "voider@example.com").await;
    let (status, voided) = send(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{payg_id}/void"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{voided}");
    assert_eq!(voided["status"], "void");
    let (status, _) = send(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{payg_id}/void"),
        &admin,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    reconcile_ok(&app, &last).await;

    let list = get(&app, "/api/v1/developer/invoices", &token).await;
    let all = list["data"].as_array().unwrap();
    assert_eq!(all.len(), 1, "{list}");
    let inv = &all[0];
    assert_eq!(inv["month"], last.name);
    assert_eq!(inv["status"], "open");
    assert!(inv["number"].as_str().unwrap().starts_with("AIH-"));
    assert_eq!(inv["subtotal"], "29.70");
    assert_eq!(inv["total"], "29.70");
    let id = inv["id"].as_str().unwrap();
    let full = get(&app, &format!("/api/v1/developer/invoices/{id}"), &token).await;
    let lines = full["lines"].as_array().unwrap();
    assert_eq!(lines[0]["kind"], "subscription");
    assert_eq!(lines[0]["amount"], "29.00");
    assert_eq!(lines[1]["kind"], "overage");
    assert_eq!(lines[1]["tokens"], 50_000);
    assert_eq!(lines[1]["amount"], "0.70");

    // Operators list every developer's invoices, newest first, by status
    // or developer, a page at a time.
    let ops_all = get(&app, "/api/v1/admin/invoices", &admin).await;
    let rows = ops_all["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{ops_all}");
    let emails: Vec<&str> = rows
        .iter()
        .map(|r| r["developer_email"].as_str().unwrap())
        .collect();
    assert!(emails.contains(&"payg@example.com") && emails.contains(&"close@example.com"));
    let voided = get(&app, "/api/v1/admin/invoices?status=void", &admin).await;
    assert_eq!(voided["data"].as_array().unwrap().len(), 1);
    assert_eq!(voided["data"][0]["id"], payg_id.as_str());
    let mine = get(
        &app,
        &format!("/api/v1/admin/invoices?developer_id={dev}"),
        &admin,
    )
    .await;
    assert_eq!(mine["data"][0]["id"], id);
    assert_eq!(mine["data"][0]["developer_id"], dev.as_str());
    let first = get(&app, "/api/v1/admin/invoices?limit=1", &admin).await;
    assert_eq!(first["has_more"], true);
    let after = first["data"][0]["id"].as_str().unwrap();
    let rest = get(
        &app,
        &format!("/api/v1/admin/invoices?limit=1&starting_after={after}"),
        &admin,
    )
    .await;
    assert_eq!(rest["has_more"], false);
    assert_ne!(rest["data"][0]["id"], first["data"][0]["id"]);
    let one = get(&app, &format!("/api/v1/admin/invoices/{id}"), &admin).await;
    assert_eq!(one["lines"], full["lines"]);
    assert_eq!(one["developer_email"], "close@example.com");
    let resp = call(
        &app,
        Method::GET,
        "/api/v1/admin/invoices?status=late",
        Some(&admin),
        None,
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    let resp = call(
        &app,
        Method::GET,
        "/api/v1/admin/invoices",
        Some(&token),
        None,
    )
    .await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    // Print-ready HTML, and nobody else's.
    let html = app
        .client
        .get(app.url(&format!("/api/v1/developer/invoices/{id}/html")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert!(html.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = html.text().await.unwrap();
    assert!(
        html.contains(inv["number"].as_str().unwrap()) && html.contains("29.70"),
        "{html}"
    );
    for path in [
        format!("/api/v1/developer/invoices/{id}"),
        format!("/api/v1/developer/invoices/{id}/html"),
    ] {
        let resp = call(&app, Method::GET, &path, Some(&other_token), None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
    // Written off: bad debt in the ledger, and the books still agree.
    let admin = operator_session(&app, "collector@example.com").await;
    let path = format!("/api/v1/admin/invoices/{id}/uncollectible");
    let resp = call(&app, Method::POST, &path, Some(&token), Some(json!({}))).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let (status, inv2) = send(&app, Method::POST, &path, &admin, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{inv2}");
    assert_eq!(inv2["status"], "uncollectible");
    assert_eq!(inv2["amount_due"], "0.00");
    reconcile_ok(&app, &last).await;
    // Late usage of the closed month lands on the current one.
    ingest(&app, vec![row("c3", &dev, last.start_ms + 3000, 10, 5)]).await;
    charge(&app).await;
    let mut c = app.db.pool().acquire().await.unwrap();
    let (_, tokens, _, _) = charges::period_totals(&mut c, &dev, &month_of(now).name)
        .await
        .unwrap();
    assert_eq!(tokens, 10);
    drop(c);
    reconcile_ok(&app, &last).await;
    app.stop().await;
}

async fn stripe_top_ups_and_invoice_payments_apply_once_however_often_the_webhook_comes(
    backend: Backend,
) {
    let stripe = StripeStandIn::start(StripeConfig {
        secret_key: STRIPE_KEY.into(),
        webhook_url: None,
        webhook_secret: WEBHOOK_SECRET.into(),
    })
    .unwrap();
    let base = stripe.base_url();
    let Some(app) = spawn_app_with(backend, |f| {
        quiet(f)
            .merge(Serialized::default("payments.provider", "stripe"))
            .merge(Serialized::default(
                "payments.stripe_api_base",
                base.clone(),
            ))
            .merge(Serialized::default(
                "payments.stripe_secret_key",
                STRIPE_KEY,
            ))
            .merge(Serialized::default(
                "payments.stripe_webhook_secret",
                WEBHOOK_SECRET,
            ))
    })
    .await
    else {
        return;
    };
    stripe.set_webhook_url(Some(app.url("/api/v1/payments/stripe/webhook")));
    let (dev, token) = developer_session(&app, "payer@example.com", true).await;

    // Amount checks.
    for bad in [
        json!({"amount": "1.00"}),
        json!({"amount": "20.001"}),
        json!({"amount": "20000"}),
    ] {
        let resp = call(
            &app,
            Method::POST,
            "/api/v1/developer/billing/top-ups",
            Some(&token),
            Some(bad),
        )
        .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let (status, top) = send(
        &app,
        Method::POST,
        "/api/v1/developer/billing/top-ups",
        &token,
        json!({"amount": "20.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{top}");
    let sessions = stripe.sessions();
    assert_eq!(sessions.len(), 1);
    let s = &sessions[0];
    assert_eq!(
        s.param("line_items[0][price_data][unit_amount]"),
        Some("2000")
    );
    assert_eq!(s.param("client_reference_id"), top["id"].as_str());
    assert_eq!(top["checkout_url"], s.object["url"]);
    assert_eq!(
        balance(&app, &dev).await.total(),
        0,
        "nothing before Stripe confirms"
    );

    // Paid; Stripe retries the same event twice more.
    let event = stripe.complete(&s.id).await.unwrap();
    let event_id = event["id"].as_str().unwrap();
    for _ in 0..2 {
        let d = stripe.resend(event_id).await.unwrap();
        assert_eq!(d.status, Some(200));
    }
    assert!(
        stripe.events_sent().iter().all(|d| d.status == Some(200)),
        "{:?}",
        stripe.events_sent()
    );
    let bal = balance(&app, &dev).await;
    assert_eq!((bal.paid, bal.promo), (20_000_000_000, 0), "credited once");

    // A forged or stale signature is refused and changes nothing.
    let body = serde_json::to_string(&event)
        .unwrap()
        .replace(event_id, "evt_forged");
    let d = stripe.send_raw(body.clone(), "t=1,v1=00").await.unwrap();
    assert_eq!(d.status, Some(400));
    let stale = aihub_testkit::stripe::sign(WEBHOOK_SECRET, common::unix_now() - 3600, &body);
    assert_eq!(
        stripe.send_raw(body, stale).await.unwrap().status,
        Some(400)
    );
    assert_eq!(balance(&app, &dev).await.paid, 20_000_000_000);

    // An open invoice paid through Checkout: the webhook three times, paid once.
    let now = aihub_control_plane::db::now_ms();
    let last = previous(&month_of(now));
    sqlx::query("UPDATE plan_changes SET plan_id = 'pro', price_nanos = 99000000000, effective_at = $1 WHERE developer_id = $2")
        .bind(last.start_ms)
        .bind(&dev)
        .execute(app.db.pool())
        .await
        .unwrap();
    let b = settings(&app).await;
    invoices::close_month(&app.db, &b.settings, &b.source, &last, true)
        .await
        .unwrap();
    let list = get(&app, "/api/v1/developer/invoices", &token).await;
    let inv = &list["data"][0];
    assert_eq!(
        (inv["status"].as_str(), inv["amount_due"].as_str()),
        (Some("open"), Some("99.00"))
    );
    let id = inv["id"].as_str().unwrap();
    let (status, pay) = send(
        &app,
        Method::POST,
        &format!("/api/v1/developer/invoices/{id}/pay"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pay}");
    let session = stripe
        .sessions()
        .into_iter()
        .find(|s| s.object["url"] == pay["checkout_url"])
        .unwrap();
    assert_eq!(
        session.param("line_items[0][price_data][unit_amount]"),
        Some("9900")
    );
    let event = stripe.complete(&session.id).await.unwrap();
    for _ in 0..2 {
        stripe.resend(event["id"].as_str().unwrap()).await.unwrap();
    }
    let inv = get(&app, &format!("/api/v1/developer/invoices/{id}"), &token).await;
    assert_eq!(
        (
            inv["status"].as_str(),
            inv["amount_paid"].as_str(),
            inv["amount_due"].as_str()
        ),
        (Some("paid"), Some("99.00"), Some("0.00"))
    );
    let resp = call(
        &app,
        Method::POST,
        &format!("/api/v1/developer/invoices/{id}/pay"),
        Some(&token),
        Some(json!({})),
    )
    .await;
    expect_error(resp, StatusCode::CONFLICT, "nothing_due").await;
    // A second session for the same invoice, opened before the first was
    // paid and paid too: the money is not refused but becomes credit.
    let second = stripe.sessions().into_iter().find(|s| {
        s.param("line_items[0][price_data][unit_amount]") == Some("9900") && s.id != session.id
    });
    assert!(second.is_none(), "only one invoice session so far");
    sqlx::query("UPDATE invoices SET status = 'open', amount_paid_nanos = 0 WHERE id = $1")
        .bind(id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let (_, pay2) = send(
        &app,
        Method::POST,
        &format!("/api/v1/developer/invoices/{id}/pay"),
        &token,
        json!({}),
    )
    .await;
    sqlx::query(
        "UPDATE invoices SET status = 'paid', amount_paid_nanos = total_nanos WHERE id = $1",
    )
    .bind(id)
    .execute(app.db.pool())
    .await
    .unwrap();
    let session2 = stripe
        .sessions()
        .into_iter()
        .find(|s| s.object["url"] == pay2["checkout_url"])
        .unwrap();
    let d = stripe.complete(&session2.id).await.unwrap();
    assert_eq!(d["type"], "checkout.session.completed");
    assert_eq!(stripe.events_sent().last().unwrap().status, Some(200));
    assert_eq!(
        balance(&app, &dev).await.paid,
        20_000_000_000 + 99_000_000_000
    );
    // The operator refunds part of the paid credit, never more than there is.
    let admin = operator_session(&app, "refunds@example.com").await;
    let refund = format!("/api/v1/admin/developers/{dev}/refund");
    let (status, r) = send(
        &app,
        Method::POST,
        &refund,
        &admin,
        json!({"amount": "19.00"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    assert_eq!(r["balance"]["paid"], "100.00");
    let resp = call(
        &app,
        Method::POST,
        &refund,
        Some(&admin),
        Some(json!({"amount": "100.01"})),
    )
    .await;
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(balance(&app, &dev).await.paid, 100_000_000_000);
    // One billing.payment event per payment.
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM events WHERE type = 'billing.payment' AND developer_id = $1",
    )
    .bind(&dev)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(n, 3);
    reconcile_ok(&app, &last).await;
    reconcile_ok(&app, &month_of(now)).await;
    drop(stripe);
    app.stop().await;
}

async fn alerts_fire_once_per_threshold_and_period(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, _) = developer_session(&app, "alerts@example.com", true).await;
    let now = aihub_control_plane::db::now_ms();
    let count = |kind: &'static str| {
        let db = app.db.clone();
        let dev = dev.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT COUNT(*) FROM usage_alerts WHERE subject = $1 AND kind = $2",
            )
            .bind(dev)
            .bind(kind)
            .fetch_one(db.pool())
            .await
            .unwrap()
        }
    };
    ingest(&app, vec![row("a1", &dev, now - 5, 400, 10)]).await;
    charge(&app).await;
    assert_eq!(count("allowance").await, 0);
    ingest(&app, vec![row("a2", &dev, now - 4, 450, 10)]).await;
    charge(&app).await;
    assert_eq!(count("allowance").await, 2, "50% and 80%");
    ingest(
        &app,
        vec![
            row("a3", &dev, now - 3, 200, 10),
            row("a4", &dev, now - 2, 200, 10),
        ],
    )
    .await;
    charge(&app).await;
    assert_eq!(count("allowance").await, 3, "and 100%, once");
    let events: Vec<String> = sqlx::query_scalar(
        "SELECT data FROM events WHERE type = 'api.usage_alert' AND developer_id = $1 ORDER BY id",
    )
    .bind(&dev)
    .fetch_all(app.db.pool())
    .await
    .unwrap();
    let pct: Vec<i64> = events
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["threshold_percent"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(pct, [50, 80, 100]);
    let mails: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbound_emails WHERE kind = 'usage_alert' AND developer_id = $1",
    )
    .bind(&dev)
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(mails, 3);

    // A key's monthly spend budget: 50% and 80%, then 100%, once each.
    let (_, key_token) = developer_session(&app, "budget@example.com", true).await;
    let (status, key) = send(
        &app,
        Method::POST,
        "/api/v1/developer/keys",
        &key_token,
        json!({"name": "budgeted", "limits": {"budget_monthly": "0.10"}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let key_id = key["id"].as_str().unwrap().to_string();
    let owner = key_owner(&app, &key_id).await;
    let with_key = |id: &str, cost: i64| {
        let mut r = row(id, &owner, now - 1, 10, cost);
        r.key_id = key_id.clone();
        r
    };
    ingest(&app, vec![with_key("k1", 60_000_000)]).await;
    charge(&app).await;
    ingest(&app, vec![with_key("k2", 25_000_000)]).await;
    charge(&app).await;
    let kinds = |subject: String| {
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT threshold FROM usage_alerts WHERE subject = $1 ORDER BY threshold",
            )
            .bind(subject)
            .fetch_all(db.pool())
            .await
            .unwrap()
        }
    };
    assert_eq!(kinds(key_id.clone()).await, [50, 80]);
    ingest(&app, vec![with_key("k3", 15_000_000), with_key("k4", 1)]).await;
    charge(&app).await;
    assert_eq!(kinds(key_id.clone()).await, [50, 80, 100]);

    // Prepaid credit running low, then out: once each.
    let (low, _) = developer_session(&app, "low@example.com", true).await;
    sqlx::query("UPDATE subscriptions SET plan_id = 'payg' WHERE developer_id = $1")
        .bind(&low)
        .execute(app.db.pool())
        .await
        .unwrap();
    let mut c = app.db.begin_write().await.unwrap();
    credit::grant(&mut c, app.db.backend(), &low, 1_500_000_000, "")
        .await
        .unwrap();
    c.commit().await.unwrap();
    ingest(&app, vec![row("l1", &low, now - 1, 10, 600_000_000)]).await;
    charge(&app).await;
    let low_kinds = || {
        let db = app.db.clone();
        let low = low.clone();
        async move {
            sqlx::query_scalar::<_, String>(
                "SELECT kind FROM usage_alerts WHERE subject = $1 ORDER BY kind",
            )
            .bind(low)
            .fetch_all(db.pool())
            .await
            .unwrap()
        }
    };
    assert_eq!(low_kinds().await, ["balance_low"]);
    ingest(&app, vec![row("l2", &low, now - 1, 10, 100_000_000)]).await;
    charge(&app).await;
    assert_eq!(
        low_kinds().await,
        ["balance_low"],
        "still low: no second alert"
    );
    ingest(&app, vec![row("l3", &low, now - 1, 10, 900_000_000)]).await;
    charge(&app).await;
    assert_eq!(low_kinds().await, ["balance_empty", "balance_low"]);
    app.stop().await;
}

async fn key_owner(app: &TestApp, key_id: &str) -> String {
    sqlx::query_scalar("SELECT developer_id FROM api_keys WHERE id = $1")
        .bind(key_id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

async fn usage_reports_and_exports_only_the_callers_rows(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "report@example.com", true).await;
    let (other, other_token) = developer_session(&app, "else@example.com", true).await;
    let now = aihub_control_plane::db::now_ms();
    let mut a = row("u1", &dev, now - 10, 100, 1_500);
    a.model = "gpt-4o".into();
    let mut b = row("u2", &dev, now - 9, 50, 500);
    b.status = 500;
    b.error = "upstream, \"boom\"".into();
    ingest(&app, vec![a, b, row("u3", &other, now - 8, 999, 9)]).await;
    let today = chrono::DateTime::from_timestamp_millis(now)
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    let u = get(
        &app,
        &format!("/api/v1/developer/usage?from={today}&to={today}"),
        &token,
    )
    .await;
    assert_eq!(u["totals"]["requests"], 2);
    assert_eq!(u["totals"]["tokens"], 150);
    assert_eq!(u["totals"]["cost"], "0.000002");
    assert_eq!(u["totals"]["errors"], 1);
    let groups: Vec<&str> = u["breakdown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["group"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["gpt-4o", "gpt-4o-mini"]);
    let by_day = get(&app, "/api/v1/developer/usage?group_by=day", &token).await;
    assert_eq!(by_day["breakdown"][0]["group"], today);
    for bad in [
        "group_by=week",
        "from=2026-13-01",
        "from=2026-11-10&to=2026-11-01",
        "from=2020-01-01&to=2026-01-01",
    ] {
        let resp = call(
            &app,
            Method::GET,
            &format!("/api/v1/developer/usage?{bad}"),
            Some(&token),
            None,
        )
        .await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let csv = app
        .client
        .get(app.url("/api/v1/developer/usage/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("request_id,time,key_id,model"));
    assert_eq!(lines.len(), 3, "{text}");
    assert!(
        lines[1].starts_with("u1,") && lines[2].contains("\"upstream, \"\"boom\"\"\""),
        "{text}"
    );
    assert!(!text.contains("u3"));
    let theirs = get(&app, "/api/v1/developer/usage", &other_token).await;
    assert_eq!(theirs["totals"]["requests"], 1);
    let _ = other;
    app.stop().await;
}

async fn reconciliation_names_a_tampered_ledger(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let (dev, _) = developer_session(&app, "tamper@example.com", true).await;
    let now = aihub_control_plane::db::now_ms();
    let month = month_of(now);
    ingest(&app, vec![row("t1", &dev, now - 2, 2000, 4_000)]).await;
    // Not charged yet: reconciliation says so.
    let b = settings(&app).await;
    let r = reconcile::run(&app.db, &b.source, &month).await.unwrap();
    assert!(
        r.differences.iter().any(|d| d.contains("1 usage rows")),
        "{:?}",
        r.differences
    );
    charge(&app).await;
    reconcile_ok(&app, &month).await;
    // Someone edits a charge in place: caught twice over.
    sqlx::query(
        "UPDATE usage_charges SET charged_nanos = charged_nanos + 1 WHERE request_id = 't1'",
    )
    .execute(app.db.pool())
    .await
    .unwrap();
    let r = reconcile::run(&app.db, &b.source, &month).await.unwrap();
    assert!(
        r.differences.iter().any(|d| d.starts_with("ledger:")),
        "{:?}",
        r.differences
    );
    assert!(
        r.differences.iter().any(|d| d.starts_with("totals:")),
        "{:?}",
        r.differences
    );
    // And an entry edited so a transaction no longer balances.
    sqlx::query(
        "UPDATE usage_charges SET charged_nanos = charged_nanos - 1 WHERE request_id = 't1'",
    )
    .execute(app.db.pool())
    .await
    .unwrap();
    sqlx::query("UPDATE ledger_entries SET amount_nanos = amount_nanos + 7 WHERE id = (SELECT MIN(id) FROM ledger_entries)")
        .execute(app.db.pool())
        .await
        .unwrap();
    let r = reconcile::run(&app.db, &b.source, &month).await.unwrap();
    assert!(
        r.differences.iter().any(|d| d.contains("does not balance")),
        "{:?}",
        r.differences
    );
    app.stop().await;
}
