"""Console pages 关键词库 / 巡查计划 / 巡查记录: in-process for logic and
permissions, and in a real browser for import with the error report."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest

from playwright.sync_api import expect

from helpers import add_users, chromium, csrf_of, fill_login, login, seed_store, serving_seeded
from pipelines import store
from reports.console.app import create_app


def xlsx_bytes(rows) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "应急局"
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


GOOD_AND_BAD = [["关键词", "行业", "类别", "提供单位"], ["低压电工证", "特种作业", "证书名称", "区应急局"],
                ["塔吊证", "工地", "证书名称", "区建管委"], ["包过", "", "售假意图词", "区应急局"]]


def seed_users_and_sweep(db) -> int:
    add_users(db, "mon", "rev")
    sweep_id = store.start_sweep(db, ["laowu", "gongyou"], "sandbox")
    rec = store.record_findings(db, [{"url": "http://bbs.gongyou.cn/thread-7-1.html", "platform": "gongyou",
                                      "title": "高压电工证 包过", "text": "包过", "flagged": True, "score": 77}],
                                sweep_id)
    store.finish_sweep(db, sweep_id, "finished", {"downloader/request_count": 30})
    store.save_sweep_platforms(db, sweep_id, [
        {"platform": "laowu", "status": "blocked", "requests": 20, "responses": 20, "by_status": {"200": 20},
         "items": 0, "flagged": 0, "errors": 0, "blocked": 16, "blocked_reasons": {"marker": 16},
         "empty_pages": 0, "search_pages": 9, "detail_pages": 10, "canary": "电工证", "canary_results": 10,
         "duration": 1.5, "note": "平台拦截标记 16 次"},
        {"platform": "gongyou", "status": "ok", "requests": 10, "responses": 10, "by_status": {"200": 10},
         "items": 1, "flagged": 1, "errors": 0, "blocked": 0, "blocked_reasons": {}, "empty_pages": 0,
         "search_pages": 9, "detail_pages": 1, "canary": "电工证", "canary_results": 10, "duration": 0.5,
         "note": ""}])
    store.add_alert(db, "blocked", f"【certwatch 巡查告警】巡查 #{sweep_id}：平台 劳务论坛（laowu）被拦截。", "laowu",
                    sweep_id)
    assert rec[0].created
    return sweep_id


@pytest.fixture
def app(db_path):
    return create_app(db_path), db_path, seed_store(db_path, seed_users_and_sweep)


def test_keyword_library_page(app):
    application, db_path, _ = app
    client, _ = login(application, "mon")
    token = csrf_of(client, "/keywords")
    r = client.post("/keywords/import", data={"csrf_token": token},
                    files={"file": ("应急局.xlsx", xlsx_bytes(GOOD_AND_BAD), "application/octet-stream")})
    assert r.status_code == 200
    assert "新增 <b class=\"added\">2</b>" in r.text and "有误 <b class=\"bad\">1</b>" in r.text
    assert re.search(r"<td>应急局</td><td class=\"num\">3</td><td>未知行业“工地”", r.text)
    r = client.post("/keywords/import", data={"csrf_token": token},
                    files={"file": ("x.exe", b"MZ", "application/octet-stream")})
    assert r.status_code == 400 and "不支持的文件类型" in r.text
    r = client.post("/keywords/import", data={"csrf_token": "wrong"},
                    files={"file": ("a.csv", b"term,kind\nx,intent\n", "text/csv")})
    assert r.status_code in (400, 403)
    db = store.connect(db_path)
    kid = store.query_keywords(db, search="低压电工证")[0]["id"]
    db.close()
    r = client.post(f"/keywords/{kid}/toggle", data={"csrf_token": token, "active": "0"}, follow_redirects=True)
    assert r.status_code == 200 and "低压电工证" not in r.text          # default view: active only
    r = client.get("/keywords?state=disabled")
    assert "低压电工证" in r.text and "停用" in r.text
    r = client.get("/keywords?state=all&industry=通用")
    assert "包过" in r.text and "低压电工证" not in r.text
    r = client.get("/keywords/export?format=csv&state=all")
    assert r.status_code == 200 and "低压电工证,特种作业,证书名称,区应急局,停用" in r.content.decode("utf-8-sig")
    assert client.get("/keywords/template").content[:2] == b"PK"
    r = client.post("/keywords/add", data={"csrf_token": token, "term": "电工操作证", "kind": "cert",
                                           "industry": "特种作业", "department": "区应急局"})
    assert "已添加：电工操作证" in r.text
    r = client.post("/keywords/add", data={"csrf_token": token, "term": "", "kind": "cert"})
    assert r.status_code == 400 and "关键词为空" in r.text
    page = client.get("/keywords").text                # both imports are on record
    assert "(控制台添加)" in page and "应急局.xlsx" in page


def test_schedules_page(app):
    application, db_path, _ = app
    client, _ = login(application, "mon")
    token = csrf_of(client, "/schedules")
    r = client.post("/schedules/add", data={"csrf_token": token, "name": "夜巡", "cron": "0 25 * * *"})
    assert r.status_code == 400 and "cron 表达式无效" in r.text
    r = client.post("/schedules/add", data={"csrf_token": token, "name": "夜巡", "cron": "0 2 * * *",
                                            "industry": "特种作业", "platforms": "gongyou", "pages": "1"})
    assert "已添加巡查计划“夜巡”" in r.text
    assert re.search(r'<td class="platforms" title="gongyou">工友论坛</td>', r.text)      # names, not codes
    assert '<td class="evidence">按调度程序设置（默认是）</td>' in r.text
    upcoming = re.search(r'<td class="upcoming">([^<]*)</td>', r.text).group(1).split("、")
    assert len(upcoming) == 3 and all(t.endswith("02:00") for t in upcoming)
    db = store.connect(db_path)
    sid = store.get_schedule(db, "夜巡")["id"]
    db.close()
    r = client.post(f"/schedules/{sid}/edit", data={"csrf_token": token, "cron": "30 1 * * *",
                                                    "industry": "特种作业", "platforms": "gongyou", "pages": "2"})
    assert "已修改" in r.text and "30 1 * * *" in r.text
    r = client.post(f"/schedules/{sid}/toggle", data={"csrf_token": token, "enabled": "0"})
    assert "已停用" in r.text
    db = store.connect(db_path)
    store.update_schedule(db, sid, {"settings": {"CERTWATCH_SCHEDULE_EVIDENCE": "否"}})    # `schedule add --no-evidence`
    db.close()
    assert '<td class="evidence">否</td>' in client.get("/schedules").text
    r = client.post(f"/schedules/{sid}/run", data={"csrf_token": token})
    assert "加入执行队列" in r.text and "立即执行" in r.text
    db = store.connect(db_path)
    assert store.list_runs(db)[0]["status"] == "pending"
    db.close()


def test_sweeps_pages_and_permissions(app):
    application, db_path, sweep_id = app
    db = store.connect(db_path)
    check_id = store.start_sweep(db, ["全部"], "sandbox", kind="sites")      # a later `sites check`
    store.finish_sweep(db, check_id, "finished", {})
    db.close()
    client, _ = login(application, "rev")
    r = client.get("/sweeps")
    assert r.status_code == 200 and "劳务论坛：被拦截" in r.text and "工友论坛：正常" in r.text
    assert re.search(rf'#{check_id}</a></td><td class="kind kind-sites">网站核查</td>', r.text)
    assert re.search(rf'#{sweep_id}</a></td><td class="kind kind-sweep">巡查</td>', r.text)
    assert f"<h1>网站核查 #{check_id}（完成）</h1>" in client.get(f"/sweeps/{check_id}").text
    assert "被拦截。" in r.text                                   # the alert
    r = client.get(f"/sweeps/{sweep_id}")
    assert r.status_code == 200 and "平台拦截标记 16 次" in r.text and "200:20" in r.text
    assert "高压电工证 包过" in r.text
    assert client.get(f"/sweeps/{sweep_id}?flagged=1").text.count("/finding/") == 1
    assert client.get("/sweeps/999").status_code == 404
    assert client.get("/keywords").status_code == 403             # reviewers do not edit the library
    assert client.get("/schedules").status_code == 403


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db_path = str(tmp_path_factory.mktemp("kwconsole") / "certwatch.db")
    with serving_seeded(db_path, seed_users_and_sweep) as (line, _):
        yield line, db_path


def test_monitor_in_browser(served, tmp_path):
    base, db_path = served
    upload = tmp_path / "建管委关键词.xlsx"
    upload.write_bytes(xlsx_bytes(GOOD_AND_BAD))
    with chromium() as browser:
        page = browser.new_page(locale="zh-CN")
        page.goto(base + "/keywords")
        fill_login(page, "mon")
        page.goto(base + "/keywords")
        expect(page.locator("h1")).to_have_text("关键词库")
        page.set_input_files("input[type=file]", str(upload))
        page.click("form[action='/keywords/import'] button[type=submit]")
        expect(page.locator("table.import-errors tbody tr")).to_have_count(1)
        expect(page.locator("table.import-errors")).to_contain_text("未知行业“工地”")
        expect(page.locator("tr[data-term='低压电工证'] td.state")).to_have_text("启用")
        page.click("tr[data-term='低压电工证'] button")
        page.goto(base + "/keywords?state=all")
        expect(page.locator("tr[data-term='低压电工证'] td.state")).to_have_text("停用")
        # 巡查计划: create, see the next run times, queue a run.
        page.click("header nav a[href='/schedules']")
        page.fill("#new-schedule input[name=name]", "每晚特种作业")
        page.fill("#new-schedule input[name=cron]", "0 2 * * *")
        page.click("#new-schedule button[type=submit]")
        row = page.locator("tr[data-schedule='每晚特种作业']")
        expect(row.locator("td.upcoming")).to_contain_text("02:00")
        row.locator("button", has_text="立即执行").click()
        expect(page.locator("p.flash")).to_contain_text("加入执行队列")
        # 巡查记录: health per platform.
        page.click("header nav a[href='/sweeps']")
        expect(page.locator("table.sweeps")).to_contain_text("劳务论坛：被拦截")
        page.click("table.sweeps a")
        expect(page.locator("tr[data-platform='laowu']")).to_contain_text("被拦截")
    db = store.connect(db_path)
    assert store.query_keywords(db, search="低压电工证")[0]["active"] == 0
    assert store.list_runs(db)[0]["status"] == "pending"
    db.close()
