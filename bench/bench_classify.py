"""Classify 100,000 listings (generated from the labelled corpus) in one
process; print listings/s (overall, and per round), the dictionary/rule
loading time (separately) and peak memory.

    .venv/bin/python bench/bench_classify.py [--n 100000] [--rounds 40] [--rules-only]

``--sweep``: CPU per text by length (300 … 30,000 characters) for two kinds
of text — a long page (explainer paragraphs of the real-derived corpus with
one sale ad as the last reply) and an ad farm (corpus listings one after
another) — beside ``jieba.lcut`` on the same texts, each as a ratio to the
600-character texts (process CPU time, the least of interleaved rounds: on
a shared machine load only ever adds time).

    .venv/bin/python bench/bench_classify.py --sweep [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
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


def generate(n: int) -> list[tuple[str, str]]:
    """(title, text) of ``n`` listings made from the corpus (seed 42). No two
    are identical: sentences shuffled, a random tail (sellers' "random-letter
    tails"), a number."""
    base = corpus()
    rng = random.Random(42)
    listings = []
    for i in range(n):
        row = rng.choice(base)
        parts = row["text"].split("，")
        rng.shuffle(parts)
        tail = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(0, 8)))
        listings.append((row.get("title", ""), "，".join(parts) + f" {tail} {i}"))
    return listings


SWEEP = ((300, 40), (600, 40), (1_000, 30), (3_000, 20), (10_000, 10), (30_000, 5))   # (characters, texts)
PAGE_KINDS = ("explainer", "exam_guide", "training", "qa", "gov")


def _jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sweep_texts(length: int, count: int, kind: str, rng: random.Random) -> list[tuple[str, str]]:
    """(title, text) of ``count`` texts of ``length`` characters. ``page``:
    explainer paragraphs (real-derived negatives) and one sale ad of the
    corpus as its last paragraph, a spam reply under a long article;
    ``ads``: corpus listings (sales and hard negatives) one per line."""
    corpus_rows = _jsonl(ROOT / "tests/data/sales_corpus.jsonl")
    if kind == "page":
        real = _jsonl(ROOT / "tests/data/real/negatives.jsonl") + _jsonl(ROOT / "tests/data/real/more.jsonl")
        paragraphs = [r["text"] for r in real if r.get("category") in PAGE_KINDS]
        ads = [r["title"] + " " + r["text"] for r in corpus_rows if r["label"] == 1]
    out = []
    for _ in range(count):
        if kind == "page":
            title = rng.choice(real)["title"]
            ad = rng.choice(ads)
            parts, size = [], len(ad) + 1
            while size < length:
                parts.append(rng.choice(paragraphs))
                size += len(parts[-1]) + 1
            body = "\n".join(parts)[:max(0, length - len(ad) - 1)]
            out.append((title, (body + "\n" + ad) if body else ad[:length]))
        else:
            title = rng.choice(corpus_rows)["title"]
            parts, size = [], 0
            while size < length:
                row = rng.choice(corpus_rows)
                parts.append(row["title"] + " " + row["text"])
                size += len(parts[-1]) + 1
            out.append((title, "\n".join(parts)[:length]))
    return out


def sweep(rounds: int) -> None:
    """CPU per text by length, beside jieba.lcut on the same texts."""
    from pipelines import segment
    from pipelines.normalize import MAX_CHARS
    from pipelines.sales import classify
    tk = segment.tokenizer()
    classify("预热", "预热")
    tk.lcut("预热")
    rng = random.Random(42)

    def cpu(fn, items) -> float:
        t0 = time.process_time()
        for item in items:
            fn(item)
        return (time.process_time() - t0) / len(items) * 1e6

    print(f"CPU-µs per text, least of {rounds} interleaved rounds; ×600 = the ratio to the 600-character "
          f"texts of the same kind (texts past {MAX_CHARS:,} characters are cut there by the classifier)")
    for kind in ("page", "ads"):
        rows = []
        for length, count in SWEEP:
            texts = sweep_texts(length, count, kind, rng)
            joined = [f"{t}\n{x}" for t, x in texts]
            ours, anchor = [], []
            for _ in range(rounds):
                ours.append(cpu(lambda tx: classify(tx[1], tx[0]), texts))
                anchor.append(cpu(tk.lcut, joined))
            rows.append((length, count, min(ours), min(anchor)))
        base = next(r for r in rows if r[0] == 600)
        label = {"page": "long page (explainer + one ad at the end)", "ads": "ad farm (corpus listings)"}[kind]
        print(f"\n{label}")
        print(f"{'chars':>7} {'texts':>5} {'classify':>10} {'×600':>6} {'jieba.lcut':>11} {'×600':>6} "
              f"{'classify/jieba':>15}")
        for length, count, mine, lcut in rows:
            print(f"{length:>7,} {count:>5} {mine:>10,.0f} {mine / base[2]:>6.2f} {lcut:>11,.0f} "
                  f"{lcut / base[3]:>6.2f} {mine / lcut:>15.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--rules-only", action="store_true", help="without the text model")
    ap.add_argument("--sweep", action="store_true", help="CPU per text by length, beside jieba.lcut")
    args = ap.parse_args()
    if args.sweep:
        sweep(args.rounds if args.rounds != 40 else 5)
        return
    listings = generate(args.n)

    t0 = time.perf_counter()
    from pipelines.sales import classify, model
    from pipelines.normalize import tables, pinyin_of
    from pipelines import salesmodel, segment
    model(); tables(); pinyin_of(); segment.tokenizer(); salesmodel.model()
    classify("预热", "预热")
    load = time.perf_counter() - t0

    # Rounds of equal size, each between two runs of a fixed calibration
    # loop. On a shared virtual machine the host's load changes the speed
    # of our core by up to 2x within seconds: the overall figure is what
    # this run got; the calibration loop shows how much of a core that was.
    options = {"text_model": None} if args.rules_only else {}
    rounds = max(1, min(args.rounds, args.n))
    size = -(-args.n // rounds)
    flagged = 0
    chars = 0
    per_round = []          # (listings/s, calibration before, after)
    busy = 0.0
    cal_before = calibrate()
    for k in range(0, args.n, size):
        batch = listings[k:k + size]
        r0 = time.perf_counter()
        for title, text in batch:
            flagged += classify(text, title, **options).flagged
            chars += len(text) + len(title)
        took = time.perf_counter() - r0
        busy += took
        cal_after = calibrate()
        per_round.append((len(batch) / took, cal_before, cal_after))
        cal_before = cal_after
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fastest = min(min(b, a) for _, b, a in per_round)
    rates = [rate for rate, _, _ in per_round]
    print(f"listings: {args.n}  avg chars: {chars / args.n:.0f}")
    print(f"load (rules, tables, pinyin map, jieba dictionary, look-alike registry, first call): {load:.2f} s")
    print(f"classify: {busy:.1f} s  →  {args.n / busy:,.0f} listings/s overall  ({chars / busy / 1e6:.2f} M chars/s)")
    print(f"rounds of {size:,}: median {statistics.median(rates):,.0f}/s, best {max(rates):,.0f}/s, "
          f"worst {min(rates):,.0f}/s")
    cals = [c for _, b, a in per_round for c in (b, a)]
    print(f"calibration loop (fixed work): fastest {fastest * 1000:.0f} ms, median "
          f"{statistics.median(cals) * 1000:.0f} ms, slowest {max(cals) * 1000:.0f} ms")
    share = fastest / statistics.median(cals)
    print(f"this process got ≈ {share:.0%} of an undisturbed core (fastest / median calibration); "
          f"scaled to a whole core: ≈ {args.n / busy / share:,.0f} listings/s (an estimate)")
    print(f"flagged: {flagged} ({flagged / args.n:.1%})")
    print(f"peak memory (RSS): {peak:.0f} MB")


def calibrate() -> float:
    """Seconds of a fixed pure-Python loop (dict updates; ~40 ms on an
    undisturbed core of the development machine)."""
    t0 = time.perf_counter()
    d: dict = {}
    for i in range(300_000):
        d[i % 1000] = d.get(i % 1000, 0) + i
    return time.perf_counter() - t0

if __name__ == "__main__":
    main()
