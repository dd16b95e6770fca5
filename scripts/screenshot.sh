#!/usr/bin/env bash
# Render a `staggered` report and photograph it with headless Chromium.
#
#   scripts/screenshot.sh [OUT_DIR]      (default: target/report-screenshot)
#
# Builds the release binary, simulates a `staggered` corpus (2,000 sessions,
# seed 1), ingests it, makes sure an arms run exists, writes the HTML and
# Markdown reports, then takes PNG screenshots of the page with Chromium
# (Debian package `chromium`; `apt-get update && apt-get install -y chromium`).
# The README's picture is docs/img/report-staggered.png: copy it from OUT_DIR
# when the page changes.
#
# Until `cc-fingerprint arms` exists, the arms run is written from the
# corpus's truth.json (the planted arms, one stratum per model) by python3.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-target/report-screenshot}
mkdir -p "$out"
out=$(cd "$out" && pwd)

chromium_bin=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium_bin" ]; then
    echo "chromium not found: apt-get update && apt-get install -y chromium" >&2
    exit 2
fi

cargo build --release --quiet
bin=${CARGO_TARGET_DIR:-target}/release/cc-fingerprint

corpus="$out/corpus"
db="$out/staggered.db"
rm -rf "$corpus" "$db" "$db-wal" "$db-shm"
"$bin" simulate --out "$corpus" --scenario staggered --sessions 2000 --seed 1
"$bin" --db "$db" ingest "$corpus/projects" >/dev/null

if "$bin" arms --help >/dev/null 2>&1; then
    "$bin" --db "$db" arms >/dev/null || true
else
    python3 - "$db" "$corpus/truth.json" <<'PY'
import json, re, sqlite3, sys
db, truth = sys.argv[1], sys.argv[2]
t = json.load(open(truth))
con = sqlite3.connect(db)
known = {r[0] for r in con.execute("SELECT session_id FROM sessions")}
strata = {}
for s in t["sessions"]:
    if s["session_id"] in known:
        strata.setdefault(re.sub(r"-\d{8}$", "", s["model"]), []).append(s)
effects = {a["name"]: a["effects"] for a in t["arms"]}
doc, rows = {"strata": [], "assignments": []}, []
for name, members in sorted(strata.items()):
    arms = [None] + sorted({s["arm"] for s in members if s["arm"]})
    clusters = []
    for i, arm in enumerate(arms):
        group = [s for s in members if s["arm"] == arm]
        text = [] if arm is None else [
            {"feature": k, "text": f"planted by simulate: {k} {v}"} for k, v in sorted(effects[arm].items())]
        clusters.append({"id": f"{name}/{i}", "size": len(group), "share": len(group) / len(members),
                         "stability": None, "is_reference": i == 0, "distinguishing": text})
        rows += [(s["session_id"], name, f"{name}/{i}", 1.0) for s in group]
    doc["strata"].append({"stratum": name, "sessions": len(members), "status": "clustered",
                          "k": len(arms), "method": "truth.json (until arms lands)", "clusters": clusters})
con.execute("INSERT INTO arm_runs (id, created_at_ms, parameters, result) VALUES (1, 1768780800000, '{}', ?)",
            (json.dumps(doc),))
con.executemany("INSERT INTO arm_assignments VALUES (1, ?, ?, ?, ?)", rows)
con.commit()
PY
fi

# The first three days precede both rollouts (day 3 on Opus, day 7 on Sonnet).
"$bin" --db "$db" baseline create before-rollouts --until 2026-01-07 --force >/dev/null
"$bin" --db "$db" report --html "$out/report.html" --markdown "$out/report.md"
"$bin" --db "$db" report --since 2026-01-12 --baseline before-rollouts \
    --html "$out/report-audit.html" --markdown "$out/report-audit.md" || true

shoot() { # page, png, height, [fragment]
    local profile
    profile=$(mktemp -d)
    "$chromium_bin" --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --no-first-run --user-data-dir="$profile" --hide-scrollbars \
        --window-size="1280,$3" --screenshot="$2" "file://$1${4:-}" 2>/dev/null
    rm -rf "$profile"
    echo "screenshot: $2"
}
shoot "$out/report.html" "$out/report-staggered.png" 2530
shoot "$out/report.html" "$out/report-full.png" 9000
shoot "$out/report-audit.html" "$out/report-audit.png" 9000
