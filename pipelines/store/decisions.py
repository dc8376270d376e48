"""The decision log: reviewers' decisions on findings and sites, append-only
(never updated or deleted); each moves the item's status. A reviewer's
decision an item already has is not recorded twice (add_decisions: a double
submit, a second tab, a retried request).
"""
from __future__ import annotations

import json

import sqlite_utils

from .db import now_utc, StoreError


# 移交公安 is one flow: a reviewer's "refer" puts the item into the pending
# referral (referral_pending); the referral package (线索移交, store
# create_referral) records "refer_package" on each item it holds (referred).
DECISION_STATUS = {
    "confirm": "confirmed", "dismiss": "dismissed", "refer": "referral_pending",
    "refer_package": "referred",
    "undo": "flagged",      # 撤回/重新审核: back to the queue as pending
}
# Actions only the program records (never a reviewer's button).
SYSTEM_ACTIONS = ("refer_package",)
# Statuses an undo may return to pending: a decision not yet acted on
# (no takedown batch, no referral package holds the item).
UNDOABLE_STATUSES = ("confirmed", "dismissed", "referral_pending")


# What a confirm says the item is (decisions.category).
CONFIRM_CATEGORIES = {"illicit_info": "违规信息", "fake_gov_site": "假冒政府网站"}


def add_decision(db: sqlite_utils.Database, user: str, action: str, note: str = "",
                 finding_id: int | None = None, site_id: int | None = None,
                 category: str = "") -> int:
    """Append a decision (never updated or deleted) and move the status.
    ``category`` qualifies a confirm: see CONFIRM_CATEGORIES. Always
    recorded (programs and seeds restamp what it returns); a reviewer's
    request goes through add_decisions, which skips a repeat."""
    if action not in DECISION_STATUS:
        raise StoreError(f"未知的处理动作：{action}")
    if (finding_id is None) == (site_id is None):
        raise StoreError("处理动作必须且只能针对一条发现或一个网站")
    if action == "dismiss" and not note.strip():
        raise StoreError("排除误报必须填写理由")
    with db.atomic():
        table, key = ("findings", finding_id) if finding_id is not None else ("sites", site_id)
        row = db.execute(f"SELECT status FROM {table} WHERE id = ?", [key]).fetchone()
        if row is None:
            raise StoreError(f"记录 {key} 不存在")
        if action == "undo":
            _check_undo(db, row[0], finding_id, site_id)
        if action == "confirm":
            category = category or ("illicit_info" if finding_id is not None else "fake_gov_site")
            if category not in CONFIRM_CATEGORIES:
                raise StoreError(f"未知的确认类别：{category}")
        cur = db["decisions"].insert({"finding_id": finding_id, "site_id": site_id, "user": user,
                                      "at": now_utc(), "action": action, "note": note,
                                      "category": category or None})
        db[table].update(key, {"status": DECISION_STATUS[action]})
    return cur.last_pk


def add_decisions(db: sqlite_utils.Database, user: str, action: str, finding_ids=(), site_ids=(),
                  note: str = "", category: str = "") -> tuple[list[tuple[str, int]], list[tuple[str, int]],
                                                               list[tuple[str, int]]]:
    """add_decision for many items at once: one transaction, one INSERT of
    the decision rows and one UPDATE of the statuses per table. Returns
    (decided, missing, repeated) as ("finding"|"site", id) pairs; unknown
    ids are skipped, and so is an undo _check_undo refuses (both reported
    in ``missing``); an item that already has this decision (_repeats) is
    left as it is (``repeated``); a bad action, category or missing note
    raises StoreError and decides nothing."""
    if action not in DECISION_STATUS:
        raise StoreError(f"未知的处理动作：{action}")
    if action == "dismiss" and not note.strip():
        raise StoreError("排除误报必须填写理由")
    if action == "confirm" and category and category not in CONFIRM_CATEGORIES:
        raise StoreError(f"未知的确认类别：{category}")
    decided: list[tuple[str, int]] = []
    missing: list[tuple[str, int]] = []
    repeated: list[tuple[str, int]] = []
    stamp = now_utc()
    with db.atomic():
        for kind, table, ids, default in (("finding", "findings", finding_ids, "illicit_info"),
                                          ("site", "sites", site_ids, "fake_gov_site")):
            ids = list(dict.fromkeys(int(i) for i in ids))
            if not ids:
                continue
            listed = json.dumps(ids)
            found = dict(db.execute(
                f"SELECT id, status FROM {table} WHERE id IN (SELECT value FROM json_each(?))", [listed]))
            latest = _latest(db, f"{kind}_id", ids)
            cat = (category or default) if action == "confirm" else None
            ok = []
            for i in ids:
                try:
                    if i not in found:
                        raise StoreError(f"记录 {i} 不存在")
                    if _repeats(action, cat, found[i], latest.get(i), table):
                        repeated.append((kind, i))
                        continue
                    if action == "undo":
                        _check_undo(db, found[i], i if kind == "finding" else None, i if kind == "site" else None)
                    ok.append(i)
                except StoreError:
                    missing.append((kind, i))
            db.conn.executemany(
                "INSERT INTO decisions (finding_id, site_id, user, at, action, note, category)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(i if kind == "finding" else None, i if kind == "site" else None, user, stamp, action, note, cat)
                 for i in ok])
            db.execute(f"UPDATE {table} SET status = ? WHERE id IN (SELECT value FROM json_each(?))",
                       [DECISION_STATUS[action], json.dumps(ok)])
            decided += [(kind, i) for i in ok]
    return decided, missing, repeated


def _latest(db: sqlite_utils.Database, column: str, ids: list[int]) -> dict[int, tuple]:
    """Each item's last decision: id -> (action, category)."""
    rows = db.execute(
        f"SELECT {column}, action, category FROM decisions WHERE id IN (SELECT MAX(id) FROM decisions"
        f" WHERE {column} IN (SELECT value FROM json_each(?)) GROUP BY {column})", [json.dumps(ids)])
    return {row[0]: tuple(row[1:]) for row in rows}


def _repeats(action: str, category: str | None, status: str, last: tuple | None, table: str) -> bool:
    """Whether ``action`` (with ``category``, a confirm's) is the decision the
    item already has: its status is the one the action leads to and its last
    decision is the same action (a confirm: of the same category; one
    recorded before categories existed counts as the item kind's default).
    A double submit, a second tab or a retried request then records
    nothing. Actions of the program (SYSTEM_ACTIONS) are always recorded."""
    if last is None or action in SYSTEM_ACTIONS or status != DECISION_STATUS[action] or last[0] != action:
        return False
    if action != "confirm":
        return True
    return (last[1] or ("illicit_info" if table == "findings" else "fake_gov_site")) == category


def _check_undo(db: sqlite_utils.Database, status: str, finding_id: int | None,
                site_id: int | None) -> None:
    if status not in UNDOABLE_STATUSES:
        raise StoreError("该条目尚未处理，无需撤回" if status in ("new", "flagged") else
                         "该条目已生成线索移交单，不能撤回" if status == "referred" else
                         "该条目已进入下架或移交流程，不能撤回")
    column, key = ("finding_id", finding_id) if finding_id is not None else ("site_id", site_id)
    if column == "finding_id" and db.execute(
            "SELECT 1 FROM takedown_items WHERE finding_id = ?", [key]).fetchone():
        raise StoreError("该条目已列入下架清单，不能撤回")
    if db.execute(f"SELECT 1 FROM referral_items WHERE {column} = ?", [key]).fetchone():
        raise StoreError("该条目已生成线索移交单，不能撤回")


def decisions_for(db: sqlite_utils.Database, finding_id: int | None = None,
                  site_id: int | None = None) -> list[dict]:
    if finding_id is not None:
        return list(db["decisions"].rows_where("finding_id = ?", [finding_id], order_by="id"))
    return list(db["decisions"].rows_where("site_id = ?", [site_id], order_by="id"))
