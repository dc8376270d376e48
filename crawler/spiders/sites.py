"""``sites``: visit candidate web sites and judge them as look-alike
government query sites (pipelines.sitejudge.SitePipeline).

Candidates: (a) URLs and domains found in stored listings (the listing →
site link is recorded), (d) tips entered by staff (`certwatch submit`),
(c) flattened permutations of the official hosts, kept only when the
resolver says they exist. Search results (b) come through the ``search``
spider and the same pipeline."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import scrapy
from scrapy.http import TextResponse

from pipelines.profiles import load_profiles
from crawler.resolver import existing, resolver_for
from crawler.spiders import answered_from
from pipelines import store
from pipelines.lookalike import score_host

log = logging.getLogger(__name__)

class SitesSpider(scrapy.Spider):
    name = "sites"

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        spider = super().from_crawler(crawler, *args, **kwargs)
        s = crawler.settings
        spider.db_path = s.get("CERTWATCH_DB")
        spider.sandbox = s.get("CERTWATCH_SANDBOX") or ""
        spider.sources = {x.strip() for x in str(s.get("CERTWATCH_SITES_SOURCES") or "").split(",") if x.strip()}
        spider.limit = s.getint("CERTWATCH_SITES_LIMIT", 2000)
        spider.tlds = [t.strip() for t in str(s.get("CERTWATCH_SITES_TLDS") or "cn,com").split(",") if t.strip()]
        try:
            profiles = load_profiles(s.get("CERTWATCH_PROFILES_DIR") or None)
            spider.platform_hosts = {h for p in profiles.values() for h in getattr(p, "hosts", [])}
        except Exception as exc:        # a bad extra profile must not stop site checks
            log.warning("平台配置加载失败：%s", exc)
            spider.platform_hosts = set()
        return spider

    def _add(self, cands: dict, host: str, url: str, source: str, finding_id=None) -> None:
        j = score_host(host)
        stats = self.crawler.stats
        if j.bad_host:
            stats.inc_value("sites/skipped/invalid_host")
            log.info("跳过无效主机名：%r", host[:80])
            return
        if j.verdict == "official" or j.host in self.platform_hosts:
            stats.inc_value("sites/skipped/official_or_platform")
            return
        c = cands.setdefault(j.host, {"url": url, "source": source, "finding_ids": []})
        if finding_id is not None and finding_id not in c["finding_ids"]:
            c["finding_ids"].append(finding_id)

    async def start(self):
        stats = self.crawler.stats
        cands: dict[str, dict] = {}
        db = store.connect(self.db_path)
        try:
            if "findings" in self.sources:
                for row in store.linked_hosts_of_findings(db):
                    self._add(cands, row["host"], row["url"], "listing", row["finding_id"])
            if "tips" in self.sources:
                for row in store.unchecked_sites(db):
                    self._add(cands, row["host"] or row["domain"], row["url"] or f"http://{row['domain']}/",
                              row["source"] or "tip")
        finally:
            db.close()
        if "generated" in self.sources and self.limit > 0:
            import asyncio
            from pipelines.candidates import generate
            generated = await asyncio.to_thread(generate, self.tlds, self.limit)
            stats.set_value("sites/generated", len(generated))
            found = await existing(resolver_for(self.sandbox), [h for h in generated if h not in cands])
            stats.set_value("sites/generated_existing", len(found))
            for host in found:
                self._add(cands, host, f"http://{host}/", "generated")
        stats.set_value("sites/candidates", len(cands))
        for host, c in cands.items():
            url = c["url"] if c["url"].startswith(("http://", "https://")) else f"http://{host}/"
            c["url"] = url
            yield scrapy.Request(url, callback=self.parse_site, errback=self.failed, dont_filter=True,
                                 meta={"candidate": c, "handle_httpstatus_all": True})

    def parse_site(self, response):
        c = response.meta["candidate"]
        if response.status >= 400 and urlsplit(response.url).path not in ("", "/") \
                and not response.meta.get("root_tried"):
            # The linked page is gone or hidden: look at the site's front page.
            root = f"{urlsplit(response.url).scheme}://{urlsplit(response.url).netloc}/"
            yield scrapy.Request(root, callback=self.parse_site, errback=self.failed, dont_filter=True,
                                 meta={"candidate": c, "handle_httpstatus_all": True, "root_tried": True})
            return
        title, html = "", ""
        if isinstance(response, TextResponse):
            html = response.text[:500_000]
            title = (response.css("title::text").get() or "").strip()[:300]
        self.crawler.stats.inc_value("sites/fetched")
        yield {"kind": "site", "url": c["url"],
               "final_url": response.url, "http_status": response.status, "title": title, "html": html,
               "source": c["source"], "finding_ids": c["finding_ids"],
               "ips": answered_from(response, self.sandbox)}

    def failed(self, failure):
        request = failure.request
        c = request.meta["candidate"]
        if request.url.startswith("https://") and not request.meta.get("http_tried"):
            # No TLS (or no tunnel through the sandbox proxy): try plain http once.
            yield request.replace(url="http://" + request.url[len("https://"):],
                                  meta={**request.meta, "http_tried": True})
            return
        self.crawler.stats.inc_value("sites/unreachable")
        log.info("网站无法访问：%s（%s）", request.url, failure.type.__name__ if failure.type else "")
        # Stored with http_status 0: checked, unreachable (not lost, not retried forever).
        yield {"kind": "site", "url": request.url, "final_url": request.url, "http_status": 0,
               "title": "", "html": "", "source": c["source"], "finding_ids": c["finding_ids"]}
