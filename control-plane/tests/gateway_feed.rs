//! The gateway contract over real HTTP: snapshot contents, signatures, the
//! long-poll change stream, account limits and the usage bases quotas
//! start from.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::calendar;
use aihub_contract::keys;
use aihub_contract::money::Prices;
use aihub_contract::routes;
use aihub_contract::signing;
use aihub_contract::snapshot::{Changes, ProviderKind, Snapshot, UsageBase, UsageScope};
use aihub_contract::usage::{IngestResult, UsageBatch, UsageRow};
use aihub_control_plane::catalog::{self, NewDeployment, NewProvider};
use aihub_control_plane::developers::{self, DeveloperType, Email, NewDeveloper, Role};
use aihub_control_plane::keys::{self as cp_keys, CreatedKey, Expiry, NewKey};
use common::{error_code, eventually, spawn_app, Backend, TestApp, SECRET};
use rust_decimal::Decimal;
use std::str::FromStr;
use std::time::Duration;

on_selected_backend!(
    snapshot_has_keys_developers_and_catalog,
    internal_api_refuses_unsigned_and_badly_signed_requests,
    long_poll_wakes_when_a_key_is_disabled,
    changes_since_an_old_version_answer_at_once,
    resync_when_since_is_ahead,
    long_poll_without_changes_returns_empty,
    suspending_a_developer_reaches_the_stream,
    bad_change_query_is_a_400,
    account_limits_reach_the_snapshot_and_the_stream,
    snapshot_carries_usage_bases_for_developers_and_quota_keys,
);

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

async fn developer(app: &TestApp, email: &str) -> developers::Developer {
    developers::create_developer(
        &app.db,
        NewDeveloper {
            email: Email::parse(email).unwrap(),
            full_name: "Ada Lovelace".into(),
            company_name: Some("Analytical Engines".into()),
            developer_type: DeveloperType::Enterprise,
            role: Role::Developer,
            password: None,
            email_verified: false,
            language: Default::default(),
        },
    )
    .await
    .unwrap()
}

async fn key(app: &TestApp, developer: &str, models: Option<Vec<String>>) -> CreatedKey {
    cp_keys::create_key(
        &app.db,
        NewKey {
            developer: developer.into(),
            name: Some("ci".into()),
            allowed_models: models,
            expiry: Expiry::Default,
        },
    )
    .await
    .unwrap()
}

async fn snapshot(app: &TestApp) -> Snapshot {
    let resp = app.signed_get(routes::SNAPSHOT).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn changes(app: &TestApp, since: i64, wait_ms: u64) -> Changes {
    let resp = app
        .signed_get(&format!(
            "{}?since={since}&wait_ms={wait_ms}",
            routes::CHANGES
        ))
        .await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

async fn snapshot_has_keys_developers_and_catalog(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let empty = snapshot(&app).await;
    assert_eq!(empty.version, 0);
    assert!(empty.keys.is_empty() && empty.catalog.models.is_empty());

    let dev = developer(&app, "Ada@Example.com").await;
    assert_eq!(dev.email, "ada@example.com");
    let k = key(&app, "ada@example.com", Some(vec!["gpt-4o-mini".into()])).await;
    assert!(keys::is_well_formed(k.secret.expose()));
    let openai = catalog::add_provider(
        &app.db,
        &common::vault(),
        NewProvider {
            name: "openai".into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1/".into(),
            api_key: "sk-upstream-secret".into(),
        },
    )
    .await
    .unwrap();
    let backup = catalog::add_provider(
        &app.db,
        &common::vault(),
        NewProvider {
            name: "backup".into(),
            kind: ProviderKind::Anthropic,
            base_url: "http://127.0.0.1:9".into(),
            api_key: String::new(),
        },
    )
    .await
    .unwrap();
    // Default prices from the business plan: gpt-4o-mini is 0.15 per million.
    let mini = catalog::add_model(&app.db, NewDeployment::new("gpt-4o-mini", "openai"))
        .await
        .unwrap();
    assert!(mini.model_created);
    // A fallback deployment (priority 1) added first, the primary second.
    let mut fallback = NewDeployment::new("claude-3.5-sonnet", backup.id.as_str());
    fallback.priority = 1;
    fallback.upstream_model = Some("claude-3-5-sonnet-20241022".into());
    fallback.prices = Some(Prices {
        input_per_million: dec("3"),
        output_per_million: dec("15"),
        cached_per_million: dec("0.30"),
    });
    catalog::add_model(&app.db, fallback).await.unwrap();
    let mut primary = NewDeployment::new("claude-3.5-sonnet", "openai");
    primary.timeout_ms = 5_000;
    primary.weight = 3;
    let primary = catalog::add_model(&app.db, primary).await.unwrap();
    assert!(!primary.model_created);

    let resp = app.signed_get(routes::SNAPSHOT).await;
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    assert!(
        !raw.contains(k.secret.expose()),
        "the key secret must never leave the control plane"
    );
    let snap: Snapshot = serde_json::from_str(&raw).unwrap();

    // developer + key + 2 providers + 2 models + 3 deployments = 9 changes.
    assert_eq!(snap.version, 9);
    assert_eq!(snap.keys.len(), 1);
    let entry = &snap.keys[0];
    assert_eq!(entry.id, k.key.id);
    assert_eq!(entry.hash, keys::hash(k.secret.expose()));
    assert_eq!(entry.developer_id, dev.id);
    assert_eq!(entry.allowed_models, Some(vec!["gpt-4o-mini".to_string()]));
    let expires = entry.expires_at_ms.unwrap();
    let year_ms = 365 * 86_400_000;
    assert!((expires - k.key.created_at_ms - year_ms).abs() < 1_000);
    assert_eq!(snap.developers.len(), 1);
    assert_eq!(snap.developers[0].id, dev.id);
    assert!(snap.developers[0].active);

    let providers = &snap.catalog.providers;
    assert_eq!(providers.len(), 2);
    let p = providers.iter().find(|p| p.id == openai.id).unwrap();
    assert_eq!(p.api_key, "sk-upstream-secret");
    assert_eq!(p.base_url, "https://api.openai.com/v1");
    assert_eq!(p.kind, ProviderKind::Openai);

    let models = &snap.catalog.models;
    assert_eq!(models.len(), 2);
    let m = models.iter().find(|m| m.name == "gpt-4o-mini").unwrap();
    assert_eq!(m.prices.input_per_million, dec("0.15"));
    assert_eq!(m.prices.output_per_million, dec("0.15"));
    assert_eq!(m.prices.cached_per_million, dec("0.15"));
    assert_eq!(m.deployments.len(), 1);
    assert_eq!(m.deployments[0].upstream_model, "gpt-4o-mini");
    assert_eq!(m.deployments[0].timeout_ms, 60_000);
    let c = models
        .iter()
        .find(|m| m.name == "claude-3.5-sonnet")
        .unwrap();
    assert_eq!(c.prices.output_per_million, dec("15"));
    assert_eq!(c.prices.cached_per_million, dec("0.3"));
    let order: Vec<(&str, i32, u32, u64)> = c
        .deployments
        .iter()
        .map(|d| (d.provider_id.as_str(), d.priority, d.weight, d.timeout_ms))
        .collect();
    assert_eq!(
        order,
        vec![
            (openai.id.as_str(), 0, 3, 5_000),
            (backup.id.as_str(), 1, 1, 60_000)
        ]
    );
    assert_eq!(
        c.deployments[1].upstream_model,
        "claude-3-5-sonnet-20241022"
    );

    // Disabled and deleted keys leave the snapshot.
    cp_keys::disable_key(&app.db, &k.key.id).await.unwrap();
    let after = snapshot(&app).await;
    assert!(after.keys.is_empty());
    assert!(after.developers.is_empty());
    assert_eq!(after.version, 10);
    app.stop().await;
}

async fn internal_api_refuses_unsigned_and_badly_signed_requests(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let now = common::unix_now();
    let url = app.url(routes::SNAPSHOT);

    let unsigned = app.client.get(&url).send().await.unwrap();
    assert_eq!(unsigned.status(), 401);
    assert_eq!(error_code(unsigned).await, "unauthorized");

    let wrong_secret = signing::sign(
        b"not-the-secret-not-the-secret-xx",
        now,
        "GET",
        routes::SNAPSHOT,
        b"",
    );
    let other_path = signing::sign(SECRET.as_bytes(), now, "GET", routes::CHANGES, b"");
    let stale = signing::sign(SECRET.as_bytes(), now - 3_600, "GET", routes::SNAPSHOT, b"");
    for header in [wrong_secret, other_path, stale, "t=1,v1=zz".to_string()] {
        let resp = app
            .client
            .get(&url)
            .header(signing::HEADER, header)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(error_code(resp).await, "unauthorized");
    }

    // The query string is signed: a changed `since` is refused.
    let signed_for = format!("{}?since=0&wait_ms=0", routes::CHANGES);
    let sig = signing::sign(SECRET.as_bytes(), now, "GET", &signed_for, b"");
    let resp = app
        .client
        .get(app.url(&format!("{}?since=5&wait_ms=0", routes::CHANGES)))
        .header(signing::HEADER, sig)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // So is the body.
    let body = br#"{"rows":[]}"#.to_vec();
    let sig = signing::sign(SECRET.as_bytes(), now, "POST", routes::USAGE, &body);
    let resp = app
        .client
        .post(app.url(routes::USAGE))
        .header(signing::HEADER, sig)
        .body(br#"{"rows":[ ]}"#.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    // And a correct signature passes.
    assert_eq!(app.signed_get(routes::SNAPSHOT).await.status(), 200);
    app.stop().await;
}

async fn long_poll_wakes_when_a_key_is_disabled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    developer(&app, "grace@example.com").await;
    let k = key(&app, "grace@example.com", None).await;
    let v = snapshot(&app).await.version;

    let poll = {
        let client = app.client.clone();
        let pq = format!("{}?since={v}&wait_ms=30000", routes::CHANGES);
        let url = app.url(&pq);
        let sig = signing::sign(SECRET.as_bytes(), common::unix_now(), "GET", &pq, b"");
        tokio::spawn(async move {
            client
                .get(url)
                .header(signing::HEADER, sig)
                .send()
                .await
                .unwrap()
                .json::<Changes>()
                .await
                .unwrap()
        })
    };
    eventually(
        "the long poll to be waiting",
        Duration::from_secs(10),
        || async {
            (app.metric("aihub_cp_change_long_polls_open").await == Some(1.0)).then_some(())
        },
    )
    .await;

    cp_keys::disable_key(&app.db, &k.key.id).await.unwrap();
    // Far below the 30 s the poll would otherwise wait.
    let got = tokio::time::timeout(Duration::from_secs(10), poll)
        .await
        .expect("the long poll was not woken by the change")
        .unwrap();
    assert_eq!(got.since, v);
    assert_eq!(got.version, v + 1);
    assert_eq!(got.keys_remove, vec![k.key.id.clone()]);
    assert!(got.keys_upsert.is_empty());
    assert!(got.catalog.is_none());
    assert!(!got.resync);
    app.stop().await;
}

async fn changes_since_an_old_version_answer_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dev = developer(&app, "linus@example.com").await;
    let k1 = key(&app, &dev.id, None).await;
    let k2 = key(&app, &dev.id, None).await;
    cp_keys::delete_key(&app.db, &k2.key.id).await.unwrap();
    catalog::add_provider(
        &app.db,
        &common::vault(),
        NewProvider {
            name: "local".into(),
            kind: ProviderKind::Openai,
            base_url: "http://127.0.0.1:11434/v1".into(),
            api_key: String::new(),
        },
    )
    .await
    .unwrap();

    // wait_ms is long, but there is something to say: no waiting.
    let got = tokio::time::timeout(Duration::from_secs(10), changes(&app, 0, 30_000))
        .await
        .expect("changes since 0 must not wait");
    assert_eq!(got.since, 0);
    assert_eq!(got.version, 5);
    assert_eq!(got.keys_upsert.len(), 1);
    assert_eq!(got.keys_upsert[0].id, k1.key.id);
    assert_eq!(got.keys_upsert[0].hash, keys::hash(k1.secret.expose()));
    assert_eq!(got.keys_remove, vec![k2.key.id.clone()]);
    assert_eq!(got.developers_upsert.len(), 1);
    assert_eq!(got.developers_upsert[0].id, dev.id);
    let cat = got.catalog.clone().unwrap();
    assert_eq!(cat.providers.len(), 1);

    // Applying the changes to an empty snapshot gives the full snapshot.
    let mut rebuilt = Snapshot::default();
    rebuilt.apply(got);
    let mut full = snapshot(&app).await;
    rebuilt.developers.sort_by(|a, b| a.id.cmp(&b.id));
    full.developers.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(rebuilt, full);

    // From the newest version on, only what follows.
    let created = key(&app, &dev.id, Some(vec!["gpt-4o".into()])).await;
    let next = changes(&app, 5, 30_000).await;
    assert_eq!(next.version, 6);
    assert_eq!(next.keys_upsert.len(), 1);
    assert_eq!(next.keys_upsert[0].id, created.key.id);
    assert!(next.catalog.is_none());
    app.stop().await;
}

async fn resync_when_since_is_ahead(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    developer(&app, "barbara@example.com").await;
    let got = changes(&app, 42, 30_000).await;
    assert!(got.resync);
    assert_eq!(got.since, 42);
    assert_eq!(got.version, 1);
    let negative = changes(&app, -1, 0).await;
    assert!(negative.resync);
    app.stop().await;
}

async fn long_poll_without_changes_returns_empty(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    developer(&app, "ken@example.com").await;
    let got = changes(&app, 1, 50).await;
    assert_eq!(
        got,
        Changes {
            since: 1,
            version: 1,
            ..Changes::default()
        }
    );
    app.stop().await;
}

async fn suspending_a_developer_reaches_the_stream(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dev = developer(&app, "dennis@example.com").await;
    key(&app, &dev.id, None).await;
    let v = snapshot(&app).await.version;
    developers::set_active(&app.db, "DENNIS@example.com", false)
        .await
        .unwrap();
    let got = changes(&app, v, 30_000).await;
    assert_eq!(got.developers_upsert.len(), 1);
    assert_eq!(got.developers_upsert[0].id, dev.id);
    assert!(!got.developers_upsert[0].active);
    // The key stays in the snapshot; the gateway refuses it for its owner.
    let snap = snapshot(&app).await;
    assert_eq!(snap.keys.len(), 1);
    assert!(!snap.developers[0].active);
    app.stop().await;
}

async fn bad_change_query_is_a_400(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for pq in [
        routes::CHANGES.to_string(),
        format!("{}?since=abc", routes::CHANGES),
    ] {
        let resp = app.signed_get(&pq).await;
        assert_eq!(resp.status(), 400);
        assert_eq!(error_code(resp).await, "invalid_request");
    }
    app.stop().await;
}

async fn account_limits_reach_the_snapshot_and_the_stream(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let dev = developer(&app, "limits@example.com").await;
    key(&app, &dev.id, None).await;
    // The Free plan's defaults: 100 requests/min, no hard token cap, and
    // its 1,000 included tokens with an empty balance as funds.
    let snap = snapshot(&app).await;
    assert_eq!(snap.developers[0].requests_per_minute, Some(100));
    assert_eq!(snap.developers[0].token_quota_monthly, None);
    let funds = snap.developers[0].funds.clone().unwrap();
    assert_eq!(
        (
            funds.plan.as_str(),
            funds.allowance_tokens_monthly,
            funds.spend_limit_nanos
        ),
        ("Free", 1000, Some(0))
    );
    developers::set_limits(
        &app.db,
        "limits@example.com",
        developers::AccountLimits {
            rate_limit: None,
            quota_limit: Some(1000),
        },
    )
    .await
    .unwrap();
    let snap = snapshot(&app).await;
    assert_eq!(snap.developers[0].token_quota_monthly, Some(1000));

    let v = snap.version;
    let updated = developers::set_limits(
        &app.db,
        "limits@example.com",
        developers::AccountLimits {
            rate_limit: Some(250),
            quota_limit: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (updated.api_rate_limit, updated.api_quota_limit),
        (250, 1000)
    );
    let got = changes(&app, v, 30_000).await;
    assert_eq!(got.developers_upsert.len(), 1);
    let d = &got.developers_upsert[0];
    assert_eq!(d.id, dev.id);
    assert_eq!(d.requests_per_minute, Some(250));
    assert_eq!(d.token_quota_monthly, Some(1000));

    // 0 = unlimited: no limit on the gateway.
    let v = got.version;
    developers::set_limits(
        &app.db,
        &dev.id,
        developers::AccountLimits {
            rate_limit: None,
            quota_limit: Some(0),
        },
    )
    .await
    .unwrap();
    let got = changes(&app, v, 30_000).await;
    assert_eq!(got.developers_upsert[0].requests_per_minute, Some(250));
    assert_eq!(got.developers_upsert[0].token_quota_monthly, None);
    let snap = snapshot(&app).await;
    assert_eq!(snap.developers[0].requests_per_minute, Some(250));
    assert_eq!(snap.developers[0].token_quota_monthly, None);
    app.stop().await;
}

fn usage_row(request_id: &str, key_id: &str, dev: &str, ts_ms: i64) -> UsageRow {
    UsageRow {
        request_id: request_id.into(),
        ts_ms,
        developer_id: dev.into(),
        key_id: key_id.into(),
        endpoint: "chat.completions".into(),
        method: "POST".into(),
        model: "gpt-4o-mini".into(),
        deployment_id: "dep_1".into(),
        provider_id: "prov_1".into(),
        prompt_tokens: 100,
        completion_tokens: 20,
        cached_tokens: 7,
        reasoning_tokens: 3,
        cost_nanos: 5_000,
        latency_ms: 300,
        ttft_ms: None,
        status: 200,
        stream: false,
        attempts: 1,
        ip: "203.0.113.7".into(),
        user_agent: "OpenAI/Python".into(),
        error: String::new(),
        gateway_id: "gw-1".into(),
        batch_id: String::new(),
    }
}

async fn snapshot_carries_usage_bases_for_developers_and_quota_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let ada = developer(&app, "ada@example.com").await;
    // An account quota, so the account's base travels with its changes.
    developers::set_limits(
        &app.db,
        &ada.id,
        developers::AccountLimits {
            rate_limit: None,
            quota_limit: Some(1_000_000),
        },
    )
    .await
    .unwrap();
    let bob = developer(&app, "bob@example.com").await;
    // Carol has usage but no key that can authenticate: not in the snapshot.
    let carol = developer(&app, "carol@example.com").await;
    let quota_key = key(&app, &ada.id, None).await.key.id;
    let plain_key = key(&app, &ada.id, None).await.key.id;
    let unused_key = key(&app, &bob.id, None).await.key.id;
    for (id, column) in [
        (&quota_key, "token_quota_total"),
        (&unused_key, "budget_monthly_nanos"),
    ] {
        sqlx::query(&format!("UPDATE api_keys SET {column} = $1 WHERE id = $2"))
            .bind(1_000_000_i64)
            .bind(id)
            .execute(app.db.pool())
            .await
            .unwrap();
    }
    let carols_key = key(&app, &carol.id, None).await.key.id;
    cp_keys::disable_key(&app.db, &carols_key).await.unwrap();

    let now = aihub_control_plane::db::now_ms();
    let month = calendar::month_of(now);
    let last_month = month.start_ms - 1_000;
    let grace = format!("{quota_key}:grace");
    let batch = UsageBatch {
        rows: vec![
            usage_row("r1", &quota_key, &ada.id, now),
            // The previous secret's rows count with the key.
            usage_row("r2", &grace, &ada.id, now),
            // Last month: in the totals, not in the month.
            usage_row("r3", &quota_key, &ada.id, last_month),
            usage_row("r4", &plain_key, &ada.id, now),
            usage_row("r5", &carols_key, &carol.id, now),
        ],
    };
    let resp = app
        .signed_post(routes::USAGE, serde_json::to_vec(&batch).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    let r: IngestResult = resp.json().await.unwrap();
    assert_eq!(r.inserted, 5);

    let snap = snapshot(&app).await;
    // Developer and key bases come from the usage rows. A `Funds` base
    // appears once the billing charger (a background job) has charged them,
    // which may or may not have happened yet: the billing tests cover it.
    let mut usage: Vec<UsageBase> = snap
        .usage
        .iter()
        .filter(|b| b.scope != UsageScope::Funds)
        .cloned()
        .collect();
    usage.sort_by(|a, b| (a.id.as_str()).cmp(b.id.as_str()));
    let mut expected = vec![
        // Every key of Ada's: 3 rows this month, 4 ever (120 tokens, 5 000 nanos each).
        UsageBase {
            scope: UsageScope::Developer,
            id: ada.id.clone(),
            month: month.name.clone(),
            tokens_month: 360,
            cost_nanos_month: 15_000,
            tokens_total: 480,
            cost_nanos_total: 20_000,
        },
        // The key with a quota, its grace rows folded in.
        UsageBase {
            scope: UsageScope::Key,
            id: quota_key.clone(),
            month: month.name.clone(),
            tokens_month: 240,
            cost_nanos_month: 10_000,
            tokens_total: 360,
            cost_nanos_total: 15_000,
        },
    ];
    expected.sort_by(|a, b| (a.id.as_str()).cmp(b.id.as_str()));
    assert_eq!(usage, expected, "{:?}", snap.usage);
    // Bob has a key with a budget but no usage; the plain key has no quota;
    // Carol is not in the snapshot.
    assert!(snap.developers.iter().any(|d| d.id == bob.id));
    assert!(!snap.developers.iter().any(|d| d.id == carol.id));

    // A new snapshot has the newest figures.
    let more = UsageBatch {
        rows: vec![usage_row("r6", &quota_key, &ada.id, now)],
    };
    let resp = app
        .signed_post(routes::USAGE, serde_json::to_vec(&more).unwrap())
        .await;
    assert_eq!(resp.status(), 200);
    let snap = snapshot(&app).await;
    let k = snap.usage.iter().find(|u| u.id == quota_key).unwrap();
    assert_eq!((k.tokens_month, k.tokens_total), (360, 480));

    // A quota set on a key already in use: the change carries what the key
    // used, and its owner's month, so gateways count from there.
    let mut tx = app.db.begin_write().await.unwrap();
    sqlx::query("UPDATE api_keys SET token_quota_monthly = $1 WHERE id = $2")
        .bind(500_i64)
        .bind(&plain_key)
        .execute(&mut *tx)
        .await
        .unwrap();
    cp_keys::record_key_change(&mut tx, app.db.backend(), &plain_key)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let ch = changes(&app, snap.version, 1000).await;
    let k = ch
        .usage
        .iter()
        .find(|u| u.scope == UsageScope::Key && u.id == plain_key)
        .unwrap_or_else(|| panic!("no base for the key in {:?}", ch.usage));
    assert_eq!(
        (k.tokens_month, k.tokens_total, k.cost_nanos_total),
        (120, 120, 5_000)
    );
    let d = ch
        .usage
        .iter()
        .find(|u| u.scope == UsageScope::Developer && u.id == ada.id)
        .unwrap_or_else(|| panic!("no base for the owner in {:?}", ch.usage));
    assert_eq!(d.tokens_month, 480);
    app.stop().await;
}
