"""A corpus of generated variants of the five seed reports (examples/news/000-004), for the
equivalence tests: windows of consecutive sentences as bases, and variants of them (exact
copies, copies with other white space, character edits, excerpts, reordered sentences,
concatenations), plus a few bad lines. Deterministic for a seed; no evaluation data."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SEEDS = sorted((ROOT / "examples" / "news").glob("00[0-4]_*.txt"))


def seed_sentences() -> list[list[str]]:
    out = []
    for p in SEEDS:
        text = p.read_text(encoding="utf-8")
        sents = [s.strip() for s in re.split(r"(?<=[。！？])|\n", text)]
        out.append([s for s in sents if len(s) >= 12])
    return out


def edit(text: str, rng: random.Random, share: float) -> str:
    chars = list(text)
    for _ in range(max(1, int(len(chars) * share))):
        i = rng.randrange(len(chars))
        chars[i] = rng.choice("的了在是和有这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做必战先回则任取据处理府研")
    return "".join(chars)


def records(n: int = 1000, seed: int = 7) -> list[str]:
    """`n` JSONL lines (plus 4 bad lines), each a base or a variant of one."""
    rng = random.Random(seed)
    seeds = seed_sentences()
    bases = []
    for i in range(n * 2 // 5):
        s = rng.randrange(len(seeds))
        sents = seeds[s]
        k = rng.randint(2, 4)
        start = rng.randrange(max(1, len(sents) - k))
        bases.append(sents[start : start + k])
    lines = []
    for i, b in enumerate(bases):
        lines.append({"id": f"b{i:04}", "text": "".join(b), "date": f"2024-01-{1 + i % 28:02}"})
    i = 0
    while len(lines) < n:
        b = bases[rng.randrange(len(bases))]
        text = "".join(b)
        kind = rng.choice(["copy", "spaces", "edit", "edit_more", "excerpt", "reorder", "concat"])
        if kind == "copy":
            v = text
        elif kind == "spaces":
            v = "\n".join(b) + "  "
        elif kind == "edit":
            v = edit(text, rng, 0.02)
        elif kind == "edit_more":
            v = edit(text, rng, 0.12)
        elif kind == "excerpt":
            v = "".join(b[: max(1, len(b) // 2)])
        elif kind == "reorder":
            bb = list(b)
            rng.shuffle(bb)
            v = "".join(bb)
        else:
            v = text + "".join(bases[rng.randrange(len(bases))])
        lines.append({"id": f"v{i:04}_{kind}", "text": v, "date": f"2023-12-{1 + i % 28:02}"})
        i += 1
    out = [json.dumps(r, ensure_ascii=False) for r in lines]
    # Bad lines, each rejected with its file and line: malformed, missing text, repeated id.
    out.insert(10, '{"id": "broken", "text": ')
    out.insert(20, '{"id": "no_text"}')
    out.insert(30, json.dumps({"id": "b0001", "text": "a repeated id"}))
    out.insert(40, json.dumps({"id": 12345, "text": ""}))
    return out


def write(path: Path, n: int = 1000, seed: int = 7, files: int = 1) -> list[Path]:
    """Writes the corpus as `files` JSONL files (path, or path_1, path_2, ... when several)."""
    lines = records(n, seed)
    if files == 1:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return [path]
    out = []
    per = -(-len(lines) // files)
    for f in range(files):
        p = path.with_name(f"{path.stem}_{f + 1}{path.suffix}")
        p.write_text("\n".join(lines[f * per : (f + 1) * per]) + "\n", encoding="utf-8")
        out.append(p)
    return out
