"""The open web as a search engine reaches it: sites without a profile.
A Discuz! forum (bbs.gongchengren.cn: threads whose floors are the
world's listings) and an article site (www.anquanzixun.cn: one listing per
page inside navigation, a sidebar and a footer). certwatch judges these
pages generically (pipelines/generic.py)."""
from __future__ import annotations

import html
import re

from crawler.sandbox.replicas.common import Ctx, not_found, page, respond
from crawler.sandbox.replicas.corpus import ARTICLE_HOST, FORUM_HOST

e = html.escape


def forum(ctx: Ctx):
    m = re.fullmatch(r"/thread-(\d{1,9})-1-1\.html", ctx.path)
    thread = next((t for t in ctx.corpus.threads if m and t.tid == int(m.group(1))), None)
    live = [l for l in thread.posts if ctx.corpus.live(l)] if thread else []
    if not live:
        return respond(404, page("提示信息 - 工程人论坛", '<div id="messagetext"><p>抱歉，指定的主题不存在或已被删除</p></div>'))
    first = live[0]
    floors = "".join(
        f'<div id="post_{l.num}"><table id="pid{l.num}" class="plhin"><tr>'
        f'<td class="pls" rowspan="2"><div class="pi"><div class="authi"><a href="space-uid-{l.num}.html" class="xw1">'
        f'{e(l.seller or "游客")}</a></div></div></td>'
        f'<td class="plc"><div class="pi"><strong>{n + 1}#</strong></div><div class="pct"><div class="pcb"><div class="t_fsz">'
        f'<table><tr><td class="t_f" id="postmessage_{l.num}">{e(l.text)}</td></tr></table>'
        f'</div></div></div></td></tr></table></div>' for n, l in enumerate(live))
    body = (f'<div id="hd"><div class="wp"><a href="/">工程人论坛</a><a href="/forum.php">论坛</a>'
            f'<a href="/search.php">搜索</a></div></div>'
            f'<div id="pt" class="bm cl"><a href="/">首页</a> › <a href="/forum-2-1.html">证书交流</a></div>'
            f'<div id="postlist" class="pl bm"><table><tr><td class="plc ptm pbn vwthd"><h1 class="ts">'
            f'<span id="thread_subject">{e(first.title)}</span></h1></td></tr></table>{floors}</div>'
            f'<div id="ft" class="wp cl"><p>Powered by Discuz! X3.4</p><p>沪ICP备00000000号</p></div>')
    return respond(200, page(f"{first.title} - 证书交流 - 工程人论坛", body))


def articles(ctx: Ctx):
    m = re.fullmatch(r"/news/(\d{1,9})\.html", ctx.path)
    listing = ctx.app.w.by_num.get(int(m.group(1))) if m else None
    if listing is None or listing not in ctx.corpus.articles:
        return not_found()
    if not ctx.corpus.live(listing):
        return not_found()
    related = "".join(f'<li><a href="/news/{a.num}.html">{e(a.title[:16])}</a></li>'
                      for a in ctx.corpus.articles[:6] if a is not listing)
    body = (f'<div class="top"><a href="/">首页</a> | <a href="/zixun/">行业资讯</a> | <a href="/peixun/">培训信息</a> | '
            f'<a href="/about.html">关于我们</a></div>'
            f'<div class="wrap"><div class="left"><div class="crumb">当前位置：<a href="/">首页</a> &gt; 资讯</div>'
            f'<h1>{e(listing.title)}</h1><div class="info">来源：网友投稿 发布时间：2024-05-01 浏览：{listing.num % 900}次</div>'
            f'<div class="article-content"><p>{e(listing.text)}</p></div>'
            f'<div class="share">分享到：微博 QQ空间</div></div>'
            f'<div class="right"><h3>热门资讯</h3><ul>{related}</ul><h3>推荐阅读</h3><ul>'
            f'<li><a href="/zixun/1.html">安全生产月活动通知</a></li><li><a href="/zixun/2.html">特种设备检验须知</a></li></ul></div></div>'
            f'<div class="footer"><p>本站信息由网友发布，仅供参考</p><p>Copyright 安全资讯网 沪ICP备00000001号</p></div>')
    return respond(200, page(f"{listing.title}_安全资讯网", body))


HOSTS = {FORUM_HOST: forum, ARTICLE_HOST: articles}
