//! Stored answers for requests sent with an `Idempotency-Key` header: the
//! same key from the same developer within [`WINDOW_MS`] gets the first
//! answer again; the same key with a different body is a conflict.
//!
//! Answers that carry a new API key's secret must not leave that secret
//! readable in the database (keys are otherwise stored only as hashes), so
//! the secret is kept sealed: XOR-ed with an HMAC-SHA256 keystream keyed by
//! the control plane's `auth.token_secret` and bound to the developer and
//! the idempotency key. Reading it back needs the server secret and the
//! client's idempotency key; rows older than the window are deleted.

use crate::db;
use crate::error::{DomainError, DomainResult};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{AnyConnection, Row};

/// How long an answer is replayed.
pub const WINDOW_MS: i64 = 24 * 3_600_000;
/// The longest idempotency key accepted.
pub const MAX_KEY_LEN: usize = 255;

/// What a stored key says about a request.
pub enum Lookup {
    /// Not seen (or seen more than [`WINDOW_MS`] ago): run the request.
    New,
    /// Seen with the same body: answer this again.
    Replay {
        /// Status of the first answer.
        status: u16,
        /// Body of the first answer (secret restored).
        body: Value,
    },
    /// Seen with a different body.
    Conflict,
}

/// SHA-256 of a request body in canonical JSON (object keys sorted).
pub fn request_hash(body: &Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

/// Checks a header value: 1 to [`MAX_KEY_LEN`] visible ASCII characters.
pub fn check_key(raw: &str) -> DomainResult<()> {
    if raw.is_empty() || raw.len() > MAX_KEY_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::invalid(format!(
            "Idempotency-Key: expected 1 to {MAX_KEY_LEN} visible ASCII characters"
        )));
    }
    Ok(())
}

fn keystream(secret: &[u8], developer_id: &str, key: &str, len: usize) -> DomainResult<Vec<u8>> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block: u32 = 0;
    while out.len() < len {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret)
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        mac.update(b"aihub-idempotency-v1\0");
        mac.update(developer_id.as_bytes());
        mac.update(b"\0");
        mac.update(key.as_bytes());
        mac.update(b"\0");
        mac.update(&block.to_be_bytes());
        out.extend_from_slice(&mac.finalize().into_bytes());
        block += 1;
    }
    out.truncate(len);
    Ok(out)
}

fn xor(data: &[u8], stream: &[u8]) -> Vec<u8> {
    data.iter().zip(stream).map(|(a, b)| a ^ b).collect()
}

/// Looks `key` up for `developer_id`.
pub async fn lookup(
    conn: &mut AnyConnection,
    server_secret: &[u8],
    developer_id: &str,
    key: &str,
    hash: &str,
) -> DomainResult<Lookup> {
    let row = sqlx::query(
        "SELECT request_hash, response_status, response_body, secret_sealed \
         FROM idempotency_keys WHERE developer_id = $1 AND idem_key = $2 AND created_at > $3",
    )
    .bind(developer_id)
    .bind(key)
    .bind(db::now_ms() - WINDOW_MS)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Lookup::New);
    };
    let stored_hash: String = row.try_get("request_hash")?;
    if stored_hash != hash {
        return Ok(Lookup::Conflict);
    }
    let status: i64 = row.try_get("response_status")?;
    let text: String = row.try_get("response_body")?;
    let sealed: Option<String> = row.try_get("secret_sealed")?;
    let mut body: Value = serde_json::from_str(&text)
        .map_err(|e| DomainError::Internal(format!("stored answer is not JSON: {e}")))?;
    if let Some(sealed) = sealed {
        let data = hex::decode(sealed).map_err(|e| DomainError::Internal(e.to_string()))?;
        let stream = keystream(server_secret, developer_id, key, data.len())?;
        let secret = String::from_utf8(xor(&data, &stream))
            .map_err(|e| DomainError::Internal(e.to_string()))?;
        if let Some(obj) = body.as_object_mut() {
            obj.insert("secret".into(), Value::String(secret));
        }
    }
    Ok(Lookup::Replay {
        status: u16::try_from(status).unwrap_or(200),
        body,
    })
}

/// Stores the answer to a new request (in the request's transaction). A
/// `secret` field of `body` is stored sealed. Fails with a unique violation
/// when a concurrent request with the same key stored first.
pub async fn store(
    conn: &mut AnyConnection,
    server_secret: &[u8],
    developer_id: &str,
    key: &str,
    hash: &str,
    status: u16,
    body: &Value,
) -> DomainResult<()> {
    let now = db::now_ms();
    // Expired answers: this key's (so it can be reused) and everyone's.
    sqlx::query("DELETE FROM idempotency_keys WHERE created_at <= $1")
        .bind(now - WINDOW_MS)
        .execute(&mut *conn)
        .await?;
    let mut stored = body.clone();
    let mut sealed = None;
    if let Some(obj) = stored.as_object_mut() {
        if let Some(Value::String(secret)) = obj.remove("secret") {
            let stream = keystream(server_secret, developer_id, key, secret.len())?;
            sealed = Some(hex::encode(xor(secret.as_bytes(), &stream)));
        }
    }
    sqlx::query(
        "INSERT INTO idempotency_keys (developer_id, idem_key, request_hash, response_status, \
         response_body, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(developer_id)
    .bind(key)
    .bind(hash)
    .bind(i64::from(status))
    .bind(stored.to_string())
    .bind(sealed)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealing_round_trips_and_depends_on_every_input() {
        let s = keystream(b"server", "dev_1", "k1", 60).unwrap();
        assert_eq!(s.len(), 60);
        let data = b"ahub_secret";
        assert_eq!(xor(&xor(data, &s), &s), data);
        assert_ne!(s, keystream(b"server", "dev_2", "k1", 60).unwrap());
        assert_ne!(s, keystream(b"server", "dev_1", "k2", 60).unwrap());
        assert_ne!(s, keystream(b"other", "dev_1", "k1", 60).unwrap());
    }

    #[test]
    fn keys_are_visible_ascii() {
        assert!(check_key("order-123").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("a b").is_err());
        assert!(check_key(&"x".repeat(256)).is_err());
    }
}
