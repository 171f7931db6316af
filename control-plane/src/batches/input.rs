//! Batch input files: JSONL, one request per line
//! (`{"custom_id", "method": "POST", "url", "body"}`), checked whole before
//! anything runs. Errors name their line, in OpenAI's batch error shape.

use serde_json::{json, Value};
use std::collections::HashSet;

/// The endpoints a batch may call.
pub const ENDPOINTS: [&str; 3] = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings"];

/// Most errors reported for one file.
const MAX_ERRORS: usize = 100;

/// One request of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    /// 1-based line number in the input file.
    pub line_no: i64,
    /// The caller's id, unique in the file.
    pub custom_id: String,
    /// Always `POST`.
    pub method: String,
    /// The endpoint, equal to the batch's.
    pub url: String,
    /// The request body.
    pub body: Value,
}

/// A problem with the input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// `invalid_json`, `missing_custom_id`, `duplicate_custom_id`, …
    pub code: &'static str,
    /// The line, when it is about one.
    pub line: Option<i64>,
    /// For people.
    pub message: String,
    /// The field, when it is about one.
    pub param: Option<&'static str>,
}

impl LineError {
    /// OpenAI's batch error object.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code, "line": self.line, "message": self.message, "param": self.param})
    }
}

fn err(code: &'static str, line: i64, param: Option<&'static str>, message: String) -> LineError {
    LineError {
        code,
        line: Some(line),
        message,
        param,
    }
}

/// Parses and checks a whole input file for `endpoint`.
pub fn parse(
    data: &[u8],
    endpoint: &str,
    max_requests: usize,
) -> Result<Vec<Item>, Vec<LineError>> {
    let text = match std::str::from_utf8(data) {
        Ok(t) => t,
        Err(e) => {
            return Err(vec![LineError {
                code: "invalid_file",
                line: None,
                message: format!("The file is not UTF-8 text ({e})."),
                param: None,
            }])
        }
    };
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i as i64 + 1;
        if errors.len() >= MAX_ERRORS {
            break;
        }
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let v: Value = match serde_json::from_str(raw) {
            Ok(v) => v,
            Err(e) => {
                errors.push(err(
                    "invalid_json",
                    line,
                    None,
                    format!("Line {line} is not valid JSON: {e}"),
                ));
                continue;
            }
        };
        let Some(obj) = v.as_object() else {
            errors.push(err(
                "invalid_request",
                line,
                None,
                format!("Line {line} is not a JSON object."),
            ));
            continue;
        };
        let custom_id = match obj.get("custom_id").and_then(Value::as_str) {
            Some(c) if !c.is_empty() && c.len() <= 512 => c.to_string(),
            _ => {
                errors.push(err(
                    "missing_custom_id",
                    line,
                    Some("custom_id"),
                    format!("Line {line}: custom_id must be a string of 1 to 512 characters."),
                ));
                continue;
            }
        };
        if !seen.insert(custom_id.clone()) {
            errors.push(err(
                "duplicate_custom_id",
                line,
                Some("custom_id"),
                format!("Line {line}: custom_id '{custom_id}' is used more than once in the file."),
            ));
            continue;
        }
        if obj.get("method").and_then(Value::as_str) != Some("POST") {
            errors.push(err(
                "invalid_method",
                line,
                Some("method"),
                format!("Line {line}: method must be POST."),
            ));
            continue;
        }
        let url = obj.get("url").and_then(Value::as_str).unwrap_or_default();
        if url != endpoint {
            errors.push(err(
                "mismatched_url",
                line,
                Some("url"),
                format!("Line {line}: url '{url}' is not the batch's endpoint {endpoint}."),
            ));
            continue;
        }
        let body = obj.get("body").cloned().unwrap_or(Value::Null);
        if !body.is_object() {
            errors.push(err(
                "invalid_body",
                line,
                Some("body"),
                format!("Line {line}: body must be a JSON object."),
            ));
            continue;
        }
        if body
            .get("model")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errors.push(err(
                "missing_model",
                line,
                Some("body.model"),
                format!("Line {line}: body.model is required."),
            ));
            continue;
        }
        if body.get("stream").and_then(Value::as_bool) == Some(true) {
            errors.push(err(
                "invalid_body",
                line,
                Some("body.stream"),
                format!("Line {line}: batch requests cannot stream."),
            ));
            continue;
        }
        items.push(Item {
            line_no: line,
            custom_id,
            method: "POST".into(),
            url: url.to_string(),
            body,
        });
    }
    if errors.is_empty() && items.is_empty() {
        errors.push(LineError {
            code: "empty_file",
            line: None,
            message: "The file has no requests.".into(),
            param: None,
        });
    }
    if errors.is_empty() && items.len() > max_requests {
        errors.push(LineError {
            code: "too_many_requests",
            line: None,
            message: format!(
                "A batch holds at most {max_requests} requests; this file has {}.",
                items.len()
            ),
            param: None,
        });
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn line(id: &str) -> String {
        format!(
            r#"{{"custom_id": "{id}", "method": "POST", "url": "/v1/chat/completions", "body": {{"model": "m", "messages": []}}}}"#
        )
    }

    #[test]
    fn a_good_file_parses_and_blank_lines_are_skipped() {
        let data = format!("{}\n\n{}\n", line("a"), line("b"));
        let items = parse(data.as_bytes(), "/v1/chat/completions", 10).unwrap_or_default();
        assert_eq!(items.len(), 2);
        assert_eq!((items[1].line_no, items[1].custom_id.as_str()), (3, "b"));
    }

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let data = [
            line("a"),
            "not json".to_string(),
            line("a"),
            r#"{"custom_id": "x", "method": "GET", "url": "/v1/chat/completions", "body": {"model": "m"}}"#.into(),
            r#"{"custom_id": "y", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m"}}"#.into(),
            r#"{"custom_id": "z", "method": "POST", "url": "/v1/chat/completions", "body": {}}"#.into(),
            r#"{"method": "POST"}"#.into(),
        ]
        .join("\n");
        let errors = parse(data.as_bytes(), "/v1/chat/completions", 10).unwrap_err();
        let got: Vec<(&str, Option<i64>)> = errors.iter().map(|e| (e.code, e.line)).collect();
        assert_eq!(
            got,
            vec![
                ("invalid_json", Some(2)),
                ("duplicate_custom_id", Some(3)),
                ("invalid_method", Some(4)),
                ("mismatched_url", Some(5)),
                ("missing_model", Some(6)),
                ("missing_custom_id", Some(7)),
            ]
        );
    }

    #[test]
    fn empty_oversized_and_binary_files_are_refused() {
        assert_eq!(
            parse(b"\n\n", "/v1/embeddings", 10).unwrap_err()[0].code,
            "empty_file"
        );
        let two = format!("{}\n{}", line("a"), line("b"));
        assert_eq!(
            parse(two.as_bytes(), "/v1/chat/completions", 1).unwrap_err()[0].code,
            "too_many_requests"
        );
        assert_eq!(
            parse(&[0xff, 0xfe], "/v1/embeddings", 10).unwrap_err()[0].code,
            "invalid_file"
        );
    }
}
