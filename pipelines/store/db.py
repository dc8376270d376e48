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
from .search import register_functions

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


class StoreBusy(StoreError):
    """Another program held the database's write lock longer than the busy
    timeout (the console answers 503, the CLI a clear message)."""


# How long a writer waits for another writer's lock (seconds); the CLI sets it
# from CERTWATCH_BUSY_TIMEOUT (crawler/settings.py) before opening anything.
BUSY_TIMEOUT = 30.0


def set_busy_timeout(seconds: float) -> None:
    global BUSY_TIMEOUT
    BUSY_TIMEOUT = max(0.0, float(seconds))


def busy_message() -> str:
    return (f"数据库正被其他程序写入（如正在进行的巡查或另一位用户的操作），等待 {BUSY_TIMEOUT:g} 秒后仍未释放，"
            "请稍后重试")


def is_locked(exc: BaseException) -> bool:
    """A SQLite 'database is locked/busy' error."""
    import sqlite3
    return isinstance(exc, sqlite3.OperationalError) and any(
        w in str(exc).lower() for w in ("database is locked", "database is busy", "database table is locked"))


class Store(sqlite_utils.Database):
    """sqlite-utils' Database whose write transactions start with ``BEGIN
    IMMEDIATE``: the write lock is taken (waiting up to the busy timeout)
    before the transaction reads anything, so a writer never fails at once
    on a stale snapshot; a lock held past the timeout is :class:`StoreBusy`."""

    @contextlib.contextmanager
    def atomic(self):
        if self.conn.in_transaction:
            with super().atomic():
                yield self
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except Exception as exc:
            if is_locked(exc):
                raise StoreBusy(busy_message()) from None
            raise
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        try:
            self.conn.execute("COMMIT")
        except BaseException as exc:
            self.rollback()
            if is_locked(exc):
                raise StoreBusy(busy_message()) from None
            raise

    def execute(self, sql, parameters=None):
        try:
            return super().execute(sql, parameters)
        except Exception as exc:
            if is_locked(exc):
                raise StoreBusy(busy_message()) from None
            raise


def _pragmas(db: sqlite_utils.Database) -> None:
    db.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
    register_functions(db.conn)


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


def beijing_iso(text: str | None) -> str | None:
    """A stored UTC time as ISO 8601 in 北京时间 (``…+08:00``), for JSON
    people read; None when absent, the value itself when malformed."""
    moment = parse_utc(text)
    if moment is None:
        return text or None
    return moment.astimezone(BEIJING).isoformat(timespec="seconds")


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
    if ":" in host:                     # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:                  # a port out of range: not a port
        port = None
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
    import sqlite3
    if path != ":memory:" and os.path.isdir(path):
        raise StoreError(f"{path} 是一个目录，不是数据库文件")
    db = Store(sqlite3.connect(path, timeout=BUSY_TIMEOUT))
    try:
        _pragmas(db)
        if path != ":memory:" and db.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.enable_wal()
        db.conn.execute("PRAGMA synchronous = NORMAL")
        migrations.apply(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        if is_locked(exc):
            raise StoreBusy(busy_message()) from None
        raise StoreError(f"{path} 不是 certwatch 数据库（无法作为 SQLite 数据库打开：{exc}）") from None
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
    conn = sqlite3.connect(os.fspath(path), check_same_thread=False,   # one request, any thread
                           timeout=BUSY_TIMEOUT)
    db = Store(conn)
    _pragmas(db)
    return db
