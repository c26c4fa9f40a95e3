#!/usr/bin/env bash
# Embedding throughput of simdex against the PyTorch peer (peer_embed.py), in one sitting:
# for each input set, simdex and the peer run alternately ROUNDS times each; the script
# prints every run, then the median tokens/s of each and the ratio simdex/PyTorch.
#
# Input sets, built in a temporary folder that is removed at exit (the eval data is
# research-only and never copied into the project):
#   sina      the `text` of the first N articles, `passage: ` prefix, truncated at 512 tokens
#   fixed128  FIXED128_TEXTS articles, each repeated until truncation gives exactly 128 tokens
#   fixed512  FIXED512_TEXTS articles, the same at 512 tokens
#
# Usage: scripts/bench_vs_pytorch.sh            (from the repository root, after
#        cargo build --release; settings below can be overridden from the environment)
set -euo pipefail

SIMDEX=${SIMDEX:-target/release/simdex}
MODEL=${MODEL:-models/multilingual-e5-small}
SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
ARTICLES=${ARTICLES:-$SHARED/eval/sina_news_2018/articles.jsonl.gz}
PEER_PY=${PEER_PY:-/tmp/peer/bin/python}
PEER=${PEER:-$SHARED/bench/peer_embed.py}
N=${N:-1000}
FIXED128_TEXTS=${FIXED128_TEXTS:-256}
FIXED512_TEXTS=${FIXED512_TEXTS:-64}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
SETS=${SETS:-sina fixed128 fixed512}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$ARTICLES" "$tmp" "$N" "$FIXED128_TEXTS" "$FIXED512_TEXTS" <<'PY'
import gzip, json, sys
src, out, n, n128, n512 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
texts = []
with gzip.open(src, "rt", encoding="utf-8") as f:
    for line in f:
        texts.append(json.loads(line)["text"])
        if len(texts) >= max(n, n128, n512):
            break
def write(name, items):
    with open(f"{out}/{name}.jsonl", "w", encoding="utf-8") as o:
        for t in items:
            o.write(json.dumps({"text": t}, ensure_ascii=False) + "\n")
write("sina", texts[:n])
# Long enough that truncation cuts every text to exactly L tokens (a CJK character is at
# least a token's worth of text in this tokenizer; four per token leaves a wide margin).
long = lambda t, chars: (t * (chars // max(len(t), 1) + 1))[:chars]
nonempty = [t for t in texts if t.strip()]
write("fixed128", [long(t, 128 * 4) for t in nonempty[:n128]])
write("fixed512", [long(t, 512 * 4) for t in nonempty[:n512]])
PY

max_len() { case $1 in fixed128) echo 128 ;; *) echo 512 ;; esac; }
tps() { sed -n 's/.*tokens_per_s=\([0-9.]*\).*/\1/p' | tail -1; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads=$THREADS"
echo "simdex: $SIMDEX (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
"$SIMDEX" bench --model "$MODEL" --input "$tmp/fixed128.jsonl" --max-length 128 --limit 1 --gemm \
    | grep gemm
summary=""
for set in $SETS; do
    len=$(max_len "$set")
    : >"$tmp/s.txt"
    : >"$tmp/p.txt"
    for r in $(seq "$ROUNDS"); do
        s=$(RAYON_NUM_THREADS=$THREADS "$SIMDEX" bench --model "$MODEL" --input "$tmp/$set.jsonl" --max-length "$len" | grep '^simdex')
        echo "$set round $r: $s"
        echo "$s" | tps >>"$tmp/s.txt"
        p=$("$PEER_PY" "$PEER" --model "$MODEL" --input "$tmp/$set.jsonl" --max-length "$len" --threads "$THREADS" 2>/dev/null | grep '^peer')
        echo "$set round $r: $p"
        echo "$p" | tps >>"$tmp/p.txt"
    done
    ms=$(median <"$tmp/s.txt")
    mp=$(median <"$tmp/p.txt")
    summary+=$(printf '%-9s simdex %8.1f tok/s   pytorch %8.1f tok/s   ratio %.3f' "$set" "$ms" "$mp" "$(echo "$ms / $mp" | bc -l)")$'\n'
done
echo "medians over $ROUNDS rounds:"
printf '%s' "$summary"
