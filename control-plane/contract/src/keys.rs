//! The API key format, shared by the plane that issues keys and the plane
//! that checks them.
//!
//! `ahub_` + 43 random base62 characters (≈256 bits) + 6 base62 characters of
//! CRC-32 over the random part. The checksum lets a secret scanner (and the
//! gateway, before any lookup) tell a real key from a typo offline. Only the
//! lower-case hex SHA-256 of the whole secret is stored.

use rand::Rng;
use sha2::{Digest, Sha256};

/// Every key starts with this.
pub const PREFIX: &str = "ahub_";

/// Suffix of the gateway entry (and usage rows) of a regenerated key's
/// previous secret during its grace period: `<key_id>:grace`.
pub const GRACE_SUFFIX: &str = ":grace";

/// The key an entry id belongs to: `key_1:grace` → `key_1`.
pub fn base_key_id(id: &str) -> &str {
    id.strip_suffix(GRACE_SUFFIX).unwrap_or(id)
}
const RANDOM_LEN: usize = 43;
const CHECKSUM_LEN: usize = 6;
/// Length of a whole key.
pub const KEY_LEN: usize = PREFIX.len() + RANDOM_LEN + CHECKSUM_LEN;
const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key secret. Not `Debug`: it must never reach a log.
pub struct KeySecret(String);

impl KeySecret {
    /// Generates a new random key.
    pub fn generate() -> Self {
        let mut rng = rand::thread_rng();
        let random: String = (0..RANDOM_LEN)
            .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
            .collect();
        let checksum = checksum(&random);
        KeySecret(format!("{PREFIX}{random}{checksum}"))
    }

    /// The secret, to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What is stored: the SHA-256 of the secret.
    pub fn hash(&self) -> String {
        hash(&self.0)
    }

    /// A safe display form, e.g. `ahub_Ab3d…x9Yz`.
    pub fn display_prefix(&self) -> String {
        display_prefix(&self.0)
    }
}

fn checksum(random: &str) -> String {
    let mut n = crc32fast::hash(random.as_bytes()) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `candidate` has the shape and checksum of an AI Hub key.
pub fn is_well_formed(candidate: &str) -> bool {
    if candidate.len() != KEY_LEN || !candidate.starts_with(PREFIX) {
        return false;
    }
    let body = &candidate[PREFIX.len()..];
    if !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    checksum(random) == sum
}

/// Lower-case hex SHA-256 of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// `ahub_` + the first four and the last four characters of the random part.
pub fn display_prefix(secret: &str) -> String {
    if secret.len() < PREFIX.len() + 8 {
        return PREFIX.to_string();
    }
    let body = &secret[PREFIX.len()..];
    format!("{PREFIX}{}…{}", &body[..4], &body[body.len() - 4..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_validate_and_typos_do_not() {
        let k = KeySecret::generate();
        let s = k.expose().to_string();
        assert_eq!(s.len(), KEY_LEN);
        assert!(is_well_formed(&s));
        // Change one character of the random part.
        let mut bytes = s.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap_or_default();
        assert!(!is_well_formed(&typo));
        assert!(!is_well_formed("ahub_short"));
        assert!(!is_well_formed("sk-not-ours"));
        assert_eq!(k.hash(), hash(&s));
        assert_eq!(k.hash().len(), 64);
        assert!(k.display_prefix().starts_with("ahub_"));
        assert!(!k.display_prefix().contains(&s[10..30]));
    }

    #[test]
    fn keys_differ() {
        assert_ne!(
            KeySecret::generate().expose(),
            KeySecret::generate().expose()
        );
    }
}
