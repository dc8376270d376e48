"""``search``: search engines. Results on known platforms are parsed with
those platforms' detail rules; other results are web sites, fetched and
recorded as site candidates."""
import scrapy

from crawler.spiders import answered_from
from crawler.spiders.base import ProfileSpider


class SearchSpider(ProfileSpider):
    name = "search"
    kinds = ("search_engine",)

    def follow_site(self, response, url, query):
        yield scrapy.Request(url, callback=self.parse_site, meta={"query": query},
                             errback=self.site_failed)

    def parse_site(self, response):
        title = ""
        if self._usable(response):
            title = (response.css("title::text").get() or "").strip()[:300]
        self.crawler.stats.inc_value("certwatch/sites")
        yield {"kind": "site", "url": response.request.url, "final_url": response.url,
               "http_status": response.status, "title": title,
               "html": response.text[:500_000] if hasattr(response, "text") else "",
               "keyword": response.meta.get("query", ""), "source": "search",
               "ips": answered_from(response, self.sandbox)}

    def site_failed(self, failure):
        self.crawler.stats.inc_value("certwatch/sites/failed")
