"""The dedup pass on Ray: `python -m simdex.ray dedup INPUT... --out DIR --shards N`.

The stages are those of `simdex::dedup::staged` (Rust), each a function of a work folder and
a shard or partition number, so this driver only schedules them: maps over shards (read,
clean, exact keys, MinHash bands, vectors), reduces over hash partitions (repeated ids, the
cleaning's corpus pass, exact-key groups, LSH buckets), the neighbour search within vector
partitions around k-means centroids, the judging of candidate pairs by the shard of their
lower record, the clustering on the driver, and a map that writes each shard's kept and
removed records. Stages hand over Parquet files in the work folder, so a failed task is
retried alone (Ray's `max_retries`); on a cluster the work folder must be on storage every
node sees.

The same input and settings give the same output folder as `simdex dedup`, every file byte
for byte (summary.json apart from the driver's timings and Ray metadata), for any shard
count (tested in python/tests/).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time

from . import SimdexError, _native, _tasks

# The stages in order and where each runs: the library's one list
# (`simdex::dedup::staged::stages()`, made from the pass's steps), never a copy kept here.
STAGES = json.loads(_native.staged_stages())

BIN = "python -m simdex.ray"


def _parser() -> argparse.ArgumentParser:
    """The driver's own flags. Every other argument is `simdex dedup`'s, parsed by the CLI's
    own definitions in the library (`simdex::cli::driver_args`): no dedup setting is
    declared here."""
    p = argparse.ArgumentParser(prog=BIN, description=__doc__.split("\n\n")[0], allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser(
        "dedup",
        help="the dedup pass over JSONL, text or Parquet inputs, on Ray",
        usage=f"{BIN} dedup [RAY OPTIONS] [SIMDEX DEDUP OPTIONS] <INPUT>... --out <DIR>",
        description="The dedup pass on Ray. The Ray options are below; every other argument is "
        "`simdex dedup`'s (listed after them, as `simdex dedup --help` words them).",
        epilog=_native.staged_dedup_help(BIN),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    r = d.add_argument_group("Ray options")
    r.add_argument("--shards", type=int, default=None, help="shards of the input (default: the cluster's CPUs)")
    r.add_argument("--address", default=None, help="an existing Ray cluster (default: start a local one)")
    r.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    r.add_argument("--work", default=None, help="work folder for the stages' tables (default: OUT.work)")
    r.add_argument("--keep-work", action="store_true", help="leave the work folder in place")
    r.add_argument("--partitions", type=int, default=None, help="partitions of each shuffle (default: shards)")
    r.add_argument("--ivf-list-size", type=int, default=None, help="article vectors per neighbour partition (default 20000)")
    r.add_argument("--ivf-probe", type=int, default=None, help="partitions each vector is placed in (default 3)")
    r.add_argument("--threads-per-task", type=int, default=None, help="compute threads of each task (default: CPUs / concurrent tasks)")
    r.add_argument("--embed-gpus", type=float, default=0.0, help="GPUs each embedding task asks Ray for (with the cuda build)")
    return p


def parse(argv=None) -> argparse.Namespace:
    """The driver's flags, and `simdex dedup`'s arguments parsed by the library into
    `a.inputs`, `a.out` and `a.settings` (the staged pass's settings). Exits with the CLI's
    message on a bad argument, as `simdex dedup` would."""
    a, rest = _parser().parse_known_args(argv)
    run = json.loads(_native.staged_dedup_args(BIN, rest))
    if "error" in run:
        print(run["error"].rstrip(), file=sys.stderr)
        sys.exit(2)
    a.inputs, a.out, a.settings, a.report = run["inputs"], run["out"], run["settings"], run["report"]
    a.dry_run = a.settings["dry_run"]
    return a


def _settings(a: argparse.Namespace, shards: int) -> dict:
    s = dict(a.settings)
    if s.get("against"):
        # Every task opens the index: by a path that does not depend on its working folder.
        s["against"] = os.path.abspath(s["against"])
    s["partitions"] = a.partitions or shards
    if a.ivf_list_size:
        s["ivf_list_size"] = a.ivf_list_size
    if a.ivf_probe:
        s["ivf_probe"] = a.ivf_probe
    return s


def run_dedup(a: argparse.Namespace) -> dict:
    import ray  # the engine; imported here so `import simdex` never needs it

    started = time.time()
    if a.address:
        ray.init(address=a.address, log_to_driver=False)
    else:
        # address="local": always a fresh instance on this machine, never a cluster that
        # `ray start` left running (ray.init() alone would join that one).
        ray.init(address="local", num_cpus=a.num_cpus or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    shards = a.shards or cpus
    threads = a.threads_per_task or max(1, cpus // min(shards, cpus))
    env = {"env_vars": {"RAYON_NUM_THREADS": str(threads)}}

    task = ray.remote(max_retries=3, retry_exceptions=[OSError])(_tasks.run_stage)

    if a.work or a.out:
        work = os.path.abspath(a.work or (a.out.rstrip("/") + ".work"))
    else:
        # A dry run without --out: a work folder of its own, removed after.
        import tempfile
        work = tempfile.mkdtemp(prefix="simdex-dry-run-")
    if os.path.exists(work):
        shutil.rmtree(work)
    # A dry run writes no output folder (the stages that would are skipped).
    out = os.path.abspath(a.out) if a.out else os.path.join(work, "out")
    settings = _settings(a, shards)
    _native.staged_plan(work, [os.path.abspath(i) for i in a.inputs], shards, out, json.dumps(settings))
    timings = {}
    worker_rss = {}
    for stage in STAGES:
        name = stage["name"]
        if not _native.staged_runs(work, name):
            continue
        t = time.time()
        if stage["runs"] == "driver":
            json.loads(_native.staged_stage(work, name, 0))
        else:
            opts = {"runtime_env": env}
            if name == "embed" and a.embed_gpus:
                opts["num_gpus"] = a.embed_gpus
            parts = _native.staged_parts(work, name)
            reports = ray.get([task.options(**opts).remote(work, name, p) for p in range(parts)])
            errors = [r["error"] for r in reports if "error" in r]
            if errors:
                raise SimdexError(errors[0])
            worker_rss[name] = max(r["max_rss_kb"] for r in reports) // 1024
        timings[name] = round(time.time() - t, 3)
    if a.dry_run:
        # What the run would do, as `simdex dedup --dry-run` prints it; nothing written.
        a.dry_run_text = _native.staged_dry_run(work)
        if not a.keep_work:
            shutil.rmtree(work, ignore_errors=True)
        ray.shutdown()
        return {}
    summary_path = os.path.join(a.out, "summary.json")
    with open(summary_path, encoding="utf-8") as f:
        summary = json.load(f)
    summary["timings_s"] = timings
    summary["wall_s"] = round(time.time() - started, 3)
    summary["ray"] = {
        "cpus": cpus,
        "threads_per_task": threads,
        "address": a.address,
        # Peak resident memory of the busiest worker process by the end of each stage (a
        # worker runs many tasks, so this is a running maximum), and of the driver.
        "worker_peak_rss_mb": worker_rss,
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    }
    with open(summary_path, "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
        f.write("\n")
    # The page reads the finished folder, summary included, as `simdex dedup --report`'s.
    a.report_line = _native.write_report(a.out) if a.report else None
    if not a.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    ray.shutdown()
    return summary


def main(argv=None) -> int:
    a = parse(argv)
    try:
        s = run_dedup(a)
    except SimdexError as e:
        print(f"simdex: error: {e}", file=sys.stderr)
        return 1
    except ConnectionError as e:
        print(f"simdex: error: Ray: {e}", file=sys.stderr)
        return 1
    if a.dry_run:
        print(a.dry_run_text, end="")
        return 0
    # The line `simdex dedup` prints, rendered by the library from the summary's type.
    print(_native.summary_line(json.dumps(s), a.out))
    if a.report_line:
        print(a.report_line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
