"""The demo's last step: the demo reviewer confirms only what the sandbox
world labels illicit; takedown lists and the table are written."""
from __future__ import annotations

import openpyxl

from crawler.sandbox.world import world
from pipelines import store
from crawler.cli.demo import DEMO_REVIEWER, demo_outputs
from seeds import PROFILE


def test_demo_outputs(db_path, tmp_path):
    w = world()
    good = [l for l in w.listings if l.label == 1 and l.platform in ("market", "forum")][:4]
    bad = [l for l in w.listings if l.label == 0][:2]
    db = store.connect(db_path)
    store.record_findings(db, [{"url": l.url, "platform": PROFILE[l.platform], "title": l.title, "text": l.text,
                                "flagged": True, "score": 80} for l in good + bad], None)
    fake = next(s for s in w.sites if s.kind == "fake")
    official = next(s for s in w.sites if s.kind == "official")
    for s in (fake, official):
        store.record_site(db, {"domain": s.host, "host": s.host, "url": s.url})
    db.close()

    written = demo_outputs(db_path, str(tmp_path), platforms=None)
    paths = [p for _, p in written if p.endswith((".xlsx", ".html"))]
    assert len([p for p in paths if "统计表-" in p]) == 1
    lists = [p for p in paths if "下架清单-" in p and p.endswith(".xlsx")]
    assert len(lists) == len({l.platform for l in good})
    rows = sum(openpyxl.load_workbook(p)["下架清单"].max_row - 2 for p in lists)
    assert rows == len(good)
    db = store.connect(db_path)
    confirmed = {f["url"] for f in store.iter_findings(db) if f["status"] != "flagged"}
    assert confirmed == {l.url for l in good}
    for f in store.iter_findings(db):
        for d in store.decisions_for(db, finding_id=f["id"]):
            assert d["user"] == DEMO_REVIEWER
    sites = {store.get_site(db, s["site_id"])["domain"] for s in store.stats_fake_sites(db, "2000", "2100")}
    assert sites == {fake.host}
    db.close()
    # A second run writes the lists again without new batches.
    again = demo_outputs(db_path, str(tmp_path), platforms=None)
    assert [w for w, _ in again if w.startswith("下架清单")] == [w for w, _ in written if w.startswith("下架清单")]


def test_demo_leaves_other_platforms_to_reviewers(db_path, tmp_path):
    w = world()
    market = next(l for l in w.listings if l.label == 1 and l.platform == "market")
    forum = next(l for l in w.listings if l.label == 1 and l.platform == "forum")
    db = store.connect(db_path)
    store.record_findings(db, [{"url": l.url, "platform": PROFILE[l.platform], "title": l.title,
                                "text": l.text, "flagged": True, "score": 80} for l in (market, forum)], None)
    db.close()
    demo_outputs(db_path, str(tmp_path))
    db = store.connect(db_path)
    status = {f["url"]: f["status"] for f in store.iter_findings(db)}
    db.close()
    assert status[forum.url] == "flagged" and status[market.url] != "flagged"
