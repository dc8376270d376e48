"""The certwatch store: one SQLite file (WAL), owned by this module.

Nothing else in certwatch writes SQL. The schema is created and migrated by
sqlite-utils ``Migrations``; ``SCHEMA_VERSION`` is the number of migrations.
Every read and write the rest of the code needs is a typed function here.
"""
from __future__ import annotations

import contextlib
import json
import os
import unicodedata
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
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


BEIJING = timezone(timedelta(hours=8))


def parse_utc(text: str | None) -> datetime | None:
    """A stored time ("…Z", an offset, or none: UTC) as an aware datetime;
    None when absent or malformed."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def beijing(text: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time shown in 北京时间; '' when absent or malformed."""
    moment = parse_utc(text)
    return moment.astimezone(BEIJING).strftime(fmt) if moment else ""


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


@migrations()
def m_console_1_users(db: sqlite_utils.Database) -> None:
    """Console accounts, sessions, login attempts; the confirm category on
    decisions; a contact index kept by triggers; indexes for the queue."""
    db["users"].create({
        "id": int, "name": str, "role": str, "password": str, "created_at": str,
        "created_by": str, "disabled": int, "password_changed_at": str,
    }, pk="id", not_null={"name", "role", "password"}, defaults={"disabled": 0})
    db["users"].create_index(["name"], unique=True)
    db["sessions"].create({
        "token_hash": str, "user_id": int, "csrf": str, "created_at": str,
        "expires_at": str, "ip": str,
    }, pk="token_hash")
    db["sessions"].create_index(["user_id"])
    db["login_attempts"].create({
        "id": int, "name": str, "ip": str, "at": str, "ok": int,
    }, pk="id")
    db["login_attempts"].create_index(["name", "at"])
    db["login_attempts"].create_index(["ip", "at"])
    # confirm subtype: illicit_info (违规信息) / fake_gov_site (假冒政府网站).
    db["decisions"].add_column("category", str)
    db["decisions"].create_index(["at"])
    # finding_contacts mirrors findings.contacts ({"wechat": [..], ...}) so the
    # console finds listings sharing a contact without scanning JSON.
    db["finding_contacts"].create({"finding_id": int, "kind": str, "value": str},
                                  pk=("finding_id", "kind", "value"))
    db["finding_contacts"].create_index(["value", "kind"])
    fill = ("INSERT OR IGNORE INTO finding_contacts (finding_id, kind, value)"
            " SELECT {id}, k.key, CAST(v.value AS TEXT) FROM json_each(CASE WHEN json_valid({c})"
            " AND json_type({c}) = 'object' THEN {c} ELSE '{{}}' END) k, json_each(k.value) v"
            " WHERE k.type = 'array' AND v.value IS NOT NULL AND CAST(v.value AS TEXT) != ''")
    db.execute(fill.format(id="f.id", c="f.contacts").replace("FROM json_each", "FROM findings f, json_each"))
    db.execute("CREATE TRIGGER findings_contacts_ai AFTER INSERT ON findings BEGIN "
               + fill.format(id="NEW.id", c="NEW.contacts") + "; END")
    db.execute("CREATE TRIGGER findings_contacts_au AFTER UPDATE OF contacts ON findings BEGIN "
               "DELETE FROM finding_contacts WHERE finding_id = OLD.id; "
               + fill.format(id="NEW.id", c="NEW.contacts") + "; END")
    db.execute("CREATE TRIGGER findings_contacts_ad AFTER DELETE ON findings BEGIN "
               "DELETE FROM finding_contacts WHERE finding_id = OLD.id; END")
    db["findings"].create_index(["score"])
    db["findings"].create_index(["first_seen"])
    db["sites"].create_index(["status", "score"])
    db["site_links"].create_index(["site_id"])
    db["evidence"].create_index(["finding_id"])
    db["evidence"].create_index(["site_id"])


@migrations()
def m_reports_1_takedowns(db: sqlite_utils.Database) -> None:
    """Takedown batch items and their removal checks, referral items,
    manual statistics entries."""
    for column in ("unit", "created_by", "sent_by", "note"):
        db["takedowns"].add_column(column, str)
    db["takedown_items"].create({
        "id": int, "takedown_id": int, "finding_id": int, "seq": int, "url": str,
        "platform": str, "added_at": str, "result": str, "removed_at": str,
        "last_checked_at": str,
    }, pk="id", not_null={"takedown_id", "finding_id"})
    db["takedown_items"].create_index(["finding_id"], unique=True)
    db["takedown_items"].create_index(["takedown_id"])
    db["takedown_checks"].create({
        "id": int, "item_id": int, "takedown_id": int, "finding_id": int, "due": str,
        "checked_at": str, "result": str, "reason": str, "http_status": int,
        "final_url": str, "similarity": float, "screenshot": str, "screenshot_sha256": str,
    }, pk="id", not_null={"item_id", "checked_at", "result"})
    db["takedown_checks"].create_index(["item_id"])
    db["takedown_checks"].create_index(["finding_id", "result", "checked_at"])
    for column in ("created_by", "sha256", "note"):
        db["referrals"].add_column(column, str)
    db["referral_items"].create({
        "id": int, "referral_id": int, "finding_id": int, "site_id": int, "referred_at": str,
    }, pk="id", not_null={"referral_id", "referred_at"})
    db["referral_items"].create_index(["referral_id"])
    db["report_manual"].create({
        "period_from": str, "period_to": str, "field": str, "value": str,
        "set_by": str, "set_at": str,
    }, pk=("period_from", "period_to", "field"))


@migrations()
def m_keywords_1_library_schedules_health(db: sqlite_utils.Database) -> None:
    """Keyword imports; schedule runs and locks (the scheduler's state);
    per-platform sweep health and alerts."""
    db["keywords"].add_column("updated_at", str)
    db["keywords"].create_index(["industry"])
    db["keywords"].create_index(["department"])
    db["keyword_imports"].create({
        "id": int, "at": str, "user": str, "file_name": str, "sha256": str, "format": str,
        "rows": int, "added": int, "existing": int, "duplicates": int, "bad": int,
        "errors": str,
    }, pk="id")
    for column, kind in (("settings", str), ("variants", int), ("updated_at", str),
                         ("mode", str), ("sandbox", str)):
        db["schedules"].add_column(column, kind)
    # One row per (schedule, cron slot): the unique index is what stops two
    # schedulers, or a restarted one, from running the same slot twice.
    db["schedule_runs"].create({
        "id": int, "schedule_id": int, "due_at": str, "status": str, "attempts": int,
        "owner": str, "claimed_at": str, "started_at": str, "ended_at": str,
        "sweep_id": int, "pid": int, "note": str,
    }, pk="id", not_null={"schedule_id", "due_at", "status"}, defaults={"attempts": 0})
    db["schedule_runs"].create_index(["schedule_id", "due_at"], unique=True)
    db["schedule_runs"].create_index(["status"])
    db["locks"].create({
        "name": str, "owner": str, "acquired_at": str, "heartbeat_at": str, "expires_at": str,
    }, pk="name")
    db["sweep_platforms"].create({
        "sweep_id": int, "platform": str, "status": str, "requests": int, "responses": int,
        "by_status": str, "items": int, "flagged": int, "errors": int, "blocked": int,
        "blocked_reasons": str, "empty_pages": int, "search_pages": int, "detail_pages": int,
        "canary": str, "canary_results": int, "duration": float, "note": str,
    }, pk=("sweep_id", "platform"))
    db["alerts"].create({
        "id": int, "at": str, "kind": str, "platform": str, "sweep_id": int, "message": str,
        "delivered": int, "delivery_error": str, "acknowledged_by": str,
    }, pk="id", defaults={"delivered": 0})
    db["alerts"].create_index(["sweep_id"])


@migrations()
def m_domains_1_whois_cache(db: sqlite_utils.Database) -> None:
    """WHOIS answers per registered domain (re-asked after a configurable
    age; failures are kept for the record but never served as fresh)."""
    db["whois_cache"].create({
        "domain": str, "status": str, "facts": str, "raw": str, "fetched_at": str,
    }, pk="domain")
    db["sites"].create_index(["verdict"])
    db["sites"].create_index(["status"])


@migrations()
def m_console_2_search(db: sqlite_utils.Database) -> None:
    """Queue filter indexes and the keyword search index: findings_fts holds
    title/text/url/seller/keyword with every character a token (see
    search_text), so an FTS5 phrase query is a substring match. Triggers only
    mark changed findings in search_dirty; refresh_search_index() indexes them."""
    db["findings"].create_index(["platform", "status", "score"])
    db["findings"].create_index(["family", "status", "score"])
    db["findings"].create_index(["status", "first_seen", "score"])
    db.execute("CREATE VIRTUAL TABLE findings_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("CREATE TABLE search_dirty (finding_id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO search_dirty (finding_id) SELECT id FROM findings")
    db.execute("CREATE TRIGGER findings_search_ai AFTER INSERT ON findings BEGIN "
               "INSERT OR IGNORE INTO search_dirty (finding_id) VALUES (NEW.id); END")
    db.execute("CREATE TRIGGER findings_search_au AFTER UPDATE OF title, text, url, seller, keyword ON findings"
               " WHEN OLD.title IS NOT NEW.title OR OLD.text IS NOT NEW.text OR OLD.url IS NOT NEW.url"
               " OR OLD.seller IS NOT NEW.seller OR OLD.keyword IS NOT NEW.keyword BEGIN "
               "INSERT OR IGNORE INTO search_dirty (finding_id) VALUES (NEW.id); END")
    db.execute("CREATE TRIGGER findings_search_ad AFTER DELETE ON findings BEGIN "
               "DELETE FROM findings_fts WHERE rowid = OLD.id; "
               "DELETE FROM search_dirty WHERE finding_id = OLD.id; END")


@migrations()
def m_scheduler_1_followups(db: sqlite_utils.Database) -> None:
    """What the scheduler does after a sweep and between sweeps: the
    evidence step of a run (columns on schedule_runs) and removal rechecks
    (recheck_runs: one row per due set and Beijing day, claimed once)."""
    for column, kind in (("evidence_status", str), ("evidence_attempts", int), ("evidence_ok", int),
                         ("evidence_failed", int), ("evidence_note", str)):
        db["schedule_runs"].add_column(column, kind)
    db["recheck_runs"].create({
        "id": int, "key": str, "due_at": str, "items": int, "status": str, "attempts": int,
        "owner": str, "claimed_at": str, "started_at": str, "ended_at": str, "pid": int,
        "stats": str, "note": str,
    }, pk="id", not_null={"key", "due_at", "status"}, defaults={"attempts": 0})
    db["recheck_runs"].create_index(["key"], unique=True)
    db["recheck_runs"].create_index(["status"])


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


@contextlib.contextmanager
def opened(path: str | os.PathLike) -> Iterator[sqlite_utils.Database]:
    """``with store.opened(path) as db:`` — :func:`connect`, closed on exit."""
    db = connect(path)
    try:
        yield db
    finally:
        db.close()


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


def latest_sweep_of(db: sqlite_utils.Database, schedule_id: int, pid: int) -> int | None:
    """The newest sweep a scheduled run's process started, if it got that far."""
    row = db.execute("SELECT id FROM sweeps WHERE pid = ? AND schedule_id = ? ORDER BY id DESC LIMIT 1",
                     [pid, schedule_id]).fetchone()
    return row[0] if row else None


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
        if db.execute(f"SELECT 1 FROM {table} WHERE id = ?", [key]).fetchone() is None:
            raise StoreError(f"记录 {key} 不存在")
        if action == "confirm":
            category = category or ("illicit_info" if finding_id is not None else "fake_gov_site")
            if category not in CONFIRM_CATEGORIES:
                raise StoreError(f"未知的确认类别：{category}")
        cur = db["decisions"].insert({"finding_id": finding_id, "site_id": site_id, "user": user,
                                      "at": now_utc(), "action": action, "note": note,
                                      "category": category or None})
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


# ---- console
# Accounts (password hashes are made by reports.console.passwords), sessions
# (only a SHA-256 of the cookie token is stored), login attempts (rate
# limiting), the review queue and the network of related items.

ROLES = {"admin": "管理员", "monitor": "监测员", "reviewer": "审核员", "readonly": "只读"}


def add_user(db: sqlite_utils.Database, name: str, role: str, password_hash: str,
             created_by: str = "") -> int:
    name = (name or "").strip()
    if not name or len(name) > 64 or any(c.isspace() or ord(c) < 32 for c in name):
        raise StoreError("用户名不能为空、不能含空白字符，且不超过 64 个字符")
    if role not in ROLES:
        raise StoreError(f"未知的角色：{role}（可选：{'、'.join(f'{k}（{v}）' for k, v in ROLES.items())}）")
    with db.atomic():
        if db.execute("SELECT 1 FROM users WHERE name = ?", [name]).fetchone():
            raise StoreError(f"用户 {name} 已存在")
        stamp = now_utc()
        return db["users"].insert({"name": name, "role": role, "password": password_hash,
                                   "created_at": stamp, "created_by": created_by, "disabled": 0,
                                   "password_changed_at": stamp}).last_pk


def get_user(db: sqlite_utils.Database, name: str | None = None, user_id: int | None = None) -> dict | None:
    if user_id is not None:
        row = db.execute("SELECT id FROM users WHERE id = ?", [user_id]).fetchone()
    else:
        row = db.execute("SELECT id FROM users WHERE name = ?", [name or ""]).fetchone()
    return db["users"].get(row[0]) if row else None


def list_users(db: sqlite_utils.Database) -> list[dict]:
    return list(db["users"].rows_where(order_by="id"))


def update_user(db: sqlite_utils.Database, user_id: int, role: str | None = None,
                disabled: bool | None = None, password_hash: str | None = None) -> None:
    fields: dict[str, Any] = {}
    if role is not None:
        if role not in ROLES:
            raise StoreError(f"未知的角色：{role}")
        fields["role"] = role
    if disabled is not None:
        fields["disabled"] = 1 if disabled else 0
    if password_hash is not None:
        fields["password"] = password_hash
        fields["password_changed_at"] = now_utc()
    if not fields:
        return
    with db.atomic():
        if get_user(db, user_id=user_id) is None:
            raise StoreError(f"用户 {user_id} 不存在")
        db["users"].update(user_id, fields)
        if disabled or password_hash is not None or role is not None:
            db.execute("DELETE FROM sessions WHERE user_id = ?", [user_id])


def create_session(db: sqlite_utils.Database, token_hash: str, user_id: int, csrf: str,
                   expires_at: str, ip: str = "") -> None:
    with db.atomic():
        db["sessions"].insert({"token_hash": token_hash, "user_id": user_id, "csrf": csrf,
                               "created_at": now_utc(), "expires_at": expires_at, "ip": ip})
        db.execute("DELETE FROM sessions WHERE expires_at < ?", [now_utc()])


def session_user(db: sqlite_utils.Database, token_hash: str) -> tuple[dict, str] | None:
    """(user, csrf token) for a live session of an enabled user, else None."""
    row = db.execute(
        "SELECT u.id, u.name, u.role, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = ? AND s.expires_at > ? AND u.disabled = 0",
        [token_hash, now_utc()]).fetchone()
    if row is None:
        return None
    return {"id": row[0], "name": row[1], "role": row[2]}, row[3]


def delete_session(db: sqlite_utils.Database, token_hash: str) -> None:
    with db.atomic():
        db.execute("DELETE FROM sessions WHERE token_hash = ?", [token_hash])


def record_login_attempt(db: sqlite_utils.Database, name: str, ip: str, ok: bool) -> None:
    with db.atomic():
        db.execute("INSERT INTO login_attempts (name, ip, at, ok) VALUES (?, ?, ?, ?)",
                   [name[:64], ip[:64], now_utc(), 1 if ok else 0])
        if ok:      # keep a week of attempts
            cutoff = datetime.fromtimestamp(datetime.now(timezone.utc).timestamp() - 7 * 86400, timezone.utc)
            db.execute("DELETE FROM login_attempts WHERE at < ?", [cutoff.strftime("%Y-%m-%dT%H:%M:%S")])


def failed_logins_since(db: sqlite_utils.Database, since: str, name: str = "", ip: str = "") -> tuple[int, int]:
    """Failed attempts since ``since`` for this name and from this address."""
    by_name = db.execute("SELECT COUNT(*) FROM login_attempts WHERE name = ? AND at >= ? AND ok = 0",
                         [name[:64], since]).fetchone()[0]
    by_ip = db.execute("SELECT COUNT(*) FROM login_attempts WHERE ip = ? AND at >= ? AND ok = 0",
                       [ip[:64], since]).fetchone()[0]
    return by_name, by_ip


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
                       " f.contacts AS contacts")
_QUEUE_SITE_COLS = ("'site' AS kind, s.id AS id, s.score AS score, s.status AS status,"
                    " COALESCE(NULLIF(s.title, ''), s.domain) AS title, COALESCE(s.url, 'http://' || s.domain || '/') AS url,"
                    " '' AS platform, s.impersonates AS family, s.verdict AS verdict,"
                    " s.first_seen AS first_seen, s.last_seen AS last_seen, '{}' AS contacts")


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
    sql = " UNION ALL ".join(selects) + " ORDER BY score DESC, id DESC LIMIT ? OFFSET ?"
    cur = db.execute(sql, [*args, int(limit), int(offset)])
    names = [d[0] for d in cur.description]
    rows = []
    for r in cur.fetchall():
        row = dict(zip(names, r))
        contacts = _loads(row.get("contacts"), {})
        row["contacts"] = {k: v for k, v in contacts.items() if isinstance(v, list)} \
            if isinstance(contacts, dict) else {}
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


def site_of_host(db: sqlite_utils.Database, host: str) -> dict | None:
    """The stored site for a host name (by domain or host), for the network view."""
    host = (host or "").strip().lower().rstrip(".")
    row = db.execute("SELECT id, domain, verdict, score, status, url FROM sites WHERE domain = ? OR host = ?"
                     " ORDER BY id LIMIT 1", [host, host]).fetchone()
    return None if row is None else {"id": row[0], "domain": row[1], "verdict": row[2], "score": row[3],
                                     "status": row[4], "url": row[5]}


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


def get_evidence(db: sqlite_utils.Database, evidence_id: int) -> dict:
    try:
        row = db["evidence"].get(evidence_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"证据 {evidence_id} 不存在") from None
    row["files"] = _loads(row.get("files"), [])
    return row


def open_db(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open an existing, migrated store without migrating (per request in
    the console; ``connect`` once at start-up migrates)."""
    import sqlite3
    conn = sqlite3.connect(os.fspath(path), check_same_thread=False)   # one request, any thread
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA busy_timeout = 30000")
    return db


# ---------------------------------------------------------------- reports
# Takedown batches (takedowns + takedown_items), removal checks
# (takedown_checks), police referrals (referrals + referral_items) and manual
# statistics entries (report_manual). Times are UTC strings like now_utc();
# a period is a half-open UTC range [start, end).

TAKEDOWN_RESULTS = ("removed", "still_present", "unknown")
# Finding statuses a takedown may be requested for (a human confirmed them).
REQUESTABLE_STATUSES = ("confirmed", "referred", "still_present", "takedown_requested", "removed")
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
    """Confirmed findings on ``platform`` not yet in any takedown batch."""
    marks = ", ".join("?" * len(REQUESTABLE_STATUSES))
    cur = db.execute(
        f"SELECT * FROM findings WHERE platform = ? AND status IN ({marks})"
        " AND id NOT IN (SELECT finding_id FROM takedown_items)"
        " AND id IN (SELECT finding_id FROM decisions WHERE action IN ('confirm', 'refer')"
        "            AND finding_id IS NOT NULL)"
        " ORDER BY id", [platform, *REQUESTABLE_STATUSES])
    names = [d[0] for d in cur.description]
    return [_finding_row(dict(zip(names, r))) for r in cur.fetchall()]


def create_takedown(db: sqlite_utils.Database, platform: str, user: str, unit: str = "") -> int | None:
    """Gather the candidates into a new numbered batch; None when there are none."""
    with db.atomic():
        found = takedown_candidates(db, platform)
        if not found:
            return None
        stamp = now_utc()
        batch = db["takedowns"].insert({
            "platform": platform, "created_at": stamp, "status": "created",
            "items": _dumps([f["id"] for f in found]), "unit": unit, "created_by": user,
        }).last_pk
        db.conn.executemany(
            "INSERT INTO takedown_items (takedown_id, finding_id, seq, url, platform, added_at, result)"
            " VALUES (?, ?, ?, ?, ?, ?, 'requested')",
            [(batch, f["id"], seq, f["url"], platform, stamp) for seq, f in enumerate(found, 1)])
        db.conn.executemany("UPDATE findings SET status = 'takedown_requested' WHERE id = ? AND status = 'confirmed'",
                            [(f["id"],) for f in found])
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


# -- statistics: what the 网络空间治理 columns count

def stats_fake_sites(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Sites whose first fake-government-site confirm falls in [start, end)
    and that were not dismissed later; one row per registered domain."""
    rows = db.execute(
        "SELECT s.id, s.domain, s.url, s.impersonates, d.at, d.user, d.note FROM sites s"
        " JOIN (SELECT site_id, MIN(id) AS did FROM decisions WHERE action = 'confirm'"
        "       AND site_id IS NOT NULL AND (category IS NULL OR category = 'fake_gov_site')"
        "       GROUP BY site_id) first ON first.site_id = s.id"
        " JOIN decisions d ON d.id = first.did"
        " WHERE d.at >= ? AND d.at < ? AND s.status != 'dismissed' ORDER BY d.at, s.id",
        [start, end]).fetchall()
    seen, out = set(), []
    for r in rows:
        if r[1] in seen:
            continue
        seen.add(r[1])
        out.append(dict(zip(("site_id", "domain", "url", "impersonates", "at", "user", "note"), r)))
    return out


def stats_removed(db: sqlite_utils.Database, start: str, end: str) -> list[dict]:
    """Confirmed findings whose first 'removed' check falls in [start, end)."""
    rows = db.execute(
        "SELECT f.id, f.url, f.title, f.platform, c.checked_at, c.reason, c.takedown_id,"
        " (SELECT user FROM decisions d WHERE d.finding_id = f.id AND d.action IN ('confirm', 'refer')"
        "  ORDER BY d.id LIMIT 1)"
        " FROM (SELECT finding_id, MIN(id) AS cid FROM takedown_checks WHERE result = 'removed'"
        "       GROUP BY finding_id) first"
        " JOIN takedown_checks c ON c.id = first.cid JOIN findings f ON f.id = c.finding_id"
        " WHERE c.checked_at >= ? AND c.checked_at < ? ORDER BY c.checked_at, f.id",
        [start, end]).fetchall()
    keys = ("finding_id", "url", "title", "platform", "at", "reason", "takedown_id", "user")
    return [dict(zip(keys, r)) for r in rows]


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


# -- police referrals

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
            add_decision(db, user, "refer", note=f"移交{unit}（移交单 #{rid}）", finding_id=fid)
            db["referral_items"].insert({"referral_id": rid, "finding_id": fid, "referred_at": stamp})
        for sid in sites:
            add_decision(db, user, "refer", note=f"移交{unit}（移交单 #{rid}）", site_id=sid)
            db["referral_items"].insert({"referral_id": rid, "site_id": sid, "referred_at": stamp})
    return rid


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


# -- manual statistics entries (columns entered by hand)

def set_manual_value(db: sqlite_utils.Database, period_from: str, period_to: str, field: str,
                     value: str, user: str) -> None:
    with db.atomic():
        db["report_manual"].upsert({"period_from": period_from, "period_to": period_to, "field": field,
                                    "value": value, "set_by": user, "set_at": now_utc()},
                                   pk=("period_from", "period_to", "field"))


def manual_values(db: sqlite_utils.Database, period_from: str, period_to: str) -> dict[str, dict]:
    return {r["field"]: r for r in db["report_manual"].rows_where(
        "period_from = ? AND period_to = ?", [period_from, period_to])}


# -- chart data

def flagged_first_seen(db: sqlite_utils.Database, start: str, end: str) -> list[tuple[str, str]]:
    """(first_seen, platform) of findings the machine flagged (or a human
    kept), first seen in [start, end)."""
    return [tuple(r) for r in db.execute(
        "SELECT first_seen, platform FROM findings WHERE flagged = 1 AND first_seen >= ?"
        " AND first_seen < ? ORDER BY first_seen", [start, end]).fetchall()]


def takedown_sent_times(db: sqlite_utils.Database, start: str, end: str) -> list[str]:
    """One sent time per requested item, for items of batches sent in [start, end)."""
    return [r[0] for r in db.execute(
        "SELECT t.sent_at FROM takedown_items i JOIN takedowns t ON t.id = i.takedown_id"
        " WHERE t.sent_at >= ? AND t.sent_at < ? ORDER BY t.sent_at", [start, end]).fetchall()]


# ---- keywords
# The keyword library (keywords, keyword_imports), schedules and their runs
# (schedules, schedule_runs), cross-process locks (locks), per-platform sweep
# health (sweep_platforms) and alerts.

def query_keywords(db: sqlite_utils.Database, industry: str | None = None,
                   department: str | None = None, kind: str | None = None,
                   active: bool | None = None, search: str | None = None) -> list[dict]:
    """Keywords filtered by industry, department, kind, state and a term
    substring, in id order."""
    where, args = [], []
    for column, value in (("industry", industry), ("department", department), ("kind", kind)):
        if value:
            where.append(f"{column} = ?"); args.append(value)
    if active is not None:
        where.append("active = ?"); args.append(1 if active else 0)
    if search:
        where.append("instr(term, ?) > 0"); args.append(search)
    return list(db["keywords"].rows_where(" AND ".join(where) or None, args, order_by="id"))


def keyword_facets(db: sqlite_utils.Database) -> dict:
    """Distinct industries and departments, for filters."""
    return {col: [r[0] for r in db.execute(
        f"SELECT DISTINCT {col} FROM keywords WHERE {col} != '' ORDER BY {col}")]
        for col in ("industry", "department")}


def import_keywords(db: sqlite_utils.Database, rows: list[dict], record: dict) -> dict:
    """Add validated keyword rows and the import record in ONE transaction.
    Rows already in the library (same term and kind) are left as they are
    (a disabled keyword stays disabled), so re-importing is idempotent."""
    stamp = now_utc()
    added = existing = duplicates = 0
    seen: set = set()
    with db.atomic():
        for row in rows:
            key = (row["term"], row["kind"])
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            cur = db.execute(
                "INSERT OR IGNORE INTO keywords (term, kind, industry, department, active, source,"
                " added_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                [row["term"], row["kind"], row.get("industry") or "", row.get("department") or "",
                 record.get("file_name") or "", stamp, stamp])
            if cur.rowcount:
                added += 1
            else:
                existing += 1
        counts = {"added": added, "existing": existing, "duplicates": duplicates}
        import_id = db["keyword_imports"].insert({
            "at": stamp, "user": record.get("user") or "", "file_name": record.get("file_name") or "",
            "sha256": record.get("sha256") or "", "format": record.get("format") or "",
            "rows": int(record.get("rows") or 0), "bad": int(record.get("bad") or 0),
            "errors": _dumps(record.get("errors") or []), **counts,
        }).last_pk
    return {"id": import_id, **counts}


def list_keyword_imports(db: sqlite_utils.Database, limit: int = 50) -> list[dict]:
    out = []
    for row in db["keyword_imports"].rows_where(order_by="id desc", limit=limit):
        row["errors"] = _loads(row.get("errors"), [])
        out.append(row)
    return out


def set_keyword_active(db: sqlite_utils.Database, active: bool, term: str | None = None,
                       kind: str | None = None, keyword_id: int | None = None) -> int:
    """Enable or disable keywords (never delete: past sweeps stay
    explainable). By id, or by term (optionally one kind). Returns how many
    matched; raises StoreError when none did."""
    if keyword_id is not None:
        where, args = "id = ?", [keyword_id]
    elif term:
        where, args = "term = ?", [term]
        if kind:
            where += " AND kind = ?"; args.append(kind)
    else:
        raise StoreError("请指定关键词")
    with db.atomic():
        matched = db.execute(f"SELECT COUNT(*) FROM keywords WHERE {where}", args).fetchone()[0]
        if not matched:
            raise StoreError(f"关键词库中没有：{term if term else keyword_id}")
        db.execute(f"UPDATE keywords SET active = ?, updated_at = ? WHERE {where}",
                   [1 if active else 0, now_utc(), *args])
    return matched


# -- schedules

SCHEDULE_FIELDS = ("cron", "industry", "department", "platforms", "pages", "enabled",
                   "settings", "variants", "mode", "sandbox", "next_run_at", "last_run_at")


def _schedule_row(row: dict) -> dict:
    row["settings"] = _loads(row.get("settings"), {})
    row["platforms"] = row.get("platforms") or ""
    return row


def add_schedule(db: sqlite_utils.Database, row: dict) -> int:
    record = {k: row.get(k) for k in SCHEDULE_FIELDS if k in row}
    record["settings"] = _dumps(row.get("settings") or {})
    with db.atomic():
        if db.execute("SELECT 1 FROM schedules WHERE name = ?", [row["name"]]).fetchone():
            raise StoreError(f"巡查计划已存在：{row['name']}")
        return db["schedules"].insert({"name": row["name"], "created_at": now_utc(),
                                       "updated_at": now_utc(), "enabled": 1, **record}).last_pk


def update_schedule(db: sqlite_utils.Database, schedule_id: int, fields: dict) -> None:
    record = {k: v for k, v in fields.items() if k in SCHEDULE_FIELDS}
    if "settings" in record:
        record["settings"] = _dumps(record["settings"] or {})
    with db.atomic():
        db["schedules"].update(schedule_id, {**record, "updated_at": now_utc()})


def get_schedule(db: sqlite_utils.Database, name: str | None = None,
                 schedule_id: int | None = None) -> dict:
    if schedule_id is not None:
        rows = list(db["schedules"].rows_where("id = ?", [schedule_id]))
    else:
        rows = list(db["schedules"].rows_where("name = ?", [name]))
    if not rows:
        raise StoreError(f"巡查计划不存在：{name if name is not None else schedule_id}")
    return _schedule_row(rows[0])


def list_schedules(db: sqlite_utils.Database, enabled_only: bool = False) -> list[dict]:
    rows = db["schedules"].rows_where("enabled = 1" if enabled_only else None, order_by="name")
    return [_schedule_row(r) for r in rows]


def remove_schedule(db: sqlite_utils.Database, schedule_id: int) -> None:
    """Remove a schedule. Its runs and sweeps stay (history)."""
    with db.atomic():
        db.execute("DELETE FROM schedules WHERE id = ?", [schedule_id])
        db.execute("UPDATE schedule_runs SET status = 'cancelled', note = '计划已删除'"
                   " WHERE schedule_id = ? AND status = 'pending'", [schedule_id])


def claim_run(db: sqlite_utils.Database, schedule_id: int, due_at: str, next_run_at: str,
              owner: str, note: str = "") -> int | None:
    """Claim the run of ``schedule_id`` for slot ``due_at`` and move the
    schedule on to ``next_run_at``. The (schedule, slot) pair is unique, so
    of any number of schedulers exactly one gets the run; the others get
    None. Moving the schedule on is the same for every claimant."""
    stamp = now_utc()
    with db.atomic():
        cur = db.execute(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, due_at, status, attempts, owner, claimed_at, note)"
            " VALUES (?, ?, 'pending', 0, ?, ?, ?)", [schedule_id, due_at, owner, stamp, note])
        claimed = cur.rowcount == 1
        db.execute("UPDATE schedules SET last_run_at = ?, next_run_at = ? WHERE id = ?"
                   " AND (last_run_at IS NULL OR last_run_at <= ?)",
                   [due_at, next_run_at, schedule_id, due_at])
        if not claimed:
            return None
        return db.execute("SELECT id FROM schedule_runs WHERE schedule_id = ? AND due_at = ?",
                          [schedule_id, due_at]).fetchone()[0]


def add_manual_run(db: sqlite_utils.Database, schedule_id: int, due_at: str, owner: str) -> int:
    """A 'run now' request: a pending run outside the cron slots."""
    with db.atomic():
        cur = db.execute(
            "INSERT OR IGNORE INTO schedule_runs (schedule_id, due_at, status, attempts, owner, claimed_at, note)"
            " VALUES (?, ?, 'pending', 0, ?, ?, '立即执行')", [schedule_id, due_at, owner, now_utc()])
        if cur.rowcount != 1:
            raise StoreError("该计划已有同一时刻的执行请求")
        return cur.lastrowid


def runnable_runs(db: sqlite_utils.Database, max_attempts: int) -> list[dict]:
    """Pending runs, and interrupted runs not yet retried ``max_attempts``
    times, oldest slot first."""
    return list(db["schedule_runs"].rows_where(
        "status = 'pending' OR (status = 'interrupted' AND attempts < ?)", [max_attempts],
        order_by="due_at, id"))


def start_run(db: sqlite_utils.Database, run_id: int, owner: str, pid: int,
              table: str = "schedule_runs") -> bool:
    """Take a runnable run (a ``schedule_runs`` or ``recheck_runs`` row) for
    this owner (compare-and-set); False when another scheduler took it first."""
    with db.atomic():
        cur = db.execute(
            f"UPDATE {table} SET status = 'running', owner = ?, pid = ?, started_at = ?,"
            " ended_at = NULL, attempts = attempts + 1 WHERE id = ? AND status IN ('pending', 'interrupted')",
            [owner, pid, now_utc(), run_id])
        return cur.rowcount == 1


def set_run_sweep(db: sqlite_utils.Database, run_id: int, sweep_id: int) -> None:
    with db.atomic():
        db.execute("UPDATE schedule_runs SET sweep_id = ? WHERE id = ?", [sweep_id, run_id])


def finish_run(db: sqlite_utils.Database, run_id: int, status: str, note: str = "") -> None:
    with db.atomic():
        db.execute("UPDATE schedule_runs SET status = ?, ended_at = ?, note = ? WHERE id = ?",
                   [status, now_utc(), note, run_id])


def get_run(db: sqlite_utils.Database, run_id: int) -> dict:
    rows = list(db["schedule_runs"].rows_where("id = ?", [run_id]))
    if not rows:
        raise StoreError(f"执行记录不存在：{run_id}")
    return rows[0]


def list_runs(db: sqlite_utils.Database, schedule_id: int | None = None, status: str | None = None,
              limit: int = 100) -> list[dict]:
    where, args = [], []
    if schedule_id is not None:
        where.append("schedule_id = ?"); args.append(schedule_id)
    if status:
        where.append("status = ?"); args.append(status)
    return list(db["schedule_runs"].rows_where(" AND ".join(where) or None, args,
                                               order_by="id desc", limit=limit))


def running_runs(db: sqlite_utils.Database) -> list[dict]:
    return list(db["schedule_runs"].rows_where("status = 'running'", order_by="id"))


# -- locks: a row per lock with owner and expiry; single statements only,
# so two processes can never both hold one.

def acquire_lock(db: sqlite_utils.Database, name: str, owner: str, now: str, expires_at: str) -> bool:
    with db.atomic():
        cur = db.execute(
            "INSERT OR IGNORE INTO locks (name, owner, acquired_at, heartbeat_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)", [name, owner, now, now, expires_at])
        if cur.rowcount == 1:
            return True
        cur = db.execute(
            "UPDATE locks SET owner = ?, acquired_at = CASE WHEN owner = ? THEN acquired_at ELSE ? END,"
            " heartbeat_at = ?, expires_at = ? WHERE name = ? AND (owner = ? OR expires_at < ?)",
            [owner, owner, now, now, expires_at, name, owner, now])
        return cur.rowcount == 1


def heartbeat_locks(db: sqlite_utils.Database, owner: str, now: str, expires_at: str) -> int:
    with db.atomic():
        return db.execute("UPDATE locks SET heartbeat_at = ?, expires_at = ? WHERE owner = ?",
                          [now, expires_at, owner]).rowcount


def release_locks(db: sqlite_utils.Database, owner: str, names: list[str] | None = None) -> None:
    with db.atomic():
        if names is None:
            db.execute("DELETE FROM locks WHERE owner = ?", [owner])
        else:
            for name in names:
                db.execute("DELETE FROM locks WHERE owner = ? AND name = ?", [owner, name])


def list_locks(db: sqlite_utils.Database) -> list[dict]:
    return list(db["locks"].rows_where(order_by="name"))


# -- sweep health and alerts

def save_sweep_platforms(db: sqlite_utils.Database, sweep_id: int, rows: list[dict]) -> None:
    with db.atomic():
        for row in rows:
            record = dict(row)
            for key in ("by_status", "blocked_reasons"):
                record[key] = _dumps(record.get(key) or {})
            db["sweep_platforms"].upsert({"sweep_id": sweep_id, **record},
                                         pk=("sweep_id", "platform"))


def sweep_platforms(db: sqlite_utils.Database, sweep_id: int) -> list[dict]:
    out = []
    for row in db["sweep_platforms"].rows_where("sweep_id = ?", [sweep_id], order_by="platform"):
        row["by_status"] = _loads(row.get("by_status"), {})
        row["blocked_reasons"] = _loads(row.get("blocked_reasons"), {})
        out.append(row)
    return out


def add_alert(db: sqlite_utils.Database, kind: str, message: str, platform: str | None = None,
              sweep_id: int | None = None) -> int:
    with db.atomic():
        return db["alerts"].insert({"at": now_utc(), "kind": kind, "platform": platform or "",
                                    "sweep_id": sweep_id, "message": message,
                                    "delivered": 0}).last_pk


def mark_alert_delivery(db: sqlite_utils.Database, alert_id: int, delivered: bool, error: str = "") -> None:
    with db.atomic():
        db["alerts"].update(alert_id, {"delivered": 1 if delivered else 0, "delivery_error": error[:500]})


def list_alerts(db: sqlite_utils.Database, sweep_id: int | None = None, limit: int = 100) -> list[dict]:
    if sweep_id is not None:
        return list(db["alerts"].rows_where("sweep_id = ?", [sweep_id], order_by="id desc", limit=limit))
    return list(db["alerts"].rows_where(order_by="id desc", limit=limit))


def sites_with_status(db: sqlite_utils.Database, statuses: tuple = ("new", "flagged")) -> list[dict]:
    marks = ", ".join("?" * len(statuses))
    return [get_site(db, r[0]) for r in db.execute(
        f"SELECT id FROM sites WHERE status IN ({marks}) ORDER BY id", list(statuses)).fetchall()]


def findings_of_sweep(db: sqlite_utils.Database, sweep_id: int, flagged_only: bool = False,
                      limit: int = 500) -> list[dict]:
    """Findings a sweep saw (new or already known), highest score first."""
    sql = ("SELECT f.* FROM finding_sweeps s JOIN findings f ON f.id = s.finding_id WHERE s.sweep_id = ?"
           + (" AND f.flagged = 1" if flagged_only else "") + " ORDER BY f.score DESC, f.id LIMIT ?")
    cur = db.execute(sql, [sweep_id, limit])
    cols = [c[0] for c in cur.description]
    return [_finding_row(dict(zip(cols, r))) for r in cur.fetchall()]


# ---- domains
# Look-alike sites: WHOIS cache, checked sites, candidate hosts from findings.

def get_whois(db: sqlite_utils.Database, domain: str, max_age_days: float) -> dict | None:
    """Cached WHOIS facts younger than ``max_age_days`` (answers only: a
    failed lookup is asked again)."""
    row = db.execute("SELECT status, facts, fetched_at FROM whois_cache WHERE domain = ?",
                     [domain]).fetchone()
    if row is None or row[0] not in ("ok", "not_found"):
        return None
    try:
        fetched = datetime.strptime(row[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None
    if (datetime.now(timezone.utc) - fetched).total_seconds() > max_age_days * 86400:
        return None
    facts = _loads(row[1], {})
    facts["cached_at"] = row[2]
    return facts


def save_whois(db: sqlite_utils.Database, domain: str, facts: dict, raw: str) -> None:
    with db.atomic():
        db["whois_cache"].upsert({"domain": domain, "status": facts.get("status", ""),
                                  "facts": _dumps(facts), "raw": (raw or "")[:65536],
                                  "fetched_at": now_utc()}, pk="domain")


def whois_raw(db: sqlite_utils.Database, domain: str) -> str:
    row = db.execute("SELECT raw FROM whois_cache WHERE domain = ?", [domain]).fetchone()
    return row[0] if row else ""


def record_checked_site(db: sqlite_utils.Database, site: dict) -> int:
    """Store a judged site (see record_site) and move its machine status:
    ``flagged`` when the verdict says fake or suspicious, else ``new``;
    a human decision is never overwritten."""
    site_id = record_site(db, site)
    flagged = site.get("verdict") in ("fake_gov_site", "suspicious")
    with db.atomic():
        db.execute("UPDATE sites SET status = ? WHERE id = ? AND status IN ('new', 'flagged')",
                   ["flagged" if flagged else "new", site_id])
    return site_id


def linked_hosts_of_findings(db: sqlite_utils.Database, limit: int = 10_000) -> list[dict]:
    """Hosts and URLs named in stored findings (contacts "url"/"domain"
    lists), newest findings first: [{"finding_id", "url", "host"}]."""
    out = []
    for fid, contacts in db.execute(
            "SELECT id, contacts FROM findings WHERE contacts LIKE '%\"url\"%' OR contacts LIKE '%\"domain\"%'"
            " ORDER BY id DESC LIMIT ?", [limit]).fetchall():
        c = _loads(contacts, {})
        if not isinstance(c, dict):
            continue
        urls = [u for u in c.get("url", []) if isinstance(u, str)]
        seen = set()
        for url in urls:
            host = (urllib.parse.urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()
            if host and host not in seen:
                seen.add(host)
                out.append({"finding_id": fid, "url": url, "host": host})
        for host in c.get("domain", []):
            if isinstance(host, str) and host.lower() not in seen:
                seen.add(host.lower())
                out.append({"finding_id": fid, "url": "http://" + host.lower() + "/", "host": host.lower()})
    return out


def unchecked_sites(db: sqlite_utils.Database, limit: int = 1000) -> list[dict]:
    """Sites stored but never visited (tips from `certwatch submit`)."""
    return [dict(zip(("id", "domain", "host", "url", "source"), r)) for r in db.execute(
        "SELECT id, domain, host, url, source FROM sites WHERE http_status IS NULL"
        " AND status IN ('new', 'flagged') ORDER BY id LIMIT ?", [limit]).fetchall()]


# ---- console queries
# Grouped reads for the console's report pages: a fixed number of statements
# per page, whatever the number of batches, items or platforms.

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
    """For each platform (not NULL) with a finding in REQUESTABLE_STATUSES:
    len(takedown_candidates(db, platform)), 0 when all are batched. One
    statement."""
    marks = ", ".join("?" * len(REQUESTABLE_STATUSES))
    rows = db.execute(
        "SELECT platform, SUM(id NOT IN (SELECT finding_id FROM takedown_items)"
        "  AND id IN (SELECT finding_id FROM decisions WHERE action IN ('confirm', 'refer')"
        "             AND finding_id IS NOT NULL))"
        f" FROM findings WHERE status IN ({marks}) AND platform IS NOT NULL GROUP BY platform",
        list(REQUESTABLE_STATUSES)).fetchall()
    return {platform: int(n or 0) for platform, n in rows}


# ---- scheduler follow-ups
# What crawler/scheduler.py does besides sweeps: the evidence step after a
# scheduled sweep (evidence_* columns of schedule_runs; counts also merged
# into the sweep's stats) and removal rechecks (recheck_runs). A recheck run
# is keyed by its due set and Beijing day: claiming is one INSERT OR IGNORE,
# so a due set is rechecked once; an interrupted run is taken again by a
# compare-and-set like start_run.

def start_run_evidence(db: sqlite_utils.Database, run_id: int, retry: bool = False) -> bool:
    """Mark a run's evidence step running (compare-and-set when ``retry``:
    only an interrupted step is taken again)."""
    with db.atomic():
        cur = db.execute(
            "UPDATE schedule_runs SET evidence_status = 'running',"
            " evidence_attempts = COALESCE(evidence_attempts, 0) + 1 WHERE id = ?"
            + (" AND evidence_status = 'interrupted'" if retry else ""), [run_id])
        return cur.rowcount == 1


def set_run_evidence(db: sqlite_utils.Database, run_id: int, fields: dict) -> None:
    record = {k: v for k, v in fields.items()
              if k in ("evidence_status", "evidence_ok", "evidence_failed", "evidence_note")}
    if "evidence_note" in record:
        record["evidence_note"] = (record["evidence_note"] or "")[:500]
    with db.atomic():
        db["schedule_runs"].update(run_id, record)


def evidence_retry_runs(db: sqlite_utils.Database, max_attempts: int) -> list[dict]:
    """Runs whose sweep is done but whose evidence step was interrupted
    (and not yet tried ``max_attempts`` times), oldest first."""
    return list(db["schedule_runs"].rows_where(
        "status IN ('finished', 'failed') AND evidence_status = 'interrupted'"
        " AND COALESCE(evidence_attempts, 0) < ?", [max_attempts], order_by="id"))


def running_evidence_runs(db: sqlite_utils.Database) -> list[dict]:
    return list(db["schedule_runs"].rows_where("evidence_status = 'running'", order_by="id"))


def merge_sweep_stats(db: sqlite_utils.Database, sweep_id: int, stats: dict) -> None:
    """Add counters to a finished sweep's stats (the health record)."""
    with db.atomic():
        row = db.execute("SELECT stats FROM sweeps WHERE id = ?", [sweep_id]).fetchone()
        if row is None:
            raise StoreError(f"巡查记录 {sweep_id} 不存在")
        merged = {**_loads(row[0], {}), **stats}
        db.execute("UPDATE sweeps SET stats = ? WHERE id = ?", [_dumps(merged), sweep_id])


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


def claim_recheck_run(db: sqlite_utils.Database, key: str, due_at: str, items: int, owner: str,
                      max_attempts: int) -> int | None:
    """The recheck run for ``key``: new (pending), or an interrupted one not
    yet tried ``max_attempts`` times; None when that due set already ran."""
    with db.atomic():
        db.execute("INSERT OR IGNORE INTO recheck_runs (key, due_at, items, status, attempts, owner, claimed_at)"
                   " VALUES (?, ?, ?, 'pending', 0, ?, ?)", [key, due_at, items, owner, now_utc()])
        row = db.execute("SELECT id, status, attempts FROM recheck_runs WHERE key = ?", [key]).fetchone()
    run_id, status, attempts = row
    if status == "pending" or (status == "interrupted" and (attempts or 0) < max_attempts):
        return run_id
    return None


def start_recheck_run(db: sqlite_utils.Database, run_id: int, owner: str, pid: int) -> bool:
    return start_run(db, run_id, owner, pid, table="recheck_runs")


def set_recheck_stats(db: sqlite_utils.Database, run_id: int, stats: dict) -> None:
    with db.atomic():
        db.execute("UPDATE recheck_runs SET stats = ? WHERE id = ?", [_dumps(stats), run_id])


def finish_recheck_run(db: sqlite_utils.Database, run_id: int, status: str, note: str = "") -> None:
    with db.atomic():
        db.execute("UPDATE recheck_runs SET status = ?, ended_at = ?, note = ? WHERE id = ?",
                   [status, now_utc(), (note or "")[:500], run_id])


def _recheck_row(row: dict) -> dict:
    row["stats"] = _loads(row.get("stats"), {})
    return row


def get_recheck_run(db: sqlite_utils.Database, run_id: int) -> dict:
    rows = list(db["recheck_runs"].rows_where("id = ?", [run_id]))
    if not rows:
        raise StoreError(f"复查记录不存在：{run_id}")
    return _recheck_row(rows[0])


def list_recheck_runs(db: sqlite_utils.Database, limit: int = 100) -> list[dict]:
    return [_recheck_row(r) for r in db["recheck_runs"].rows_where(order_by="id desc", limit=limit)]


def running_recheck_runs(db: sqlite_utils.Database) -> list[dict]:
    return [_recheck_row(r) for r in db["recheck_runs"].rows_where("status = 'running'", order_by="id")]


# ---- reviewed findings as labelled data

def reviewed_findings(db: sqlite_utils.Database, since: str | None = None) -> list[dict]:
    """Findings a reviewer has decided, as labelled listings: the latest
    confirm or refer → 1, dismiss → 0 (sites are not listings). ``since``:
    only decisions at or after that UTC time."""
    rows = db.execute(
        "SELECT f.id, f.platform, f.url, f.title, f.text, f.family, d.action, d.at, d.user FROM findings f"
        " JOIN (SELECT finding_id, MAX(id) AS did FROM decisions"
        "       WHERE finding_id IS NOT NULL AND action IN ('confirm', 'dismiss', 'refer') GROUP BY finding_id)"
        " last ON last.finding_id = f.id"
        " JOIN decisions d ON d.id = last.did"
        " WHERE (? IS NULL OR d.at >= ?) ORDER BY f.id", [since, since]).fetchall()
    keys = ("id", "platform", "url", "title", "text", "family", "action", "at", "user")
    return [{**dict(zip(keys, r)), "label": 0 if r[6] == "dismiss" else 1} for r in rows]
