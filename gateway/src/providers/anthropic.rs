//! OpenAI chat completions ⇄ Anthropic Messages: the request going up, the
//! response (plain and streamed) and errors coming down. Clients only ever
//! see OpenAI's shapes.
//!
//! Supported: text and image content, system/developer messages, `max_tokens`
//! / `max_completion_tokens`, `temperature`, `top_p`, `stop`, `stream`,
//! `user`. Tool calls are refused with a clear error for now.

use crate::errors::ApiError;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// The Messages API version sent upstream.
pub const API_VERSION: &str = "2023-06-01";

/// Translates an OpenAI chat request into an Anthropic Messages request.
pub fn translate_request(
    body: &Map<String, Value>,
    upstream_model: &str,
    default_max_tokens: u64,
) -> Result<Vec<u8>, ApiError> {
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            ApiError::invalid_request("missing_required_parameter", "'messages' must be an array.")
                .with_param("messages")
        })?;
    if body.get("tools").is_some_and(|t| !t.is_null()) {
        return Err(ApiError::invalid_request(
            "unsupported_parameter",
            "Tool calls are not supported for this model yet.",
        )
        .with_param("tools"));
    }
    let mut system: Vec<String> = Vec::new();
    let mut out: Vec<Value> = Vec::with_capacity(messages.len());
    for m in messages {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        let content = m.get("content").unwrap_or(&Value::Null);
        match role {
            "system" | "developer" => system.push(plain_text(content)),
            "user" | "assistant" => {
                out.push(json!({"role": role, "content": content_blocks(content)?}))
            }
            other => {
                return Err(ApiError::invalid_request(
                    "unsupported_value",
                    format!("Messages with role '{other}' are not supported for this model."),
                )
                .with_param("messages"))
            }
        }
    }
    let max_tokens = body
        .get("max_completion_tokens")
        .or_else(|| body.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(default_max_tokens);
    let mut req = Map::new();
    req.insert("model".into(), Value::String(upstream_model.to_string()));
    req.insert("messages".into(), Value::Array(out));
    req.insert("max_tokens".into(), Value::from(max_tokens));
    if !system.is_empty() {
        req.insert("system".into(), Value::String(system.join("\n\n")));
    }
    for k in ["temperature", "top_p", "stream"] {
        if let Some(v) = body.get(k).filter(|v| !v.is_null()) {
            req.insert(k.into(), v.clone());
        }
    }
    match body.get("stop") {
        Some(Value::String(s)) => {
            req.insert("stop_sequences".into(), json!([s]));
        }
        Some(Value::Array(a)) => {
            req.insert("stop_sequences".into(), Value::Array(a.clone()));
        }
        _ => {}
    }
    if let Some(user) = body.get("user").and_then(Value::as_str) {
        req.insert("metadata".into(), json!({"user_id": user}));
    }
    Ok(Value::Object(req).to_string().into_bytes())
}

fn plain_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

fn content_blocks(content: &Value) -> Result<Value, ApiError> {
    match content {
        Value::String(s) => Ok(Value::String(s.clone())),
        Value::Array(parts) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for p in parts {
                match p.get("type").and_then(Value::as_str) {
                    Some("text") => blocks.push(json!({"type": "text", "text": p.get("text").cloned().unwrap_or(Value::String(String::new()))})),
                    Some("image_url") => {
                        let url = p
                            .get("image_url")
                            .and_then(|i| i.get("url"))
                            .and_then(Value::as_str)
                            .unwrap_or("");
                        blocks.push(image_block(url)?);
                    }
                    _ => {
                        return Err(ApiError::invalid_request(
                            "unsupported_value",
                            "Only text and image_url content parts are supported for this model.",
                        )
                        .with_param("messages"))
                    }
                }
            }
            Ok(Value::Array(blocks))
        }
        Value::Null => Ok(Value::String(String::new())),
        _ => Err(ApiError::invalid_request(
            "invalid_type",
            "Message content must be a string or an array of parts.",
        )
        .with_param("messages")),
    }
}

fn image_block(url: &str) -> Result<Value, ApiError> {
    if let Some(rest) = url.strip_prefix("data:") {
        if let Some((media, data)) = rest.split_once(";base64,") {
            return Ok(
                json!({"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}),
            );
        }
        return Err(ApiError::invalid_request(
            "invalid_value",
            "Image data URLs must be base64-encoded.",
        )
        .with_param("messages"));
    }
    Ok(json!({"type": "image", "source": {"type": "url", "url": url}}))
}

#[derive(Deserialize, Default)]
struct Usage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

fn finish_reason(stop: Option<&str>) -> Value {
    match stop {
        None => Value::Null,
        Some("max_tokens") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some("refusal") => json!("content_filter"),
        Some(_) => json!("stop"),
    }
}

fn openai_usage(input: u64, cached: u64, cache_creation: u64, output: u64) -> Value {
    let prompt = input + cached + cache_creation;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": 0},
    })
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Translates a whole (non-streamed) Anthropic message into a chat completion.
pub fn translate_response(body: &[u8], public_model: &str) -> Option<Vec<u8>> {
    #[derive(Deserialize)]
    struct Block {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        text: String,
    }
    #[derive(Deserialize)]
    struct Message {
        id: String,
        #[serde(default)]
        content: Vec<Block>,
        stop_reason: Option<String>,
        #[serde(default)]
        usage: Usage,
    }
    let m: Message = serde_json::from_slice(body).ok()?;
    let text: String = m
        .content
        .iter()
        .filter(|b| b.kind == "text")
        .map(|b| b.text.as_str())
        .collect();
    let u = &m.usage;
    Some(
        json!({
            "id": format!("chatcmpl-{}", m.id),
            "object": "chat.completion",
            "created": unix_now(),
            "model": public_model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish_reason(m.stop_reason.as_deref()),
            }],
            "usage": openai_usage(
                u.input_tokens,
                u.cache_read_input_tokens.unwrap_or(0),
                u.cache_creation_input_tokens.unwrap_or(0),
                u.output_tokens,
            ),
        })
        .to_string()
        .into_bytes(),
    )
}

/// Translates an Anthropic error body into OpenAI's error shape.
pub fn translate_error(body: &[u8], status: u16) -> Vec<u8> {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let message = v
        .get("error")
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .unwrap_or("The model provider returned an error.");
    let kind = match status {
        400 | 404 | 413 | 422 => "invalid_request_error",
        401 | 403 => "api_error",
        429 => "rate_limit_error",
        _ => "api_error",
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}})
        .to_string()
        .into_bytes()
}

/// Turns Anthropic stream events into OpenAI chunks, one event at a time.
#[derive(Clone)]
pub struct StreamTranslator {
    public_model: String,
    id: String,
    created: u64,
    input: u64,
    cached: u64,
    cache_creation: u64,
    output: u64,
    finished: bool,
}

impl StreamTranslator {
    /// A translator for one response.
    pub fn new(public_model: &str) -> Self {
        StreamTranslator {
            public_model: public_model.to_string(),
            id: String::from("chatcmpl-anthropic"),
            created: unix_now(),
            input: 0,
            cached: 0,
            cache_creation: 0,
            output: 0,
            finished: false,
        }
    }

    fn chunk(&self, choices: Value, usage: Option<Value>, out: &mut Vec<u8>) {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.public_model,
            "choices": choices,
        });
        if let Some(u) = usage {
            c["usage"] = u;
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(c.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    /// Translates one event (its `data:` JSON), appending OpenAI SSE bytes to `out`.
    /// Always ends the stream with a usage chunk and `[DONE]`.
    pub fn event(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let Ok(v) = serde_json::from_slice::<Value>(data) else {
            return;
        };
        match v.get("type").and_then(Value::as_str).unwrap_or("") {
            "message_start" => {
                let msg = &v["message"];
                if let Some(id) = msg.get("id").and_then(Value::as_str) {
                    self.id = format!("chatcmpl-{id}");
                }
                let u: Usage = serde_json::from_value(msg["usage"].clone()).unwrap_or_default();
                self.input = u.input_tokens;
                self.cached = u.cache_read_input_tokens.unwrap_or(0);
                self.cache_creation = u.cache_creation_input_tokens.unwrap_or(0);
                self.output = u.output_tokens;
                self.chunk(
                    json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
                    None,
                    out,
                );
            }
            "content_block_delta" => {
                if let Some(text) = v["delta"].get("text").and_then(Value::as_str) {
                    self.chunk(
                        json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]),
                        None,
                        out,
                    );
                }
            }
            "message_delta" => {
                if let Some(n) = v["usage"].get("output_tokens").and_then(Value::as_u64) {
                    self.output = n;
                }
                if let Some(n) = v["usage"].get("input_tokens").and_then(Value::as_u64) {
                    self.input = n;
                }
                let stop = v["delta"].get("stop_reason").and_then(Value::as_str);
                self.chunk(
                    json!([{"index": 0, "delta": {}, "finish_reason": finish_reason(stop)}]),
                    None,
                    out,
                );
            }
            "message_stop" => self.finish(out),
            "error" => {
                let message = v["error"]
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("The model provider reported an error.");
                let e = json!({"error": {"message": message, "type": "api_error", "param": null, "code": null}});
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(e.to_string().as_bytes());
                out.extend_from_slice(b"\n\n");
                self.finish(out);
            }
            _ => {}
        }
    }

    /// Emits the usage chunk and `[DONE]` once.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let usage = openai_usage(self.input, self.cached, self.cache_creation, self.output);
        self.chunk(json!([]), Some(usage), out);
        out.extend_from_slice(b"data: [DONE]\n\n");
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn request_moves_system_and_sets_max_tokens() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"claude","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]}],"stop":"END","temperature":0.2,"stream":true}"#,
        )
        .unwrap();
        let out: Value =
            serde_json::from_slice(&translate_request(&body, "claude-3-5", 100).unwrap()).unwrap();
        assert_eq!(out["model"], "claude-3-5");
        assert_eq!(out["system"], "be brief");
        assert_eq!(out["max_tokens"], 100);
        assert_eq!(out["messages"][0]["role"], "user");
        assert_eq!(out["messages"][0]["content"][0]["text"], "hi");
        assert_eq!(out["stop_sequences"][0], "END");
        assert_eq!(out["stream"], true);
    }

    #[test]
    fn tools_and_odd_roles_are_refused() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"messages":[{"role":"tool","content":"x"}]}"#).unwrap();
        assert_eq!(translate_request(&body, "m", 1).unwrap_err().status, 400);
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"messages":[],"tools":[{}]}"#).unwrap();
        assert_eq!(
            translate_request(&body, "m", 1).unwrap_err().param,
            Some("tools")
        );
    }

    #[test]
    fn response_and_usage() {
        let out = translate_response(
            br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"text","text":"Hello"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":3,"cache_read_input_tokens":4}}"#,
            "claude",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], "Hello");
        assert_eq!(v["choices"][0]["finish_reason"], "stop");
        assert_eq!(v["usage"]["prompt_tokens"], 14);
        assert_eq!(v["usage"]["completion_tokens"], 3);
        assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    }

    #[test]
    fn stream_events() {
        let mut t = StreamTranslator::new("claude");
        let mut out = Vec::new();
        t.event(br#"{"type":"message_start","message":{"id":"msg_9","usage":{"input_tokens":7,"output_tokens":1}}}"#, &mut out);
        t.event(br#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#, &mut out);
        t.event(br#"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":5}}"#, &mut out);
        t.event(br#"{"type":"message_stop"}"#, &mut out);
        let text = String::from_utf8(out).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
        assert_eq!(events.len(), 5);
        assert!(events[1].contains(r#""content":"Hi""#));
        assert!(events[2].contains(r#""finish_reason":"length""#));
        let usage: Value = serde_json::from_str(events[3].trim_start_matches("data: ")).unwrap();
        assert_eq!(usage["usage"]["prompt_tokens"], 7);
        assert_eq!(usage["usage"]["completion_tokens"], 5);
        assert_eq!(usage["id"], "chatcmpl-msg_9");
        assert_eq!(events[4], "data: [DONE]");
    }

    #[test]
    fn errors_become_openai_shape() {
        let v: Value = serde_json::from_slice(&translate_error(
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            529,
        ))
        .unwrap();
        assert_eq!(v["error"]["message"], "Overloaded");
        assert_eq!(v["error"]["type"], "api_error");
    }
}
