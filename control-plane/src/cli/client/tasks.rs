//! `aihub tasks list|create|status|cancel|results`: the task API
//! (`/api/v1/developer/tasks`), with the session.

use super::{
    answer, cell, data, file_name, parse_duration, progress_bar, read_in, table, time_ms,
    write_out, Api, ClientError, Connection, PollFailures,
};
use crate::cli::Output;
use clap::{Subcommand, ValueEnum};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Duration;

/// A task's status, for `--status`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    /// An export not started yet.
    Pending,
    /// Working.
    Running,
    /// Done.
    Completed,
    /// Failed.
    Failed,
    /// Cancelled.
    Cancelled,
}

/// `aihub tasks …`
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// List your tasks, newest first.
    List {
        /// Only tasks with this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// How many (1–100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// The tasks older than this task id (the last of the previous page).
        #[arg(long, value_name = "TASK_ID")]
        before: Option<String>,
    },
    /// Start a task.
    #[command(subcommand)]
    Create(CreateCommand),
    /// Show a task.
    Status {
        /// The task's id (`task_…`).
        id: String,
        /// Wait until it ends, with a progress bar; exit 6 unless it completed.
        #[arg(long)]
        wait: bool,
        /// How often to ask while waiting.
        #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
        poll_interval: Duration,
    },
    /// Cancel a task.
    Cancel {
        /// The task's id (`task_…`).
        id: String,
    },
    /// Show a task's items and their answers, or download its result file.
    Results {
        /// The task's id (`task_…`).
        id: String,
        /// Download the result file instead (JSONL, or an export's CSV).
        #[arg(long)]
        download: bool,
        /// With `--download`: write it here (default: stdout).
        #[arg(short, long, value_name = "FILE", requires = "download")]
        output: Option<PathBuf>,
        /// At most this many items (default: all).
        #[arg(long)]
        limit: Option<u64>,
    },
}

/// Options of every generated answer.
#[derive(Debug, clap::Args)]
pub struct GenerationArgs {
    /// The model (see `GET /v1/models`).
    #[arg(long)]
    model: String,
    /// A system message sent with every item.
    #[arg(long)]
    system: Option<String>,
    /// At most this many tokens per answer.
    #[arg(long)]
    max_tokens: Option<u32>,
    /// Sampling temperature.
    #[arg(long)]
    temperature: Option<f64>,
    /// The API key the items run as (`key_…`; default: your newest enabled key).
    #[arg(long = "key", value_name = "KEY_ID")]
    key_id: Option<String>,
}

/// Waiting for the task to end.
#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Wait until it ends, with a progress bar; exit 6 unless it completed.
    #[arg(long)]
    wait: bool,
    /// How often to ask while waiting.
    #[arg(long, default_value = "1s", value_parser = parse_duration, value_name = "DURATION")]
    poll_interval: Duration,
}

/// `aihub tasks create …`
#[derive(Debug, Subcommand)]
pub enum CreateCommand {
    /// `batch_generate`: one chat completion per prompt.
    Generate {
        #[command(flatten)]
        gen: GenerationArgs,
        /// A prompt (repeat for several).
        #[arg(long = "prompt", value_name = "TEXT")]
        prompts: Vec<String>,
        /// A file with one prompt per line.
        #[arg(long, value_name = "FILE")]
        prompts_file: Option<PathBuf>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// `batch_process`: one chat completion per row of a CSV or JSONL file.
    Process {
        #[command(flatten)]
        gen: GenerationArgs,
        /// The rows: CSV with a header row, or JSONL objects (uploaded first).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
        /// The prompt; `{{field}}` is replaced by each row's field.
        #[arg(long)]
        template: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// `data_export`: your usage rows as a CSV file.
    Export {
        /// First day, `YYYY-MM-DD` (default: from the start).
        #[arg(long, value_name = "DATE")]
        from: Option<String>,
        /// Last day, `YYYY-MM-DD` (default: up to now).
        #[arg(long, value_name = "DATE")]
        to: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
}

fn options(g: &GenerationArgs) -> Value {
    let mut o = Map::new();
    if let Some(s) = &g.system {
        o.insert("system".into(), json!(s));
    }
    if let Some(m) = g.max_tokens {
        o.insert("max_tokens".into(), json!(m));
    }
    if let Some(t) = g.temperature {
        o.insert("temperature".into(), json!(t));
    }
    Value::Object(o)
}

fn is_final(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled")
}

fn describe(t: &Value) -> String {
    let c = &t["request_counts"];
    let mut lines = vec![
        format!(
            "{}  {}  {}  {}%",
            cell(&t["id"]),
            cell(&t["type"]),
            cell(&t["status"]),
            cell(&t["progress"])
        ),
        format!(
            "created    {} UTC, completed {}",
            time_ms(&t["created_at"]),
            time_ms(&t["completed_at"])
        ),
    ];
    if c.is_object() {
        lines.push(format!(
            "items      {} total, {} completed, {} failed",
            cell(&c["total"]),
            cell(&c["completed"]),
            cell(&c["failed"])
        ));
    }
    if t["usage"].is_object() {
        lines.push(format!(
            "tokens     {} prompt, {} completion",
            cell(&t["usage"]["prompt_tokens"]),
            cell(&t["usage"]["completion_tokens"])
        ));
    }
    if t["result_file_id"].is_string() {
        lines.push(format!(
            "results    {} (`aihub tasks results {} --download`)",
            cell(&t["result_file_id"]),
            cell(&t["id"])
        ));
    }
    if t["error_message"].is_string() {
        lines.push(format!("error      {}", cell(&t["error_message"])));
    }
    lines.join("\n")
}

/// Polls the task until it ends, showing its progress.
async fn wait(api: &mut Api, id: &str, every: Duration, out: &Output) -> anyhow::Result<Value> {
    let bar = progress_bar(out, 100);
    let mut failures = PollFailures::new();
    loop {
        match api.get(&format!("/api/v1/developer/tasks/{id}"), &[]).await {
            Ok(t) => {
                failures.answered();
                bar.set_position(t["progress"].as_u64().unwrap_or(0));
                bar.set_message(cell(&t["status"]));
                if is_final(t["status"].as_str().unwrap_or("")) {
                    bar.finish_and_clear();
                    return Ok(t);
                }
            }
            Err(e) => failures.failed(&bar, e)?,
        }
        tokio::time::sleep(every).await;
    }
}

fn ensure_completed(t: &Value) -> anyhow::Result<()> {
    if t["status"] == "completed" {
        return Ok(());
    }
    Err(ClientError::job_not_completed(format!(
        "task {} ended {}{}",
        cell(&t["id"]),
        cell(&t["status"]),
        t["error_message"]
            .as_str()
            .map(|m| format!(": {m}"))
            .unwrap_or_default()
    ))
    .into())
}

/// `aihub tasks …`
pub async fn tasks(conn: &Connection, cmd: TasksCommand, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    match cmd {
        TasksCommand::List {
            status,
            limit,
            before,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(s) = status {
                if let Some(v) = s.to_possible_value() {
                    query.push(("status", v.get_name().to_string()));
                }
            }
            if let Some(b) = before {
                query.push(("before", b));
            }
            let list = api.get("/api/v1/developer/tasks", &query).await?;
            let rows: Vec<Vec<String>> = data(&list)
                .iter()
                .map(|t| {
                    vec![
                        cell(&t["id"]),
                        cell(&t["type"]),
                        cell(&t["status"]),
                        format!("{}%", cell(&t["progress"])),
                        time_ms(&t["created_at"]),
                    ]
                })
                .collect();
            out.emit(
                &list,
                &table(
                    &["ID", "TYPE", "STATUS", "PROGRESS", "CREATED (UTC)"],
                    &rows,
                ),
            )
        }
        TasksCommand::Create(create) => {
            let (body, wait_args) = match create {
                CreateCommand::Generate {
                    gen,
                    mut prompts,
                    prompts_file,
                    wait,
                } => {
                    if let Some(path) = prompts_file {
                        let text = String::from_utf8_lossy(&read_in(&path)?).into_owned();
                        prompts.extend(
                            text.lines()
                                .filter(|l| !l.trim().is_empty())
                                .map(String::from),
                        );
                    }
                    if prompts.is_empty() {
                        return Err(ClientError::refused(
                            "invalid_arguments",
                            "no prompts: give --prompt TEXT (repeatable) or --prompts-file FILE",
                        )
                        .into());
                    }
                    let mut body = json!({"type": "batch_generate",
                        "input": {"model": gen.model, "prompts": prompts, "options": options(&gen)}});
                    if let Some(k) = &gen.key_id {
                        body["key_id"] = json!(k);
                    }
                    (body, wait)
                }
                CreateCommand::Process {
                    gen,
                    file,
                    template,
                    wait,
                } => {
                    let bytes = read_in(&file)?;
                    let name = file_name(&file);
                    let resp = api
                        .request("/api/v1/developer/files", |http, url, token| {
                            let part = reqwest::multipart::Part::bytes(bytes.clone())
                                .file_name(name.clone());
                            http.post(url)
                                .bearer_auth(token)
                                .multipart(reqwest::multipart::Form::new().part("file", part))
                        })
                        .await?;
                    let uploaded = answer(resp).await?;
                    let mut body = json!({"type": "batch_process",
                        "input": {"model": gen.model, "file_id": uploaded["id"],
                                  "template": template, "options": options(&gen)}});
                    if let Some(k) = &gen.key_id {
                        body["key_id"] = json!(k);
                    }
                    (body, wait)
                }
                CreateCommand::Export { from, to, wait } => {
                    let mut input = json!({"kind": "usage"});
                    if let Some(f) = from {
                        input["from"] = json!(f);
                    }
                    if let Some(t) = to {
                        input["to"] = json!(t);
                    }
                    (json!({"type": "data_export", "input": input}), wait)
                }
            };
            let task = api
                .call(reqwest::Method::POST, "/api/v1/developer/tasks", Some(body))
                .await?;
            let id = cell(&task["id"]);
            if !wait_args.wait {
                return out.emit(
                    &task,
                    &format!("created {id}\nFollow it with `aihub tasks status {id} --wait`."),
                );
            }
            let task = wait(&mut api, &id, wait_args.poll_interval, out).await?;
            out.emit(&task, &describe(&task))?;
            ensure_completed(&task)
        }
        TasksCommand::Status {
            id,
            wait: wait_for_it,
            poll_interval,
        } => {
            let t = if wait_for_it {
                wait(&mut api, &id, poll_interval, out).await?
            } else {
                api.get(&format!("/api/v1/developer/tasks/{id}"), &[])
                    .await?
            };
            out.emit(&t, &describe(&t))?;
            if wait_for_it {
                ensure_completed(&t)?;
            }
            Ok(())
        }
        TasksCommand::Cancel { id } => {
            let t = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/developer/tasks/{id}/cancel"),
                    None,
                )
                .await?;
            out.emit(&t, &format!("{id}: {}", cell(&t["status"])))
        }
        TasksCommand::Results {
            id,
            download,
            output,
            limit,
        } => {
            if download {
                let bytes = api
                    .download(
                        &format!("/api/v1/developer/tasks/{id}/results/download"),
                        &[],
                    )
                    .await?;
                return match output {
                    Some(path) if path != std::path::Path::new("-") => {
                        write_out(&path, &bytes, out)?;
                        out.emit(
                            &json!({"task": id, "file": path, "bytes": bytes.len()}),
                            &format!("saved the results of {id} to {}", path.display()),
                        )
                    }
                    _ => out.raw(&bytes),
                };
            }
            let mut items: Vec<Value> = Vec::new();
            let mut after = 0_i64;
            loop {
                let want = limit.map_or(500, |l| l.saturating_sub(items.len() as u64).min(500));
                if want == 0 {
                    break;
                }
                let page = api
                    .get(
                        &format!("/api/v1/developer/tasks/{id}/results"),
                        &[("after", after.to_string()), ("limit", want.to_string())],
                    )
                    .await?;
                let got = data(&page);
                items.extend(got.iter().cloned());
                match got.last().and_then(|i| i["index"].as_i64()) {
                    Some(last) if page["has_more"] == true => after = last,
                    _ => break,
                }
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|i| {
                    let answer = match (&i["output"], &i["error"]) {
                        (Value::String(s), _) => s.replace('\n', " "),
                        (_, Value::Object(e)) => format!(
                            "error: {}",
                            e.get("message")
                                .or_else(|| e.get("error").and_then(|x| x.get("message")))
                                .map(cell)
                                .unwrap_or_else(|| Value::Object(e.clone()).to_string())
                        ),
                        _ => "-".into(),
                    };
                    let short: String = answer.chars().take(80).collect();
                    vec![
                        cell(&i["index"]),
                        cell(&i["status"]),
                        format!(
                            "{}+{}",
                            cell(&i["prompt_tokens"]),
                            cell(&i["completion_tokens"])
                        ),
                        short,
                    ]
                })
                .collect();
            out.emit(
                &json!({"task": id, "data": items}),
                &table(&["INDEX", "STATUS", "TOKENS", "OUTPUT"], &rows),
            )
        }
    }
}
