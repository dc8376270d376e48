"""ValidatePipeline: hostile items never reach the judge or the store."""
from __future__ import annotations

import logging
import re

from scrapy.exceptions import DropItem

log = logging.getLogger(__name__)

# Control characters other than newline and tab (one C-level pass, not a loop per character).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")
MAX_FIELD = {"title": 1_000, "text": 100_000, "seller": 200, "price": 50, "keyword": 200}


def clean_item(item: dict) -> dict:
    """Trim fields to their bounds and strip control characters; raises
    ValueError (Chinese message) when nothing usable is left."""
    if not item.get("url") or not str(item["url"]).startswith(("http://", "https://")):
        raise ValueError("缺少有效的链接")
    out = dict(item)
    for key, limit in MAX_FIELD.items():
        value = out.get(key)
        if value is None:
            continue
        out[key] = _CONTROL.sub("", str(value))[:limit]
    if out.get("kind", "listing") == "listing" and not (out.get("title") or "").strip() \
            and not (out.get("text") or "").strip():
        raise ValueError("标题和正文都为空")
    return out


class ValidatePipeline:
    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item, spider=None):
        try:
            return clean_item(dict(item))
        except ValueError as exc:
            self.stats.inc_value("certwatch/skipped/invalid_item")
            raise DropItem(f"无效条目：{exc}") from None
