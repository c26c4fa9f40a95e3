#!/usr/bin/env bash
# Sets up the Python side: a virtual environment in .venv (created if missing) with numpy,
# pyarrow, Ray and pytest from PyPI, and the simdex package built from this checkout by
# maturin (it shares the Cargo target folder, so a warm `cargo build --release` makes it
# quick). Prints the venv's python path last. Safe to re-run.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SIMDEX_VENV:-$root/.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$py" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2" numpy pyarrow "ray[default]" pytest >&2
# Build in place (no isolation: maturin from the venv, the workspace's target folder).
PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$root/target" "$py" -m pip install --quiet --disable-pip-version-check --no-build-isolation "$root/python" >&2
echo "$py"
