"""The review queue's bulk action 移交公安（生成线索包）: selected confirmed
items lead to 线索移交 with the selection filled in, and end as a recorded
referral package; unconfirmed items are refused (in-process)."""
from __future__ import annotations

import html
import re
import urllib.parse

from fastapi.testclient import TestClient

from pipelines import store
from reports import referral
from tests.test_stats_console import app, login  # noqa: F401  (fixture)


def test_refer_from_the_queue(app):  # noqa: F811
    application, db_path, ids = app
    db = store.connect(db_path)
    pending = store.record_findings(db, [{"url": "http://bbs.gongyou.cn/thread-99-1.html", "platform": "gongyou",
                                          "title": "代办电工证 99", "text": "包过", "flagged": True}], None)[0].id
    db.close()
    rev = TestClient(application)
    csrf = login(rev, "rev")
    finding, site = ids["gongyou"][0], ids["A"]

    page = rev.get("/queue?status=")          # all statuses: site A is already referred once
    assert page.status_code == 200 and "移交公安（生成线索包）" in page.text
    assert f'value="finding:{finding}"' in page.text and f'value="site:{site}"' in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    back = "/queue?status="

    # Without the CSRF token nothing happens.
    r = rev.post("/decide", data={"action": "referral", "items": [f"finding:{finding}"], "next": back},
                 follow_redirects=False)
    assert r.status_code in (400, 403)

    # An unconfirmed item in the selection: back to the queue with the reason.
    r = rev.post("/decide", data={"csrf_token": csrf, "action": "referral", "next": back,
                                  "items": [f"finding:{finding}", f"finding:{pending}"]})
    assert r.status_code == 200 and "只能为已审核确认的条目生成线索包" in r.text

    # Confirmed finding + site → 线索移交 with the selection filled in.
    r = rev.post("/decide", data={"csrf_token": csrf, "action": "referral", "next": back,
                                  "items": [f"finding:{finding}", f"site:{site}"]}, follow_redirects=False)
    assert r.status_code == 303
    target = r.headers["location"]
    assert target.startswith("/reports/referrals?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)["items"] == [f"{finding},s{site}"]
    page = rev.get(target)
    items = html.unescape(re.search(r'name="items" value="([^"]*)"', page.text).group(1))
    assert items == f"{finding},s{site}"
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = rev.post("/reports/referrals/create", data={"csrf_token": csrf, "items": items, "unit": "区公安分局"})
    assert r.status_code == 200 and "已生成线索移交单" in r.text

    db = store.connect(db_path)
    made = [r for r in store.list_referrals(db) if r["created_by"] == "rev"]
    assert len(made) == 1
    ref = made[0]
    assert ref["items"]["findings"] == [finding] and ref["items"]["sites"] == [site]
    assert store.get_finding(db, finding)["status"] == "referred"
    assert store.get_finding(db, pending)["status"] != "referred"
    assert ref["package"] and referral.verify(ref["package"]) == []
    db.close()
