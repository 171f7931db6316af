//! Helpers for end-to-end tests that start the workspace's real binaries.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use aihub_testkit::procs::{free_port, Proc};
//! use std::time::Duration;
//!
//! let port = free_port();
//! let mut gateway = Proc::bin(
//!     "aihub-gateway",
//!     &["--listen", &format!("127.0.0.1:{port}")],
//!     &[("RUST_LOG", "info")],
//! )?;
//! gateway
//!     .wait_http_ok(&format!("http://127.0.0.1:{port}/health"), Duration::from_secs(10))
//!     .await?;
//! // … drive it; on a failed assertion, print gateway.log_tail(50).
//! # Ok(()) }
//! ```

mod env;

pub use env::{
    clickhouse_url, database_url, postgres_database_url, python_venv, redis_url, sqlite_url,
    unique_name, TestEnv,
};

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// How often the `wait_*` helpers poll.
const POLL: Duration = Duration::from_millis(20);

/// A port that was free a moment ago on 127.0.0.1 (bind, release).
///
/// Ports are picked at random below the kernel's ephemeral range (32768
/// and up on Linux), never twice in one process: a port from `bind(0)` is
/// an ephemeral one, which another test's `bind(0)` or any outgoing
/// connection can take before our server binds it (a gateway then retries
/// "in use" while another test's control plane answers its port).
///
/// # Panics
/// When no port can be bound at all: nothing on this machine would work then.
pub fn free_port() -> u16 {
    use rand::Rng;
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
    let mut rng = rand::thread_rng();
    for _ in 0..2_000 {
        let port = rng.gen_range(20_000..32_768);
        if !given.contains(&port) && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    match std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot bind any port on 127.0.0.1: {e}"),
    }
}

/// `program`, run as the system user `user` (through `runuser`) when we
/// are root and that user exists, as database servers want; else as us.
pub fn command_as(user: &str, program: &Path) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let exists = Command::new("id")
        .arg(user)
        .output()
        .is_ok_and(|o| o.status.success());
    if root && exists {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Gives `path` (recursively) to the system user `user` when we are root
/// and it exists, so a server run through [`command_as`] can write there.
pub fn give_to(user: &str, path: &Path) -> anyhow::Result<()> {
    if Command::new("runuser")
        .args(["-u", user, "--", "true"])
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    {
        let status = Command::new("chown")
            .args(["-R", &format!("{user}:")])
            .arg(path)
            .status()?;
        anyhow::ensure!(status.success(), "chown of {} failed", path.display());
    }
    Ok(())
}

/// Sends SIGKILL to the process whose pid is the first line of `pid_file`
/// (a server started through `runuser`, which does not pass signals on).
pub fn kill_pid_file(pid_file: &Path) {
    if let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// The path of a workspace binary built in the same profile as the running
/// test (`target/<profile>/NAME`). `AIHUB_BIN_DIR` overrides the directory.
pub fn bin_path(name: &str) -> anyhow::Result<PathBuf> {
    let dir = match std::env::var_os("AIHUB_BIN_DIR").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => {
            let exe = std::env::current_exe().context("locating the test executable")?;
            // Test executables live in target/<profile>/deps; binaries one up.
            let mut dir = exe
                .parent()
                .context("the test executable has no parent directory")?;
            if dir.file_name() == Some(OsStr::new("deps")) {
                dir = dir.parent().unwrap_or(dir);
            }
            dir.to_path_buf()
        }
    };
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!(
            "binary `{name}` not found at {}: run `cargo build --workspace --bins` first \
             (with the same CARGO_TARGET_DIR and profile as the tests)",
            path.display()
        );
    }
    Ok(path)
}

/// A child process whose stdout and stderr go to files in its own temporary
/// directory. Killed (SIGKILL) on drop; when dropped during a panic, it prints
/// the tail of its output to stderr so the failing test shows why.
pub struct Proc {
    name: String,
    child: Child,
    exited: Option<ExitStatus>,
    stdout: PathBuf,
    stderr: PathBuf,
    // Declared last: removed after the child is gone.
    dir: tempfile::TempDir,
}

impl Proc {
    /// Spawns `cmd` (stdin closed, output to files). Environment, arguments
    /// and working directory are the caller's to set on `cmd`.
    pub fn spawn(mut cmd: Command) -> anyhow::Result<Proc> {
        let program = PathBuf::from(cmd.get_program());
        let name = program
            .file_name()
            .unwrap_or(program.as_os_str())
            .to_string_lossy()
            .into_owned();
        let dir = tempfile::Builder::new()
            .prefix(&format!("aihub-proc-{name}-"))
            .tempdir()
            .context("creating a temporary directory for process output")?;
        let stdout = dir.path().join("stdout.log");
        let stderr = dir.path().join("stderr.log");
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout).context("creating stdout.log")?)
            .stderr(File::create(&stderr).context("creating stderr.log")?);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        Ok(Proc {
            name,
            child,
            exited: None,
            stdout,
            stderr,
            dir,
        })
    }

    /// Spawns the workspace binary `name` (see [`bin_path`]) with `args` and
    /// extra environment variables.
    pub fn bin(name: &str, args: &[&str], envs: &[(&str, &str)]) -> anyhow::Result<Proc> {
        let mut cmd = Command::new(bin_path(name)?);
        cmd.args(args);
        for (key, value) in envs {
            cmd.env(key, value);
        }
        Self::spawn(cmd)
    }

    /// The program's file name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The OS process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The process's temporary directory (removed on drop); a handy place for
    /// its data files too.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Where stdout goes.
    pub fn stdout_path(&self) -> &Path {
        &self.stdout
    }

    /// Where stderr goes.
    pub fn stderr_path(&self) -> &Path {
        &self.stderr
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The last `n` lines of stdout and of stderr, labelled, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        format!(
            "--- {name} (pid {pid}) stdout, last {n} lines ---\n{out}\n--- {name} stderr, last {n} lines ---\n{err}",
            name = self.name,
            pid = self.child.id(),
            out = tail_lines(&self.stdout, n),
            err = tail_lines(&self.stderr, n),
        )
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.try_wait().is_none()
    }

    /// SIGKILL and reap. Idempotent.
    pub fn kill(&mut self) {
        if self.try_wait().is_some() {
            return;
        }
        let _ = self.child.kill();
        self.exited = self.child.wait().ok();
    }

    /// SIGTERM, then wait up to `timeout` for a graceful exit; SIGKILL and an
    /// error (with the log tail) when it does not come.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_wait() {
            return Ok(status);
        }
        let pid = i32::try_from(self.child.id()).context("pid out of range")?;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        )
        .with_context(|| format!("sending SIGTERM to {}", self.name))?;
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.try_wait() {
                return Ok(status);
            }
            std::thread::sleep(POLL);
        }
        self.kill();
        bail!(
            "{} did not exit within {timeout:?} of SIGTERM; killed\n{}",
            self.name,
            self.log_tail(40)
        )
    }

    /// Polls `url` until it answers 2xx; fails early, with the log tail, if
    /// the process exits, and with the last error and the log tail when
    /// `timeout` passes.
    pub async fn wait_http_ok(&mut self, url: &str, timeout: Duration) -> anyhow::Result<()> {
        let client = poll_client()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                bail!(
                    "{} exited ({status}) before {url} answered\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            let last = match probe(&client, url).await {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                bail!(
                    "{url} did not answer 2xx within {timeout:?} (last: {last})\n{}",
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls the output (stdout, then stderr) until a line contains `needle`
    /// and returns that line, e.g. `listening on 127.0.0.1:PORT`.
    pub async fn wait_for_line(
        &mut self,
        needle: &str,
        timeout: Duration,
    ) -> anyhow::Result<String> {
        let deadline = Instant::now() + timeout;
        loop {
            for text in [self.stdout(), self.stderr()] {
                if let Some(line) = text.lines().find(|l| l.contains(needle)) {
                    return Ok(line.to_owned());
                }
            }
            if let Some(status) = self.try_wait() {
                bail!(
                    "{} exited ({status}) without printing {needle:?}\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} did not print {needle:?} within {timeout:?}\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("{}", self.log_tail(60));
        }
    }
}

impl std::fmt::Debug for Proc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proc")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// Polls `url` until it answers 2xx, every 20 ms until `timeout`.
pub async fn wait_http_ok(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = poll_client()?;
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe(&client, url).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!("{url} did not answer 2xx within {timeout:?} (last: {last})");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn poll_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .context("building an HTTP client")
}

async fn probe(client: &reqwest::Client, url: &str) -> Result<(), String> {
    match client.get(url).send().await {
        Ok(r) if r.status().is_success() => Ok(()),
        Ok(r) => Err(format!("status {}", r.status())),
        Err(e) => Err(format!("{e}")),
    }
}

/// The last `n` lines of a file, reading at most its last 64 KiB.
fn tail_lines(path: &Path, n: usize) -> String {
    const MAX: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return String::from("(unreadable)");
    };
    let len = file.metadata().map_or(0, |m| m.len());
    if len > MAX {
        let _ = file.seek(SeekFrom::Start(len - MAX));
    }
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable() {
        let port = free_port();
        assert_ne!(port, 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    }

    #[test]
    fn missing_binary_says_how_to_fix() {
        let err = bin_path("no-such-binary-here").unwrap_err().to_string();
        assert!(err.contains("cargo build --workspace --bins"), "{err}");
    }

    #[test]
    fn captures_output_and_kills() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo one; echo two; echo oops >&2; exec sleep 30"]);
        let mut proc = Proc::spawn(cmd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !proc.stderr().contains("oops") && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let tail = proc.log_tail(1);
        assert!(
            tail.contains("two") && !tail.contains("one") && tail.contains("oops"),
            "{tail}"
        );
        assert!(proc.is_running());
        proc.kill();
        assert!(!proc.is_running());
    }

    #[test]
    fn terminate_is_graceful_when_the_child_obeys() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "trap 'echo bye; exit 3' TERM; echo ready; while :; do sleep 0.05; done",
        ]);
        let mut proc = Proc::spawn(cmd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !proc.stdout().contains("ready") && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let status = proc.terminate(Duration::from_secs(5)).unwrap();
        assert_eq!(status.code(), Some(3));
        assert!(proc.stdout().contains("bye"));
    }

    #[test]
    fn terminate_kills_a_stubborn_child() {
        let mut cmd = Command::new("sh");
        cmd.args([
            "-c",
            "trap '' TERM; echo ready; while :; do sleep 0.05; done",
        ]);
        let mut proc = Proc::spawn(cmd).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !proc.stdout().contains("ready") && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        let err = proc.terminate(Duration::from_millis(200)).unwrap_err();
        assert!(err.to_string().contains("did not exit"), "{err}");
        assert!(!proc.is_running());
    }

    #[tokio::test]
    async fn wait_http_ok_reports_an_early_exit_with_the_log() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo 'config invalid: set X' >&2; exit 2"]);
        let mut proc = Proc::spawn(cmd).unwrap();
        let port = free_port();
        let err = proc
            .wait_http_ok(&format!("http://127.0.0.1:{port}/"), Duration::from_secs(5))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exited") && err.contains("config invalid"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn wait_http_ok_times_out_with_the_last_error() {
        let port = free_port();
        let started = Instant::now();
        let err = wait_http_ok(
            &format!("http://127.0.0.1:{port}/"),
            Duration::from_millis(150),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(err.contains("did not answer 2xx"), "{err}");
    }
}
