//! Authentication building blocks for developer accounts:
//!
//! | module | holds |
//! | --- | --- |
//! | [`tokens`] | random single-use tokens (stored as SHA-256) and signed access tokens |
//! | [`account_tokens`] | single-use email verification and password reset tokens |
//! | [`sessions`] | login sessions and their rotating refresh tokens |
//! | [`throttle`] | in-process login throttling and lockout |
//!
//! The account flows that use them are in [`crate::accounts`]; the HTTP
//! routes in [`crate::api`].

pub mod account_tokens;
pub mod sessions;
pub mod throttle;
pub mod tokens;
