"""Peak memory of each task of the staged (Ray) pass, on one input and shard count: every
stage part runs in a process of its own, as a Ray task does, under `/usr/bin/time`, and the
table printed is stage, part, seconds, peak RSS (MB), and issue 24's bound for a task that
holds the shard's records (1.5 GB + 16 KB a record). No Ray needed: the stages are the
ones `python -m simdex.ray dedup` schedules, in the library's order.

usage: python scripts/stage_memory.py INPUT WORK SHARDS [simdex dedup flags...]
       (run with the Python that has simdex installed: .venv/bin/python after python/setup.sh)
"""

import json
import os
import shutil
import subprocess
import sys
import time

from simdex import _native

BIN = "python scripts/stage_memory.py"


def main() -> int:
    inp, work, shards, *flags = sys.argv[1:]
    shards = int(shards)
    out = work.rstrip("/") + ".out"
    run = json.loads(_native.staged_dedup_args(BIN, [inp, "--out", out, *flags]))
    if "error" in run:
        print(run["error"], file=sys.stderr)
        return 2
    settings = run["settings"]
    settings["partitions"] = shards
    if os.path.exists(work):
        shutil.rmtree(work)
    _native.staged_plan(work, [os.path.abspath(inp)], shards, os.path.abspath(out), json.dumps(settings))
    semantic = settings["options"]["stages"]["semantic"]
    print(f"{'stage':16} {'part':>4} {'seconds':>8} {'peak MB':>8}")
    worst = {}
    for stage in json.loads(_native.staged_stages()):
        name = stage["name"]
        if stage["semantic"] and not semantic:
            continue
        for part in range(_native.staged_parts(work, name)):
            code = f"from simdex import _native; _native.staged_stage({work!r}, {name!r}, {part})"
            t = time.time()
            r = subprocess.run(["/usr/bin/time", "-f", "%M", sys.executable, "-c", code], capture_output=True, text=True)
            if r.returncode != 0:
                print(r.stderr, file=sys.stderr)
                return 1
            mb = int(r.stderr.strip().splitlines()[-1]) // 1024
            worst[name] = max(worst.get(name, 0), mb)
            print(f"{name:16} {part:>4} {time.time() - t:>8.1f} {mb:>8}", flush=True)
    with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
        s = json.load(f)
    n = s["records_in"]
    bound = (1.5e9 + 16e3 * n / shards) / 2**20
    print(f"records {n}, shards {shards}: largest task {max(worst.values())} MB ({max(worst, key=worst.get)}); "
          f"bound for a task holding one shard, 1.5 GB + 16 KB a record: {bound:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
