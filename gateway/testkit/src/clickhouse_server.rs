//! A private ClickHouse server (Debian's `clickhouse-server`) for tests that
//! stop and start it, with the minimal configuration `.ci/test` uses (which
//! the old 18.16 release and current ones accept). As root it runs as the
//! `clickhouse` user when that exists.

use crate::procs::{command_as, free_port, give_to, kill_pid_file, Proc};
use std::path::Path;
use std::time::{Duration, Instant};

/// A running (or stopped) private server; user `default`, no password.
pub struct TestClickHouse {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    dir: tempfile::TempDir,
    server: Option<Proc>,
}

fn config(dir: &Path, http_port: u16, tcp_port: u16) -> String {
    let d = dir.display();
    format!(
        r#"<?xml version="1.0"?>
<yandex>
    <logger>
        <level>warning</level>
        <log>{d}/log/clickhouse-server.log</log>
        <errorlog>{d}/log/clickhouse-server.err.log</errorlog>
        <console>0</console>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <http_port>{http_port}</http_port>
    <tcp_port>{tcp_port}</tcp_port>
    <max_connections>256</max_connections>
    <max_concurrent_queries>50</max_concurrent_queries>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <mark_cache_size>67108864</mark_cache_size>
    <path>{d}/data/</path>
    <tmp_path>{d}/tmp/</tmp_path>
    <user_files_path>{d}/user_files/</user_files_path>
    <format_schema_path>{d}/format_schemas/</format_schema_path>
    <users_config>{d}/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>
    <mlock_executable>false</mlock_executable>
</yandex>
"#
    )
}

const USERS: &str = r#"<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
        <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
    </interval></default></quotas>
</yandex>
"#;

impl TestClickHouse {
    /// Writes a configuration in a temporary folder and starts the server.
    pub async fn start() -> anyhow::Result<TestClickHouse> {
        let dir = tempfile::tempdir()?;
        for sub in ["data", "tmp", "user_files", "format_schemas", "log"] {
            std::fs::create_dir_all(dir.path().join(sub))?;
        }
        let http_port = free_port();
        std::fs::write(
            dir.path().join("config.xml"),
            config(dir.path(), http_port, free_port()),
        )?;
        std::fs::write(dir.path().join("users.xml"), USERS)?;
        give_to("clickhouse", dir.path())?;
        let mut ch = TestClickHouse {
            url: format!("http://127.0.0.1:{http_port}"),
            dir,
            server: None,
        };
        ch.start_server().await?;
        Ok(ch)
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        kill_pid_file(&self.dir.path().join("clickhouse.pid"));
        // Also by its (unique) configuration path: the server may not have
        // written its pid file yet, and `runuser` does not pass SIGKILL on.
        let config = self.dir.path().join("config.xml");
        let _ = std::process::Command::new("pkill")
            .arg("-KILL")
            .arg("-f")
            .arg(format!("config-file={}", config.display()))
            .status();
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
            let mut cmd = command_as("clickhouse", Path::new("clickhouse-server"));
            cmd.arg(format!(
                "--config-file={}",
                self.dir.path().join("config.xml").display()
            ))
            .arg(format!(
                "--pid-file={}",
                self.dir.path().join("clickhouse.pid").display()
            ))
            .current_dir(self.dir.path());
            let mut server = Proc::spawn(cmd)?;
            while Instant::now() < deadline && server.is_running() {
                if crate::clickhouse::query(&self.url, "SELECT 1")
                    .await
                    .is_ok_and(|t| t.trim() == "1")
                {
                    self.server = Some(server);
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            // It exited (the killed one still held its port or files): again.
            anyhow::ensure!(
                Instant::now() < deadline,
                "ClickHouse did not answer on {}: {}",
                self.url,
                server.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

impl Drop for TestClickHouse {
    fn drop(&mut self) {
        self.kill();
    }
}
