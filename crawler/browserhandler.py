"""LazyPlaywrightHandler: scrapy-playwright's download handler, but
Playwright (its Node driver) and Chromium start on the first request that
renders (``meta["playwright"]``), not when the engine starts.

scrapy-playwright starts its driver for every handler it is registered as
(http and https) at engine start, used or not: ~120 MB of idle processes
for a sweep whose platforms are all plain HTTP. Requests without
``meta["playwright"]`` go through Scrapy's own HTTP/1.1 handler either way.
"""
from __future__ import annotations

import asyncio

from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler


class LazyPlaywrightHandler(ScrapyPlaywrightDownloadHandler):

    def __init__(self, crawler) -> None:
        super().__init__(crawler)
        self._start_lock = asyncio.Lock()
        self.started = False

    async def _maybe_launch_in_thread(self) -> None:
        """engine_started: nothing yet (see _start)."""

    def _engine_started(self):          # the pre-2.14 Scrapy signal handler
        return None

    async def _start(self) -> None:
        async with self._start_lock:
            if not self.started:
                await self._maybe_future_from_coro(self._launch())
                self.started = True
                self.stats.inc_value("certwatch/browser_started")   # the sweep record shows it

    async def download_request(self, request, spider=None):
        if request.meta.get("playwright") and not self.started:
            await self._start()
        return await super().download_request(request)
