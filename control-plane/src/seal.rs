//! Secrets the control plane must read again (webhook signing secrets,
//! upstream provider keys) are stored sealed: ChaCha20-Poly1305 (`ring`)
//! under a key derived from `auth.token_secret` with HMAC-SHA256 and a
//! label per purpose, with the owning row's id as associated data, so a
//! sealed value can neither be read without the server secret nor moved to
//! another row. Changing `auth.token_secret` makes sealed values unreadable.

use crate::error::{DomainError, DomainResult};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use sha2::Sha256;

/// Seals and opens values for one purpose.
#[derive(Clone)]
pub struct Sealer {
    key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<key>)")
    }
}

impl Sealer {
    /// A sealer whose key derives from the server secret and `purpose` (a
    /// fixed label such as `b"aihub provider keys v1"`).
    pub fn new(server_secret: &[u8], purpose: &[u8]) -> Self {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(server_secret)
            .unwrap_or_else(|_| unreachable_hmac());
        mac.update(purpose);
        Sealer {
            key: mac.finalize().into_bytes().into(),
        }
    }

    fn aead(&self) -> DomainResult<LessSafeKey> {
        UnboundKey::new(&CHACHA20_POLY1305, &self.key)
            .map(LessSafeKey::new)
            .map_err(|_| DomainError::Internal("cannot build the sealing key".into()))
    }

    /// `base64(nonce ‖ ciphertext ‖ tag)`, bound to `owner`.
    pub fn seal(&self, owner: &str, plain: &[u8]) -> DomainResult<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let mut data = plain.to_vec();
        self.aead()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut data,
            )
            .map_err(|_| DomainError::Internal("cannot seal a secret".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(STANDARD.encode(out))
    }

    /// Opens what [`Sealer::seal`] made for `owner`; `None` when it was
    /// sealed for another owner, under another key, or is damaged.
    pub fn open(&self, owner: &str, sealed: &str) -> Option<Vec<u8>> {
        let raw = STANDARD.decode(sealed).ok()?;
        if raw.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self
            .aead()
            .ok()?
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// HMAC-SHA256 accepts keys of any length; this cannot happen.
fn unreachable_hmac() -> Hmac<Sha256> {
    #[allow(clippy::expect_used)]
    <Hmac<Sha256> as Mac>::new_from_slice(&[0u8; 32]).expect("HMAC takes any key length")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_for_their_owner_key_and_purpose() {
        let s = Sealer::new(b"server secret", b"purpose a");
        let sealed = s.seal("row_1", b"sk-upstream").unwrap();
        assert!(!sealed.contains("sk-upstream"));
        assert_eq!(s.open("row_1", &sealed).unwrap(), b"sk-upstream");
        // A fresh nonce each time.
        assert_ne!(s.seal("row_1", b"sk-upstream").unwrap(), sealed);
        assert_eq!(s.open("row_2", &sealed), None);
        assert_eq!(
            Sealer::new(b"other", b"purpose a").open("row_1", &sealed),
            None
        );
        assert_eq!(
            Sealer::new(b"server secret", b"purpose b").open("row_1", &sealed),
            None
        );
        assert_eq!(s.open("row_1", "not base64!"), None);
        assert_eq!(s.open("row_1", "AAAA"), None);
    }
}
