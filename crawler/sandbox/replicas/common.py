"""What every replica module shares: the switches' state, one request's
context, and page/response helpers."""
from __future__ import annotations

import html
from dataclasses import dataclass, field

from crawler.sandbox.replicas.corpus import Corpus, corpus

e = html.escape


@dataclass
class State:
    block: dict = field(default_factory=dict)       # site -> True
    layout: dict = field(default_factory=dict)      # site -> True (changed layout)
    rate_limit: dict = field(default_factory=dict)  # site -> calls before one refusal
    calls: dict = field(default_factory=dict)       # site -> search calls so far
    comments_per_page: int = 0                      # GitHub comments per page (0: the API's 30)

    def as_dict(self) -> dict:
        return {"block": dict(self.block), "layout": dict(self.layout), "rate_limit": dict(self.rate_limit),
                "calls": dict(self.calls), "comments_per_page": self.comments_per_page}


def state_of(app) -> State:
    state = app.__dict__.get("replicas")
    if state is None:
        state = app.__dict__["replicas"] = State()
    return state


class Ctx:
    """One request to a replica: the world, the switches, and small helpers."""

    def __init__(self, app, host: str, path: str, query: str, headers: dict):
        self.app, self.host, self.path, self.query, self.headers = app, host, path, query, headers
        self.state = state_of(app)
        self.corpus: Corpus = corpus(app.w)

    def params(self, encoding: str = "utf-8") -> dict:
        import urllib.parse
        return {k: v[0] for k, v in urllib.parse.parse_qs(self.query, encoding=encoding, errors="replace").items()}

    def blocked(self, site: str) -> bool:
        return bool(self.state.block.get(site))

    def redesigned(self, site: str) -> bool:
        return bool(self.state.layout.get(site))


def page(title: str, body: str, charset: str = "utf-8", head: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="{charset}">'
            f"<title>{e(title)}</title>{head}</head><body>{body}</body></html>")


def respond(status: int, body: str, charset: str = "utf-8", headers: dict | None = None):
    from crawler.sandbox.server import Response
    data = body.encode(charset, "replace")
    return Response(status, data, f"text/html; charset={charset}", headers or {})


def redirect(location: str, status: int = 302):
    from crawler.sandbox.server import Response
    return Response(status, page("302", f'<a href="{e(location)}">{e(location)}</a>'),
                    headers={"Location": location})


def not_found(charset: str = "utf-8"):
    return respond(404, page("404 Not Found", "<h1>404</h1><p>页面不存在</p>", charset), charset)
