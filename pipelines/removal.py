"""Is a listing page a removal notice? Shared by sweeps and rechecks."""
from __future__ import annotations

GENERIC_MARKERS = ("该信息已删除", "该商品已下架", "商品已下架", "信息已删除", "该帖子已被删除",
                   "页面不存在", "内容已被删除", "该内容已被屏蔽")


def removal_reason(status: int, text: str, markers: list[str] | tuple = (),
                   statuses: list[int] | tuple = (404, 410)) -> str | None:
    """A Chinese reason when the page says the listing is gone, else None.
    Only the start of the page is read (notices are short)."""
    if status in statuses:
        return f"HTTP {status}"
    head = (text or "")[:4000]
    for marker in list(markers) + list(GENERIC_MARKERS):
        if marker and marker in head and len(head) < 3000:
            return f"页面提示“{marker}”"
    return None
