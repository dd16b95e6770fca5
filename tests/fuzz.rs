//! Property tests ("fuzzing" on stable Rust) of the line parsers, the line
//! reader and format detection: they never panic, whatever the bytes, and
//! what they read back is what was written.
//!
//! Case counts are small so CI stays fast; `FUZZ_CASES=100000
//! scripts/fuzz.sh` runs the same properties for longer. A failing case is
//! shrunk by proptest and printed; it then belongs in `fixtures/bad/` with
//! a test in tests/hardening.rs stating its outcome.

use std::io::{self, BufRead, Read};
use std::path::Path;

use cc_fingerprint::source::detect::{detect_format, detect_with_limit, Detected, SNIFF_LINES};
use cc_fingerprint::source::lines::{Line, LineReader};
use cc_fingerprint::source::{
    otlp, stream_json, transcript, Batch, Format, ParseOptions, MAX_TOKEN_COUNT,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

fn config(default_cases: u32) -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

/// Feed one line to every parser and the detector; only a panic can fail.
fn parse_everywhere(line: &[u8]) {
    for store_text in [false, true] {
        let options = ParseOptions { store_text };
        let _ = transcript::parse_line(line, 1, options, &mut Batch::default());
        let _ = stream_json::parse_line(line, 1, options, &mut Batch::default());
    }
    let _ = otlp::parse_line(line, 1, &mut Batch::default());
    let _ = detect_format(line);
}

/// Short lines of the committed fixtures of every format (read once).
fn fixture_lines() -> &'static [Vec<u8>] {
    static LINES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    LINES.get_or_init(read_fixture_lines)
}

/// The fixture lines that parse as transcript records (read once).
fn transcript_lines() -> &'static [Vec<u8>] {
    static LINES: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        fixture_lines()
            .iter()
            .filter(|l| {
                l.starts_with(b"{")
                    && transcript::parse_line(l, 1, ParseOptions::default(), &mut Batch::default())
                        .is_ok()
            })
            .cloned()
            .collect()
    })
}

fn read_fixture_lines() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let mut files = Vec::new();
    for sub in ["real", "stream-json", "otlp", "bad"] {
        collect(&root.join(sub), &mut files);
    }
    files.sort();
    let mut lines = Vec::new();
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        lines.extend(
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty() && l.len() < 8_000)
                .map(<[u8]>::to_vec),
        );
    }
    assert!(lines.len() > 100, "fixtures found");
    lines
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
}

/// JSON values biased towards the keys the parsers look for.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let keys = prop_oneof![
        Just("type".to_owned()),
        Just("subtype".to_owned()),
        Just("sessionId".to_owned()),
        Just("session_id".to_owned()),
        Just("uuid".to_owned()),
        Just("timestamp".to_owned()),
        Just("message".to_owned()),
        Just("content".to_owned()),
        Just("usage".to_owned()),
        Just("input_tokens".to_owned()),
        Just("output_tokens".to_owned()),
        Just("id".to_owned()),
        Just("requestId".to_owned()),
        Just("model".to_owned()),
        Just("text".to_owned()),
        Just("resourceLogs".to_owned()),
        Just("scopeLogs".to_owned()),
        Just("logRecords".to_owned()),
        Just("attributes".to_owned()),
        Just("key".to_owned()),
        Just("value".to_owned()),
        Just("intValue".to_owned()),
        Just("stringValue".to_owned()),
        "[a-z_]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        prop_oneof![
            Just("assistant".to_owned()),
            Just("user".to_owned()),
            Just("system".to_owned()),
            Just("result".to_owned()),
            Just("init".to_owned()),
            Just("tool_use".to_owned()),
            Just("api_request".to_owned()),
            Just("2026-01-02T00:00:00Z".to_owned()),
            ".{0,12}",
        ]
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(keys.clone(), inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A reader that hands out at most `step` bytes per `fill_buf`, so line
/// ends fall at every position relative to buffer boundaries.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.fill_buf()?.len().min(buf.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Trickle<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        Ok(&self.data[..self.step.min(self.data.len())])
    }
    fn consume(&mut self, amt: usize) {
        self.data = &self.data[amt..];
    }
}

fn is_empty(batch: &Batch) -> bool {
    batch.parts.is_empty()
        && batch.events.is_empty()
        && batch.tool_uses.is_empty()
        && batch.tool_results.is_empty()
        && batch.sessions.is_empty()
        && batch.record_types.is_empty()
        && batch.texts.is_empty()
}

proptest! {
    #![proptest_config(config(5000))]

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        parse_everywhere(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(value in json_value()) {
        parse_everywhere(value.to_string().as_bytes());
    }

    #[test]
    fn parsers_never_panic_on_mutated_real_lines(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((0u8..4, any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let lines = fixture_lines();
        let mut line = pick.get(lines).clone();
        for (kind, at, byte) in edits {
            let i = at.index(line.len().max(1)).min(line.len());
            match kind {
                0 => line.truncate(i),
                1 => if i < line.len() { line[i] = byte },
                2 => line.insert(i, byte),
                _ => { line.drain(i..(i + usize::from(byte)).min(line.len())); }
            }
        }
        parse_everywhere(&line);
    }

    /// A line cut short is a bad line, and a bad transcript line leaves
    /// nothing behind in the batch (no half-counted record).
    #[test]
    fn a_transcript_line_cut_short_is_an_error_that_adds_nothing(
        pick in any::<prop::sample::Index>(),
        cut in any::<prop::sample::Index>(),
    ) {
        let lines = transcript_lines();
        let line = pick.get(lines);
        let end = line.iter().rposition(|b| *b == b'}').unwrap();
        let prefix = &line[..cut.index(end)];
        let mut batch = Batch::default();
        let result = transcript::parse_line(prefix, 1, ParseOptions::default(), &mut batch);
        prop_assert!(result.is_err(), "a prefix parsed: {}", String::from_utf8_lossy(prefix));
        prop_assert!(is_empty(&batch));
    }

    /// Whatever the field order, unknown fields or whitespace, an assistant
    /// line reads back the usage and ids written into it.
    #[test]
    fn assistant_lines_round_trip(
        usage in proptest::array::uniform4(0..=MAX_TOKEN_COUNT),
        message_id in "[A-Za-z0-9_]{1,20}",
        request_id in "[A-Za-z0-9_]{0,20}",
        session in "[a-f0-9-]{1,36}",
        extra in proptest::collection::btree_map("x[a-z]{1,6}", any::<i64>(), 0..4),
        shuffle in any::<u64>(),
        spaced in any::<bool>(),
    ) {
        let mut fields: Vec<(String, serde_json::Value)> = vec![
            ("type".into(), "assistant".into()),
            ("sessionId".into(), session.clone().into()),
            ("requestId".into(), request_id.clone().into()),
            ("message".into(), serde_json::json!({
                "id": message_id, "model": "claude-test",
                "content": [{"type": "text", "text": "hi"}],
                "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                          "cache_creation_input_tokens": usage[2], "cache_read_input_tokens": usage[3]},
            })),
        ];
        fields.extend(extra.iter().map(|(k, v)| (k.clone(), serde_json::Value::from(*v))));
        let n = fields.len();
        for i in 0..n {
            fields.swap(i, (shuffle.rotate_left(i as u32 * 7) as usize) % n);
        }
        let object: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
        let value = serde_json::Value::Object(object);
        let line = if spaced { serde_json::to_string_pretty(&value).unwrap().replace('\n', " ") } else { value.to_string() };
        let mut batch = Batch::default();
        transcript::parse_line(line.as_bytes(), 7, ParseOptions::default(), &mut batch).unwrap();
        prop_assert_eq!(batch.parts.len(), 1);
        let part = &batch.parts[0];
        let u = &part.usage;
        prop_assert_eq!([u.input_tokens, u.output_tokens, u.cache_creation_input_tokens, u.cache_read_input_tokens], usage);
        let key = if request_id.is_empty() { message_id.clone() } else { format!("{message_id}:{request_id}") };
        prop_assert_eq!(part.response_key(), key);
        prop_assert_eq!(&part.session_id, &session);
        prop_assert_eq!(part.line_no, 7);
        prop_assert_eq!(batch.unknown_fields.len(), extra.len());
    }

    /// Lines come back exactly, with their offsets, however the bytes
    /// arrive; over-long lines are reported with their true length.
    #[test]
    fn the_line_reader_gives_back_the_input(
        bytes in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x'), any::<u8>()], 0..400),
        step in 1usize..40,
        max_len in 1usize..50,
        start in 0u64..1000,
    ) {
        let mut reader = LineReader::with_max_len(Trickle { data: &bytes, step }, start, max_len);
        let mut pos = 0usize;
        while let Some((offset, line)) = reader.next_line().unwrap() {
            prop_assert_eq!(offset, start + pos as u64);
            match line {
                Line::Complete(l) => {
                    prop_assert!(l.len() <= max_len);
                    prop_assert_eq!(l, &bytes[pos..pos + l.len()]);
                    prop_assert_eq!(bytes[pos + l.len()], b'\n');
                    pos += l.len() + 1;
                }
                Line::TooLong(n) => {
                    let n = n as usize;
                    prop_assert!(n > max_len);
                    prop_assert!(!bytes[pos..pos + n].contains(&b'\n'));
                    prop_assert_eq!(bytes[pos + n], b'\n');
                    pos += n + 1;
                }
                Line::Unterminated(tail) => {
                    prop_assert!(!bytes[pos..].contains(&b'\n'));
                    if bytes.len() - pos <= max_len {
                        prop_assert_eq!(tail, &bytes[pos..]);
                    }
                    prop_assert_eq!(reader.offset(), start + pos as u64, "a tail is not consumed");
                    pos = bytes.len();
                    break;
                }
            }
            prop_assert_eq!(reader.offset(), start + pos as u64);
        }
        prop_assert_eq!(pos, bytes.len());
    }

    /// Detection depends on the records, not on blank lines, junk lines
    /// before the first record (up to the sniff window) or a tiny line cap.
    #[test]
    fn detection_finds_the_first_record_within_the_window(
        junk in proptest::collection::vec("[^\n{]{0,30}", 0..(SNIFF_LINES + 4)),
        blanks in 0usize..5,
        which in 0usize..3,
        long_first in any::<bool>(),
    ) {
        let record = [
            r#"{"type":"user","sessionId":"s"}"#,
            r#"{"type":"system","subtype":"init","session_id":"s"}"#,
            r#"{"resourceLogs":[]}"#,
        ][which];
        let expected = [Format::Transcript, Format::StreamJson, Format::Otlp][which];
        let mut text = "\n".repeat(blanks);
        let mut non_blank = junk
            .iter()
            .filter(|l| !l.bytes().all(|b| b.is_ascii_whitespace()))
            .count();
        if long_first {
            // Over the line cap: skipped, but it counts towards the window.
            text.push_str(&"z".repeat(100));
            text.push('\n');
            non_blank += 1;
        }
        for line in &junk {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(record);
        text.push('\n');
        let found = detect_with_limit(text.as_bytes(), 60).unwrap();
        if non_blank < SNIFF_LINES {
            prop_assert_eq!(found, Detected::Format(expected));
        } else {
            prop_assert!(matches!(found, Detected::Unrecognised(_)));
        }
    }
}
