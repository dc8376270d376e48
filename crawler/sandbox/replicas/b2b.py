"""B2B / 黄页 replicas: 黄页88 (www.huangye88.com search with its
``page=N/`` parameter, details on sh.huangye88.com), 八方资源网 (keyword
pages ``www.b2b168.com/k-<pinyin>/``, details on info.b2b168.com, GBK) and
列表网 (company search on b2b.liebiao.com, details on sh.liebiao.com).
Blocked: 403 pages. Removed: a 404 or a short notice."""
from __future__ import annotations

import html
import re
import urllib.parse

from crawler.sandbox.replicas.common import Ctx, not_found, page, respond
from crawler.sandbox.replicas.classifieds import _removed
from crawler.sandbox.replicas.corpus import OFFSETS
from crawler.sandbox.world import PAGE_SIZE

e = html.escape
q_ = urllib.parse.quote


def _page_no(value) -> int:
    try:
        return max(1, min(1000, int(str(value or "1").strip("/") or 1)))
    except ValueError:
        return 1


def _forbidden(charset: str = "utf-8"):
    return respond(403, page("403 Forbidden", "<h1>403 Forbidden</h1><p>访问被拒绝</p>", charset), charset)


def _detail(ctx: Ctx, family: str, ident: int, body_of, charset: str = "utf-8", notice: str = "该信息已被删除"):
    listing = ctx.corpus.listing(family, ident - OFFSETS[family])
    if listing is None:
        return not_found(charset)
    if ctx.blocked(family):
        return _forbidden(charset)
    if not ctx.corpus.live(listing):
        return _removed(ctx, listing, notice)
    title, body = body_of(listing)
    return respond(200, page(title, body, charset), charset)


# ---------------------------------------------------------------- 黄页88

def huangye88(ctx: Ctx):
    if ctx.path != "/search.html":
        return not_found()
    p = ctx.params()
    kw, pg = p.get("kw", ""), _page_no(p.get("page"))
    if ctx.blocked("huangye88"):
        return _forbidden()
    results = ctx.corpus.family_search("huangye88", kw)
    chunk = results[(pg - 1) * PAGE_SIZE: pg * PAGE_SIZE]
    off = OFFSETS["huangye88"]
    rows = "".join(f'<li><p class="p-title"><a href="http://sh.huangye88.com/xinxi/{l.num + off}.html" target="_blank">'
                   f'{e(l.title)}</a></p><p class="p-desc">{e(l.text[:50])}</p></li>' for l in chunk)
    pages = max(1, (len(results) - 1) // PAGE_SIZE + 1)
    pager = f'<span class="text">共{pages}页</span>'
    if pg < pages:
        pager += f'<a href="/search.html?kw={e(q_(kw))}&amp;type=sale&amp;page={pg + 1}/">下一页</a>'
    cls = "pro-list-new" if ctx.redesigned("huangye88") else "big-pro"
    rows = rows or '<li class="empty">没有找到相关供应信息</li>'
    body = f'<div class="content"><div class="{cls}"><ul>{rows}</ul></div><div class="pages">{pager}</div></div>'
    return respond(200, page(f"{kw}_供应信息_黄页88网", body))


def huangye88_city(ctx: Ctx):
    m = re.fullmatch(r"/xinxi/(\d{1,12})\.html", ctx.path)
    if not m:
        return not_found()
    return _detail(ctx, "huangye88", int(m.group(1)), lambda l: (f"{l.title}_黄页88网", (
        f'<div class="pro-text"><h1>{e(l.title)}</h1><h3 class="big">{e(l.price or "面议")}</h3></div>'
        f'<div class="r-content"><div class="detail-text">{e(l.text)}</div></div>'
        f'<div class="company-info"><a class="c-name" href="/c/{l.num}/">{e(l.seller)}</a></div>')))


# ---------------------------------------------------------------- 八方资源网 (GBK)

def b2b168(ctx: Ctx):
    m = re.fullmatch(r"/k-([a-z0-9-]{1,200})/(?:(\d{1,4})\.html)?", ctx.path)
    if not m:
        return not_found("gbk")
    slug, pg = m.group(1), _page_no(m.group(2))
    if ctx.blocked("b2b168"):
        return _forbidden("gbk")
    results = ctx.corpus.pinyin_search("b2b168", slug)
    chunk = results[(pg - 1) * PAGE_SIZE: pg * PAGE_SIZE]
    off = OFFSETS["b2b168"]
    rows = "".join(f'<div class="list-item"><a class="list-item-title-text" title="{e(l.title)}" '
                   f'href="https://info.b2b168.com/s168-{l.num + off}.html">{e(l.title)}</a>'
                   f'<p class="list-item-desc">{e(l.text[:50])}</p></div>' for l in chunk)
    pager = f'<span class="cur">{pg}</span>'
    if pg * PAGE_SIZE < len(results):
        pager += f'<a href="/k-{slug}/{pg + 1}.html">下一页</a>'
    cls = "goods-list" if ctx.redesigned("b2b168") else "list"
    rows = rows or '<p class="no-result">抱歉，没有找到相关信息</p>'
    body = f'<div class="{cls}">{rows}</div><ul class="page">{pager}</ul>'
    return respond(200, page(f"{slug}_八方资源网", body, "gbk"), "gbk")


def b2b168_info(ctx: Ctx):
    m = re.fullmatch(r"/s168-(\d{1,12})\.html", ctx.path)
    if not m:
        return not_found("gbk")
    return _detail(ctx, "b2b168", int(m.group(1)), lambda l: (f"{l.title}-八方资源网", (
        f'<div class="infoTitle"><h1>{e(l.title)}</h1></div>'
        f'<div class="infoPrice">价格：<span>{e(l.price or "面议")}</span></div>'
        f'<div class="company"><a class="comName" href="https://www.b2b168.com/c168-{l.num}.html">{e(l.seller)}</a></div>'
        f'<div class="infoContent"><pre>{e(l.text)}</pre></div>')), "gbk", "该信息不存在或已删除")


# ---------------------------------------------------------------- 列表网

def liebiao(ctx: Ctx):
    m = re.fullmatch(r"/sou-gs/([^/]{1,200})/", ctx.path)
    if not m:
        return not_found()
    kw = urllib.parse.unquote(m.group(1), errors="replace")
    pg = _page_no(ctx.params().get("pn"))
    if ctx.blocked("liebiao"):
        return _forbidden()
    results = ctx.corpus.family_search("liebiao", kw)
    chunk = results[(pg - 1) * PAGE_SIZE: pg * PAGE_SIZE]
    off = OFFSETS["liebiao"]
    rows = "".join(f'<li><h2><a href="http://sh.liebiao.com/peixun/{l.num + off}.html">{e(l.title)}</a></h2>'
                   f'<p class="info">{e(l.text[:40])}</p></li>' for l in chunk)
    pager = ""
    if pg * PAGE_SIZE < len(results):
        pager = f'<a class="next" href="?pn={pg + 1}">下一页</a>'
    cls = "post-list-v2" if ctx.redesigned("liebiao") else "post-list"
    rows = rows or '<li class="none">暂无相关信息</li>'
    body = f'<div class="{cls}"><ul>{rows}</ul></div><div class="pagination">{pager}</div>'
    return respond(200, page(f"{kw}_列表网", body))


def liebiao_city(ctx: Ctx):
    m = re.fullmatch(r"/peixun/(\d{1,12})\.html", ctx.path)
    if not m:
        return not_found()
    return _detail(ctx, "liebiao", int(m.group(1)), lambda l: (f"{l.title}-列表网", (
        f'<div class="detail-title"><h1>{e(l.title)}</h1></div>'
        f'<div class="detail-content">{e(l.text)}</div>'
        f'<div class="contact"><span class="contact-name">{e(l.seller)}</span></div>')), notice="该信息已过期")


HOSTS = {"www.huangye88.com": huangye88, "sh.huangye88.com": huangye88_city, "www.b2b168.com": b2b168,
         "info.b2b168.com": b2b168_info, "b2b.liebiao.com": liebiao, "sh.liebiao.com": liebiao_city}
