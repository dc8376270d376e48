"""Login and logout.

Sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure when
the request came over HTTPS); the store keeps only its SHA-256, the user and
the session's CSRF token. The login form itself is protected by a
double-submit token (cookie + form field). Failed logins are rate limited
per user name and per client address.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta, timezone

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from pipelines import store
from reports.console import web
from reports.console.passwords import verify_password

NAV: list = []
router = APIRouter()

SESSION_HOURS = 8
RATE_WINDOW_MINUTES = 15
MAX_FAILS_PER_NAME = 5
MAX_FAILS_PER_ADDRESS = 20


def _iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _client(request: Request) -> str:
    return request.client.host if request.client else ""


def _login_page(request: Request, error: str = "", status: int = 200, name: str = "") -> Response:
    token = secrets.token_urlsafe(32)
    response = web.render(request, "login.html", {
        "error": error, "login_csrf": token, "name": name,
        "next": web.local_path(request.query_params.get("next"))}, status_code=status)
    response.set_cookie(web.LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/login")
    return response


@router.get("/login")
def login_form(request: Request, _=web.public, db=Depends(web.get_db)):
    found = web.session_of(request, db)
    if found is not None:
        return web.redirect(web.local_path(request.query_params.get("next")))
    return _login_page(request)


@router.post("/login")
async def login(request: Request, _=web.public, db=Depends(web.get_db)):
    form = await request.form()
    name = str(form.get("name") or "").strip()[:64]
    password = str(form.get("password") or "")[:1024]
    cookie = request.cookies.get(web.LOGIN_CSRF_COOKIE, "")
    supplied = str(form.get("csrf_token") or "")
    if not cookie or not supplied or not hmac.compare_digest(cookie, supplied):
        return _login_page(request, "登录请求未通过安全校验，请重新提交", 403, name)
    ip = _client(request)
    since = _iso(datetime.now(timezone.utc) - timedelta(minutes=RATE_WINDOW_MINUTES))
    by_name, by_ip = store.failed_logins_since(db, since, name, ip)
    if by_name >= MAX_FAILS_PER_NAME or by_ip >= MAX_FAILS_PER_ADDRESS:
        return _login_page(request, f"登录失败次数过多，请 {RATE_WINDOW_MINUTES} 分钟后再试", 429, name)
    user = store.get_user(db, name=name) if name else None
    # scrypt is slow on purpose: off the event loop, so other requests go on meanwhile.
    ok = await run_in_threadpool(verify_password, password, user["password"] if user else None) \
        and bool(user) and not user.get("disabled")
    store.record_login_attempt(db, name, ip, ok)
    if not ok:
        return _login_page(request, "用户名或密码错误", 401, name)
    token = secrets.token_urlsafe(32)
    expires = datetime.now(timezone.utc) + timedelta(hours=SESSION_HOURS)
    store.create_session(db, web.token_hash(token), user["id"], secrets.token_urlsafe(32),
                         _iso(expires), ip)
    response = web.redirect(web.local_path(str(form.get("next") or "")))
    response.set_cookie(web.SESSION_COOKIE, token, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/",
                        max_age=SESSION_HOURS * 3600)
    response.delete_cookie(web.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, user: web.User = web.require_roles(*web.ALL_ROLES),
                 db=Depends(web.get_db)):
    token = request.cookies.get(web.SESSION_COOKIE, "")
    store.delete_session(db, web.token_hash(token))
    response = web.redirect("/login")
    response.delete_cookie(web.SESSION_COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, user: web.User = web.require_roles(*web.ALL_ROLES)):
    return web.redirect("/queue")
