"""Golden file for the classifier: the exact output of ``classify`` and
``normalize`` over the labelled corpora (tests/data/*.jsonl, the sandbox's
listings) and generated long texts (up to past normalize.MAX_CHARS, with
characters whose folding changes the length), so a speed change can be
shown to change nothing.

    .venv/bin/python bench/golden_classify.py write /tmp/golden.jsonl   # before the change
    .venv/bin/python bench/golden_classify.py check /tmp/golden.jsonl   # after: exit 1 on any difference

The golden file is data of one rules version (keywords/*.yaml, the text
model): rebuild it when those change; it stays out of git. Also prints the
cost per listing by text length (µs; median of 5 runs per length bucket).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Characters that change length when folded (NFKC expansions, ligatures,
# zero-width removals), evasion separators and traditional forms.
ODD = ["ﬁ", "㎏", "①", "⑴", "㈠", "\u200b", "\u200d", "\ufeff", "丨", "★", "·", "乄", "證", "電", "ｖｘ", "ＶＸ",
       "Ⅻ", "½", "™", "…", "㍿", "ﾃﾞ", "\ud800"]


def corpus_texts() -> list[tuple[str, str]]:
    rows = []
    paths = sorted((ROOT / "tests/data").rglob("*.jsonl")) + [ROOT / "crawler/sandbox/data/listings.jsonl"]
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                if "text" in row or "title" in row:
                    rows.append((str(row.get("title") or ""), str(row.get("text") or "")))
    return rows


def long_texts(base: list[tuple[str, str]], rng: random.Random) -> list[tuple[str, str]]:
    """Listings of 600 … 25,000 characters made of corpus texts, filler and odd characters."""
    out = []
    filler = "床前明月光疑是地上霜举头望明月低头思故乡abcdefghij。"
    for target in (600, 1_000, 3_000, 10_000, 10_000, 20_000, 25_000):
        for k in range(12):
            parts, size = [], 0
            while size < target:
                title, text = rng.choice(base)
                piece = text
                if k % 3 == 1:          # evasion: odd characters sprinkled in
                    piece = "".join(c + (rng.choice(ODD) if rng.random() < 0.05 else "") for c in piece)
                if k % 3 == 2:          # filler around the ad
                    piece = filler * rng.randint(1, 5) + piece
                parts.append(piece)
                size += len(piece)
            out.append((rng.choice(base)[0], "，".join(parts)[:target]))
    return out


def inputs() -> list[tuple[str, str]]:
    base = corpus_texts()
    return base + long_texts(base, random.Random(17))


def outputs(rows: list[tuple[str, str]]):
    from pipelines.normalize import normalize
    from pipelines.sales import classify
    for title, text in rows:
        result = classify(text, title).as_dict()
        norm = normalize(text)
        yield json.dumps({"result": result, "norm": norm.text,
                          "origin": hashlib.sha256(json.dumps(norm.origin).encode()).hexdigest(),
                          "truncated": norm.truncated}, ensure_ascii=False, sort_keys=True)


def timing() -> None:
    """Cost per generated listing by its length."""
    from pipelines.sales import classify
    buckets: dict[int, list] = {}
    for title, text in long_texts(corpus_texts(), random.Random(17)):
        buckets.setdefault(len(text), []).append((title, text))
    base = None
    for key in sorted(buckets):
        items = buckets[key]
        runs = []
        for _ in range(5):
            t0 = time.process_time()          # CPU time: steadier than wall time on a shared machine
            for title, text in items:
                classify(text, title)
            runs.append((time.process_time() - t0) / len(items) * 1e6)
        med = statistics.median(runs)
        if base is None:
            base = med
        ratio = f"  ({med / base:.2f}× the 600-character bucket)" if base else ""
        print(f"{key:>6} chars: {len(items):3d} listings, {med:8.0f} CPU-µs each{ratio}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["write", "check", "time"])
    ap.add_argument("path", nargs="?", default="")
    args = ap.parse_args()
    if args.action == "time":
        timing()
        return 0
    rows = inputs()
    if args.action == "write":
        tmp = args.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for line in outputs(rows):
                fh.write(line + "\n")
        Path(tmp).replace(args.path)
        print(f"wrote {len(rows)} outputs to {args.path}")
        return 0
    with open(args.path, encoding="utf-8") as fh:
        golden = [line.rstrip("\n") for line in fh]
    if len(golden) != len(rows):
        print(f"golden has {len(golden)} lines, inputs are {len(rows)}: rebuild it")
        return 1
    bad = 0
    for k, (line, want) in enumerate(zip(outputs(rows), golden)):
        if line != want:
            bad += 1
            if bad <= 3:
                print(f"differs at input {k} ({len(rows[k][1])} chars):\n  got  {line[:400]}\n  want {want[:400]}")
    print(f"{len(rows)} inputs, {bad} differ")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
