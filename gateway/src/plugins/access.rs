//! `access`: what an authenticated key may do, before anything is counted:
//! its endpoint scopes and its IP allow-list. (Its allowed models are
//! checked by `routing`, which knows the model.) Refusals are 403s that say
//! which rule refused and where to change it.
//!
//! Setting `trusted_proxies` (CIDRs): when the TCP peer is one of them, the
//! client address is the last `X-Forwarded-For` entry that is not — the one
//! a trusted load balancer saw. Otherwise the header is ignored, so clients
//! cannot choose their own address.

use crate::context::{Endpoint, RequestCtx, Route};
use crate::errors::ApiError;
use crate::pipeline::{settings, Plugin};
use crate::tables::KeyInfo;
use aihub_contract::snapshot::EndpointScope;
use async_trait::async_trait;
use ipnet::IpNet;
use pingora::http::RequestHeader;
use serde::Deserialize;
use std::net::IpAddr;

/// The plugin.
pub struct Access {
    trusted_proxies: Vec<IpNet>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

impl Access {
    /// Builds it from settings.
    pub fn build(table: toml::Table) -> Result<Box<dyn Plugin>, String> {
        let s: Settings = settings(table)?;
        let trusted_proxies = s
            .trusted_proxies
            .iter()
            .map(|c| parse_net(c).ok_or_else(|| format!("trusted_proxies: '{c}' is not a CIDR")))
            .collect::<Result<_, _>>()?;
        Ok(Box::new(Access { trusted_proxies }))
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|n| n.contains(&ip))
    }

    /// The client address: the peer, or behind trusted proxies the last
    /// untrusted `X-Forwarded-For` hop.
    fn client_ip(&self, req: &RequestHeader, peer: Option<IpAddr>) -> Option<IpAddr> {
        let peer = peer?;
        if !self.trusted(peer) {
            return Some(peer);
        }
        let mut client = peer;
        // Walk back from the nearest hop while it is a trusted proxy.
        let hops: Vec<IpAddr> = req
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|h| h.trim().parse().ok())
            .collect();
        for ip in hops.iter().rev() {
            client = *ip;
            if !self.trusted(*ip) {
                break;
            }
        }
        Some(client)
    }

    /// Resolves the client address (rewriting `ctx.ip` behind a trusted
    /// proxy) and checks it against the key's allow-list.
    fn check_ip(
        &self,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
        key: &KeyInfo,
    ) -> Result<(), ApiError> {
        let peer: Option<IpAddr> = ctx.ip.parse().ok();
        let client = self.client_ip(req, peer);
        if let Some(ip) = client {
            if Some(ip) != peer {
                ctx.ip = ip.to_string();
            }
        }
        if key.allows_ip(client) {
            return Ok(());
        }
        Err(ApiError::forbidden(
            "ip_not_allowed",
            format!(
                "This API key cannot be used from {}. Add the address to the key's IP allow-list in the AI Hub portal.",
                client.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string())
            ),
        ))
    }
}

/// A CIDR, or a bare address as a one-address network.
fn parse_net(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The scope an endpoint belongs to.
pub fn scope_of(endpoint: Endpoint) -> EndpointScope {
    match endpoint {
        Endpoint::ChatCompletions => EndpointScope::Chat,
        Endpoint::Completions => EndpointScope::Completions,
        Endpoint::Embeddings => EndpointScope::Embeddings,
    }
}

#[async_trait]
impl Plugin for Access {
    fn name(&self) -> &'static str {
        "access"
    }

    async fn on_request(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Result<(), ApiError> {
        let Some(key) = ctx.key.clone() else {
            // A call without a key (the management API and the portal,
            // forwarded to the control plane): behind trusted proxies the
            // control plane must still see the client's address (its login
            // throttling and audit log count per address), not the proxy's.
            if !self.trusted_proxies.is_empty() {
                if let Some(ip) = self.client_ip(req, ctx.ip.parse().ok()) {
                    ctx.ip = ip.to_string();
                }
            }
            return Ok(());
        };
        // The client address matters only behind trusted proxies or for a
        // key with an allow-list; most requests skip parsing it.
        if key.ip_allowlist.is_some() || !self.trusted_proxies.is_empty() {
            self.check_ip(req, ctx, &key)?;
        }
        if let Route::Model(endpoint) = ctx.route {
            let scope = scope_of(endpoint);
            if !key.allows_endpoint(scope) {
                return Err(ApiError::forbidden(
                    "endpoint_not_allowed",
                    format!(
                        "This API key is not allowed to call /v1/{}. Add the '{}' scope to the key in the AI Hub portal.",
                        endpoint.upstream_path().trim_start_matches('/'),
                        scope.as_str()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn plugin(trusted: &[&str]) -> Access {
        Access {
            trusted_proxies: trusted.iter().map(|c| parse_net(c).unwrap()).collect(),
        }
    }

    fn req(xff: &[&str]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        for v in xff {
            r.append_header("x-forwarded-for", *v).unwrap();
        }
        r
    }

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().unwrap();
        let r = req(&["198.51.100.7, 10.0.0.9"]);
        // Untrusted peer: the header is the client's own claim, ignored.
        assert_eq!(plugin(&[]).client_ip(&r, Some(peer)), Some(peer));
        // Trusted peer and trusted intermediate hop: the first untrusted hop.
        assert_eq!(
            plugin(&["10.0.0.0/8"]).client_ip(&r, Some(peer)),
            Some("198.51.100.7".parse().unwrap())
        );
        // A client-supplied first entry cannot hide behind an untrusted hop.
        let r = req(&["203.0.113.1", "198.51.100.7"]);
        assert_eq!(
            plugin(&["10.0.0.0/8"]).client_ip(&r, Some(peer)),
            Some("198.51.100.7".parse().unwrap())
        );
        assert_eq!(
            parse_net("2001:db8::1").unwrap().to_string(),
            "2001:db8::1/128"
        );
    }

    fn keyless_ctx(peer: &str) -> RequestCtx {
        let mut ctx = RequestCtx::new(std::sync::Arc::new(crate::tables::Tables::default()));
        ctx.route = Route::ControlPlane;
        ctx.ip = peer.to_string();
        ctx
    }

    #[tokio::test]
    async fn calls_without_a_key_get_the_client_address_behind_trusted_proxies() {
        let mut r = RequestHeader::build("POST", b"/api/v1/developer/login", None).unwrap();
        r.append_header("x-forwarded-for", "198.51.100.7").unwrap();
        // Behind a trusted load balancer: the client, which the gateway then
        // passes on to the control plane in X-Forwarded-For.
        let mut ctx = keyless_ctx("10.0.0.5");
        plugin(&["10.0.0.0/8"])
            .on_request(&r, &mut ctx)
            .await
            .unwrap();
        assert_eq!(ctx.ip, "198.51.100.7");
        // From an untrusted peer the header is only the caller's claim.
        let mut ctx = keyless_ctx("192.0.2.1");
        plugin(&["10.0.0.0/8"])
            .on_request(&r, &mut ctx)
            .await
            .unwrap();
        assert_eq!(ctx.ip, "192.0.2.1");
        // No trusted proxies configured: the peer, untouched.
        let mut ctx = keyless_ctx("10.0.0.5");
        plugin(&[]).on_request(&r, &mut ctx).await.unwrap();
        assert_eq!(ctx.ip, "10.0.0.5");
    }
}
