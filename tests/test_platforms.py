"""Real platform profiles swept through their sandbox replicas (one shared
crawl), the breakage alert when a replica changes its layout, blocks and
rate limits, and a real-mode sweep that cannot reach anything."""
from __future__ import annotations

import pytest

from crawler.sandbox.replicas.corpus import corpus
from crawler.sandbox.world import world
from crawler.spiders.base import load_queries
from helpers import run_cli, sandbox_admin
from pipelines import store
from pipelines.store.db import canonical_url

REAL = ("baidu", "bing", "sogou", "so360", "tieba", "wuba", "baixing", "huangye88", "b2b168", "liebiao", "github")
KEYWORD = "高压电工证"
PAGES = 2


def findings(db_path) -> dict[str, dict]:
    with store.opened(str(db_path)) as db:
        return {f["url"]: f for f in store.iter_findings(db)}


def health(db_path, sweep_id=1):
    with store.opened(str(db_path)) as db:
        return ({r["platform"]: r for r in store.sweep_platforms(db, sweep_id)}, store.list_alerts(db, sweep_id),
                store.get_sweep(db, sweep_id))


@pytest.fixture(scope="module")
def replica_sweep(sandbox, tmp_path_factory):
    """Every real profile through its replica, in one crawl."""
    db_path = tmp_path_factory.mktemp("replicas") / "certwatch.db"
    sandbox_admin(sandbox, "/replicas", {"reset": True})
    out = run_cli("sweep", "--sandbox", sandbox, "--platforms", ",".join(REAL), "--keyword", KEYWORD,
                  "--pages", PAGES, "--quiet", "--db", db_path, timeout=600)
    return db_path, out


def test_every_real_profile_reaches_exactly_the_replicas_listings(replica_sweep):
    db_path, out = replica_sweep
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    c = corpus(world())
    queries = load_queries(str(db_path), KEYWORD)
    expected = c.reachable_engine(queries, PAGES) | c.reachable_github(queries, PAGES, 50)
    for family in ("tieba", "wuba", "baixing", "huangye88", "b2b168", "liebiao"):
        expected |= c.reachable_family(family, queries, PAGES)
    got = findings(db_path)
    assert set(got) == {canonical_url(u) for u in expected}
    # Each source contributed: the sites' own searches, the API and the generic pages.
    by_platform = {}
    for f in got.values():
        by_platform.setdefault(f["platform"], set()).add(f["url"])
    for family in ("tieba", "wuba", "baixing", "huangye88", "b2b168", "liebiao"):
        assert {canonical_url(u) for u in c.reachable_family(family, queries, PAGES)} <= by_platform[family]
    assert any("#issuecomment-" in u for u in by_platform["github"])      # one finding per comment
    assert any("#postmessage_" in u for u in by_platform["web"])          # one per forum floor
    rows, alerts, sweep = health(db_path)
    assert sweep["status"] == "finished"
    assert {n: r["status"] for n, r in rows.items()} == {n: "ok" for n in REAL}, \
        {n: r["note"] for n, r in rows.items() if r["status"] != "ok"}
    assert all(r["canary_results"] > 0 for r in rows.values()) and alerts == []


def test_engines_follow_organic_results_only(replica_sweep):
    db_path, _ = replica_sweep
    with store.opened(str(db_path)) as db:
        hosts = {s["host"] for s in store.sites_with_status(db, ("new", "flagged", "dismissed", "confirmed"))}
    urls = set(findings(db_path))
    # Ads and cards on the result pages were never followed.
    assert not any("example.cn" in h for h in hosts) and not any("example.cn" in u for u in urls)
    # Result pages of the engines themselves are never findings.
    assert not any(u.split("/")[2] in ("www.baidu.com", "cn.bing.com", "www.sogou.com", "www.so.com") for u in urls)


def test_generic_pages_are_split_into_posts(replica_sweep):
    db_path, _ = replica_sweep
    c = corpus(world())
    got = findings(db_path)
    threads = [t for t in c.threads if canonical_url(t.url) in got]
    assert threads
    for t in threads:
        live = [l for l in t.posts if c.live(l)]
        first = got[canonical_url(t.url)]
        assert first["platform"] == "web" and live[0].text[:30] in first["text"]
        assert first["seller"] == (live[0].seller or "游客")
        for listing in live[1:]:
            post = got[canonical_url(f"{t.url}#postmessage_{listing.num}")]
            assert listing.text[:30] in post["text"] and post["title"] == live[0].title
    articles = [a for a in c.articles if canonical_url(c.url_of(a)) in got]
    assert articles
    for a in articles:                    # main text only: no navigation, sidebar or footer
        text = got[canonical_url(c.url_of(a))]["text"]
        assert a.text[:40] in text and "热门资讯" not in text and "ICP备" not in text


def test_layout_change_block_rate_limit_and_site_scope(sandbox, tmp_path):
    """Baidu changes its layout (the alert says so), Tieba blocks (the wappass
    redirect), GitHub rate-limits once (waited out, nothing lost), and Sogou
    searches one web site only (a schedule's site: scope)."""
    db_path = tmp_path / "certwatch.db"
    sandbox_admin(sandbox, "/replicas", {"reset": True, "layout": {"baidu": True}, "block": {"tieba": True},
                                         "rate_limit": {"github": 2}})
    try:
        out = run_cli("sweep", "--sandbox", sandbox, "--platforms", "baidu,tieba,github,sogou", "--keyword", KEYWORD,
                      "--pages", 1, "--set", "CERTWATCH_SITE_SCOPE=github.com", "--quiet", "--db", db_path, timeout=300)
    finally:
        sandbox_admin(sandbox, "/replicas", {"reset": True})
    assert out.returncode == 0, out.stderr[-3000:]
    rows, alerts, sweep = health(db_path)
    assert rows["baidu"]["status"] == "broken" and "页面结构可能已改版" in rows["baidu"]["note"]
    assert rows["tieba"]["status"] == "blocked" and "跳转到登录/验证" in rows["tieba"]["note"]
    assert rows["github"]["status"] == "ok" and sweep["stats"]["certwatch/rate_limited/github"] == 1
    assert rows["sogou"]["status"] == "ok"
    kinds = {(a["kind"], a["platform"]) for a in alerts}
    assert kinds == {("broken", "baidu"), ("blocked", "tieba")}
    assert any("页面结构可能已改版" in a["message"] for a in alerts)
    c = corpus(world())
    queries = load_queries(str(db_path), KEYWORD)
    scoped = [f"site:github.com {q}" for q in queries]
    expected = c.reachable_github(queries, 1, 50) | c.reachable_engine(scoped, 1)
    assert c.reachable_engine(scoped, 1) and all(u.startswith("https://github.com/") for u in c.reachable_engine(scoped, 1))
    assert set(findings(db_path)) == {canonical_url(u) for u in expected}
    assert "注意：平台 baidu 失效" in out.stdout


def test_real_mode_sweeps_real_platforms_and_fails_clearly_when_unreachable(tmp_path):
    db_path = tmp_path / "certwatch.db"
    out = run_cli("sweep", "--real", "--keyword", KEYWORD, "--quiet", "--db", db_path, timeout=300)
    assert out.returncode == 1
    assert "失败（没有访问到任何页面" in out.stdout and "被拒绝" in out.stdout
    rows, alerts, sweep = health(db_path)
    assert sweep["status"] == "failed" and "没有访问到任何页面" in sweep["stats"]["certwatch/failure"]
    assert set(rows) == set(REAL)                              # the real platforms were selected
    assert all(r["status"] == "broken" and "被拒绝" in r["note"] for r in rows.values())
    assert any(a["kind"] == "sweep_failed" and "没有访问到任何页面" in a["message"] for a in alerts)
    assert out.stderr.count("拒绝访问") <= 2 * len(REAL)       # one warning per host, not per request


def test_github_comments_page_through(sandbox, tmp_path):
    """Comments one per page (Link rel="next"): every comment of every issue
    found is still a finding (each next page is a request of its own)."""
    db_path = tmp_path / "certwatch.db"
    sandbox_admin(sandbox, "/replicas", {"reset": True, "comments_per_page": 1})
    try:
        out = run_cli("sweep", "--sandbox", sandbox, "--platforms", "github", "--keyword", KEYWORD, "--pages", 1,
                      "--set", 'DOWNLOAD_SLOTS={"api.github.com": {"delay": 0, "concurrency": 4}}',
                      "--quiet", "--db", db_path, timeout=300)
    finally:
        sandbox_admin(sandbox, "/replicas", {"reset": True})
    assert out.returncode == 0, out.stderr[-3000:]
    c = corpus(world())
    expected = c.reachable_github(load_queries(str(db_path), KEYWORD), 1, 50)
    paged = [u for u in expected if "#issuecomment-" in u]
    assert len(paged) > len({u.split("#")[0] for u in paged})           # issues with more than one comment
    assert set(findings(db_path)) == {canonical_url(u) for u in expected}
