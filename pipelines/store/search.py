"""The keyword search index (findings_fts, FTS5): title, text, URL, seller
and keyword of each finding with every character a token (search_text), so
an FTS5 phrase of characters is a substring match — Chinese has no spaces,
and a WeChat ID is found by any part of it. findings_tri holds the same
text folded to letters and digits under FTS5's trigram tokenizer: keywords
of three characters or more are looked up there (a phrase of common
characters, such as digits, would read long per-character doclists).

The index is written with the findings (record_findings calls
index_findings in the same transaction); triggers mark findings changed by
any other writer in search_dirty, and refresh_search_index catches those up.
"""
from __future__ import annotations

import re
import sqlite3
import unicodedata

import sqlite_utils

# A keyword matching more findings than this is "common": the queue walks its
# own score order and probes the index per row instead of listing every match.
MATCH_CAP = 20_000


def search_text(value: str) -> str:
    """NFKC-folded and lower-cased, every character a token of its own."""
    return " ".join(unicodedata.normalize("NFKC", value or "").lower())


def search_query(keyword: str) -> tuple[str, str] | None:
    """(FTS5 table, MATCH phrase) for ``keyword``; None if it has no letter
    or digit. Three characters or more: findings_tri, whose trigrams keep a
    phrase of common characters (a WeChat ID of digits) from reading long
    doclists; one or two: findings_fts, one token per character."""
    chars = [c for c in unicodedata.normalize("NFKC", keyword or "").lower() if c.isalnum()]
    if not chars:
        return None
    needle = keyword_needle(keyword)
    if len(needle) >= TRIGRAM_MIN:
        return ("findings_tri", '"' + needle + '"')
    return ("findings_fts", '"' + " ".join(chars) + '"')


TRIGRAM_MIN = 3


_NOT_ALNUM = re.compile(r"[\W_]+")


def _folded(value: str) -> str:
    """NFKC-folded, lower-cased, letters and digits only: what an FTS5
    phrase of search_query's characters matches a substring of."""
    return _NOT_ALNUM.sub("", unicodedata.normalize("NFKC", value or "").lower())


def has_keyword(needle: str, *fields: str | None) -> int:
    """SQL function cw_has_keyword(needle, title, text, url, seller, keyword):
    1 if the finding matches the keyword whose _folded form is ``needle``, as
    its findings_fts row would (the queue walks its own order with this when
    a keyword matches too many findings to list)."""
    return 1 if needle and needle in _folded(" ".join(v for v in fields if isinstance(v, str))) else 0


def keyword_needle(keyword: str) -> str:
    return _folded(keyword)


def trigram_text(*fields: str | None) -> str:
    """What findings_tri holds for a finding: its searchable fields _folded
    into one run of letters and digits (a substring of it is a match)."""
    return _folded(" ".join(v for v in fields if isinstance(v, str)))


def register_functions(conn: sqlite3.Connection) -> None:
    """The store's SQL functions, on every connection (connect, open_db)."""
    conn.create_function("cw_has_keyword", -1, has_keyword, deterministic=True)
    conn.create_function("cw_trigram_text", -1, trigram_text, deterministic=True)


_ROW = "SELECT f.id, f.title, f.text, f.url, f.seller, f.keyword FROM findings f"


def _write(db: sqlite_utils.Database, ids: list[int], rows: list) -> None:
    present = {r[0] for r in rows}
    db.conn.executemany("DELETE FROM findings_fts WHERE rowid = ?", [(i,) for i in ids if i not in present])
    db.conn.executemany("DELETE FROM findings_tri WHERE rowid = ?", [(i,) for i in ids if i not in present])
    db.conn.executemany("REPLACE INTO findings_fts (rowid, body) VALUES (?, ?)",
                        [(r[0], search_text(" ".join(v or "" for v in r[1:]))) for r in rows])
    db.conn.executemany("REPLACE INTO findings_tri (rowid, body) VALUES (?, ?)",
                        [(r[0], trigram_text(*r[1:])) for r in rows])
    db.conn.executemany("DELETE FROM search_dirty WHERE finding_id = ?", [(i,) for i in ids])


def index_findings(db: sqlite_utils.Database, ids: list[int]) -> None:
    """Index these findings now, if their searchable text changed (the
    caller's transaction; see record_findings)."""
    dirty = []
    for k in range(0, len(ids), 500):
        part = ids[k:k + 500]
        dirty += [r[0] for r in db.execute(
            "SELECT finding_id FROM search_dirty WHERE finding_id IN (%s)" % ",".join("?" * len(part)), part)]
    for k in range(0, len(dirty), 500):
        part = dirty[k:k + 500]
        rows = db.execute(_ROW + " WHERE f.id IN (%s)" % ",".join("?" * len(part)), part).fetchall()
        _write(db, part, rows)


def refresh_search_index(db: sqlite_utils.Database, batch: int = 5000, limit: int | None = None) -> int:
    """Index findings changed by writers other than record_findings since the
    last call (at most ``limit``); returns how many."""
    done = 0
    while limit is None or done < limit:
        size = batch if limit is None else min(batch, limit - done)
        ids = [r[0] for r in db.execute("SELECT finding_id FROM search_dirty ORDER BY finding_id LIMIT ?",
                                        [size]).fetchall()]
        if not ids:
            break
        with db.atomic():
            rows = db.execute(_ROW + " JOIN search_dirty d ON d.finding_id = f.id WHERE d.finding_id"
                              " BETWEEN ? AND ?", [ids[0], ids[-1]]).fetchall()
            _write(db, ids, [r for r in rows if r[0] in set(ids)])
        done += len(ids)
    return done


def pending_search_updates(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT COUNT(*) FROM search_dirty").fetchone()[0]


def keyword_matches(db: sqlite_utils.Database, match: tuple[str, str], cap: int | None = MATCH_CAP,
                    first: int = MATCH_CAP) -> list[int] | None:
    """Ids of the findings matching search_query's (table, phrase) in
    ascending order, or None when more than ``cap`` do (the caller then
    filters row by row); with cap None, the first ``first`` ids whatever the total."""
    limit = first if cap is None else cap + 1
    table, phrase = match
    if table not in ("findings_fts", "findings_tri"):
        raise ValueError(table)
    ids = [r[0] for r in db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?",
                                    [phrase, limit]).fetchall()]
    return ids if cap is None or len(ids) <= cap else None
