"""Sweep health: blocked/broken detection on the sandbox's troubled
platforms, canary queries, alerts delivered to a loopback webhook,
profile validation, politeness settings."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from scrapy.http import HtmlResponse, Request
from scrapy.settings import Settings

from crawler.health import block_reason, platform_health, send_webhook
from crawler.politeness import Politeness
from pipelines.profiles import ProfileError, load_profiles, parse_profile
from helpers import run_cli, sandbox_admin
from pipelines import store

TROUBLED = "laowu,xinxigang,kongkong"


class Receiver:
    """A loopback webhook receiver (a DingTalk/WeCom robot stand-in)."""

    def __init__(self):
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.headers.get("Content-Type"), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"errcode":0,"errmsg":"ok"}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/robot/send?access_token=t"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def sweep(sandbox, db_path, platforms, *extra):
    return run_cli("sweep", "--sandbox", sandbox, "--platforms", platforms, "--pages", "1",
                   "--keyword", "高压电工证", "--quiet", "--db", db_path, *extra, timeout=180)


def health(db_path, sweep_id):
    db = store.connect(db_path)
    try:
        return ({r["platform"]: r for r in store.sweep_platforms(db, sweep_id)},
                store.list_alerts(db, sweep_id))
    finally:
        db.close()


def test_blocked_and_broken_detected_on_sandbox(sandbox, db_path, receiver):
    # 1. Healthy: no captcha yet, old design. Every platform answers.
    sandbox_admin(sandbox, "/troubled", {"reset": True, "captcha_after": 1000, "redesign": False})
    out = sweep(sandbox, db_path, "gongyou,laowu,xinxigang", "--set", f"CERTWATCH_WEBHOOK_URL={receiver.url}")
    assert out.returncode == 0, out.stderr
    rows, alerts = health(db_path, 1)
    assert {n: r["status"] for n, r in rows.items()} == {"gongyou": "ok", "laowu": "ok", "xinxigang": "ok"}
    assert all(r["items"] > 0 and r["canary_results"] > 0 and r["blocked"] == 0 for r in rows.values())
    assert rows["gongyou"]["by_status"] == {"200": rows["gongyou"]["responses"]}
    assert rows["gongyou"]["requests"] == rows["gongyou"]["responses"] > 0
    assert alerts == [] and receiver.received == []
    # xinxigang limits queries to 12 characters: the long ones were skipped, not sent.
    assert rows["xinxigang"]["search_pages"] < rows["gongyou"]["search_pages"]
    # 2. Trouble: captcha after 4 requests, redesigned result markup, empty platform.
    sandbox_admin(sandbox, "/troubled", {"reset": True, "captcha_after": 4, "redesign": True})
    try:
        out = sweep(sandbox, db_path, f"gongyou,{TROUBLED}", "--set", f"CERTWATCH_WEBHOOK_URL={receiver.url}")
    finally:
        sandbox_admin(sandbox, "/troubled", {"reset": True, "captcha_after": 1000, "redesign": False})
    assert out.returncode == 0, out.stderr
    assert "注意：平台 laowu 被拦截" in out.stdout and "注意：平台 kongkong 失效" in out.stdout
    rows, alerts = health(db_path, 2)
    assert {n: r["status"] for n, r in rows.items()} == {
        "gongyou": "ok", "laowu": "blocked", "xinxigang": "broken", "kongkong": "broken"}
    laowu = rows["laowu"]
    assert laowu["blocked"] >= laowu["responses"] - 4 and laowu["blocked_reasons"] == {"marker": laowu["blocked"]}
    assert laowu["empty_pages"] == 0          # a captcha page is not "no results"
    assert rows["xinxigang"]["canary_results"] == 0 and rows["xinxigang"]["items"] == 0
    assert rows["kongkong"]["empty_pages"] == rows["kongkong"]["search_pages"] > 0
    assert "探测查询" in rows["kongkong"]["note"]
    # Alerts: one row each, delivered to the webhook in the robot format.
    assert sorted((a["kind"], a["platform"]) for a in alerts) == [
        ("blocked", "laowu"), ("broken", "kongkong"), ("broken", "xinxigang")]
    assert all(a["delivered"] == 1 for a in alerts)
    assert len(receiver.received) == 3
    for ctype, body in receiver.received:
        assert ctype.startswith("application/json")
        assert body["msgtype"] == "text" and set(body) == {"msgtype", "text"}
        assert body["text"]["content"].startswith("【certwatch 巡查告警】巡查 #2")
    assert any("劳务论坛（laowu）被拦截" in b["text"]["content"] for _, b in receiver.received)
    out = run_cli("health", "2", "--db", db_path)
    assert out.returncode == 1 and "被拦截" in out.stdout and "失效" in out.stdout and "告警" in out.stdout


def test_default_sweep_skips_test_only_platforms():
    from crawler.spiders.listings import ListingsSpider
    spider = ListingsSpider()
    spider.profiles, spider.sandbox = load_profiles(), True
    assert {p.name for p in spider.selected()} == {"taohuo", "fenleixinxi", "gongyou"}
    spider.platform_filter = ["laowu", "gongyou"]
    assert {p.name for p in spider.selected()} == {"laowu", "gongyou"}


def _response(url, body, status=200, meta=None):
    req = Request(url, meta=meta or {})
    return HtmlResponse(url, status=status, body=body.encode("utf-8"), encoding="utf-8", request=req)


def test_block_reason_generic_and_profile_signals():
    p = load_profiles()
    forum, laowu = p["gongyou"], p["laowu"]
    page = '<html><body>{}</body></html>'
    ok_search = page.format('<table class="threads"><a class="subject" href="/t">电工证</a></table>')
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", ok_search), "search") is None
    # A listing that merely mentions 验证码 is content.
    listing = page.format('<h1 class="subject">电工证</h1><div class="post-content">扫码验证码验真</div>')
    assert block_reason(forum, _response("http://bbs.gongyou.cn/thread-1-1.html", listing), "detail") is None
    captcha = page.format('<h2>安全验证</h2><p>请拖动滑块完成验证</p>')
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", captcha), "search") == "captcha"
    login = page.format('<p>请登录后查看更多内容</p>')
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", login), "search") == "login"
    wall = page.format("<p>Just a moment... Checking your browser</p>")
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", wall), "search") == "interstitial"
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", "<html><body> </body></html>"),
                        "search") == "empty_page"
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", "", 429), "search") == "status"
    redirected = _response("http://passport.gongyou.cn/login?from=x", page.format("账号"))
    redirected.request = Request("http://bbs.gongyou.cn/search.php")
    assert block_reason(forum, redirected, "search") == "redirect"
    # An empty result list is "no results", not a blank page (a clean sandbox sweep counted 8 blocks).
    no_rows = page.format('<table class="threads"></table><div class="pg"></div>')
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", no_rows), "search") is None
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", page.format("<br><br>")),
                        "search") == "empty_page"
    genuine_empty = page.format('<p class="nores">没有找到相关结果</p>')
    assert block_reason(forum, _response("http://bbs.gongyou.cn/search.php", genuine_empty), "search") is None
    marker = page.format("<h2>请完成安全验证</h2>")
    assert block_reason(laowu, _response("http://bbs.laowu.cn/search", marker), "search") == "marker"
    # Removal pages are not blocks.
    assert block_reason(forum, _response("http://bbs.gongyou.cn/thread-1-1.html", page.format("页面不存在"), 404),
                        "detail") is None


def test_platform_health_rules():
    stats = {"certwatch/requests/a": 10, "certwatch/responses/a/200": 10, "certwatch/blocked/a": 1,
             "certwatch/canary/a": 1, "certwatch/canary_results/a": 10,
             "certwatch/requests/b": 3, "certwatch/errors/b": 3, "certwatch/canary/b": 1}
    rows = {r["platform"]: r for r in platform_health(stats, {}, {})}
    assert rows["a"]["status"] == "blocked"           # 1 of 10 = the 10% threshold
    assert rows["b"]["status"] == "broken" and "全部请求失败" in rows["b"]["note"]
    stats["certwatch/responses/a/200"] = 20
    stats["certwatch/requests/a"] = 20
    assert platform_health(stats, {}, {})[0]["status"] == "ok"


def test_webhook_failure_is_recorded(fresh_db, db_path):
    from crawler.health import alert
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                          # nothing listens there now
    alert_id = alert(fresh_db, "sweep_failed", "测试告警", f"http://127.0.0.1:{port}/hook")
    row = store.list_alerts(fresh_db)[0]
    assert row["id"] == alert_id and row["delivered"] == 0 and row["delivery_error"]
    assert send_webhook("ftp://x", "x") == (False, "webhook 地址必须以 http:// 或 https:// 开头")


def test_profile_health_fields_validated():
    base = {"name": "p", "kind": "forum", "hosts": ["a.cn"],
            "search": {"url": "http://a.cn/s?q={query}&p={page}", "result": "a::attr(href)"},
            "detail": {"title": "h1::text", "text": "div ::text"}}
    p = parse_profile(dict(base, canary="电工证", blocked={"markers": ["请登录"], "status": [403]},
                           politeness={"delay": 2, "concurrency": 1, "proxy": "http://10.0.0.1:3128"},
                           robots="ignore", demo=False))
    assert (p.canary, p.blocked["status"], p.politeness["delay"], p.robots, p.demo) == \
        ("电工证", [403], 2.0, "ignore", False)
    for bad in ({"blocked": {"markers": "请登录"}}, {"blocked": {"foo": []}}, {"blocked": {"status": [999]}},
                {"politeness": {"delay": -1}}, {"politeness": {"proxy": "socks5://x"}}, {"robots": "maybe"},
                {"canary": ["a"]}, {"search": dict(base["search"], max_query_length="x")}):
        with pytest.raises(ProfileError):
            parse_profile(dict(base, **bad))


def test_politeness_settings(tmp_path):
    (tmp_path / "real.yaml").write_text(
        "name: realforum\nkind: forum\nhosts: [bbs.example.cn]\n"
        "search: {url: 'http://bbs.example.cn/s?q={query}&p={page}', result: 'a::attr(href)'}\n"
        "detail: {title: 'h1::text', text: 'div ::text'}\n"
        "politeness: {delay: 3, concurrency: 1, proxy: 'http://127.0.0.1:3128'}\n", encoding="utf-8")
    real = Settings({"CERTWATCH_PROFILES_DIR": str(tmp_path), "CERTWATCH_SANDBOX": "",
                     "AUTOTHROTTLE_ENABLED": False, "DOWNLOAD_DELAY": 0, "ROBOTSTXT_OBEY": False})
    real.set("DOWNLOAD_DELAY", 0.5, priority="cmdline")           # the user's --set wins
    Politeness().update_settings(real)
    assert real.getbool("AUTOTHROTTLE_ENABLED") and real.getbool("ROBOTSTXT_OBEY")
    assert real.getfloat("DOWNLOAD_DELAY") == 0.5
    assert real.getdict("DOWNLOAD_SLOTS")["bbs.example.cn"] == {"delay": 3.0, "concurrency": 1}
    sandbox = Settings({"CERTWATCH_SANDBOX": "http://127.0.0.1:1", "AUTOTHROTTLE_ENABLED": False,
                        "ROBOTSTXT_OBEY": False})
    Politeness().update_settings(sandbox)
    assert not sandbox.getbool("AUTOTHROTTLE_ENABLED") and not sandbox.getbool("ROBOTSTXT_OBEY")
    from crawler.settings import USER_AGENT
    assert USER_AGENT.startswith("certwatch/") and "contact:" in USER_AGENT and USER_AGENT.isascii()
