"""The review queue: its filters and counts, the related-items network,
the keyword search index and reviewed findings as labelled data (the
decision log itself is decisions.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace

import sqlite_utils

from .db import _loads
from .search import MATCH_CAP, keyword_matches, keyword_needle, search_query

# The review queue: flagged findings and non-benign sites in one list.
QUEUE_SITE_VERDICTS = ("fake_gov_site", "suspicious")


PENDING = "pending"   # the queue's status filter for "not yet decided"


@dataclass
class QueueFilter:
    status: str = PENDING        # pending, a HUMAN_STATUSES value, or "" for all
    kind: str = ""               # "", "finding", "site"
    platform: str = ""
    family: str = ""
    verdict: str = ""            # "flagged" (findings), or a site verdict
    date_from: str = ""          # first seen >= this UTC ISO time
    date_to: str = ""            # first seen < this UTC ISO time
    keyword: str = ""
    contact: str = ""


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def keyword_plan(db: sqlite_utils.Database, f: QueueFilter, cap: int | None = None) -> tuple | None:
    """How the queue filters findings by ``f.keyword``: ("ids", [id, …]) when
    at most ``cap`` (search.MATCH_CAP) findings match; ("probe", phrase,
    [the first COUNT_CAP matching ids]) when more do; ("like", None) for a
    keyword without letters or digits; None: no keyword. The index is read
    for the first COUNT_CAP + 1 matches, then for all of them only when
    their density says there are at most ``cap``."""
    if not f.keyword:
        return None
    match = search_query(f.keyword)
    if not match:
        return ("like", None)
    cap = MATCH_CAP if cap is None else cap
    sample = keyword_matches(db, match, None, first=COUNT_CAP + 1)     # ascending ids
    if len(sample) <= min(cap, COUNT_CAP):
        return ("ids", sample)
    top = db.execute("SELECT MAX(id) FROM findings").fetchone()[0] or 0
    if len(sample) * top / max(sample[-1], 1) <= cap:       # ids spread evenly: about this many match
        ids = keyword_matches(db, match, cap)
        if ids is not None:
            return ("ids", ids)
    return ("probe", match, sample[:COUNT_CAP])


# One item, two facts: a finding referred to the police (待移交/已移交公安) may
# also be in a takedown batch. Its status says the referral; the takedown
# tabs (已要求下架/已下架/仍未下架) show it by its batch item's result as
# well, as the takedown list and the 附表 count it. So the status tabs count
# per fact and such an item is counted in two tabs (the queue says so);
# "全部" counts every item once. Tab -> its takedown_items condition:
TAKEDOWN_TABS = {
    "takedown_requested": "result IS NULL OR result NOT IN ('removed', 'still_present')",
    "removed": "result = 'removed'",
    "still_present": "result = 'still_present'",
}
REFERRAL_STATUSES = ("referral_pending", "referred")
_REFERRAL_SQL = "('referral_pending', 'referred')"


def _queue_parts(f: QueueFilter, with_status: bool = True, keyword_plan: tuple | None = None,
                 walk_dates: bool = False):
    """Two (where, args) pairs, for findings and for sites; None = excluded.
    ``walk_dates``: the findings' date terms must not pick an index (the
    page then walks the score order and tests each row's date)."""
    fw, fa = ["f.status != 'new'"], []
    sw, sa = ["(s.verdict IN ('fake_gov_site', 'suspicious') OR s.status NOT IN ('new', 'flagged'))"], []
    find_ok = f.kind in ("", "finding")
    site_ok = f.kind in ("", "site")
    if with_status and f.status:
        if f.status == PENDING:
            fw.append("f.status = 'flagged'")
            sw.append("s.status IN ('new', 'flagged')")
        elif f.status in TAKEDOWN_TABS:
            # The takedown tabs show a referred finding by its takedown too (see TAKEDOWN_TABS).
            fw.append(f"(f.status = ? OR (f.status IN {_REFERRAL_SQL} AND f.id IN"
                      f" (SELECT finding_id FROM takedown_items WHERE {TAKEDOWN_TABS[f.status]})))")
            fa.append(f.status)
            sw.append("s.status = ?"); sa.append(f.status)
        else:
            fw.append("f.status = ?"); fa.append(f.status)
            sw.append("s.status = ?"); sa.append(f.status)
    if f.platform:
        fw.append("f.platform = ?"); fa.append(f.platform); site_ok = False
    if f.family:
        fw.append("f.family = ?"); fa.append(f.family); site_ok = False
    if f.verdict:
        if f.verdict == "flagged":
            site_ok = False
        else:
            find_ok = False
            sw.append("s.verdict = ?"); sa.append(f.verdict)
    seen = "+f.first_seen" if walk_dates else "f.first_seen"      # unary +: no index for this term
    if f.date_from:
        fw.append(f"{seen} >= ?"); fa.append(f.date_from)
        sw.append("s.first_seen >= ?"); sa.append(f.date_from)
    if f.date_to:
        fw.append(f"{seen} < ?"); fa.append(f.date_to)
        sw.append("s.first_seen < ?"); sa.append(f.date_to)
    if f.keyword:
        like = _like(f.keyword)
        plan = keyword_plan or ("like", None)
        if plan[0] == "ids":        # a few matches: the queue reads just those rows
            fw.append("f.id IN (SELECT value FROM json_each(?))")
            fa.append(json.dumps(plan[1]))
        elif plan[0] == "probe":    # many: walk the queue's own order, test each row's own text
            fw.append("cw_has_keyword(?, f.title, f.text, f.url, f.seller, f.keyword)")
            fa.append(keyword_needle(f.keyword))
        else:
            fw.append("(f.title LIKE ? ESCAPE '\\' OR f.text LIKE ? ESCAPE '\\' OR f.url LIKE ? ESCAPE '\\')")
            fa += [like] * 3
        sw.append("(s.domain LIKE ? ESCAPE '\\' OR s.title LIKE ? ESCAPE '\\' OR s.url LIKE ? ESCAPE '\\')")
        sa += [like] * 3
    if f.contact:
        fw.append("f.id IN (SELECT finding_id FROM finding_contacts WHERE value = ?)")
        fa.append(f.contact.strip())
        sw.append("s.id IN (SELECT l.site_id FROM site_links l JOIN finding_contacts c"
                  " ON c.finding_id = l.finding_id WHERE c.value = ?)")
        sa.append(f.contact.strip())
    return ((" AND ".join(fw), fa) if find_ok else None,
            (" AND ".join(sw), sa) if site_ok else None)


_QUEUE_FINDING_COLS = ("'finding' AS kind, f.id AS id, f.score AS score, f.status AS status,"
                       " f.title AS title, f.url AS url, f.platform AS platform, f.family AS family,"
                       " 'flagged' AS verdict, f.first_seen AS first_seen, f.last_seen AS last_seen,"
                       " f.contacts AS contacts, substr(f.text, 1, 6000) AS text, f.reasons AS reasons")


_QUEUE_SITE_COLS = ("'site' AS kind, s.id AS id, s.score AS score, s.status AS status,"
                    " COALESCE(NULLIF(s.title, ''), s.domain) AS title, COALESCE(s.url, 'http://' || s.domain || '/') AS url,"
                    " '' AS platform, s.impersonates AS family, s.verdict AS verdict,"
                    " s.first_seen AS first_seen, s.last_seen AS last_seen, '{}' AS contacts,"
                    " '' AS text, s.reasons AS reasons")


def queue_parts(db: sqlite_utils.Database, f: QueueFilter, plan: tuple | None) -> tuple:
    """_queue_parts for reading the queue in its order: with many findings in
    a date range, reading them all in date order and sorting by score would
    grow with the store, so the date terms then test rows walked in score order."""
    fpart, spart = _queue_parts(f, keyword_plan=plan)
    if fpart and (f.date_from or f.date_to) and not f.contact and not (plan and plan[0] == "ids") \
            and _more_than(db, _queue_parts(replace(f, keyword=""))[0], DATE_SORT_CAP):    # index-only count
        fpart, spart = _queue_parts(f, keyword_plan=plan, walk_dates=True)
    return fpart, spart


def review_queue(db: sqlite_utils.Database, f: QueueFilter, limit: int = 50,
                 offset: int = 0, count: bool = True, plan: tuple | None = ...) -> tuple[list[dict], int]:
    """One page of the queue (highest score first) and the total matching
    (-1 with ``count=False``: take it from queue_counts instead). ``plan``:
    keyword_plan(db, f), when the caller has it already."""
    fpart, spart = queue_parts(db, f, keyword_plan(db, f) if plan is ... else plan)
    selects, args, counts, cargs = [], [], [], []
    # Each side keeps only its first offset+limit rows (read in index order)
    # before the two are merged: the page never sorts the whole queue.
    first = int(offset) + int(limit)
    if fpart:
        selects.append(f"SELECT * FROM (SELECT {_QUEUE_FINDING_COLS} FROM findings f WHERE {fpart[0]}"
                       " ORDER BY f.score DESC, f.id DESC LIMIT ?)")
        args += [*fpart[1], first]
        counts.append(f"SELECT COUNT(*) FROM findings f WHERE {fpart[0]}")
        cargs += fpart[1]
    if spart:
        selects.append(f"SELECT * FROM (SELECT {_QUEUE_SITE_COLS} FROM sites s WHERE {spart[0]}"
                       " ORDER BY s.score DESC, s.id DESC LIMIT ?)")
        args += [*spart[1], first]
        counts.append(f"SELECT COUNT(*) FROM sites s WHERE {spart[0]}")
        cargs += spart[1]
    if not selects:
        return [], 0
    sql = " UNION ALL ".join(selects) + " ORDER BY score DESC, id DESC, kind LIMIT ? OFFSET ?"
    cur = db.execute(sql, [*args, int(limit), int(offset)])
    names = [d[0] for d in cur.description]
    rows = []
    for r in cur.fetchall():
        row = dict(zip(names, r))
        contacts = _loads(row.get("contacts"), {})
        row["contacts"] = {k: v for k, v in contacts.items() if isinstance(v, list)} \
            if isinstance(contacts, dict) else {}
        reasons = _loads(row.get("reasons"), [])
        row["reasons"] = reasons if isinstance(reasons, list) else []
        rows.append(row)
    if not count:
        return rows, -1
    total = sum(db.execute(c, cargs_part).fetchone()[0]
                for c, cargs_part in zip(counts, _split_args(fpart, spart)))
    return rows, total


DATE_SORT_CAP = 5000   # more findings than this in a date range: the page walks the score order


def _more_than(db: sqlite_utils.Database, part: tuple, cap: int) -> bool:
    """Whether more than ``cap`` findings match ``part`` (reads at most cap + 1)."""
    return db.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM findings f WHERE {part[0]} LIMIT ?)",
                      [*part[1], cap + 1]).fetchone()[0] > cap


def _split_args(fpart, spart):
    return [p[1] for p in (fpart, spart) if p]


class Counts(dict):
    """{status: n}; statuses in ``capped`` have at least n (counting stopped there).
    ``twice``: referred findings also counted in a takedown tab (TAKEDOWN_TABS);
    ``total`` counts each item once."""

    def __init__(self, *args, capped=()):
        super().__init__(*args)
        self.capped = set(capped)
        self.twice = 0

    @property
    def total(self) -> int:
        return sum(self.values()) - self.twice


COUNT_CAP = 1000     # a status count that would scan more rows stops here ("1000+")


def queue_counts(db: sqlite_utils.Database, f: QueueFilter, plan: tuple | None = ...) -> Counts:
    """Items per status under the other filters (status 'flagged' and a
    site's 'new' count as pending). Findings are counted from finding_counts
    (kept by triggers) unless a date, keyword or contact filter applies;
    counts under a date range or a common keyword stop at COUNT_CAP."""
    plan = keyword_plan(db, f) if plan is ... else plan
    fpart, spart = _queue_parts(f, with_status=False, keyword_plan=plan)
    out = Counts()
    if fpart:
        statuses = _status_counts(db, f)
        if not (f.date_from or f.date_to or f.keyword or f.contact):
            rows = statuses.items()
        elif f.contact or (plan and plan[0] == "ids"):        # few rows: count them all
            rows = db.execute(f"SELECT f.status, COUNT(*) FROM findings f WHERE {fpart[0]}"
                              " GROUP BY f.status", fpart[1]).fetchall()
        elif plan and plan[0] == "probe":
            # More than MATCH_CAP findings match: count those among the first
            # COUNT_CAP matches (a lower bound for every status, shown "n+").
            first = plan[2] if len(plan) > 2 else keyword_matches(db, plan[1], None, first=COUNT_CAP)
            fpart_ids, _ = _queue_parts(f, with_status=False, keyword_plan=("ids", first))
            rows = db.execute(f"SELECT f.status, COUNT(*) FROM findings f WHERE {fpart_ids[0]}"
                              " GROUP BY f.status", fpart_ids[1]).fetchall()
            out.capped.update(PENDING if s == "flagged" else s for s, _ in rows)
        else:
            rows = []
            for status in statuses:
                if status == "new":
                    continue
                n = db.execute(f"SELECT COUNT(*) FROM (SELECT 1 FROM findings f WHERE {fpart[0]}"
                               " AND f.status = ? LIMIT ?)", [*fpart[1], status, COUNT_CAP + 1]).fetchone()[0]
                if n > COUNT_CAP:
                    out.capped.add(PENDING if status == "flagged" else status)
                    n = COUNT_CAP
                rows.append((status, n))
        for status, n in rows:
            if status == "new" or not n:
                continue
            key = PENDING if status == "flagged" else status
            out[key] = out.get(key, 0) + n
        # Referred findings in a takedown batch count in their takedown tab too (few rows);
        # once per tab, as the tab lists them, though a finding requested again has two items.
        tab = " ".join(f"WHEN {cond} THEN '{name}'" for name, cond in TAKEDOWN_TABS.items())
        for status, n in db.execute(
                f"SELECT CASE {tab.replace('result', 'i.result')} END, COUNT(DISTINCT f.id) FROM findings f"
                f" JOIN takedown_items i ON i.finding_id = f.id WHERE {fpart[0]} AND f.status IN {_REFERRAL_SQL}"
                " GROUP BY 1", fpart[1]):
            out[status] = out.get(status, 0) + n
            out.twice += n
    if spart:
        for status, n in db.execute(f"SELECT s.status, COUNT(*) FROM sites s WHERE {spart[0]}"
                                    " GROUP BY s.status", spart[1]):
            key = PENDING if status in ("new", "flagged") else status
            out[key] = out.get(key, 0) + n
    return out


def _status_counts(db: sqlite_utils.Database, f: QueueFilter) -> dict[str, int]:
    """Findings per status under the platform and family filters (finding_counts)."""
    where, args = ["n > 0"], []
    if f.platform:
        where.append("platform = ?"); args.append(f.platform)
    if f.family:
        where.append("family = ?"); args.append(f.family)
    return {status: int(n) for status, n in db.execute(
        "SELECT status, SUM(n) FROM finding_counts WHERE " + " AND ".join(where) + " GROUP BY status", args)}


def queue_facets(db: sqlite_utils.Database) -> dict[str, list[str]]:
    """Values for the queue's filter menus."""
    return {
        "platform": [r[0] for r in db.execute(
            "SELECT DISTINCT platform FROM finding_counts WHERE platform != '' AND n > 0 ORDER BY platform")],
        "family": [r[0] for r in db.execute(
            "SELECT DISTINCT family FROM finding_counts WHERE family != '' AND n > 0 ORDER BY family")],
    }


def related_findings_by_contact(db: sqlite_utils.Database, finding_id: int, limit: int = 50) -> list[dict]:
    """Other findings sharing a contact (WeChat, QQ, phone …) with this one."""
    rows = db.execute(
        "SELECT c2.finding_id, c1.kind, c1.value, f.title, f.url, f.platform, f.score, f.status"
        " FROM finding_contacts c1 JOIN finding_contacts c2 ON c2.value = c1.value AND c2.kind = c1.kind"
        " JOIN findings f ON f.id = c2.finding_id"
        " WHERE c1.finding_id = ? AND c2.finding_id != ? ORDER BY f.score DESC, f.id LIMIT ?",
        [finding_id, finding_id, limit]).fetchall()
    return [{"id": r[0], "kind": r[1], "value": r[2], "title": r[3], "url": r[4], "platform": r[5],
             "score": r[6], "status": r[7]} for r in rows]


def sites_of_finding(db: sqlite_utils.Database, finding_id: int) -> list[dict]:
    rows = db.execute(
        "SELECT s.id, s.domain, s.verdict, s.score, s.status, l.url FROM site_links l"
        " JOIN sites s ON s.id = l.site_id WHERE l.finding_id = ? ORDER BY s.id", [finding_id]).fetchall()
    return [{"id": r[0], "domain": r[1], "verdict": r[2], "score": r[3], "status": r[4], "url": r[5]}
            for r in rows]


def findings_of_site(db: sqlite_utils.Database, site_id: int, exclude: int | None = None,
                     limit: int = 100) -> list[dict]:
    rows = db.execute(
        "SELECT f.id, f.title, f.url, f.platform, f.score, f.status FROM site_links l"
        " JOIN findings f ON f.id = l.finding_id WHERE l.site_id = ? AND f.id != ?"
        " ORDER BY f.score DESC, f.id LIMIT ?", [site_id, exclude or -1, limit]).fetchall()
    return [{"id": r[0], "title": r[1], "url": r[2], "platform": r[3], "score": r[4], "status": r[5]}
            for r in rows]


def findings_naming_host(db: sqlite_utils.Database, hosts: list[str], limit: int = 100) -> list[dict]:
    """Findings whose text names one of ``hosts`` (contacts "domain")."""
    hosts = [h.lower() for h in hosts if h][:10]
    if not hosts:
        return []
    rows = db.execute(
        "SELECT DISTINCT f.id, f.title, f.url, f.platform, f.score, f.status FROM finding_contacts c"
        " JOIN findings f ON f.id = c.finding_id WHERE c.kind = 'domain' AND c.value IN (%s)"
        " ORDER BY f.score DESC, f.id LIMIT ?" % ",".join("?" * len(hosts)), [*hosts, limit]).fetchall()
    return [{"id": r[0], "title": r[1], "url": r[2], "platform": r[3], "score": r[4], "status": r[5]}
            for r in rows]


def contacts_of_site(db: sqlite_utils.Database, site_id: int, limit: int = 50) -> list[dict]:
    """Contacts of the listings that link a site, with how many listings use each."""
    rows = db.execute(
        "SELECT c.kind, c.value, COUNT(DISTINCT c.finding_id) FROM site_links l"
        " JOIN finding_contacts c ON c.finding_id = l.finding_id WHERE l.site_id = ?"
        " GROUP BY c.kind, c.value ORDER BY 3 DESC LIMIT ?", [site_id, limit]).fetchall()
    return [{"kind": r[0], "value": r[1], "count": r[2]} for r in rows]


def reviewed_findings(db: sqlite_utils.Database, since: str | None = None) -> list[dict]:
    """Findings a reviewer has decided, as labelled listings: the latest
    confirm or refer → 1, dismiss → 0; an item whose latest decision is an
    undo is pending again and left out (sites are not listings). ``since``:
    only decisions at or after that UTC time."""
    rows = db.execute(
        "SELECT f.id, f.platform, f.url, f.title, f.text, f.family, d.action, d.at, d.user FROM findings f"
        " JOIN (SELECT finding_id, MAX(id) AS did FROM decisions"
        "       WHERE finding_id IS NOT NULL AND action IN ('confirm', 'dismiss', 'refer', 'undo')"
        "       GROUP BY finding_id) last ON last.finding_id = f.id"
        " JOIN decisions d ON d.id = last.did"
        " WHERE d.action != 'undo' AND (? IS NULL OR d.at >= ?) ORDER BY f.id", [since, since]).fetchall()
    keys = ("id", "platform", "url", "title", "text", "family", "action", "at", "user")
    return [{**dict(zip(keys, r)), "label": 0 if r[6] == "dismiss" else 1} for r in rows]
