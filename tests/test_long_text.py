"""Long pages: an ad posted as one reply under a long article is still found,
with the reasons it has alone, and a long article with no ad is not
flagged (pipelines/sales.py, the parts of a long text)."""
import json
from pathlib import Path

import pytest

from pipelines.sales import PART_CHARS, classify

DATA = Path(__file__).parent / "data"
TITLE = "特种作业操作证复审、补办和报考指南"
SALE_CODES = ("intent_", "verify_promise", "off_platform_contact", "evasive_contact", "price", "fake_site")


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def explainer() -> str:
    """About 9,000 characters of real-derived explainer and exam-guide
    paragraphs (no offer), one per line, as a long article reads."""
    paragraphs = [r["text"] for r in _rows(DATA / "real" / "negatives.jsonl")
                  if r["category"] in ("explainer", "exam_guide")]
    lines, size = [], 0
    for p in paragraphs:
        if size >= 9_000:
            break
        lines.append(p)
        size += len(p) + 1
    text = "\n".join(lines)
    assert len(text) >= 9_000
    return text


def _ad(path: Path, k: int = 0) -> str:
    row = [r for r in _rows(path) if r["label"] == 1][k]
    return (row["title"] + " " + row["text"]).split("\n")[0]


def _sale_reasons(result) -> list[tuple[str, str]]:
    return sorted((r["code"], r["evidence"]) for r in result.reasons if r["code"].startswith(SALE_CODES))


def test_long_explainer_without_an_ad_is_not_flagged(explainer):
    result = classify(explainer, TITLE)
    assert not result.flagged and result.score < 50
    assert not any(r["code"] == "long_text_part" for r in result.reasons)


@pytest.mark.parametrize("where", ["end", "middle"])
@pytest.mark.parametrize("ad_file, k", [("sales_corpus.jsonl", 0), ("real/written.jsonl", 0)])
def test_ad_buried_in_a_long_explainer_is_flagged_with_its_own_reasons(explainer, where, ad_file, k):
    ad = _ad(DATA / ad_file, k)
    assert len(ad) <= PART_CHARS
    alone = classify(ad)
    assert alone.flagged
    if where == "end":
        page = explainer + "\n" + ad
    else:
        cut = explainer.index("\n", len(explainer) // 2)
        page = explainer[:cut] + "\n" + ad + explainer[cut:]
    whole = classify(page, TITLE)
    assert whole.flagged
    assert whole.score == alone.score
    assert _sale_reasons(whole) == _sale_reasons(alone)
    assert whole.contacts == alone.contacts
    # The first reason points reviewers at the reply: its span in the page text they see.
    part = whole.reasons[0]
    assert part["code"] == "long_text_part"
    start = page.index(ad)
    assert f"正文第 {start + 1}–{start + len(ad)} 字" in part["label"], part["label"]
    assert f"正文共 {len(page)} 字" in part["label"]
    untitled = classify("  \n" + page).reasons[0]          # leading white space: still the page's own count
    assert f"正文第 {start + 4}–{start + 3 + len(ad)} 字" in untitled["label"], untitled["label"]
    assert part["evidence"] == ad[:80]
    for reason in whole.reasons[1:]:
        assert reason["evidence"] == "" or reason["evidence"] in ad or ":" in reason["evidence"]


def test_a_page_flagged_whole_keeps_its_whole_page_reasons(explainer):
    # A short listing page, or a long one that is an ad as a whole, is judged
    # as before: parts are asked only when the whole text is not flagged.
    ad = _ad(DATA / "sales_corpus.jsonl", 1)
    page = ad + "\n" + "\n".join([ad] * 30)
    assert classify(page).flagged
    assert not any(r["code"] == "long_text_part" for r in classify(page).reasons)
