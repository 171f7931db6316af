//! Signing a delivery, two ways at once:
//!
//! - **Standard Webhooks**: `webhook-id` (the event id, the same on every
//!   retry), `webhook-timestamp` (unix seconds) and `webhook-signature`:
//!   `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, one per
//!   active secret, space-separated (during a rotation both the new and the
//!   previous secret sign). Receivers can verify with the `standardwebhooks`
//!   packages.
//! - **The business plan's headers**: `X-AIHub-Event: <type>` and
//!   `X-AIHub-Signature: sha256=<hex HMAC-SHA256(key, body)>` with the
//!   current secret.

use super::secrets::SigningSecret;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// `User-Agent` of every delivery.
pub const USER_AGENT: &str = "AIHub-Webhook/1.0";

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC-SHA256 takes keys of any length.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// The headers of one delivery attempt.
pub fn headers(
    event_id: &str,
    event_type: &str,
    timestamp: i64,
    body: &[u8],
    current: &SigningSecret,
    previous: Option<&SigningSecret>,
) -> Vec<(&'static str, String)> {
    let ts = timestamp.to_string();
    let sign = |s: &SigningSecret| {
        let mac = hmac(
            &s.key_bytes(),
            &[event_id.as_bytes(), b".", ts.as_bytes(), b".", body],
        );
        format!("v1,{}", STANDARD.encode(mac))
    };
    let mut signatures = sign(current);
    if let Some(p) = previous {
        signatures.push(' ');
        signatures.push_str(&sign(p));
    }
    vec![
        ("webhook-id", event_id.to_string()),
        ("webhook-timestamp", ts),
        ("webhook-signature", signatures),
        ("x-aihub-event", event_type.to_string()),
        (
            "x-aihub-signature",
            format!(
                "sha256={}",
                hex::encode(hmac(&current.key_bytes(), &[body]))
            ),
        ),
        ("user-agent", USER_AGENT.to_string()),
        ("content-type", "application/json".to_string()),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_webhooks_reference_vector() {
        // The example in the Standard Webhooks specification.
        let secret = SigningSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let h = headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            "t",
            1614265330,
            body,
            &secret,
            None,
        );
        let sig = &h.iter().find(|(k, _)| *k == "webhook-signature").unwrap().1;
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn both_secrets_sign_during_a_rotation() {
        let a = SigningSecret::generate();
        let b = SigningSecret::generate();
        let h = headers("evt_1", "api_key.created", 1, b"{}", &a, Some(&b));
        let sig = &h.iter().find(|(k, _)| *k == "webhook-signature").unwrap().1;
        assert_eq!(sig.split(' ').count(), 2);
        let plan = &h.iter().find(|(k, _)| *k == "x-aihub-signature").unwrap().1;
        assert_eq!(
            plan,
            &format!("sha256={}", hex::encode(hmac(&a.key_bytes(), &[b"{}"])))
        );
    }
}
