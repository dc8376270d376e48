"""SitePipeline: judge web-site items (search results, the sites spider)
as look-alike government query sites: host name, page, then WHOIS — asked
only when the name or the page already point at a fake, since WHOIS never
decides alone. Listings pass through untouched.

WHOIS answers are cached in the store (``whois_cache``). The network
exchange runs in a worker thread; the cache is read and written here, in
the crawl's thread, so the store sees one writer at a time."""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from keywords import load_yaml
from pipelines import lookalike, store, whois

log = logging.getLogger(__name__)

def whois_config(settings):
    """WHOIS configuration from the settings (in sandbox mode the sweep sets
    CERTWATCH_WHOIS_SERVERS to the sandbox's own WHOIS server; None when a
    sandbox sweep could not learn it: no WHOIS then, rather than real servers)."""
    if settings.get("CERTWATCH_SANDBOX") and not settings.get("CERTWATCH_WHOIS_SERVERS"):
        return None
    return whois.WhoisConfig.from_settings(settings)


def judge_page(item: dict) -> lookalike.Judgement:
    """Name and page of one fetched site (the requested host, or the host
    it redirected to when that looks worse)."""
    host = (urlsplit(item.get("url") or "").hostname or "").lower()
    j = lookalike.judge(host, item.get("html") or None)
    final = (urlsplit(item.get("final_url") or "").hostname or "").lower()
    if final and final != host:
        other = lookalike.judge(final, item.get("html") or None)
        if other.verdict != "official" and other.points > j.points:
            j = other
    return j


def needs_whois(j: lookalike.Judgement) -> bool:
    if j.verdict == "official" or j.bad_host:
        return False
    return j.points >= float(load_yaml("lookalike_rules.yaml")["whois"]["gate"])


class SitePipeline:
    def __init__(self, client, db_path: str, stats):
        self.client = client
        self.db_path = db_path
        self.stats = stats
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        s = crawler.settings
        client = None
        if s.getbool("CERTWATCH_WHOIS_ENABLED", True):
            config = whois_config(s)
            if config is not None:
                client = whois.WhoisClient(config, db_path=None, stats=crawler.stats)
        return cls(client, s.get("CERTWATCH_DB"), crawler.stats)

    def open_spider(self, spider=None):
        if self.client is not None and self.db_path:
            self.db = store.connect(self.db_path)

    def close_spider(self, spider=None):
        if self.db is not None:
            self.db.close()
            self.db = None

    async def _whois(self, domain: str) -> dict:
        """The client's cache rules, with the pipeline's own connection (the
        network query runs in a thread; SQLite stays on this one)."""
        cached = self.client.cached(self.db, domain) if self.db is not None else None
        if cached is not None:
            return cached
        facts, raw = await asyncio.to_thread(self.client.lookup_uncached, domain)
        if self.db is not None:
            self.client.remember(self.db, domain, facts, raw)
        return facts

    async def process_item(self, item, spider=None):
        if item.get("kind") != "site":
            return item
        j = judge_page(item)
        if self.client is not None and needs_whois(j):
            facts = await self._whois(j.domain or j.host)
            whois.apply(j, facts, None)
            lookalike.finish(j)
        item.update({"verdict": j.verdict, "score": j.score, "reasons": j.reasons,
                     "impersonates": j.impersonates})
        if j.whois:
            item["whois"] = j.whois
        self.stats.inc_value("sites/checked")
        self.stats.inc_value(f"sites/verdict/{j.verdict}")
        if j.flagged:
            self.stats.inc_value("sites/flagged")
            log.info("可疑网站（%s，%s 分）：%s", j.verdict, j.score, item.get("url"))
        return item
