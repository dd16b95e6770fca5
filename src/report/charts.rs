//! Inline SVG charts for the HTML report, drawn with maud.
//!
//! Why hand-drawn SVG and not a plotting crate: the report must be one
//! self-contained, deterministic file (same store, same bytes) that makes no
//! network request, renders without JavaScript and stays small at 100,000
//! sessions. Four chart kinds are enough (map, stacked share, median band,
//! histogram pair), and writing them through maud's `html!` means every
//! string that reaches a chart (model names, cluster ids, baseline names) is
//! escaped by the same template engine as the rest of the page: there is no
//! second, hand-rolled escaping path to get wrong.
//!
//! Conventions: every chart has a title, axis labels with units, a legend,
//! and an SVG `<title>`/`<desc>` for screen readers. Colours come from the
//! Okabe-Ito palette (distinguishable with the common colour-vision
//! deficiencies); grey is reserved for "noise", "other" and the baseline.
//! Coordinates are written with one decimal to keep files small.

use std::fmt::Write as _;

use maud::{html, Markup, Render};

use crate::features::Transform;

/// Okabe & Ito (2008) colour-blind-safe palette, most distinct first
/// (black left out: it is the ink colour).
pub const PALETTE: [&str; 7] = [
    "#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
];
/// Noise, "other", and the baseline: never a palette colour.
pub const GREY: &str = "#8C8C8C";
const INK: &str = "#1F1F1F";
const MUTED: &str = "#5C5C5C";
const GRID: &str = "#E4E4E4";
const FONT: &str = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif";
/// Rough advance width of a 12 px sans-serif character, for laying out legends.
const CHAR_W: f64 = 6.6;

/// Palette colour `i`, cycling.
pub fn colour(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// A coordinate, written with at most one decimal ("12.5", "3", "-0.4").
#[derive(Debug, Clone, Copy)]
struct Px(f64);

impl Render for Px {
    fn render_to(&self, buf: &mut String) {
        push_px(buf, self.0);
    }
}

fn push_px(buf: &mut String, v: f64) {
    let tenths = (v * 10.0).round() as i64;
    if tenths % 10 == 0 {
        let _ = write!(buf, "{}", tenths / 10);
    } else {
        let sign = if tenths < 0 { "-" } else { "" };
        let a = tenths.abs();
        let _ = write!(buf, "{sign}{}.{}", a / 10, a % 10);
    }
}

/// A linear map from data to pixels.
#[derive(Debug, Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    fn new(domain: (f64, f64), range: (f64, f64)) -> Scale {
        Scale {
            d0: domain.0,
            d1: domain.1,
            r0: range.0,
            r1: range.1,
        }
    }

    fn map(&self, v: f64) -> f64 {
        if (self.d1 - self.d0).abs() < f64::EPSILON {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

/// The drawing area of a chart: total size and margins around the plot.
#[derive(Debug, Clone, Copy)]
struct Frame {
    w: f64,
    h: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
}

impl Frame {
    fn x0(&self) -> f64 {
        self.left
    }
    fn x1(&self) -> f64 {
        self.w - self.right
    }
    fn y0(&self) -> f64 {
        self.h - self.bottom
    }
    fn y1(&self) -> f64 {
        self.top
    }
}

/// "Nice" tick values (1, 2, 2.5, 5 x 10^k) covering `lo..=hi`, about `target` of them.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> (Vec<f64>, f64) {
    if !(lo.is_finite() && hi.is_finite()) || hi <= lo {
        let v = if lo.is_finite() { lo } else { 0.0 };
        return (vec![v], 1.0);
    }
    let raw = (hi - lo) / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil();
    let last = (hi / step).floor();
    let ticks = (first as i64..=last as i64)
        .map(|k| k as f64 * step)
        .collect();
    (ticks, step)
}

/// A tick label for `v` on an axis whose ticks are `step` apart.
pub fn tick_label(v: f64, step: f64) -> String {
    let a = v.abs();
    if a >= 1e6 && step >= 1e5 {
        return trim_zeros(format!("{:.1}", v / 1e6)) + "M";
    }
    if a >= 1e4 && step >= 1e3 {
        return trim_zeros(format!("{:.1}", v / 1e3)) + "k";
    }
    // As many decimals as the step needs to be written exactly (2.5 -> 1, 0.02 -> 2).
    let decimals = (0..=10)
        .find(|d| {
            let scaled = step * 10f64.powi(*d);
            (scaled - scaled.round()).abs() < 1e-6 * scaled.max(1.0)
        })
        .unwrap_or(10) as usize;
    let text = format!("{v:.decimals$}");
    if text.starts_with('-') && text[1..].chars().all(|c| c == '0' || c == '.') {
        text[1..].to_owned()
    } else {
        text
    }
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A value for people: 3 significant digits, thousands separators.
pub fn human(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        return super::thousands(v.round() as i64);
    }
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".into()
    } else {
        let digits = (-a.log10().floor()) as usize + 2;
        format!("{v:.digits$}")
    };
    trim_zeros(s)
}

/// "Jan 08" for a UTC day number (days since 1970-01-01).
pub fn day_label(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%b %d").to_string())
        .unwrap_or_default()
}

/// "2026-01-08" for a UTC day number.
pub fn day_iso(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// Every how many days to label a day axis of `n` days, so labels do not collide.
fn day_step(n: usize, room_px: f64) -> usize {
    let fits = (room_px / 48.0).max(1.0) as usize;
    [1, 2, 3, 7, 14, 28, 56, 91, 182, 364]
        .into_iter()
        .find(|s| n.div_ceil(*s) <= fits)
        .unwrap_or(728)
}

/// The outer `<svg>` of a chart: size, accessible name, the visible title.
fn shell(class: &str, frame: &Frame, title: &str, desc: &str, body: Markup) -> Markup {
    html! {
        svg class={ "chart " (class) } viewBox={ "0 0 " (Px(frame.w)) " " (Px(frame.h)) }
            width=(Px(frame.w)) height=(Px(frame.h)) role="img" aria-label=(title)
            font-family=(FONT) font-size="12" fill=(INK) {
            title { (title) }
            desc { (desc) }
            rect width=(Px(frame.w)) height=(Px(frame.h)) fill="#FFFFFF" {}
            text x="8" y="20" font-size="14" font-weight="600" { (title) }
            (body)
        }
    }
}

/// Axis lines, grid, ticks and axis labels. Ticks are (pixel, label).
fn axes(
    f: &Frame,
    xticks: &[(f64, String)],
    yticks: &[(f64, String)],
    xlabel: &str,
    ylabel: &str,
) -> Markup {
    let ymid = (f.y0() + f.y1()) / 2.0;
    html! {
        g class="grid" stroke=(GRID) stroke-width="1" {
            @for (y, _) in yticks {
                line x1=(Px(f.x0())) x2=(Px(f.x1())) y1=(Px(*y)) y2=(Px(*y)) {}
            }
        }
        g class="axes" stroke=(MUTED) stroke-width="1" {
            line x1=(Px(f.x0())) x2=(Px(f.x1())) y1=(Px(f.y0())) y2=(Px(f.y0())) {}
            line x1=(Px(f.x0())) x2=(Px(f.x0())) y1=(Px(f.y0())) y2=(Px(f.y1())) {}
            @for (x, _) in xticks {
                line x1=(Px(*x)) x2=(Px(*x)) y1=(Px(f.y0())) y2=(Px(f.y0() + 4.0)) {}
            }
        }
        g class="ticks" fill=(MUTED) font-size="11" {
            @for (x, label) in xticks {
                text x=(Px(*x)) y=(Px(f.y0() + 16.0)) text-anchor="middle" { (label) }
            }
            @for (y, label) in yticks {
                text x=(Px(f.x0() - 6.0)) y=(Px(*y + 4.0)) text-anchor="end" { (label) }
            }
        }
        text class="xlabel" x=(Px((f.x0() + f.x1()) / 2.0)) y=(Px(f.h - 8.0)) text-anchor="middle" { (xlabel) }
        text class="ylabel" x="0" y="0" text-anchor="middle"
            transform={ "translate(" (Px(14.0)) "," (Px(ymid)) ") rotate(-90)" } { (ylabel) }
    }
}

/// How a legend entry is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Dot,
    Swatch,
    Line,
    Dashed,
    Dotted,
    /// A pale swatch (days with few sessions).
    Faded,
    /// A translucent band (the IQR).
    Band,
}

fn legend_key(key: Key, colour: &str, x: f64, y: f64) -> Markup {
    html! {
        @match key {
            Key::Dot => circle cx=(Px(x + 6.0)) cy=(Px(y - 4.0)) r="4.5" fill=(colour) {},
            Key::Swatch => rect x=(Px(x)) y=(Px(y - 10.0)) width="12" height="12" fill=(colour) {},
            Key::Faded => rect x=(Px(x)) y=(Px(y - 10.0)) width="12" height="12" fill=(colour) fill-opacity="0.3" {},
            Key::Band => rect x=(Px(x)) y=(Px(y - 10.0)) width="12" height="12" fill=(colour) fill-opacity="0.3" {},
            Key::Line => line x1=(Px(x)) x2=(Px(x + 14.0)) y1=(Px(y - 4.0)) y2=(Px(y - 4.0)) stroke=(colour) stroke-width="2.5" {},
            Key::Dotted => line x1=(Px(x)) x2=(Px(x + 14.0)) y1=(Px(y - 4.0)) y2=(Px(y - 4.0)) stroke=(colour) stroke-width="1.8" stroke-dasharray="1.5 2.5" stroke-linecap="round" {},
            Key::Dashed => line x1=(Px(x)) x2=(Px(x + 14.0)) y1=(Px(y - 4.0)) y2=(Px(y - 4.0)) stroke=(colour) stroke-width="2" stroke-dasharray="4 2" {},
        }
    }
}

/// A legend on one line from (x, y), wrapping to a new line past `max_x`.
/// Returns the markup and the number of lines used.
fn legend_row(x: f64, y: f64, max_x: f64, items: &[(Key, &str, String)]) -> (Markup, usize) {
    let mut placed = Vec::new();
    let (mut cx, mut cy) = (x, y);
    let mut lines = 1;
    for (key, colour, label) in items {
        let w = 18.0 + CHAR_W * label.chars().count() as f64 + 14.0;
        if cx > x && cx + w > max_x {
            cx = x;
            cy += 16.0;
            lines += 1;
        }
        placed.push((cx, cy, *key, *colour, label.clone()));
        cx += w;
    }
    let markup = html! {
        g class="legend" {
            @for (lx, ly, key, colour, label) in &placed {
                (legend_key(*key, colour, *lx, *ly))
                text x=(Px(lx + 18.0)) y=(Px(*ly)) { (label) }
            }
        }
    };
    (markup, lines)
}

/// Lines a legend row of `items` needs between `x` and `max_x`.
fn legend_lines(x: f64, max_x: f64, items: &[(Key, &str, String)]) -> usize {
    legend_row(x, 0.0, max_x, items).1
}

/// One coloured group of points on a map.
#[derive(Debug, Clone)]
pub struct ScatterGroup {
    pub label: String,
    pub colour: &'static str,
    pub points: Vec<[f64; 2]>,
}

/// A 2-D map of sessions (principal components), one colour per group.
///
/// Points of a group are drawn as one `<path>` of zero-length round-capped
/// segments (a dot each): a tenth of the bytes of one `<circle>` per point.
/// Larger groups are drawn first so small clusters stay visible on top.
pub fn scatter(
    title: &str,
    desc: &str,
    x_label: &str,
    y_label: &str,
    groups: &[ScatterGroup],
) -> Markup {
    let items: Vec<(Key, &str, String)> = groups
        .iter()
        .map(|g| (Key::Dot, g.colour, g.label.clone()))
        .collect();
    let lines = legend_lines(48.0, 552.0, &items);
    let f = Frame {
        w: 560.0,
        h: 400.0 + 16.0 * lines as f64,
        left: 48.0,
        right: 16.0,
        top: 42.0 + 16.0 * lines as f64,
        bottom: 44.0,
    };
    let all = || groups.iter().flat_map(|g| g.points.iter());
    let (mut xmin, mut xmax, mut ymin, mut ymax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in all() {
        xmin = xmin.min(p[0]);
        xmax = xmax.max(p[0]);
        ymin = ymin.min(p[1]);
        ymax = ymax.max(p[1]);
    }
    if xmin > xmax {
        (xmin, xmax, ymin, ymax) = (-1.0, 1.0, -1.0, 1.0);
    }
    let pad = |lo: f64, hi: f64| {
        let p = ((hi - lo) * 0.04).max(0.1);
        (lo - p, hi + p)
    };
    let (xmin, xmax) = pad(xmin, xmax);
    let (ymin, ymax) = pad(ymin, ymax);
    let sx = Scale::new((xmin, xmax), (f.x0(), f.x1()));
    let sy = Scale::new((ymin, ymax), (f.y0(), f.y1()));
    let (xt, xstep) = nice_ticks(xmin, xmax, 6);
    let (yt, ystep) = nice_ticks(ymin, ymax, 5);
    let xticks: Vec<(f64, String)> = xt
        .iter()
        .map(|v| (sx.map(*v), tick_label(*v, xstep)))
        .collect();
    let yticks: Vec<(f64, String)> = yt
        .iter()
        .map(|v| (sy.map(*v), tick_label(*v, ystep)))
        .collect();
    let mut order: Vec<usize> = (0..groups.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(groups[i].points.len()));
    let paths: Vec<(&str, String)> = order
        .iter()
        .map(|&i| {
            let g = &groups[i];
            let mut d = String::with_capacity(g.points.len() * 14);
            for p in &g.points {
                d.push('M');
                push_px(&mut d, sx.map(p[0]));
                d.push(' ');
                push_px(&mut d, sy.map(p[1]));
                d.push_str("h0");
            }
            (g.colour, d)
        })
        .collect();
    let body = html! {
        (axes(&f, &xticks, &yticks, x_label, y_label))
        g class="points" fill="none" stroke-linecap="round" stroke-width="4" stroke-opacity="0.75" {
            @for (colour, d) in &paths {
                path stroke=(*colour) d=(d) {}
            }
        }
        (legend_row(f.x0(), 42.0, f.w - 8.0, &items).0)
    };
    shell("map", &f, title, desc, body)
}

/// One stacked series: counts per day.
#[derive(Debug, Clone)]
pub struct StackSeries {
    pub label: String,
    pub colour: &'static str,
    pub counts: Vec<usize>,
}

/// Share of each series per day, stacked to 100%: a rollout shows as a
/// band that appears on its start day and widens. Days with fewer than
/// `faded_below` sessions are drawn faded (their shares are mostly noise).
pub fn stacked_share(
    title: &str,
    desc: &str,
    days: &[i64],
    series: &[StackSeries],
    faded_below: usize,
) -> Markup {
    let mut items: Vec<(Key, &str, String)> = series
        .iter()
        .map(|s| (Key::Swatch, s.colour, s.label.clone()))
        .collect();
    items.push((
        Key::Faded,
        PALETTE[0],
        format!("pale: < {faded_below} sessions that day"),
    ));
    let lines = legend_lines(48.0, 552.0, &items);
    let f = Frame {
        w: 560.0,
        h: 300.0 + 16.0 * lines as f64,
        left: 48.0,
        right: 16.0,
        top: 42.0 + 16.0 * lines as f64,
        bottom: 44.0,
    };
    let n = days.len().max(1);
    let slot = (f.x1() - f.x0()) / n as f64;
    let bar = (slot * 0.86).max(1.0);
    let sy = Scale::new((0.0, 100.0), (f.y0(), f.y1()));
    let yticks: Vec<(f64, String)> = [0.0, 25.0, 50.0, 75.0, 100.0]
        .iter()
        .map(|v| (sy.map(*v), format!("{v:.0}")))
        .collect();
    let step = day_step(n, f.x1() - f.x0());
    let xticks: Vec<(f64, String)> = days
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(i, d)| (f.x0() + slot * (i as f64 + 0.5), day_label(*d)))
        .collect();
    let totals: Vec<usize> = (0..days.len())
        .map(|i| {
            series
                .iter()
                .map(|s| s.counts.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    // (x, y, height, colour, tooltip, faded) of every non-empty segment.
    let mut rects = Vec::new();
    for (i, day) in days.iter().enumerate() {
        let total = totals[i];
        let x = f.x0() + slot * i as f64 + (slot - bar) / 2.0;
        let mut acc = 0usize;
        for s in series {
            let c = s.counts.get(i).copied().unwrap_or(0);
            if c == 0 {
                continue;
            }
            let y_top = sy.map(100.0 * (acc + c) as f64 / total as f64);
            let y_bot = sy.map(100.0 * acc as f64 / total as f64);
            let tip = format!(
                "{}: {}, {c} of {total} sessions ({:.0}%)",
                day_iso(*day),
                s.label,
                100.0 * c as f64 / total as f64
            );
            rects.push((x, y_top, y_bot - y_top, s.colour, tip, total < faded_below));
            acc += c;
        }
    }
    let body = html! {
        (axes(&f, &xticks, &yticks, "day (UTC, by session start)", "share of the day's sessions (%)"))
        g class="bars" {
            @for (x, y, h, colour, tip, faded) in &rects {
                rect x=(Px(*x)) y=(Px(*y)) width=(Px(bar)) height=(Px(*h)) fill=(*colour)
                    fill-opacity=[faded.then_some("0.3")] {
                    title { (tip) }
                }
            }
        }
        (legend_row(f.x0(), 42.0, f.w - 8.0, &items).0)
    };
    shell("share-by-day", &f, title, desc, body)
}

/// Per-day median with its interquartile band, and optionally the
/// baseline's band and median drawn behind them across the whole period.
/// `per_day[i]` is `[q25, median, q75]` of day `days[i]`, or None when the
/// day had too few sessions (the line breaks there).
pub struct BandChart<'a> {
    pub title: &'a str,
    pub desc: &'a str,
    pub y_label: &'a str,
    /// Values are shares in [0, 1]: ticks are written as percentages.
    pub percent: bool,
    pub days: &'a [i64],
    pub per_day: &'a [Option<[f64; 3]>],
    /// Daily means, drawn dotted.
    pub mean: &'a [Option<f64>],
    pub baseline: Option<[f64; 3]>,
    pub baseline_name: Option<&'a str>,
}

pub fn band_timeline(c: &BandChart) -> Markup {
    let f = Frame {
        w: 520.0,
        h: 260.0,
        left: 56.0,
        right: 16.0,
        top: 52.0,
        bottom: 44.0,
    };
    let mut lo = f64::MAX;
    let mut hi = f64::MIN;
    for q in c.per_day.iter().flatten().chain(c.baseline.iter()) {
        lo = lo.min(q[0]);
        hi = hi.max(q[2]);
    }
    for m in c.mean.iter().flatten() {
        lo = lo.min(*m);
        hi = hi.max(*m);
    }
    if lo > hi {
        (lo, hi) = (0.0, 1.0);
    }
    let span = (hi - lo).max(hi.abs() * 0.05).max(1e-9);
    let mut y0 = lo - span * 0.08;
    let mut y1 = hi + span * 0.08;
    if lo >= 0.0 && y0 < 0.0 {
        y0 = 0.0;
    }
    if c.percent {
        y1 = y1.min(1.0);
        y0 = y0.max(0.0);
    }
    let scale_for_ticks = if c.percent { 100.0 } else { 1.0 };
    let (yt, ystep) = nice_ticks(y0 * scale_for_ticks, y1 * scale_for_ticks, 4);
    let sy = Scale::new((y0, y1), (f.y0(), f.y1()));
    let yticks: Vec<(f64, String)> = yt
        .iter()
        .map(|v| (sy.map(v / scale_for_ticks), tick_label(*v, ystep)))
        .collect();
    let (d0, d1) = match (c.days.first(), c.days.last()) {
        (Some(a), Some(b)) => (*a as f64 - 0.5, *b as f64 + 0.5),
        _ => (0.0, 1.0),
    };
    let sx = Scale::new((d0, d1), (f.x0(), f.x1()));
    let step = day_step(c.days.len(), f.x1() - f.x0());
    let xticks: Vec<(f64, String)> = c
        .days
        .iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0)
        .map(|(_, d)| (sx.map(*d as f64), day_label(*d)))
        .collect();
    // Runs of consecutive days with data: one band polygon and one line each.
    let mut runs: Vec<Vec<(f64, [f64; 3])>> = Vec::new();
    let mut current: Vec<(f64, [f64; 3])> = Vec::new();
    for (day, q) in c.days.iter().zip(c.per_day) {
        match q {
            Some(q) => current.push((*day as f64, *q)),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    let band_path = |run: &[(f64, [f64; 3])]| {
        let mut d = String::new();
        for (i, (x, q)) in run.iter().enumerate() {
            d.push(if i == 0 { 'M' } else { 'L' });
            push_px(&mut d, sx.map(*x));
            d.push(' ');
            push_px(&mut d, sy.map(q[2]));
        }
        for (x, q) in run.iter().rev() {
            d.push('L');
            push_px(&mut d, sx.map(*x));
            d.push(' ');
            push_px(&mut d, sy.map(q[0]));
        }
        d.push('Z');
        d
    };
    let line_points = |run: &[(f64, [f64; 3])]| {
        let mut d = String::new();
        for (x, q) in run {
            push_px(&mut d, sx.map(*x));
            d.push(',');
            push_px(&mut d, sy.map(q[1]));
            d.push(' ');
        }
        d.trim_end().to_owned()
    };
    let blue = PALETTE[0];
    let vermillion = PALETTE[5];
    // Runs of the mean, broken where a day has none.
    let mut mean_runs: Vec<String> = Vec::new();
    let mut current = String::new();
    for (day, m) in c.days.iter().zip(c.mean) {
        match m {
            Some(m) => {
                push_px(&mut current, sx.map(*day as f64));
                current.push(',');
                push_px(&mut current, sy.map(*m));
                current.push(' ');
            }
            None if !current.is_empty() => mean_runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        mean_runs.push(current);
    }
    let mut items: Vec<(Key, &str, String)> = vec![
        (Key::Line, blue, "median".into()),
        (Key::Band, blue, "25th-75th pct".into()),
        (Key::Dotted, vermillion, "mean".into()),
    ];
    if c.baseline.is_some() {
        let name = c.baseline_name.unwrap_or("baseline");
        items.push((Key::Band, GREY, format!("baseline {name}")));
    }
    let body = html! {
        @if let Some(b) = c.baseline {
            g class="baseline" {
                rect x=(Px(f.x0())) y=(Px(sy.map(b[2].min(y1)))) width=(Px(f.x1() - f.x0()))
                    height=(Px((sy.map(b[0].max(y0)) - sy.map(b[2].min(y1))).max(0.5))) fill=(GREY) fill-opacity="0.22" {}
                line x1=(Px(f.x0())) x2=(Px(f.x1())) y1=(Px(sy.map(b[1]))) y2=(Px(sy.map(b[1])))
                    stroke=(GREY) stroke-width="1.5" stroke-dasharray="5 3" {}
            }
        }
        (axes(&f, &xticks, &yticks, "day (UTC, by session start)", c.y_label))
        g class="series" {
            @for run in &runs {
                path d=(band_path(run)) fill=(blue) fill-opacity="0.25" stroke="none" {}
                polyline points=(line_points(run)) fill="none" stroke=(blue) stroke-width="2" {}
                @for (x, q) in run {
                    circle cx=(Px(sx.map(*x))) cy=(Px(sy.map(q[1]))) r="2.5" fill=(blue) {}
                }
            }
            @for points in &mean_runs {
                polyline class="mean" points=(points.trim_end()) fill="none" stroke=(vermillion) stroke-width="1.8" stroke-dasharray="1.5 2.5" stroke-linecap="round" {}
            }
        }
        (legend_row(f.x0(), 38.0, f.w - 8.0, &items).0)
    };
    shell("timeline", &f, c.title, c.desc, body)
}

/// Inverse of the catalog's transforms, to label a transformed axis in the feature's unit.
fn untransform(t: Transform, y: f64) -> f64 {
    match t {
        Transform::Log => y.exp_m1(),
        Transform::Logit => 1.0 / (1.0 + (-y).exp()),
        Transform::None => y,
    }
}

/// Baseline against window: histograms of one feature on the catalog's
/// analysis scale (log or logit, where heavy tails and piles at 0 do not
/// hide the bulk), each normalised to its own number of sessions so that
/// samples of different sizes compare. Ticks are in the feature's unit.
pub struct DistributionChart<'a> {
    pub title: &'a str,
    pub desc: &'a str,
    pub x_label: &'a str,
    pub transform: Transform,
    /// Values are shares: ticks as percentages.
    pub percent: bool,
    pub baseline: &'a [f64],
    pub window: &'a [f64],
    pub baseline_label: String,
    pub window_label: String,
}

pub fn distribution(c: &DistributionChart) -> Markup {
    let f = Frame {
        w: 520.0,
        h: 280.0,
        left: 56.0,
        right: 16.0,
        top: 52.0,
        bottom: 44.0,
    };
    const BINS: usize = 30;
    let tb: Vec<f64> = c
        .baseline
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| c.transform.apply(*v))
        .collect();
    let tw: Vec<f64> = c
        .window
        .iter()
        .filter(|v| v.is_finite())
        .map(|v| c.transform.apply(*v))
        .collect();
    let mut pooled: Vec<f64> = tb.iter().chain(tw.iter()).copied().collect();
    pooled.sort_by(f64::total_cmp);
    let (mut lo, mut hi) = if pooled.is_empty() {
        (0.0, 1.0)
    } else {
        // 0.5th to 99.5th percentile: a few extreme sessions do not squash the rest.
        (
            crate::report::html::data::quantile_sorted(&pooled, 0.005),
            crate::report::html::data::quantile_sorted(&pooled, 0.995),
        )
    };
    if hi - lo < 1e-9 {
        lo -= 0.5;
        hi += 0.5;
    }
    let width = (hi - lo) / BINS as f64;
    let hist = |values: &[f64]| {
        let mut counts = [0usize; BINS];
        for v in values {
            let b = (((v - lo) / width).floor().max(0.0) as usize).min(BINS - 1);
            counts[b] += 1;
        }
        let n = values.len().max(1) as f64;
        counts.map(|c| 100.0 * c as f64 / n)
    };
    let hb = hist(&tb);
    let hw = hist(&tw);
    let top = hb
        .iter()
        .chain(hw.iter())
        .copied()
        .fold(0.0, f64::max)
        .max(1.0)
        * 1.08;
    let sx = Scale::new((lo, hi), (f.x0(), f.x1()));
    let sy = Scale::new((0.0, top), (f.y0(), f.y1()));
    let (yt, ystep) = nice_ticks(0.0, top, 4);
    let yticks: Vec<(f64, String)> = yt
        .iter()
        .map(|v| (sy.map(*v), tick_label(*v, ystep)))
        .collect();
    // Ticks at round values of the feature's unit (1-2-5 for log scales,
    // familiar percentages for logit ones), placed on the analysis scale.
    let label = |raw: f64| {
        if c.percent {
            format!("{}%", human(raw * 100.0))
        } else {
            human(raw)
        }
    };
    let candidates: Vec<f64> = match c.transform {
        Transform::Log => std::iter::once(0.0)
            .chain((-3..=7).flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k))))
            .collect(),
        Transform::Logit => vec![
            0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995,
        ],
        Transform::None => Vec::new(),
    };
    let mut round: Vec<f64> = candidates
        .into_iter()
        .filter(|raw| {
            let t = c.transform.apply(*raw);
            t >= lo - 1e-9 && t <= hi + 1e-9
        })
        .collect();
    while round.len() > 7 {
        // Thin out evenly, keeping the ends.
        round = round.iter().step_by(2).copied().collect();
    }
    let xticks: Vec<(f64, String)> = if round.len() >= 3 {
        round
            .iter()
            .map(|raw| (sx.map(c.transform.apply(*raw)), label(*raw)))
            .collect()
    } else {
        (0..=5)
            .map(|i| {
                let t = lo + (hi - lo) * i as f64 / 5.0;
                (sx.map(t), label(untransform(c.transform, t)))
            })
            .collect()
    };
    let step_path = |h: &[f64; BINS]| {
        let mut d = String::new();
        d.push('M');
        push_px(&mut d, sx.map(lo));
        d.push(' ');
        push_px(&mut d, sy.map(0.0));
        for (i, v) in h.iter().enumerate() {
            let x0 = lo + width * i as f64;
            d.push('L');
            push_px(&mut d, sx.map(x0));
            d.push(' ');
            push_px(&mut d, sy.map(*v));
            d.push('L');
            push_px(&mut d, sx.map(x0 + width));
            d.push(' ');
            push_px(&mut d, sy.map(*v));
        }
        d.push('L');
        push_px(&mut d, sx.map(hi));
        d.push(' ');
        push_px(&mut d, sy.map(0.0));
        d
    };
    let med = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (!s.is_empty()).then(|| crate::report::html::data::quantile_sorted(&s, 0.5))
    };
    let orange = PALETTE[5];
    let items: Vec<(Key, &str, String)> = vec![
        (Key::Swatch, GREY, c.baseline_label.clone()),
        (Key::Line, orange, c.window_label.clone()),
        (Key::Dashed, MUTED, "medians".into()),
    ];
    let body = html! {
        (axes(&f, &xticks, &yticks, c.x_label, "sessions per bin (%)"))
        path class="baseline" d={ (step_path(&hb)) "Z" } fill=(GREY) fill-opacity="0.45" stroke=(GREY) stroke-width="1" {}
        path class="window" d=(step_path(&hw)) fill=(orange) fill-opacity="0.12" stroke=(orange) stroke-width="2.2" {}
        @for (m, colour) in [(med(&tb), GREY), (med(&tw), orange)] {
            @if let Some(m) = m {
                @if m >= lo && m <= hi {
                    line x1=(Px(sx.map(m))) x2=(Px(sx.map(m))) y1=(Px(f.y0())) y2=(Px(f.y1())) stroke=(colour) stroke-width="1.5" stroke-dasharray="4 2" {}
                }
            }
        }
        (legend_row(f.x0(), 38.0, f.w - 8.0, &items).0)
    };
    shell("distribution", &f, c.title, c.desc, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_have_one_decimal() {
        let mut s = String::new();
        for v in [12.0, 12.34, -0.04, -3.26, 0.05] {
            push_px(&mut s, v);
            s.push(' ');
        }
        assert_eq!(s, "12 12.3 0 -3.3 0.1 ");
    }

    #[test]
    fn ticks_are_nice() {
        let (t, step) = nice_ticks(0.0, 100.0, 4);
        assert_eq!(step, 25.0);
        assert_eq!(t, vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        let (t, step) = nice_ticks(0.013, 0.091, 4);
        assert_eq!(step, 0.02);
        assert_eq!(tick_label(t[0], step), "0.02");
        assert_eq!(tick_label(25_000.0, 5_000.0), "25k");
        assert_eq!(tick_label(2.5, 2.5), "2.5");
        assert_eq!(tick_label(-0.0, 0.5), "0.0");
    }

    #[test]
    fn human_numbers() {
        assert_eq!(human(1234.4), "1,234");
        assert_eq!(human(12.34), "12.3");
        assert_eq!(human(0.01234), "0.0123");
        assert_eq!(human(2.0), "2");
        assert_eq!(day_label(20_461), "Jan 08");
        assert_eq!(day_iso(20_461), "2026-01-08");
    }

    #[test]
    fn chart_text_is_escaped() {
        let svg = scatter(
            "<script>alert(1)</script>",
            "d",
            "x",
            "y",
            &[ScatterGroup {
                label: "\"><img src=x onerror=alert(1)>".into(),
                colour: PALETTE[0],
                points: vec![[0.0, 1.0], [1.0, 0.0]],
            }],
        )
        .into_string();
        assert!(!svg.contains("<script>"));
        assert!(!svg.contains("<img"));
        assert!(svg.contains("&lt;script&gt;"));
    }
}
