"""The Python API gives what the CLI gives: the same vectors, the same dedup decisions, the
same neighbours; errors are simdex.SimdexError with the CLI's message; the GIL is released
while the library works."""

from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest

import simdex
from conftest import EXAMPLES, decisions, simdex as simdex_cli


@pytest.fixture(scope="module")
def embedder():
    return simdex.Embedder()


def test_embed_gives_the_cli_raw_vectors(embedder, tmp_path):
    texts = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("00*.txt"))]
    v = embedder.embed(texts)
    assert v.shape == (5, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    out = tmp_path / "v.jsonl"
    r = simdex_cli("embed", *sorted(EXAMPLES.glob("00*.txt")), "--level", "raw", "--out", out)
    assert r.returncode == 0, r.stderr
    cli = np.array([json.loads(l)["vector"] for l in out.read_text().splitlines()], dtype=np.float32)
    cos = (v * cli).sum(axis=1)
    assert cos.min() >= 0.9999, cos


def test_query_and_passage_roles_differ_and_a_bad_role_is_an_error(embedder):
    q = embedder.embed(["济南地面站"], role="query")
    p = embedder.embed(["济南地面站"], role="passage")
    assert 0.8 < float((q * p).sum()) < 0.9999
    with pytest.raises(simdex.SimdexError, match="role must be passage or query"):
        embedder.embed(["x"], role="document")


def test_dedup_of_records_decides_as_the_cli(tmp_path):
    records = [{"id": p.name, "text": p.read_text(encoding="utf-8", errors="replace")} for p in sorted(EXAMPLES.glob("*.txt")) if "gb18030" not in p.name]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    cli = tmp_path / "cli"
    assert simdex_cli("dedup", jsonl, "--out", cli).returncode == 0
    got = simdex.dedup(records)
    want = decisions(cli)
    assert got["kept"] == want["kept"]
    assert {d["id"]: (d["duplicate_of"], d["stage"], d["cluster"], d["exact_copy_of"]) for d in got["duplicates"]} == want["duplicates"]
    assert got["clusters"] == want["clusters"]


def test_dedup_of_a_folder_with_settings_and_an_output_folder(tmp_path):
    r = simdex.dedup(EXAMPLES, out=tmp_path / "o", threshold=0.95, jaccard=0.7, semantic=False)
    assert len(r["kept"]) == 5 and len(r["duplicates"]) == 5
    assert (tmp_path / "o" / "kept.jsonl").read_text().count("\n") == 5
    with pytest.raises(simdex.SimdexError, match="unknown dedup setting 'treshold'"):
        simdex.dedup(EXAMPLES, treshold=0.9)


def test_a_bad_record_is_rejected_with_its_position_and_a_missing_file_is_an_error(tmp_path):
    r = simdex.dedup([{"id": "a", "text": "一段文字。"}, {"id": "b"}], semantic=False)
    assert r["kept"] == ["a"]
    assert r["rejected"][0]["file"] == "<records>" and r["rejected"][0]["line"] == 2
    assert 'missing field "text"' in r["rejected"][0]["reason"]
    with pytest.raises(simdex.SimdexError, match="nope.jsonl"):
        simdex.dedup(tmp_path / "nope.jsonl")


def test_index_similar_by_id_and_by_text_as_the_cli(tmp_path):
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for p in sorted(EXAMPLES.glob("00*.txt")):
        (seeds / p.name).write_bytes(p.read_bytes())
    index = tmp_path / "idx"
    r = simdex_cli("index", "build", "--index", index, seeds)
    assert r.returncode == 0, r.stderr
    idx = simdex.Index.open(index)
    assert "000_7a408194b7d85137.txt" in idx
    hits = idx.similar("000_7a408194b7d85137.txt", k=3)
    assert len(hits) == 3 and all(h["id"] != "000_7a408194b7d85137.txt" for h in hits)
    cli = simdex_cli("similar", "--index", index, "--id", "000_7a408194b7d85137.txt", "-k", "3", "--json")
    assert cli.returncode == 0, cli.stderr
    assert [h["id"] for h in hits] == [h["id"] for h in json.loads(cli.stdout)]
    text = (EXAMPLES / "104_excerpt_of_004.txt").read_text(encoding="utf-8")
    top = idx.similar(text, k=1)[0]
    assert top["id"] == "004_168295998306aa1f.txt" and top["label"] == "duplicate"
    with pytest.raises(simdex.SimdexError):
        simdex.Index.open(tmp_path / "not_an_index")


def test_embedding_releases_the_gil(embedder):
    texts = ["推动高质量发展，创新是核心动力和关键变量。" * 20] * 64
    ticks = 0
    done = threading.Event()

    def work():
        embedder.embed(texts)
        done.set()

    t = threading.Thread(target=work)
    start = time.time()
    t.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    elapsed = time.time() - start
    # The main thread kept running while the model worked: at least a tick per 5 ms.
    assert elapsed > 0.2 and ticks > elapsed / 0.005, (ticks, elapsed)


def _report_settings(out):
    """The settings `simdex report` shows for an output folder (the page's thresholds)."""
    r = simdex_cli("report", out)
    assert r.returncode == 0, r.stderr
    page = (out / "report.html").read_text(encoding="utf-8")
    start = page.index('"thresholds":') + len('"thresholds":')
    return json.JSONDecoder().raw_decode(page[start:])[0]


def test_dedup_with_an_output_folder_writes_what_the_cli_writes(tmp_path):
    """Python's dedup is the CLI's library call: the same files, explanations included, and
    the report shows the settings that produced them."""
    py, cli = tmp_path / "py", tmp_path / "cli"
    settings = {"threshold": 0.95, "removal_coverage": 0.85}
    r = simdex.dedup(EXAMPLES, out=py, **settings)
    assert simdex_cli("dedup", EXAMPLES, "--out", cli, "--threshold", "0.95", "--removal-coverage", "0.85").returncode == 0
    names = sorted(p.name for p in cli.iterdir())
    assert sorted(p.name for p in py.iterdir()) == names
    assert "explanations.jsonl" in names
    for name in names:
        if name != "summary.json":
            assert (py / name).read_bytes() == (cli / name).read_bytes(), name
    assert r["summary"]["lost_chars"] == json.loads((cli / "summary.json").read_text())["lost_chars"]
    for out in (py, cli):
        shown = _report_settings(out)
        assert shown["threshold"] == 0.95 and shown["removal_coverage"] == 0.85, shown


def test_every_cli_flag_is_a_keyword_checked_as_the_cli_checks_it(tmp_path):
    """dedup's keyword arguments are `simdex dedup`'s flags, parsed by the CLI's definitions:
    none is missing, a bad value gets the CLI's message, and a flag acts as on the CLI."""
    shown = simdex_cli("dedup", "--help").stdout
    flags = {f.replace("-", "_") for f in re.findall(r"--([a-z][a-z0-9-]+)", shown)} - {"help"}
    assert flags and flags <= simdex._FLAG_NAMES, flags - simdex._FLAG_NAMES
    with pytest.raises(simdex.SimdexError, match="invalid value 'high' for '--threshold"):
        simdex.dedup(EXAMPLES, threshold="high", semantic=False)
    records = [{"id": "short", "text": "一段文字。"}, {"id": "long", "text": "很长的文字。" * 40}]
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    r = simdex.dedup(records, semantic=False, max_record_bytes=100)
    cli = simdex_cli("dedup", jsonl, "--no-semantic", "--max-record-bytes", "100", "--out", tmp_path / "cli")
    assert cli.returncode == 0, cli.stderr
    rejected = [json.loads(l) for l in (tmp_path / "cli" / "rejected.jsonl").read_text(encoding="utf-8").splitlines()]
    assert r["kept"] == ["short"]
    assert [x["reason"] for x in r["rejected"]] == [x["reason"] for x in rejected] and len(rejected) == 1
    dry = simdex.dedup(EXAMPLES, out=tmp_path / "dry", dry_run=True, semantic=False)
    assert dry["summary"] is None and not (tmp_path / "dry").exists()


def test_every_library_setting_is_a_keyword_and_unknown_ones_are_errors():
    assert {"threshold", "removal_coverage", "min_coverage", "keep"} <= set(simdex.DEDUP_SETTING_DEFAULTS)
    assert simdex.dedup_settings() == simdex.DEDUP_SETTING_DEFAULTS
    # Named as the CLI's flags (aliases included), resolved by the CLI's definitions.
    settings = simdex.dedup_settings(removal_coverage=0.9, jaccard=0.7, keep_by="date")
    assert {k: v for k, v in settings.items() if settings[k] != simdex.DEDUP_SETTING_DEFAULTS[k]} == {
        "removal_coverage": 0.9,
        "jaccard_threshold": 0.7,
        "keep": {"field": "date"},
    }
    with pytest.raises(simdex.SimdexError, match="unknown dedup setting"):
        simdex.dedup_settings(treshold=0.9)
    with pytest.raises(simdex.SimdexError, match="invalid value 'high' for '--threshold"):
        simdex.dedup_settings(threshold="high")
