"""The certwatch store: one SQLite file (WAL), owned by this module.

Nothing else in certwatch writes SQL. The schema is created and migrated by
sqlite-utils ``Migrations``; ``SCHEMA_VERSION`` is the number of migrations.
Every read and write the rest of the code needs is a typed function here.
"""
from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("certwatch")

# Finding statuses. Only the first two are set by machines; the rest record
# (or follow from) a human decision and are never overwritten by a sweep.
MACHINE_STATUSES = ("new", "flagged")
HUMAN_STATUSES = ("confirmed", "dismissed", "takedown_requested", "removed",
                  "still_present", "referred")

# Query parameters that only track the visitor and never identify a page.
TRACKING_PARAMS = frozenset({
    "spm", "scm", "from", "src", "source", "ref", "refer", "referer",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "fbclid", "gclid", "share_token", "sharefrom", "ts", "_t", "sid", "trace",
})


class StoreError(Exception):
    """A request the store cannot honour (unknown id, bad value)."""


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_url(url: str) -> str:
    """The key of a finding: scheme and host lower-cased, default port,
    fragment and tracking parameters dropped, query parameters sorted."""
    parts = urllib.parse.urlsplit(url.strip())
    scheme = (parts.scheme or "http").lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    netloc = host
    if port and not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)):
        netloc = f"{host}:{port}"
    path = parts.path or "/"
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    query = sorted((k, v) for k, v in query if k.lower() not in TRACKING_PARAMS)
    return urllib.parse.urlunsplit((scheme, netloc, path, urllib.parse.urlencode(query), ""))


# ---------------------------------------------------------------- schema

@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["keywords"].create({
        "id": int, "term": str, "kind": str, "industry": str, "department": str,
        "active": int, "source": str, "added_at": str,
    }, pk="id", not_null={"term", "kind"}, defaults={"active": 1})
    db["keywords"].create_index(["term", "kind"], unique=True)

    db["platforms"].create({
        "name": str, "kind": str, "title": str, "profile": str, "updated_at": str,
    }, pk="name")

    db["schedules"].create({
        "id": int, "name": str, "cron": str, "industry": str, "department": str,
        "platforms": str, "pages": int, "enabled": int, "created_at": str,
        "last_run_at": str, "next_run_at": str,
    }, pk="id", defaults={"enabled": 1})
    db["schedules"].create_index(["name"], unique=True)

    db["sweeps"].create({
        "id": int, "schedule_id": int, "started_at": str, "ended_at": str,
        "status": str, "mode": str, "platforms": str, "keyword_filter": str,
        "pid": int, "requests": int, "responses": int, "items": int,
        "flagged": int, "errors": int, "stats": str,
    }, pk="id", defaults={"requests": 0, "responses": 0, "items": 0,
                          "flagged": 0, "errors": 0})

    db["findings"].create({
        "id": int, "url": str, "raw_url": str, "platform": str, "title": str,
        "text": str, "seller": str, "price": str, "contacts": str, "links": str,
        "keyword": str, "first_seen": str, "last_seen": str, "score": int,
        "flagged": int, "family": str, "reasons": str, "status": str,
        "page_status": str, "first_sweep_id": int, "last_sweep_id": int,
    }, pk="id", not_null={"url"}, defaults={"status": "new", "score": 0, "flagged": 0})
    db["findings"].create_index(["url"], unique=True)
    db["findings"].create_index(["status", "score"])
    db["findings"].create_index(["platform"])

    db["finding_sweeps"].create({
        "finding_id": int, "sweep_id": int, "seen_at": str,
    }, pk=("finding_id", "sweep_id"))

    db["sites"].create({
        "id": int, "domain": str, "host": str, "url": str, "impersonates": str,
        "score": int, "verdict": str, "reasons": str, "whois": str,
        "http_status": int, "title": str, "final_url": str, "source": str,
        "first_seen": str, "last_seen": str, "status": str,
    }, pk="id", not_null={"domain"}, defaults={"status": "new", "score": 0})
    db["sites"].create_index(["domain"], unique=True)

    db["site_links"].create({
        "finding_id": int, "site_id": int, "url": str, "seen_at": str,
    }, pk=("finding_id", "site_id"))

    db["evidence"].create({
        "id": int, "finding_id": int, "site_id": int, "url": str, "final_url": str,
        "http_status": int, "captured_at": str, "tool": str, "status": str,
        "files": str, "error": str, "operator": str,
    }, pk="id")

    db["decisions"].create({
        "id": int, "finding_id": int, "site_id": int, "user": str, "at": str,
        "action": str, "note": str,
    }, pk="id", not_null={"user", "at", "action"})
    db["decisions"].create_index(["finding_id"])
    db["decisions"].create_index(["site_id"])

    db["takedowns"].create({
        "id": int, "platform": str, "created_at": str, "sent_at": str,
        "status": str, "items": str,
    }, pk="id")

    db["referrals"].create({
        "id": int, "created_at": str, "unit": str, "items": str, "package": str,
    }, pk="id")


SCHEMA_VERSION = len(migrations._migrations)


# ---------------------------------------------------------------- connection

def connect(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open (creating and migrating as needed) the store at ``path``."""
    path = os.fspath(path)
    if path != ":memory:":
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    db = sqlite_utils.Database(path)
    db.execute("PRAGMA busy_timeout = 30000")
    if path != ":memory:":
        db.enable_wal()
    db.execute("PRAGMA synchronous = NORMAL")
    migrations.apply(db)
    return db


def schema_version(db: sqlite_utils.Database) -> int:
    return len(migrations.applied(db))


def db_path(db: sqlite_utils.Database) -> str:
    return db.conn.execute("PRAGMA database_list").fetchone()[2] or ""


def evidence_dir(db: sqlite_utils.Database) -> str:
    """The evidence folder beside the database file."""
    return os.path.join(os.path.dirname(os.path.abspath(db_path(db) or ".")), "evidence")


def _loads(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


# ---------------------------------------------------------------- keywords

def add_keywords(db: sqlite_utils.Database, rows: Iterable[dict], source: str = "") -> int:
    """Insert keywords not yet in the library (term+kind unique). Existing
    ones keep their state (a disabled keyword stays disabled)."""
    stamp = now_utc()
    added = 0
    with db.atomic():
        for row in rows:
            term = (row.get("term") or "").strip()
            kind = row.get("kind")
            if not term or not kind:
                continue
            cur = db.execute(
                "INSERT OR IGNORE INTO keywords (term, kind, industry, department, active, source, added_at)"
                " VALUES (?, ?, ?, ?, 1, ?, ?)",
                [term, kind, row.get("industry") or "", row.get("department") or "", source, stamp])
            added += cur.rowcount
    return added


def list_keywords(db: sqlite_utils.Database, kind: str | None = None,
                  industry: str | None = None, active_only: bool = True) -> list[dict]:
    where, args = [], []
    if kind:
        where.append("kind = ?"); args.append(kind)
    if industry:
        where.append("industry = ?"); args.append(industry)
    if active_only:
        where.append("active = 1")
    return list(db["keywords"].rows_where(" AND ".join(where) or None, args, order_by="id"))


# ---------------------------------------------------------------- platforms

def save_platform(db: sqlite_utils.Database, name: str, kind: str, title: str, profile: dict) -> None:
    db["platforms"].upsert({"name": name, "kind": kind, "title": title,
                            "profile": _dumps(profile), "updated_at": now_utc()}, pk="name")


# ---------------------------------------------------------------- sweeps

def start_sweep(db: sqlite_utils.Database, platforms: list[str], mode: str,
                keyword_filter: str = "", schedule_id: int | None = None) -> int:
    with db.atomic():
        table = db["sweeps"].insert({
            "schedule_id": schedule_id, "started_at": now_utc(), "status": "running",
            "mode": mode, "platforms": _dumps(platforms), "keyword_filter": keyword_filter,
            "pid": os.getpid(),
        })
    return table.last_pk


def finish_sweep(db: sqlite_utils.Database, sweep_id: int, status: str, stats: dict) -> None:
    flat = {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
            for k, v in stats.items()}
    responses = sum(v for k, v in flat.items()
                    if k.startswith("downloader/response_status_count/") and isinstance(v, int))
    with db.atomic():
        db["sweeps"].update(sweep_id, {
            "ended_at": now_utc(), "status": status,
            "requests": int(flat.get("downloader/request_count", 0) or 0),
            "responses": responses,
            "items": int(flat.get("certwatch/items", 0) or 0),
            "flagged": int(flat.get("certwatch/flagged", 0) or 0),
            "errors": int(flat.get("certwatch/errors", 0) or 0)
                      + int(flat.get("log_count/ERROR", 0) or 0),
            "stats": _dumps(flat),
        })


def mark_abandoned_sweeps(db: sqlite_utils.Database) -> int:
    """Sweeps left 'running' by a process that no longer exists were
    interrupted (killed); mark them so. Returns how many were marked."""
    marked = 0
    for row in list(db["sweeps"].rows_where("status = 'running'")):
        pid = row.get("pid")
        alive = False
        if pid:
            try:
                os.kill(pid, 0)
                alive = True
            except OSError:
                alive = False
        if not alive:
            db["sweeps"].update(row["id"], {"status": "interrupted", "ended_at": row.get("ended_at") or now_utc()})
            marked += 1
    return marked


def get_sweep(db: sqlite_utils.Database, sweep_id: int) -> dict:
    try:
        row = db["sweeps"].get(sweep_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"巡查记录 {sweep_id} 不存在") from None
    row["stats"] = _loads(row.get("stats"), {})
    row["platforms"] = _loads(row.get("platforms"), [])
    return row


def list_sweeps(db: sqlite_utils.Database, limit: int = 50) -> list[dict]:
    return list(db["sweeps"].rows_where(order_by="id desc", limit=limit))


# ---------------------------------------------------------------- findings

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
        fields = {"last_seen": stamp, "last_sweep_id": sweep_id, **content}
        if status in MACHINE_STATUSES:
            status = "flagged" if flagged else "new"
            fields.update(judged, status=status)
        db.execute("UPDATE findings SET " + ", ".join(f"{k} = ?" for k in fields) + " WHERE id = ?",
                   [*fields.values(), fid])
    if sweep_id is not None:
        db.execute("INSERT OR IGNORE INTO finding_sweeps (finding_id, sweep_id, seen_at) VALUES (?, ?, ?)",
                   [fid, sweep_id, stamp])
    return Recorded(fid, created, status)


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


def sweep_summary(db: sqlite_utils.Database, sweep_id: int) -> list[dict]:
    """Per platform: listings seen by the sweep and how many are flagged."""
    rows = db.execute(
        "SELECT f.platform, COUNT(*), SUM(f.flagged) FROM finding_sweeps s"
        " JOIN findings f ON f.id = s.finding_id WHERE s.sweep_id = ?"
        " GROUP BY f.platform ORDER BY f.platform", [sweep_id]).fetchall()
    return [{"platform": p, "listings": n, "flagged": int(fl or 0)} for p, n, fl in rows]


def count_findings(db: sqlite_utils.Database) -> int:
    return db["findings"].count


# ---------------------------------------------------------------- sites

def record_site(db: sqlite_utils.Database, site: dict) -> int:
    """Store or refresh a checked site, keyed by its registered domain."""
    stamp = now_utc()
    with db.atomic():
        row = db.execute("SELECT id, status FROM sites WHERE domain = ?", [site["domain"]]).fetchone()
        fields = {k: site.get(k) for k in ("host", "url", "impersonates", "score", "verdict",
                                             "http_status", "title", "final_url", "source")
                  if site.get(k) is not None}
        if "reasons" in site:
            fields["reasons"] = _dumps(site["reasons"])
        if "whois" in site:
            fields["whois"] = _dumps(site["whois"])
        if row is None:
            cur = db["sites"].insert({"domain": site["domain"], "first_seen": stamp,
                                      "last_seen": stamp, "status": "new", **fields})
            return cur.last_pk
        if row[1] not in ("new", "flagged"):
            for key in ("score", "verdict", "reasons", "impersonates"):
                fields.pop(key, None)
        db["sites"].update(row[0], {"last_seen": stamp, **fields})
        return row[0]


def link_finding_site(db: sqlite_utils.Database, finding_id: int, site_id: int, url: str) -> None:
    db.execute("INSERT OR IGNORE INTO site_links (finding_id, site_id, url, seen_at) VALUES (?, ?, ?, ?)",
               [finding_id, site_id, url, now_utc()])


def get_site(db: sqlite_utils.Database, site_id: int) -> dict:
    try:
        row = db["sites"].get(site_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"网站记录 {site_id} 不存在") from None
    row["reasons"] = _loads(row.get("reasons"), [])
    row["whois"] = _loads(row.get("whois"), {})
    return row


# ---------------------------------------------------------------- decisions

DECISION_STATUS = {
    "confirm": "confirmed", "dismiss": "dismissed", "refer": "referred",
}


def add_decision(db: sqlite_utils.Database, user: str, action: str, note: str = "",
                 finding_id: int | None = None, site_id: int | None = None) -> int:
    """Append a decision (never updated or deleted) and move the status."""
    if action not in DECISION_STATUS:
        raise StoreError(f"未知的处理动作：{action}")
    if (finding_id is None) == (site_id is None):
        raise StoreError("处理动作必须且只能针对一条发现或一个网站")
    if action == "dismiss" and not note.strip():
        raise StoreError("排除误报必须填写理由")
    with db.atomic():
        table, key = ("findings", finding_id) if finding_id is not None else ("sites", site_id)
        if db.execute(f"SELECT 1 FROM {table} WHERE id = ?", [key]).fetchone() is None:
            raise StoreError(f"记录 {key} 不存在")
        cur = db["decisions"].insert({"finding_id": finding_id, "site_id": site_id, "user": user,
                                      "at": now_utc(), "action": action, "note": note})
        db[table].update(key, {"status": DECISION_STATUS[action]})
    return cur.last_pk


def decisions_for(db: sqlite_utils.Database, finding_id: int | None = None,
                  site_id: int | None = None) -> list[dict]:
    if finding_id is not None:
        return list(db["decisions"].rows_where("finding_id = ?", [finding_id], order_by="id"))
    return list(db["decisions"].rows_where("site_id = ?", [site_id], order_by="id"))


# ---------------------------------------------------------------- evidence
# An evidence row is one capture of a finding or a site. ``files`` is a list
# of {"kind": "screenshot"|"html"|"raw"|"warc"|"record", "path": path
# relative to evidence_dir(db), "sha256": hex digest, "bytes": size}.
# ``status`` is "ok" or "failed" (with ``error``); failed captures are retried.

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
