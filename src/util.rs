//! Small helpers shared by several layers: time bounds and formatting.

use std::fs::File;
use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Open a file for writing, creating it with mode 0600 so what cc-fingerprint
/// writes (databases, exported baselines) is never readable by other users,
/// even for an instant. `truncate` empties an existing file.
pub fn create_private(path: &Path, truncate: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(truncate);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// ISO 8601 UTC with milliseconds, as Claude Code writes timestamps.
pub fn format_ts(ms: i64) -> String {
    match Utc.timestamp_millis_opt(ms).single() {
        Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => String::new(),
    }
}

/// Which end of a range a date-only bound stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `--since 2026-01-05` means from the start of that day.
    Start,
    /// `--until 2026-01-05` means through the end of that day.
    End,
}

/// Parse `--since`/`--until`: `YYYY-MM-DD` (UTC day), an RFC 3339 time, or
/// an age relative to `now_ms` such as `7d`, `12h`, `2w`, `30m`.
pub fn parse_time_bound(text: &str, bound: Bound, now_ms: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp_millis());
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let start = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists")
            .and_utc()
            .timestamp_millis();
        return Ok(match bound {
            Bound::Start => start,
            Bound::End => start + 86_400_000 - 1,
        });
    }
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => 0,
    };
    match digits.parse::<i64>() {
        Ok(n) if unit_ms > 0 && n >= 0 => Ok(now_ms - n * unit_ms),
        _ => Err(format!(
            "cannot read the time {text:?}: use a date (2026-01-31), an RFC 3339 time (2026-01-31T12:00:00Z) or an age (7d, 12h, 2w)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_times_and_ages() {
        let now = 1_767_225_600_000; // 2026-01-01T00:00:00Z
        assert_eq!(parse_time_bound("2026-01-01", Bound::Start, 0), Ok(now));
        assert_eq!(
            parse_time_bound("2026-01-01", Bound::End, 0),
            Ok(now + 86_399_999)
        );
        assert_eq!(
            parse_time_bound("2026-01-01T00:00:01Z", Bound::Start, 0),
            Ok(now + 1000)
        );
        assert_eq!(
            parse_time_bound("7d", Bound::Start, now),
            Ok(now - 7 * 86_400_000)
        );
        assert!(parse_time_bound("yesterday", Bound::Start, now).is_err());
        assert_eq!(format_ts(now + 5), "2026-01-01T00:00:00.005Z");
    }
}
