"""What the statistics table counts (fake sites, removed items, referrals),
police referral batches, manual entries of the hand-filled columns and
chart series.
"""
from __future__ import annotations

import sqlite_utils

from .db import now_utc, StoreError, _dumps, _loads
from .decisions import add_decision
from .schema import _HOUR_KEY


def stats_fake_sites(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Sites whose first fake-government-site confirm falls in [start, end)
    and that were not dismissed later; one row per registered domain. An
    undo (撤回) cancels the confirms before it: a site pending again is not
    counted, and one confirmed again counts from its new confirm."""
    rows = db.execute(
        "SELECT s.id, s.domain, s.url, s.impersonates, d.at, d.user, d.note, s.title FROM sites s"
        " JOIN (SELECT c.site_id, MIN(c.id) AS did FROM decisions c WHERE c.action = 'confirm'"
        "       AND c.site_id IS NOT NULL AND (c.category IS NULL OR c.category = 'fake_gov_site')"
        "       AND c.id > COALESCE((SELECT MAX(u.id) FROM decisions u WHERE u.site_id = c.site_id"
        "                            AND u.action = 'undo'), 0)"
        "       GROUP BY c.site_id) first ON first.site_id = s.id"
        " JOIN decisions d ON d.id = first.did"
        " WHERE d.at >= ? AND d.at < ? AND s.status NOT IN ('dismissed', 'new', 'flagged')"
        " ORDER BY d.at, s.id",
        [start, end]).fetchall()
    seen, out = set(), []
    for r in rows:
        if r[1] in seen:
            continue
        seen.add(r[1])
        out.append(dict(zip(("site_id", "domain", "url", "impersonates", "at", "user", "note", "title"), r)))
    return out


def stats_removed(db: sqlite_utils.Database, start: str, end: str, limit: int | None = None) -> list[dict]:
    """Confirmed findings whose first 'removed' check falls in [start, end)
    (first_removed, kept by triggers), in check time order; the first
    ``limit`` of them with ``limit``."""
    rows = db.execute(
        "SELECT f.id, f.url, f.title, f.platform, c.checked_at, c.reason, c.takedown_id,"
        " (SELECT user FROM decisions d WHERE d.finding_id = f.id AND d.action IN ('confirm', 'refer')"
        "  ORDER BY d.id LIMIT 1), t.sent_by, t.created_by"
        " FROM first_removed r JOIN takedown_checks c ON c.id = r.check_id JOIN findings f ON f.id = r.finding_id"
        " LEFT JOIN takedowns t ON t.id = c.takedown_id"
        " WHERE r.checked_at >= ? AND r.checked_at < ? ORDER BY r.checked_at, f.id LIMIT ?",
        [start, end, -1 if limit is None else limit]).fetchall()
    keys = ("finding_id", "url", "title", "platform", "at", "reason", "takedown_id", "user", "sent_by",
            "created_by")
    return [dict(zip(keys, r)) for r in rows]


def stats_removed_count(db: sqlite_utils.Database, start: str, end: str) -> int:
    """len(stats_removed(db, start, end)), read from the index on check time."""
    return db.execute("SELECT COUNT(*) FROM first_removed WHERE checked_at >= ? AND checked_at < ?",
                      [start, end]).fetchone()[0]


def removed_hour_counts(db: sqlite_utils.Database, start: str, end: str) -> list[tuple[str, int]]:
    """(key, n): stats_removed's items counted per key, the UTC hour
    "YYYY-MM-DDTHH" of a canonical check time (the whole time otherwise),
    as flagged_hour_counts keys them; one grouped statement."""
    return [(k, int(n)) for k, n in db.execute(
        "SELECT " + _HOUR_KEY.format(c="checked_at") + ", COUNT(*) FROM first_removed"
        " WHERE checked_at >= ? AND checked_at < ? GROUP BY 1", [start, end]).fetchall()]


def stats_referred(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Findings and sites whose first referral falls in [start, end)."""
    rows = db.execute(
        "SELECT ri.finding_id, ri.site_id, ri.referred_at, r.id, r.unit, r.created_by,"
        " COALESCE(f.url, s.url, s.domain), COALESCE(f.title, s.title, s.domain)"
        " FROM (SELECT MIN(id) AS rid FROM referral_items"
        "       GROUP BY COALESCE('f' || finding_id, 's' || site_id)) first"
        " JOIN referral_items ri ON ri.id = first.rid JOIN referrals r ON r.id = ri.referral_id"
        " LEFT JOIN findings f ON f.id = ri.finding_id LEFT JOIN sites s ON s.id = ri.site_id"
        " WHERE ri.referred_at >= ? AND ri.referred_at < ? ORDER BY ri.referred_at, ri.id",
        [start, end]).fetchall()
    keys = ("finding_id", "site_id", "at", "referral_id", "unit", "user", "url", "title")
    return [dict(zip(keys, r)) for r in rows]


def create_referral(db: sqlite_utils.Database, unit: str, findings: list[int], sites: list[int],
                    user: str, note: str = "", at: str | None = None) -> int:
    """A referral batch: its items, and a 'refer' decision on each. ``at``
    records a referral made earlier (imports of past work)."""
    stamp = at or now_utc()
    with db.atomic():
        rid = db["referrals"].insert({
            "created_at": stamp, "unit": unit, "created_by": user, "note": note,
            "items": _dumps({"findings": findings, "sites": sites}),
        }).last_pk
        for fid in findings:
            did = add_decision(db, user, "refer_package", note=f"移交{unit}（移交单 #{rid}）", finding_id=fid)
            db["referral_items"].insert({"referral_id": rid, "finding_id": fid, "referred_at": stamp})
            db["decisions"].update(did, {"at": stamp})
        for sid in sites:
            did = add_decision(db, user, "refer_package", note=f"移交{unit}（移交单 #{rid}）", site_id=sid)
            db["referral_items"].insert({"referral_id": rid, "site_id": sid, "referred_at": stamp})
            db["decisions"].update(did, {"at": stamp})
    return rid


def pending_referrals(db: sqlite_utils.Database) -> list[dict]:
    """Items a reviewer marked 移交公安 that no referral package holds yet
    (status referral_pending), oldest decision first: kind, id, url, title,
    who decided, when, and the decision's note."""
    rows = db.execute(
        "SELECT 'finding', f.id, f.url, f.title, f.platform, d.user, d.at, d.note FROM findings f"
        " JOIN decisions d ON d.id = (SELECT MAX(id) FROM decisions WHERE finding_id = f.id AND action = 'refer')"
        " WHERE f.status = 'referral_pending'"
        " UNION ALL SELECT 'site', s.id, COALESCE(s.url, 'http://' || s.domain || '/'), COALESCE(NULLIF(s.title, ''),"
        " s.domain), s.domain, d.user, d.at, d.note FROM sites s"
        " JOIN decisions d ON d.id = (SELECT MAX(id) FROM decisions WHERE site_id = s.id AND action = 'refer')"
        " WHERE s.status = 'referral_pending' ORDER BY 7, 1, 2").fetchall()
    keys = ("kind", "id", "url", "title", "where", "user", "at", "note")
    return [dict(zip(keys, r)) for r in rows]


def set_referral_package(db: sqlite_utils.Database, referral_id: int, package: str, sha256: str) -> None:
    with db.atomic():
        db["referrals"].update(referral_id, {"package": package, "sha256": sha256})


def get_referral(db: sqlite_utils.Database, referral_id: int) -> dict:
    try:
        row = db["referrals"].get(referral_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"移交单 {referral_id} 不存在") from None
    row["items"] = _loads(row.get("items"), {})
    return row


def list_referrals(db: sqlite_utils.Database) -> list[dict]:
    out = []
    for row in db["referrals"].rows_where(order_by="id desc"):
        row["items"] = _loads(row.get("items"), {})
        out.append(row)
    return out


def set_manual_value(db: sqlite_utils.Database, period_from: str, period_to: str, field: str,
                     value: str, user: str) -> None:
    with db.atomic():
        db["report_manual"].upsert({"period_from": period_from, "period_to": period_to, "field": field,
                                    "value": value, "set_by": user, "set_at": now_utc()},
                                   pk=("period_from", "period_to", "field"))


def manual_values(db: sqlite_utils.Database, period_from: str, period_to: str) -> dict[str, dict]:
    return {r["field"]: r for r in db["report_manual"].rows_where(
        "period_from = ? AND period_to = ?", [period_from, period_to])}


def flagged_first_seen(db: sqlite_utils.Database, start: str, end: str) -> list[tuple[str, str]]:
    """(first_seen, platform) of findings the machine flagged (or a human
    kept), first seen in [start, end)."""
    return [tuple(r) for r in db.execute(
        "SELECT first_seen, platform FROM findings WHERE flagged = 1 AND first_seen >= ?"
        " AND first_seen < ? ORDER BY first_seen", [start, end]).fetchall()]


def flagged_hour_counts(db: sqlite_utils.Database, start: str, end: str) -> list[tuple[str, str, int]]:
    """(key, platform, n): flagged findings first seen in [start, end) per
    platform and key, the UTC hour "YYYY-MM-DDTHH" of a canonical stamp (or
    the whole stamp otherwise), from flagged_hours (kept by triggers).
    ``start`` and ``end`` fall on whole hours (periods are Beijing days)."""
    return [(k, p, int(n)) for k, p, n in db.execute(
        "SELECT hour, platform, n FROM flagged_hours WHERE n > 0 AND CASE WHEN length(hour) = 13"
        " THEN hour >= substr(?, 1, 13) AND hour < substr(?, 1, 13) ELSE hour >= ? AND hour < ? END"
        " ORDER BY hour", [start, end, start, end]).fetchall()]
