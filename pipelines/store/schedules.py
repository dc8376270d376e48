"""Schedules and their runs, the scheduler's follow-up steps (evidence
after a sweep, removal recheck runs) and cross-process locks (one row per
lock with owner and expiry; single statements, so two processes never
both hold one).
"""
from __future__ import annotations

import sqlite_utils

from .db import now_utc, StoreError, _dumps, _loads

SCHEDULE_FIELDS = ("cron", "industry", "department", "platforms", "pages", "enabled",
                   "settings", "variants", "mode", "sandbox", "next_run_at", "last_run_at", "profiles")


def _schedule_row(row: dict) -> dict:
    row["settings"] = _loads(row.get("settings"), {})
    row["platforms"] = row.get("platforms") or ""
    return row


def add_schedule(db: sqlite_utils.Database, row: dict) -> int:
    record = {k: row.get(k) for k in SCHEDULE_FIELDS if k in row}
    record["settings"] = _dumps(row.get("settings") or {})
    with db.atomic():
        if db.execute("SELECT 1 FROM schedules WHERE name = ?", [row["name"]]).fetchone():
            raise StoreError(f"巡查计划已存在：{row['name']}")
        return db["schedules"].insert({"name": row["name"], "created_at": now_utc(),
                                       "updated_at": now_utc(), "enabled": 1, **record}).last_pk


def update_schedule(db: sqlite_utils.Database, schedule_id: int, fields: dict) -> None:
    record = {k: v for k, v in fields.items() if k in SCHEDULE_FIELDS}
    if "settings" in record:
        record["settings"] = _dumps(record["settings"] or {})
    with db.atomic():
        db["schedules"].update(schedule_id, {**record, "updated_at": now_utc()})


def get_schedule(db: sqlite_utils.Database, name: str | None = None,
                 schedule_id: int | None = None) -> dict:
    if schedule_id is not None:
        rows = list(db["schedules"].rows_where("id = ?", [schedule_id]))
    else:
        rows = list(db["schedules"].rows_where("name = ?", [name]))
    if not rows:
        raise StoreError(f"巡查计划不存在：{name if name is not None else schedule_id}")
    return _schedule_row(rows[0])


def list_schedules(db: sqlite_utils.Database, enabled_only: bool = False) -> list[dict]:
    rows = db["schedules"].rows_where("enabled = 1" if enabled_only else None, order_by="name")
    return [_schedule_row(r) for r in rows]


def remove_schedule(db: sqlite_utils.Database, schedule_id: int) -> None:
    """Remove a schedule. Its runs and sweeps stay (history)."""
    with db.atomic():
        db.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])
        db.execute("UPDATE schedule_runs SET status = 'cancelled', note = '计划已删除'"
                   " WHERE schedule_id = ? AND status = 'pending'", [schedule_id])


def claim_run(db: sqlite_utils.Database, schedule_id: int, due_at: str, next_run_at: str,
              owner: str, note: str = "") -> int | None:
    """Claim the run of ``schedule_id`` for slot ``due_at`` and move the
    schedule on to ``next_run_at``. The (schedule, slot) pair is unique, so
    of any number of schedulers exactly one gets the run; the others get
    None. Moving the schedule on is the same for every claimant."""
    stamp = now_utc()
    with db.atomic():
        cur = db.execute(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, due_at, status, attempts, owner, claimed_at, note)"
            " VALUES (?, ?, 'pending', 0, ?, ?, ?)", [schedule_id, due_at, owner, stamp, note])
        claimed = cur.rowcount == 1
        db.execute("UPDATE schedules SET last_run_at = ?, next_run_at = ? WHERE id = ?"
                   " AND (last_run_at IS NULL OR last_run_at <= ?)",
                   [due_at, next_run_at, schedule_id, due_at])
        if not claimed:
            return None
        return db.execute("SELECT id FROM schedule_runs WHERE schedule_id = ? AND due_at = ?",
                          [schedule_id, due_at]).fetchone()[0]


def add_manual_run(db: sqlite_utils.Database, schedule_id: int, due_at: str, owner: str) -> int:
    """A 'run now' request: a pending run outside the cron slots."""
    with db.atomic():
        cur = db.execute(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, due_at, status, attempts, owner, claimed_at, note)"
            " VALUES (?, ?, 'pending', 0, ?, ?, '立即执行')", [schedule_id, due_at, owner, now_utc()])
        if cur.rowcount != 1:
            raise StoreError("该计划已有同一时刻的执行请求")
        return cur.lastrowid


def runnable_runs(db: sqlite_utils.Database, max_attempts: int) -> list[dict]:
    """Pending runs, and interrupted runs not yet retried ``max_attempts``
    times, oldest slot first."""
    return list(db["schedule_runs"].rows_where(
        "status = 'pending' OR (status = 'interrupted' AND attempts < ?)", [max_attempts],
        order_by="due_at, id"))


def start_run(db: sqlite_utils.Database, run_id: int, owner: str, pid: int,
              table: str = "schedule_runs") -> bool:
    """Take a runnable run (a ``schedule_runs`` or ``recheck_runs`` row) for
    this owner (compare-and-set); False when another scheduler took it first."""
    with db.atomic():
        cur = db.execute(
            f"UPDATE {table} SET status = 'running', owner = ?, pid = ?, started_at = ?,"
            " ended_at = NULL, attempts = attempts + 1 WHERE id = ? AND status IN ('pending', 'interrupted')",
            [owner, pid, now_utc(), run_id])
        return cur.rowcount == 1


def set_run_sweep(db: sqlite_utils.Database, run_id: int, sweep_id: int) -> None:
    with db.atomic():
        db.execute("UPDATE schedule_runs SET sweep_id = ? WHERE id = ?", [sweep_id, run_id])


def finish_run(db: sqlite_utils.Database, run_id: int, status: str, note: str = "") -> None:
    with db.atomic():
        db.execute("UPDATE schedule_runs SET status = ?, ended_at = ?, note = ? WHERE id = ?",
                   [status, now_utc(), note, run_id])


def get_run(db: sqlite_utils.Database, run_id: int) -> dict:
    rows = list(db["schedule_runs"].rows_where("id = ?", [run_id]))
    if not rows:
        raise StoreError(f"执行记录不存在：{run_id}")
    return rows[0]


def list_runs(db: sqlite_utils.Database, schedule_id: int | None = None, status: str | None = None,
              limit: int = 100) -> list[dict]:
    where, args = [], []
    if schedule_id is not None:
        where.append("schedule_id = ?"); args.append(schedule_id)
    if status:
        where.append("status = ?"); args.append(status)
    return list(db["schedule_runs"].rows_where(" AND ".join(where) or None, args,
                                               order_by="id desc", limit=limit))


def running_runs(db: sqlite_utils.Database) -> list[dict]:
    return list(db["schedule_runs"].rows_where("status = 'running'", order_by="id"))


def acquire_lock(db: sqlite_utils.Database, name: str, owner: str, now: str, expires_at: str) -> bool:
    with db.atomic():
        cur = db.execute(
            "INSERT OR IGNORE INTO locks (name, owner, acquired_at, heartbeat_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)", [name, owner, now, now, expires_at])
        if cur.rowcount == 1:
            return True
        cur = db.execute(
            "UPDATE locks SET owner = ?, acquired_at = CASE WHEN owner = ? THEN acquired_at ELSE ? END,"
            " heartbeat_at = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at < ?)",
            [owner, owner, now, now, expires_at, name, owner, now])
        return cur.rowcount == 1


def heartbeat_locks(db: sqlite_utils.Database, owner: str, now: str, expires_at: str) -> int:
    with db.atomic():
        return db.execute("UPDATE locks SET heartbeat_at = ?, expires_at = ? WHERE owner = ?",
                          [now, expires_at, owner]).rowcount


def release_locks(db: sqlite_utils.Database, owner: str, names: list[str] | None = None) -> None:
    with db.atomic():
        if names is None:
            db.execute("DELETE FROM locks WHERE owner = ?", [owner])
        else:
            for name in names:
                db.execute("DELETE FROM locks WHERE owner = ? AND name = ?", [owner, name])


def list_locks(db: sqlite_utils.Database) -> list[dict]:
    return list(db["locks"].rows_where(order_by="name"))


def start_run_evidence(db: sqlite_utils.Database, run_id: int, retry: bool = False) -> bool:
    """Mark a run's evidence step running (compare-and-set when ``retry``:
    only an interrupted step is taken again)."""
    with db.atomic():
        cur = db.execute(
            "UPDATE schedule_runs SET evidence_status = 'running',"
            " evidence_attempts = COALESCE(evidence_attempts, 0) + 1 WHERE id = ?"
            + (" AND evidence_status = 'interrupted'" if retry else ""), [run_id])
        return cur.rowcount == 1


def set_run_evidence(db: sqlite_utils.Database, run_id: int, fields: dict) -> None:
    record = {k: v for k, v in fields.items()
              if k in ("evidence_status", "evidence_ok", "evidence_failed", "evidence_note")}
    if "evidence_note" in record:
        record["evidence_note"] = (record["evidence_note"] or "")[:500]
    with db.atomic():
        db["schedule_runs"].update(run_id, record)


def evidence_retry_runs(db: sqlite_utils.Database, max_attempts: int) -> list[dict]:
    """Runs whose sweep is done but whose evidence step was interrupted
    (and not yet tried ``max_attempts`` times), oldest first."""
    return list(db["schedule_runs"].rows_where(
        "status IN ('finished', 'failed') AND evidence_status = 'interrupted'"
        " AND COALESCE(evidence_attempts, 0) < ?", [max_attempts], order_by="id"))


def running_evidence_runs(db: sqlite_utils.Database) -> list[dict]:
    return list(db["schedule_runs"].rows_where("evidence_status = 'running'", order_by="id"))


def claim_recheck_run(db: sqlite_utils.Database, key: str, due_at: str, items: int, owner: str,
                      max_attempts: int) -> int | None:
    """The recheck run for ``key``: new (pending), or an interrupted one not
    yet tried ``max_attempts`` times; None when that due set already ran."""
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO recheck_runs (key, due_at, items, status, attempts, owner, claimed_at)"
                   " VALUES (?, ?, ?, 'pending', 0, ?, ?)", [key, due_at, items, owner, now_utc()])
        row = db.execute("SELECT id, status, attempts FROM recheck_runs WHERE key = ?", [key]).fetchone()
    run_id, status, attempts = row
    if status == "pending" or (status == "interrupted" and (attempts or 0) < max_attempts):
        return run_id
    return None


def start_recheck_run(db: sqlite_utils.Database, run_id: int, owner: str, pid: int) -> bool:
    return start_run(db, run_id, owner, pid, table="recheck_runs")


def set_recheck_stats(db: sqlite_utils.Database, run_id: int, stats: dict) -> None:
    with db.atomic():
        db.execute("UPDATE recheck_runs SET stats = ? WHERE id = ?", [_dumps(stats), run_id])


def finish_recheck_run(db: sqlite_utils.Database, run_id: int, status: str, note: str = "") -> None:
    with db.atomic():
        db.execute("UPDATE recheck_runs SET status = ?, ended_at = ?, note = ? WHERE id = ?",
                   [status, now_utc(), (note or "")[:500], run_id])


def _recheck_row(row: dict) -> dict:
    row["stats"] = _loads(row.get("stats"), {})
    return row


def get_recheck_run(db: sqlite_utils.Database, run_id: int) -> dict:
    rows = list(db["recheck_runs"].rows_where("id = ?", [run_id]))
    if not rows:
        raise StoreError(f"复查记录不存在：{run_id}")
    return _recheck_row(rows[0])


def list_recheck_runs(db: sqlite_utils.Database, limit: int = 100) -> list[dict]:
    return [_recheck_row(r) for r in db["recheck_runs"].rows_where(order_by="id desc", limit=limit)]


def running_recheck_runs(db: sqlite_utils.Database) -> list[dict]:
    return [_recheck_row(r) for r in db["recheck_runs"].rows_where("status = 'running'", order_by="id")]
