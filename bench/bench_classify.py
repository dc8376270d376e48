"""Classify 100,000 listings (generated from the labelled corpus) in one
process; print listings/s, the dictionary/rule loading time (separately)
and peak memory.

    .venv/bin/python bench/bench_classify.py [--n 100000]
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def corpus() -> list[dict]:
    rows = []
    for path in (ROOT / "tests/data/sales_corpus.jsonl", ROOT / "crawler/sandbox/data/listings.jsonl"):
        with open(path, encoding="utf-8") as fh:
            rows += [json.loads(line) for line in fh if line.strip()]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    base = corpus()
    rng = random.Random(42)
    # Vary the listings so no two are identical: shuffle sentences, add a
    # random tail (sellers' "random-letter tails"), change numbers.
    listings = []
    for i in range(args.n):
        row = rng.choice(base)
        parts = row["text"].split("，")
        rng.shuffle(parts)
        tail = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(0, 8)))
        listings.append((row.get("title", ""), "，".join(parts) + f" {tail} {i}"))

    t0 = time.perf_counter()
    from pipelines.sales import classify, model
    from pipelines.normalize import tables, pinyin_of
    from pipelines import segment
    model(); tables(); pinyin_of(); segment.tokenizer()
    classify("预热", "预热")
    load = time.perf_counter() - t0

    t1 = time.perf_counter()
    c1 = time.process_time()
    flagged = 0
    chars = 0
    for title, text in listings:
        flagged += classify(text, title).flagged
        chars += len(text) + len(title)
    dt = time.perf_counter() - t1
    cpu = time.process_time() - c1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"listings: {args.n}  avg chars: {chars / args.n:.0f}")
    print(f"load (rules, tables, pinyin map, jieba dictionary, look-alike registry, first call): {load:.2f} s")
    print(f"classify: {dt:.1f} s  →  {args.n / dt:,.0f} listings/s  ({chars / dt / 1e6:.2f} M chars/s)")
    print(f"per CPU second (fair when the machine is shared): {args.n / cpu:,.0f} listings/s")
    print(f"flagged: {flagged} ({flagged / args.n:.1%})")
    print(f"peak memory (RSS): {peak:.0f} MB")


if __name__ == "__main__":
    main()
