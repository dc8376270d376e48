"""Where a request may go: the fetch guard (pipelines.netguard) in Scrapy.

* :class:`GuardMiddleware` (downloader middleware, both modes): every request
  and every redirect (RedirectMiddleware sends the new request through the
  chain again) is checked before any lookup: http/https only, no loopback or
  private address literal in any notation, no ``localhost``. Browser requests
  get a page hook that fetches every request of the page through the guard
  (navigation, each redirect hop, sub-requests; bounded after decoding).
* :class:`GuardedResolver` (``TWISTED_DNS_RESOLVER``, real mode): resolves a
  host once, checks every address, and hands Twisted exactly the checked
  addresses: the connection goes to an address that was checked.
* :class:`SandboxProxyMiddleware` (sandbox mode): every request goes through
  the sandbox, which is also the proxy; nothing else is reachable.

The loopback hosts named by ``sweep --profiles DIR --local``
(``CERTWATCH_LOCAL_HOSTS``: a user testing a platform on this machine) are
named exceptions of the same guard. A refused request is tagged
``meta["certwatch_refused"]`` (unresolvable / private_address / scheme /
bad_url) for the sweep's health and failure reasons.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest, NotConfigured
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer

from pipelines.netguard import FetchError, Guard, Refused, intercept, is_public_address  # noqa: F401

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


class GuardMiddleware:
    """The fetch guard for every Scrapy request (both modes)."""

    def __init__(self, guard: Guard, stats, user_agent: str = ""):
        self.guard = guard
        self.stats = stats
        self.user_agent = user_agent
        self.warned: set[str] = set()

    def refuse(self, request, reason: str) -> None:
        self.stats.inc_value(f"certwatch/refused/{reason}")
        request.meta["certwatch_refused"] = reason

    @classmethod
    def from_crawler(cls, crawler):
        return cls(Guard.from_settings(crawler.settings, max_bytes=crawler.settings.getint(
            "CERTWATCH_GUARD_MAX_BYTES") or crawler.settings.getint("DOWNLOAD_MAXSIZE") or None),
            crawler.stats, crawler.settings.get("USER_AGENT") or "")

    async def process_request(self, request, spider=None):
        try:
            scheme, host, port = self.guard.check_url(request.url)
            if not self.guard.sandbox and not request.meta.get("proxy") \
                    and not request.meta.get("playwright"):
                # Resolve and check here (a refusal is a clean IgnoreRequest);
                # GuardedResolver then connects to exactly these addresses.
                await asyncio.to_thread(remember, self.guard, host, port)
        except Refused as exc:
            self.refuse(request, exc.code)
            if exc.code not in self.warned:     # once per kind and host, not once per request
                self.warned.add(exc.code)
                log.warning("拒绝访问：%s（%s；同类请求不再逐条提示）", request.url[:200], exc)
            raise IgnoreRequest(str(exc)) from None
        except FetchError as exc:             # does not resolve: nothing to download
            self.refuse(request, "unresolvable")
            log.info("无法解析：%s（%s）", request.url[:200], exc)
            raise IgnoreRequest(f"主机无法解析：{urlsplit(request.url).hostname}") from None
        if request.meta.get("playwright") and not request.meta.get("certwatch_guarded"):
            request.meta["certwatch_guarded"] = True
            request.meta["playwright_page_init_callback"] = self.page_hook(
                request.meta.get("playwright_page_init_callback"))
        return None

    def page_hook(self, previous):
        """scrapy-playwright's page init callback: every request of the page
        through the guard (scrapy-playwright's own route only set headers;
        the User-Agent is kept)."""
        guard, stats, ua = self.guard, self.stats, self.user_agent

        def refused(code, url, message):
            stats.inc_value(f"certwatch/refused/browser/{code}")
            log.warning("浏览器请求被拒绝：%s（%s）", url[:200], message)

        async def hook(page, request):
            try:
                await page.unroute("**")
                if getattr(page, "certwatch_guard", None) is None:        # a reused page keeps its own
                    page.certwatch_guard = await intercept(page.context, page, guard, on_refused=refused,
                                                           headers={"User-Agent": ua} if ua else None)
            except Exception:
                # scrapy-playwright logs a failed init callback and goes on: fail closed instead.
                stats.inc_value("certwatch/refused/browser/unguarded")
                await page.close()
                raise
            if previous is not None:
                from scrapy.utils.misc import load_object
                func = load_object(previous) if isinstance(previous, str) else previous
                await func(page, request)
        return hook


# ---------------------------------------------------------------- DNS

# Checked lookups, shared by GuardMiddleware (which resolves before the
# download) and GuardedResolver (which connects): (host, port) -> (addresses,
# when). One lookup per request; an entry older than CHECKED_TTL is looked up
# again by the resolver (and checked again).
CHECKED_TTL = 60.0
_checked: dict[tuple, tuple[list, float]] = {}
_checked_lock = threading.Lock()


def remember(guard: Guard, host: str, port: int) -> list[str]:
    """guard.resolve, kept for the resolver that connects next."""
    addrs = guard.resolve(host, port)
    with _checked_lock:
        if len(_checked) > 10_000:
            _checked.clear()
        _checked[(host.lower().strip("[]"), port)] = (addrs, time.monotonic())
    return addrs


def checked(host: str, port: int) -> list[str] | None:
    with _checked_lock:
        found = _checked.get((host.lower().strip("[]"), port))
    if found is None or time.monotonic() - found[1] > CHECKED_TTL:
        return None
    return found[0]


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str):
        self.name = name

    def cancel(self) -> None:     # pragma: no cover - Twisted never cancels ours
        pass


@implementer(IHostnameResolver)
class GuardedResolver:
    """Twisted name resolver under the fetch guard: one lookup per
    connection, every address checked, only checked addresses returned. A
    refused or unresolvable host resolves to nothing (DNSLookupError)."""

    def __init__(self, reactor, guard: Guard):
        self.reactor = reactor
        self.guard = guard

    @classmethod
    def from_crawler(cls, crawler, reactor):
        return cls(reactor, Guard.from_settings(crawler.settings))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(self, resolutionReceiver, hostName: str, portNumber: int = 0,
                        addressTypes=None, transportSemantics: str = "TCP"):
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)

        def lookup():
            try:
                return checked(hostName, portNumber) or self.guard.resolve(hostName, portNumber)
            except Refused as exc:
                log.warning("拒绝连接：%s（%s）", hostName, exc)
            except FetchError as exc:
                log.info("无法解析：%s（%s）", hostName, exc)
            return []

        def deliver(addresses):
            for addr in addresses:
                kind = IPv6Address if ":" in addr else IPv4Address
                resolutionReceiver.addressResolved(kind("TCP", addr, portNumber))
            resolutionReceiver.resolutionComplete()

        d = deferToThreadPool(self.reactor, self.reactor.getThreadPool(), lookup)
        d.addCallback(deliver)
        return resolution
