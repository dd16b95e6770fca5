//! What the feature catalog needs from assistant text, computed at parse time
//! because the text itself is not stored (privacy by default).
//!
//! Token counts use tiktoken's `cl100k_base` as a stand-in for Claude's
//! unpublished tokenizer: absolute counts differ from Anthropic's, but the
//! same encoder on every session keeps comparisons between sessions fair.
//!
//! The counts are tiktoken-rs's exactly (tests/tokens.rs compares them on
//! every string of the fixtures and the real corpus, and on generated
//! Unicode), computed 4x faster (`cargo run --release --example
//! token_bench`): tiktoken-rs splits text with `fancy_regex` because cl100k's
//! pattern has one look-ahead (`\s+(?!\S)`), and that split was two thirds of
//! the tokenizer's time and a fifth of a cold ingest's CPU. Here the split is
//! an anchored DFA search (regex-automata) with the look-ahead rewritten as a
//! one-character step back (as GitHub's `bpe-openai` does), and each piece
//! goes through tiktoken-rs's own byte-pair merge with its ranks.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashMap;

/// cl100k_base's pattern as tiktoken-rs 0.12 writes it, minus what the
/// `regex` crate lacks: possessive quantifiers (the same matches here: no
/// class they guard overlaps what follows) and `\s+(?!\S)`, which the last
/// branch `\s+` stands for and [`count_tokens`] corrects.
const CL100K_SPLIT: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s+$|\s*[\r\n]|\s+";

/// Every cl100k_base ordinary token's bytes and rank, read back from
/// tiktoken-rs's encoder (about 40 ms, once per process).
static RANKS: LazyLock<FxHashMap<Vec<u8>, tiktoken_rs::Rank>> = LazyLock::new(|| {
    let bpe = tiktoken_rs::cl100k_base().expect("the cl100k_base table is built into tiktoken-rs");
    (0..100_256)
        .filter_map(|rank| Some((bpe.decode_bytes(&[rank]).ok()?, rank)))
        .collect()
});

/// Number of tokens in `text` (cl100k_base, special tokens treated as text):
/// what `tiktoken_rs::cl100k_base()?.count_ordinary(text)` returns.
pub fn count_tokens(text: &str) -> u64 {
    if text.is_empty() {
        return 0;
    }
    thread_local! {
        // A regex per thread: no contention on a shared cache pool.
        static SPLIT: regex_automata::meta::Regex =
            regex_automata::meta::Regex::new(CL100K_SPLIT).expect("valid regex");
    }
    let ranks = &*RANKS;
    SPLIT.with(|split| {
        let mut tokens = 0u64;
        let mut at = 0;
        // Every character starts a piece, so each search is anchored where
        // the last piece ended: a forward scan only, no reverse scan for the start.
        let mut input = regex_automata::Input::new(text).anchored(regex_automata::Anchored::Yes);
        while at < text.len() {
            input.set_start(at);
            let Some(found) = split.search(&input) else {
                break;
            };
            let mut end = found.end();
            let piece = &text[at..end];
            // Only the last branch gives a run of spaces without a line
            // break that stops before the end; `\s+(?!\S)` would have left
            // its last character to start the next piece.
            if end < text.len()
                && !piece.contains(['\r', '\n'])
                && piece.chars().all(char::is_whitespace)
            {
                let last = piece.chars().next_back().map_or(0, char::len_utf8);
                if last < piece.len() {
                    end -= last;
                }
            }
            let piece = &text.as_bytes()[at..end];
            tokens += if piece.len() == 1 || ranks.contains_key(piece) {
                1
            } else {
                tiktoken_rs::byte_pair_split(piece, ranks).len() as u64
            };
            at = end;
        }
        tokens
    })
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
