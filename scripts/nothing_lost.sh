#!/usr/bin/env bash
# The figures of README "Nothing lost", in one sitting: what each dedup run finds and what
# its removals lose, for simdex and the peers, on the hand-labelled natural Sina pairs and on
# the whole Sina corpus.
#
#   natural-tune / natural-holdout: the corpus `simdex eval natural` builds for each label
#     set (every labelled article plus 300 others drawn with seed 1), written to OUT by
#     `--write-benchmark`; then on that same JSONL file, each tool as a user runs it:
#       simdex      `simdex dedup CORPUS --out DIR` (defaults)
#       datatrove   ../shared/bench/peer_datatrove.py (its MinHash defaults, Chinese words)
#       semhash     ../shared/bench/peer_semhash.py with the corpus's e5 vectors, at its
#                   default threshold 0.9 and at 0.95
#     scored by scripts/score_natural.py (recall on DUP pairs, share of the other pairs
#     merged) and ../shared/bench/removal_loss.py (text of removed records not in the record
#     kept for them), with each run's wall time.
#   sina: `simdex dedup` on all 11,198 articles (defaults), with removal_loss.py, and the
#     removals of BASELINE_DUPS (an earlier run's duplicates.jsonl, optional) whose coverage
#     by their kept record is >= 0.9 that this run no longer makes.
#
# usage: DATA=../shared/eval OUT=/tmp/nothing-lost bash scripts/nothing_lost.sh
#   SIMDEX_BIN  a simdex built with `--features eval` (default target/release/simdex)
#   PEERS_PY    a python with datatrove[processing], spacy, jieba, semhash, numpy installed
#               (peers are skipped when unset)
#   SKIP_SINA=1 leaves out the whole-corpus run (35 minutes without an embedding cache)
# The eval data is research-only: corpora are written under OUT, never into the project.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="${DATA:-$root/../shared/eval}"
out="${OUT:-/tmp/nothing-lost}"
bin="${SIMDEX_BIN:-$root/target/release/simdex}"
bench="$data/../bench"
mkdir -p "$out"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores"
echo "simdex: $(git -C "$root" rev-parse --short HEAD)"

timed() { # NAME CMD...: runs CMD, prints its wall time
  local t0 t1
  t0=$(date +%s.%N)
  "${@:2}" > "$out/$1.log" 2>&1
  t1=$(date +%s.%N)
  printf '%s: %.1f s\n' "$1" "$(echo "$t1 - $t0" | bc)"
}

for set in tune holdout; do
  labels="$root/tests/fixtures/natural/sina_pairs_$set.jsonl"
  corpus="$out/natural-$set.jsonl"
  echo "== natural pairs, $set labels"
  "$bin" eval natural --data "$data" --labels "$labels" --write-benchmark "$corpus" \
    | grep -E "^natural pairs|^defaults|lost text" || true
  rm -rf "$out/simdex-$set"
  timed "simdex-$set" "$bin" dedup "$corpus" --out "$out/simdex-$set"
  echo "simdex:        $(python3 "$root/scripts/score_natural.py" "$out/simdex-$set/duplicates.jsonl" "$labels")"
  echo "               $(python3 "$bench/removal_loss.py" "$corpus" "$out/simdex-$set/duplicates.jsonl" | sed -n 1p)"
  if [ -n "${PEERS_PY:-}" ]; then
    rm -rf "$out/datatrove-$set"
    timed "datatrove-$set" "$PEERS_PY" "$bench/peer_datatrove.py" "$corpus" "$out/datatrove-$set"
    echo "datatrove:     $(python3 "$root/scripts/score_natural.py" "$out/datatrove-$set/duplicates.jsonl" "$labels")"
    echo "               $(python3 "$bench/removal_loss.py" "$corpus" "$out/datatrove-$set/duplicates.jsonl" | sed -n 1p)"
    for thr in 0.9 0.95; do
      dups="$out/semhash-$thr-$set.jsonl"
      timed "semhash-$thr-$set" "$PEERS_PY" "$bench/peer_semhash.py" "$corpus" \
        "$data/sina_news_2018/e5_small_passage_f16.npy" "$data/sina_news_2018/e5_small_passage_f16.ids.json" "$dups" "$thr"
      echo "semhash $thr:  $(python3 "$root/scripts/score_natural.py" "$dups" "$labels")"
      echo "               $(python3 "$bench/removal_loss.py" "$corpus" "$dups" | sed -n 1p)"
    done
  fi
done

if [ -z "${SKIP_SINA:-}" ]; then
  echo "== whole Sina corpus"
  rm -rf "$out/sina"
  timed sina "$bin" dedup "$data/sina_news_2018/articles.jsonl.gz" --out "$out/sina"
  tail -1 "$out/sina.log"
  python3 "$bench/removal_loss.py" "$data/sina_news_2018/articles.jsonl.gz" "$out/sina/duplicates.jsonl" --tsv "$out/sina-loss.tsv"
  if [ -n "${BASELINE_DUPS:-}" ]; then
    python3 "$bench/removal_loss.py" "$data/sina_news_2018/articles.jsonl.gz" "$BASELINE_DUPS" --tsv "$out/baseline-loss.tsv" > /dev/null
    python3 - "$out/baseline-loss.tsv" "$out/sina/duplicates.jsonl" <<'PY'
import json, sys
base = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
now = {json.loads(l)["id"] for l in open(sys.argv[2]) if l.strip()}
good = [b for b in base if float(b[3]) >= 0.9]
lost = [b[0] for b in good if b[0] not in now]
print(f"baseline removals with coverage >= 0.9: {len(good)}; still removed: {len(good) - len(lost)}; no longer removed: {len(lost)} {lost[:20]}")
PY
  fi
fi
