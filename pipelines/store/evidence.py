"""Evidence captures (网络在线提取) of findings and sites, and what still
needs one. ``files`` is a list of {kind, path (relative to evidence_dir),
sha256, bytes}; ``status`` is ok or failed (failed ones are retried).
"""
from __future__ import annotations

from typing import Iterator

import sqlite_utils

from .db import now_utc, StoreError, _dumps, _loads


def add_evidence(db: sqlite_utils.Database, row: dict) -> int:
    if (row.get("finding_id") is None) == (row.get("site_id") is None):
        raise StoreError("证据必须且只能属于一条发现或一个网站")
    record = dict(row)
    record["files"] = _dumps(record.get("files") or [])
    record.setdefault("captured_at", now_utc())
    record.setdefault("status", "ok")
    with db.atomic():
        return db["evidence"].insert(record).last_pk


def evidence_for(db: sqlite_utils.Database, finding_id: int | None = None,
                 site_id: int | None = None) -> list[dict]:
    if finding_id is not None:
        rows = db["evidence"].rows_where("finding_id = ?", [finding_id], order_by="id")
    else:
        rows = db["evidence"].rows_where("site_id = ?", [site_id], order_by="id")
    out = []
    for row in rows:
        row["files"] = _loads(row.get("files"), [])
        out.append(row)
    return out


def iter_evidence(db: sqlite_utils.Database) -> Iterator[dict]:
    for row in db["evidence"].rows_where(order_by="id"):
        row["files"] = _loads(row.get("files"), [])
        yield row


def items_needing_evidence(db: sqlite_utils.Database, limit: int = 0) -> list[dict]:
    """Flagged (undismissed) findings and suspicious/fake sites without an
    ok capture, highest score first: what ``evidence capture`` works on."""
    rows = db.execute(
        "SELECT 'finding', f.id, f.url, f.score, f.keyword, f.platform FROM findings f"
        " WHERE f.status NOT IN ('new', 'dismissed') AND NOT EXISTS"
        " (SELECT 1 FROM evidence e WHERE e.finding_id = f.id AND e.status = 'ok')"
        " UNION ALL"
        " SELECT 'site', s.id, COALESCE(NULLIF(s.url, ''), 'http://' || s.domain || '/'), s.score, s.source, ''"
        " FROM sites s WHERE s.verdict IN ('fake_gov_site', 'suspicious') AND s.status != 'dismissed'"
        " AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.site_id = s.id AND e.status = 'ok')"
        " ORDER BY 4 DESC, 2" + (" LIMIT ?" if limit else ""), [limit] if limit else []).fetchall()
    return [{"kind": r[0], "id": r[1], "url": r[2], "score": r[3], "keyword": r[4] or "",
             "platform": r[5] or ""} for r in rows]


def get_evidence(db: sqlite_utils.Database, evidence_id: int) -> dict:
    try:
        row = db["evidence"].get(evidence_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"证据 {evidence_id} 不存在") from None
    row["files"] = _loads(row.get("files"), [])
    return row


def sweep_items_needing_evidence(db: sqlite_utils.Database, sweep_id: int, limit: int = 0) -> list[dict]:
    """items_needing_evidence narrowed to what one sweep saw: its flagged or
    decided findings, and suspicious/fake sites recorded while it ran."""
    sweep = db.execute("SELECT started_at, ended_at FROM sweeps WHERE id = ?", [sweep_id]).fetchone()
    if sweep is None:
        raise StoreError(f"巡查记录 {sweep_id} 不存在")
    findings = {r[0] for r in db.execute("SELECT finding_id FROM finding_sweeps WHERE sweep_id = ?", [sweep_id])}
    sites = {r[0] for r in db.execute(
        "SELECT id FROM sites WHERE last_seen >= ? AND last_seen <= ?"
        " UNION SELECT l.site_id FROM site_links l JOIN finding_sweeps s ON s.finding_id = l.finding_id"
        " WHERE s.sweep_id = ?", [sweep[0] or "", sweep[1] or now_utc(), sweep_id])}
    items = [i for i in items_needing_evidence(db)
             if i["id"] in (findings if i["kind"] == "finding" else sites)]
    return items[:limit] if limit else items
