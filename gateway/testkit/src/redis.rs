//! A Redis for tests: the run's own (`AIHUB_TEST_REDIS_URL`) when set, else
//! a private `redis-server` process on a free port (Debian's package), so
//! tests of shared limits run in every setup. Each user takes a unique key
//! prefix, so tests sharing one server never see each other's counters.

use crate::procs::{free_port, unique_name, Proc};
use std::process::Command;
use std::time::{Duration, Instant};

/// A reachable Redis.
pub struct TestRedis {
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
    /// A key prefix no other test uses (ends with `:`).
    pub prefix: String,
    server: Option<Proc>,
    /// A private server's port and folder, to start it again.
    private: Option<(u16, tempfile::TempDir)>,
}

impl TestRedis {
    /// The run's Redis, or a new private one.
    pub async fn start() -> anyhow::Result<TestRedis> {
        let prefix = format!("{}:", unique_name("t"));
        if let Some(url) = crate::procs::redis_url() {
            return Ok(TestRedis {
                url,
                prefix,
                server: None,
                private: None,
            });
        }
        Self::start_private().await
    }

    /// A new private server, even when the run has a Redis: for tests
    /// that stop and start it.
    pub async fn start_private() -> anyhow::Result<TestRedis> {
        let port = free_port();
        let dir = tempfile::tempdir()?;
        let server = Self::spawn(port, dir.path()).await?;
        Ok(TestRedis {
            url: format!("redis://127.0.0.1:{port}"),
            prefix: format!("{}:", unique_name("t")),
            server: Some(server),
            private: Some((port, dir)),
        })
    }

    /// Starts a stopped private server again, on the same port (empty: it
    /// keeps nothing on disk).
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop();
        let (port, dir) = self
            .private
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("only a private Redis can be restarted"))?;
        self.server = Some(Self::spawn(*port, dir.path()).await?);
        Ok(())
    }

    async fn spawn(port: u16, dir: &std::path::Path) -> anyhow::Result<Proc> {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir);
        let server = Proc::spawn(cmd)?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "redis-server did not listen on {port}: {}",
                server.log_tail(20)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    /// Whether this is a private server the test may stop.
    pub fn is_private(&self) -> bool {
        self.server.is_some()
    }

    /// Stops a private server (Redis down); no effect on a shared one.
    pub fn stop(&mut self) {
        if let Some(mut s) = self.server.take() {
            s.kill();
        }
    }
}
