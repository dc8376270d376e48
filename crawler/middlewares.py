"""Downloader middlewares: where a request may go.

* Sandbox mode (``CERTWATCH_SANDBOX`` set): every request goes through the
  sandbox, which is also the proxy; nothing else is reachable.
* Real mode: requests to loopback, private, link-local and other
  non-public addresses are refused — a listing can link anywhere — except
  the loopback hosts named by ``sweep --profiles DIR --local``
  (``CERTWATCH_LOCAL_HOSTS``: a user testing a platform on this machine).
  A refused request is tagged ``meta["certwatch_refused"]`` (unresolvable /
  private_address) for the sweep's health and failure reasons.
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

    def __init__(self, stats, local_hosts: frozenset = frozenset()):
        self.stats = stats
        self.local_hosts = local_hosts
        self.cache: dict[str, str] = {}      # host -> "" (allowed) or the refusal reason

    @classmethod
    def from_crawler(cls, crawler):
        if crawler.settings.get("CERTWATCH_SANDBOX"):
            raise NotConfigured  # sandbox mode: the sandbox proxy decides
        local = crawler.settings.get("CERTWATCH_LOCAL_HOSTS") or ""
        hosts = local if isinstance(local, (list, tuple, set, frozenset)) else str(local).split(",")
        return cls(crawler.stats, frozenset(h.strip().lower() for h in hosts if h.strip()))

    def refusal(self, host: str) -> str:
        """"" when ``host`` may be fetched, else why not: unresolvable or private_address."""
        if host in self.cache:
            return self.cache[host]
        try:
            addrs = {info[4][0].split("%")[0] for info in socket.getaddrinfo(host, None)}
            if not addrs:
                reason = "unresolvable"
            elif all(is_public_address(a) for a in addrs):
                reason = ""
            elif host in self.local_hosts and all(ipaddress.ip_address(a).is_loopback for a in addrs):
                reason = ""                 # named by a --local profile, and only loopback
            else:
                reason = "private_address"
        except (socket.gaierror, UnicodeError, ValueError, OSError):
            reason = "unresolvable"
        self.cache[host] = reason
        if reason:
            log.warning("拒绝访问%s：%s（同一主机的后续请求不再提示）",
                        "无法解析的主机" if reason == "unresolvable" else "本机或内网地址", host)
        return reason

    def allowed(self, host: str) -> bool:
        return not self.refusal(host)

    def process_request(self, request, spider=None):
        parts = urlsplit(request.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.stats.inc_value("certwatch/refused/scheme")
            request.meta["certwatch_refused"] = "scheme"
            raise IgnoreRequest(f"不支持的地址：{request.url[:80]}")
        reason = self.refusal(parts.hostname.lower())
        if reason:
            self.stats.inc_value(f"certwatch/refused/{reason}")
            request.meta["certwatch_refused"] = reason
            raise IgnoreRequest(f"拒绝访问：{parts.hostname}（{'无法解析' if reason == 'unresolvable' else '内网地址'}）")
        return None
