//! `aihub up` with a stand-in gateway binary placed next to a copy of
//! `aihub`: secret generation, the gateway's environment, signal forwarding,
//! and stopping when the gateway dies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use aihub_contract::{routes, signing};
use common::eventually;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

/// Records its environment, then runs until SIGTERM, which it records too.
const RECORDING_GATEWAY: &str = r#"#!/bin/sh
env | grep '^AIHUB_GW_' | sort > gateway-env.txt.tmp
mv gateway-env.txt.tmp gateway-env.txt
trap 'echo stopped > gateway-stopped.txt; exit 0' TERM
while :; do sleep 0.05; done
"#;

/// A folder holding `aihub` and, when given, a stand-in `aihub-gateway`.
fn stage(gateway_script: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let aihub = dir.path().join("aihub");
    if std::fs::hard_link(env!("CARGO_BIN_EXE_aihub"), &aihub).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_aihub"), &aihub).unwrap();
    }
    if let Some(script) = gateway_script {
        let gw = dir.path().join("aihub-gateway");
        std::fs::write(&gw, script).unwrap();
        std::fs::set_permissions(&gw, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

fn up(bin_dir: &Path, cwd: &Path, port: u16) -> Command {
    let mut cmd = Command::new(bin_dir.join("aihub"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AIHUB_") {
            cmd.env_remove(k);
        }
    }
    cmd.arg("up")
        .env("AIHUB_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("AIHUB_LOG__LEVEL", "warn")
        .current_dir(cwd)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    cmd
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn up_runs_both_planes_with_a_generated_secret_and_stops_both() {
    let bins = stage(Some(RECORDING_GATEWAY));
    let work = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = up(bins.path(), work.path(), port).spawn().unwrap();

    let env_file = work.path().join("gateway-env.txt");
    let gateway_env = eventually("the gateway to start", Duration::from_secs(30), || {
        let env_file = env_file.clone();
        async move { std::fs::read_to_string(env_file).ok() }
    })
    .await;

    let secret_file = work.path().join("data/internal-secret");
    let secret = std::fs::read_to_string(&secret_file).unwrap();
    let secret = secret.trim();
    assert_eq!(secret.len(), 48);
    let mode = std::fs::metadata(&secret_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token_secret_file = work.path().join("data/token-secret");
    let token_secret = std::fs::read_to_string(&token_secret_file).unwrap();
    assert_eq!(token_secret.trim().len(), 48);
    assert_ne!(token_secret.trim(), secret);
    assert_eq!(
        std::fs::metadata(&token_secret_file)
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert!(work.path().join("data/aihub.db").is_file());
    assert_eq!(
        gateway_env.lines().collect::<Vec<_>>(),
        vec![
            format!("AIHUB_GW_CONTROL_PLANE__SHARED_SECRET={secret}"),
            format!("AIHUB_GW_CONTROL_PLANE__URL=http://127.0.0.1:{port}"),
            "AIHUB_GW_SPOOL__DIR=./data/spool".to_string(),
        ]
    );

    // The gateway can use what it was given.
    let client = reqwest::Client::new();
    let sig = signing::sign(
        secret.as_bytes(),
        common::unix_now(),
        "GET",
        routes::SNAPSHOT,
        b"",
    );
    let snap = client
        .get(format!("http://127.0.0.1:{port}{}", routes::SNAPSHOT))
        .header(signing::HEADER, sig)
        .send()
        .await
        .unwrap();
    assert_eq!(snap.status(), 200);

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id().unwrap()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("aihub up must exit after SIGTERM")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        work.path().join("gateway-stopped.txt").is_file(),
        "SIGTERM was forwarded to the gateway"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("http://127.0.0.1:8080/v1"), "{stdout}");
    assert!(stdout.contains("aihub admin create-operator"), "{stdout}");
    assert!(!stdout.contains(secret), "the secret is not printed");
}

#[tokio::test]
async fn up_stops_when_the_gateway_dies() {
    let bins = stage(Some("#!/bin/sh\nexit 3\n"));
    let work = tempfile::tempdir().unwrap();
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        up(bins.path(), work.path(), free_port()).output(),
    )
    .await
    .expect("aihub up must exit when the gateway dies")
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the gateway exited"), "{err}");
}

#[tokio::test]
async fn up_explains_a_missing_gateway() {
    let bins = stage(None);
    let work = tempfile::tempdir().unwrap();
    let out = up(bins.path(), work.path(), free_port())
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cargo build --release"), "{err}");
}
