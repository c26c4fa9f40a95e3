#!/usr/bin/env bash
# The scale benchmark (issue 24): peak RSS and wall time of `simdex dedup` (defaults, the
# semantic stage included) against the number of records, on records built from Sina text by
# scripts/scale_corpus.py (re-cut, mixed articles with planted copies, excerpts, edits).
# The pool's sentences are embedded once (the first run, its time is printed apart); every
# record is made of those sentences, so later runs read their vectors from the embedding
# cache and the curve measures the pass, not the model.
# usage: scripts/scale_bench.sh WORK_DIR N1 N2 ...   (SIMDEX_BIN, POOL=2000, SEED=7)
# prints: records  wall_s  peak_rss_mb  kept  removed  related  held_kb_per_record
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work=$1; shift
bin=${SIMDEX_BIN:-$here/../target/release/simdex}
pool=${POOL:-2000}; seed=${SEED:-7}
arts="$here/../../shared/eval/sina_news_2018/articles.jsonl.gz"
mkdir -p "$work"
for n in "$@"; do
  [ -f "$work/records-$n.jsonl" ] || python3 "$here/scale_corpus.py" "$arts" "$pool" "$n" "$seed" "$work" >&2
done
if [ ! -f "$work/pool-out/summary.json" ]; then
  /usr/bin/time -f "pool: %e s, %M KB" "$bin" dedup "$work/pool.jsonl" --out "$work/pool-out" >&2
fi
printf "records\twall_s\tpeak_rss_mb\tkept\tremoved\trelated\theld_kb_per_record\n"
for n in "$@"; do
  /usr/bin/time -f "%e %M" -o "$work/time-$n" "$bin" dedup "$work/records-$n.jsonl" --out "$work/out-$n" > /dev/null 2>"$work/err-$n"
  read -r wall rss < "$work/time-$n"
  python3 - "$work/out-$n/summary.json" "$n" "$wall" "$rss" <<'PY'
import json, sys
s = json.load(open(sys.argv[1])); n = int(sys.argv[2])
held = sum(v for k, v in s.get("held_bytes", {}).items() if "file" not in k)
print(f"{n}\t{float(sys.argv[3]):.0f}\t{int(sys.argv[4]) / 1024:.0f}\t{s['kept']}\t{s['removed']}\t{s['related_pairs']}\t{held / n / 1024:.1f}")
PY
done
