"""``search``: search engines. Results on known platforms are parsed with
those platforms' detail rules; other results are fetched once and judged
as generic pages (pipelines/generic.py): one listing per post, or a web
site recorded as a site candidate."""
from urllib.parse import urlsplit

import scrapy
from scrapy.http import TextResponse

from crawler.spiders import answered_from
from crawler.spiders.base import ProfileSpider
from pipelines import generic
from pipelines.profiles import profile_for_host


class SearchSpider(ProfileSpider):
    name = "search"
    kinds = ("search_engine",)

    def follow_site(self, response, url, query):
        yield scrapy.Request(url, callback=self.parse_site, meta={"query": query},
                             errback=self.site_failed)

    def parse_site(self, response):
        # A result that redirected (an engine's /link?url= redirector) onto a
        # platform with a profile is that platform's detail page.
        target = profile_for_host(self.profiles, urlsplit(response.url).hostname or "")
        if target is not None:
            self.crawler.stats.inc_value("certwatch/redirected_to_platform")
            response.meta["profile"] = target.name
            yield from self.parse_detail(response)
            return
        title = ""
        usable = self._usable(response)
        if usable:
            title = (response.css("title::text").get() or "").strip()[:300]
        html = response.text[:500_000] if isinstance(response, TextResponse) else ""
        if usable and response.status < 300:
            judged = generic.judge(response.url, html)
            if judged.kind == "listings":
                self.crawler.stats.inc_value("certwatch/generic/pages")
                self.crawler.stats.inc_value("certwatch/generic/listings", len(judged.listings))
                for post in judged.listings:
                    yield {"kind": "listing", "platform": generic.PLATFORM, "price": "",
                           "keyword": response.meta.get("query", ""), "http_status": response.status, **post}
                return
        self.crawler.stats.inc_value("certwatch/sites")
        yield {"kind": "site", "url": response.request.url, "final_url": response.url,
               "http_status": response.status, "title": title, "html": html,
               "keyword": response.meta.get("query", ""), "source": "search",
               "ips": answered_from(response, self.sandbox)}

    def site_failed(self, failure):
        self.crawler.stats.inc_value("certwatch/sites/failed")
