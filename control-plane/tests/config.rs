//! Configuration validation: every message names the key and what it expects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use aihub_control_plane::config::{Config, ConfigError, DEFAULTS};
use figment::providers::{Format, Toml};
use figment::Figment;

fn load(overrides: &str) -> Result<Config, ConfigError> {
    Config::from_figment(Figment::from(Toml::string(DEFAULTS)).merge(Toml::string(overrides)))
}

fn messages(overrides: &str) -> Vec<String> {
    load(overrides).unwrap_err().messages()
}

#[test]
fn the_documented_defaults_load() {
    let c = load("").unwrap();
    assert_eq!(c.server.listen, "127.0.0.1:8081");
    assert_eq!(c.database.url, "sqlite://data/aihub.db");
    assert_eq!(c.public.gateway_url, "http://127.0.0.1:8080");
}

#[test]
fn database_url_must_be_sqlite_or_postgres() {
    assert_eq!(
        messages("[database]\nurl = \"mysql://x\""),
        vec!["database.url: expected sqlite://… or postgres://…, got 'mysql://x'"]
    );
    // A password in the URL is not echoed.
    let m = messages("[database]\nurl = \"mysql://u:hunter2@h/db\"");
    assert!(!m[0].contains("hunter2"), "{m:?}");
    assert!(load("[database]\nurl = \"postgresql://u@h/db\"").is_ok());
}

#[test]
fn every_problem_is_reported_at_once() {
    let m = messages(
        r#"
        [server]
        listen = "localhost"
        [database]
        max_connections = 0
        [internal]
        shared_secret = "too-short"
        [public]
        gateway_url = "api.example.com"
        [log]
        level = "loud[["
        "#,
    );
    assert_eq!(m.len(), 5, "{m:?}");
    assert_eq!(
        m[0],
        "server.listen: expected an address like 127.0.0.1:8081, got 'localhost'"
    );
    assert_eq!(
        m[1],
        "database.max_connections: expected a number from 1 to 1000, got 0"
    );
    assert_eq!(
        m[2],
        "internal.shared_secret: expected at least 32 characters, got 9"
    );
    assert!(m[2].starts_with("internal.shared_secret:"));
    assert_eq!(
        m[3],
        "public.gateway_url: expected an http:// or https:// URL, got 'api.example.com'"
    );
    assert!(m[4].starts_with("log.level: expected"), "{}", m[4]);
    // The secret itself never appears in a message.
    assert!(!m.iter().any(|l| l.contains("too-short")));
}

#[test]
fn unknown_keys_and_wrong_types_are_refused_by_name() {
    let m = messages("[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"");
    assert!(m[0].contains("lisen"), "{m:?}");
    let m = messages("[log]\nformat = \"xml\"");
    assert!(m[0].contains("xml") && m[0].contains("format"), "{m:?}");
    let m = messages("[database]\nmax_connections = \"many\"");
    assert!(m[0].contains("max_connections"), "{m:?}");
    let m = messages("[usage]\nretention = 1");
    assert!(m[0].contains("usage"), "{m:?}");
}

#[test]
fn serve_requires_a_shared_secret() {
    let c = load("").unwrap();
    let err = c.require_shared_secret().unwrap_err().to_string();
    assert!(
        err.contains("internal.shared_secret: expected a secret of at least 32 characters"),
        "{err}"
    );
    assert!(err.contains("AIHUB_INTERNAL__SHARED_SECRET"));
    let c = load("[internal]\nshared_secret = \"0123456789abcdef0123456789abcdef\"").unwrap();
    assert!(c.require_shared_secret().is_ok());
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn serve_requires_a_token_secret() {
    let c = load("").unwrap();
    let err = c.require_token_secret().unwrap_err().to_string();
    assert!(
        err.contains("auth.token_secret: expected a secret of at least 32 characters"),
        "{err}"
    );
    assert!(err.contains("AIHUB_AUTH__TOKEN_SECRET"));
    let c = load("[auth]\ntoken_secret = \"0123456789abcdef0123456789abcdef\"").unwrap();
    assert!(c.require_token_secret().is_ok());
    assert!(!format!("{c:?}").contains("0123456789abcdef"));
}

#[test]
fn account_settings_are_validated() {
    let c = load("").unwrap();
    assert_eq!(c.accounts.signup.as_str(), "open");
    assert!(c.accounts.require_email_verification_for_keys);
    assert_eq!(c.public.portal_base(), "http://127.0.0.1:8080");
    assert_eq!(c.auth.trusted_networks().len(), 2);

    let m = messages(
        r#"
        [public]
        portal_url = "portal.example.com"
        [auth]
        token_secret = "short"
        trusted_proxies = ["10.0.0.0/8", "gateway-1"]
        max_failures_per_account = 0
        lockout_secs = 0
        [accounts]
        signup = "invite_only"
        [email]
        mode = "smtp"
        smtp_host = ""
        from = "not an address"
        "#,
    );
    let expected = [
        "public.portal_url: expected an http:// or https:// URL",
        "auth.token_secret: expected at least 32 characters, got 5",
        "auth.trusted_proxies: expected IP addresses or ranges like 10.0.0.0/8, got 'gateway-1'",
        "auth.max_failures_per_account: expected at least 1, got 0",
        "auth.lockout_secs: expected 1 to 86400 seconds, got 0",
        "accounts.invite_codes: signup = \"invite_only\" needs at least one code",
        "email.from: expected an address like",
        "email.smtp_host: expected the SMTP server's name",
    ];
    assert_eq!(m.len(), expected.len(), "{m:?}");
    for e in expected {
        assert!(m.iter().any(|l| l.starts_with(e)), "{e}: {m:?}");
    }
    assert!(!m
        .iter()
        .any(|l| l.contains("\"short\"") || l.contains("'short'")));

    let m = messages("[accounts]\nsignup = \"whenever\"");
    assert!(m[0].contains("signup"), "{m:?}");
    let m = messages("[accounts]\ninvite_codes = [\"abc\"]");
    assert!(
        m[0].starts_with("accounts.invite_codes: expected codes of at least 8"),
        "{m:?}"
    );

    let c = load("[public]\nportal_url = \"https://portal.example.com/\"").unwrap();
    assert_eq!(c.public.portal_base(), "https://portal.example.com");
}
