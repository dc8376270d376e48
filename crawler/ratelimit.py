"""RateLimitMiddleware: a platform's own rate-limit headers are obeyed.

APIs say when to come back: ``retry-after`` (seconds or an HTTP date) on a
403/429/503, or ``x-ratelimit-remaining: 0`` with ``x-ratelimit-reset``
(epoch seconds; GitHub). The host is then paused — its next requests wait
(in ``process_request``) until that time — and a refused request is sent
again (at most twice), as long as the wait is within
``CERTWATCH_RATE_LIMIT_MAX_WAIT`` seconds; a longer wait gives the refusal
up to the health check (blocked). Stats: ``certwatch/rate_limited/<p>``,
``certwatch/rate_limit_wait/<p>`` (seconds waited).
"""
from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

MAX_RETRIES = 2
SECONDARY_WAIT = 60.0      # GitHub: a 403/429 with quota left is a secondary limit


def _header(headers, name: str) -> str:
    value = headers.get(name)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return (value or "").strip()


def wait_seconds(status: int, headers, now: float | None = None) -> float | None:
    """How long the server asks us to wait (None: it does not)."""
    now = time.time() if now is None else now
    retry_after = _header(headers, "Retry-After")
    if retry_after and status in (403, 429, 503):
        if retry_after.isdigit():
            return float(retry_after)
        try:
            return max(0.0, parsedate_to_datetime(retry_after).timestamp() - now)
        except (TypeError, ValueError, IndexError):
            pass
    remaining, reset = _header(headers, "X-RateLimit-Remaining"), _header(headers, "X-RateLimit-Reset")
    if remaining == "0" and reset.isdigit():
        return max(0.0, int(reset) - now) + 0.5
    if status in (403, 429) and remaining.isdigit():
        return SECONDARY_WAIT
    return None


class RateLimitMiddleware:
    def __init__(self, stats, max_wait: float):
        self.stats = stats
        self.max_wait = max_wait
        self.until: dict[str, float] = {}        # host -> monotonic time it may be asked again

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats, crawler.settings.getfloat("CERTWATCH_RATE_LIMIT_MAX_WAIT", 300.0))

    async def process_request(self, request, spider=None):
        host = urlsplit(request.url).hostname or ""
        wait = self.until.get(host, 0.0) - time.monotonic()
        if wait > 0 and request.meta.get("profile"):
            self.stats.inc_value(f"certwatch/rate_limit_wait/{request.meta['profile']}", round(wait, 3))
            await asyncio.sleep(wait)
        return None

    def process_response(self, request, response, spider=None):
        profile = request.meta.get("profile")
        if not profile:
            return response
        wait = wait_seconds(response.status, response.headers)
        if wait is None:
            return response
        host = urlsplit(request.url).hostname or ""
        if wait <= self.max_wait:
            self.until[host] = max(self.until.get(host, 0.0), time.monotonic() + wait)
        if response.status not in (403, 429, 503):
            return response              # quota used up: pause before the next one
        retries = request.meta.get("certwatch_rate_retries", 0)
        if wait > self.max_wait or retries >= MAX_RETRIES:
            log.warning("平台 %s 限制访问频率，需等待 %.0f 秒，放弃本次请求：%s", profile, wait, request.url)
            return response
        self.stats.inc_value(f"certwatch/rate_limited/{profile}")
        log.info("平台 %s 限制访问频率，%.1f 秒后重试：%s", profile, wait, request.url)
        return request.replace(dont_filter=True, meta={**request.meta, "certwatch_rate_retries": retries + 1})
