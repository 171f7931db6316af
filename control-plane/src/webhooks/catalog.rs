//! The event types a developer can subscribe an endpoint to, with what
//! each one's `data` looks like (`GET /api/v1/developer/event-types`).
//! The `api_key.*` events are emitted by [`crate::keys::owned`]; the
//! `webhook.*` ones by the webhook machinery; `api.usage_alert`,
//! `billing.payment` and `invoice.finalized` by [`crate::billing`];
//! `task.*` and `batch.*` by [`crate::batches`]; the others are documented
//! here for the features that will emit them, so endpoints can subscribe
//! ahead of time.

use serde_json::{json, Value};

/// One event type.
pub struct EventType {
    /// `api_key.created`, …
    pub name: &'static str,
    /// One sentence for the portal.
    pub description: &'static str,
    /// An example of its `data`.
    pub example: fn() -> Value,
}

/// A key as [`crate::keys::owned::key_json`] describes it.
fn key_example() -> Value {
    json!({
        "id": "key_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
        "name": "production",
        "display_prefix": "ahub_AbCd…x9Yz",
        "enabled": true,
        "created_at_ms": 1_735_689_600_000_i64,
        "expires_at_ms": 1_743_465_600_000_i64,
        "last_used_at_ms": null,
        "allowed_models": ["gpt-4o-mini"],
        "allowed_endpoints": null,
        "limits": {
            "requests_per_minute": 60,
            "tokens_per_minute": null,
            "token_quota_total": null,
            "token_quota_monthly": 1_000_000,
            "budget_total": null,
            "budget_monthly": "25.00",
        },
        "ip_allowlist": null,
        "metadata": {"team": "search"},
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    if let (Some(obj), Value::Object(more)) = (base.as_object_mut(), extra) {
        obj.extend(more);
    }
    base
}

/// Every event type, in the order the portal lists them.
pub const ALL: &[EventType] = &[
    EventType {
        name: "api_key.created",
        description: "An API key was created. data: the key (never its secret).",
        example: key_example,
    },
    EventType {
        name: "api_key.updated",
        description: "An API key was changed (renamed, enabled or disabled, limits, scopes, \
                      expiry, metadata). data: the key after the change, plus `changed`: \
                      the fields that changed and their new values.",
        example: || {
            with(
                key_example(),
                json!({"changed": {"enabled": false, "name": "production"}}),
            )
        },
    },
    EventType {
        name: "api_key.regenerated",
        description: "An API key got a new secret. data: the key, plus `grace_seconds` and \
                      `grace_expires_at_ms` (when the old secret stops; null: at once).",
        example: || {
            with(
                key_example(),
                json!({"grace_seconds": 3600, "grace_expires_at_ms": 1_735_693_200_000_i64}),
            )
        },
    },
    EventType {
        name: "api_key.deleted",
        description: "An API key was deleted; it is refused from now on. data: the key as it \
                      was (enabled false).",
        example: || with(key_example(), json!({"enabled": false})),
    },
    EventType {
        name: "api.usage_alert",
        description: "Usage crossed an alert threshold, once per threshold and period. `kind`: \
                      `allowance` (50/80/100% of the plan's included tokens this month: \
                      `used_tokens`, `included_tokens`), `key_budget_monthly` or \
                      `key_budget_total` (50/80/100% of a key's spend budget: `key_id`, \
                      `spent`, `budget`), `balance_low` (prepaid credit fell below \
                      `threshold`) or `balance_empty`. Amounts are decimal text.",
        example: || {
            json!({
                "kind": "allowance",
                "threshold_percent": 80,
                "period": "2026-11",
                "plan": "developer",
                "included_tokens": 100_000,
                "used_tokens": 80_412,
            })
        },
    },
    EventType {
        name: "api.error",
        description: "Requests of a key failed repeatedly (e.g. the upstream provider kept \
                      failing). data: the key, the error code, how many in the window.",
        example: || {
            json!({
                "key_id": "key_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "model": "gpt-4o-mini",
                "code": "upstream_error",
                "status": 502,
                "count": 25,
                "window_seconds": 300,
                "message": "the provider answered 502",
            })
        },
    },
    EventType {
        name: "billing.payment",
        description: "A payment succeeded: a top-up (`purpose` `top_up`, credited to the \
                      balance) or an invoice (`purpose` `invoice`), through `provider` \
                      `stripe` or recorded by the operator (`manual`). Amounts are decimal text.",
        example: || {
            json!({
                "payment_id": "pay_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "purpose": "invoice",
                "invoice_id": "inv_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "amount": "29.00",
                "currency": "usd",
                "provider": "stripe",
                "status": "succeeded",
            })
        },
    },
    EventType {
        name: "invoice.finalized",
        description: "A monthly invoice was finalized with its number: `open` with \
                      `amount_due` to pay, or `paid` when nothing was due.",
        example: || {
            json!({
                "invoice_id": "inv_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "number": "AIH-2026-000042",
                "month": "2026-10",
                "status": "open",
                "total": "42.17",
                "amount_due": "42.17",
            })
        },
    },
    EventType {
        name: "task.completed",
        description: "A task finished: `data` is the task as `GET /api/v1/developer/tasks/{id}` \
                      shows it (its `result_file_id` is the download).",
        example: || {
            json!({
                "id": "task_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "type": "batch_generate",
                "status": "completed",
                "progress": 100,
                "input": {"model": "gpt-4o-mini", "prompts": ["…"]},
                "request_counts": {"total": 100, "completed": 100, "failed": 0},
                "usage": {"prompt_tokens": 2_100, "completion_tokens": 9_800},
                "batch_id": "batch_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "result_file_id": "file-0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "error_message": null,
                "created_at": 1_735_689_600_000_i64,
                "started_at": 1_735_689_600_000_i64,
                "completed_at": 1_735_689_660_000_i64,
            })
        },
    },
    EventType {
        name: "task.failed",
        description: "A task failed (every item failed, its input was refused, or 24 hours \
                      passed): the task, with `error_message` saying why.",
        example: || {
            json!({
                "id": "task_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "type": "batch_process",
                "status": "failed",
                "progress": 100,
                "request_counts": {"total": 3, "completed": 0, "failed": 3},
                "error_message": "every item failed; see the error file",
                "completed_at": 1_735_689_660_000_i64,
            })
        },
    },
    EventType {
        name: "task.progress",
        description: "A task passed another tenth of its items.",
        example: || {
            json!({
                "task_id": "task_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "batch_id": "batch_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "progress": 40,
                "request_counts": {"total": 100, "completed": 39, "failed": 1},
            })
        },
    },
    EventType {
        name: "batch.completed",
        description: "A batch of the Batches API finished (completed, failed, expired or \
                      cancelled): `data` is the batch object, with its request counts and \
                      output and error files.",
        example: || {
            json!({
                "id": "batch_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "object": "batch",
                "endpoint": "/v1/chat/completions",
                "status": "completed",
                "request_counts": {"total": 100, "completed": 98, "failed": 2},
                "output_file_id": "file-0192f0c4out",
                "error_file_id": "file-0192f0c4err",
                "completed_at": 1_735_693_200_i64,
            })
        },
    },
    EventType {
        name: "batch.progress",
        description: "A batch of the Batches API passed another tenth of its items.",
        example: || {
            json!({
                "batch_id": "batch_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "progress": 40,
                "request_counts": {"total": 100, "completed": 39, "failed": 1},
            })
        },
    },
    EventType {
        name: "webhook.test",
        description: "Sent by the portal's “send test event” (POST /webhooks/{id}/test) to \
                      one endpoint only.",
        example: || {
            json!({
                "endpoint_id": "we_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "message": "This is a test event from AI Hub.",
            })
        },
    },
    EventType {
        name: "webhook.endpoint_disabled",
        description: "An endpoint was disabled automatically: `gone` (it answered 410) or \
                      `failing` (every delivery failed for too long). Its developer is also \
                      told by email.",
        example: || {
            json!({
                "endpoint_id": "we_0192f0c4a7b87f3e9d0e6a1b2c3d4e5f",
                "url": "https://example.com/hooks/aihub",
                "reason": "failing",
            })
        },
    },
];

/// Whether `name` is in the catalog.
pub fn is_known(name: &str) -> bool {
    ALL.iter().any(|t| t.name == name)
}

/// The catalog as the API shows it.
pub fn to_json() -> Value {
    Value::Array(
        ALL.iter()
            .map(|t| {
                json!({
                    "type": t.name,
                    "description": t.description,
                    "example": (t.example)(),
                })
            })
            .collect(),
    )
}

/// The catalog as Markdown, for `control-plane/docs/webhooks.md` (a test
/// keeps the document equal to it).
pub fn to_markdown() -> String {
    let mut out = String::new();
    for t in ALL {
        let example = serde_json::to_string_pretty(&(t.example)()).unwrap_or_default();
        out.push_str(&format!(
            "### `{}`\n\n{}\n\n```json\n{}\n```\n\n",
            t.name, t.description, example
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/webhooks.md");
    const START: &str = "<!-- catalog:start (generated from src/webhooks/catalog.rs) -->\n";
    const END: &str = "<!-- catalog:end -->";

    /// The documented catalog is the code's. `AIHUB_UPDATE_DOCS=1` rewrites it.
    #[test]
    fn the_documented_catalog_is_the_real_one() {
        let doc = std::fs::read_to_string(DOC).unwrap();
        let (head, rest) = doc.split_once(START).expect("catalog start marker");
        let (_, tail) = rest.split_once(END).expect("catalog end marker");
        let fresh = format!("{head}{START}\n{}{END}{tail}", to_markdown());
        if std::env::var_os("AIHUB_UPDATE_DOCS").is_some() {
            std::fs::write(DOC, &fresh).unwrap();
            return;
        }
        assert!(
            doc == fresh,
            "docs/webhooks.md lists another catalog than src/webhooks/catalog.rs: \
             run `AIHUB_UPDATE_DOCS=1 cargo test -p aihub-control-plane catalog`"
        );
    }

    #[test]
    fn names_are_unique_and_examples_are_objects() {
        let mut names: Vec<_> = ALL.iter().map(|t| t.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert!(ALL.iter().all(|t| (t.example)().is_object()));
        assert!(is_known("api_key.created") && !is_known("*") && !is_known("nope"));
    }
}
