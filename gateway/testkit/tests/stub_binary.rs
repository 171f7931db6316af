//! The `aihub-stub-upstream` binary, driven through the process helpers the
//! end-to-end tests of other crates use.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use aihub_testkit::procs::{free_port, Proc};
use serde_json::{json, Value};

#[tokio::test]
async fn binary_announces_its_address_serves_and_stops_on_sigterm() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut proc = Proc::bin(
        "aihub-stub-upstream",
        &["--listen", &listen, "--name", "bin-stub", "--threads", "1"],
        &[],
    )
    .unwrap();
    let line = proc
        .wait_for_line("listening on", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(line, format!("listening on {listen}"));
    proc.wait_http_ok(
        &format!("http://{listen}/v1/models"),
        Duration::from_secs(5),
    )
    .await
    .unwrap();

    let v: Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{listen}/v1/chat/completions"))
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["system_fingerprint"], "bin-stub");
    assert_eq!(v["usage"]["prompt_tokens"], 1);

    let status = proc.terminate(Duration::from_secs(5)).unwrap();
    assert!(status.success(), "{status}\n{}", proc.log_tail(20));
}

#[tokio::test]
async fn binary_fail_status_flag() {
    let mut proc = Proc::bin("aihub-stub-upstream", &["--fail-status", "502"], &[]).unwrap();
    let line = proc
        .wait_for_line("listening on", Duration::from_secs(10))
        .await
        .unwrap();
    let addr = line.trim_start_matches("listening on ").to_owned();
    let r = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("http://{addr}/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error");
}
