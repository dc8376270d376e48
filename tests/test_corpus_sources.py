"""The real-derived corpus (tests/data/real/) stays honest: every item names
its source page, its kind and the network that posted it; no network
dominates; and no item comes from the sources kept out for the independent
check (../shared/eval/heldout_sources.txt, committed as
tests/heldout_sources.txt so a clean clone checks it too)."""
from __future__ import annotations

import collections
import json
from pathlib import Path

from helpers import ROOT

REAL = Path(ROOT) / "tests" / "data" / "real"
HELDOUT = Path(ROOT) / "tests" / "heldout_sources.txt"
SHARED = Path(ROOT).parent / "shared" / "eval" / "heldout_sources.txt"
KINDS = {"spam_network", "issue_tracker", "b2b", "forum", "tieba", "blog_comment", "qa", "news", "training",
         "exam_guide", "gov", "explainer", "other_spam", "tool_page", "job", "written_from_real",
         "written_from_domain"}
MAX_PER_NETWORK = 10


def _items() -> list[tuple[str, int, dict]]:
    out = []
    for path in sorted(REAL.glob("*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                out.append((path.name, n, json.loads(line)))
    return out


def _heldout() -> tuple[set[str], tuple[str, ...]]:
    lines = [l.strip() for l in HELDOUT.read_text(encoding="utf-8").splitlines()]
    lines = [l for l in lines if l and not l.startswith("#")]
    return {l for l in lines if not l.endswith("/")}, tuple(l for l in lines if l.endswith("/"))


def is_heldout(url: str, exact: set[str], prefixes: tuple[str, ...]) -> bool:
    return url in exact or url.startswith(prefixes)


def test_heldout_list_is_the_shared_one():
    exact, prefixes = _heldout()
    assert len(exact) + len(prefixes) > 100
    if SHARED.exists():        # in a workplace checkout; a clean clone has only the committed copy
        assert HELDOUT.read_text(encoding="utf-8") == SHARED.read_text(encoding="utf-8")


def test_the_matcher_honours_prefixes_and_exact_lines():
    exact, prefixes = {"http://a.example/x.html"}, ("https://github.com/owner/repo/",)
    assert is_heldout("https://github.com/owner/repo/issues/7", exact, prefixes)
    assert is_heldout("http://a.example/x.html", exact, prefixes)
    assert not is_heldout("http://a.example/x.html?y=1", exact, prefixes)
    assert not is_heldout("https://github.com/owner/repository/issues/7", exact, prefixes)


def test_no_corpus_item_comes_from_a_heldout_source():
    exact, prefixes = _heldout()
    hits = [f"{f}:{n} {item.get('source_url')}" for f, n, item in _items()
            if is_heldout(str(item.get("source_url") or ""), exact, prefixes)]
    # any URL anywhere in the test data counts, not only source_url
    for path in (Path(ROOT) / "tests" / "data").rglob("*.jsonl"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for word in line.replace('"', " ").split():
                if word.startswith(("http://", "https://")) and is_heldout(word, exact, prefixes):
                    hits.append(f"{path.name}:{n} {word}")
    assert not hits, "\n".join(hits)


def test_every_item_says_where_it_comes_from():
    items = _items()
    assert len(items) >= 500
    bad = []
    for f, n, item in items:
        for key in ("title", "text", "label", "source_url", "source_kind", "network"):
            if key not in item:
                bad.append(f"{f}:{n} lacks {key}")
        if item.get("source_kind") not in KINDS:
            bad.append(f"{f}:{n} unknown source_kind {item.get('source_kind')!r}")
        if item.get("label") not in (0, 1):
            bad.append(f"{f}:{n} label {item.get('label')!r}")
        written = str(item.get("source_kind")).startswith("written_")
        if not written and not str(item.get("source_url")).startswith(("http://", "https://")):
            bad.append(f"{f}:{n} a real item needs the page's URL")
    assert not bad, "\n".join(bad[:30])
    real_negatives = sum(1 for _, _, i in items if i["label"] == 0 and not i["source_kind"].startswith("written_"))
    assert real_negatives >= 350


def test_no_network_dominates_and_no_text_repeats():
    items = _items()
    per = collections.Counter(item["network"] for _, _, item in items)
    assert max(per.values()) <= MAX_PER_NETWORK, per.most_common(3)
    texts = collections.Counter(item["text"] for _, _, item in items)
    assert max(texts.values()) == 1, [t for t, c in texts.items() if c > 1][:3]
