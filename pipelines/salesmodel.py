"""A small text model beside the sale rules: logistic regression over the
character bigrams of the normalized text.

Why: the rules (pipelines/sales.py) explain themselves and survive evasion,
but soft sells are phrased anew by every seller ("解决上岗的问题", "懂的来，
工地上用的那种"). Measured by leaving one writer's listings out at a time
(``bench/cv_sales.py``), the model adds what the rules miss without costing
precision. Its part in a score is one reason, "文本模型", whose evidence is
the n-grams that pushed hardest.

The weights are data (``keywords/sales_model.json``), trained by
``certwatch train sales`` on the labelled listings shipped in ``tests/data``;
the file records the SHA-256 of what it was trained on, and a test fails
when the listings change without retraining. Training is plain Python (no
scikit-learn): seeded SGD, so the same data give the same weights.
"""
from __future__ import annotations

import functools
import hashlib
import heapq
import json
import math
import random
from dataclasses import dataclass
from operator import add
from pathlib import Path

from keywords import data_path

MODEL_FILE = "sales_model.json"
NGRAMS = (2,)              # trigrams added nothing in cross-validation and cost time
EPOCHS = 15
RATE = 0.2
L2 = 1e-4
SEED = 0
MIN_WEIGHT = 0.02          # smaller weights are dropped from the shipped file
# The model reads the first 600 characters: it was trained on listings of
# 15–600 characters, and its sum over a long text would grow with length.
MAX_CHARS = 600


@dataclass(frozen=True, slots=True)
class Model:
    bias: float
    alpha: float            # the model's logit counts alpha times in the score
    sha256: str             # of the training listings
    rows: int
    finder: object          # an automaton over the weighted bigrams (fastre.automaton), or None
    items: tuple            # (weight, bigram) per automaton word


def grams(text: str) -> set[str]:
    """The features of a normalized text: its distinct character bigrams."""
    return set(map(add, text, text[1:]))


def train(rows: list[tuple[str, int]], epochs: int = EPOCHS, rate: float = RATE, l2: float = L2,
          seed: int = SEED) -> tuple[float, dict]:
    """(bias, weights) from (normalized text, label) pairs."""
    # Sorted features and math.fsum: the same weights whatever the
    # interpreter's string hash seed (set order) is.
    feats = [(sorted(grams(text)), label) for text, label in rows]
    w: dict[str, float] = {}
    b = 0.0
    order = list(range(len(feats)))
    rng = random.Random(seed)
    decay = 1 - rate * l2
    for _ in range(epochs):
        rng.shuffle(order)
        for i in order:
            g, label = feats[i]
            z = b + math.fsum([w.get(x, 0.0) for x in g])
            p = 1 / (1 + math.exp(-max(-30.0, min(30.0, z))))
            err = p - label
            b -= rate * err
            for x in g:
                w[x] = w.get(x, 0.0) * decay - rate * err
    return b, w


def labelled_rows(paths: list[str]) -> tuple[list[dict], str]:
    """Rows of labelled JSON-lines files, and the SHA-256 of their bytes."""
    digest = hashlib.sha256()
    rows = []
    for path in sorted(paths):
        data = Path(path).read_bytes()
        digest.update(data)
        for line in data.decode("utf-8").splitlines():
            if line.strip():
                obj = json.loads(line)
                if isinstance(obj.get("text"), str) and obj.get("label") in (0, 1):
                    rows.append(obj)
    return rows, digest.hexdigest()


def training_files() -> list[str]:
    """The labelled listings the shipped text model is trained on (a checkout's
    tests/data/sales_*.jsonl, the real-derived corpus tests/data/real/*.jsonl
    and the sandbox's listings)."""
    root = Path(__file__).resolve().parent.parent
    data = root / "tests" / "data"
    return [str(p) for p in sorted(data.glob("sales_*.jsonl"))] + \
        [str(p) for p in sorted((data / "real").glob("*.jsonl"))] + \
        [str(root / "crawler" / "sandbox" / "data" / "listings.jsonl")]


def fit(paths: list[str], alpha: float) -> dict:
    """Train on labelled files; the JSON document of ``keywords/sales_model.json``."""
    from pipelines.normalize import normalize
    rows, sha = labelled_rows(paths)
    pairs = [(normalize(((r.get("title") or "").strip() + "\n" + r["text"]).strip()).text[:MAX_CHARS],
              r["label"]) for r in rows]
    bias, weights = train(pairs)
    kept = {g: round(v, 4) for g, v in sorted(weights.items()) if abs(v) >= MIN_WEIGHT}
    return {"about": "certwatch sale classifier: character n-gram logistic regression "
                     "(pipelines/salesmodel.py); retrain with `certwatch train sales`",
            "ngrams": list(NGRAMS), "epochs": EPOCHS, "rate": RATE, "l2": L2, "seed": SEED,
            "alpha": alpha, "bias": round(bias, 4), "rows": len(rows),
            "trained_on": [Path(p).name for p in sorted(paths)], "sha256": sha, "weights": kept}


@functools.cache
def model() -> Model | None:
    """The shipped model, or None when there is none (rules alone)."""
    path = data_path(MODEL_FILE)
    if not path.is_file():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    return build(float(doc["bias"]), doc["weights"], float(doc["alpha"]), doc["sha256"], int(doc["rows"]))


def build(bias: float, weights: dict, alpha: float, sha256: str = "", rows: int = 0) -> Model:
    """A model ready for :func:`contribution`."""
    from pipelines.fastre import automaton
    words = sorted(weights)
    return Model(bias=bias, alpha=alpha, sha256=sha256, rows=rows,
                 finder=automaton(words) if words else None,
                 items=tuple((weights[g], g) for g in words))


def contribution(text: str, m: Model) -> tuple[float, list[tuple[int, int, float]]]:
    """(alpha × logit, the three bigrams that pushed hardest in its direction
    as (start, end, weight)). The weighted bigrams present are found by an
    Aho–Corasick automaton (fewer instructions than a dict lookup per
    bigram). Inside the classifier a call still costs ~150 µs, its tables
    having left the cache since the last call, so the classifier asks only
    where its rules are unsure (``text_model_band`` in sales_rules.yaml)."""
    text = text[:MAX_CHARS]
    items = m.items
    found = [items[i] for i in {index for index, _, _ in m.finder.find_matches_as_indexes(text, overlapping=True)}] \
        if m.finder is not None and text else []
    z = m.bias + math.fsum([v for v, _ in found])      # exact: independent of set order
    up = z >= 0
    top = []
    for v, g in (heapq.nlargest if up else heapq.nsmallest)(3, found):   # = sorted(...)[:3]
        if (v > 0) != up:
            break
        pos = text.find(g)
        top.append((pos, pos + 2, v))
    return m.alpha * z, top
