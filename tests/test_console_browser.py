"""The console in a real browser: Chromium (Playwright) against
`certwatch serve` on a free loopback port. One server and one browser for
the module; tests work through the queue in order."""
from __future__ import annotations

import re

import pytest

from playwright.sync_api import expect

from helpers import chromium, fill_login, serving_seeded
from pipelines import store
from seeds import XSS, seed_console


def seed(db) -> dict:
    """The console's seed and six more flagged forum posts (ids["extra"])."""
    ids = seed_console(db)
    extra = store.record_findings(db, [
        {"url": f"http://bbs.gongyou.cn/thread-{100 + n}-1.html", "platform": "forum",
         "title": f"特种作业证代办 {n} 号", "text": "包过 不用考试", "flagged": True, "score": 60 - n,
         "reasons": [{"code": "pass_guarantee", "label": "包过", "weight": 2.0, "evidence": "包过"}]}
        for n in range(6)], None)
    ids["extra"] = [r.id for r in extra]
    return ids


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db_path = str(tmp_path_factory.mktemp("console") / "certwatch.db")
    with serving_seeded(db_path, seed) as (line, ids):
        yield line, db_path, ids


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def reviewer(server, browser):
    """A logged-in reviewer page; every dialog is recorded (none expected)."""
    base, db_path, ids = server
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(base + "/queue")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fqueue$"))
    fill_login(page, "rev")
    expect(page).to_have_url(base + "/queue")
    yield page
    context.close()


def status_of(db_path, finding_id=None, site_id=None):
    db = store.connect(db_path)
    try:
        row = store.get_finding(db, finding_id) if finding_id else store.get_site(db, site_id)
        history = store.decisions_for(db, finding_id=finding_id, site_id=site_id)
        return row["status"], history
    finally:
        db.close()


def rows(page) -> list[str]:
    return page.locator("table.queue tr[data-item]").evaluate_all("rs => rs.map(r => r.dataset.item)")


def current(page) -> str:
    return page.locator("tr.current").get_attribute("data-item")


def test_login_and_keyboard_confirm(server, reviewer):
    base, db_path, ids = server
    page = reviewer
    expect(page.locator("h1")).to_have_text("审核队列")
    order = rows(page)
    assert order[:2] == [f"site:{ids['site']}", f"finding:{ids['wechat1']}"]
    assert current(page) == order[0]
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert current(page) == order[2]
    page.keyboard.press("k")
    assert current(page) == order[1]
    page.keyboard.press("c")                      # nothing ticked: acts on the current row
    expect(page).to_have_url(re.compile(r"ok=1&fail=0"))
    expect(page.locator(".flash")).to_contain_text("已处理 1 条")
    status, history = status_of(db_path, finding_id=ids["wechat1"])
    assert status == "confirmed" and history[-1]["user"] == "rev" and history[-1]["category"] == "illicit_info"
    assert f"finding:{ids['wechat1']}" not in rows(page)


def test_bulk_confirm(server, reviewer):
    base, db_path, ids = server
    page = reviewer
    chosen = ids["extra"][:3]
    for fid in chosen:
        page.check(f"input[name=items][value='finding:{fid}']")
    expect(page.locator("#selected-count")).to_have_text("已选 3 条")
    page.click("#act-confirm")
    expect(page).to_have_url(re.compile(r"ok=3&fail=0"))
    for fid in chosen:
        assert status_of(db_path, finding_id=fid)[0] == "confirmed"
    assert status_of(db_path, finding_id=ids["extra"][3])[0] == "flagged"


def test_dismiss_needs_a_reason_and_keyboard_dismiss(server, reviewer):
    base, db_path, ids = server
    page = reviewer
    target = f"finding:{ids['extra'][3]}"
    page.check(f"input[name=items][value='{target}']")
    page.click("#act-dismiss")                    # no reason given
    expect(page.locator(".flash")).to_contain_text("排除误报必须填写理由")
    assert status_of(db_path, finding_id=ids["extra"][3])[0] == "flagged"

    index = rows(page).index(target)
    for _ in range(index):
        page.keyboard.press("j")
    assert current(page) == target
    page.keyboard.press("d")
    expect(page.locator("#note")).to_be_focused()
    page.keyboard.type("正规培训机构的招生广告")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"ok=1&fail=0"))
    status, history = status_of(db_path, finding_id=ids["extra"][3])
    assert status == "dismissed" and history[-1]["note"] == "正规培训机构的招生广告"
    assert status_of(db_path, finding_id=ids["extra"][4])[0] == "flagged"


def test_hostile_title_is_shown_as_text(server, reviewer):
    base, db_path, ids = server
    page = reviewer
    page.goto(base + "/queue")
    link = page.locator(f"tr[data-item='finding:{ids['xss']}'] td.title a")
    expect(link).to_have_text(XSS)
    link.click()
    expect(page.locator("h1.item-title")).to_have_text(XSS)
    expect(page.locator(".listing-text")).to_contain_text(XSS)
    assert page.locator("img[src=x]").count() == 0 and page.locator("main script").count() == 0
    assert page.dialogs == []


def test_forged_posts_are_rejected(server, reviewer):
    base, db_path, ids = server
    page = reviewer
    target = ids["extra"][5]
    # The reviewer's own cookies, but no CSRF token.
    r = page.context.request.post(base + "/decide", form={"items": f"finding:{target}", "action": "confirm"},
                                  max_redirects=0)
    assert r.status == 403 and "CSRF" in r.text()
    # A form on another site posting into the console: the SameSite cookie stays home.
    other = page.context.new_page()
    other.set_content(f'<form method="post" action="{base}/decide"><input name="items" value="finding:{target}">'
                      f'<input name="action" value="confirm"><button id="go">go</button></form>')
    with other.expect_navigation():
        other.click("#go")
    assert "请先登录" in other.content()
    other.close()
    assert status_of(db_path, finding_id=target) == ("flagged", [])


def test_readonly_user_cannot_decide(server, browser):
    base, db_path, ids = server
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    page.goto(base + "/login")
    fill_login(page, "ro")
    expect(page).to_have_url(base + "/queue")
    expect(page.locator(".who")).to_contain_text("只读")
    assert page.locator("input[name=items]").count() == 0 and page.locator("#act-confirm").count() == 0
    target = ids["extra"][5]
    page.keyboard.press("c")
    page.keyboard.press("r")
    page.goto(f"{base}/finding/{target}")
    expect(page.locator("main")).to_contain_text("只能查看，不能处理")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = context.request.post(base + "/decide", form={"items": f"finding:{target}", "action": "confirm",
                                                     "csrf_token": token}, max_redirects=0)
    assert r.status == 403 and "没有执行此操作的权限" in r.text()
    assert status_of(db_path, finding_id=target) == ("flagged", [])
    context.close()
