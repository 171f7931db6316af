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
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The developer routes.
pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(reset_password))
        .routes(routes!(confirm_reset_password))
        .routes(routes!(profile, update_profile))
        .routes(routes!(change_password))
}

/// The shapes of the account routes' answers, for the OpenAPI document.
#[allow(dead_code)]
pub(crate) mod doc {
    use utoipa::ToSchema;

    /// Individual or enterprise account.
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum DeveloperType {
        Individual,
        Enterprise,
    }

    /// What an account may do: `developer` (a customer) or `admin` (an operator).
    #[derive(ToSchema)]
    #[serde(rename_all = "lowercase")]
    pub enum Role {
        Developer,
        Admin,
    }

    /// The language of the account's mail and the portal's default.
    #[derive(ToSchema)]
    pub enum Language {
        #[serde(rename = "en")]
        En,
        #[serde(rename = "zh-CN")]
        ZhCn,
    }

    /// What an accepted account request led to.
    #[derive(ToSchema)]
    pub struct AccountStatus {
        /// `verification_sent` (register, resend-verification), `reset_sent`
        /// (reset-password), `verified` (verify-email) or `password_reset`
        /// (reset-password/confirm).
        pub status: String,
    }
}

/// The account as its owner sees it (`PROFILE` in the API description).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Profile {
    /// `dev_…`
    id: String,
    email: String,
    full_name: String,
    company_name: Option<String>,
    #[schema(value_type = doc::DeveloperType)]
    developer_type: DeveloperType,
    #[schema(value_type = doc::Role)]
    role: Role,
    /// An operator who can look but not change anything.
    read_only: bool,
    email_verified: bool,
    #[schema(value_type = doc::Language)]
    language: Language,
    created_at_ms: i64,
    /// Requests per minute across all keys; 0 or less: unlimited.
    api_rate_limit: i64,
    /// Tokens per month across all keys; 0 or less: unlimited.
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

/// A session: the answer of login and refresh.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Session)]
struct SessionBody {
    /// Send it as `Authorization: Bearer <access_token>`.
    access_token: String,
    /// Always `Bearer`.
    #[schema(value_type = String)]
    token_type: &'static str,
    /// Lifetime of the access token, seconds.
    expires_in: u64,
    /// Gets the next access token (`POST /api/v1/developer/refresh`); it
    /// works once, the answer carries the next one.
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

/// A sign-up.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Register)]
struct RegisterRequest {
    /// Login and contact address.
    email: String,
    /// 10 to 128 characters with at least one letter and one digit or
    /// symbol; not the email address.
    #[schema(format = Password)]
    password: String,
    full_name: String,
    company_name: Option<String>,
    #[schema(value_type = doc::DeveloperType)]
    developer_type: String,
    /// Mail and portal language; English when absent.
    #[schema(value_type = Option<doc::Language>)]
    language: Option<String>,
    /// Needed when sign-up is invite-only (`GET /api/v1/auth/config`).
    invite_code: Option<String>,
}

/// Sign up.
///
/// `POST /api/v1/developer/register` → 202, whether or not the address
/// already has an account.
#[utoipa::path(post, path = "/api/v1/developer/register", tag = "accounts",
    request_body = RegisterRequest,
    responses((status = 202, description = "Verification mail sent (or, when the address already has an account, that account told)", body = doc::AccountStatus),
        (status = 400, description = "Invalid request (a field, or `weak_password`)", body = super::openapi::ErrorBody),
        (status = 403, description = "Sign-up is closed (`signup_closed`) or needs a valid invitation code (`invalid_invite`)", body = super::openapi::ErrorBody)))]
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

/// A token from a mailed link.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EmailToken)]
struct TokenRequest {
    /// The `token` parameter of the link.
    token: String,
}

/// Verify an email address.
///
/// `POST /api/v1/developer/verify-email` with the token of the mailed link.
#[utoipa::path(post, path = "/api/v1/developer/verify-email", tag = "accounts",
    request_body = TokenRequest,
    responses((status = 200, description = "Verified (`status`: `verified`)", body = doc::AccountStatus),
        (status = 400, description = "Invalid request, or the token is invalid, expired or used (`invalid_token`)", body = super::openapi::ErrorBody)))]
async fn verify_email(
    Api(api): Api,
    ApiJson(r): ApiJson<TokenRequest>,
) -> Result<Json<serde_json::Value>, ApiFailure> {
    api.accounts.verify_email(&r.token).await?;
    Ok(Json(json!({"status": "verified"})))
}

/// An email address.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = EmailAddress)]
struct EmailRequest {
    email: String,
}

/// Resend the verification mail.
///
/// `POST /api/v1/developer/resend-verification` → 202 always (mail goes
/// only to unverified accounts).
#[utoipa::path(post, path = "/api/v1/developer/resend-verification", tag = "accounts",
    request_body = EmailRequest,
    responses((status = 202, description = "Accepted (`status`: `verification_sent`), whether or not the address has an account", body = doc::AccountStatus),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody)))]
async fn resend_verification(
    Api(api): Api,
    ApiJson(r): ApiJson<EmailRequest>,
) -> Result<Response, ApiFailure> {
    api.accounts.resend_verification(&r.email).await?;
    Ok(accepted("verification_sent"))
}

/// Email and password.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = Login)]
struct LoginRequest {
    email: String,
    #[schema(format = Password)]
    password: String,
}

/// Sign in.
///
/// `POST /api/v1/developer/login` → an access token and a refresh token.
#[utoipa::path(post, path = "/api/v1/developer/login", tag = "accounts",
    request_body = LoginRequest,
    responses((status = 200, description = "Signed in", body = SessionBody),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "Wrong email or password (`invalid_credentials`)", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many failed attempts (`too_many_attempts`)", body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the lock ends")))))]
async fn login(
    Api(api): Api,
    Client(client): Client,
    ApiJson(r): ApiJson<LoginRequest>,
) -> Result<Response, ApiFailure> {
    let tokens = api.accounts.login(&r.email, r.password, &client).await?;
    Ok(session_response(tokens))
}

/// A refresh token.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = RefreshToken)]
struct RefreshRequest {
    refresh_token: String,
}

/// Get a new access token.
///
/// `POST /api/v1/developer/refresh`: a refused refresh token is 401. The
/// refresh token is rotated: use the new one next time; presenting a
/// used one again ends the session.
#[utoipa::path(post, path = "/api/v1/developer/refresh", tag = "accounts",
    request_body = RefreshRequest,
    responses((status = 200, description = "A new access token and the next refresh token", body = SessionBody),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody),
        (status = 401, description = "The refresh token is invalid, expired, used or revoked (`invalid_token`)", body = super::openapi::ErrorBody),
        (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
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

/// Sign out.
///
/// `POST /api/v1/developer/logout` → 204: ends the refresh token's session
/// (an unknown token is accepted too).
#[utoipa::path(post, path = "/api/v1/developer/logout", tag = "accounts",
    request_body = RefreshRequest,
    responses((status = 204, description = "Signed out"),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody)))]
async fn logout(
    Api(api): Api,
    ApiJson(r): ApiJson<RefreshRequest>,
) -> Result<StatusCode, ApiFailure> {
    api.accounts.logout(&r.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a password reset link.
///
/// `POST /api/v1/developer/reset-password` → 202 always (mail goes only
/// to real accounts).
#[utoipa::path(post, path = "/api/v1/developer/reset-password", tag = "accounts",
    request_body = EmailRequest,
    responses((status = 202, description = "Accepted (`status`: `reset_sent`), whether or not the address has an account", body = doc::AccountStatus),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody)))]
async fn reset_password(
    Api(api): Api,
    ApiJson(r): ApiJson<EmailRequest>,
) -> Result<Response, ApiFailure> {
    api.accounts.request_password_reset(&r.email).await?;
    Ok(accepted("reset_sent"))
}

/// A new password with the token of the reset mail.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ConfirmPasswordReset)]
struct ConfirmResetRequest {
    /// The `token` parameter of the mailed link.
    token: String,
    #[schema(format = Password)]
    new_password: String,
}

/// Set a new password with a reset link.
///
/// `POST /api/v1/developer/reset-password/confirm`: every session of the
/// account ends and the address counts as verified.
#[utoipa::path(post, path = "/api/v1/developer/reset-password/confirm", tag = "accounts",
    request_body = ConfirmResetRequest,
    responses((status = 200, description = "Password set (`status`: `password_reset`)", body = doc::AccountStatus),
        (status = 400, description = "Invalid request: `invalid_token`, `weak_password` or a field", body = super::openapi::ErrorBody)))]
async fn confirm_reset_password(
    Api(api): Api,
    ApiJson(r): ApiJson<ConfirmResetRequest>,
) -> Result<Json<serde_json::Value>, ApiFailure> {
    api.accounts
        .confirm_password_reset(&r.token, r.new_password)
        .await?;
    Ok(Json(json!({"status": "password_reset"})))
}

/// The signed-in account.
///
/// `GET /api/v1/developer/profile`
#[utoipa::path(get, path = "/api/v1/developer/profile", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, description = "The account", body = Profile), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
async fn profile(AuthUser(who): AuthUser) -> Json<Profile> {
    Json(who.developer.into())
}

/// Profile changes; absent fields stay.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = UpdateProfile)]
struct ProfilePatch {
    full_name: Option<String>,
    /// Empty removes it.
    company_name: Option<String>,
    #[schema(value_type = Option<doc::DeveloperType>)]
    developer_type: Option<String>,
    #[schema(value_type = Option<doc::Language>)]
    language: Option<String>,
}

/// Change the profile.
///
/// `PATCH /api/v1/developer/profile`: name, company, account type,
/// language; absent fields stay.
#[utoipa::path(patch, path = "/api/v1/developer/profile", tag = "accounts", security(("bearer" = [])),
    request_body = ProfilePatch,
    responses((status = 200, description = "The account as it is now", body = Profile),
        (status = 400, description = "Invalid request", body = super::openapi::ErrorBody), (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody)))]
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

/// The current password and the new one.
#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = ChangePassword)]
struct ChangePasswordRequest {
    #[schema(format = Password)]
    current_password: String,
    #[schema(format = Password)]
    new_password: String,
}

/// Change the password.
///
/// `POST /api/v1/developer/change-password` → 204; other sessions end.
#[utoipa::path(post, path = "/api/v1/developer/change-password", tag = "accounts", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "Changed; the account's other sessions ended"),
        (status = 400, description = "Invalid request: `wrong_password` (the current one), `weak_password` or a field", body = super::openapi::ErrorBody),
        (status = 401, description = "No or bad access token", body = super::openapi::ErrorBody), (status = 403, description = "The account is suspended", body = super::openapi::ErrorBody),
        (status = 429, description = "Too many wrong passwords (`too_many_attempts`)", body = super::openapi::ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the lock ends")))))]
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
