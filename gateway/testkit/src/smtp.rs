//! A real SMTP server for tests: Python's `aiosmtpd` in its own process,
//! with a small handler that stores every message it accepts as JSON
//! (recipients, subject, plain and HTML bodies, decoded by Python's `email`
//! package).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use aihub_testkit::smtp::SmtpServer;
//! use std::time::Duration;
//!
//! let smtp = SmtpServer::start().await?;
//! // … point the system under test at 127.0.0.1:{smtp.port()} (no TLS) …
//! let mail = smtp
//!     .wait_for("ada@example.com", "Verify", Duration::from_secs(30))
//!     .await?;
//! let link = mail.find_link("/verify-email?token=");
//! # Ok(()) }
//! ```
//!
//! The interpreter is `AIHUB_TEST_PYTHON` (the suite's venv, where
//! `.ci/test` installs `aiosmtpd`) when it has the package, else `python3`
//! or `/usr/bin/python3` (Debian's `python3-aiosmtpd`).

use crate::procs::{free_port, Proc};
use anyhow::{bail, Context as _};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt as _;

/// The handler class `aiosmtpd` loads (`-c aihub_smtp_sink.JsonMailbox DIR`).
const HANDLER: &str = r#"
import email
import email.policy
import json
import os


class JsonMailbox:
    """Stores each accepted message as DIR/NNNNNN.json."""

    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("usage: -c aihub_smtp_sink.JsonMailbox DIRECTORY")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        msg = email.message_from_bytes(raw, policy=email.policy.default)

        def body(kind):
            part = msg.get_body(preferencelist=(kind,))
            return part.get_content() if part is not None else ""

        record = {
            "mail_from": envelope.mail_from or "",
            "to": list(envelope.rcpt_tos),
            "from": str(msg.get("from", "")),
            "subject": str(msg.get("subject", "")),
            "body_text": body("plain"),
            "body_html": body("html"),
        }
        self.count += 1
        name = os.path.join(self.directory, "%06d" % self.count)
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.rename(name + ".tmp", name + ".json")
        return "250 Message accepted for delivery"
"#;

/// How long [`SmtpServer::start`] waits for the greeting.
const START_TIMEOUT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(25);

/// One message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReceivedMail {
    /// Envelope recipients, joined with ", ".
    #[serde(deserialize_with = "join_recipients")]
    pub to: String,
    /// The `From` header.
    pub from: String,
    /// Decoded subject.
    pub subject: String,
    /// The text/plain body (decoded), empty when there is none.
    pub body_text: String,
    /// The text/html body (decoded), empty when there is none.
    pub body_html: String,
}

fn join_recipients<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Vec::<String>::deserialize(d)?.join(", "))
}

impl ReceivedMail {
    /// Whether `address` is one of the recipients (case-insensitive).
    pub fn is_to(&self, address: &str) -> bool {
        self.to
            .split(", ")
            .any(|r| r.trim().eq_ignore_ascii_case(address.trim()))
    }

    /// The first URL in the plain-text body containing `needle` (e.g.
    /// `"/verify-email?token="`).
    pub fn find_link(&self, needle: &str) -> Option<String> {
        self.body_text
            .split_whitespace()
            .find(|w| w.starts_with("http") && w.contains(needle))
            .map(|w| w.trim_end_matches(['.', ',', ')', '>']).to_string())
    }

    /// The value of `token=` in the first link containing `needle`.
    pub fn token_in_link(&self, needle: &str) -> Option<String> {
        let link = self.find_link(needle)?;
        let (_, query) = link.split_once('?')?;
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix("token="))
            .map(str::to_string)
    }
}

/// A running `aiosmtpd` on 127.0.0.1, plain SMTP (no TLS, no AUTH).
/// Killed on drop.
pub struct SmtpServer {
    proc: Proc,
    port: u16,
    mail_dir: PathBuf,
    // Declared last: removed after the process is gone.
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for SmtpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpServer")
            .field("port", &self.port)
            .field("pid", &self.proc.id())
            .finish()
    }
}

impl SmtpServer {
    /// Starts a server on a free port and waits for its greeting.
    pub async fn start() -> anyhow::Result<SmtpServer> {
        Self::start_on(free_port()).await
    }

    /// Starts a server on `port` (e.g. one a system under test was already
    /// configured with while no server was listening).
    pub async fn start_on(port: u16) -> anyhow::Result<SmtpServer> {
        let python = python()?;
        let dir = tempfile::Builder::new()
            .prefix("aihub-smtp-")
            .tempdir()
            .context("creating the SMTP server's directory")?;
        let mail_dir = dir.path().join("mail");
        std::fs::create_dir(&mail_dir).context("creating the mail directory")?;
        std::fs::write(dir.path().join("aihub_smtp_sink.py"), HANDLER)
            .context("writing the SMTP handler")?;
        let mut cmd = Command::new(python);
        cmd.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aihub_smtp_sink.JsonMailbox"])
            .arg(&mail_dir)
            .env("PYTHONPATH", dir.path())
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1");
        let mut proc = Proc::spawn(cmd)?;
        wait_for_greeting(&mut proc, port).await?;
        Ok(SmtpServer {
            proc,
            port,
            mail_dir,
            _dir: dir,
        })
    }

    /// The port it listens on (host 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        read_messages(&self.mail_dir)
    }

    /// Waits until a message to `to` whose subject contains
    /// `subject_contains` has arrived and returns the newest such message.
    pub async fn wait_for(
        &self,
        to: &str,
        subject_contains: &str,
        timeout: Duration,
    ) -> anyhow::Result<ReceivedMail> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self
                .messages()
                .into_iter()
                .rev()
                .find(|m| m.is_to(to) && m.subject.contains(subject_contains));
            if let Some(mail) = found {
                return Ok(mail);
            }
            if Instant::now() >= deadline {
                let seen: Vec<String> = self
                    .messages()
                    .iter()
                    .map(|m| format!("to {} — {}", m.to, m.subject))
                    .collect();
                bail!(
                    "no mail to {to} with a subject containing {subject_contains:?} within {timeout:?}; received: {seen:?}\n{}",
                    self.proc.log_tail(20)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stops the server (SIGKILL); messages already stored stay readable.
    pub fn stop(&mut self) {
        self.proc.kill();
    }
}

fn read_messages(dir: &Path) -> Vec<ReceivedMail> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
        .collect()
}

/// Polls until the server answers with its `220` greeting.
async fn wait_for_greeting(proc: &mut Proc, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = proc.try_wait() {
            bail!(
                "the SMTP server exited ({status}) before answering on port {port}\n{}",
                proc.log_tail(40)
            );
        }
        if greeting(port).await {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "the SMTP server did not greet on 127.0.0.1:{port} within {START_TIMEOUT:?}\n{}",
                proc.log_tail(40)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn greeting(port: u16) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.ok()?;
        buf[..n].starts_with(b"220").then_some(())
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), attempt).await,
        Ok(Some(()))
    )
}

/// The first interpreter that can import `aiosmtpd` (checked once).
fn python() -> anyhow::Result<PathBuf> {
    static FOUND: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let mut candidates: Vec<PathBuf> = Vec::new();
            if let Some(venv) = crate::procs::python_venv() {
                candidates.push(venv);
            }
            candidates.push(PathBuf::from("python3"));
            candidates.push(PathBuf::from("/usr/bin/python3"));
            candidates
                .iter()
                .find(|p| {
                    Command::new(p)
                        .args(["-c", "import aiosmtpd"])
                        .output()
                        .is_ok_and(|o| o.status.success())
                })
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "no Python with aiosmtpd among {candidates:?}: run `bash .ci/test` once (it installs \
                         aiosmtpd into its venv and python3-aiosmtpd from Debian), or \
                         `apt-get install python3-aiosmtpd`"
                    )
                })
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn links_and_tokens_are_found_in_the_text() {
        let mail = ReceivedMail {
            to: "a@x.io, b@x.io".into(),
            from: "AI Hub <no-reply@localhost>".into(),
            subject: "Verify".into(),
            body_text: "Hello,\n\nVerify:\nhttp://portal.test/verify-email?token=abc-DEF_1\n\nBye"
                .into(),
            body_html: String::new(),
        };
        assert!(mail.is_to("B@x.io"));
        assert!(!mail.is_to("c@x.io"));
        assert_eq!(
            mail.find_link("/verify-email").unwrap(),
            "http://portal.test/verify-email?token=abc-DEF_1"
        );
        assert_eq!(mail.token_in_link("/verify-email").unwrap(), "abc-DEF_1");
        assert!(mail.find_link("/reset-password").is_none());
    }
}
