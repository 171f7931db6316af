//! A private PostgreSQL server for tests that stop and start it (Debian's
//! `postgresql` package: `initdb` and `postgres` under
//! `/usr/lib/postgresql/<version>/bin`). As root it runs as the `postgres`
//! user, as the suite's own throwaway server does; otherwise as the caller.

use crate::procs::{command_as, free_port, give_to, kill_pid_file, Proc};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A running (or stopped) private server with trust authentication.
pub struct TestPostgres {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: tempfile::TempDir,
    bin: PathBuf,
    server: Option<Proc>,
}

/// The newest installed PostgreSQL's binaries.
fn bin_dir() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin).ok_or_else(|| {
        anyhow::anyhow!("no PostgreSQL under /usr/lib/postgresql (apt-get install postgresql)")
    })
}

impl TestPostgres {
    /// Creates a cluster in a temporary folder and starts it on a free port.
    pub async fn start() -> anyhow::Result<TestPostgres> {
        let bin = bin_dir()?;
        let dir = tempfile::tempdir()?;
        give_to("postgres", dir.path())?;
        let out = command_as("postgres", &bin.join("initdb"))
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8"])
            .args(["--locale=C.UTF-8", "--no-sync"])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut pg = TestPostgres {
            port: free_port(),
            dir,
            bin,
            server: None,
        };
        pg.start_server().await?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Kills the server at once (SIGKILL of the postmaster, as a crash or a
    /// lost machine would): connections break, nothing answers.
    pub fn kill(&mut self) {
        // The postmaster itself (as root, our child is `runuser`, which does
        // not pass SIGKILL on). Its children notice it is gone and exit; a
        // new postmaster refuses to start while they still hold the shared
        // memory, which `start_server` waits out.
        kill_pid_file(&self.dir.path().join("data").join("postmaster.pid"));
        if let Some(mut server) = self.server.take() {
            server.kill();
        }
    }

    /// Starts the server again on the same port and data.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.start_server().await
    }

    async fn start_server(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let mut cmd = command_as("postgres", &self.bin.join("postgres"));
            cmd.arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-p", &self.port.to_string()])
                .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
                .arg("-k")
                .arg(self.dir.path());
            let mut server = Proc::spawn(cmd)?;
            if self.wait_ready(&mut server, deadline).await {
                self.server = Some(server);
                return Ok(());
            }
            // It exited (the old children still held the cluster): again.
            anyhow::ensure!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                server.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Whether the server accepts queries before it exits or the deadline.
    async fn wait_ready(&self, server: &mut Proc, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            let ready = command_as("postgres", &self.bin.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .output()
                .is_ok_and(|o| o.status.success());
            if ready {
                return true;
            }
            if !server.is_running() {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.kill();
    }
}
