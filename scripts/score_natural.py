"""Scores any dedup tool's removals on the hand-labelled natural Sina pairs, the way
`simdex eval natural` scores simdex: two records are merged when they end in the same
cluster (a removed record belongs to the cluster of the record it was removed for, followed
to a kept record); reported are recall on DUP pairs and the share of the other pairs merged,
over all pairs and over the pairs not flagged hard.

usage: score_natural.py DUPLICATES.jsonl LABELS.jsonl [LABELS.jsonl ...]
DUPLICATES.jsonl: one line per removed record with `id` and `duplicate_of` (simdex's
duplicates.jsonl, or a peer's in the same shape: ../shared/bench/peer_*.py write it)."""
import json
import sys


def kept_of(x, dup_of):
    seen = set()
    while x in dup_of and x not in seen:
        seen.add(x)
        x = dup_of[x]
    return x


def main():
    dups, labels = sys.argv[1], sys.argv[2:]
    dup_of = {}
    for line in open(dups, encoding="utf-8"):
        if line.strip():
            d = json.loads(line)
            dup_of[str(d["id"])] = str(d["duplicate_of"])
    removed = len(dup_of)
    counts = {"all": [0, 0, 0, 0], "not_hard": [0, 0, 0, 0]}  # dup, found, other, merged
    for path in labels:
        for line in open(path, encoding="utf-8"):
            if not line.strip():
                continue
            p = json.loads(line)
            a, b = str(p["a"]), str(p["b"])
            merged = kept_of(a, dup_of) == kept_of(b, dup_of)
            for name in ["all"] + ([] if p.get("hard") else ["not_hard"]):
                c = counts[name]
                if p["label"] == "DUP":
                    c[0] += 1
                    c[1] += merged
                else:
                    c[2] += 1
                    c[3] += merged
    out = [f"removals={removed}"]
    for name, (dup, found, other, merged) in counts.items():
        out.append(
            f"{name}: recall {found / max(1, dup):.3f} ({found}/{dup}) merged {merged / max(1, other):.3f} ({merged}/{other})"
        )
    print("  ".join(out))


if __name__ == "__main__":
    main()
