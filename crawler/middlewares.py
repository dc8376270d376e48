"""Downloader middlewares: where a request may go.

* Sandbox mode (``CERTWATCH_SANDBOX`` set): every request goes through the
  sandbox, which is also the proxy; nothing else is reachable.
* Real mode: requests to loopback, private, link-local and other
  non-public addresses are refused — a listing can link anywhere.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured

log = logging.getLogger(__name__)


class SandboxProxyMiddleware:
    def __init__(self, proxy: str, stats):
        self.proxy = proxy
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        proxy = crawler.settings.get("CERTWATCH_SANDBOX")
        if not proxy:
            raise NotConfigured  # not in sandbox mode (no message: no warning in the log)
        return cls(proxy.rstrip("/"), crawler.stats)

    def process_request(self, request, spider=None):
        if urlsplit(request.url).scheme not in ("http", "https"):
            self.stats.inc_value("certwatch/refused/scheme")
            raise IgnoreRequest(f"不支持的协议：{request.url[:80]}")
        request.meta["proxy"] = self.proxy
        return None


def is_public_address(addr: str) -> bool:
    ip = ipaddress.ip_address(addr)
    return ip.is_global and not (ip.is_loopback or ip.is_private or ip.is_link_local
                                 or ip.is_multicast or ip.is_reserved or ip.is_unspecified)


class AddressGuardMiddleware:
    """Real mode only: refuse hosts that are, or resolve to, non-public addresses."""

    def __init__(self, stats):
        self.stats = stats
        self.cache: dict[str, bool] = {}

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.get("CERTWATCH_SANDBOX"):
            raise NotConfigured  # sandbox mode: the sandbox proxy decides
        return cls(crawler.stats)

    def allowed(self, host: str) -> bool:
        if host in self.cache:
            return self.cache[host]
        try:
            addrs = {info[4][0] for info in socket.getaddrinfo(host, None)}
            ok = bool(addrs) and all(is_public_address(a.split("%")[0]) for a in addrs)
        except (socket.gaierror, UnicodeError, ValueError):
            ok = False
        self.cache[host] = ok
        return ok

    def process_request(self, request, spider=None):
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.stats.inc_value("certwatch/refused/scheme")
            raise IgnoreRequest(f"不支持的地址：{request.url[:80]}")
        if not self.allowed(parts.hostname):
            self.stats.inc_value("certwatch/refused/private_address")
            log.warning("拒绝访问内网或无法解析的地址：%s", parts.hostname)
            raise IgnoreRequest(f"拒绝访问内网地址：{parts.hostname}")
        return None
