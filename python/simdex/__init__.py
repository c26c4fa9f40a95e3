"""simdex from Python: the embedding model, the dedup pass and the index's "find similar",
the same library the `simdex` command runs (Rust, through `simdex._native`). Every call
releases the GIL while it works; errors are `simdex.SimdexError` with the CLI's message.

The dedup pass on Ray is `python -m simdex.ray dedup` (see `simdex/ray.py`).
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from . import _native
from ._native import SimdexError

__all__ = ["Embedder", "dedup", "Index", "SimdexError", "dedup_settings", "DEDUP_SETTING_DEFAULTS"]

# The dedup settings and their defaults, from the library's one list (DedupOptions).
DEDUP_SETTING_DEFAULTS: dict = json.loads(_native.dedup_setting_defaults())
# The keyword arguments of `dedup` and `dedup_settings`: `simdex dedup`'s flags by name,
# from the CLI's own definitions (aliases such as `jaccard` included).
_FLAG_NAMES = frozenset(json.loads(_native.dedup_flag_names()))


def _flags_argv(named: Mapping[str, Any]) -> list:
    """`simdex dedup`'s flags from keyword arguments by name: `True` is a flag without a
    value, `False` or `None` leaves it out; an unknown name is an error."""
    argv = []
    for name, value in named.items():
        if name not in _FLAG_NAMES:
            raise SimdexError(f"unknown dedup setting {name!r}")
        if value is None or value is False:
            continue
        flag = "--" + name.replace("_", "-")
        argv += [flag] if value is True else [flag, os.fspath(value) if isinstance(value, os.PathLike) else str(value)]
    return argv


def dedup_settings(**flags: Any) -> dict:
    """The library's dedup settings (every one, defaults filled in) that `simdex dedup`
    takes from these flags, given by name as to `dedup` (`threshold=0.95`, `jaccard=0.7`,
    `keep="longest"`, `keep_by="date"`): parsed by the CLI's own definitions, so a bad name
    or value gets the CLI's message. What `summary.json` records as `options`."""
    return json.loads(_native.dedup_options(_flags_argv(flags)))


class Embedder:
    """The embedding model (multilingual-e5-small by default), loaded once.

    `model_dir=None` takes the first source that has the model, as the CLI does
    (`SIMDEX_MODEL_DIR`, `models/`, the Hugging Face cache)."""

    def __init__(self, model_dir: str | os.PathLike | None = None, precision: str = "auto"):
        self._inner = _native.NativeEmbedder(
            None if model_dir is None else os.fspath(model_dir), precision
        )

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Iterable[str], role: str = "passage") -> np.ndarray:
        """Unit vectors of whole texts (each truncated at the model's length), float32,
        shape (n, dim). `role` is "passage" or "query" (the e5 prefixes)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        buf, n, dim = self._inner.embed(texts, role)
        return np.frombuffer(buf, dtype="<f4").reshape(n, dim).copy()


Records = Union[str, os.PathLike, Sequence[Union[str, os.PathLike]], Iterable[Mapping[str, Any]]]


def _paths_or_records(data: Records):
    if isinstance(data, (str, os.PathLike)):
        return [os.fspath(data)], None
    data = list(data)
    if data and all(isinstance(d, (str, os.PathLike)) for d in data):
        return [os.fspath(d) for d in data], None
    lines = []
    for i, d in enumerate(data):
        if not isinstance(d, Mapping):
            raise SimdexError(f"<records>:{i + 1}: a record must be a mapping, not {type(d).__name__}")
        lines.append(json.dumps(dict(d), ensure_ascii=False))
    return [], ("\n".join(lines) + "\n").encode("utf-8")


def dedup(
    data: Records,
    *,
    out: str | os.PathLike | None = None,
    model_dir: str | os.PathLike | None = None,
    semantic: bool = True,
    clean: bool = True,
    **flags: Any,
) -> dict:
    """A dedup pass with the same decisions as `simdex dedup`: its own library call, with
    its flags as keyword arguments by name (`threshold=0.95`, `removal_coverage=0.85`,
    `keep="longest"`, `keep_by="date"`, `max_record_bytes=1_000_000`, `on_error="stop"`,
    `precision="f32"`, `no_cache=True`, `against="INDEX"`, `report=True`, `format="parquet"`,
    `strip_repeated_passages=True`, `dry_run=True`, ...: every flag of `simdex dedup --help`,
    parsed and checked by the CLI's own definitions, so a bad value gets the CLI's message).
    A flag without a value is `True`; `False` or `None` leaves it out. `semantic=False` is
    `--no-semantic`, `clean=False` `--no-clean`, `model_dir` `--model`.

    `data` is a path (file or folder), a list of paths, or records as mappings with `id`
    and `text` (record N is located as `<records>:N` in errors and rejects). With `out`, the
    output folder is the one `simdex dedup --out` writes, explanations included; without it
    nothing is written.

    Returns {"kept": [ids], "duplicates": [duplicates.jsonl rows], "clusters": [...],
    "rejected": [...], "related": [related.jsonl rows], "summary": summary.json or None}."""
    paths, records = _paths_or_records(data)
    named = dict(flags)
    named["out"] = out
    named["model"] = named.get("model") or model_dir
    named["no_semantic"] = named.get("no_semantic") or not semantic
    named["no_clean"] = named.get("no_clean") or not clean
    argv = _flags_argv(named)
    result = _native.dedup_records(records, [*argv, "--", *paths])
    return json.loads(result)


class Index:
    """A persisted simdex index (built by `simdex index build` or `simdex ingest`)."""

    def __init__(self, path: str | os.PathLike, model_dir: str | os.PathLike | None = None):
        self.path = os.fspath(path)
        self.model_dir = None if model_dir is None else os.fspath(model_dir)

    @classmethod
    def open(cls, path: str | os.PathLike, model_dir: str | os.PathLike | None = None) -> "Index":
        """Opens an index; an error if it is not one."""
        idx = cls(path, model_dir)
        _native.index_contains(idx.path, "")
        return idx

    def __contains__(self, record_id: str) -> bool:
        return _native.index_contains(self.path, record_id)

    def similar(self, text_or_id: str, k: int = 10, level: str = "article") -> list:
        """The k nearest indexed records to an indexed record's id (when the index has that
        id) or else to a text, each {"id", "score", "label"} with the dedup rules' label
        ("duplicate", "related" or ""), best first."""
        by_id = text_or_id in self
        hits = _native.similar(self.path, text_or_id, k=k, by_id=by_id, level=level, model_dir=self.model_dir)
        return json.loads(hits)
