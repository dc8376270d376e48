"""The campaign's statistics table (附表) for a period.

Layout (DOMAIN.md, "the whole table"): the title built from the period
(2024年9-10月份工作情况统计表); 填报单位：, 填报人：, 联系方式：, 填报时间： each on
its own line; two header rows (序号 and 省份 over both, the groups
对企业执法检查情况 8 columns, 网络空间治理情况 3, 立案查处情况 4 over their 15
column headers); the data row 1, 上海; the 备注 line. Printed on A4 landscape,
one page wide, the header rows repeated. The three 网络空间治理 columns are
computed from the store; the others are entered by hand per period (``report
set`` or the console), so the whole table comes out of one place. A second
sheet lists every item behind every computed number.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pipelines import store
from reports.periods import Period, beijing, today
from keywords.xlsx_safe import set_cell, write_csv
from keywords import lightimport
from keywords.atomic import atomic_file, atomic_write

# The campaign's 附表, character for character (DOMAIN.md "the whole table"):
# its 15 column headers, their groups, the data row's 省份 and the 备注 line.
ENFORCEMENT = ["开展执法检查的企业数量(家)", "查出无证、假证人员数量(人)", "查出企业问题总数(项)",
               "限期整改的企业数量(家)", "停业整顿的企业数量(家)", "罚款金额(万元)", "完成整改的问题数量(项)",
               "涉嫌犯罪的问题线索移交数量(项)"]
CYBERSPACE = ["查出假冒政府网站平台数量(项)", "清理涉安全生产资格证书违规信息数量(项)",
              "涉嫌犯罪的问题线索移交数量(项)"]
CASES = ["公安机关查处的涉假证案件数量(件)", "检察机关提前介入的涉假证案件数量(件)",
         "检察机关提起公诉的涉假证案件数量(件、人)", "人民法院审判假证案件数量(件)"]
GROUPS = [("对企业执法检查情况", ENFORCEMENT), ("网络空间治理情况", CYBERSPACE), ("立案查处情况", CASES)]
# Hand-filled columns, stored under their header text. 涉嫌犯罪的问题线索移交数量(项)
# is in two groups: the hand-filled one is 对企业执法检查情况's (the other is counted).
MANUAL = ENFORCEMENT + CASES
COMPUTED_KEYS = ("fake_sites", "removed", "referred")      # in CYBERSPACE order
PROVINCE = "上海"
NOTE = "备注：8月、10月、12月底前报送上2个月的进展情况。"
FILLER_LABELS = ("填报单位：", "填报人：", "联系方式：", "填报时间：")
NCOLS = 2 + len(ENFORCEMENT) + len(CYBERSPACE) + len(CASES)
# Header names of earlier versions → the 附表's (stored values are renamed by
# the store migration m_reports_2_stats_headers; typed names still work).
OLD_NAMES = {"查出无证假证人员数量": "查出无证、假证人员数量(人)",
             "检察机关提前介入的案件数量": "检察机关提前介入的涉假证案件数量(件)",
             "检察机关提起公诉的案件数量(件、人)": "检察机关提起公诉的涉假证案件数量(件、人)"}
DETAIL_COLUMNS = ["指标", "序号", "类型", "记录ID", "链接/域名", "标题", "计入时间", "依据", "操作人"]


class StatsError(ValueError):
    """Bad manual entry or option; the message is Chinese."""


@dataclass
class Filler:
    unit: str = ""
    person: str = ""
    phone: str = ""
    date: str = ""          # 填报时间, default today


@dataclass
class Table:
    period: Period
    filler: Filler
    computed: dict[str, list[dict]]             # key -> detail rows (the first ``limit`` of compute())
    manual: dict[str, str] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)    # key -> count, when computed holds fewer rows

    def counts(self) -> dict[str, int]:
        return {key: self.totals.get(key, len(self.computed[key])) for key in COMPUTED_KEYS}

    def values(self) -> list:
        """The data row's values for ENFORCEMENT + CYBERSPACE + CASES."""
        out = [_cell_value(self.manual.get(name, "")) for name in ENFORCEMENT]
        out += list(self.counts().values())
        out += [_cell_value(self.manual.get(name, "")) for name in CASES]
        return out

    def detail_rows(self) -> list[list]:
        rows = []
        for key, column in zip(COMPUTED_KEYS, CYBERSPACE):
            for n, item in enumerate(self.computed[key], 1):
                rows.append([column, n, *item_detail(key, item)])
        return rows


def _cell_value(text: str | None):
    if text in ("", None):
        return ""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def removal_operators(item: dict) -> str:
    """Who a 清理 row is owed to: the reviewer who confirmed the item and
    whoever sent (else made) its takedown list; never blank while either is known."""
    sender = item.get("sent_by") or item.get("created_by") or ""
    parts = [f"{item['user']}（确认）" if item.get("user") else "",
             f"{sender}（{'发出' if item.get('sent_by') else '生成'}下架清单）" if sender else ""]
    return "；".join(p for p in parts if p)


def item_detail(key: str, item: dict) -> list:
    """类型, 记录ID, 链接/域名, 标题, 计入时间, 依据, 操作人."""
    when = beijing(item["at"], "%Y-%m-%d %H:%M:%S")
    if key == "fake_sites":
        basis = "审核确认为假冒政府网站" + (f"（仿冒 {item['impersonates']}）" if item.get("impersonates") else "")
        # the address reviewers saw (its domain is the counted unit) and the page's own title
        return ["网站", item["site_id"], item.get("url") or item["domain"], item.get("title") or "", when, basis,
                item.get("user") or ""]
    if key == "removed":
        basis = f"下架清单 #{item['takedown_id']} 复查确认已下架（{item.get('reason') or ''}）"
        return ["信息", item["finding_id"], item["url"], item.get("title") or "", when, basis, removal_operators(item)]
    kind, ident = ("信息", item["finding_id"]) if item.get("finding_id") else ("网站", item["site_id"])
    basis = f"移交{item.get('unit') or ''}（移交单 #{item['referral_id']}）"
    return [kind, ident, item.get("url") or "", item.get("title") or "", when, basis, item.get("user") or ""]


def compute(db, period: Period, filler: Filler | None = None, limit: int | None = None) -> Table:
    """The table for ``period``; with ``limit``, the counts in full but only
    the first ``limit`` detail rows of each (the console page)."""
    start, end = period.utc_range()
    computed = {"fake_sites": store.stats_fake_sites(db, start, end),
                "removed": store.stats_removed(db, start, end, limit),
                "referred": store.stats_referred(db, start, end)}
    totals = {}
    if limit is not None:
        totals = {key: len(rows) for key, rows in computed.items()}
        totals["removed"] = store.stats_removed_count(db, start, end)
        computed = {key: rows[:limit] for key, rows in computed.items()}
    manual = {k: v["value"] for k, v in store.manual_values(db, *period.key).items()}
    filler = filler or Filler()
    if not filler.date:
        filler.date = today().isoformat()
    return Table(period, filler, computed, manual, totals)


# -- manual entries

def _plain(name: str) -> str:
    """A header as people type it: no units, no 、, ASCII parentheses."""
    name = name.replace("（", "(").replace("）", ")")
    return re.sub(r"\([^)]*\)", "", name).replace("、", "").replace(" ", "")


def manual_field(name: str) -> str:
    """The manual column a user means: the exact header, the header without
    its unit or 、 (罚款金额 → 罚款金额(万元)), a unique prefix or part, or a
    header name of earlier versions (检察机关提前介入的案件数量)."""
    name = (name or "").strip()
    if name in MANUAL:
        return name
    plain = _plain(name)
    if plain in map(_plain, CYBERSPACE[:2]):
        raise StatsError(f"“{name}”由系统根据审核、复查和移交记录自动统计，不能手工填写")
    exact = [c for c in MANUAL if _plain(c) == plain or _plain(c) == _plain(OLD_NAMES.get(name, ""))]
    hits = exact or [c for c in MANUAL if _plain(c).startswith(plain)] or \
        [c for c in MANUAL if plain and plain in _plain(c)]
    if len(hits) == 1 and plain:
        return hits[0]
    if not hits or not plain:
        raise StatsError(f"没有名为“{name}”的手工填报项。可填：{'、'.join(MANUAL)}")
    raise StatsError(f"“{name}”不唯一，可能是：{'、'.join(hits)}")


def parse_manual_value(field_name: str, value: str) -> str:
    """A non-negative number; 检察机关提起公诉 takes '件、人' as '3/5' or '3件5人'."""
    text = (value or "").strip()
    if field_name.endswith("(件、人)"):
        m = re.fullmatch(r"(\d{1,9})\s*件?", text)
        if m:
            return str(int(m[1]))
        m = re.fullmatch(r"(\d{1,9})\s*件\s*[、,，]?\s*(\d{1,9})\s*人", text) or \
            re.fullmatch(r"(\d{1,9})\s*[/、,，]\s*(\d{1,9})", text)
        if m:
            return f"{int(m[1])}件{int(m[2])}人"
        raise StatsError(f"“{field_name}”应为件数或“件数/人数”（如 3/5），而不是 {value!r}")
    try:
        number = float(text)
    except ValueError:
        raise StatsError(f"“{field_name}”应为数字，而不是 {value!r}") from None
    if not math.isfinite(number) or number > 1e12:
        raise StatsError(f"“{field_name}”应为有限的数字")
    if number < 0:
        raise StatsError(f"“{field_name}”不能为负数")
    if not field_name.startswith("罚款金额") and not number.is_integer():
        raise StatsError(f"“{field_name}”应为整数")
    return str(int(number)) if number.is_integer() else f"{number:g}"


def set_manual(db, period: Period, name: str, value: str, user: str) -> tuple[str, str]:
    column = manual_field(name)
    text = parse_manual_value(column, value)
    store.set_manual_value(db, *period.key, column, text, user)
    return column, text


# -- output

def filler_lines(t: Table) -> list[str]:
    f = t.filler
    return [label + value for label, value in zip(FILLER_LABELS, (f.unit, f.person, f.phone, f.date))]


# Rows of the 统计表 sheet (1-based) and its merged ranges, as (row, col, row, col).
TITLE_ROW, FILLER_ROW, HEADER_ROW, DATA_ROW = 1, 2, 6, 8
NOTE_ROW = DATA_ROW + 1


def grid(t: Table) -> list[list]:
    """The 统计表 sheet as rows of NCOLS cells ("" under a merged range's
    first cell): what the workbook holds and the csv writes."""
    blank = [""] * NCOLS

    def line(text):
        return [text] + blank[1:]
    groups, names = ["序号", "省份"], ["", ""]
    for group, columns in GROUPS:
        groups += [group] + [""] * (len(columns) - 1)
        names += columns
    return [line(t.period.title()), *map(line, filler_lines(t)), groups, names,
            [1, PROVINCE, *t.values()], line(NOTE)]


def merged_ranges() -> list[tuple[int, int, int, int]]:
    out = [(r, 1, r, NCOLS) for r in (TITLE_ROW, *range(FILLER_ROW, FILLER_ROW + 4), NOTE_ROW)]
    out += [(HEADER_ROW, 1, HEADER_ROW + 1, 1), (HEADER_ROW, 2, HEADER_ROW + 1, 2)]
    col = 3
    for _, columns in GROUPS:
        out.append((HEADER_ROW, col, HEADER_ROW, col + len(columns) - 1))
        col += len(columns)
    return out


def write_xlsx(t: Table, path: str) -> None:
    lightimport.openpyxl()                      # openpyxl without numpy
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.properties import PageSetupProperties

    wb = Workbook()
    ws = wb.active
    ws.title = "统计表"
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    left = Alignment(horizontal="left", vertical="center")
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    for r, values in enumerate(grid(t), 1):
        for c, value in enumerate(values, 1):
            if value != "" or r == DATA_ROW:
                set_cell(ws, r, c, value)
    for r1, c1, r2, c2 in merged_ranges():
        ws.merge_cells(start_row=r1, start_column=c1, end_row=r2, end_column=c2)
    ws.cell(TITLE_ROW, 1).font = Font(bold=True, size=16)
    ws.cell(TITLE_ROW, 1).alignment = center
    for r in (*range(FILLER_ROW, FILLER_ROW + 4), NOTE_ROW):
        ws.cell(r, 1).alignment = left
    for row in ws.iter_rows(min_row=HEADER_ROW, max_row=DATA_ROW, max_col=NCOLS):
        for cell in row:
            cell.alignment = center
            cell.border = border
            if cell.row < DATA_ROW:
                cell.font = Font(bold=True)
    ws.row_dimensions[TITLE_ROW].height = 30
    ws.row_dimensions[HEADER_ROW + 1].height = 75
    for c in range(1, NCOLS + 1):
        ws.column_dimensions[get_column_letter(c)].width = 6 if c <= 2 else 12
    # Print: A4 landscape, one page wide, the two header rows on every page.
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW + 1}"
    ws.print_options.horizontalCentered = True

    detail = wb.create_sheet("明细")
    set_cell(detail, 1, 1, f"{t.period.title()} 网络空间治理情况统计明细（{t.period.label}）")
    detail.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(DETAIL_COLUMNS))
    detail.cell(1, 1).font = Font(bold=True)
    for c, name in enumerate(DETAIL_COLUMNS, 1):
        set_cell(detail, 2, c, name).font = Font(bold=True)
    for r, values in enumerate(t.detail_rows(), 3):
        for c, value in enumerate(values, 1):
            set_cell(detail, r, c, value)
    for col, width in zip("ABCDEFGHI", (30, 6, 6, 8, 40, 30, 20, 40, 12)):
        detail.column_dimensions[col].width = width
    detail.page_setup.paperSize = detail.PAPERSIZE_A4
    detail.page_setup.orientation = detail.ORIENTATION_LANDSCAPE
    detail.print_title_rows = "2:2"
    with atomic_file(path) as fh:
        wb.save(fh)


def write_csv_file(t: Table, path: str) -> None:
    """The 统计表 sheet row for row (title, filler lines, both header rows,
    the data row, 备注), a blank row, then the 明细 with its header."""
    rows = grid(t)
    write_csv(path, rows[0], [*rows[1:], [], ["明细"], DETAIL_COLUMNS, *t.detail_rows()])


def _md(value) -> str:
    """A table cell: no pipes, line breaks or raw HTML from scraped text."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def to_markdown(t: Table) -> str:
    """The table for reading: title, filler lines, one table row per column
    (分组, 项目 = the header text, 数值), the 备注 line, then the 明细."""
    lines = [f"# {_md(t.period.title())}", ""]
    for text in filler_lines(t):
        lines += [_md(text), ""]
    lines += [f"统计期间：{t.period.label}", ""]
    values = [1, PROVINCE, *t.values()]
    names = ["序号", "省份", *ENFORCEMENT, *CYBERSPACE, *CASES]
    groups = ["", ""] + [g for g, ns in GROUPS for _ in ns]
    lines += ["| 分组 | 项目 | 数值 |", "|---|---|---|"]
    for g, n, v in zip(groups, names, values):
        lines.append(f"| {_md(g)} | {_md(n)} | {_md(v)} |")
    lines += ["", NOTE, "", "## 明细", "", "| " + " | ".join(DETAIL_COLUMNS) + " |",
              "|" + "---|" * len(DETAIL_COLUMNS)]
    for r in t.detail_rows():
        lines.append("| " + " | ".join(_md(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def write(t: Table, path: str, fmt: str) -> None:
    """Write the table as ``fmt`` (xlsx/csv/md) to ``path`` atomically."""
    if fmt == "xlsx":
        write_xlsx(t, path)
    elif fmt == "csv":
        write_csv_file(t, path)
    elif fmt == "md":
        atomic_write(path, to_markdown(t))
    else:
        raise StatsError(f"格式应为 xlsx/csv/md 之一，而不是 {fmt!r}")
