"""Distributed sweeps: the writer's ingest log (stream entries committed,
so a redelivered entry changes nothing) and each worker's row of a sweep,
plus a sweep's counts read from what was stored (the same however often
an item arrived).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlite_utils

from .db import now_utc, _dumps, _loads

LOG_DAYS = 7          # ingest log rows older than this are pruned


def ingested_ids(db: sqlite_utils.Database, stream: str, entry_ids: list[str]) -> set[str]:
    """Which of ``entry_ids`` the store has committed already."""
    out: set[str] = set()
    for start in range(0, len(entry_ids), 500):
        chunk = entry_ids[start:start + 500]
        marks = ", ".join("?" * len(chunk))
        out.update(r[0] for r in db.execute(
            f"SELECT entry_id FROM ingest_log WHERE stream = ? AND entry_id IN ({marks})", [stream, *chunk]))
    return out


def log_ingested(db: sqlite_utils.Database, stream: str, entries: list[tuple[str, int | None]]) -> None:
    """Record committed entries (call inside the batch's transaction) and
    prune rows older than LOG_DAYS."""
    stamp = now_utc()
    db.conn.executemany("INSERT OR IGNORE INTO ingest_log (stream, entry_id, sweep_id, at) VALUES (?, ?, ?, ?)",
                        [(stream, entry_id, sweep_id, stamp) for entry_id, sweep_id in entries])
    old = (datetime.now(timezone.utc) - timedelta(days=LOG_DAYS)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    db.execute("DELETE FROM ingest_log WHERE at < ?", [old])


def sweep_counts(db: sqlite_utils.Database, sweep_id: int) -> dict:
    """Listings a sweep saw, how many are flagged, how many it found first."""
    seen, flagged = db.execute(
        "SELECT COUNT(*), COALESCE(SUM(f.flagged), 0) FROM finding_sweeps s JOIN findings f ON f.id = s.finding_id"
        " WHERE s.sweep_id = ?", [sweep_id]).fetchone()
    new = db.execute("SELECT COUNT(*) FROM findings WHERE first_sweep_id = ?", [sweep_id]).fetchone()[0]
    return {"items": int(seen), "flagged": int(flagged), "new_findings": int(new)}


def save_sweep_workers(db: sqlite_utils.Database, sweep_id: int, rows: list[dict]) -> None:
    with db.atomic():
        for row in rows:
            record = dict(row)
            record["platforms"] = _dumps(record.get("platforms") or [])
            db["sweep_workers"].upsert({"sweep_id": sweep_id, **record}, pk=("sweep_id", "worker"))


def sweep_workers(db: sqlite_utils.Database, sweep_id: int) -> list[dict]:
    out = []
    for row in db["sweep_workers"].rows_where("sweep_id = ?", [sweep_id], order_by="name, worker"):
        row["platforms"] = _loads(row.get("platforms"), [])
        out.append(row)
    return out
