//! The fast cl100k token counter (src/source/text_stats.rs) gives exactly
//! tiktoken-rs's counts: on every string of the fixtures and the real corpus
//! (prose, code, tool output, many scripts), and on generated strings built
//! from the characters where its rewritten pattern could go wrong.

mod common;

use std::path::Path;

use cc_fingerprint::source::text_stats::count_tokens;
use serde_json::Value;

fn tiktoken(text: &str) -> u64 {
    tiktoken_rs::cl100k_base_singleton().count_ordinary(text) as u64
}

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

/// Every JSON string value in every `.jsonl` line under `root`.
fn strings_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).sort_by_file_name() {
        let entry = entry.expect("readable tree");
        if entry.path().extension().is_none_or(|e| e != "jsonl") {
            continue;
        }
        let text = std::fs::read(entry.path()).expect("readable file");
        for line in text.split(|&b| b == b'\n') {
            if let Ok(value) = serde_json::from_slice::<Value>(line) {
                collect_strings(&value, &mut out);
            }
        }
    }
    out
}

fn assert_same_counts(texts: &[String]) -> u64 {
    let mut total = 0;
    for text in texts {
        let expected = tiktoken(text);
        assert_eq!(count_tokens(text), expected, "token count of {text:?}");
        total += expected;
    }
    total
}

#[test]
fn counts_equal_tiktoken_on_fixture_strings() {
    let texts = strings_under(&common::fixtures());
    let tokens = assert_same_counts(&texts);
    assert_eq!((texts.len(), tokens), (3513, 56_190));
}

#[test]
fn counts_equal_tiktoken_on_the_real_corpus() {
    let Some(corpus) = common::shared_corpus() else {
        eprintln!("../shared/corpora/real not found: skipped");
        return;
    };
    let texts = strings_under(&corpus);
    assert!(texts.len() > 60_000, "{} strings", texts.len());
    assert_same_counts(&texts);
}

#[test]
fn counts_equal_tiktoken_on_generated_edge_cases() {
    // Runs of every kind of space and line break next to letters, digits,
    // punctuation, apostrophes (contractions, including the long s that case
    // folding maps to `s`), combining marks, CJK, emoji, at start and end.
    const ALPHABET: &[&str] = &[
        " ",
        " ",
        " ",
        "\t",
        "\n",
        "\r",
        "\r\n",
        "\u{a0}",
        "\u{3000}",
        "\u{2028}",
        "\u{85}",
        "\u{b}",
        "a",
        "Z",
        "é",
        "ſ",
        "ß",
        "ж",
        "中",
        "ا",
        "1",
        "23",
        "٣",
        "½",
        "'",
        "'s",
        "'LL",
        "'ve",
        "'D",
        "!",
        "?!",
        "-",
        "_",
        "`",
        "```",
        "#",
        "*",
        ".",
        "😀",
        "👩‍💻",
        "\u{301}",
        "\u{200d}",
        "\u{feff}",
        "the",
        " quick",
        "  fox",
        "\u{0}",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = |bound: usize| {
        // xorshift64*: deterministic, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % bound
    };
    let texts: Vec<String> = (0..20_000)
        .map(|_| {
            let len = next(24);
            (0..len).map(|_| ALPHABET[next(ALPHABET.len())]).collect()
        })
        .collect();
    assert_same_counts(&texts);
    for text in [
        "", " ", "  ", "a  ", "  a", "a \n ", "\n\n  x", "x  \t!", "don't", "ſ's",
    ] {
        assert_eq!(count_tokens(text), tiktoken(text), "{text:?}");
    }
    assert_eq!(count_tokens("hello world"), 2);
}
