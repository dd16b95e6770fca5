//! What the feature catalog needs from assistant text, computed at parse time
//! because the text itself is not stored (privacy by default).
//!
//! Token counts use tiktoken's `cl100k_base` as a stand-in for Claude's
//! unpublished tokenizer: absolute counts differ from Anthropic's, but the
//! same encoder on every session keeps comparisons between sessions fair.
//!
//! Each thread builds its own encoder (about 0.1 s and 15 MB once per
//! thread): a shared one funnels every thread through the same regex cache
//! pools (its per-thread regex copies share them), which cost a cold ingest
//! of the 505 MB benchmark tree 0.4 s of 3 s (docs/benchmarks.md).

use std::sync::LazyLock;

use regex::Regex;

/// Number of tokens in `text` (cl100k_base, special tokens treated as text).
pub fn count_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    thread_local! {
        static CL100K: tiktoken_rs::CoreBPE =
            tiktoken_rs::cl100k_base().expect("the cl100k_base table is built into tiktoken-rs");
    }
    CL100K.with(|bpe| bpe.count_ordinary(text) as u64)
}

// Anchored patterns, tried only on lines whose first byte can start them:
// one cheap pass over the text instead of three full regex scans.
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^#{1,6}[ \t]").expect("valid regex"));
static BULLET: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[-*+]|\d{1,3}[.)])[ \t]").expect("valid regex"));
static FENCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^```").expect("valid regex"));
/// Apology and capitulation phrases reported in write-ups on degraded
/// sessions. ASCII word boundaries keep the regex on its fast DFA path.
static APOLOGY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?-u:\b)(?:you(?:'|’)?re (?:absolutely|completely|totally) right|you are (?:absolutely|completely|totally) right|i apologi[sz]e|my apologies|sorry for (?:the|my) (?:confusion|mistake|error|oversight)|i made (?:a|an) (?:mistake|error))",
    )
    .expect("valid regex")
});

/// Markdown structure and phrase counts in one piece of assistant text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextMarks {
    pub headings: u32,
    pub bullets: u32,
    /// Fenced code blocks (a pair of fence lines counts once; an unclosed fence counts).
    pub code_blocks: u32,
    pub apologies: u32,
}

pub fn text_marks(text: &str) -> TextMarks {
    let mut marks = TextMarks::default();
    let mut fences = 0u32;
    for line in text.lines() {
        let body = line.trim_start_matches([' ', '\t']);
        match body.as_bytes().first() {
            Some(b'#') if line.len() == body.len() && HEADING.is_match(body) => marks.headings += 1,
            Some(b'-' | b'*' | b'+' | b'0'..=b'9') if BULLET.is_match(body) => marks.bullets += 1,
            Some(b'`') if FENCE.is_match(body) => fences += 1,
            _ => {}
        }
    }
    marks.code_blocks = fences.div_ceil(2);
    marks.apologies = APOLOGY.find_iter(text).count() as u32;
    marks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_markdown_marks() {
        let text = "# Title\nSome text\n## Sub\n- one\n* two\n  3. three\n```rust\nfn x() {}\n```\n#not a heading\n";
        assert_eq!(
            text_marks(text),
            TextMarks {
                headings: 2,
                bullets: 3,
                code_blocks: 1,
                apologies: 0
            }
        );
    }

    #[test]
    fn counts_apologies() {
        let text = "You're absolutely right! I apologize for the confusion. You’re completely right. Sorry for the mistake.";
        assert_eq!(text_marks(text).apologies, 4);
        assert_eq!(text_marks("Right, let me apologise later").apologies, 0);
    }

    #[test]
    fn counts_tokens_with_cl100k() {
        assert_eq!(count_tokens(""), 0);
        assert_eq!(count_tokens("hello world"), 2);
    }
}
