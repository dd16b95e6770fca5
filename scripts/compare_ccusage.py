#!/usr/bin/env python3
"""Compare `cc-fingerprint sessions` token totals with ccusage, session by session.

ccusage names a session after its file (`agent-x.jsonl` is a session of its
own); cc-fingerprint names it after the `sessionId` inside, so a subagent's
usage counts in its parent session. This script maps each ccusage row to the
sessionId of its file and sums, then compares the four token totals.

Usage: compare_ccusage.py CLAUDE_CONFIG_DIR [--bin target/release/cc-fingerprint]
Needs ccusage: set CCUSAGE_BIN (see docs/benchmarks.md for the install line).
Exit 0 when every session matches, 1 otherwise.
"""
import argparse, json, os, subprocess, sys, tempfile, collections, glob

FIELDS = [("inputTokens", "input_tokens"), ("outputTokens", "output_tokens"),
          ("cacheCreationTokens", "cache_creation_input_tokens"), ("cacheReadTokens", "cache_read_input_tokens")]

def session_of(path):
    """The session that a file's usage belongs to: that of its assistant lines."""
    counts = collections.Counter()
    with open(path, "rb") as f:
        for line in f:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if isinstance(d, dict) and d.get("type") == "assistant":
                sid = d.get("sessionId") or d.get("session_id")
                if sid:
                    counts[sid] += 1
    if len(counts) > 1:
        print(f"{path}: assistant lines of {len(counts)} sessions; comparison is approximate", file=sys.stderr)
    return counts.most_common(1)[0][0] if counts else None

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("config_dir")
    ap.add_argument("--bin", default="target/release/cc-fingerprint")
    args = ap.parse_args()
    ccusage = os.environ.get("CCUSAGE_BIN")
    if not ccusage:
        sys.exit("set CCUSAGE_BIN to the ccusage binary")
    env = dict(os.environ, CLAUDE_CONFIG_DIR=args.config_dir)
    cc = json.loads(subprocess.run([ccusage, "claude", "session", "--json", "--offline"],
                                   env=env, check=True, capture_output=True).stdout)
    projects = os.path.join(args.config_dir, "projects")
    file_session = {}
    for path in glob.glob(os.path.join(projects, "**", "*.jsonl"), recursive=True):
        rel = os.path.relpath(path, projects)
        parent, stem = os.path.dirname(rel), os.path.splitext(os.path.basename(rel))[0]
        file_session[(parent, stem)] = session_of(path)
    theirs = collections.defaultdict(lambda: collections.Counter())
    for s in cc["sessions"]:
        sid = file_session.get((s["projectPath"], s["sessionId"]))
        if sid is None:
            print("unmapped ccusage session", s["projectPath"], s["sessionId"], file=sys.stderr)
            continue
        for theirs_key, ours_key in FIELDS:
            theirs[sid][ours_key] += s[theirs_key]
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "x.db")
        subprocess.run([args.bin, "--db", db, "ingest", projects, "--format", "json"], check=True, capture_output=True)
        ours = json.loads(subprocess.run([args.bin, "--db", db, "sessions", "--format", "json"],
                                         check=True, capture_output=True).stdout)["sessions"]
    ours = {s["session_id"]: s for s in ours if s["responses"] > 0}
    bad = 0
    for sid in sorted(set(ours) | set(theirs)):
        o, t = ours.get(sid), theirs.get(sid)
        if o is None or t is None:
            print(f"{sid}: only in {'ccusage' if o is None else 'cc-fingerprint'}")
            bad += 1
            continue
        diffs = [f"{k}: ours {o[k]} ccusage {t[k]}" for _, k in FIELDS if o[k] != t[k]]
        if diffs:
            bad += 1
            print(f"{sid}: " + "; ".join(diffs))
    print(f"{len(ours)} sessions compared, {bad} differ")
    sys.exit(1 if bad else 0)

main()
