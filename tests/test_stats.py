"""The statistics table: a seeded store with decisions, checks and
referrals in and out of the period gives exact numbers; the workbook's
title, merged headers, data row and detail sheet read back with openpyxl."""
from __future__ import annotations

import csv
import re

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


# The campaign's 附表 as DOMAIN.md ("the whole table") writes it, copied here
# as data: the workbook must say exactly this, cell for cell.
SEED_GROUPS = [("对企业执法检查情况", 8), ("网络空间治理情况", 3), ("立案查处情况", 4)]
SEED_HEADERS = [
    "开展执法检查的企业数量(家)", "查出无证、假证人员数量(人)", "查出企业问题总数(项)",
    "限期整改的企业数量(家)", "停业整顿的企业数量(家)", "罚款金额(万元)", "完成整改的问题数量(项)",
    "涉嫌犯罪的问题线索移交数量(项)",
    "查出假冒政府网站平台数量(项)", "清理涉安全生产资格证书违规信息数量(项)", "涉嫌犯罪的问题线索移交数量(项)",
    "公安机关查处的涉假证案件数量(件)", "检察机关提前介入的涉假证案件数量(件)",
    "检察机关提起公诉的涉假证案件数量(件、人)", "人民法院审判假证案件数量(件)",
]
SEED_NOTE = "备注：8月、10月、12月底前报送上2个月的进展情况。"


def seed_grid(title, filler, values):
    """The 统计表 sheet as the seed lays it out: 17 columns, a blank under
    every merged range's first cell."""
    blank = [""] * 17
    groups = ["序号", "省份"]
    for name, n in SEED_GROUPS:
        groups += [name] + [""] * (n - 1)
    return [[title] + blank[1:], *([line] + blank[1:] for line in filler), groups, ["", ""] + SEED_HEADERS,
            [1, "上海", *values], [SEED_NOTE] + blank[1:]]


FILLER = ["填报单位：长宁区市场监管局", "填报人：张三", "联系方式：021-12345678", "填报时间：2024-10-28"]
VALUES = [30, "", "", "", "", 12.5, "", 4, 2, 2, 2, "", "", "3件5人", ""]


def test_workbook_is_the_seed_table(seeded, tmp_path):
    db, ids = seeded
    stats.set_manual(db, PERIOD, "罚款金额", "12.5", "监测员")
    stats.set_manual(db, PERIOD, "开展执法检查的企业数量", "30", "监测员")
    stats.set_manual(db, PERIOD, "检察机关提起公诉", "3/5", "监测员")
    stats.set_manual(db, PERIOD, "涉嫌犯罪的问题线索移交数量", "4", "监测员")
    t = stats.compute(db, PERIOD, stats.Filler("长宁区市场监管局", "张三", "021-12345678", "2024-10-28"))
    path = tmp_path / "table.xlsx"
    stats.write(t, str(path), "xlsx")
    expected = seed_grid("2024年9-10月份工作情况统计表", FILLER, VALUES)

    wb = openpyxl.load_workbook(path)
    ws = wb["统计表"]
    cells = [["" if c.value is None else c.value for c in row] for row in ws.iter_rows(max_col=17)]
    assert ws.max_column == 17 and len(cells) == len(expected)
    for r, (got, want) in enumerate(zip(cells, expected), 1):
        for c, (g, w) in enumerate(zip(got, want), 1):
            assert g == w, f"row {r} column {c}: {g!r} != {w!r}"
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert merged == {"A1:Q1", "A2:Q2", "A3:Q3", "A4:Q4", "A5:Q5", "A6:A7", "B6:B7", "C6:J6", "K6:M6",
                      "N6:Q6", "A9:Q9"}
    # Print setup: A4 landscape, one page wide, both header rows on every page.
    assert int(ws.page_setup.paperSize) == 9 and ws.page_setup.orientation == "landscape"     # 9: A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0
    assert ws.print_title_rows == "$6:$7"

    # The csv is the same sheet row for row (csv cells are text).
    csv_path = tmp_path / "table.csv"
    stats.write(t, str(csv_path), "csv")
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[:len(expected)] == [[str(v) for v in row] for row in expected]
    # The markdown: every line and every (group, column) pair of the seed.
    md = stats.to_markdown(t)
    assert md.startswith("# 2024年9-10月份工作情况统计表\n")
    assert all(f"\n{line}\n" in md for line in FILLER) and f"\n{SEED_NOTE}\n" in md
    pairs = re.findall(r"^\| (对企业执法检查情况|网络空间治理情况|立案查处情况) \| (.+?) \| (.*?) \|$", md, re.M)
    groups = [g for g, n in SEED_GROUPS for _ in range(n)]
    assert [(g, h) for g, h, _ in pairs] == list(zip(groups, SEED_HEADERS))
    assert [v for _, _, v in pairs] == [str(v) for v in VALUES]

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
    for column, value in zip(SEED_HEADERS[8:11], VALUES[8:11]):
        assert len(by_column[column]) == value
    # A site row: the address reviewers saw in 链接/域名, the page's title in 标题 (blank when it had none).
    site_a = next(r for r in rows if r[0].startswith("查出") and r[3] == ids["A"])
    site_c = next(r for r in rows if r[0].startswith("查出") and r[3] == ids["C"])
    assert site_a[4:6] == ["http://cx-mem-gov.cn/", "特种作业操作证查询"]
    assert site_c[4] == "http://cxmemgov.com/" and site_c[5] in ("", None)
    f1 = next(r for r in rows if r[0].startswith("清理") and r[3] == ids["f1"])
    assert f1[4] == "http://mall.taohuo.cn/item/1.html" and f1[6] == "2024-09-10 11:00:00"
    assert "复查确认已下架" in f1[7] and f1[8] == "审核员甲（确认）；监测员（发出下架清单）"
    assert stats.removal_operators({"user": "", "sent_by": "", "created_by": "张三"}) == "张三（生成下架清单）"


def test_manual_values_under_earlier_names_move_to_the_seed_headers(db_path):
    """A store filled before the headers matched the 附表 keeps its values."""
    import sqlite3
    from pipelines import store
    store.connect(db_path).close()
    conn = sqlite3.connect(db_path)
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm_reports_2_stats_headers'")
    conn.executemany("INSERT INTO report_manual (period_from, period_to, field, value, set_by, set_at)"
                     " VALUES ('2024-09-01', '2024-10-31', ?, ?, 'x', '2024-10-01T00:00:00Z')",
                     [("查出无证假证人员数量", "7"), ("检察机关提前介入的案件数量", "2"), ("罚款金额(万元)", "1.5")])
    conn.commit()
    conn.close()
    db = store.connect(db_path)
    t = stats.compute(db, PERIOD)
    db.close()
    assert t.manual == {"查出无证、假证人员数量(人)": "7", "检察机关提前介入的涉假证案件数量(件)": "2",
                        "罚款金额(万元)": "1.5"}
    # The names people typed before still find their column.
    assert stats.manual_field("查出无证假证人员数量") == "查出无证、假证人员数量(人)"
    assert stats.manual_field("检察机关提前介入的案件数量") == "检察机关提前介入的涉假证案件数量(件)"
    assert stats.manual_field("涉嫌犯罪的问题线索移交数量") == "涉嫌犯罪的问题线索移交数量(项)"


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
