//! HMAC signing of internal requests between the planes.
//!
//! Header `x-aihub-internal: t=<unix seconds>,v1=<hex>` where the hex is
//! HMAC-SHA256(shared secret, `t.METHOD.path_and_query.` ‖ body). A signature
//! is accepted within [`MAX_SKEW_SECS`] of the receiver's clock, compared in
//! constant time.
//!
//! **Batch traffic.** The control plane's batch workers send each batch item
//! through a gateway as the developer's key, without ever holding the key's
//! secret: the request carries [`BATCH_HEADER`] instead of an API key,
//!
//! ```text
//! x-aihub-batch: t=<unix secs>,key=<key id>,batch=<batch id>,discount=<0..=100>,v1=<hex>
//! ```
//!
//! where the hex is HMAC-SHA256(shared secret,
//! `batch.<t>.<key>.<batch>.<discount>.<METHOD>.<path>`) and `path` is the
//! request's path without its query. The gateway checks it with
//! [`verify_batch`] and then authenticates the request as key `key`, so the
//! key's scopes, limits, quotas and the account's funds apply as to any of
//! its requests. The body is not covered: a mark is bound to one key, one
//! batch, one method and path, and five minutes.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// Header that carries the signature.
pub const HEADER: &str = "x-aihub-internal";
/// Largest accepted clock difference, in seconds.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    /// No header, or not of the form `t=…,v1=…`.
    #[error("missing or malformed {HEADER} header")]
    Malformed,
    /// The timestamp is too far from now.
    #[error("signature timestamp outside the allowed window")]
    Expired,
    /// The MAC does not match.
    #[error("signature does not match")]
    Mismatch,
}

fn mac(secret: &[u8], ts: i64, method: &str, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(ts.to_string().as_bytes());
    m.update(b".");
    m.update(method.as_bytes());
    m.update(b".");
    m.update(path_and_query.as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().to_vec()
}

/// The header value for a request made at `now` (unix seconds).
pub fn sign(secret: &[u8], now: i64, method: &str, path_and_query: &str, body: &[u8]) -> String {
    format!(
        "t={now},v1={}",
        hex::encode(mac(secret, now, method, path_and_query, body))
    )
}

/// Checks a header value against the request it came with.
pub fn verify(
    secret: &[u8],
    now: i64,
    header: Option<&str>,
    method: &str,
    path_and_query: &str,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut ts = None;
    let mut sig = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => ts = v.parse::<i64>().ok(),
            Some(("v1", v)) => sig = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (ts, sig) = ts.zip(sig).ok_or(SignatureError::Malformed)?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(SignatureError::Expired);
    }
    let expected = mac(secret, ts, method, path_and_query, body);
    if expected.is_empty() || !bool::from(expected.ct_eq(&sig)) {
        return Err(SignatureError::Mismatch);
    }
    Ok(())
}

/// Header marking a request sent by the control plane's batch workers on
/// behalf of an API key (see the module documentation).
pub const BATCH_HEADER: &str = "x-aihub-batch";
/// Longest key or batch id a batch mark may carry.
pub const BATCH_ID_MAX_LEN: usize = 100;
/// Largest discount a batch mark may carry, percent.
pub const BATCH_MAX_DISCOUNT_PCT: u8 = 100;

/// What a verified [`BATCH_HEADER`] says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMark {
    /// The API key the request is made as (never a `:grace` entry).
    pub key_id: String,
    /// The batch the request belongs to.
    pub batch_id: String,
    /// Which of the batch's items: the request id is `<batch>-<item>`, the
    /// same on every attempt, so an item sent again after a crash is
    /// metered as the same request (once).
    pub item: u64,
    /// Discount on the request's cost, percent (0..=100).
    pub discount_pct: u8,
}

/// Whether `id` may appear as a key or batch id in a batch mark:
/// 1..=[`BATCH_ID_MAX_LEN`] characters of `[A-Za-z0-9_-]`.
pub fn is_valid_batch_mark_id(id: &str) -> bool {
    (1..=BATCH_ID_MAX_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[allow(clippy::too_many_arguments)]
fn batch_mac(
    secret: &[u8],
    ts: i64,
    key_id: &str,
    batch_id: &str,
    item: u64,
    discount_pct: u8,
    method: &str,
    path: &str,
) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    // No field before the path can contain a dot, so the message is unambiguous.
    m.update(
        format!("batch.{ts}.{key_id}.{batch_id}.{item}.{discount_pct}.{method}.{path}").as_bytes(),
    );
    m.finalize().into_bytes().to_vec()
}

/// The [`BATCH_HEADER`] value for a request made at `now` (unix seconds) as
/// key `key_id` for batch `batch_id` with `discount_pct` percent off, sent
/// as `method` to `path` (the path alone, no query; e.g.
/// `/v1/chat/completions`).
///
/// It signs whatever it is given; [`verify_batch`] refuses ids outside
/// [`is_valid_batch_mark_id`] and discounts above 100, so check them first.
#[allow(clippy::too_many_arguments)]
pub fn sign_batch(
    secret: &[u8],
    now: i64,
    key_id: &str,
    batch_id: &str,
    item: u64,
    discount_pct: u8,
    method: &str,
    path: &str,
) -> String {
    format!(
        "t={now},key={key_id},batch={batch_id},item={item},discount={discount_pct},v1={}",
        hex::encode(batch_mac(
            secret,
            now,
            key_id,
            batch_id,
            item,
            discount_pct,
            method,
            path
        ))
    )
}

/// A canonical unsigned decimal: digits only, no sign, no leading zero.
fn canonical_number(s: &str, max_len: usize) -> Option<u64> {
    let canonical = !s.is_empty()
        && s.len() <= max_len
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

/// Checks a [`BATCH_HEADER`] value against the request it came with
/// (`method`, and `path` without the query) at `now` (unix seconds).
///
/// Parsing is strict: exactly the fields `t`, `key`, `batch`, `discount`,
/// `v1` in that order, canonical decimals, ids as in
/// [`is_valid_batch_mark_id`], `discount` at most 100, `v1` 64 lowercase hex
/// digits. The timestamp must be within [`MAX_SKEW_SECS`] of `now`; the MAC
/// is compared in constant time. The error says which check failed and
/// never repeats the value.
pub fn verify_batch(
    secret: &[u8],
    header_value: &str,
    now: i64,
    method: &str,
    path: &str,
) -> Result<BatchMark, String> {
    const MALFORMED: &str = "malformed x-aihub-batch header";
    if secret.is_empty() {
        return Err("no shared secret to verify x-aihub-batch with".into());
    }
    let mut parts = header_value.trim().split(',');
    let mut field = |name: &str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(name))
            .and_then(|p| p.strip_prefix('='))
    };
    let (Some(t), Some(key_id), Some(batch_id), Some(item), Some(discount), Some(v1)) = (
        field("t"),
        field("key"),
        field("batch"),
        field("item"),
        field("discount"),
        field("v1"),
    ) else {
        return Err(MALFORMED.into());
    };
    if parts.next().is_some() {
        return Err(MALFORMED.into());
    }
    let ts = canonical_number(t, 18).and_then(|t| i64::try_from(t).ok());
    let discount = canonical_number(discount, 3)
        .filter(|d| *d <= u64::from(BATCH_MAX_DISCOUNT_PCT))
        .and_then(|d| u8::try_from(d).ok());
    let sig_ok = v1.len() == 64 && v1.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let item = canonical_number(item, 20);
    let (Some(ts), Some(item), Some(discount_pct)) = (ts, item, discount) else {
        return Err(MALFORMED.into());
    };
    if !sig_ok || !is_valid_batch_mark_id(key_id) || !is_valid_batch_mark_id(batch_id) {
        return Err(MALFORMED.into());
    }
    let sig = hex::decode(v1).map_err(|_| MALFORMED.to_string())?;
    if now.abs_diff(ts) > MAX_SKEW_SECS.unsigned_abs() {
        return Err("x-aihub-batch timestamp outside the allowed window".into());
    }
    let expected = batch_mac(
        secret,
        ts,
        key_id,
        batch_id,
        item,
        discount_pct,
        method,
        path,
    );
    if expected.is_empty() || !bool::from(expected.ct_eq(&sig)) {
        return Err("x-aihub-batch signature does not match".into());
    }
    Ok(BatchMark {
        key_id: key_id.to_string(),
        batch_id: batch_id.to_string(),
        item,
        discount_pct,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let h = sign(b"s3cret", 1000, "GET", "/internal/v1/snapshot", b"");
        assert_eq!(
            verify(
                b"s3cret",
                1010,
                Some(&h),
                "GET",
                "/internal/v1/snapshot",
                b""
            ),
            Ok(())
        );
        assert_eq!(
            verify(
                b"other",
                1010,
                Some(&h),
                "GET",
                "/internal/v1/snapshot",
                b""
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"s3cret",
                1010,
                Some(&h),
                "GET",
                "/internal/v1/changes",
                b""
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(
                b"s3cret",
                5000,
                Some(&h),
                "GET",
                "/internal/v1/snapshot",
                b""
            ),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(b"s3cret", 1000, Some("garbage"), "GET", "/", b""),
            Err(SignatureError::Malformed)
        );
    }

    const SECRET: &[u8] = b"batch-secret-0123456789-abcdefghijklmnop";
    const PATH: &str = "/v1/chat/completions";

    fn mark(discount_pct: u8) -> BatchMark {
        BatchMark {
            key_id: "key_01HX-abc".into(),
            batch_id: "batch_42".into(),
            item: 7,
            discount_pct,
        }
    }

    fn signed(now: i64, discount_pct: u8) -> String {
        sign_batch(
            SECRET,
            now,
            "key_01HX-abc",
            "batch_42",
            7,
            discount_pct,
            "POST",
            PATH,
        )
    }

    #[test]
    fn batch_round_trip() {
        let h = signed(1_000, 50);
        assert!(h.starts_with("t=1000,key=key_01HX-abc,batch=batch_42,item=7,discount=50,v1="));
        assert_eq!(verify_batch(SECRET, &h, 1_000, "POST", PATH), Ok(mark(50)));
        for d in [0, 1, 99, 100] {
            let h = signed(1_000, d);
            assert_eq!(verify_batch(SECRET, &h, 1_000, "POST", PATH), Ok(mark(d)));
        }
        // Surrounding whitespace is not part of a header value.
        assert_eq!(
            verify_batch(SECRET, &format!(" {h}\t"), 1_000, "POST", PATH),
            Ok(mark(50))
        );
        // The longest ids are accepted.
        let long = "k".repeat(BATCH_ID_MAX_LEN);
        let h = sign_batch(SECRET, 7, &long, &long, u64::MAX, 0, "POST", PATH);
        assert!(verify_batch(SECRET, &h, 7, "POST", PATH).is_ok());
    }

    #[test]
    fn batch_window_is_five_minutes_both_ways() {
        let h = signed(10_000, 50);
        for now in [10_000 - 300, 10_000 + 300] {
            assert!(verify_batch(SECRET, &h, now, "POST", PATH).is_ok(), "{now}");
        }
        for now in [10_000 - 301, 10_000 + 301, 0, i64::MAX, i64::MIN] {
            let err = verify_batch(SECRET, &h, now, "POST", PATH).unwrap_err();
            assert!(err.contains("window"), "{now}: {err}");
        }
    }

    /// Replaces the value of one field, keeping the signature.
    fn with_field(h: &str, name: &str, value: &str) -> String {
        h.split(',')
            .map(|p| match p.split_once('=') {
                Some((n, _)) if n == name => format!("{n}={value}"),
                _ => p.to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn batch_tampering_any_field_is_refused() {
        let h = signed(1_000, 50);
        let mismatch = |h: &str| {
            let err = verify_batch(SECRET, h, 1_000, "POST", PATH).unwrap_err();
            assert!(err.contains("does not match"), "{h}: {err}");
        };
        mismatch(&with_field(&h, "t", "1001"));
        mismatch(&with_field(&h, "key", "key_01HX-abd"));
        mismatch(&with_field(&h, "batch", "batch_43"));
        mismatch(&with_field(&h, "item", "8"));
        mismatch(&with_field(&h, "discount", "100"));
        mismatch(&with_field(&h, "discount", "0"));
        let v1 = h.rsplit_once("v1=").unwrap().1;
        let mut flipped = v1.to_string().into_bytes();
        flipped[10] = if flipped[10] == b'0' { b'1' } else { b'0' };
        mismatch(&with_field(
            &h,
            "v1",
            std::str::from_utf8(&flipped).unwrap(),
        ));
        // Another secret, method or path.
        assert!(verify_batch(b"another-secret", &h, 1_000, "POST", PATH).is_err());
        for (method, path) in [
            ("GET", PATH),
            ("post", PATH),
            ("POST", "/v1/embeddings"),
            ("POST", "/v1/chat/completions/"),
            ("POST", "/v1/chat/completions?x=1"),
        ] {
            let err = verify_batch(SECRET, &h, 1_000, method, path).unwrap_err();
            assert!(err.contains("does not match"), "{method} {path}: {err}");
        }
        // No secret never verifies anything.
        let empty = sign_batch(b"", 1_000, "key_1", "b_1", 1, 0, "POST", PATH);
        assert!(verify_batch(b"", &empty, 1_000, "POST", PATH).is_err());
    }

    #[test]
    fn batch_parsing_is_strict() {
        let h = signed(1_000, 50);
        let v1 = h.rsplit_once("v1=").unwrap().1.to_string();
        let malformed = [
            String::new(),
            "garbage".into(),
            format!("t=1000,key=key_01HX-abc,batch=batch_42,v1={v1}"),
            format!("t=1000,batch=batch_42,key=key_01HX-abc,discount=50,v1={v1}"),
            format!("{h},v1={v1}"),
            format!("{h},"),
            format!("t=1000, key=key_01HX-abc,batch=batch_42,discount=50,v1={v1}"),
            format!("t =1000,key=key_01HX-abc,batch=batch_42,discount=50,v1={v1}"),
            with_field(&h, "t", "01000"),
            with_field(&h, "t", "+1000"),
            with_field(&h, "t", "-1000"),
            with_field(&h, "t", ""),
            with_field(&h, "t", "99999999999999999999"),
            with_field(&h, "item", "07"),
            with_field(&h, "item", "-1"),
            with_field(&h, "item", ""),
            with_field(&h, "discount", "050"),
            with_field(&h, "discount", "101"),
            with_field(&h, "discount", "255"),
            with_field(&h, "discount", "-1"),
            with_field(&h, "discount", "5.5"),
            with_field(&h, "key", ""),
            with_field(&h, "key", "key_1:grace"),
            with_field(&h, "key", "key.1"),
            with_field(&h, "key", "kéy"),
            with_field(&h, "key", &"k".repeat(BATCH_ID_MAX_LEN + 1)),
            with_field(&h, "batch", ""),
            with_field(&h, "batch", "b/1"),
            with_field(&h, "batch", &"b".repeat(BATCH_ID_MAX_LEN + 1)),
            with_field(&h, "v1", &v1.to_uppercase()),
            with_field(&h, "v1", &v1[..62]),
            with_field(&h, "v1", &format!("{v1}00")),
            with_field(&h, "v1", &format!("{}zz", &v1[..62])),
        ];
        for bad in malformed {
            let err = verify_batch(SECRET, &bad, 1_000, "POST", PATH).unwrap_err();
            assert!(err.contains("malformed"), "{bad:?}: {err}");
            assert!(!err.contains(&v1), "the error must not repeat the value");
        }
    }

    #[test]
    fn batch_ids() {
        assert!(is_valid_batch_mark_id("key_AZaz09-_"));
        assert!(!is_valid_batch_mark_id(""));
        assert!(!is_valid_batch_mark_id("a b"));
        assert!(!is_valid_batch_mark_id("key_1:grace"));
        assert!(is_valid_batch_mark_id(&"x".repeat(100)));
        assert!(!is_valid_batch_mark_id(&"x".repeat(101)));
    }
}
