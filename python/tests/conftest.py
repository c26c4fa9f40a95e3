"""Shared fixtures of the Python tests: the simdex binary (built by `cargo test --release`
or `cargo build --release`), the generated corpus, and a Ray cluster started with
`ray start --head` for the tests that pass `--address`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import corpus  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# The test cluster is local and private: no token (Ray's token authentication would need the
# head's token in every client's environment).
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
SIMDEX = Path(os.environ.get("SIMDEX_BIN", ROOT / "target" / "release" / "simdex"))
EXAMPLES = ROOT / "examples" / "news"


def run(args: list, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, **kw)


def simdex(*args) -> subprocess.CompletedProcess:
    """The simdex binary, as a user types it."""
    assert SIMDEX.exists(), f"{SIMDEX}: build it first (cargo build --release)"
    return run([SIMDEX, *args])


def simdex_ray(*args) -> subprocess.CompletedProcess:
    """`python -m simdex.ray`, as a user types it."""
    return run([sys.executable, "-m", "simdex.ray", *args], cwd=ROOT)


def decisions(out: Path) -> dict:
    """What a user compares between two dedup runs: kept ids in order, each removed record's
    duplicate_of, stage and cluster, the clusters, and the rejects."""
    kept = [json.loads(l)["id"] for l in (out / "kept.jsonl").read_text(encoding="utf-8").splitlines()]
    dups = {}
    for l in (out / "duplicates.jsonl").read_text(encoding="utf-8").splitlines():
        d = json.loads(l)
        dups[d["id"]] = (d["duplicate_of"], d["stage"], d["cluster"], d["exact_copy_of"])
    clusters = [json.loads(l) for l in (out / "clusters.jsonl").read_text(encoding="utf-8").splitlines()]
    rejected = [json.loads(l) for l in (out / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    return {"kept": kept, "duplicates": dups, "clusters": clusters, "rejected": rejected}


@pytest.fixture(scope="session")
def generated(tmp_path_factory) -> Path:
    """1,000 generated records (plus 4 bad lines) as one JSONL file."""
    p = tmp_path_factory.mktemp("corpus") / "generated.jsonl"
    corpus.write(p, n=1000, seed=7)
    return p


@pytest.fixture(scope="session")
def cli_generated(generated, tmp_path_factory) -> Path:
    """`simdex dedup` over the generated corpus: the outputs the Ray pass must match."""
    out = tmp_path_factory.mktemp("cli") / "out"
    r = simdex("dedup", generated, "--out", out)
    assert r.returncode == 0, r.stderr
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A running Ray head (2 CPUs) started as a user starts one; its address."""
    port = _free_port()
    ray = Path(sys.executable).parent / "ray"
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    r = run([ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"], env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        run([ray, "stop", "--force"], env=env)
