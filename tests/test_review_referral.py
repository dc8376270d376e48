"""One 移交公安: the queue's r, the detail page and `certwatch referral add`
put items into the pending referral; the 线索移交 page turns them into a
package; the queue's 已移交公安 and the 附表's 涉嫌犯罪的问题线索移交数量 agree at
every step (in-process, the console's pages and the CLI)."""
from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from helpers import cli, csrf_in, logged_in
from pipelines import store
from reports import referral, stats
from reports.periods import bimonthly, make_period
from seeds import add_all_files


def _queue_counts(client) -> dict[str, int]:
    page = client.get("/queue?status=").text
    return {s: int(n) for s, n in re.findall(r'<span class="count" data-status="(\w+)">(\d+)</span>', page)}


def _table_count(db_path) -> int:
    """涉嫌犯罪的问题线索移交数量 over every period so far (the seed's start to today's period)."""
    with store.opened(db_path) as db:
        return stats.compute(db, make_period("2024-01-01", bimonthly().end.isoformat())).counts()["referred"]


def test_refer_is_one_flow_and_queue_and_table_agree(reports_console, db_path, capsys):
    application, db_path, ids = reports_console
    rev = TestClient(application)
    logged_in(rev, "rev")
    a, b = ids["gongyou"]
    site, flagged = ids["C"], ids["f4"]
    start = _queue_counts(rev)
    assert start.get("referred") == 4 == _table_count(db_path)        # the seed's packages: f1, f2, f3, site A
    assert start.get("referral_pending", 0) == 0

    # 移交公安 from the queue (r on two items) and from a site's detail page.
    page = rev.get("/queue?status=")
    assert "生成线索包" not in page.text                               # one 移交公安, not two
    csrf = csrf_in(page.text)
    r = rev.post("/decide", data={"csrf_token": csrf, "action": "refer", "next": "/queue?status=",
                                  "items": [f"finding:{a}", f"finding:{b}"]})
    assert r.status_code == 200 and "已处理 2 条" in r.text and "已加入待移交清单" in r.text
    detail = rev.get(f"/site/{site}")
    r = rev.post("/decide", data={"csrf_token": csrf_in(detail.text), "action": "refer", "items": f"site:{site}",
                                  "next": f"/site/{site}"})
    assert r.status_code == 200 and "待生成移交包" in r.text
    # … and on the command line.
    code, out, err = cli(capsys, "referral", "add", "--db", db_path, "--items", str(flagged), "--user", "rev")
    assert code == 0 and "待移交清单共 4 条" in out, err
    assert "已移交公安" not in out            # 已移交公安 is a package's word (the queue tab, the table)
    code, out, err = cli(capsys, "referral", "list", "--db", db_path)
    assert code == 0 and "待移交公安（已点“移交公安”、尚未生成移交包）4 条" in out and "已移交公安、" not in out, err
    # The program's own action is not a reviewer's button.
    r = rev.post("/decide", data={"csrf_token": csrf, "action": "refer_package", "items": [f"finding:{a}"],
                                  "next": "/queue?status="})
    assert "未知的处理动作" in r.text
    counts = _queue_counts(rev)
    assert counts["referral_pending"] == 4 and counts["referred"] == 4 == _table_count(db_path)

    # 线索移交: the pending items, all ticked; a package of three of them.
    page = rev.get("/reports/referrals")
    ticked = re.findall(r'name="items" value="(\w+)" aria-label="选中" checked', page.text)
    assert sorted(ticked) == sorted([str(a), str(b), f"s{site}", str(flagged)])
    csrf = csrf_in(page.text)
    r = rev.post("/reports/referrals/create", data={"csrf_token": csrf, "unit": "区公安分局"})
    assert r.status_code == 400 and "请勾选要移交的条目" in r.text
    r = rev.post("/reports/referrals/create", data={"csrf_token": csrf, "unit": "区公安分局",
                                                    "items": [str(a), f"s{site}", str(flagged)]})
    assert r.status_code == 200 and "已生成线索移交单" in r.text
    counts = _queue_counts(rev)
    assert counts["referral_pending"] == 1 and counts["referred"] == 7 == _table_count(db_path)
    # The rest by the command line: the whole pending referral by default.
    code, out, err = cli(capsys, "referral", "create", "--db", db_path, "--unit", "区公安分局",
                         "--outdir", str(db_path) + "-pk")
    assert code == 0 and "1 条" in out, err
    counts = _queue_counts(rev)
    assert counts.get("referral_pending", 0) == 0 and counts["referred"] == 8 == _table_count(db_path)
    code, out, err = cli(capsys, "referral", "create", "--db", db_path, "--unit", "区公安分局")
    assert code == 2 and "没有待移交的条目" in err

    with store.opened(db_path) as db:
        made = [r for r in store.list_referrals(db) if r["created_by"] == "rev"]
        assert made[0]["items"] == {"findings": [a, flagged], "sites": [site]}
        assert referral.verify(made[0]["package"]) == []
        assert [d["action"] for d in store.decisions_for(db, finding_id=a)] == ["confirm", "refer", "refer_package"]
        # Counted in today's period: the package's time, not the 移交公安 decision's.
        now = stats.compute(db, bimonthly()).computed["referred"]
        assert sorted((r["finding_id"] or 0, r["site_id"] or 0) for r in now) == \
            sorted([(a, 0), (b, 0), (flagged, 0), (0, site)])


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


def test_referral_add_refuses_an_item_nobody_flagged(db_path, capsys):
    """A mistyped number on the command line (a news article certwatch did
    not flag and no reviewer confirmed) does not reach the police package,
    unless the reviewer says --force."""
    with store.opened(db_path) as db:
        news, ad = store.record_findings(db, [
            {"url": "http://bbs.gongyou.cn/news-1.html", "platform": "gongyou", "title": "警方破获制售假证案",
             "text": "警方提醒：不要购买假证。", "flagged": False, "score": 2},
            {"url": "http://bbs.gongyou.cn/thread-9.html", "platform": "gongyou", "title": "电工证 不用考试",
             "text": "电工证不用考试，包过，加微信 zb8888。", "flagged": True, "score": 95}], None)
    code, out, err = cli(capsys, "referral", "add", "--db", db_path, "--items", f"{ad.id},{news.id}")
    assert code == 2 and f"信息 {news.id} 未被标记为可疑" in err and "--force" in err, (out, err)
    with store.opened(db_path) as db:
        assert referral.pending(db) == []                     # nothing added, not even the flagged one
    code, out, err = cli(capsys, "referral", "add", "--db", db_path, "--items", str(ad.id))
    assert code == 0 and "待移交清单共 1 条" in out, err
    code, out, err = cli(capsys, "referral", "add", "--db", db_path, "--items", str(news.id), "--force")
    assert code == 0 and "待移交清单共 2 条" in out, err


def test_referred_and_taken_down_items_count_in_both_tabs(reports_console, capsys):
    """The seed's f1 and f2 were taken down (removed) and then referred, f3
    referred while still online: the takedown tabs count them by their
    takedown (as `takedown list` and the 附表 do), the referral tab by their
    referral, "全部" once each, and the queue says so."""
    application, db_path, ids = reports_console
    rev = TestClient(application)
    logged_in(rev, "rev")
    counts = _queue_counts(rev)
    with store.opened(db_path) as db:
        [batch] = [b["id"] for b in store.list_takedowns(db, "taohuo")]
        removed_listed = {i["finding_id"] for i in store.takedown_items(db, batch) if i["result"] == "removed"}
        table = stats.compute(db, make_period("2024-01-01", bimonthly().end.isoformat())).counts()
    assert removed_listed == {ids[k] for k in ("f1", "f2", "f5", "f6")}
    assert counts["removed"] == len(removed_listed) == table["removed"] == 4
    assert counts["still_present"] == 1 and counts["referred"] == 4 == table["referred"]
    removed_tab = rev.get("/queue?status=removed").text
    assert all(f"/finding/{ids[k]}" in removed_tab for k in ("f1", "f2", "f5", "f6"))
    assert f"/finding/{ids['f3']}" in rev.get("/queue?status=still_present").text
    referred_tab = rev.get("/queue?status=referred").text
    assert all(f"/finding/{ids[k]}" in referred_tab for k in ("f1", "f2", "f3"))
    everything = rev.get("/queue?status=").text
    assert "其中 3 条信息已移交公安（或待移交），又在下架清单中" in everything
    total = int(re.search(r'<p class="summary">共 (\d+) 条', everything).group(1))
    assert total == sum(counts.values()) - 3
    code, out, _ = cli(capsys, "takedown", "list", "--db", db_path, "--platform", "taohuo")
    assert code == 0 and re.search(r"\s4\s+1\s+1\s*$", out.splitlines()[-1])     # 已下架 4, 仍在线 1, 待复查 1
