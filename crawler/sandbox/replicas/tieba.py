"""百度贴吧 replica (tieba.baidu.com): the legacy search page (GBK,
``div.s_post`` rows, a ``下一页>`` pager), post pages ``/p/<tid>`` with
floors, removed posts as a 200 notice, and the wappass security-check
redirect when blocked. The changed layout is the 2025 redesign's
``.thread-content-box`` cards."""
from __future__ import annotations

import html
import json
import re
import urllib.parse

from crawler.sandbox.replicas.common import Ctx, not_found, page, redirect, respond
from crawler.sandbox.replicas.corpus import OFFSETS
from crawler.sandbox.world import PAGE_SIZE

e = html.escape
OFFSET = OFFSETS["tieba"]


def _date(num: int) -> str:
    return f"2024-{num % 12 + 1:02d}-{num % 27 + 1:02d} {num % 24:02d}:{num % 60:02d}"


def search(ctx: Ctx):
    p = ctx.params("utf-8" if ctx.params().get("ie", "").lower() == "utf-8" else "gbk")
    q = p.get("qw", "")
    try:
        pn = max(1, min(1000, int(p.get("pn", "1"))))
    except ValueError:
        pn = 1
    if ctx.blocked("tieba"):
        back = urllib.parse.quote(f"https://tieba.baidu.com{ctx.path}?{ctx.query}", safe="")
        return redirect(f"https://wappass.baidu.com/static/captcha/tuxing.html?backurl={back}&timestamp=1700000000")
    results = ctx.corpus.family_search("tieba", q)
    chunk = results[(pn - 1) * PAGE_SIZE: pn * PAGE_SIZE]
    if ctx.redesigned("tieba"):
        rows = "".join(f'<div class="thread-content-box"><div class="title-content-wrap"><div class="title-wrap">'
                       f'<span>{e(l.title)}</span></div></div><div class="action-bar-warp">'
                       f'<a class="action-link-bg" href="/p/{l.num + OFFSET}"></a></div></div>' for l in chunk)
        body = f'<div class="virtual-list">{rows}</div>'
    else:
        rows = "".join(
            f'<div class="s_post"><span class="p_title"><a class="bluelink" href="/p/{l.num + OFFSET}?pid={l.num}&amp;cid=#{l.num}" '
            f'target="_blank">{e(l.title)}</a></span><div class="p_content">{e(l.text[:60])}</div>'
            f'吧名：<a class="p_forum" href="/f?kw=%E8%AF%81%E4%B9%A6"><font class="p_violet">证书</font></a>'
            f'作者：<a href="/home/main?un={e(urllib.parse.quote(l.seller or "匿名"))}"><font class="p_violet">{e(l.seller or "匿名")}</font></a>'
            f'<font class="p_green p_date">{_date(l.num)}</font></div>' for l in chunk)
        base = f"/f/search/res?ie=utf-8&amp;qw={e(urllib.parse.quote(q))}"
        pager = "".join(f'<a href="{base}&amp;pn={n}">{n}</a>' if n != pn else f'<span class="cur">{n}</span>'
                        for n in range(1, (len(results) - 1) // PAGE_SIZE + 2))
        if pn * PAGE_SIZE < len(results):
            pager += f'<a class="next" href="{base}&amp;pn={pn + 1}">下一页&gt;</a>'
        body = (f'<div class="s_main"><div class="s_post_list">{rows or "<div class=s_post_empty>很抱歉，没有找到与之相关的结果</div>"}</div>'
                f'<div class="pager pager-search">{pager}</div></div>')
    return respond(200, page(f"百度贴吧_{q}", body, "gbk"), "gbk")


def post(ctx: Ctx, tid: int):
    listing = ctx.corpus.listing("tieba", tid - OFFSET)
    if listing is None:
        return not_found()
    if ctx.blocked("tieba"):
        return redirect("https://wappass.baidu.com/static/captcha/tuxing.html?backurl=" +
                        urllib.parse.quote(f"https://tieba.baidu.com/p/{tid}", safe=""))
    if not ctx.corpus.live(listing):
        return respond(200, page("贴吧404", '<div class="page404"><p>很抱歉，该贴已被删除。</p></div>'))
    seller = listing.seller or "匿名"
    first = json.dumps({"author": {"user_name": seller}, "content": {"post_id": listing.num, "post_no": 1}},
                       ensure_ascii=False)
    reply = json.dumps({"author": {"user_name": "路过的"}, "content": {"post_id": listing.num + 1, "post_no": 2}},
                       ensure_ascii=False)
    floors = (f'<div class="l_post j_l_post" data-field="{e(first)}"><div class="d_author"><ul class="p_author">'
              f'<li class="d_name"><a class="p_author_name">{e(seller)}</a></li></ul></div>'
              f'<div class="d_post_content_main"><div id="post_content_{listing.num}" class="d_post_content j_d_post_content">'
              f'{e(listing.text)}</div></div></div>'
              f'<div class="l_post j_l_post" data-field="{e(reply)}"><div class="d_author"><ul class="p_author">'
              f'<li class="d_name"><a class="p_author_name">路过的</a></li></ul></div>'
              f'<div class="d_post_content_main"><div id="post_content_{listing.num + 1}" class="d_post_content j_d_post_content">'
              f'顶</div></div></div>')
    body = (f'<div class="core_title_wrap_bright"><h3 class="core_title_txt" title="{e(listing.title)}">{e(listing.title)}</h3></div>'
            f'<ul class="l_posts_num"><li class="l_reply_num"><span>2</span>回复贴</li></ul>'
            f'<div id="j_p_postlist" class="p_postlist">{floors}</div>')
    return respond(200, page(f"{listing.title}_百度贴吧", body))


def tieba(ctx: Ctx):
    if ctx.path == "/f/search/res":
        return search(ctx)
    m = re.fullmatch(r"/p/(\d{1,12})", ctx.path)
    if m:
        return post(ctx, int(m.group(1)))
    return not_found()


HOSTS = {"tieba.baidu.com": tieba}
