#!/usr/bin/env bash
# Longer run of the property tests in tests/fuzz.rs (parsers, line reader,
# format detection), optionally with many random SIGKILLs of ingest.
# CI runs the same properties with 5,000 cases each; see docs/hardening.md.
#
#   scripts/fuzz.sh [CASES]        # default 200000 cases per property
#   KILLS=200 scripts/fuzz.sh      # also the kill test with 200 kills
#   KILL_SEED=7 KILLS=50 scripts/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cases="${1:-200000}"
echo "== property tests, $cases cases each (release build)"
FUZZ_CASES="$cases" cargo test --release --test fuzz -- --test-threads 2

if [ -n "${KILLS:-}" ]; then
    echo "== $KILLS random SIGKILLs of ingest (seed ${KILL_SEED:-2026})"
    HARDEN_KILLS="$KILLS" HARDEN_KILL_SEED="${KILL_SEED:-2026}" \
        cargo test --release --test hardening sigkill -- --nocapture
fi
