"""Generic pages: a search result on a host no platform profile knows.

The page is fetched once and judged here: a page with a certificate query
form is a *site* (the look-alike judge takes it); a page with post markup
(forum floors, an issue and its comments: ``generic_pages.yaml``) gives one
listing per post; otherwise its main text — extracted with trafilatura
(chosen over readability-lxml on the sandbox replicas' pages: see
docs/platforms.md for the figures) — makes one listing when it reads like
one (a contact: phone, WeChat, QQ, Telegram), and the page is a site when
it does not.
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from importlib import resources

from keywords import lightimport
from parsel import Selector

log = logging.getLogger(__name__)

MAX_HTML = 1_000_000
MAX_POSTS = 200
PLATFORM = "web"          # findings on pages without a profile
_SPACE = re.compile(r"\s+")


@dataclass
class Judged:
    kind: str                                   # "listings" or "site"
    listings: list = field(default_factory=list)  # url, title, text, seller
    reason: str = ""


@functools.cache
def rules() -> dict:
    text = resources.files(__package__).joinpath("generic_pages.yaml").read_text("utf-8")
    return lightimport.yaml_load(text)


def _clean(values) -> str:
    return _SPACE.sub(" ", " ".join(v.strip() for v in values if v and v.strip())).strip()[:100_000]


def main_text(html: str) -> str:
    """The page's main text (trafilatura; "" when it finds none)."""
    import trafilatura
    try:
        return (trafilatura.extract(html[:MAX_HTML], include_comments=True, include_tables=True,
                                    favor_recall=True) or "").strip()
    except Exception as exc:  # trafilatura raises several kinds on broken markup
        log.info("正文提取失败：%s", exc)
        return ""


def has_query_form(sel: Selector) -> bool:
    groups = rules()["query_form"]
    for form in sel.css("form"):
        words = " ".join(form.css("::text").getall() + form.css("input::attr(name), input::attr(placeholder)").getall())
        low = words.lower()
        if sum(1 for terms in groups.values() if any(t.lower() in low for t in terms)) >= 2:
            return True
    return False


def _title(sel: Selector) -> str:
    for css in ("h1 ::text", "title::text"):
        text = _clean(sel.css(css).getall())
        if text:
            return text[:300]
    return ""


def _anchor(el) -> str:
    """The id naming a post (its own, or its nearest ancestor's)."""
    for node in [el, *el.xpath("ancestor::*[@id]")[::-1]]:
        ident = node.attrib.get("id", "")
        if ident and re.fullmatch(r"[A-Za-z][\w-]{0,80}", ident):
            return ident
    return ""


def _author(el) -> str:
    for css in rules()["authors"]:
        for scope in (el, *el.xpath("ancestor::*[position() <= 10]")[::-1]):
            found = _clean(scope.css(f"{css} ::text").getall())
            if found:
                return found[:200]
    return ""


def posts(sel: Selector, url: str) -> list[dict]:
    """One entry per post, when the page has post markup: the first post at
    the page's URL, the others at the page URL with the post's anchor."""
    r = rules()
    base = url.split("#", 1)[0]
    for css in r["posts"]:
        found = []
        for el in sel.css(css)[:MAX_POSTS]:
            text = _clean(el.css("::text").getall())
            if len(text) >= int(r["min_post_chars"]):
                found.append((el, text))
        if not found:
            continue
        title = _title(sel)
        out, seen = [], set()
        for n, (el, text) in enumerate(found):
            anchor = _anchor(el) if n else ""
            post_url = base if n == 0 else f"{base}#{anchor or f'post-{n + 1}'}"
            if post_url in seen:
                continue
            seen.add(post_url)
            out.append({"url": post_url, "title": title, "text": text, "seller": _author(el)})
        return out
    return []


def reads_like_listing(text: str) -> bool:
    from pipelines.contacts import extract
    if any(cue in text for cue in rules()["listing_cues"]):
        return True
    contacts = extract(text)
    return any(contacts.get(k) for k in ("phone", "wechat", "qq", "telegram"))


def judge(url: str, html: str) -> Judged:
    """Listings or a site, for one fetched page without a profile."""
    if not isinstance(html, str) or not html.strip():
        return Judged("site", reason="空页面")
    try:
        sel = Selector(text=html[:MAX_HTML])
    except Exception as exc:  # lxml refuses some documents outright
        log.info("页面无法解析：%s", exc)
        return Judged("site", reason="页面无法解析")
    if has_query_form(sel):
        return Judged("site", reason="证书查询表单")
    found = posts(sel, url)
    if found:
        return Judged("listings", found, reason=f"帖子/评论 {len(found)} 条")
    text = main_text(html)
    if text and reads_like_listing(text):
        return Judged("listings", [{"url": url.split("#", 1)[0], "title": _title(sel), "text": text,
                                    "seller": ""}], reason="正文像一条信息")
    return Judged("site", reason="不像一条信息")
