"""Evidence captures (网络在线提取) of findings and sites, and what still
needs one. ``files`` is a list of {kind, path (relative to evidence_dir),
sha256, bytes}; ``status`` is ok or failed (failed ones are retried).
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Iterator

import sqlite_utils

from keywords.atomic import atomic_write

from .db import evidence_dir, now_utc, StoreError, _dumps, _loads


# The fields a capture's record hash covers, in this order (docs/security.md).
SEALED_FIELDS = ("seq", "finding_id", "site_id", "url", "final_url", "http_status", "captured_at", "tool",
                 "status", "error", "operator", "files", "prev_hash")
HEAD_FILE = "chain-head.json"


def _file_entry(f) -> dict:
    if not isinstance(f, dict):
        return {"invalid": str(f)}
    return {k: f.get(k) for k in ("kind", "path", "sha256", "bytes")}


def record_hash(row: dict, files: list) -> str:
    """SHA-256 over a capture's sealed fields (files as a list of {kind,
    path, sha256, bytes}) and the previous capture's record hash."""
    fields = {k: row.get(k) for k in SEALED_FIELDS if k != "files"}
    fields["files"] = [_file_entry(f) for f in files]
    text = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def chain_tail(db: sqlite_utils.Database) -> tuple[int, str]:
    """(seq, record hash) of the last sealed capture; (0, '') for none."""
    row = db.execute("SELECT seq, record_hash FROM evidence WHERE seq IS NOT NULL"
                     " ORDER BY seq DESC LIMIT 1").fetchone()
    return (int(row[0]), row[1] or "") if row else (0, "")


def write_chain_head(db: sqlite_utils.Database, seq: int, digest: str) -> None:
    """The chain's head beside the evidence files (evidence/chain-head.json):
    a deleted last capture leaves the head pointing past the table's end."""
    root = evidence_dir(db)
    os.makedirs(root, exist_ok=True)
    atomic_write(os.path.join(root, HEAD_FILE), json.dumps({"seq": seq, "record_hash": digest}) + "\n")


def read_chain_head(db: sqlite_utils.Database) -> dict | None:
    path = os.path.join(evidence_dir(db), HEAD_FILE)
    try:
        with open(path, encoding="utf-8") as fh:
            head = json.loads(fh.read(10_000))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"invalid": True}
    return head if isinstance(head, dict) else {"invalid": True}


def add_evidence(db: sqlite_utils.Database, row: dict) -> int:
    """Append a capture, sealed: its record hash covers its fields and
    files and the previous capture's record hash (an append-only chain)."""
    if (row.get("finding_id") is None) == (row.get("site_id") is None):
        raise StoreError("证据必须且只能属于一条发现或一个网站")
    record = {k: None for k in SEALED_FIELDS}
    record.update(row)
    files = list(record.get("files") or [])
    record.setdefault("captured_at", None)
    record["captured_at"] = record["captured_at"] or now_utc()
    record["status"] = record.get("status") or "ok"
    with db.atomic():
        seq, prev = chain_tail(db)
        record["seq"], record["prev_hash"] = seq + 1, prev
        record["record_hash"] = record_hash(record, files)
        record["files"] = _dumps(files)
        pk = db["evidence"].insert(record).last_pk
        write_chain_head(db, record["seq"], record["record_hash"])
    return pk


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


def iter_evidence_raw(db: sqlite_utils.Database) -> Iterator[dict]:
    """Every capture row as stored (``files`` the stored text), in table
    order: what ``evidence verify`` walks."""
    yield from db["evidence"].rows_where(order_by="id")


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
