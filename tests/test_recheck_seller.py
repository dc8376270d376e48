"""Removal signal "the listing gone from the seller's page": on the sandbox
market a delisted item's own page still answers (stale), but its seller's
shop no longer lists it → removed; an untouched item stays present; a
seller page that cannot be used never turns into "removed"."""
from __future__ import annotations

import collections
import urllib.parse

import pytest
import yaml

from pipelines.profiles import ProfileError, load_profiles, parse_profile
from crawler.sandbox.world import world
from helpers import run_cli, sandbox_admin, sandbox_text
from pipelines import store
from seeds import sent_takedowns


def same_seller_pair():
    """Two live, flagged market listings of one seller."""
    by_seller = collections.defaultdict(list)
    for l in world().listings:
        if l.platform == "market" and l.removed is None and l.label == 1:
            by_seller[l.seller].append(l)
    return next(items[:2] for items in by_seller.values() if len(items) >= 2)


def test_delisted_from_seller_page(own_sandbox, db_path, tmp_path):
    delisted, untouched = same_seller_pair()
    db = store.connect(db_path)
    ids = sent_takedowns(db, [delisted, untouched])
    db.close()

    shop = "http://mall.taohuo.cn/shop/" + urllib.parse.quote(delisted.seller)
    status, page = sandbox_text(own_sandbox, shop)
    assert status == 200 and f"/item/{delisted.num}.html" in page and f"/item/{untouched.num}.html" in page
    sandbox_admin(own_sandbox, "/delist", {"nums": [delisted.num]})
    status, page = sandbox_text(own_sandbox, shop)
    assert f"/item/{delisted.num}.html" not in page and f"/item/{untouched.num}.html" in page
    status, page = sandbox_text(own_sandbox, delisted.url)        # the item page itself is stale, still there
    assert status == 200 and delisted.title in page

    proc = run_cli("takedown", "recheck", "--db", db_path, "--sandbox", own_sandbox, "--force",
                   "--no-screenshots", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "复查 2 条：已下架 1，仍在线 1，无法判断 0" in proc.stdout, proc.stdout
    db = store.connect(db_path)
    checks = {c["finding_id"]: c for c in store.takedown_checks(db)}
    gone, there = checks[ids[delisted.num]], checks[ids[untouched.num]]
    assert gone["result"] == "removed" and "已从卖家店铺下架" in gone["reason"]
    assert gone["http_status"] == 200
    assert there["result"] == "still_present"
    assert store.get_finding(db, ids[delisted.num])["status"] == "removed"
    db.close()

    # The seller page cannot be used (here: a profile whose seller link leads
    # to a 404): the listing stays "still present" even though it is delisted.
    data = yaml.safe_load(open("crawler/profiles/taohuo.yaml", encoding="utf-8"))
    data["removed"]["seller_page"] = "h1.item-title::text"
    (tmp_path / "taohuo.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    sandbox_admin(own_sandbox, "/delist", {"nums": [untouched.num]})
    proc = run_cli("takedown", "recheck", "--db", db_path, "--sandbox", own_sandbox, "--force",
                   "--no-screenshots", "--profiles", str(tmp_path), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "复查 1 条：已下架 0，仍在线 1，无法判断 0" in proc.stdout, proc.stdout


def test_seller_fields_in_profiles():
    p = load_profiles()["taohuo"]
    assert p.seller_page == "a.shop-name::attr(href)" and p.seller_items == "a.shop-item::attr(href)"
    assert load_profiles()["gongyou"].seller_page == ""
    base = {"name": "x", "kind": "marketplace", "hosts": ["x.cn"],
            "search": {"url": "http://x.cn/s?q={query}&p={page}", "result": "a::attr(href)"},
            "detail": {"title": "h1::text", "text": "p ::text"}}
    ok = parse_profile({**base, "removed": {"seller_page": "a.s::attr(href)", "seller_items": "li a::attr(href)"}})
    assert ok.seller_items == "li a::attr(href)"
    for removed, words in [({"seller_page": "a.s::attr(href)"}, "同时填写"),
                           ({"seller_page": "a[", "seller_items": "a::attr(href)"}, "选择器无效"),
                           ("404", "removed 必须是映射")]:
        with pytest.raises(ProfileError, match=words):
            parse_profile({**base, "removed": removed})
