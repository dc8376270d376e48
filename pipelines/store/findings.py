"""Findings (one row per canonical URL) and the sweeps that saw them:
recorded in batches by the persist pipeline; a human decision is never
overwritten by a later sweep.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import sqlite_utils

from .db import canonical_url, MACHINE_STATUSES, now_utc, StoreError, _dumps, _loads
from .search import index_findings


def save_platform(db: sqlite_utils.Database, name: str, kind: str, title: str, profile: dict) -> None:
    db["platforms"].upsert({"name": name, "kind": kind, "title": title,
                            "profile": _dumps(profile), "updated_at": now_utc()}, pk="name")


@dataclass
class Recorded:
    id: int
    created: bool
    status: str


def record_findings(db: sqlite_utils.Database, items: list[dict], sweep_id: int | None) -> list[Recorded]:
    """Store a batch of judged listings in one transaction.

    A URL already stored gets ``last_seen`` and the sweep updated; its
    machine judgement is refreshed only while no human has decided on it.
    """
    out: list[Recorded] = []
    stamp = now_utc()
    with db.atomic():
        for item in items:
            out.append(_record_one(db, item, sweep_id, stamp))
        index_findings(db, [r.id for r in out])      # keyword search: ready with the rows
    return out


def _record_one(db, item: dict, sweep_id: int | None, stamp: str) -> Recorded:
    url = canonical_url(item["url"])
    flagged = 1 if item.get("flagged") else 0
    judged = {
        "score": int(item.get("score") or 0), "flagged": flagged,
        "family": item.get("family") or "", "reasons": _dumps(item.get("reasons") or []),
    }
    content = {
        "platform": item.get("platform") or "", "title": item.get("title") or "",
        "text": item.get("text") or "", "seller": item.get("seller") or "",
        "price": item.get("price") or "", "contacts": _dumps(item.get("contacts") or {}),
        "links": _dumps(item.get("links") or []), "page_status": item.get("page_status") or "ok",
    }
    row = db.execute("SELECT id, status FROM findings WHERE url = ?", [url]).fetchone()
    if row is None:
        status = "flagged" if flagged else "new"
        cur = db.execute(
            "INSERT INTO findings (url, raw_url, keyword, first_seen, last_seen, status,"
            " first_sweep_id, last_sweep_id, " + ", ".join(content) + ", " + ", ".join(judged) + ")"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, " + ", ".join("?" * (len(content) + len(judged))) + ")",
            [url, item["url"], item.get("keyword") or "", stamp, stamp, status, sweep_id, sweep_id,
             *content.values(), *judged.values()])
        fid, created = cur.lastrowid, True
    else:
        fid, status, created = row[0], row[1], False
        fields = {"last_seen": stamp, "last_sweep_id": sweep_id}
        if status in MACHINE_STATUSES:
            status = "flagged" if flagged else "new"
            fields.update(content, **judged, status=status)
        elif _new_version(db, fid, content, judged, sweep_id, stamp):
            # A human decided on the stored content: keep it, add what was seen as a version.
            fields["changed_since_decision"] = 1
        db.execute("UPDATE findings SET " + ", ".join(f"{k} = ?" for k in fields) + " WHERE id = ?",
                   [*fields.values(), fid])
    if sweep_id is not None:
        db.execute("INSERT OR IGNORE INTO finding_sweeps (finding_id, sweep_id, seen_at) VALUES (?, ?, ?)",
                   [fid, sweep_id, stamp])
    return Recorded(fid, created, status)


def insert_new_findings(db: sqlite_utils.Database, items: list[dict], sweep_id: int | None = None) -> int:
    """Bulk load of listings not stored yet (imports, benchmarks): one
    executemany INSERT OR IGNORE in one transaction, indexed for search in
    the same one; a URL already stored is left alone (record_findings
    updates those). Returns how many were inserted."""
    stamp = now_utc()
    rows = []
    for item in items:
        flagged = 1 if item.get("flagged") else 0
        rows.append((canonical_url(item["url"]), item["url"], item.get("keyword") or "", stamp, stamp,
                     "flagged" if flagged else "new", sweep_id, sweep_id, item.get("platform") or "",
                     item.get("title") or "", item.get("text") or "", item.get("seller") or "",
                     item.get("price") or "", _dumps(item.get("contacts") or {}), _dumps(item.get("links") or []),
                     item.get("page_status") or "ok", int(item.get("score") or 0), flagged,
                     item.get("family") or "", _dumps(item.get("reasons") or [])))
    with db.atomic():
        first = db.execute("SELECT COALESCE(MAX(id), 0) FROM findings").fetchone()[0]
        db.conn.executemany(
            "INSERT OR IGNORE INTO findings (url, raw_url, keyword, first_seen, last_seen, status, first_sweep_id,"
            " last_sweep_id, platform, title, text, seller, price, contacts, links, page_status, score, flagged,"
            " family, reasons) VALUES (" + ", ".join("?" * 20) + ")", rows)
        ids = [r[0] for r in db.execute("SELECT id FROM findings WHERE id > ? ORDER BY id", [first])]
        if sweep_id is not None:
            db.conn.executemany("INSERT OR IGNORE INTO finding_sweeps (finding_id, sweep_id, seen_at) VALUES (?, ?, ?)",
                                [(i, sweep_id, stamp) for i in ids])
        index_findings(db, ids)
    return len(ids)


_VERSIONED = ("title", "text", "seller", "price", "contacts", "links")
_WORDS = ("title", "text", "seller", "price")


def _content_hash(values: dict) -> str:
    """What "changed since the decision" compares: the versioned fields,
    white space left out of the page's words (a page read with its line
    breaks, or its inline runs joined without the spaces an older crawler
    put between them, is the same content)."""
    import hashlib
    text = _dumps({k: "".join((values.get(k) or "").split()) if k in _WORDS else values.get(k) or ""
                   for k in _VERSIONED})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _new_version(db, fid: int, content: dict, judged: dict, sweep_id: int | None, stamp: str) -> bool:
    """Store ``content`` as a new version of a decided finding when it
    differs from the decided content and from the latest version; True if
    stored. Both are hashed now (not read from content_hash, which older
    versions computed with white space)."""
    digest = _content_hash(content)
    columns = ", ".join(_VERSIONED)
    row = db.execute(f"SELECT {columns} FROM finding_versions WHERE finding_id = ? ORDER BY id DESC LIMIT 1",
                     [fid]).fetchone()
    if row is None:
        row = db.execute(f"SELECT {columns} FROM findings WHERE id = ?", [fid]).fetchone()
    if digest == _content_hash(dict(zip(_VERSIONED, row))):
        return False
    db["finding_versions"].insert({"finding_id": fid, "seen_at": stamp, "sweep_id": sweep_id,
                                   **content, **judged, "content_hash": digest})
    return True


def finding_versions(db: sqlite_utils.Database, finding_id: int) -> list[dict]:
    """Content seen after the decision, newest first."""
    rows = list(db["finding_versions"].rows_where("finding_id = ?", [finding_id], order_by="id desc"))
    return [_finding_row(r) for r in rows]


def _finding_row(row: dict) -> dict:
    for key, default in (("contacts", {}), ("links", []), ("reasons", [])):
        row[key] = _loads(row.get(key), default)
    return row


def get_finding(db: sqlite_utils.Database, finding_id: int) -> dict:
    try:
        return _finding_row(db["findings"].get(finding_id))
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"发现记录 {finding_id} 不存在") from None


def find_by_url(db: sqlite_utils.Database, url: str) -> dict | None:
    rows = list(db["findings"].rows_where("url = ?", [canonical_url(url)]))
    return _finding_row(rows[0]) if rows else None


def iter_findings(db: sqlite_utils.Database, status: str | None = None,
                  platform: str | None = None, flagged: bool | None = None) -> Iterator[dict]:
    where, args = [], []
    if status:
        where.append("status = ?"); args.append(status)
    if platform:
        where.append("platform = ?"); args.append(platform)
    if flagged is not None:
        where.append("flagged = ?"); args.append(1 if flagged else 0)
    for row in db["findings"].rows_where(" AND ".join(where) or None, args, order_by="id"):
        yield _finding_row(row)


def sweeps_of_finding(db: sqlite_utils.Database, finding_id: int) -> list[int]:
    return [r[0] for r in db.execute(
        "SELECT sweep_id FROM finding_sweeps WHERE finding_id = ? ORDER BY sweep_id", [finding_id])]


def count_findings(db: sqlite_utils.Database) -> int:
    return db["findings"].count


def findings_of_sweep(db: sqlite_utils.Database, sweep_id: int, flagged_only: bool = False,
                      limit: int = 500) -> list[dict]:
    """Findings a sweep saw (new or already known), highest score first."""
    sql = ("SELECT f.* FROM finding_sweeps s JOIN findings f ON f.id = s.finding_id WHERE s.sweep_id = ?"
           + (" AND f.flagged = 1" if flagged_only else "") + " ORDER BY f.score DESC, f.id LIMIT ?")
    cur = db.execute(sql, [sweep_id, limit])
    cols = [c[0] for c in cur.description]
    return [_finding_row(dict(zip(cols, r))) for r in cur.fetchall()]
