//! `cc-fingerprint report --html`: one self-contained page.
//!
//! The page is built with maud, which escapes every interpolated value by
//! default; the only unescaped inputs are the static stylesheet below. The
//! charts (see [`super::charts`]) go through the same engine, so a project
//! path, model name or session id from the logs that contains `<script>`
//! renders as text, in the page and inside the SVG alike.
//!
//! The page needs no JavaScript, loads no font, image or stylesheet, and its
//! Content-Security-Policy (`default-src 'none'`) forbids the browser to
//! fetch anything or run any script even if something slipped through.
//! Nothing time-dependent is written (no "generated at"), so the same store
//! and options give the same bytes.

pub mod data;
pub mod projection;

use maud::{html, Markup, PreEscaped, DOCTYPE};

use self::data::{
    Arms, AuditSection, ClusterView, MapView, ReportData, StratumView, MIN_DAY_SESSIONS,
};
use super::charts::{self, BandChart, DistributionChart};
use super::thousands;
use crate::analysis::audit::Status;

const CSS: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1f1f1f;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 20px 28px 48px; }
h1 { font-size: 26px; margin: 0 0 2px; }
h2 { font-size: 21px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid #e4e4e4; }
h3 { font-size: 17px; margin: 26px 0 8px; }
h4 { font-size: 15px; margin: 16px 0 6px; }
p { margin: 6px 0 10px; max-width: 80ch; }
.meta { color: #5c5c5c; margin: 0 0 8px; }
nav { margin: 6px 0 0; }
nav a { color: #0072B2; margin-right: 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 10px; margin: 10px 0 16px; }
.card { border: 1px solid #e4e4e4; border-radius: 6px; padding: 8px 12px; }
.card b { display: block; font-size: 19px; font-variant-numeric: tabular-nums; }
.card > span { color: #5c5c5c; font-size: 13px; }
.row { display: flex; flex-wrap: wrap; gap: 28px; align-items: flex-start; }
table { border-collapse: collapse; font-size: 13.5px; margin: 6px 0 12px; }
caption { text-align: left; font-weight: 600; padding: 0 0 4px; }
th, td { padding: 3px 10px; border-bottom: 1px solid #ececec; text-align: left; vertical-align: top; }
th { border-bottom: 2px solid #d0d0d0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.flagged td { background: #FFF1E0; }
tr.regression td:first-child { box-shadow: inset 4px 0 0 #D55E00; font-weight: 600; }
tr.flagged td.status { font-weight: 700; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
figure { margin: 0 0 8px; }
figcaption { font-size: 13px; color: #4a4a4a; margin-top: 4px; }
.figs figure { flex: 0 1 562px; }
svg.chart { display: block; max-width: 100%; height: auto; border: 1px solid #ececec; border-radius: 4px; }
.figs { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 16px 20px; }
.note { background: #F2F7FB; border-left: 4px solid #56B4E9; padding: 8px 12px; max-width: 90ch; }
.warn { background: #FFF6E5; border-left: 4px solid #E69F00; padding: 8px 12px; max-width: 90ch; }
.bad { background: #FDEDE7; border-left: 4px solid #D55E00; padding: 8px 12px; max-width: 90ch; }
.ok { color: #007A55; font-weight: 600; }
article.stratum { border-top: 1px solid #e4e4e4; margin-top: 18px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 90%; background: #f4f4f4; padding: 0 3px; border-radius: 3px; }
footer { margin-top: 40px; color: #5c5c5c; font-size: 13px; border-top: 1px solid #e4e4e4; padding-top: 10px; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  nav { display: none; }
  figure, table, article.stratum, .card { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  svg.chart { border: none; }
}
"#;

/// No fetches of any kind, no scripts: only the inline stylesheet.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// Render the whole page.
pub fn render(data: &ReportData) -> String {
    let o = &data.overview;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy" content=(CSP);
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="generator" content=(data.generator);
                title { "cc-fingerprint report" (range_suffix(o.first_ms, o.last_ms)) }
                style { (PreEscaped(CSS)) }
            }
            body {
                main {
                    header {
                        h1 { "cc-fingerprint report" }
                        p.meta {
                            (thousands(o.sessions as i64)) " sessions"
                            @if let (Some(a), Some(b)) = (o.first_ms, o.last_ms) {
                                ", " (fmt_time(a)) " to " (fmt_time(b))
                            }
                            ". Selection: " (selection_text(data)) "."
                        }
                        nav {
                            a href="#overview" { "Overview" }
                            a href="#arms" { "Arms" }
                            a href="#timeline" { "Timeline" }
                            @if data.audit.is_some() { a href="#audit" { "Audit" } }
                        }
                    }
                    (overview(data))
                    (arms(data))
                    (timeline(data))
                    @if let Some(a) = &data.audit { (audit(a)) }
                    footer {
                        p {
                            "Written offline by " (data.generator) " from the local store. "
                            "This file is self-contained: it loads nothing and runs no script. "
                            "Feature definitions: " code { "cc-fingerprint features --list" } "."
                        }
                    }
                }
            }
        }
    };
    page.into_string()
}

fn range_suffix(first: Option<i64>, last: Option<i64>) -> String {
    match (first, last) {
        (Some(a), Some(b)) => format!(
            ", {} to {}",
            charts::day_iso(a.div_euclid(86_400_000)),
            charts::day_iso(b.div_euclid(86_400_000))
        ),
        _ => String::new(),
    }
}

/// "2026-01-05 13:02 UTC".
pub fn fmt_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_default()
}

/// The window and filters in words.
pub fn selection_text(data: &ReportData) -> String {
    let mut parts = Vec::new();
    match (&data.since, &data.until) {
        (None, None) => parts.push("all sessions in the store".to_owned()),
        (Some(s), None) => parts.push(format!("sessions active since {s}")),
        (None, Some(u)) => parts.push(format!("sessions started until {u}")),
        (Some(s), Some(u)) => parts.push(format!("sessions from {s} until {u}")),
    }
    if let Some(p) = &data.project {
        parts.push(format!("project {p}"));
    }
    if let Some(m) = &data.model {
        parts.push(format!("model {m}"));
    }
    parts.join(", ")
}

fn pct(share: f64) -> String {
    format!("{:.1}%", 100.0 * share)
}

fn card(value: &str, label: &str) -> Markup {
    html! { div.card { b { (value) } span { (label) } } }
}

/// A count for a card: exact up to ten million, then "14.0 M" (exact in the tooltip).
fn compact(n: i64) -> Markup {
    if n.abs() < 10_000_000 {
        return html! { (thousands(n)) };
    }
    html! { span title=(thousands(n)) { (format!("{:.1} M", n as f64 / 1e6)) } }
}

fn card_n(n: i64, label: &str) -> Markup {
    html! { div.card { b { (compact(n)) } span { (label) } } }
}

fn overview(data: &ReportData) -> Markup {
    let o = &data.overview;
    let h = &o.health;
    let days = data.days.len();
    let top = |list: &[(String, usize)], n: usize, caption: &str, what: &str| {
        let total: usize = list.iter().map(|x| x.1).sum();
        html! {
            table {
                caption { (caption) }
                thead { tr { th { (what) } th.num { "sessions" } th.num { "share" } } }
                tbody {
                    @for (name, count) in list.iter().take(n) {
                        tr { td { code { (name) } } td.num { (thousands(*count as i64)) } td.num { (pct(*count as f64 / total.max(1) as f64)) } }
                    }
                    @if list.len() > n {
                        @let rest: usize = list.iter().skip(n).map(|x| x.1).sum();
                        tr { td { "… " (list.len() - n) " more" } td.num { (thousands(rest as i64)) } td.num { (pct(rest as f64 / total.max(1) as f64)) } }
                    }
                }
            }
        }
    };
    let healthy = h.bad_lines == 0 && h.unrecognised == 0;
    html! {
        section #overview {
            h2 { "Overview" }
            div.cards {
                (card(&thousands(o.sessions as i64), "sessions"))
                (card(&thousands(o.users as i64), "users (home dirs)"))
                (card(&thousands(o.projects as i64), "projects"))
                (card(&thousands(o.models.len() as i64), "models"))
                (card(&thousands(o.versions.len() as i64), "Claude Code versions"))
                (card(&thousands(days as i64), "days"))
                (card_n(o.responses, "API responses"))
                (card_n(o.output_tokens, "output tokens"))
            }
            @if o.sessions == 0 {
                p.warn { "No session matches this selection. Run " code { "cc-fingerprint ingest" } " first, or widen " code { "--since" } " / " code { "--until" } "." }
            }
            @if o.with_features < o.sessions {
                p.warn { (thousands((o.sessions - o.with_features) as i64)) " of " (thousands(o.sessions as i64)) " sessions have no stored fingerprint and are left out of the charts." }
            }
            div.row {
                (top(&o.models, 8, "Main model", "model"))
                (top(&o.versions, 8, "Claude Code version (latest in the session)", "version"))
            }
            h3 #ingest-health { "Ingest health" }
            p {
                @if healthy { span.ok { "Clean. " } }
                "Over the whole store: " (thousands(h.files)) " files scanned, "
                (thousands(h.transcripts)) " transcripts, "
                (thousands(h.unrecognised)) " unrecognised (skipped), "
                (thousands(h.empty)) " empty; "
                (thousands(h.bad_lines)) " bad lines (kept out of every figure)."
            }
            @if !h.top_reasons.is_empty() {
                table.reasons {
                    caption { "Most frequent reasons lines were rejected" }
                    thead { tr { th { "reason" } th.num { "lines" } } }
                    tbody { @for (reason, n) in &h.top_reasons { tr { td { (reason) } td.num { (thousands(*n)) } } } }
                }
            }
            @if !h.unrecognised_examples.is_empty() {
                p { "Unrecognised files (first " (h.unrecognised_examples.len()) "): "
                    @for (i, path) in h.unrecognised_examples.iter().enumerate() {
                        @if i > 0 { ", " }
                        code { (path) }
                    }
                }
            }
        }
    }
}

fn stability_word(s: f64) -> &'static str {
    // Hennig (2007): Jaccard stability above 0.85 is highly stable; below 0.5 the cluster dissolves.
    if s >= 0.85 {
        "stable"
    } else if s >= 0.6 {
        "fairly stable"
    } else if s >= 0.5 {
        "weak"
    } else {
        "unstable"
    }
}

fn map_figure(title: &str, map: &MapView, what: &str) -> Markup {
    let p = &map.projection;
    let axis = |k: usize| {
        format!(
            "PC{} ({:.0}% of variance), robust SD units",
            k + 1,
            100.0 * p.explained[k]
        )
    };
    let loads = |k: usize| {
        p.loadings[k]
            .iter()
            .map(|(f, w)| format!("{f} ({w:+.2})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let desc = format!(
        "Scatter plot of {} sessions on the first two principal components, coloured by {what}.",
        map.shown
    );
    html! {
        figure {
            (charts::scatter(title, &desc, &axis(0), &axis(1), &map.groups))
            figcaption {
                "Each dot is a session, placed by the first two principal components of its "
                (p.features_used) " features (catalog transform, then centred on the median and divided by the MAD; capped at ±4). "
                "PC1 grows with " (loads(0)) "; PC2 with " (loads(1)) ". "
                @if map.shown < map.total {
                    strong { "Sampled: " (thousands(map.shown as i64)) " of " (thousands(map.total as i64)) " sessions are drawn" }
                    " (chosen at random by a hash of the session id, so the same sessions every time)."
                } @else {
                    "All " (thousands(map.total as i64)) " sessions are drawn."
                }
            }
        }
    }
}

fn cluster_table(s: &StratumView) -> Markup {
    let stat = |c: &ClusterView| match c.stability {
        Some(v) => format!("{v:.2} ({})", stability_word(v)),
        None => "-".into(),
    };
    html! {
        table.clusters {
            caption { "Clusters of " (s.name) }
            thead { tr {
                th { "cluster" } th.num { "sessions (run)" } th.num { "share" }
                th.num { "stability" } th.num { "in this window" } th { "distinguishing features (vs the reference)" }
            } }
            tbody {
                @for c in &s.clusters {
                    tr {
                        td { span.swatch style={ "background:" (c.colour) } {} (c.label) @if c.is_reference { " (reference)" } }
                        td.num { (c.size.map(|v| thousands(v as i64)).unwrap_or_else(|| "-".into())) }
                        td.num { (c.share.map(pct).unwrap_or_else(|| "-".into())) }
                        td.num { (stat(c)) }
                        td.num { (thousands(c.in_window as i64)) }
                        td {
                            @if c.distinguishing.is_empty() {
                                @if c.is_reference { "the usual behaviour of this stratum" } @else { "-" }
                            } @else {
                                @for (i, d) in c.distinguishing.iter().enumerate() {
                                    @if i > 0 { br; }
                                    (d)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn stratum(data: &ReportData, s: &StratumView) -> Markup {
    html! {
        article.stratum data-stratum=(s.name) {
            h3 { "Stratum " code { (s.name) } }
            p {
                @if s.is_clustered() && s.clusters.len() > 1 {
                    "Clustered into " (s.k.map(|k| k.to_string()).unwrap_or_else(|| s.clusters.len().to_string())) " groups"
                    @if let Some(m) = &s.method { " (" (m) ")" }
                    "; "
                } @else if s.is_clustered() {
                    "One cluster: no split into arms was found here"
                    @if let Some(m) = &s.method { " (" (m) ")" }
                    "; "
                } @else {
                    "Not clustered (" (s.status) ": too few sessions to split reliably); "
                }
                @if let Some(n) = s.sessions_in_run { (thousands(n as i64)) " sessions in the run, " }
                (thousands(s.window_sessions as i64)) " in this report's window."
            }
            @if s.is_clustered() {
                div.figs {
                    @if let Some(map) = &s.map {
                        (map_figure(&format!("Sessions of {} by cluster", s.name), map, "cluster"))
                    } @else {
                        p.note { "Too few sessions with fingerprints in this window to draw a map." }
                    }
                    @if s.share_by_day.len() > 1 {
                        figure {
                            (charts::stacked_share(
                                &format!("Cluster share by day: {}", s.name),
                                &format!("Stacked bars: for each day, the share of the stratum's sessions in each cluster ({} days).", data.days.len()),
                                &data.days, &s.share_by_day, MIN_DAY_SESSIONS))
                            figcaption {
                                "A cluster that appears on one day and then holds a steady share is a staggered rollout; "
                                "a share that drifts with the days is more likely a change in what you worked on. "
                                "Hover a bar for its counts."
                            }
                        }
                    }
                }
                (cluster_table(s))
            }
        }
    }
}

fn arms(data: &ReportData) -> Markup {
    html! {
        section #arms {
            h2 { "Arms" }
            @match &data.arms {
                Arms::NoRun { by_model } => {
                    p.note { "No arms computed: run " code { "cc-fingerprint arms" } " to cluster sessions into likely experiment arms, then write the report again." }
                    @if let Some(map) = by_model {
                        p { "Meanwhile, the map of all sessions in the window, coloured by main model:" }
                        (map_figure("Sessions by main model", map, "model"))
                    }
                }
                Arms::Run { id, created_ms, problem, strata } => {
                    p {
                        "From the latest " code { "cc-fingerprint arms" } " run (#" (id) ", " (fmt_time(*created_ms)) "). "
                        "Sessions are clustered within each stratum (same model and client), so a cluster is a behaviour that "
                        "differs between sessions of otherwise like conditions: a candidate server-side experiment arm. "
                        "Cluster sizes and stability come from the run; the maps and daily shares show the run's sessions that fall in this report's window."
                    }
                    @if let Some(p) = problem { p.warn { (p) } }
                    @if strata.is_empty() { p.note { "The run has no strata." } }
                    @for s in strata { (stratum(data, s)) }
                }
            }
        }
    }
}

fn unit_label(def: &crate::features::FeatureDef) -> (String, bool) {
    if def.unit == "share" {
        ("share of the session (%)".into(), true)
    } else {
        (def.unit.to_owned(), false)
    }
}

fn timeline(data: &ReportData) -> Markup {
    let baseline_name = data.audit.as_ref().map(|a| a.baseline.name.as_str());
    html! {
        section #timeline {
            h2 { "Timeline" }
            p {
                "Key features per day (UTC, by session start) over every session in the window: the line is the daily median, "
                "the band the middle half of sessions (25th to 75th percentile), the dotted line the daily mean "
                "(it moves when a minority of sessions changes, which the median ignores). Days with fewer than " (MIN_DAY_SESSIONS)
                " sessions are left out (gaps). "
                @if let Some(name) = baseline_name {
                    "Behind them in grey: the baseline " code { (name) } "'s middle half (band) and median (dashed)."
                }
            }
            @if data.days.is_empty() {
                p.note { "No dated sessions in the window." }
            } @else {
                div.grid {
                    @for f in &data.timeline {
                        @let (ylabel, percent) = unit_label(f.def);
                        @let title = if f.flagged { format!("{} (flagged)", f.def.name) } else { f.def.name.to_owned() };
                        figure {
                            (charts::band_timeline(&BandChart {
                                title: &title,
                                desc: f.def.description,
                                y_label: &ylabel,
                                percent,
                                days: &data.days,
                                per_day: &f.per_day,
                                mean: &f.mean,
                                baseline: f.baseline,
                                baseline_name,
                            }))
                            figcaption { (f.def.description) }
                        }
                    }
                }
            }
        }
    }
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Regression => "REGRESSION",
        Status::Improvement => "improvement",
        Status::Changed => "changed",
        Status::NoChange => "no change",
        Status::NotEnoughData => "not enough data",
    }
}

fn audit(a: &AuditSection) -> Markup {
    let r = &a.result;
    let regressions: Vec<&str> = r
        .features
        .iter()
        .filter(|f| f.status == Status::Regression)
        .map(|f| f.feature)
        .collect();
    let mut ordered: Vec<_> = r.features.iter().collect();
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
    let show = |v: Option<f64>| v.map(charts::human).unwrap_or_else(|| "-".into());
    let b = &a.baseline;
    html! {
        section #audit {
            h2 { "Audit against baseline " code { (b.name) } }
            @if !regressions.is_empty() {
                p.bad { strong { "REGRESSION" } " in " (regressions.join(", ")) "." }
            } @else if r.features.iter().any(|f| f.flagged) {
                p.note { "Changes flagged, none in a direction the catalog calls worse." }
            } @else if r.features.iter().all(|f| f.status == Status::NotEnoughData) {
                p.warn { "Not enough data: fewer than " (a.params.min_sessions) " sessions with values on one side." }
            } @else {
                p.note { "No regression flagged." }
            }
            p {
                "Baseline " code { (b.name) } ": " (thousands(b.sessions as i64)) " sessions"
                @if let (Some(x), Some(y)) = (&b.first_timestamp, &b.last_timestamp) { ", " (x) " to " (y) }
                ". Window: " (thousands(a.window_sessions as i64)) " sessions. "
                "Per feature: two-sided Mann-Whitney U test of one value per session, Cliff's delta with its 95% interval, "
                "Benjamini-Hochberg q-values across features. Flagged when q ≤ " (a.params.fdr)
                " and |delta| ≥ " (a.params.min_effect) " with at least " (a.params.min_sessions) " sessions on each side."
            }
            @if let Some(w) = &a.overlap { p.warn { (w) } }
            table.audit {
                caption { "Every feature, flagged first" }
                thead { tr {
                    th { "feature" } th.num { "baseline median" } th.num { "window median" }
                    th.num { "Cliff's delta [95% CI]" } th.num { "q" } th { "worse" } th { "status" }
                } }
                tbody {
                    @for f in &ordered {
                        @let class = match (f.flagged, f.status) {
                            (true, Status::Regression) => "flagged regression",
                            (true, _) => "flagged",
                            _ => "",
                        };
                        tr class=[(!class.is_empty()).then_some(class)] {
                            td { code { (f.feature) } }
                            td.num { (show(f.baseline_median)) }
                            td.num { (show(f.window_median)) }
                            td.num {
                                @match (f.effect, f.ci) {
                                    (Some(d), Some([lo, hi])) => (format!("{d:+.2} [{lo:+.2}, {hi:+.2}]")),
                                    _ => "-",
                                }
                            }
                            td.num { (f.q_value.map(|q| format!("{q:.3}")).unwrap_or_else(|| "-".into())) }
                            td { (f.worse) }
                            td.status { (status_word(f.status)) }
                        }
                    }
                }
            }
            @if !a.distributions.is_empty() {
                h3 { "Flagged features: baseline against window" }
                div.grid {
                    @for d in &a.distributions {
                        @let (unit, percent) = unit_label(d.def);
                        @let scale = match d.def.transform {
                            crate::features::Transform::Log => ", log scale",
                            crate::features::Transform::Logit => ", logit scale",
                            crate::features::Transform::None => "",
                        };
                        @let x_label = format!("{}{scale}", if percent { "share of the session" } else { unit.as_str() });
                        @let bl = format!("baseline {} (n={})", b.name, thousands(d.baseline.len() as i64));
                        @let wl = format!("window (n={})", thousands(d.window.len() as i64));
                        figure {
                            (charts::distribution(&DistributionChart {
                                title: d.def.name,
                                desc: d.def.description,
                                x_label: &x_label,
                                transform: d.def.transform,
                                percent,
                                baseline: &d.baseline,
                                window: &d.window,
                                baseline_label: bl,
                                window_label: wl,
                            }))
                            figcaption { (d.def.description) " Each histogram is normalised to its own number of sessions." }
                        }
                    }
                }
            }
            @if !r.sessions.is_empty() {
                h3 { "Window sessions least like the baseline" }
                table.outliers {
                    thead { tr { th { "session" } th.num { "distance" } th { "most unusual features (robust z)" } } }
                    tbody {
                        @for s in &r.sessions {
                            tr {
                                td { code { (s.session_id) } }
                                td.num { (format!("{:.2}", s.distance)) }
                                td { (s.top_features.iter().map(|(f, z)| format!("{f} {z:+.1}")).collect::<Vec<_>>().join(", ")) }
                            }
                        }
                    }
                }
            }
        }
    }
}
