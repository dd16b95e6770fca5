//! `cc-fingerprint report --markdown`: the report as text that pastes into
//! an issue, from the same [`ReportData`] as the HTML page.
//!
//! GitHub-flavoured Markdown renders raw HTML, so every string from the logs
//! goes through [`escape`]: `<`, `>` and `&` become entities (a transcript's
//! `<script>` stays text) and Markdown's own punctuation is backslash-escaped
//! (a project named `*x*|y` neither turns bold nor breaks a table).

use std::fmt::Write as _;

use super::charts::{day_iso, human};
use super::html::data::{quantile_sorted, Arms, ReportData, MIN_DAY_SESSIONS};
use super::html::{fmt_time, selection_text};
use super::thousands;
use crate::analysis::audit::Status;

/// Text from the logs, safe inside Markdown paragraphs and table cells.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '|' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' | '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header
            .iter()
            .map(|h| if h.starts_with(' ') { "---:|" } else { "---|" })
            .collect::<String>()
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

fn pct(share: f64) -> String {
    format!("{:.1}%", 100.0 * share)
}

/// Days grouped for tables: one row a day up to a month, else a week.
fn buckets(days: &[i64]) -> Vec<(String, std::ops::Range<usize>)> {
    let width = if days.len() <= 31 { 1 } else { 7 };
    (0..days.len())
        .step_by(width)
        .map(|i| {
            let end = (i + width).min(days.len());
            let label = if width == 1 {
                day_iso(days[i])
            } else {
                format!("week of {}", day_iso(days[i]))
            };
            (label, i..end)
        })
        .collect()
}

/// Render the Markdown report.
pub fn render(data: &ReportData) -> String {
    let mut out = String::new();
    let o = &data.overview;
    let _ = writeln!(out, "# cc-fingerprint report\n");
    let _ = write!(out, "{} sessions", thousands(o.sessions as i64));
    if let (Some(a), Some(b)) = (o.first_ms, o.last_ms) {
        let _ = write!(out, ", {} to {}", fmt_time(a), fmt_time(b));
    }
    let _ = writeln!(
        out,
        ". Selection: {}. Written by {}; charts are in the HTML report (`--html`).\n",
        escape(&selection_text(data)),
        data.generator
    );

    // Overview.
    let _ = writeln!(out, "## Overview\n");
    table(
        &mut out,
        &[
            " sessions",
            " users",
            " projects",
            " models",
            " versions",
            " days",
            " responses",
        ],
        &[vec![
            thousands(o.sessions as i64),
            thousands(o.users as i64),
            thousands(o.projects as i64),
            thousands(o.models.len() as i64),
            thousands(o.versions.len() as i64),
            thousands(data.days.len() as i64),
            thousands(o.responses),
        ]],
    );
    for (title, list) in [("model", &o.models), ("Claude Code version", &o.versions)] {
        let total: usize = list.iter().map(|x| x.1).sum::<usize>().max(1);
        let mut rows: Vec<Vec<String>> = list
            .iter()
            .take(8)
            .map(|(name, n)| {
                vec![
                    escape(name),
                    thousands(*n as i64),
                    pct(*n as f64 / total as f64),
                ]
            })
            .collect();
        if list.len() > 8 {
            let rest: usize = list.iter().skip(8).map(|x| x.1).sum();
            rows.push(vec![
                format!("… {} more", list.len() - 8),
                thousands(rest as i64),
                pct(rest as f64 / total as f64),
            ]);
        }
        table(&mut out, &[title, " sessions", " share"], &rows);
    }
    let h = &o.health;
    let _ = writeln!(
        out,
        "**Ingest health** (whole store): {} files, {} transcripts, {} unrecognised (skipped), {} empty, {} bad lines.\n",
        thousands(h.files),
        thousands(h.transcripts),
        thousands(h.unrecognised),
        thousands(h.empty),
        thousands(h.bad_lines)
    );
    if !h.top_reasons.is_empty() {
        let rows: Vec<Vec<String>> = h
            .top_reasons
            .iter()
            .map(|(r, n)| vec![escape(r), thousands(*n)])
            .collect();
        table(&mut out, &["reason a line was rejected", " lines"], &rows);
    }

    // Arms.
    let _ = writeln!(out, "## Arms\n");
    match &data.arms {
        Arms::NoRun { .. } => {
            let _ = writeln!(
                out,
                "No arms computed: run `cc-fingerprint arms`, then write the report again.\n"
            );
        }
        Arms::Run {
            id,
            created_ms,
            problem,
            strata,
        } => {
            let _ = writeln!(
                out,
                "From the latest `cc-fingerprint arms` run (#{id}, {}).\n",
                fmt_time(*created_ms)
            );
            if let Some(p) = problem {
                let _ = writeln!(out, "> {}\n", escape(p));
            }
            for s in strata {
                let _ = writeln!(out, "### Stratum {}\n", escape(&s.name));
                if !s.is_clustered() {
                    let _ = writeln!(
                        out,
                        "Not clustered ({}); {} sessions in this window.\n",
                        escape(&s.status),
                        thousands(s.window_sessions as i64)
                    );
                    continue;
                }
                let rows: Vec<Vec<String>> = s
                    .clusters
                    .iter()
                    .map(|c| {
                        vec![
                            format!(
                                "{}{}",
                                escape(&c.label),
                                if c.is_reference { " (reference)" } else { "" }
                            ),
                            c.size
                                .map(|v| thousands(v as i64))
                                .unwrap_or_else(|| "-".into()),
                            c.share.map(pct).unwrap_or_else(|| "-".into()),
                            c.stability
                                .map(|v| format!("{v:.2}"))
                                .unwrap_or_else(|| "-".into()),
                            thousands(c.in_window as i64),
                            if c.distinguishing.is_empty() {
                                "-".into()
                            } else {
                                c.distinguishing
                                    .iter()
                                    .map(|d| escape(d))
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            },
                        ]
                    })
                    .collect();
                table(
                    &mut out,
                    &[
                        "cluster",
                        " sessions (run)",
                        " share",
                        " stability",
                        " in window",
                        "distinguishing features",
                    ],
                    &rows,
                );
                if !s.share_by_day.is_empty() {
                    let mut header: Vec<String> = vec!["day (UTC)".into(), " sessions".into()];
                    header.extend(
                        s.share_by_day
                            .iter()
                            .map(|x| format!(" {}", escape(&x.label))),
                    );
                    let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
                    let rows: Vec<Vec<String>> = buckets(&data.days)
                        .into_iter()
                        .filter_map(|(label, range)| {
                            let counts: Vec<usize> = s
                                .share_by_day
                                .iter()
                                .map(|x| x.counts[range.clone()].iter().sum())
                                .collect();
                            let total: usize = counts.iter().sum();
                            (total > 0).then(|| {
                                let mut row = vec![label, thousands(total as i64)];
                                row.extend(counts.iter().map(|c| pct(*c as f64 / total as f64)));
                                row
                            })
                        })
                        .collect();
                    let _ = writeln!(out, "Share of the stratum's sessions by day:\n");
                    table(&mut out, &header_refs, &rows);
                }
            }
        }
    }

    // Timeline.
    let _ = writeln!(out, "## Timeline\n");
    let _ = writeln!(
        out,
        "Daily median of key features (UTC day of session start; `-`: fewer than {MIN_DAY_SESSIONS} sessions).\n"
    );
    if !data.days.is_empty() {
        let mut header: Vec<String> = vec!["day (UTC)".into(), " sessions".into()];
        header.extend(data.timeline.iter().map(|f| {
            let unit = if f.def.unit == "share" {
                "%"
            } else {
                f.def.unit
            };
            format!(" {} ({unit})", f.def.name)
        }));
        let header_refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = if data.days.len() <= 31 {
            (0..data.days.len())
                .map(|i| {
                    let mut row = vec![
                        day_iso(data.days[i]),
                        thousands(data.sessions_per_day[i] as i64),
                    ];
                    row.extend(data.timeline.iter().map(|f| {
                        f.per_day[i]
                            .map(|q| {
                                if f.def.unit == "share" {
                                    human(q[1] * 100.0)
                                } else {
                                    human(q[1])
                                }
                            })
                            .unwrap_or_else(|| "-".into())
                    }));
                    row
                })
                .collect()
        } else {
            // Weekly: the median of the daily medians would mislead; say which days.
            buckets(&data.days)
                .into_iter()
                .map(|(label, range)| {
                    let mut row = vec![
                        label,
                        thousands(data.sessions_per_day[range.clone()].iter().sum::<usize>() as i64),
                    ];
                    row.extend(data.timeline.iter().map(|f| {
                        let mut medians: Vec<f64> =
                            f.per_day[range.clone()].iter().flatten().map(|q| q[1]).collect();
                        medians.sort_by(f64::total_cmp);
                        if medians.is_empty() {
                            "-".into()
                        } else {
                            let m = quantile_sorted(&medians, 0.5);
                            human(if f.def.unit == "share" { m * 100.0 } else { m })
                        }
                    }));
                    row
                })
                .collect()
        };
        if data.days.len() > 31 {
            let _ = writeln!(
                out,
                "(Over a month of data: one row per week, the median of its daily medians.)\n"
            );
        }
        table(&mut out, &header_refs, &rows);
    }

    // Audit.
    if let Some(a) = &data.audit {
        let b = &a.baseline;
        let _ = writeln!(out, "## Audit against baseline {}\n", escape(&b.name));
        let regressions: Vec<&str> = a
            .result
            .features
            .iter()
            .filter(|f| f.status == Status::Regression)
            .map(|f| f.feature)
            .collect();
        if regressions.is_empty() {
            let _ = writeln!(out, "No regression flagged.\n");
        } else {
            let _ = writeln!(
                out,
                "**REGRESSION** in {}.\n",
                escape(&regressions.join(", "))
            );
        }
        let _ = writeln!(
            out,
            "Baseline: {} sessions; window: {} sessions. FDR {}, min |delta| {}, min sessions {}.\n",
            thousands(b.sessions as i64),
            thousands(a.window_sessions as i64),
            a.params.fdr,
            a.params.min_effect,
            a.params.min_sessions
        );
        if let Some(w) = &a.overlap {
            let _ = writeln!(out, "> {}\n", escape(w));
        }
        let mut ordered: Vec<_> = a.result.features.iter().collect();
        ordered.sort_by(|x, y| {
            (!x.flagged)
                .cmp(&!y.flagged)
                .then(
                    x.q_value
                        .unwrap_or(2.0)
                        .total_cmp(&y.q_value.unwrap_or(2.0)),
                )
                .then(x.feature.cmp(y.feature))
        });
        let show = |v: Option<f64>| v.map(human).unwrap_or_else(|| "-".into());
        let rows: Vec<Vec<String>> = ordered
            .iter()
            .map(|f| {
                let status = match f.status {
                    Status::Regression => "**REGRESSION**",
                    Status::Improvement => "improvement",
                    Status::Changed => "changed",
                    Status::NoChange => "",
                    Status::NotEnoughData => "not enough data",
                };
                vec![
                    escape(f.feature),
                    show(f.baseline_median),
                    show(f.window_median),
                    match (f.effect, f.ci) {
                        (Some(d), Some([lo, hi])) => format!("{d:+.2} [{lo:+.2}, {hi:+.2}]"),
                        _ => "-".into(),
                    },
                    f.q_value
                        .map(|q| format!("{q:.3}"))
                        .unwrap_or_else(|| "-".into()),
                    f.worse.into(),
                    status.into(),
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "feature",
                " baseline median",
                " window median",
                " Cliff's delta [95% CI]",
                " q",
                "worse",
                "status",
            ],
            &rows,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_text() {
        assert_eq!(
            escape("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(escape("a|b*c_\n"), "a\\|b\\*c\\_ ");
        assert!(!escape("\"><img src=x onerror=alert(1)>").contains('<'));
    }
}
