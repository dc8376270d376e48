"""The sandbox server: one loopback HTTP server that answers for every host
of the simulated world (by the absolute URL of a proxy request or the Host
header) and so also serves as the HTTP proxy for Scrapy and for Chromium.

Run as ``certwatch sandbox``: it prints its address and serves until killed.
Admin endpoints live under ``http://sandbox.admin/``.

https: a client asks the proxy to ``CONNECT host:443``; the server answers
200, wraps the same connection in TLS with a self-signed certificate made
at start (crawler/sandbox/tls.py) and serves the host's pages inside the
tunnel as it does over plain http.
"""
from __future__ import annotations

import asyncio
import html
import json
import logging
import re
import ssl
import urllib.parse
from importlib import resources

from crawler.sandbox import troubled
from crawler.sandbox import hostile, longthreads
from crawler.sandbox import replicas
from crawler.sandbox.world import ENGINE, PLATFORMS, Listing, Site, World, world

log = logging.getLogger(__name__)

ADMIN_HOST = "sandbox.admin"
MAX_HEADER = 64 * 1024
MAX_BODY = 1024 * 1024


class Response:
    __slots__ = ("status", "body", "content_type", "headers")

    def __init__(self, status: int, body: bytes | str, content_type: str = "text/html; charset=utf-8",
                 headers: dict | None = None):
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.content_type = content_type
        self.headers = headers or {}


REASONS = {200: "OK", 301: "Moved Permanently", 302: "Found", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 410: "Gone", 502: "Bad Gateway", 500: "Internal Server Error",
           403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}

e = html.escape


def _page(title: str, body: str, charset: str = "utf-8") -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="{charset}">'
            f"<title>{e(title)}</title></head><body>{body}</body></html>")


def _qs(query: str, encoding: str = "utf-8") -> dict:
    return {k: v[0] for k, v in urllib.parse.parse_qs(query, encoding=encoding, errors="replace").items()}


def _int(value: str | None, default: int = 1) -> int:
    try:
        return max(1, min(10_000, int(value or default)))
    except ValueError:
        return default


class App:
    """Routes a request for any world host to its page."""

    def __init__(self, w: World):
        self.w = w
        self.static = {
            "market.js": resources.files(__package__).joinpath("static/market.js").read_bytes(),
        }
        self.hosts = {p.host: p for p in PLATFORMS.values()}
        self.blocked: dict[int, int] = {}      # listing num -> status (admin /block)
        self.delisted: set[int] = set()        # gone from the seller's shop, item page stale (admin /delist)

    def handle(self, method: str, host: str, path: str, query: str, body: bytes,
               headers: dict | None = None) -> Response:
        host = host.lower().split(":")[0]
        if path == "/robots.txt":
            return Response(200, "User-agent: *\nAllow: /\n", "text/plain; charset=utf-8")
        if host == ADMIN_HOST:
            return self.admin(method, path, query, body)
        if host == ENGINE.host:
            return self.engine(path, query)
        if host in troubled.HOSTS:          # captcha / redesign / empty platforms
            return troubled.handle(self, host, path, query)
        if host in hostile.HOSTS:           # hostile pages for crawler tests
            return hostile.handle(self, host, path, query)
        if host in longthreads.HOSTS:       # long forum threads (lines of a detail page)
            return longthreads.handle(self, host, path, query)
        if host in replicas.HOSTS:          # real platforms' replicas under their real host names
            return replicas.handle(self, host, path, query, headers)
        platform = self.hosts.get(host)
        if platform is not None:
            return getattr(self, platform.name)(path, query)
        site = self.w.sites_by_host.get(host) or self.w.sites_by_host.get(host.removeprefix("www."))
        if site is not None:
            return self.site(site, path)
        return Response(502, _page("502", f"<h1>502 无法解析主机 {e(host)}</h1>"))

    # -- admin
    def admin(self, method: str, path: str, query: str, body: bytes) -> Response:
        if path == "/info":      # addresses of the sandbox's other servers (WHOIS)
            return Response(200, json.dumps(getattr(self, "info", {})), "application/json")
        if path == "/health":
            return Response(200, json.dumps({"ok": True, "listings": len(self.w.listings)}),
                            "application/json")
        if path == "/takedown" and method == "POST":
            try:
                nums = [int(n) for n in json.loads(body or b"{}").get("nums", [])]
            except (ValueError, TypeError, AttributeError):
                return Response(400, "bad request", "text/plain")
            self.w.taken_down.update(nums)
            return Response(200, json.dumps({"taken_down": sorted(self.w.taken_down)}), "application/json")
        if path == "/delist" and method == "POST":
            # Remove listings from their seller's shop page while the item page
            # still answers 200 with its content (a stale page): {"nums": [...]}.
            try:
                nums = [int(n) for n in json.loads(body or b"{}").get("nums", [])]
            except (ValueError, TypeError, AttributeError):
                return Response(400, "bad request", "text/plain")
            self.delisted.update(nums)
            return Response(200, json.dumps({"delisted": sorted(self.delisted)}), "application/json")
        if path == "/block" and method == "POST":
            # Make listings answer an error (default 503) or a captcha page (status 200 + "captcha"):
            # the "unknown" case of rechecks. {"nums": [...], "status": 503}; status 0 unblocks.
            try:
                data = json.loads(body or b"{}")
                nums, status = [int(n) for n in data.get("nums", [])], int(data.get("status", 503))
            except (ValueError, TypeError, AttributeError):
                return Response(400, "bad request", "text/plain")
            for n in nums:
                if status == 0:
                    self.blocked.pop(n, None)
                else:
                    self.blocked[n] = status
            return Response(200, json.dumps({"blocked": self.blocked}), "application/json")
        if path == "/troubled":
            return troubled.admin(self, method, body)
        if path == "/replicas":
            return replicas.admin(self, method, body)
        if path == "/resolve":
            host = _qs(query).get("host", "").lower()
            exists = host in self.hosts or host == ENGINE.host or host in self.w.sites_by_host \
                or host.removeprefix("www.") in self.w.sites_by_host or host in replicas.HOSTS
            return Response(200, json.dumps({"host": host, "exists": exists}), "application/json")
        return Response(404, "not found", "text/plain")

    # -- search engine
    def engine(self, path: str, query: str) -> Response:
        if path == "/":
            return Response(200, _page(ENGINE.title, '<form action="/s"><input name="wd"><button>找找</button></form>'))
        if path != "/s":
            return Response(404, _page("404", "<h1>404</h1>"))
        params = _qs(query)
        q, page = params.get("wd", ""), _int(params.get("pn"))
        results = self.w.engine_search(q)
        rows = []
        for item in self.w.page(results, page):
            if isinstance(item, Listing):
                title, url, snippet = item.title, item.url, item.text[:80]
            else:
                title, url, snippet = item.title, item.url, item.agency
            rows.append(f'<div class="result"><h3><a class="result-link" href="{e(url)}">{e(title)}</a></h3>'
                        f'<p class="snippet">{e(snippet)}</p><span class="site">{e(urllib.parse.urlsplit(url).hostname or "")}</span></div>')
        pager = ""
        if page * 10 < len(results):
            pager = f'<a class="n" href="/s?wd={urllib.parse.quote(q)}&amp;pn={page + 1}">下一页&gt;</a>'
        body = (f'<div id="head">找找 <span class="count">约{len(results)}条结果</span></div>'
                f'<div id="content">{"".join(rows) or "<p class=nores>没有找到相关结果</p>"}</div>'
                f'<div id="page">{pager}</div>')
        return Response(200, _page(f"{q}_找找搜索", body))

    # -- platforms
    def _removed(self, listing: Listing, platform) -> Response | None:
        blocked = getattr(self, "blocked", {}).get(listing.num)
        if blocked == 200:
            return Response(200, _page("安全验证", "<h1>请完成安全验证</h1><p>访问过于频繁，请输入验证码（captcha）</p>"))
        if blocked:
            return Response(blocked, _page(str(blocked), f"<h1>{blocked}</h1>"))
        if listing.removed == "404" or (listing.num in self.w.taken_down and listing.num % 2 == 0):
            return Response(404, _page("404", "<h1>页面不存在</h1>"), f"text/html; charset={platform.encoding}")
        if listing.removed == "notice" or listing.num in self.w.taken_down:
            body = f'<div class="notice">{platform.removed_notice}</div>'
            return Response(200, _page(platform.title, body, platform.encoding).encode(platform.encoding),
                            f"text/html; charset={platform.encoding}")
        return None

    def _listing(self, platform, num: str) -> Listing | None:
        listing = self.w.by_num.get(int(num))
        return listing if listing is not None and listing.platform == platform.name else None

    def market(self, path: str, query: str) -> Response:
        p = PLATFORMS["market"]
        if path == "/static/market.js":
            return Response(200, self.static["market.js"], "application/javascript; charset=utf-8")
        if path == "/search":
            body = ('<div class="search-head">淘货商城 搜索结果</div><ul id="goods-list"></ul>'
                    '<div id="pager"></div><script src="/static/market.js"></script>')
            return Response(200, _page(f"{_qs(query).get('q', '')} - 淘货商城", body))
        if path == "/api/search":
            params = _qs(query)
            results = self.w.platform_search("market", params.get("q", ""))
            page = _int(params.get("page"))
            items = [{"id": l.num, "title": l.title, "price": l.price, "url": f"/item/{l.num}.html"}
                     for l in self.w.page(results, page)]
            data = {"items": items, "page": page, "has_next": page * 10 < len(results)}
            return Response(200, json.dumps(data, ensure_ascii=False), "application/json; charset=utf-8")
        if path.startswith("/shop/"):
            return self._shop(urllib.parse.unquote(path[len("/shop/"):], errors="replace"))
        m = re.fullmatch(r"/item/(\d{1,9})\.html", path)
        listing = self._listing(p, m.group(1)) if m else None
        if listing is None:
            return Response(404, _page("404", "<h1>页面不存在</h1>"))
        return self._removed(listing, p) or Response(200, _page(f"{listing.title}-淘货商城", (
            f'<div class="item"><h1 class="item-title">{e(listing.title)}</h1>'
            f'<div class="item-price">¥<em>{e(listing.price or "面议")}</em></div>'
            f'<div class="shop">店铺：<a class="shop-name" href="/shop/{e(listing.seller)}">{e(listing.seller)}</a></div>'
            f'<div class="item-desc">{e(listing.text)}</div></div>')))

    def _shop(self, seller: str) -> Response:
        """A seller's shop page on the market: its live items, without the
        delisted ones (whose item pages may still answer)."""
        items = [l for l in self.w.listings if l.platform == "market" and l.seller == seller
                 and not self.w.is_removed(l) and l.num not in getattr(self, "delisted", ())]
        if not seller or not any(l.platform == "market" and l.seller == seller for l in self.w.listings):
            return Response(404, _page("404", "<h1>店铺不存在</h1>"))
        rows = "".join(f'<li><a class="shop-item" href="/item/{l.num}.html">{e(l.title)}</a></li>' for l in items)
        body = (f'<div class="shop-head"><h1 class="shop-title">{e(seller)}</h1>'
                f'<span class="count">共 {len(items)} 件商品</span></div>'
                f'<ul class="shop-items">{rows or "<li class=empty>本店暂无在售商品</li>"}</ul>')
        return Response(200, _page(f"{seller}-淘货商城店铺", body))

    def classifieds(self, path: str, query: str) -> Response:
        p = PLATFORMS["classifieds"]
        ctype = "text/html; charset=gbk"
        if path == "/search":
            params = _qs(query, "gbk")
            q, page = params.get("kw", ""), _int(params.get("p"))
            results = self.w.platform_search("classifieds", q)
            rows = "".join(f'<li><a class="t" href="/post/{l.num}.html">{e(l.title)}</a>'
                           f'<span class="area">上海</span></li>' for l in self.w.page(results, page))
            pager = ""
            if page * 10 < len(results):
                pager = f'<a class="next" href="/search?kw={urllib.parse.quote(q, encoding="gbk")}&amp;p={page + 1}">下一页</a>'
            body = f'<ul class="list">{rows}</ul><div class="pager">{pager}</div>'
            return Response(200, _page(f"{q} - {p.title}", body, "gbk").encode("gbk", "replace"), ctype)
        m = re.fullmatch(r"/post/(\d{1,9})\.html", path)
        listing = self._listing(p, m.group(1)) if m else None
        if listing is None:
            return Response(404, _page("404", "<h1>页面不存在</h1>", "gbk").encode("gbk"), ctype)
        removed = self._removed(listing, p)
        if removed:
            return removed
        body = (f'<div class="post"><h1 class="post-title">{e(listing.title)}</h1>'
                f'<div class="poster">发布人：<span class="name">{e(listing.seller)}</span></div>'
                f'<div class="content">{e(listing.text)}</div></div>')
        return Response(200, _page(f"{listing.title} - {p.title}", body, "gbk").encode("gbk", "replace"), ctype)

    def forum(self, path: str, query: str) -> Response:
        p = PLATFORMS["forum"]
        if path == "/search.php":
            params = _qs(query)
            q, page = params.get("q", ""), _int(params.get("page"))
            results = self.w.platform_search("forum", q)
            rows = "".join(f'<tr><td><a class="subject" href="/thread-{l.num}-1.html">{e(l.title)}</a></td>'
                           f'<td class="by">{e(l.seller)}</td></tr>' for l in self.w.page(results, page))
            pager = ""
            if page * 10 < len(results):
                pager = f'<a class="nxt" href="/search.php?q={urllib.parse.quote(q)}&amp;page={page + 1}">下一页</a>'
            return Response(200, _page(f"{q} - 搜索 - {p.title}",
                                       f'<table class="threads">{rows}</table><div class="pg">{pager}</div>'))
        m = re.fullmatch(r"/thread-(\d{1,9})-1\.html", path)
        listing = self._listing(p, m.group(1)) if m else None
        if listing is None:
            return Response(404, _page("404", "<h1>页面不存在</h1>"))
        return self._removed(listing, p) or Response(200, _page(f"{listing.title} - {p.title}", (
            f'<div id="thread"><h1 class="subject">{e(listing.title)}</h1>'
            f'<div class="post"><a class="author" href="/space/{e(listing.seller)}">{e(listing.seller)}</a>'
            f'<div class="post-content">{e(listing.text)}</div></div></div>')))

    # -- web sites: official query sites, fakes, a school, a news site
    def site(self, site: Site, path: str) -> Response:
        if path not in ("/", site.path, "/cx/", "/query", "/index.html"):
            return Response(404, _page("404", "<h1>404</h1>"))
        if site.kind in ("official", "fake"):
            footer = f"<p>主办单位：{e(site.agency)}</p>"
            if site.icp:
                footer += f"<p>{e(site.icp)}</p>"
            if site.gov_code:
                footer += f'<p>政府网站标识码：{e(site.gov_code)}</p><img src="/images/dzjg.png" alt="党政机关">'
            body = (f'<div class="header"><img src="/images/guohui.png" alt="国徽"><h1>{e(site.title)}</h1></div>'
                    '<form class="query" action="/result" method="post">'
                    '<label>姓名<input name="xm"></label><label>身份证号<input name="sfzh"></label>'
                    '<label>证件号<input name="zjh"></label><label>验证码<input name="yzm"></label>'
                    '<button>查询</button></form>'
                    f'<div class="footer">{footer}</div>')
        elif site.kind == "school":
            body = (f'<h1>{e(site.title)}</h1><p>常年开设电工、焊工、高处作业培训班，理论+实操，考试合格后由应急管理部门颁发证书，'
                    '证书可在 cx.mem.gov.cn 查询。</p><form><label>姓名<input name="name"></label>'
                    f'<label>电话<input name="tel"></label><button>预约报名</button></form><p>{e(site.icp)}</p>')
        else:
            body = (f'<h1>{e(site.title)}</h1><p>近日，警方破获一起伪造特种作业操作证案件，犯罪嫌疑人以“不用考试、包过”为噱头，'
                    '并搭建假冒查询网站。提醒：证书真伪请到官方平台查询。</p>')
        return Response(200, _page(site.title, body))


async def _serve_conn(app: App, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      tls=None) -> None:
    tunnel_host = ""              # inside a CONNECT tunnel: the host it was opened for
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            except asyncio.LimitOverrunError:
                writer.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            lines = head.decode("latin-1").split("\r\n")
            try:
                method, target, _version = lines[0].split(" ", 2)
            except ValueError:
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            length = min(int(headers.get("content-length", "0") or 0), MAX_BODY)
            body = await reader.readexactly(length) if length else b""
            if method == "CONNECT":
                if tls is None or tunnel_host:
                    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                tunnel_host = target.rsplit(":", 1)[0].strip("[]").lower() or "?"
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
                try:
                    await writer.start_tls(tls)
                except (ssl.SSLError, ConnectionError, OSError) as exc:
                    log.info("sandbox TLS handshake failed for %s: %s", tunnel_host, exc)
                    return
                continue
            if target.startswith("http://") or target.startswith("https://"):
                parts = urllib.parse.urlsplit(target)
                host = parts.netloc
            else:
                parts = urllib.parse.urlsplit(target)
                host = headers.get("host", "") or tunnel_host
            try:
                resp = app.handle(method, host, parts.path or "/", parts.query, body, headers)
            except Exception:  # a bug in a page must not kill the server
                log.exception("sandbox page failed: %s", target)
                resp = Response(500, "sandbox error", "text/plain")
            keep = headers.get("connection", "").lower() != "close" and headers.get("proxy-connection", "").lower() != "close"
            extra = "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
            writer.write((f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'OK')}\r\n"
                          f"Content-Type: {resp.content_type}\r\nContent-Length: {len(resp.body)}\r\n"
                          f"{extra}Connection: {'keep-alive' if keep else 'close'}\r\n\r\n").encode("latin-1")
                         + (resp.body if method != "HEAD" else b""))
            await writer.drain()
            if not keep:
                return
    finally:
        try:
            writer.close()
        except Exception:
            pass


def world_hosts(app: App) -> list[str]:
    """Every host name the sandbox answers for (the certificate names them)."""
    return sorted({*app.hosts, ENGINE.host, *troubled.HOSTS, *hostile.HOSTS, *longthreads.HOSTS, *app.w.sites_by_host,
                   ADMIN_HOST, *replicas.HOSTS})


async def serve(host: str = "127.0.0.1", port: int = 0, seed: int | None = None, scale: int = 1,
                ready=None) -> None:
    from crawler.sandbox.world import DEFAULT_SEED
    app = App(world(seed or DEFAULT_SEED, scale))
    from crawler.sandbox import tls as sandbox_tls
    context = sandbox_tls.server_context(world_hosts(app))
    server = await asyncio.start_server(lambda r, w: _serve_conn(app, r, w, context), host, port,
                                        limit=MAX_HEADER, backlog=1024)
    addr = server.sockets[0].getsockname()
    from crawler.sandbox import whois_server
    whois, app.info = await whois_server.start(host)   # WHOIS on its own loopback port
    app.info = {"whois": app.info}
    if ready is not None:
        ready(f"http://{addr[0]}:{addr[1]}")
    async with server, whois:
        await server.serve_forever()
