"""``recheck``: revisit requested takedown items and record whether they
are gone (reports/recheck.py decides; the store keeps every check)."""
from __future__ import annotations

import hashlib
import logging
import os
from datetime import datetime, timezone
from urllib.parse import unquote

import scrapy
from w3lib.url import canonicalize_url

from pipelines.profiles import load_profiles, profile_for_host
from pipelines import store
from pipelines.store import parse_utc
from pipelines.recheck import DEFAULT_DAYS, FORCED, Decision, decide, due_label, parse_days

log = logging.getLogger(__name__)


def _canon(url: str) -> str:
    try:
        return canonicalize_url(url or "")
    except (ValueError, TypeError):
        return url or ""


class RecheckSpider(scrapy.Spider):
    name = "recheck"
    # Rechecks read every status themselves; they are not sweeps and store
    # their own rows (no item pipelines, no sweep record).
    custom_settings = {
        "ITEM_PIPELINES": {},
        "EXTENSIONS": {"crawler.extensions.SweepRecorder": None},
    }

    def __init__(self, batch: str | int = "", force: str | bool = False, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.batch = int(batch) if str(batch or "").strip() else None
        self.force = str(force).lower() in ("1", "true", "yes")

    @classmethod
    def from_crawler(cls, crawler, *args, **kwargs):
        s = crawler.settings
        kwargs.setdefault("batch", s.get("CERTWATCH_RECHECK_BATCH", ""))
        kwargs.setdefault("force", s.getbool("CERTWATCH_RECHECK_FORCE", False))
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.db_path = s.get("CERTWATCH_DB")
        spider.days = parse_days(s.get("CERTWATCH_RECHECK_DAYS") or DEFAULT_DAYS)
        spider.now = parse_utc(s.get("CERTWATCH_RECHECK_NOW") or "") or datetime.now(timezone.utc)
        spider.screenshots = s.getbool("CERTWATCH_RECHECK_SCREENSHOTS", True)
        spider.profiles = load_profiles(s.get("CERTWATCH_PROFILES_DIR") or None)
        spider.db = None
        return spider

    async def start(self):
        self.db = store.connect(self.db_path)
        stats = self.crawler.stats
        due = []
        for target in store.recheck_targets(self.db, self.batch):
            label = FORCED if self.force else due_label(target["sent_at"], target["checks"], self.days, self.now)
            if label is None:
                stats.inc_value("recheck/not_due")
                continue
            due.append((target, label))
        # The progress total, whole before the first request (Scrapy pulls
        # start requests as it goes: counting them here made it grow).
        stats.set_value("recheck/requests", len(due))
        for target, label in due:
            try:
                request = scrapy.Request(target["url"], callback=self.parse, errback=self.failed, dont_filter=True,
                                         meta={"target": target, "due": label,
                                               "handle_httpstatus_list": list(range(400, 600))})
            except (ValueError, TypeError) as exc:      # a stored URL Scrapy cannot fetch
                stats.inc_value("recheck/unknown")
                stats.inc_value("recheck/error/bad_url")
                self.record(target, label, decide(None, error=f"链接无效：{exc}"), None, target["url"] or "")
                continue
            yield request

    def closed(self, reason):
        if self.db is not None:
            self.db.close()

    def _profile(self, url: str):
        from urllib.parse import urlsplit
        return profile_for_host(self.profiles, urlsplit(url).hostname or "")

    def parse(self, response):
        target, due = response.meta["target"], response.meta["due"]
        profile = self._profile(target["url"])
        removed = profile.removed if profile else {}
        text, seen_title, seen_text = "", "", ""
        if isinstance(response, scrapy.http.TextResponse):
            text = " ".join(t.strip() for t in response.css("body ::text").getall() if t.strip())[:200_000]
            if profile is not None:
                def field(name):
                    css = profile.detail.get(name)
                    return " ".join(t.strip() for t in response.css(css).getall() if t.strip()) if css else ""
                seen_title, seen_text = field("title"), field("text")
        redirected = bool(response.meta.get("redirect_urls"))
        d = decide(response.status, text, redirected=redirected, markers=removed.get("markers", ()),
                   statuses=removed.get("status", (404, 410)), stored_title=target["title"] or "",
                   stored_text=target["text"] or "", seen_title=seen_title, seen_text=seen_text)
        if d.result == "still_present" and profile is not None and profile.seller_page:
            seller = self.seller_request(target, due, d, response, profile)
            if seller is not None:
                yield seller
                return
        yield from self.finish(target, due, d, response.status, response.url)

    def finish(self, target, due, d, status, final_url):
        """Count the decision; a listing still there gets its screenshot first."""
        self.crawler.stats.inc_value(f"recheck/{d.result}")
        if d.result == "still_present" and self.screenshots:
            yield self.screenshot_request(target, due, d, status, final_url)
            return
        self.record(target, due, d, status, final_url)

    # -- the listing gone from the seller's page (profile removed.seller_page / seller_items)
    def seller_request(self, target, due, d, response, profile):
        href = response.css(profile.seller_page).get()
        if not href or not href.strip():
            self.crawler.stats.inc_value("recheck/seller/no_link")
            return None
        try:
            return scrapy.Request(response.urljoin(href.strip()), callback=self.seller_checked,
                                  errback=self.seller_failed, dont_filter=True,
                                  meta={"target": target, "due": due, "decision": d,
                                        "seller_items": profile.seller_items,
                                        "status": response.status, "final_url": response.url,
                                        "handle_httpstatus_list": list(range(400, 600))})
        except (ValueError, TypeError):
            self.crawler.stats.inc_value("recheck/seller/bad_link")
            return None

    def seller_checked(self, response):
        m = response.meta
        d = m["decision"]
        stats = self.crawler.stats
        # Only a seller page that answered normally and lists items can say
        # the listing is gone; anything else (error, captcha, empty or changed
        # page) keeps "still present" — never guess removed.
        links = []
        if response.status == 200 and isinstance(response, scrapy.http.TextResponse):
            links = [h.strip() for h in response.css(m["seller_items"]).getall() if h.strip()]
        if not links:
            stats.inc_value("recheck/seller/unusable" if response.status == 200 else
                            f"recheck/seller/http_{response.status}")
        else:
            stats.inc_value("recheck/seller/checked")
            listed = {_canon(response.urljoin(h)) for h in links}
            if not {_canon(m["target"]["url"]), _canon(m["final_url"])} & listed:
                stats.inc_value("recheck/seller/delisted")
                d = Decision("removed", f"已从卖家店铺下架（详情页仍可打开，店铺页已无此商品：{unquote(response.url)}）"[:300],
                             d.similarity)
        yield from self.finish(m["target"], m["due"], d, m["status"], m["final_url"])

    def seller_failed(self, failure):
        m = failure.request.meta
        self.crawler.stats.inc_value(f"recheck/seller/error/{failure.value.__class__.__name__}")
        log.warning("复查卖家店铺页失败：%s（%s），保留“仍在线”判断", failure.request.url, failure.value)
        yield from self.finish(m["target"], m["due"], m["decision"], m["status"], m["final_url"])

    def failed(self, failure):
        request = failure.request
        target, due = request.meta["target"], request.meta["due"]
        reason = failure.value.__class__.__name__
        d = decide(None, error=f"{reason} {str(failure.value)[:200]}")
        self.crawler.stats.inc_value("recheck/unknown")
        self.crawler.stats.inc_value(f"recheck/error/{reason}")
        self.record(target, due, d, None, request.url)

    # -- a screenshot of a listing still there (browser)
    def screenshot_request(self, target, due, d, status, final_url):
        from scrapy_playwright.page import PageMethod
        stamp = datetime.now(store.BEIJING).strftime("%Y%m%d-%H%M%S")     # people read the name: Beijing time
        rel = os.path.join("recheck", f"takedown-{target['takedown_id']}",
                           f"finding-{target['finding_id']}-{stamp}.png")
        path = os.path.join(store.evidence_dir(self.db), rel)
        meta = {"playwright": True, "target": target, "due": due, "decision": d, "shot": (rel, path),
                "status": status, "final_url": final_url,
                "playwright_page_methods": [PageMethod("screenshot", full_page=True, type="png")]}
        # The browser ignores meta["proxy"]: a platform's own proxy (real mode) goes into its context.
        profile = self._profile(target["url"])
        proxy = profile.politeness.get("proxy") if profile is not None else ""
        if proxy and not self.crawler.settings.get("CERTWATCH_SANDBOX"):
            meta["playwright_context"] = f"proxy-{profile.name}"
            meta["playwright_context_kwargs"] = {"proxy": {"server": proxy, "bypass": "127.0.0.1,localhost"}}
        return scrapy.Request(target["url"], callback=self.shot_taken, errback=self.shot_failed,
                              dont_filter=True, meta=meta)

    def shot_taken(self, response):
        m = response.meta
        rel, path = m["shot"]
        digest = ""
        methods = m.get("playwright_page_methods") or []
        shot = getattr(methods[0], "result", None) if methods else None
        if isinstance(shot, bytes) and shot:
            from keywords.atomic import atomic_write
            os.makedirs(os.path.dirname(path), exist_ok=True)
            atomic_write(path, shot)              # whole or absent, like every evidence file
            digest = hashlib.sha256(shot).hexdigest()
            self.crawler.stats.inc_value("recheck/screenshots")
        else:
            rel = ""
        self.record(m["target"], m["due"], m["decision"], m["status"], m["final_url"], rel, digest)

    def shot_failed(self, failure):
        m = failure.request.meta
        self.crawler.stats.inc_value("recheck/screenshot_failed")
        log.warning("复查截图失败：%s（%s）", failure.request.url, failure.value)
        self.record(m["target"], m["due"], m["decision"], m["status"], m["final_url"])

    def record(self, target, due, d, status, final_url, screenshot="", digest=""):
        store.add_takedown_check(self.db, target["item_id"], d.result, d.reason, due, status, final_url,
                                 d.similarity, screenshot, digest)
        log.info("复查 %s：%s（%s）", target["url"], d.result, d.reason)
