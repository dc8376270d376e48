"""The sale classifier on every labelled corpus, side by side, as shipped
(rules + text model): our own corpus, the four writers, the sandbox's
listings, and the real-derived corpus (real items only, and the items
written from the domain brief's shapes apart).

    .venv/bin/python bench/corpora_sales.py [--misses]

Figures for a model that has seen these sets in training; the honest
figure for unseen sellers is bench/cv_sales.py's leave-one-network-out.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.sales import classify  # noqa: E402


def corpora() -> dict[str, list[dict]]:
    data = ROOT / "tests" / "data"
    sets: dict[str, list[dict]] = {}
    for path in sorted(data.glob("sales_*.jsonl")):
        sets[path.name] = [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    sets["sandbox listings"] = [json.loads(l) for l in (ROOT / "crawler" / "sandbox" / "data" / "listings.jsonl")
                                .read_text(encoding="utf-8").splitlines() if l.strip()]
    real = [json.loads(l) for path in sorted((data / "real").glob("*.jsonl"))
            for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    sets["real (real pages)"] = [r for r in real if not str(r.get("source_kind", "")).startswith("written_")]
    sets["real (written)"] = [r for r in real if str(r.get("source_kind", "")).startswith("written_")]
    return sets


def score(rows: list[dict], show: bool) -> str:
    tp = fp = fn = tn = 0
    for r in rows:
        result = classify(r["text"], r.get("title"))
        label = int(r["label"])
        tp += result.flagged and label
        fp += result.flagged and not label
        fn += (not result.flagged) and label
        tn += (not result.flagged) and not label
        if show and result.flagged != bool(label):
            print(f"  {'漏报' if label else '误报'} {result.score:3d} {r.get('title', '')[:30]} | {r['text'][:70]}")
    p = f"{tp / (tp + fp):.3f}" if tp + fp else "  -  "
    rec = f"{tp / (tp + fn):.3f}" if tp + fn else "  -  "
    fpr = f"{fp / (fp + tn):.3f}" if fp + tn else "  -  "
    return f"{len(rows):5d}  {tp + fn:4d}  P {p}  R {rec}  FPR {fpr}  (tp {tp} fp {fp} fn {fn})"


def main() -> None:
    show = "--misses" in sys.argv
    for name, rows in corpora().items():
        if show:
            print(name)
        print(f"{name:24s} {score(rows, show)}")


if __name__ == "__main__":
    main()
