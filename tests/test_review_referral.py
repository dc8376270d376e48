"""The review queue's bulk action 移交公安（生成线索包）: selected confirmed
items lead to 线索移交 with the selection filled in, and end as a recorded
referral package; unconfirmed items are refused (in-process)."""
from __future__ import annotations

import html
import re
import urllib.parse

from fastapi.testclient import TestClient

from helpers import csrf_in, logged_in
from pipelines import store
from reports import referral
from seeds import add_all_files


def test_refer_from_the_queue(reports_console):
    application, db_path, ids = reports_console
    db = store.connect(db_path)
    pending = store.record_findings(db, [{"url": "http://bbs.gongyou.cn/thread-99-1.html", "platform": "gongyou",
                                          "title": "代办电工证 99", "text": "包过", "flagged": True}], None)[0].id
    db.close()
    rev = TestClient(application)
    csrf = logged_in(rev, "rev")
    finding, site = ids["gongyou"][0], ids["A"]

    page = rev.get("/queue?status=")          # all statuses: site A is already referred once
    assert page.status_code == 200 and "移交公安（生成线索包）" in page.text
    assert f'value="finding:{finding}"' in page.text and f'value="site:{site}"' in page.text
    csrf = csrf_in(page.text)
    back = "/queue?status="

    # Without the CSRF token nothing happens.
    r = rev.post("/decide", data={"action": "referral", "items": [f"finding:{finding}"], "next": back},
                 follow_redirects=False)
    assert r.status_code in (400, 403)

    # An unconfirmed item in the selection: back to the queue with the reason.
    r = rev.post("/decide", data={"csrf_token": csrf, "action": "referral", "next": back,
                                  "items": [f"finding:{finding}", f"finding:{pending}"]})
    assert r.status_code == 200 and "只能为已审核确认的条目生成线索包" in r.text

    # Confirmed finding + site → 线索移交 with the selection filled in.
    r = rev.post("/decide", data={"csrf_token": csrf, "action": "referral", "next": back,
                                  "items": [f"finding:{finding}", f"site:{site}"]}, follow_redirects=False)
    assert r.status_code == 303
    target = r.headers["location"]
    assert target.startswith("/reports/referrals?")
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(target).query)["items"] == [f"{finding},s{site}"]
    page = rev.get(target)
    items = html.unescape(re.search(r'name="items" value="([^"]*)"', page.text).group(1))
    assert items == f"{finding},s{site}"
    csrf = csrf_in(page.text)
    r = rev.post("/reports/referrals/create", data={"csrf_token": csrf, "items": items, "unit": "区公安分局"})
    assert r.status_code == 200 and "已生成线索移交单" in r.text

    db = store.connect(db_path)
    made = [r for r in store.list_referrals(db) if r["created_by"] == "rev"]
    assert len(made) == 1
    ref = made[0]
    assert ref["items"]["findings"] == [finding] and ref["items"]["sites"] == [site]
    assert store.get_finding(db, finding)["status"] == "referred"
    assert store.get_finding(db, pending)["status"] != "referred"
    assert ref["package"] and referral.verify(ref["package"]) == []
    db.close()


def test_detail_pages_show_codes_in_chinese(reports_console):
    """Evidence file kinds, platform ids, WHOIS fields and values, site source
    and decision actions are shown to reviewers in Chinese."""
    application, db_path, ids = reports_console
    db = store.connect(db_path)
    site = ids["A"]
    finding, other = [r.id for r in store.record_findings(db, [
        {"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou", "title": f"同号 {n}",
         "text": "微信 zb8888", "flagged": True, "contacts": {"wechat": ["zb8888"]}} for n in (97, 98)], None)]
    store.add_decision(db, "rev", "confirm", finding_id=finding)
    add_all_files(db, finding)
    store.record_site(db, {"domain": store.get_site(db, site)["domain"], "source": "tip:12350",
                           "whois": {"status": "ok", "registrar": "某某网络科技有限公司", "registrant_kind": "privacy",
                                     "name_servers": ["ns1.dns.cn", "ns2.dns.cn"], "created": "2024-08-01"}})
    db.close()
    client = TestClient(application)
    logged_in(client, "ro")

    page = client.get(f"/finding/{finding}").text
    files = re.findall(r'<a href="/evidence/\d+/file/(\w+)">([^<]*)</a>', page)
    assert files == [("screenshot", "截图"), ("raw", "原始字节"), ("html", "网页源码"), ("warc", "WARC 存档"),
                     ("record", "提取记录")]
    assert "<dt>平台</dt><dd>工友论坛</dd>" in page and ">gongyou<" not in page
    assert re.search(rf'href="/finding/{other}">同号 98</a></td><td>工友论坛</td>', page)   # shares the WeChat ID
    history = page.split("处理记录（只增不删")[1]
    assert "<td>确认</td>" in history and "confirm" not in history

    page = html.unescape(client.get(f"/site/{site}").text)
    whois = dict(re.findall(r"<tr><th>([^<]+)</th><td>([^<]*)</td></tr>", page))
    assert whois == {"查询结果": "查询成功", "注册商": "某某网络科技有限公司", "注册人类型": "隐私保护",
                     "域名服务器": "ns1.dns.cn、ns2.dns.cn", "注册时间": "2024-08-01"}
    assert "<dt>来源</dt><dd>线索举报（12350）</dd>" in page

    queue = client.get("/queue?status=&platform=gongyou").text
    assert '<option value="gongyou" selected>工友论坛</option>' in queue
    assert re.search(r"<td>工友论坛</td>", queue) and "<td>gongyou" not in queue
