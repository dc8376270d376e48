"""The generic profile-driven spider both ``search`` and ``listings`` use."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

import scrapy
from scrapy.http import TextResponse

from pipelines.profiles import Profile, default_platforms, load_profiles, profile_for_host
from keywords import expand_queries, platform_queries, scope_queries
from pipelines import platform_pages as pages
from pipelines import store
from pipelines.deeptext import deep_text, too_deep
from pipelines.removal import removal_reason

log = logging.getLogger(__name__)

# A page whose decoded text is more than this share of U+FFFD was not decoded.
MAX_REPLACEMENT_SHARE = 0.2
# Pages of one item's comments followed through Link headers (a hostile API could go on forever).
MAX_COMMENT_PAGES = 10


def queries_from_library(db, keyword_filter: str = "", industry: str = "", department: str = "",
                         variants: bool = False) -> list[str]:
    """Search queries from the store's keyword library (the default library
    loads once into a library that never held it: store.ensure_default_keywords).
    Without filters this is exactly ``expand_queries(store.list_keywords(db))``."""
    store.ensure_default_keywords(db)
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
    if platform_filter:
        chosen = [p for p in profiles.values() if p.name in platform_filter]
    else:
        chosen = default_platforms(profiles, sandbox)
    return [p for p in chosen if p.kind in kinds]


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
        # Profiles with `user_agent: browser`; `auth:` tokens are read from settings by name.
        spider.browser_user_agent = crawler.settings.get("CERTWATCH_BROWSER_USER_AGENT", "")
        # A schedule's site: scope (one web site through the search engines).
        spider.site_scope = crawler.settings.get("CERTWATCH_SITE_SCOPE", "")
        spider.token_settings = crawler.settings
        return spider

    # -- selection
    def selected(self) -> list[Profile]:
        """Named platforms, or else pipelines.profiles.default_platforms: the
        demo world's in sandbox mode, every real platform in real mode."""
        return select_profiles(self.profiles, self.kinds, self.platform_filter, self.sandbox)

    def pages_for(self, profile: Profile) -> int:
        return self.max_pages_arg or profile.max_pages

    # -- requests
    def headers_for(self, profile: Profile, url: str, search: bool = True) -> dict:
        """Request headers a profile asks for: its search headers, a browser's
        User-Agent (``user_agent: browser``), and its token (``auth:``, only
        to its own hosts, only when the named setting holds one)."""
        headers = dict(profile.search.get("headers") or {}) if search else {}
        if profile.user_agent == "browser" and getattr(self, "browser_user_agent", ""):
            headers["User-Agent"] = self.browser_user_agent
        auth = profile.auth
        settings = getattr(self, "token_settings", None)
        if auth and settings is not None and (urlsplit(url).hostname or "").lower() in profile.hosts:
            token = str(settings.get(auth["setting"]) or "").strip()
            if token and not any(c in token for c in "\r\n"):
                headers[auth["header"]] = f"{auth['scheme']} {token}".strip()
        return headers

    def search_request(self, profile: Profile, query: str, page: int, page_no: int = 1,
                       url: str = "") -> scrapy.Request:
        """A result page: ``page`` is the URL's page parameter, ``page_no``
        counts pages from 1 (the page limit applies to it)."""
        url = url or profile.search_url(query, page)
        meta = {"profile": profile.name, "query": query, "page": page, "page_no": page_no}
        if profile.render == "browser":
            self._browser_meta(meta, profile.search.get("wait_for"))
        return scrapy.Request(url, callback=self.parse_search, meta=meta, dont_filter=False,
                              headers=self.headers_for(profile, url))

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
            first = profile.first_page
            if profile.canary and getattr(self, "canary", True):
                yield self.canary_request(profile, first)
            scoped = queries
            if getattr(self, "site_scope", "") and profile.kind == "search_engine":
                try:
                    scoped = scope_queries(queries, self.site_scope)
                except ValueError as exc:
                    log.error("%s", exc)
                    self.crawler.stats.inc_value("certwatch/bad_site_scope")
                    continue
            kept, skipped = platform_queries(scoped, profile.max_query_length)
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
            results = [] if response.meta.get("certwatch_blocked") or not isinstance(response, TextResponse) \
                or response.status >= 300 else self.results(profile, response)
            self.crawler.stats.inc_value(f"certwatch/canary_results/{profile.name}", len(results))
            return
        self.crawler.stats.inc_value(f"certwatch/search_pages/{profile.name}")
        if response.meta.get("certwatch_blocked"):
            return        # counted as blocked by crawler.health.PlatformHealthMiddleware
        if not self._usable(response):
            return
        if response.status >= 300:
            self.crawler.stats.inc_value("certwatch/skipped/http_error")
            return
        results = self.results(profile, response)
        if not results:
            self.crawler.stats.inc_value(f"certwatch/empty_results/{profile.name}")
        if profile.format == "json":
            yield from self.json_results(profile, response, results)
        else:
            for url in results:
                yield from self.follow_result(profile, response, url, query)
        page_no = response.meta.get("page_no", 1)
        if page_no < self.pages_for(profile):
            url = self.next_page(profile, response, bool(results))
            if url:
                yield self.search_request(profile, query, page + (profile.step or 1), page_no + 1, url)

    def results(self, profile: Profile, response) -> list:
        """Result URLs of an HTML result page, or item dicts of a JSON answer."""
        if profile.format == "json":
            data = pages.load_json(response.text)
            if data is None:
                self.crawler.stats.inc_value("certwatch/skipped/not_json")
                return []
            return pages.json_items(profile, data)
        return pages.result_links(profile, response.selector, response.url)

    def next_page(self, profile: Profile, response, had_results: bool) -> str | None:
        """The next result page: a link on the page, the ``Link`` header of a
        JSON API, or the page parameter advanced by ``step`` (while pages
        still have results)."""
        if profile.format == "json":
            link = pages.link_next(response.headers.get("Link", b"").decode("latin-1"))
            if link:
                return link
        elif profile.search.get("next_page"):
            return pages.next_link(profile, response.selector, response.url)
        if profile.step and had_results:
            return profile.search_url(response.meta["query"], response.meta["page"] + profile.step)
        return None

    def follow_result(self, profile: Profile, response, url: str, query: str):
        target = profile if profile.kind != "search_engine" else profile_for_host(
            self.profiles, urlsplit(url).hostname or "")
        if target is None:
            yield from self.follow_site(response, url, query)
            return
        meta = {"profile": target.name, "query": query}
        if target.detail_render == "browser":
            self._browser_meta(meta, target.detail.get("wait_for"))
        yield scrapy.Request(url, callback=self.parse_detail, meta=meta,
                             headers=self.headers_for(target, url, search=False))

    # -- JSON APIs: each item is a finding; its comments are findings of their own
    def json_results(self, profile: Profile, response, items: list[dict]):
        query = response.meta["query"]
        for item in items:
            yield self.listing(profile, item, query, response.status)
            if item.get("comments_url"):
                yield self.comments_request(profile, item["comments_url"], query, item["title"])

    def comments_request(self, profile: Profile, url: str, query: str, title: str, page: int = 1):
        """A page of an item's comments. Its meta holds our keys only: a next
        page is built afresh, never copied from the response (Scrapy's and
        the middlewares' own keys — download slot, latency, depth, redirects,
        proxy, a blocked mark — belong to the page they were set on), and
        its headers are asked for its own URL (a token only to the platform's
        hosts, whatever host a Link header names)."""
        meta = {"profile": profile.name, "query": query, "title": title, "comments": True}
        if page > 1:
            meta["comment_page"] = page
        return scrapy.Request(url, callback=self.parse_comments, headers=self.headers_for(profile, url), meta=meta)

    def parse_comments(self, response):
        profile = self.profiles[response.meta["profile"]]
        self.crawler.stats.inc_value(f"certwatch/detail_pages/{profile.name}")
        if response.meta.get("certwatch_blocked") or not self._usable(response) or response.status >= 300:
            return
        data = pages.load_json(response.text)
        if data is None:
            self.crawler.stats.inc_value("certwatch/skipped/not_json")
            return
        for item in pages.json_comments(profile, data, response.meta.get("title", "")):
            yield self.listing(profile, item, response.meta["query"], response.status)
        nxt = pages.link_next(response.headers.get("Link", b"").decode("latin-1"))
        n = response.meta.get("comment_page", 1)
        if nxt and n < MAX_COMMENT_PAGES:
            yield self.comments_request(profile, response.urljoin(nxt), response.meta["query"],
                                        response.meta.get("title", ""), n + 1)

    def listing(self, profile: Profile, fields: dict, query: str, status: int) -> dict:
        self.crawler.stats.inc_value(f"certwatch/json_items/{profile.name}")
        return {"kind": "listing", "url": fields["url"], "platform": profile.name,
                "title": fields.get("title", ""), "text": fields.get("text", ""),
                "seller": fields.get("seller", ""), "price": fields.get("price", ""),
                "keyword": query, "http_status": status}

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
        if response.status >= 300:
            stats.inc_value("certwatch/skipped/http_error")
            return
        item = {"kind": "listing", "url": response.url, "platform": profile.name,
                **pages.detail_fields(profile, response.selector), "keyword": response.meta.get("query", ""),
                "http_status": response.status}
        if too_deep(response.text):
            # lxml dropped what lies below libxml2's depth limit: keep the text, mark the page.
            stats.inc_value("certwatch/truncated_tree")
            item["text"] = (item["text"] + "\n" + deep_text(response.text)).strip()[:100_000]
            item["page_status"] = "truncated"
        if not item["title"] and not item["text"]:
            stats.inc_value("certwatch/skipped/no_content")
            log.info("详情页没有可提取的内容（选择器可能已失效）：%s", response.url)
            return
        yield item
