"""Search engine replicas: 百度 (www.baidu.com + its wappass captcha host),
必应 (cn.bing.com + www.bing.com's /ck/a redirector), 搜狗 (www.sogou.com)
and 360搜索 (www.so.com). Their results come from the stale index of
corpus.Corpus.engine_search; each engine links results its own way (an
attribute with the real URL, a base64 redirect parameter, an opaque
redirector) and refuses its own way when blocked."""
from __future__ import annotations

import base64
import hashlib
import html
import urllib.parse

from crawler.sandbox.replicas.common import Ctx, not_found, page, redirect, respond
from crawler.sandbox.world import PAGE_SIZE

e = html.escape
q_ = urllib.parse.quote


def token(url: str) -> str:
    return base64.urlsafe_b64encode(url.encode("utf-8")).decode("ascii").rstrip("=")


def untoken(value: str) -> str | None:
    try:
        url = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except ValueError:
        return None
    return url if url.startswith(("http://", "https://")) else None


def _hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _int(value, default: int, low: int = 0, high: int = 10_000) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


def _follow(ctx: Ctx, param: str):
    """An engine's redirector: 302 to the target its token names."""
    target = untoken(ctx.params().get(param, ""))
    return redirect(target) if target else not_found()


# ---------------------------------------------------------------- 百度

def baidu(ctx: Ctx):
    if ctx.path == "/link":
        return _follow(ctx, "url")
    if ctx.path != "/s":
        return respond(200, page("百度一下", '<form action="/s"><input name="wd"><input type="submit"></form>'))
    p = ctx.params()
    wd, pn = p.get("wd", ""), _int(p.get("pn"), 0)
    if ctx.blocked("baidu"):
        back = q_(f"https://www.baidu.com/s?{ctx.query}", safe="")
        return redirect(f"https://wappass.baidu.com/static/captcha/tuxing.html?ak={_hex(wd)}&backurl={back}"
                        f"&timestamp=1700000000&signature={_hex(back)}")
    results = ctx.corpus.engine_search(wd)
    chunk = results[pn:pn + PAGE_SIZE]
    rows = []
    for n, doc in enumerate(chunk):
        link = f"http://www.baidu.com/link?url={token(doc.url)}"
        if ctx.redesigned("baidu"):
            rows.append(f'<div class="c-container new-pmd" tpl="www_index" data-landurl="{e(doc.url)}">'
                        f'<div class="c-title"><a href="{e(link)}">{e(doc.title)}</a></div>'
                        f'<div class="c-span-last"><span class="content-right_8Zs40">{e(doc.snippet)}</span></div></div>')
        else:
            rows.append(f'<div class="result c-container xpath-log new-pmd" srcid="1599" tpl="www_index" id="{pn + n + 1}" '
                        f'mu="{e(doc.url)}"><h3 class="t c-title"><a href="{e(link)}">{e(doc.title)}</a></h3>'
                        f'<span class="summary-text_560AW">{e(doc.snippet)}</span>'
                        f'<span class="cosc-source-text">{e(urllib.parse.urlsplit(doc.url).hostname or "")}</span></div>')
        if n == 1:   # an Aladdin card and an ad among the results: neither is followed
            rows.append(f'<div class="result-op c-container xpath-log" srcid="10" tpl="sg_kg_entity_san" mu="http://baike.example.cn/item/{e(q_(wd))}">'
                        f'<h3 class="t"><a href="http://baike.example.cn/">{e(wd)} 百科</a></h3></div>')
            rows.append('<div class="result c-container new-pmd" data-tuiguang="1" mu="http://www.ad-peixun.example.cn/">'
                        '<h3 class="t"><a href="http://www.baidu.com/baidu.php?url=ad">培训报名</a></h3>'
                        '<span class="ec-tuiguang">广告</span></div>')
    if not rows:
        content = f'<div class="nors"><p>抱歉没有找到与“{e(wd)}”相关的网页。</p></div>'
    else:
        content = "".join(rows)
    base = f"/s?ie=utf-8&amp;wd={e(q_(wd))}"
    pager = ""
    if pn > 0:
        pager += f'<a class="n" href="{base}&amp;pn={max(0, pn - PAGE_SIZE)}">&lt; 上一页</a>'
    pager += f'<span class="pc">{pn // PAGE_SIZE + 1}</span>'
    if pn + PAGE_SIZE < len(results):
        pager += f'<a class="n" href="{base}&amp;pn={pn + PAGE_SIZE}">下一页 &gt;</a>'
    body = (f'<div id="head"><span class="nums_text">百度为您找到相关结果约{len(results)}个</span></div>'
            f'<div id="content_left">{content}</div>'
            + (f'<div id="page"><div class="page-inner_2jZi2">{pager}</div></div>' if len(results) > PAGE_SIZE else ""))
    return respond(200, page(f"{wd}_百度搜索", body))


def wappass(ctx: Ctx):
    """Baidu's security check page (www.baidu.com and tieba.baidu.com redirect here)."""
    body = ('<div class="timeout hide-callback"><div class="timeout-img"></div>'
            '<div class="timeout-title">请稍后重试</div><button class="timeout-button">返回首页</button></div>'
            '<div class="timeout-feedback"><p class="timeout-feedback-title">问题反馈</p></div>'
            '<div id="captcha-slide"><p>请完成下方验证后继续操作</p></div>')
    return respond(200, page("百度安全验证", body,
                             head='<meta name="viewport" content="width=device-width,initial-scale=1">'))


# ---------------------------------------------------------------- 必应

def bing(ctx: Ctx):
    if ctx.path != "/search":
        return respond(200, page("必应", '<form action="/search"><input name="q"></form>'))
    p = ctx.params()
    q, first = p.get("q", ""), _int(p.get("first"), 1, 1)
    if ctx.blocked("bing"):
        return respond(200, page("请验证", '<div id="b_content"><div id="b_captcha" class="b_captcha">'
                                          '<h2>请解决以下难题以继续</h2><form action="/challenge/verify"></form></div></div>'))
    results = ctx.corpus.engine_search(q)
    start = first - 1
    if start >= len(results):
        start = 0                      # past the end Bing silently serves page 1 again
    chunk = results[start:start + PAGE_SIZE]
    cls = "b_algoMod" if ctx.redesigned("bing") else "b_algo"
    rows = [f'<li class="b_ad"><div class="sb_add"><h2><a href="https://www.bing.com/aclk?ld=1">报名培训</a></h2></div></li>']
    for doc in chunk:
        link = f"https://www.bing.com/ck/a?!&&p={_hex(doc.url)}&u=a1{token(doc.url)}&ntb=1"
        rows.append(f'<li class="{cls}"><h2><a href="{e(link)}" h="ID=SERP">{e(doc.title)}</a></h2>'
                    f'<div class="b_caption"><p>{e(doc.snippet)}</p>'
                    f'<div class="b_attribution"><cite>{e(doc.url)}</cite></div></div></li>')
    if start + PAGE_SIZE < len(results):
        nxt = f"/search?q={e(q_(q))}&amp;first={start + PAGE_SIZE + 1}&amp;FORM=PERE"
        rows.append(f'<li class="b_pag"><nav role="navigation"><a class="sb_pagN" title="下一页" href="{nxt}">'
                    '<div class="sw_next">下一页</div></a></nav></li>')
    body = (f'<div id="b_content"><span class="sb_count">约 {len(results)} 个结果</span>'
            f'<ol id="b_results">{"".join(rows)}</ol></div>')
    return respond(200, page(f"{q} - 搜索", body))


def bing_click(ctx: Ctx):
    if ctx.path == "/ck/a":
        u = ctx.params().get("u", "")
        target = untoken(u[2:]) if u.startswith("a1") else None
        return redirect(target) if target else not_found()
    return not_found()


# ---------------------------------------------------------------- 搜狗

def sogou(ctx: Ctx):
    if ctx.path == "/link":
        return _follow(ctx, "url")
    if ctx.path.startswith("/antispider"):
        return respond(200, page("验证", '<link rel="stylesheet" href="/antispider/static/css/anti.min.css">'
                                         '<form action="/antispider/thank.php"><p>请输入验证码以便正常访问</p>'
                                         '<img src="/antispider/util/seccode.php"><input id="seccodeRight" name="c">'
                                         '</form>'))
    if ctx.path != "/web":
        return respond(200, page("搜狗搜索", '<form action="/web"><input name="query"></form>'))
    p = ctx.params()
    q, pg = p.get("query", ""), _int(p.get("page"), 1, 1)
    if ctx.blocked("sogou"):
        return redirect(f"http://www.sogou.com/antispider/?from={q_('/web?' + ctx.query, safe='')}")
    results = ctx.corpus.engine_search(q)
    chunk = results[(pg - 1) * PAGE_SIZE: pg * PAGE_SIZE]
    rows = []
    for n, doc in enumerate(chunk):
        link = f"/link?url={token(doc.url)}"
        if ctx.redesigned("sogou"):
            rows.append(f'<div class="vrwrap"><div class="vr-title-new"><a href="{e(link)}">{e(doc.title)}</a></div></div>')
        elif n % 5 == 4:      # the legacy row shape
            rows.append(f'<div class="rb"><h3 class="pt"><a href="{e(link)}">{e(doc.title)}</a></h3>'
                        f'<div class="ft">{e(doc.snippet)}</div></div>')
        else:
            rows.append(f'<div class="vrwrap"><h3 class="vr-title"><a href="{e(link)}">{e(doc.title)}</a></h3>'
                        f'<div class="fz-mid space-txt">{e(doc.snippet)}</div>'
                        f'<div class="citeurl"><span>{e(urllib.parse.urlsplit(doc.url).hostname or "")}</span></div></div>')
    pager = ""
    if pg * PAGE_SIZE < len(results):
        pager = f'<a id="sogou_next" class="np" href="?query={e(q_(q))}&amp;page={pg + 1}&amp;ie=utf8">下一页</a>'
    body = (f'<div class="results">{"".join(rows)}</div>'
            f'<div id="pagebar_container" class="p">{pager}</div>')
    return respond(200, page(f"{q} - 搜狗搜索", body))


# ---------------------------------------------------------------- 360搜索

def so360(ctx: Ctx):
    if ctx.path == "/link":
        return _follow(ctx, "m")
    if ctx.path != "/s":
        return respond(200, page("360搜索", '<form action="/s"><input name="q"></form>'))
    p = ctx.params()
    q, pn = p.get("q", ""), _int(p.get("pn"), 1, 1)
    if ctx.blocked("so360"):
        from crawler.sandbox.server import Response
        return Response(200, b"", "text/html; charset=utf-8")      # an empty document
    results = ctx.corpus.engine_search(q)
    chunk = results[(pn - 1) * PAGE_SIZE: pn * PAGE_SIZE]
    attr = "data-url-new" if ctx.redesigned("so360") else "data-mdurl"
    rows = "".join(
        f'<li class="res-list" data-res="{n}"><h3 class="res-title"><a href="https://www.so.com/link?m={token(doc.url)}" '
        f'{attr}="{e(doc.url)}">{e(doc.title)}</a></h3><p class="res-desc">{e(doc.snippet)}</p></li>'
        for n, doc in enumerate(chunk))
    ad = ('<div id="e_idea_pp"><ul><li class="res-list"><h3 class="res-title">'
          '<a href="https://e.so.com/search/eclk?p=1" data-mdurl="http://www.ad-peixun.example.cn/">推广</a></h3></li></ul></div>')
    pager = f'<a id="snext" href="/s?q={e(q_(q))}&amp;pn={pn + 1}">下一页&gt;</a>' if pn * PAGE_SIZE < len(results) else ""
    body = f'<div id="container">{ad}<ul class="result">{rows}</ul><div id="page">{pager}</div></div>'
    return respond(200, page(f"{q}_360搜索", body))


HOSTS = {"www.baidu.com": baidu, "wappass.baidu.com": wappass, "cn.bing.com": bing, "www.bing.com": bing_click,
         "www.sogou.com": sogou, "www.so.com": so360}
