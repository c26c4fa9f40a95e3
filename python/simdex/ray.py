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

from . import _ALIASES, DEDUP_SETTING_DEFAULTS, SimdexError, _native, _tasks, dedup_settings

# The CLI's flag names of settings named otherwise in the library (the aliases, reversed).
_FLAGS = {setting: flag for flag, setting in _ALIASES.items()}

# The stages in order, where each runs, and which belong to the semantic stage: the
# library's one list (`simdex::dedup::staged::STAGES`), never a copy kept here.
STAGES = json.loads(_native.staged_stages())


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m simdex.ray", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dedup", help="the dedup pass over JSONL, text or Parquet inputs, on Ray")
    d.add_argument("inputs", nargs="+", help="files or folders, as for `simdex dedup`")
    d.add_argument("--out", required=True, help="output folder (the same files as `simdex dedup`)")
    d.add_argument("--shards", type=int, default=None, help="shards of the input (default: the cluster's CPUs)")
    d.add_argument("--address", default=None, help="an existing Ray cluster (default: start a local one)")
    d.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all)")
    d.add_argument("--work", default=None, help="work folder for the stages' tables (default: OUT.work)")
    d.add_argument("--keep-work", action="store_true", help="leave the work folder in place")
    d.add_argument("--partitions", type=int, default=None, help="partitions of each shuffle (default: shards)")
    d.add_argument("--ivf-list-size", type=int, default=None, help="article vectors per neighbour partition (default 20000)")
    d.add_argument("--ivf-probe", type=int, default=None, help="partitions each vector is placed in (default 3)")
    d.add_argument("--threads-per-task", type=int, default=None, help="compute threads of each task (default: CPUs / concurrent tasks)")
    d.add_argument("--embed-gpus", type=float, default=0.0, help="GPUs each embedding task asks Ray for (with the cuda build)")
    # The dedup settings, named as `simdex dedup`'s flags.
    d.add_argument("--model", default=None, help="model folder")
    d.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16"])
    for name, default in DEDUP_SETTING_DEFAULTS.items():
        if isinstance(default, (dict, str)) or name == "keep":
            continue  # stages, minhash: set by --no-semantic and the defaults; keep below
        flag = "--" + _FLAGS.get(name, name).replace("_", "-")
        kind = int if isinstance(default, int) and not isinstance(default, bool) else float
        d.add_argument(flag, dest=name, type=kind, default=None)
    d.add_argument("--keep", choices=["first", "longest", "cleanest"])
    d.add_argument("--keep-by", default=None)
    d.add_argument("--no-semantic", action="store_true", help="lexical stages only")
    d.add_argument("--no-clean", action="store_true", help="compare raw text")
    d.add_argument("--id-field", default="id")
    d.add_argument("--text-field", default="text")
    d.add_argument("--title-field", default="title")
    d.add_argument("--on-error", default="skip", choices=["skip", "fail"])
    d.add_argument("--max-record-bytes", type=int, default=None, help="longest text accepted (default as simdex dedup)")
    d.add_argument("--format", default="jsonl", choices=["jsonl", "parquet"], help="format of kept, duplicates and clusters")
    return p


def _settings(a: argparse.Namespace, shards: int) -> dict:
    options = dedup_settings(
        keep_by=a.keep_by,
        keep=a.keep,
        **{n: getattr(a, n) for n in DEDUP_SETTING_DEFAULTS if n != "keep" and hasattr(a, n)},
    )
    if a.no_semantic:
        options["stages"] = {"exact": True, "near_exact": True, "semantic": False}
    s = {
        "id_field": a.id_field,
        "text_field": a.text_field,
        "title_field": a.title_field,
        "on_error": a.on_error,
        "clean": not a.no_clean,
        "options": options,
        "model": a.model,
        "precision": a.precision,
        "partitions": a.partitions or shards,
        "format": a.format,
    }
    if a.max_record_bytes:
        s["max_record_bytes"] = a.max_record_bytes
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

    work = os.path.abspath(a.work or (a.out.rstrip("/") + ".work"))
    if os.path.exists(work):
        shutil.rmtree(work)
    settings = _settings(a, shards)
    _native.staged_plan(work, [os.path.abspath(i) for i in a.inputs], shards, os.path.abspath(a.out), json.dumps(settings))
    timings = {}
    worker_rss = {}
    semantic = not a.no_semantic
    for stage in STAGES:
        name = stage["name"]
        if stage["semantic"] and not semantic:
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
    if not a.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    ray.shutdown()
    return summary


def main(argv=None) -> int:
    a = _parser().parse_args(argv)
    try:
        s = run_dedup(a)
    except SimdexError as e:
        print(f"simdex: error: {e}", file=sys.stderr)
        return 1
    except ConnectionError as e:
        print(f"simdex: error: Ray: {e}", file=sys.stderr)
        return 1
    # The line `simdex dedup` prints, rendered by the library from the summary's type.
    print(_native.summary_line(json.dumps(s), a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
