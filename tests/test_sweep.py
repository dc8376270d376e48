"""End-to-end sweeps on the sandbox, each crawl in a subprocess."""
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from crawler.sandbox.world import world
from crawler.spiders.base import load_queries
from helpers import ROOT, forum_profile, run_cli
from pipelines import store


def stored_urls(db_path) -> set[str]:
    db = store.connect(db_path)
    try:
        return {f["url"] for f in store.iter_findings(db)}
    finally:
        db.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    proc = run_cli("demo", "--workdir", workdir, "--quiet", timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return workdir / "certwatch.db", proc


def test_demo_stores_every_reachable_listing(demo):
    db_path, proc = demo
    w = world()
    queries = load_queries(str(db_path))
    expected = w.reachable(queries, pages=3)
    got = stored_urls(db_path)
    assert got == expected
    illicit = {u for u in expected if w.label_of(u) == 1}
    assert len(illicit) >= 30
    # The summary table and the truth comparison are printed.
    assert "合计" in proc.stdout and "沙箱真值对照" in proc.stdout and "网站：核查" in proc.stdout
    assert "下架清单" in proc.stdout and "统计表" in proc.stdout
    for title in ("找找搜索", "淘货商城", "同城分类信息网", "工友论坛"):
        assert title in proc.stdout


def test_demo_judgement_figures(demo):
    db_path, _ = demo
    w = world()
    db = store.connect(db_path)
    rows = list(store.iter_findings(db))
    db.close()
    labels = {l.url: l.label for l in w.listings}
    tp = sum(1 for r in rows if r["flagged"] and labels[r["url"]] == 1)
    fp = sum(1 for r in rows if r["flagged"] and labels[r["url"]] == 0)
    positives = sum(1 for r in rows if labels[r["url"]] == 1)
    print(f"demo: {positives} illicit stored, {tp} flagged; {fp} negatives flagged of {len(rows) - positives}")
    assert tp >= 0.9 * positives
    assert fp <= 2
    # Every flagged finding explains itself with quoted evidence.
    for r in rows:
        if r["flagged"]:
            assert any(x["weight"] > 0 and x["evidence"] for x in r["reasons"])


def test_demo_sweep_record(demo):
    db_path, proc = demo
    db = store.connect(db_path)
    (sweep,) = store.list_sweeps(db)
    full = store.get_sweep(db, sweep["id"])
    db.close()
    assert full["status"] == "finished" and full["ended_at"] >= full["started_at"]
    assert full["requests"] > 500 and full["responses"] > 500
    # One request figure: the summary's 合计 is the sweep record's (and the progress line's);
    # its platform rows (and 其他请求) add up to it; 解析页面 is labelled apart.
    lines = proc.stdout.splitlines()
    head = next(n for n, line in enumerate(lines) if line.split()[:3] == ["平台", "请求", "解析页面"])
    body = lines[head + 2:next(n for n in range(head, len(lines)) if lines[n].startswith("合计"))]
    total = [line for line in lines if line.startswith("合计")][0].split()
    assert int(total[1]) == full["requests"] == sum(int(line.split()[-4]) for line in body)
    assert int(total[2]) <= full["requests"] and "“解析页面”只计成功解析的搜索结果页和详情页" in proc.stdout
    assert full["items"] > 0 and full["flagged"] > 0
    stats = full["stats"]
    assert stats["certwatch/removed"] > 0            # removed listings were seen and skipped
    assert stats["certwatch/search_pages/taohuo"] > 0  # the JS marketplace went through the browser
    assert stats["certwatch/browser_started"] >= 1     # started by its first rendering request
    assert any(k.startswith("downloader/response_status_count/404") for k in stats)
    w = world()
    removed = {l.url for l in w.listings if l.removed}
    assert not removed & stored_urls(db_path)
    # One crawler, one duplicate filter: the sweep record, the per-platform
    # summary and the store count each listing once, and agree on flagged.
    db = store.connect(db_path)
    summary = store.sweep_summary(db, sweep["id"])
    platforms = store.sweep_platforms(db, sweep["id"])
    stored = store.count_findings(db)
    db.close()
    assert full["items"] == sum(r["listings"] for r in summary) == sum(p["items"] for p in platforms) == stored
    assert full["flagged"] == sum(r["flagged"] for r in summary)
    # A clean sandbox: no platform reports blocks (an empty result list is not a blank page).
    assert not [p for p in platforms if p["blocked"]], platforms


def test_marketplace_through_chromium(sandbox, db_path):
    proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--platforms", "taohuo",
                   "--keyword", "焊工", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    expected = world().reachable(load_queries(db_path, "焊工"), pages=3, platforms=("market",))
    assert expected and stored_urls(db_path) == expected


def test_gbk_classifieds_decoded(sandbox, db_path):
    proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--platforms", "fenleixinxi",
                   "--keyword", "电工", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    db = store.connect(db_path)
    stats = store.list_sweeps(db)[0]
    stats = store.get_sweep(db, stats["id"])["stats"]
    db.close()
    assert "certwatch/browser_started" not in stats      # HTTP only: Playwright never started
    w = world()
    by_url = {l.url: l for l in w.listings}
    db = store.connect(db_path)
    rows = list(store.iter_findings(db))
    db.close()
    assert rows
    for r in rows:
        assert r["platform"] == "fenleixinxi"
        assert r["title"] == by_url[r["url"]].title
        assert r["text"] == by_url[r["url"]].text


def test_resweep_is_idempotent_and_keeps_decisions(sandbox, db_path):
    args = ("sweep", "--db", db_path, "--sandbox", sandbox, "--platforms", "gongyou,fenleixinxi",
            "--keyword", "焊工", "--quiet")
    assert run_cli(*args).returncode == 0
    db = store.connect(db_path)
    first = {f["url"]: f for f in store.iter_findings(db)}
    some = next(iter(first.values()))
    store.add_decision(db, "审核员", "dismiss", "测试：误报", finding_id=some["id"])
    db.close()
    assert run_cli(*args).returncode == 0
    db = store.connect(db_path)
    second = {f["url"]: f for f in store.iter_findings(db)}
    sweeps = [s["id"] for s in store.list_sweeps(db)]
    seen = store.sweeps_of_finding(db, some["id"])
    db.close()
    assert second.keys() == first.keys()
    assert second[some["url"]]["status"] == "dismissed"
    assert second[some["url"]]["last_seen"] > first[some["url"]]["last_seen"]
    assert sorted(seen) == sorted(sweeps)


def test_killed_sweep_leaves_consistent_db(sandbox, db_path):
    cmd = [sys.executable, "-m", "crawler.cli", "sweep", "--db", db_path, "--sandbox", sandbox,
           "--platforms", "gongyou,fenleixinxi", "--quiet", "--set", "DOWNLOAD_DELAY=0.05",
           "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=1", "--set", "CERTWATCH_STORE_BATCH=5"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:       # wait for a condition, not a time
            if os.path.exists(db_path):
                con = sqlite3.connect(db_path, timeout=30)
                try:
                    n = con.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
                except sqlite3.OperationalError:
                    n = 0
                con.close()
                if n >= 10:
                    break
            if proc.poll() is not None:
                pytest.fail("sweep ended before it could be killed")
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    con = sqlite3.connect(db_path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    partial = con.execute("SELECT COUNT(*) FROM findings").fetchone()[0]
    status = con.execute("SELECT status FROM sweeps ORDER BY id").fetchall()
    con.close()
    assert status == [("running",)]
    # The next sweep marks the killed one interrupted and finishes the job.
    assert run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--platforms", "gongyou,fenleixinxi",
                   "--quiet").returncode == 0
    expected = world().reachable(load_queries(db_path), pages=3, platforms=("classifieds", "forum"))
    con = sqlite3.connect(db_path)
    urls = [r[0] for r in con.execute("SELECT url FROM findings")]
    statuses = [r[0] for r in con.execute("SELECT status FROM sweeps ORDER BY id")]
    con.close()
    assert len(urls) == len(set(urls)) and set(urls) == expected and len(urls) > partial
    assert statuses == ["interrupted", "finished"]


def test_user_added_platform_profile(sandbox, db_path, tmp_path):
    profiles = forum_profile(tmp_path / "profiles", "myforum", "我的论坛", "bbs.gongyou.cn", render="http")
    proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--profiles", profiles,
                   "--platforms", "myforum", "--keyword", "叉车", "--quiet")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "我的论坛" in proc.stdout
    db = store.connect(db_path)
    platforms = {f["platform"] for f in store.iter_findings(db)}
    db.close()
    assert platforms == {"myforum"}
    expected = world().reachable(load_queries(db_path, "叉车"), pages=1, platforms=("forum",))
    assert stored_urls(db_path) == expected
    # A broken profile is refused with a Chinese message naming the field.
    (profiles / "bad.yaml").write_text("name: bad\nkind: forum\nhosts: [x.cn]\nsearch: {url: 'http://x.cn/?q={query}'}\n",
                                       encoding="utf-8")
    proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--profiles", profiles, "--quiet")
    assert proc.returncode == 2 and "平台配置 bad：search.result" in proc.stderr


def test_sweep_requires_a_mode(db_path):
    proc = run_cli("sweep", "--db", db_path)
    assert proc.returncode == 2 and "--sandbox" in proc.stderr
