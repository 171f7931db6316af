//! `upstream_rewrite`: turns the client's request into the chosen provider's
//! request (path, host, the provider's own key, the upstream model name;
//! `stream_options.include_usage` for OpenAI streams so a stream is never
//! metered as zero; Anthropic translation), and turns the provider's answer
//! back into OpenAI's shapes. Provider headers that would leak the upstream
//! account are dropped.

use crate::context::{RequestCtx, Route};
use crate::pipeline::{settings, Plugin};
use crate::providers::anthropic;
use crate::sse::{parse_event, SseSplitter};
use aihub_contract::snapshot::ProviderKind;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::{Error, ErrorType};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The plugin.
pub struct UpstreamRewrite {
    anthropic_default_max_tokens: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_max_tokens")]
    anthropic_default_max_tokens: u64,
}

fn default_max_tokens() -> u64 {
    4096
}

impl UpstreamRewrite {
    /// Builds it from settings.
    pub fn build(table: toml::Table) -> Result<Box<dyn Plugin>, String> {
        let s: Settings = settings(table)?;
        if s.anthropic_default_max_tokens == 0 {
            return Err("anthropic_default_max_tokens: expected at least 1".into());
        }
        Ok(Box::new(UpstreamRewrite {
            anthropic_default_max_tokens: s.anthropic_default_max_tokens,
        }))
    }
}

/// Response translation state for an Anthropic attempt.
#[derive(Clone)]
struct AnthropicResponse {
    status: u16,
    stream: bool,
    splitter: SseSplitter,
    body: Vec<u8>,
    translator: anthropic::StreamTranslator,
}

/// Set when the provider refused the operator's own credentials: its body
/// (which may quote part of the upstream key) is replaced by a neutral error.
#[derive(Clone)]
struct CredentialFailure;

/// What the client sees instead of a provider's 401/403.
fn credential_failure_body() -> Bytes {
    crate::errors::ApiError::upstream(
        502,
        "The model provider refused this AI Hub's credentials. The operator has to fix the provider configuration; please retry later.",
    )
    .body()
}

/// Headers from the provider that must not reach developers.
fn is_provider_header(name: &str) -> bool {
    name.starts_with("openai-")
        || name.starts_with("anthropic-")
        || name.starts_with("x-ratelimit-")
        || name.starts_with("cf-")
        || matches!(
            name,
            "set-cookie" | "server" | "x-request-id" | "request-id" | "via" | "alt-svc"
        )
}

/// The client's body for an OpenAI-compatible provider: `model` replaced by
/// the deployment's, and for streams `stream_options.include_usage` set
/// (the metering plugin drops the usage chunk again if the client did not
/// ask for it). Written straight from the parsed body: no copy of it.
fn openai_body(
    body: &Map<String, Value>,
    upstream_model: &str,
    stream: bool,
) -> serde_json::Result<Vec<u8>> {
    use serde::ser::{SerializeMap, Serializer};
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::new(&mut out);
    let mut map = ser.serialize_map(None)?;
    map.serialize_entry("model", upstream_model)?;
    for (k, v) in body {
        if k == "model" || (stream && k == "stream_options") {
            continue;
        }
        map.serialize_entry(k, v)?;
    }
    if stream {
        let mut opts = match body.get("stream_options") {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        opts.insert("include_usage".into(), Value::Bool(true));
        map.serialize_entry("stream_options", &opts)?;
    }
    map.end()?;
    Ok(out)
}

impl Plugin for UpstreamRewrite {
    fn name(&self) -> &'static str {
        "upstream_rewrite"
    }

    fn on_upstream_request(
        &self,
        upstream: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let Route::Model(endpoint) = ctx.route else {
            return Ok(());
        };
        let (Some(request), Some(attempt)) = (ctx.request.as_ref(), ctx.attempt.as_mut()) else {
            return Ok(());
        };
        let d = attempt.deployment.clone();
        let up = &d.upstream;
        let (path, body) = match up.kind {
            ProviderKind::Openai => (
                format!("{}{}", up.base_path, endpoint.upstream_path()),
                openai_body(&request.body, &d.upstream_model, request.stream)
                    .map_err(|e| Error::explain(ErrorType::InternalError, e.to_string()))?,
            ),
            ProviderKind::Anthropic => {
                let body = anthropic::translate_request(
                    &request.body,
                    &d.upstream_model,
                    self.anthropic_default_max_tokens,
                )
                .map_err(|e| Error::explain(ErrorType::HTTPStatus(e.status), e.message))?;
                (format!("{}/messages", up.base_path), body)
            }
        };
        attempt.body = Bytes::from(body);
        let uri: http::Uri = path
            .parse()
            .map_err(|_| Error::explain(ErrorType::InternalError, "bad upstream path"))?;
        upstream.set_uri(uri);
        for h in [
            "authorization",
            "x-api-key",
            "cookie",
            "accept-encoding",
            "transfer-encoding",
            "openai-organization",
            "openai-project",
            "anthropic-version",
            aihub_contract::signing::BATCH_HEADER,
        ] {
            upstream.remove_header(h);
        }
        upstream.insert_header("host", up.host_header.as_str())?;
        upstream.insert_header("content-type", "application/json")?;
        upstream.insert_header("content-length", attempt.body.len().to_string())?;
        match up.kind {
            ProviderKind::Openai => {
                if !up.api_key.is_empty() {
                    upstream.insert_header("authorization", format!("Bearer {}", up.api_key))?;
                }
            }
            ProviderKind::Anthropic => {
                upstream.insert_header("x-api-key", up.api_key.as_str())?;
                upstream.insert_header("anthropic-version", anthropic::API_VERSION)?;
            }
        }
        Ok(())
    }

    fn on_upstream_response(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if !matches!(ctx.route, Route::Model(_)) {
            return Ok(());
        }
        let names: Vec<String> = resp
            .headers
            .keys()
            .map(|k| k.as_str().to_string())
            .filter(|k| is_provider_header(k))
            .collect();
        for n in names {
            resp.remove_header(&n);
        }
        // State from an earlier attempt never applies to this one.
        ctx.plugin_state.remove::<AnthropicResponse>();
        ctx.plugin_state.remove::<CredentialFailure>();
        let status = resp.status.as_u16();
        if status == 401 || status == 403 {
            tracing::warn!(
                request_id = %ctx.request_id,
                provider = ctx.attempt.as_ref().map(|a| a.deployment.upstream.provider_id.as_str()).unwrap_or(""),
                status,
                "the provider refused the configured upstream credentials"
            );
            resp.set_status(502)?;
            resp.remove_header("content-length");
            resp.insert_header("content-type", "application/json")?;
            ctx.plugin_state.insert(CredentialFailure);
            return Ok(());
        }
        let anthropic = ctx
            .attempt
            .as_ref()
            .is_some_and(|a| a.deployment.upstream.kind == ProviderKind::Anthropic);
        if !anthropic {
            return Ok(());
        }
        let stream = ctx.is_stream() && status < 300;
        resp.remove_header("content-length");
        resp.insert_header(
            "content-type",
            if stream {
                "text/event-stream"
            } else {
                "application/json"
            },
        )?;
        let model = ctx.request.as_ref().map(|r| r.model.as_str()).unwrap_or("");
        ctx.plugin_state.insert(AnthropicResponse {
            status,
            stream,
            splitter: SseSplitter::default(),
            body: Vec::new(),
            translator: anthropic::StreamTranslator::new(model),
        });
        Ok(())
    }

    fn on_response_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if ctx.plugin_state.get::<CredentialFailure>().is_some() {
            *body = end_of_stream.then(credential_failure_body);
            return Ok(());
        }
        let model = ctx
            .request
            .as_ref()
            .map(|r| r.model.clone())
            .unwrap_or_default();
        let Some(state) = ctx.plugin_state.get_mut::<AnthropicResponse>() else {
            return Ok(());
        };
        let chunk = body.take();
        let mut out: Vec<u8> = Vec::new();
        if state.stream {
            if let Some(c) = &chunk {
                state.splitter.feed(c);
            }
            while let Some(event) = state.splitter.next_event() {
                let (_, data) = parse_event(&event);
                state.translator.event(&data, &mut out);
            }
        } else {
            if let Some(c) = &chunk {
                state.body.extend_from_slice(c);
            }
            if end_of_stream {
                out = if state.status < 300 {
                    anthropic::translate_response(&state.body, &model)
                        .unwrap_or_else(|| anthropic::translate_error(b"{}", 502))
                } else {
                    anthropic::translate_error(&state.body, state.status)
                };
            }
        }
        *body = Some(Bytes::from(out));
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn openai_streams_always_ask_for_usage() {
        let body: Map<String, Value> =
            serde_json::from_str(r#"{"model":"pub","stream":true,"messages":[]}"#).unwrap();
        let out: Value = serde_json::from_slice(&openai_body(&body, "up", true).unwrap()).unwrap();
        assert_eq!(out["model"], "up");
        assert_eq!(out["stream_options"]["include_usage"], true);
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"model":"pub","stream":true,"stream_options":{"include_usage":false}}"#,
        )
        .unwrap();
        let out: Value = serde_json::from_slice(&openai_body(&body, "up", true).unwrap()).unwrap();
        assert_eq!(out["stream_options"]["include_usage"], true);
        let out: Value = serde_json::from_slice(&openai_body(&body, "up", false).unwrap()).unwrap();
        assert_eq!(out["stream_options"]["include_usage"], false);
    }

    #[test]
    fn the_body_keeps_every_other_field_and_names_the_model_once() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"temperature":0.5,"model":"pub","messages":[{"role":"user","content":"hi \"there\""}],"n":2}"#,
        )
        .unwrap();
        let raw = String::from_utf8(openai_body(&body, "up-1", false).unwrap()).unwrap();
        assert_eq!(raw.matches("\"model\"").count(), 1, "{raw}");
        let out: Map<String, Value> = serde_json::from_str(&raw).unwrap();
        let mut expected = body.clone();
        expected.insert("model".into(), Value::String("up-1".into()));
        assert_eq!(out, expected);
    }

    #[test]
    fn provider_headers_are_private() {
        assert!(is_provider_header("openai-organization"));
        assert!(is_provider_header("x-ratelimit-remaining-tokens"));
        assert!(is_provider_header("set-cookie"));
        assert!(!is_provider_header("content-type"));
    }
}
