"""Three troubled sandbox platforms, so tests can prove that sweep health
tells "blocked" and "broken" from "no results":

* 劳务论坛 (bbs.laowu.cn) serves a captcha page after N requests;
* 信息港 (www.xinxigang.cn) changes its result markup when the "redesign"
  switch is on (its profile's selectors then find nothing);
* 空空分类 (www.kongkong.cn) returns an empty result page for everything.

Their profiles carry ``demo: false``: a default sweep never visits them,
only a sweep that names them (``--platforms``). Their listings are the
world's live listings, shown under their own hosts. Switches:
``POST http://sandbox.admin/troubled`` with
``{"captcha_after": N, "redesign": true|false, "reset": true}``;
``GET`` returns the state.
"""
from __future__ import annotations

import html
import json
import re
import urllib.parse
from dataclasses import dataclass, field

CAPTCHA_HOST = "bbs.laowu.cn"
REDESIGN_HOST = "www.xinxigang.cn"
EMPTY_HOST = "www.kongkong.cn"
HOSTS = {CAPTCHA_HOST: "劳务论坛", REDESIGN_HOST: "信息港", EMPTY_HOST: "空空分类"}
PAGE_SIZE = 10

e = html.escape


@dataclass
class State:
    captcha_after: int = 6
    redesign: bool = False
    hits: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"captcha_after": self.captcha_after, "redesign": self.redesign, "hits": dict(self.hits)}


def state_of(app) -> State:
    state = app.__dict__.get("troubled")
    if state is None:
        state = app.__dict__["troubled"] = State()
    return state


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>{e(title)}</title>'
            f"</head><body>{body}</body></html>")


def admin(app, method: str, body: bytes):
    from crawler.sandbox.server import Response
    state = state_of(app)
    if method == "POST":
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError
            if data.get("reset"):
                state.hits.clear()
            if "captcha_after" in data:
                state.captcha_after = max(0, int(data["captcha_after"]))
            if "redesign" in data:
                state.redesign = bool(data["redesign"])
        except (ValueError, TypeError):
            return Response(400, "bad request", "text/plain")
    return Response(200, json.dumps(state.as_dict()), "application/json")


def _results(app, query: str) -> list:
    w = app.w
    live = [l for l in w.listings if not w.is_removed(l)]
    return w._match(live, query)


def handle(app, host: str, path: str, query: str):
    from crawler.sandbox.server import Response
    state = state_of(app)
    title = HOSTS[host]
    state.hits[host] = state.hits.get(host, 0) + 1
    if host == CAPTCHA_HOST and state.hits[host] > state.captcha_after:
        return Response(200, _page("安全验证", (
            '<div class="verify"><h2>请完成安全验证</h2><p>访问过于频繁，请输入验证码后继续。</p>'
            '<img src="/captcha.png" alt="验证码"><input name="code"><button>验证</button></div>')))
    params = {k: v[0] for k, v in urllib.parse.parse_qs(query).items()}
    if path == "/search":
        q = params.get("q", "")
        try:
            page = max(1, min(1000, int(params.get("page", "1"))))
        except ValueError:
            page = 1
        results = [] if host == EMPTY_HOST else _results(app, q)
        chunk = results[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
        if not chunk:
            return Response(200, _page(f"{q} - {title}", '<p class="empty">没有找到相关信息</p>'))
        if host == REDESIGN_HOST and state.redesign:
            rows = "".join(f'<div class="card"><a class="card-title" href="/t/{l.num}.html">{e(l.title)}</a></div>'
                           for l in chunk)
            body = f'<div class="cards">{rows}</div>'
        else:
            rows = "".join(f'<li><a class="r" href="/t/{l.num}.html">{e(l.title)}</a></li>' for l in chunk)
            body = f'<ul class="results">{rows}</ul>'
        if page * PAGE_SIZE < len(results):
            body += f'<a class="next" href="/search?q={urllib.parse.quote(q)}&amp;page={page + 1}">下一页</a>'
        return Response(200, _page(f"{q} - {title}", body))
    m = re.fullmatch(r"/t/(\d{1,9})\.html", path)
    listing = app.w.by_num.get(int(m.group(1))) if m else None
    if listing is None or app.w.is_removed(listing):
        return Response(404, _page("404", "<h1>页面不存在</h1>"))
    return Response(200, _page(f"{listing.title} - {title}", (
        f'<div class="topic"><h1 class="topic-title">{e(listing.title)}</h1>'
        f'<span class="user">{e(listing.seller)}</span>'
        f'<div class="topic-body">{e(listing.text)}</div></div>')))
