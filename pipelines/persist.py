"""StorePipeline: write judged items to the store in batches.

Each batch is one transaction, so a killed crawl leaves the database
consistent (at most the last unflushed batch is lost, and the next sweep
picks those listings up again without duplicates).
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit


from pipelines import store

log = logging.getLogger(__name__)


class StorePipeline:
    def __init__(self, db_path: str, batch: int, stats, crawler):
        self.db_path = db_path
        self.batch_size = batch
        self.stats = stats
        self.crawler = crawler
        self.pending: list[dict] = []
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("CERTWATCH_DB"), crawler.settings.getint("CERTWATCH_STORE_BATCH", 50),
                   crawler.stats, crawler)

    def open_spider(self, spider=None):
        self.db = store.connect(self.db_path)

    def close_spider(self, spider=None):
        self.flush()
        if self.db is not None:
            self.db.close()
            self.db = None

    def sweep_id(self) -> int | None:
        return self.crawler.settings.getint("CERTWATCH_SWEEP_ID", 0) or \
            getattr(self.crawler, "certwatch_sweep_id", None)

    def process_item(self, item, spider=None):
        if item.get("kind") == "site":
            self.record_site(item)
            return item
        self.pending.append(item)
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item

    def record_site(self, item: dict) -> None:
        host = (urlsplit(item["url"]).hostname or "").lower()
        from pipelines.contacts import extractor
        parts = extractor()(host)
        domain = parts.top_domain_under_public_suffix or host
        site_id = store.record_checked_site(self.db, {
            "domain": domain, "host": host, "url": item["url"], "final_url": item.get("final_url"),
            "http_status": item.get("http_status"), "title": item.get("title"),
            "source": item.get("source", "search"),
            **({k: item[k] for k in ("verdict", "score", "reasons", "impersonates", "whois") if k in item}),
        })
        for finding_id in item.get("finding_ids") or ():   # listings linking here (sites spider)
            store.link_finding_site(self.db, int(finding_id), site_id, item["url"])
        self.stats.inc_value("certwatch/sites_recorded")

    def flush(self) -> None:
        if not self.pending or self.db is None:
            return
        batch, self.pending = self.pending, []
        recorded = store.record_findings(self.db, batch, self.sweep_id())
        self.stats.inc_value("certwatch/stored", len(recorded))
        self.stats.inc_value("certwatch/new_findings", sum(1 for r in recorded if r.created))
