"""Hostile pages never crash a sweep; private addresses are refused in real mode."""
import asyncio

import pytest

from crawler.middlewares import GuardMiddleware, is_public_address
from helpers import forum_profile, run_cli
from pipelines import store


def test_hostile_pages_are_skipped_with_reasons(sandbox, db_path, tmp_path):
    profiles = forum_profile(tmp_path / "profiles", "hostile", "恶意页面论坛", "bad.gongyou.cn")
    proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--profiles", profiles,
                   "--platforms", "hostile", "--keyword", "焊工证", "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    db = store.connect(db_path)
    (sweep,) = store.list_sweeps(db)
    stats = store.get_sweep(db, sweep["id"])["stats"]
    urls = sorted(f["url"] for f in store.iter_findings(db))
    db.close()
    assert sweep["status"] == "finished"
    assert urls == ["http://bad.gongyou.cn/thread-broken.html", "http://bad.gongyou.cn/thread-ok.html"]
    # binary and invalid GBK: undecodable (or not text); empty page; oversized: cancelled.
    assert stats["certwatch/skipped/empty"] == 1
    assert stats.get("certwatch/skipped/undecodable", 0) + stats.get("certwatch/skipped/not_text", 0) == 2
    assert stats["downloader/exception_type_count/scrapy.exceptions.DownloadCancelledError"] == 1
    assert stats["downloader/response_status_count/302"] >= 1          # the loop was cut off


@pytest.mark.parametrize("addr, public", [
    ("127.0.0.1", False), ("10.1.2.3", False), ("192.168.0.1", False), ("172.16.5.4", False),
    ("169.254.169.254", False), ("::1", False), ("fe80::1", False), ("0.0.0.0", False),
    ("8.8.8.8", True), ("2400:3200::1", True),
])
def test_public_address_rule(addr, public):
    assert is_public_address(addr) is public


def test_guard_refuses_literal_private_hosts():
    from scrapy import Request
    from scrapy.exceptions import IgnoreRequest
    from scrapy.utils.test import get_crawler
    crawler = get_crawler(settings_dict={"CERTWATCH_SANDBOX": ""})
    guard = GuardMiddleware.from_crawler(crawler)
    # IP literals in any notation are refused before any lookup.
    for host in ("127.0.0.1", "10.0.0.8", "169.254.169.254", "[::1]", "2130706433", "0x7f.1", "localhost"):
        with pytest.raises(IgnoreRequest):
            asyncio.run(guard.process_request(Request(f"http://{host}/")))
    assert asyncio.run(guard.process_request(Request("http://8.8.8.8/"))) is None   # a literal: no lookup
