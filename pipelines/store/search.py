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

Findings stored before an index existed are its backlog (search_backfill:
an id range), indexed by backfill_search_index in short transactions of a
few thousand rows (the console in the background, ``certwatch db
reindex``); until then keyword_matches reads the range through findings_fts
(and tests its rows in search_dirty one by one), so a search is complete, only slower.
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
    filters row by row); with cap None, the first ``first`` ids whatever the total.
    The index's backlog, if any, is read through findings_fts (complete, slower)."""
    limit = first if cap is None else cap + 1
    table, phrase = match
    if table not in ("findings_fts", "findings_tri"):
        raise ValueError(table)
    # The backlog's range first: a chunk the background indexer moves out of
    # it meanwhile is then in the index when the index is read (read the
    # other way round, a finding indexed between the two reads was in neither).
    gap = _backlog_range(db, table)
    ids = [r[0] for r in db.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? LIMIT ?",
                                    [phrase, limit]).fetchall()]
    if gap:
        ids = sorted(set(ids).union(_backlog_matches(db, _folded(phrase), gap, limit)))[:limit]
    return ids if cap is None or len(ids) <= cap else None


def _backlog_matches(db: sqlite_utils.Database, needle: str, gap: tuple[int, int], limit: int) -> list[int]:
    """The first ``limit`` ids in the backlog range ``gap`` whose text holds
    ``needle``: from findings_fts (one token per character: the same
    substring match, slower on common characters), which is current for
    every finding not in search_dirty; those in it are tested row by row."""
    stale = [r[0] for r in db.execute("SELECT finding_id FROM search_dirty WHERE finding_id BETWEEN ? AND ?", gap)]
    found = [r[0] for r in db.execute(
        "SELECT rowid FROM findings_fts WHERE findings_fts MATCH ? AND rowid BETWEEN ? AND ? ORDER BY rowid LIMIT ?",
        ['"' + " ".join(needle) + '"', gap[0], gap[1], limit + len(stale)]).fetchall()]
    if not stale:
        return found
    dirty = [r[0] for r in db.execute(     # their findings_fts rows may be stale: their own text decides
        "SELECT id FROM findings WHERE id IN (SELECT finding_id FROM search_dirty WHERE finding_id BETWEEN ? AND ?)"
        " AND cw_has_keyword(?, title, text, url, seller, keyword) ORDER BY id", [gap[0], gap[1], needle]).fetchall()]
    skip = set(stale)
    return sorted({i for i in found if i not in skip}.union(dirty))[:limit]


# ---- the backlog of an index created after its findings (m_speed_5_search_backfill)

BACKFILL_CHUNK = 2000     # findings per transaction: the write lock is held ~0.1-0.3 s


def record_backlog(db: sqlite_utils.Database) -> None:
    """Migration m_speed_5_search_backfill: the search_backfill table, one row
    per index with a backlog, its id range [next_id, high_id] still to index.
    findings_tri empty beside stored findings means m_speed_3 has just
    created it on a store made before it: its backlog is every finding so
    far (writes from now on are indexed as they happen). Reads three rows."""
    db.execute("CREATE TABLE search_backfill (name TEXT PRIMARY KEY, start_id INTEGER NOT NULL,"
               " next_id INTEGER NOT NULL, high_id INTEGER NOT NULL)")
    # Two statements: SQLite answers a lone MIN or MAX from the index, both at once by a scan.
    low = db.execute("SELECT MIN(id) FROM findings").fetchone()[0]
    high = db.execute("SELECT MAX(id) FROM findings").fetchone()[0]
    if high is not None and db.execute("SELECT 1 FROM findings_tri LIMIT 1").fetchone() is None:
        db.execute("INSERT INTO search_backfill (name, start_id, next_id, high_id) VALUES ('findings_tri', ?, ?, ?)",
                   [low, low, high])


def _backlog_range(db: sqlite_utils.Database, table: str) -> tuple[int, int] | None:
    row = db.execute("SELECT next_id, high_id FROM search_backfill WHERE name = ? AND next_id <= high_id",
                     [table]).fetchone()
    return (row[0], row[1]) if row else None


def search_backlog(db: sqlite_utils.Database) -> dict | None:
    """The keyword index's backlog: {"table", "done" (0-100, by id range),
    "next_id", "high_id"}; None when every stored finding is indexed."""
    row = db.execute("SELECT name, start_id, next_id, high_id FROM search_backfill WHERE next_id <= high_id"
                     " ORDER BY name LIMIT 1").fetchone()
    if row is None:
        return None
    name, start, nxt, high = row
    done = int(100 * (nxt - start) / max(1, high - start + 1))
    return {"table": name, "done": min(99, max(0, done)), "next_id": nxt, "high_id": high}


def backfill_search_index(db: sqlite_utils.Database, chunk: int = BACKFILL_CHUNK,
                          limit: int | None = None) -> int:
    """Index up to ``limit`` findings of the backlog (all with None), oldest
    first, ``chunk`` per transaction: each transaction writes its rows and
    moves the range's start, so an interrupted backfill loses nothing and
    resumes where it stopped. A finding already indexed when it was written
    again is kept. Returns how many findings were indexed."""
    done = covered = 0
    chunk = max(1, int(chunk))
    while limit is None or covered < limit:
        size = chunk if limit is None else min(chunk, limit - covered)
        with db.atomic():
            row = db.execute("SELECT name, next_id, high_id FROM search_backfill WHERE next_id <= high_id"
                             " ORDER BY name LIMIT 1").fetchone()
            if row is None:
                break
            table, low, high = row
            if table != "findings_tri":
                raise ValueError(table)
            end = db.execute("SELECT id FROM findings WHERE id BETWEEN ? AND ? ORDER BY id LIMIT 1 OFFSET ?",
                             [low, high, size - 1]).fetchone()
            end = high if end is None else end[0]
            cur = db.execute(
                "INSERT INTO findings_tri (rowid, body) SELECT id, cw_trigram_text(title, text, url, seller, keyword)"
                " FROM findings WHERE id BETWEEN ? AND ?"
                " AND id NOT IN (SELECT rowid FROM findings_tri WHERE rowid BETWEEN ? AND ?)", [low, end, low, end])
            db.execute("UPDATE search_backfill SET next_id = ? WHERE name = ?", [end + 1, table])
            done += max(0, cur.rowcount)
            covered += size
    return done
