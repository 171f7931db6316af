//! Tokens: opaque random ones (refresh, email verification, password reset)
//! that are stored only as their SHA-256, and short-lived signed access
//! tokens (JWT, HS256) that carry who is calling.

use crate::config::SharedSecret;
use crate::developers::Role;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;

/// How long an access token is accepted.
pub const ACCESS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
/// Issuer and audience written into and required from access tokens, so a
/// token signed with the same key for another purpose is not accepted here.
const ISSUER: &str = "aihub";
const AUDIENCE: &str = "aihub-management-api";

/// A random token in clear: 32 bytes from the OS generator, base64url.
/// Shown once (in a response or an email); only its hash is stored. Not
/// `Debug`, so it cannot end up in a log by accident.
pub struct OpaqueToken(String);

impl OpaqueToken {
    /// A new random token.
    pub fn generate() -> OpaqueToken {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        OpaqueToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token itself, to hand out.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored.
    pub fn hash(&self) -> String {
        hash_token(&self.0)
    }
}

/// The stored form of a token: lowercase hex SHA-256. Lookups compare
/// hashes, so the database never sees the token and a timing difference in
/// the lookup says nothing about it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

/// What an access token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The developer (`dev_…`).
    pub sub: String,
    /// Their role when the token was issued.
    pub role: Role,
    /// The login session the token belongs to (`ses_…`).
    pub sid: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
}

/// Signs and verifies access tokens with the configured secret.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

/// A freshly signed access token.
pub struct IssuedAccess {
    /// The compact JWT.
    pub token: String,
    /// Seconds until it expires.
    pub expires_in: u64,
}

impl AccessTokens {
    /// Keys from `auth.token_secret`.
    pub fn new(secret: &SharedSecret) -> AccessTokens {
        let key = secret.expose().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "iss", "aud"]);
        AccessTokens {
            encoding: EncodingKey::from_secret(key),
            decoding: DecodingKey::from_secret(key),
            validation,
        }
    }

    /// Signs a token for `developer_id` in session `session_id`.
    pub fn issue(
        &self,
        developer_id: &str,
        role: Role,
        session_id: &str,
    ) -> Result<IssuedAccess, jsonwebtoken::errors::Error> {
        let now = crate::db::now_ms() / 1000;
        let ttl = ACCESS_TOKEN_TTL.as_secs();
        let claims = AccessClaims {
            sub: developer_id.to_string(),
            role,
            sid: session_id.to_string(),
            iat: now,
            exp: now + i64::try_from(ttl).unwrap_or(i64::MAX),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedAccess {
            token,
            expires_in: ttl,
        })
    }

    /// The claims of a valid, unexpired token signed with our key (the
    /// signature is checked in constant time); `None` otherwise.
    pub fn verify(&self, token: &str) -> Option<AccessClaims> {
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn tokens(secret: &str) -> AccessTokens {
        AccessTokens::new(&SharedSecret::new(secret))
    }

    #[test]
    fn opaque_tokens_are_random_and_hashed() {
        let a = OpaqueToken::generate();
        let b = OpaqueToken::generate();
        assert_ne!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert_eq!(a.hash(), hash_token(a.expose()));
        assert_eq!(a.hash().len(), 64);
        assert_ne!(a.hash(), a.expose());
    }

    #[test]
    fn access_tokens_round_trip_and_refuse_tampering() {
        let t = tokens("0123456789abcdef0123456789abcdef");
        let issued = t.issue("dev_1", Role::Admin, "ses_1").unwrap();
        assert_eq!(issued.expires_in, 900);
        let claims = t.verify(&issued.token).unwrap();
        assert_eq!(
            (claims.sub.as_str(), claims.role, claims.sid.as_str()),
            ("dev_1", Role::Admin, "ses_1")
        );
        assert_eq!(claims.exp - claims.iat, 900);

        // Another key, a changed payload, garbage: all refused.
        assert!(tokens("another-secret-another-secret-xx")
            .verify(&issued.token)
            .is_none());
        let mut parts: Vec<String> = issued.token.split('.').map(String::from).collect();
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({
                "sub": "dev_1", "role": "admin", "sid": "ses_1", "iat": claims.iat,
                "exp": claims.exp + 3600, "iss": ISSUER, "aud": AUDIENCE
            }))
            .unwrap(),
        );
        parts[1] = forged;
        assert!(t.verify(&parts.join(".")).is_none());
        assert!(t.verify("not-a-token").is_none());
    }

    #[test]
    fn expired_and_unsigned_tokens_are_refused() {
        let t = tokens("0123456789abcdef0123456789abcdef");
        let now = crate::db::now_ms() / 1000;
        let old = AccessClaims {
            sub: "dev_1".into(),
            role: Role::Developer,
            sid: "ses_1".into(),
            iat: now - 3600,
            exp: now - 60,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
        };
        let expired = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &old,
            &EncodingKey::from_secret(b"0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(t.verify(&expired).is_none());
        // "alg": "none" must not pass.
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&AccessClaims {
                exp: now + 600,
                ..old
            })
            .unwrap(),
        );
        assert!(t.verify(&format!("{header}.{payload}.")).is_none());
    }
}
