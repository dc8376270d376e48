"""What keeps the console's pages flat as the store grows (issue 17, item 2):
the takedown candidate set kept by triggers, the trigram keyword index and
the row-by-row keyword filter, the date-range queue that walks the score
order, grouped chart series, the bulk loader and the stats page's bounded
item lists. Each is checked against the plain scan it replaces."""
from __future__ import annotations

import datetime
import random
import re
import unicodedata

from fastapi.testclient import TestClient

from helpers import add_users, logged_in
from pipelines import store
from reports import charts, stats
from reports.console.app import create_app
from reports.periods import make_period

WORDS = ["低压电工证", "焊工证", "塔吊司机证", "叉车证", "不用考试", "包过", "官网可查"]


def _items(n, rng, start=0):
    return [{"url": f"http://x{i % 7}.cn/item/{i}.html", "platform": rng.choice(["taohuo", "gongyou", ""]),
             "family": rng.choice(["special_operation", ""]), "title": " ".join(rng.sample(WORDS, 2)),
             "text": "，".join(rng.sample(WORDS, 3)) + f" 微信：Ｗｘ-{i:05d}", "flagged": rng.random() < 0.6,
             "score": rng.randrange(100), "contacts": {"wechat": [f"wx{i:05d}"]}} for i in range(start, start + n)]


def _pending_scan(db):
    """The takedown candidates by the definition (store.takedown_candidates before the table)."""
    marks = ", ".join("?" * len(store.REQUESTABLE_STATUSES))
    return {(r[0], r[1]) for r in db.execute(
        f"SELECT id, platform FROM findings WHERE status IN ({marks})"
        " AND id NOT IN (SELECT finding_id FROM takedown_items)"
        " AND id IN (SELECT finding_id FROM decisions WHERE action IN ('confirm', 'refer')"
        " AND finding_id IS NOT NULL)", list(store.REQUESTABLE_STATUSES))}


def test_takedown_candidates_follow_every_write(fresh_db):
    db = fresh_db
    rng = random.Random(4)
    ids = [r.id for r in store.record_findings(db, _items(80, rng), None)]
    kept = lambda: {(r[0], r[1]) for r in db.execute("SELECT finding_id, platform FROM takedown_pending")}  # noqa: E731
    store.add_decisions(db, "审核员", "confirm", ids[:30])
    store.add_decisions(db, "审核员", "refer", ids[30:40])
    store.add_decision(db, "审核员", "dismiss", "误报", finding_id=ids[41])
    assert kept() == _pending_scan(db) and len(kept()) == 40
    store.add_decision(db, "审核员", "undo", finding_id=ids[0])              # pending again: not a candidate
    assert kept() == _pending_scan(db)
    batch = store.create_takedown(db, "taohuo", "监测员")
    assert batch and kept() == _pending_scan(db)
    assert not [p for _, p in kept() if p == "taohuo"]
    item = store.takedown_items(db, batch)[0]
    store.add_takedown_check(db, item["id"], "removed", "HTTP 404")
    db.execute("UPDATE findings SET platform = 'gongyou' WHERE id = ?", [ids[5]])     # moved platform
    db.execute("DELETE FROM takedown_items WHERE id = ?", [item["id"]])             # out of its batch again
    db.execute("DELETE FROM findings WHERE id = ?", [ids[6]])
    assert kept() == _pending_scan(db)
    counts = store.takedown_candidate_counts(db)
    assert counts == {p: len(store.takedown_candidates(db, p)) for p in counts}
    assert counts["taohuo"] == len([1 for _, p in _pending_scan(db) if p == "taohuo"])


def _folded_reference(db, keyword):
    """Findings whose searchable text, NFKC-folded and lower-cased with
    everything but letters and digits dropped, contains the keyword so folded."""
    def fold(text):
        return "".join(c for c in unicodedata.normalize("NFKC", text or "").lower() if c.isalnum())
    needle = fold(keyword)
    return {r[0] for r in db.execute("SELECT id, title, text, url, seller, keyword FROM findings")
            if needle in fold(" ".join(v or "" for v in r[1:]))}


def test_keyword_index_short_and_trigram_agree_with_the_text(fresh_db):
    db = fresh_db
    ids = [r.id for r in store.record_findings(db, _items(150, random.Random(6)), None)]
    # Long keywords go to the trigram table, short ones to the per-character one.
    assert store.search_query("wx00017")[0] == "findings_tri" and store.search_query("塔吊")[0] == "findings_fts"
    for keyword in ("塔吊", "焊", "wx00017", "ＷＸ-0001", "证，叉车", "考试包过", "x3.cn/item/3"):
        expected = _folded_reference(db, keyword)
        assert expected, keyword
        match = store.search_query(keyword)
        assert set(store.keyword_matches(db, match, None, first=10_000)) == expected, keyword
        assert {i for i in expected if store.has_keyword(store.keyword_needle(keyword), *db.execute(
            "SELECT title, text, url, seller, keyword FROM findings WHERE id = ?", [i]).fetchone())} == expected
    # Rewritten and deleted findings leave both tables with the new text only.
    changed = dict(_items(1, random.Random(6), start=17)[0], title="全新标题 qq987654", text="", flagged=True)
    store.record_findings(db, [changed], None)
    assert store.keyword_matches(db, store.search_query("wx00017"), None) == []          # its old text is gone
    assert store.keyword_matches(db, store.search_query("item/17."), None) == [ids[17]]  # its URL is kept
    assert store.keyword_matches(db, store.search_query("qq987654"), None) == [ids[17]]
    assert store.keyword_matches(db, store.search_query("塔吊司机"), None, first=10_000) == sorted(
        _folded_reference(db, "塔吊司机"))
    db.execute("DELETE FROM findings WHERE id = ?", [ids[17]])
    assert store.keyword_matches(db, store.search_query("qq987654"), None) == []
    assert db.execute("SELECT COUNT(*) FROM findings_tri").fetchone()[0] == 149


def test_common_keyword_walks_the_queue_with_the_same_rows(fresh_db):
    db = fresh_db
    store.record_findings(db, _items(300, random.Random(8)), None)
    for keyword in ("塔吊", "塔吊司机"):
        f = store.QueueFilter(status="", keyword=keyword)
        few, many = store.keyword_plan(db, f), store.keyword_plan(db, f, cap=5)
        assert few[0] == "ids" and many[0] == "probe"
        pages = [[(r["kind"], r["id"]) for r in store.review_queue(db, f, limit=40, offset=20, count=False,
                                                                   plan=plan)[0]] for plan in (few, many)]
        assert pages[0] == pages[1] and len(pages[0]) == 40
        exact, bounded = store.queue_counts(db, f, plan=few), store.queue_counts(db, f, plan=many)
        assert not exact.capped and all(bounded[s] <= exact[s] for s in bounded)


def test_date_range_over_the_cap_walks_the_score_order(fresh_db):
    db = fresh_db
    rng = random.Random(9)
    store.insert_new_findings(db, [dict(i, flagged=True) for i in _items(store.DATE_SORT_CAP + 200, rng)])
    day = db.execute("SELECT first_seen FROM findings LIMIT 1").fetchone()[0][:10]
    old = db.execute("SELECT id FROM findings ORDER BY score DESC, id DESC LIMIT 3").fetchall()
    for (fid,) in old:                                   # the best three were first seen years ago
        store.restamp(db, "findings", fid, "first_seen", "2001-05-01T00:00:00.000000Z")
    wide = store.QueueFilter(date_from=day, date_to="2999-01-01")
    narrow = store.QueueFilter(date_from="2001-01-01", date_to="2002-01-01")
    assert store.review_queue(db, store.QueueFilter(date_from="2000-01-01", date_to="2999-01-01"), limit=1)[1] \
        > store.DATE_SORT_CAP
    expected = [r[0] for r in db.execute(
        "SELECT id FROM findings WHERE first_seen >= ? AND status = 'flagged' ORDER BY score DESC, id DESC"
        " LIMIT 30 OFFSET 60", [day])]
    assert [r["id"] for r in store.review_queue(db, wide, limit=30, offset=60)[0]] == expected
    assert [r["id"] for r in store.review_queue(db, narrow, limit=10)[0]] == [fid for (fid,) in old]
    counts = store.queue_counts(db, wide)
    assert counts["pending"] == store.COUNT_CAP and "pending" in counts.capped


def test_bulk_loader_skips_known_urls_and_keeps_counters(fresh_db):
    db = fresh_db
    rng = random.Random(2)
    first = store.record_findings(db, _items(10, rng), None)
    n = store.insert_new_findings(db, _items(30, rng))           # ten of these URLs are stored already
    assert n == 20 and store.count_findings(db) == 30
    assert store.find_by_url(db, "http://x3.cn/item/3.html")["id"] == first[3].id
    assert store.pending_search_updates(db) == 0
    assert store.keyword_matches(db, store.search_query("wx00029"), None) == \
        [store.find_by_url(db, "http://x1.cn/item/29.html")["id"]]
    kept = {(s, p, f): n for s, p, f, n in db.execute("SELECT * FROM finding_counts WHERE n != 0")}
    assert kept == {(s, p, f): n for s, p, f, n in db.execute(
        "SELECT status, platform, family, COUNT(*) FROM findings GROUP BY 1, 2, 3")}


def test_grouped_chart_series_and_bounded_stats_page(db_path):
    db = store.connect(db_path)
    add_users(db, "mon")
    store.insert_new_findings(db, _items(250, random.Random(3)))
    ids = [i for (i,) in db.execute("SELECT id FROM findings ORDER BY id")]
    store.add_decisions(db, "审核员", "confirm", ids)
    for platform in ("taohuo", "gongyou", ""):
        store.create_takedown(db, platform, "监测员")
    for batch in store.list_takedowns(db):
        store.mark_takedown_sent(db, batch["id"], "监测员")
        for k, item in enumerate(store.takedown_items(db, batch["id"])):
            store.add_takedown_check(db, item["id"], "removed" if k % 9 else "still_present", "HTTP 404")
    checks = db.execute("SELECT id FROM takedown_checks WHERE result = 'removed' ORDER BY id").fetchall()
    today = datetime.date.today()
    store.restamp(db, "takedown_checks", checks[0][0], "checked_at",
                  f"{today - datetime.timedelta(days=3)} 10:00")             # not as now_utc() writes it
    span = f"{today - datetime.timedelta(days=400)}", f"{today + datetime.timedelta(days=30)}"
    period = make_period(*span)

    def first_removed_scan():
        return set(db.execute(
            "SELECT c.finding_id, c.id, c.checked_at FROM (SELECT MIN(id) AS cid FROM takedown_checks"
            " WHERE result = 'removed' GROUP BY finding_id) m JOIN takedown_checks c ON c.id = m.cid"
            " JOIN findings f ON f.id = c.finding_id").fetchall())
    assert set(db.execute("SELECT * FROM first_removed").fetchall()) == first_removed_scan()
    db.execute("UPDATE takedown_checks SET result = 'unknown' WHERE id = ?", [checks[1][0]])
    db.execute("DELETE FROM takedown_checks WHERE id = ?", [checks[2][0]])
    db.execute("DELETE FROM findings WHERE id = (SELECT finding_id FROM takedown_checks WHERE id = ?)", [checks[3][0]])
    assert set(db.execute("SELECT * FROM first_removed").fetchall()) == first_removed_scan()
    assert stats.compute(db, period, limit=7).counts() == stats.compute(db, period).counts()
    assert len(stats.compute(db, period, limit=7).computed["removed"]) == 7
    start, end = period.utc_range()
    data = charts.series(db, period, ("takedowns",))
    assert data["requested"] == charts._week_counter(store.takedown_sent_times(db, start, end))
    assert data["removed"] == charts._week_counter(r["at"] for r in store.stats_removed(db, start, end))
    removed = len(store.stats_removed(db, start, end))
    assert removed > 200
    db.close()
    client = TestClient(create_app(db_path))
    logged_in(client, "mon")
    page = client.get(f"/reports/stats?from={span[0]}&to={span[1]}").text
    assert re.findall(r'<td class="number">(\d+)</td>', page)[1] == str(removed)      # counted in full
    assert f"共 {removed} 条，此处列出前 200 条" in page
    items = re.findall(r"下架清单 #\d+ 复查确认已下架", page)
    assert len(items) == 200


def test_queue_neighbours_are_the_adjacent_items_of_the_whole_queue(fresh_db):
    db = fresh_db
    rng = random.Random(12)
    store.record_findings(db, [dict(i, flagged=True, score=rng.choice([40, 60, 80])) for i in _items(30, rng)], None)
    for j in range(12):          # sites share scores and ids with findings: ties broken by kind
        store.record_site(db, {"domain": f"cx-gov{j}.cn", "url": f"http://cx-gov{j}.cn/", "verdict": "fake_gov_site",
                               "score": rng.choice([40, 60, 80])})
    store.add_decision(db, "审核员", "confirm", finding_id=7)          # left the pending queue
    for f in (store.QueueFilter(), store.QueueFilter(status=""), store.QueueFilter(keyword="塔吊")):
        order = [(r["kind"], r["id"]) for r in store.review_queue(db, f, limit=1000)[0]]
        assert len(order) > 5
        for n, (kind, item_id) in enumerate(order):
            prev, nxt = store.queue_neighbours(db, f, kind, item_id)
            assert (prev and (prev["kind"], prev["id"])) == (order[n - 1] if n else None)
            assert (nxt and (nxt["kind"], nxt["id"])) == (order[n + 1] if n + 1 < len(order) else None)
        first = store.queue_first(db, f)
        assert (first["kind"], first["id"]) == order[0]
        assert (lambda r: (r["kind"], r["id"]))(store.queue_first(db, f, exclude=order[0])) == order[1]
    # A decided item keeps its place: its neighbours are those around its (score, id).
    f = store.QueueFilter()
    order = [(r["kind"], r["id"], r["score"]) for r in store.review_queue(db, f, limit=1000)[0]]
    score = store.get_finding(db, 7)["score"]
    after = [o for o in order if (-o[2], -o[1], o[0]) > (-score, -7, "finding")]        # the queue's order
    nxt = store.queue_neighbours(db, f, "finding", 7)[1]
    assert (nxt["kind"], nxt["id"]) == after[0][:2]
