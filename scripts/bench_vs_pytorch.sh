#!/usr/bin/env bash
# Embedding throughput of simdex against the peers a Python user would pick, in one
# sitting: for each input set, every engine runs once per round, engines alternating,
# ROUNDS rounds; the script prints every run, then a table of median tokens/s and the ratio
# of each engine to PyTorch fp32 and to the fastest peer. Before that it prints the CPU
# (model and the flags that pick simdex's kernels) and the GFLOP/s of the dense-layer
# products [4096,384]x[384,1536] and [4096,1536]x[1536,384] on each simdex kernel path and
# on torch.matmul (MKL/oneDNN) in fp32 and bf16.
#
# Engines (ENGINES, space-separated; a peer whose Python packages are missing is skipped
# with a note):
#   simdex-f32 simdex-bf16 simdex-auto   simdex bench --precision f32|bf16|auto
#   torch-fp32 torch-bf16                ../shared/bench/peer_embed.py --dtype fp32|bf16
#   ort-fp32 ort-int8 openvino           ../shared/bench/peer_runtimes.py --runtime ...
#
# Input sets, built in a temporary folder that is removed at exit (the eval data is
# research-only and never copied into the project):
#   sina      `title + "\n" + text` of the first N articles, `passage: ` prefix, <= 512 tokens
#   fixed128  FIXED128_TEXTS articles, each repeated until truncation gives exactly 128 tokens
#   fixed512  FIXED512_TEXTS articles, the same at 512 tokens
#
# Usage: scripts/bench_vs_pytorch.sh            (from the repository root, after
#        cargo build --release --features eval; settings below can be overridden from the environment)
# Peers, once (about 6 GB):
#   python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch transformers onnx onnxscript onnxruntime openvino
set -euo pipefail

SIMDEX=${SIMDEX:-target/release/simdex}
MODEL=${MODEL:-models/multilingual-e5-small}
SHARED=${SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
ARTICLES=${ARTICLES:-$SHARED/eval/sina_news_2018/articles.jsonl.gz}
PEER_PY=${PEER_PY:-/tmp/peer/bin/python}
PEER=${PEER:-$SHARED/bench/peer_embed.py}
PEER_RT=${PEER_RT:-$SHARED/bench/peer_runtimes.py}
EXPORT_DIR=${EXPORT_DIR:-/tmp/peer-onnx}
N=${N:-300}
FIXED128_TEXTS=${FIXED128_TEXTS:-256}
FIXED512_TEXTS=${FIXED512_TEXTS:-64}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
SETS=${SETS:-sina fixed128 fixed512}
ENGINES=${ENGINES:-simdex-f32 simdex-bf16 simdex-auto torch-fp32 torch-bf16 ort-fp32 ort-int8 openvino}
GEMM=${GEMM:-1}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

python3 - "$ARTICLES" "$tmp" "$N" "$FIXED128_TEXTS" "$FIXED512_TEXTS" <<'PY'
import gzip, json, sys
src, out, n, n128, n512 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
texts = []
with gzip.open(src, "rt", encoding="utf-8") as f:
    for line in f:
        d = json.loads(line)
        texts.append((d.get("title") or "") + "\n" + d["text"])
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
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print 0; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
has_py() { [ -x "$PEER_PY" ] && "$PEER_PY" -c "import $1" 2>/dev/null; }

flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' \
    | grep -xE 'avx2|fma|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_vnni|avx_vnni|amx_bf16|amx_int8|amx_tile' | xargs)
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; threads=$THREADS"
echo "cpu flags (kernel-relevant): ${flags:-none of avx2/avx512/amx}"
echo "simdex: $SIMDEX (commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'))"
RAYON_NUM_THREADS=$THREADS "$SIMDEX" bench --model "$MODEL" --input "$tmp/fixed128.jsonl" --limit 1 \
    | grep '^kernels'

# Which engines can run here.
runnable=""
for e in $ENGINES; do
    case $e in
        simdex-*) runnable+=" $e" ;;
        torch-*) if has_py torch && has_py transformers; then runnable+=" $e"; else echo "skipping $e: no torch/transformers in $PEER_PY"; fi ;;
        ort-*) if has_py onnxruntime && has_py torch; then runnable+=" $e"; else echo "skipping $e: no onnxruntime in $PEER_PY"; fi ;;
        openvino) if has_py openvino && has_py torch; then runnable+=" $e"; else echo "skipping $e: no openvino in $PEER_PY"; fi ;;
        *) echo "unknown engine $e" >&2; exit 2 ;;
    esac
done

if [ "$GEMM" = 1 ]; then
    # The intermediate layer's product and the output layer's, on every simdex path (bf16
    # input, f32 output into a reused buffer, as the forward pass runs them) and on
    # torch.matmul (MKL/oneDNN; its bf16 product writes a bf16 output, half the bytes).
    for shape in 4096,384,1536 4096,1536,384; do
        IFS=, read -r m k n <<<"$shape"
        echo "dense-layer GEMM [$m,$k]x[$k,$n], best of 5, $THREADS threads:"
        RAYON_NUM_THREADS=$THREADS "$SIMDEX" bench --model "$MODEL" --input "$tmp/fixed128.jsonl" --limit 1 \
            --gemm --gemm-shape "$shape" | sed -n 's/^gemm \[[^ ]*\] /  simdex /p'
        if has_py torch; then
            "$PEER_PY" - "$THREADS" "$m" "$k" "$n" <<'PY'
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
m, k, n = map(int, sys.argv[2:5])
a, b = torch.randn(m, k), torch.randn(k, n)
for name, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
    x, y = a.to(dt), b.to(dt)
    torch.matmul(x, y)
    best = min((lambda t0: (torch.matmul(x, y), time.perf_counter() - t0)[1])(time.perf_counter()) for _ in range(5))
    print(f"  torch.matmul {name}: {2 * m * k * n / best / 1e9:.1f} GFLOP/s")
PY
        fi
    done
fi

# One engine, one run: prints its result line (with tokens_per_s=).
run_engine() {
    local e=$1 set=$2 len=$3
    case $e in
        simdex-*) RAYON_NUM_THREADS=$THREADS "$SIMDEX" bench --model "$MODEL" --input "$tmp/$set.jsonl" \
            --max-length "$len" --precision "${e#simdex-}" | grep '^simdex' ;;
        torch-*) "$PEER_PY" "$PEER" --model "$MODEL" --input "$tmp/$set.jsonl" --max-length "$len" \
            --threads "$THREADS" --dtype "${e#torch-}" 2>/dev/null | grep '^peer' ;;
        *) "$PEER_PY" "$PEER_RT" --model "$MODEL" --input "$tmp/$set.jsonl" --max-length "$len" \
            --threads "$THREADS" --runtime "$e" --export-dir "$EXPORT_DIR" 2>/dev/null | grep '^peer' ;;
    esac
}

table=""
for set in $SETS; do
    len=$(max_len "$set")
    for e in $runnable; do : >"$tmp/$set.$e"; done
    for r in $(seq "$ROUNDS"); do
        for e in $runnable; do
            line=$(run_engine "$e" "$set" "$len" || echo "failed")
            echo "$set round $r $e: $line"
            echo "$line" | tps >>"$tmp/$set.$e"
        done
    done
    base=""; best_peer=0; best_name=""
    for e in $runnable; do
        m=$(median <"$tmp/$set.$e")
        echo "$m" >"$tmp/$set.$e.median"
        [ "$e" = torch-fp32 ] && base=$m
        case $e in simdex-*) ;; *) if awk "BEGIN{exit !($m > $best_peer)}"; then best_peer=$m; best_name=$e; fi ;; esac
    done
    table+=$'\n'"$set (max $len tokens; fastest peer: ${best_name:-none}):"$'\n'
    table+=$(printf '  %-12s %10s %12s %14s' engine tokens/s "x torch-fp32" "x fastest peer")$'\n'
    for e in $runnable; do
        m=$(cat "$tmp/$set.$e.median")
        r1=$( [ -n "$base" ] && awk "BEGIN{printf \"%.2f\", $m / $base}" || echo -)
        r2=$( awk "BEGIN{if ($best_peer > 0) printf \"%.2f\", $m / $best_peer; else print \"-\"}" )
        table+=$(printf '  %-12s %10.1f %12s %14s' "$e" "$m" "$r1" "$r2")$'\n'
    done
done
echo
echo "medians over $ROUNDS rounds, engines alternating:"
printf '%s' "$table"
