"""What the review pages show, as plain data the templates escape:
highlighted text segments, the queue's snippet per row, page numbers
and the label of an item.

Nothing here builds HTML: every scraped string reaches the page only
through Jinja's autoescaping.
"""
from __future__ import annotations


SNIPPET_BEFORE = 30           # characters of context before the evidence
SNIPPET_AFTER = 60            # … and after it
SNIPPET_PLAIN = 90            # the text's start when no evidence is found in it


def highlight(text: str, needles: list[tuple[str, str]]) -> list[dict]:
    """Split ``text`` into segments, marking every occurrence of a reason's
    evidence span. Segments are escaped by the template."""
    if not text:
        return []
    marks: list[tuple[int, int, str]] = []
    for needle, label in needles:
        if not needle or len(needle) > 200:
            continue
        start = 0
        while len(marks) < 500:
            i = text.find(needle, start)
            if i < 0:
                break
            marks.append((i, i + len(needle), label))
            start = i + len(needle)
    if not marks:
        return [{"text": text, "mark": False, "label": ""}]
    marks.sort()
    merged: list[list] = []
    for a, b, label in marks:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            if label not in merged[-1][2]:
                merged[-1][2].append(label)
        else:
            merged.append([a, b, [label]])
    out, pos = [], 0
    for a, b, names in merged:
        if a > pos:
            out.append({"text": text[pos:a], "mark": False, "label": ""})
        out.append({"text": text[a:b], "mark": True, "label": "；".join(names)})
        pos = b
    if pos < len(text):
        out.append({"text": text[pos:], "mark": False, "label": ""})
    return out


def needles(reasons) -> list[tuple[str, str]]:
    """(evidence text, label) of each reason, for highlight()."""
    out = []
    for r in reasons if isinstance(reasons, list) else []:
        if not isinstance(r, dict):
            continue
        ev = str(r.get("evidence") or "")
        label = str(r.get("label") or r.get("code") or "")
        if ev:
            out.append((ev, label))
            if ":" in ev and r.get("code") == "off_platform_contact":
                out.append((ev.split(":", 1)[1], label))
    return out


def _weight(r: dict) -> float:
    try:
        return float(r.get("weight") or 0)
    except (TypeError, ValueError):
        return 0.0


def snippet(row: dict) -> list[dict]:
    """The flagged text around the strongest reason found in it, as
    segments (evidence marked); a site's strongest reason and its evidence."""
    reasons = [r for r in row.get("reasons") or [] if isinstance(r, dict)]
    reasons.sort(key=_weight, reverse=True)
    text = " ".join(str(row.get("text") or "").split())
    if row.get("kind") == "site" or not text:
        for r in reasons:
            if _weight(r) > 0:
                label = str(r.get("label") or r.get("code") or "")
                ev = str(r.get("evidence") or "")[:80]
                return [{"text": label + ("：" if ev else ""), "mark": False, "label": ""},
                        *([{"text": ev, "mark": True, "label": label}] if ev else [])]
        return []
    for r in reasons:
        ev = str(r.get("evidence") or "")
        if ":" in ev and r.get("code") == "off_platform_contact":
            ev = ev.split(":", 1)[1]
        at = text.find(ev) if ev and len(ev) <= 200 else -1
        if at < 0:
            continue
        start, end = max(0, at - SNIPPET_BEFORE), min(len(text), at + len(ev) + SNIPPET_AFTER)
        segs = highlight(text[start:end], needles(reasons))
        if start > 0:
            segs.insert(0, {"text": "…", "mark": False, "label": ""})
        if end < len(text):
            segs.append({"text": "…", "mark": False, "label": ""})
        return segs
    cut = text[:SNIPPET_PLAIN]
    return [{"text": cut + ("…" if len(text) > len(cut) else ""), "mark": False, "label": ""}]


def page_numbers(page: int, pages: int, around: int = 2) -> list[int | None]:
    """Page numbers to link: the first, the last and ``around`` either side
    of the current one; None where numbers are left out (…)."""
    wanted = {1, pages, *range(page - around, page + around + 1)}
    out: list[int | None] = []
    for n in sorted(n for n in wanted if 1 <= n <= pages):
        if out and out[-1] is not None and n > out[-1] + 1:
            out.append(None)
        out.append(n)
    return out


def item_label(kind: str, item_id: int) -> str:
    return f"{'信息' if kind == 'finding' else '网站'} #{item_id}"
