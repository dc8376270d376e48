"""User management (管理员 only): list, add, change role, disable, reset password."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from pipelines import store
from reports.console import web
from reports.console.passwords import PasswordError, hash_password

NAV = [("用户管理", "/users", ("admin",))]
router = APIRouter()


def _page(request: Request, db, error: str = "", done: str = "", status: int = 200):
    return web.render(request, "users.html", {"users": store.list_users(db), "error": error,
                                              "done": done}, status_code=status)


@router.get("/users")
def users_page(request: Request, user: web.User = web.require_roles("admin"), db=Depends(web.get_db)):
    return _page(request, db)


@router.post("/users/add")
async def users_add(request: Request, user: web.User = web.require_roles("admin"), db=Depends(web.get_db)):
    form = await request.form()
    name, role = str(form.get("name") or "").strip(), str(form.get("role") or "")
    try:
        hashed = await run_in_threadpool(hash_password, str(form.get("password") or ""))
        store.add_user(db, name, role, hashed, created_by=user.name)
    except (store.StoreError, PasswordError) as exc:
        return _page(request, db, error=str(exc), status=400)
    return _page(request, db, done=f"已创建用户 {name}")


@router.post("/users/{user_id}/update")
async def users_update(request: Request, user_id: int, user: web.User = web.require_roles("admin"),
                       db=Depends(web.get_db)):
    form = await request.form()
    if store.get_user(db, user_id=user_id) is None:
        raise store.StoreError(f"用户 {user_id} 不存在")          # 404, whatever the form says
    role = str(form.get("role") or "") or None
    disabled = {"1": True, "0": False}.get(str(form.get("disabled") or ""))
    password = str(form.get("password") or "")
    if user_id == user.id and (disabled or (role and role != "admin")):
        return _page(request, db, error="不能停用自己或取消自己的管理员角色", status=400)
    try:
        hashed = await run_in_threadpool(hash_password, password) if password else None
        store.update_user(db, user_id, role=role, disabled=disabled, password_hash=hashed)
    except (store.StoreError, PasswordError) as exc:
        return _page(request, db, error=str(exc), status=400)
    return _page(request, db, done="已更新")
