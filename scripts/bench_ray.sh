#!/usr/bin/env bash
# Records per second of `python -m simdex.ray dedup` at 1, 2 and 4 shards against
# `simdex dedup` on the same input, in one sitting, engines alternating, ROUNDS rounds;
# prints every run (wall seconds, records/s, peak RSS of the driver and of the busiest Ray
# worker from summary.json, or of simdex itself) and the medians, after the CPU. Then one
# more Ray run with --keep-work at the largest shard count, and the Parquet bytes per
# record of each stage's tables and the candidate pairs per record.
#
# Input: the first N Sina 2018 articles (`title`, `text`) from ../shared/eval (research-only:
# read from there into a temporary folder, never copied into the project). SEMANTIC=0 runs
# the lexical stages only (--no-semantic), which makes the engine's own cost visible.
#
# Usage: scripts/bench_ray.sh   (after cargo build --release and bash python/setup.sh)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
SIMDEX=${SIMDEX:-$root/target/release/simdex}
PY=${PY:-$root/.venv/bin/python}
SHARED=${SHARED:-$root/../shared}
ARTICLES=${ARTICLES:-$SHARED/eval/sina_news_2018/articles.jsonl.gz}
N=${N:-500}
ROUNDS=${ROUNDS:-2}
SHARDS=${SHARDS:-"1 2 4"}
SEMANTIC=${SEMANTIC:-1}
export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0 SIMDEX_CACHE_DIR=off

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
{ zcat "$ARTICLES" || true; } | head -n "$N" > "$tmp/in.jsonl"
flags=()
[ "$SEMANTIC" = 1 ] || flags+=(--no-semantic)

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; flags: $(grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_bf16' /proc/cpuinfo | sort -u | tr '\n' ' ')"
echo "input: first $N Sina articles; semantic stages: $SEMANTIC; rounds: $ROUNDS"
declare -A walls
for round in $(seq "$ROUNDS"); do
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$tmp/rss" "$SIMDEX" dedup "$tmp/in.jsonl" --out "$tmp/cli" "${flags[@]}" > /dev/null 2>&1
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  walls[cli]+="$wall "
  printf 'round %s  simdex dedup        %7.1f s  %7.1f records/s  peak RSS %s MB\n' "$round" "$wall" "$(echo "$N / $wall" | bc -l)" "$(( $(cat "$tmp/rss") / 1024 ))"
  for s in $SHARDS; do
    start=$(date +%s.%N)
    "$PY" -m simdex.ray dedup "$tmp/in.jsonl" --out "$tmp/ray$s" --shards "$s" "${flags[@]}" > /dev/null 2> "$tmp/err" || { cat "$tmp/err"; exit 1; }
    wall=$(echo "$(date +%s.%N) - $start" | bc)
    walls[ray$s]+="$wall "
    mem=$("$PY" -c "import json,sys; r=json.load(open(sys.argv[1]))['ray']; print(r['driver_peak_rss_mb'], max(r['worker_peak_rss_mb'].values()))" "$tmp/ray$s/summary.json")
    printf 'round %s  simdex.ray %s shards  %7.1f s  %7.1f records/s  peak RSS driver %s MB, worker %s MB\n' "$round" "$s" "$wall" "$(echo "$N / $wall" | bc -l)" ${mem}
    cmp -s "$tmp/cli/kept.jsonl" "$tmp/ray$s/kept.jsonl" && cmp -s "$tmp/cli/duplicates.jsonl" "$tmp/ray$s/duplicates.jsonl" || echo "  (outputs differ from simdex dedup!)"
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo
echo "| engine | median wall s | records/s | vs simdex dedup |"
echo "|---|---|---|---|"
base=$(echo "${walls[cli]}" | median)
printf '| simdex dedup | %.1f | %.1f | 1.00x |\n' "$base" "$(echo "$N / $base" | bc -l)"
for s in $SHARDS; do
  m=$(echo "${walls[ray$s]}" | median)
  printf '| simdex.ray, %s shards | %.1f | %.1f | %.2fx |\n' "$s" "$m" "$(echo "$N / $m" | bc -l)" "$(echo "$base / $m" | bc -l)"
done
last=${SHARDS##* }
"$PY" -m simdex.ray dedup "$tmp/in.jsonl" --out "$tmp/rayk" --shards "$last" --keep-work "${flags[@]}" > /dev/null 2>&1
echo
echo "stage tables at $last shards (bytes of Parquet per input record):"
for d in "$tmp/rayk.work"/*/; do
  b=$(du -sb "$d" | cut -f1)
  printf '  %-16s %10.1f\n' "$(basename "$d")" "$(echo "$b / $N" | bc -l)"
done
"$PY" - "$tmp/rayk.work" "$N" <<'PY'
import sys, glob, pyarrow.parquet as pq
work, n = sys.argv[1], int(sys.argv[2])
for kind in ["near_pairs", "knn", "sem_pairs", "edges/near", "edges/semantic", "judged", "related"]:
    rows = sum(pq.read_metadata(f).num_rows for f in glob.glob(f"{work}/{kind}/**/*.parquet", recursive=True))
    print(f"  {kind:16s} {rows:8d} rows, {rows / n:6.2f} per record")
PY
"$PY" -c "import json,sys; s=json.load(open(sys.argv[1])); print('stage seconds:', s['timings_s'])" "$tmp/rayk/summary.json"
