"""Evidence capture (网络在线提取) and verification.

For each flagged finding and each suspicious or fake site: a full-page
screenshot (Chromium through Playwright), the main document as served (raw
bytes) and decoded to UTF-8 HTML, a WARC record of the response, the final
URL after redirects, HTTP status, capture time (UTC), tool and version, and a
printable capture record. Files are content-addressed
(``evidence/ab/cd/abcdef….png``) beside the database; the ``evidence`` row
lists each file with its SHA-256. ``verify`` re-hashes them.

Capture is bounded: one browser for the whole run, a fresh context per item,
a cap on concurrent pages, a per-item deadline, a size cap on the document
and a height cap on the screenshot. A failure is stored as a ``failed`` row
(with the reason) and the item is tried again on the next run.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import http
import io
import ipaddress
import logging
import os
import platform as _platform
import urllib.parse
from dataclasses import dataclass, field
from importlib import metadata, resources

import jinja2

from pipelines import store

logger = logging.getLogger(__name__)

BEIJING = store.BEIJING
KINDS_EXT = {"screenshot": ".png", "raw": ".bin", "html": ".html", "warc": ".warc.gz",
             "record": ".record.html"}


class CaptureError(Exception):
    """A capture that could not be completed (message in Chinese)."""


@dataclass(frozen=True)
class CaptureConfig:
    """Bounds and browser for a capture run (see ``from_settings``)."""
    sandbox: str = ""                  # sandbox proxy URL; "" = real network
    executable_path: str = ""          # Chromium; "" = Playwright's own
    launch_args: tuple = ("--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--disable-background-networking", "--disable-component-update",
                          "--disable-sync", "--no-first-run")
    item_timeout: float = 45.0         # seconds for one item, everything included
    nav_timeout_ms: int = 20_000
    settle_ms: int = 1_500             # wait for network idle at most this long
    max_bytes: int = 8 * 1024 * 1024   # document size cap
    max_height: int = 16_000           # screenshot height cap (px)
    concurrency: int = 3               # pages open at once
    viewport: tuple = (1280, 900)
    operator: str = ""

    @classmethod
    def from_settings(cls, settings, **overrides) -> "CaptureConfig":
        """From Scrapy-style settings (crawler.settings)."""
        launch = settings.get("PLAYWRIGHT_LAUNCH_OPTIONS") or {}
        values = dict(
            sandbox=settings.get("CERTWATCH_SANDBOX") or "",
            executable_path=launch.get("executable_path") or "",
            launch_args=tuple(launch.get("args") or cls.launch_args),
            item_timeout=float(settings.get("CERTWATCH_EVIDENCE_TIMEOUT") or cls.item_timeout),
            max_bytes=int(settings.get("CERTWATCH_EVIDENCE_MAX_BYTES") or cls.max_bytes),
            max_height=int(settings.get("CERTWATCH_EVIDENCE_MAX_HEIGHT") or cls.max_height),
            concurrency=int(settings.get("CERTWATCH_EVIDENCE_CONCURRENCY") or cls.concurrency),
        )
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)


@dataclass
class CaptureStats:
    ok: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)


# ---------------------------------------------------------------- files

def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_path(evidence_root: str, rel: str) -> str | None:
    """The absolute path of a stored file, or None if ``rel`` would leave
    the evidence folder (the row is data, and data is not trusted)."""
    if not rel or os.path.isabs(rel) or "\x00" in rel:
        return None
    root = os.path.realpath(evidence_root)
    path = os.path.realpath(os.path.join(root, rel))
    if not path.startswith(root + os.sep):
        return None
    return path


def store_file(evidence_root: str, kind: str, data: bytes) -> dict:
    """Write ``data`` under its SHA-256 (once) and describe it for the row."""
    digest = sha256_bytes(data)
    rel = os.path.join(digest[:2], digest[2:4], digest + KINDS_EXT.get(kind, ".bin"))
    path = os.path.join(evidence_root, rel)
    if not (os.path.exists(path) and sha256_file(path) == digest):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    return {"kind": kind, "path": rel.replace(os.sep, "/"), "sha256": digest, "bytes": len(data)}


# ---------------------------------------------------------------- pieces

def decode_html(body: bytes, content_type: str) -> tuple[str, str]:
    """(encoding, text): header charset, then <meta>, then detection."""
    from w3lib.encoding import html_to_unicode
    encoding, text = html_to_unicode(content_type or None, body)
    return encoding, text


def make_warc(url: str, status: int, reason: str, headers: dict, body: bytes, captured_at: str,
              request_headers: dict | None = None) -> bytes:
    """A gzipped WARC with the request and the response (body as received
    after content decoding; Content-Encoding dropped accordingly)."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    drop = {"content-encoding", "transfer-encoding", "content-length"}
    pairs = [(k, v) for k, v in headers.items() if k.lower() not in drop]
    pairs.append(("Content-Length", str(len(body))))
    http = StatusAndHeaders(f"{status} {reason or ''}".strip(), pairs, protocol="HTTP/1.1")
    date = captured_at.split(".")[0].rstrip("Z") + "Z"
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http,
                                       warc_headers_dict={"WARC-Date": date})
    writer.write_record(record)
    if request_headers is not None:
        path = urllib.parse.urlsplit(url)
        target = (path.path or "/") + (f"?{path.query}" if path.query else "")
        req = StatusAndHeaders(f"GET {target} HTTP/1.1", list(request_headers.items()), is_http_request=True)
        writer.write_record(writer.create_warc_record(url, "request", payload=io.BytesIO(b""),
                                                      http_headers=req, warc_headers_dict={"WARC-Date": date}))
    return out.getvalue()


_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)


def render_record(**ctx) -> bytes:
    """The printable 网络在线提取 record (our own escaped HTML, no script)."""
    text = resources.files(__package__).joinpath("evidence_record.html").read_text("utf-8")
    template = _env.from_string(text)
    return template.render(bjt=beijing_time, **ctx).encode("utf-8")


def beijing_time(value: str | None, seconds: bool = True) -> str:
    """A stored UTC time as 北京时间 text (a malformed value is shown as it is)."""
    shown = store.beijing(value, "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return shown or (str(value) if value else "")


def tool_name(browser_version: str = "") -> str:
    from pipelines import __version__
    try:
        pw = metadata.version("playwright")
    except metadata.PackageNotFoundError:
        pw = "?"
    chromium = f" / Chromium {browser_version}" if browser_version else ""
    return f"certwatch {__version__} / Playwright {pw}{chromium} / {_platform.system()} {_platform.machine()}"


def _blocked_host(url: str) -> bool:
    """Pages may point the browser at local services: refuse loopback,
    private and link-local literals and localhost."""
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified


# ---------------------------------------------------------------- capture

@dataclass
class Page:
    url: str
    final_url: str
    status: int
    reason: str
    headers: dict
    request_headers: dict
    body: bytes
    screenshot: bytes
    title: str
    chain: list
    clipped: bool


async def fetch_page(browser, url: str, config: CaptureConfig) -> Page:
    """Open ``url`` in a fresh context; return what the record needs."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise CaptureError("只能提取 http/https 网址")
    if _blocked_host(url):
        raise CaptureError("拒绝访问本机或内网地址")
    width, height = config.viewport
    context = await browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai",
        ignore_https_errors=True, accept_downloads=False, service_workers="block")
    try:
        page = await context.new_page()
        page.set_default_timeout(config.nav_timeout_ms)
        documents, too_big = await _intercept_documents(context, page, config)
        try:
            response = await page.goto(url, wait_until="load", timeout=config.nav_timeout_ms)
        except PlaywrightTimeout:
            raise CaptureError("页面加载超时") from None
        except PlaywrightError as exc:
            if too_big:
                raise CaptureError(f"页面超过大小上限（{config.max_bytes} 字节）") from None
            raise CaptureError(f"无法打开页面：{str(exc).splitlines()[0][:200]}") from None
        if response is None:
            raise CaptureError("页面没有响应")
        try:
            await page.wait_for_load_state("networkidle", timeout=config.settle_ms)
        except PlaywrightTimeout:
            pass                       # a page that keeps polling still gets captured
        if too_big:
            raise CaptureError(f"页面超过大小上限（{config.max_bytes} 字节）")
        document = documents.get(response.url)
        if document is None:
            raise CaptureError("未能取得页面原始内容")
        status, headers, body = document
        try:
            reason = response.status_text or http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        chain, req = [], response.request.redirected_from
        while req is not None and len(chain) < 20:
            chain.append(req.url)
            req = req.redirected_from
        chain.reverse()
        full = await page.evaluate(
            "() => Math.max(document.documentElement ? document.documentElement.scrollHeight : 0,"
            " document.body ? document.body.scrollHeight : 0)")
        clipped = int(full or 0) > config.max_height
        if clipped:
            shot = await page.screenshot(full_page=True, type="png",
                                         clip={"x": 0, "y": 0, "width": width, "height": config.max_height})
        else:
            shot = await page.screenshot(full_page=True, type="png")
        try:
            title = (await page.title())[:500]
        except PlaywrightError:
            title = ""
        request_headers = await response.request.all_headers()
        return Page(url=url, final_url=page.url, status=status, reason=reason,
                    headers=headers, request_headers=request_headers, body=body, screenshot=shot,
                    title=title, chain=chain, clipped=clipped)
    finally:
        await context.close()


async def _intercept_documents(context, page, config: CaptureConfig) -> tuple[dict, list]:
    """Through Chromium's Fetch domain: refuse local addresses for every
    request, and keep each top-level document's body exactly as it arrived
    (Playwright's ``response.body()`` re-encodes text as UTF-8, which would
    lose a GBK page's bytes). Redirects pass through untouched."""
    from playwright.async_api import Error as PlaywrightError
    cdp = await context.new_cdp_session(page)
    tree = await cdp.send("Page.getFrameTree")
    main_frame = tree["frameTree"]["frame"]["id"]
    documents: dict[str, tuple] = {}
    too_big: list[int] = []

    async def paused(event):
        rid = event["requestId"]
        url = event["request"]["url"]
        status = event.get("responseStatusCode")
        try:
            if _blocked_host(url):
                await cdp.send("Fetch.failRequest", {"requestId": rid, "errorReason": "BlockedByClient"})
                return
            if (status is None or 300 <= status < 400 or event.get("resourceType") != "Document"
                    or event.get("frameId") != main_frame):
                await cdp.send("Fetch.continueRequest", {"requestId": rid})
                return
            headers = {h["name"].lower(): h["value"] for h in event.get("responseHeaders") or []}
            declared = headers.get("content-length", "")
            if declared.isdigit() and int(declared) > config.max_bytes:
                too_big.append(int(declared))
                await cdp.send("Fetch.failRequest", {"requestId": rid, "errorReason": "BlockedByClient"})
                return
            got = await cdp.send("Fetch.getResponseBody", {"requestId": rid})
            body = base64.b64decode(got["body"]) if got.get("base64Encoded") else got["body"].encode("utf-8")
            if len(body) > config.max_bytes:
                too_big.append(len(body))
                await cdp.send("Fetch.failRequest", {"requestId": rid, "errorReason": "BlockedByClient"})
                return
            documents[url] = (status, headers, body)
            keep = [h for h in event.get("responseHeaders") or []
                    if h["name"].lower() not in ("content-encoding", "content-length", "transfer-encoding")]
            await cdp.send("Fetch.fulfillRequest", {
                "requestId": rid, "responseCode": status, "responseHeaders": keep,
                "body": base64.b64encode(body).decode("ascii")})
        except PlaywrightError as exc:        # page closed meanwhile, or request gone
            logger.debug("interception of %s ended: %s", url, exc)

    cdp.on("Fetch.requestPaused", paused)
    await cdp.send("Fetch.enable", {"patterns": [
        {"urlPattern": "*", "requestStage": "Request"},
        {"urlPattern": "*", "resourceType": "Document", "requestStage": "Response"}]})
    return documents, too_big


def save_capture(db, item: dict, page: Page, config: CaptureConfig, tool: str, captured_at: str) -> int:
    """Write the files of a successful capture and its evidence row."""
    root = store.evidence_dir(db)
    encoding, text = decode_html(page.body, page.headers.get("content-type", ""))
    files = [
        store_file(root, "screenshot", page.screenshot),
        store_file(root, "raw", page.body),
        store_file(root, "html", text.encode("utf-8")),
        store_file(root, "warc", make_warc(page.final_url, page.status, page.reason, page.headers,
                                           page.body, captured_at, page.request_headers)),
    ]
    access = []
    if item.get("keyword"):
        access.append(f"巡查关键词“{item['keyword']}”" + (f"（平台 {item['platform']}）" if item.get("platform") else ""))
    access.append(f"浏览器打开 {page.url}")
    access += [f"重定向经过 {u}" for u in page.chain if u != page.url]
    if page.final_url != page.url:
        access.append(f"最终到达 {page.final_url}")
    record = render_record(
        item=item, page=page, files=files, tool=tool, captured_at=captured_at,
        operator=config.operator or "certwatch", encoding=encoding, access=access,
        network="经由沙箱代理（模拟互联网）" + config.sandbox if config.sandbox else "直接访问互联网",
        kind_label="信息" if item["kind"] == "finding" else "网站")
    files.append(store_file(root, "record", record))
    key = {"finding_id": item["id"]} if item["kind"] == "finding" else {"site_id": item["id"]}
    return store.add_evidence(db, {
        **key, "url": page.url, "final_url": page.final_url, "http_status": page.status,
        "captured_at": captured_at, "tool": tool, "status": "ok", "files": files,
        "operator": config.operator or "certwatch"})


def save_failure(db, item: dict, error: str, tool: str, config: CaptureConfig) -> int:
    key = {"finding_id": item["id"]} if item["kind"] == "finding" else {"site_id": item["id"]}
    return store.add_evidence(db, {**key, "url": item["url"], "status": "failed", "error": error[:500],
                                   "tool": tool, "files": [], "operator": config.operator or "certwatch"})


async def capture_items(db, items: list[dict], config: CaptureConfig, progress=None,
                        should_stop=None) -> CaptureStats:
    """Capture ``items`` (from store.items_needing_evidence) with one browser.
    Once ``should_stop()`` is true no further item starts (those under way
    finish); the rest are left for the next run."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright
    stats = CaptureStats()
    tool = tool_name()
    runnable = []
    for item in items:            # refused before any browser work
        scheme = urllib.parse.urlsplit(item["url"]).scheme
        error = ("只能提取 http/https 网址" if scheme not in ("http", "https") else
                 "拒绝访问本机或内网地址" if _blocked_host(item["url"]) else "")
        if error:
            save_failure(db, item, error, tool, config)
            stats.failed += 1
            stats.errors.append((item, error))
            if progress:
                progress(item, stats)
        else:
            runnable.append(item)
    if not runnable:
        return stats
    items = runnable
    launch = {"headless": True, "args": list(config.launch_args)}
    if config.executable_path:
        launch["executable_path"] = config.executable_path
    if config.sandbox:
        launch["proxy"] = {"server": config.sandbox}
        # The sandbox's https hosts answer with a self-signed certificate
        # made at its start (crawler/sandbox/tls.py): accepted there only.
        launch["args"].append("--ignore-certificate-errors")
    async with async_playwright() as pw:
        try:
            browser = await pw.chromium.launch(**launch)
        except PlaywrightError as exc:
            raise CaptureError(f"无法启动浏览器：{str(exc).splitlines()[0][:300]}") from None
        tool = tool_name(browser.version)
        gate = asyncio.Semaphore(max(1, config.concurrency))

        async def one(item):
            async with gate:
                if should_stop is not None and should_stop():
                    return
                captured_at = store.now_utc()
                try:
                    page = await asyncio.wait_for(fetch_page(browser, item["url"], config), config.item_timeout)
                    save_capture(db, item, page, config, tool, captured_at)
                    stats.ok += 1
                    logger.info("captured %s %s", item["kind"], item["id"])
                except (CaptureError, asyncio.TimeoutError, PlaywrightError) as exc:
                    error = str(exc) if isinstance(exc, CaptureError) else (
                        f"超过 {config.item_timeout:g} 秒未完成" if isinstance(exc, asyncio.TimeoutError)
                        else f"浏览器错误：{str(exc).splitlines()[0][:200]}")
                    save_failure(db, item, error, tool, config)
                    stats.failed += 1
                    stats.errors.append((item, error))
                    logger.warning("capture failed %s %s: %s", item["kind"], item["id"], error)
                if progress:
                    progress(item, stats)
        try:
            await asyncio.gather(*(one(item) for item in items))
        finally:
            await browser.close()
    return stats


def capture(db, config: CaptureConfig, limit: int = 0, progress=None,
            sweep_id: int | None = None, should_stop=None) -> CaptureStats:
    """Capture everything that lacks ok evidence (failed ones again); with
    ``sweep_id`` only what that sweep saw (the scheduler, after a sweep)."""
    items = (store.items_needing_evidence(db, limit=limit) if sweep_id is None
             else store.sweep_items_needing_evidence(db, sweep_id, limit=limit))
    return asyncio.run(capture_items(db, items, config, progress, should_stop))


# ---------------------------------------------------------------- verify

@dataclass
class Problem:
    evidence_id: int
    kind: str
    path: str
    problem: str          # "missing" | "altered" | "outside"
    expected: str = ""
    actual: str = ""


@dataclass
class VerifyReport:
    rows: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)


def verify(db) -> VerifyReport:
    """Re-hash every file of every ok capture."""
    report = VerifyReport()
    root = store.evidence_dir(db)
    for row in store.iter_evidence(db):
        if row.get("status") != "ok":
            continue
        report.rows += 1
        for f in row["files"]:
            if not isinstance(f, dict):
                continue
            report.files += 1
            rel = str(f.get("path") or "")
            path = file_path(root, rel)
            if path is None:
                report.problems.append(Problem(row["id"], str(f.get("kind")), rel, "outside"))
            elif not os.path.isfile(path):
                report.problems.append(Problem(row["id"], str(f.get("kind")), rel, "missing",
                                               f.get("sha256") or ""))
            else:
                actual = sha256_file(path)
                if actual != f.get("sha256"):
                    report.problems.append(Problem(row["id"], str(f.get("kind")), rel, "altered",
                                                   f.get("sha256") or "", actual))
    return report
