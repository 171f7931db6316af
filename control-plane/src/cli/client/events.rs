//! `aihub events tail`: the live event stream
//! (`GET /api/v1/developer/events/stream`, Server-Sent Events), resumed with
//! `Last-Event-ID` when the connection drops.

use super::{answer, cell, time_ms, Api, Connection};
use crate::cli::Output;
use clap::Subcommand;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;

/// Marks on stderr that the stream is open (scripts and tests wait for it).
pub const LISTENING: &str = "listening for events";

/// `aihub events …`
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Print your events as they happen, until Ctrl-C (or `--count`).
    /// With `--json`, one event per line.
    Tail {
        /// Only these event types (comma-separated or repeated; `batch.*`
        /// matches every `batch.` type).
        #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
        types: Vec<String>,
        /// Stop after this many events.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// First replay the events after this one (`evt_…`), oldest first.
        #[arg(long, value_name = "EVENT_ID")]
        after: Option<String>,
    },
}

fn wanted(types: &[String], t: &str) -> bool {
    types.is_empty()
        || types.iter().any(|w| match w.strip_suffix('*') {
            Some(prefix) => t.starts_with(prefix),
            None => w == t,
        })
}

/// How many reconnections in a row without an event before giving up.
const MAX_RECONNECTS: u32 = 10;

/// `aihub events …`
pub async fn events(conn: &Connection, cmd: EventsCommand, out: &Output) -> anyhow::Result<()> {
    let EventsCommand::Tail {
        types,
        count,
        after,
    } = cmd;
    let mut api = Api::open(conn)?;
    let mut last = after;
    let mut printed = 0_u64;
    let mut failures = 0_u32;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    if count == Some(0) {
        return Ok(());
    }
    loop {
        let connect = api.request("/api/v1/developer/events/stream", |http, url, token| {
            let req = http
                .get(url)
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "text/event-stream");
            match &last {
                Some(id) => req.header("last-event-id", id.as_str()),
                None => req,
            }
        });
        let resp = tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            r = connect => r,
        };
        let resp = match resp {
            Ok(r) if r.status().is_success() => r,
            // The API's refusal (a 4xx) ends it; its message is the error.
            Ok(r) if r.status().is_client_error() => return answer(r).await.map(|_| ()),
            Ok(r) => {
                failures += 1;
                if failures > MAX_RECONNECTS {
                    return answer(r).await.map(|_| ());
                }
                eprintln!(
                    "the event stream answered HTTP {}; reconnecting…",
                    r.status()
                );
                tokio::select! {
                    _ = &mut ctrl_c => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            // Not signed in, or the session ended: no use trying again.
            Err(e) if e.downcast_ref::<super::ClientError>().is_some() => return Err(e),
            Err(e) => {
                failures += 1;
                if failures > MAX_RECONNECTS {
                    return Err(e);
                }
                eprintln!("{e:#}; reconnecting…");
                tokio::select! {
                    _ = &mut ctrl_c => return Ok(()),
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        eprintln!("{LISTENING} (Ctrl-C to stop)…");
        let mut stream = resp.bytes_stream().eventsource();
        loop {
            let next = tokio::select! {
                _ = &mut ctrl_c => return Ok(()),
                n = stream.next() => n,
            };
            let ev = match next {
                Some(Ok(ev)) => ev,
                Some(Err(e)) => {
                    eprintln!("the event stream broke ({e}); reconnecting…");
                    break;
                }
                None => break,
            };
            if ev.data.trim().is_empty() {
                continue;
            }
            failures = 0;
            if !ev.id.is_empty() {
                last = Some(ev.id.clone());
            }
            let event: Value = serde_json::from_str(&ev.data).unwrap_or(Value::String(ev.data));
            let kind = event["type"].as_str().unwrap_or(&ev.event).to_string();
            if !wanted(&types, &kind) {
                continue;
            }
            let data = event["data"].to_string();
            let short: String = data.chars().take(160).collect();
            out.emit(
                &event,
                &format!(
                    "{}  {}  {}  {short}",
                    time_ms(&event["created_at_ms"]),
                    kind,
                    cell(&event["id"])
                ),
            )?;
            printed += 1;
            if count.is_some_and(|c| printed >= c) {
                return Ok(());
            }
        }
        failures += 1;
        if failures > MAX_RECONNECTS {
            anyhow::bail!("the event stream keeps closing; giving up");
        }
        tokio::select! {
            _ = &mut ctrl_c => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_filters_match_exactly_or_by_prefix() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(wanted(&[], "anything"));
        assert!(wanted(&t(&["batch.*"]), "batch.completed"));
        assert!(!wanted(&t(&["batch.*"]), "task.completed"));
        assert!(wanted(
            &t(&["task.failed", "api_key.created"]),
            "api_key.created"
        ));
        assert!(!wanted(&t(&["api_key.created"]), "api_key.created2"));
    }
}
