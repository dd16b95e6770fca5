//! End-to-end tests of `cc-fingerprint report` on simulated corpora: the
//! page's structure, escaping of hostile log strings, no network
//! references, determinism, and the Markdown version.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::*;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "\"><img src=x onerror=alert(1)>";
const URL: &str = "https://evil.example/x.js";

/// A simulated, ingested corpus kept for the whole test run; tests copy its database.
struct Corpus {
    _dir: tempfile::TempDir,
    db: PathBuf,
    truth: Value,
}

fn build(scenario: &str, sessions: &str) -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("corpus");
    let status = cli(&dir.path().join("unused.db"))
        .args(["simulate", "--out"])
        .arg(&out)
        .args([
            "--scenario",
            scenario,
            "--sessions",
            sessions,
            "--days",
            "8",
            "--seed",
            "1",
        ])
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
    let db = dir.path().join("template.db");
    ingest(&db, &[&out.join("projects")]);
    let truth = serde_json::from_slice(&std::fs::read(out.join("truth.json")).unwrap()).unwrap();
    Corpus {
        _dir: dir,
        db,
        truth,
    }
}

fn staggered() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    CORPUS.get_or_init(|| build("staggered", "300"))
}

fn regression() -> &'static Corpus {
    static CORPUS: OnceLock<Corpus> = OnceLock::new();
    // 600 sessions over 8 days: enough for the audit to flag a feature.
    CORPUS.get_or_init(|| build("regression", "600"))
}

/// A private copy of a corpus's database.
fn copy_db(corpus: &Corpus, dir: &Path) -> PathBuf {
    let db = dir.join("x.db");
    // The template is closed (no WAL left), so copying the main file is enough.
    std::fs::copy(&corpus.db, &db).unwrap();
    db
}

/// Model name without its date suffix: the stratum the test arms run uses.
fn stratum_of(model: &str) -> String {
    match model.rsplit_once('-') {
        Some((head, tail)) if tail.len() == 8 && tail.bytes().all(|b| b.is_ascii_digit()) => {
            head.to_owned()
        }
        _ => model.to_owned(),
    }
}

/// Write an arms run from the corpus's ground truth: one stratum per model,
/// cluster 0 the control, cluster i the i-th planted arm; strata named in
/// `too_small` are stored unclustered. Stands in for `cc-fingerprint arms`
/// until it lands (then this becomes a call to the real command).
fn insert_arms_from_truth(db: &Path, truth: &Value, too_small: &[&str]) -> Vec<(String, usize)> {
    let conn = Connection::open(db).unwrap();
    let known: std::collections::BTreeSet<String> = conn
        .prepare("SELECT session_id FROM sessions")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut strata: std::collections::BTreeMap<String, Vec<&Value>> = Default::default();
    for s in truth["sessions"].as_array().unwrap() {
        if known.contains(s["session_id"].as_str().unwrap()) {
            strata
                .entry(stratum_of(s["model"].as_str().unwrap()))
                .or_default()
                .push(s);
        }
    }
    let mut docs = Vec::new();
    let mut rows: Vec<(String, String, Option<String>)> = Vec::new();
    let mut shape = Vec::new();
    for (name, members) in &strata {
        if too_small.contains(&name.as_str()) {
            docs.push(json!({"stratum": name, "sessions": members.len(), "status": "too_small", "clusters": []}));
            for s in members {
                rows.push((s["session_id"].as_str().unwrap().into(), name.clone(), None));
            }
            continue;
        }
        let mut arms: Vec<Option<&str>> = vec![None];
        let mut planted: Vec<&str> = members.iter().filter_map(|s| s["arm"].as_str()).collect();
        planted.sort_unstable();
        planted.dedup();
        arms.extend(planted.into_iter().map(Some));
        let clusters: Vec<Value> = arms
            .iter()
            .enumerate()
            .map(|(i, arm)| {
                let size = members.iter().filter(|s| s["arm"].as_str() == *arm).count();
                json!({
                    "id": format!("{name}/{i}"), "size": size, "share": size as f64 / members.len() as f64,
                    "stability": 0.9, "is_reference": i == 0,
                    "distinguishing": if i == 0 { json!([]) } else {
                        json!([{"feature": "hidden_token_ratio", "effect": 0.8, "ratio": 2.0, "direction": "higher"}])
                    }
                })
            })
            .collect();
        for s in members {
            let i = arms.iter().position(|a| *a == s["arm"].as_str()).unwrap();
            rows.push((
                s["session_id"].as_str().unwrap().into(),
                name.clone(),
                Some(format!("{name}/{i}")),
            ));
        }
        shape.push((name.clone(), arms.len()));
        docs.push(
            json!({"stratum": name, "sessions": members.len(), "status": "clustered",
                         "k": arms.len(), "method": "truth", "clusters": clusters}),
        );
    }
    insert_run(&conn, &json!({"strata": docs, "assignments": []}), &rows);
    shape
}

fn insert_run(conn: &Connection, doc: &Value, rows: &[(String, String, Option<String>)]) {
    conn.execute(
        "INSERT INTO arm_runs (created_at_ms, parameters, result) VALUES (1768780800000, '{}', ?1)",
        [doc.to_string()],
    )
    .unwrap();
    let run = conn.last_insert_rowid();
    for (session, stratum, cluster) in rows {
        conn.execute(
            "INSERT INTO arm_assignments VALUES (?1, ?2, ?3, ?4, 1.0)",
            params![run, session, stratum, cluster],
        )
        .unwrap();
    }
}

/// Run `report` and return (html, markdown).
fn report(db: &Path, args: &[&str]) -> (String, String) {
    let dir = db.parent().unwrap();
    let html = dir.join("r.html");
    let md = dir.join("r.md");
    let out = cli(db)
        .arg("report")
        .arg("--html")
        .arg(&html)
        .arg("--markdown")
        .arg(&md)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(html).unwrap(),
        std::fs::read_to_string(md).unwrap(),
    )
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// Every tag (`<...>`) of the page: markup, as opposed to escaped text.
fn tags(html: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        let end = rest[start..]
            .find('>')
            .map_or(rest.len(), |e| start + e + 1);
        out.push(&rest[start..end]);
        rest = &rest[end..];
    }
    out
}

/// (name, value) of each attribute of a tag, reading quoted values whole.
fn attributes(tag: &str) -> Vec<(String, String)> {
    let inner = tag.trim_start_matches('<').trim_end_matches('>');
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    // Skip the element name.
    while chars.peek().is_some_and(|c| !c.is_whitespace()) {
        chars.next();
    }
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == '/') {
            chars.next();
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace() && *c != '=')).collect();
        if name.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if let Some(q) = chars.next_if(|c| *c == '"' || *c == '\'') {
                value = std::iter::from_fn(|| chars.next_if(|c| *c != q)).collect();
                chars.next();
            } else {
                value = std::iter::from_fn(|| chars.next_if(|c| !c.is_whitespace())).collect();
            }
        }
        out.push((name.to_ascii_lowercase(), value));
    }
    out
}

/// The page loads nothing and runs nothing: no script or embedding element,
/// no event handler, no attribute that fetches, links only to its own
/// anchors, no URL in its stylesheet. Any `http(s)://` left is escaped text.
fn assert_self_contained(html: &str) {
    for tag in tags(html) {
        let lower = tag.to_ascii_lowercase();
        for bad in [
            "<script",
            "<link",
            "<img",
            "<iframe",
            "<object",
            "<embed",
            "<image",
            "<use",
            "<foreignobject",
        ] {
            assert!(!lower.starts_with(bad), "tag {tag:?}");
        }
        for (name, value) in attributes(tag) {
            assert!(!name.starts_with("on"), "event handler in {tag:?}");
            assert!(
                ![
                    "src",
                    "srcset",
                    "xlink:href",
                    "action",
                    "formaction",
                    "background",
                    "poster",
                    "data",
                    "ping"
                ]
                .contains(&name.as_str()),
                "fetching attribute in {tag:?}"
            );
            if name == "href" {
                assert!(value.starts_with('#'), "external link in {tag:?}");
            }
            if name == "style" {
                assert!(!value.contains("url("), "url() in {tag:?}");
            }
        }
    }
    let lower = html.to_ascii_lowercase();
    let style = &lower[lower.find("<style>").unwrap()..lower.find("</style>").unwrap()];
    assert!(!style.contains("url(") && !style.contains("@import") && !style.contains("http"));
    assert!(lower.contains("content-security-policy"));
    // Outside escaped text there is no URL at all: the only `http` left once
    // tags are checked must be in text content.
    for tag in tags(html) {
        for (_, value) in attributes(tag)
            .into_iter()
            .filter(|(n, _)| n != "aria-label")
        {
            assert!(
                !value.contains("http:") && !value.contains("https:"),
                "URL in {tag:?}"
            );
        }
    }
}

#[test]
fn staggered_report_has_every_section_and_one_map_and_share_chart_per_split_stratum() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_db(staggered(), dir.path());
    let shape = insert_arms_from_truth(&db, &staggered().truth, &["claude-haiku-4-5"]);
    let split = shape.iter().filter(|(_, k)| *k > 1).count();
    let one = shape.iter().filter(|(_, k)| *k == 1).count();
    assert_eq!(
        split, 2,
        "staggered plants arms in Opus and Sonnet: {shape:?}"
    );
    let (html, md) = report(&db, &[]);

    for id in ["overview", "ingest-health", "arms", "timeline"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "section {id}");
    }
    assert!(
        !html.contains("id=\"audit\""),
        "no audit without --baseline"
    );
    // One article per stratum (the too-small Haiku stratum included), a map
    // per clustered stratum, a share-by-day chart per stratum that split.
    assert_eq!(count(&html, "<article class=\"stratum\""), shape.len() + 1);
    assert_eq!(count(&html, "class=\"chart map\""), split + one);
    assert_eq!(count(&html, "class=\"chart share-by-day\""), split);
    assert!(html.contains("too_small"));
    // The timeline: the eight key features, no baseline band.
    assert_eq!(count(&html, "class=\"chart timeline\""), 8);
    assert!(!html.contains("class=\"baseline\""));
    // Every chart is labelled: a title, axis labels and a legend.
    let charts = count(&html, "<svg class=\"chart");
    assert_eq!(count(&html, "class=\"xlabel\""), charts);
    assert_eq!(count(&html, "class=\"ylabel\""), charts);
    assert_eq!(count(&html, "class=\"legend\""), charts);
    assert!(html.contains("share of the day's sessions (%)"));
    assert!(html.contains("day (UTC, by session start)"));
    // The planted Opus arm starts on day 2: its cluster has no session before.
    let opus = &html[html.find("data-stratum=\"claude-opus-4-5\"").unwrap()..];
    let bars = &opus[opus.find("class=\"chart share-by-day\"").unwrap()..];
    let bars = &bars[..bars.find("</svg>").unwrap()];
    for day in ["2026-01-05: cluster 1", "2026-01-06: cluster 1"] {
        assert!(!bars.contains(day), "{day}");
    }
    assert!(bars.contains(": cluster 1,"));
    assert_self_contained(&html);

    assert!(md.starts_with("# cc-fingerprint report"));
    for heading in [
        "## Overview",
        "## Arms",
        "## Timeline",
        "### Stratum claude-opus-4-5",
    ] {
        assert!(md.contains(heading), "{heading}");
    }
    assert!(!md.contains("## Audit"));
}

#[test]
fn without_an_arms_run_the_page_says_so_and_maps_sessions_by_model() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_db(staggered(), dir.path());
    let (html, md) = report(&db, &[]);
    assert!(html.contains("No arms computed"));
    assert!(html.contains("cc-fingerprint arms"));
    assert_eq!(count(&html, "class=\"chart map\""), 1);
    assert!(html.contains("claude-opus-4-5-20251101"));
    assert_eq!(count(&html, "class=\"chart share-by-day\""), 0);
    assert!(md.contains("No arms computed"));
    assert_self_contained(&html);
}

#[test]
fn regression_report_with_a_baseline_highlights_flagged_features_and_plots_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_db(regression(), dir.path());
    cli(&db)
        .args(["baseline", "create", "before", "--until", "2026-01-08"])
        .assert()
        .success();
    let (html, md) = report(&db, &["--since", "2026-01-09", "--baseline", "before"]);
    assert!(html.contains("id=\"audit\""));
    assert!(html.contains("href=\"#audit\""));
    let audit = &html[html.find("id=\"audit\"").unwrap()..];
    let table = &audit[audit.find("<table class=\"audit\"").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    let rows = count(table, "<tr") - 1;
    assert_eq!(rows, cc_fingerprint::features::CATALOG.len());
    let flagged = count(table, "<tr class=\"flagged");
    assert!(flagged >= 1, "the regression scenario flags something");
    assert_eq!(count(audit, "class=\"chart distribution\""), flagged);
    // Flagged rows come first and say what they are in words, not only colour.
    let body = &table[table.find("<tbody>").unwrap() + "<tbody>".len()..];
    assert!(body.starts_with("<tr class=\"flagged"));
    assert!(
        table.contains("REGRESSION") || table.contains("improvement") || table.contains("changed")
    );
    // The baseline's band sits behind every timeline chart.
    let timelines = count(&html, "class=\"chart timeline\"");
    assert!(timelines >= 8);
    assert_eq!(count(&html, "<g class=\"baseline\""), timelines);
    assert!(md.contains("## Audit against baseline before"));
    assert_self_contained(&html);
}

#[test]
fn hostile_strings_from_logs_render_as_text_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_db(staggered(), dir.path());
    let conn = Connection::open(&db).unwrap();
    let donors: Vec<(String, i64)> = conn
        .prepare("SELECT session_id, first_ts_ms FROM sessions WHERE first_ts_ms IS NOT NULL ORDER BY session_id LIMIT 8")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut rows = Vec::new();
    for (i, (donor, first)) in donors.iter().enumerate() {
        let id = format!("{IMG}{SCRIPT}-{i}");
        let text = if i % 2 == 0 { SCRIPT } else { IMG };
        conn.execute(
            "INSERT INTO sessions VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 3, 1, 1, 0, 0, 0, 0)",
            params![
                id,
                format!("{text} {URL}"),
                format!("/Users/{IMG}/src/{SCRIPT}"),
                text,
                text,
                first,
                first + 60_000,
                text,
                text
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO feature_vectors SELECT ?1, vector FROM feature_vectors WHERE session_id = ?2",
            params![id, donor],
        )
        .unwrap();
        rows.push((id, IMG.to_owned(), Some(format!("{IMG}/{}", i % 2))));
    }
    let doc = json!({"strata": [{"stratum": IMG, "sessions": rows.len(), "status": "clustered", "k": 2, "method": SCRIPT,
        "clusters": [
            {"id": format!("{IMG}/0"), "size": 4, "share": 0.5, "stability": 0.9, "is_reference": true, "distinguishing": []},
            {"id": format!("{IMG}/1"), "size": 4, "share": 0.5, "stability": 0.9, "is_reference": false,
             "distinguishing": [{"feature": SCRIPT, "text": format!("{SCRIPT} {IMG} {URL}")}]}
        ]}], "assignments": []});
    insert_run(&conn, &doc, &rows);
    conn.execute(
        "INSERT INTO source_files VALUES (99999, ?1, ?2, 'unrecognised', 1, 1, 1, 1, 1, 'x', 1)",
        params![format!("/tmp/{IMG}{SCRIPT}.jsonl"), SCRIPT],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO ingest_errors (file_id, path, line_no, byte_offset, reason, at_ms) VALUES (99999, ?1, 1, 0, ?2, 1)",
        params![SCRIPT, format!("bad JSON near {IMG}")],
    )
    .unwrap();
    drop(conn);
    let name = format!("{SCRIPT}{IMG}");
    cli(&db)
        .args(["baseline", "create", &name, "--until", "2026-01-08"])
        .assert()
        .success();
    let (html, md) = report(&db, &["--baseline", &name, "--map-points", "5"]);

    // Not one raw hostile string anywhere, in the page or inside its SVG.
    for raw in [SCRIPT, IMG, "<img", "<script"] {
        assert!(!html.contains(raw), "raw {raw:?} in the HTML");
    }
    // ... but all of them as text: in tables, headings, SVG titles and legends.
    let escaped_script = "&lt;script&gt;alert(1)&lt;/script&gt;";
    let escaped_img = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;";
    assert!(html.contains(escaped_script));
    assert!(html.contains(escaped_img));
    let svgs: Vec<&str> = html.split("<svg").skip(1).collect();
    assert!(
        svgs.iter().any(|s| s.contains(escaped_img)),
        "the hostile stratum is named inside its charts"
    );
    assert!(html.contains(URL), "the URL is shown, as text");
    assert_self_contained(&html);

    for raw in [SCRIPT, "<img", "<script"] {
        assert!(!md.contains(raw), "raw {raw:?} in the Markdown");
    }
    assert!(md.contains("&lt;script&gt;"));
}

#[test]
fn the_same_store_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = copy_db(staggered(), dir.path());
    insert_arms_from_truth(&db, &staggered().truth, &[]);
    // A small --map-points forces sampling, which must be stable too.
    let first = report(&db, &["--map-points", "50"]);
    let second = report(&db, &["--map-points", "50"]);
    assert!(first.0 == second.0, "HTML differs between runs");
    assert!(first.1 == second.1, "Markdown differs between runs");
    assert!(first.0.contains("Sampled: 50 of"));
}

#[test]
fn report_needs_an_output_and_a_known_baseline() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("empty.db");
    cli(&db).arg("report").assert().code(2);
    cli(&db)
        .args(["report", "--html", "-", "--baseline", "nope"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no baseline named nope"));
    // An empty store still gives a page (saying so), and exit 1: nothing found.
    let out = cli(&db).args(["report", "--html", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let html = String::from_utf8(out.stdout).unwrap();
    assert!(html.contains("No session matches"));
    assert_self_contained(&html);
}
