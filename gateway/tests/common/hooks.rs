//! A webhook receiver for end-to-end tests: `tests/python/webhook_receiver.py`
//! (verifies every delivery with the `standardwebhooks` package, logs one
//! JSON line per request), started on a free port.

use aihub_testkit::procs::{free_port, Proc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub fn python() -> PathBuf {
    aihub_testkit::procs::python_venv().expect(
        "AIHUB_TEST_PYTHON is not set: run the suite through `bash .ci/test`, which creates the venv",
    )
}

/// Starts the receiver on a free port; it answers 500 to the first `fail_first` requests.
pub async fn receiver(dir: &Path, secret_file: &Path, log: &Path, fail_first: u32) -> (Proc, u16) {
    let port = free_port();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/webhook_receiver.py"
    );
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .arg(port.to_string())
        .arg(secret_file)
        .arg(log)
        .arg(fail_first.to_string())
        .current_dir(dir);
    let p = Proc::spawn(cmd).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "receiver never listened: {}",
            p.log_tail(20)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (p, port)
}

pub fn log_lines(log: &Path) -> Vec<Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Waits until the receiver has answered 2xx to a delivery of every event in `ids`.
pub async fn wait_delivered(log: &Path, ids: &[String]) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lines = log_lines(log);
        let done = ids.iter().all(|id| {
            lines
                .iter()
                .any(|l| l["webhook_id"] == id.as_str() && l["answered"] == 204)
        });
        if done {
            return lines;
        }
        assert!(
            Instant::now() < deadline,
            "not all of {ids:?} were delivered; the receiver saw {lines:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
