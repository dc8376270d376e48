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


REVIEWED = 20          # reviewed from the detail page by keyboard (test_review_twenty_by_keyboard)
DISMISS, REFER = (3, 17), 10    # which of them are dismissed and referred; the rest confirmed


def seed(db) -> dict:
    """The console's seed, six more flagged forum posts (ids["extra"]),
    REVIEWED + 2 flagged posts on another platform (ids["batch"], highest score first)
    and two on a third (ids["twice"])."""
    ids = seed_console(db)
    extra = store.record_findings(db, [
        {"url": f"http://bbs.gongyou.cn/thread-{100 + n}-1.html", "platform": "forum",
         "title": f"特种作业证代办 {n} 号", "text": "包过 不用考试", "flagged": True, "score": 60 - n,
         "reasons": [{"code": "pass_guarantee", "label": "包过", "weight": 2.0, "evidence": "包过"}]}
        for n in range(6)], None)
    ids["extra"] = [r.id for r in extra]
    batch = store.record_findings(db, [
        {"url": f"http://www.fenleixinxi.cn/post/{500 + n}.html", "platform": "fenleixinxi",
         "title": f"叉车证 焊工证 快速办理 {n} 号", "flagged": True, "score": 50 - n,
         "text": "本店长期办理各类特种作业操作证。" * 8 + f"叉车证包过，不用考试，联系 QQ {80000 + n}。" + "详情面谈。" * 200,
         "reasons": [{"code": "no_exam", "label": "不用考试", "weight": 2.5, "evidence": "不用考试"}]}
        for n in range(REVIEWED + 2)], None)
    ids["batch"] = [r.id for r in batch]
    twice = store.record_findings(db, [
        {"url": f"http://bbs.gongyou.cn/thread-{300 + n}-1.html", "platform": "twice",
         "title": f"安全员证 不用考试 {n} 号", "text": "安全员证包过，不用考试", "flagged": True, "score": 20 - n,
         "reasons": [{"code": "no_exam", "label": "不用考试", "weight": 2.5, "evidence": "不用考试"}]}
        for n in range(2)], None)
    ids["twice"] = [r.id for r in twice]          # test_keys_pressed_twice_send_once
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


def arrived(page, url) -> None:
    """The page ``url`` has loaded far enough for keys: its address shows
    as soon as the browser commits to the new document, but the key
    handlers are attached by the scripts at the end of its body, which have
    run when DOMContentLoaded fires (a key pressed before is lost)."""
    expect(page).to_have_url(url)
    page.wait_for_load_state("domcontentloaded")


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


def decided(db_path, ids) -> dict[int, list[str]]:
    db = store.connect(db_path)
    try:
        return {i: [d["action"] for d in store.decisions_for(db, finding_id=i)] for i in ids}
    finally:
        db.close()


def test_review_twenty_by_keyboard(server, reviewer):
    """From the queue into the first item, then keys only: c 确认并下一条,
    d + reason + Enter, r, one u on the item just decided, ? help, q back."""
    base, db_path, ids = server
    page = reviewer
    items = ids["batch"]
    came_from = "status=pending&platform=fenleixinxi"
    page.goto(f"{base}/queue?{came_from}")
    page.keyboard.press("o")                                       # open the current (first) row
    for n, fid in enumerate(items[:REVIEWED]):
        arrived(page, re.compile(rf"/finding/{fid}\?{re.escape(came_from)}"))
        if n == 0:
            page.keyboard.press("?")
            expect(page.locator("#shortcut-help")).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.locator("#shortcut-help")).to_be_hidden()
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            box = page.locator("#act-confirm-next").bounding_box()
            assert box is not None and 0 <= box["y"] < 200               # the actions stay at the top
        if n == 6:                                                 # undo the item just confirmed …
            expect(page.locator("#flash")).to_contain_text(f"已确认：信息 #{items[5]}")
            page.keyboard.press("u")
            arrived(page, re.compile(rf"/finding/{items[5]}\?"))
            expect(page.locator("#flash")).to_contain_text("已撤回（重新审核）")
            page.keyboard.press("d")                               # … and dismiss it instead
            expect(page.locator("#note")).to_be_focused()
            page.keyboard.type("正规培训机构")
            page.keyboard.press("Enter")
            arrived(page, re.compile(rf"/finding/{fid}\?"))
            expect(page.locator("#flash")).to_contain_text(f"已排除误报：信息 #{items[5]}")
        if n in DISMISS:
            page.keyboard.press("d")
            page.keyboard.type(f"理由 {n}")
            page.keyboard.press("Enter")
        elif n == REFER:
            page.keyboard.press("r")
        else:
            page.keyboard.press("c")
    arrived(page, re.compile(rf"/finding/{items[REVIEWED]}\?"))
    page.keyboard.press("q")
    expect(page).to_have_url(f"{base}/queue?{came_from}")
    counts = dict(page.locator("span.count").evaluate_all("cs => cs.map(c => [c.dataset.status, c.textContent])"))
    assert counts["pending"] == "2" and counts["dismissed"] == str(len(DISMISS) + 1)
    assert counts["referral_pending"] == "1" and counts["confirmed"] == str(REVIEWED - len(DISMISS) - 2)
    assert rows(page) == [f"finding:{i}" for i in items[REVIEWED:]]
    log = decided(db_path, items)
    assert log[items[5]] == ["confirm", "undo", "dismiss"]
    for n, fid in enumerate(items[:REVIEWED]):
        if n != 5:
            assert log[fid] == ["dismiss" if n in DISMISS else "refer" if n == REFER else "confirm"], (n, log[fid])
    assert log[items[REVIEWED]] == log[items[REVIEWED + 1]] == []
    assert sum(len(v) for v in log.values()) == REVIEWED + 2 and page.dialogs == []


def test_kind_column_stays_on_one_line_at_1366(server, reviewer):
    base, db_path, ids = server
    page = reviewer
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{base}/queue?status=")
    lines = page.locator("table.queue td.kind, table.queue th.kind").evaluate_all(
        "cs => cs.map(c => { const r = document.createRange(); r.selectNodeContents(c);"
        " return new Set(Array.from(r.getClientRects()).map(x => Math.round(x.top))).size; })")
    assert len(lines) > 20 and set(lines) == {1}


def test_keys_pressed_twice_send_once(server, reviewer):
    """c, then c again before the next page has loaded (the first request is
    held until then): one request, one decision; the same for u on the next page."""
    base, db_path, ids = server
    page = reviewer
    a, b = ids["twice"]
    came_from = "status=pending&platform=twice"
    page.goto(f"{base}/finding/{a}?{came_from}")
    arrived(page, re.compile(rf"/finding/{a}\?"))
    for key, then in (("c", rf"/finding/{b}\?"), ("u", rf"/finding/{a}\?")):
        sent, held = [], []

        def hold_first(route):
            sent.append(route.request.post_data)
            if len(sent) == 1:
                held.append(route)
            else:
                route.continue_()
        page.route("**/decide*", hold_first)
        with page.expect_request(lambda r: "/decide" in r.url):
            page.keyboard.press(key)
        page.keyboard.press(key)                       # the first is still on its way
        assert len(held) == 1
        held[0].continue_()
        arrived(page, re.compile(then))
        page.unroute("**/decide*", hold_first)
        assert len(sent) == 1, sent
    expect(page.locator("#flash")).to_contain_text(f"已撤回（重新审核）：信息 #{a}")
    assert decided(db_path, [a, b]) == {a: ["confirm", "undo"], b: []}
    assert page.dialogs == []
