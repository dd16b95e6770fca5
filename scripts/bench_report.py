#!/usr/bin/env python3
"""Time `cc-fingerprint report` on a synthetic store of N sessions (default 100,000).

    scripts/bench_report.py [--sessions N] [--bin PATH] [--keep DIR]

Builds the store directly (sessions, features, an arms run with assignments,
a baseline), since simulating and ingesting 100,000 transcripts would take
minutes and measure ingest, not the report. Feature values are drawn per
stratum (three models over 60 days) with a planted arm in one stratum from
day 20, so the maps, share charts and timeline have something to draw.
Then it times `report --html` without and with `--baseline` and prints the
wall time and file size of each, and the time of `audit` alone. Uses the release binary (build it first:
`cargo build --release`). Only the standard library is needed.
"""
import argparse
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time

DAY_MS = 86_400_000
START_MS = 1_767_571_200_000  # 2026-01-05T00:00:00Z


def catalog(binary, db):
    out = subprocess.run([binary, "--db", db, "features", "--list", "--format", "json"],
                         check=True, capture_output=True, text=True).stdout
    return [(f["name"], f["unit"]) for f in json.loads(out)["features"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=100_000)
    ap.add_argument("--bin", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"),
                                                  "release", "cc-fingerprint"))
    ap.add_argument("--keep", help="write the store and reports here instead of a temporary directory")
    args = ap.parse_args()
    work = args.keep or tempfile.mkdtemp(prefix="cc-report-bench-")
    os.makedirs(work, exist_ok=True)
    db = os.path.join(work, "bench.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    # An empty report creates the schema and records the feature catalog version.
    subprocess.run([args.bin, "--db", db, "report", "--html", os.devnull], capture_output=True)
    features = catalog(args.bin, db)

    rng = random.Random(1)
    models = [("claude-opus-4-5-20251101", 0.4), ("claude-sonnet-4-5-20250929", 0.45),
              ("claude-haiku-4-5-20251001", 0.15)]
    t0 = time.time()
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    sessions, feature_rows, assignments = [], [], []
    strata_sizes, cluster_sizes = {}, {}
    for i in range(args.sessions):
        sid = f"bench-{i:07d}"
        r = rng.random()
        model = models[0][0] if r < 0.4 else models[1][0] if r < 0.85 else models[2][0]
        stratum = model.rsplit("-", 1)[0]
        day = int(rng.random() * 60)
        first = START_MS + day * DAY_MS + int(rng.random() * DAY_MS)
        arm = stratum == "claude-opus-4-5" and day >= 20 and rng.random() < 0.2
        user = f"user{rng.randrange(40)}"
        project = f"project-{rng.randrange(120)}"
        sessions.append((sid, project, f"/Users/{user}/src/{project}", "main", "2.1.14", first,
                         first + int(rng.lognormvariate(14, 1)), model, model,
                         rng.randrange(1, 200), 1000, 5000, 100, 20000, 0, 0))
        vector = []
        for name, unit in features:
            if unit == "share":
                v = min(1.0, max(0.0, rng.betavariate(2, 8)))
                if arm and name in ("empty_thinking_share", "cache_1h_share"):
                    v = 1.0
            else:
                v = rng.lognormvariate(3, 0.8)
                if arm and name in ("hidden_token_ratio", "thinking_tokens_per_response"):
                    v *= 3
            vector.append(None if rng.random() < 0.03 else v)
        feature_rows.append((sid, json.dumps(vector)))
        cluster = f"{stratum}/{1 if arm else 0}"
        assignments.append((sid, stratum, cluster))
        strata_sizes[stratum] = strata_sizes.get(stratum, 0) + 1
        cluster_sizes[cluster] = cluster_sizes.get(cluster, 0) + 1
    con.executemany("INSERT INTO sessions VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", sessions)
    con.executemany("INSERT INTO feature_vectors VALUES (?,?)", feature_rows)
    doc = {"strata": [], "assignments": []}
    for stratum, n in sorted(strata_sizes.items()):
        ids = sorted(c for c in cluster_sizes if c.startswith(stratum + "/"))
        doc["strata"].append({"stratum": stratum, "sessions": n, "status": "clustered", "k": len(ids),
                              "method": "bench", "clusters": [
                                  {"id": c, "size": cluster_sizes[c], "share": cluster_sizes[c] / n,
                                   "stability": 0.9, "is_reference": c.endswith("/0"), "distinguishing": []}
                                  for c in ids]})
    cur = con.execute("INSERT INTO arm_runs (created_at_ms, parameters, result) VALUES (?, '{}', ?)",
                      (START_MS + 61 * DAY_MS, json.dumps(doc)))
    run = cur.lastrowid
    con.executemany("INSERT INTO arm_assignments VALUES (?, ?, ?, ?, 1.0)",
                    ((run, s, st, c) for s, st, c in assignments))
    con.commit()
    con.close()
    print(f"store: {args.sessions:,} sessions, {len(feature_rows) * len(features):,} feature values in {time.time() - t0:.1f} s -> {db}")
    subprocess.run([args.bin, "--db", db, "baseline", "create", "first-month", "--until", "2026-02-03",
                    "--force"], check=True, capture_output=True)

    for label, extra in (("report", []), ("report --baseline", ["--since", "2026-02-04", "--baseline", "first-month"])):
        out = os.path.join(work, "bench-baseline.html" if extra else "bench.html")
        start = time.time()
        subprocess.run([args.bin, "--db", db, "report", "--html", out, *extra], check=True, capture_output=True)
        wall = time.time() - start
        size = os.path.getsize(out)
        print(f"{label}: {wall:.2f} s, {size / 1e6:.2f} MB ({size:,} bytes) -> {out}")
    start = time.time()
    done = subprocess.run([args.bin, "--db", db, "audit", "--baseline", "first-month", "--since", "2026-02-04",
                           "--format", "json"], capture_output=True)
    print(f"audit --baseline: {time.time() - start:.2f} s (exit {done.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
