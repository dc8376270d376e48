"""Adding a platform with only a profile: the schema's Chinese errors,
`profile check` / `profile try` on pages saved from the replicas, the
docs/platforms.md walk-through followed step by step, unknown platforms
refused everywhere, and the small functions the real profiles rely on."""
from __future__ import annotations

import base64
import copy
import os
import re
import shlex
import socket
import subprocess
import sys

import pytest
import yaml

from crawler.health import sweep_failure
from crawler.ratelimit import wait_seconds
from helpers import ROOT, cli, sandbox_fetch
from pipelines import generic, platform_pages
from pipelines.profiles import ProfileError, default_platforms, load_profiles, parse_profile
from pipelines.store.db import canonical_url

DOC = (ROOT / "docs" / "platforms.md").read_text(encoding="utf-8")
BAIDU = ROOT / "crawler" / "profiles" / "baidu.yaml"
GITHUB = ROOT / "crawler" / "profiles" / "github.yaml"


# ---------------------------------------------------------------- schema

def _forum(**changes) -> dict:
    data = {"name": "f", "kind": "forum", "hosts": ["bbs.x.cn"],
            "search": {"url": "http://bbs.x.cn/s?q={query}&p={page}", "result": "a.t::attr(href)"},
            "detail": {"title": "h1::text", "text": "div.c ::text"}}
    for path, value in changes.items():
        target = data
        keys = path.split("__")
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return data


@pytest.mark.parametrize("changes, message", [
    ({"search__result": "a[["}, "search.result 的 CSS 选择器无效"),
    ({"search__url": "http://other.cn/s?q={query}"}, "不在 hosts 中"),
    ({"search__url": "http://bbs.x.cn/s?q={query}&x={foo}"}, "只能使用 {query} 和 {page}"),
    ({"hosts": ["http://bbs.x.cn/"]}, "不是主机名"),
    ({"search__next_text": "下一页", "search__next_page": "a.n::attr(href)"}, "不要带 ::attr"),
    ({"search__step": 10, "search__next_page": "a.n::attr(href)"}, "只能选一种"),
    ({"search__first_page": -1}, "search.first_page 必须是 0–1000 的整数"),
    ({"search__unwrap": {"param": ""}}, "unwrap.param"),
    ({"search__format": "xml"}, "search.format 必须是 html 或 json"),
    ({"search__headers": {"Cookie": "a=b"}}, "不能设置 Cookie"),
    ({"auth": {"setting": "CERTWATCH_WEBHOOK_URL"}}, "_TOKEN 结尾"),
    ({"user_agent": "googlebot"}, "user_agent 必须是"),
    ({"serach": {}}, "不认识的字段：serach"),
    ({"detail__titel": "h1::text"}, "detail 中不认识的字段：titel"),
    ({"comments": {"url": "x"}}, "comments 只用于 format: json"),
])
def test_profile_errors_are_clear_chinese(changes, message):
    with pytest.raises(ProfileError) as err:
        parse_profile(_forum(**changes), "test.yaml")
    assert message in str(err.value)


def test_json_profile_paths_are_checked():
    data = yaml.safe_load(GITHUB.read_text(encoding="utf-8"))
    assert parse_profile(copy.deepcopy(data)).format == "json"
    bad = copy.deepcopy(data)
    bad["detail"]["seller"] = "user..login"
    with pytest.raises(ProfileError, match="detail.seller 的 JSON 字段路径无效"):
        parse_profile(bad)


def test_real_profiles_are_real_and_selected_only_in_real_mode():
    profiles = load_profiles()
    real = {p.name for p in default_platforms(profiles, sandbox=False)}
    assert real == {"baidu", "bing", "sogou", "so360", "tieba", "wuba", "baixing", "huangye88", "b2b168",
                    "liebiao", "github"}
    assert all(not profiles[n].demo and profiles[n].canary and profiles[n].politeness.get("delay") for n in real)
    assert not real & {p.name for p in default_platforms(profiles, sandbox=True)}


# ---------------------------------------------------------------- profile check / try

def test_profile_try_detail_keeps_the_platforms_scheme(capsys, tmp_path):
    """An http platform's detail page is read against http://its-host/, an
    https one's against https:// (both came out https before)."""
    saved = tmp_path / "post.html"
    saved.write_text('<html><body><h1 class="subject">电工证</h1><div class="post-content">正文</div></body></html>',
                     encoding="utf-8")
    code, out, _ = cli(capsys, "profile", "try", ROOT / "crawler/profiles/gongyou.yaml", "--page", saved,
                       "--kind", "detail")
    assert code == 0 and "相对链接以 http://bbs.gongyou.cn/ 为准" in out and "标题（detail.title）：电工证" in out
    code, out, _ = cli(capsys, "profile", "try", ROOT / "crawler/profiles/tieba.yaml", "--page", saved,
                       "--kind", "detail")
    assert "相对链接以 https://tieba.baidu.com/ 为准" in out


def test_profile_check_and_try_on_pages_saved_from_the_replicas(sandbox, capsys, tmp_path):
    code, out, _ = cli(capsys, "profile", "check", BAIDU)
    assert code == 0 and "格式正确" in out and "https://www.baidu.com/s?ie=utf-8&wd=" in out and "pn=0" in out
    status, _, body = sandbox_fetch(sandbox, "http://www.baidu.com/s?ie=utf-8&wd=%E7%94%B5%E5%B7%A5%E8%AF%81&pn=0")
    saved = tmp_path / "baidu.html"
    saved.write_bytes(body)
    code, out, _ = cli(capsys, "profile", "try", BAIDU, "--page", saved)
    assert code == 0 and "结果链接（search.result）：10 条" in out
    assert "下一页（search.next_page）：https://www.baidu.com/s?ie=utf-8&wd=" in out and "pn=10" in out
    assert "example.cn" not in out                      # the ad and the card are not results
    # A GBK detail page: Tieba's post page saved, read as a detail page.
    _, _, search = sandbox_fetch(sandbox, "http://tieba.baidu.com/f/search/res?ie=utf-8&qw=%E7%94%B5%E5%B7%A5%E8%AF%81")
    tid = re.search(rb'href="/p/(\d+)', search).group(1).decode()
    _, _, post = sandbox_fetch(sandbox, f"http://tieba.baidu.com/p/{tid}")
    saved.write_bytes(post)
    code, out, _ = cli(capsys, "profile", "try", ROOT / "crawler/profiles/tieba.yaml", "--page", saved, "--kind", "detail")
    assert code == 0 and "标题（detail.title）：" in out and "（空）" not in out.split("正文")[1].splitlines()[0]
    # The JSON API: items with their fields and comment endpoints.
    _, _, api = sandbox_fetch(sandbox, "http://api.github.com/search/issues?q=%E7%94%B5%E5%B7%A5%E8%AF%81+is:issue")
    saved.write_bytes(api)
    code, out, _ = cli(capsys, "profile", "try", GITHUB, "--page", saved)
    assert code == 0 and "链接 https://github.com/" in out and "发布者：u" in out and "评论接口：" in out
    # A page the selectors do not fit: exit 1 and a hint.
    saved.write_text("<html><body><p>nothing</p></body></html>", encoding="utf-8")
    code, out, _ = cli(capsys, "profile", "try", BAIDU, "--page", saved)
    assert code == 1 and "没有提取到内容" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nkind: forum\n", encoding="utf-8")
    code, _, err = cli(capsys, "profile", "check", bad)
    assert code == 2 and "hosts 至少要有一个主机名" in err


# ---------------------------------------------------------------- the docs walk-through

def _doc_files() -> dict[str, str]:
    return dict(re.findall(r"文件 `([^`]+)`[^\n]*\n\n```\w*\n(.*?)```", DOC, re.S))


def _doc_commands() -> list[str]:
    section = DOC.split("## 添加一个平台", 1)[1].split("### 第 6 步", 1)[0]
    return [line.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.S)
            for line in block.splitlines() if line.strip()]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_adding_a_platform_as_the_docs_say(tmp_path, capsys, monkeypatch):
    port = str(_free_port())
    files = _doc_files()
    assert {"pages/search.html", "profiles/myforum.yaml", "local-test/myforum.yaml"} <= set(files)
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("8931", port), encoding="utf-8")
    commands = _doc_commands()
    assert [c.split()[0] for c in commands] == ["certwatch", "certwatch", "certwatch", "python3", "certwatch"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    monkeypatch.chdir(tmp_path)
    server = None
    outputs = []
    try:
        for command in commands:
            argv = shlex.split(command.replace("8931", port))
            if argv[0] == "python3":
                server = subprocess.Popen([sys.executable, *argv[1:]], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                _wait_for(int(port))
            elif argv[1] == "sweep":          # a crawl: its own process (one reactor per process)
                out = subprocess.run([sys.executable, "-m", "crawler.cli", *argv[1:]], cwd=tmp_path,
                                     capture_output=True, text=True, timeout=300, env=env)
                assert out.returncode == 0, f"{command}\n{out.stdout}\n{out.stderr[-3000:]}"
                outputs.append(out.stdout)
            else:
                code, out, err = cli(capsys, *argv[1:])
                assert code == 0, f"{command}\n{out}\n{err}"
                outputs.append(out)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    check, try_search, try_detail, sweep = outputs
    assert "格式正确" in check and "bbs.example-luntan.cn" in check
    assert "结果链接（search.result）：2 条" in try_search and "http://bbs.example-luntan.cn/thread/1001.html" in try_search
    assert "标题（detail.title）：高压电工证代办" in try_detail and "发布者（detail.seller）：证书服务小张" in try_detail
    assert "完成" in sweep
    from pipelines import store
    with store.opened(str(tmp_path / "mine.db")) as db:
        found = {f["url"]: f for f in store.iter_findings(db)}
        evidence = [e for e in store.iter_evidence(db) if e.get("status") == "ok"]
        rows = store.sweep_platforms(db, 1)
    base = f"http://127.0.0.1:{port}/thread/"
    assert set(found) == {base + "1001.html", base + "1002.html"}
    assert found[base + "1001.html"]["flagged"] and not found[base + "1002.html"]["flagged"]
    assert [e["url"] for e in evidence] == [base + "1001.html"]        # captured through --local
    assert [(r["platform"], r["status"]) for r in rows] == [("myforum", "ok")]


def _wait_for(port: int) -> None:
    import time
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("http.server did not start")


def test_guard_still_refuses_loopback_without_local(tmp_path, capsys):
    code, _, err = cli(capsys, "sweep", "--real", "--local", "--db", tmp_path / "x.db")
    assert code == 2 and "--local 需要同时用 --profiles" in err


# ---------------------------------------------------------------- unknown platforms

def test_unknown_platforms_are_refused_by_sweep_schedule_and_console(capsys, tmp_path, db_path):
    code, _, err = cli(capsys, "sweep", "--sandbox", "http://127.0.0.1:9", "--platforms", "baidu,nosuch",
                       "--db", db_path)
    assert code == 2 and "未知平台：nosuch" in err
    code, _, err = cli(capsys, "schedule", "add", "--name", "x", "--cron", "0 2 * * *", "--platforms", "nosuch",
                       "--db", db_path)
    assert code == 2 and "未知平台：nosuch" in err
    code, _, _ = cli(capsys, "schedule", "add", "--name", "x", "--cron", "0 2 * * *", "--platforms", "github",
                     "--set", "CERTWATCH_SITE_SCOPE=github.com", "--db", db_path)
    assert code == 0
    code, _, err = cli(capsys, "schedule", "edit", "x", "--platforms", "nosuch", "--db", db_path)
    assert code == 2 and "未知平台：nosuch" in err
    from helpers import add_users, csrf_of, login
    from pipelines import store
    from reports.console.app import create_app
    with store.opened(db_path) as db:
        add_users(db, "mon")
    client, _ = login(create_app(db_path), "mon")
    token = csrf_of(client, "/schedules")
    r = client.post("/schedules/add", data={"name": "y", "cron": "0 2 * * *", "platforms": "nosuch",
                                            "csrf_token": token})
    assert r.status_code == 400 and "未知平台：nosuch" in r.text


# ---------------------------------------------------------------- small functions

def test_sweep_failure_reasons():
    assert "没有选中任何平台" in sweep_failure({}, [])
    assert "没有访问到任何页面" in sweep_failure({"certwatch/refused/unresolvable": 3}, ["baidu"])
    stats = {"downloader/response_status_count/502": 12}
    assert sweep_failure(stats, ["myforum"]) == "全部 12 个响应都是拒绝或服务器错误（HTTP 502 × 12）"
    assert sweep_failure({**stats, "downloader/response_status_count/200": 1}, ["myforum"]) == ""


def test_result_links_unwrapping_and_pagination():
    from parsel import Selector
    profiles = load_profiles()
    target = "https://tieba.baidu.com/p/9000100120"
    link = "https://www.bing.com/ck/a?!&&p=ab&u=a1" + base64.urlsafe_b64encode(target.encode()).decode().rstrip("=")
    sel = Selector(text=f'<ol id="b_results"><li class="b_algo"><h2><a href="{link}">t</a></h2></li></ol>'
                        '<a class="sb_pagN" href="/search?q=x&amp;first=11">下一页</a>')
    assert platform_pages.result_links(profiles["bing"], sel, "https://cn.bing.com/search?q=x") == [target]
    assert platform_pages.next_link(profiles["bing"], sel, "https://cn.bing.com/") == "https://cn.bing.com/search?q=x&first=11"
    sel = Selector(text='<div id="page"><a class="n" href="/s?pn=0">&lt; 上一页</a><a class="n" href="/s?pn=20">下一页 &gt;</a></div>')
    assert platform_pages.next_link(profiles["baidu"], sel, "https://www.baidu.com/s") == "https://www.baidu.com/s?pn=20"
    assert platform_pages.link_next('<https://a/x?page=2>; rel="next", <https://a/x?page=5>; rel="last"') == "https://a/x?page=2"
    assert platform_pages.link_next('<https://a/x?page=1>; rel="prev"') is None
    assert profiles["b2b168"].search_url("高压电工证 代办", 1) == "https://www.b2b168.com/k-gaoyadiangongzheng-daiban/"


def test_rate_limit_headers():
    assert wait_seconds(429, {"Retry-After": "7"}, now=0) == 7
    assert wait_seconds(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "100"}, now=90) == 10.5
    assert wait_seconds(403, {"X-RateLimit-Remaining": "3"}, now=0) == 60          # a secondary limit
    assert wait_seconds(200, {"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": "100"}, now=0) is None
    assert wait_seconds(403, {}, now=0) is None


def test_token_goes_only_to_the_platforms_own_host():
    from scrapy.settings import Settings

    from crawler.spiders.listings import ListingsSpider
    spider = ListingsSpider()
    spider.token_settings = Settings({"CERTWATCH_GITHUB_TOKEN": "t0ken"})
    spider.browser_user_agent = "Mozilla/5.0 test"
    github = load_profiles()["github"]
    headers = spider.headers_for(github, "https://api.github.com/search/issues?q=x")
    assert headers["Authorization"] == "Bearer t0ken" and headers["X-GitHub-Api-Version"] == "2022-11-28"
    assert "Authorization" not in spider.headers_for(github, "https://evil.example.com/x")
    assert spider.headers_for(load_profiles()["baidu"], "https://www.baidu.com/s")["User-Agent"] == "Mozilla/5.0 test"
    spider.token_settings = Settings({"CERTWATCH_GITHUB_TOKEN": ""})
    assert "Authorization" not in spider.headers_for(github, "https://api.github.com/search/issues?q=x")


def test_generic_judgement():
    form = ('<html><body><h1>特种作业操作证查询</h1><form><label>姓名<input name="xm"></label>'
            '<label>身份证号<input name="sfzh"></label><button>查询</button></form></body></html>')
    assert generic.judge("http://cx-mem-gov.cn/", form).kind == "site"
    news = "<html><body><h1>警方提醒</h1><p>近日警方破获一起伪造证书案件，提醒市民到官方平台查询。</p></body></html>"
    assert generic.judge("http://news.example.cn/1.html", news).kind == "site"
    assert generic.judge("http://x.cn/", "").kind == "site"
    assert canonical_url("https://github.com/a/b/issues/3#issuecomment-12") == "https://github.com/a/b/issues/3#issuecomment-12"
    assert canonical_url("https://x.cn/a#top") == "https://x.cn/a"


def test_local_lets_through_only_the_named_loopback_hosts():
    """`sweep --profiles DIR --local` names its profiles' loopback hosts as
    exceptions of the one fetch guard; everything else stays refused."""
    from pipelines.netguard import Guard, Refused
    guard = Guard.from_settings({"CERTWATCH_LOCAL_HOSTS": "127.0.0.1,replica.test"})
    assert guard.check_url("http://127.0.0.1:8123/search?q=1")[1] == "127.0.0.1"
    for url in ("http://localhost/", "http://10.1.2.3/", "http://127.0.0.2/"):
        with pytest.raises(Refused):
            guard.check_url(url)
    with pytest.raises(Refused):
        Guard.from_settings({}).check_url("http://127.0.0.1:8123/")


def test_news_quoting_sale_words_is_a_site_and_an_ad_with_a_contact_a_listing():
    news = ("<html><body><h1>警方破获伪造证书案</h1><p>犯罪嫌疑人以“不用考试、包过、代办”为噱头招揽客户，"
            "警方提醒市民证书真伪请到官方平台查询，切勿轻信。</p></body></html>")
    assert generic.judge("http://news.example.cn/2.html", news).kind == "site"
    ad = ("<html><body><div class='nav'><a href='/'>首页</a></div><h1>电工证代办</h1><div class='content'><p>"
          "高压电工证、焊工证代办，不用考试，全国通用，官网可查。联系微信 zheng_ban88，电话 17873429061。"
          "</p></div></body></html>")
    judged = generic.judge("http://ad.example.cn/1.html", ad)
    assert judged.kind == "listings" and "17873429061" in judged.listings[0]["text"]


def test_evidence_capture_uses_a_profiles_own_proxy(sandbox, tmp_path, db_path):
    """Real mode, a platform reached only through its profile's proxy (here the
    sandbox stands in for it): evidence capture goes through that proxy too."""
    from crawler.sandbox.world import world
    from helpers import run_cli
    from pipelines import store
    folder = tmp_path / "profiles"
    folder.mkdir()
    data = yaml.safe_load((ROOT / "crawler/profiles/gongyou.yaml").read_text(encoding="utf-8"))
    data.update({"name": "gongyou_proxied", "sandbox": False, "politeness": {"proxy": sandbox}})
    (folder / "gongyou_proxied.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    live = next(l for l in world().listings if l.platform == "forum" and not l.removed)
    with store.opened(db_path) as db:
        store.record_findings(db, [{"url": live.url, "platform": "gongyou_proxied", "title": live.title,
                                    "text": live.text, "flagged": True, "score": 90}], None)
    out = run_cli("evidence", "capture", "--real", "--profiles", folder, "--db", db_path, "--quiet", timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert "成功 1 条，失败 0 条" in out.stdout
    with store.opened(db_path) as db:
        (row,) = [e for e in store.iter_evidence(db)]
    assert row["status"] == "ok" and row["http_status"] == 200 and row["url"] == live.url


def test_next_comments_page_carries_only_our_meta():
    """A comments page's next page (Link rel="next") is a new request: none of
    the keys Scrapy and the middlewares set on the page it came from, and the
    token only when the next page is on the platform's own host."""
    from scrapy.http import Request, TextResponse
    from scrapy.utils.test import get_crawler

    from crawler.spiders.base import MAX_COMMENT_PAGES
    from crawler.spiders.listings import ListingsSpider
    crawler = get_crawler(ListingsSpider, {"CERTWATCH_GITHUB_TOKEN": "t0ken"})
    spider = ListingsSpider.from_crawler(crawler)
    crawler.stats.open_spider()
    github = spider.profiles["github"]
    url = "https://api.github.com/repos/a/b/issues/1/comments"
    first = Request(url, meta={"profile": "github", "query": "电工证", "title": "办证", "comments": True},
                    headers=spider.headers_for(github, url))         # as json_results asks for it
    internal = {"download_slot": "api.github.com", "download_latency": 0.2, "depth": 2, "redirect_times": 1,
                "redirect_urls": ["https://api.github.com/x"], "redirect_ttl": 19, "proxy": "http://127.0.0.1:9",
                "_auth_proxy": "http://127.0.0.1:9", "dont_obey_robotstxt": True, "autothrottle_dont_adjust_delay": True,
                "certwatch_guarded": True, "download_timeout": 30}
    body = '[{"html_url": "https://github.com/a/b/issues/1#issuecomment-7", "body": "代办电工证", "user": {"login": "x"}}]'

    def page(meta, link):
        request = Request(first.url, meta={**first.meta, **internal, **meta}, headers=first.headers,
                          callback=spider.parse_comments)
        return TextResponse(first.url, body=body.encode(), encoding="utf-8", request=request,
                            headers={"Link": f'<{link}>; rel="next"', "Content-Type": "application/json"})
    out = list(spider.parse_comments(page({}, "https://api.github.com/repos/a/b/issues/1/comments?page=2")))
    assert [o["url"] for o in out if isinstance(o, dict)] == ["https://github.com/a/b/issues/1#issuecomment-7"]
    nxt = [o for o in out if isinstance(o, Request)]
    assert len(nxt) == 1 and nxt[0].url.endswith("comments?page=2") and nxt[0].callback == spider.parse_comments
    assert nxt[0].meta == {**first.meta, "comment_page": 2}
    assert nxt[0].headers.get("Authorization") == b"Bearer t0ken"
    # A Link to another host gets no token; the last page allowed has no next.
    out = list(spider.parse_comments(page({"comment_page": 2}, "https://evil.example.com/comments?page=3")))
    nxt = [o for o in out if isinstance(o, Request)]
    assert nxt[0].meta["comment_page"] == 3 and "Authorization" not in nxt[0].headers
    last = page({"comment_page": MAX_COMMENT_PAGES}, "https://api.github.com/repos/a/b/issues/1/comments?page=11")
    assert not [o for o in spider.parse_comments(last) if isinstance(o, Request)]
