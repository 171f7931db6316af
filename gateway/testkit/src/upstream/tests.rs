//! The stub over real HTTP: wire shapes, usage, directives, stream framing.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;
use crate::sse;

fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

async fn post(stub: &StubUpstream, path: &str, body: Value) -> (u16, HeaderMap, String) {
    let r = client()
        .post(format!("{}{path}", stub.base_url()))
        .header("authorization", "Bearer sk-upstream")
        .header("x-api-key", "sk-ant-upstream")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

fn chat(content: &str) -> Value {
    json!({"model": "gpt-x", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": content},
    ]})
}

#[tokio::test]
async fn chat_completion_has_deterministic_usage_and_is_recorded() {
    let stub = StubUpstream::start(StubConfig::named("alpha")).unwrap();
    let (status, headers, text) = post(&stub, "/chat/completions", chat("hello there world")).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(headers["x-stub-upstream"], "alpha");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-x");
    assert_eq!(v["system_fingerprint"], "alpha");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "word1 word2 word3 word4 word5"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 5);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["total_tokens"], 10);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );

    assert_eq!(stub.request_count(), 1);
    let r = stub.last_request().unwrap();
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.header("Authorization"), Some("Bearer sk-upstream"));
    assert_eq!(r.body["messages"][1]["content"], "hello there world");
    stub.clear();
    assert_eq!(stub.request_count(), 0);
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn directives_steer_usage_and_do_not_count_as_prompt() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": [{"type": "text", "text": "one two"}, {"type": "image_url", "image_url": {"url": "x"}}]},
        {"role": "assistant", "content": null, "tool_calls": []},
        {"role": "user", "content": [{"type": "text", "text": "three [[stub words=12 cached=3 reasoning=2]]"}]},
    ]});
    let (status, _, text) = post(&stub, "/chat/completions", body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 12);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 3);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        2
    );
    assert_eq!(
        count_words(v["choices"][0]["message"]["content"].as_str().unwrap()),
        12
    );

    // Only the last message steers.
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "[[stub words=9]] a"},
        {"role": "user", "content": "b"},
    ]});
    let (_, _, text) = post(&stub, "/chat/completions", body).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["usage"]["completion_tokens"], 5);
    assert_eq!(v["usage"]["prompt_tokens"], 2);

    let (_, _, text) = post(&stub, "/chat/completions", chat("x [[stub no_usage=1]]")).await;
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(v.get("usage").is_none(), "{v}");
}

/// Reads an SSE response back into events, checking the content type.
async fn stream(stub: &StubUpstream, path: &str, body: Value) -> Vec<sse::SseEvent> {
    let r = client()
        .post(format!("{}{path}", stub.base_url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    sse::parse(&r.text().await.unwrap())
}

#[tokio::test]
async fn chat_stream_frames_chunks_usage_and_done() {
    let stub = StubUpstream::start(StubConfig::named("beta")).unwrap();
    let mut body = chat("a b c [[stub words=3 cached=1 reasoning=1]]");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let events = stream(&stub, "/chat/completions", body).await;
    // 3 word chunks, the finish chunk, the usage chunk, [DONE].
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(events.iter().all(|e| e.event.is_none()));
    assert!(events[5].is_done());
    let chunks: Vec<Value> = events[..5].iter().map(|e| e.json().unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"
        && c["model"] == "gpt-x"
        && c["system_fingerprint"] == "beta"
        && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert!(chunks[1]["choices"][0]["delta"].get("role").is_none());
    let text: String = chunks[..3]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "word1 word2 word3");
    assert!(chunks[..4].iter().all(|c| c["usage"].is_null()));
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"], json!([]));
    // "be brief" + "a b c"
    assert_eq!(chunks[4]["usage"]["prompt_tokens"], 5);
    assert_eq!(chunks[4]["usage"]["completion_tokens"], 3);
    assert_eq!(
        chunks[4]["usage"]["prompt_tokens_details"]["cached_tokens"],
        1
    );
    assert_eq!(
        chunks[4]["usage"]["completion_tokens_details"]["reasoning_tokens"],
        1
    );
}

#[tokio::test]
async fn chat_stream_usage_only_when_asked_and_allowed() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let mut body = chat("a b");
    body["stream"] = json!(true);
    let events = stream(&stub, "/chat/completions", body.clone()).await;
    assert_eq!(events.len(), 5 + 2);
    assert!(events
        .iter()
        .filter_map(sse::SseEvent::json)
        .all(|c| c.get("usage").is_none()));

    body["stream_options"] = json!({"include_usage": true});
    body["messages"][1]["content"] = json!("a b [[stub no_usage=1 words=0]]");
    let events = stream(&stub, "/chat/completions", body).await;
    // words=0: one role chunk with empty content, the finish chunk, [DONE].
    assert_eq!(events.len(), 3, "{events:?}");
    let first = events[0].json().unwrap();
    assert_eq!(first["choices"][0]["delta"]["content"], "");
    assert!(events
        .iter()
        .filter_map(sse::SseEvent::json)
        .all(|c| c["usage"].is_null()));
}

#[tokio::test]
async fn disconnect_after_drops_the_connection_mid_stream() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let mut body = chat("x [[stub words=10 disconnect_after=3]]");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let mut r = client()
        .post(format!("{}/chat/completions", stub.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut received = Vec::new();
    let failed = loop {
        match r.chunk().await {
            Ok(Some(bytes)) => received.extend_from_slice(&bytes),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    assert!(failed, "the body must end in an error, not a clean end");
    let events = sse::parse(std::str::from_utf8(&received).unwrap());
    assert_eq!(events.len(), 3);
    assert!(!events.iter().any(sse::SseEvent::is_done));

    // A K past the end of the stream: it completes normally.
    let mut body = chat("x [[stub words=2 disconnect_after=50]]");
    body["stream"] = json!(true);
    let events = stream(&stub, "/chat/completions", body).await;
    assert!(events.last().unwrap().is_done());

    // Non-streaming: headers, then the connection drops.
    let r = client()
        .post(format!("{}/chat/completions", stub.base_url()))
        .json(&chat("x [[stub disconnect_after=0]]"))
        .send()
        .await
        .unwrap();
    assert!(r.text().await.is_err());
}

#[tokio::test]
async fn errors_follow_the_openai_shape() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let (status, headers, text) =
        post(&stub, "/chat/completions", chat("x [[stub status=429]]")).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert!(v["error"]["param"].is_null());
    assert!(v["error"]["message"].is_string() && v["error"]["code"].is_string());

    let (status, _, text) = post(&stub, "/chat/completions", json!({"messages": []})).await;
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "invalid_request_error"
    );

    let r = client()
        .post(format!("{}/chat/completions", stub.base_url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    let (status, _, text) = post(&stub, "/nope", json!({})).await;
    assert_eq!(status, 404);
    assert!(text.contains("/v1/nope"));
}

#[tokio::test]
async fn fail_status_applies_to_every_route_and_can_change() {
    let stub = StubUpstream::start(StubConfig {
        fail_status: Some(503),
        ..StubConfig::default()
    })
    .unwrap();
    let (status, _, text) = post(&stub, "/chat/completions", chat("hi")).await;
    assert_eq!(status, 503);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "server_error"
    );
    let (status, _, text) = post(
        &stub,
        "/messages",
        json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(status, 503);
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "api_error");
    let models = client()
        .get(format!("{}/models", stub.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 503);

    stub.set_fail_status(None);
    let (status, _, _) = post(&stub, "/chat/completions", chat("hi")).await;
    assert_eq!(status, 200);
    assert_eq!(stub.request_count(), 4);
}

#[tokio::test]
async fn latency_and_delay_hold_the_headers() {
    let stub = StubUpstream::start(StubConfig {
        latency_ms: 30,
        ..StubConfig::default()
    })
    .unwrap();
    let started = Instant::now();
    let (status, _, _) = post(&stub, "/chat/completions", chat("x [[stub delay_ms=40]]")).await;
    assert_eq!(status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(70),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn chunk_delay_spaces_stream_chunks() {
    let stub = StubUpstream::start(StubConfig {
        chunk_delay_ms: 25,
        ..StubConfig::default()
    })
    .unwrap();
    let mut body = chat("x [[stub words=4]]");
    body["stream"] = json!(true);
    let started = Instant::now();
    // 4 words + finish + [DONE] = 6 events, 5 gaps.
    let events = stream(&stub, "/chat/completions", body).await;
    assert_eq!(events.len(), 6);
    assert!(
        started.elapsed() >= Duration::from_millis(125),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn completions_plain_and_streaming() {
    let stub = StubUpstream::start(StubConfig::named("c")).unwrap();
    let (status, _, text) = post(
        &stub,
        "/completions",
        json!({"model": "davinci", "prompt": ["one two", "three [[stub words=2]]"]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "word1 word2");
    assert_eq!(v["usage"]["prompt_tokens"], 3);
    assert_eq!(v["usage"]["completion_tokens"], 2);

    let events = stream(
        &stub,
        "/completions",
        json!({"model": "davinci", "prompt": "a b c", "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(events.len(), 5 + 1 + 1 + 1);
    let chunks: Vec<Value> = events.iter().filter_map(sse::SseEvent::json).collect();
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["text"].as_str())
        .collect();
    assert_eq!(text, reply_text(5));
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["prompt_tokens"], 3);
    assert_eq!(usage["completion_tokens"], 5);
    assert!(events.last().unwrap().is_done());
}

#[tokio::test]
async fn embeddings_floats_and_base64() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let (status, _, text) = post(
        &stub,
        "/embeddings",
        json!({"model": "text-embedding-3-small", "input": ["a b", "c"]}),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"].as_array().unwrap().len(), 2);
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["data"][0]["embedding"].as_array().unwrap().len(), 8);
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));

    let (_, _, text) = post(
        &stub,
        "/embeddings",
        json!({"model": "e", "input": "x y", "encoding_format": "base64"}),
    )
    .await;
    let v: Value = serde_json::from_str(&text).unwrap();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    use base64::Engine as _;
    assert_eq!(raw.len(), 8 * 4);
    assert_eq!(f32::from_le_bytes(raw[..4].try_into().unwrap()), 1.0 / 64.0);

    let (status, _, _) = post(&stub, "/embeddings", json!({"model": "e"})).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn models_list() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let v: Value = client()
        .get(format!("{}/models", stub.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert!(v["data"].as_array().unwrap().len() >= 3);
    assert_eq!(v["data"][0]["object"], "model");
}

fn anthropic_body(content: &str) -> Value {
    json!({
        "model": "claude-x",
        "max_tokens": 100,
        "system": "you are terse",
        "messages": [{"role": "user", "content": [{"type": "text", "text": content}]}],
    })
}

#[tokio::test]
async fn anthropic_messages_plain() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let (status, _, text) = post(
        &stub,
        "/messages",
        anthropic_body("a b c d [[stub words=4 cached=2]]"),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-x");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "word1 word2 word3 word4"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    // 7 prompt words, 2 of them read from the cache.
    assert_eq!(v["usage"]["input_tokens"], 5);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 2);
    assert_eq!(v["usage"]["output_tokens"], 4);
    let r = stub.last_request().unwrap();
    assert_eq!(r.header("x-api-key"), Some("sk-ant-upstream"));
    assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
}

#[tokio::test]
async fn anthropic_requires_its_headers_and_max_tokens() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let r = client()
        .post(format!("{}/messages", stub.base_url()))
        .header("anthropic-version", "2023-06-01")
        .json(&anthropic_body("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");

    let mut body = anthropic_body("x");
    body.as_object_mut().unwrap().remove("max_tokens");
    let (status, _, text) = post(&stub, "/messages", body).await;
    assert_eq!(status, 400);
    assert!(text.contains("max_tokens"));

    let (status, _, text) = post(&stub, "/messages", anthropic_body("x [[stub status=529]]")).await;
    assert_eq!(status, 529);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["type"],
        "overloaded_error"
    );
}

#[tokio::test]
async fn anthropic_stream_event_sequence() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let mut body = anthropic_body("one two [[stub words=3]]");
    body["stream"] = json!(true);
    let events = stream(&stub, "/messages", body).await;
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    let data: Vec<Value> = events.iter().map(|e| e.json().unwrap()).collect();
    for (name, d) in names.iter().zip(&data) {
        assert_eq!(d["type"], *name);
    }
    assert_eq!(data[0]["message"]["usage"]["input_tokens"], 5);
    assert_eq!(data[0]["message"]["usage"]["output_tokens"], 1);
    let text: String = data[3..6]
        .iter()
        .map(|d| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(text, "word1 word2 word3");
    assert_eq!(data[7]["delta"]["stop_reason"], "end_turn");
    assert_eq!(data[7]["usage"]["output_tokens"], 3);

    // disconnect_after counts text deltas, after the three opening events.
    let mut body = anthropic_body("x [[stub words=5 disconnect_after=2]]");
    body["stream"] = json!(true);
    let mut r = client()
        .post(format!("{}/messages", stub.base_url()))
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    let mut received = Vec::new();
    while let Ok(Some(bytes)) = r.chunk().await {
        received.extend_from_slice(&bytes);
    }
    let events = sse::parse(std::str::from_utf8(&received).unwrap());
    assert_eq!(events.len(), anthropic::PREAMBLE_EVENTS + 2);
}

#[tokio::test]
async fn recording_off_still_counts() {
    let stub = StubUpstream::start(StubConfig {
        record: false,
        ..StubConfig::default()
    })
    .unwrap();
    for _ in 0..3 {
        post(&stub, "/chat/completions", chat("x")).await;
    }
    assert_eq!(stub.request_count(), 3);
    assert!(stub.requests().is_empty());
}

#[tokio::test]
async fn a_stopped_stub_refuses_connections() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let url = stub.base_url();
    stub.stop();
    assert!(client().get(format!("{url}/models")).send().await.is_err());
}

#[test]
fn starts_and_stops_outside_any_runtime() {
    let stub = StubUpstream::start(StubConfig::default()).unwrap();
    let addr = stub.addr();
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(stub);
    assert!(std::net::TcpStream::connect(addr).is_err());
}
