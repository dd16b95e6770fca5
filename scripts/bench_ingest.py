#!/usr/bin/env python3
"""Ingest benchmark: cold ingest and warm re-ingest, against ccusage on the same tree.

    scripts/bench_ingest.py [--tree DIR] [--mb 500] [--bin target/release/cc-fingerprint]

DIR is a CLAUDE_CONFIG_DIR-style folder (DIR/projects/...). Without --tree, a
tree of about --mb megabytes is built in a temp folder from the real corpus in
../shared/corpora/real, replicated with fresh session, message and request ids
so nothing deduplicates away. Prints seconds, MB/s and peak RSS for each run,
and the ratios the project tracks (see docs/benchmarks.md). ccusage is run when
CCUSAGE_BIN points at its binary; otherwise ratios are omitted. Timings are
the median of --runs runs (page cache warm for every tool alike).
"""
import argparse, json, os, re, shutil, statistics, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
UUID_HEAD = re.compile(rb'([0-9a-f]{8})(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})')

def build_tree(dest, target_mb):
    corpus = os.path.join(ROOT, "..", "shared", "corpora", "real")
    files = []
    for root, _, names in os.walk(corpus):
        for name in names:
            path = os.path.join(root, name)
            if not name.endswith(".jsonl") or "otel" in path or "sandbox" in path or "hook_logs" in name:
                continue
            files.append(path)
    files.sort()
    blobs = [(os.path.relpath(p, corpus), open(p, "rb").read()) for p in files]
    size = sum(len(b) for _, b in blobs)
    replicas = max(1, round(target_mb * 1e6 / size))
    for r in range(replicas):
        tag = b"%04x" % r
        for rel, data in blobs:
            parts = rel.split(os.sep)
            project = f"r{r:04d}-{parts[0]}-{parts[-2]}"
            data = UUID_HEAD.sub(lambda m: tag + m.group(1)[4:] + m.group(2), data)
            data = data.replace(b'"msg_', b'"msg_' + tag).replace(b'"req_', b'"req_' + tag)
            name = UUID_HEAD.sub(lambda m: tag + m.group(1)[4:] + m.group(2), parts[-1].encode()).decode()
            out = os.path.join(dest, "projects", project, name)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "ab") as f:
                f.write(data)
    return replicas

def tree_bytes(tree):
    return sum(os.path.getsize(os.path.join(r, n)) for r, _, ns in os.walk(tree) for n in ns if n.endswith(".jsonl"))

def timed(cmd, env=None):
    """(seconds, peak RSS in MB) of one run, via GNU time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, check=True)
    secs, kb = out.stderr.decode().strip().splitlines()[-1].split()
    return float(secs), int(kb) / 1024

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree")
    ap.add_argument("--mb", type=float, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cc-fingerprint"))
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="ccfp-bench-")
    try:
        tree = args.tree
        if not tree:
            tree = os.path.join(tmp, "tree")
            reps = build_tree(tree, args.mb)
            print(f"built {tree}: real corpus x{reps}")
        mb = tree_bytes(tree) / 1e6
        print(f"tree: {mb:.0f} MB of .jsonl")
        db = os.path.join(tmp, "bench.db")
        ingest = [args.bin, "--db", db, "ingest", os.path.join(tree, "projects")]

        colds, warms = [], []
        for _ in range(args.runs):
            for f in (db, db + "-wal", db + "-shm"):
                if os.path.exists(f):
                    os.remove(f)
            colds.append(timed(ingest))
            warms.append(timed(ingest))
        cold = (statistics.median(s for s, _ in colds), max(r for _, r in colds))
        warm = (statistics.median(s for s, _ in warms), max(r for _, r in warms))
        print(f"cold ingest:   {cold[0]:7.2f} s  {mb / cold[0]:7.1f} MB/s  peak RSS {cold[1]:6.0f} MB")
        # The share of a cold ingest spent computing fingerprints (target <= 30%).
        for f in (db, db + "-wal", db + "-shm"):
            if os.path.exists(f):
                os.remove(f)
        summary = json.loads(subprocess.run(ingest + ["--format", "json"], capture_output=True, check=True).stdout)
        print(f"feature extraction: {summary['feature_seconds']:.2f} s of {summary['seconds']:.2f} s "
              f"({100 * summary['feature_seconds'] / summary['seconds']:.0f}% of a cold ingest, target <= 30%)")
        print(f"warm re-ingest:{warm[0]:7.2f} s  {mb / warm[0]:7.1f} MB/s  peak RSS {warm[1]:6.0f} MB")

        ccusage = os.environ.get("CCUSAGE_BIN")
        if ccusage:
            env = dict(os.environ, CLAUDE_CONFIG_DIR=tree)
            cc_cmd = [ccusage, "claude", "session", "--json", "--offline"]
            timed(cc_cmd, env)  # warm-up
            runs = [timed(cc_cmd, env) for _ in range(args.runs)]
            cc = (statistics.median(s for s, _ in runs), max(r for _, r in runs))
            print(f"ccusage:       {cc[0]:7.2f} s  {mb / cc[0]:7.1f} MB/s  peak RSS {cc[1]:6.0f} MB")
            print(f"ratio cold ingest / ccusage:     {cold[0] / cc[0]:.2f}  (target <= 3)")
            print(f"ratio warm re-ingest / ccusage:  {warm[0] / cc[0]:.3f} (target <= 0.1)")
        else:
            print("set CCUSAGE_BIN to compare with ccusage")
        print(f"peak RSS cold ingest: {cold[1]:.0f} MB (target < 150)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

main()
