//! The security properties of developer authentication: no account
//! enumeration, throttling and lockout, suspension, operators and the admin
//! guard, sign-up policies, the password policy, password changes and
//! access-token checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::hub::*;
use common::{Backend, TOKEN_SECRET};
use figment::providers::Serialized;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

on_selected_backend!(
    responses_do_not_reveal_which_addresses_are_registered,
    repeated_failures_lock_the_account_then_the_address,
    suspended_accounts_are_refused,
    operators_log_in_as_admins_and_developers_are_kept_out,
    sign_up_can_be_closed_or_invite_only,
    weak_passwords_and_malformed_input_are_refused,
    changing_the_password_ends_the_other_sessions,
    access_tokens_are_checked,
);

/// Status and body of a response, for comparing two answers.
async fn answer(resp: reqwest::Response) -> (StatusCode, Value) {
    parts(resp).await
}

async fn responses_do_not_reveal_which_addresses_are_registered(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let known = "known@example.com";
    let unknown = "unknown@example.com";
    verified_session(&hub, known).await;

    // Registering a taken address answers exactly like a new one, and the
    // owner of the address is told.
    let form = |email: &str| {
        json!({"email": email, "password": "another-pass-99", "full_name": "Mallory",
               "developer_type": "individual"})
    };
    let taken = answer(post(app, "/api/v1/developer/register", form(known)).await).await;
    let fresh =
        answer(post(app, "/api/v1/developer/register", form("fresh@example.com")).await).await;
    assert_eq!(taken, fresh);
    assert_eq!(taken.0, StatusCode::ACCEPTED);
    let notice = hub
        .mail(known, "Someone tried to sign up with your email address")
        .await;
    assert!(notice.find_link("/login").is_some(), "{}", notice.body_text);
    assert!(
        notice.find_link("/forgot-password").is_some(),
        "{}",
        notice.body_text
    );
    // The existing account is unchanged: its password still works.
    login(app, known, PASSWORD).await;

    // Reset and resend answer the same for known and unknown addresses.
    for path in [
        "/api/v1/developer/reset-password",
        "/api/v1/developer/resend-verification",
    ] {
        let a = answer(post(app, path, json!({"email": known})).await).await;
        let b = answer(post(app, path, json!({"email": unknown})).await).await;
        assert_eq!(a, b, "{path}");
        assert_eq!(a.0, StatusCode::ACCEPTED);
    }
    hub.mail(known, "Reset your AI Hub password").await;

    // A wrong password and an unknown address get the same 401.
    let wrong = answer(
        post(
            app,
            "/api/v1/developer/login",
            json!({"email": known, "password": "not-the-password-1"}),
        )
        .await,
    )
    .await;
    let nobody = answer(
        post(
            app,
            "/api/v1/developer/login",
            json!({"email": unknown, "password": "not-the-password-1"}),
        )
        .await,
    )
    .await;
    assert_eq!(wrong, nobody);
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.1["error"]["code"], "invalid_credentials");

    // Nothing was ever sent to the unknown address.
    assert_eq!(hub.mail_count(unknown), 0);
    hub.app.stop().await;
}

async fn repeated_failures_lock_the_account_then_the_address(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "target@example.com";
    verified_session(&hub, email).await;
    let attempt = |email: &'static str, password: &'static str, ip: &'static str| async move {
        post_from(
            app,
            ip,
            "/api/v1/developer/login",
            json!({"email": email, "password": password}),
        )
        .await
    };

    // Five wrong passwords: 401 each. Then the account is locked, even for
    // the right password and from another address.
    for _ in 0..5 {
        let resp = attempt(email, "wrong-password-1", "198.51.100.1").await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let locked = attempt(email, PASSWORD, "198.51.100.2").await;
    let retry_after: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
    expect_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    // Unknown addresses lock the same way (a lock reveals nothing).
    for _ in 0..5 {
        let resp = attempt("ghost@example.com", "wrong-password-1", "198.51.100.3").await;
        expect_error(resp, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let resp = attempt("ghost@example.com", "wrong-password-1", "198.51.100.3").await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    // One address spraying many accounts is locked after 50 failures,
    // whichever account it tries next; other addresses are not affected.
    let other = "bystander@example.com";
    verified_session(&hub, other).await;
    for i in 0..50 {
        let resp = post_from(
            app,
            "203.0.113.50",
            "/api/v1/developer/login",
            json!({"email": format!("spray{i}@example.com"), "password": "guess-guess-1"}),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let resp = post_from(
        app,
        "203.0.113.50",
        "/api/v1/developer/login",
        json!({"email": other, "password": PASSWORD}),
    )
    .await;
    expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let resp = post_from(
        app,
        "203.0.113.51",
        "/api/v1/developer/login",
        json!({"email": other, "password": PASSWORD}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    hub.app.stop().await;
}

async fn suspended_accounts_are_refused(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "suspended@example.com";
    let session = verified_session(&hub, email).await;
    let out = aihub_cli(app, &["admin", "--json", "suspend-developer", email], &[]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    expect_error(
        post(
            app,
            "/api/v1/developer/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    // A wrong password still gets the plain 401: suspension is only
    // revealed to whoever knows the password.
    expect_error(
        post(
            app,
            "/api/v1/developer/login",
            json!({"email": email, "password": "wrong-password-1"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    expect_error(
        profile(app, access(&session)).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;
    expect_error(
        refresh(app, refresh_token(&session)).await,
        StatusCode::FORBIDDEN,
        "account_suspended",
    )
    .await;

    // Reactivated, the same session carries on.
    let out = aihub_cli(app, &["admin", "--json", "activate-developer", email], &[]).await;
    assert!(out.status.success());
    assert_eq!(
        profile(app, access(&session)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(app, refresh_token(&session)).await.status(),
        StatusCode::OK
    );
    hub.app.stop().await;
}

async fn operators_log_in_as_admins_and_developers_are_kept_out(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let developer = verified_session(&hub, "dev@example.com").await;
    let out = aihub_cli(
        app,
        &[
            "admin",
            "--json",
            "create-operator",
            "--email",
            "ops@example.com",
        ],
        &[("AIHUB_ADMIN_PASSWORD", "operator-pass-2026")],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let operator = login(app, "ops@example.com", "operator-pass-2026").await;
    assert_eq!(operator["developer"]["role"], "admin");
    assert_eq!(operator["developer"]["email_verified"], true);

    let overview = "/api/v1/admin/overview";
    let (status, body) =
        parts(call(app, Method::GET, overview, Some(access(&operator)), None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"developers": 1, "operators": 1}));

    let resp = call(app, Method::GET, overview, Some(access(&developer)), None).await;
    expect_error(resp, StatusCode::FORBIDDEN, "forbidden").await;
    let resp = call(app, Method::GET, overview, None, None).await;
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    hub.app.stop().await;
}

async fn sign_up_can_be_closed_or_invite_only(backend: Backend) {
    let form = |extra: Value| {
        let mut body = json!({"email": "new@example.com", "password": PASSWORD,
                              "full_name": "New Person", "developer_type": "individual"});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        body
    };

    // Closed.
    let Some(hub) = Hub::start_with(backend, |f| {
        f.merge(Serialized::default("accounts.signup", "closed"))
    })
    .await
    else {
        return;
    };
    let (status, config) =
        parts(call(&hub.app, Method::GET, "/api/v1/auth/config", None, None).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        config,
        json!({"signup": "closed", "email_verification_required": true, "languages": ["en", "zh-CN"]})
    );
    expect_error(
        post(&hub.app, "/api/v1/developer/register", form(json!({}))).await,
        StatusCode::FORBIDDEN,
        "signup_closed",
    )
    .await;
    hub.app.stop().await;

    // Invite only.
    let Some(hub) = Hub::start_with(backend, |f| {
        f.merge(Serialized::default("accounts.signup", "invite_only"))
            .merge(Serialized::default(
                "accounts.invite_codes",
                vec!["spring-beta-2026"],
            ))
            .merge(Serialized::default(
                "accounts.require_email_verification_for_keys",
                false,
            ))
    })
    .await
    else {
        return;
    };
    let (_, config) =
        parts(call(&hub.app, Method::GET, "/api/v1/auth/config", None, None).await).await;
    assert_eq!(config["signup"], "invite_only");
    assert_eq!(config["email_verification_required"], false);
    for extra in [
        json!({}),
        json!({"invite_code": "spring-beta-2025"}),
        json!({"invite_code": ""}),
    ] {
        let message = expect_error(
            post(&hub.app, "/api/v1/developer/register", form(extra)).await,
            StatusCode::FORBIDDEN,
            "invalid_invite",
        )
        .await;
        assert!(message.contains("invite_code"), "{message}");
    }
    let resp = post(
        &hub.app,
        "/api/v1/developer/register",
        form(json!({"invite_code": "spring-beta-2026"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    hub.mail("new@example.com", "Verify your email").await;
    hub.app.stop().await;
}

async fn weak_passwords_and_malformed_input_are_refused(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let register_with = |password: &str| {
        json!({"email": "pw@example.com", "password": password, "full_name": "Pat",
               "developer_type": "individual"})
    };
    for (password, says) in [
        ("Sh0rt!", "at least 10 characters"),
        ("onlyletterslong", "digit or symbol"),
        ("1234567890123", "letter"),
        ("PW@example.com", "email address"),
    ] {
        let message = expect_error(
            post(app, "/api/v1/developer/register", register_with(password)).await,
            StatusCode::BAD_REQUEST,
            "weak_password",
        )
        .await;
        assert!(message.contains(says), "{password}: {message}");
    }
    let long = format!("a1{}", "x".repeat(127));
    expect_error(
        post(app, "/api/v1/developer/register", register_with(&long)).await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;

    // Malformed input names the field.
    for (body, field) in [
        (
            json!({"password": PASSWORD, "full_name": "P", "developer_type": "individual"}),
            "email",
        ),
        (
            json!({"email": "not-an-email", "password": PASSWORD, "full_name": "P", "developer_type": "individual"}),
            "email",
        ),
        (
            json!({"email": "p@example.com", "password": PASSWORD, "full_name": "", "developer_type": "individual"}),
            "full_name",
        ),
        (
            json!({"email": "p@example.com", "password": PASSWORD, "full_name": "P", "developer_type": "robot"}),
            "developer_type",
        ),
        (
            json!({"email": "p@example.com", "password": PASSWORD, "full_name": "P", "developer_type": "individual", "language": "fr"}),
            "language",
        ),
    ] {
        let message = expect_error(
            post(app, "/api/v1/developer/register", body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert!(message.contains(field), "{field}: {message}");
    }
    let resp = app
        .client
        .post(app.url("/api/v1/developer/login"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(resp, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(hub.mail_count("pw@example.com"), 0);

    // A weak new password leaves the reset link usable.
    let email = "reset-me@example.com";
    verified_session(&hub, email).await;
    post(
        app,
        "/api/v1/developer/reset-password",
        json!({"email": email}),
    )
    .await;
    let token = token_from(
        &hub.mail(email, "Reset your AI Hub password").await,
        "/reset-password",
    );
    expect_error(
        post(
            app,
            "/api/v1/developer/reset-password/confirm",
            json!({"token": token, "new_password": "weak"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    let resp = post(
        app,
        "/api/v1/developer/reset-password/confirm",
        json!({"token": token, "new_password": "strong-enough-123"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    hub.app.stop().await;
}

async fn changing_the_password_ends_the_other_sessions(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let email = "changer@example.com";
    let here = verified_session(&hub, email).await;
    let elsewhere = login(app, email, PASSWORD).await;
    let change = |body: Value| {
        call(
            app,
            Method::POST,
            "/api/v1/developer/change-password",
            Some(access(&here)),
            Some(body),
        )
    };

    expect_error(
        change(json!({"current_password": "not-it-at-all-1", "new_password": "new-password-77"}))
            .await,
        StatusCode::BAD_REQUEST,
        "wrong_password",
    )
    .await;
    expect_error(
        change(json!({"current_password": PASSWORD, "new_password": "short"})).await,
        StatusCode::BAD_REQUEST,
        "weak_password",
    )
    .await;
    let resp =
        change(json!({"current_password": PASSWORD, "new_password": "new-password-77"})).await;
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    // This session goes on; the other one is over.
    assert_eq!(profile(app, access(&here)).await.status(), StatusCode::OK);
    assert_eq!(
        refresh(app, refresh_token(&here)).await.status(),
        StatusCode::OK
    );
    expect_error(
        refresh(app, refresh_token(&elsewhere)).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    expect_error(
        profile(app, access(&elsewhere)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    expect_error(
        post(
            app,
            "/api/v1/developer/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    login(app, email, "new-password-77").await;
    hub.app.stop().await;
}

async fn access_tokens_are_checked(backend: Backend) {
    let Some(hub) = Hub::start(backend).await else {
        return;
    };
    let app = &hub.app;
    let session = verified_session(&hub, "tokens@example.com").await;

    let resp = call(app, Method::GET, "/api/v1/developer/profile", None, None).await;
    expect_error(resp, StatusCode::UNAUTHORIZED, "unauthorized").await;
    expect_error(
        profile(app, "garbage").await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;

    // A token with valid claims signed with another key is refused; the
    // same claims signed with the configured key pass (so the check above
    // is about the signature).
    let claims: Value = {
        use base64::Engine;
        let payload = access(&session).split('.').nth(1).unwrap();
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap()
    };
    let sign = |key: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
        )
        .unwrap()
    };
    let forged = sign("some-other-secret-0123456789-abcdef");
    expect_error(
        profile(app, &forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    assert_eq!(
        profile(app, &sign(TOKEN_SECRET)).await.status(),
        StatusCode::OK
    );

    // Logging out ends the access token's session too.
    post(
        app,
        "/api/v1/developer/logout",
        json!({"refresh_token": refresh_token(&session)}),
    )
    .await;
    expect_error(
        profile(app, access(&session)).await,
        StatusCode::UNAUTHORIZED,
        "unauthorized",
    )
    .await;
    hub.app.stop().await;
}
