"""Takedown requests (下架清单): numbered batches of confirmed findings per
platform, exported as a request list (xlsx / csv / html) with a printable
request letter to the platform."""
from __future__ import annotations

import functools
import html
import os
from dataclasses import dataclass

from pipelines import store
from reports import labels
from reports.evidence_files import file_of, latest_good
from reports.periods import beijing, today
from keywords import lightimport
from keywords.atomic import atomic_file, atomic_write
from keywords.xlsx_safe import neutralize, safe_row, write_csv

COLUMNS = ["序号", "平台", "链接", "标题", "卖家/账号", "联系方式", "违规类型", "发现时间", "证据哈希", "截图文件"]
FORMATS = ("xlsx", "csv", "html")
NO_EVIDENCE = "（暂无取证）"

DEFAULT_LEGAL_BASIS = (
    "根据《中华人民共和国网络安全法》第四十七条关于网络运营者发现法律、行政法规禁止发布或者传输的信息，"
    "应当立即停止传输该信息，采取消除等处置措施，防止信息扩散，保存有关记录的规定，"
    "《中华人民共和国电子商务法》第二十九条关于电子商务平台经营者发现平台内商品或者服务信息违法的，"
    "应当依法采取必要的处置措施的规定，以及《安全生产资格证书涉假专项治理工作方案》关于加强网络空间治理、"
    "督促平台清理涉安全生产资格证书违规信息的要求，伪造、买卖国家机关证件的行为涉嫌违反"
    "《中华人民共和国刑法》第二百八十条的规定。"
)


class TakedownError(ValueError):
    """A takedown request that cannot be made; the message is Chinese."""


@dataclass(frozen=True)
class LetterConfig:
    unit: str = "区市场监管局"                 # the monitoring unit that signs the letter
    legal_basis: str = DEFAULT_LEGAL_BASIS
    reply_days: int = 3                       # working days the platform is asked to act in
    contact: str = ""                         # contact person / phone printed under the signature


def load_legal_basis(path: str) -> str:
    """The legal-basis paragraph from a UTF-8 text file (empty path = default)."""
    if not path:
        return DEFAULT_LEGAL_BASIS
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise TakedownError(f"无法读取法律依据文件 {path}：{exc}") from None
    if not text:
        raise TakedownError(f"法律依据文件 {path} 是空的")
    return text[:5000]


def create(db, platform: str, user: str, unit: str = "") -> dict:
    if not platform:
        raise TakedownError("请指定平台（命令行用 --platform）")
    batch = store.create_takedown(db, platform, user, unit)
    if batch is None:
        raise TakedownError(f"平台 {labels.platform_title(platform)}（{platform}）没有尚未请求下架的已确认信息")
    return store.get_takedown(db, batch)


def batch_no(batch: dict) -> str:
    year = (batch.get("created_at") or "")[:4] or str(today().year)
    return f"XJ{year}-{batch['id']:04d}"


def rows(db, takedown_id: int) -> list[list]:
    """The request list's rows, in the COLUMNS order: two statements (the
    items' findings, their evidence) and each platform name, violation and
    time text worked out once per distinct value."""
    captures = store.takedown_evidence(db, takedown_id)      # one query, not one per item
    title_of = functools.cache(labels.platform_title)
    violation_of = functools.cache(lambda family: labels.violation({"family": family}))
    time_of = functools.cache(beijing)
    out = []
    for seq, finding_id, platform, raw_url, url, title, seller, contacts, family, first_seen in \
            store.takedown_list(db, takedown_id):
        capture = latest_good(captures[finding_id]) if finding_id in captures else None
        shot = file_of(capture, "screenshot")
        hashed = shot or (capture["files"][0] if capture else None)
        digest = f"SHA-256:{hashed['sha256']}" if hashed and hashed.get("sha256") else NO_EVIDENCE
        out.append([seq, title_of(platform), raw_url or url, title or "", seller or "",
                    labels.contacts_text(contacts), violation_of(family), time_of(first_seen), digest,
                    shot["path"] if shot else NO_EVIDENCE])
    return out


def letter_html(batch: dict, n_items: int, cfg: LetterConfig, table_html: str = "") -> str:
    e = html.escape
    platform = labels.platform_title(batch["platform"])
    day = today()
    contact = f"<p>联系人及电话：{e(cfg.contact)}</p>" if cfg.contact else ""
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>关于删除涉嫌售卖假冒安全生产资格证书信息的函（{e(batch_no(batch))}）</title>
<style>
body {{ font-family: "SimSun", "Songti SC", "WenQuanYi Micro Hei", serif; max-width: 48em; margin: 2em auto; line-height: 1.9; }}
h1 {{ text-align: center; font-size: 1.5em; }} .no {{ text-align: center; }}
p.body {{ text-indent: 2em; }} .sign {{ text-align: right; margin-top: 3em; }}
table {{ border-collapse: collapse; width: 100%; font-size: .8em; margin-top: 2em; }}
td, th {{ border: 1px solid #000; padding: 2px 4px; word-break: break-all; vertical-align: top; }}
@media print {{ body {{ margin: 0; }} table {{ page-break-before: always; }} }}
</style></head><body>
<h1>关于删除涉嫌售卖假冒安全生产资格证书信息的函</h1>
<p class="no">编号：{e(batch_no(batch))}</p>
<p>{e(platform)}：</p>
<p class="body">在安全生产资格证书涉假专项治理工作中，{e(cfg.unit)}通过网络监测发现，贵平台存在涉嫌售卖假冒安全生产资格证书、虚假营销的信息共 {n_items} 条（详见所附下架清单，清单含链接、标题、账号、联系方式、违规类型、发现时间及取证文件哈希）。</p>
<p class="body">{e(cfg.legal_basis)}</p>
<p class="body">请贵平台自收到本函之日起 {cfg.reply_days} 个工作日内对清单所列信息进行核查，依法删除或屏蔽相关信息，对相关账号采取必要的处置措施，保存有关记录，并将处理结果书面反馈我单位。我单位将对处置情况进行复查。</p>
<p>附件：下架清单（{e(batch_no(batch))}，共 {n_items} 条）</p>
<div class="sign"><p>{e(cfg.unit)}</p><p>{day.year}年{day.month}月{day.day}日</p>{contact}</div>
{table_html}
</body></html>
"""


def _table_html(batch_rows: list[list]) -> str:
    e = html.escape
    head = "".join(f"<th>{e(c)}</th>" for c in COLUMNS)
    body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in batch_rows)
    return f'<table class="list"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def export(db, takedown_id: int, fmt: str, out_dir: str = ".", out: str = "",
           cfg: LetterConfig | None = None) -> list[str]:
    """Write the request list in ``fmt`` and the letter; returns the paths."""
    if fmt not in FORMATS:
        raise TakedownError(f"格式应为 {'/'.join(FORMATS)} 之一，而不是 {fmt!r}")
    batch = store.get_takedown(db, takedown_id)
    cfg = cfg or LetterConfig(unit=batch.get("unit") or LetterConfig.unit)
    batch_rows = rows(db, takedown_id)
    base = f"下架清单-{batch_no(batch)}-{batch['platform']}"
    path = out or os.path.join(out_dir, f"{base}.{fmt}")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    written = [path]
    if fmt == "html":
        atomic_write(path, letter_html(batch, len(batch_rows), cfg, _table_html(batch_rows)))
        return written
    if fmt == "csv":
        write_csv(path, COLUMNS, batch_rows)
    else:
        _write_xlsx(path, batch, batch_rows)
    letter = os.path.splitext(path)[0] + "-函.html"
    atomic_write(letter, letter_html(batch, len(batch_rows), cfg))
    written.append(letter)
    return written


def _write_xlsx(path: str, batch: dict, batch_rows: list[list]) -> None:
    """Write-only workbook: rows stream to the file (5,000 items in well
    under a second), every cell neutralized as append_row does."""
    lightimport.openpyxl()                      # openpyxl without numpy
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font
    from openpyxl.worksheet.cell_range import CellRange

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("下架清单")
    for col, width in zip("ABCDEFGHIJ", (6, 12, 40, 36, 16, 30, 30, 17, 30, 30)):
        ws.column_dimensions[col].width = width
    ws.freeze_panes = "A3"
    ws.merged_cells.add(CellRange(min_row=1, min_col=1, max_row=1, max_col=len(COLUMNS)))
    title = WriteOnlyCell(ws, neutralize(f"{labels.platform_title(batch['platform'])} "
                                         f"涉嫌售卖假冒安全生产资格证书信息下架清单（{batch_no(batch)}）"))
    title.font = Font(bold=True, size=14)
    title.alignment = Alignment(horizontal="center")
    ws.append([title])
    bold = Font(bold=True)
    header = []
    for value in safe_row(COLUMNS):
        cell = WriteOnlyCell(ws, value)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    for r in batch_rows:
        ws.append(safe_row(r))
    with atomic_file(path) as fh:
        wb.save(fh)


def mark_sent(db, takedown_id: int, user: str, at: str | None = None) -> dict:
    batch = store.get_takedown(db, takedown_id)
    if batch.get("sent_at"):
        raise TakedownError(f"下架清单 {batch_no(batch)} 已于 {beijing(batch['sent_at'])} 记为发出")
    return store.mark_takedown_sent(db, takedown_id, user, at)

