//! HMAC signing of internal requests between the planes.
//!
//! Header `x-aihub-internal: t=<unix seconds>,v1=<hex>` where the hex is
//! HMAC-SHA256(shared secret, `t.METHOD.path_and_query.` ‖ body). A signature
//! is accepted within [`MAX_SKEW_SECS`] of the receiver's clock, compared in
//! constant time.

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

#[cfg(test)]
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
}
