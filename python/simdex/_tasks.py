"""The one task the Ray driver schedules: run a stage of `simdex::dedup::staged` on one
shard or partition. In its own importable module so that Ray ships it by reference (the
driver runs as `__main__`) and the library's exception class is the workers' own."""

from __future__ import annotations

import json
import resource

from . import SimdexError, _native


def run_stage(work: str, name: str, part: int) -> dict:
    """The stage's report; a stage's own error (bad input, say) comes back as
    {"error": message}, so the driver reports the library's message as the CLI does (crashes
    and lost workers are Ray's to retry)."""
    try:
        report = json.loads(_native.staged_stage(work, name, part))
    except SimdexError as e:
        return {"error": str(e)}
    report["max_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return report
