#!/usr/bin/env bash
# The Python package's tests: sets up .venv (python/setup.sh: numpy, pyarrow, Ray, pytest
# from PyPI; the package built from this checkout), then runs python/tests with pytest:
# the API against the CLI, and `python -m simdex.ray dedup` against `simdex dedup` on a
# local Ray instance and on a 2-CPU cluster started with `ray start --head`.
# Needs target/release/simdex (cargo test --release or cargo build --release builds it).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
py="$(bash "$root/python/setup.sh")"
cd "$root"
exec "$py" -m pytest python/tests -q "$@"
