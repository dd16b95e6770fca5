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

"$bin" --db "$db" arms >/dev/null || true   # exit 1 means "no arms", still a report

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
