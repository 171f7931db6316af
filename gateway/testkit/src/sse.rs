//! Server-sent events: framing for the stand-in provider and a small parser
//! tests use to read a stream back (from the stub or through the gateway).

use bytes::Bytes;
use serde_json::Value;

/// The OpenAI end-of-stream marker event.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// One `data:` event, OpenAI style (no `event:` line).
pub fn data_event(json: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Serialising a `Value` cannot fail: its map keys are strings.
    let _ = serde_json::to_writer(&mut out, json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// One named event, Anthropic style (`event:` line then `data:` line).
pub fn named_event(name: &str, json: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut out, json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// A parsed event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, when present.
    pub event: Option<String>,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// The data parsed as JSON (`None` for `[DONE]` or other non-JSON data).
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.data).ok()
    }

    /// Whether this is OpenAI's `data: [DONE]` marker.
    pub fn is_done(&self) -> bool {
        self.data == "[DONE]"
    }
}

/// Parses a complete SSE text into events, following the WHATWG rules that
/// matter here: `\n`, `\r\n` or `\r` line ends, comment lines (`:`) skipped,
/// one optional space after the colon, events dispatched on a blank line, and
/// a final event without its blank line dropped (it was never complete).
pub fn parse(text: &str) -> Vec<SseEvent> {
    let mut events = Vec::new();
    let mut event: Option<String> = None;
    let mut data: Option<String> = None;
    let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
    for line in normalized.split('\n') {
        if line.is_empty() {
            if let Some(d) = data.take() {
                events.push(SseEvent {
                    event: event.take(),
                    data: d,
                });
            }
            event = None;
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "event" => event = Some(value.to_owned()),
            "data" => match &mut data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => data = Some(value.to_owned()),
            },
            _ => {}
        }
    }
    events
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_round_trip() {
        let mut text = String::new();
        text.push_str(std::str::from_utf8(&data_event(&json!({"a": 1}))).unwrap());
        text.push_str(std::str::from_utf8(&named_event("ping", &json!({"type": "ping"}))).unwrap());
        text.push_str(std::str::from_utf8(DONE).unwrap());
        let events = parse(&text);
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].event, None);
        assert_eq!(events[0].json().unwrap(), json!({"a": 1}));
        assert_eq!(events[1].event.as_deref(), Some("ping"));
        assert!(events[2].is_done());
        assert!(events[2].json().is_none());
    }

    #[test]
    fn parser_follows_the_spec_edges() {
        let events = parse(
            ": comment\r\nevent: x\r\ndata:a\r\ndata: b\r\n\r\ndata: tail-without-blank-line",
        );
        assert_eq!(
            events,
            vec![SseEvent {
                event: Some("x".into()),
                data: "a\nb".into()
            }]
        );
    }
}
