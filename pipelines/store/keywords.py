"""The keyword library (keywords, keyword_imports): imports, filters,
enable/disable, and the library's files: import (parsed by keywords.library),
export and the jieba user dictionary (written atomically beside the database).
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from typing import Iterable

import sqlite_utils

from keywords import data_path, default_keywords, library, userdict_words

from .db import db_path, now_utc, StoreError, _dumps, _loads


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


# The default library (keywords/default_keywords.yaml): its rows' source and
# the format of its import records.
DEFAULTS_SOURCE = "默认关键词库"
DEFAULTS_FORMAT = "defaults"


def defaults_loaded(db: sqlite_utils.Database) -> bool:
    """Has this library ever held the default library (any row from it, or a
    record of loading it)? Rows are never deleted, so once true it stays true."""
    return bool(db.execute(
        "SELECT EXISTS (SELECT 1 FROM keywords WHERE source = ?)"
        " OR EXISTS (SELECT 1 FROM keyword_imports WHERE format = ?)", [DEFAULTS_SOURCE, DEFAULTS_FORMAT]).fetchone()[0])


def load_default_keywords(db: sqlite_utils.Database, user: str) -> dict:
    """Add the default library's keywords the library lacks (same term and
    kind: the library's row stays, so a disabled default stays disabled),
    recorded as an import of 默认关键词库. Returns the import's counts."""
    rows = default_keywords()
    digest = hashlib.sha256(data_path("default_keywords.yaml").read_bytes()).hexdigest()
    counts = import_keywords(db, rows, {"user": user, "file_name": DEFAULTS_SOURCE, "format": DEFAULTS_FORMAT,
                                        "sha256": digest, "rows": len(rows)})
    return {**counts, "rows": len(rows)}


def ensure_default_keywords(db: sqlite_utils.Database, user: str = "certwatch（首次使用自动装入）") -> dict | None:
    """The rule: the default library loads by itself once, the first time a
    library that has never held it is used — a keyword file import (after the
    file's rows), a sweep, ``keywords queries`` — whatever came before. After
    that only ``certwatch keywords defaults`` adds it again; disabling its
    keywords (``keywords defaults --disable``) is how a user removes them.
    Returns the import's counts when it loaded, else None."""
    if defaults_loaded(db):
        return None
    return load_default_keywords(db, user)


def set_default_keywords_active(db: sqlite_utils.Database, active: bool) -> int:
    """Disable (or enable again) every keyword that came from the default
    library; how many changed. Disabled, they stay in the library (and the
    library never loads the defaults by itself again). A library that never
    held them loads them first: `keywords defaults --disable` as the first
    command must not leave the very next use to load them, active."""
    ensure_default_keywords(db)
    with db.atomic():
        return db.execute("UPDATE keywords SET active = ?, updated_at = ? WHERE source = ? AND active != ?",
                          [int(active), now_utc(), DEFAULTS_SOURCE, int(active)]).rowcount


def import_file(db: sqlite_utils.Database, path: str, user: str = "", defaults: dict | None = None,
                name: str | None = None, with_defaults: bool = False) -> dict:
    """Parse ``path`` (keywords.library.parse_file) and import its good rows in
    one transaction, recording the import. ``with_defaults`` (a person's
    import: the CLI, the console): then, in a library that never held the
    default library, load it (ensure_default_keywords; the file's rows keep
    their department for terms both have). Returns counts, the error list and
    ``defaults`` (the default library's counts when it loaded, else None)."""
    parsed = library.parse_file(path, defaults, name)
    record = {"user": user, "file_name": parsed.file_name, "sha256": parsed.sha256,
              "format": parsed.format, "rows": parsed.total, "bad": len(parsed.errors),
              "errors": parsed.errors[:1000]}
    counts = import_keywords(db, parsed.rows, record)
    loaded = ensure_default_keywords(db) if with_defaults else None
    return {**counts, "rows": parsed.total, "bad": len(parsed.errors), "errors": parsed.errors,
            "sha256": parsed.sha256, "file_name": parsed.file_name, "defaults": loaded}


def export_file(db: sqlite_utils.Database, path: str, industry: str | None = None,
                department: str | None = None, kind: str | None = None, active: bool | None = None) -> int:
    """Write the filtered keywords to ``path`` (.xlsx / .csv / .txt); returns how many."""
    keywords = query_keywords(db, industry=industry, department=department, kind=kind, active=active)
    library.write_table(path, library.EXPORT_HEADERS, library.export_rows(keywords))
    return len(keywords)


def jieba_userdict(db: sqlite_utils.Database, path: str | None = None, freq: int = 20000) -> str:
    """Write a jieba user dictionary from the active library and return its
    path (default: ``jieba_userdict.txt`` beside the database). Load it with
    ``jieba.load_userdict(path)``."""
    if path is None:
        db_file = db_path(db)
        folder = os.path.dirname(os.path.abspath(db_file)) if db_file else tempfile.gettempdir()
        path = os.path.join(folder, "jieba_userdict.txt")
    from keywords.atomic import atomic_file
    with atomic_file(path, "w", encoding="utf-8") as fh:
        for line in userdict_words(query_keywords(db, active=True), freq):
            fh.write(line + "\n")
    return path
