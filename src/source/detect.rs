//! Recognising a log file's format from its first records, never its name.

use std::collections::HashMap;
use std::io::{self, BufRead};

use super::lines::{Line, LineReader, MAX_LINE_BYTES};
use super::Format;

/// Non-blank lines looked at before a file is called unrecognised.
pub const SNIFF_LINES: usize = 32;
/// Bytes read at most while sniffing. Lines over [`MAX_LINE_BYTES`] are
/// skipped without being held, so a huge first record (a pasted file) does
/// not hide the records after it, and a newline-free binary file of any size
/// costs one bounded scan.
pub const SNIFF_BYTES: u64 = 4 * MAX_LINE_BYTES as u64;

/// What [`detect_format`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    Format(Format),
    /// No bytes but whitespace: read again when it grows.
    Empty,
    /// Bytes, but no Claude Code record among them; the reason.
    Unrecognised(String),
}

/// Decide the format of the file `reader` reads from its start.
pub fn detect_format<R: BufRead>(reader: R) -> io::Result<Detected> {
    detect_with_limit(reader, MAX_LINE_BYTES)
}

/// [`detect_format`] with a smaller line cap, for tests.
pub fn detect_with_limit<R: BufRead>(reader: R, max_line: usize) -> io::Result<Detected> {
    let mut reader = LineReader::with_max_len(io::Read::take(reader, SNIFF_BYTES), 0, max_line);
    let mut seen_bytes = false;
    let mut checked = 0;
    while checked < SNIFF_LINES {
        let Some((_, line)) = reader.next_line()? else {
            break;
        };
        let bytes = match line {
            Line::Complete(b) | Line::Unterminated(b) => b,
            Line::TooLong(_) => {
                seen_bytes = true;
                checked += 1;
                continue;
            }
        };
        let is_tail = matches!(line, Line::Unterminated(_));
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if is_tail {
                break;
            }
            continue;
        }
        seen_bytes = true;
        checked += 1;
        if let Some(format) = format_of_record(bytes) {
            return Ok(Detected::Format(format));
        }
        if is_tail {
            break;
        }
    }
    Ok(if seen_bytes {
        Detected::Unrecognised(format!(
            "no Claude Code record in its first {SNIFF_LINES} lines"
        ))
    } else {
        Detected::Empty
    })
}

/// The format one JSON line belongs to, if it is a record of a known one.
pub fn format_of_record(bytes: &[u8]) -> Option<Format> {
    let value = serde_json::from_slice::<HashMap<String, serde::de::IgnoredAny>>(bytes).ok()?;
    if value.contains_key("resourceLogs") {
        return Some(Format::Otlp);
    }
    if value.contains_key("resourceMetrics") || value.contains_key("resourceSpans") {
        // Metrics or traces only: nothing per session to read.
        return None;
    }
    // Headless events name the session in snake case; transcripts never do.
    if value.contains_key("session_id")
        && !value.contains_key("sessionId")
        && value.contains_key("type")
    {
        return Some(Format::StreamJson);
    }
    if value.contains_key("type") || value.contains_key("sessionId") {
        return Some(Format::Transcript);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_first_line_does_not_hide_the_records_after_it() {
        let input = format!("{{\"x\":\"{}\"}}\n{{\"type\":\"user\"}}\n", "a".repeat(100));
        assert_eq!(
            detect_with_limit(input.as_bytes(), 20).unwrap(),
            Detected::Format(Format::Transcript)
        );
        assert_eq!(detect_format(&b" \n\n  "[..]).unwrap(), Detected::Empty);
        assert!(matches!(
            detect_format(&b"\0\0\0"[..]).unwrap(),
            Detected::Unrecognised(_)
        ));
    }
}
