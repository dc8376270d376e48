"""Removal rechecks (复查): when an item is due, and what a fetched page says.

``decide`` is a plain function shared by the ``recheck`` spider and tests:

* removed — HTTP 404/410 (the profile's ``removed.status``), the platform's
  removal page (``removed.markers`` and the generic markers of
  pipelines.removal), or a redirect to a page where the listing is gone;
* still_present — the listing's content is still there (similar to the
  stored title/text);
* unknown — blocked (403/429/captcha), timeouts, connection errors, 5xx, or a
  page that neither shows the listing nor says it is gone. Unknown never
  counts as removed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from pipelines.removal import removal_reason
from pipelines.store import parse_utc

DEFAULT_DAYS = (1, 3, 7)
FORCED = "手动"
SIMILAR = 60.0          # rapidfuzz ratio (0-100) at which the listing counts as still there
BLOCK_MARKERS = ("验证码", "安全验证", "访问过于频繁", "请完成验证", "captcha", "人机验证", "访问受限")


@dataclass(frozen=True)
class Decision:
    result: str                 # removed / still_present / unknown
    reason: str
    similarity: float | None = None


def parse_days(text: str | list | tuple) -> tuple[int, ...]:
    """'1,3,7' → (1, 3, 7); raises ValueError with a Chinese message."""
    parts = text if isinstance(text, (list, tuple)) else str(text).replace("，", ",").split(",")
    try:
        days = sorted({int(str(p).strip()) for p in parts if str(p).strip()})
    except ValueError:
        raise ValueError(f"复查间隔应为逗号分隔的天数（如 1,3,7），而不是 {text!r}") from None
    if not days or days[0] < 0 or days[-1] > 365:
        raise ValueError(f"复查间隔应为 0–365 之间的天数，而不是 {text!r}")
    return tuple(days)


def due_label(sent_at: str, done: list[str], days: tuple[int, ...], now: datetime | None = None) -> str | None:
    """The check due now ('T+3'), or None. When several are overdue only the
    latest is due (checking T+1 and T+3 at the same moment says nothing more)."""
    sent = parse_utc(sent_at)
    if sent is None:
        return None
    now = now or datetime.now(timezone.utc)
    due = [d for d in days if sent + timedelta(days=d) <= now]
    if not due:
        return None
    label = f"T+{due[-1]}"
    if label in done or any(f"T+{d}" in done for d in days if d > due[-1]):
        return None
    return label


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


def similarity(stored: str, seen: str) -> float:
    from rapidfuzz import fuzz
    a, b = _flat(stored)[:5000], _flat(seen)[:20000]
    if not a or not b:
        return 0.0
    return float(max(fuzz.ratio(a, b), fuzz.partial_ratio(a, b) if len(a) <= len(b) else 0.0))


def decide(status: int | None, text: str = "", *, error: str = "", redirected: bool = False,
           markers=(), statuses=(404, 410), stored_title: str = "", stored_text: str = "",
           seen_title: str = "", seen_text: str = "") -> Decision:
    if error:
        return Decision("unknown", f"无法访问：{error}"[:300])
    if status is None:
        return Decision("unknown", "没有响应")
    if status in statuses:
        return Decision("removed", f"HTTP {status}" + ("（跳转后）" if redirected else ""))
    if status in (401, 403, 407, 429, 451):
        return Decision("unknown", f"HTTP {status}，疑似被拦截或限制访问")
    if status >= 500:
        return Decision("unknown", f"HTTP {status}，平台服务器错误")
    if status >= 400:
        return Decision("unknown", f"HTTP {status}")
    reason = removal_reason(status, text, list(markers), list(statuses))
    if reason:
        return Decision("removed", ("跳转至提示页，" if redirected else "") + reason)
    stored = (stored_title or "") + (stored_text or "")
    seen = (seen_title or "") + (seen_text or "")
    score = similarity(stored, seen or text)
    title_there = bool(_flat(stored_title)) and _flat(stored_title) in _flat(seen or text)
    if score >= SIMILAR or title_there:
        return Decision("still_present", f"内容仍在（相似度 {score:.0f}%）", score)
    head = (text or "")[:5000].lower()
    if any(m in head for m in BLOCK_MARKERS):
        return Decision("unknown", "页面要求验证，疑似被拦截", score)
    if redirected:
        return Decision("removed", f"跳转至其他页面，原内容已不在（相似度 {score:.0f}%）", score)
    return Decision("unknown", f"页面内容与原信息不符（相似度 {score:.0f}%），需人工核对", score)
