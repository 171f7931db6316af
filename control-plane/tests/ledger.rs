//! The ledger on a real database: balanced transactions, balances as sums,
//! idempotent posting, refusals that write nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_control_plane::billing::ledger::{self, AccountKind, NewTransaction, Posted, Posting};
use aihub_control_plane::developers::{self, DeveloperType, Email, NewDeveloper, Role};
use aihub_control_plane::error::DomainError;
use common::{spawn_app, Backend};
use rust_decimal::Decimal;
use std::str::FromStr;

on_selected_backend!(
    money_moves_in_balanced_idempotent_transactions,
    concurrent_posts_of_one_key_charge_once,
);

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn two(kind: &str, key: Option<&str>, debit: &str, credit: &str, amount: &str) -> NewTransaction {
    NewTransaction {
        kind: kind.into(),
        idempotency_key: key.map(String::from),
        developer_id: None,
        memo: String::new(),
        postings: vec![
            Posting {
                account_id: debit.into(),
                amount: d(amount),
            },
            Posting {
                account_id: credit.into(),
                amount: -d(amount),
            },
        ],
    }
}

async fn money_moves_in_balanced_idempotent_transactions(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dev = developers::create_developer(
        &app.db,
        NewDeveloper {
            email: Email::parse("ledger@example.com").unwrap(),
            full_name: "Ada".into(),
            company_name: None,
            developer_type: DeveloperType::Individual,
            role: Role::Developer,
            password: None,
            email_verified: true,
            language: Default::default(),
        },
    )
    .await
    .unwrap();

    let mut tx = app.db.begin_write().await.unwrap();
    let credit = ledger::account(&mut tx, Some(&dev.id), AccountKind::CreditPaid)
        .await
        .unwrap();
    // The same account again, not a new one.
    assert_eq!(
        ledger::account(&mut tx, Some(&dev.id), AccountKind::CreditPaid)
            .await
            .unwrap(),
        credit
    );
    let cash = ledger::account(&mut tx, None, AccountKind::Cash)
        .await
        .unwrap();
    let revenue = ledger::account(&mut tx, None, AccountKind::RevenueUsage)
        .await
        .unwrap();
    // A $20 top-up: cash in, the developer's credit up (a credit balance).
    ledger::post(&mut tx, &two("top_up", Some("pay_1"), &cash, &credit, "20"))
        .await
        .unwrap();
    // Usage charges, posted by request id.
    let first = ledger::post(
        &mut tx,
        &two(
            "usage_charge",
            Some("req_1"),
            &credit,
            &revenue,
            "0.000150123",
        ),
    )
    .await
    .unwrap();
    assert!(!first.replayed);
    // The same request again: nothing new.
    let again = ledger::post(
        &mut tx,
        &two(
            "usage_charge",
            Some("req_1"),
            &credit,
            &revenue,
            "0.000150123",
        ),
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        Posted {
            id: first.id.clone(),
            replayed: true
        }
    );
    // The same key with other amounts is a conflict, not a second charge.
    let clash = ledger::post(
        &mut tx,
        &two("usage_charge", Some("req_1"), &credit, &revenue, "1"),
    )
    .await;
    assert!(matches!(clash, Err(DomainError::Conflict(_))), "{clash:?}");
    // Unbalanced or too fine: refused before anything is written.
    let mut off = two("adjustment", None, &credit, &revenue, "1");
    off.postings[1].amount = d("-0.999999999");
    assert!(matches!(
        ledger::post(&mut tx, &off).await,
        Err(DomainError::Invalid(_))
    ));
    assert!(matches!(
        ledger::post(
            &mut tx,
            &two("adjustment", None, &credit, &revenue, "0.0000000001")
        )
        .await,
        Err(DomainError::Invalid(_))
    ));
    tx.commit().await.unwrap();

    let mut conn = app.db.pool().acquire().await.unwrap();
    assert_eq!(
        ledger::balance(&mut conn, &credit).await.unwrap(),
        d("-19.999849877")
    );
    assert_eq!(ledger::balance(&mut conn, &cash).await.unwrap(), d("20"));
    assert_eq!(
        ledger::balance(&mut conn, &revenue).await.unwrap(),
        d("-0.000150123")
    );
    assert!(ledger::unbalanced(&mut conn).await.unwrap().is_empty());
    drop(conn);
    app.stop().await;
}

async fn concurrent_posts_of_one_key_charge_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut tx = app.db.begin_write().await.unwrap();
    let a = ledger::account(&mut tx, None, AccountKind::Receivable)
        .await
        .unwrap();
    let b = ledger::account(&mut tx, None, AccountKind::RevenueUsage)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Eight posts of the same usage charge at once, each in its own
    // transaction: one is written, the others replay it.
    let posts = (0..8).map(|_| {
        let db = app.db.clone();
        let t = two("usage_charge", Some("req_race"), &a, &b, "0.25");
        tokio::spawn(async move {
            let mut tx = db.begin_write().await.unwrap();
            let posted = ledger::post(&mut tx, &t).await.unwrap();
            tx.commit().await.unwrap();
            posted
        })
    });
    let results: Vec<Posted> = futures::future::join_all(posts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(results.iter().filter(|p| !p.replayed).count(), 1);
    assert!(results.iter().all(|p| p.id == results[0].id));
    let mut conn = app.db.pool().acquire().await.unwrap();
    assert_eq!(ledger::balance(&mut conn, &a).await.unwrap(), d("0.25"));
    drop(conn);
    app.stop().await;
}
