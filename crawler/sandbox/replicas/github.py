"""GitHub replica: the REST API's issue search (api.github.com
``/search/issues``: 422 without ``is:issue``, ``Link`` pagination,
``x-ratelimit-*`` headers, 403 with remaining 0 when rate limited), each
issue's comments (paged: ``per_page``/``page``, ``Link``) and the issue
itself (410 when deleted), and the
github.com issue pages a search engine links to (an issue and its
comments in one page)."""
from __future__ import annotations

import hashlib
import html
import json
import re
import time
import urllib.parse

from crawler.sandbox.replicas.common import Ctx, page, respond
from crawler.sandbox.replicas.corpus import OFFSETS, Issue

e = html.escape
API = "https://api.github.com"
DOCS = "https://docs.github.com/rest/search/search#search-issues-and-pull-requests"


def _json(status: int, data, headers: dict | None = None):
    from crawler.sandbox.server import Response
    return Response(status, json.dumps(data, ensure_ascii=False), "application/json; charset=utf-8", headers or {})


def _login(seller: str) -> str:
    return "u" + hashlib.md5((seller or "-").encode()).hexdigest()[:8]


def _date(num: int) -> str:
    return f"2025-{num % 12 + 1:02d}-{num % 27 + 1:02d}T{num % 24:02d}:{num % 60:02d}:00Z"


def _comments(ctx: Ctx, issue: Issue) -> list:
    return [l for l in issue.posts[1:] if ctx.corpus.live(l)]


def _issue_json(ctx: Ctx, issue: Issue) -> dict:
    first = issue.posts[0]
    base = f"{API}/repos/{issue.repo}/issues/{issue.number}"
    return {"url": base, "repository_url": f"{API}/repos/{issue.repo}", "comments_url": f"{base}/comments",
            "html_url": issue.html_url, "id": first.num, "node_id": f"I_{first.num}", "number": issue.number,
            "title": first.title, "user": {"login": _login(first.seller)}, "state": "open", "locked": False,
            "comments": len(_comments(ctx, issue)), "created_at": _date(first.num), "updated_at": _date(first.num),
            "author_association": "NONE", "body": first.text, "score": 1.0}


def _find(ctx: Ctx, repo: str, number: int) -> Issue | None:
    for issue in ctx.corpus.issues:
        if issue.repo == repo and issue.number == number:
            return issue
    return None


def _limits(ctx: Ctx, remaining: int, reset: int) -> dict:
    limit = 30 if ctx.headers.get("authorization") else 10
    return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(max(0, min(limit, remaining))),
            "x-ratelimit-used": str(max(0, limit - remaining)), "x-ratelimit-reset": str(reset),
            "x-ratelimit-resource": "search", "x-github-api-version-selected": "2022-11-28"}


def search(ctx: Ctx):
    p = ctx.params()
    q = p.get("q", "")
    now = int(time.time())
    state = ctx.state
    state.calls["github"] = state.calls.get("github", 0) + 1
    limit = state.rate_limit.get("github")
    if ctx.blocked("github") or (limit is not None and state.calls["github"] == limit + 1):
        reset = now + (3600 if ctx.blocked("github") else 1)
        return _json(403, {"message": "API rate limit exceeded for 127.0.0.1. (But here's the good news: "
                                      "Authenticated requests get a higher rate limit.)",
                           "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"},
                     _limits(ctx, 0, reset))
    if not re.search(r"(^|\s)is:(issue|pull-request|pr)(\s|$)", q):
        return _json(422, {"message": "Query must include 'is:issue' or 'is:pull-request'",
                           "documentation_url": DOCS, "status": "422"})
    try:
        per_page = max(1, min(100, int(p.get("per_page", "30"))))
        pg = max(1, min(1000, int(p.get("page", "1"))))
    except ValueError:
        return _json(422, {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"})
    issues = ctx.corpus.issue_search(q)
    chunk = issues[(pg - 1) * per_page: pg * per_page]
    key = "results" if ctx.redesigned("github") else "items"
    headers = _limits(ctx, 9, now + 60)
    last = max(1, (len(issues) - 1) // per_page + 1)
    if pg < last:
        def link(n):
            return f"{API}/search/issues?q={urllib.parse.quote_plus(q)}&per_page={per_page}&page={n}"
        headers["link"] = f'<{link(pg + 1)}>; rel="next", <{link(last)}>; rel="last"'
    return _json(200, {"total_count": len(issues), "incomplete_results": False,
                       key: [_issue_json(ctx, i) for i in chunk]}, headers)


def api(ctx: Ctx):
    if ctx.path == "/search/issues":
        return search(ctx)
    m = re.fullmatch(r"/repos/([\w.-]+/[\w.-]+)/issues/(\d{1,9})(/comments)?", ctx.path)
    issue = _find(ctx, m.group(1), int(m.group(2))) if m else None
    if issue is None:
        return _json(404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"})
    if not ctx.corpus.live(issue.posts[0]):
        return _json(410, {"message": "This issue was deleted", "documentation_url": "https://docs.github.com/rest",
                           "status": "410"})
    if not m.group(3):
        return _json(200, _issue_json(ctx, issue))
    # Pages as the API's: per_page (default 30, or the comments_per_page
    # switch) and page, a Link header naming the next and the last page.
    p = ctx.params()
    try:
        per_page = max(1, min(100, int(p.get("per_page") or ctx.state.comments_per_page or 30)))
        pg = max(1, min(1000, int(p.get("page", "1"))))
    except ValueError:
        return _json(422, {"message": "Validation Failed", "documentation_url": DOCS, "status": "422"})
    comments = _comments(ctx, issue)
    headers = _limits(ctx, 4999, int(time.time()) + 3600) | {"x-ratelimit-resource": "core"}
    last = max(1, (len(comments) - 1) // per_page + 1)
    if pg < last:
        def link(n):
            return f"{API}/repos/{issue.repo}/issues/{issue.number}/comments?per_page={per_page}&page={n}"
        headers["link"] = f'<{link(pg + 1)}>; rel="next", <{link(last)}>; rel="last"'
    return _json(200, [{"id": l.num + OFFSETS["comment"], "html_url": issue.comment_url(l),
                        "issue_url": f"{API}/repos/{issue.repo}/issues/{issue.number}", "body": l.text,
                        "user": {"login": _login(l.seller)}, "created_at": _date(l.num),
                        "updated_at": _date(l.num), "author_association": "NONE"}
                       for l in comments[(pg - 1) * per_page: pg * per_page]], headers)


def web(ctx: Ctx):
    m = re.fullmatch(r"/([\w.-]+/[\w.-]+)/issues/(\d{1,9})", ctx.path)
    issue = _find(ctx, m.group(1), int(m.group(2))) if m else None
    if issue is None or not ctx.corpus.live(issue.posts[0]):
        return respond(404, page("Page not found · GitHub", '<div class="container"><h1>404</h1></div>'))
    first = issue.posts[0]

    def comment(listing, ident):
        return (f'<div class="TimelineItem js-comment-container" id="{ident}"><div class="timeline-comment">'
                f'<div class="timeline-comment-header"><a class="author Link--primary" href="/{_login(listing.seller)}">'
                f'{_login(listing.seller)}</a> commented</div>'
                f'<div class="edit-comment-hide"><div class="comment-body markdown-body js-comment-body">'
                f'<p>{e(listing.text)}</p></div></div></div></div>')
    timeline = comment(first, f"issue-{first.num}") + "".join(
        comment(l, f"issuecomment-{l.num + OFFSETS['comment']}") for l in _comments(ctx, issue))
    body = (f'<header class="AppHeader"><nav><a href="/">GitHub</a><a href="/features">功能</a></nav></header>'
            f'<main><div class="gh-header"><h1 class="gh-header-title"><bdi class="js-issue-title markdown-title">'
            f'{e(first.title)}</bdi> <span class="f1-light">#{issue.number}</span></h1></div>'
            f'<div class="js-discussion">{timeline}</div></main>'
            f'<footer class="footer"><a href="/site/terms">条款</a><a href="/site/privacy">隐私</a></footer>')
    return respond(200, page(f"{first.title} · Issue #{issue.number} · {issue.repo}", body))


HOSTS = {"api.github.com": api, "github.com": web}
