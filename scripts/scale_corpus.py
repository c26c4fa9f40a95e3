#!/usr/bin/env python3
"""Builds a corpus of N records from the text of P Sina articles, for the scale benchmark
(scripts/scale_bench.sh). Evaluation data: reads ../shared/eval, writes outside the project.

Every record's text is one sentence per line, each sentence taken whole from a pool article,
so that a record's passages are sentences the embedding cache already holds once the pool has
been embedded (`pool.jsonl`, the P articles cut the same way): the benchmark then measures the
pass, not the model, at sizes no session can embed. The duplicate structure is planted and real:
  mix      (80 %)  contiguous runs of 20-45 % of the sentences of three pool articles (so two
                   mixes that draw on the same article share a part of it: a partial pair,
                   never a duplicate; each pool article feeds about 3N/P mixes);
  copy     ( 5 %)  an earlier record verbatim (an exact copy);
  excerpt  ( 5 %)  a run of 30-70 % of an earlier record's sentences (removed only if the
                   kept record holds it, which it does);
  edited   ( 5 %)  an earlier record with one sentence dropped and one repeated (near-exact);
  shuffled ( 5 %)  an earlier record's sentences in another order (same text, other passages).
usage: scale_corpus.py ARTICLES.jsonl.gz POOL_SIZE RECORDS SEED OUT_DIR
writes OUT_DIR/pool.jsonl (the P articles) and OUT_DIR/records-N.jsonl."""
import gzip, json, os, random, re, sys

arts, pool_n, n, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
os.makedirs(out, exist_ok=True)
END = re.compile(r"(?<=[。！？])(?![”」』）])")


def sentences(text):
    out = []
    for line in text.splitlines():
        for s in END.split(line):
            s = s.strip()
            if len(s) >= 6:
                out.append(s)
    return out


pool = []
with gzip.open(arts, "rt", encoding="utf-8") as f:
    for line in f:
        a = json.loads(line)
        s = sentences(a["text"])
        if len(s) >= 4:
            pool.append((a["id"], a["title"], s))
        if len(pool) == pool_n:
            break

pool_path = os.path.join(out, "pool.jsonl")
if not os.path.exists(pool_path):
    with open(pool_path, "w", encoding="utf-8") as f:
        for i, t, s in pool:
            f.write(json.dumps({"id": i, "title": t, "text": "\n".join(s)}, ensure_ascii=False) + "\n")

rng = random.Random(seed)


def run(s, lo, hi):
    k = max(1, round(len(s) * rng.uniform(lo, hi)))
    start = rng.randrange(0, len(s) - k + 1)
    return s[start:start + k]


records = []  # (title, sentences)
kinds = {}
with open(os.path.join(out, f"records-{n}.jsonl"), "w", encoding="utf-8") as f:
    for r in range(n):
        roll = rng.random()
        if records and roll < 0.20:
            t, base = records[rng.randrange(len(records))]
            if roll < 0.05:
                kind, s = "copy", list(base)
            elif roll < 0.10:
                kind, s = "excerpt", run(base, 0.3, 0.7)
            elif roll < 0.15:
                kind, s = "edited", list(base)
                if len(s) > 2:
                    s.pop(rng.randrange(len(s)))
                    s.insert(rng.randrange(len(s)), s[rng.randrange(len(s))])
            else:
                kind, s = "shuffled", rng.sample(base, len(base))
        else:
            a, b, c = rng.sample(range(len(pool)), 3)
            kind, t = "mix", pool[a][1]
            s = run(pool[a][2], 0.2, 0.45) + run(pool[b][2], 0.2, 0.45) + run(pool[c][2], 0.2, 0.45)
        kinds[kind] = kinds.get(kind, 0) + 1
        records.append((t, s))
        f.write(json.dumps({"id": f"scale-{r:07d}", "title": t, "text": "\n".join(s)}, ensure_ascii=False) + "\n")
print(json.dumps({"records": n, "pool": len(pool), "kinds": kinds}))
