"""The review console in-process: routes, permissions, sessions, CSRF,
decisions, queue filters, the detail page and its network."""
from __future__ import annotations

import importlib
import re
import sys
import textwrap

import pytest
from fastapi.testclient import TestClient

from helpers import PASSWORD, cli, csrf_in, csrf_of, login, run_cli
from pipelines import store
from pipelines.evidence import beijing_time
from reports.console import app as console_app
from reports.console.app import ConsoleSetupError, create_app
from reports.console.passwords import hash_password, verify_password
from seeds import seed_console


@pytest.fixture
def console(db_path):
    db = store.connect(db_path)
    ids = seed_console(db)
    app = create_app(db_path)
    yield app, db, ids
    db.close()


def test_password_hash_is_salted_scrypt():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a != b and a.startswith("scrypt$")
    assert verify_password(PASSWORD, a) and not verify_password("wrong password", a)
    assert not verify_password(PASSWORD, None) and not verify_password(PASSWORD, "garbage")


def test_every_route_sends_anonymous_users_to_login(console):
    app, db, ids = console
    client = TestClient(app)
    checked = 0
    routes = [r for name in console_app.PAGE_ROUTERS
              for r in importlib.import_module(name).router.routes]
    for route in routes:
        if not hasattr(route, "methods") or route.path in ("/login",):
            continue
        path = re.sub(r"\{[^}]+\}", "1", route.path)
        for method in route.methods - {"HEAD"}:
            r = client.request(method, path, follow_redirects=False)
            if method == "GET":
                assert r.status_code == 303 and r.headers["location"].startswith("/login"), (method, path)
            else:
                assert r.status_code == 401, (method, path)
            checked += 1
    assert checked >= 8
    assert len(list(db["decisions"].rows)) == 0


def test_a_page_module_route_without_role_check_is_refused(db_path, tmp_path, monkeypatch):
    (tmp_path / "bad_pages.py").write_text(textwrap.dedent("""
        from fastapi import APIRouter
        NAV = []
        router = APIRouter()
        @router.get("/open")
        def open_page():
            return "x"
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ConsoleSetupError, match="/open"):
        create_app(db_path, page_routers=[*console_app.PAGE_ROUTERS, "bad_pages"])
    sys.modules.pop("bad_pages", None)


def test_login_sets_strict_httponly_cookie_and_logout_ends_session(console):
    app, db, ids = console
    client, r = login(app, "rev")
    assert r.status_code == 303 and r.headers["location"] == "/queue"
    cookie = [c for c in r.headers.get_list("set-cookie") if c.startswith("cw_session=")][0]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    token = client.cookies.get("cw_session")
    assert token and token not in str(list(db["sessions"].rows))     # only its hash is stored
    page = client.get("/queue")
    assert page.status_code == 200 and "审核队列" in page.text and "rev（审核员）" in page.text
    r = client.post("/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False)
    assert r.status_code == 303
    stale = TestClient(app)
    stale.cookies.set("cw_session", token)
    assert stale.get("/queue", follow_redirects=False).status_code == 303


def test_wrong_password_and_login_rate_limit(console):
    app, db, ids = console
    for _ in range(5):
        _, r = login(app, "rev", "wrong password")
        assert r.status_code == 401 and "用户名或密码错误" in r.text
    _, r = login(app, "rev")                       # right password, but locked for now
    assert r.status_code == 429 and "登录失败次数过多" in r.text
    _, r = login(app, "mon")                       # another account is not affected
    assert r.status_code == 303


def test_login_form_needs_its_csrf_token_and_next_stays_local(console):
    app, db, ids = console
    client = TestClient(app)
    r = client.post("/login", data={"name": "rev", "password": PASSWORD}, follow_redirects=False)
    assert r.status_code == 403
    page = client.get("/login?next=//evil.example/x")
    token = csrf_in(page.text)
    r = client.post("/login", data={"name": "rev", "password": PASSWORD, "csrf_token": token,
                                    "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/queue"


def test_roles(console):
    app, db, ids = console
    rev, _ = login(app, "rev")
    assert rev.get("/users").status_code == 403
    r = rev.post("/users/add", data={"name": "x", "role": "admin", "password": PASSWORD,
                                     "csrf_token": csrf_of(rev)})
    assert r.status_code == 403 and store.get_user(db, name="x") is None
    assert "用户管理" not in rev.get("/queue").text

    ro, _ = login(app, "ro")
    assert ro.get(f"/finding/{ids['wechat1']}").status_code == 200
    assert 'name="items"' not in ro.get("/queue").text
    r = ro.post("/decide", data={"items": f"finding:{ids['wechat1']}", "action": "confirm",
                                 "csrf_token": csrf_of(ro)})
    assert r.status_code == 403
    mon, _ = login(app, "mon")
    assert mon.post("/decide", data={"items": f"finding:{ids['wechat1']}", "action": "confirm",
                                     "csrf_token": csrf_of(mon)}).status_code == 403
    assert store.decisions_for(db, finding_id=ids["wechat1"]) == []

    admin, _ = login(app, "admin1")
    r = admin.post("/users/add", data={"name": "新审核员", "role": "reviewer", "password": "short",
                                       "csrf_token": csrf_of(admin)})
    assert r.status_code == 400 and "密码至少" in r.text
    r = admin.post("/users/add", data={"name": "新审核员", "role": "reviewer", "password": PASSWORD,
                                       "csrf_token": csrf_of(admin)})
    assert r.status_code == 200 and store.get_user(db, name="新审核员")["role"] == "reviewer"
    # Disabling a user ends their sessions at once.
    r = admin.post(f"/users/{store.get_user(db, name='rev')['id']}/update",
                   data={"disabled": "1", "csrf_token": csrf_of(admin)})
    assert r.status_code == 200
    assert rev.get("/queue", follow_redirects=False).status_code == 303


def test_state_changes_need_the_session_csrf_token(console):
    app, db, ids = console
    rev, _ = login(app, "rev")
    for token in (None, "forged", csrf_of(login(app, "admin1")[0])):   # another session's token
        data = {"items": f"finding:{ids['wechat1']}", "action": "confirm"}
        if token:
            data["csrf_token"] = token
        r = rev.post("/decide", data=data)
        assert r.status_code == 403 and "CSRF" in r.text
    assert store.decisions_for(db, finding_id=ids["wechat1"]) == []
    r = rev.post("/decide", data={"items": f"finding:{ids['wechat1']}", "action": "confirm"},
                 headers={"X-CSRF-Token": csrf_of(rev)}, follow_redirects=False)
    assert r.status_code == 303


def test_decisions_bulk_dismiss_reason_and_append_only_history(console):
    app, db, ids = console
    rev, _ = login(app, "rev")
    token = csrf_of(rev)
    r = rev.post("/decide", data={"items": [f"finding:{ids['wechat1']}", f"finding:{ids['wechat2']}",
                                            f"site:{ids['site']}", "finding:99999", "bogus"],
                                  "action": "confirm", "csrf_token": token, "next": "/queue"},
                 follow_redirects=False)
    assert r.headers["location"] == "/queue?ok=3&fail=2"
    assert store.get_finding(db, ids["wechat1"])["status"] == "confirmed"
    assert store.get_site(db, ids["site"])["status"] == "confirmed"
    assert store.decisions_for(db, site_id=ids["site"])[0]["category"] == "fake_gov_site"
    assert store.decisions_for(db, finding_id=ids["wechat2"])[0]["category"] == "illicit_info"

    r = rev.post("/decide", data={"items": f"finding:{ids['xss']}", "action": "dismiss", "note": "  ",
                                  "csrf_token": token, "next": "/queue"}, follow_redirects=False)
    assert "why=note_required" in r.headers["location"]
    assert store.get_finding(db, ids["xss"])["status"] == "flagged"
    assert "排除误报必须填写理由" in rev.get(r.headers["location"]).text

    r = rev.post("/decide", data={"items": f"finding:{ids['wechat1']}", "action": "dismiss",
                                  "note": "培训机构广告", "csrf_token": token,
                                  "next": f"/finding/{ids['wechat1']}"}, follow_redirects=False)
    assert r.headers["location"] == f"/finding/{ids['wechat1']}?ok=1&fail=0"
    history = store.decisions_for(db, finding_id=ids["wechat1"])
    assert [d["action"] for d in history] == ["confirm", "dismiss"]
    assert store.get_finding(db, ids["wechat1"])["status"] == "dismissed"
    page = rev.get(f"/finding/{ids['wechat1']}").text
    assert page.index("确认") < page.index("培训机构广告") and "已排除" in page


def test_queue_order_filters_and_counts(console):
    app, db, ids = console
    ro, _ = login(app, "ro")
    page = ro.get("/queue").text
    order = re.findall(r'data-item="([a-z]+:\d+)"', page)
    assert order == [f"site:{ids['site']}", f"finding:{ids['wechat1']}", f"finding:{ids['wechat2']}",
                     f"finding:{ids['xss']}"]                      # highest score first; benign absent
    assert re.search(r'data-status="pending">4<', page)
    assert re.findall(r'data-item="([a-z]+:\d+)"', ro.get("/queue?platform=market").text) == \
        [f"finding:{ids['wechat2']}"]
    assert re.findall(r'data-item="([a-z]+:\d+)"', ro.get("/queue?contact=zb8888").text) == \
        [f"site:{ids['site']}", f"finding:{ids['wechat1']}", f"finding:{ids['wechat2']}"]
    assert re.findall(r'data-item="([a-z]+:\d+)"', ro.get("/queue?keyword=焊工").text) == \
        [f"finding:{ids['wechat2']}"]
    assert re.findall(r'data-item="([a-z]+:\d+)"', ro.get("/queue?keyword=Ｂ8888").text) == \
        [f"finding:{ids['wechat1']}", f"finding:{ids['wechat2']}"]          # part of an ID, full-width
    assert re.findall(r'data-item="([a-z]+:\d+)"', ro.get("/queue?verdict=fake_gov_site").text) == \
        [f"site:{ids['site']}"]
    assert re.findall(r'data-item="([a-z]+:\d+)"', ro.get("/queue?family=special_equipment").text) == \
        [f"finding:{ids['xss']}"]
    assert re.findall(r'data-item', ro.get("/queue?date_from=2000-01-01&date_to=2000-12-31").text) == []
    today = beijing_time(store.now_utc())[:10]              # dates are 北京时间 days
    assert len(re.findall(r'data-item=', ro.get(f"/queue?date_from={today}&date_to={today}").text)) == 4
    assert ro.get("/queue?date_from=garbage&page=-3&kind=<x>").status_code == 200
    rev, _ = login(app, "rev")
    rev.post("/decide", data={"items": f"finding:{ids['wechat2']}", "action": "refer",
                              "csrf_token": csrf_of(rev)})
    page = ro.get("/queue?status=referral_pending").text       # 移交公安 waits for its package
    assert re.findall(r'data-item="([a-z]+:\d+)"', page) == [f"finding:{ids['wechat2']}"]
    assert re.search(r'data-status="pending">3<', page) and re.search(r'data-status="referral_pending">1<', page)
    assert re.search(r'data-status="referred">0<', page)


def test_detail_page_highlights_escapes_and_shows_network(console):
    app, db, ids = console
    ro, _ = login(app, "ro")
    r = ro.get(f"/finding/{ids['wechat1']}")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    page = r.text
    assert '<mark title="不用考试">不用考试</mark>' in page
    assert "焊工证 包过" in page                                    # shares WeChat zb8888
    assert "cx-mem-gov.cn" in page and "指向同一网站的其他信息" in page
    assert "尚未取证" in page
    hostile = ro.get(f"/finding/{ids['xss']}").text
    assert "<script>alert" not in hostile and "<img src=x" not in hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in hostile
    site = ro.get(f"/site/{ids['site']}").text
    assert "某某网络科技有限公司" in site and "低压电工证 不用考试" in site and "zb8888" in site
    assert ro.get("/finding/424242").status_code == 404
    assert ro.get("/site/abc").status_code == 400


def test_unknown_page_keeps_the_menu_and_the_icon_is_served(console):
    app, _, _ = console
    anonymous = TestClient(app)
    icon = anonymous.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"                  # an ICO file
    assert "<nav>" not in anonymous.get("/no-such-page").text        # signed out: no menu
    ro, _ = login(app, "ro")
    r = ro.get("/no-such-page")
    assert r.status_code == 404 and "页面不存在" in r.text
    assert "<nav>" in r.text and 'href="/queue"' in r.text and "ro（只读）" in r.text
    assert 'name="csrf_token" value=""' not in r.text                # the menu's 退出 works here too


def test_cli_user_add_requires_a_password(db_path):
    r = run_cli("user", "add", "zhang", "--role", "reviewer", "--db", db_path, "--create", input="")
    assert r.returncode == 2 and "--password-stdin" in r.stderr
    r = run_cli("user", "add", "zhang", "--role", "审核员", "--password-stdin", "--db", db_path, "--create",
                input="short\n")
    assert r.returncode == 2 and "密码至少" in r.stderr
    r = run_cli("user", "add", "zhang", "--role", "审核员", "--password-stdin", "--db", db_path, "--create",
                input=PASSWORD + "\n")
    assert r.returncode == 0, r.stderr
    db = store.connect(db_path)
    try:
        user = store.get_user(db, name="zhang")
        assert user["role"] == "reviewer" and verify_password(PASSWORD, user["password"])
        with pytest.raises(store.StoreError, match="已存在"):
            store.add_user(db, "zhang", "admin", user["password"])
        with pytest.raises(store.StoreError, match="未知的角色"):
            store.add_user(db, "li", "boss", user["password"])
        with pytest.raises(store.StoreError, match="用户名"):
            store.add_user(db, "bad name", "reviewer", user["password"])
    finally:
        db.close()


def test_malformed_stored_fields_do_not_break_pages(console):
    app, db, ids = console
    [rec] = store.record_findings(db, [{"url": "http://bbs.gongyou.cn/thread-77-1.html", "flagged": True,
                                        "score": 99, "contacts": "not a dict", "reasons": "not a list"}], None)
    db.execute("UPDATE findings SET contacts = '{\"wechat\": \"x\", \"qq\": [1, null]}' WHERE id = ?", [rec.id])
    db.conn.commit()
    ro, _ = login(app, "ro")
    assert ro.get("/queue").status_code == 200
    assert ro.get(f"/finding/{rec.id}").status_code == 200


def test_generic_family_is_named_in_chinese(console):
    """综合/各类证件 sits apart from the four families in sales_rules.yaml
    (generic_family); the queue's filter, its rows and the detail page name it."""
    app, db, ids = console
    store.record_findings(db, [{"url": "http://bbs.gongyou.cn/thread-3-1.html", "platform": "forum",
                                "title": "各类证件 代办", "text": "各类证件代办，不用考试，微信 zj6666",
                                "flagged": True, "score": 88, "family": "generic",
                                "contacts": {"wechat": ["zj6666"]}}], None)
    ro, _ = login(app, "ro")
    page = ro.get("/queue").text
    assert '<option value="generic">综合/各类证件</option>' in page
    assert "· 综合/各类证件" in page
    assert ">generic<" not in page
    fid = int(re.findall(r'data-item="finding:(\d+)"', ro.get("/queue?family=generic").text)[0])
    assert "综合/各类证件" in ro.get(f"/finding/{fid}").text


def test_serve_refuses_a_database_that_does_not_exist(tmp_path):
    """A mistyped --db is refused in Chinese, and no empty database appears."""
    mistyped = tmp_path / "demo" / "certwach.db"
    mistyped.parent.mkdir()
    proc = run_cli("serve", "--db", mistyped, "--port", "0", timeout=60)
    assert proc.returncode == 2 and f"数据库文件不存在：{mistyped}" in proc.stderr and "--create" in proc.stderr
    assert list(mistyped.parent.iterdir()) == []


def test_serve_on_a_busy_port_says_so_in_chinese(db_path):
    import socket
    store.connect(db_path).close()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        proc = run_cli("serve", "--db", db_path, "--port", busy.getsockname()[1], timeout=60)
    assert proc.returncode == 2 and "端口已被占用" in proc.stderr, proc.stderr
    assert "ERROR" not in proc.stderr and "Errno" not in proc.stderr


# Commands that only make sense on an existing store, each with a mistyped --db.
ON_EXISTING_STORE = [
    ["user", "add", "zhang", "--role", "reviewer", "--password-stdin"], ["user", "list"],
    ["user", "set", "zhang", "--disable"], ["serve", "--port", "0"], ["evidence", "verify"],
    ["evidence", "capture", "--sandbox", "http://127.0.0.1:9"], ["db", "reindex"], ["labels"], ["health"],
    ["workers"], ["schedule", "list"], ["schedule", "runs"], ["schedule", "disable", "每日"],
    ["takedown", "list"], ["takedown", "create", "--platform", "gongyou"], ["takedown", "sent", "1"],
    ["takedown", "recheck", "--sandbox", "http://127.0.0.1:9"], ["takedown", "compliance"],
    ["referral", "add", "--items", "finding:1"], ["referral", "create", "--unit", "区公安分局"], ["referral", "list"],
    ["report", "stats"], ["report", "set", "--period", "2024-09-01..2024-10-31", "罚款金额", "1"], ["report", "charts"],
]


def test_a_mistyped_db_is_refused_not_created(capsys, tmp_path):
    missing = tmp_path / "certwatch.bd"
    for command in ON_EXISTING_STORE:
        code, out, err = cli(capsys, *command, "--db", missing)
        assert code == 2 and f"错误：数据库文件不存在：{missing}（路径写错了吗？" in err, (command, code, err)
        assert not missing.exists() and list(tmp_path.iterdir()) == [], command
    # A new deployment's first user makes the store when told to.
    code, out, err = cli(capsys, "user", "add", "zhang", "--role", "reviewer", "--db", missing)
    assert "user add 姓名 --role admin" not in err and "--create" in err
    code, out, err = cli(capsys, "serve", "--db", missing)
    assert "certwatch user add 姓名 --role admin --db 路径 --create" in err
