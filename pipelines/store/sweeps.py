"""Sweep runs and their health: the sweep record (status and Scrapy stats),
per-platform health rows and alerts.
"""
from __future__ import annotations

import os

import sqlite_utils

from .db import now_utc, StoreError, _dumps, _loads


# What a run in ``sweeps`` was (its kind column), as people read it. Only
# 'sweep' runs are "the latest sweep" of `health`, `workers` and the console.
KIND_CN = {"sweep": "巡查", "sites": "网站核查", "recheck": "下架复查"}


def kind_label(kind: str | None) -> str:
    return KIND_CN.get(kind or "sweep", f"{kind}（单独抓取）")


def start_sweep(db: sqlite_utils.Database, platforms: list[str], mode: str,
                keyword_filter: str = "", schedule_id: int | None = None, kind: str = "sweep") -> int:
    with db.atomic():
        table = db["sweeps"].insert({
            "schedule_id": schedule_id, "started_at": now_utc(), "status": "running", "kind": kind,
            "mode": mode, "platforms": _dumps(platforms), "keyword_filter": keyword_filter,
            "pid": os.getpid(),
        })
    return table.last_pk


def finish_sweep(db: sqlite_utils.Database, sweep_id: int, status: str, stats: dict) -> None:
    flat = {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
            for k, v in stats.items()}
    responses = sum(v for k, v in flat.items()
                    if k.startswith("downloader/response_status_count/") and isinstance(v, int))
    with db.atomic():
        db["sweeps"].update(sweep_id, {
            "ended_at": now_utc(), "status": status,
            "requests": int(flat.get("downloader/request_count", 0) or 0),
            "responses": responses,
            "items": int(flat.get("certwatch/items", 0) or 0),
            "flagged": int(flat.get("certwatch/flagged", 0) or 0),
            "errors": int(flat.get("certwatch/errors", 0) or 0)
                      + int(flat.get("log_count/ERROR", 0) or 0),
            "stats": _dumps(flat),
        })


def mark_abandoned_sweeps(db: sqlite_utils.Database) -> int:
    """Sweeps left 'running' by a process that no longer exists were
    interrupted (killed); mark them so. Returns how many were marked."""
    marked = 0
    for row in list(db["sweeps"].rows_where("status = 'running'")):
        pid = row.get("pid")
        alive = False
        if pid:
            try:
                os.kill(pid, 0)
                alive = True
            except OSError:
                alive = False
        if not alive:
            db["sweeps"].update(row["id"], {"status": "interrupted", "ended_at": row.get("ended_at") or now_utc()})
            marked += 1
    return marked


def get_sweep(db: sqlite_utils.Database, sweep_id: int) -> dict:
    try:
        row = db["sweeps"].get(sweep_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"巡查记录 {sweep_id} 不存在") from None
    row["stats"] = _loads(row.get("stats"), {})
    row["platforms"] = _loads(row.get("platforms"), [])
    return row


def latest_sweep_of(db: sqlite_utils.Database, schedule_id: int, pid: int) -> int | None:
    """The newest sweep a scheduled run's process started, if it got that far."""
    row = db.execute("SELECT id FROM sweeps WHERE pid = ? AND schedule_id = ? ORDER BY id DESC LIMIT 1",
                     [pid, schedule_id]).fetchone()
    return row[0] if row else None


def list_sweeps(db: sqlite_utils.Database, limit: int = 50, kind: str | None = None) -> list[dict]:
    """The newest runs first; ``kind`` keeps one kind ('sweep': real sweeps only)."""
    if kind is not None:
        return list(db["sweeps"].rows_where("kind = ?", [kind], order_by="id desc", limit=limit))
    return list(db["sweeps"].rows_where(order_by="id desc", limit=limit))


def latest_sweep(db: sqlite_utils.Database) -> int | None:
    """The newest real sweep (not a site check or a lone crawl), if any."""
    row = db.execute("SELECT id FROM sweeps WHERE kind = 'sweep' ORDER BY id DESC LIMIT 1").fetchone()
    return row[0] if row else None


def sweep_summary(db: sqlite_utils.Database, sweep_id: int) -> list[dict]:
    """Per platform: listings seen by the sweep and how many are flagged."""
    rows = db.execute(
        "SELECT f.platform, COUNT(*), SUM(f.flagged) FROM finding_sweeps s"
        " JOIN findings f ON f.id = s.finding_id WHERE s.sweep_id = ?"
        " GROUP BY f.platform ORDER BY f.platform", [sweep_id]).fetchall()
    return [{"platform": p, "listings": n, "flagged": int(fl or 0)} for p, n, fl in rows]


def save_sweep_platforms(db: sqlite_utils.Database, sweep_id: int, rows: list[dict]) -> None:
    with db.atomic():
        for row in rows:
            record = dict(row)
            for key in ("by_status", "blocked_reasons"):
                record[key] = _dumps(record.get(key) or {})
            db["sweep_platforms"].upsert({"sweep_id": sweep_id, **record},
                                         pk=("sweep_id", "platform"))


def sweep_platforms(db: sqlite_utils.Database, sweep_id: int) -> list[dict]:
    out = []
    for row in db["sweep_platforms"].rows_where("sweep_id = ?", [sweep_id], order_by="platform"):
        row["by_status"] = _loads(row.get("by_status"), {})
        row["blocked_reasons"] = _loads(row.get("blocked_reasons"), {})
        out.append(row)
    return out


def add_alert(db: sqlite_utils.Database, kind: str, message: str, platform: str | None = None,
              sweep_id: int | None = None) -> int:
    with db.atomic():
        return db["alerts"].insert({"at": now_utc(), "kind": kind, "platform": platform or "",
                                    "sweep_id": sweep_id, "message": message,
                                    "delivered": 0}).last_pk


def mark_alert_delivery(db: sqlite_utils.Database, alert_id: int, delivered: bool, error: str = "") -> None:
    with db.atomic():
        db["alerts"].update(alert_id, {"delivered": 1 if delivered else 0, "delivery_error": error[:500]})


def list_alerts(db: sqlite_utils.Database, sweep_id: int | None = None, limit: int = 100) -> list[dict]:
    if sweep_id is not None:
        return list(db["alerts"].rows_where("sweep_id = ?", [sweep_id], order_by="id desc", limit=limit))
    return list(db["alerts"].rows_where(order_by="id desc", limit=limit))


def merge_sweep_stats(db: sqlite_utils.Database, sweep_id: int, stats: dict) -> None:
    """Add counters to a finished sweep's stats (the health record)."""
    with db.atomic():
        row = db.execute("SELECT stats FROM sweeps WHERE id = ?", [sweep_id]).fetchone()
        if row is None:
            raise StoreError(f"巡查记录 {sweep_id} 不存在")
        merged = {**_loads(row[0], {}), **stats}
        db.execute("UPDATE sweeps SET stats = ? WHERE id = ?", [_dumps(merged), sweep_id])
