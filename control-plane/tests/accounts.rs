//! Developer accounts over real HTTP, with mail through a real SMTP server
//! process: sign-up, verification, login, refresh rotation, logout,
//! password reset, languages, and mail that waits out an SMTP outage.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::procs::free_port;
use aihub_testkit::smtp::SmtpServer;
use common::hub::*;
use common::{eventually, spawn_app, start_on, Backend, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

on_selected_backend!(
    the_whole_story_in_english,
    chinese_accounts_get_chinese_mail,
    unverified_accounts_log_in_and_can_ask_for_another_link,
    refresh_tokens_rotate_and_a_reused_one_ends_the_session,
    profiles_are_read_and_changed_by_their_owner,
    mail_waits_out_an_smtp_outage_and_a_restart,
    development_mode_writes_mail_to_the_outbox,
    spent_tokens_and_sent_mail_are_cleaned_up,
);

async fn the_whole_story_in_english(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "ada@example.com";

    // Register: the verification mail arrives with a portal link.
    register(app, email, None).await;
    let mail = hub
        .mail(email, "Verify your email address for AI Hub")
        .await;
    assert!(mail.from.contains("no-reply@localhost"), "{}", mail.from);
    assert!(
        mail.body_text.contains("Hello Ada Lovelace"),
        "{}",
        mail.body_text
    );
    assert!(mail
        .body_html
        .contains("<a href=\"http://portal.test/verify-email?token="));
    let token = token_from(&mail, "/verify-email");

    // Verify: once.
    let (status, body) = parts(
        post(
            app,
            "/api/v1/developer/verify-email",
            json!({"token": token}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "verified"}))
    );
    expect_error(
        post(
            app,
            "/api/v1/developer/verify-email",
            json!({"token": token}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    hub.mail(email, "Welcome to AI Hub").await;

    // Log in; the profile is the account.
    let session = login(app, email, PASSWORD).await;
    let dev = &session["developer"];
    assert!(dev["id"].as_str().unwrap().starts_with("dev_"));
    assert_eq!(dev["email"], email);
    assert_eq!(dev["full_name"], "Ada Lovelace");
    assert_eq!(dev["company_name"], "Analytical Engines Ltd");
    assert_eq!(dev["developer_type"], "enterprise");
    assert_eq!(dev["role"], "developer");
    assert_eq!(dev["email_verified"], true);
    assert_eq!(dev["language"], "en");
    assert!(dev["created_at_ms"].as_i64().unwrap() > 0);
    assert!(dev["api_rate_limit"].as_i64().is_some());
    assert!(dev["api_quota_limit"].as_i64().is_some());
    let (status, me) = parts(profile(app, access(&session)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&me, dev);

    // Refresh: a new pair; the new access token works.
    let rotated = {
        let (status, body) = parts(refresh(app, refresh_token(&session)).await).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    assert_ne!(refresh_token(&rotated), refresh_token(&session));
    assert_eq!(rotated["developer"]["email"], email);
    assert_eq!(
        profile(app, access(&rotated)).await.status(),
        StatusCode::OK
    );

    // Logout: the refresh token and the session's access token stop working.
    let resp = post(
        app,
        "/api/v1/developer/logout",
        json!({"refresh_token": refresh_token(&rotated)}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    expect_error(
        refresh(app, refresh_token(&rotated)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_error(
        profile(app, access(&rotated)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Forgot the password: reset through the mailed link.
    let other_session = login(app, email, PASSWORD).await;
    let (status, body) = parts(
        post(
            app,
            "/api/v1/developer/reset-password",
            json!({"email": email}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"status": "reset_sent"}))
    );
    let mail = hub.mail(email, "Reset your AI Hub password").await;
    let reset = token_from(&mail, "/reset-password");
    let new_password = "a-brand-new-secret-7";
    let (status, body) = parts(
        post(
            app,
            "/api/v1/developer/reset-password/confirm",
            json!({"token": reset, "new_password": new_password}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"status": "password_reset"}))
    );

    // Single use; old password refused, new one works; sessions from
    // before the reset are over.
    expect_error(
        post(
            app,
            "/api/v1/developer/reset-password/confirm",
            json!({"token": reset, "new_password": "yet-another-secret-8"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    let refused = post(
        app,
        "/api/v1/developer/login",
        json!({"email": email, "password": PASSWORD}),
    )
    .await;
    expect_error(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    login(app, email, new_password).await;
    expect_error(
        refresh(app, refresh_token(&other_session)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_error(
        profile(app, access(&other_session)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Secrets are stored hashed: no token or password in clear anywhere.
    let mut conn = app.db.pool().acquire().await.unwrap();
    for (table, column) in [
        ("account_tokens", "token_hash"),
        ("refresh_tokens", "token_hash"),
        ("developers", "password_hash"),
    ] {
        let rows = sqlx::query(&format!("SELECT {column} AS v FROM {table}"))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert!(!rows.is_empty());
        for row in rows {
            let v: String = row.try_get("v").unwrap();
            assert!(v != token && v != reset && v != refresh_token(&rotated));
            assert!(!v.contains(new_password) && !v.contains(PASSWORD));
        }
    }
    hub.app.stop().await;
}

async fn chinese_accounts_get_chinese_mail(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "li.hua@example.cn";
    register(app, email, Some("zh-CN")).await;
    let mail = hub.mail(email, "请验证您在 AI Hub 的邮箱地址").await;
    assert!(mail.body_text.contains("您好"), "{}", mail.body_text);
    assert!(mail.body_html.contains("lang=\"zh-CN\""));
    let token = token_from(&mail, "/verify-email");
    let resp = post(
        app,
        "/api/v1/developer/verify-email",
        json!({"token": token}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    hub.mail(email, "欢迎使用 AI Hub").await;

    let session = login(app, email, PASSWORD).await;
    assert_eq!(session["developer"]["language"], "zh-CN");
    let resp = post(
        app,
        "/api/v1/developer/reset-password",
        json!({"email": email}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let mail = hub.mail(email, "重置您的 AI Hub 密码").await;
    token_from(&mail, "/reset-password");

    // Switching the account to English switches its mail.
    let resp = call(
        app,
        Method::PATCH,
        "/api/v1/developer/profile",
        Some(access(&session)),
        Some(json!({"language": "en"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = post(
        app,
        "/api/v1/developer/reset-password",
        json!({"email": email}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    hub.mail(email, "Reset your AI Hub password").await;
    hub.app.stop().await;
}

async fn unverified_accounts_log_in_and_can_ask_for_another_link(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "grace@example.com";
    register(app, email, None).await;
    let first = hub.mail(email, "Verify your email").await;

    let session = login(app, email, PASSWORD).await;
    assert_eq!(session["developer"]["email_verified"], false);

    let (status, body) = parts(
        post(
            app,
            "/api/v1/developer/resend-verification",
            json!({"email": email}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::ACCEPTED, json!({"status": "verification_sent"}))
    );
    let second = eventually("a second verification mail", MAIL_WAIT, || async {
        let mails: Vec<_> = hub
            .smtp
            .messages()
            .into_iter()
            .filter(|m| m.is_to(email) && m.subject.contains("Verify"))
            .collect();
        (mails.len() == 2).then(|| mails[1].clone())
    })
    .await;
    assert_ne!(
        token_from(&first, "/verify-email"),
        token_from(&second, "/verify-email")
    );

    // An expired link is refused; the fresh one works.
    let mut conn = app.db.pool().acquire().await.unwrap();
    sqlx::query("UPDATE account_tokens SET expires_at = $1 WHERE token_hash = $2")
        .bind(1_i64)
        .bind(aihub_control_plane::auth::tokens::hash_token(&token_from(
            &first,
            "/verify-email",
        )))
        .execute(&mut *conn)
        .await
        .unwrap();
    expect_error(
        post(
            app,
            "/api/v1/developer/verify-email",
            json!({"token": token_from(&first, "/verify-email")}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    let resp = post(
        app,
        "/api/v1/developer/verify-email",
        json!({"token": token_from(&second, "/verify-email")}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, me) = parts(profile(app, access(&session)).await).await;
    assert_eq!(me["email_verified"], true);

    // Verified accounts get no more verification mail.
    let resp = post(
        app,
        "/api/v1/developer/resend-verification",
        json!({"email": email}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    hub.mail(email, "Welcome to AI Hub").await;
    let row = sqlx::query(
        "SELECT COUNT(*) AS n FROM outbound_emails WHERE to_address = $1 AND kind = 'verification'",
    )
    .bind(email)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(row.try_get::<i64, _>("n").unwrap(), 2);
    hub.app.stop().await;
}

async fn refresh_tokens_rotate_and_a_reused_one_ends_the_session(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "linus@example.com";
    let first = verified_session(&hub, email).await;
    let other = login(app, email, PASSWORD).await;

    let second = parts(refresh(app, refresh_token(&first)).await).await.1;
    let third = parts(refresh(app, refresh_token(&second)).await).await.1;
    assert_eq!(profile(app, access(&third)).await.status(), StatusCode::OK);

    // The first token was rotated away: presenting it again is refused and
    // ends the whole family, including the newest token and access token.
    expect_error(
        refresh(app, refresh_token(&first)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_error(
        refresh(app, refresh_token(&third)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_error(
        profile(app, access(&third)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // Another login of the same account is another family: untouched.
    let (status, _) = parts(refresh(app, refresh_token(&other)).await).await;
    assert_eq!(status, StatusCode::OK);

    // Unknown and expired refresh tokens are refused too.
    expect_error(
        refresh(app, "not-a-token").await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let fresh = login(app, email, PASSWORD).await;
    sqlx::query("UPDATE refresh_tokens SET expires_at = $1 WHERE token_hash = $2")
        .bind(1_i64)
        .bind(aihub_control_plane::auth::tokens::hash_token(
            refresh_token(&fresh),
        ))
        .execute(app.db.pool())
        .await
        .unwrap();
    expect_error(
        refresh(app, refresh_token(&fresh)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;

    // Logout with an unknown token still answers 204.
    let resp = post(
        app,
        "/api/v1/developer/logout",
        json!({"refresh_token": "nope"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    hub.app.stop().await;
}

async fn profiles_are_read_and_changed_by_their_owner(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let session = verified_session(&hub, "barbara@example.com").await;
    let token = access(&session);
    let patch = |body| {
        call(
            app,
            Method::PATCH,
            "/api/v1/developer/profile",
            Some(token),
            Some(body),
        )
    };

    let (status, me) = parts(
        patch(json!({"full_name": "  Barbara Liskov ", "developer_type": "individual", "language": "zh-CN"})).await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["full_name"], "Barbara Liskov");
    assert_eq!(me["developer_type"], "individual");
    assert_eq!(me["language"], "zh-CN");
    assert_eq!(me["company_name"], "Analytical Engines Ltd", "untouched");

    let (_, me) = parts(patch(json!({"company_name": ""})).await).await;
    assert_eq!(me["company_name"], serde_json::Value::Null);
    let (_, again) = parts(profile(app, token).await).await;
    assert_eq!(again, me);

    let message = expect_error(
        patch(json!({"language": "fr"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(message.contains("language"), "{message}");
    let message = expect_error(
        patch(json!({"full_name": "   "})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(message.contains("full_name"), "{message}");
    let message = expect_error(
        patch(json!({"developer_type": "robot"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert!(message.contains("developer_type"), "{message}");
    hub.app.stop().await;
}

async fn mail_waits_out_an_smtp_outage_and_a_restart(backend: Backend) {
    // The application is configured for an SMTP port nobody listens on.
    let port = free_port();
    let Some(database) = TestDb::new(backend).await else {
        return;
    };
    let app = start_on(database, |f| smtp_settings(f, port)).await;
    let email = "katherine@example.com";
    register(&app, email, None).await;

    // Delivery is tried and fails; the message stays queued.
    let failed_attempts = eventually("a failed delivery attempt", MAIL_WAIT, || async {
        let row = sqlx::query(
            "SELECT status, attempts, last_error FROM outbound_emails WHERE to_address = $1",
        )
        .bind(email)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        let status: String = row.try_get("status").unwrap();
        let attempts: i64 = row.try_get("attempts").unwrap();
        let error: Option<String> = row.try_get("last_error").unwrap();
        assert_eq!(status, "pending");
        (attempts >= 1 && error.is_some()).then_some(attempts)
    })
    .await;
    assert!(failed_attempts >= 1);

    // The control plane restarts while the mail is still queued ...
    let database = app.shutdown().await;
    let app = start_on(database, |f| smtp_settings(f, port)).await;

    // ... and when the SMTP server comes up, the mail is delivered.
    let smtp = SmtpServer::start_on(port).await.unwrap();
    let mail = smtp
        .wait_for(email, "Verify your email address", MAIL_WAIT)
        .await
        .unwrap();
    let token = token_from(&mail, "/verify-email");
    let resp = post(
        &app,
        "/api/v1/developer/verify-email",
        json!({"token": token}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);

    // Sent mail keeps no body (it carried a token).
    let row = eventually("the mail to be marked sent", MAIL_WAIT, || async {
        let row = sqlx::query(
            "SELECT status, body_text, link FROM outbound_emails WHERE to_address = $1 AND kind = 'verification'",
        )
        .bind(email)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
        (row.try_get::<String, _>("status").unwrap() == "sent").then_some(row)
    })
    .await;
    assert!(row
        .try_get::<Option<String>, _>("body_text")
        .unwrap()
        .is_none());
    assert!(row.try_get::<Option<String>, _>("link").unwrap().is_none());
    assert_eq!(
        smtp.messages()
            .iter()
            .filter(|m| m.subject.contains("Verify"))
            .count(),
        1,
        "delivered once"
    );
    app.stop().await;
}

async fn development_mode_writes_mail_to_the_outbox(backend: Backend) {
    // The test defaults: email.mode = "log" into the test's temp dir.
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    register(&app, "dev-mode@example.com", None).await;
    let outbox = app.database.outbox_dir();
    let file = eventually(
        "an .eml file in the outbox",
        Duration::from_secs(30),
        || {
            let outbox = outbox.clone();
            async move {
                std::fs::read_dir(&outbox)
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .find(|p| p.extension().is_some_and(|x| x == "eml"))
            }
        },
    )
    .await;
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("Subject: Verify your email address for AI Hub"),
        "{text}"
    );
    assert!(text.contains("To: dev-mode@example.com"), "{text}");
    app.stop().await;
}

async fn spent_tokens_and_sent_mail_are_cleaned_up(backend: Backend) {
    use aihub_control_plane::accounts::housekeeping::purge_once;
    use aihub_control_plane::db::now_ms;

    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "tidy@example.com";
    let session = verified_session(&hub, email).await;
    hub.mail(email, "Welcome to AI Hub").await;
    let count = |table: &'static str| async move {
        let row = sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        row.try_get::<i64, _>("n").unwrap()
    };
    eventually("both mails to be marked sent", MAIL_WAIT, || async {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM outbound_emails WHERE status = 'sent'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        (row.try_get::<i64, _>("n").unwrap() == 2).then_some(())
    })
    .await;

    // Today nothing in use is touched: the session refreshes afterwards.
    purge_once(&app.db, now_ms()).await.unwrap();
    let (status, rotated) = parts(refresh(app, refresh_token(&session)).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(count("sessions").await, 1);

    // Forty days on, everything spent is gone; the account stays.
    let later = now_ms() + 40 * 86_400_000;
    let purged = purge_once(&app.db, later).await.unwrap();
    assert_eq!(purged.refresh_tokens, 2, "{purged:?}");
    assert_eq!(purged.sessions, 1, "{purged:?}");
    assert_eq!(purged.account_tokens, 1, "{purged:?}");
    assert_eq!(purged.emails, 2, "{purged:?}");
    for table in [
        "refresh_tokens",
        "sessions",
        "account_tokens",
        "outbound_emails",
    ] {
        assert_eq!(count(table).await, 0, "{table}");
    }
    assert_eq!(count("developers").await, 1);
    expect_error(
        refresh(app, refresh_token(&rotated)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    hub.app.stop().await;
}
