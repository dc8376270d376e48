"""Keyword files: read (.xlsx / .csv / .txt), validate, import, export and
the template. Files come from industry departments and are hostile until
parsed: every bad row is reported with its sheet, row number and reason;
good rows are imported, all in one transaction."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import unicodedata
import zipfile
from dataclasses import dataclass, field

from keywords import KINDS, lightimport
from keywords.atomic import atomic_file

# Industries a keyword may belong to (DOMAIN.md's four families, plus 通用
# for intent / site / exclusion terms that apply to all).
INDUSTRIES = ("特种作业", "安全生产知识和管理能力", "建筑施工特种作业", "特种设备", "通用")

# Header names (lower-cased, spaces removed) → field.
HEADERS = {
    "term": "term", "keyword": "term", "关键词": "term", "关键字": "term", "词语": "term", "词": "term",
    "industry": "industry", "行业": "industry", "所属行业": "industry", "行业领域": "industry",
    "kind": "kind", "type": "kind", "类别": "kind", "类型": "kind", "词类": "kind", "关键词类别": "kind",
    "department": "department", "dept": "department", "提供单位": "department", "单位": "department",
    "部门": "department", "来源单位": "department",
}
# Kind names in files → kind code.
KIND_NAMES = {
    "cert": "cert", "certificate": "cert", "证书": "cert", "证书名称": "cert", "证书词": "cert",
    "证书名": "cert",
    "intent": "intent", "sale-intent": "intent", "sale_intent": "intent", "售假意图词": "intent",
    "意图词": "intent", "售卖意图词": "intent", "售假词": "intent", "意图": "intent",
    "site": "site", "fake-site": "site", "fake_site": "site", "假冒网站词": "site", "网站词": "site",
    "假网站词": "site",
    "exclude": "exclude", "exclusion": "exclude", "排除词": "exclude", "排除": "exclude",
}
EXPORT_HEADERS = ["关键词", "行业", "类别", "提供单位", "状态"]
SKIP_SHEETS = ("说明", "填写说明", "readme")
MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 100_000
MAX_TERM = 40


class KeywordFileError(ValueError):
    """A keyword file that cannot be read at all (the message is Chinese)."""


@dataclass
class Parsed:
    rows: list = field(default_factory=list)      # valid keyword rows
    errors: list = field(default_factory=list)    # {"sheet", "row", "reason"}
    total: int = 0                                # non-empty data rows seen
    format: str = ""
    sha256: str = ""
    file_name: str = ""


def file_format(path: str) -> str:
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("xlsx", "xlsm"):
        return "xlsx"
    if ext in ("csv", "txt"):
        return ext
    raise KeywordFileError(f"不支持的文件类型：{os.path.basename(path)}（支持 .xlsx、.csv、.txt）")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _header_key(value: str) -> str:
    return "".join(unicodedata.normalize("NFKC", value).lower().split()).strip("*：:")


def _check_term(term: str) -> str | None:
    if not term:
        return "关键词为空"
    if len(term) > MAX_TERM:
        return f"关键词过长（{len(term)} 个字，最多 {MAX_TERM}）"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in term):
        return "关键词含有控制字符"
    return None


def validate_row(values: dict, defaults: dict) -> tuple[dict | None, str | None]:
    """One data row (field → text) to a keyword row, or a reason it is bad."""
    term = unicodedata.normalize("NFKC", values.get("term", "")).strip()
    reason = _check_term(term)
    if reason:
        return None, reason
    kind_text = values.get("kind") or defaults.get("kind") or ""
    kind = KIND_NAMES.get(_header_key(kind_text)) if kind_text else None
    if not kind:
        if not kind_text:
            return None, "缺少类别"
        return None, (f"未知类别“{kind_text}”（应为 证书名称/售假意图词/假冒网站词/排除词"
                      " 或 cert/intent/site/exclude）")
    industry = (values.get("industry") or defaults.get("industry") or "").strip()
    if not industry:
        industry = "" if kind == "cert" else "通用"
    if not industry:
        return None, "证书名称必须填写行业"
    if industry not in INDUSTRIES:
        return None, f"未知行业“{industry}”（应为 {'、'.join(INDUSTRIES)}）"
    department = (values.get("department") or defaults.get("department") or "").strip()
    if len(department) > 60 or _check_term(department or "x"):
        return None, "提供单位无效"
    return {"term": term, "kind": kind, "industry": industry, "department": department}, None


def _table_rows(sheet: str, rows, parsed: Parsed, defaults: dict) -> None:
    """Rows of one sheet/file: the first non-empty row is the header."""
    header: dict[int, str] | None = None
    for number, raw in rows:
        cells = [_cell(v) for v in raw]
        if not any(cells):
            continue
        if header is None:
            header = {i: HEADERS[_header_key(c)] for i, c in enumerate(cells) if _header_key(c) in HEADERS}
            if "term" not in header.values():
                parsed.errors.append({"sheet": sheet, "row": number,
                                      "reason": "找不到表头（第一行应含 关键词/term 列，另有 行业、类别、提供单位）"})
                return
            continue
        parsed.total += 1
        if parsed.total > MAX_ROWS:
            parsed.errors.append({"sheet": sheet, "row": number, "reason": f"行数超过上限 {MAX_ROWS}，其余未读"})
            return
        values = {name: cells[i] if i < len(cells) else "" for i, name in header.items()}
        row, reason = validate_row(values, defaults)
        if reason:
            parsed.errors.append({"sheet": sheet, "row": number, "reason": reason})
        else:
            parsed.rows.append({**row, "sheet": sheet, "row": number})
    if header is None:
        parsed.errors.append({"sheet": sheet, "row": 0, "reason": "工作表为空"})


def _decode(data: bytes) -> str:
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise KeywordFileError("文件编码无法识别（请保存为 UTF-8 或 GBK）")


def parse_file(path: str, defaults: dict | None = None, name: str | None = None) -> Parsed:
    """Read and validate a keyword file. ``defaults`` (kind, industry,
    department) fill empty cells; a .txt file is one term per line and
    takes its kind/industry/department from ``defaults``. ``name`` is the
    file's name as the user knows it (an upload is saved under another)."""
    defaults = defaults or {}
    fmt = file_format(path)
    try:
        size = os.path.getsize(path)
        if size > MAX_FILE_BYTES:
            raise KeywordFileError(f"文件过大（{size // 1024 // 1024} MB，最多 {MAX_FILE_BYTES // 1024 // 1024} MB）")
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise KeywordFileError(f"文件不存在：{path}") from None
    except IsADirectoryError:
        raise KeywordFileError(f"不是文件：{path}") from None
    name = name or os.path.basename(path)
    parsed = Parsed(format=fmt, sha256=hashlib.sha256(data).hexdigest(), file_name=name)
    if fmt == "xlsx":
        _parse_xlsx(data, parsed, defaults)
    elif fmt == "csv":
        text = _decode(data).replace("\x00", "")
        _table_rows(name, enumerate(csv.reader(io.StringIO(text, newline="")), 1), parsed, defaults)
    else:
        if not (defaults.get("kind") and (defaults.get("industry") or KIND_NAMES.get(defaults["kind"]) != "cert")):
            raise KeywordFileError("TXT 文件每行一个词，请先指定类别（证书名称还需指定行业）：命令行用 --kind 和 --industry，审核台在导入表单中选择“默认类别”和“默认行业”")
        for number, line in enumerate(_decode(data).splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parsed.total += 1
            row, reason = validate_row({"term": line}, defaults)
            if reason:
                parsed.errors.append({"sheet": name, "row": number, "reason": reason})
            else:
                parsed.rows.append({**row, "sheet": name, "row": number})
    return parsed


def _parse_xlsx(data: bytes, parsed: Parsed, defaults: dict) -> None:
    openpyxl = lightimport.openpyxl()
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, TypeError) as exc:
        raise KeywordFileError(f"无法读取 Excel 文件（{type(exc).__name__}）：请确认是 .xlsx 格式") from None
    try:
        sheets = 0
        for ws in wb.worksheets:
            if ws.title.strip().lower() in SKIP_SHEETS:
                continue
            sheets += 1
            _table_rows(ws.title, enumerate(ws.iter_rows(values_only=True), 1), parsed, defaults)
        if not sheets:
            raise KeywordFileError("Excel 文件中没有可导入的工作表")
    finally:
        wb.close()


def export_rows(keywords: list[dict]) -> list[list[str]]:
    return [[k["term"], k.get("industry") or "", KINDS.get(k["kind"], k["kind"]),
             k.get("department") or "", "启用" if k.get("active") else "停用"] for k in keywords]


def write_table(path: str, headers: list[str], rows: list[list[str]], sheet: str = "关键词") -> None:
    """Write keywords as .xlsx, .csv (cells defused by keywords.xlsx_safe) or .txt (terms)."""
    from keywords import xlsx_safe
    fmt = file_format(path)
    if fmt == "xlsx":
        openpyxl = lightimport.openpyxl()
        wb = openpyxl.Workbook()
        ws = wb.active
        ws.title = sheet
        xlsx_safe.append_row(ws, headers)
        for row in rows:
            xlsx_safe.append_row(ws, row)
        for col, width in zip("ABCDE", (24, 22, 14, 18, 8)):
            ws.column_dimensions[col].width = width
        with atomic_file(path) as fh:
            wb.save(fh)
    elif fmt == "csv":
        xlsx_safe.write_csv(path, headers, rows)
    else:
        with atomic_file(path, "w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(row[0] + "\n")


TEMPLATE_ROWS = [
    ["低压电工证", "特种作业", "证书名称", "区应急局"],
    ["塔吊证", "建筑施工特种作业", "证书名称", "区建管委"],
    ["叉车证", "特种设备", "证书名称", "区市场监管局"],
    ["包过", "通用", "售假意图词", "区市场监管局"],
    ["证书查询", "通用", "假冒网站词", "区市场监管局"],
    ["招聘", "通用", "排除词", "区市场监管局"],
]
TEMPLATE_NOTES = [
    "关键词：一个单元格一个词，不超过 40 个字。",
    "行业：" + "、".join(INDUSTRIES) + "（证书名称必填；其他类别可留空，视为通用）。",
    "类别：证书名称（cert）、售假意图词（intent）、假冒网站词（site）、排除词（exclude）。",
    "提供单位：提供该词的部门，如 区应急局、区建管委、区市场监管局。",
    "表头可用中文（关键词/行业/类别/提供单位）或英文（term/industry/kind/department）。",
    "有问题的行会逐行报告（工作表、行号、原因），其余行照常导入；重复导入不会产生重复关键词。",
]


def write_template(path: str) -> None:
    """The import template: a 关键词 sheet with sample rows (and, for .xlsx,
    a 说明 sheet the importer skips)."""
    fmt = file_format(path)
    headers = EXPORT_HEADERS[:4]
    write_table(path, headers, TEMPLATE_ROWS)
    if fmt == "xlsx":
        openpyxl = lightimport.openpyxl()
        wb = openpyxl.load_workbook(path)
        notes = wb.create_sheet("说明")
        notes.column_dimensions["A"].width = 100
        for line in TEMPLATE_NOTES:
            notes.append([line])
        with atomic_file(path) as fh:
            wb.save(fh)
