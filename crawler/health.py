"""Sweep health: "clean" is not "blocked".

* ``PlatformHealthMiddleware`` (downloader middleware) counts, per
  platform, requests, responses by status, download errors and *blocked*
  pages — login walls, captcha/verification pages, anti-bot interstitials,
  blank pages — recognized by the profile's ``blocked:`` markers plus
  generic signals. A blocked response is tagged
  (``meta["certwatch_blocked"]``) so the spider does not read it as "no
  results".
* ``platform_health()`` turns a sweep's stats into one row per platform
  with a status: ``ok``, ``blocked`` or ``broken`` (the profile's canary
  query returned nothing), and a note that names the cause from the
  responses it saw: refused by the address guard (or unresolvable), server
  errors, request errors, unreachable, or a page whose layout changed.
* ``sweep_failure()``: why a whole sweep counts as failed although Scrapy
  finished (no platform selected, no page reached, every response refused
  or a server error) — never a silent 完成.
* ``record_health()`` stores those rows, writes alert rows and, where a
  webhook is configured, POSTs ``{"msgtype": "text", "text": {"content": …}}``
  (the format DingTalk and WeCom robots accept).
"""
from __future__ import annotations

import json
import logging
import math
import time
import urllib.error
import urllib.request

from scrapy import signals
from scrapy.http import TextResponse

from pipelines.fastcss import css_exists, css_strings
from pipelines.profiles import Profile, load_profiles

log = logging.getLogger(__name__)

# Generic signals (any platform). Text markers only count when the page
# lacks what the profile expects on it, so a listing that merely mentions
# 验证码 is not a captcha page.
GENERIC_MARKERS = {
    "captcha": ("验证码", "安全验证", "滑动验证", "人机验证", "请完成验证", "拖动滑块", "captcha",
                "verify you are human"),
    "login": ("请登录", "登录后查看", "登录后可见", "请先登录", "扫码登录", "登录/注册"),
    "interstitial": ("正在检查您的浏览器", "just a moment", "checking your browser", "访问过于频繁",
                     "访问频率过高", "异常访问", "请求过于频繁", "ddos protection"),
}
GENERIC_STATUS = (401, 403, 407, 429, 503)
GENERIC_URL_PATTERNS = {"login": ("/login", "/signin", "passport.", "/passport/"),
                        "captcha": ("/captcha", "/verify", "/sec/")}
# A platform is "blocked" when at least this share of its responses were.
BLOCKED_SHARE = 0.1

STATUS_CN = {"ok": "正常", "blocked": "被拦截", "broken": "失效", "no_requests": "未访问"}
REASON_CN = {"captcha": "验证码页面", "login": "登录墙", "interstitial": "反爬拦截页", "marker": "平台拦截标记",
             "empty_page": "空白页面", "status": "拦截状态码", "redirect": "跳转到登录/验证"}


def block_reason(profile: Profile, response, page_kind: str) -> str | None:
    """Why ``response`` (for a search or detail page of ``profile``) is a
    refusal rather than content; None when it is content."""
    blocked = profile.blocked or {}
    if response.status in (blocked.get("status") or ()) or response.status in GENERIC_STATUS:
        return "status"
    url = response.url.lower()
    for pattern in blocked.get("url_patterns") or ():
        if pattern.lower() in url:
            return "redirect"
    request_url = getattr(response, "request", None) and response.request.url.lower()
    for reason, patterns in GENERIC_URL_PATTERNS.items():
        if any(p in url and (not request_url or p not in request_url) for p in patterns):
            return "redirect"
    if not isinstance(response, TextResponse):
        return None
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):
        return None
    for marker in blocked.get("markers") or ():
        if marker in text:
            return "marker"
    if response.status >= 300:
        return None
    expected = profile.search.get("result") if page_kind == "search" else profile.detail.get("title")
    if expected:
        try:
            if css_exists(response.selector, expected) if isinstance(expected, str) else response.css(expected):
                return None
        except Exception:  # parsel raises several kinds on odd documents
            return None
    visible = " ".join(css_strings(response.selector, "body ::text")).strip() if "<" in text else text.strip()
    if page_kind == "search" and not visible and not _has_structure(response, text):
        return "empty_page"
    low = visible.lower()
    for reason, markers in GENERIC_MARKERS.items():
        if any(m in low for m in markers):
            return reason
    return None


def _has_structure(response, text: str) -> bool:
    """A page body with elements (an empty result list, a pager) is a page
    that says "no results"; a blank one (nothing, or only scripts) is not."""
    if "<" not in text:
        return False
    return bool(response.xpath("//body//*[not(self::script or self::style or self::noscript or self::br)]"))


class PlatformHealthMiddleware:
    """Per-platform request/response/error/blocked counters (stats keys
    ``certwatch/requests/<p>``, ``certwatch/responses/<p>/<status>``,
    ``certwatch/errors/<p>``, ``certwatch/blocked/<p>``,
    ``certwatch/blocked_reason/<p>/<reason>``, ``certwatch/duration/<p>``)."""

    def __init__(self, crawler):
        self.stats = crawler.stats
        self.profiles = load_profiles(crawler.settings.get("CERTWATCH_PROFILES_DIR") or None)
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def _platform(self, request) -> Profile | None:
        name = request.meta.get("profile")
        if name in self.profiles:
            return self.profiles[name]
        return None

    def process_request(self, request, spider=None):
        profile = self._platform(request)
        if profile is not None:
            self.stats.inc_value(f"certwatch/requests/{profile.name}")
            self.first.setdefault(profile.name, time.monotonic())
        return None

    def process_response(self, request, response, spider=None):
        profile = self._platform(request)
        if profile is None:
            return response
        self.last[profile.name] = time.monotonic()
        self.stats.inc_value(f"certwatch/responses/{profile.name}/{response.status}")
        kind = "search" if "page" in request.meta else "detail"
        reason = block_reason(profile, response, kind)
        if reason:
            request.meta["certwatch_blocked"] = reason
            self.stats.inc_value(f"certwatch/blocked/{profile.name}")
            self.stats.inc_value(f"certwatch/blocked_reason/{profile.name}/{reason}")
            log.info("平台 %s 拒绝访问（%s）：%s", profile.name, REASON_CN.get(reason, reason), response.url)
        else:
            request.meta.pop("certwatch_blocked", None)
        return response

    def process_exception(self, request, exception, spider=None):
        profile = self._platform(request)
        if profile is not None:
            self.last[profile.name] = time.monotonic()
            if request.meta.get("certwatch_refused"):     # the address guard said no
                self.stats.inc_value(f"certwatch/refused_requests/{profile.name}")
                self.stats.inc_value(f"certwatch/refused_reason/{profile.name}/{request.meta['certwatch_refused']}")
            else:
                self.stats.inc_value(f"certwatch/errors/{profile.name}")
        return None

    def spider_closed(self, spider, reason):
        for name, start in self.first.items():
            self.stats.set_value(f"certwatch/duration/{name}", round(self.last.get(name, start) - start, 3))


def _platform_names(stats: dict) -> list[str]:
    names = set()
    for key in stats:
        for prefix in ("certwatch/requests/", "certwatch/canary/", "certwatch/search_pages/",
                       "certwatch/detail_pages/"):
            if key.startswith(prefix) and "/" not in key[len(prefix):]:
                names.add(key[len(prefix):])
    return sorted(names)


def platform_health(stats: dict, summary: dict[str, dict], profiles: dict[str, Profile]) -> list[dict]:
    """One health row per platform the sweep touched. ``summary`` is
    store.sweep_summary keyed by platform (listings seen, flagged)."""
    def num(key):
        value = stats.get(key, 0)
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    rows = []
    for name in _platform_names(stats):
        by_status = {k.rsplit("/", 1)[1]: int(num(k)) for k in stats
                     if k.startswith(f"certwatch/responses/{name}/")}
        reasons = {k.rsplit("/", 1)[1]: int(num(k)) for k in stats
                   if k.startswith(f"certwatch/blocked_reason/{name}/")}
        responses = sum(by_status.values())
        blocked = int(num(f"certwatch/blocked/{name}"))
        canary_sent = int(num(f"certwatch/canary/{name}"))
        canary_results = int(num(f"certwatch/canary_results/{name}"))
        profile = profiles.get(name)
        row = {
            "platform": name, "requests": int(num(f"certwatch/requests/{name}")), "responses": responses,
            "by_status": by_status, "items": int(summary.get(name, {}).get("listings", 0)),
            "flagged": int(summary.get(name, {}).get("flagged", 0)),
            "errors": int(num(f"certwatch/errors/{name}")), "blocked": blocked, "blocked_reasons": reasons,
            "empty_pages": int(num(f"certwatch/empty_results/{name}")),
            "search_pages": int(num(f"certwatch/search_pages/{name}")),
            "detail_pages": int(num(f"certwatch/detail_pages/{name}")),
            "canary": (profile.canary if profile else "") if canary_sent else "",
            "canary_results": canary_results, "duration": float(num(f"certwatch/duration/{name}")),
        }
        refused = int(num(f"certwatch/refused_requests/{name}"))
        refused_why = {k.rsplit("/", 1)[1]: int(num(k)) for k in stats
                       if k.startswith(f"certwatch/refused_reason/{name}/")}
        server_errors = sum(n for code, n in by_status.items() if code.isdigit() and int(code) >= 500)
        client_errors = sum(n for code, n in by_status.items() if code.isdigit() and 400 <= int(code) < 500
                            and int(code) not in (404, 410))
        fine = sum(n for code, n in by_status.items() if code.isdigit() and 200 <= int(code) < 300)
        notes = []
        if blocked and blocked >= max(1, math.ceil(BLOCKED_SHARE * responses)):
            status = "blocked"
            notes.append("原因：被平台拦截（" + "；".join(f"{REASON_CN.get(r, r)} {n} 次"
                                                  for r, n in sorted(reasons.items())) + "）")
        elif not responses and refused:
            status = "broken"
            notes.append(f"原因：全部 {refused} 个请求被拒绝（{refused_text(refused_why)}）")
        elif not responses and row["errors"]:
            status = "broken"
            notes.append(f"原因：无法连接，全部请求失败（{row['errors']} 次）")
        elif responses and server_errors * 2 >= responses:
            status = "broken"
            notes.append(f"原因：服务器错误（{codes_text(by_status, 500, 600)}）")
        elif canary_sent and canary_results == 0:
            status = "broken"
            if fine:
                notes.append(f"原因：页面结构可能已改版——探测查询“{row['canary']}”得到了正常页面，"
                             "但结果选择器没有找到任何结果")
            elif client_errors:
                notes.append(f"原因：请求被拒绝或有误（{codes_text(by_status, 400, 500)}），"
                             f"探测查询“{row['canary']}”没有结果")
            else:
                notes.append(f"探测查询“{row['canary']}”没有返回结果")
        elif row["requests"] == 0 and responses == 0:
            status = "no_requests"
        else:
            status = "ok"
            if blocked:
                notes.append(f"少量拦截 {blocked} 次")
        if refused and status == "ok":
            notes.append(f"{refused} 个请求被拒绝（{refused_text(refused_why)}）")
        row["status"] = status
        row["note"] = "；".join(n for n in notes if n)
        rows.append(row)
    return rows


REFUSED_CN = {"unresolvable": "主机无法解析", "private_address": "本机或内网地址，地址保护不放行",
              "scheme": "不支持的协议", "bad_url": "网址无效"}


def refused_text(reasons: dict) -> str:
    return "；".join(f"{REFUSED_CN.get(r, r)} {n} 次" for r, n in sorted(reasons.items())) or "地址保护"


def codes_text(by_status: dict, low: int, high: int) -> str:
    return "，".join(f"HTTP {code} × {n}" for code, n in sorted(by_status.items())
                    if code.isdigit() and low <= int(code) < high)


def sweep_failure(stats: dict, selected: list[str]) -> str:
    """Why a sweep that Scrapy finished still failed ("" = it did not):
    no platform selected, no page reached (and why), or every response a
    refusal or a server error."""
    def num(key):
        value = stats.get(key, 0)
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0

    if not selected:
        return "没有选中任何平台（真实模式需要 sandbox: false 的平台配置；沙箱模式需要沙箱平台，或用 --platforms 指定）"
    by_status = {k.rsplit("/", 1)[1]: num(k) for k in stats if k.startswith("downloader/response_status_count/")}
    responses = sum(by_status.values())
    refused = {k.rsplit("/", 1)[1]: num(k) for k in stats if k.startswith("certwatch/refused/")}
    if not responses:
        parts = []
        if sum(refused.values()):
            parts.append(f"{sum(refused.values())} 个请求被拒绝（{refused_text(refused)}）")
        errors = num("downloader/exception_count") - sum(refused.values())   # refusals are raised as exceptions too
        if errors > 0:
            parts.append(f"{errors} 个请求连接失败")
        return "没有访问到任何页面" + ("：" + "；".join(parts) if parts else "")
    refusals = sum(n for code, n in by_status.items() if code.isdigit()
                   and (int(code) >= 500 or int(code) in (401, 403, 407, 429)))
    if refusals == responses:
        return f"全部 {responses} 个响应都是拒绝或服务器错误（{codes_text(by_status, 400, 600)}）"
    return ""


def send_webhook(url: str, content: str, timeout: float = 5.0) -> tuple[bool, str]:
    """POST a DingTalk/WeCom text message. Returns (delivered, error)."""
    if not url.startswith(("http://", "https://")):
        return False, "webhook 地址必须以 http:// 或 https:// 开头"
    body = json.dumps({"msgtype": "text", "text": {"content": content}}, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json; charset=utf-8"})
    # Never through an environment proxy: the webhook is addressed directly.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as resp:
            resp.read(65536)
            if 200 <= resp.status < 300:
                return True, ""
            return False, f"HTTP {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, str(getattr(exc, "reason", exc))[:300]


def alert(db, kind: str, message: str, webhook: str = "", platform: str | None = None,
          sweep_id: int | None = None) -> int:
    """Write an alert row and deliver it to the webhook when configured."""
    from pipelines import store
    alert_id = store.add_alert(db, kind, message, platform, sweep_id)
    if webhook:
        delivered, error = send_webhook(webhook, message)
        store.mark_alert_delivery(db, alert_id, delivered, error)
        if not delivered:
            log.warning("告警推送失败：%s", error)
    return alert_id


def record_health(db_path: str, sweep_id: int, status: str, stats: dict, webhook: str = "",
                  profiles_dir: str | None = None) -> list[dict]:
    """Store per-platform health of a finished sweep and raise alerts for
    blocked/broken platforms and failed sweeps."""
    from pipelines import store
    try:
        profiles = load_profiles(profiles_dir or None)
    except ValueError:
        profiles = {}
    with store.opened(db_path) as db:
        summary = {r["platform"]: r for r in store.sweep_summary(db, sweep_id)}
        rows = platform_health(stats, summary, profiles)
        store.save_sweep_platforms(db, sweep_id, rows)
        for row in rows:
            if row["status"] in ("blocked", "broken"):
                title = profiles[row["platform"]].title if row["platform"] in profiles else row["platform"]
                message = (f"【certwatch 巡查告警】巡查 #{sweep_id}：平台 {title}（{row['platform']}）"
                           f"{STATUS_CN[row['status']]}。{row['note']}。请求 {row['requests']}，"
                           f"响应 {row['responses']}，被拦截 {row['blocked']}，信息 {row['items']}。")
                alert(db, row["status"], message, webhook, row["platform"], sweep_id)
        if status == "failed":
            why = stats.get("certwatch/failure") or "请查看日志"
            alert(db, "sweep_failed", f"【certwatch 巡查告警】巡查 #{sweep_id} 失败：{why}。",
                  webhook, None, sweep_id)
        return rows
