"""Moving through the review queue from a detail page: the items before
and after one item in a filtered queue's order (score high to low, then
id high to low, then kind), found by their position (keyset), so they are
right even after the item itself has left the filter (decided).

Each side (findings, sites) is asked for its one nearest row with a row-value
comparison on (score, id), which its (status, score) or score index answers
without reading the rest of the queue; the nearer of the two wins.
"""
from __future__ import annotations

import sqlite_utils

from .review import QueueFilter, _QUEUE_FINDING_COLS, _QUEUE_SITE_COLS, keyword_plan, queue_parts

_KEYS = ("kind", "id", "title", "score", "status")


def _sides(db, f: QueueFilter) -> list[tuple[str, str, str, list]]:
    """(kind, alias, SELECT … WHERE part, args) for each side the filter keeps."""
    fpart, spart = queue_parts(db, f, keyword_plan(db, f))
    out = []
    if fpart:
        out.append(("finding", "f", f"SELECT {_QUEUE_FINDING_COLS} FROM findings f WHERE {fpart[0]}", fpart[1]))
    if spart:
        out.append(("site", "s", f"SELECT {_QUEUE_SITE_COLS} FROM sites s WHERE {spart[0]}", spart[1]))
    return out


def _order_key(row: dict) -> tuple:
    """Position in the queue's order (smaller comes first)."""
    return (-int(row["score"] or 0), -int(row["id"]), row["kind"])


def _nearest(db, f: QueueFilter, kind: str, item_id: int, score: int, after: bool) -> dict | None:
    found = []
    for side, a, select, args in _sides(db, f):
        if after:    # later in the queue: lower (score, id); the same pair on a side whose kind sorts later
            op, order = ("<=" if side > kind else "<"), f"{a}.score DESC, {a}.id DESC"
        else:
            op, order = (">=" if side < kind else ">"), f"{a}.score, {a}.id"
        row = db.execute(f"SELECT kind, id, title, score, status FROM ({select} AND ({a}.score, {a}.id) {op} (?, ?)"
                         f" ORDER BY {order} LIMIT 1)", [*args, score, item_id]).fetchone()
        if row is not None:
            found.append(dict(zip(_KEYS, row)))
    if not found:
        return None
    return (min if after else max)(found, key=_order_key)


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
    return (_nearest(db, f, kind, item_id, score, after=False),
            _nearest(db, f, kind, item_id, score, after=True))


def queue_first(db: sqlite_utils.Database, f: QueueFilter, exclude: tuple[str, int] | None = None) -> dict | None:
    """The queue's first item (other than ``exclude``), or None."""
    found = []
    for side, a, select, args in _sides(db, f):
        for row in db.execute(f"SELECT kind, id, title, score, status FROM ({select}"
                              f" ORDER BY {a}.score DESC, {a}.id DESC LIMIT 2)", args).fetchall():
            item = dict(zip(_KEYS, row))
            if (item["kind"], item["id"]) != tuple(exclude or ("", -1)):
                found.append(item)
                break
    return min(found, key=_order_key) if found else None
