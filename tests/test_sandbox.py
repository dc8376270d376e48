"""The sandbox server: hosts, proxy form, encodings, removal pages."""
import json
import socket
import urllib.parse

import pytest

from crawler.sandbox.world import PAGE_SIZE, World, world
from helpers import sandbox_fetch


def test_world_is_deterministic_and_labelled():
    a, b = World(seed=7), World(seed=7)
    assert [l.removed for l in a.listings] == [l.removed for l in b.listings]
    w = world()
    assert len(w.listings) >= 150
    sales = sum(l.label for l in w.listings)
    assert 0.25 < sales / len(w.listings) < 0.45
    assert {l.platform for l in w.listings} == {"market", "classifieds", "forum"}
    assert any(l.removed == "404" for l in w.listings) and any(l.removed == "notice" for l in w.listings)
    assert {s.kind for s in w.sites} >= {"official", "fake"}


def test_search_engine_pages(sandbox):
    q = "电工证 代办"
    status, _, body = sandbox_fetch(sandbox, "http://www.zhaozhao.cn/s?wd=" + urllib.parse.quote(q))
    html = body.decode("utf-8")
    assert status == 200 and 'class="result-link"' in html
    results = world().engine_search(q)
    assert html.count('class="result"') == min(PAGE_SIZE, len(results))
    assert ("下一页" in html) == (len(results) > PAGE_SIZE)


def test_marketplace_search_needs_javascript(sandbox):
    status, _, body = sandbox_fetch(sandbox, "http://mall.taohuo.cn/search?q=" + urllib.parse.quote("焊工证"))
    assert status == 200 and b"goods-link" not in body and b"market.js" in body
    status, headers, body = sandbox_fetch(sandbox,
                                          "http://mall.taohuo.cn/api/search?q=" + urllib.parse.quote("焊工证"))
    data = json.loads(body)
    assert headers["Content-Type"].startswith("application/json")
    assert data["items"] and all(i["url"].startswith("/item/") for i in data["items"])


def test_classifieds_are_gbk(sandbox):
    listing = next(l for l in world().listings if l.platform == "classifieds" and not l.removed)
    status, headers, body = sandbox_fetch(sandbox, listing.url)
    assert status == 200 and "charset=gbk" in headers["Content-Type"]
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert listing.title in body.decode("gbk")
    q = urllib.parse.quote("电工证", encoding="gbk")
    status, _, body = sandbox_fetch(sandbox, f"http://www.fenleixinxi.cn/search?kw={q}")
    assert "电工证" in body.decode("gbk")


def test_removed_listings(sandbox):
    w = world()
    gone404 = next(l for l in w.listings if l.removed == "404")
    notice = next(l for l in w.listings if l.removed == "notice")
    assert sandbox_fetch(sandbox, gone404.url)[0] == 404
    status, _, body = sandbox_fetch(sandbox, notice.url)
    from crawler.sandbox.world import PLATFORMS
    assert status == 200
    assert PLATFORMS[notice.platform].removed_notice in body.decode(PLATFORMS[notice.platform].encoding)


def test_official_and_fake_sites(sandbox):
    status, _, body = sandbox_fetch(sandbox, "http://cx.mem.gov.cn/")
    assert status == 200 and "政府网站标识码" in body.decode()
    status, _, body = sandbox_fetch(sandbox, "http://cx-mem-gov.cn/")
    assert status == 200 and "身份证号" in body.decode() and "政府网站标识码" not in body.decode()


def test_unknown_host_and_garbage_requests(sandbox):
    assert sandbox_fetch(sandbox, "http://no-such-host.example/")[0] == 502
    host, port = urllib.parse.urlsplit(sandbox).hostname, urllib.parse.urlsplit(sandbox).port
    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall(b"\x00\xff garbage\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    # The server is still up.
    assert sandbox_fetch(sandbox, "http://sandbox.admin/health")[0] == 200
