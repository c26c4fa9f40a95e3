"""`python -m simdex.ray dedup` is the same tool as `simdex dedup`: the same kept records,
the same duplicate_of for every removed record, the same clusters and the same rejects,
at 1, 2 and 4 shards, on the example corpus and on 1,000 generated records; Parquet input
gives the same decisions as the same records as JSONL."""

from __future__ import annotations

import json
from pathlib import Path
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import EXAMPLES, decisions, simdex, simdex_ray

FLAG = re.compile(r"^\s+(?:-\w, )?(--[a-z0-9-]+)", re.M)


def test_the_ray_driver_takes_every_dedup_flag_of_the_cli():
    """The driver parses `simdex dedup`'s arguments with the CLI's own definitions, so its
    help lists every flag of `simdex dedup --help`, besides its own."""
    cli = set(FLAG.findall(simdex("dedup", "--help").stdout))
    r = simdex_ray("dedup", "--help")
    assert r.returncode == 0, r.stderr
    ray = set(FLAG.findall(r.stdout))
    assert cli <= ray, cli - ray
    assert {"--shards", "--address", "--partitions"} <= ray


def test_bad_dedup_arguments_get_the_cli_message(tmp_path):
    r = simdex_ray("dedup", EXAMPLES, "--out", tmp_path / "o", "--threshold", "high")
    assert r.returncode == 2
    assert "invalid value 'high' for '--threshold" in r.stderr, r.stderr
    r = simdex_ray("dedup", EXAMPLES)
    assert r.returncode == 2 and "required arguments were not provided:\n  --out <DIR>" in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()


def test_a_dry_run_on_ray_prints_what_simdex_dedup_dry_run_prints_and_writes_nothing(tmp_path):
    cli = simdex("dedup", EXAMPLES, "--dry-run")
    assert cli.returncode == 0, cli.stderr
    assert "would remove 5 of 10 records" in cli.stdout, cli.stdout
    r = simdex_ray("dedup", EXAMPLES, "--dry-run", "--out", tmp_path / "o", "--shards", 2, "--num-cpus", "2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == cli.stdout
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.work").exists()


def test_max_record_bytes_rejects_as_the_cli_does(tmp_path):
    cli, ray = tmp_path / "cli", tmp_path / "ray"
    assert simdex("dedup", EXAMPLES, "--out", cli, "--max-record-bytes", "6000", "--no-semantic").returncode == 0
    r = simdex_ray("dedup", EXAMPLES, "--out", ray, "--shards", 2, "--num-cpus", "2", "--max-record-bytes", "6000", "--no-semantic")
    assert r.returncode == 0, r.stderr
    rejected = (cli / "rejected.jsonl").read_text()
    assert rejected.count("--max-record-bytes") == 5, "the limit rejects five example records"
    assert (ray / "rejected.jsonl").read_text() == rejected
    assert (ray / "kept.jsonl").read_bytes() == (cli / "kept.jsonl").read_bytes()


# Every file of a `simdex dedup` output folder but summary.json, compared byte for byte.
OUTPUTS = ["kept.jsonl", "duplicates.jsonl", "clusters.jsonl", "rejected.jsonl", "related.jsonl",
           "pairs.jsonl", "passage_duplicates.jsonl", "explanations.jsonl", "passages.jsonl"]
# What summary.json says of how a driver ran rather than of what it decided: timings, the
# single-process memory account, the Ray pass's shards, run settings and workers.
RUN_METADATA = {"timings_s", "held_bytes", "shards", "run_settings", "wall_s", "ray"}


def same_summary(ray: Path, cli: Path) -> None:
    """summary.json of both, driver metadata aside."""
    rs, cs = (json.loads((d / "summary.json").read_text()) for d in (ray, cli))
    assert {k: v for k, v in rs.items() if k not in RUN_METADATA} == {k: v for k, v in cs.items() if k not in RUN_METADATA}


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_example_corpus_on_a_local_ray_gives_the_cli_outputs_byte_for_byte(tmp_path, shards):
    cli, ray = tmp_path / "cli", tmp_path / "ray"
    assert simdex("dedup", EXAMPLES, "--out", cli).returncode == 0
    r = simdex_ray("dedup", EXAMPLES, "--out", ray, "--shards", shards, "--num-cpus", "2")
    assert r.returncode == 0, r.stderr
    assert "10 records: 5 kept, 5 duplicates removed (exact 2, near_exact 3), 0 rejected" in r.stdout
    assert sorted(p.name for p in ray.iterdir()) == sorted(p.name for p in cli.iterdir())
    for name in OUTPUTS:
        assert (ray / name).read_bytes() == (cli / name).read_bytes(), name
    # One run-metadata type: the same counts, settings, model and lost text as the CLI's.
    same_summary(ray, cli)
    assert not (tmp_path / "ray.work").exists(), "the work folder is removed after a run"


@pytest.mark.parametrize("shards", [1, 2, 4])
def test_generated_corpus_on_a_ray_cluster_gives_the_cli_outputs(generated, cli_generated, ray_cluster, tmp_path, shards):
    out = tmp_path / "ray"
    r = simdex_ray("dedup", generated, "--out", out, "--shards", shards, "--address", ray_cluster)
    assert r.returncode == 0, r.stderr
    want, got = decisions(cli_generated), decisions(out)
    assert got["kept"] == want["kept"]
    assert got["duplicates"] == want["duplicates"]
    assert got["clusters"] == want["clusters"]
    assert got["rejected"] == want["rejected"]
    # Every stage found something on this corpus, so each path was exercised.
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["removed_by_stage"]) == {"exact", "near_exact", "semantic"}
    assert summary["records_in"] == summary["kept"] + summary["removed"] + summary["rejected"] == 1004
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (cli_generated / name).read_bytes(), name
    same_summary(out, cli_generated)


def test_vector_partitions_placed_three_times_still_find_every_duplicate(generated, cli_generated, ray_cluster, tmp_path):
    out = tmp_path / "ray"
    # About 690 representatives at 200 per partition: 4 partitions, each vector in its 3 nearest.
    r = simdex_ray("dedup", generated, "--out", out, "--shards", 2, "--address", ray_cluster, "--ivf-list-size", 200, "--ivf-probe", 3)
    assert r.returncode == 0, r.stderr
    assert decisions(out) == decisions(cli_generated)


def test_parquet_input_gives_the_same_decisions_as_the_same_records_as_jsonl(generated, ray_cluster, tmp_path):
    rows = []
    for line in generated.read_text(encoding="utf-8").splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r.get("id"), str) and r.get("text"):
            rows.append(r)
    jsonl = tmp_path / "good.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    table = pa.table({k: [r.get(k) for r in rows] for k in ["id", "text", "date"]})
    parquet = tmp_path / "good.parquet"
    pq.write_table(table, parquet, row_group_size=128)
    cli = tmp_path / "cli"
    assert simdex("dedup", jsonl, "--out", cli).returncode == 0
    out = tmp_path / "ray"
    r = simdex_ray("dedup", parquet, "--out", out, "--shards", 2, "--address", ray_cluster)
    assert r.returncode == 0, r.stderr
    want, got = decisions(cli), decisions(out)
    for k in ["kept", "duplicates", "clusters"]:
        assert got[k] == want[k], k
    # The same rejects, at the same row/line numbers; only the file names differ.
    strip = lambda rs, f: [json.loads(json.dumps(r).replace(str(f), "INPUT")) for r in rs]
    assert strip(got["rejected"], parquet) == strip(want["rejected"], jsonl)
    # Kept rows carry every input column.
    first = json.loads((out / "kept.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(first) == {"id", "text", "date"}


def test_keep_by_a_field_decides_as_the_cli(generated, ray_cluster, tmp_path):
    cli, out = tmp_path / "cli", tmp_path / "ray"
    assert simdex("dedup", generated, "--out", cli, "--keep-by", "date", "--no-semantic").returncode == 0
    r = simdex_ray("dedup", generated, "--out", out, "--shards", 4, "--address", ray_cluster, "--keep-by", "date", "--no-semantic")
    assert r.returncode == 0, r.stderr
    assert decisions(out) == decisions(cli)


def test_a_bad_line_with_on_error_fail_stops_the_run_naming_file_and_line(generated, ray_cluster, tmp_path):
    r = simdex_ray("dedup", generated, "--out", tmp_path / "ray", "--shards", 2, "--address", ray_cluster, "--on-error", "fail", "--no-semantic")
    assert r.returncode == 1
    assert f"{generated}:11: malformed JSON" in r.stderr
    assert "Traceback" not in r.stderr


def test_format_parquet_writes_the_cli_parquet_tables_rows(tmp_path):
    cli, ray = tmp_path / "cli", tmp_path / "ray"
    assert simdex("dedup", EXAMPLES, "--out", cli, "--format", "parquet").returncode == 0
    r = simdex_ray("dedup", EXAMPLES, "--out", ray, "--shards", 2, "--num-cpus", "2", "--format", "parquet")
    assert r.returncode == 0, r.stderr
    for name in ["kept", "duplicates", "clusters"]:
        want = pq.read_table(cli / f"{name}.parquet").to_pylist()
        got = pq.read_table(ray / f"{name}.parquet").to_pylist()
        assert got == want, name


def test_report_on_a_ray_output_shows_the_settings_that_produced_it(tmp_path):
    out = tmp_path / "ray"
    r = simdex_ray("dedup", EXAMPLES, "--out", out, "--shards", 2, "--num-cpus", "2", "--threshold", "0.95", "--removal-coverage", "0.85", "--report")
    assert r.returncode == 0, r.stderr
    assert "report.html" in r.stdout, r.stdout
    page = (out / "report.html").read_text(encoding="utf-8")
    start = page.index('"thresholds":') + len('"thresholds":')
    shown = json.JSONDecoder().raw_decode(page[start:])[0]
    assert shown["threshold"] == 0.95 and shown["removal_coverage"] == 0.85, shown
    # `simdex report` on the same folder shows the same settings.
    rep = simdex("report", out)
    assert rep.returncode == 0, rep.stderr
    again = (out / "report.html").read_text(encoding="utf-8")
    assert json.JSONDecoder().raw_decode(again[again.index('"thresholds":') + len('"thresholds":'):])[0] == shown


def test_against_an_index_ray_removes_what_simdex_dedup_against_removes(generated, ray_cluster, tmp_path):
    index, cli, ray = tmp_path / "index", tmp_path / "cli", tmp_path / "ray"
    assert simdex("ingest", EXAMPLES, "--index", index, "--out", tmp_path / "ingested").returncode == 0
    assert simdex("dedup", generated, "--against", index, "--out", cli).returncode == 0
    r = simdex_ray("dedup", generated, "--against", index, "--out", ray, "--shards", 3, "--address", ray_cluster)
    assert r.returncode == 0, r.stderr
    in_index = [json.loads(l) for l in (cli / "duplicates.jsonl").read_text().splitlines() if '"in_index":true' in l]
    assert len(in_index) >= 5, "records of the generated corpus are copies of the indexed examples"
    for name in OUTPUTS:
        if name != "duplicates.jsonl":
            assert (ray / name).read_bytes() == (cli / name).read_bytes(), name
    assert decisions(ray) == decisions(cli)
    same_summary(ray, cli)
