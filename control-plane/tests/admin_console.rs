//! The operator console's API (issue 10): the audit log, and that no admin
//! route answers a developer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hub::{call, developer_session, expect_error, operator_session, parts};
use common::{spawn_app_with, Backend, TestApp};
use figment::providers::Serialized;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_selected_backend!(
    operator_changes_are_in_the_audit_log_with_who_when_and_where,
    no_admin_route_answers_a_developer,
    operators_find_view_suspend_and_reactivate_developers,
    operators_create_and_change_plans,
    the_setup_checklist_follows_what_is_configured,
    operators_list_rename_and_disable_providers,
    operators_add_rotate_and_test_providers_whose_keys_are_sealed_at_rest,
    plaintext_upstream_keys_are_sealed_when_the_control_plane_starts,
    operators_publish_models_to_plans_and_edit_their_deployments,
    gateways_report_upstream_health_and_operators_see_it_summed,
    a_price_list_is_previewed_then_applied_all_or_nothing,
    operators_change_signup_mail_and_payments_in_the_console_at_once,
    operators_set_custom_limits_and_reset_them_to_the_plan,
    a_read_only_operator_sees_everything_and_changes_nothing,
);

async fn a_read_only_operator_sees_everything_and_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let support = operator_session(&app, "sam@example.com").await;
    let (dev, _) = developer_session(&app, "ada@example.com", true).await;
    let me = get(&app, "/api/v1/developer/profile", &support).await;
    assert_eq!(me["read_only"], false);
    let sam = me["id"].as_str().unwrap().to_string();
    let mut c = app.db.pool().acquire().await.unwrap();
    aihub_control_plane::developers::set_read_only(&mut c, &sam, true)
        .await
        .unwrap();
    drop(c);

    // Looks: at once, with the same session.
    assert_eq!(
        get(&app, "/api/v1/developer/profile", &support).await["read_only"],
        true
    );
    for path in [
        "/api/v1/admin/developers",
        "/api/v1/admin/plans",
        "/api/v1/admin/models",
        "/api/v1/admin/audit-log",
        "/api/v1/admin/settings",
    ] {
        get(&app, path, &support).await;
    }
    let view = get(&app, &format!("/api/v1/admin/developers/{dev}"), &support).await;
    assert_eq!(view["status"], "active");
    // Changes nothing.
    for (method, path, body) in [
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/suspend"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/credit"),
            Some(json!({"amount": "5"})),
        ),
        (
            Method::PATCH,
            "/api/v1/admin/settings".to_string(),
            Some(json!({"accounts.signup": "closed"})),
        ),
        (
            Method::POST,
            "/api/v1/admin/models".to_string(),
            Some(json!({"name": "gpt-4o"})),
        ),
    ] {
        let resp = call(&app, method, &path, Some(&support), body).await;
        let message = expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
        assert!(message.contains("read-only"), "{path}: {message}");
    }
    assert_eq!(
        get(&app, &format!("/api/v1/admin/developers/{dev}"), &support).await["status"],
        "active"
    );
    assert_eq!(
        get(&app, "/api/v1/admin/audit-log", &support).await["data"],
        json!([])
    );
    app.stop().await;
}

async fn operators_set_custom_limits_and_reset_them_to_the_plan(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let (dev, _) = developer_session(&app, "ada@example.com", true).await;
    let path = format!("/api/v1/admin/developers/{dev}/limits");
    let plan_limits = get(&app, &format!("/api/v1/admin/developers/{dev}"), &admin).await;
    let plan_rate = plan_limits["rate_limit_per_minute"].clone();

    let (status, d) = parts(
        call(
            &app,
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"rate_limit_per_minute": 5})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["rate_limit_per_minute"], 5);
    assert_eq!(
        d["quota_tokens_per_month"],
        plan_limits["quota_tokens_per_month"]
    );
    let (status, d) = parts(
        call(
            &app,
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"quota_tokens_per_month": 0})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(
        (
            d["rate_limit_per_minute"].clone(),
            d["quota_tokens_per_month"].clone()
        ),
        (json!(5), json!(0))
    );

    for (body, want) in [
        (json!({}), StatusCode::BAD_REQUEST),
        (
            json!({"rate_limit_per_minute": -1}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"rate_limit_per_minute": 5, "burst": 2}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, err) =
            parts(call(&app, Method::PUT, &path, Some(&admin), Some(body)).await).await;
        assert_eq!(got, want, "{err}");
    }
    let (got, _) = parts(
        call(
            &app,
            Method::PUT,
            "/api/v1/admin/developers/dev_nope/limits",
            Some(&admin),
            Some(json!({"rate_limit_per_minute": 1})),
        )
        .await,
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND);

    // Back to the plan's limits.
    let (status, d) = parts(call(&app, Method::DELETE, &path, Some(&admin), None).await).await;
    assert_eq!(status, StatusCode::OK, "{d}");
    assert_eq!(d["rate_limit_per_minute"], plan_rate);
    assert_eq!(
        d["quota_tokens_per_month"],
        plan_limits["quota_tokens_per_month"]
    );
    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}"),
        &admin,
    )
    .await;
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "developer.limits_reset",
            "developer.limits_set",
            "developer.limits_set"
        ]
    );
    assert_eq!(
        log["data"][0]["details"]["before"]["rate_limit_per_minute"],
        5
    );
    app.stop().await;
}

/// A setting's entry in `GET /api/v1/admin/settings`.
fn setting(all: &Value, key: &str) -> Value {
    all["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == key)
        .unwrap_or_else(|| panic!("no {key} in {all}"))
        .clone()
}

async fn operators_change_signup_mail_and_payments_in_the_console_at_once(backend: Backend) {
    use common::hub::{post, register};
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let patch = |body: Value| {
        call(
            &app,
            Method::PATCH,
            "/api/v1/admin/settings",
            Some(&admin),
            Some(body),
        )
    };
    let all = get(&app, "/api/v1/admin/settings", &admin).await;
    let mode = setting(&all, "email.mode");
    assert_eq!(
        (
            mode["value"].clone(),
            mode["overridden"].clone(),
            mode["configured"].clone()
        ),
        (json!("log"), json!(false), json!("log"))
    );

    // Sign-up closed: refused at once; reopened by going back to the file's value.
    let (status, body) = parts(patch(json!({"accounts.signup": "closed"})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(setting(&body, "accounts.signup")["overridden"], true);
    let refused = post(&app, "/api/v1/developer/register", json!({"email": "late@example.com", "password": common::hub::PASSWORD, "full_name": "Late", "developer_type": "individual"})).await;
    expect_error(refused, StatusCode::FORBIDDEN, "signup_closed").await;
    let (status, _) = parts(patch(json!({"accounts.signup": null})).await).await;
    assert_eq!(status, StatusCode::OK);
    register(&app, "early@example.com", None).await;

    // Mail over SMTP, set in the console: the checklist notices and the
    // next verification mail goes through the SMTP server.
    let mut smtp = aihub_testkit::smtp::SmtpServer::start().await.unwrap();
    let (status, body) = parts(
        patch(json!({"email.mode": "smtp", "email.smtp_host": "127.0.0.1", "email.smtp_port": smtp.port(),
                     "email.smtp_tls": "none", "email.smtp_password": "smtp-secret-pw"}))
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pw = setting(&body, "email.smtp_password");
    assert_eq!(
        (pw["value"].clone(), pw["set"].clone(), pw["secret"].clone()),
        (Value::Null, json!(true), json!(true))
    );
    assert!(!body.to_string().contains("smtp-secret-pw"));
    let stored: String =
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'email.smtp_password'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(
        stored.contains("sealed:v1:") && !stored.contains("smtp-secret-pw"),
        "{stored}"
    );
    let setup = get(&app, "/api/v1/admin/setup", &admin).await;
    assert_eq!(
        setup["steps"][3],
        json!({"id": "email", "done": true, "hint": setup["steps"][3]["hint"]})
    );
    register(&app, "mailed@example.com", None).await;
    let mail = smtp
        .wait_for("mailed@example.com", "", std::time::Duration::from_secs(15))
        .await
        .unwrap();
    assert!(mail.is_to("mailed@example.com"));

    // Payments: refused without Stripe's keys; accepted with them.
    let before = get(&app, "/api/v1/admin/settings", &admin).await;
    for (body, needle) in [
        (
            json!({"payments.provider": "stripe"}),
            "payments.stripe_secret_key",
        ),
        (json!({"email.smtp_host": ""}), "email.smtp_host"),
        (json!({"email.smtp_port": "twenty-five"}), "settings"),
        (json!({"server.listen": "0.0.0.0:1"}), "not a setting"),
        (json!({"email.smtp_password": 7}), "expected a string"),
    ] {
        let (status, err) = parts(patch(body.clone()).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(needle),
            "{needle}: {err}"
        );
    }
    assert_eq!(get(&app, "/api/v1/admin/settings", &admin).await, before);
    let (status, body) = parts(
        patch(
            json!({"payments.provider": "stripe", "payments.stripe_secret_key": "sk_test_console",
                     "payments.stripe_webhook_secret": "whsec_console"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let setup = get(&app, "/api/v1/admin/setup", &admin).await;
    assert_eq!(setup["done"], false, "no provider or model yet");
    assert_eq!(setup["steps"][4]["done"], true);

    // Audited without secrets.
    let log = get(
        &app,
        "/api/v1/admin/audit-log?action=settings.changed",
        &admin,
    )
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 4, "{log}");
    assert_eq!(
        log["data"][0]["details"]["payments.stripe_secret_key"],
        "set"
    );
    assert_eq!(log["data"][3]["details"]["accounts.signup"], "closed");
    for secret in ["smtp-secret-pw", "sk_test_console", "whsec_console"] {
        assert!(!log.to_string().contains(secret), "{secret} in {log}");
    }

    // Webhook URL safety: private addresses refused, then allowed from the console.
    let (_, dev_token) = developer_session(&app, "hooks@example.com", true).await;
    let hook = json!({"url": "http://127.0.0.1:9/hook"});
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/developer/webhooks",
        Some(&dev_token),
        Some(hook.clone()),
    )
    .await;
    let message = expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(message.contains("private"), "{message}");
    let (status, body) = parts(patch(json!({"webhooks.allow_private_networks": true})).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/developer/webhooks",
            Some(&dev_token),
            Some(hook),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Kept across a restart.
    let database = app.shutdown().await;
    let app = common::start_on(database, |f| f).await;
    let admin = common::hub::access(
        &common::hub::login(&app, "olive@example.com", common::hub::PASSWORD).await,
    )
    .to_string();
    let all = get(&app, "/api/v1/admin/settings", &admin).await;
    assert_eq!(setting(&all, "payments.provider")["value"], "stripe");
    assert_eq!(
        setting(&all, "email.smtp_port")["value"],
        json!(smtp.port())
    );
    smtp.stop();
    app.stop().await;
}

async fn a_price_list_is_previewed_then_applied_all_or_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    for (name, input, output) in [("gpt-4o", "2.5", "10"), ("gpt-4o-mini", "0.15", "0.6")] {
        let (status, m) = parts(
            call(&app, Method::POST, "/api/v1/admin/models", Some(&admin),
                Some(json!({"name": name, "prices": {"input_per_million": input, "output_per_million": output}}))).await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{m}");
    }
    let send = |query: &str, content_type: &str, body: &str| {
        app.client
            .post(app.url(&format!("/api/v1/admin/price-list{query}")))
            .bearer_auth(&admin)
            .header("content-type", content_type)
            .body(body.to_string())
            .send()
    };
    let before = get(&app, "/api/v1/admin/models", &admin).await;

    // A dry run (the default) shows the difference and writes nothing.
    let csv = "model,input_per_million,output_per_million,cached_per_million\n\
               gpt-4o, 2.00 ,8,1.00\n\
               gpt-4o-mini,0.15,0.60,\n\
               o9-preview,15,60,\n";
    let (status, preview) = parts(send("", "text/csv", csv).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["dry_run"], true);
    assert_eq!(preview["changed"].as_array().unwrap().len(), 1, "{preview}");
    let c = &preview["changed"][0];
    assert_eq!(c["model"], "gpt-4o");
    assert_eq!(
        (
            c["before"]["input_per_million"].clone(),
            c["after"]["input_per_million"].clone()
        ),
        (json!("2.5"), json!("2"))
    );
    assert_eq!(c["after"]["cached_per_million"], "1");
    assert_eq!(preview["unchanged"], json!(["gpt-4o-mini"]));
    assert_eq!(preview["unknown"], json!(["o9-preview"]));
    assert_eq!(get(&app, "/api/v1/admin/models", &admin).await, before);
    let log = get(
        &app,
        "/api/v1/admin/audit-log?action=models.prices_imported",
        &admin,
    )
    .await;
    assert_eq!(log["data"], json!([]));

    // Bad lists are refused whole, naming the row.
    for (content_type, body, needle) in [
        ("text/csv", "model,input_per_million,output_per_million\ngpt-4o,1,2\ngpt-4o-mini,-1,2\n", "row 2"),
        ("text/csv", "model,input_per_million,output_per_million\ngpt-4o,1,2\ngpt-4o,3,4\n", "listed twice"),
        ("text/csv", "name,price\ngpt-4o,1\n", "row 1"),
        ("text/csv", "model,input_per_million,output_per_million\n", "1 to 10000 rows"),
        ("application/json", "{\"prices\": [{\"model\": \"gpt-4o\", \"input_per_million\": \"x\", \"output_per_million\": \"1\"}]}", "expected JSON"),
    ] {
        let (status, err) = parts(send("?dry_run=false", content_type, body).await.unwrap()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert!(err["error"]["message"].as_str().unwrap().contains(needle), "{needle}: {err}");
    }
    assert_eq!(get(&app, "/api/v1/admin/models", &admin).await, before);

    // Applied (JSON this time): the catalog and the gateways' prices change,
    // and the audit log has the difference.
    let list = json!({"prices": [
        {"model": "gpt-4o", "input_per_million": "2", "output_per_million": "8"},
        {"model": "o9-preview", "input_per_million": "15", "output_per_million": "60"}
    ]});
    let (status, applied) = parts(
        send("?dry_run=false", "application/json", &list.to_string())
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert_eq!(applied["dry_run"], false);
    assert_eq!(applied["changed"][0]["after"]["cached_per_million"], "2");
    let after = get(&app, "/api/v1/admin/models", &admin).await;
    let gpt = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "gpt-4o")
        .unwrap()
        .clone();
    assert_eq!(
        gpt["prices"],
        json!({"input_per_million": "2", "output_per_million": "8", "cached_per_million": "2"})
    );
    let fed = fed_catalog(&app).await;
    let fed_gpt = fed["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "gpt-4o")
        .unwrap()
        .clone();
    assert_eq!(fed_gpt["prices"]["output_per_million"], "8");
    let log = get(
        &app,
        "/api/v1/admin/audit-log?action=models.prices_imported",
        &admin,
    )
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 1);
    assert_eq!(log["data"][0]["details"]["changed"][0]["model"], "gpt-4o");
    assert_eq!(log["data"][0]["details"]["unknown"], json!(["o9-preview"]));
    app.stop().await;
}

async fn gateways_report_upstream_health_and_operators_see_it_summed(backend: Backend) {
    use aihub_contract::health::{DeploymentHealth, HealthReport};
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let (_, p) = parts(
        call(&app, Method::POST, "/api/v1/admin/providers", Some(&admin),
            Some(json!({"name": "primary", "kind": "openai", "base_url": "https://api.example.com/v1"}))).await,
    )
    .await;
    let (_, m) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/admin/models",
            Some(&admin),
            Some(json!({"name": "gpt-4o"})),
        )
        .await,
    )
    .await;
    let (_, m) = parts(
        call(
            &app,
            Method::POST,
            &format!(
                "/api/v1/admin/models/{}/deployments",
                m["id"].as_str().unwrap()
            ),
            Some(&admin),
            Some(json!({"provider_id": p["id"]})),
        )
        .await,
    )
    .await;
    let dep = m["deployments"][0]["id"].as_str().unwrap().to_string();
    let report = |gateway: &str, deployments: Vec<DeploymentHealth>| {
        serde_json::to_vec(&HealthReport {
            gateway_id: gateway.into(),
            deployments,
        })
        .unwrap()
    };
    let seen = |requests, errors, latency_ms, ejected_until_ms: Option<u64>| DeploymentHealth {
        deployment_id: dep.clone(),
        requests,
        errors,
        latency_ms,
        consecutive_failures: if ejected_until_ms.is_some() { 5 } else { 0 },
        ejected_until_ms,
    };
    let until = 4_102_444_800_000u64;
    for body in [
        report("gw-a", vec![seen(10, 0, Some(100), None)]),
        report("gw-b", vec![seen(30, 10, Some(400), Some(until))]),
    ] {
        let resp = app.signed_post(aihub_contract::routes::HEALTH, body).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let health = get(&app, "/api/v1/admin/health", &admin).await;
    let rows = health["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{health}");
    let h = &rows[0];
    assert_eq!(
        (
            h["requests"].clone(),
            h["errors"].clone(),
            h["gateways"].clone()
        ),
        (json!(40), json!(10), json!(2))
    );
    assert_eq!(h["error_rate"], 0.25);
    // Weighted by good attempts: (100 × 10 + 400 × 20) / 30.
    assert_eq!(h["latency_ms"], 300);
    assert_eq!(
        (h["ejected"].clone(), h["ejected_until"].clone()),
        (json!(true), json!(until))
    );
    assert_eq!(h["consecutive_failures"], 5);
    assert_eq!(
        (h["model"].clone(), h["provider_name"].clone()),
        (json!("gpt-4o"), json!("primary"))
    );

    // gw-b no longer reports it (idle there): only gw-a's figures remain.
    let resp = app
        .signed_post(aihub_contract::routes::HEALTH, report("gw-b", vec![]))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let h = get(&app, "/api/v1/admin/health", &admin).await["data"][0].clone();
    assert_eq!(
        (
            h["requests"].clone(),
            h["ejected"].clone(),
            h["gateways"].clone()
        ),
        (json!(10), json!(false), json!(1))
    );
    // A report older than the console's window is left out.
    sqlx::query("UPDATE deployment_health SET reported_at = reported_at - 60000")
        .execute(app.db.pool())
        .await
        .unwrap();
    assert_eq!(
        get(&app, "/api/v1/admin/health", &admin).await["data"],
        json!([])
    );

    // Unsigned or malformed reports are refused.
    let resp = app
        .client
        .post(app.url(aihub_contract::routes::HEALTH))
        .body(report("gw-x", vec![]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app
        .signed_post(
            aihub_contract::routes::HEALTH,
            b"{\"gateway_id\": 7}".to_vec(),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app
        .signed_post(aihub_contract::routes::HEALTH, report(" ", vec![]))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// The catalog the gateways are fed.
async fn fed_catalog(app: &TestApp) -> Value {
    let resp = app.signed_get(aihub_contract::routes::SNAPSHOT).await;
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json::<Value>().await.unwrap()["catalog"].clone()
}

/// The stored `api_key` column of a provider.
async fn stored_key(app: &TestApp, id: &str) -> String {
    sqlx::query_scalar("SELECT api_key FROM providers WHERE id = $1")
        .bind(id)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// The upstream key gateways are sent for provider `id`.
fn fed_key(catalog: &Value, id: &str) -> String {
    catalog["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .map(|p| p["api_key"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("provider {id} not fed: {catalog}"))
}

async fn operators_add_rotate_and_test_providers_whose_keys_are_sealed_at_rest(backend: Backend) {
    use aihub_testkit::upstream::{StubConfig, StubUpstream};
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let stub = StubUpstream::start(StubConfig::named("primary")).unwrap();
    let (status, p) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/admin/providers",
            Some(&admin),
            Some(json!({"name": "primary", "kind": "openai", "base_url": stub.base_url(), "api_key": "sk-first-key"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{p}");
    assert_eq!(p["has_api_key"], true);
    assert!(!p.to_string().contains("sk-first-key"));
    let id = p["id"].as_str().unwrap().to_string();

    // At rest the key is sealed; gateways get it opened.
    let stored = stored_key(&app, &id).await;
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
    assert!(!stored.contains("sk-first-key"));
    assert_eq!(fed_key(&fed_catalog(&app).await, &id), "sk-first-key");

    // Testing the connection uses the key the way gateways do.
    let test_path = format!("/api/v1/admin/providers/{id}/test");
    let (status, probe) =
        parts(call(&app, Method::POST, &test_path, Some(&admin), None).await).await;
    assert_eq!(status, StatusCode::OK, "{probe}");
    assert_eq!(probe["ok"], true, "{probe}");
    assert_eq!(probe["status"], 200);
    assert!(probe["models"]
        .as_array()
        .unwrap()
        .contains(&json!("gpt-4o")));
    let seen = stub.last_request().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer sk-first-key"));

    // Rotation: the new key is sealed, fed and used; the log says only
    // that the key was set.
    let path = format!("/api/v1/admin/providers/{id}");
    let (status, body) = parts(
        call(
            &app,
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"api_key": "sk-second-key"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(fed_key(&fed_catalog(&app).await, &id), "sk-second-key");
    parts(call(&app, Method::POST, &test_path, Some(&admin), None).await).await;
    let seen = stub.last_request().unwrap();
    assert_eq!(seen.header("authorization"), Some("Bearer sk-second-key"));
    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={id}"),
        &admin,
    )
    .await;
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["provider.updated", "provider.created"]);
    assert_eq!(log["data"][0]["details"]["api_key"], "set");
    assert!(!log.to_string().contains("sk-first-key"), "{log}");
    assert!(!log.to_string().contains("sk-second-key"), "{log}");

    // A refusing provider and an unreachable one are reported, not errors.
    stub.set_fail_status(Some(401));
    let (_, probe) = parts(call(&app, Method::POST, &test_path, Some(&admin), None).await).await;
    assert_eq!(
        (probe["ok"].clone(), probe["status"].clone()),
        (json!(false), json!(401))
    );
    assert!(probe["error"].as_str().unwrap().contains("401"), "{probe}");
    let (status, dead) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/admin/providers",
            Some(&admin),
            Some(json!({"name": "dead", "kind": "anthropic", "base_url": "http://127.0.0.1:9/v1", "api_key": "sk-ant"})),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{dead}");
    let dead_id = dead["id"].as_str().unwrap().to_string();
    let (_, probe) = parts(
        call(
            &app,
            Method::POST,
            &format!("/api/v1/admin/providers/{dead_id}/test"),
            Some(&admin),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(probe["ok"], false);
    assert_eq!(probe["status"], Value::Null);
    assert!(
        probe["error"].as_str().unwrap().contains("cannot reach"),
        "{probe}"
    );

    // A sealed key copied to another provider's row does not open there:
    // that provider is fed no key, the others keep theirs.
    sqlx::query("UPDATE providers SET api_key = $1 WHERE id = $2")
        .bind(stored_key(&app, &id).await)
        .bind(&dead_id)
        .execute(app.db.pool())
        .await
        .unwrap();
    let catalog = fed_catalog(&app).await;
    assert_eq!(fed_key(&catalog, &dead_id), "");
    assert_eq!(fed_key(&catalog, &id), "sk-second-key");

    // Bad input.
    for (body, status) in [
        (
            json!({"name": "x", "kind": "grpc", "base_url": "https://a.example/v1"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "primary", "kind": "openai", "base_url": "https://a.example/v1"}),
            StatusCode::CONFLICT,
        ),
        (
            json!({"name": "y", "kind": "openai"}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, err) = parts(
            call(
                &app,
                Method::POST,
                "/api/v1/admin/providers",
                Some(&admin),
                Some(body),
            )
            .await,
        )
        .await;
        assert_eq!(got, status, "{err}");
    }
    let listed = get(&app, "/api/v1/admin/providers", &admin).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 2);
    let (got, _) = parts(
        call(
            &app,
            Method::POST,
            "/api/v1/admin/providers/prov_nope/test",
            Some(&admin),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    stub.stop();
    app.stop().await;
}

async fn plaintext_upstream_keys_are_sealed_when_the_control_plane_starts(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    // As a version before sealing stored it.
    sqlx::query(
        "INSERT INTO providers (id, name, kind, base_url, api_key, enabled, created_at, updated_at) \
         VALUES ('prov_old', 'old', 'openai', 'https://api.example.com/v1', 'sk-plain-old', TRUE, 1, 1)",
    )
    .execute(app.db.pool())
    .await
    .unwrap();
    assert_eq!(
        fed_key(&fed_catalog(&app).await, "prov_old"),
        "sk-plain-old"
    );
    let database = app.shutdown().await;
    let app = common::start_on(database, |f| f).await;
    let stored = stored_key(&app, "prov_old").await;
    assert!(stored.starts_with("sealed:v1:"), "{stored}");
    assert!(!stored.contains("sk-plain-old"));
    assert_eq!(
        fed_key(&fed_catalog(&app).await, "prov_old"),
        "sk-plain-old"
    );
    app.stop().await;
}

async fn operators_publish_models_to_plans_and_edit_their_deployments(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let send = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        let admin = admin.clone();
        async move { parts(call(app, method, &path, Some(&admin), body).await).await }
    };
    let (_, p) = send(
        Method::POST,
        "/api/v1/admin/providers".into(),
        Some(
            json!({"name": "primary", "kind": "openai", "base_url": "https://api.example.com/v1"}),
        ),
    )
    .await;
    let provider = p["id"].as_str().unwrap().to_string();

    let (status, m) = send(
        Method::POST,
        "/api/v1/admin/models".into(),
        Some(json!({"name": "gpt-4o", "prices": {"input_per_million": "2.50", "output_per_million": "10"}, "plans": ["pro"]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["prices"]["cached_per_million"], "2.5");
    assert_eq!(m["plans"], json!(["pro"]));
    assert_eq!(m["deployments"], json!([]));
    let model = m["id"].as_str().unwrap().to_string();
    // Gateways know it, with nowhere to send it yet (they answer 503).
    let fed = fed_catalog(&app).await;
    assert_eq!(fed["models"][0]["deployments"], json!([]), "{fed}");

    let (status, m) = send(
        Method::POST,
        format!("/api/v1/admin/models/{model}/deployments"),
        Some(json!({"provider_id": provider, "upstream_model": "gpt-4o-2024-08-06", "weight": 3,
                    "timeout_ms": 30000, "upstream_prices": {"input_per_million": "1.25", "output_per_million": "5"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let d = &m["deployments"][0];
    assert_eq!(
        (
            d["upstream_model"].clone(),
            d["weight"].clone(),
            d["timeout_ms"].clone(),
            d["priority"].clone()
        ),
        (json!("gpt-4o-2024-08-06"), json!(3), json!(30000), json!(0))
    );
    assert_eq!(d["upstream_prices"]["input_per_million"], "1.25");
    let dep = d["id"].as_str().unwrap().to_string();
    let fed = fed_catalog(&app).await;
    assert_eq!(fed["models"][0]["name"], "gpt-4o");
    assert_eq!(fed["models"][0]["plans"], json!(["pro"]));
    assert_eq!(
        fed["models"][0]["deployments"][0]["upstream_model"],
        "gpt-4o-2024-08-06"
    );

    // A fallback on the same provider, then the first one disabled: the
    // gateways route to the fallback only.
    let (status, m) = send(
        Method::POST,
        format!("/api/v1/admin/models/{model}/deployments"),
        Some(json!({"provider_id": "primary", "priority": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(m["deployments"][1]["upstream_model"], "gpt-4o");
    let (status, m) = send(
        Method::PATCH,
        format!("/api/v1/admin/deployments/{dep}"),
        Some(json!({"enabled": false, "weight": 5})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(
        (
            m["deployments"][0]["enabled"].clone(),
            m["deployments"][0]["weight"].clone()
        ),
        (json!(false), json!(5))
    );
    let fed = fed_catalog(&app).await;
    let fed_deps = fed["models"][0]["deployments"].as_array().unwrap();
    assert_eq!(fed_deps.len(), 1);
    assert_eq!(fed_deps[0]["upstream_model"], "gpt-4o");

    // Offered to every plan again, repriced.
    let (status, m) = send(
        Method::PATCH,
        format!("/api/v1/admin/models/{model}"),
        Some(json!({"plans": [], "prices": {"input_per_million": "3", "output_per_million": "12", "cached_per_million": "1.5"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    let fed = fed_catalog(&app).await;
    assert!(fed["models"][0].get("plans").is_none(), "{fed}");
    assert_eq!(fed["models"][0]["prices"]["output_per_million"], "12");

    // Bad input changes nothing.
    let before = get(&app, "/api/v1/admin/models", &admin).await;
    for (method, path, body, want) in [
        (
            Method::POST,
            "/api/v1/admin/models".to_string(),
            json!({"name": "gpt-4o"}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            "/api/v1/admin/models".to_string(),
            json!({"name": "x", "plans": ["nope"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/api/v1/admin/models".to_string(),
            json!({"prices": {"input_per_million": "1", "output_per_million": "1"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/models/{model}"),
            json!({"prices": {"input_per_million": "-1", "output_per_million": "1"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/models/{model}"),
            json!({"plans": ["pro", "nope"]}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/models/{model}"),
            json!({"colour": "red"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            "/api/v1/admin/models/mdl_nope".to_string(),
            json!({"enabled": false}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/deployments/{dep}"),
            json!({"weight": 2_000_000}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/deployments/{dep}"),
            json!({"timeout_ms": 0}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/deployments/{dep}"),
            json!({"provider_id": "primary"}),
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::PATCH,
            format!("/api/v1/admin/deployments/{dep}"),
            json!({"upstream_model": "gpt-4o"}),
            StatusCode::CONFLICT,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/models/{model}/deployments"),
            json!({"provider_id": "prov_nope"}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            format!("/api/v1/admin/models/{model}/deployments"),
            json!({"weight": 1}),
            StatusCode::BAD_REQUEST,
        ),
    ] {
        let (got, err) = send(method, path.clone(), Some(body)).await;
        assert_eq!(got, want, "{path}: {err}");
    }
    assert_eq!(get(&app, "/api/v1/admin/models", &admin).await, before);

    // Deleted: gone from the model and from the gateways.
    let (status, m) = send(
        Method::DELETE,
        format!("/api/v1/admin/deployments/{dep}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["deployments"].as_array().unwrap().len(), 1);
    let (status, _) = send(
        Method::DELETE,
        format!("/api/v1/admin/deployments/{dep}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let log = get(&app, "/api/v1/admin/audit-log?action=model.created,model.updated,deployment.created,deployment.updated,deployment.deleted", &admin).await;
    let actions: Vec<&str> = log["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "deployment.deleted",
            "model.updated",
            "deployment.updated",
            "deployment.created",
            "deployment.created",
            "model.created"
        ]
    );
    assert_eq!(log["data"][1]["details"]["before"]["plans"], json!(["pro"]));
    assert_eq!(log["data"][1]["details"]["after"]["plans"], json!([]));
    app.stop().await;
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = parts(call(app, Method::GET, path, Some(token), None).await).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn operator_changes_are_in_the_audit_log_with_who_when_and_where(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (dev, _token) = developer_session(&app, "ada@example.com", true).await;
    let admin = operator_session(&app, "olive@example.com").await;
    let before = get(&app, "/api/v1/admin/audit-log", &admin).await;
    assert_eq!(before["has_more"], false);

    // Two changes by the operator: credit, then a plan.
    let credit = format!("/api/v1/admin/developers/{dev}/credit");
    let resp = call(
        &app,
        Method::POST,
        &credit,
        Some(&admin),
        Some(json!({"amount": "2.50", "memo": "Welcome"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let plan = format!("/api/v1/admin/developers/{dev}/plan");
    let (status, body) = parts(
        call(
            &app,
            Method::PUT,
            &plan,
            Some(&admin),
            Some(json!({"plan_id": "developer"})),
        )
        .await,
    )
    .await;
    assert!(status.is_success(), "{body}");

    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}"),
        &admin,
    )
    .await;
    let entries = log["data"].as_array().unwrap();
    let actions: Vec<&str> = entries
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    // Newest first.
    assert_eq!(
        actions,
        ["billing.plan_assigned", "billing.credit_granted"],
        "{log}"
    );
    for e in entries {
        assert_eq!(e["actor"]["email"], "olive@example.com");
        assert!(e["actor"]["id"].as_str().unwrap().starts_with("dev_"));
        assert!(!e["actor"]["ip"].as_str().unwrap().is_empty());
        assert!(e["at_ms"].as_i64().unwrap() > 0);
        assert_eq!(e["target_id"], dev.as_str());
    }
    assert_eq!(entries[1]["details"]["amount"], "2.50");
    assert_eq!(entries[1]["details"]["memo"], "Welcome");

    // Filters and paging.
    let granted = get(
        &app,
        "/api/v1/admin/audit-log?action=billing.credit_granted",
        &admin,
    )
    .await;
    assert_eq!(granted["data"].as_array().unwrap().len(), 1);
    let first = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}&limit=1"),
        &admin,
    )
    .await;
    assert_eq!(first["has_more"], true);
    let after = first["data"][0]["id"].as_str().unwrap();
    let second = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={dev}&limit=1&starting_after={after}"),
        &admin,
    )
    .await;
    assert_eq!(second["data"][0]["action"], "billing.credit_granted");
    assert_eq!(second["has_more"], false);
    let nobody = get(&app, "/api/v1/admin/audit-log?actor_id=dev_nobody", &admin).await;
    assert_eq!(nobody["data"], json!([]));

    // Bad input: the API's error shape.
    for bad in [
        "/api/v1/admin/audit-log?limit=0",
        "/api/v1/admin/audit-log?limit=many",
        "/api/v1/admin/audit-log?colour=red",
    ] {
        let resp = call(&app, Method::GET, bad, Some(&admin), None).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    app.stop().await;
}

async fn no_admin_route_answers_a_developer(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (dev, token) = developer_session(&app, "mallory@example.com", true).await;
    let routes: Vec<(Method, String)> = vec![
        (Method::GET, "/api/v1/admin/overview".into()),
        (Method::GET, "/api/v1/admin/audit-log".into()),
        (Method::GET, "/api/v1/admin/developers".into()),
        (Method::GET, format!("/api/v1/admin/developers/{dev}")),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/suspend"),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/activate"),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/credit"),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/developers/{dev}/refund"),
        ),
        (Method::PUT, format!("/api/v1/admin/developers/{dev}/plan")),
        (
            Method::PUT,
            format!("/api/v1/admin/developers/{dev}/prices"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/developers/{dev}/prices/gpt-4o"),
        ),
        (Method::POST, "/api/v1/admin/invoices/inv_x/payments".into()),
        (Method::POST, "/api/v1/admin/invoices/inv_x/void".into()),
        (
            Method::POST,
            "/api/v1/admin/invoices/inv_x/uncollectible".into(),
        ),
        (Method::POST, "/api/v1/admin/redemption-codes".into()),
        (Method::GET, "/api/v1/admin/redemption-codes".into()),
        (Method::GET, "/api/v1/admin/invoices".into()),
        (Method::GET, "/api/v1/admin/invoices/inv_x".into()),
        (
            Method::POST,
            "/api/v1/admin/invoices/inv_x/credit-notes".into(),
        ),
        (Method::POST, "/api/v1/admin/providers".into()),
        (Method::POST, "/api/v1/admin/providers/prov_x/test".into()),
        (Method::POST, "/api/v1/admin/models".into()),
        (Method::PATCH, "/api/v1/admin/models/mdl_x".into()),
        (
            Method::POST,
            "/api/v1/admin/models/mdl_x/deployments".into(),
        ),
        (Method::PATCH, "/api/v1/admin/deployments/dep_x".into()),
        (Method::DELETE, "/api/v1/admin/deployments/dep_x".into()),
        (Method::GET, "/api/v1/admin/health".into()),
        (Method::POST, "/api/v1/admin/price-list".into()),
        (Method::GET, "/api/v1/admin/settings".into()),
        (
            Method::PUT,
            format!("/api/v1/admin/developers/{dev}/limits"),
        ),
        (
            Method::DELETE,
            format!("/api/v1/admin/developers/{dev}/limits"),
        ),
        (Method::PATCH, "/api/v1/admin/settings".into()),
        (Method::POST, "/api/v1/admin/billing/close-month".into()),
        (Method::GET, "/api/v1/admin/billing/reconcile".into()),
        (Method::GET, "/api/v1/admin/analytics/overview".into()),
        (Method::GET, "/api/v1/admin/analytics/revenue".into()),
        (Method::GET, "/api/v1/admin/analytics/margin".into()),
        (Method::GET, "/api/v1/admin/analytics/developers".into()),
        (Method::GET, "/api/v1/admin/analytics/models".into()),
        (Method::GET, "/api/v1/admin/analytics/report".into()),
    ];
    for (method, path) in routes {
        let body = [Method::POST, Method::PUT, Method::PATCH]
            .contains(&method)
            .then(|| json!({}));
        let resp = call(&app, method.clone(), &path, Some(&token), body).await;
        assert_eq!(
            resp.status(),
            StatusCode::FORBIDDEN,
            "{method} {path} answered a developer"
        );
        expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Nothing a developer tried is in the log.
    let admin = operator_session(&app, "olive@example.com").await;
    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?actor_id={dev}"),
        &admin,
    )
    .await;
    assert_eq!(log["data"], json!([]));
    app.stop().await;
}

async fn operators_find_view_suspend_and_reactivate_developers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (ada, ada_token) = developer_session(&app, "ada@example.com", true).await;
    let (bob, _) = developer_session(&app, "bob@example.com", true).await;
    let (cy, _) = developer_session(&app, "cy_underscore@example.com", true).await;
    let admin = operator_session(&app, "olive@example.com").await;

    // Everyone, newest first; then a search, a role, paging.
    let all = get(&app, "/api/v1/admin/developers", &admin).await;
    let ids: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 4, "{all}");
    assert_eq!(&ids[1..], [cy.as_str(), bob.as_str(), ada.as_str()]);
    let found = get(&app, "/api/v1/admin/developers?q=ADA@", &admin).await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
    assert_eq!(found["data"][0]["id"], ada.as_str());
    assert_eq!(found["data"][0]["status"], "active");
    assert_eq!(found["data"][0]["role"], "developer");
    // `_` is a character, not a wildcard.
    let underscore = get(&app, "/api/v1/admin/developers?q=y_u", &admin).await;
    assert_eq!(underscore["data"].as_array().unwrap().len(), 1);
    let none = get(&app, "/api/v1/admin/developers?q=a_a", &admin).await;
    assert_eq!(none["data"], json!([]));
    let operators = get(&app, "/api/v1/admin/developers?role=admin", &admin).await;
    assert_eq!(operators["data"][0]["email"], "olive@example.com");
    let page = get(
        &app,
        "/api/v1/admin/developers?role=developer&limit=2",
        &admin,
    )
    .await;
    assert_eq!(page["has_more"], true);
    let last = page["data"][1]["id"].as_str().unwrap();
    let next = get(
        &app,
        &format!("/api/v1/admin/developers?role=developer&limit=2&starting_after={last}"),
        &admin,
    )
    .await;
    assert_eq!(next["data"][0]["id"], ada.as_str());
    assert_eq!(next["has_more"], false);

    for name in ["ci", "laptop"] {
        let (status, key) = parts(
            call(
                &app,
                Method::POST,
                "/api/v1/developer/keys",
                Some(&ada_token),
                Some(json!({"name": name})),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
    }

    // Suspended: the account's session is refused at once, the change is
    // audited, the account is listed as suspended.
    let suspend = format!("/api/v1/admin/developers/{ada}/suspend");
    let (status, body) = parts(call(&app, Method::POST, &suspend, Some(&admin), None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "suspended");
    let (status, _) = parts(
        call(
            &app,
            Method::GET,
            "/api/v1/developer/profile",
            Some(&ada_token),
            None,
        )
        .await,
    )
    .await;
    assert!(
        status.is_client_error(),
        "a suspended session answered {status}"
    );
    let suspended = get(&app, "/api/v1/admin/developers?status=suspended", &admin).await;
    assert_eq!(suspended["data"].as_array().unwrap().len(), 1);
    let view = get(&app, &format!("/api/v1/admin/developers/{ada}"), &admin).await;
    assert_eq!(view["status"], "suspended");
    assert_eq!(view["keys"], json!({"active": 2, "total": 2}));
    assert_eq!(view["recent_audit"][0]["action"], "developer.suspended");
    assert_eq!(
        view["recent_audit"][0]["actor"]["email"],
        "olive@example.com"
    );

    // Reactivated, audited too.
    let activate = format!("/api/v1/admin/developers/{ada}/activate");
    let (status, body) = parts(call(&app, Method::POST, &activate, Some(&admin), None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");
    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={ada}&action=developer.suspended,developer.activated"),
        &admin,
    )
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 2);

    // Bad input and unknown accounts.
    for bad in [
        "/api/v1/admin/developers?status=asleep",
        "/api/v1/admin/developers?role=king",
        "/api/v1/admin/developers?limit=1000",
        "/api/v1/admin/developers?sort=name",
    ] {
        let resp = call(&app, Method::GET, bad, Some(&admin), None).await;
        expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    }
    let resp = call(
        &app,
        Method::GET,
        "/api/v1/admin/developers/dev_nobody",
        Some(&admin),
        None,
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    let resp = call(
        &app,
        Method::POST,
        "/api/v1/admin/developers/olive@example.com/suspend",
        Some(&admin),
        None,
    )
    .await;
    expect_error(resp, StatusCode::NOT_FOUND, "not_found").await;
    app.stop().await;
}

async fn operators_create_and_change_plans(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let (dev, dev_token) = developer_session(&app, "ada@example.com", true).await;
    let admin = operator_session(&app, "olive@example.com").await;
    let send = |method: Method, path: &str, body: Value| {
        let admin = admin.clone();
        let path = path.to_string();
        let app = &app;
        async move { parts(call(app, method, &path, Some(&admin), Some(body)).await).await }
    };

    // A private plan for a team: invoiced overage, 5M tokens.
    let team = json!({
        "id": "team", "name": "Team", "price": "199.00", "included_tokens": 5_000_000,
        "overage": "invoice", "requests_per_minute": 6000, "public": false
    });
    let (status, plan) = send(Method::POST, "/api/v1/admin/plans", team.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    assert_eq!(plan["price"], "199.00");
    assert_eq!(plan["public"], false);
    assert_eq!(plan["subscribers"], 0);
    let (status, _) = send(Method::POST, "/api/v1/admin/plans", team).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let all = get(&app, "/api/v1/admin/plans", &admin).await;
    assert!(all["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["id"] == "team"));
    // Developers do not see a private plan.
    let listed = get(&app, "/api/v1/developer/plans", &dev_token).await;
    assert!(!listed.to_string().contains("\"team\""), "{listed}");

    // Given to a developer, then changed: the subscriber is counted, the
    // change is audited with the plan before and after.
    let (status, body) = send(
        Method::PUT,
        &format!("/api/v1/admin/developers/{dev}/plan"),
        json!({"plan_id": "team"}),
    )
    .await;
    assert!(status.is_success(), "{body}");
    let (status, plan) = send(
        Method::PATCH,
        "/api/v1/admin/plans/team",
        json!({"included_tokens": 6_000_000, "price": "0"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(plan["included_tokens"], 6_000_000);
    assert_eq!(plan["price"], "0.00");
    assert_eq!(plan["name"], "Team");
    assert_eq!(plan["subscribers"], 1);
    let log = get(
        &app,
        "/api/v1/admin/audit-log?target_id=team&action=plan.created,plan.updated",
        &admin,
    )
    .await;
    let entries = log["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0]["action"], "plan.updated");
    assert_eq!(
        entries[0]["details"]["before"]["included_tokens"],
        5_000_000
    );
    assert_eq!(entries[0]["details"]["after"]["included_tokens"], 6_000_000);
    let billing = get(&app, "/api/v1/developer/billing", &dev_token).await;
    assert_eq!(billing["plan"]["id"], "team", "{billing}");

    // Bad input, each named.
    for (body, field) in [
        (
            json!({"id": "Team!", "name": "x", "price": "1", "included_tokens": 1, "overage": "prepaid"}),
            "id",
        ),
        (
            json!({"id": "t2", "price": "1", "included_tokens": 1, "overage": "prepaid"}),
            "name",
        ),
        (
            json!({"id": "t2", "name": "x", "price": "-1", "included_tokens": 1, "overage": "prepaid"}),
            "price",
        ),
        (
            json!({"id": "t2", "name": "x", "price": "1.001", "included_tokens": 1, "overage": "prepaid"}),
            "price",
        ),
        (
            json!({"id": "t2", "name": "x", "price": "1", "included_tokens": -1, "overage": "prepaid"}),
            "included_tokens",
        ),
        (
            json!({"id": "t2", "name": "x", "price": "1", "included_tokens": 1, "overage": "later"}),
            "overage",
        ),
        (
            json!({"id": "t2", "name": "x", "price": "1", "included_tokens": 1, "overage": "prepaid", "colour": "red"}),
            "colour",
        ),
    ] {
        let (status, err) = send(Method::POST, "/api/v1/admin/plans", body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{err}");
        assert_eq!(err["error"]["code"], "invalid_request", "{err}");
        assert!(
            err["error"]["message"].as_str().unwrap().contains(field),
            "{field}: {err}"
        );
    }
    let (status, _) = send(
        Method::PATCH,
        "/api/v1/admin/plans/team",
        json!({"id": "other"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send(
        Method::PATCH,
        "/api/v1/admin/plans/nope",
        json!({"name": "x"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing half-written: the refused creations left no plan.
    let all = get(&app, "/api/v1/admin/plans", &admin).await;
    assert!(!all.to_string().contains("\"t2\""));
    app.stop().await;
}

fn steps(setup: &Value) -> Vec<(String, bool)> {
    setup["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert!(!s["hint"].as_str().unwrap().is_empty());
            (
                s["id"].as_str().unwrap().to_string(),
                s["done"].as_bool().unwrap(),
            )
        })
        .collect()
}

async fn the_setup_checklist_follows_what_is_configured(backend: Backend) {
    use aihub_contract::snapshot::ProviderKind;
    use aihub_control_plane::catalog::{self, NewDeployment, NewProvider};
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let fresh = get(&app, "/api/v1/admin/setup", &admin).await;
    assert_eq!(fresh["done"], false);
    // The test configuration writes mail to an outbox and has no payments.
    let want = |provider: bool, model: bool| {
        vec![
            ("provider".to_string(), provider),
            ("model".to_string(), model),
            ("plan".to_string(), true),
            ("email".to_string(), false),
            ("payment".to_string(), false),
        ]
    };
    assert_eq!(steps(&fresh), want(false, false));
    catalog::add_provider(
        &app.db,
        &common::vault(),
        NewProvider {
            name: "openai".into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            api_key: String::new(),
        },
    )
    .await
    .unwrap();
    let setup = get(&app, "/api/v1/admin/setup", &admin).await;
    assert_eq!(steps(&setup), want(true, false));
    catalog::add_model(&app.db, NewDeployment::new("gpt-4o", "openai"))
        .await
        .unwrap();
    let setup = get(&app, "/api/v1/admin/setup", &admin).await;
    assert_eq!(steps(&setup), want(true, true));
    assert_eq!(setup["done"], false);
    // The model as the console lists it.
    let models = get(&app, "/api/v1/admin/models", &admin).await;
    let m = &models["data"][0];
    assert_eq!(m["name"], "gpt-4o");
    assert_eq!(m["enabled"], true);
    assert_eq!(m["deployments"][0]["provider_name"], "openai");
    assert_eq!(m["deployments"][0]["upstream_model"], "gpt-4o");
    assert_eq!(models["data"].as_array().unwrap().len(), 1);
    app.stop().await;

    // Mail over SMTP and Stripe configured (nothing is sent here).
    let Some(app) = spawn_app_with(backend, |f| {
        common::hub::smtp_settings(f, 2525)
            .merge(Serialized::default("payments.provider", "stripe"))
            .merge(Serialized::default(
                "payments.stripe_secret_key",
                "sk_test_setup",
            ))
            .merge(Serialized::default(
                "payments.stripe_webhook_secret",
                "whsec_setup",
            ))
    })
    .await
    else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let setup = get(&app, "/api/v1/admin/setup", &admin).await;
    let configured: Vec<(String, bool)> = steps(&setup)
        .into_iter()
        .filter(|(id, _)| id == "email" || id == "payment")
        .collect();
    assert_eq!(
        configured,
        [("email".to_string(), true), ("payment".to_string(), true)]
    );
    app.stop().await;
}

async fn operators_list_rename_and_disable_providers(backend: Backend) {
    use aihub_contract::snapshot::ProviderKind;
    use aihub_control_plane::catalog::{self, NewProvider};
    let Some(app) = spawn_app_with(backend, |f| f).await else {
        return;
    };
    let admin = operator_session(&app, "olive@example.com").await;
    let mut ids = Vec::new();
    for (name, key) in [("openai", "sk-upstream-secret"), ("local-vllm", "")] {
        let p = catalog::add_provider(
            &app.db,
            &common::vault(),
            NewProvider {
                name: name.into(),
                kind: ProviderKind::Openai,
                base_url: "https://api.example.com/v1".into(),
                api_key: key.into(),
            },
        )
        .await
        .unwrap();
        ids.push(p.id);
    }
    let list = get(&app, "/api/v1/admin/providers", &admin).await;
    assert!(
        !list.to_string().contains("sk-upstream-secret"),
        "an upstream key was shown: {list}"
    );
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "local-vllm");
    assert_eq!(rows[0]["has_api_key"], false);
    assert_eq!(rows[1]["has_api_key"], true);

    // Renamed and disabled: audited, and the checklist notices.
    let path = format!("/api/v1/admin/providers/{}", ids[0]);
    for (body, check) in [
        (json!({"name": "openai-main"}), "name"),
        (json!({"enabled": false}), "enabled"),
    ] {
        let (status, p) =
            parts(call(&app, Method::PATCH, &path, Some(&admin), Some(body)).await).await;
        assert_eq!(status, StatusCode::OK, "{check}: {p}");
    }
    let after = get(&app, "/api/v1/admin/providers", &admin).await;
    let p = after["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == ids[0].as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (p["name"].clone(), p["enabled"].clone()),
        (json!("openai-main"), json!(false))
    );
    let log = get(
        &app,
        &format!("/api/v1/admin/audit-log?target_id={}", ids[0]),
        &admin,
    )
    .await;
    assert_eq!(log["data"].as_array().unwrap().len(), 2);
    assert_eq!(log["data"][0]["details"]["before"]["enabled"], true);
    assert_eq!(log["data"][0]["details"]["after"]["enabled"], false);
    assert!(!log.to_string().contains("sk-upstream-secret"));

    // Bad input; nothing written.
    for (body, status) in [
        (json!({"base_url": "ftp://x"}), StatusCode::BAD_REQUEST),
        (json!({"name": "no spaces"}), StatusCode::BAD_REQUEST),
        (json!({"api_key": "sk\nnew"}), StatusCode::BAD_REQUEST),
        (json!({"kind": "anthropic"}), StatusCode::BAD_REQUEST),
        (json!({"name": "local-vllm"}), StatusCode::CONFLICT),
    ] {
        let (got, err) =
            parts(call(&app, Method::PATCH, &path, Some(&admin), Some(body)).await).await;
        assert_eq!(got, status, "{err}");
    }
    let (got, _) = parts(
        call(
            &app,
            Method::PATCH,
            "/api/v1/admin/providers/prov_nope",
            Some(&admin),
            Some(json!({"enabled": true})),
        )
        .await,
    )
    .await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    let unchanged = get(&app, "/api/v1/admin/providers", &admin).await;
    assert_eq!(unchanged, after);
    app.stop().await;
}
