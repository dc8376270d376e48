"""Classifieds replicas: 58同城 (sh.58.com: ``/sou/`` search paged as
``/sou/pn2/``, detail ``/<cat>/<id>x.shtml``; blocked: the 200 gateway page
with a hidden ``@@xxzlGatewayUrl`` div for searches, a redirect to
callback.58.com's antibot check for details) and 百姓网
(shanghai.baixing.com: ``/search/?query=&page=``, ``ul.list-ad-items``
rows, detail ``/<cat>/a<id>.html``; blocked: a redirect to
www.baixing.com's verification page)."""
from __future__ import annotations

import html
import re
import urllib.parse

from crawler.sandbox.replicas.common import Ctx, not_found, page, redirect, respond
from crawler.sandbox.replicas.corpus import OFFSETS
from crawler.sandbox.world import PAGE_SIZE

e = html.escape
q_ = urllib.parse.quote


def _removed(ctx: Ctx, listing, notice: str):
    """A removed listing: a 404 for some, a short 200 notice for the others."""
    if listing.removed == "404" or (listing.num in ctx.app.w.taken_down and listing.num % 2 == 0):
        return not_found()
    return respond(200, page("提示", f'<div class="tips-box"><p>{notice}</p><a href="/">返回首页</a></div>'))


# ---------------------------------------------------------------- 58同城

def wuba(ctx: Ctx):
    m = re.fullmatch(r"/sou/(?:pn(\d{1,4})/)?", ctx.path)
    if m:
        return wuba_search(ctx, int(m.group(1) or 1))
    m = re.fullmatch(r"/shangwu/(\d{1,16})x\.shtml", ctx.path)
    if m:
        return wuba_detail(ctx, int(m.group(1)))
    return not_found()


def wuba_search(ctx: Ctx, pn: int):
    key = ctx.params().get("key", "")
    if ctx.blocked("wuba"):
        gate = f"https://callback.58.com/antibot/verifycode?serialId={abs(hash(key)) % 10**8}&code=22&namespace=sou_pc&url={q_('https://sh.58.com/sou/?key=' + key, safe='')}"
        return respond(200, f'<html><head><meta charset="utf-8"><script src="/antibot/gateway.js"></script></head>'
                            f'<body><div id="@@xxzlGatewayUrl" style="display:none">{e(gate)}</div></body></html>')
    results = ctx.corpus.family_search("wuba", key)
    chunk = results[(pn - 1) * PAGE_SIZE: pn * PAGE_SIZE]
    off = OFFSETS["wuba"]
    if ctx.redesigned("wuba"):
        rows = "".join(f'<li class="house-cell"><a class="strongbox" href="//sh.58.com/shangwu/d{l.num + off}.html">{e(l.title)}</a></li>'
                       for l in chunk)
        listing = f'<ul class="house-list">{rows}</ul>'
    else:
        rows = "".join(f'<tr logr="p_{l.num}"><td class="t"><a class="t" href="https://sh.58.com/shangwu/{l.num + off}x.shtml" '
                       f'target="_blank">{e(l.title)}</a><p class="desc">{e(l.text[:40])}</p></td><td class="tc">上海</td></tr>'
                       for l in chunk)
        listing = f'<table class="tbimg" id="jingzhun">{rows}</table>' if rows else '<p class="noresult">没有找到相关信息</p>'
    pager = f'<strong><span>{pn}</span></strong>'
    if pn * PAGE_SIZE < len(results):
        pager += f'<a class="next" href="/sou/pn{pn + 1}/?key={e(q_(key))}"><span>下一页</span></a>'
    body = (f'<div id="filter"><div class="tabs"><a href="/sou/?key={e(q_(key))}"><span>全部</span></a>'
            f'<a href="/shangwu/?key={e(q_(key))}"><span>商务服务</span></a></div></div>'
            f'<div id="infolist">{listing}</div><div class="pager">{pager}</div>')
    return respond(200, page(f"{key} - 上海58同城", body))


def wuba_detail(ctx: Ctx, ident: int):
    listing = ctx.corpus.listing("wuba", ident - OFFSETS["wuba"])
    if listing is None:
        return not_found()
    if ctx.blocked("wuba"):
        return redirect("https://callback.58.com/antibot/verifycode?serialId=1&code=22&namespace=infodetailweb&url="
                        + q_(f"https://sh.58.com{ctx.path}", safe=""))
    if not ctx.corpus.live(listing):
        return _removed(ctx, listing, "您访问的信息已过期或已删除")
    body = (f'<div class="detail-title"><h1 class="detail-title__name">{e(listing.title)}</h1></div>'
            f'<div class="infocard"><span class="infocard__price">{e(listing.price or "面议")}</span></div>'
            f'<div class="poster-info"><a class="poster-name" href="/u/{listing.num}">{e(listing.seller)}</a></div>'
            f'<div class="detail-desc"><div class="description_con">{e(listing.text)}</div></div>')
    return respond(200, page(f"{listing.title}_上海58同城", body))


def wuba_callback(ctx: Ctx):
    if ctx.path.startswith("/antibot/"):
        return respond(200, page("请输入验证码", '<div class="verify"><p>访问过于频繁，本次访问需要输入验证码</p>'
                                             '<button id="btnSubmit">点击按钮进行验证</button></div>'))
    return not_found()


# ---------------------------------------------------------------- 百姓网

def baixing(ctx: Ctx):
    if ctx.path == "/search/":
        return baixing_search(ctx)
    m = re.fullmatch(r"/jinengpeixun/a(\d{1,12})\.html", ctx.path)
    if m:
        return baixing_detail(ctx, int(m.group(1)))
    return not_found()


def baixing_search(ctx: Ctx):
    p = ctx.params()
    q = p.get("query", "")
    try:
        pg = max(1, min(1000, int(p.get("page", "1"))))
    except ValueError:
        pg = 1
    if ctx.blocked("baixing"):
        return redirect("https://www.baixing.com/oz/verify/reg?redirect=" + q_(f"https://shanghai.baixing.com/search/?{ctx.query}", safe=""))
    results = ctx.corpus.family_search("baixing", q)
    chunk = results[(pg - 1) * PAGE_SIZE: pg * PAGE_SIZE]
    off = OFFSETS["baixing"]
    cls = "list-ad-items-new" if ctx.redesigned("baixing") else "list-ad-items"
    rows = "".join(f'<li class="listing-ad item-regular" data-aid="{l.num + off}"><a class="ad-title" '
                   f'href="https://shanghai.baixing.com/jinengpeixun/a{l.num + off}.html">{e(l.title)}</a>'
                   f'<div class="ad-item-detail">{e(l.text[:40])}</div><a class="tag tag-category">技能培训</a></li>'
                   for l in chunk)
    last = max(1, (len(results) - 1) // PAGE_SIZE + 1)
    items = "".join(f'<li><a href="/search/?page={n}&amp;query={e(q_(q))}">{n}</a></li>' if n != pg
                    else f'<li class="active"><span>{n}</span></li>' for n in range(1, last + 1))
    if pg < last:
        items += f'<li><a href="/search/?page={pg + 1}&amp;query={e(q_(q))}">下一页</a></li>'
    rows = rows or '<li class="empty">没有找到相关信息</li>'
    body = f'<section class="main"><ul class="{cls}">{rows}</ul><ul class="list-pagination">{items}</ul></section>'
    return respond(200, page(f"{q} - 上海百姓网", body))


def baixing_detail(ctx: Ctx, ident: int):
    listing = ctx.corpus.listing("baixing", ident - OFFSETS["baixing"])
    if listing is None:
        return not_found()
    if ctx.blocked("baixing"):
        return redirect("https://www.baixing.com/oz/verify/reg?redirect=" + q_(f"https://shanghai.baixing.com{ctx.path}", safe=""))
    if not ctx.corpus.live(listing):
        return _removed(ctx, listing, "该信息已被删除")
    body = (f'<div class="viewad-title"><h1>{e(listing.title)}</h1></div>'
            f'<div class="viewad-meta2"><div class="viewad-meta2-item fuwu-content">技能培训</div></div>'
            f'<div class="viewad-info-line"><div><span>2024-05-01</span></div></div>'
            f'<div class="viewad-text">{e(listing.text)}</div>'
            f'<div class="poster"><a class="poster-name" href="/u/{listing.num}">{e(listing.seller)}</a></div>')
    return respond(200, page(f"{listing.title} - 上海百姓网", body))


def baixing_www(ctx: Ctx):
    if ctx.path.startswith("/oz/"):
        return respond(200, page("安全验证", '<div class="oz-verify"><p>请完成验证后继续访问</p><div id="slider"></div></div>'))
    return not_found()


HOSTS = {"sh.58.com": wuba, "callback.58.com": wuba_callback, "shanghai.baixing.com": baixing,
         "www.baixing.com": baixing_www}
