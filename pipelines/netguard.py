"""The fetch guard: where certwatch may connect, and one bounded fetch.

Every path that touches the network asks a :class:`Guard` (the Scrapy
downloader through ``crawler.middlewares``, the browser through
:func:`install_route`, evidence capture, rechecks, the sites checker, WHOIS
referrals):

* **URL check** (:meth:`Guard.check_url`): http/https only; a host that is an
  address literal in any notation (``127.0.0.1``, ``2130706433``,
  ``0177.0.0.1``, ``0x7f.1``, ``[::ffff:127.0.0.1]``) or ``localhost`` must be
  a public address.
* **Resolve once, check every address** (:meth:`Guard.resolve`): every
  address a name resolves to must be public (loopback, private, link-local,
  CGNAT 100.64/10, multicast, reserved, unspecified, IPv4-mapped/6to4 forms of
  those are refused), and the connection goes to an address that was checked
  (:meth:`Guard.connect`): no second lookup a rebinding DNS server could
  answer differently.
* **Sandbox mode** (``sandbox`` set): every connection goes to the sandbox
  proxy on loopback and nowhere else.
* **Named exceptions** (``allow``): ``host:port`` (or ``host``) entries that
  may be reached although they are loopback or private (local test profiles).

:func:`fetch` is the one bounded HTTP exchange the browser paths use: no
redirect following (the caller follows, each hop checked), the body decoded
(gzip/deflate/br) with a cap on the *decoded* size, a deadline for the whole
exchange.
"""
from __future__ import annotations

import http.client
import ipaddress
import re
import socket
import ssl
import time
import urllib.parse
import zlib
from dataclasses import dataclass, field

DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_TIMEOUT = 20.0
CHUNK = 64 * 1024
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)


class FetchError(Exception):
    """A fetch that did not complete; the message is Chinese; ``code`` says why."""

    code = "error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        if code:
            self.code = code


class Refused(FetchError):
    """The guard refused the destination (no connection was made)."""

    code = "refused"


class TooBig(FetchError):
    """The decoded body went past the size cap."""

    code = "too_big"


# ---------------------------------------------------------------- addresses

def address_problem(addr) -> str:
    """'' for a public address, else why not (Chinese)."""
    try:
        ip = ipaddress.ip_address(str(addr).split("%")[0].strip("[]"))
    except ValueError:
        return "无效地址"
    if ip.version == 6:
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None:
            inner = address_problem(embedded)
            if inner:
                return inner
        if ip.ipv4_mapped is not None:
            return ""
    if ip.is_loopback:
        return "本机地址"
    if ip.is_unspecified:
        return "未指定地址"
    if ip.version == 4 and ip in _CGNAT:
        return "运营商级 NAT 地址"
    if ip.is_link_local:
        return "链路本地地址"
    if ip.is_multicast:
        return "组播地址"
    if ip.is_private:
        return "内网地址"
    if ip.is_reserved:
        return "保留地址"
    if not ip.is_global:
        return "非公网地址"
    return ""


def is_public_address(addr) -> bool:
    return address_problem(addr) == ""


def numeric_host(host: str) -> str | None:
    """The address a host written as a number stands for (dotted, decimal,
    octal, hex, short forms, IPv6 literals), or None for a name."""
    host = (host or "").strip().strip("[]").rstrip(".").lower()
    if not host:
        return None
    try:
        return str(ipaddress.ip_address(host.split("%")[0]))
    except ValueError:
        pass
    labels = host.split(".")
    if not all(_NUMERIC_LABEL.match(label) for label in labels) or len(labels) > 4:
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))   # the C library's reading, as a resolver's
    except OSError:
        return "0.0.0.0"        # a malformed number is refused, never looked up as a name


def _norm_host(host: str) -> str:
    return (host or "").strip().strip("[]").rstrip(".").lower()


def parse_allow(spec) -> frozenset:
    """'127.0.0.1:8123, replica.local' → {('127.0.0.1', 8123), ('replica.local', None)}."""
    items = spec if isinstance(spec, (list, tuple, set, frozenset)) else str(spec or "").split(",")
    out = set()
    for item in items:
        if isinstance(item, tuple):
            out.add((_norm_host(item[0]), item[1]))
            continue
        item = str(item).strip()
        if not item:
            continue
        m = re.fullmatch(r"\[?([^\[\]]+?)\]?(?::(\d{1,5}))?", item) if item.count(":") <= 1 or item.startswith("[") \
            else None
        if m is None:                        # a bare IPv6 literal
            out.add((_norm_host(item), None))
        else:
            out.add((_norm_host(m.group(1)), int(m.group(2)) if m.group(2) else None))
    return frozenset(out)


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


# ---------------------------------------------------------------- the guard

@dataclass(frozen=True)
class Guard:
    """Where certwatch may connect (see the module docstring)."""
    sandbox: str = ""                      # sandbox proxy URL; "" = real network
    allow: frozenset = field(default_factory=frozenset)   # {(host, port or None)}
    max_bytes: int = DEFAULT_MAX_BYTES     # decoded body cap of fetch()
    timeout: float = DEFAULT_TIMEOUT       # seconds for one fetch()
    # A platform's own proxy (profile politeness.proxy, real mode): ((host,
    # proxy URL), ...). The target is checked as ever; the proxy is the
    # operator's and resolves the target itself (checked, not pinned).
    upstream: tuple = ()

    @classmethod
    def from_settings(cls, settings, **overrides) -> "Guard":
        """From Scrapy-style settings: CERTWATCH_SANDBOX, CERTWATCH_GUARD_ALLOW,
        CERTWATCH_LOCAL_HOSTS (host names of --local profiles, any port),
        CERTWATCH_GUARD_MAX_BYTES, DOWNLOAD_TIMEOUT."""
        get = settings.get
        local = get("CERTWATCH_LOCAL_HOSTS") or ""      # `sweep --profiles DIR --local`: any port
        local = ",".join(local) if isinstance(local, (list, tuple, set, frozenset)) else str(local)
        values = dict(sandbox=(get("CERTWATCH_SANDBOX") or "").rstrip("/"),
                      allow=parse_allow(",".join(p for p in (get("CERTWATCH_GUARD_ALLOW") or "", local) if p)),
                      max_bytes=int(get("CERTWATCH_GUARD_MAX_BYTES") or DEFAULT_MAX_BYTES),
                      timeout=float(get("DOWNLOAD_TIMEOUT") or DEFAULT_TIMEOUT))
        values.update({k: v for k, v in overrides.items() if v is not None})
        if not isinstance(values["allow"], frozenset):
            values["allow"] = parse_allow(values["allow"])
        return cls(**values)

    # -- exceptions and the sandbox
    def proxy(self) -> tuple[str, int] | None:
        if not self.sandbox:
            return None
        parts = urllib.parse.urlsplit(self.sandbox if "://" in self.sandbox else "http://" + self.sandbox)
        return _norm_host(parts.hostname or ""), parts.port or 80

    def excepted(self, host: str, port: int | None) -> bool:
        """A named exception (or the sandbox proxy itself)."""
        host = _norm_host(host)
        if (host, port) in self.allow or (host, None) in self.allow:
            return True
        return self.proxy() == (host, port)

    # -- checks
    def check_url(self, url: str) -> tuple[str, str, int]:
        """(scheme, host, port) of an http(s) URL the guard accepts before any
        lookup; raises Refused."""
        try:
            parts = urllib.parse.urlsplit(str(url or "").strip())
            port = parts.port
        except ValueError:
            raise Refused("网址无效", "bad_url") from None
        scheme = (parts.scheme or "").lower()
        if scheme not in ("http", "https"):
            raise Refused(f"不支持的协议：{scheme or '无'}（只能访问 http/https）", "scheme")
        host = _norm_host(parts.hostname or "")
        if not host:
            raise Refused("网址缺少主机名", "bad_url")
        port = port or _default_port(scheme)
        if self.excepted(host, port):
            return scheme, host, port
        if host == "localhost" or host.endswith(".localhost"):
            raise Refused(f"拒绝访问本机或内网地址（本机地址）：{host}", "private_address")
        literal = numeric_host(host)
        if literal is not None:
            problem = address_problem(literal)
            if problem:
                raise Refused(f"拒绝访问本机或内网地址（{problem}）：{host}", "private_address")
        return scheme, host, port

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each checked; raises Refused
        when one of them is not public (a name that mixes a public and a
        private address is refused whole), or FetchError when it does not
        resolve."""
        host = _norm_host(host)
        literal = numeric_host(host)
        if literal is not None:
            addrs = [literal]
        else:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError, ValueError, OSError) as exc:
                raise FetchError(f"无法解析主机名 {host}：{exc}", "dns") from None
            addrs = list(dict.fromkeys(info[4][0] for info in infos))
            if not addrs:
                raise FetchError(f"无法解析主机名 {host}", "dns")
        if self.excepted(host, port):
            return addrs
        for addr in addrs:
            if self.excepted(addr, port):
                continue
            problem = address_problem(addr)
            if problem:
                raise Refused(f"拒绝访问本机或内网地址（{problem}）：{host} → {addr}", "private_address")
        return addrs

    def connect(self, host: str, port: int, timeout: float | None = None) -> socket.socket:
        """A TCP connection to a checked address of ``host`` (the same
        lookup that was checked; sandbox mode: the sandbox proxy only)."""
        timeout = self.timeout if timeout is None else timeout
        last: Exception | None = None
        for addr in self.resolve(host, port):
            try:
                return socket.create_connection((addr, port), timeout=timeout)
            except OSError as exc:
                last = exc
        raise FetchError(f"无法连接 {host}:{port}：{last}", "connect")


# ---------------------------------------------------------------- one bounded fetch

@dataclass
class Fetched:
    url: str
    status: int
    reason: str
    headers: list            # [(name, value)] as received (Content-Encoding dropped when decoded)
    body: bytes              # decoded, at most max_bytes


class _Decoder:
    """Content-Encoding gzip/deflate decoded in pieces, never more than asked
    for at once (a small bomb cannot blow up memory); gzip members follow
    one another. ``br`` is not asked for (Accept-Encoding) and refused when
    sent anyway."""

    def __init__(self, encoding: str):
        encoding = (encoding or "identity").strip().lower()
        if encoding in ("gzip", "x-gzip"):
            self.wbits = 16 + zlib.MAX_WBITS
        elif encoding == "deflate":
            self.wbits = 32 + zlib.MAX_WBITS
        elif encoding in ("identity", ""):
            self.wbits = 0
        else:
            raise FetchError(f"不支持的内容编码：{encoding[:40]}", "encoding")
        self.obj = zlib.decompressobj(self.wbits) if self.wbits else None

    def feed(self, data: bytes, room: int) -> bytes:
        """Decoded bytes of ``data``: all of them, or ``room + 1`` once they
        pass ``room`` (the caller stops there: the cap was passed)."""
        if self.obj is None:
            return data[:room + 1]
        out = bytearray()
        try:
            while data and len(out) <= room:
                if self.obj.eof:                          # the next gzip member
                    self.obj = zlib.decompressobj(self.wbits)
                out += self.obj.decompress(data, room + 1 - len(out))
                data = self.obj.unused_data if self.obj.eof else self.obj.unconsumed_tail
        except zlib.error as exc:
            raise FetchError(f"压缩内容损坏：{exc}", "encoding") from None
        return bytes(out)


ACCEPT_ENCODING = "gzip, deflate"
_HOP = {"connection", "proxy-connection", "keep-alive", "transfer-encoding", "te", "upgrade",
        "accept-encoding", "host", "content-length"}


def fetch(guard: Guard, url: str, method: str = "GET", headers: dict | list | None = None,
          body: bytes | None = None, max_bytes: int | None = None) -> Fetched:
    """One HTTP exchange with ``url`` under ``guard`` (no redirects
    followed). Raises Refused, TooBig or FetchError."""
    scheme, host, port = guard.check_url(url)
    cap = guard.max_bytes if max_bytes is None else max_bytes
    deadline = time.monotonic() + guard.timeout
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc = parts.netloc.rpartition("@")[2]
    proxy = guard.proxy()
    upstream = None if proxy is not None else dict(guard.upstream).get(host)
    try:
        if proxy is not None:
            sock = guard.connect(proxy[0], proxy[1])
            conn = http.client.HTTPConnection(proxy[0], proxy[1], timeout=guard.timeout)
            target = urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
        elif upstream:
            try:
                guard.resolve(host, port)            # refuse what resolves here to a local address
            except Refused:
                raise
            except FetchError:
                pass                                 # the proxy resolves what this machine cannot
            up = urllib.parse.urlsplit(upstream)
            sock = socket.create_connection((up.hostname, up.port or 80), timeout=guard.timeout)
            if scheme == "https":
                sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode("ascii"))
                answer = sock.recv(4096)
                if not answer.split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"]:
                    raise FetchError(f"平台代理拒绝连接：{answer[:60]!r}", "network")
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                sock = ctx.wrap_socket(sock, server_hostname=None if numeric_host(host) else host)
            else:
                target = urllib.parse.urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
            conn = http.client.HTTPConnection(host, port, timeout=guard.timeout)
        else:
            sock = guard.connect(host, port)
            if scheme == "https":
                ctx = ssl.create_default_context()
                ctx.check_hostname = False           # evidence of fake sites: bad certificates are common
                ctx.verify_mode = ssl.CERT_NONE
                sock = ctx.wrap_socket(sock, server_hostname=None if numeric_host(host) else host)
            conn = http.client.HTTPConnection(host, port, timeout=guard.timeout)
        conn.sock = sock
        conn.putrequest(method.upper(), target, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", netloc)
        conn.putheader("Accept-Encoding", ACCEPT_ENCODING)
        pairs = headers.items() if isinstance(headers, dict) else (headers or [])
        for name, value in pairs:
            if name.lower() not in _HOP and not name.startswith(":"):
                conn.putheader(name, value)
        if body:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        resp = conn.getresponse()
        received = list(resp.getheaders())
        encoding = resp.getheader("content-encoding", "") or ""
        decoder = _Decoder(encoding.split(",")[-1])
        chunks, size = [], 0
        while True:
            if time.monotonic() > deadline:
                raise FetchError(f"超过 {guard.timeout:g} 秒未完成", "timeout")
            raw = resp.read1(CHUNK) if method.upper() != "HEAD" else b""
            if not raw:
                break
            piece = decoder.feed(raw, cap - size)
            size += len(piece)
            if size > cap:
                raise TooBig(f"内容超过大小上限（解压后 {cap} 字节）")
            chunks.append(piece)
        conn.close()
    except (FetchError, TooBig, Refused):
        raise
    except (OSError, http.client.HTTPException, ssl.SSLError, ValueError) as exc:
        raise FetchError(f"无法访问 {host}：{type(exc).__name__} {str(exc)[:120]}", "network") from None
    if decoder.obj is not None:
        received = [(k, v) for k, v in received if k.lower() not in ("content-encoding", "content-length")]
    return Fetched(url=url, status=resp.status, reason=resp.reason or "", headers=received,
                   body=b"".join(chunks))


# ---------------------------------------------------------------- the browser

# Chromium is given this proxy in real mode: nothing listens there, so a
# request the interception does not see (WebSockets) fails instead of
# connecting. (Playwright proxies loopback too: it adds ``<-loopback>``.)
DEAD_PROXY = "http://127.0.0.1:9"
_DROP_FULFILL = {"transfer-encoding", "content-length", "connection", "keep-alive", "content-encoding"}


def browser_proxy(guard: Guard) -> dict:
    """Playwright's ``proxy`` launch option under ``guard``: the sandbox,
    or a dead end in real mode."""
    return {"server": guard.sandbox or DEAD_PROXY}


async def intercept(context, page, guard: Guard, on_document=None, on_refused=None,
                    headers: dict | None = None):
    """Fetch every request ``page`` makes through :func:`fetch` under
    ``guard`` (Chromium's Fetch domain at the request stage: every
    navigation, every redirect hop, every sub-request) and fulfil it, or
    fail it when refused, too big or broken. The browser never connects
    anywhere itself. ``on_document(event, fetched)`` sees every main-frame
    document as fetched (raw bytes, decoded); ``on_refused(code, url,
    message)`` every refusal; ``headers`` override the browser's (User-Agent).
    Returns the CDP session (keep a reference while the page lives)."""
    import asyncio
    import base64

    from playwright.async_api import Error as PlaywrightError
    cdp = await context.new_cdp_session(page)
    tree = await cdp.send("Page.getFrameTree")
    main_frame = tree["frameTree"]["frame"]["id"]
    override = {k.lower(): v for k, v in (headers or {}).items()}

    async def paused(event):
        rid, req = event["requestId"], event["request"]
        url = req["url"]
        try:
            if not url.startswith(("http://", "https://")):
                raise Refused(f"不支持的协议：{url[:40]}", "scheme")
            sent = {k: v for k, v in (req.get("headers") or {}).items() if k.lower() not in override}
            sent.update(override)
            body = None
            if req.get("postDataEntries"):
                body = b"".join(base64.b64decode(e.get("bytes", "")) for e in req["postDataEntries"])
            fetched = await asyncio.to_thread(fetch, guard, url, req.get("method", "GET"),
                                              list(sent.items()), body)
        except FetchError as exc:
            if on_refused is not None:
                on_refused(exc.code, url, str(exc))
            await _send(cdp, "Fetch.failRequest", {
                "requestId": rid,
                "errorReason": "BlockedByClient" if isinstance(exc, (Refused, TooBig)) else "Failed"})
            return
        if on_document is not None and event.get("resourceType") == "Document" \
                and event.get("frameId") == main_frame:
            on_document(event, fetched)
        keep = [{"name": k, "value": v} for k, v in fetched.headers if k.lower() not in _DROP_FULFILL]
        await _send(cdp, "Fetch.fulfillRequest", {
            "requestId": rid, "responseCode": fetched.status, "responseHeaders": keep,
            **({"responsePhrase": fetched.reason} if fetched.reason else {}),
            "body": base64.b64encode(fetched.body).decode("ascii")})

    async def _send(session, method, params):
        try:
            await session.send(method, params)
        except PlaywrightError:          # page closed meanwhile, or request gone
            pass

    cdp.on("Fetch.requestPaused", paused)
    await cdp.send("Fetch.enable", {"patterns": [{"urlPattern": "*", "requestStage": "Request"}]})
    return cdp
