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
import hashlib
import http
import io
import json
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
    # As the sweep: a platform's own proxy (profile politeness.proxy, real mode)
    # by host, and the loopback hosts `--local` profiles name (reachable).
    proxies: tuple = ()                # ((host, proxy URL), ...)
    local_hosts: frozenset = frozenset()
    allow: str = ""                    # the fetch guard's named exceptions (pipelines.netguard)

    def guard(self):
        """The fetch guard every request of a capture goes through."""
        from pipelines.netguard import Guard, parse_allow
        return Guard(sandbox=self.sandbox.rstrip("/"),
                     allow=parse_allow(",".join(p for p in (self.allow, *sorted(self.local_hosts)) if p)),
                     max_bytes=self.max_bytes, timeout=self.nav_timeout_ms / 1000,
                     upstream=() if self.sandbox else tuple(self.proxies))

    @classmethod
    def from_settings(cls, settings, **overrides) -> "CaptureConfig":
        """From Scrapy-style settings (crawler.settings), with the profiles'
        proxies (CERTWATCH_PROFILES_DIR) and the --local hosts the sweep used."""
        launch = settings.get("PLAYWRIGHT_LAUNCH_OPTIONS") or {}
        local = settings.get("CERTWATCH_LOCAL_HOSTS") or ""
        local = local if isinstance(local, (list, tuple, set, frozenset)) else str(local).split(",")
        values = dict(
            proxies=profile_proxies(settings.get("CERTWATCH_PROFILES_DIR") or ""),
            local_hosts=frozenset(h.strip().lower() for h in local if h.strip()),
            sandbox=settings.get("CERTWATCH_SANDBOX") or "",
            executable_path=launch.get("executable_path") or "",
            launch_args=tuple(launch.get("args") or cls.launch_args),
            item_timeout=float(settings.get("CERTWATCH_EVIDENCE_TIMEOUT") or cls.item_timeout),
            max_bytes=int(settings.get("CERTWATCH_EVIDENCE_MAX_BYTES") or cls.max_bytes),
            max_height=int(settings.get("CERTWATCH_EVIDENCE_MAX_HEIGHT") or cls.max_height),
            concurrency=int(settings.get("CERTWATCH_EVIDENCE_CONCURRENCY") or cls.concurrency),
            allow=str(settings.get("CERTWATCH_GUARD_ALLOW") or ""),
        )
        values.update({k: v for k, v in overrides.items() if v not in (None, "")})
        return cls(**values)


def profile_proxies(profiles_dir: str = "") -> tuple:
    """(host, proxy) for every platform whose profile names its own proxy."""
    from pipelines.profiles import ProfileError, load_profiles
    try:
        profiles = load_profiles(profiles_dir or None)
    except ProfileError:
        return ()
    return tuple((h, p.politeness["proxy"]) for p in profiles.values() if p.politeness.get("proxy") for h in p.hosts)


@dataclass
class CaptureStats:
    ok: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)
    total: int = 0          # items this run takes on (progress: ok + failed of total)


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
        from keywords.atomic import atomic_write
        os.makedirs(os.path.dirname(path), exist_ok=True)
        atomic_write(path, data)
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


def refusal(url: str, config: CaptureConfig) -> str:
    """Why the fetch guard refuses ``url`` before any lookup ('' = it may be tried)."""
    from pipelines.netguard import Refused
    try:
        config.guard().check_url(url)
    except Refused as exc:
        return str(exc)
    return ""


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
    """Open ``url`` in a fresh context; return what the record needs. Every
    request of the page (navigation, each redirect hop, sub-requests) is
    fetched under the fetch guard (pipelines.netguard.intercept), bounded
    by ``max_bytes`` after decoding; the main document's bytes are kept
    exactly as served."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    from pipelines.netguard import intercept
    why = refusal(url, config)
    if why:
        raise CaptureError(why)
    width, height = config.viewport
    context = await browser.new_context(
        viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai",
        ignore_https_errors=True, accept_downloads=False, service_workers="block")
    documents: dict[str, tuple] = {}      # a platform's own proxy is used by the guarded fetch (config.guard)
    refused: list[tuple] = []
    try:
        page = await context.new_page()
        page.set_default_timeout(config.nav_timeout_ms)

        def on_document(event, fetched):
            documents[event["request"]["url"]] = (fetched.status, {k.lower(): v for k, v in fetched.headers},
                                                  fetched.body)

        session = await intercept(context, page, config.guard(), on_document,
                                  lambda code, u, message: refused.append((code, u, message)))
        try:
            response = await page.goto(url, wait_until="load", timeout=config.nav_timeout_ms)
        except PlaywrightTimeout:
            raise CaptureError("页面加载超时") from None
        except PlaywrightError as exc:
            main = [r for r in refused if r[1] not in documents]
            if main:
                raise CaptureError(main[-1][2]) from None
            raise CaptureError(f"无法打开页面：{str(exc).splitlines()[0][:200]}") from None
        if response is None:
            raise CaptureError("页面没有响应")
        try:
            await page.wait_for_load_state("networkidle", timeout=config.settle_ms)
        except PlaywrightTimeout:
            pass                       # a page that keeps polling still gets captured
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
        del session
        return Page(url=url, final_url=page.url, status=status, reason=reason,
                    headers=headers, request_headers=request_headers, body=body, screenshot=shot,
                    title=title, chain=chain, clipped=clipped)
    finally:
        await context.close()


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
        network=("经由沙箱代理（模拟互联网）" + config.sandbox if config.sandbox else
                 "经由平台配置的代理 " + dict(config.proxies)[(urllib.parse.urlsplit(page.url).hostname or "").lower()]
                 if (urllib.parse.urlsplit(page.url).hostname or "").lower() in dict(config.proxies) else "直接访问互联网"),
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
    finish); the rest are left for the next run. ``progress(item, stats)`` is
    called once before the first item (item None; stats.total set) and after
    each item."""
    from playwright.async_api import Error as PlaywrightError
    from playwright.async_api import async_playwright
    stats = CaptureStats(total=len(items))
    if progress:
        progress(None, stats)           # the total, before the first item
    tool = tool_name()
    runnable = []
    for item in items:            # refused before any browser work
        error = refusal(item["url"], config)
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
    from pipelines.netguard import browser_proxy
    launch["proxy"] = browser_proxy(config.guard())     # the browser itself reaches nothing else
    if config.sandbox:
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
    problem: str          # see PROBLEMS
    expected: str = ""
    actual: str = ""


# What ``verify`` can find, as ``evidence verify`` says it.
PROBLEMS = {
    "missing": "文件缺失", "altered": "文件已被改动", "outside": "路径越出证据目录", "size": "文件大小与记录不符",
    "record": "记录内容被改动（记录哈希不符）", "chain": "哈希链断开（前一条记录被删除、改动或顺序被调换）",
    "seq": "记录序号不连续（记录被删除或顺序被调换）", "json": "文件清单不是有效的 JSON",
    "unsealed": "记录没有封存哈希", "status": "记录状态无效", "head": "链头与最后一条记录不符（末尾记录可能被删除）",
}


@dataclass
class VerifyReport:
    rows: int = 0
    files: int = 0
    problems: list[Problem] = field(default_factory=list)


def verify(db) -> VerifyReport:
    """Walk the evidence chain: every capture row's record hash (its fields
    and files), its link to the previous row, its position, the chain head
    beside the files, and for ok captures every file's SHA-256 and size.
    Reports every anomaly found (``rows`` counts every capture)."""
    report = VerifyReport()
    root = store.evidence_dir(db)
    expected_seq, expected_prev = 1, ""
    for row in store.iter_evidence_raw(db):
        report.rows += 1
        rid = row["id"]
        add = lambda problem, kind="记录", path="", expected="", actual="": report.problems.append(  # noqa: E731
            Problem(rid, kind, path, problem, str(expected or ""), str(actual or "")))
        try:
            files = json.loads(row.get("files") or "[]")
            if not isinstance(files, list):
                raise ValueError
        except ValueError:
            add("json")
            files = None
        if not row.get("record_hash"):
            add("unsealed")
        else:
            if row.get("seq") != expected_seq:
                add("seq", expected=expected_seq, actual=row.get("seq"))
            if (row.get("prev_hash") or "") != expected_prev:
                add("chain", expected=expected_prev, actual=row.get("prev_hash"))
            if files is not None and store.record_hash(row, files) != row["record_hash"]:
                add("record", expected=row["record_hash"], actual=store.record_hash(row, files))
        if row.get("status") not in ("ok", "failed"):
            add("status", actual=row.get("status"))
        expected_seq = (row.get("seq") or expected_seq) + 1
        expected_prev = row.get("record_hash") or ""
        if row.get("status") != "ok" or not files:
            continue
        for f in files:
            if not isinstance(f, dict):
                add("json")
                continue
            report.files += 1
            kind, rel = str(f.get("kind")), str(f.get("path") or "")
            path = file_path(root, rel)
            if path is None:
                add("outside", kind, rel)
            elif not os.path.isfile(path):
                add("missing", kind, rel, f.get("sha256"))
            else:
                actual = sha256_file(path)
                if actual != f.get("sha256"):
                    add("altered", kind, rel, f.get("sha256"), actual)
                elif os.path.getsize(path) != f.get("bytes"):
                    add("size", kind, rel, f.get("bytes"), os.path.getsize(path))
    head = store.read_chain_head(db)
    if report.rows or head is not None:
        if head is None or head.get("invalid") or head.get("seq") != expected_seq - 1 \
                or head.get("record_hash") != expected_prev:
            report.problems.append(Problem(0, "链头", store.HEAD_FILE,
                                           "head", f"{(head or {}).get('seq')} {(head or {}).get('record_hash')}",
                                           f"{expected_seq - 1} {expected_prev}"))
    return report
