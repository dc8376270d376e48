"""The campaign's statistics table (附表) for a period.

Layout (DOMAIN.md): a title built from the period, a line with 填报单位 /
填报人 / 联系方式 / 填报时间, header groups 对企业执法检查情况 (8 columns),
网络空间治理情况 (3) and 立案查处情况 (4) merged over their column names,
then one data row: 序号 1, 省份 上海. The three 网络空间治理 columns are
computed from the store; the others are entered by hand per period. A second
sheet lists every item behind every computed number.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from pipelines import store
from reports.periods import Period, beijing, today
from keywords.xlsx_safe import set_cell, write_csv
from keywords.atomic import atomic_file, atomic_write

ENFORCEMENT = ["开展执法检查的企业数量", "查出无证假证人员数量", "查出企业问题总数", "限期整改的企业数量",
               "停业整顿的企业数量", "罚款金额(万元)", "完成整改的问题数量", "涉嫌犯罪的问题线索移交数量"]
CYBERSPACE = ["查出假冒政府网站平台数量(项)", "清理涉安全生产资格证书违规信息数量(项)",
              "涉嫌犯罪的问题线索移交数量(项)"]
CASES = ["公安机关查处的涉假证案件数量", "检察机关提前介入的案件数量", "检察机关提起公诉的案件数量(件、人)",
         "人民法院审判假证案件数量"]
GROUPS = [("对企业执法检查情况", ENFORCEMENT), ("网络空间治理情况", CYBERSPACE), ("立案查处情况", CASES)]
MANUAL = ENFORCEMENT + CASES
COMPUTED_KEYS = ("fake_sites", "removed", "referred")      # in CYBERSPACE order
PROVINCE = "上海"
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
    computed: dict[str, list[dict]]             # key -> detail rows
    manual: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {key: len(self.computed[key]) for key in COMPUTED_KEYS}

    def values(self) -> list:
        """The data row's values for ENFORCEMENT + CYBERSPACE + CASES."""
        out = [_cell_value(self.manual.get(name, "")) for name in ENFORCEMENT]
        out += [len(self.computed[key]) for key in COMPUTED_KEYS]
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


def item_detail(key: str, item: dict) -> list:
    """类型, 记录ID, 链接/域名, 标题, 计入时间, 依据, 操作人."""
    when = beijing(item["at"], "%Y-%m-%d %H:%M:%S")
    if key == "fake_sites":
        basis = "审核确认为假冒政府网站" + (f"（仿冒 {item['impersonates']}）" if item.get("impersonates") else "")
        return ["网站", item["site_id"], item["domain"], item.get("url") or "", when, basis, item.get("user") or ""]
    if key == "removed":
        basis = f"下架清单 #{item['takedown_id']} 复查确认已下架（{item.get('reason') or ''}）"
        return ["信息", item["finding_id"], item["url"], item.get("title") or "", when, basis,
                item.get("user") or ""]
    kind, ident = ("信息", item["finding_id"]) if item.get("finding_id") else ("网站", item["site_id"])
    basis = f"移交{item.get('unit') or ''}（移交单 #{item['referral_id']}）"
    return [kind, ident, item.get("url") or "", item.get("title") or "", when, basis, item.get("user") or ""]


def compute(db, period: Period, filler: Filler | None = None) -> Table:
    start, end = period.utc_range()
    computed = {"fake_sites": store.stats_fake_sites(db, start, end),
                "removed": store.stats_removed(db, start, end),
                "referred": store.stats_referred(db, start, end)}
    manual = {k: v["value"] for k, v in store.manual_values(db, *period.key).items()}
    filler = filler or Filler()
    if not filler.date:
        filler.date = today().isoformat()
    return Table(period, filler, computed, manual)


# -- manual entries

def manual_field(name: str) -> str:
    """The manual column a user means: exact, or the unique one starting
    with / containing ``name`` (罚款金额 → 罚款金额(万元))."""
    name = (name or "").strip()
    if name in MANUAL:
        return name
    if name in CYBERSPACE or name in ("查出假冒政府网站平台数量", "清理涉安全生产资格证书违规信息数量"):
        raise StatsError(f"“{name}”由系统根据审核、复查和移交记录自动统计，不能手工填写")
    hits = [c for c in MANUAL if c.startswith(name)] or [c for c in MANUAL if name and name in c]
    if len(hits) == 1 and name:
        return hits[0]
    if not hits or not name:
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

def header_line(t: Table) -> str:
    f = t.filler
    return f"填报单位：{f.unit}　　填报人：{f.person}　　联系方式：{f.phone}　　填报时间：{f.date}"


def write_xlsx(t: Table, path: str) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = "统计表"
    ncols = 2 + len(ENFORCEMENT) + len(CYBERSPACE) + len(CASES)
    center = Alignment(horizontal="center", vertical="center", wrap_text=True)
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)

    set_cell(ws, 1, 1, t.period.title()).font = Font(bold=True, size=16)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws.cell(1, 1).alignment = center
    set_cell(ws, 2, 1, header_line(t))
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=ncols)
    # Header: 序号 and 省份 span two rows; each group spans its columns.
    for col, name in ((1, "序号"), (2, "省份")):
        set_cell(ws, 3, col, name)
        ws.merge_cells(start_row=3, start_column=col, end_row=4, end_column=col)
    col = 3
    for group, names in GROUPS:
        set_cell(ws, 3, col, group)
        ws.merge_cells(start_row=3, start_column=col, end_row=3, end_column=col + len(names) - 1)
        for i, name in enumerate(names):
            set_cell(ws, 4, col + i, name)
        col += len(names)
    for c, value in enumerate([1, PROVINCE, *t.values()], 1):
        set_cell(ws, 5, c, value)
    for row in ws.iter_rows(min_row=3, max_row=5, max_col=ncols):
        for cell in row:
            cell.alignment = center
            cell.border = border
            if cell.row < 5:
                cell.font = Font(bold=True)
    ws.row_dimensions[4].height = 60
    for c in range(1, ncols + 1):
        ws.column_dimensions[get_column_letter(c)].width = 6 if c <= 2 else 13

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
    with atomic_file(path) as fh:
        wb.save(fh)


def write_csv_file(t: Table, path: str) -> None:
    """The table row (group/column headers) first, then the title, the filler line and the details."""
    header = ["序号", "省份"] + [f"{g}/{n}" for g, names in GROUPS for n in names]
    rows = [[1, PROVINCE, *t.values()], [], ["标题", t.period.title()], ["填报", header_line(t)], [],
            DETAIL_COLUMNS, *t.detail_rows()]
    write_csv(path, header, rows)


def _md(value) -> str:
    """A table cell: no pipes, line breaks or raw HTML from scraped text."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text.replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def to_markdown(t: Table) -> str:
    lines = [f"# {t.period.title()}", "", header_line(t), "", f"统计期间：{t.period.label}", ""]
    values = [1, PROVINCE, *t.values()]
    names = ["序号", "省份", *ENFORCEMENT, *CYBERSPACE, *CASES]
    groups = ["", ""] + [g for g, ns in GROUPS for _ in ns]
    lines += ["| 分组 | 项目 | 数值 |", "|---|---|---|"]
    for g, n, v in zip(groups, names, values):
        lines.append(f"| {_md(g)} | {_md(n)} | {_md(v)} |")
    lines += ["", "## 明细", "", "| " + " | ".join(DETAIL_COLUMNS) + " |",
              "|" + "---|" * len(DETAIL_COLUMNS)]
    for r in t.detail_rows():
        lines.append("| " + " | ".join(_md(v) for v in r) + " |")
    return "\n".join(lines) + "\n"


def write(t: Table, path: str, fmt: str) -> None:
    if fmt == "xlsx":
        write_xlsx(t, path)
    elif fmt == "csv":
        write_csv_file(t, path)
    elif fmt == "md":
        atomic_write(path, to_markdown(t))
    else:
        raise StatsError(f"格式应为 xlsx/csv/md 之一，而不是 {fmt!r}")
