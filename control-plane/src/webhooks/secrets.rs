//! Endpoint signing secrets: `whsec_` + base64 of 24 random bytes, as
//! Standard Webhooks defines them. They must be readable again to sign, so
//! they are stored sealed with ChaCha20-Poly1305 (`ring`) under a key
//! derived from `auth.token_secret` (HMAC-SHA256 with a fixed label); the
//! endpoint id is the associated data, so a sealed secret cannot be moved
//! to another endpoint. Changing `auth.token_secret` makes stored webhook
//! secrets unreadable: endpoints then need a new secret (rotate).

use crate::error::{DomainError, DomainResult};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

const PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;

/// A signing secret in clear (`whsec_…`). Never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

impl SigningSecret {
    /// A new random secret.
    pub fn generate() -> Self {
        let mut raw = [0u8; SECRET_BYTES];
        rand::thread_rng().fill_bytes(&mut raw);
        SigningSecret(format!("{PREFIX}{}", STANDARD.encode(raw)))
    }

    /// Parses a `whsec_…` string.
    pub fn parse(s: &str) -> Option<Self> {
        let b64 = s.strip_prefix(PREFIX)?;
        let raw = STANDARD.decode(b64).ok()?;
        (!raw.is_empty()).then(|| SigningSecret(s.to_string()))
    }

    /// The `whsec_…` form, to show the developer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The HMAC key: the bytes after `whsec_`, base64-decoded.
    pub fn key_bytes(&self) -> Vec<u8> {
        self.0
            .strip_prefix(PREFIX)
            .and_then(|b| STANDARD.decode(b).ok())
            .unwrap_or_default()
    }

    /// A safe hint for lists: `whsec_` and the first four characters.
    pub fn hint(&self) -> String {
        let shown: String = self.0.chars().take(PREFIX.len() + 4).collect();
        format!("{shown}…")
    }
}

/// Seals and opens endpoint secrets ([`crate::seal::Sealer`] under the
/// label the secrets have always been sealed with).
#[derive(Clone, Debug)]
pub struct Sealer(crate::seal::Sealer);

impl Sealer {
    /// A sealer whose key derives from the server secret.
    pub fn new(server_secret: &[u8]) -> Self {
        Sealer(crate::seal::Sealer::new(
            server_secret,
            b"aihub webhook secrets v1",
        ))
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`, bound to `endpoint_id`.
    pub fn seal(&self, endpoint_id: &str, secret: &SigningSecret) -> DomainResult<String> {
        self.0.seal(endpoint_id, secret.0.as_bytes())
    }

    /// Opens what [`Sealer::seal`] made for `endpoint_id`.
    pub fn open(&self, endpoint_id: &str, sealed: &str) -> DomainResult<SigningSecret> {
        let unreadable = || {
            DomainError::Internal(format!(
                "the signing secret of {endpoint_id} cannot be read (was auth.token_secret changed?): rotate it"
            ))
        };
        let plain = self.0.open(endpoint_id, sealed).ok_or_else(unreadable)?;
        let text = std::str::from_utf8(&plain).map_err(|_| unreadable())?;
        SigningSecret::parse(text).ok_or_else(unreadable)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_look_like_standard_webhooks_and_seal_per_endpoint() {
        let s = SigningSecret::generate();
        assert!(s.expose().starts_with("whsec_"));
        assert_eq!(s.key_bytes().len(), SECRET_BYTES);
        assert!(!format!("{s:?}").contains(s.expose()));
        let sealer = Sealer::new(b"server secret");
        let sealed = sealer.seal("we_1", &s).unwrap();
        assert!(!sealed.contains(s.expose()));
        assert_eq!(sealer.open("we_1", &sealed).unwrap(), s);
        // Bound to its endpoint and its server secret.
        assert!(sealer.open("we_2", &sealed).is_err());
        assert!(Sealer::new(b"other").open("we_1", &sealed).is_err());
        assert_eq!(SigningSecret::parse("nope"), None);
    }
}
