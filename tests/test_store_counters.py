"""What the console reads instead of scanning findings: counters and
aggregates kept by triggers, the keyword index written with the findings,
both ways of filtering by keyword, bulk decisions in one transaction."""
import random

from pipelines import store


def _items(n, rng):
    words = ["低压电工证", "焊工证", "塔吊司机证", "叉车证", "不用考试", "包过", "微信"]
    return [{"url": f"http://x{i % 7}.cn/item/{i}.html", "platform": rng.choice(["taohuo", "gongyou", ""]),
             "family": rng.choice(["special_operation", "construction", ""]), "title": " ".join(rng.sample(words, 2)),
             "text": "，".join(rng.sample(words, 3)) + f" wx{i:05d}", "flagged": rng.random() < 0.6,
             "score": rng.randrange(100)} for i in range(n)]


def _scanned(db):
    counts = {(s or "", p or "", f or ""): n for s, p, f, n in db.execute(
        "SELECT status, platform, family, COUNT(*) FROM findings GROUP BY 1, 2, 3")}
    kept = {(s, p, f): n for s, p, f, n in db.execute("SELECT * FROM finding_counts WHERE n != 0")}
    return counts, kept


def test_counters_follow_every_write(fresh_db):
    rng = random.Random(3)
    db = fresh_db
    ids = [r.id for r in store.record_findings(db, _items(120, rng), None)]
    # Re-seen with another judgement, decided one by one and in bulk, batched, checked, deleted.
    store.record_findings(db, [dict(i, flagged=not i["flagged"]) for i in _items(40, random.Random(3))], 1)
    store.add_decision(db, "审核员", "dismiss", "误报", finding_id=ids[0])
    store.add_decisions(db, "审核员", "confirm", [i for i in ids[1:60] if rng.random() < 0.7])
    store.create_takedown(db, "taohuo", "监测员")
    item = store.takedown_items(db, store.list_takedowns(db)[0]["id"])[0]
    store.add_takedown_check(db, item["id"], "removed", "HTTP 404")
    db.execute("DELETE FROM findings WHERE id = ?", [ids[-1]])
    counts, kept = _scanned(db)
    assert kept == counts
    # The weekly chart's aggregate: flagged findings per platform and hour.
    hours = {}
    for seen, platform in db.execute("SELECT first_seen, platform FROM findings WHERE flagged = 1"):
        hours[(seen[:13], platform or "")] = hours.get((seen[:13], platform or ""), 0) + 1
    got = {(k, p): n for k, p, n in store.flagged_hour_counts(db, "2000-01-01T00:00:00Z", "2999-01-01T00:00:00Z")}
    assert got == hours
    # Queue counts from the counters equal a scan's.
    assert store.queue_counts(db, store.QueueFilter(status="")) == {
        ("pending" if s == "flagged" else s): n for s, n in db.execute(
            "SELECT status, COUNT(*) FROM findings WHERE status != 'new' GROUP BY status")}


def test_keyword_search_indexed_at_write_time_both_plans_agree(fresh_db):
    db = fresh_db
    store.record_findings(db, _items(200, random.Random(5)), None)
    assert store.pending_search_updates(db) == 0        # nothing left for the console's start-up
    expected = {r[0] for r in db.execute(
        "SELECT id FROM findings WHERE status = 'flagged' AND (title LIKE '%塔吊%' OR text LIKE '%塔吊%')")}
    f = store.QueueFilter(keyword="塔吊")
    few = store.keyword_plan(db, f)                     # under the cap: the matching ids
    many = store.keyword_plan(db, f, cap=3)             # over it: probe the index row by row
    assert few[0] == "ids" and many[0] == "probe"
    pages = []
    for plan in (few, many):
        rows, _ = store.review_queue(db, f, limit=500, count=False, plan=plan)
        pages.append([r["id"] for r in rows])
        assert {r["id"] for r in rows if r["kind"] == "finding"} == expected
    assert pages[0] == pages[1]
    assert store.queue_counts(db, f, plan=few) == {"pending": len(expected)}
    capped = store.queue_counts(db, f, plan=many)
    assert capped["pending"] == min(len(expected), store.COUNT_CAP)
    # A part of a WeChat ID finds it (substring search).
    rows, _ = store.review_queue(db, store.QueueFilter(status="", keyword="x00017"), count=False)
    assert [r["url"] for r in rows] == ["http://x3.cn/item/17.html"]


def test_bulk_decisions_match_single_ones(fresh_db):
    db = fresh_db
    ids = [r.id for r in store.record_findings(db, _items(6, random.Random(1)), None)]
    decided, missing, _ = store.add_decisions(db, "审核员", "confirm", [ids[0], ids[1], 999999], site_ids=[4242])
    assert decided == [("finding", ids[0]), ("finding", ids[1])]
    assert missing == [("finding", 999999), ("site", 4242)]
    store.add_decision(db, "审核员", "confirm", finding_id=ids[2])
    rows = [store.decisions_for(db, finding_id=i)[0] for i in ids[:3]]
    assert [(r["action"], r["category"], r["user"]) for r in rows] == [("confirm", "illicit_info", "审核员")] * 3
    assert {store.get_finding(db, i)["status"] for i in ids[:3]} == {"confirmed"}
    try:
        store.add_decisions(db, "审核员", "dismiss", ids[3:])
    except store.StoreError as exc:
        assert "理由" in str(exc)
    else:
        raise AssertionError("a dismissal without a note was accepted")
    assert {store.get_finding(db, i)["status"] for i in ids[3:]} <= {"new", "flagged"}
