"""What every console page uses: the database per request, the signed-in
user, role checks with CSRF, and rendering with the base template.

Page modules import from here (never from ``app``):

    from reports.console.web import require_roles, render, get_db, User

``require_roles(...)`` is the only way a route gets a user. It sends
anonymous visitors to the login page, answers 403 to a user without the
role, and on every state-changing request (POST/PUT/PATCH/DELETE) checks
the CSRF token (form field ``csrf_token`` or header ``X-CSRF-Token``).
``create_app`` refuses to start if any route lacks ``require_roles`` or
``public``.
"""
from __future__ import annotations

import hashlib
import hmac
import urllib.parse
from dataclasses import dataclass
from typing import Iterator

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pipelines import store
from reports import labels
from pipelines.evidence import BEIJING, beijing_time  # noqa: F401  (re-exported for pages)

SESSION_COOKIE = "cw_session"
LOGIN_CSRF_COOKIE = "cw_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALL_ROLES = tuple(store.ROLES)
ROLE_LABELS = dict(store.ROLES)

STATUS_LABELS = {
    "pending": "待审核", "new": "待审核", "flagged": "待审核", "confirmed": "已确认",
    "dismissed": "已排除", "referral_pending": "待移交公安", "referred": "已移交公安", "takedown_requested": "已要求下架",
    "removed": "已下架", "still_present": "仍未下架",
}
VERDICT_LABELS = {
    "flagged": "可疑信息", "suspicious": "可疑网站", "fake_gov_site": "假冒政府网站",
    "official": "官方网站", "benign": "正常网站", "seller_site": "售假者网站",
}
ACTION_LABELS = labels.ACTION_CN
KIND_LABELS = {"finding": "信息", "site": "网站"}
CONTACT_LABELS = labels.CONTACT_CN


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    def has(self, *roles: str) -> bool:
        """Admins may do everything; others need one of ``roles``."""
        return self.role == "admin" or self.role in roles


class LoginRequired(Exception):
    """No valid session: GET goes to the login page, other methods get 401."""


class Forbidden(Exception):
    def __init__(self, message: str = "您没有执行此操作的权限"):
        super().__init__(message)
        self.message = message


class CsrfError(Exception):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def get_db(request: Request) -> Iterator:
    db = store.open_db(request.app.state.db_path)
    try:
        yield db
    finally:
        db.close()


def session_of(request: Request, db) -> tuple[User, str] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    found = store.session_user(db, token_hash(token))
    if found is None:
        return None
    row, csrf = found
    return User(row["id"], row["name"], row["role"]), csrf


async def _check_csrf(request: Request, expected: str) -> None:
    supplied = request.headers.get("x-csrf-token", "")
    if not supplied:
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            supplied = str(form.get("csrf_token") or "")
    if not expected or not supplied or not hmac.compare_digest(supplied, expected):
        raise CsrfError()


def require_roles(*roles: str):
    """Dependency: the signed-in user, who must hold one of ``roles``
    (admin always passes). Checks CSRF on state-changing requests."""
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"unknown roles {unknown}")

    async def dependency(request: Request, db=Depends(get_db)) -> User:
        found = session_of(request, db)
        if found is None:
            raise LoginRequired()
        user, csrf = found
        request.state.user = user
        request.state.csrf = csrf
        if not user.has(*roles):
            raise Forbidden()
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, csrf)
        return user

    dependency.certwatch_roles = roles    # read by create_app's route check
    return Depends(dependency)


async def _public(request: Request) -> None:
    """Marks a route that needs no session (login page, logout)."""
    request.state.user = None


_public.certwatch_public = True
public = Depends(_public)


def local_path(value: str | None, default: str = "/queue") -> str:
    """A redirect target on this site only (no scheme, no //host)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urllib.parse.urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def nav_for(request: Request, user: User | None) -> list[dict]:
    if user is None:
        return []
    return [item for item in request.app.state.nav if user.has(*item["roles"])]


def render(request: Request, template: str, context: dict | None = None,
           status_code: int = 200) -> HTMLResponse:
    """Render ``template`` (which extends base.html) with the user, the
    navigation and the CSRF token every form needs."""
    user = getattr(request.state, "user", None)
    ctx = {"user": user, "csrf_token": getattr(request.state, "csrf", ""),
           "nav": nav_for(request, user), "path": request.url.path}
    ctx.update(context or {})
    return request.app.state.templates.TemplateResponse(request, template, ctx, status_code=status_code)


# ---------------------------------------------------------------- template filters

def family_labels() -> dict[str, str]:
    """Certificate families as the classifier's rules name them (read from
    the data file: building the classifier here cost ~1.2 s of start-up)."""
    from keywords import load_yaml
    try:
        rules = load_yaml("sales_rules.yaml")
        labels_ = {code: f["label"] for code, f in rules["families"].items()}
        generic = rules.get("generic_family") or {}
        if generic.get("code"):              # 综合/各类证件: a family of its own, kept apart in the rules
            labels_[generic["code"]] = generic.get("label") or generic["code"]
        return labels_
    except (OSError, KeyError, TypeError, AttributeError):   # classifier data missing: show codes
        return {}


def template_globals() -> dict:
    return {"STATUS_LABELS": STATUS_LABELS, "VERDICT_LABELS": VERDICT_LABELS,
            "ROLE_LABELS": ROLE_LABELS, "ACTION_LABELS": ACTION_LABELS,
            "KIND_LABELS": KIND_LABELS, "CONTACT_LABELS": CONTACT_LABELS, "CONFIRM_CATEGORIES": store.CONFIRM_CATEGORIES,
            "FAMILY_LABELS": family_labels(), "FILE_LABELS": labels.EVIDENCE_FILE_CN,
            "platform_title": labels.platform_title}

