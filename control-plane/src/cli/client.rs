//! The developer's commands, against a running AI Hub over its management
//! API: `login`, `logout`, `whoami`, `keys …`. The address comes from
//! `--server` (or `AIHUB_SERVER`), else from the session `login` saved;
//! the session (access and refresh token) is kept in a file only the user
//! can read (`--credentials`, `AIHUB_CREDENTIALS`, default
//! `~/.config/aihub/credentials.json`). An expired access token is
//! refreshed once per call and the new pair saved.
//!
//! Exit codes: 0 done, 1 anything else, 2 bad command line (clap),
//! [`EXIT_AUTH`] not signed in or the session ended, [`EXIT_NOT_FOUND`],
//! [`EXIT_REFUSED`] the API refused the request (any other 4xx).

use super::Output;
use anyhow::Context;
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Not signed in, or the session is over.
pub const EXIT_AUTH: u8 = 3;
/// What the command names does not exist (or is not yours).
pub const EXIT_NOT_FOUND: u8 = 4;
/// The API refused the request (validation, policy, limits).
pub const EXIT_REFUSED: u8 = 5;

/// An answer of the API in its error shape, or a missing session.
#[derive(Debug)]
pub struct ClientError {
    /// HTTP status (401 also for "not signed in").
    pub status: u16,
    /// The API's error code.
    pub code: String,
    /// Its message.
    pub message: String,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}, HTTP {})", self.message, self.code, self.status)
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self.status {
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
}

/// Where to reach AI Hub and keep the session.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `--server`.
    pub server: Option<String>,
    /// `--credentials`.
    pub credentials: Option<PathBuf>,
}

/// `aihub keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List your API keys (never their secrets).
    List,
    /// Create an API key; its secret is printed this once.
    Create {
        /// A name to recognise it by.
        name: String,
        /// Allow only this model (repeat for several); default: every model.
        #[arg(long = "model", value_name = "MODEL")]
        models: Vec<String>,
        /// Expire after this many days (default: the server's default lifetime).
        #[arg(long, conflicts_with = "never_expires")]
        expires_in_days: Option<u32>,
        /// Never expire.
        #[arg(long)]
        never_expires: bool,
    },
    /// Delete an API key; gateways refuse it within a second.
    Delete {
        /// The key's id (`key_…`).
        id: String,
    },
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
struct Api {
    http: reqwest::Client,
    server: String,
    path: PathBuf,
    session: Option<Session>,
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
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()?,
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
        let mut req = self.http.request(method, format!("{}{route}", self.server));
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

    /// Sends a call with the session's access token; on 401 refreshes the
    /// session once, saves it and repeats the call. Returns the JSON answer
    /// (`Null` for an empty one).
    async fn call(
        &mut self,
        method: reqwest::Method,
        route: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let token = self
            .session
            .as_ref()
            .map(|s| s.access_token.clone())
            .ok_or_else(ClientError::not_signed_in)?;
        let mut resp = self
            .send(method.clone(), route, body.as_ref(), Some(&token))
            .await?;
        if resp.status() == reqwest::StatusCode::UNAUTHORIZED {
            self.refresh().await?;
            let token = self
                .session
                .as_ref()
                .map(|s| s.access_token.clone())
                .unwrap_or_default();
            resp = self
                .send(method, route, body.as_ref(), Some(&token))
                .await?;
        }
        answer(resp).await
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
        code: error["code"].as_str().unwrap_or("http_error").to_string(),
        message: error["message"]
            .as_str()
            .map(String::from)
            .unwrap_or_else(|| format!("HTTP {status}: {text}")),
    }
    .into())
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
        http: reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()?,
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

/// `aihub keys …`
pub async fn keys(conn: &Connection, cmd: KeysCommand, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    match cmd {
        KeysCommand::List => {
            let list = api
                .call(reqwest::Method::GET, "/api/v1/developer/keys", None)
                .await?;
            let empty = Vec::new();
            let keys = list["data"].as_array().unwrap_or(&empty);
            let rows: Vec<Vec<String>> = keys
                .iter()
                .map(|k| {
                    vec![
                        k["id"].as_str().unwrap_or("").to_string(),
                        k["name"].as_str().unwrap_or("").to_string(),
                        k["display_prefix"].as_str().unwrap_or("").to_string(),
                        if k["enabled"].as_bool() == Some(true) {
                            "enabled"
                        } else {
                            "disabled"
                        }
                        .to_string(),
                        k["allowed_models"]
                            .as_array()
                            .map(|m| {
                                m.iter()
                                    .filter_map(Value::as_str)
                                    .collect::<Vec<_>>()
                                    .join(",")
                            })
                            .unwrap_or_else(|| "all".into()),
                    ]
                })
                .collect();
            out.emit(
                &list,
                &table(&["ID", "NAME", "KEY", "STATUS", "MODELS"], &rows),
            )
        }
        KeysCommand::Create {
            name,
            models,
            expires_in_days,
            never_expires,
        } => {
            let mut body = json!({"name": name});
            if !models.is_empty() {
                body["allowed_models"] = json!(models);
            }
            if never_expires {
                body["expires_in_days"] = Value::Null;
            } else if let Some(d) = expires_in_days {
                body["expires_in_days"] = json!(d);
            }
            let key = api
                .call(reqwest::Method::POST, "/api/v1/developer/keys", Some(body))
                .await?;
            let text = format!(
                "created {} ({})\n{}\nStore this secret now: it is not shown again.",
                key["id"].as_str().unwrap_or(""),
                key["name"].as_str().unwrap_or(""),
                key["secret"].as_str().unwrap_or("")
            );
            out.emit(&key, &text)
        }
        KeysCommand::Delete { id } => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/developer/keys/{id}"),
                None,
            )
            .await?;
            out.emit(&json!({"deleted": id}), &format!("deleted {id}"))
        }
    }
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
