"""SweepRecorder: every crawl is a row in ``sweeps`` with its stats.

When the command line made the sweep row (``CERTWATCH_SWEEP_ID``) it also
closes it, with the stats of all the crawls it ran; a plain ``scrapy crawl``
gets a row of its own here.
"""
from __future__ import annotations

from scrapy import signals

from pipelines import store

CLOSE_STATUS = {"finished": "finished", "shutdown": "interrupted"}


class SweepRecorder:
    def __init__(self, crawler):
        self.crawler = crawler
        self.db_path = crawler.settings.get("CERTWATCH_DB")
        self.owned = not crawler.settings.getint("CERTWATCH_SWEEP_ID", 0)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def spider_opened(self, spider):
        if not self.owned:
            return
        db = store.connect(self.db_path)
        try:
            store.mark_abandoned_sweeps(db)
            from crawler.sweep import run_kind
            self.crawler.certwatch_sweep_id = store.start_sweep(
                db, [spider.name], "sandbox" if self.crawler.settings.get("CERTWATCH_SANDBOX") else "real",
                kind=run_kind((spider.name,)))
        finally:
            db.close()

    def spider_closed(self, spider, reason):
        if not self.owned:
            return
        db = store.connect(self.db_path)
        try:
            store.finish_sweep(db, self.crawler.certwatch_sweep_id, CLOSE_STATUS.get(reason, "failed"),
                               self.crawler.stats.get_stats())
        finally:
            db.close()
