//! Anthropic's Messages route, plain and streaming.
//!
//! Usage follows Anthropic's own accounting: `input_tokens` excludes tokens
//! read from the cache, which are reported apart as `cache_read_input_tokens`
//! (so `input_tokens + cache_read_input_tokens` = prompt words).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};

use super::directive::{count_words, reply_piece, reply_text, Directive};
use super::{content_text, Shape, Shared};
use crate::sse;

/// Events sent before the first text delta: `message_start`,
/// `content_block_start`, `ping`. `disconnect_after=K` drops the stream
/// after these and K text deltas.
pub const PREAMBLE_EVENTS: usize = 3;

/// Anthropic's error body.
pub(crate) fn error_body(status: StatusCode, message: &str) -> Value {
    let kind = match status.as_u16() {
        400 | 413 | 422 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

/// `POST /v1/messages`.
pub(crate) async fn messages(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match shared
        .intake(Shape::Anthropic, &method, &uri, &headers, &body)
        .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    // Anthropic refuses requests without these; so does the stub, so a
    // translation that forgets them fails here as it would in production.
    if !headers.contains_key("x-api-key") {
        return shared.error(Shape::Anthropic, 401, "x-api-key header is required");
    }
    if !headers.contains_key("anthropic-version") {
        return shared.error(
            Shape::Anthropic,
            400,
            "anthropic-version: header is required",
        );
    }
    let req = match Request::read(&body) {
        Ok(req) => req,
        Err(message) => return shared.error(Shape::Anthropic, 400, &message),
    };
    let d = req.directive;
    shared.wait(d.delay_ms).await;
    if let Some(status) = d.status {
        return shared.error(
            Shape::Anthropic,
            status,
            &format!("stub upstream {}: forced status {status}", shared.name()),
        );
    }
    let id = format!("msg_stub{}", shared.next_id());
    let input_tokens = req.prompt_words.saturating_sub(d.cached);
    let start_usage = json!({
        "input_tokens": input_tokens,
        "output_tokens": if req.stream { 1 } else { d.words },
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": d.cached,
    });
    if !req.stream {
        if d.disconnect_after.is_some() {
            return shared.broken_json();
        }
        let mut out = json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": [{"type": "text", "text": reply_text(d.words)}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
        });
        if !d.no_usage {
            out["usage"] = start_usage;
        }
        return shared.json(&out);
    }
    let mut message = json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": req.model,
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if !d.no_usage {
        message["usage"] = start_usage;
    }
    let mut events = Vec::with_capacity(d.words as usize + 6);
    events.push(sse::named_event(
        "message_start",
        &json!({"type": "message_start", "message": message}),
    ));
    events.push(sse::named_event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ));
    events.push(sse::named_event("ping", &json!({"type": "ping"})));
    for i in 1..=d.words {
        events.push(sse::named_event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": reply_piece(i)}}),
        ));
    }
    events.push(sse::named_event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    let mut delta = json!({
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
    });
    if !d.no_usage {
        delta["usage"] = json!({"output_tokens": d.words});
    }
    events.push(sse::named_event("message_delta", &delta));
    events.push(sse::named_event(
        "message_stop",
        &json!({"type": "message_stop"}),
    ));
    let abort_after = d
        .disconnect_after
        .map(|k| PREAMBLE_EVENTS.saturating_add(usize::try_from(k).unwrap_or(usize::MAX)));
    shared.stream(events, abort_after)
}

struct Request {
    model: String,
    prompt_words: u64,
    directive: Directive,
    stream: bool,
}

impl Request {
    fn read(body: &Value) -> Result<Self, String> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or("model: Field required")?
            .to_owned();
        if !body.get("max_tokens").is_some_and(Value::is_u64) {
            return Err("max_tokens: Field required".to_owned());
        }
        let messages = body
            .get("messages")
            .and_then(Value::as_array)
            .ok_or("messages: Field required")?;
        let Some(last) = messages.last() else {
            return Err("messages: at least one message is required".to_owned());
        };
        let mut words: u64 = messages
            .iter()
            .map(|m| {
                m.get("content")
                    .map_or(0, |c| count_words(&content_text(c)))
            })
            .sum();
        if let Some(system) = body.get("system") {
            words += count_words(&content_text(system));
        }
        let last_text = last.get("content").map(content_text).unwrap_or_default();
        Ok(Self {
            model,
            prompt_words: words,
            directive: Directive::parse(&last_text),
            stream: body.get("stream").and_then(Value::as_bool) == Some(true),
        })
    }
}
