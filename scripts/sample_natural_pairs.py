#!/usr/bin/env python3
"""Samples natural Sina article pairs for hand labelling (issue 11), stratified by article
cosine band and character 5-gram overlap band. Reads ../shared/eval only; writes pair ids
and scores (never article text) to --out, and, with --texts, a reading sheet outside the
project for the labellers.

Usage: python3 scripts/sample_natural_pairs.py --eval ../shared/eval --seed 1 --per-cell 12 \
         --out /tmp/pairs_a.jsonl [--exclude earlier.jsonl] [--texts /tmp/sheet_a]
"""
import argparse, gzip, json, random, re
import numpy as np

BANDS = [(0.99, 1.01), (0.98, 0.99), (0.97, 0.98), (0.96, 0.97), (0.95, 0.96), (0.94, 0.95), (0.90, 0.94)]
LEX = [("jac>=0.5", lambda j, c: j >= 0.5), ("cont>=0.5", lambda j, c: j < 0.5 and c >= 0.5),
       ("0.2<=cont<0.5", lambda j, c: j < 0.5 and 0.2 <= c < 0.5), ("cont<0.2", lambda j, c: c < 0.2)]

def grams(t):
    t = re.sub(r"\s+", "", t)
    return {t[i:i + 5] for i in range(max(0, len(t) - 4))}

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", default="../shared/eval")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-cell", type=int, default=12)
    ap.add_argument("--out", required=True)
    ap.add_argument("--exclude", action="append", default=[])
    ap.add_argument("--texts")
    a = ap.parse_args()
    d = a.eval + "/sina_news_2018/"
    ids = json.load(open(d + "e5_small_passage_f16.ids.json"))
    v = np.load(d + "e5_small_passage_f16.npy").astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    arts = {}
    for line in gzip.open(d + "articles.jsonl.gz", "rt"):
        r = json.loads(line)
        arts[r["id"]] = r
    excl = set()
    for f in a.exclude:
        for line in open(f):
            r = json.loads(line)
            excl.add((r["a"], r["b"]))
    rng = random.Random(a.seed)
    n = len(ids)
    cand = {b: [] for b in range(len(BANDS))}
    for s in range(0, n, 1024):
        sims = v[s:s + 1024] @ v.T
        for r in range(sims.shape[0]):
            i = s + r
            row = sims[r, i + 1:]
            js = np.nonzero(row >= 0.90)[0]
            for j in js:
                c = float(row[j]); j = int(j) + i + 1
                for b, (lo, hi) in enumerate(BANDS):
                    if lo <= c < hi:
                        cand[b].append((i, j, c)); break
    gcache = {}
    def g(i):
        if i not in gcache:
            r = arts[ids[i]]
            gcache[i] = grams(r["text"])
        return gcache[i]
    out = []
    for b, pairs in cand.items():
        rng.shuffle(pairs)
        cells = {name: [] for name, _ in LEX}
        # the widest band holds 1.4M pairs, nearly all with no shared text: scan enough to
        # fill the lexical cells that exist there
        for (i, j, c) in pairs[:200000]:
            if (ids[i], ids[j]) in excl: continue
            A, B = g(i), g(j)
            if not A or not B: continue
            inter = len(A & B)
            jac = inter / len(A | B); cont = inter / min(len(A), len(B))
            for name, f in LEX:
                if f(jac, cont):
                    if len(cells[name]) < a.per_cell:
                        cells[name].append(dict(a=ids[i], b=ids[j], cosine=round(c, 4),
                            jaccard=round(jac, 4), containment=round(cont, 4),
                            band=f"{BANDS[b][0]:.2f}", lex=name))
                    break
            if all(len(x) >= a.per_cell for x in cells.values()): break
        for x in cells.values(): out.extend(x)
    with open(a.out, "w") as f:
        for r in out: f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(len(out), "pairs ->", a.out)
    if a.texts:
        import os
        os.makedirs(a.texts, exist_ok=True)
        for k, r in enumerate(out):
            with open(f"{a.texts}/{k:03d}_{r['a']}_{r['b']}.txt", "w") as f:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                for side in ("a", "b"):
                    x = arts[r[side]]
                    f.write(f"\n===== {side.upper()}: {x['id']} [{x['category']}] {x['title']}\n{x['text']}\n")

main()
