//! Output: tables for people, JSON and CSV for machines.
//!
//! Everything goes to a writer passed in (stdout in practice), and every
//! write error is returned, so a closed pipe ends the command quietly.

pub mod charts;
pub mod html;
pub mod markdown;
pub mod mechanisms;

use std::io::Write;

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

/// A simple table: a header and rows of cells, rendered in any format.
#[derive(Debug, Clone, Default)]
pub struct Tabular {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Tabular {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Tabular {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// Render for a terminal: aligned columns, no colour (respects NO_COLOR trivially).
    pub fn write_table(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut table = Table::new();
        table
            .load_preset(presets::UTF8_FULL_CONDENSED)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(&self.header);
        for row in &self.rows {
            table.add_row(row);
        }
        writeln!(out, "{table}")
    }

    pub fn write_csv(&self, out: &mut impl Write) -> std::io::Result<()> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(&self.header)?;
        for row in &self.rows {
            writer.write_record(row)?;
        }
        writer.flush()
    }
}

/// Pretty JSON followed by a newline.
pub fn write_json<T: Serialize + ?Sized>(out: &mut impl Write, value: &T) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)
}

/// Thousands separators for counts in tables (`1234567` -> `1,234,567`).
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(-1000), "-1,000");
    }
}
