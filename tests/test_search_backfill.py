"""A store made before the trigram keyword index (findings_tri) existed:
opening it creates the index empty and records its backlog; searches are
complete at once (the backlog is read through findings_fts, and row by row
where that is stale); the console indexes the backlog in the background
and says so on the queue; `certwatch db reindex` does it from the command
line, in transactions that a crash cannot leave half done; afterwards the
index is what a fresh build gives."""
from __future__ import annotations

import random
import sqlite3
import subprocess
import sys

from fastapi.testclient import TestClient

from helpers import ROOT, add_users, cli
from pipelines import store
from reports.console import web
from reports.console.app import create_app

WORDS = ["低压电工证", "焊工证", "塔吊司机证", "叉车证", "不用考试", "包过", "官网可查"]
KEYWORDS = ["wx00017", "ｗｘ-00017", "塔吊司机", "官网可查", "焊工证包过", "qq-555", "新写入的", "改过的正文", "旧正文"]


def _items(n, rng, start=0):
    return [{"url": f"http://x{i % 7}.cn/item/{i}.html", "platform": "taohuo", "title": " ".join(rng.sample(WORDS, 2)),
             "text": "，".join(rng.sample(WORDS, 3)) + f" 微信：Ｗｘ-{i:05d}", "flagged": True,
             "score": rng.randrange(100)} for i in range(start, start + n)]


def make_old_store(path, n, *, other_writer=True):
    """A store as certwatch left it before findings_tri: ``n`` findings
    indexed for search (findings_fts), and, with ``other_writer``, three
    written by another program (in search_dirty: one new, one whose text
    changed, so its findings_fts row is stale)."""
    db = store.connect(path)
    store.insert_new_findings(db, _items(n, random.Random(8)))
    if other_writer:
        db.execute("UPDATE findings SET text = '旧正文' WHERE id = 3")
        store.refresh_search_index(db)
        db.execute("INSERT INTO findings (url, title, text, status, flagged, score) VALUES"
                   " ('http://other.cn/1', '别的程序', '别的程序新写入的 QQ-555', 'flagged', 1, 50)")
        db.execute("UPDATE findings SET text = '改过的正文' WHERE id = 2")
        db.execute("UPDATE findings SET text = '后来的内容' WHERE id = 3")     # findings_fts still says 旧正文
        assert store.pending_search_updates(db) == 3
    db.execute("DROP TRIGGER findings_tri_ad")
    db.execute("DROP TABLE findings_tri")
    db.execute("DROP TABLE search_backfill")
    db.execute("DELETE FROM _sqlite_migrations WHERE name IN ('m_speed_3_trigram_search', 'm_speed_5_search_backfill')")
    db.conn.commit()
    db.close()


def reference(db, keyword):
    """Ids of the findings whose own text holds the keyword (no index)."""
    needle = store.keyword_needle(keyword)
    return [r[0] for r in db.execute("SELECT id FROM findings WHERE cw_has_keyword(?, title, text, url, seller, keyword)"
                                     " ORDER BY id", [needle])]


def searched(db, keyword):
    return store.keyword_matches(db, store.search_query(keyword), None, first=10 ** 6)


def fresh_build(db):
    return db.execute("SELECT id, cw_trigram_text(title, text, url, seller, keyword) FROM findings ORDER BY id").fetchall()


def index_rows(db):
    return db.execute("SELECT rowid, body FROM findings_tri ORDER BY rowid").fetchall()


def assert_index_is_fresh(db):
    assert store.search_backlog(db) is None
    assert index_rows(db) == fresh_build(db)
    db.execute("INSERT INTO findings_tri (findings_tri) VALUES ('integrity-check')")


def test_old_store_is_searched_completely_at_once_and_indexed_in_the_background(tmp_path):
    path = str(tmp_path / "old.db")
    make_old_store(path, 400)
    db = store.connect(path)                      # the upgrade: no finding is indexed here
    assert db.execute("SELECT COUNT(*) FROM findings_tri").fetchone()[0] == 0
    backlog = store.search_backlog(db)
    assert backlog["table"] == "findings_tri" and backlog["done"] == 0 and backlog["high_id"] == 401
    for keyword in KEYWORDS:
        assert store.search_query(keyword)[0] == "findings_tri"
        assert searched(db, keyword) == reference(db, keyword), keyword
    assert searched(db, "旧正文") == [] and searched(db, "改过的正文") == [2] and searched(db, "新写入的") == [401]
    # Written after the upgrade, as today: indexed with the write, found at once.
    store.record_findings(db, [{"url": "http://x5.cn/item/5.html", "title": "改名了 焊工证包过", "flagged": True},
                               {"url": "http://later.cn/1", "title": "升级后新写入的", "text": "QQ 555", "flagged": True}],
                          None)
    for keyword in KEYWORDS:
        assert searched(db, keyword) == reference(db, keyword), keyword
    store.refresh_search_index(db)                 # what create_app would do, so the held lock below blocks nobody else
    add_users(db, "rev")
    token = "a-reviewer-session-token-0123456789"   # a session as logging in makes one (a write)
    store.create_session(db, web.token_hash(token), store.get_user(db, name="rev")["id"], "csrf", "2999-01-01T00:00:00Z")
    db.close()

    # The console starts while another program holds the write lock: its
    # backfill waits, the queue answers completely and says the index is being built.
    holder = sqlite3.connect(path)
    holder.execute("BEGIN IMMEDIATE")
    app = create_app(path)
    try:
        assert app.state.backfill is not None
        client = TestClient(app)
        client.cookies.set(web.SESSION_COOKIE, token)
        page = client.get("/queue", params={"status": "", "keyword": "wx00017"})
        assert "关键词索引建立中（已完成 0%），结果完整但较慢" in page.text
        assert page.text.count('data-item="finding:') == 1 and 'data-item="finding:18"' in page.text
        assert "关键词索引建立中" not in client.get("/queue").text      # no keyword: no note
    finally:
        holder.rollback()
        holder.close()
    app.state.backfill.thread.join(60)
    assert not app.state.backfill.thread.is_alive()
    db = store.connect(path)
    try:
        assert_index_is_fresh(db)
        for keyword in KEYWORDS:
            assert searched(db, keyword) == reference(db, keyword), keyword
        assert "关键词索引建立中" not in client.get("/queue", params={"status": "", "keyword": "wx00017"}).text
    finally:
        db.close()
    assert store.search_backlog(store.connect(str(tmp_path / "new.db"))) is None     # a new store has none


def test_reindex_killed_midway_loses_nothing_and_resumes(tmp_path, capsys):
    path = str(tmp_path / "old.db")
    make_old_store(path, 5000, other_writer=False)
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "db", "reindex", "--db", path, "--chunk", "10"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert "关键词索引：已完成" in proc.stderr.readline()
        holder = sqlite3.connect(path, timeout=30)
        holder.execute("BEGIN IMMEDIATE")          # between two of its transactions: it waits for the lock …
        proc.kill()                                # … and dies there
        proc.wait(30)
        holder.rollback()
        holder.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    db = store.connect(path)
    try:
        backlog = store.search_backlog(db)
        assert backlog is not None and 10 < backlog["next_id"] <= 5000
        indexed = index_rows(db)
        assert indexed == fresh_build(db)[:backlog["next_id"] - 1]      # every finding before the mark, nothing after
        for keyword in ("wx00017", "ｗｘ-04321", "塔吊司机"):
            assert searched(db, keyword) == reference(db, keyword), keyword
    finally:
        db.close()
    code, out, _ = cli(capsys, "db", "reindex", "--db", path, "--quiet")      # resumes where it died
    assert code == 0 and "关键词索引已是最新" in out
    db = store.connect(path)
    try:
        assert_index_is_fresh(db)
    finally:
        db.close()
    code, out, _ = cli(capsys, "db", "reindex", "--db", path)
    assert code == 0 and "无需重建" in out
    code, _, err = cli(capsys, "db", "reindex", "--db", str(tmp_path / "typo.db"))     # no new empty store
    assert code == 2 and "数据库文件不存在" in err and not (tmp_path / "typo.db").exists()
