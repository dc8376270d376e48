"""Takedown batches: who goes in, the export in three formats with the
letter, and formula neutralization proven with openpyxl and csv."""
from __future__ import annotations

import csv

import openpyxl
import pytest

from helpers import run_cli
from pipelines import store
from reports import takedown
from keywords.xlsx_safe import neutralize
from seeds import add_screenshot

HOSTILE = ['=HYPERLINK("http://evil.example/","点我")', "+86-138", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
           "=cmd|' /C calc'!A0"]


def _item(n: int, title: str, platform: str = "taohuo", **kw) -> dict:
    return {"url": f"http://mall.taohuo.cn/item/{n}.html", "platform": platform, "title": title,
            "text": "代办电工证 不用考试", "seller": kw.get("seller", "=店铺"), "flagged": True, "score": 90,
            "family": "tezhong", "contacts": {"wechat": ["abc123"], "phone": ["13800001111"]}}


def seed(db) -> list[int]:
    recs = store.record_findings(db, [_item(n, t) for n, t in enumerate(HOSTILE, 1)], None)
    ids = [r.id for r in recs]
    for fid in ids:
        store.add_decision(db, "审核员甲", "confirm", finding_id=fid)
    # Not candidates: flagged but unconfirmed, dismissed, another platform.
    other = store.record_findings(db, [_item(100, "未审核"), _item(101, "已排除"),
                                       {**_item(102, "别的平台"), "url": "http://bbs.gongyou.cn/thread-102-1.html",
                                        "platform": "gongyou"}], None)
    store.add_decision(db, "审核员甲", "dismiss", note="培训机构", finding_id=other[1].id)
    store.add_decision(db, "审核员甲", "confirm", finding_id=other[2].id)
    return ids


def test_create_batch_and_candidates(fresh_db):
    ids = seed(fresh_db)
    batch = takedown.create(fresh_db, "taohuo", "监测员", "长宁区市场监管局")
    assert batch["items"] == ids
    assert [i["seq"] for i in store.takedown_items(fresh_db, batch["id"])] == list(range(1, len(ids) + 1))
    assert all(store.get_finding(fresh_db, i)["status"] == "takedown_requested" for i in ids)
    # Nothing left to request on this platform; the other platform has one.
    with pytest.raises(takedown.TakedownError, match="没有尚未请求下架"):
        takedown.create(fresh_db, "taohuo", "监测员")
    assert len(store.takedown_candidates(fresh_db, "gongyou")) == 1
    # A newly confirmed finding goes into the next batch only.
    new = store.record_findings(fresh_db, [_item(50, "新确认")], None)[0].id
    store.add_decision(fresh_db, "审核员甲", "confirm", finding_id=new)
    assert takedown.create(fresh_db, "taohuo", "监测员")["items"] == [new]
    # Sent once.
    takedown.mark_sent(fresh_db, batch["id"], "监测员")
    with pytest.raises(takedown.TakedownError, match="已于"):
        takedown.mark_sent(fresh_db, batch["id"], "监测员")


def test_export_xlsx_is_neutralized(fresh_db, tmp_path):
    ids = seed(fresh_db)
    shot = add_screenshot(fresh_db, ids[0])
    batch = takedown.create(fresh_db, "taohuo", "监测员")
    paths = takedown.export(fresh_db, batch["id"], "xlsx", str(tmp_path))
    assert len(paths) == 2 and paths[1].endswith("-函.html")
    wb = openpyxl.load_workbook(paths[0])
    ws = wb["下架清单"]
    assert [c.value for c in ws[2]] == takedown.COLUMNS
    rows = [[c for c in r] for r in ws.iter_rows(min_row=3)]
    assert len(rows) == len(HOSTILE)
    for cells in ws.iter_rows():
        for c in cells:
            assert c.data_type != "f", (c.coordinate, c.value)      # no formula anywhere
            if isinstance(c.value, str):
                assert not c.value.startswith(("=", "+", "-", "@", "\t", "\r")), c.value
    titles = [r[3].value for r in rows]
    assert titles == ["'" + t for t in HOSTILE]
    assert rows[0][4].value == "'=店铺"
    assert rows[0][8].value == f"SHA-256:{shot['sha256']}" and rows[0][9].value == shot["path"]
    assert rows[1][8].value == takedown.NO_EVIDENCE
    assert rows[0][1].value == "淘货商城" and rows[0][6].value == "涉嫌售卖假冒特种作业操作证"
    assert "微信：abc123" in rows[0][5].value


def test_export_csv_and_html(fresh_db, tmp_path):
    seed(fresh_db)
    batch = takedown.create(fresh_db, "taohuo", "监测员", "长宁区市场监管局")
    path = takedown.export(fresh_db, batch["id"], "csv", str(tmp_path))[0]
    with open(path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == takedown.COLUMNS
    for row in rows[1:]:
        for value in row:
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), value
    assert [r[3] for r in rows[1:]] == ["'" + t for t in HOSTILE]
    page = takedown.export(fresh_db, batch["id"], "html", str(tmp_path))[0]
    text = open(page, encoding="utf-8").read()
    assert "关于删除涉嫌售卖假冒安全生产资格证书信息的函" in text and "淘货商城：" in text
    assert "长宁区市场监管局" in text and "网络安全法" in text
    # The attached list quotes the attacker-written titles, escaped.
    assert 'HYPERLINK(&quot;http://evil.example/&quot;' in text and 'HYPERLINK("' not in text


def test_cli_export_with_legal_basis_file(fresh_db, db_path, tmp_path):
    seed(fresh_db)
    basis = tmp_path / "basis.txt"
    basis.write_text("依据本区专项治理工作方案第四条的规定。", encoding="utf-8")
    proc = run_cli("takedown", "create", "--db", db_path, "--platform", "taohuo", "--unit", "长宁区市场监管局")
    assert proc.returncode == 0, proc.stderr
    assert "已生成下架清单 #1" in proc.stdout
    proc = run_cli("takedown", "export", "1", "--db", db_path, "--format", "xlsx", "--outdir", tmp_path / "out",
                   "--basis-file", basis, "--contact", "李四 021-1234")
    assert proc.returncode == 0, proc.stderr
    letter = proc.stdout.split()[1]
    text = open(letter, encoding="utf-8").read()
    assert "依据本区专项治理工作方案第四条的规定。" in text and "李四 021-1234" in text
    assert "网络安全法" not in text
    proc = run_cli("takedown", "sent", "1", "--db", db_path)
    assert proc.returncode == 0 and "已记为发出" in proc.stdout
    proc = run_cli("takedown", "export", "9", "--db", db_path)
    assert proc.returncode == 2 and "不存在" in proc.stderr
    proc = run_cli("takedown", "create", "--db", db_path, "--platform", "nosuch")
    assert proc.returncode == 2 and "没有尚未请求下架" in proc.stderr
    proc = run_cli("takedown", "list", "--db", db_path)
    assert "XJ" in proc.stdout and "淘货商城" in proc.stdout


@pytest.mark.parametrize("value, expected", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("\rx", "'\rx"),
    ("正常", "正常"), ("a=b", "a=b"), (12, 12), (None, None), ("x\x00\x07y", "xy"),
])
def test_neutralize(value, expected):
    assert neutralize(value) == expected


# -- the console's grouped queries give what the per-item functions give

def _grouped_seed(db) -> None:
    """Batches made in rounds on three platforms, rechecked with every
    result; then confirmed findings left over, and findings that are not
    candidates (unconfirmed, dismissed)."""
    import random
    rng = random.Random(42)
    n = 1000
    for round_no in range(3):
        for platform in ("taohuo", "gongyou", "xinxigang"):
            k = rng.randrange(1, 6)
            recs = store.record_findings(db, [_item(n + j, f"第{round_no}轮 {j}", platform) for j in range(k)], None)
            n += k
            for r in recs:
                store.add_decision(db, "审核员甲", rng.choice(["confirm", "refer"]), finding_id=r.id)
            if not (round_no == 2 and platform == "xinxigang"):
                store.create_takedown(db, platform, "监测员")
    for batch in store.list_takedowns(db)[1:]:
        store.mark_takedown_sent(db, batch["id"], "监测员")
        for item in store.takedown_items(db, batch["id"]):
            for result in rng.sample(store.TAKEDOWN_RESULTS, rng.randrange(0, 3)):
                store.add_takedown_check(db, item["id"], result, "复查")
    left = store.record_findings(db, [_item(n + j, "未审核", "zhaozhao") for j in range(3)], None)
    store.add_decision(db, "审核员甲", "dismiss", note="培训机构", finding_id=left[0].id)
    store.add_decision(db, "审核员甲", "confirm", finding_id=left[1].id)


def test_grouped_takedown_queries_match_per_item(fresh_db):
    from collections import Counter
    _grouped_seed(fresh_db)
    batches = store.list_takedowns(fresh_db)
    summaries = store.takedown_summaries(fresh_db)
    assert [s["id"] for s in summaries] == [b["id"] for b in batches] and len(batches) == 8
    seen = Counter()
    for batch, summary in zip(batches, summaries):
        items = store.takedown_items(fresh_db, batch["id"])
        assert summary["item_count"] == len(items) > 0
        assert summary["result_counts"] == Counter(i["result"] for i in items)
        assert {k: v for k, v in summary.items() if k not in ("item_count", "result_counts")} == batch
        assert items == [{**row, "finding": store.get_finding(fresh_db, row["finding_id"])}     # one by one
                         for row in fresh_db["takedown_items"].rows_where("takedown_id = ?", [batch["id"]],
                                                                          order_by="seq")]
        seen.update(summary["result_counts"])
    assert seen["removed"] and seen["still_present"] and seen["requested"]      # every result occurs
    platforms = {f["platform"] for s in store.REQUESTABLE_STATUSES for f in store.iter_findings(fresh_db, status=s)}
    expected = {p: len(store.takedown_candidates(fresh_db, p)) for p in platforms}
    assert store.takedown_candidate_counts(fresh_db) == expected
    assert expected["taohuo"] == 0 and expected["xinxigang"] > 0 and expected["zhaozhao"] == 1
    assert store.takedown_items(fresh_db, 999) == []
