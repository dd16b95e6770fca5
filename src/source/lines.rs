//! Reading whole lines from a byte offset, with a cap on line length.
//!
//! Only newline-terminated lines are consumed, so a line that Claude Code is
//! still writing is left for the next run. A line longer than the cap is
//! skipped without being held in memory, so a single huge line cannot blow
//! the memory bound.

use std::io::{self, BufRead};

/// Lines longer than this are recorded as bad lines and skipped.
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// What [`LineReader::next_line`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// A newline-terminated line (without the newline).
    Complete(&'a [u8]),
    /// A terminated line longer than the cap; its length in bytes.
    TooLong(u64),
    /// Bytes at the end of the file with no newline yet.
    Unterminated(&'a [u8]),
}

/// Iterates over the lines of a reader positioned at `offset`.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    max_len: usize,
    /// Offset of the next unread byte.
    offset: u64,
}

impl<R: BufRead> LineReader<R> {
    pub fn new(inner: R, offset: u64) -> Self {
        Self::with_max_len(inner, offset, MAX_LINE_BYTES)
    }

    pub fn with_max_len(inner: R, offset: u64, max_len: usize) -> Self {
        LineReader {
            inner,
            buf: Vec::new(),
            max_len,
            offset,
        }
    }

    /// Offset just past the last line returned.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The next line and the offset it starts at, or `None` at end of input.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, Line<'_>)>> {
        self.buf.clear();
        let start = self.offset;
        let mut len: u64 = 0;
        let mut too_long = false;
        loop {
            let available = match self.inner.fill_buf() {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            if available.is_empty() {
                if len == 0 {
                    return Ok(None);
                }
                // End of input inside a line: report it without consuming it.
                self.offset = start;
                let tail = if too_long { &[][..] } else { &self.buf[..] };
                return Ok(Some((start, Line::Unterminated(tail))));
            }
            let (chunk, found_newline) = match memchr::memchr(b'\n', available) {
                Some(i) => (&available[..i], true),
                None => (available, false),
            };
            let chunk_len = chunk.len();
            if !too_long && self.buf.len() + chunk_len > self.max_len {
                too_long = true;
                self.buf = Vec::new();
            }
            if !too_long {
                self.buf.extend_from_slice(chunk);
            }
            len += chunk_len as u64;
            let consumed = chunk_len + usize::from(found_newline);
            self.inner.consume(consumed);
            self.offset += consumed as u64;
            if found_newline {
                let line = if too_long {
                    Line::TooLong(len)
                } else {
                    Line::Complete(&self.buf)
                };
                return Ok(Some((start, line)));
            }
        }
    }

    /// Accept an unterminated tail as consumed (it was a complete record).
    pub fn consume_unterminated(&mut self, len: u64) {
        self.offset += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &[u8], max_len: usize) -> Vec<(u64, String)> {
        let mut reader = LineReader::with_max_len(input, 0, max_len);
        let mut out = Vec::new();
        while let Some((offset, line)) = reader.next_line().unwrap() {
            let shown = match line {
                Line::Complete(b) => format!("ok:{}", String::from_utf8_lossy(b)),
                Line::TooLong(n) => format!("long:{n}"),
                Line::Unterminated(b) => {
                    let s = format!("tail:{}", String::from_utf8_lossy(b));
                    out.push((offset, s));
                    break;
                }
            };
            out.push((offset, shown));
        }
        out
    }

    #[test]
    fn splits_lines_and_reports_offsets() {
        let got = collect(b"a\nbb\n\nccc", 100);
        assert_eq!(
            got,
            vec![
                (0, "ok:a".to_string()),
                (2, "ok:bb".to_string()),
                (5, "ok:".to_string()),
                (6, "tail:ccc".to_string()),
            ]
        );
    }

    #[test]
    fn skips_overlong_lines_without_buffering_them() {
        let got = collect(b"12345678\nab\n", 4);
        assert_eq!(
            got,
            vec![(0, "long:8".to_string()), (9, "ok:ab".to_string())]
        );
    }

    #[test]
    fn offset_stops_before_unterminated_tail() {
        let mut reader = LineReader::new(&b"x\nyz"[..], 10);
        reader.next_line().unwrap();
        assert_eq!(reader.offset(), 12);
        assert!(matches!(
            reader.next_line().unwrap(),
            Some((12, Line::Unterminated(b"yz")))
        ));
        assert_eq!(reader.offset(), 12);
    }
}
