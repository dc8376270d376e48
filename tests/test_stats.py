"""The statistics table: a seeded store with decisions, checks and
referrals in and out of the period gives exact numbers; the workbook's
title, merged headers, data row and detail sheet read back with openpyxl."""
from __future__ import annotations

import csv

import openpyxl
import pytest

from helpers import run_cli
from reports import stats
from reports.periods import bimonthly, make_period
from seeds import seed_stats

PERIOD = make_period("2024-09-01", "2024-10-31")


@pytest.fixture
def seeded(fresh_db):
    return fresh_db, seed_stats(fresh_db)


def test_exact_numbers(seeded):
    db, ids = seeded
    t = stats.compute(db, PERIOD)
    assert [r["site_id"] for r in t.computed["fake_sites"]] == [ids["C"], ids["A"]]
    assert [r["finding_id"] for r in t.computed["removed"]] == [ids["f1"], ids["f6"]]
    assert [(r["finding_id"], r["site_id"]) for r in t.computed["referred"]] == \
        [(ids["f1"], None), (None, ids["A"])]
    assert t.counts() == {"fake_sites": 2, "removed": 2, "referred": 2}
    # The period before holds what was left out at the start.
    before = stats.compute(db, make_period("2024-07-01", "2024-08-31"))
    assert before.counts() == {"fake_sites": 2, "removed": 2, "referred": 1}   # B, F; f2, f5; f3


def test_workbook_layout_and_detail(seeded, tmp_path):
    db, ids = seeded
    stats.set_manual(db, PERIOD, "罚款金额", "12.5", "监测员")
    stats.set_manual(db, PERIOD, "开展执法检查的企业数量", "30", "监测员")
    stats.set_manual(db, PERIOD, "检察机关提起公诉", "3/5", "监测员")
    t = stats.compute(db, PERIOD, stats.Filler("长宁区市场监管局", "张三", "021-12345678", "2024-10-28"))
    path = tmp_path / "table.xlsx"
    stats.write_xlsx(t, str(path))

    wb = openpyxl.load_workbook(path)
    ws = wb["统计表"]
    assert ws["A1"].value == "2024年9-10月份工作情况统计表"
    assert ws["A2"].value == "填报单位：长宁区市场监管局　　填报人：张三　　联系方式：021-12345678　　填报时间：2024-10-28"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A1:Q1", "A2:Q2", "A3:A4", "B3:B4", "C3:J3", "K3:M3", "N3:Q3"} <= merged
    assert (ws["A3"].value, ws["B3"].value, ws["C3"].value, ws["K3"].value, ws["N3"].value) == \
        ("序号", "省份", "对企业执法检查情况", "网络空间治理情况", "立案查处情况")
    assert [c.value for c in ws[4]][2:] == stats.ENFORCEMENT + stats.CYBERSPACE + stats.CASES
    row = [c.value for c in ws[5]]
    assert row[:2] == [1, "上海"]
    assert row[2] == 30 and row[7] == 12.5
    assert row[10:13] == [2, 2, 2]
    assert row[15] == "3件5人"

    detail = wb["明细"]
    rows = [[c.value for c in r] for r in detail.iter_rows(min_row=3)]
    assert [c.value for c in detail[2]] == stats.DETAIL_COLUMNS
    by_column = {}
    for r in rows:
        by_column.setdefault(r[0], []).append((r[2], r[3]))
    assert by_column == {
        "查出假冒政府网站平台数量(项)": [("网站", ids["C"]), ("网站", ids["A"])],
        "清理涉安全生产资格证书违规信息数量(项)": [("信息", ids["f1"]), ("信息", ids["f6"])],
        "涉嫌犯罪的问题线索移交数量(项)": [("信息", ids["f1"]), ("网站", ids["A"])],
    }
    # Each figure equals its list.
    for column, value in zip(stats.CYBERSPACE, row[10:13]):
        assert len(by_column[column]) == value
    f1 = next(r for r in rows if r[0].startswith("清理") and r[3] == ids["f1"])
    assert f1[4] == "http://mall.taohuo.cn/item/1.html" and f1[6] == "2024-09-10 11:00:00"
    assert "复查确认已下架" in f1[7] and f1[8] == "审核员甲"


def test_cli_stats_formats_and_manual(seeded, db_path, tmp_path):
    out = tmp_path / "t.xlsx"
    proc = run_cli("report", "set", "--db", db_path, "--period", "2024-09-01..2024-10-31", "罚款金额", "12.5")
    assert proc.returncode == 0, proc.stderr
    assert "罚款金额(万元) = 12.5" in proc.stdout
    proc = run_cli("report", "stats", "--db", db_path, "--from", "2024-09-01", "--to", "2024-10-31",
                   "--unit", "长宁区市场监管局", "--person", "张三", "--phone", "021-1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "假冒政府网站 2 个，清理违规信息 2 条，移交线索 2 条" in proc.stdout
    assert openpyxl.load_workbook(out)["统计表"]["H5"].value == 12.5
    proc = run_cli("report", "stats", "--db", db_path, "--period", "2024-09..2024-10", "--format", "md")
    assert "# 2024年9-10月份工作情况统计表" in proc.stdout
    assert "| 网络空间治理情况 | 查出假冒政府网站平台数量(项) | 2 |" in proc.stdout
    csv_path = tmp_path / "t.csv"
    proc = run_cli("report", "stats", "--db", db_path, "--period", "2024-09..2024-10", "--out", csv_path)
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][10] == "网络空间治理情况/查出假冒政府网站平台数量(项)" and rows[1][10:13] == ["2", "2", "2"]
    # Bad manual input: clear Chinese errors, exit 2, nothing stored.
    for field, value, message in [("罚款金额", "-1", "不能为负数"), ("罚款金额", "abc", "应为数字"),
                                  ("查出假冒政府网站平台数量(项)", "3", "自动统计"),
                                  ("不存在的项", "1", "没有名为"), ("开展执法检查的企业数量", "1.5", "应为整数")]:
        proc = run_cli("report", "set", "--db", db_path, "--period", "2024-09..2024-10", field, value)
        assert proc.returncode == 2 and message in proc.stderr, (field, proc.stderr)
    proc = run_cli("report", "stats", "--db", db_path, "--from", "2024-10-31", "--to", "2024-09-01")
    assert proc.returncode == 2 and "早于" in proc.stderr


def test_periods():
    from datetime import date
    assert bimonthly(date(2024, 10, 15)) == make_period("2024-09-01", "2024-10-31")
    assert bimonthly(date(2024, 12, 31)) == make_period("2024-11-01", "2024-12-31")
    assert bimonthly(date(2024, 1, 1)) == make_period("2024-01", "2024-02")
    assert make_period("2024-12-01", "2025-01-31").title() == "2024年12月-2025年1月份工作情况统计表"
    assert make_period("2024-10-01", "2024-10-31").title() == "2024年10月份工作情况统计表"
    assert PERIOD.utc_range() == ("2024-08-31T16:00:00.000000Z", "2024-10-31T16:00:00.000000Z")


def test_charts(seeded, tmp_path):
    from reports import charts
    db, ids = seeded
    data = charts.series(db, PERIOD)
    assert sum(data["removed"].values()) == 2 and sum(data["fake_sites"].values()) == 2
    paths = charts.render(db, PERIOD, str(tmp_path / "charts"))
    assert len(paths) == 3
    for p in paths:
        with open(p, "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
