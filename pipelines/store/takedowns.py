"""Takedown batches (takedowns, takedown_items), removal checks
(takedown_checks) and the grouped reads of the takedown pages. Times are
UTC strings like now_utc(); a period is a half-open UTC range [start, end).
"""
from __future__ import annotations

import sqlite_utils

from .db import now_utc, StoreError, _dumps, _loads
from .findings import _finding_row

TAKEDOWN_RESULTS = ("removed", "still_present", "unknown")


# Finding statuses a takedown may be requested for (a human confirmed them).
REQUESTABLE_STATUSES = ("confirmed", "referral_pending", "referred", "still_present", "takedown_requested",
                        "removed")


# Columns that tests and data imports may set to a historical time.
_RESTAMPABLE = {
    "decisions": ("at",), "takedowns": ("created_at", "sent_at"), "takedown_items": ("added_at",),
    "takedown_checks": ("checked_at",), "referrals": ("created_at",),
    "referral_items": ("referred_at",), "findings": ("first_seen", "last_seen"),
    "sites": ("first_seen", "last_seen"),
}


def restamp(db: sqlite_utils.Database, table: str, row_id: int, column: str, at: str) -> None:
    """Record a historical time on a row (imports of earlier work, tests)."""
    if column not in _RESTAMPABLE.get(table, ()):
        raise StoreError(f"不能修改 {table}.{column} 的时间")
    with db.atomic():
        db.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", [at, row_id])


def takedown_candidates(db: sqlite_utils.Database, platform: str) -> list[dict]:
    """Confirmed findings on ``platform`` not yet in any takedown batch
    (takedown_pending, kept by triggers: migration m_speed_2_takedown_candidates)."""
    cur = db.execute("SELECT f.* FROM takedown_pending p JOIN findings f ON f.id = p.finding_id"
                     " WHERE p.platform = ? ORDER BY f.id", [platform])
    names = [d[0] for d in cur.description]
    return [_finding_row(dict(zip(names, r))) for r in cur.fetchall()]


def create_takedown(db: sqlite_utils.Database, platform: str, user: str, unit: str = "") -> int | None:
    """Gather the candidates into a new numbered batch; None when there are none."""
    with db.atomic():       # three statements whatever the batch size
        found = [r[0] for r in db.execute(
            "SELECT finding_id FROM takedown_pending WHERE platform = ? ORDER BY finding_id", [platform])]
        if not found:
            return None
        stamp = now_utc()
        listed = _dumps(found)
        batch = db["takedowns"].insert({
            "platform": platform, "created_at": stamp, "status": "created",
            "items": listed, "unit": unit, "created_by": user,
        }).last_pk
        db.execute("INSERT INTO takedown_items (takedown_id, finding_id, seq, url, platform, added_at, result)"
                   " SELECT ?, f.id, j.key + 1, f.url, ?, ?, 'requested' FROM json_each(?) j"
                   " JOIN findings f ON f.id = j.value ORDER BY j.key", [batch, platform, stamp, listed])
        db.execute("UPDATE findings SET status = 'takedown_requested'"
                   " WHERE id IN (SELECT value FROM json_each(?)) AND status = 'confirmed'", [listed])
    return batch


def get_takedown(db: sqlite_utils.Database, takedown_id: int) -> dict:
    try:
        row = db["takedowns"].get(takedown_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"下架清单 {takedown_id} 不存在") from None
    row["items"] = _loads(row.get("items"), [])
    return row


def list_takedowns(db: sqlite_utils.Database, platform: str | None = None) -> list[dict]:
    where, args = (("platform = ?", [platform]) if platform else (None, []))
    out = []
    for row in db["takedowns"].rows_where(where, args, order_by="id desc"):
        row["items"] = _loads(row.get("items"), [])
        out.append(row)
    return out


def takedown_items(db: sqlite_utils.Database, takedown_id: int) -> list[dict]:
    """The batch's items in order, each with its finding under ``finding``
    (two statements: the items, then their findings)."""
    items = list(db.query("SELECT * FROM takedown_items WHERE takedown_id = ? ORDER BY seq", [takedown_id]))
    findings = {f["id"]: f for f in db.query("SELECT * FROM findings WHERE id IN"
                                              " (SELECT finding_id FROM takedown_items WHERE takedown_id = ?)",
                                              [takedown_id])}
    for item in items:
        found = findings.get(item["finding_id"])
        if found is None:
            raise StoreError(f"发现记录 {item['finding_id']} 不存在")
        item["finding"] = _finding_row(found)
    return items


def takedown_list(db: sqlite_utils.Database, takedown_id: int) -> list[tuple]:
    """The batch's items in order as tuples (seq, finding_id, platform,
    raw_url, url, title, seller, contacts decoded, family, first_seen) of
    the item's finding: one statement reading only what the request list
    shows, not the pages' text (takedown_items gives whole rows)."""
    rows = db.execute(
        "SELECT i.seq, i.finding_id, f.id, f.platform, f.raw_url, f.url, f.title, f.seller, f.contacts, f.family,"
        " f.first_seen FROM takedown_items i LEFT JOIN findings f ON f.id = i.finding_id"
        " WHERE i.takedown_id = ? ORDER BY i.seq", [takedown_id]).fetchall()
    out = []
    for seq, finding_id, found, platform, raw_url, url, title, seller, contacts, family, first_seen in rows:
        if found is None:
            raise StoreError(f"发现记录 {finding_id} 不存在")
        out.append((seq, finding_id, platform, raw_url, url, title, seller, _loads(contacts, {}), family,
                    first_seen))
    return out


def mark_takedown_sent(db: sqlite_utils.Database, takedown_id: int, user: str,
                       at: str | None = None) -> dict:
    row = get_takedown(db, takedown_id)
    with db.atomic():
        db["takedowns"].update(takedown_id, {"sent_at": at or now_utc(), "status": "sent",
                                             "sent_by": user})
    return get_takedown(db, row["id"])


def recheck_targets(db: sqlite_utils.Database, takedown_id: int | None = None) -> list[dict]:
    """Items of sent batches not yet verified removed, with the batch's
    ``sent_at``, the finding's stored title/text and the checks done so far."""
    where = "t.sent_at IS NOT NULL AND i.result != 'removed'"
    args: list = []
    if takedown_id is not None:
        where += " AND t.id = ?"
        args.append(takedown_id)
    rows = db.execute(
        "SELECT i.id, i.takedown_id, i.finding_id, i.url, i.platform, t.sent_at, f.title, f.text,"
        " f.seller FROM takedown_items i JOIN takedowns t ON t.id = i.takedown_id"
        " JOIN findings f ON f.id = i.finding_id WHERE " + where + " ORDER BY i.id", args).fetchall()
    keys = ("item_id", "takedown_id", "finding_id", "url", "platform", "sent_at", "title", "text", "seller")
    dues: dict[int, list[str]] = {}       # every item's checks in one query (the scheduler asks each tick)
    for item_id, due in db.execute(
            "SELECT c.item_id, c.due FROM takedown_checks c JOIN takedown_items i ON i.id = c.item_id"
            " JOIN takedowns t ON t.id = i.takedown_id WHERE " + where + " ORDER BY c.id", args):
        dues.setdefault(item_id, []).append(due)
    return [{**dict(zip(keys, r)), "checks": dues.get(r[0], [])} for r in rows]


def add_takedown_check(db: sqlite_utils.Database, item_id: int, result: str, reason: str = "",
                       due: str = "", http_status: int | None = None, final_url: str = "",
                       similarity: float | None = None, screenshot: str = "",
                       screenshot_sha256: str = "", checked_at: str | None = None) -> int:
    """Record one removal check; a 'removed' result is final for the item and
    moves the finding to 'removed' (unknown never does)."""
    if result not in TAKEDOWN_RESULTS:
        raise StoreError(f"未知的复查结果：{result}")
    row = db.execute("SELECT takedown_id, finding_id, result FROM takedown_items WHERE id = ?",
                     [item_id]).fetchone()
    if row is None:
        raise StoreError(f"下架条目 {item_id} 不存在")
    takedown_id, finding_id, previous = row
    stamp = checked_at or now_utc()
    with db.atomic():
        cid = db.execute(
            "INSERT INTO takedown_checks (item_id, takedown_id, finding_id, due, checked_at, result, reason,"
            " http_status, final_url, similarity, screenshot, screenshot_sha256)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [item_id, takedown_id, finding_id, due, stamp, result, (reason or "")[:500], http_status,
             (final_url or "")[:2000], similarity, screenshot, screenshot_sha256]).lastrowid
        decided = result != "unknown" and previous != "removed"
        if decided:
            db.execute("UPDATE takedown_items SET last_checked_at = ?, result = ?,"
                       " removed_at = CASE WHEN ? = 'removed' THEN ? ELSE removed_at END WHERE id = ?",
                       [stamp, result, result, stamp, item_id])
            db.execute("UPDATE findings SET status = ? WHERE id = ?"
                       " AND status IN ('takedown_requested', 'still_present')", [result, finding_id])
        else:
            db.execute("UPDATE takedown_items SET last_checked_at = ? WHERE id = ?", [stamp, item_id])
    return cid


def takedown_checks(db: sqlite_utils.Database, takedown_id: int | None = None,
                    item_id: int | None = None) -> list[dict]:
    if item_id is not None:
        return list(db["takedown_checks"].rows_where("item_id = ?", [item_id], order_by="id"))
    if takedown_id is not None:
        return list(db["takedown_checks"].rows_where("takedown_id = ?", [takedown_id], order_by="id"))
    return list(db["takedown_checks"].rows_where(order_by="id"))


def compliance_items(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Items of batches sent in [start, end), with the batch's sent time, the
    first check that saw them removed and every check."""
    rows = db.execute(
        "SELECT i.id, i.takedown_id, i.finding_id, i.url, i.platform, t.sent_at, i.result"
        " FROM takedown_items i JOIN takedowns t ON t.id = i.takedown_id"
        " WHERE t.sent_at >= ? AND t.sent_at < ? ORDER BY i.platform, i.id", [start, end]).fetchall()
    keys = ("item_id", "takedown_id", "finding_id", "url", "platform", "sent_at", "result")
    checks: dict[int, list[dict]] = {}
    for c in db.query("SELECT c.* FROM takedown_checks c JOIN takedown_items i ON i.id = c.item_id"
                      " JOIN takedowns t ON t.id = i.takedown_id"
                      " WHERE t.sent_at >= ? AND t.sent_at < ? ORDER BY c.id", [start, end]):
        checks.setdefault(c["item_id"], []).append(c)
    out = []
    for r in rows:
        item = dict(zip(keys, r))
        item["checks"] = checks.get(item["item_id"], [])
        removed = [c["checked_at"] for c in item["checks"] if c["result"] == "removed"]
        item["removed_at"] = min(removed) if removed else None
        out.append(item)
    return out


def takedown_sent_times(db: sqlite_utils.Database, start: str, end: str) -> list[str]:
    """One sent time per requested item, for items of batches sent in [start, end)."""
    return [r[0] for r in db.execute(
        "SELECT t.sent_at FROM takedown_items i JOIN takedowns t ON t.id = i.takedown_id"
        " WHERE t.sent_at >= ? AND t.sent_at < ? ORDER BY t.sent_at", [start, end]).fetchall()]


def takedown_sent_counts(db: sqlite_utils.Database, start: str, end: str) -> list[tuple[str, int]]:
    """(sent time, items) per batch sent in [start, end): takedown_sent_times
    grouped, one row per batch."""
    return [(r[0], int(r[1])) for r in db.execute(
        "SELECT t.sent_at, (SELECT COUNT(*) FROM takedown_items i WHERE i.takedown_id = t.id) FROM takedowns t"
        " WHERE t.sent_at >= ? AND t.sent_at < ? ORDER BY t.sent_at", [start, end]).fetchall()]


def takedown_summaries(db: sqlite_utils.Database) -> list[dict]:
    """Every takedown batch as list_takedowns() gives it (newest first), with
    ``item_count`` (its takedown_items) and ``result_counts`` ({result: n}
    over its items' current result). Two statements."""
    counts: dict[int, dict[str, int]] = {}
    for takedown_id, result, n in db.execute(
            "SELECT takedown_id, result, COUNT(*) FROM takedown_items GROUP BY takedown_id, result").fetchall():
        counts.setdefault(takedown_id, {})[result] = n
    cur = db.execute("SELECT * FROM takedowns ORDER BY id DESC")
    names = [d[0] for d in cur.description]
    out = []
    for r in cur.fetchall():
        row = dict(zip(names, r))
        row["items"] = _loads(row.get("items"), [])
        row["result_counts"] = counts.get(row["id"], {})
        row["item_count"] = sum(row["result_counts"].values())
        out.append(row)
    return out


def takedown_candidate_counts(db: sqlite_utils.Database) -> dict[str, int]:
    """For each platform with a finding in REQUESTABLE_STATUSES:
    len(takedown_candidates(db, platform)), 0 when all are batched. Reads
    the counters (finding_counts) and the candidate set (takedown_pending),
    never findings."""
    marks = ", ".join("?" * len(REQUESTABLE_STATUSES))
    out = {p: 0 for (p,) in db.execute(f"SELECT DISTINCT platform FROM finding_counts WHERE status IN ({marks})"
                                        " AND n > 0", list(REQUESTABLE_STATUSES))}
    for platform, n in db.execute("SELECT platform, COUNT(*) FROM takedown_pending WHERE platform IS NOT NULL"
                                  " GROUP BY platform"):
        out[platform] = n
    return out


def takedown_evidence(db: sqlite_utils.Database, takedown_id: int) -> dict[int, list[dict]]:
    """Evidence rows of a batch's findings, {finding_id: rows oldest first},
    as evidence_for gives them; one statement."""
    cur = db.execute("SELECT e.* FROM evidence e JOIN takedown_items i ON i.finding_id = e.finding_id"
                     " WHERE i.takedown_id = ? ORDER BY e.id", [takedown_id])
    names = [d[0] for d in cur.description]
    out: dict[int, list[dict]] = {}
    for r in cur.fetchall():
        row = dict(zip(names, r))
        row["files"] = _loads(row.get("files"), [])
        out.setdefault(row["finding_id"], []).append(row)
    return out
