"""Removal rechecks on the sandbox: removed (404 and notice page), still
present (with a screenshot), blocked / 5xx = unknown; the schedule."""
from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone

import pytest

from crawler.sandbox.world import world
from helpers import run_cli, sandbox_admin
from pipelines import store
from pipelines.recheck import decide, due_label, parse_days
from seeds import sent_takedowns


def pick(platform: str, parity: int, skip: set) -> object:
    for l in world().listings:
        if l.platform == platform and l.removed is None and l.label == 1 and l.num % 2 == parity \
                and l.num not in skip:
            skip.add(l.num)
            return l
    raise AssertionError("no listing")


def test_recheck_on_the_sandbox(own_sandbox, db_path):
    skip: set = set()
    gone_404 = pick("market", 0, skip)          # even num: 404 once taken down
    gone_notice = pick("forum", 1, skip)        # odd num: notice page
    gone_gbk = pick("classifieds", 1, skip)     # GBK notice page
    present = pick("market", 1, skip)
    down_5xx = pick("forum", 0, skip)
    captcha = pick("market", 0, skip)
    db = store.connect(db_path)
    ids = sent_takedowns(db, [gone_404, gone_notice, gone_gbk, present, down_5xx, captcha])
    db.close()
    sandbox_admin(own_sandbox, "/takedown", {"nums": [gone_404.num, gone_notice.num, gone_gbk.num]})
    sandbox_admin(own_sandbox, "/block", {"nums": [down_5xx.num], "status": 503})
    sandbox_admin(own_sandbox, "/block", {"nums": [captcha.num], "status": 200})

    # Not due yet (sent just now, first check at T+1): nothing is fetched.
    proc = run_cli("takedown", "recheck", "--db", db_path, "--sandbox", own_sandbox, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "复查 0 条" in proc.stdout and "未到复查时间 6 条" in proc.stdout
    # --now is Beijing time: two hours before T+1 is not due (read as UTC it would be six hours after).
    db = store.connect(db_path)
    sent = store.parse_utc(store.list_takedowns(db)[0]["sent_at"])
    db.close()
    before_due = store.beijing((sent + timedelta(days=1, hours=-2)).isoformat(), "%Y-%m-%dT%H:%M:%S")
    proc = run_cli("takedown", "recheck", "--db", db_path, "--sandbox", own_sandbox, "--now", before_due)
    assert proc.returncode == 0 and "未到复查时间 6 条" in proc.stdout, proc.stdout + proc.stderr

    proc = run_cli("takedown", "recheck", "--db", db_path, "--sandbox", own_sandbox, "--force", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "复查 6 条：已下架 3，仍在线 1，无法判断 2" in proc.stdout, proc.stdout
    # Progress on stderr, a plain line per step (not a terminal): checked/due, results, time left.
    steps = re.findall(r"^复查下架：(\d+)/6，已下架 (\d+)，仍在线 (\d+)，无法判断 (\d+)，已用 \S+，(剩余约 \S+|完成)$",
                       proc.stderr, re.M)
    assert steps and steps[-1][:4] == ("6", "3", "1", "2") and steps[-1][4] == "完成", proc.stderr
    assert "\r" not in proc.stderr and "\x1b" not in proc.stderr and "ERROR" not in proc.stderr

    db = store.connect(db_path)
    checks = {c["finding_id"]: c for c in store.takedown_checks(db)}
    assert len(checks) == 6
    assert checks[ids[gone_404.num]]["result"] == "removed"
    assert checks[ids[gone_404.num]]["http_status"] == 404
    assert checks[ids[gone_notice.num]]["result"] == "removed"
    assert "该帖子已被删除" in checks[ids[gone_notice.num]]["reason"]
    assert checks[ids[gone_gbk.num]]["result"] == "removed"
    assert checks[ids[down_5xx.num]]["result"] == "unknown"
    assert checks[ids[down_5xx.num]]["http_status"] == 503
    assert checks[ids[captcha.num]]["result"] == "unknown"
    still = checks[ids[present.num]]
    assert still["result"] == "still_present" and still["due"] == "手动"
    shot = os.path.join(store.evidence_dir(db), still["screenshot"])
    named = re.search(r"finding-\d+-(\d{8}-\d{6})\.png$", still["screenshot"]).group(1)   # Beijing time
    taken = datetime.strptime(named, "%Y%m%d-%H%M%S").replace(tzinfo=store.BEIJING)
    assert abs((taken - store.parse_utc(still["checked_at"])).total_seconds()) < 3600   # UTC would be 8 h off
    assert os.path.getsize(shot) > 1000 and len(still["screenshot_sha256"]) == 64
    # Statuses follow; unknown never counts as removed.
    assert store.get_finding(db, ids[gone_404.num])["status"] == "removed"
    assert store.get_finding(db, ids[present.num])["status"] == "still_present"
    assert store.get_finding(db, ids[down_5xx.num])["status"] == "takedown_requested"
    start, end = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"
    assert {r["finding_id"] for r in store.stats_removed(db, start, end)} == \
        {ids[gone_404.num], ids[gone_notice.num], ids[gone_gbk.num]}
    db.close()

    # The platform takes the rest down; the next check sees them gone, removed
    # items are not fetched again.
    sandbox_admin(own_sandbox, "/block", {"nums": [down_5xx.num, captcha.num], "status": 0})
    sandbox_admin(own_sandbox, "/takedown", {"nums": [present.num, down_5xx.num]})
    proc = run_cli("takedown", "recheck", "--db", db_path, "--sandbox", own_sandbox, "--force",
                   "--no-screenshots", timeout=180)
    assert "复查 3 条：已下架 2，仍在线 1，无法判断 0" in proc.stdout, proc.stdout
    proc = run_cli("takedown", "compliance", "--db", db_path, "--days", "0")
    assert proc.returncode == 0, proc.stderr
    total = [line for line in proc.stdout.splitlines() if line.startswith("合计")][0].split()
    assert total[1:5] == ["6", "5", "1", "0"], proc.stdout


def test_schedule():
    sent = "2024-09-01T00:00:00.000000Z"
    at = lambda days: datetime(2024, 9, 1, tzinfo=timezone.utc) + timedelta(days=days)  # noqa: E731
    days = parse_days("1,3,7")
    assert due_label(sent, [], days, at(0.5)) is None
    assert due_label(sent, [], days, at(1)) == "T+1"
    assert due_label(sent, ["T+1"], days, at(2)) is None
    assert due_label(sent, ["T+1"], days, at(3.2)) == "T+3"
    assert due_label(sent, [], days, at(8)) == "T+7"          # overdue: only the latest
    assert due_label(sent, ["T+7"], days, at(30)) is None
    assert parse_days("7, 1,3") == (1, 3, 7)
    for bad in ("a", "", "-1", "400"):
        with pytest.raises(ValueError):
            parse_days(bad)


@pytest.mark.parametrize("kwargs, result", [
    ({"status": 404}, "removed"),
    ({"status": 410}, "removed"),
    ({"status": 200, "text": "该商品已下架", "markers": ["该商品已下架"]}, "removed"),
    ({"status": 200, "text": "欢迎来到首页 热门商品", "redirected": True, "stored_title": "代办电工证"}, "removed"),
    ({"status": 200, "text": "代办电工证 不用考试 包过", "stored_title": "代办电工证", "stored_text": "不用考试 包过"},
     "still_present"),
    ({"status": 503}, "unknown"),
    ({"status": 403}, "unknown"),
    ({"status": 429}, "unknown"),
    ({"status": None, "error": "TimeoutError"}, "unknown"),
    ({"status": 200, "text": "请输入验证码", "stored_title": "代办电工证"}, "unknown"),
    ({"status": 200, "text": "完全不同的内容", "stored_title": "代办电工证"}, "unknown"),
])
def test_decide(kwargs, result):
    status = kwargs.pop("status")
    assert decide(status, **kwargs).result == result


def test_recheck_total_is_known_before_the_first_request(db_path):
    """The progress line's total (recheck/requests) is every due item from the
    start, not a count that grows as Scrapy pulls the start requests."""
    import asyncio

    from scrapy.utils.test import get_crawler

    from crawler.spiders.recheck import RecheckSpider
    db = store.connect(db_path)
    sent_takedowns(db, [l for l in world().listings if l.platform == "forum"][:3], at="2026-11-01T00:00:00Z")
    db.close()
    crawler = get_crawler(RecheckSpider, {"CERTWATCH_DB": db_path, "CERTWATCH_RECHECK_FORCE": True})
    spider = RecheckSpider.from_crawler(crawler)

    async def first_request():
        requests = spider.start()
        await requests.__anext__()
        total = crawler.stats.get_value("recheck/requests")
        await requests.aclose()
        return total

    try:
        assert asyncio.run(first_request()) == 3
    finally:
        spider.closed("finished")
