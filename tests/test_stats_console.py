"""The report pages of the console: in-process for logic and permissions,
and in a real browser for what a person does (统计报表, 下架清单)."""
from __future__ import annotations

import io
import os
import re
import zipfile

import openpyxl
import pytest

from fastapi.testclient import TestClient

from pipelines import store
from reports import referral
from reports.console.app import create_app
from reports.console.passwords import hash_password
from tests.conftest import serving
from tests.test_stats import seed as seed_stats

PASSWORD = "correct horse 123"
Q = "from=2024-09-01&to=2024-10-31"


def seed(db) -> dict:
    ids = seed_stats(db)
    for name, role in (("mon", "monitor"), ("rev", "reviewer"), ("ro", "readonly")):
        store.add_user(db, name, role, hash_password(PASSWORD))
    # Confirmed findings on another platform, ready for a takedown batch.
    recs = store.record_findings(db, [{"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou",
                                       "title": f"=代办焊工证 {n}", "text": "不用考试", "flagged": True}
                                      for n in (1, 2)], None)
    for r in recs:
        store.add_decision(db, "审核员甲", "confirm", finding_id=r.id)
    ids["gongyou"] = [r.id for r in recs]
    return ids


def login(client: TestClient, name: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post("/login", data={"name": name, "password": PASSWORD, "csrf_token": token, "next": "/queue"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get("/reports/stats")
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


@pytest.fixture
def app(db_path):
    db = store.connect(db_path)
    ids = seed(db)
    db.close()
    return create_app(db_path), db_path, ids


def test_stats_page_and_downloads(app):
    application, db_path, ids = app
    client = TestClient(application)
    csrf = login(client, "mon")
    page = client.get(f"/reports/stats?{Q}")
    assert page.status_code == 200
    assert "2024年9-10月份工作情况统计表" in page.text
    assert re.findall(r'<td class="number">(\d+)</td>', page.text) == ["2", "2", "2"]
    assert "cx-mem-gov.cn" in page.text and "http://mall.taohuo.cn/item/6.html" in page.text
    r = client.post("/reports/stats/manual", data={"csrf_token": csrf, "from": "2024-09-01", "to": "2024-10-31",
                                                   "罚款金额(万元)": "12.5"})
    assert r.status_code == 200 and "已保存" in r.text
    r = client.post("/reports/stats/manual", data={"csrf_token": csrf, "from": "2024-09-01", "to": "2024-10-31",
                                                   "罚款金额(万元)": "-3"})
    assert r.status_code == 400 and "不能为负数" in r.text
    r = client.post("/reports/stats/manual", data={"from": "2024-09-01", "to": "2024-10-31", "罚款金额(万元)": "1"})
    assert r.status_code == 403                                   # no CSRF token
    r = client.get(f"/reports/stats/download?{Q}&format=xlsx&unit=长宁区市场监管局")
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["统计表"]
    assert ws["A1"].value == "2024年9-10月份工作情况统计表" and ws["H5"].value == 12.5
    assert [ws.cell(5, c).value for c in (11, 12, 13)] == [2, 2, 2]
    assert client.get(f"/reports/charts/takedowns.png?{Q}").content[:4] == b"\x89PNG"
    page = client.get(f"/reports/compliance?{Q}&days=0")
    assert page.status_code == 200 and "平台整改情况" in page.text
    assert client.get("/reports/stats?from=bad&to=2024-10-31").status_code == 400


def test_takedown_and_referral_pages(app):
    application, db_path, ids = app
    mon, rev, ro = TestClient(application), TestClient(application), TestClient(application)
    mon_csrf, rev_csrf, ro_csrf = login(mon, "mon"), login(rev, "rev"), login(ro, "ro")
    r = ro.post("/reports/takedowns/create", data={"csrf_token": ro_csrf, "platform": "gongyou"})
    assert r.status_code == 403
    r = mon.post("/reports/takedowns/create", data={"csrf_token": mon_csrf, "platform": "gongyou"})
    assert r.status_code == 200 and "已生成下架清单" in r.text
    db = store.connect(db_path)
    batch = store.list_takedowns(db, "gongyou")[0]
    db.close()
    r = mon.post(f"/reports/takedowns/{batch['id']}/sent", data={"csrf_token": mon_csrf})
    assert "已记为发出" in r.text
    r = ro.get(f"/reports/takedowns/{batch['id']}/export?format=xlsx")
    ws = openpyxl.load_workbook(io.BytesIO(r.content))["下架清单"]
    assert ws["D3"].value == "'=代办焊工证 1" and ws["D3"].data_type == "s"
    r = ro.get(f"/reports/takedowns/{batch['id']}/export?format=xlsx&part=letter")
    assert "关于删除涉嫌售卖假冒安全生产资格证书信息的函" in r.content.decode()
    assert "尚未复查" in ro.get(f"/reports/takedowns/{batch['id']}").text
    # Referral: reviewers create, the readonly role cannot see the page.
    assert ro.get("/reports/referrals", follow_redirects=False).status_code == 403
    r = rev.post("/reports/referrals/create", data={"csrf_token": rev_csrf, "items": f"{ids['gongyou'][0]},s{ids['A']}",
                                                    "unit": "区公安分局"})
    assert r.status_code == 200 and "已生成线索移交单" in r.text and "暂无取证文件" in r.text
    r = rev.post("/reports/referrals/create", data={"csrf_token": rev_csrf, "items": "abc", "unit": "区公安分局"})
    assert r.status_code == 400 and "无法识别" in r.text
    db = store.connect(db_path)
    ref = store.list_referrals(db)[0]
    db.close()
    r = rev.get(f"/reports/referrals/{ref['id']}/package")
    path = os.path.join(os.path.dirname(db_path), "dl.zip")
    with open(path, "wb") as fh:
        fh.write(r.content)
    assert zipfile.is_zipfile(path) and referral.verify(path) == []


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db_path = str(tmp_path_factory.mktemp("reports_console") / "certwatch.db")
    db = store.connect(db_path)
    seed(db)
    db.close()
    with serving(db_path) as line:
        yield line, db_path


def test_in_the_browser(server):
    from playwright.sync_api import expect, sync_playwright
    base, db_path = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        page = browser.new_page(locale="zh-CN")
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/login")
        page.fill("input[name=name]", "mon")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.click("header nav >> text=统计报表")
        page.fill("input[name=from]", "2024-09-01")
        page.fill("input[name=to]", "2024-10-31")
        page.click("form.filters >> text=查看")
        expect(page.locator("#report-title")).to_have_text("2024年9-10月份工作情况统计表")
        expect(page.locator("td.number")).to_have_text(["2", "2", "2"])
        page.fill("input[name='罚款金额(万元)']", "8")
        page.click("form.manual >> text=保存")
        expect(page.locator("p.flash")).to_contain_text("罚款金额(万元)=8")
        with page.expect_download() as dl:
            page.click("text=统计表 xlsx")
        assert dl.value.suggested_filename == "统计表-2024-09-01-2024-10-31.xlsx"
        saved = os.path.join(os.path.dirname(db_path), "download.xlsx")
        dl.value.save_as(saved)
        ws = openpyxl.load_workbook(saved)["统计表"]
        assert ws["H5"].value == 8

        page.click("header nav >> text=下架清单")
        page.select_option("select[name=platform]", "gongyou")
        page.click("text=生成下架清单")
        expect(page.locator("p.flash")).to_contain_text("共 2 条")
        page.click("text=记为已发出")
        expect(page.locator("p.flash")).to_contain_text("已记为发出")
        page.click("table.takedowns a >> nth=0")
        expect(page.locator("td.result").first).to_have_text("待复查")
        page.click("header nav >> text=平台整改情况")
        expect(page.locator("img.chart")).to_have_count(3)
        for i in range(3):
            expect(page.locator("img.chart").nth(i)).to_have_js_property("complete", True, timeout=30_000)
        assert all(page.evaluate("[...document.images].map(i => i.naturalWidth > 0)"))
        assert dialogs == []
        browser.close()
