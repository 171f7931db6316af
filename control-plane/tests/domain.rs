//! Domain functions behind the CLI on a real database: validation, conflicts,
//! no partial writes, one change row per mutation, migrations.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::money::Prices;
use aihub_contract::snapshot::ProviderKind;
use aihub_control_plane::catalog::{self, NewDeployment, NewProvider};
use aihub_control_plane::db::Db;
use aihub_control_plane::developers::{self, DeveloperType, Email, NewDeveloper, Password, Role};
use aihub_control_plane::error::DomainError;
use aihub_control_plane::gateway_feed;
use aihub_control_plane::keys::{self, Expiry, NewKey};
use common::{Backend, TestDb};
use rust_decimal::Decimal;
use sqlx::Row;
use std::str::FromStr;

on_selected_backend!(
    migrations_apply_and_are_idempotent,
    duplicates_and_unknown_references_write_nothing,
    operators_get_a_hashed_password,
    model_prices_can_be_given_and_updated,
    key_options_are_validated,
);

async fn fresh(backend: Backend) -> Option<(Db, TestDb)> {
    let database = TestDb::new(backend).await?;
    let db = Db::connect(&database.config().database).await.unwrap();
    db.migrate().await.unwrap();
    Some((db, database))
}

fn new_dev(email: &str) -> NewDeveloper {
    NewDeveloper {
        email: Email::parse(email).unwrap(),
        full_name: "Test Person".into(),
        company_name: None,
        developer_type: DeveloperType::Individual,
        role: Role::Developer,
        password: None,
        email_verified: false,
        language: Default::default(),
    }
}

async fn count(db: &Db, table: &str) -> i64 {
    // Table names come from this test, not from input.
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(db.pool())
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

async fn migrations_apply_and_are_idempotent(backend: Backend) {
    let Some((db, _guard)) = fresh(backend).await else {
        return;
    };
    db.migrate().await.unwrap();
    for table in [
        "developers",
        "api_keys",
        "providers",
        "models",
        "deployments",
        "usage_records",
        "config_changes",
    ] {
        assert_eq!(count(&db, table).await, 0, "{table}");
    }
    // Unknown change entities are refused by the schema.
    let bad = sqlx::query(
        "INSERT INTO config_changes (entity, entity_id, created_at) VALUES ($1, $2, $3)",
    )
    .bind("plan")
    .bind("x")
    .bind(0i64)
    .execute(db.pool())
    .await;
    assert!(bad.is_err());
    // Emails are stored lower-case, enforced by the schema too.
    let upper = sqlx::query(
        "INSERT INTO developers (id, email, full_name, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind("dev_x")
    .bind("Upper@Example.com")
    .bind("x")
    .bind(0i64)
    .bind(0i64)
    .execute(db.pool())
    .await;
    assert!(upper.is_err());
    // The Free plan's limits: 100 requests/min and no hard token cap (its
    // 1,000 included tokens and the credit balance decide instead).
    let d = developers::create_developer(&db, new_dev("plan@example.com"))
        .await
        .unwrap();
    assert_eq!((d.api_quota_limit, d.api_rate_limit), (0, 100));
    assert!(d.is_active && !d.email_verified);
}

async fn duplicates_and_unknown_references_write_nothing(backend: Backend) {
    let Some((db, _guard)) = fresh(backend).await else {
        return;
    };
    developers::create_developer(&db, new_dev("dup@example.com"))
        .await
        .unwrap();
    let err = developers::create_developer(&db, new_dev("DUP@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)), "{err}");
    assert!(err.to_string().contains("dup@example.com"));
    assert_eq!(count(&db, "developers").await, 1);

    let err = keys::create_key(
        &db,
        NewKey {
            developer: "nobody@example.com".into(),
            name: None,
            allowed_models: None,
            expiry: Expiry::Default,
        },
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, DomainError::NotFound(_)), "{err}");

    let provider = || NewProvider {
        name: "openai".into(),
        kind: ProviderKind::Openai,
        base_url: "https://api.openai.com/v1".into(),
        api_key: "sk-x".into(),
    };
    catalog::add_provider(&db, &common::vault(), provider())
        .await
        .unwrap();
    let err = catalog::add_provider(&db, &common::vault(), provider())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)), "{err}");
    let mut bad_url = provider();
    bad_url.name = "other".into();
    bad_url.base_url = "ftp://x".into();
    let err = catalog::add_provider(&db, &common::vault(), bad_url)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("base URL: expected"), "{err}");
    assert_eq!(count(&db, "providers").await, 1);

    // Unknown provider: the model is not created either.
    let err = catalog::add_model(&db, NewDeployment::new("gpt-4o", "nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::NotFound(_)), "{err}");
    assert_eq!(count(&db, "models").await, 0);

    // The same deployment twice is refused, and the second call writes nothing.
    catalog::add_model(&db, NewDeployment::new("gpt-4o", "openai"))
        .await
        .unwrap();
    let before = gateway_feed::version(&db).await.unwrap();
    let err = catalog::add_model(&db, NewDeployment::new("gpt-4o", "openai"))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Conflict(_)), "{err}");
    assert_eq!(count(&db, "deployments").await, 1);
    assert_eq!(gateway_feed::version(&db).await.unwrap(), before);

    // One change row per mutation: developer, provider, model + deployment.
    assert_eq!(count(&db, "config_changes").await, 4);

    let err = keys::disable_key(&db, "key_missing").await.unwrap_err();
    assert!(matches!(err, DomainError::NotFound(_)));
}

async fn operators_get_a_hashed_password(backend: Backend) {
    let Some((db, _guard)) = fresh(backend).await else {
        return;
    };
    let mut op = new_dev("root@example.com");
    op.role = Role::Admin;
    op.email_verified = true;
    op.password = Some(Password::parse("a long enough password".into()).unwrap());
    let created = developers::create_developer(&db, op).await.unwrap();
    assert_eq!(created.role, Role::Admin);
    assert!(created.email_verified);
    let row = sqlx::query("SELECT password_hash FROM developers WHERE id = $1")
        .bind(&created.id)
        .fetch_one(db.pool())
        .await
        .unwrap();
    let phc: String = row.try_get("password_hash").unwrap();
    assert!(phc.starts_with("$argon2id$"));
    assert!(developers::verify_password("a long enough password", &phc));
}

async fn model_prices_can_be_given_and_updated(backend: Backend) {
    let Some((db, _guard)) = fresh(backend).await else {
        return;
    };
    catalog::add_provider(
        &db,
        &common::vault(),
        NewProvider {
            name: "vllm".into(),
            kind: ProviderKind::Openai,
            base_url: "http://127.0.0.1:8000/v1".into(),
            api_key: String::new(),
        },
    )
    .await
    .unwrap();
    let d = |s: &str| Decimal::from_str(s).unwrap();
    let first = catalog::add_model(&db, NewDeployment::new("llama-3.1-70b", "vllm"))
        .await
        .unwrap();
    assert_eq!(first.prices.input_per_million, d("1"));
    let mut second = NewDeployment::new("llama-3.1-70b", "vllm");
    second.upstream_model = Some("meta-llama/Llama-3.1-70B-Instruct".into());
    second.prices = Some(Prices {
        input_per_million: d("0.90"),
        output_per_million: d("1.10"),
        cached_per_million: d("0.45"),
    });
    let second = catalog::add_model(&db, second).await.unwrap();
    assert_eq!(second.model_id, first.model_id);
    let models = catalog::list_models(&db).await.unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0].prices.input_per_million, d("0.9"));
    assert_eq!(models[0].prices.output_per_million, d("1.1"));
    assert_eq!(models[0].prices.cached_per_million, d("0.45"));
    assert_eq!(models[0].deployments.len(), 2);

    let mut negative = NewDeployment::new("x", "vllm");
    negative.prices = Some(Prices {
        input_per_million: d("-1"),
        ..Prices::default()
    });
    assert!(matches!(
        catalog::add_model(&db, negative).await,
        Err(DomainError::Invalid(_))
    ));
    let mut slow = NewDeployment::new("x", "vllm");
    slow.timeout_ms = 0;
    assert!(matches!(
        catalog::add_model(&db, slow).await,
        Err(DomainError::Invalid(_))
    ));
}

async fn key_options_are_validated(backend: Backend) {
    let Some((db, _guard)) = fresh(backend).await else {
        return;
    };
    let dev = developers::create_developer(&db, new_dev("keys@example.com"))
        .await
        .unwrap();
    let base = NewKey {
        developer: dev.id.clone(),
        name: None,
        allowed_models: None,
        expiry: Expiry::InDays(0),
    };
    assert!(matches!(
        keys::create_key(&db, base.clone()).await,
        Err(DomainError::Invalid(_))
    ));
    let mut empty_models = base.clone();
    empty_models.expiry = Expiry::InDays(30);
    empty_models.allowed_models = Some(vec![]);
    assert!(matches!(
        keys::create_key(&db, empty_models).await,
        Err(DomainError::Invalid(_))
    ));
    let mut ok = base;
    ok.expiry = Expiry::InDays(30);
    let created = keys::create_key(&db, ok).await.unwrap();
    assert_eq!(created.key.name, "default");
    assert_eq!(
        created.key.expires_at_ms.unwrap() - created.key.created_at_ms,
        30 * 86_400_000
    );
    assert_eq!(count(&db, "api_keys").await, 1);
    // Only the hash is stored.
    let row = sqlx::query("SELECT secret_hash FROM api_keys")
        .fetch_one(db.pool())
        .await
        .unwrap();
    let stored: String = row.try_get("secret_hash").unwrap();
    assert_eq!(stored, aihub_contract::keys::hash(created.secret.expose()));
    keys::delete_key(&db, &created.key.id).await.unwrap();
    assert!(keys::list_keys(&db, &dev.id).await.unwrap().is_empty());
    assert!(matches!(
        keys::delete_key(&db, &created.key.id).await,
        Err(DomainError::NotFound(_))
    ));
}
