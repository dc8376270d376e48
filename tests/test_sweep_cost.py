"""The sweep's cheaper per-request steps give exactly what Scrapy's and
parsel's own give (crawler/requestcost.py, pipelines/fastcss.py): the same
request fingerprints (so the same pages are fetched once), the same Referer
header platforms see, the same stats, the same strings from a page. Speed
itself is measured by bench/bench_sweep.py, not here."""
from __future__ import annotations

import random

import pytest
from parsel import Selector
from scrapy import Request
from scrapy.spidermiddlewares.referer import DefaultReferrerPolicy, RefererMiddleware
from scrapy.settings import Settings
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.request import fingerprint
from w3lib.url import canonicalize_url

from crawler import settings as project_settings
from crawler.requestcost import Fingerprinter, ReferrerPolicy, StatsCollector, canonical_url
from pipelines.fastcss import css_exists, css_strings

HOSTILE_URLS = [
    "http://bbs.gongyou.cn/thread-100722-1.html",
    "http://mall.taohuo.cn/item/105629.html",
    "http://www.zhaozhao.cn/s?wd=%E9%AB%98%E5%8E%8B%20%E4%B8%8D&pn=7",
    "http://www.fenleixinxi.cn/search?kw=%B5%E7%B9%A4%D6%A4&p=14",
    "http://Example.COM/a/./b/../c", "http://example.com/a/b/..", "http://example.com/a/.",
    "http://example.com", "http://example.com.", "http://example.com:80/x", "http://example.com:/x",
    "https://user:pw@example.com/x#frag", "http://example.com/x?b=2&a=1&a=", "http://example.com/x#f",
    "http://xn--fiq228c.cn/a", "http://例子.cn/路径?q=空 格", "http://example.com/%7euser/%2F%zz",
    "http://example.com/a;p=1/b", "http://example.com/a%20b/c+d", "http://[::0:1]/a",
    "http://" + "a" * 64 + ".cn/x", "http://a-.cn/x", "http://-a.cn/x", "http://a..b.cn/x",
    "http://example.com/" + "p" * 3000, "http://EXAMPLE.com/x", "https://example.com/~a_b-c/d.e.f",
]


def _random_urls(n: int, seed: int = 7) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        host = "".join(rnd.choice("ab0-.xnA") for _ in range(rnd.randint(1, 9)))
        path = "".join(rnd.choice("aZ9-_~./%;?#é") for _ in range(rnd.randint(0, 10)))
        out.append(rnd.choice(["http://", "https://"]) + host + rnd.choice(["", "", ":80", ":99999"])
                   + rnd.choice(["/", "", "//"]) + path)
    return out


def _same(fn, ref, value):
    try:
        expected = ref(value)
    except Exception as exc:        # noqa: BLE001 - the same error is part of "the same"
        with pytest.raises(type(exc)):
            fn(value)
        return
    assert fn(value) == expected, value


def test_canonical_url_is_w3libs():
    for url in HOSTILE_URLS + _random_urls(3000):
        _same(canonical_url, canonicalize_url, url)


def test_fingerprints_are_scrapys():
    ours = Fingerprinter()
    for url in HOSTILE_URLS:
        for req in (Request(url), Request(url, method="POST", body=b"a=1&b=\xff"),
                    Request(url, meta={"verbatim_url": True}), Request(url, headers={"Cookie": "x"})):
            assert ours.fingerprint(req) == fingerprint(req), url


def test_referer_header_is_scrapys():
    """The middleware with our policy sets the header Scrapy's default sets;
    a page's own Referrer-Policy header still wins."""
    from scrapy.http import HtmlResponse
    ours = RefererMiddleware(Settings({"REFERRER_POLICY": project_settings.REFERRER_POLICY}))
    theirs = RefererMiddleware(Settings())
    pages = ["http://a.cn/s?q=1#x", "https://u:p@a.cn:443/s", "file:///etc/passwd", "s3://b/k", "HTTPS://A.cn/x",
             "ftps://a.cn/f", "http://a.cn/"]
    targets = ["http://b.cn/d", "https://b.cn/d", "HTTP://b.cn/", "data:text/plain,x"]
    for page in pages:
        for header in ({}, {"Referrer-Policy": "no-referrer"}, {"Referrer-Policy": "origin"}):
            response = HtmlResponse(page, headers=header, body=b"<html></html>")
            for target in targets:
                a, b = Request(target), Request(target)
                ours.get_processed_request(a, response)
                theirs.get_processed_request(b, response)
                assert a.headers.get("Referer") == b.headers.get("Referer"), (page, header, target)
    assert ReferrerPolicy().referrer("https://a.cn/x", "http://b.cn/") is None      # no downgrade leak
    assert DefaultReferrerPolicy().referrer("https://a.cn/x", "http://b.cn/") is None


def test_stats_collector_keeps_scrapys_behaviour():
    class Crawler:
        settings = Settings()
        spider = None
    ours, theirs = StatsCollector(Crawler), MemoryStatsCollector(Crawler)
    for stats in (ours, theirs):
        stats.inc_value("a")
        stats.inc_value("a", 2)
        stats.inc_value("b", start=10)
        stats.max_value("m", 3)
        stats.max_value("m", 1)
        stats.min_value("n", 3)
        stats.min_value("n", 1)
        stats.set_value("s", "x")
    assert ours.get_stats() == theirs.get_stats() == {"a": 3, "b": 11, "m": 3, "n": 1, "s": "x"}
    assert ours.get_value("missing", 5) == 5


PAGE = """<html><head><title> 标题 </title></head><body><div class="r"><a href="/x?a=1">A <b>b</b></a>
<a href=" y ">Y</a><a>no href</a></div><p>t1</p><p>t2 <i>x</i></p><script>var a='<p>';</script></body></html>"""


@pytest.mark.parametrize("query", ["a::attr(href)", "div.r a::text", "p ::text", "a", "p", "nothing::text",
                                   "a[href]::attr(href)", "title::text", "body ::text", "div.r > a:nth-child(2)"])
def test_css_strings_and_exists_are_parsels(query):
    for sel in (Selector(text=PAGE), Selector(text="<html></html>")):
        assert css_strings(sel, query) == sel.css(query).getall()
        assert css_exists(sel, query) == bool(sel.css(query))


def test_css_bad_query_raises_what_parsel_raises():
    sel = Selector(text=PAGE)
    for bad in ("a[", "::", "a::attr("):
        with pytest.raises(Exception) as theirs:
            sel.css(bad).getall()
        with pytest.raises(theirs.type):
            css_strings(sel, bad)
        with pytest.raises(theirs.type):
            css_exists(sel, bad)
