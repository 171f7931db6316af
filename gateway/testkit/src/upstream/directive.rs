//! Word counting and the per-request `[[stub …]]` directive.
//!
//! Tests steer the stand-in provider from inside the prompt text, so the
//! steering survives any proxy that rewrites headers or bodies: a token like
//! `[[stub words=12 cached=3 status=500]]` in the last message changes what
//! the stub answers. Directive text never counts as prompt words.

const OPEN: &str = "[[stub";
const CLOSE: &str = "]]";

/// Reply length when no directive says otherwise.
pub const DEFAULT_WORDS: u64 = 5;

/// What a `[[stub …]]` directive asks for. Unknown keys and unparsable values
/// are ignored, so a typo falls back to the defaults instead of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directive {
    /// Reply length in words (`words=N`).
    pub words: u64,
    /// Reported cached prompt tokens (`cached=N`).
    pub cached: u64,
    /// Reported reasoning tokens (`reasoning=N`).
    pub reasoning: u64,
    /// Answer this HTTP status with a provider-shaped error (`status=N`).
    pub status: Option<u16>,
    /// Extra delay before the response headers (`delay_ms=N`).
    pub delay_ms: u64,
    /// Drop the connection mid-response (`disconnect_after=K`): OpenAI streams
    /// after their first K chunks (word chunks first, then the finish chunk,
    /// the usage chunk), Anthropic streams after the three opening events and
    /// K text deltas, non-streaming responses right after the headers. No
    /// `[DONE]`, no terminating chunk: the TCP connection just ends.
    pub disconnect_after: Option<u64>,
    /// Omit usage even when the client asked for it (`no_usage=1`).
    pub no_usage: bool,
}

impl Default for Directive {
    fn default() -> Self {
        Self {
            words: DEFAULT_WORDS,
            cached: 0,
            reasoning: 0,
            status: None,
            delay_ms: 0,
            disconnect_after: None,
            no_usage: false,
        }
    }
}

impl Directive {
    /// Reads the first directive in `text`; defaults when there is none.
    pub fn parse(text: &str) -> Self {
        let mut directive = Self::default();
        let Some(body) = split_directives(text).find_map(|piece| match piece {
            Piece::Directive(body) => Some(body),
            Piece::Text(_) => None,
        }) else {
            return directive;
        };
        for pair in body.split_whitespace() {
            let Some((key, value)) = pair.split_once('=') else {
                continue;
            };
            let Ok(n) = value.parse::<u64>() else {
                continue;
            };
            match key {
                "words" => directive.words = n,
                "cached" => directive.cached = n,
                "reasoning" => directive.reasoning = n,
                "status" => directive.status = u16::try_from(n).ok(),
                "delay_ms" => directive.delay_ms = n,
                "disconnect_after" => directive.disconnect_after = Some(n),
                "no_usage" => directive.no_usage = n != 0,
                _ => {}
            }
        }
        directive
    }
}

/// Whitespace-separated words in `text`, directives excluded.
pub fn count_words(text: &str) -> u64 {
    split_directives(text)
        .map(|piece| match piece {
            Piece::Text(t) => t.split_whitespace().count() as u64,
            Piece::Directive(_) => 0,
        })
        .sum()
}

/// The reply text: `word1 word2 … wordN`.
pub fn reply_text(words: u64) -> String {
    let mut out = String::with_capacity(words as usize * 7);
    for i in 1..=words {
        if i > 1 {
            out.push(' ');
        }
        out.push_str("word");
        out.push_str(&i.to_string());
    }
    out
}

/// The `i`-th streamed piece of the reply (1-based): pieces concatenate to
/// [`reply_text`].
pub fn reply_piece(i: u64) -> String {
    if i == 1 {
        "word1".to_owned()
    } else {
        format!(" word{i}")
    }
}

enum Piece<'a> {
    Text(&'a str),
    /// The inside of a directive, after `[[stub`.
    Directive(&'a str),
}

/// Splits text into plain pieces and directive bodies. `[[stub` must be
/// followed by whitespace or `]]`, and an unterminated one is plain text.
fn split_directives(text: &str) -> impl Iterator<Item = Piece<'_>> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut search_from = 0;
        while let Some(pos) = rest[search_from..].find(OPEN).map(|p| p + search_from) {
            let after = &rest[pos + OPEN.len()..];
            let well_formed =
                after.starts_with(CLOSE) || after.starts_with(|c: char| c.is_whitespace());
            if let (true, Some(end)) = (well_formed, after.find(CLOSE)) {
                if pos > 0 {
                    let text = &rest[..pos];
                    rest = &rest[pos..];
                    return Some(Piece::Text(text));
                }
                let body = &after[..end];
                rest = &after[end + CLOSE.len()..];
                return Some(Piece::Directive(body));
            }
            search_from = pos + OPEN.len();
        }
        let text = rest;
        rest = "";
        Some(Piece::Text(text))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words_without_directives() {
        assert_eq!(count_words(""), 0);
        assert_eq!(count_words("  hello   world\n\tthree "), 3);
        assert_eq!(count_words("a [[stub words=12 cached=3]] b"), 2);
        assert_eq!(count_words("a[[stub words=2]]b"), 2);
        assert_eq!(count_words("[[stub]] x"), 1);
        // Not directives: no separator after `[[stub`, or never closed.
        assert_eq!(count_words("[[stubby]] x"), 2);
        assert_eq!(count_words("x [[stub words=3"), 3);
        assert_eq!(count_words("[[stub a=1]] one [[stub b=2]] two"), 2);
    }

    #[test]
    fn parses_every_key() {
        let d = Directive::parse(
            "hi [[stub words=12 cached=3 reasoning=2 status=500 delay_ms=50 disconnect_after=3 no_usage=1]] there",
        );
        assert_eq!(
            d,
            Directive {
                words: 12,
                cached: 3,
                reasoning: 2,
                status: Some(500),
                delay_ms: 50,
                disconnect_after: Some(3),
                no_usage: true,
            }
        );
    }

    #[test]
    fn defaults_and_leniency() {
        assert_eq!(Directive::parse("no directive here"), Directive::default());
        let d = Directive::parse("[[stub words=x cached=2 bogus=1 status=99999 novalue]]");
        assert_eq!(d.words, DEFAULT_WORDS);
        assert_eq!(d.cached, 2);
        assert_eq!(d.status, None);
        // Only the first directive counts.
        assert_eq!(
            Directive::parse("[[stub words=1]] [[stub words=2]]").words,
            1
        );
        assert_eq!(Directive::parse("[[stub words=0]]").words, 0);
    }

    #[test]
    fn reply_pieces_concatenate_to_reply() {
        assert_eq!(reply_text(0), "");
        assert_eq!(reply_text(3), "word1 word2 word3");
        let joined: String = (1..=12).map(reply_piece).collect();
        assert_eq!(joined, reply_text(12));
        assert_eq!(count_words(&reply_text(12)), 12);
    }
}
