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

from helpers import add_users, chromium, fill_login, logged_in, serving_seeded
from pipelines import store
from reports import referral
from reports.console.app import create_app
from seeds import seed_reports

Q = "from=2024-09-01&to=2024-10-31"


def test_stats_page_and_downloads(reports_console):
    application, db_path, ids = reports_console
    client = TestClient(application)
    csrf = logged_in(client, "mon")
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
    assert ws["A1"].value == "2024年9-10月份工作情况统计表" and ws["H8"].value == 12.5
    assert [ws.cell(8, c).value for c in (11, 12, 13)] == [2, 2, 2]
    assert client.get(f"/reports/charts/takedowns.png?{Q}").content[:4] == b"\x89PNG"
    page = client.get(f"/reports/compliance?{Q}&days=0")
    assert page.status_code == 200 and "平台整改情况" in page.text
    assert client.get("/reports/stats?from=bad&to=2024-10-31").status_code == 400


def test_takedown_and_referral_pages(reports_console):
    application, db_path, ids = reports_console
    mon, rev, ro = TestClient(application), TestClient(application), TestClient(application)
    mon_csrf, rev_csrf, ro_csrf = logged_in(mon, "mon"), logged_in(rev, "rev"), logged_in(ro, "ro")
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
    with serving_seeded(db_path, seed_reports) as (line, _):
        yield line, db_path


def test_in_the_browser(server):
    from playwright.sync_api import expect
    base, db_path = server
    with chromium() as browser:
        page = browser.new_page(locale="zh-CN")
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(base + "/login")
        fill_login(page, "mon")
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
        assert ws["H8"].value == 8

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


# -- the 下架清单 page and the charts, against numbers worked out by hand

def _batches_seed(db) -> dict:
    """taohuo: batch A of 3 (one removed, one still online after an
    'unknown' check, one waiting), then 2 more confirmed (candidates);
    gongyou: batch B of 2, nothing left; xinxigang: 1 confirmed, 1 dismissed."""
    def confirmed(platform, ns, action="confirm"):
        recs = store.record_findings(db, [{"url": f"http://x.example.cn/{platform}/{n}.html", "platform": platform,
                                           "title": f"{platform} 标题 {n}", "flagged": True} for n in ns], None)
        for r in recs:
            store.add_decision(db, "审核员甲", action, finding_id=r.id, note="误报" if action == "dismiss" else "")
        return [r.id for r in recs]
    confirmed("taohuo", (1, 2, 3))
    a = store.create_takedown(db, "taohuo", "mon")
    confirmed("gongyou", (1, 2), "refer")
    b = store.create_takedown(db, "gongyou", "mon")
    confirmed("taohuo", (4, 5))
    confirmed("xinxigang", (1,))
    confirmed("xinxigang", (2,), "dismiss")
    store.mark_takedown_sent(db, a, "mon")
    items = store.takedown_items(db, a)
    store.add_takedown_check(db, items[0]["id"], "removed", "页面已删除")
    store.add_takedown_check(db, items[1]["id"], "unknown", "超时")
    store.add_takedown_check(db, items[1]["id"], "still_present", "仍可访问")
    add_users(db, "mon")
    return {"a": a, "b": b}


def test_takedowns_page_counts(db_path):
    from reports import labels, takedown
    db = store.connect(db_path)
    ids = _batches_seed(db)
    a, b = (store.get_takedown(db, ids[k]) for k in ("a", "b"))
    db.close()
    client = TestClient(create_app(db_path))
    logged_in(client, "mon")
    page = client.get("/reports/takedowns")
    assert page.status_code == 200
    rows = re.findall(r'<td><a href="/reports/takedowns/(\d+)">([^<]+)</a></td><td>([^<]*)</td><td>(\d+)</td>'
                      r'.*?<td>(\d+)</td><td>(\d+)</td><td>(\d+)</td>', page.text, re.S)
    assert rows == [(str(b["id"]), takedown.batch_no(b), labels.platform_title("gongyou"), "2", "0", "0", "2"),
                    (str(a["id"]), takedown.batch_no(a), labels.platform_title("taohuo"), "3", "1", "1", "1")]
    options = re.findall(r'<option value="([^"]+)">([^<]+)（待请求 (\d+) 条）</option>', page.text)
    assert options == [("gongyou", labels.platform_title("gongyou"), "0"),
                       ("taohuo", labels.platform_title("taohuo"), "2"),
                       ("xinxigang", labels.platform_title("xinxigang"), "1")]
    detail = client.get(f"/reports/takedowns/{a['id']}")
    assert re.findall(r'<td>(\d)</td><td>[^<]+</td><td>([^<]+)</td>\s*<td class="result">([^<]+)</td>',
                      detail.text) == [("1", "taohuo 标题 1", "已下架"), ("2", "taohuo 标题 2", "仍在线"),
                                       ("3", "taohuo 标题 3", "待复查")]
    assert detail.text.count("尚未复查") == 1 and "无法判断（超时）" in detail.text
    assert client.get("/reports/takedowns/999").status_code == 404


def test_chart_data_per_chart_is_what_the_full_series_gives(reports_console):
    from reports import charts
    from reports.periods import make_period
    application, db_path, ids = reports_console
    db = store.connect(db_path)
    for fid, at in zip(ids["gongyou"], ("2024-09-01T16:30:00.000000Z", "2024-09-10T09:00:00+08:00")):
        store.restamp(db, "findings", fid, "first_seen", at)
    store.mark_takedown_sent(db, store.create_takedown(db, "gongyou", "mon"), "mon", at="2024-09-05T01:00:00.000000Z")
    period = make_period("2024-09-01", "2024-10-31")
    full = charts.series(db, period)
    assert sum(full["removed"].values()) == 2 and sum(full["fake_sites"].values()) == 2
    assert full["flagged"] and sum(full["requested"].values())
    for key in charts.CHARTS:
        assert charts.render_one(db, period, key) == charts._draw(key, full, period)
    part = charts.series(db, period, ("takedowns",))
    assert (part["requested"], part["removed"]) == (full["requested"], full["removed"])
    assert not part["flagged"] and not part["fake_sites"]
    db.close()
    client = TestClient(application)
    logged_in(client, "ro")
    for key in charts.CHARTS:
        r = client.get(f"/reports/charts/{key}.png?{Q}")
        assert r.content == charts._draw(key, full, period)


def test_week_counter_is_week_of_per_stamp():
    from collections import Counter
    from reports import charts
    stamps = ["2024-09-01T15:59:59.999999Z", "2024-09-01T16:00:00.000000Z", "2024-09-01T16:30:00.123456Z",
              "2024-09-08T15:00:00.000000Z", "2024-09-01T23:30:00+08:00", "2024-09-01 10:00:00",
              "2024-09-01T10:61:00.000000Z", "2024-13-01T10:00:00.000000Z", "坏", "", None,
              "2024-09-01T16:00:00Z", "2024-12-29T16:00:00.000000Z"]
    assert charts._week_counter(stamps * 2) == Counter(charts.week_of(s) for s in stamps * 2)
