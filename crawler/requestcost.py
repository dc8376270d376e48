"""Scrapy's per-request bookkeeping at less cost, with the same results.

A sweep yields a few thousand requests per minute; for each, Scrapy computes
a fingerprint (the duplicate filter), a Referer header (RefererMiddleware)
and a dozen stats increments. These classes give exactly what Scrapy's own
give (the tests compare them on hostile URLs), with less work per request
(docs/benchmarks.md, "Sweep"):

* :class:`Fingerprinter` (``REQUEST_FINGERPRINTER_CLASS``): the bytes of
  ``scrapy.utils.request.fingerprint`` — SHA-1 of the same JSON — with the
  canonical URL computed by w3lib only when the URL is not already in
  canonical form (a detail page's plain path), and no per-request cache
  (the duplicate filter asks once per request);
* :class:`ReferrerPolicy` (``REFERRER_POLICY``): Scrapy's default policy
  ("scrapy-default": no-referrer-when-downgrade, none from file/s3), its
  stripped referrer kept per response URL (every request a page yields
  has the same one) and the scheme read without a full URL parse;
* :class:`StatsCollector` (``STATS_CLASS``): Scrapy's memory stats
  collector without the per-attribute hook Scrapy 2.19 adds to warn about a
  deprecated ``spider`` argument (it raised and caught an AttributeError on
  every ``self._stats``).
"""
from __future__ import annotations

import functools
import hashlib
import json
import re

from scrapy.spidermiddlewares.referer import DefaultReferrerPolicy
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.request import fingerprint as scrapy_fingerprint
from w3lib.url import canonicalize_url

_quote_json = json.encoder.encode_basestring_ascii     # what json.dumps uses for str (ensure_ascii)

# A URL that canonicalize_url returns unchanged: http(s), a lower-case host
# of plain labels, a non-empty path of unreserved
# characters without dot segments; no port, query, params or fragment.
_CANONICAL = re.compile(r"https?://(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
                        r"(?:\.(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?"
                        r"/[A-Za-z0-9_~/-]*(?:\.[A-Za-z0-9_~-]+[A-Za-z0-9_~/-]*)*")


def canonical_url(url: str) -> str:
    """w3lib's canonicalize_url(url), skipped for a URL already canonical."""
    if _CANONICAL.fullmatch(url) and "/." not in url and len(url) < 2048:
        return url
    return canonicalize_url(url)


class Fingerprinter:
    """Scrapy's default request fingerprint (method, canonical URL, body; no
    headers), computed with less work. Requests that ask for their URL
    verbatim (``meta["verbatim_url"]``) get Scrapy's own function."""

    @classmethod
    def from_crawler(cls, crawler):
        return cls()

    def fingerprint(self, request) -> bytes:
        if request.meta.get("verbatim_url"):
            return scrapy_fingerprint(request)
        method = request.method
        if isinstance(method, bytes):
            method = method.decode("utf-8")
        body = (request.body or b"").hex()
        # json.dumps({"method", "url", "body", "headers": {}}, sort_keys=True), byte for byte.
        data = (f'{{"body": {_quote_json(body)}, "headers": {{}}, "method": {_quote_json(method)}, '
                f'"url": {_quote_json(canonical_url(request.url))}}}')
        return hashlib.sha1(data.encode()).digest()      # noqa: S324 - Scrapy's identity, not security


def _scheme(url: str) -> str:
    if url.startswith("http://"):
        return "http"
    if url.startswith("https://"):
        return "https"
    from urllib.parse import urlparse
    return urlparse(url).scheme


@functools.lru_cache(maxsize=256)
def _stripped(url: str):
    return DefaultReferrerPolicy().stripped_referrer(url)


class ReferrerPolicy(DefaultReferrerPolicy):
    """Scrapy's default referrer policy; the same Referer header."""

    def tls_protected(self, url: str) -> bool:
        return _scheme(url) in ("https", "ftps")

    def stripped_referrer(self, url: str):
        return _stripped(url)


class StatsCollector(MemoryStatsCollector):
    """Scrapy's MemoryStatsCollector with plain attribute access."""

    __getattribute__ = object.__getattribute__
