//! `/api/v1/developer/*`: a developer's own account. Thin handlers: parse,
//! call [`crate::accounts`], shape the answer.

use super::guard::{AuthUser, Client};
use super::{Api, ApiFailure, ApiJson};
use crate::accounts::login::SessionTokens;
use crate::accounts::profile::ProfileUpdate;
use crate::accounts::signup::Registration;
use crate::accounts::AccountError;
use crate::developers::{Developer, DeveloperType, Language, Role};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The developer routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/v1/developer/register", post(register))
        .route("/api/v1/developer/verify-email", post(verify_email))
        .route(
            "/api/v1/developer/resend-verification",
            post(resend_verification),
        )
        .route("/api/v1/developer/login", post(login))
        .route("/api/v1/developer/refresh", post(refresh))
        .route("/api/v1/developer/logout", post(logout))
        .route("/api/v1/developer/reset-password", post(reset_password))
        .route(
            "/api/v1/developer/reset-password/confirm",
            post(confirm_reset_password),
        )
        .route(
            "/api/v1/developer/profile",
            get(profile).patch(update_profile),
        )
        .route("/api/v1/developer/change-password", post(change_password))
}

/// The account as its owner sees it (`PROFILE` in the API description).
#[derive(Debug, Serialize)]
pub struct Profile {
    id: String,
    email: String,
    full_name: String,
    company_name: Option<String>,
    developer_type: DeveloperType,
    role: Role,
    /// An operator who can look but not change anything.
    read_only: bool,
    email_verified: bool,
    language: Language,
    created_at_ms: i64,
    api_rate_limit: i64,
    api_quota_limit: i64,
}

impl From<Developer> for Profile {
    fn from(d: Developer) -> Self {
        Profile {
            id: d.id,
            email: d.email,
            full_name: d.full_name,
            company_name: d.company_name,
            developer_type: d.developer_type,
            role: d.role,
            read_only: d.read_only,
            email_verified: d.email_verified,
            language: d.language,
            created_at_ms: d.created_at_ms,
            api_rate_limit: d.api_rate_limit,
            api_quota_limit: d.api_quota_limit,
        }
    }
}

/// Answer of login and refresh.
#[derive(Serialize)]
struct SessionBody {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    developer: Profile,
}

/// Tokens must not be kept by caches between the client and us.
fn session_response(tokens: SessionTokens) -> Response {
    let body = SessionBody {
        access_token: tokens.access_token,
        token_type: "Bearer",
        expires_in: tokens.expires_in,
        refresh_token: tokens.refresh.token.expose().to_string(),
        developer: tokens.developer.into(),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

fn accepted(status: &'static str) -> Response {
    (StatusCode::ACCEPTED, Json(json!({ "status": status }))).into_response()
}

#[derive(Deserialize)]
struct RegisterRequest {
    email: String,
    password: String,
    full_name: String,
    company_name: Option<String>,
    developer_type: String,
    language: Option<String>,
    invite_code: Option<String>,
}

/// `POST /api/v1/developer/register` → 202, whether or not the address
/// already has an account.
async fn register(
    Api(api): Api,
    ApiJson(r): ApiJson<RegisterRequest>,
) -> Result<Response, ApiFailure> {
    api.accounts
        .register(Registration {
            email: r.email,
            password: r.password,
            full_name: r.full_name,
            company_name: r.company_name,
            developer_type: r.developer_type,
            language: r.language,
            invite_code: r.invite_code,
        })
        .await?;
    Ok(accepted("verification_sent"))
}

#[derive(Deserialize)]
struct TokenRequest {
    token: String,
}

/// `POST /api/v1/developer/verify-email`
async fn verify_email(
    Api(api): Api,
    ApiJson(r): ApiJson<TokenRequest>,
) -> Result<Json<serde_json::Value>, ApiFailure> {
    api.accounts.verify_email(&r.token).await?;
    Ok(Json(json!({"status": "verified"})))
}

#[derive(Deserialize)]
struct EmailRequest {
    email: String,
}

/// `POST /api/v1/developer/resend-verification` → 202 always.
async fn resend_verification(
    Api(api): Api,
    ApiJson(r): ApiJson<EmailRequest>,
) -> Result<Response, ApiFailure> {
    api.accounts.resend_verification(&r.email).await?;
    Ok(accepted("verification_sent"))
}

#[derive(Deserialize)]
struct LoginRequest {
    email: String,
    password: String,
}

/// `POST /api/v1/developer/login`
async fn login(
    Api(api): Api,
    Client(client): Client,
    ApiJson(r): ApiJson<LoginRequest>,
) -> Result<Response, ApiFailure> {
    let tokens = api.accounts.login(&r.email, r.password, &client).await?;
    Ok(session_response(tokens))
}

#[derive(Deserialize)]
struct RefreshRequest {
    refresh_token: String,
}

/// `POST /api/v1/developer/refresh`: a refused refresh token is 401.
async fn refresh(
    Api(api): Api,
    ApiJson(r): ApiJson<RefreshRequest>,
) -> Result<Response, ApiFailure> {
    match api.accounts.refresh(&r.refresh_token).await {
        Ok(tokens) => Ok(session_response(tokens)),
        Err(e @ AccountError::InvalidToken) => Err(ApiFailure::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            e.to_string(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/developer/logout` → 204.
async fn logout(
    Api(api): Api,
    ApiJson(r): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiFailure> {
    api.accounts.logout(&r.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/developer/reset-password` → 202 always.
async fn reset_password(
    Api(api): Api,
    ApiJson(r): ApiJson<EmailRequest>,
) -> Result<Response, ApiFailure> {
    api.accounts.request_password_reset(&r.email).await?;
    Ok(accepted("reset_sent"))
}

#[derive(Deserialize)]
struct ConfirmResetRequest {
    token: String,
    new_password: String,
}

/// `POST /api/v1/developer/reset-password/confirm`
async fn confirm_reset_password(
    Api(api): Api,
    ApiJson(r): ApiJson<ConfirmResetRequest>,
) -> Result<Json<serde_json::Value>, ApiFailure> {
    api.accounts
        .confirm_password_reset(&r.token, r.new_password)
        .await?;
    Ok(Json(json!({"status": "password_reset"})))
}

/// `GET /api/v1/developer/profile`
async fn profile(AuthUser(who): AuthUser) -> Json<Profile> {
    Json(who.developer.into())
}

#[derive(Deserialize)]
struct ProfilePatch {
    full_name: Option<String>,
    company_name: Option<String>,
    developer_type: Option<String>,
    language: Option<String>,
}

/// `PATCH /api/v1/developer/profile`
async fn update_profile(
    Api(api): Api,
    AuthUser(who): AuthUser,
    ApiJson(r): ApiJson<ProfilePatch>,
) -> Result<Json<Profile>, ApiFailure> {
    let updated = api
        .accounts
        .update_profile(
            &who.developer.id,
            ProfileUpdate {
                full_name: r.full_name,
                company_name: r.company_name,
                developer_type: r.developer_type,
                language: r.language,
            },
        )
        .await?;
    Ok(Json(updated.into()))
}

#[derive(Deserialize)]
struct ChangePasswordRequest {
    current_password: String,
    new_password: String,
}

/// `POST /api/v1/developer/change-password` → 204; other sessions end.
async fn change_password(
    Api(api): Api,
    AuthUser(who): AuthUser,
    Client(client): Client,
    ApiJson(r): ApiJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiFailure> {
    api.accounts
        .change_password(&who, r.current_password, r.new_password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
