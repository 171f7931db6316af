//! `aihub webhooks list|create|test|deliveries|delete`.

use super::{cell, data, table, time_ms, Api, Connection};
use crate::cli::Output;
use clap::Subcommand;
use serde_json::{json, Value};

/// `aihub webhooks …`
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// List your webhook endpoints.
    List,
    /// Add an endpoint; its signing secret is printed this once.
    Create {
        /// Where deliveries are POSTed (`https://…`).
        url: String,
        /// Event types to receive (comma-separated or repeated; default: all,
        /// `*`). The catalog: `GET /api/v1/developer/event-types`.
        #[arg(long = "events", value_name = "TYPE", value_delimiter = ',')]
        events: Vec<String>,
        /// What it is for.
        #[arg(long)]
        description: Option<String>,
        /// Retries after the first attempt, 0–7 (default 3).
        #[arg(long)]
        max_retries: Option<u8>,
    },
    /// Send a test event to an endpoint now and show how it answered.
    Test {
        /// The endpoint's id (`we_…`).
        id: String,
        /// Send this type's example instead of `webhook.test`.
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
    },
    /// List an endpoint's deliveries, newest first.
    Deliveries {
        /// The endpoint's id (`we_…`).
        id: String,
        /// Only `pending`, `succeeded` or `failed` ones.
        #[arg(long)]
        status: Option<String>,
        /// Only deliveries of this event type.
        #[arg(long, value_name = "TYPE")]
        event_type: Option<String>,
        /// How many (1–100).
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Delete an endpoint.
    Delete {
        /// The endpoint's id (`we_…`).
        id: String,
    },
}

/// `aihub webhooks …`
pub async fn webhooks(conn: &Connection, cmd: WebhooksCommand, out: &Output) -> anyhow::Result<()> {
    let mut api = Api::open(conn)?;
    match cmd {
        WebhooksCommand::List => {
            let list = api.get("/api/v1/developer/webhooks", &[]).await?;
            let rows: Vec<Vec<String>> = data(&list)
                .iter()
                .map(|w| {
                    vec![
                        cell(&w["id"]),
                        cell(&w["url"]),
                        w["event_types"]
                            .as_array()
                            .map(|t| t.iter().map(cell).collect::<Vec<_>>().join(","))
                            .unwrap_or_default(),
                        if w["enabled"] == true {
                            "enabled".to_string()
                        } else {
                            format!("disabled ({})", cell(&w["disabled_reason"]))
                        },
                    ]
                })
                .collect();
            out.emit(&list, &table(&["ID", "URL", "EVENTS", "STATUS"], &rows))
        }
        WebhooksCommand::Create {
            url,
            events,
            description,
            max_retries,
        } => {
            let mut body = json!({"url": url});
            if !events.is_empty() {
                body["event_types"] = json!(events);
            }
            if let Some(d) = description {
                body["description"] = json!(d);
            }
            if let Some(r) = max_retries {
                body["max_retries"] = json!(r);
            }
            let w = api
                .call(
                    reqwest::Method::POST,
                    "/api/v1/developer/webhooks",
                    Some(body),
                )
                .await?;
            let text = format!(
                "created {} → {}\nsigning secret: {}\nStore it now to verify deliveries: it is not shown again.",
                cell(&w["id"]),
                cell(&w["url"]),
                cell(&w["secret"])
            );
            out.emit(&w, &text)
        }
        WebhooksCommand::Test { id, event_type } => {
            let body = event_type.map(|t| json!({"event_type": t}));
            let r = api
                .call(
                    reqwest::Method::POST,
                    &format!("/api/v1/developer/webhooks/{id}/test"),
                    body,
                )
                .await?;
            let a = &r["attempt"];
            let text = format!(
                "sent {} ({}) to {id}: {} in {} ms{}",
                cell(&r["delivery"]["event_type"]),
                cell(&r["delivery"]["id"]),
                match &a["status_code"] {
                    Value::Null => "no answer".to_string(),
                    s => format!("HTTP {s}"),
                },
                cell(&a["duration_ms"]),
                a["error"]
                    .as_str()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default()
            );
            out.emit(&r, &text)
        }
        WebhooksCommand::Deliveries {
            id,
            status,
            event_type,
            limit,
        } => {
            let mut query = vec![("limit", limit.to_string())];
            if let Some(s) = status {
                query.push(("status", s));
            }
            if let Some(t) = event_type {
                query.push(("event_type", t));
            }
            let list = api
                .get(
                    &format!("/api/v1/developer/webhooks/{id}/deliveries"),
                    &query,
                )
                .await?;
            let rows: Vec<Vec<String>> = data(&list)
                .iter()
                .map(|d| {
                    vec![
                        cell(&d["id"]),
                        cell(&d["event_type"]),
                        cell(&d["status"]),
                        cell(&d["attempts"]),
                        cell(&d["last_status_code"]),
                        time_ms(&d["created_at_ms"]),
                    ]
                })
                .collect();
            out.emit(
                &list,
                &table(
                    &[
                        "ID",
                        "EVENT",
                        "STATUS",
                        "ATTEMPTS",
                        "LAST HTTP",
                        "CREATED (UTC)",
                    ],
                    &rows,
                ),
            )
        }
        WebhooksCommand::Delete { id } => {
            api.call(
                reqwest::Method::DELETE,
                &format!("/api/v1/developer/webhooks/{id}"),
                None,
            )
            .await?;
            out.emit(&json!({"deleted": id}), &format!("deleted {id}"))
        }
    }
}
