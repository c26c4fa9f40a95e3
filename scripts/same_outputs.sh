#!/usr/bin/env bash
# The three drivers of the dedup pass give the same output folder: `simdex dedup`, the Python
# `simdex.dedup(..., out=...)` and `python -m simdex.ray dedup` at each shard count of SHARDS,
# on the first N Sina 2018 articles. Every file is compared byte for byte, summary.json apart
# from what it says of how the driver ran (timings, the memory account, the Ray shards, run
# settings and workers). Prints one line per file and driver; exits 1 on any difference.
#
# Input: ../shared/eval (research-only: read from there into a temporary folder, never copied
# into the project), so this is a script, not part of the README's test command; the Python
# tests run the same comparison on the example corpus and on 1,000 generated records.
#
# Usage: scripts/same_outputs.sh   (after cargo build --release and bash python/setup.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SIMDEX=${SIMDEX:-$root/target/release/simdex}
PY=${PY:-$root/.venv/bin/python}
SHARED=${SHARED:-$root/../shared}
ARTICLES=${ARTICLES:-$SHARED/eval/sina_news_2018/articles.jsonl.gz}
N=${N:-500}
SHARDS=${SHARDS:-"1 3"}
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ zcat "$ARTICLES" || true; } | head -n "$N" > "$tmp/in.jsonl"

echo "input: first $N Sina articles"
"$SIMDEX" dedup "$tmp/in.jsonl" --out "$tmp/cli" | tail -n 1
(cd "$root" && "$PY" -c 'import sys, simdex; simdex.dedup(sys.argv[1], out=sys.argv[2])' "$tmp/in.jsonl" "$tmp/python")
outs=(python)
for s in $SHARDS; do
  (cd "$root" && "$PY" -m simdex.ray dedup "$tmp/in.jsonl" --out "$tmp/ray-$s" --shards "$s" --num-cpus 2 2> /dev/null | tail -n 1)
  outs+=("ray-$s")
done

"$PY" - "$tmp" "${outs[@]}" <<'EOF'
import json, sys
from pathlib import Path

RUN_METADATA = {"timings_s", "held_bytes", "shards", "run_settings", "wall_s", "ray"}
tmp, outs = Path(sys.argv[1]), sys.argv[2:]
cli = tmp / "cli"
bad = 0
for out in outs:
    d = tmp / out
    names = sorted(p.name for p in cli.iterdir())
    if sorted(p.name for p in d.iterdir()) != names:
        print(f"{out}: other files: {sorted(p.name for p in d.iterdir())} vs {names}")
        bad += 1
        continue
    for name in names:
        if name == "summary.json":
            a, b = (json.loads((x / name).read_text()) for x in (d, cli))
            same = {k: v for k, v in a.items() if k not in RUN_METADATA} == {k: v for k, v in b.items() if k not in RUN_METADATA}
        else:
            same = (d / name).read_bytes() == (cli / name).read_bytes()
        lines = sum(1 for _ in (cli / name).open("rb"))
        print(f"{out:>8}  {name:<26} {lines:>7} lines  {'same' if same else 'DIFFERENT'}")
        bad += not same
sys.exit(1 if bad else 0)
EOF
