"""The generic profile-driven spider both ``search`` and ``listings`` use."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import scrapy
from scrapy.http import TextResponse

from pipelines.profiles import Profile, load_profiles, profile_for_host
from keywords import default_keywords, expand_queries, platform_queries
from pipelines import store
from pipelines.removal import removal_reason

log = logging.getLogger(__name__)

# A page whose decoded text is more than this share of U+FFFD was not decoded.
MAX_REPLACEMENT_SHARE = 0.2


def queries_from_library(db, keyword_filter: str = "", industry: str = "", department: str = "",
                         variants: bool = False) -> list[str]:
    """Search queries from the store's keyword library (seeded with the
    default library when empty). Without filters this is exactly
    ``expand_queries(store.list_keywords(db))``."""
    if not store.list_keywords(db, active_only=False):
        store.add_keywords(db, default_keywords(), source="默认关键词库")
    return expand_queries(store.list_keywords(db), term_filter=keyword_filter or None,
                          industry=industry or None, department=department or None,
                          variants=bool(variants))


def load_queries(db_path: str, keyword_filter: str = "", industry: str = "", department: str = "",
                 variants: bool = False) -> list[str]:
    db = store.connect(db_path)
    try:
        return queries_from_library(db, keyword_filter, industry, department, variants)
    finally:
        db.close()


def select_profiles(profiles: dict[str, Profile], kinds: tuple, platform_filter: list[str],
                    sandbox: bool) -> list[Profile]:
    """The profiles a sweep visits (the spiders' selection; a distributed
    sweep's coordinator seeds the same)."""
    chosen = []
    for p in profiles.values():
        if p.kind not in kinds:
            continue
        if platform_filter and p.name not in platform_filter:
            continue
        if sandbox != p.sandbox and not platform_filter:
            continue      # sandbox profiles in sandbox mode, real ones in real mode
        if not p.demo and not platform_filter:
            continue      # test-only platforms (blocked/broken) run only when named
        chosen.append(p)
    return chosen


class ProfileSpider(scrapy.Spider):
    """Searches each selected platform with each query, follows result
    pages up to the page limit and yields one item per detail page."""

    kinds: tuple = ()

    def __init__(self, platforms: str = "", keyword_filter: str = "", max_pages: str | int = 0,
                 queries: str = "", *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.platform_filter = [p for p in str(platforms or "").split(",") if p]
        self.keyword_filter = keyword_filter
        self.max_pages_arg = int(max_pages or 0)
        self.query_arg = [q for q in str(queries or "").split("|") if q.strip()]

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        kwargs.setdefault("platforms", crawler.settings.get("CERTWATCH_PLATFORMS", ""))
        kwargs.setdefault("keyword_filter", crawler.settings.get("CERTWATCH_KEYWORD_FILTER", ""))
        kwargs.setdefault("max_pages", crawler.settings.getint("CERTWATCH_MAX_PAGES", 0))
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.profiles = load_profiles(crawler.settings.get("CERTWATCH_PROFILES_DIR") or None)
        spider.db_path = crawler.settings.get("CERTWATCH_DB")
        spider.sandbox = bool(crawler.settings.get("CERTWATCH_SANDBOX"))
        # Keyword library filters and health checks (crawler/cli_schedule.py, crawler/health.py).
        spider.industry = crawler.settings.get("CERTWATCH_INDUSTRY", "")
        spider.department = crawler.settings.get("CERTWATCH_DEPARTMENT", "")
        spider.variants = crawler.settings.getbool("CERTWATCH_QUERY_VARIANTS", False)
        spider.canary = crawler.settings.getbool("CERTWATCH_CANARY", True)
        return spider

    # -- selection
    def selected(self) -> list[Profile]:
        return select_profiles(self.profiles, self.kinds, self.platform_filter, self.sandbox)

    def pages_for(self, profile: Profile) -> int:
        return self.max_pages_arg or profile.max_pages

    # -- requests
    def search_request(self, profile: Profile, query: str, page: int) -> scrapy.Request:
        url = profile.search_url(query, page)
        meta = {"profile": profile.name, "query": query, "page": page}
        if profile.render == "browser":
            self._browser_meta(meta, profile.search.get("wait_for"))
        return scrapy.Request(url, callback=self.parse_search, meta=meta, dont_filter=False)

    @staticmethod
    def _browser_meta(meta: dict, wait_for: str | None) -> None:
        from scrapy_playwright.page import PageMethod
        meta["playwright"] = True
        if wait_for:
            meta["playwright_page_methods"] = [PageMethod("wait_for_selector", wait_for, timeout=15_000)]

    async def start(self):
        queries = self.query_arg or load_queries(
            self.db_path, self.keyword_filter, getattr(self, "industry", ""),
            getattr(self, "department", ""), getattr(self, "variants", False))
        profiles = self.selected()
        self.crawler.stats.set_value("certwatch/queries", len(queries))
        self.crawler.stats.set_value("certwatch/platforms", ",".join(p.name for p in profiles))
        for profile in profiles:
            first = int(profile.search.get("first_page", 1))
            if profile.canary and getattr(self, "canary", True):
                yield self.canary_request(profile, first)
            kept, skipped = platform_queries(queries, profile.max_query_length)
            if skipped:
                self.crawler.stats.inc_value(f"certwatch/queries_too_long/{profile.name}", skipped)
            for query in kept:
                yield self.search_request(profile, query, first)

    def canary_request(self, profile: Profile, first: int) -> scrapy.Request:
        """A query that must return results; none means the platform is broken."""
        self.crawler.stats.inc_value(f"certwatch/canary/{profile.name}")
        req = self.search_request(profile, profile.canary, first)
        return req.replace(dont_filter=True, meta={**req.meta, "canary": True})

    # -- parsing
    def _usable(self, response) -> bool:
        if not isinstance(response, TextResponse):
            self.crawler.stats.inc_value("certwatch/skipped/not_text")
            log.info("跳过非文本页面：%s", response.url)
            return False
        text = response.text
        if not text.strip():
            self.crawler.stats.inc_value("certwatch/skipped/empty")
            log.info("跳过空页面：%s", response.url)
            return False
        if text.count("\ufffd") > MAX_REPLACEMENT_SHARE * len(text):
            self.crawler.stats.inc_value("certwatch/skipped/undecodable")
            log.info("跳过无法解码的页面：%s", response.url)
            return False
        return True

    def parse_search(self, response):
        profile = self.profiles[response.meta["profile"]]
        query, page = response.meta["query"], response.meta["page"]
        if response.meta.get("canary"):
            links = [] if response.meta.get("certwatch_blocked") or not isinstance(response, TextResponse) \
                else response.css(profile.search["result"]).getall()
            self.crawler.stats.inc_value(f"certwatch/canary_results/{profile.name}", len(links))
            return
        self.crawler.stats.inc_value(f"certwatch/search_pages/{profile.name}")
        if response.meta.get("certwatch_blocked"):
            return        # counted as blocked by crawler.health.PlatformHealthMiddleware
        if not self._usable(response):
            return
        links = response.css(profile.search["result"]).getall()
        if not links:
            self.crawler.stats.inc_value(f"certwatch/empty_results/{profile.name}")
        for href in links:
            url = response.urljoin(href)
            target = profile if profile.kind != "search_engine" else profile_for_host(
                self.profiles, urlsplit(url).hostname or "")
            if target is None:
                yield from self.follow_site(response, url, query)
                continue
            meta = {"profile": target.name, "query": query}
            if target.detail_render == "browser":
                self._browser_meta(meta, target.detail.get("wait_for"))
            yield scrapy.Request(url, callback=self.parse_detail, meta=meta)
        nxt = profile.search.get("next_page")
        if nxt and page < self.pages_for(profile) - int(profile.search.get("first_page", 1)) + 1:
            href = response.css(nxt).get()
            if href:
                yield self.search_request_from(profile, query, page + 1, response.urljoin(href))

    def search_request_from(self, profile: Profile, query: str, page: int, url: str) -> scrapy.Request:
        req = self.search_request(profile, query, page)
        return req.replace(url=url)

    def follow_site(self, response, url: str, query: str):
        """A search result that is not a known platform: a web site."""
        return iter(())

    def parse_detail(self, response):
        profile = self.profiles[response.meta["profile"]]
        stats = self.crawler.stats
        stats.inc_value(f"certwatch/detail_pages/{profile.name}")
        if response.meta.get("certwatch_blocked"):
            return        # counted as blocked by crawler.health.PlatformHealthMiddleware
        if not self._usable(response):
            return
        reason = removal_reason(response.status, response.text, profile.removed.get("markers", ()),
                                profile.removed.get("status", (404, 410)))
        if reason:
            stats.inc_value("certwatch/removed")
            log.info("信息已删除（%s）：%s", reason, response.url)
            return
        if response.status >= 400:
            stats.inc_value("certwatch/skipped/http_error")
            return

        def field(name: str) -> str:
            css = profile.detail.get(name)
            if not css:
                return ""
            return " ".join(t.strip() for t in response.css(css).getall() if t.strip())[:100_000]

        item = {"kind": "listing", "url": response.url, "platform": profile.name,
                "title": field("title"), "text": field("text"), "seller": field("seller"),
                "price": field("price"), "keyword": response.meta.get("query", ""),
                "http_status": response.status}
        if not item["title"] and not item["text"]:
            stats.inc_value("certwatch/skipped/no_content")
            log.info("详情页没有可提取的内容（选择器可能已失效）：%s", response.url)
            return
        yield item
