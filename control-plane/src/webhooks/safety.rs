//! Where deliveries may go. Endpoint URLs are `http` or `https`; unless
//! `webhooks.allow_private_networks` is set, a URL must not reach private,
//! loopback, link-local (cloud metadata lives at 169.254.169.254), shared,
//! multicast or reserved addresses. Literal addresses are checked when the
//! URL is accepted and before each delivery; host names are checked after
//! DNS resolution, by the HTTP client's own resolver ([`GuardedResolver`]),
//! so the address checked is the address connected to. Redirects are never
//! followed.

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Whether deliveries to `ip` are refused by default.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return forbidden_v4(v4);
            }
            let nets: [Ipv6Net; 5] = [
                net6("fc00::/7"),      // unique local (incl. fd00:ec2::254)
                net6("fe80::/10"),     // link-local
                net6("ff00::/8"),      // multicast
                net6("64:ff9b::/96"),  // NAT64 (reaches IPv4)
                net6("2001:db8::/32"), // documentation
            ];
            v6.is_loopback() || v6.is_unspecified() || nets.iter().any(|n| n.contains(&v6))
        }
    }
}

fn forbidden_v4(v4: Ipv4Addr) -> bool {
    let nets: [Ipv4Net; 4] = [
        net4("0.0.0.0/8"),
        net4("100.64.0.0/10"), // shared address space (carrier NAT)
        net4("198.18.0.0/15"), // benchmarking
        net4("240.0.0.0/4"),   // reserved, broadcast
    ];
    v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_multicast()
        || v4.is_documentation()
        || nets.iter().any(|n| n.contains(&v4))
}

fn net4(s: &str) -> Ipv4Net {
    s.parse().unwrap_or_else(|_| Ipv4Net::default())
}

fn net6(s: &str) -> Ipv6Net {
    s.parse().unwrap_or_else(|_| Ipv6Net::default())
}

/// Checks an endpoint URL's form (and a literal address in it); the
/// answer names what is wrong.
pub fn check_url(raw: &str, allow_private: bool) -> Result<reqwest::Url, String> {
    let url =
        reqwest::Url::parse(raw.trim()).map_err(|e| format!("url: not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("url: only http and https URLs can receive webhooks".into());
    }
    if raw.len() > 2048 {
        return Err("url: at most 2048 characters".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "url: credentials in the URL are not accepted; check signatures instead".into(),
        );
    }
    let literal = match url.host() {
        None => return Err("url: a host name is required".into()),
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (d == "localhost" || d.ends_with(".localhost")) {
                return Err(refused("localhost"));
            }
            None
        }
    };
    if let Some(ip) = literal {
        if !allow_private && is_forbidden(ip) {
            return Err(refused(&ip.to_string()));
        }
    }
    Ok(url)
}

fn refused(what: &str) -> String {
    format!(
        "url: {what} is a private, loopback or otherwise internal address; webhooks are only \
         delivered to public addresses"
    )
}

/// Resolves host names for the delivery client, dropping forbidden
/// addresses (all of them forbidden = the delivery fails).
#[derive(Debug, Clone)]
pub struct GuardedResolver {
    /// `webhooks.allow_private_networks`, now (the console may change it).
    pub allow_private: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl GuardedResolver {
    /// A resolver that allows private addresses or not, for good.
    pub fn fixed(allow_private: bool) -> Self {
        GuardedResolver {
            allow_private: std::sync::Arc::new(std::sync::atomic::AtomicBool::new(allow_private)),
        }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self
            .allow_private
            .load(std::sync::atomic::Ordering::Acquire);
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow || !is_forbidden(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(refused(&host).into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_refused_public_ones_pass() {
        for bad in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_forbidden(bad.parse().unwrap()), "{bad}");
        }
        for good in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
            assert!(!is_forbidden(good.parse().unwrap()), "{good}");
        }
    }

    #[test]
    fn urls_are_checked_before_anything_is_sent() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert!(check_url("ftp://example.com/hook", false).is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(check_url("http://[::1]/hook", false).is_err());
        assert!(check_url("http://localhost/hook", false).is_err());
        assert!(check_url("http://user:pw@example.com/", false).is_err());
        // The operator may allow them (local development, tests).
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_drops_internal_addresses() {
        let r = GuardedResolver::fixed(false);
        assert!(r.resolve("localhost".parse().unwrap()).await.is_err());
        let allowed = GuardedResolver::fixed(true);
        assert!(allowed
            .resolve("localhost".parse().unwrap())
            .await
            .unwrap()
            .next()
            .is_some());
    }
}
