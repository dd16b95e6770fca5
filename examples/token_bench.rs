//! Token counter benchmark: cc-fingerprint's cl100k counter against
//! tiktoken-rs's `count_ordinary` on every JSON string of the real corpus
//! (prose, code, tool output), checking the totals agree.
//!
//! Run: `cargo run --release --example token_bench [DIR]` (default
//! `../shared/corpora/real`).

use std::time::Instant;

use cc_fingerprint::source::text_stats::count_tokens;
use serde_json::Value;

fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| collect_strings(v, out)),
        _ => {}
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/corpora/real".to_owned());
    let mut texts = Vec::new();
    for entry in walkdir::WalkDir::new(&root).into_iter().flatten() {
        if entry.path().extension().is_some_and(|e| e == "jsonl") {
            let data = std::fs::read(entry.path()).expect("readable file");
            for line in data.split(|&b| b == b'\n') {
                if let Ok(value) = serde_json::from_slice::<Value>(line) {
                    collect_strings(&value, &mut texts);
                }
            }
        }
    }
    let mb = texts.iter().map(String::len).sum::<usize>() as f64 / 1e6;
    let tiktoken = tiktoken_rs::cl100k_base_singleton();
    // Build both tables before timing.
    count_tokens("warm up");
    tiktoken.count_ordinary("warm up");

    let started = Instant::now();
    let ours: u64 = texts.iter().map(|t| count_tokens(t)).sum();
    let ours_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let theirs: usize = texts.iter().map(|t| tiktoken.count_ordinary(t)).sum();
    let theirs_s = started.elapsed().as_secs_f64();

    assert_eq!(ours, theirs as u64, "token totals differ");
    println!("{} strings, {mb:.1} MB, {ours} tokens", texts.len());
    println!("cc-fingerprint: {ours_s:.3} s ({:.1} MB/s)", mb / ours_s);
    println!(
        "tiktoken-rs:    {theirs_s:.3} s ({:.1} MB/s)",
        mb / theirs_s
    );
    println!("speed-up:       {:.1}x", theirs_s / ours_s);
}
