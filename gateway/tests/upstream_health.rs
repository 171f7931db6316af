//! Passive upstream health through the real binaries: a deployment failing
//! in a row is ejected (skipped while its fallback serves), probed once the
//! ejection is over, and back in rotation after a good probe; the gateway
//! reports all of it to the control plane, where the operator console reads
//! it (`GET /api/v1/admin/health`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_testkit::{StubConfig, StubUpstream};
use common::Stack;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The deployment's entry in the console's health list, once `check`
/// holds for it (gateways report every 200 ms here).
async fn console_shows(
    s: &Stack,
    token: &str,
    deployment: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Value = s
            .client
            .get(s.url("/api/v1/admin/health"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let entry = v["data"]
            .as_array()
            .and_then(|d| d.iter().find(|e| e["deployment_id"] == deployment))
            .cloned();
        if let Some(e) = entry.filter(|e| check(e)) {
            return e;
        }
        assert!(
            Instant::now() < deadline,
            "the console never showed it: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Which stand-in served a chat request (it must succeed).
async fn served_by(s: &Stack, key: &str) -> String {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    let r = s.post("/v1/chat/completions", key, body).await;
    assert_eq!(r.status(), 200);
    r.headers()["x-stub-upstream"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn a_failing_deployment_is_ejected_probed_and_restored_and_the_console_shows_it() {
    let flaky = StubUpstream::start(StubConfig {
        fail_status: Some(503),
        ..StubConfig::named("flaky")
    })
    .unwrap();
    let good = StubUpstream::start(StubConfig::named("good")).unwrap();
    let mut s = Stack::start().await;
    s.add_provider("flaky", "openai", &flaky.base_url(), "k1");
    s.add_provider("good", "openai", &good.base_url(), "k2");
    let flaky_dep = s.add_model("m", "flaky", &[]);
    s.add_model("m", "good", &["--priority", "1"]);
    // Ejected after 3 failures for 3 s; probes every 100 ms after that;
    // health reported every 200 ms.
    let config = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../config/gateway.toml"
    ))
    .unwrap();
    let tuned = config
        .replace(
            "\neject_after_failures = 5\n",
            "\neject_after_failures = 3\n",
        )
        .replace("\nejection_ms = 30000\n", "\nejection_ms = 3000\n")
        .replace(
            "\nprobe_interval_ms = 5000\n",
            "\nprobe_interval_ms = 100\n",
        )
        .replace("\nhealth_report_ms = 5000\n", "\nhealth_report_ms = 200\n");
    assert_eq!(tuned.matches("= 3000\n").count(), 1, "the defaults moved");
    let file = s.dir.path().join("gateway.toml");
    std::fs::write(&file, tuned).unwrap();
    s.gateway_env
        .push(("AIHUB_GW_CONFIG_FILE".into(), file.display().to_string()));
    let (_, _, key) = s.developer_with_key("dev@example.com", &[]);
    s.start_gateway().await;
    let admin = s.operator_token(s.gw_port, "olive@example.com").await;

    // Three failures in a row (each request falls back and succeeds).
    for _ in 0..3 {
        assert_eq!(served_by(&s, &key).await, "good");
    }
    assert_eq!(flaky.request_count(), 3);
    // Ejected: the fallback serves without trying it first.
    assert_eq!(served_by(&s, &key).await, "good");
    assert_eq!(flaky.request_count(), 3, "an ejected deployment was tried");
    let metrics = s.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("aihub_gateway_upstream_ejections_total")
                && l.contains(&flaky_dep)
                && l.ends_with(" 1")),
        "{metrics}"
    );
    let shown = console_shows(&s, &admin, &flaky_dep, |e| e["ejected"] == true).await;
    assert_eq!(shown["provider_name"], "flaky");
    assert_eq!(shown["model"], "m");
    assert_eq!(shown["errors"], 3);
    assert_eq!(shown["error_rate"], 1.0);
    assert_eq!(shown["gateways"], 1);

    // The provider recovers; once the ejection is over a probe finds it
    // and it takes the traffic again (it is the first priority).
    flaky.set_fail_status(None);
    let deadline = Instant::now() + Duration::from_secs(15);
    while served_by(&s, &key).await != "flaky" {
        assert!(Instant::now() < deadline, "never probed back into rotation");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_by(&s, &key).await, "flaky");
    let shown = console_shows(&s, &admin, &flaky_dep, |e| e["ejected"] == false).await;
    assert_eq!(shown["consecutive_failures"], 0);
    assert!(shown["latency_ms"].is_u64(), "{shown}");
}
