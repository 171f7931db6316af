//! `aihub batch submit|status|list|cancel|download`: OpenAI's Files and
//! Batches APIs (`/v1/files`, `/v1/batches`), which take an API key (scopes
//! `files` and `batches`), not the session: `--api-key` or `AIHUB_API_KEY`.

use super::{
    answer, cell, data, download_answer, file_name, parse_duration, progress_bar, read_in,
    server_only, table, write_out, ClientError, Connection, PollFailures, CALL_TIMEOUT,
};
use crate::cli::Output;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `aihub batch …`
#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// The API key the batch runs as (`ahub_…`; needs the `files` and
    /// `batches` endpoints). Batches are charged at the batch discount.
    #[arg(
        long,
        env = "AIHUB_API_KEY",
        global = true,
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    #[command(subcommand)]
    command: BatchCommand,
}

/// What to do with batches.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Upload a JSONL file of requests and start a batch on it.
    Submit {
        /// One request per line: `{"custom_id", "method": "POST", "url", "body"}`.
        file: PathBuf,
        /// The endpoint of every line (default: the first line's `url`).
        #[arg(long, value_name = "PATH")]
        endpoint: Option<String>,
        /// The completion window (only `24h`).
        #[arg(long, default_value = "24h", value_name = "WINDOW")]
        completion_window: String,
        /// Metadata to keep with the batch (repeat).
        #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_pair)]
        metadata: Vec<(String, String)>,
        /// Wait until the batch ends, with a progress bar on stderr; exit 6
        /// unless it completed.
        #[arg(long)]
        wait: bool,
        /// With `--wait`: then write the results to FILE (as `download -o`).
        #[arg(short, long, value_name = "FILE", requires = "wait")]
        output: Option<PathBuf>,
        /// How often to ask while waiting.
        #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
        poll_interval: Duration,
    },
    /// Show a batch: status, counts, usage, files, input errors.
    Status {
        /// The batch's id (`batch_…`).
        id: String,
        /// Wait until it ends, with a progress bar; exit 6 unless it completed.
        #[arg(long)]
        wait: bool,
        /// How often to ask while waiting.
        #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
        poll_interval: Duration,
    },
    /// List your batches, newest first.
    List {
        /// How many (1–100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// The page after this batch id.
        #[arg(long, value_name = "BATCH_ID")]
        after: Option<String>,
    },
    /// Cancel a batch: items not started are dropped, finished ones kept.
    Cancel {
        /// The batch's id (`batch_…`).
        id: String,
    },
    /// Download a finished batch's results (and its failed requests).
    Download {
        /// The batch's id (`batch_…`).
        id: String,
        /// Where to write the results (default: stdout, followed by the
        /// failed requests' lines).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Where to write the failed requests (default with `-o out.jsonl`:
        /// `out.errors.jsonl`).
        #[arg(long, value_name = "FILE")]
        errors: Option<PathBuf>,
    },
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got `{s}`"))
}

/// The API with a key.
struct KeyApi {
    http: reqwest::Client,
    server: String,
    key: String,
}

impl KeyApi {
    fn open(conn: &Connection, key: Option<String>) -> anyhow::Result<KeyApi> {
        let key = key
            .filter(|k| !k.trim().is_empty())
            .ok_or_else(|| ClientError {
                status: 401,
                code: "missing_api_key".into(),
                message: "batches run as an API key: pass --api-key or set AIHUB_API_KEY \
                      (create one with `aihub keys create NAME`)"
                    .into(),
            })?;
        Ok(KeyApi {
            http: super::http_client()?,
            server: server_only(conn)?,
            key: key.trim().to_string(),
        })
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> anyhow::Result<reqwest::Response> {
        req.bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach AI Hub at {}", self.server))
    }

    fn url(&self, route: &str) -> String {
        format!("{}{route}", self.server)
    }

    async fn get(&self, route: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let req = self
            .http
            .get(self.url(route))
            .query(query)
            .timeout(CALL_TIMEOUT);
        answer(self.send(req).await?).await
    }

    async fn post(&self, route: &str, body: &Value) -> anyhow::Result<Value> {
        let req = self
            .http
            .post(self.url(route))
            .json(body)
            .timeout(CALL_TIMEOUT);
        answer(self.send(req).await?).await
    }

    async fn upload(&self, path: &Path) -> anyhow::Result<Value> {
        let bytes = read_in(path)?;
        let form = reqwest::multipart::Form::new()
            .text("purpose", "batch")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes)
                    .file_name(file_name(path))
                    .mime_str("application/jsonl")?,
            );
        let req = self.http.post(self.url("/v1/files")).multipart(form);
        answer(self.send(req).await?).await
    }

    async fn content(&self, file_id: &str) -> anyhow::Result<Vec<u8>> {
        let req = self
            .http
            .get(self.url(&format!("/v1/files/{file_id}/content")));
        download_answer(self.send(req).await?).await
    }
}

/// The `url` of the file's first request, if it has one.
fn first_url(jsonl: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(jsonl);
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    let v: Value = serde_json::from_str(line).ok()?;
    v["url"].as_str().map(String::from)
}

fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "expired" | "cancelled")
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
fn time_s(v: &Value) -> String {
    v.as_i64()
        .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn describe(b: &Value) -> String {
    let c = &b["request_counts"];
    let mut lines = vec![
        format!(
            "{}  {}  {}",
            cell(&b["id"]),
            cell(&b["status"]),
            cell(&b["endpoint"])
        ),
        format!(
            "requests   {} total, {} completed, {} failed",
            cell(&c["total"]),
            cell(&c["completed"]),
            cell(&c["failed"])
        ),
        format!(
            "tokens     {} in, {} out",
            cell(&b["usage"]["input_tokens"]),
            cell(&b["usage"]["output_tokens"])
        ),
        format!(
            "created    {} UTC (expires {})",
            time_s(&b["created_at"]),
            time_s(&b["expires_at"])
        ),
        format!(
            "files      input {}, output {}, errors {}",
            cell(&b["input_file_id"]),
            cell(&b["output_file_id"]),
            cell(&b["error_file_id"])
        ),
    ];
    if let Some(errors) = b["errors"]["data"].as_array() {
        lines.push("input refused:".into());
        for e in errors {
            lines.push(format!(
                "  line {}: {} {}",
                cell(&e["line"]),
                cell(&e["code"]),
                cell(&e["message"])
            ));
        }
    }
    lines.join("\n")
}

/// Polls the batch until it ends, showing progress.
async fn wait(api: &KeyApi, id: &str, every: Duration, out: &Output) -> anyhow::Result<Value> {
    let bar = progress_bar(out, 0);
    let mut failures = PollFailures::new();
    loop {
        match api.get(&format!("/v1/batches/{id}"), &[]).await {
            Ok(b) => {
                failures.answered();
                let c = &b["request_counts"];
                let done = c["completed"].as_u64().unwrap_or(0) + c["failed"].as_u64().unwrap_or(0);
                bar.set_length(c["total"].as_u64().unwrap_or(0));
                bar.set_position(done);
                bar.set_message(cell(&b["status"]));
                if is_final(b["status"].as_str().unwrap_or("")) {
                    bar.finish_and_clear();
                    return Ok(b);
                }
            }
            Err(e) => failures.failed(&bar, e)?,
        }
        tokio::time::sleep(every).await;
    }
}

/// Exit 6 unless the batch completed.
fn ensure_completed(b: &Value) -> anyhow::Result<()> {
    if b["status"] == "completed" {
        return Ok(());
    }
    Err(ClientError::job_not_completed(format!(
        "batch {} ended {}",
        cell(&b["id"]),
        cell(&b["status"])
    ))
    .into())
}

/// `aihub batch …`
pub async fn batch(conn: &Connection, args: BatchArgs, out: &Output) -> anyhow::Result<()> {
    let api = KeyApi::open(conn, args.api_key)?;
    match args.command {
        BatchCommand::Submit {
            file,
            endpoint,
            completion_window,
            metadata,
            wait: wait_for_it,
            output,
            poll_interval,
        } => {
            let endpoint = match endpoint {
                Some(e) => e,
                None => {
                    first_url(&read_in(&file)?).unwrap_or_else(|| "/v1/chat/completions".into())
                }
            };
            let uploaded = api.upload(&file).await?;
            let file_id = cell(&uploaded["id"]);
            let mut body = json!({
                "input_file_id": file_id,
                "endpoint": endpoint,
                "completion_window": completion_window,
            });
            if !metadata.is_empty() {
                let m: Map<String, Value> =
                    metadata.into_iter().map(|(k, v)| (k, json!(v))).collect();
                body["metadata"] = Value::Object(m);
            }
            let b = api.post("/v1/batches", &body).await?;
            let id = cell(&b["id"]);
            if !wait_for_it {
                return out.emit(
                    &b,
                    &format!(
                        "submitted {id} ({} uploaded as {file_id})\nFollow it with `aihub batch status {id} --wait`.",
                        file.display()
                    ),
                );
            }
            if !out.is_json() {
                eprintln!("submitted {id}; waiting for it to end…");
            }
            let b = wait(&api, &id, poll_interval, out).await?;
            if b["status"] == "completed" {
                if let Some(path) = output {
                    save(&api, &b, Some(path), None, out).await?;
                    return Ok(());
                }
            }
            out.emit(&b, &describe(&b))?;
            ensure_completed(&b)
        }
        BatchCommand::Status {
            id,
            wait: wait_for_it,
            poll_interval,
        } => {
            let b = if wait_for_it {
                wait(&api, &id, poll_interval, out).await?
            } else {
                api.get(&format!("/v1/batches/{id}"), &[]).await?
            };
            out.emit(&b, &describe(&b))?;
            if wait_for_it {
                ensure_completed(&b)?;
            }
            Ok(())
        }
        BatchCommand::List { limit, after } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(a) = after {
                query.push(("after", a));
            }
            let list = api.get("/v1/batches", &query).await?;
            let rows: Vec<Vec<String>> = data(&list)
                .iter()
                .map(|b| {
                    let c = &b["request_counts"];
                    vec![
                        cell(&b["id"]),
                        cell(&b["status"]),
                        cell(&b["endpoint"]),
                        format!(
                            "{}/{} ({} failed)",
                            cell(&c["completed"]),
                            cell(&c["total"]),
                            cell(&c["failed"])
                        ),
                        time_s(&b["created_at"]),
                    ]
                })
                .collect();
            out.emit(
                &list,
                &table(
                    &["ID", "STATUS", "ENDPOINT", "DONE", "CREATED (UTC)"],
                    &rows,
                ),
            )
        }
        BatchCommand::Cancel { id } => {
            let b = api
                .post(&format!("/v1/batches/{id}/cancel"), &json!({}))
                .await?;
            out.emit(&b, &format!("{id}: {}", cell(&b["status"])))
        }
        BatchCommand::Download { id, output, errors } => {
            let b = api.get(&format!("/v1/batches/{id}"), &[]).await?;
            save(&api, &b, output, errors, out).await
        }
    }
}

/// `FILE.jsonl` → `FILE.errors.jsonl`.
fn errors_path(output: &Path) -> PathBuf {
    let stem = output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results".into());
    output.with_file_name(format!("{stem}.errors.jsonl"))
}

fn lines(bytes: &[u8]) -> usize {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count()
}

/// Writes a batch's output and error files.
async fn save(
    api: &KeyApi,
    b: &Value,
    output: Option<PathBuf>,
    errors: Option<PathBuf>,
    out: &Output,
) -> anyhow::Result<()> {
    let id = cell(&b["id"]);
    let status = cell(&b["status"]);
    let output_id = b["output_file_id"].as_str();
    let error_id = b["error_file_id"].as_str();
    if output_id.is_none() && error_id.is_none() {
        let why = if is_final(&status) {
            format!("batch {id} ended {status} without results (see `aihub batch status {id}`)")
        } else {
            format!("batch {id} is {status}: its results can be downloaded once it ends")
        };
        return Err(ClientError {
            status: 409,
            code: "not_ready".into(),
            message: why,
        }
        .into());
    }
    let results = match output_id {
        Some(f) => api.content(f).await?,
        None => Vec::new(),
    };
    let failed = match error_id {
        Some(f) => api.content(f).await?,
        None => Vec::new(),
    };
    let Some(output) = output.filter(|p| p != Path::new("-")) else {
        // Stdout: the results, then the failed requests (each line says
        // which it is), unless those go to a file of their own.
        out.raw(&results)?;
        match errors {
            Some(path) if !failed.is_empty() => write_out(&path, &failed, out)?,
            _ => out.raw(&failed)?,
        }
        return Ok(());
    };
    write_out(&output, &results, out)?;
    let errors = if failed.is_empty() {
        None
    } else {
        let path = errors.unwrap_or_else(|| errors_path(&output));
        write_out(&path, &failed, out)?;
        Some(path)
    };
    let summary = json!({
        "batch": id,
        "status": status,
        "output": output,
        "output_lines": lines(&results),
        "errors": errors,
        "error_lines": lines(&failed),
    });
    let mut text = format!(
        "wrote {} results of {id} to {}",
        lines(&results),
        output.display()
    );
    if let Some(p) = &errors {
        text.push_str(&format!(
            "\nwrote {} failed requests to {}",
            lines(&failed),
            p.display()
        ));
    }
    out.emit(&summary, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_comes_from_the_first_request() {
        let jsonl = b"\n{\"custom_id\":\"a\",\"url\":\"/v1/embeddings\"}\n{\"url\":\"/v1/x\"}";
        assert_eq!(first_url(jsonl).as_deref(), Some("/v1/embeddings"));
        assert_eq!(first_url(b"not json"), None);
        assert_eq!(
            errors_path(Path::new("dir/out.jsonl")),
            PathBuf::from("dir/out.errors.jsonl")
        );
        assert!(parse_pair("a=b=c").is_ok_and(|p| p == ("a".into(), "b=c".into())));
        assert!(parse_pair("=x").is_err());
    }
}
