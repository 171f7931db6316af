//! Crash safety on the response path (`spool.durability`): the bytes that
//! complete a model call's response wait until its usage row is in the
//! spool.
//!
//! A client has received a response once it has its last byte; the gateway
//! therefore keeps back what would complete it, runs the request's last
//! phase (cost, quota settlement, the usage row) when the upstream's body
//! ends — with `write` the row is written to the spool file there, with
//! `fsync` the request then waits for its group commit
//! ([`crate::spool::SpoolHandle::wait_durable`]) — and only then lets the
//! held bytes go. What is held depends on how the client knows the response is
//! complete:
//! - `Content-Length`: the byte count — the last byte of every chunk is held
//!   until the next one, so nothing waits longer than it would anyway;
//! - chunked: the terminating chunk, which Pingora writes only after the
//!   last body filter returned (nothing to hold in the body itself);
//! - server-sent events, in addition: SDKs stop reading at `data: [DONE]`, so
//!   that event and everything after it are held. Content events go out as
//!   they arrive; time to first token is unchanged.

use crate::context::RequestCtx;
use crate::pipeline::Pipeline;
use crate::spool::SpoolHandle;
use bytes::{Bytes, BytesMut};
use memchr::memmem;
use pingora::http::ResponseHeader;

const DONE_EVENT: &[u8] = b"data: [DONE]";
const EVENT_STREAM: &str = "text/event-stream";

/// What a response's last bytes are held by.
#[derive(Debug, Default)]
pub struct Holdback {
    /// Hold the last byte of each chunk (a `Content-Length` response).
    last_byte: bool,
    /// Hold from `data: [DONE]` on (an event stream).
    done_event: bool,
    /// `data: [DONE]` was seen: everything is held from there.
    holding_rest: bool,
    held: BytesMut,
}

impl Holdback {
    /// The rule for a response header about to go to the client.
    pub fn for_response(resp: &ResponseHeader) -> Holdback {
        let header = |name| {
            resp.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
        };
        Holdback {
            last_byte: !header(http::header::CONTENT_LENGTH).is_empty(),
            done_event: header(http::header::CONTENT_TYPE)
                .trim_start()
                .get(..EVENT_STREAM.len())
                .is_some_and(|t| t.eq_ignore_ascii_case(EVENT_STREAM)),
            ..Holdback::default()
        }
    }

    /// A chunk on its way (not the last): sends what was held before and this
    /// chunk, keeping back what must wait.
    pub fn pass(&mut self, body: &mut Option<Bytes>) {
        let Some(chunk) = body.take() else {
            return;
        };
        if self.holding_rest {
            self.held.extend_from_slice(&chunk);
            *body = Some(Bytes::new());
            return;
        }
        let mut out = std::mem::take(&mut self.held);
        out.extend_from_slice(&chunk);
        if self.done_event {
            // Searched in the held tail plus this chunk, so a `[DONE]` split
            // across chunks is found too (the tail is at most one byte).
            if let Some(at) = memmem::find(&out, DONE_EVENT) {
                self.held = out.split_off(at);
                self.holding_rest = true;
                *body = Some(out.freeze());
                return;
            }
            // Keep back a tail that could be the start of `data: [DONE]`.
            let keep = partial_prefix(&out, DONE_EVENT);
            if keep > 0 {
                self.held = out.split_off(out.len() - keep);
            }
        }
        if self.last_byte && self.held.is_empty() && !out.is_empty() {
            self.held = out.split_off(out.len() - 1);
        }
        *body = Some(out.freeze());
    }

    /// The last chunk, once the row is on disk: everything held, then it.
    pub fn release(&mut self, body: &mut Option<Bytes>) {
        if self.held.is_empty() {
            return;
        }
        let mut out = std::mem::take(&mut self.held);
        if let Some(last) = body.take() {
            out.extend_from_slice(&last);
        }
        *body = Some(out.freeze());
    }
}

/// Applies a model call's holdback (if it has one) to a chunk on its way to
/// the client. At the end of the body the last phase runs, its usage row is
/// waited for, and the held bytes go out with the last chunk; `status` is
/// the one sent to the client.
pub fn filter(
    pipeline: &Pipeline,
    spool: &SpoolHandle,
    ctx: &mut RequestCtx,
    body: &mut Option<Bytes>,
    end_of_stream: bool,
    status: u16,
) {
    let Some(mut holdback) = ctx.holdback.take() else {
        return;
    };
    if end_of_stream {
        pipeline.finish_durably(spool, ctx, status);
        holdback.release(body);
    } else {
        holdback.pass(body);
    }
    ctx.holdback = Some(holdback);
}

/// The length of the longest suffix of `data` that is a proper prefix of
/// `pattern`.
fn partial_prefix(data: &[u8], pattern: &[u8]) -> usize {
    (1..pattern.len().min(data.len() + 1))
        .rev()
        .find(|&n| data.ends_with(&pattern[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header(pairs: &[(&'static str, &'static str)]) -> ResponseHeader {
        let mut h = ResponseHeader::build(200, None).unwrap();
        for (k, v) in pairs {
            h.insert_header(*k, *v).unwrap();
        }
        h
    }

    /// Feeds chunks, returns what went out before the end and what the end sent.
    fn run(hb: &mut Holdback, chunks: &[&str]) -> (String, String) {
        let mut sent = Vec::new();
        for c in chunks {
            let mut body = Some(Bytes::copy_from_slice(c.as_bytes()));
            hb.pass(&mut body);
            sent.extend_from_slice(&body.unwrap_or_default());
        }
        let mut last = None;
        hb.release(&mut last);
        (
            String::from_utf8(sent).unwrap(),
            String::from_utf8(last.unwrap_or_default().to_vec()).unwrap(),
        )
    }

    #[test]
    fn a_sized_body_keeps_its_last_byte_until_the_end() {
        let mut hb = Holdback::for_response(&header(&[
            ("content-type", "application/json"),
            ("content-length", "13"),
        ]));
        let (before, at_end) = run(&mut hb, &["{\"id\":", "\"x\"", "}\n"]);
        assert_eq!(before, "{\"id\":\"x\"}");
        assert_eq!(at_end, "\n");
    }

    #[test]
    fn a_chunked_body_goes_out_whole_the_terminator_waits_in_pingora() {
        let mut hb = Holdback::for_response(&header(&[("content-type", "application/json")]));
        let (before, at_end) = run(&mut hb, &["{\"a\":", "1}"]);
        assert_eq!(before, "{\"a\":1}");
        assert_eq!(at_end, "");
    }

    #[test]
    fn an_event_stream_sends_content_at_once_and_holds_done_and_after() {
        let mut hb = Holdback::for_response(&header(&[(
            "content-type",
            "text/event-stream; charset=utf-8",
        )]));
        let (before, at_end) = run(
            &mut hb,
            &[
                "data: {\"choices\":[1]}\n\n",
                "data: {\"choices\":[2]}\n\ndata: [DO",
                "NE]\n\n",
                ": trailing comment\n\n",
            ],
        );
        assert_eq!(
            before,
            "data: {\"choices\":[1]}\n\ndata: {\"choices\":[2]}\n\n"
        );
        assert_eq!(at_end, "data: [DONE]\n\n: trailing comment\n\n");
    }

    #[test]
    fn an_event_that_only_looks_like_the_start_of_done_is_sent_with_the_next_chunk() {
        let mut hb = Holdback::for_response(&header(&[("content-type", "text/event-stream")]));
        let mut body = Some(Bytes::from_static(b"data: {\"a\":1}\n\ndata: "));
        hb.pass(&mut body);
        assert_eq!(body.unwrap(), "data: {\"a\":1}\n\n");
        let mut body = Some(Bytes::from_static(b"{\"b\":2}\n\n"));
        hb.pass(&mut body);
        assert_eq!(body.unwrap(), "data: {\"b\":2}\n\n");
        let (_, at_end) = run(&mut hb, &[]);
        assert_eq!(at_end, "");
    }

    #[test]
    fn partial_prefixes() {
        assert_eq!(partial_prefix(b"abc\n\ndata: [D", DONE_EVENT), 8);
        assert_eq!(partial_prefix(b"abc\n\n", DONE_EVENT), 0);
        assert_eq!(partial_prefix(b"d", DONE_EVENT), 1);
        assert_eq!(partial_prefix(b"", DONE_EVENT), 0);
        // A whole match is not a partial one.
        assert_eq!(partial_prefix(b"data: [DONE]", DONE_EVENT), 0);
    }
}
