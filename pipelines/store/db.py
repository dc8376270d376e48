"""Connection, time and JSON helpers every store module shares: connect()
(creates and migrates), open_db() (per request, no migration), stored UTC
times and how they are shown (北京时间), canonical URLs, the store's error.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import urllib.parse
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import sqlite_utils

from .schema import migrations

# Finding statuses. Only the first two are set by machines; the rest record
# (or follow from) a human decision and are never overwritten by a sweep.
MACHINE_STATUSES = ("new", "flagged")


HUMAN_STATUSES = ("confirmed", "dismissed", "takedown_requested", "removed",
                  "still_present", "referral_pending", "referred")


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


# A fragment that names one post on a page of many (a comment, a forum floor)
# is kept: each post is a finding of its own (pipelines/generic.py, JSON comments).
POST_FRAGMENT = re.compile(r"(?:issuecomment|comment|post|postmessage|pid|reply|floor)[-_]?\d{1,20}", re.IGNORECASE)


def canonical_url(url: str) -> str:
    """The key of a finding: scheme and host lower-cased, default port,
    tracking parameters and fragment dropped (but a fragment naming one
    post, ``#issuecomment-12``, is kept), query parameters sorted."""
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
    fragment = parts.fragment if POST_FRAGMENT.fullmatch(parts.fragment or "") else ""
    return urllib.parse.urlunsplit((scheme, netloc, path, urllib.parse.urlencode(query), fragment))


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


def open_db(path: str | os.PathLike) -> sqlite_utils.Database:
    """Open an existing, migrated store without migrating (per request in
    the console; ``connect`` once at start-up migrates)."""
    import sqlite3
    conn = sqlite3.connect(os.fspath(path), check_same_thread=False)   # one request, any thread
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA busy_timeout = 30000")
    return db
