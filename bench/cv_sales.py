"""How the sale classifier does on a writer it has never seen: leave one
writer's labelled listings out, train the text model on the others, and
score the left-out listings with the rules alone, the rules plus the model
(at several weights, asked where the rules are unsure, as in classify) and
the model alone.

    .venv/bin/python bench/cv_sales.py

The rules were widened while looking at some of these sets (see README), so
their own column is optimistic for those; the model's columns are not: it
never sees the writer it is scored on.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.salesmodel import training_files  # noqa: E402
from pipelines import salesmodel  # noqa: E402
from pipelines.normalize import normalize  # noqa: E402
from pipelines.sales import classify, model  # noqa: E402

ALPHAS = (0.0, 1.0, 1.5, 2.0)


def main() -> None:
    sets = {}
    for path in training_files():
        rows, _ = salesmodel.labelled_rows([path])
        for r in rows:
            r["_text"] = normalize(((r.get("title") or "").strip() + "\n" + r["text"]).strip()).text
            score = classify(r["text"], r.get("title"), text_model=None).score
            r["_rules"] = math.log(max(score, 0.5) / max(100 - score, 0.5))
        sets[Path(path).name] = rows
    low, high = model().model_band       # the model is asked only where the rules are unsure
    totals = {a: [0, 0, 0] for a in (*ALPHAS, "model")}      # tp, fp, fn
    print(f"{'left out':28s}" + "".join(f"{'rules' if a == 0 else ('model' if a == 'model' else f'+{a}×model'):>16s}"
                                        for a in totals))
    for name, held in sets.items():
        train = [(r["_text"], r["label"]) for other, rows in sets.items() if other != name for r in rows]
        bias, weights = salesmodel.train(train)
        m = salesmodel.build(bias, weights, alpha=1.0, rows=len(train))
        cells = []
        for a in totals:
            tp = fp = fn = 0
            for r in held:
                z, _ = salesmodel.contribution(r["_text"], m)
                unsure = low <= r["_rules"] <= high
                logit = z if a == "model" else r["_rules"] + (a * z if unsure else 0.0)
                flagged = logit >= 0
                tp += flagged and r["label"] == 1
                fp += flagged and r["label"] == 0
                fn += (not flagged) and r["label"] == 1
            t = totals[a]
            t[0] += tp; t[1] += fp; t[2] += fn
            cells.append(f"P {tp / max(1, tp + fp):.2f} R {tp / max(1, tp + fn):.2f}")
        print(f"{name + f' ({len(held)})':28s}" + "".join(f"{c:>16s}" for c in cells))
    print(f"{'all, left out in turn':28s}" + "".join(
        f"{f'P {tp / max(1, tp + fp):.3f} R {tp / max(1, tp + fn):.3f}':>16s}" for tp, fp, fn in totals.values()))


if __name__ == "__main__":
    main()
