"""The review queue and decisions: the append-only decision log, the
queue's filters and counts, the related-items network, the keyword search
index and reviewed findings as labelled data.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import sqlite_utils

from .db import now_utc, StoreError, _loads

DECISION_STATUS = {
    "confirm": "confirmed", "dismiss": "dismissed", "refer": "referred",
    "undo": "flagged",      # 撤回/重新审核: back to the queue as pending
}
# Statuses an undo may return to pending: a decision not yet acted on
# (no takedown batch, no referral package holds the item).
UNDOABLE_STATUSES = ("confirmed", "dismissed", "referred")


# What a confirm says the item is (decisions.category).
CONFIRM_CATEGORIES = {"illicit_info": "违规信息", "fake_gov_site": "假冒政府网站"}


def add_decision(db: sqlite_utils.Database, user: str, action: str, note: str = "",
                 finding_id: int | None = None, site_id: int | None = None,
                 category: str = "") -> int:
    """Append a decision (never updated or deleted) and move the status.
    ``category`` qualifies a confirm: see CONFIRM_CATEGORIES."""
    if action not in DECISION_STATUS:
        raise StoreError(f"未知的处理动作：{action}")
    if (finding_id is None) == (site_id is None):
        raise StoreError("处理动作必须且只能针对一条发现或一个网站")
    if action == "dismiss" and not note.strip():
        raise StoreError("排除误报必须填写理由")
    with db.atomic():
        table, key = ("findings", finding_id) if finding_id is not None else ("sites", site_id)
        row = db.execute(f"SELECT status FROM {table} WHERE id = ?", [key]).fetchone()
        if row is None:
            raise StoreError(f"记录 {key} 不存在")
        if action == "undo":
            _check_undo(db, row[0], finding_id, site_id)
        if action == "confirm":
            category = category or ("illicit_info" if finding_id is not None else "fake_gov_site")
            if category not in CONFIRM_CATEGORIES:
                raise StoreError(f"未知的确认类别：{category}")
        cur = db["decisions"].insert({"finding_id": finding_id, "site_id": site_id, "user": user,
                                      "at": now_utc(), "action": action, "note": note,
                                      "category": category or None})
        db[table].update(key, {"status": DECISION_STATUS[action]})
    return cur.last_pk


def _check_undo(db: sqlite_utils.Database, status: str, finding_id: int | None,
                site_id: int | None) -> None:
    if status not in UNDOABLE_STATUSES:
        raise StoreError("该条目尚未处理，无需撤回" if status in ("new", "flagged") else
                         "该条目已进入下架或移交流程，不能撤回")
    column, key = ("finding_id", finding_id) if finding_id is not None else ("site_id", site_id)
    if column == "finding_id" and db.execute(
            "SELECT 1 FROM takedown_items WHERE finding_id = ?", [key]).fetchone():
        raise StoreError("该条目已列入下架清单，不能撤回")
    if db.execute(f"SELECT 1 FROM referral_items WHERE {column} = ?", [key]).fetchone():
        raise StoreError("该条目已生成线索移交单，不能撤回")


def decisions_for(db: sqlite_utils.Database, finding_id: int | None = None,
                  site_id: int | None = None) -> list[dict]:
    if finding_id is not None:
        return list(db["decisions"].rows_where("finding_id = ?", [finding_id], order_by="id"))
    return list(db["decisions"].rows_where("site_id = ?", [site_id], order_by="id"))


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


def _queue_parts(f: QueueFilter, with_status: bool = True):
    """Two (where, args) pairs, for findings and for sites; None = excluded."""
    fw, fa = ["f.status != 'new'"], []
    sw, sa = ["(s.verdict IN ('fake_gov_site', 'suspicious') OR s.status NOT IN ('new', 'flagged'))"], []
    find_ok = f.kind in ("", "finding")
    site_ok = f.kind in ("", "site")
    if with_status and f.status:
        if f.status == PENDING:
            fw.append("f.status = 'flagged'")
            sw.append("s.status IN ('new', 'flagged')")
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
    if f.date_from:
        fw.append("f.first_seen >= ?"); fa.append(f.date_from)
        sw.append("s.first_seen >= ?"); sa.append(f.date_from)
    if f.date_to:
        fw.append("f.first_seen < ?"); fa.append(f.date_to)
        sw.append("s.first_seen < ?"); sa.append(f.date_to)
    if f.keyword:
        like = _like(f.keyword)
        match = search_query(f.keyword)
        if match:       # see refresh_search_index: callers refresh before querying
            # unary + : walk the queue's own index and probe the match set,
            # rather than fetching every matching row first.
            fw.append("+f.id IN (SELECT rowid FROM findings_fts WHERE findings_fts MATCH ?)")
            fa.append(match)
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


def review_queue(db: sqlite_utils.Database, f: QueueFilter, limit: int = 50,
                 offset: int = 0, count: bool = True) -> tuple[list[dict], int]:
    """One page of the queue (highest score first) and the total matching
    (-1 with ``count=False``: take it from queue_counts instead)."""
    fpart, spart = _queue_parts(f)
    selects, args, counts, cargs = [], [], [], []
    if fpart:
        selects.append(f"SELECT {_QUEUE_FINDING_COLS} FROM findings f WHERE {fpart[0]}")
        args += fpart[1]
        counts.append(f"SELECT COUNT(*) FROM findings f WHERE {fpart[0]}")
        cargs += fpart[1]
    if spart:
        selects.append(f"SELECT {_QUEUE_SITE_COLS} FROM sites s WHERE {spart[0]}")
        args += spart[1]
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


def _split_args(fpart, spart):
    return [p[1] for p in (fpart, spart) if p]


def queue_counts(db: sqlite_utils.Database, f: QueueFilter) -> dict[str, int]:
    """Items per status under the other filters (status 'flagged' and a
    site's 'new' count as pending)."""
    fpart, spart = _queue_parts(f, with_status=False)
    out: dict[str, int] = {}
    if fpart:
        for status, n in db.execute(f"SELECT f.status, COUNT(*) FROM findings f WHERE {fpart[0]}"
                                    " GROUP BY f.status", fpart[1]):
            key = PENDING if status == "flagged" else status
            out[key] = out.get(key, 0) + n
    if spart:
        for status, n in db.execute(f"SELECT s.status, COUNT(*) FROM sites s WHERE {spart[0]}"
                                    " GROUP BY s.status", spart[1]):
            key = PENDING if status in ("new", "flagged") else status
            out[key] = out.get(key, 0) + n
    return out


def queue_facets(db: sqlite_utils.Database) -> dict[str, list[str]]:
    """Values for the queue's filter menus."""
    return {
        "platform": [r[0] for r in db.execute(
            "SELECT DISTINCT platform FROM findings WHERE platform != '' ORDER BY platform")],
        "family": [r[0] for r in db.execute(
            "SELECT DISTINCT family FROM findings WHERE family != '' ORDER BY family")],
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


def search_text(value: str) -> str:
    """NFKC-folded and lower-cased, every character a token of its own: an
    FTS5 phrase of characters is then a substring match (Chinese has no
    spaces, and a WeChat ID may be found by any part of it)."""
    return " ".join(unicodedata.normalize("NFKC", value or "").lower())


def search_query(keyword: str) -> str | None:
    """The FTS5 phrase for ``keyword``; None if it has no letter or digit."""
    chars = [c for c in unicodedata.normalize("NFKC", keyword or "").lower() if c.isalnum()]
    if not chars:
        return None
    return '"' + " ".join(chars) + '"'


def refresh_search_index(db: sqlite_utils.Database, batch: int = 5000) -> int:
    """Index findings changed since the last call; returns how many."""
    done = 0
    while True:
        rows = db.execute(
            "SELECT d.finding_id, f.id, f.title, f.text, f.url, f.seller, f.keyword FROM search_dirty d"
            " LEFT JOIN findings f ON f.id = d.finding_id ORDER BY d.finding_id LIMIT ?", [batch]).fetchall()
        if not rows:
            return done
        with db.atomic():
            gone = [r[0] for r in rows if r[1] is None]
            db.conn.executemany("DELETE FROM findings_fts WHERE rowid = ?", [(g,) for g in gone])
            db.conn.executemany("REPLACE INTO findings_fts (rowid, body) VALUES (?, ?)",
                                [(r[0], search_text(" ".join(v or "" for v in r[2:])))
                                 for r in rows if r[1] is not None])
            db.execute("DELETE FROM search_dirty WHERE finding_id IN (%s)" % ",".join("?" * len(rows)),
                       [r[0] for r in rows])
        done += len(rows)


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
