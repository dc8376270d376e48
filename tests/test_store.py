import sqlite3

import pytest

from pipelines import store


def test_migrations_from_empty_file(db_path):
    db = store.connect(db_path)
    assert store.schema_version(db) == store.SCHEMA_VERSION >= 1
    for table in ("keywords", "platforms", "schedules", "sweeps", "findings", "sites",
                  "evidence", "decisions", "takedowns", "referrals"):
        assert db[table].exists(), table
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()
    # Opening again applies nothing twice.
    db = store.connect(db_path)
    assert store.schema_version(db) == store.SCHEMA_VERSION
    db.close()


@pytest.mark.parametrize("url, canonical", [
    ("HTTP://Mall.TaoHuo.cn/item/1.html#top", "http://mall.taohuo.cn/item/1.html"),
    ("http://mall.taohuo.cn:80/item/1.html?spm=a.b&b=2&a=1", "http://mall.taohuo.cn/item/1.html?a=1&b=2"),
    ("https://x.cn:443/p?utm_source=wx", "https://x.cn/p"),
    ("http://x.cn", "http://x.cn/"),
    ("http://x.cn:8080/a?q=%E7%94%B5", "http://x.cn:8080/a?q=%E7%94%B5"),
])
def test_canonical_url(url, canonical):
    assert store.canonical_url(url) == canonical


def _item(url="http://bbs.gongyou.cn/thread-1-1.html", **kw):
    base = {"url": url, "platform": "gongyou", "title": "代办电工证", "text": "不用考试 包过",
            "score": 90, "flagged": True, "reasons": [{"code": "intent_proxy"}], "contacts": {"wechat": ["abc123"]}}
    base.update(kw)
    return base


def test_latest_sweep_is_the_latest_real_sweep(fresh_db, db_path, capsys):
    """A `sites check` (or a lone `scrapy crawl recheck`) is recorded in sweeps
    but is no sweep: `health` and `workers` without a number show the last sweep."""
    import json
    from crawler.sweep import SweepOptions, run_kind
    from helpers import cli
    assert store.latest_sweep(fresh_db) is None
    check = store.start_sweep(fresh_db, ["全部"], "sandbox", kind="sites")
    store.finish_sweep(fresh_db, check, "finished", {})
    code, _, err = cli(capsys, "health", "--db", db_path)
    assert code == 2 and f"还没有巡查记录（最近的记录 #{check} 是网站核查，可用编号查看）" in err
    swept = store.start_sweep(fresh_db, ["gongyou"], "sandbox")
    store.finish_sweep(fresh_db, swept, "finished", {})
    later = store.start_sweep(fresh_db, ["全部"], "sandbox", kind=SweepOptions(db="", spiders=("sites",)).kind)
    store.finish_sweep(fresh_db, later, "finished", {})
    assert store.latest_sweep(fresh_db) == swept
    assert [s["id"] for s in store.list_sweeps(fresh_db, kind="sweep")] == [swept]
    assert (run_kind(("search", "listings")), run_kind(("sweep",)), run_kind(("recheck",))) == \
        ("sweep", "sweep", "recheck")
    code, out, _ = cli(capsys, "health", "--db", db_path)
    assert out.startswith(f"巡查 #{swept}（完成）")
    code, out, _ = cli(capsys, "health", "--db", db_path, "--json")
    assert json.loads(out)["sweep"]["id"] == swept and json.loads(out)["sweep"]["kind"] == "sweep"
    started = json.loads(out)["sweep"]["started_at"]                 # 北京时间, ISO with its offset
    assert started.endswith("+08:00") and started[:16] == store.beijing(
        store.get_sweep(fresh_db, swept)["started_at"], "%Y-%m-%dT%H:%M")
    code, out, _ = cli(capsys, "health", str(later), "--db", db_path)
    assert out.startswith(f"网站核查 #{later}（完成）")
    code, out, _ = cli(capsys, "workers", "--db", db_path)
    assert f"巡查 #{swept} 不是分布式巡查" in out


def test_seeing_a_url_again_updates_last_seen_and_sweeps(fresh_db):
    s1 = store.start_sweep(fresh_db, ["gongyou"], "sandbox")
    s2 = store.start_sweep(fresh_db, ["gongyou"], "sandbox")
    (r1,) = store.record_findings(fresh_db, [_item()], s1)
    (r2,) = store.record_findings(fresh_db, [_item("http://BBS.gongyou.cn/thread-1-1.html?utm_source=x#c")], s2)
    assert r1.created and not r2.created and r1.id == r2.id
    row = store.get_finding(fresh_db, r1.id)
    assert row["last_seen"] >= row["first_seen"]
    assert store.sweeps_of_finding(fresh_db, r1.id) == [s1, s2]
    assert store.count_findings(fresh_db) == 1
    assert row["status"] == "flagged" and row["contacts"] == {"wechat": ["abc123"]}


def test_resweep_never_overwrites_a_human_decision(fresh_db):
    (r,) = store.record_findings(fresh_db, [_item()], None)
    store.add_decision(fresh_db, "审核员甲", "dismiss", "培训广告，误报", finding_id=r.id)
    store.record_findings(fresh_db, [_item(score=99, flagged=True)], None)
    row = store.get_finding(fresh_db, r.id)
    assert row["status"] == "dismissed"
    assert row["score"] == 90           # the judgement a human saw stays
    # A machine-only finding is re-judged.
    (m,) = store.record_findings(fresh_db, [_item("http://bbs.gongyou.cn/thread-2-1.html", score=10, flagged=False)], None)
    store.record_findings(fresh_db, [_item("http://bbs.gongyou.cn/thread-2-1.html", score=80, flagged=True)], None)
    assert store.get_finding(fresh_db, m.id)["status"] == "flagged"


def test_decisions_are_append_only_and_validated(fresh_db):
    (r,) = store.record_findings(fresh_db, [_item()], None)
    with pytest.raises(store.StoreError, match="理由"):
        store.add_decision(fresh_db, "u", "dismiss", "  ", finding_id=r.id)
    with pytest.raises(store.StoreError):
        store.add_decision(fresh_db, "u", "delete", finding_id=r.id)
    with pytest.raises(store.StoreError, match="不存在"):
        store.add_decision(fresh_db, "u", "confirm", finding_id=9999)
    store.add_decision(fresh_db, "甲", "confirm", "违规信息", finding_id=r.id)
    store.add_decision(fresh_db, "乙", "refer", "移交公安", finding_id=r.id)
    history = store.decisions_for(fresh_db, finding_id=r.id)
    assert [d["action"] for d in history] == ["confirm", "refer"]
    assert store.get_finding(fresh_db, r.id)["status"] == "referral_pending"      # until a package holds it


def test_killed_sweep_is_marked_interrupted(fresh_db):
    sid = store.start_sweep(fresh_db, ["x"], "sandbox")
    # A sweep row whose process is gone (pid that cannot exist).
    fresh_db["sweeps"].update(sid, {"pid": 2 ** 22 + 12345})
    assert store.mark_abandoned_sweeps(fresh_db) == 1
    assert store.get_sweep(fresh_db, sid)["status"] == "interrupted"


def test_sites_keyed_by_domain(fresh_db):
    a = store.record_site(fresh_db, {"domain": "cx-mem-gov.cn", "host": "www.cx-mem-gov.cn", "title": "假"})
    b = store.record_site(fresh_db, {"domain": "cx-mem-gov.cn", "host": "cx-mem-gov.cn", "title": "假2"})
    assert a == b and store.get_site(fresh_db, a)["title"] == "假2"


def test_keywords_unique_and_state_kept(fresh_db):
    rows = [{"term": "电工证", "kind": "cert", "industry": "特种作业"}]
    assert store.add_keywords(fresh_db, rows) == 1
    fresh_db["keywords"].update(1, {"active": 0})
    assert store.add_keywords(fresh_db, rows) == 0
    assert store.list_keywords(fresh_db) == []
    assert len(store.list_keywords(fresh_db, active_only=False)) == 1


def test_stored_times_are_utc_whatever_the_machine_zone(monkeypatch):
    # SQLite's CURRENT_TIMESTAMP has no zone: it is UTC, not local time.
    import time
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        assert store.beijing("2026-11-28 16:30:00") == "2026-11-29 00:30"
        assert store.beijing("2026-11-28T16:30:00.000000Z") == "2026-11-29 00:30"
        assert store.beijing("2026-11-29T00:30:00+08:00") == "2026-11-29 00:30"
        assert store.beijing("not a time") == "" and store.beijing(None) == ""
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
