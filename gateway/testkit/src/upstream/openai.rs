//! OpenAI's routes: chat completions, completions, embeddings, models.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{json, Value};

use super::directive::{count_words, reply_piece, reply_text, Directive};
use super::{content_text, unix_now, Shape, Shared};
use crate::sse;

/// Embedding length unless the request asks for `dimensions`.
const EMBEDDING_DIMS: usize = 8;

/// OpenAI's error body.
pub(crate) fn error_body(status: StatusCode, message: &str) -> Value {
    let (kind, code) = match status.as_u16() {
        400 | 422 => ("invalid_request_error", "invalid_request"),
        401 => ("authentication_error", "invalid_api_key"),
        403 => ("permission_error", "permission_denied"),
        404 => ("invalid_request_error", "not_found"),
        429 => ("rate_limit_error", "rate_limit_exceeded"),
        s if s >= 500 => ("server_error", "server_error"),
        _ => ("invalid_request_error", "stub_error"),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// What the stub needs from a generation request.
struct Generation {
    model: String,
    prompt_words: u64,
    directive: Directive,
    stream: bool,
    include_usage: bool,
}

impl Generation {
    fn read(body: &Value, prompt_words: u64, last_text: &str) -> Result<Self, String> {
        let model = body
            .get("model")
            .and_then(Value::as_str)
            .ok_or("you must provide a model parameter")?
            .to_owned();
        Ok(Self {
            model,
            prompt_words,
            directive: Directive::parse(last_text),
            stream: body.get("stream").and_then(Value::as_bool) == Some(true),
            include_usage: body
                .pointer("/stream_options/include_usage")
                .and_then(Value::as_bool)
                == Some(true),
        })
    }

    fn usage(&self) -> Value {
        let d = &self.directive;
        json!({
            "prompt_tokens": self.prompt_words,
            "completion_tokens": d.words,
            "total_tokens": self.prompt_words + d.words,
            "prompt_tokens_details": {"cached_tokens": d.cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": d.reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    /// Waits, then answers the directive's forced status if any.
    async fn gate(&self, shared: &Shared) -> Result<(), Response> {
        shared.wait(self.directive.delay_ms).await;
        match self.directive.status {
            Some(status) => Err(shared.error(
                Shape::OpenAi,
                status,
                &format!("stub upstream {}: forced status {status}", shared.name()),
            )),
            None => Ok(()),
        }
    }

    /// Events before the stream drops: `disconnect_after` counts word chunks.
    fn abort_after(&self) -> Option<usize> {
        self.directive
            .disconnect_after
            .map(|k| usize::try_from(k).unwrap_or(usize::MAX))
    }
}

/// `POST /v1/chat/completions`.
pub(crate) async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match shared
        .intake(Shape::OpenAi, &method, &uri, &headers, &body)
        .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    let gen = match read_chat(&body) {
        Ok(gen) => gen,
        Err(message) => return shared.error(Shape::OpenAi, 400, &message),
    };
    if let Err(response) = gen.gate(&shared).await {
        return response;
    }
    let id = format!("chatcmpl-stub{}", shared.next_id());
    let created = unix_now();
    let d = gen.directive;
    if !gen.stream {
        if d.disconnect_after.is_some() {
            return shared.broken_json();
        }
        let mut out = json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": gen.model,
            "system_fingerprint": shared.name(),
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": reply_text(d.words), "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
        });
        if !d.no_usage {
            out["usage"] = gen.usage();
        }
        return shared.json(&out);
    }
    let with_usage = gen.include_usage && !d.no_usage;
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": gen.model,
            "system_fingerprint": shared.name(),
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        // OpenAI sends `"usage": null` on every chunk once usage was asked for.
        if with_usage {
            c["usage"] = Value::Null;
        }
        sse::data_event(&c)
    };
    let mut events = Vec::with_capacity(d.words as usize + 4);
    if d.words == 0 {
        events.push(chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ));
    }
    for i in 1..=d.words {
        let delta = if i == 1 {
            json!({"role": "assistant", "content": reply_piece(i), "refusal": null})
        } else {
            json!({"content": reply_piece(i)})
        };
        events.push(chunk(delta, Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if with_usage {
        events.push(sse::data_event(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": gen.model,
            "system_fingerprint": shared.name(),
            "choices": [],
            "usage": gen.usage(),
        })));
    }
    events.push(Bytes::from_static(sse::DONE));
    shared.stream(events, gen.abort_after())
}

fn read_chat(body: &Value) -> Result<Generation, String> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("'messages' is a required property")?;
    let Some(last) = messages.last() else {
        return Err("[] is too short - 'messages'".to_owned());
    };
    let words = messages
        .iter()
        .map(|m| {
            m.get("content")
                .map_or(0, |c| count_words(&content_text(c)))
        })
        .sum();
    let last_text = last.get("content").map(content_text).unwrap_or_default();
    Generation::read(body, words, &last_text)
}

/// `POST /v1/completions`.
pub(crate) async fn completions(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match shared
        .intake(Shape::OpenAi, &method, &uri, &headers, &body)
        .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    let gen = match read_completion(&body) {
        Ok(gen) => gen,
        Err(message) => return shared.error(Shape::OpenAi, 400, &message),
    };
    if let Err(response) = gen.gate(&shared).await {
        return response;
    }
    let id = format!("cmpl-stub{}", shared.next_id());
    let created = unix_now();
    let d = gen.directive;
    if !gen.stream {
        if d.disconnect_after.is_some() {
            return shared.broken_json();
        }
        let mut out = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": gen.model,
            "system_fingerprint": shared.name(),
            "choices": [{"text": reply_text(d.words), "index": 0, "logprobs": null, "finish_reason": "stop"}],
        });
        if !d.no_usage {
            out["usage"] = gen.usage();
        }
        return shared.json(&out);
    }
    let with_usage = gen.include_usage && !d.no_usage;
    let chunk = |text: String, finish: Value| {
        let mut c = json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": gen.model,
            "system_fingerprint": shared.name(),
            "choices": [{"text": text, "index": 0, "logprobs": null, "finish_reason": finish}],
        });
        if with_usage {
            c["usage"] = Value::Null;
        }
        sse::data_event(&c)
    };
    let mut events = Vec::with_capacity(d.words as usize + 3);
    for i in 1..=d.words {
        events.push(chunk(reply_piece(i), Value::Null));
    }
    events.push(chunk(String::new(), json!("stop")));
    if with_usage {
        events.push(sse::data_event(&json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": gen.model,
            "system_fingerprint": shared.name(),
            "choices": [],
            "usage": gen.usage(),
        })));
    }
    events.push(Bytes::from_static(sse::DONE));
    shared.stream(events, gen.abort_after())
}

fn read_completion(body: &Value) -> Result<Generation, String> {
    let (words, last_text) = match body.get("prompt") {
        None | Some(Value::Null) => (0, String::new()),
        Some(Value::String(s)) => (count_words(s), s.clone()),
        Some(Value::Array(items)) => inputs_words(items)?,
        Some(_) => return Err("'prompt' must be a string or an array".to_owned()),
    };
    Generation::read(body, words, &last_text)
}

/// Words of an array input (strings, token ids, or arrays of token ids; a
/// token id counts as one word) and the text of its last string.
fn inputs_words(items: &[Value]) -> Result<(u64, String), String> {
    let mut words = 0;
    let mut last = String::new();
    for item in items {
        match item {
            Value::String(s) => {
                words += count_words(s);
                last.clone_from(s);
            }
            Value::Number(_) => words += 1,
            Value::Array(tokens) => words += tokens.len() as u64,
            _ => return Err("inputs must be strings or token arrays".to_owned()),
        }
    }
    Ok((words, last))
}

/// `POST /v1/embeddings`.
pub(crate) async fn embeddings(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match shared
        .intake(Shape::OpenAi, &method, &uri, &headers, &body)
        .await
    {
        Ok(body) => body,
        Err(response) => return response,
    };
    let (inputs, words, last_text) = match body.get("input") {
        Some(Value::String(s)) => (1, count_words(s), s.clone()),
        // A flat array of numbers is one tokenised input.
        Some(Value::Array(items)) if items.iter().all(Value::is_number) && !items.is_empty() => {
            (1, items.len() as u64, String::new())
        }
        Some(Value::Array(items)) if !items.is_empty() => match inputs_words(items) {
            Ok((words, last)) => (items.len(), words, last),
            Err(message) => return shared.error(Shape::OpenAi, 400, &message),
        },
        _ => {
            return shared.error(
                Shape::OpenAi,
                400,
                "'input' must be a non-empty string or array",
            )
        }
    };
    let gen = match Generation::read(&body, words, &last_text) {
        Ok(gen) => gen,
        Err(message) => return shared.error(Shape::OpenAi, 400, &message),
    };
    if let Err(response) = gen.gate(&shared).await {
        return response;
    }
    let dims = body
        .get("dimensions")
        .and_then(Value::as_u64)
        .and_then(|d| usize::try_from(d).ok())
        .filter(|d| (1..=4096).contains(d))
        .unwrap_or(EMBEDDING_DIMS);
    let base64 = body.get("encoding_format").and_then(Value::as_str) == Some("base64");
    let data: Vec<Value> = (0..inputs)
        .map(|index| {
            let vector = embedding(index, dims);
            let embedding = if base64 {
                // The official SDKs ask for base64 by default: little-endian f32s.
                let bytes: Vec<u8> = vector.iter().flat_map(|f| f.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(vector)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let mut out = json!({"object": "list", "data": data, "model": gen.model});
    if !gen.directive.no_usage {
        out["usage"] = json!({"prompt_tokens": words, "total_tokens": words});
    }
    shared.json(&out)
}

/// A deterministic vector for the `index`-th input.
fn embedding(index: usize, dims: usize) -> Vec<f32> {
    (0..dims)
        .map(|j| ((index + 1) * (j + 1)) as f32 / 64.0)
        .collect()
}

/// `GET /v1/models`.
pub(crate) async fn models(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = shared
        .intake(Shape::OpenAi, &method, &uri, &headers, &body)
        .await
    {
        return response;
    }
    shared.wait(0).await;
    let data: Vec<Value> = [
        "gpt-4o-mini",
        "gpt-4o",
        "o3-mini",
        "text-embedding-3-small",
    ]
    .iter()
    .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": shared.name()}))
    .collect();
    shared.json(&json!({"object": "list", "data": data}))
}
