"""Reviewing many items, in-process: undo (撤回) as an append-only decision
and what honours it (queue, fake-site statistics, takedown candidates,
labelled data), the queue's snippets and pages, the count-stating confirm
step of bulk decisions, 确认并下一条 in the filtered queue, WHOIS in
Beijing time, charts from 0, and listings linked to the sites they name
as a sweep stores them."""
from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient
from scrapy.utils.test import get_crawler

from helpers import add_users, logged_in
from pipelines import store
from pipelines.persist import StorePipeline, named_hosts
from reports import charts
from reports.console.app import create_app
from reports.periods import bimonthly


def _listing(n: int, score: int, platform: str = "gongyou", **extra) -> dict:
    return {"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": platform, "title": f"电工证代办 {n}",
            "text": f"第{n}帖。常年代办各类证书，低压电工证不用考试，人不到场，联系微信 wx{n:04d}。" + "另有说明。" * 30,
            "flagged": True, "score": score,
            "reasons": [{"code": "absent", "label": "人不到场", "weight": 2.0, "evidence": "人不到场"},
                        {"code": "no_exam", "label": "不用考试", "weight": 2.5, "evidence": "不用考试"}],
            **extra}


@pytest.fixture
def queue_db(db_path):
    """Twelve flagged forum posts (scores 90 … 68, two per score on the
    last ones) and two market posts; a reviewer and a read-only user."""
    db = store.connect(db_path)
    items = [_listing(n, 90 - 2 * n) for n in range(10)] + [_listing(10, 70), _listing(11, 70)] + \
            [_listing(20 + n, 95, platform="taohuo") for n in range(2)]
    ids = [r.id for r in store.record_findings(db, items, None)]
    add_users(db, "rev", "ro")
    yield db, ids
    db.close()


def test_undo_returns_to_pending_and_everything_counting_honours_it(queue_db):
    db, ids = queue_db
    a, b, c = ids[0], ids[1], ids[2]
    for fid in (a, b, c):
        store.add_decision(db, "rev", "confirm", finding_id=fid)
    with pytest.raises(store.StoreError, match="尚未处理"):
        store.add_decision(db, "rev", "undo", finding_id=ids[3])            # pending: nothing to undo
    store.add_decision(db, "rev", "undo", note="看错了", finding_id=a)
    assert store.get_finding(db, a)["status"] == "flagged"
    assert [d["action"] for d in store.decisions_for(db, finding_id=a)] == ["confirm", "undo"]
    counts = store.queue_counts(db, store.QueueFilter(platform="gongyou"))
    assert counts == {"pending": 10, "confirmed": 2}
    assert {f["id"] for f in store.takedown_candidates(db, "gongyou")} == {b, c}
    assert {r["id"] for r in store.reviewed_findings(db)} == {b, c}        # undone: no label any more
    # A takedown batch or a referral package fixes the decision.
    store.create_takedown(db, "gongyou", "mon")
    with pytest.raises(store.StoreError, match="下架"):
        store.add_decision(db, "rev", "undo", finding_id=b)
    store.add_decision(db, "rev", "dismiss", note="误报", finding_id=ids[4])
    store.add_decision(db, "rev", "undo", finding_id=ids[4])
    store.add_decision(db, "rev", "confirm", finding_id=ids[4])                # decided again
    assert store.get_finding(db, ids[4])["status"] == "confirmed"
    assert [r["label"] for r in store.reviewed_findings(db) if r["id"] == ids[4]] == [1]


def test_undo_in_fake_site_statistics(db_path):
    db = store.connect(db_path)
    first = store.record_site(db, {"domain": "cx-mem-gov.cn", "verdict": "fake_gov_site", "score": 90})
    second = store.record_site(db, {"domain": "cxmemgov.com", "verdict": "fake_gov_site", "score": 90})
    for sid in (first, second):
        store.add_decision(db, "rev", "confirm", site_id=sid)
    old = store.decisions_for(db, site_id=second)[0]["id"]
    store.restamp(db, "decisions", old, "at", "2000-01-01T00:00:00.000000Z")      # confirmed long ago …
    store.add_decision(db, "rev", "undo", site_id=first)
    store.add_decision(db, "rev", "undo", site_id=second)
    assert store.stats_fake_sites(db, "2000", "2100") == []                 # … both pending again
    store.add_decision(db, "rev", "confirm", site_id=second)                # … and confirmed now
    [row] = store.stats_fake_sites(db, "2001", "2100")
    assert row["domain"] == "cxmemgov.com" and row["at"] > "2001"
    store.create_referral(db, "区公安分局", [], [second], "rev")
    with pytest.raises(store.StoreError, match="移交单"):
        store.add_decision(db, "rev", "undo", site_id=second)
    db.close()


def _items(page: str) -> list[str]:
    return re.findall(r'data-item="([a-z]+:\d+)"', page)


def test_queue_snippets_pages_and_sizes(queue_db, db_path):
    db, ids = queue_db
    more = store.record_findings(db, [_listing(100 + n, 10 + n) for n in range(40)], None)
    client = TestClient(create_app(db_path))
    logged_in(client, "ro", "/queue")
    page = client.get("/queue?platform=gongyou&size=100").text
    assert len(_items(page)) == 52 and "page-number" not in page               # one page
    row = page.split(f'data-item="finding:{ids[0]}"')[1].split("</tr>")[0]
    snippet = html.unescape(re.search(r'<div class="snippet">(.*?)</div>', row, re.S).group(1))
    # The strongest reason (不用考试) with its context, marked; not the whole text.
    assert '<mark title="不用考试">不用考试</mark>' in snippet and "第0帖" in snippet and len(snippet) < 200
    assert f"/finding/{ids[0]}?status=pending&amp;platform=gongyou" in row       # the detail knows the queue
    page = client.get("/queue?platform=gongyou&size=10").text
    assert re.findall(r'class="page-number">(\d+)<|class="(gap)"', page) == [("2", ""), ("3", ""), ("", "gap"),
                                                                                ("6", "")]
    page = client.get("/queue?platform=gongyou&size=10&page=2").text
    assert _items(page) == [f"finding:{i}" for i in (ids[11], ids[10])] + \
        [f"finding:{r.id}" for r in reversed(more[-8:])]
    assert 'aria-current="page">2<' in page and 'rel="first"' in page and 'rel="last"' in page
    last = html.unescape(re.search(r'href="/queue\?([^"]+)" rel="last"', page).group(1))
    assert "page=6" in last and "size=10" in last
    assert _items(client.get("/queue?" + last).text) == [f"finding:{r.id}" for r in reversed(more[:2])]
    assert client.get("/queue?size=7&page=99").status_code == 200             # odd values fall back


def test_bulk_decisions_over_a_handful_ask_once_more(queue_db, db_path):
    db, ids = queue_db
    client = TestClient(create_app(db_path))
    token = logged_in(client, "rev", "/queue")
    chosen = [f"finding:{i}" for i in ids[:8]]
    r = client.post("/decide", data={"items": chosen, "action": "confirm", "csrf_token": token,
                                     "next": "/queue?platform=gongyou"}, follow_redirects=False)
    assert r.status_code == 200 and "将对选中的 <strong>8</strong> 条执行“确认”" in r.text
    assert all(store.get_finding(db, i)["status"] == "flagged" for i in ids[:8])     # nothing yet
    r = client.post("/decide", data={"items": chosen, "action": "confirm", "csrf_token": token, "confirmed": "1",
                                     "next": "/queue?platform=gongyou"}, follow_redirects=False)
    assert r.headers["location"] == "/queue?platform=gongyou&ok=8&fail=0"
    assert all(store.get_finding(db, i)["status"] == "confirmed" for i in ids[:8])
    r = client.post("/decide", data={"items": chosen[:5], "action": "undo", "csrf_token": token,
                                     "next": "/queue"}, follow_redirects=False)
    assert r.headers["location"] == "/queue?ok=5&fail=0"                      # a handful: at once


def test_confirm_and_next_follows_the_filtered_queue(queue_db, db_path):
    db, ids = queue_db
    client = TestClient(create_app(db_path))
    token = logged_in(client, "rev", "/queue")
    came_from = "status=pending&platform=gongyou"
    amp = came_from.replace("&", "&amp;")
    page = client.get(f"/finding/{ids[11]}?{came_from}").text                # score 70 twice: higher id first
    assert f'href="/finding/{ids[9]}?{amp}" id="prev-item"' in page
    assert f'href="/finding/{ids[10]}?{amp}" id="next-item"' in page
    page = client.get(f"/finding/{ids[10]}?{came_from}").text
    assert f'href="/finding/{ids[11]}?{amp}" id="prev-item"' in page and 'id="next-item"' not in page
    r = client.post("/decide?advance=1", data={"items": f"finding:{ids[3]}", "action": "confirm",
                                               "csrf_token": token, "next": f"/finding/{ids[3]}?{came_from}"},
                    follow_redirects=False)
    assert r.headers["location"] == f"/finding/{ids[4]}?{came_from}&ok=1&fail=0&done=finding%3A{ids[3]}"
    page = html.unescape(client.get(r.headers["location"]).text)
    assert f"已确认：信息 #{ids[3]}「电工证代办 3」" in page
    assert f'href="/finding/{ids[3]}?{came_from}" id="done-item"' in page and 'id="act-undo-last"' in page
    # Dismissing the last one goes round to the first pending item of that queue.
    r = client.post("/decide?advance=1", data={"items": f"finding:{ids[10]}", "action": "dismiss", "note": "培训广告",
                                               "csrf_token": token, "next": f"/finding/{ids[10]}?{came_from}"},
                    follow_redirects=False)
    assert r.headers["location"].startswith(f"/finding/{ids[0]}?{came_from}&")
    r = client.post("/decide?advance=1", data={"items": f"finding:{ids[0]}", "action": "undo",
                                               "csrf_token": token, "next": f"/finding/{ids[0]}?{came_from}"},
                    follow_redirects=False)
    assert "why=not_undoable" in r.headers["location"]                         # still pending: refused
    r = client.post("/decide", data={"items": f"finding:{ids[10]}", "action": "undo", "csrf_token": token,
                                     "next": f"/finding/{ids[10]}"}, follow_redirects=False)
    assert r.headers["location"] == f"/finding/{ids[10]}?ok=1&fail=0"
    assert "已撤回（重新审核）：信息" in html.unescape(client.get(r.headers["location"]).text)
    # Nothing pending left in a queue: back to it, saying so.
    only = "status=pending&platform=taohuo"
    for fid in ids[12:]:
        r = client.post("/decide?advance=1", data={"items": f"finding:{fid}", "action": "confirm",
                                                   "csrf_token": token, "next": f"/finding/{fid}?{only}"},
                        follow_redirects=False)
    assert r.headers["location"].startswith(f"/queue?{only}&") and "end=1" in r.headers["location"]
    assert "当前筛选条件下已没有待审核条目" in client.get(r.headers["location"]).text


def test_whois_is_shown_in_beijing_time(db_path):
    db = store.connect(db_path)
    sid = store.record_site(db, {"domain": "cxmemgov.com", "verdict": "fake_gov_site", "score": 90, "whois": {
        "status": "ok", "registrar": "GoDaddy.com, LLC", "created": "2024-07-02T03:11:20+00:00",
        "cached_at": "2026-12-03T01:02:03.000000Z"}})
    add_users(db, "ro")
    db.close()
    client = TestClient(create_app(db_path))
    logged_in(client, "ro", "/queue")
    page = client.get(f"/site/{sid}").text
    whois = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", page))
    assert whois["注册时间"] == "2024-07-02 11:11:20" and whois["查询时间"] == "2026-12-03 09:02:03"
    assert "cached_at" not in page


def test_empty_charts_start_at_zero(db_path):
    db = store.connect(db_path)
    period = bimonthly()
    data = charts.series(db, period)
    db.close()
    for key in charts.CHARTS:
        low, high = charts.figure(key, data, period).axes[0].get_ylim()
        assert (low, high) == (0, 1), key


def test_stored_listings_are_linked_to_the_sites_they_name(db_path):
    crawler = get_crawler(settings_dict={"CERTWATCH_DB": db_path, "CERTWATCH_STORE_BATCH": 2})
    pipeline = StorePipeline.from_crawler(crawler)
    pipeline.open_spider()
    named = {"url": ["https://www.zlaq-mohurd.cn/cert/", "http://mall.taohuo.cn/item/1.html"],
             "domain": ["www.zlaq-mohurd.cn", "cx.mem.gov.cn", "mall.taohuo.cn", "a" * 300 + ".com"]}
    for n, contacts in enumerate([named, {"domain": ["zlaq-mohurd.cn"]}, {"url": ["http://[::1"]}]):
        pipeline.process_item({"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou",
                               "title": "建筑电工证", "text": "可查", "flagged": True, "contacts": contacts})
    pipeline.close_spider()
    db = store.connect(db_path)
    sites = list(db["sites"].rows)
    links = {(r["finding_id"], r["url"]) for r in db["site_links"].rows}
    assert [(s["domain"], s["url"], s["source"], s["http_status"]) for s in sites] == \
        [("zlaq-mohurd.cn", "https://www.zlaq-mohurd.cn/cert/", "listing", None)]   # official, platform skipped
    site = store.get_site(db, sites[0]["id"])
    assert site["verdict"] == "fake_gov_site" and site["status"] == "flagged" and site["impersonates"]
    assert links == {(1, "https://www.zlaq-mohurd.cn/cert/"), (2, "http://zlaq-mohurd.cn/")}
    assert [s["id"] for s in store.unchecked_sites(db)] == [site["id"]]           # sites check visits it
    assert named_hosts("not a dict") == [] and named_hosts({"url": [None, 3]}) == []
    db.close()


def test_a_decision_an_item_already_has_is_not_recorded_twice(queue_db, db_path):
    """A double POST (c pressed twice, a second tab, a retried request):
    one decision row; the second answer says so and goes where the first went."""
    db, ids = queue_db
    client = TestClient(create_app(db_path))
    token = logged_in(client, "rev", "/queue")
    came_from = "status=pending&platform=gongyou"
    post = {"items": f"finding:{ids[3]}", "action": "confirm", "csrf_token": token,
            "next": f"/finding/{ids[3]}?{came_from}"}
    first = client.post("/decide?advance=1", data=post, follow_redirects=False)
    second = client.post("/decide?advance=1", data=post, follow_redirects=False)
    assert first.headers["location"] == f"/finding/{ids[4]}?{came_from}&ok=1&fail=0&done=finding%3A{ids[3]}"
    assert second.headers["location"] == f"/finding/{ids[4]}?{came_from}&ok=0&fail=0&same=1&done=finding%3A{ids[3]}"
    assert [d["action"] for d in store.decisions_for(db, finding_id=ids[3])] == ["confirm"]
    page = html.unescape(client.get(second.headers["location"]).text)
    assert f"已确认：信息 #{ids[3]}「电工证代办 3」" in page and "1 条此前已是这一处理结果，本次未重复记录" in page
    assert '<span id="sending" class="sending" role="status" hidden>正在提交，请勿重复操作…</span>' in page
    # Another category is another decision; the same dismissal twice is one.
    client.post("/decide", data={**post, "category": "fake_gov_site"}, follow_redirects=False)
    assert [d["category"] for d in store.decisions_for(db, finding_id=ids[3])] == ["illicit_info", "fake_gov_site"]
    dismiss = {**post, "items": f"finding:{ids[5]}", "action": "dismiss", "note": "培训广告"}
    for _ in range(2):
        client.post("/decide", data=dismiss, follow_redirects=False)
    assert [d["action"] for d in store.decisions_for(db, finding_id=ids[5])] == ["dismiss"]
    # Bulk: items that had it are counted apart, the rest decided, in one request.
    bulk = {"items": [f"finding:{i}" for i in ids[3:7]], "action": "confirm", "category": "fake_gov_site",
            "csrf_token": token, "next": "/queue"}
    r = client.post("/decide", data=bulk, follow_redirects=False)
    assert r.headers["location"] == "/queue?ok=3&fail=0&same=1"          # ids[3] had it
    r = client.post("/decide", data=bulk, follow_redirects=False)
    assert r.headers["location"] == "/queue?ok=0&fail=0&same=4"
    assert "4 条此前已是这一处理结果，本次未重复记录" in client.get(r.headers["location"]).text
    assert [len(store.decisions_for(db, finding_id=i)) for i in ids[3:7]] == [2, 1, 2, 1]
    # Undo twice (u pressed twice): one undo row, the second answer is no refusal.
    undo = {"items": f"finding:{ids[4]}", "action": "undo", "csrf_token": token, "next": f"/finding/{ids[4]}"}
    assert client.post("/decide", data=undo, follow_redirects=False).headers["location"] == \
        f"/finding/{ids[4]}?ok=1&fail=0"
    r = client.post("/decide", data=undo, follow_redirects=False)
    assert r.headers["location"] == f"/finding/{ids[4]}?ok=0&fail=0&same=1"
    assert [d["action"] for d in store.decisions_for(db, finding_id=ids[4])] == ["confirm", "undo"]
    assert "已撤回（重新审核）：信息" in html.unescape(client.get(r.headers["location"]).text)
    # Decided again after the undo: recorded (a new decision, not a repeat).
    for _ in range(2):
        client.post("/decide", data={**undo, "action": "confirm", "category": "fake_gov_site"})
    assert [d["action"] for d in store.decisions_for(db, finding_id=ids[4])] == ["confirm", "undo", "confirm"]
