//! `metering`: reads the token counts the upstream reports, as the response
//! passes, and nothing more.
//!
//! - Plain JSON: the body is copied aside while it streams to the client and
//!   only its `usage` object is decoded at the end.
//! - SSE: events are framed as they arrive; only an event whose text contains
//!   `"usage"` is decoded. When the client did not ask for usage
//!   (`stream_options.include_usage`), that usage-only chunk is removed from
//!   its stream — the gateway asked the upstream for it on its own behalf.
//!
//! **The rule when the upstream's count is missing** (the client disconnected
//! before the final usage chunk, or a provider sent none): the request is
//! metered with an estimate and the row is marked `usage_estimated` —
//! prompt tokens = ⌈prompt characters / 4⌉, completion tokens = content
//! chunks forwarded (one token per chunk, as OpenAI streams them). A stream
//! that delivered content is therefore never metered as zero.
//!
//! **Batch items** (`ctx.batch`, set by `auth` from `x-aihub-batch`) cost
//! the exact cost × (100 − discount) / 100, rounded half away from zero to a
//! nano-unit ([`discounted_nanos`]); that is the cost in the usage row, which
//! the `quota` plugin settles with and the control plane charges. Admission
//! (the `quota` plugin's spend and funds estimates) still prices the request
//! undiscounted: a batch item reserves at most what it would cost at list
//! price, which is conservative, and settling gives back the difference.

use crate::context::{RequestCtx, Route};
use crate::pipeline::{settings, Outcome, Plugin};
use crate::sse::{parse_event, SseSplitter};
use aihub_contract::money::TokenCounts;
use bytes::{Bytes, BytesMut};
use memchr::memmem;
use pingora::http::ResponseHeader;
use serde::de::IgnoredAny;
use serde::Deserialize;

/// The plugin.
pub struct Metering {
    chars_per_token: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default = "default_chars_per_token")]
    estimate_chars_per_token: usize,
}

fn default_chars_per_token() -> usize {
    4
}

impl Metering {
    /// Builds it from settings.
    pub fn build(table: toml::Table) -> Result<Box<dyn Plugin>, String> {
        let s: Settings = settings(table)?;
        if s.estimate_chars_per_token == 0 {
            return Err("estimate_chars_per_token: expected at least 1".into());
        }
        Ok(Box::new(Metering {
            chars_per_token: s.estimate_chars_per_token,
        }))
    }
}

#[derive(Clone, Default)]
struct MeterState {
    active: bool,
    stream: bool,
    strip_usage: bool,
    splitter: SseSplitter,
    body: Vec<u8>,
}

#[derive(Deserialize, Default)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[derive(Deserialize, Default)]
struct CompletionDetails {
    #[serde(default)]
    reasoning_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct WithUsage {
    #[serde(default)]
    usage: Option<Usage>,
    #[serde(default)]
    choices: Option<Vec<IgnoredAny>>,
}

impl From<Usage> for TokenCounts {
    fn from(u: Usage) -> Self {
        TokenCounts {
            prompt: u.prompt_tokens,
            completion: u.completion_tokens,
            cached: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// What one SSE event means for metering.
#[derive(Debug, PartialEq, Eq)]
enum EventKind {
    /// A usage-only chunk (`choices: []`).
    UsageOnly(TokenCounts),
    /// A content chunk that also carries usage.
    ContentWithUsage(TokenCounts),
    /// A content chunk.
    Content,
    /// `[DONE]`, comments, errors.
    Other,
}

fn classify_event(data: &[u8]) -> EventKind {
    if data.is_empty() || data == b"[DONE]" {
        return EventKind::Other;
    }
    if memmem::find(data, b"\"usage\"").is_some() {
        if let Ok(w) = serde_json::from_slice::<WithUsage>(data) {
            let empty = w.choices.as_ref().is_none_or(|c| c.is_empty());
            if let Some(u) = w.usage {
                return if empty {
                    EventKind::UsageOnly(u.into())
                } else {
                    EventKind::ContentWithUsage(u.into())
                };
            }
        }
    }
    if memmem::find(data, b"\"choices\"").is_some() {
        EventKind::Content
    } else {
        EventKind::Other
    }
}

impl Plugin for Metering {
    fn name(&self) -> &'static str {
        "metering"
    }

    fn on_upstream_response(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        if !matches!(ctx.route, Route::Model(_)) {
            return Ok(());
        }
        let ok = resp.status.is_success();
        let stream = ctx.is_stream() && ok;
        let strip_usage = stream
            && !ctx
                .request
                .as_ref()
                .is_some_and(|r| r.client_wants_stream_usage);
        if strip_usage {
            resp.remove_header("content-length");
        }
        ctx.plugin_state.insert(MeterState {
            active: ok,
            stream,
            strip_usage,
            ..MeterState::default()
        });
        Ok(())
    }

    fn on_response_body(
        &self,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut RequestCtx,
    ) -> pingora::Result<()> {
        let Some(state) = ctx.plugin_state.get_mut::<MeterState>() else {
            return Ok(());
        };
        if !state.active {
            return Ok(());
        }
        if !state.stream {
            if let Some(b) = body.as_ref() {
                state.body.extend_from_slice(b);
            }
            if end_of_stream {
                if let Ok(w) = serde_json::from_slice::<WithUsage>(&state.body) {
                    ctx.usage = w.usage.map(Into::into);
                }
                state.body = Vec::new();
            }
            return Ok(());
        }
        let mut usage = None;
        let mut chunks = 0u64;
        if let Some(b) = body.as_ref() {
            state.splitter.feed(b);
        }
        let mut out = if state.strip_usage {
            Some(BytesMut::new())
        } else {
            None
        };
        while let Some(event) = state.splitter.next_event() {
            let (_, data) = parse_event(&event);
            match classify_event(&data) {
                EventKind::UsageOnly(u) => {
                    usage = Some(u);
                    if state.strip_usage {
                        continue;
                    }
                }
                EventKind::ContentWithUsage(u) => {
                    usage = Some(u);
                    chunks += 1;
                }
                EventKind::Content => chunks += 1,
                EventKind::Other => {}
            }
            if let Some(out) = out.as_mut() {
                out.extend_from_slice(&event);
            }
        }
        if end_of_stream {
            let rest = state.splitter.take_rest();
            if let Some(out) = out.as_mut() {
                out.extend_from_slice(&rest);
            }
        }
        if let Some(out) = out {
            // Only whole events go out, so a usage chunk can be dropped cleanly.
            *body = Some(out.freeze());
        }
        ctx.content_chunks += chunks;
        if usage.is_some() {
            ctx.usage = usage;
        }
        Ok(())
    }

    fn on_done(&self, _outcome: &Outcome, ctx: &mut RequestCtx) {
        if !matches!(ctx.route, Route::Model(_)) {
            return;
        }
        self.estimate_if_missing(ctx);
        if let (Some(usage), Some(model)) = (ctx.usage.as_ref(), ctx.model.as_ref()) {
            let prices = match ctx.key.as_ref() {
                Some(key) => ctx.tables.prices_for(&key.developer_id, model),
                None => &model.prices,
            };
            let cost = prices.cost_nanos(usage);
            ctx.cost_nanos = match &ctx.batch {
                Some(batch) => discounted_nanos(cost, batch.discount_pct),
                None => cost,
            };
        }
    }
}

/// `cost_nanos` × (100 − `discount_pct`) / 100, rounded half away from zero
/// to a whole nano-unit, in exact integer arithmetic. A discount above 100
/// counts as 100 (free), never as a credit.
pub fn discounted_nanos(cost_nanos: i64, discount_pct: u8) -> i64 {
    let keep = 100 - i128::from(discount_pct.min(100));
    let scaled = i128::from(cost_nanos) * keep;
    let (q, r) = (scaled / 100, scaled % 100);
    // `/` truncates toward zero; a remainder of half or more moves away from it.
    let rounded = if r.abs() * 2 >= 100 {
        q + scaled.signum()
    } else {
        q
    };
    // |rounded| ≤ |cost_nanos|, so it always fits.
    i64::try_from(rounded).unwrap_or(cost_nanos)
}

impl Metering {
    fn estimate_if_missing(&self, ctx: &mut RequestCtx) {
        let served = ctx.upstream_status.is_some_and(|s| (200..300).contains(&s));
        if ctx.usage.is_some() || !served {
            return;
        }
        let prompt_chars = ctx.request.as_ref().map(|r| r.prompt_chars).unwrap_or(0);
        ctx.usage = Some(TokenCounts {
            prompt: prompt_chars.div_ceil(self.chars_per_token) as u64,
            completion: ctx.content_chunks,
            cached: 0,
            reasoning: 0,
        });
        ctx.usage_estimated = true;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn classifies_stream_events() {
        assert_eq!(
            classify_event(br#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":1}}}"#),
            EventKind::UsageOnly(TokenCounts { prompt: 3, completion: 4, cached: 1, reasoning: 0 })
        );
        assert_eq!(
            classify_event(br#"{"choices":[{"delta":{"content":"x"}}],"usage":null}"#),
            EventKind::Content
        );
        assert_eq!(
            classify_event(br#"{"choices":[{"delta":{"content":"\"usage\""}}]}"#),
            EventKind::Content
        );
        assert_eq!(classify_event(b"[DONE]"), EventKind::Other);
        assert!(matches!(
            classify_event(
                br#"{"choices":[{"delta":{}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#
            ),
            EventKind::ContentWithUsage(_)
        ));
    }

    #[test]
    fn batch_discount_rounds_half_away_from_zero() {
        assert_eq!(discounted_nanos(1_000, 50), 500);
        assert_eq!(discounted_nanos(1_000, 0), 1_000);
        assert_eq!(discounted_nanos(1_000, 100), 0);
        assert_eq!(discounted_nanos(0, 50), 0);
        // Halves go away from zero, less than half toward it.
        assert_eq!(discounted_nanos(1, 50), 1);
        assert_eq!(discounted_nanos(3, 50), 2);
        assert_eq!(discounted_nanos(-1, 50), -1);
        assert_eq!(discounted_nanos(-3, 50), -2);
        assert_eq!(discounted_nanos(1, 51), 0); // 0.49
        assert_eq!(discounted_nanos(1, 49), 1); // 0.51
        assert_eq!(discounted_nanos(7, 30), 5); // 4.9
        assert_eq!(discounted_nanos(-7, 30), -5);
        assert_eq!(discounted_nanos(10, 75), 3); // 2.5
        assert_eq!(discounted_nanos(-10, 75), -3);
        assert_eq!(discounted_nanos(999_999_999, 1), 989_999_999); // .01
                                                                   // No overflow at the edges, and never more than the cost.
        assert_eq!(discounted_nanos(i64::MAX, 0), i64::MAX);
        assert_eq!(discounted_nanos(i64::MIN, 0), i64::MIN);
        assert_eq!(discounted_nanos(i64::MAX, 50), 4_611_686_018_427_387_904);
        assert_eq!(discounted_nanos(i64::MIN, 50), -4_611_686_018_427_387_904);
        assert_eq!(discounted_nanos(i64::MAX, 1), 9_131_138_316_486_228_049);
        assert_eq!(discounted_nanos(5, 200), 0);
        // Exhaustively, on a small range, against the definition written
        // another way: round(n / 100) = sign(n) · ⌊(2|n| + 100) / 200⌋.
        for cost in -1_000i64..=1_000 {
            for pct in 0u8..=100 {
                let n = i128::from(cost) * i128::from(100 - pct);
                let want = n.signum() * ((2 * n.abs() + 100) / 200);
                assert_eq!(
                    i128::from(discounted_nanos(cost, pct)),
                    want,
                    "{cost} at {pct}%"
                );
            }
        }
    }
}
