//! The developer's commands, against a running AI Hub over its management
//! API: `login`, `logout`, `whoami`, `keys …`, `usage`, `billing`,
//! `invoices …`, `batch …`, `tasks …`, `webhooks …`, `events tail`.
//! The address comes from `--server` (or `AIHUB_SERVER`), else from the
//! session `login` saved; the session (access and refresh token) is kept
//! in a file only the user can read (`--credentials`, `AIHUB_CREDENTIALS`,
//! default `~/.config/aihub/credentials.json`). An expired access token is
//! refreshed once per call and the new pair saved. The `batch` commands
//! use OpenAI's Batches API, which takes an API key instead
//! (`--api-key`, `AIHUB_API_KEY`).
//!
//! Exit codes: 0 done, 1 anything else, 2 bad command line (clap),
//! [`EXIT_AUTH`] not signed in or the session ended, [`EXIT_NOT_FOUND`],
//! [`EXIT_REFUSED`] the API refused the request (any other 4xx),
//! [`EXIT_JOB_FAILED`] a batch or task waited for did not complete.

mod batch;
mod billing;
mod events;
mod keys;
mod tasks;
mod webhooks;

pub use batch::{batch, BatchArgs, BatchCommand};
pub use billing::{billing, invoices, usage, InvoicesCommand, UsageArgs};
pub use events::{events, EventsCommand};
pub use keys::{keys, KeysCommand};
pub use tasks::{tasks, TasksCommand};
pub use webhooks::{webhooks, WebhooksCommand};

use super::Output;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Not signed in, or the session is over (also: no API key for `batch`).
pub const EXIT_AUTH: u8 = 3;
/// What the command names does not exist (or is not yours).
pub const EXIT_NOT_FOUND: u8 = 4;
/// The API refused the request (validation, policy, limits).
pub const EXIT_REFUSED: u8 = 5;
/// A batch or task waited for (`--wait`) ended failed, cancelled or expired.
pub const EXIT_JOB_FAILED: u8 = 6;

/// The exit codes, for `--help`.
pub const EXIT_CODES_HELP: &str = "Exit codes:
  0  done
  1  anything else (AI Hub unreachable, a file that cannot be read, a server error)
  2  bad command line
  3  not signed in, the session ended, or no API key (batch)
  4  not found (or not yours)
  5  refused by the API (validation, policy, limits, not ready yet)
  6  a batch or task waited for (--wait) failed, was cancelled or expired";

/// How long one ordinary API call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// An answer of the API in its error shape, or a missing session.
#[derive(Debug)]
pub struct ClientError {
    /// HTTP status (401 also for "not signed in"; 0: not an HTTP answer).
    pub status: u16,
    /// The API's error code.
    pub code: String,
    /// Its message.
    pub message: String,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.status == 0 {
            write!(f, "{} ({})", self.message, self.code)
        } else {
            write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
        }
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.status {
            0 if self.code == "job_not_completed" => EXIT_JOB_FAILED,
            401 => EXIT_AUTH,
            404 => EXIT_NOT_FOUND,
            400..=499 => EXIT_REFUSED,
            _ => 1,
        }
    }

    fn not_signed_in() -> ClientError {
        ClientError {
            status: 401,
            code: "not_signed_in".into(),
            message: "not signed in: run `aihub login --server URL --email EMAIL` first".into(),
        }
    }

    /// A refusal made here, before asking the API (exit code 5).
    fn refused(code: &str, message: impl Into<String>) -> ClientError {
        ClientError {
            status: 400,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A batch or task that ended without completing (exit code 6).
    fn job_not_completed(message: impl Into<String>) -> ClientError {
        ClientError {
            status: 0,
            code: "job_not_completed".into(),
            message: message.into(),
        }
    }
}

/// Where to reach AI Hub and keep the session.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `--server`.
    pub server: Option<String>,
    /// `--credentials`.
    pub credentials: Option<PathBuf>,
}

/// The saved session.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Session {
    server: String,
    email: String,
    access_token: String,
    refresh_token: String,
}

fn credentials_path(conn: &Connection) -> anyhow::Result<PathBuf> {
    if let Some(p) = &conn.credentials {
        return Ok(p.clone());
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .context("cannot find a home directory for the credentials file; pass --credentials")?;
    Ok(base.join("aihub").join("credentials.json"))
}

fn load_session(path: &Path) -> anyhow::Result<Option<Session>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).with_context(|| {
            format!("{} is not a saved AI Hub session", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes the session readable by its owner only (written to a temporary
/// file first, then renamed, so a crash never leaves half a file).
fn save_session(path: &Path, session: &Session) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = path.with_extension("json.tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(session)?)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// One HTTP client and the session it uses.
pub(crate) struct Api {
    http: reqwest::Client,
    server: String,
    path: PathBuf,
    session: Option<Session>,
}

/// The HTTP client of every command: no overall timeout (downloads and
/// the event stream may take long; ordinary calls set their own).
fn http_client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("aihub-cli/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

impl Api {
    fn open(conn: &Connection) -> anyhow::Result<Api> {
        let path = credentials_path(conn)?;
        let session = load_session(&path)?;
        let server = conn
            .server
            .clone()
            .or_else(|| session.as_ref().map(|s| s.server.clone()))
            .ok_or_else(ClientError::not_signed_in)?;
        Ok(Api {
            http: http_client()?,
            server: server.trim_end_matches('/').to_string(),
            path,
            session,
        })
    }

    async fn send(
        &self,
        method: reqwest::Method,
        route: &str,
        body: Option<&Value>,
        token: Option<&str>,
    ) -> anyhow::Result<reqwest::Response> {
        let mut req = self
            .http
            .request(method, format!("{}{route}", self.server))
            .timeout(CALL_TIMEOUT);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send()
            .await
            .with_context(|| format!("cannot reach AI Hub at {}", self.server))
    }

    fn token(&self) -> anyhow::Result<String> {
        Ok(self
            .session
            .as_ref()
            .map(|s| s.access_token.clone())
            .ok_or_else(ClientError::not_signed_in)?)
    }

    /// Sends the request `build` makes (from the client, the full URL of
    /// `route` and the access token); on 401 refreshes the session once,
    /// saves it and sends it again. Returns the response, whatever its
    /// status.
    async fn request(
        &mut self,
        route: &str,
        build: impl Fn(&reqwest::Client, String, &str) -> reqwest::RequestBuilder,
    ) -> anyhow::Result<reqwest::Response> {
        let url = format!("{}{route}", self.server);
        let token = self.token()?;
        let mut resp = build(&self.http, url.clone(), &token)
            .send()
            .await
            .with_context(|| format!("cannot reach AI Hub at {}", self.server))?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.refresh().await?;
            let token = self.token()?;
            resp = build(&self.http, url, &token)
                .send()
                .await
                .with_context(|| format!("cannot reach AI Hub at {}", self.server))?;
        }
        Ok(resp)
    }

    /// Sends a call with the session's access token (refreshing it once
    /// when needed). Returns the JSON answer (`Null` for an empty one).
    async fn call(
        &mut self,
        method: reqwest::Method,
        route: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let resp = self
            .request(route, |http, url, token| {
                let req = http
                    .request(method.clone(), url)
                    .bearer_auth(token)
                    .timeout(CALL_TIMEOUT);
                match &body {
                    Some(b) => req.json(b),
                    None => req,
                }
            })
            .await?;
        answer(resp).await
    }

    /// `GET route?query`, as JSON.
    async fn get(&mut self, route: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let resp = self
            .request(route, |http, url, token| {
                http.get(url)
                    .query(query)
                    .bearer_auth(token)
                    .timeout(CALL_TIMEOUT)
            })
            .await?;
        answer(resp).await
    }

    /// `GET route?query`, the answer's bytes (a download).
    async fn download(&mut self, route: &str, query: &[(&str, String)]) -> anyhow::Result<Vec<u8>> {
        let resp = self
            .request(route, |http, url, token| {
                http.get(url).query(query).bearer_auth(token)
            })
            .await?;
        download_answer(resp).await
    }

    async fn refresh(&mut self) -> anyhow::Result<()> {
        let Some(mut session) = self.session.clone() else {
            return Err(ClientError::not_signed_in().into());
        };
        let resp = self
            .send(
                reqwest::Method::POST,
                "/api/v1/developer/refresh",
                Some(&json!({"refresh_token": session.refresh_token})),
                None,
            )
            .await?;
        let tokens = answer(resp)
            .await
            .map_err(|e| match e.downcast::<ClientError>() {
                Ok(e) => ClientError {
                    status: 401,
                    code: e.code,
                    message: format!(
                        "the session has ended ({}): run `aihub login` again",
                        e.message
                    ),
                }
                .into(),
                Err(e) => e,
            })?;
        session.access_token = str_field(&tokens, "access_token")?;
        session.refresh_token = str_field(&tokens, "refresh_token")?;
        save_session(&self.path, &session)?;
        self.session = Some(session);
        Ok(())
    }
}

/// Where AI Hub is for the commands that need no session (`batch`): the
/// `--server` given, else the one `login` saved.
fn server_only(conn: &Connection) -> anyhow::Result<String> {
    if let Some(s) = &conn.server {
        return Ok(s.trim_end_matches('/').to_string());
    }
    let path = credentials_path(conn)?;
    match load_session(&path)? {
        Some(s) => Ok(s.server.trim_end_matches('/').to_string()),
        None => Err(ClientError {
            status: 0,
            code: "no_server".into(),
            message: "which AI Hub? pass --server URL (or set AIHUB_SERVER)".into(),
        }
        .into()),
    }
}

fn str_field(v: &Value, name: &str) -> anyhow::Result<String> {
    v[name]
        .as_str()
        .map(String::from)
        .with_context(|| format!("the answer has no {name}: {v}"))
}

/// The JSON answer, or the API's error as a [`ClientError`].
async fn answer(resp: reqwest::Response) -> anyhow::Result<Value> {
    let status = resp.status();
    let text = resp.text().await.context("reading the answer")?;
    let body: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
    };
    if status.is_success() {
        return Ok(body);
    }
    let error = &body["error"];
    Err(ClientError {
        status: status.as_u16(),
        code: error["code"]
            .as_str()
            .or_else(|| error["type"].as_str())
            .unwrap_or("http_error")
            .to_string(),
        message: error["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("HTTP {status}: {text}")),
    }
    .into())
}

/// A download's bytes, or the API's error.
async fn download_answer(resp: reqwest::Response) -> anyhow::Result<Vec<u8>> {
    if resp.status().is_success() {
        return Ok(resp.bytes().await.context("reading the download")?.to_vec());
    }
    match answer(resp).await {
        Ok(_) => anyhow::bail!("the download failed"),
        Err(e) => Err(e),
    }
}

/// Reads the password: `AIHUB_PASSWORD`, else the first line of stdin.
fn password() -> anyhow::Result<String> {
    if let Ok(p) = std::env::var("AIHUB_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from stdin")?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    anyhow::ensure!(
        !p.is_empty(),
        "no password: set AIHUB_PASSWORD or pipe it on stdin"
    );
    Ok(p)
}

/// `aihub login`
pub async fn login(conn: &Connection, email: &str, out: &Output) -> anyhow::Result<()> {
    let path = credentials_path(conn)?;
    let saved = load_session(&path)?;
    let server = conn
        .server
        .clone()
        .or_else(|| saved.map(|s| s.server))
        .context("which AI Hub? pass --server URL (or set AIHUB_SERVER)")?;
    let api = Api {
        http: http_client()?,
        server: server.trim_end_matches('/').to_string(),
        path: path.clone(),
        session: None,
    };
    let resp = api
        .send(
            reqwest::Method::POST,
            "/api/v1/developer/login",
            Some(&json!({"email": email, "password": password()?})),
            None,
        )
        .await?;
    let tokens = answer(resp).await?;
    let session = Session {
        server: api.server.clone(),
        email: email.to_string(),
        access_token: str_field(&tokens, "access_token")?,
        refresh_token: str_field(&tokens, "refresh_token")?,
    };
    save_session(&path, &session)?;
    out.emit(
        &json!({"server": session.server, "email": session.email, "credentials": path}),
        &format!(
            "signed in to {} as {} (session saved in {})",
            session.server,
            session.email,
            path.display()
        ),
    )
}

/// `aihub logout`: ends the session on the server and forgets it here.
pub async fn logout(conn: &Connection, out: &Output) -> anyhow::Result<()> {
    let api = Api::open(conn)?;
    let Some(session) = &api.session else {
        return out.emit(&json!({"signed_out": false}), "not signed in");
    };
    let resp = api
        .send(
            reqwest::Method::POST,
            "/api/v1/developer/logout",
            Some(&json!({"refresh_token": session.refresh_token})),
            None,
        )
        .await?;
    // A session the server already ended is just as ended.
    if let Err(e) = answer(resp).await {
        if e.downcast_ref::<ClientError>()
            .is_none_or(|c| c.status != 401)
        {
            return Err(e);
        }
    }
    std::fs::remove_file(&api.path)
        .with_context(|| format!("cannot remove {}", api.path.display()))?;
    out.emit(&json!({"signed_out": true}), "signed out")
}

/// `aihub whoami`
pub async fn whoami(conn: &Connection, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    let profile = api
        .call(reqwest::Method::GET, "/api/v1/developer/profile", None)
        .await?;
    let text = format!(
        "{} <{}> on {}{}",
        profile["full_name"].as_str().unwrap_or(""),
        profile["email"].as_str().unwrap_or(""),
        api.server,
        if profile["email_verified"].as_bool() == Some(false) {
            " (email not verified yet)"
        } else {
            ""
        }
    );
    out.emit(&profile, &text)
}

/// Left-aligned columns, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    out.join("\n")
}

/// A JSON value as a table cell: strings bare, `null` as `-`.
fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Unix milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC), `-` for none.
fn time_ms(v: &Value) -> String {
    v.as_i64()
        .and_then(chrono::DateTime::from_timestamp_millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

/// The `data` array of a list answer.
fn data(list: &Value) -> &[Value] {
    list["data"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// A list of strings as `a,b`, or `all` for `null`.
fn joined_or_all(v: &Value) -> String {
    v.as_array()
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "all".into())
}

/// Writes `bytes` to `path` (`-` is stdout).
fn write_out(path: &Path, bytes: &[u8], out: &Output) -> anyhow::Result<()> {
    if path == Path::new("-") {
        return out.raw(bytes);
    }
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a file the command was given.
fn read_in(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The file's name, for an upload.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upload".into())
}

/// How a `--wait` poll takes a failed status call: a refusal (4xx) is
/// final, a server away for a moment is not, up to ten times in a row.
struct PollFailures {
    in_a_row: u32,
}

impl PollFailures {
    fn new() -> PollFailures {
        PollFailures { in_a_row: 0 }
    }

    /// A status call answered.
    fn answered(&mut self) {
        self.in_a_row = 0;
    }

    /// A status call failed: `Err` (the bar abandoned) when waiting should
    /// stop, else `Ok` with the bar saying it retries.
    fn failed(&mut self, bar: &indicatif::ProgressBar, e: anyhow::Error) -> anyhow::Result<()> {
        let refused = e
            .downcast_ref::<ClientError>()
            .is_some_and(|c| c.status < 500);
        self.in_a_row += 1;
        if refused || self.in_a_row >= 10 {
            bar.abandon();
            return Err(e);
        }
        bar.set_message(format!("retrying: {e:#}"));
        Ok(())
    }
}

/// A progress bar on stderr for waiting on a job of `total` items; hidden
/// when stderr is not a terminal or the output is JSON.
fn progress_bar(out: &Output, total: u64) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if out.is_json() || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} {msg}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// Parses `--poll-interval` style durations (`500ms`, `2s`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(
            &["ID", "NAME"],
            &[
                vec!["key_1".into(), "ci".into()],
                vec!["k".into(), "a longer one".into()],
            ],
        );
        assert_eq!(t, "ID     NAME\nkey_1  ci\nk      a longer one");
    }

    #[test]
    fn exit_codes_follow_the_status() {
        let e = |status| ClientError {
            status,
            code: "x".into(),
            message: "m".into(),
        };
        assert_eq!(e(401).exit_code(), EXIT_AUTH);
        assert_eq!(e(404).exit_code(), EXIT_NOT_FOUND);
        assert_eq!(e(400).exit_code(), EXIT_REFUSED);
        assert_eq!(e(503).exit_code(), 1);
    }
}
