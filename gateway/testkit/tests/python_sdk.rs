//! The official OpenAI Python SDK against the stub: proof that the stub
//! speaks the real wire protocol (runs when `AIHUB_TEST_PYTHON` is set).
#![allow(clippy::unwrap_used)]

use aihub_testkit::procs::python_venv;
use aihub_testkit::{StubConfig, StubUpstream};
use serde_json::Value;

const SCRIPT: &str = r#"
import json, sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
out = {}
r = client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "one two three [[stub words=4 cached=1]]"}])
out["chat"] = {"content": r.choices[0].message.content, "prompt": r.usage.prompt_tokens,
               "completion": r.usage.completion_tokens, "cached": r.usage.prompt_tokens_details.cached_tokens,
               "fingerprint": r.system_fingerprint}
text, usage = "", None
for chunk in client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "a b"}],
                                            stream=True, stream_options={"include_usage": True}):
    if chunk.choices and chunk.choices[0].delta.content:
        text += chunk.choices[0].delta.content
    if chunk.usage:
        usage = chunk.usage
out["stream"] = {"text": text, "prompt": usage.prompt_tokens, "completion": usage.completion_tokens}
e = client.embeddings.create(model="text-embedding-3-small", input=["x y", "z"])
out["embeddings"] = {"n": len(e.data), "dims": len(e.data[0].embedding), "first": e.data[0].embedding[0], "prompt": e.usage.prompt_tokens}
c = client.completions.create(model="davinci", prompt="p q")
out["completions"] = {"text": c.choices[0].text, "prompt": c.usage.prompt_tokens}
out["models"] = [m.id for m in client.models.list()]
try:
    client.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "[[stub status=429]]"}])
    out["error"] = None
except openai.RateLimitError as err:
    out["error"] = {"status": err.status_code, "type": err.body.get("type") if isinstance(err.body, dict) else None}
print(json.dumps(out))
"#;

#[test]
fn the_openai_python_sdk_understands_the_stub() {
    let Some(python) = python_venv() else {
        eprintln!("AIHUB_TEST_PYTHON unset: skipping");
        return;
    };
    let stub = StubUpstream::start(StubConfig::named("py")).unwrap();
    let output = std::process::Command::new(python)
        .args(["-c", SCRIPT, &stub.base_url()])
        .env("NO_PROXY", "127.0.0.1")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(v["chat"]["content"], "word1 word2 word3 word4");
    assert_eq!(v["chat"]["prompt"], 3);
    assert_eq!(v["chat"]["completion"], 4);
    assert_eq!(v["chat"]["cached"], 1);
    assert_eq!(v["chat"]["fingerprint"], "py");
    assert_eq!(v["stream"]["text"], "word1 word2 word3 word4 word5");
    assert_eq!(v["stream"]["prompt"], 2);
    assert_eq!(v["stream"]["completion"], 5);
    // The SDK asks for base64 embeddings and decodes them.
    assert_eq!(v["embeddings"]["n"], 2);
    assert_eq!(v["embeddings"]["dims"], 8);
    assert_eq!(v["embeddings"]["first"], 1.0 / 64.0);
    assert_eq!(v["embeddings"]["prompt"], 3);
    assert_eq!(v["completions"]["prompt"], 2);
    assert!(v["models"].as_array().unwrap().len() >= 3);
    assert_eq!(v["error"]["status"], 429);
    assert_eq!(v["error"]["type"], "rate_limit_error");
    let last = stub.last_request().unwrap();
    assert_eq!(last.header("authorization"), Some("Bearer sk-test"));
}
