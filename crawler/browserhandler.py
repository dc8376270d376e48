"""LazyPlaywrightHandler: Scrapy's HTTP/1.1 handler, with scrapy-playwright's
handler made (imported, Playwright's Node driver and Chromium started) on
the first request that renders (``meta["playwright"]``), not when the engine
starts.

scrapy-playwright starts its driver for every handler it is registered as
(http and https) at engine start, used or not: ~120 MB of idle processes
for a sweep whose platforms are all plain HTTP; importing it alone costs
~10 MB and ~0.2 s CPU. Requests without ``meta["playwright"]`` go through
Scrapy's own HTTP/1.1 handler either way.
"""
from __future__ import annotations

import asyncio
import functools

from scrapy.core.downloader.handlers.http11 import HTTP11DownloadHandler


@functools.cache
def _browser_handler_class():
    from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

    class BrowserHandler(ScrapyPlaywrightDownloadHandler):
        """scrapy-playwright's handler, launched by LazyPlaywrightHandler."""

        async def _maybe_launch_in_thread(self) -> None:
            """engine_started: nothing (launched on the first rendering request)."""

        def _engine_started(self):          # the pre-2.14 Scrapy signal handler
            return None

    return BrowserHandler


class LazyPlaywrightHandler(HTTP11DownloadHandler):
    lazy = False

    def __init__(self, crawler) -> None:
        super().__init__(crawler=crawler)
        self._crawler_ref = crawler
        self._start_lock = asyncio.Lock()
        self.browser = None

    @property
    def started(self) -> bool:
        return self.browser is not None

    async def _start(self):
        async with self._start_lock:
            if self.browser is None:
                handler = _browser_handler_class()(self._crawler_ref)
                await handler._maybe_future_from_coro(handler._launch())
                self.browser = handler
                self._crawler_ref.stats.inc_value("certwatch/browser_started")   # the sweep record shows it
        return self.browser

    async def download_request(self, request, spider=None):
        if request.meta.get("playwright"):
            browser = self.browser or await self._start()
            return await browser.download_request(request)
        return await super().download_request(request)

    async def close(self) -> None:
        await super().close()
        if self.browser is not None:
            await self.browser.close()
