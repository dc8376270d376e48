"""The certwatch console: ``create_app(db_path)`` builds the FastAPI app.

How to add a console page (keywords, reports … areas)
-----------------------------------------------------
1. Write a module, e.g. ``reports/console/keywords_pages.py``::

       from fastapi import APIRouter, Request
       from reports.console.web import require_roles, render, get_db, redirect, User

       NAV = [("关键词库", "/keywords", ("monitor",))]   # label, path, roles (admin sees all)
       router = APIRouter()

       @router.get("/keywords")
       def keywords_page(request: Request, user: User = require_roles("monitor", "reviewer"),
                         db=Depends(get_db)):
           return render(request, "keywords.html", {"rows": store.list_keywords(db)})

       @router.post("/keywords/add")      # CSRF is checked by require_roles on POST
       async def add(request: Request, user: User = require_roles("monitor"), db=Depends(get_db)):
           form = await request.form()
           ...
           return redirect("/keywords")

2. Put its templates in ``reports/console/templates/`` (name them after the
   module, e.g. ``keywords_*.html``); each ``{% extends "base.html" %}`` and
   fills ``{% block title %}`` and ``{% block content %}``. Every form that
   POSTs carries ``<input type="hidden" name="csrf_token" value="{{ csrf_token }}">``.
   No inline ``<script>``/``style=""``/``onclick`` (the CSP forbids them): put
   JavaScript in ``reports/console/static/`` and load it with
   ``<script src="/static/NAME.js"></script>`` in ``{% block scripts %}``.
3. Append the module name to ``PAGE_ROUTERS`` below.

Every route must depend on ``require_roles(...)`` (or ``public``):
``create_app`` raises ``ConsoleSetupError`` naming any route that does not.
Roles: admin 管理员, monitor 监测员, reviewer 审核员, readonly 只读.
"""
from __future__ import annotations

import contextlib
import importlib
import os
import sqlite3

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from pipelines import store
from reports.console import indexer, web

HERE = os.path.dirname(os.path.abspath(__file__))
STARTUP_INDEX_LIMIT = 20_000

# Page modules; each exposes ``router`` (APIRouter) and ``NAV`` (a list of
# (label, path, roles)). Other areas append theirs here.
PAGE_ROUTERS: list[str] = [
    "reports.console.auth",
    "reports.console.review",
    "reports.console.evidence_pages",
    "reports.console.users",
    "reports.console.reports_pages",
    "reports.console.keywords_pages",
]

# Strict: our own script and style files only; nothing inline, no frames,
# forms post only here. Scraped HTML is never rendered (see evidence_pages).
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class ConsoleSetupError(RuntimeError):
    """A page module is malformed or a route has no role check."""


def _route_guard(route: APIRoute) -> str | None:
    """'roles' / 'public' if the route depends on require_roles / public."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        call = dep.call
        if getattr(call, "certwatch_roles", None) is not None:
            return "roles"
        if getattr(call, "certwatch_public", False):
            return "public"
        stack.extend(dep.dependencies)
    return None


def create_app(db_path: str, page_routers: list[str] | None = None) -> FastAPI:
    """The console over the store at ``db_path`` (created and migrated here)."""
    with store.opened(db_path) as db:
        # record_findings indexes what it writes; only other writers' changes
        # wait here, a bounded number (the queue's keyword search catches up the rest).
        store.refresh_search_index(db, limit=STARTUP_INDEX_LIMIT)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if app.state.backfill is not None:
            app.state.backfill.stop()

    app = FastAPI(title="certwatch 审核台", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.db_path = os.path.abspath(db_path)
    # Findings stored before the keyword index existed: indexed in the
    # background, not before the console answers (searches scan them meanwhile).
    app.state.backfill = indexer.start_backfill(app.state.db_path)
    templates = Jinja2Templates(directory=os.path.join(HERE, "templates"))
    templates.env.autoescape = True            # every template, whatever its name
    templates.env.filters["bjt"] = web.beijing_time
    templates.env.globals.update(web.template_globals())
    app.state.templates = templates
    app.state.nav = []

    for name in page_routers if page_routers is not None else PAGE_ROUTERS:
        module = importlib.import_module(name)
        router = getattr(module, "router", None)
        if router is None:
            raise ConsoleSetupError(f"{name} has no `router`")
        for label, path, roles in getattr(module, "NAV", []):
            app.state.nav.append({"label": label, "path": path, "roles": tuple(roles)})
        for route in router.routes:
            if isinstance(route, APIRoute) and _route_guard(route) is None:
                raise ConsoleSetupError(f"{name}: route {route.path} has no require_roles()/public")
        app.include_router(router)

    app.mount("/static", StaticFiles(directory=os.path.join(HERE, "static")), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        """Browsers ask for it on every page: an icon, not a 404 in the log."""
        return FileResponse(os.path.join(HERE, "static", "favicon.ico"), media_type="image/x-icon")

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(web.LoginRequired)
    async def login_required(request: Request, exc):
        if request.method in web.SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            from urllib.parse import quote
            return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
        return _error(request, 401, "请先登录")

    @app.exception_handler(web.Forbidden)
    async def forbidden(request: Request, exc):
        return _error(request, 403, exc.message)

    @app.exception_handler(web.CsrfError)
    async def csrf_failed(request: Request, exc):
        return _error(request, 403, "请求未通过安全校验（CSRF 令牌缺失或无效），请刷新页面后重试")

    @app.exception_handler(store.StoreBusy)
    async def store_busy(request: Request, exc):
        return _error(request, 503, str(exc), {"Retry-After": "5"})

    @app.exception_handler(sqlite3.OperationalError)
    async def sqlite_error(request: Request, exc):
        if store.is_locked(exc):
            return _error(request, 503, store.busy_message(), {"Retry-After": "5"})
        raise exc

    @app.exception_handler(store.StoreError)
    async def store_error(request: Request, exc):
        return _error(request, 404 if "不存在" in str(exc) else 400, str(exc))

    @app.exception_handler(OverflowError)
    async def too_large(request: Request, exc):
        # An id past SQLite's 64-bit integers (/finding/99999999999999999999): no such record.
        return _error(request, 404, "页面不存在")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc):
        return _error(request, 400, "请求参数无效")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc):
        messages = {404: "页面不存在", 405: "不支持的请求方法"}
        return _error(request, exc.status_code, messages.get(exc.status_code, str(exc.detail)))

    return app


def _error(request: Request, status: int, message: str, headers: dict | None = None) -> Response:
    if not hasattr(request.state, "user"):
        # No route ran (an unknown address): who is signed in, so the page keeps its menu.
        found = _signed_in(request)
        request.state.user = found[0] if found else None
        if found:
            request.state.csrf = found[1]        # the menu's 退出 form
    response = web.render(request, "error.html", {"status": status, "message": message}, status_code=status)
    response.headers.update(headers or {})
    return response


def _signed_in(request: Request):
    """(user, csrf) of the session, or None (no session, or the store cannot say now)."""
    if not request.cookies.get(web.SESSION_COOKIE):
        return None
    try:
        db = store.open_db(request.app.state.db_path)
    except (OSError, sqlite3.Error):
        return None
    try:
        found = web.session_of(request, db)
    except (sqlite3.Error, store.StoreError):
        return None
    finally:
        db.close()
    return found
