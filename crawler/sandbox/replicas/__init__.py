"""Replicas of real platforms in the sandbox, under their real host names.

Each module serves one family of sites in that site's page structure
(result containers, pagination, detail pages, block/captcha pages, removed
pages) — never its text — filled with the sandbox world's listings
(``corpus.py`` says which listing lives where). The real profiles in
``crawler/profiles/`` run unchanged against them through the sandbox proxy.

Switches (``POST http://sandbox.admin/replicas``, JSON; ``GET`` shows them):
``{"block": {"baidu": true}}`` serves that site's block page (captcha
redirect, gateway page, empty page, rate limit) to every search;
``{"layout": {"baidu": true}}`` serves a changed result layout (the
profile's selectors then find nothing); ``{"rate_limit": {"github": N}}``
makes the GitHub API refuse the search after N calls (403, remaining 0,
reset in 1 second) once; ``{"comments_per_page": N}`` pages GitHub's issue
comments N at a time (0: the API's 30); ``{"reset": true}`` clears everything.
"""
from __future__ import annotations

import json

from crawler.sandbox.replicas import b2b, classifieds, engines, github, tieba, web
from crawler.sandbox.replicas.common import Ctx, State, state_of

SITES = ("baidu", "bing", "sogou", "so360", "tieba", "wuba", "baixing", "huangye88", "b2b168", "liebiao", "github")
HOSTS: dict = {}
for _module in (engines, tieba, classifieds, b2b, github, web):
    HOSTS.update(_module.HOSTS)



def admin(app, method: str, body: bytes):
    from crawler.sandbox.server import Response
    state = state_of(app)
    if method == "POST":
        try:
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise ValueError
            if data.get("reset"):
                app.__dict__["replicas"] = state = State()
            for key in ("block", "layout"):
                for site, on in (data.get(key) or {}).items():
                    if site not in SITES:
                        raise ValueError
                    getattr(state, key)[site] = bool(on)
            if "comments_per_page" in data:
                state.comments_per_page = max(0, int(data["comments_per_page"]))
            for site, n in (data.get("rate_limit") or {}).items():
                state.rate_limit[str(site)] = max(0, int(n))
                state.calls[str(site)] = 0
        except (ValueError, TypeError, AttributeError):
            return Response(400, "bad request", "text/plain")
    return Response(200, json.dumps(state.as_dict()), "application/json")


def handle(app, host: str, path: str, query: str, headers: dict | None = None):
    return HOSTS[host](Ctx(app, host, path, query, headers or {}))


