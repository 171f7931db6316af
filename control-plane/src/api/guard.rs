//! Who is calling: the client's address ([`Client`]), an authenticated
//! developer ([`AuthUser`]) and an operator ([`AdminUser`], for every
//! `/api/v1/admin/*` route).

use super::{Api, ApiFailure};
use crate::accounts::{Authenticated, ClientMeta};
use crate::developers::Role;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::net::{IpAddr, SocketAddr};

/// The client's address and user agent.
pub struct Client(pub ClientMeta);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Api(api) = Api::from_request_parts(parts, state).await?;
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip().to_canonical());
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        Ok(Client(ClientMeta {
            ip: client_ip(peer, &parts.headers, &api.trusted_proxies),
            user_agent,
        }))
    }
}

/// The peer's address, or — when the peer is a trusted proxy (a gateway) —
/// the address it put last in `x-forwarded-for`.
fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> String {
    let Some(peer) = peer else {
        return "unknown".into();
    };
    if !trusted.iter().any(|net| net.contains(&peer)) {
        return peer.to_string();
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .next_back()
        .map(|ip| ip.to_canonical())
        .unwrap_or(peer)
        .to_string()
}

/// A request with a valid access token from a live session of an active
/// account. Missing, invalid or expired tokens and ended sessions: 401
/// `unauthorized`; suspended accounts: 403 `account_suspended`.
pub struct AuthUser(pub Authenticated);

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Api(api) = Api::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiFailure::unauthorized("expected an Authorization: Bearer <access token> header")
            })?;
        let who = api.accounts.authenticate(token).await?;
        Ok(AuthUser(who))
    }
}

/// An [`AuthUser`] whose account is an operator (role admin); anyone else
/// gets 403 `forbidden`. A read-only operator (support staff) passes only
/// for requests that change nothing (GET, HEAD).
pub struct AdminUser(pub Authenticated);

impl<S: Send + Sync> FromRequestParts<S> for AdminUser {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let AuthUser(who) = AuthUser::from_request_parts(parts, state).await?;
        if who.developer.role != Role::Admin {
            return Err(ApiFailure::forbidden("this route is for operators only"));
        }
        if who.developer.read_only && !parts.method.is_safe() {
            return Err(ApiFailure::forbidden(
                "this operator account is read-only: it can look but not change anything",
            ));
        }
        Ok(AdminUser(who))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_peers() {
        let trusted = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let gateway: IpAddr = "10.1.2.3".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(
            client_ip(Some(local), &headers(&["198.51.100.7"]), &trusted),
            "198.51.100.7"
        );
        assert_eq!(
            client_ip(
                Some(gateway),
                &headers(&["1.1.1.1, 198.51.100.7"]),
                &trusted
            ),
            "198.51.100.7"
        );
        assert_eq!(
            client_ip(Some(stranger), &headers(&["198.51.100.7"]), &trusted),
            "203.0.113.9"
        );
        assert_eq!(
            client_ip(Some(local), &headers(&["garbage"]), &trusted),
            "127.0.0.1"
        );
        assert_eq!(client_ip(Some(local), &headers(&[]), &trusted), "127.0.0.1");
        assert_eq!(client_ip(None, &headers(&[]), &trusted), "unknown");
    }
}
