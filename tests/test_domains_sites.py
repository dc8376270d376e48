"""Discovery of look-alike sites in the sandbox: the `sites` spider checks
links found in stored listings, staff tips and generated permutations of the
official hosts, judges each (name, page, WHOIS from the sandbox's WHOIS
server) and stores it with the listing -> site links."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from crawler.resolver import SandboxResolver, sandbox_get
from crawler.sandbox.world import world
from helpers import ROOT, run_cli
from pipelines import store

FAKES = {s.host for s in world().sites if s.kind == "fake"}


def test_sandbox_admin_info_and_resolver(sandbox):
    info = sandbox_get(sandbox, "/info")
    host, _, port = info["whois"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    r = SandboxResolver(sandbox)
    assert r.exists("cx-mem-gov.cn") and r.exists("www.cx-mem-gov.cn")
    assert not r.exists("cx-mem-gov.xyz")


@pytest.fixture(scope="module")
def checked(sandbox, tmp_path_factory):
    """One `certwatch sites check` over seeded listings, a tip and generated candidates."""
    db_path = str(tmp_path_factory.mktemp("sites") / "certwatch.db")
    db = store.connect(db_path)
    listings = [
        {"url": "http://bbs.gongyou.cn/thread-1-1.html", "platform": "gongyou", "title": "电工证",
         "text": "官网可查 http://www.cx-mem-gov.cn/cx/", "flagged": True,
         "contacts": {"url": ["http://www.cx-mem-gov.cn/cx/"], "domain": ["www.cx-mem-gov.cn"]}},
        {"url": "http://bbs.gongyou.cn/thread-2-1.html", "platform": "gongyou", "title": "叉车证",
         "text": "查询 https://cnse-samr.xyz/pub 或 cx.mem.gov.cn", "flagged": True,
         "contacts": {"url": ["https://cnse-samr.xyz/pub"], "domain": ["cnse-samr.xyz", "cx.mem.gov.cn",
                                                                      "a" * 300 + ".com"]}},
        {"url": "http://bbs.gongyou.cn/thread-3-1.html", "platform": "gongyou", "title": "培训",
         "text": "报名见 www.hongan-peixun.com", "flagged": False,
         "contacts": {"domain": ["www.hongan-peixun.com", "mall.taohuo.cn"]}},
    ]
    recorded = store.record_findings(db, listings, None)
    db.close()
    proc = run_cli("submit", "--db", db_path, "http://tzzy-chaxun.com/", "--source", "12350", check=True)
    assert "已登记线索" in proc.stdout
    proc = run_cli("sites", "check", "--db", db_path, "--sandbox", sandbox, "--limit", "300",
                   env={"CERTWATCH_WHOIS_TIMEOUT": "1", "CERTWATCH_WHOIS_INTERVAL": "0"}, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return db_path, [r.id for r in recorded], proc


def _sites(db_path):
    db = store.connect(db_path)
    try:
        rows = {r["domain"]: store.get_site(db, r["id"]) for r in db["sites"].rows}
        links = list(db["site_links"].rows)
        sweeps = list(db["sweeps"].rows)
    finally:
        db.close()
    return rows, links, sweeps


def test_every_world_fake_is_found_and_flagged(checked):
    db_path, _, proc = checked
    rows, _, _ = _sites(db_path)
    for host in FAKES:
        assert host in rows, (host, sorted(rows))
        site = rows[host]
        assert site["verdict"] == "fake_gov_site" and site["status"] == "flagged", site
        assert site["impersonates"] in ("cx.mem.gov.cn", "zlaq.mohurd.gov.cn", "cnse.samr.gov.cn")
    assert "判为假冒/可疑" in proc.stdout


def test_sites_carry_evidence_of_checking_and_whois(checked):
    db_path, _, _ = checked
    rows, _, _ = _sites(db_path)
    site = rows["cx-mem-gov.cn"]
    assert site["http_status"] == 200 and site["title"].startswith("特种作业操作证")
    assert site["final_url"].startswith("http://")
    assert site["whois"]["registrant"] == "刘强" and site["whois"]["created"].endswith("+08:00")
    codes = {r["code"] for r in site["reasons"]}
    assert {"gov_moved", "official_title", "emblem", "individual"} <= codes
    # The slow WHOIS server timed out: unknown, not benign, not fake by itself.
    slow = rows["cnse-samr.xyz"]
    assert any(r["code"] == "unknown" and r["evidence"] == "timeout" for r in slow["reasons"])
    # The tip was visited.
    tip = rows["tzzy-chaxun.com"]
    assert tip["http_status"] == 200 and tip["source"] == "tip:12350"


def test_listing_site_links_and_skips(checked):
    db_path, finding_ids, _ = checked
    rows, links, sweeps = _sites(db_path)
    by_site = {}
    for link in links:
        by_site.setdefault(link["site_id"], set()).add(link["finding_id"])
    assert by_site[rows["cx-mem-gov.cn"]["id"]] == {finding_ids[0]}
    assert by_site[rows["cnse-samr.xyz"]["id"]] == {finding_ids[1]}
    school = rows["hongan-peixun.com"]
    assert school["verdict"] == "benign" and school["status"] == "new"
    assert "mem.gov.cn" not in rows and "taohuo.cn" not in rows         # official and platform hosts skipped
    assert not any(len(d) > 253 for d in rows)
    assert any(s["status"] == "finished" for s in sweeps)
    assert {s["kind"] for s in sweeps} == {"sites"}             # recorded, but no sweep for `health`
    assert "网站核查 #" in run_cli("health", str(sweeps[0]["id"]), "--db", db_path).stdout


def test_submit_rejects_nonsense(db_path):
    proc = run_cli("submit", "--db", db_path, "http://exa mple..com/")
    assert proc.returncode == 2 and "无法识别的网址" in proc.stderr


def test_sites_check_needs_a_mode(db_path):
    proc = run_cli("sites", "check", "--db", db_path)
    assert proc.returncode == 2 and "--sandbox" in proc.stderr


def test_search_results_are_judged_as_sites(sandbox, db_path):
    """(b) search results: the search spider's site items go through SitePipeline."""
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "search", "-a", "queries=证书查询", "-a", "platforms=zhaozhao",
         "-a", "max_pages=2", "-s", f"CERTWATCH_DB={db_path}", "-s", f"CERTWATCH_SANDBOX={sandbox}",
         "-s", "CERTWATCH_WHOIS_TIMEOUT=1", "-s", "LOG_LEVEL=WARNING"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows, _, _ = _sites(db_path)
    for site in world().sites:
        domain = {"cx.mem.gov.cn": "mem.gov.cn", "zlaq.mohurd.gov.cn": "mohurd.gov.cn",
                  "cnse.samr.gov.cn": "samr.gov.cn", "www.hongan-peixun.com": "hongan-peixun.com",
                  "news.anquan-bao.cn": "anquan-bao.cn"}.get(site.host, site.host)
        row = rows[domain]
        assert row["source"] == "search"
        expected = {"official": "official", "fake": "fake_gov_site"}.get(site.kind, "benign")
        assert row["verdict"] == expected, (site.host, row["verdict"], row["reasons"])
        assert row["status"] == ("flagged" if site.kind == "fake" else "new")
