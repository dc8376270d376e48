"""long.gongyou.cn: a forum mirror with two long threads in a Discuz!-like
structure, for tests of how a profile-crawled detail page keeps its lines
(pipelines/platform_pages.py ``block_text``) and of the classifier's long
texts (pipelines/sales.py): a moderator's guide of many paragraphs (<p>,
<br />, <strong>) and replies each in a floor of its own; in
``thread-guide-ad.html`` one reply is a sale ad (its "微信" in a <font>).

Built from the sandbox world's own listings (exam guides, how-to-verify
and review notices as the guide; forum questions as replies; L001 as the
ad), the same every time.
"""
from __future__ import annotations

import html

HOSTS = {"long.gongyou.cn"}
TITLE = "特种作业操作证复审、补办和报考指南（持续更新）"
THREADS = ("guide-ad", "guide")
GUIDE = ("neg_exam_guide", "neg_verify_howto", "neg_review_notice")
AD_ID = "L001"
AD_FLOOR = 5            # the ad is this floor (the guide is floor 1)

e = html.escape


def _floor(author: str, body: str) -> str:
    return (f'<div class="post"><a class="author" href="/space/{e(author)}">{e(author)}</a>'
            f'<div class="post-content">{body}</div></div>')


def thread(app, name: str) -> str:
    """The thread page's HTML."""
    rows = app.w.listings
    guide = [l for l in rows if l.category in GUIDE and "#" not in l.title][:14]
    first = "".join(f'<p><strong>{e(l.title)}</strong></p><p>{"<br />".join(e(x) for x in l.text.splitlines())}</p>'
                    for l in guide)
    floors = [_floor(l.seller or "路过的", e(l.text)) for l in rows if l.category == "neg_forum"][:6]
    if name == "guide-ad":
        ad = next(l for l in rows if l.id == AD_ID)
        floors.insert(AD_FLOOR - 2, _floor(ad.seller, e(ad.text).replace("微信", '<font color="red">微信</font>')))
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{e(TITLE)}</title></head><body>'
            f'<div id="thread"><h1 class="subject">{e(TITLE)}</h1>{_floor("版主", first)}{"".join(floors)}</div>'
            '</body></html>')


def handle(app, host: str, path: str, query: str):
    from crawler.sandbox.server import Response
    if path == "/search.php":
        links = "".join(f'<tr><td><a class="subject" href="/thread-{name}.html">{e(TITLE)}</a></td></tr>'
                        for name in THREADS)
        return Response(200, f'<html><body><table class="threads">{links}</table></body></html>')
    name = path.removeprefix("/thread-").removesuffix(".html")
    if name not in THREADS:
        return Response(404, "<h1>404</h1>")
    return Response(200, thread(app, name))
