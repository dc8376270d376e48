"""Moving through the review queue from a detail page: the items before
and after one item in a filtered queue's order (score high to low, then
id high to low, then kind), found by their position (keyset), so they are
right even after the item itself has left the filter (decided)."""
from __future__ import annotations

import sqlite_utils

from .review import QueueFilter, _QUEUE_FINDING_COLS, _QUEUE_SITE_COLS, _queue_parts

_KEYS = ("kind", "id", "title", "score", "status")


def _union(f: QueueFilter) -> tuple[str, list] | None:
    fpart, spart = _queue_parts(f)
    selects, args = [], []
    if fpart:
        selects.append(f"SELECT {_QUEUE_FINDING_COLS} FROM findings f WHERE {fpart[0]}")
        args += fpart[1]
    if spart:
        selects.append(f"SELECT {_QUEUE_SITE_COLS} FROM sites s WHERE {spart[0]}")
        args += spart[1]
    if not selects:
        return None
    return " UNION ALL ".join(selects), args


def _one(db, f: QueueFilter, where: str, where_args: list, order: str) -> dict | None:
    union = _union(f)
    if union is None:
        return None
    sql = (f"SELECT kind, id, title, score, status FROM ({union[0]}) WHERE {where}"
           f" ORDER BY {order} LIMIT 1")
    row = db.execute(sql, [*union[1], *where_args]).fetchone()
    return None if row is None else dict(zip(_KEYS, row))


def _score(db, kind: str, item_id: int) -> int | None:
    table = "findings" if kind == "finding" else "sites"
    row = db.execute(f"SELECT score FROM {table} WHERE id = ?", [item_id]).fetchone()
    return None if row is None else int(row[0] or 0)


def queue_neighbours(db: sqlite_utils.Database, f: QueueFilter, kind: str,
                     item_id: int) -> tuple[dict | None, dict | None]:
    """(previous, next) item of the queue ``f`` around ``kind:item_id``,
    each {"kind", "id", "title", "score", "status"} or None."""
    score = _score(db, kind, item_id)
    if score is None:
        return None, None
    after = ("(score < ? OR (score = ? AND id < ?) OR (score = ? AND id = ? AND kind > ?))",
             [score, score, item_id, score, item_id, kind])
    before = ("(score > ? OR (score = ? AND id > ?) OR (score = ? AND id = ? AND kind < ?))",
              [score, score, item_id, score, item_id, kind])
    return (_one(db, f, *before, "score, id, kind DESC"),
            _one(db, f, *after, "score DESC, id DESC, kind"))


def queue_first(db: sqlite_utils.Database, f: QueueFilter, exclude: tuple[str, int] | None = None) -> dict | None:
    """The queue's first item (other than ``exclude``), or None."""
    kind, item_id = exclude or ("", -1)
    return _one(db, f, "NOT (kind = ? AND id = ?)", [kind, item_id], "score DESC, id DESC, kind")
