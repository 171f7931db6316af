//! Incremental Server-Sent Events framing: bytes in, whole events out,
//! without waiting for the end of the stream.

use bytes::{Bytes, BytesMut};
use memchr::memmem;

/// Splits a byte stream into SSE events (each with its blank-line terminator).
#[derive(Debug, Default, Clone)]
pub struct SseSplitter {
    pending: BytesMut,
}

impl SseSplitter {
    /// Adds bytes from the stream.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.pending.extend_from_slice(chunk);
    }

    /// The next complete event, if one is buffered.
    pub fn next_event(&mut self) -> Option<Bytes> {
        let lf = memmem::find(&self.pending, b"\n\n").map(|i| i + 2);
        let crlf = memmem::find(&self.pending, b"\r\n\r\n").map(|i| i + 4);
        let end = match (lf, crlf) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        Some(self.pending.split_to(end).freeze())
    }

    /// Whatever is left (an unterminated last event).
    pub fn take_rest(&mut self) -> Bytes {
        self.pending.split().freeze()
    }
}

/// The `event:` name and joined `data:` payload of one raw event.
pub fn parse_event(raw: &[u8]) -> (Option<&[u8]>, Vec<u8>) {
    let mut name = None;
    let mut data: Vec<u8> = Vec::new();
    let mut first = true;
    for line in raw.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if let Some(v) = line.strip_prefix(b"data:") {
            if !first {
                data.push(b'\n');
            }
            data.extend_from_slice(v.strip_prefix(b" ").unwrap_or(v));
            first = false;
        } else if let Some(v) = line.strip_prefix(b"event:") {
            name = Some(v.strip_prefix(b" ").unwrap_or(v));
        }
    }
    (name, data)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn splits_across_chunk_boundaries() {
        let mut s = SseSplitter::default();
        s.feed(b"data: {\"a\":1}\n");
        assert!(s.next_event().is_none());
        s.feed(b"\ndata: [DO");
        assert_eq!(&s.next_event().unwrap()[..], b"data: {\"a\":1}\n\n");
        assert!(s.next_event().is_none());
        s.feed(b"NE]\r\n\r\nevent: x\ndata: y\n\n");
        assert_eq!(&s.next_event().unwrap()[..], b"data: [DONE]\r\n\r\n");
        let e = s.next_event().unwrap();
        let (name, data) = parse_event(&e);
        assert_eq!(name, Some(&b"x"[..]));
        assert_eq!(data, b"y");
        assert!(s.take_rest().is_empty());
    }

    #[test]
    fn joins_multi_line_data() {
        let (name, data) = parse_event(b"data: a\ndata: b\n\n");
        assert_eq!(name, None);
        assert_eq!(data, b"a\nb");
    }
}
