"""Console accounts, sessions and login attempts. Password hashes are made
by reports.console.passwords; a session stores only a SHA-256 of its token.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from .db import now_utc, StoreError

ROLES = {"admin": "管理员", "monitor": "监测员", "reviewer": "审核员", "readonly": "只读"}


def add_user(db: sqlite_utils.Database, name: str, role: str, password_hash: str,
             created_by: str = "") -> int:
    name = (name or "").strip()
    if not name or len(name) > 64 or any(c.isspace() or ord(c) < 32 for c in name):
        raise StoreError("用户名不能为空、不能含空白字符，且不超过 64 个字符")
    if role not in ROLES:
        raise StoreError(f"未知的角色：{role}（可选：{'、'.join(f'{k}（{v}）' for k, v in ROLES.items())}）")
    with db.atomic():
        if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise StoreError(f"用户 {name} 已存在")
        stamp = now_utc()
        return db["users"].insert({"name": name, "role": role, "password": password_hash,
                                   "created_at": stamp, "created_by": created_by, "disabled": 0,
                                   "password_changed_at": stamp}).last_pk


def get_user(db: sqlite_utils.Database, name: str | None = None, user_id: int | None = None) -> dict | None:
    if user_id is not None:
        row = db.execute("SELECT id FROM users WHERE id = ?", [user_id]).fetchone()
    else:
        row = db.execute("SELECT id FROM users WHERE name = ?", [name or ""]).fetchone()
    return db["users"].get(row[0]) if row else None


def list_users(db: sqlite_utils.Database) -> list[dict]:
    return list(db["users"].rows_where(order_by="id"))


def update_user(db: sqlite_utils.Database, user_id: int, role: str | None = None,
                disabled: bool | None = None, password_hash: str | None = None) -> None:
    fields: dict[str, Any] = {}
    if role is not None:
        if role not in ROLES:
            raise StoreError(f"未知的角色：{role}")
        fields["role"] = role
    if disabled is not None:
        fields["disabled"] = 1 if disabled else 0
    if password_hash is not None:
        fields["password"] = password_hash
        fields["password_changed_at"] = now_utc()
    if not fields:
        return
    with db.atomic():
        if get_user(db, user_id=user_id) is None:
            raise StoreError(f"用户 {user_id} 不存在")
        db["users"].update(user_id, fields)
        if disabled or password_hash is not None or role is not None:
            db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])


def create_session(db: sqlite_utils.Database, token_hash: str, user_id: int, csrf: str,
                   expires_at: str, ip: str = "") -> None:
    with db.atomic():
        db["sessions"].insert({"token_hash": token_hash, "user_id": user_id, "csrf": csrf,
                               "created_at": now_utc(), "expires_at": expires_at, "ip": ip})
        db.execute("DELETE FROM sessions WHERE expires_at < ?", [now_utc()])


def session_user(db: sqlite_utils.Database, token_hash: str) -> tuple[dict, str] | None:
    """(user, csrf token) for a live session of an enabled user, else None."""
    row = db.execute(
        "SELECT u.id, u.name, u.role, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        [token_hash, now_utc()]).fetchone()
    if row is None:
        return None
    return {"id": row[0], "name": row[1], "role": row[2]}, row[3]


def delete_session(db: sqlite_utils.Database, token_hash: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])


def record_login_attempt(db: sqlite_utils.Database, name: str, ip: str, ok: bool) -> None:
    with db.atomic():
        db.execute("INSERT INTO login_attempts (name, ip, at, ok) VALUES (?, ?, ?, ?)",
                   [name[:64], ip[:64], now_utc(), 1 if ok else 0])
        if ok:      # keep a week of attempts
            cutoff = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() - 7 * 86400, timezone.utc)
            db.execute("DELETE FROM login_attempts WHERE at < ?", [cutoff.strftime("%Y-%m-%dT%H:%M:%S")])


def failed_logins_since(db: sqlite_utils.Database, since: str, name: str = "", ip: str = "") -> tuple[int, int]:
    """Failed attempts since ``since`` for this name and from this address."""
    by_name = db.execute("SELECT COUNT(*) FROM login_attempts WHERE name = ? AND at >= ? AND ok = 0",
                         [name[:64], since]).fetchone()[0]
    by_ip = db.execute("SELECT COUNT(*) FROM login_attempts WHERE ip = ? AND at >= ? AND ok = 0",
                       [ip[:64], since]).fetchone()[0]
    return by_name, by_ip
