"""Police referrals (线索移交).

One 移交公安: a reviewer's 移交公安 (queue ``r``, the detail page, ``certwatch
referral add``) puts an item into the pending referral (status
referral_pending); a referral package (the 线索移交 page, ``certwatch
referral create``) takes pending items (or named confirmed ones) and records
them as referred. The 附表's 涉嫌犯罪的问题线索移交数量 counts items whose first
package falls in the period, so the queue's 已移交公安 and the table agree.

The package: a zip per referral with a summary
workbook, every item's evidence files (screenshot, saved page, capture
record), an item record, the technical facts of fake sites (registrar,
registrant, name servers, IP addresses, final URL) and a SHA-256 manifest.

The manifest ``MANIFEST-SHA256.txt`` is in ``sha256sum`` format (verify with
``sha256sum -c MANIFEST-SHA256.txt`` inside the unpacked folder); the hash of
the manifest itself is in ``MANIFEST-SHA256.txt.sha256`` and in the store.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from dataclasses import dataclass

from pipelines import store
from reports import labels
from pipelines.evidence import sha256_file
from reports.evidence_files import latest_capture, resolve
from reports.periods import beijing, today
from keywords.atomic import atomic_file
from keywords.xlsx_safe import append_row, set_cell

MANIFEST = "MANIFEST-SHA256.txt"
# Evidence files holding what a hostile page served: packed with a .txt tail
# so that opening them shows the source instead of running it.
INERT_KINDS = ("html",)
REFERABLE = ("confirmed", "takedown_requested", "removed", "still_present", "referral_pending", "referred")
SUMMARY_COLUMNS = ["序号", "类型", "记录ID", "平台/域名", "链接", "标题", "卖家/账号", "联系方式", "违规类型",
                   "发现时间", "审核确认", "证据状态", "证据文件"]
SITE_COLUMNS = ["序号", "记录ID", "域名", "仿冒对象", "最终网址", "注册商", "注册人", "域名服务器", "IP 地址",
                "注册时间", "到期时间", "网页标题"]


class ReferralError(ValueError):
    """A referral that cannot be made; the message is Chinese."""


@dataclass(frozen=True)
class ItemRef:
    kind: str          # "finding" or "site"
    id: int


def parse_items(text: str) -> list[ItemRef]:
    """'12,13 s4 site:5 f7' → findings 12, 13, 7 and sites 4, 5 (order kept, no duplicates)."""
    out: list[ItemRef] = []
    for token in re.split(r"[\s,，、;；]+", (text or "").strip()):
        if not token:
            continue
        m = re.fullmatch(r"(?i)(?:(f|finding|信息|s|site|网站)[:：#]?)?(\d{1,12})", token)
        if not m:
            raise ReferralError(f"无法识别的条目 {token!r}：信息写编号（如 12 或 f12），网站写 s编号（如 s4）")
        kind = "site" if (m[1] or "").lower() in ("s", "site", "网站") else "finding"
        ref = ItemRef(kind, int(m[2]))
        if ref not in out:
            out.append(ref)
    if not out:
        raise ReferralError("请指定要移交的信息或网站编号（如 12,13,s4；命令行用 --items）")
    return out


def _load(db, ref: ItemRef) -> dict:
    try:
        row = store.get_finding(db, ref.id) if ref.kind == "finding" else store.get_site(db, ref.id)
    except store.StoreError:
        raise ReferralError(f"{'信息' if ref.kind == 'finding' else '网站'} {ref.id} 不存在") from None
    if row.get("status") not in REFERABLE:
        raise ReferralError(f"{'信息' if ref.kind == 'finding' else '网站'} {ref.id} 尚未经审核确认"
                            f"（当前状态：{labels.STATUS_CN.get(row.get('status'), row.get('status'))}），不能移交")
    return row


def pending(db) -> list[dict]:
    """The pending referral: items marked 移交公安 that no package holds yet."""
    return store.pending_referrals(db)


def pending_refs(db) -> list[ItemRef]:
    return [ItemRef(p["kind"], p["id"]) for p in pending(db)]


def ref_text(ref: ItemRef) -> str:
    """'12' for a finding, 's4' for a site (what parse_items reads)."""
    return str(ref.id) if ref.kind == "finding" else f"s{ref.id}"


def _judged(row: dict, kind: str) -> bool:
    """Flagged by certwatch (a suspicious listing, a fake or suspicious
    site) or already decided by a reviewer (confirmed, in takedown …)."""
    if row.get("status") in REFERABLE:
        return True
    if kind == "finding":
        return bool(row.get("flagged"))
    return row.get("verdict") in ("fake_gov_site", "suspicious", "seller_site")


def mark(db, items: str | list[ItemRef], user: str, note: str = "", force: bool = False) -> list[ItemRef]:
    """移交公安 on the command line: a refer decision on each item (a
    reviewer's judgment, like the console's 移交公安 in the queue), which puts
    it into the pending referral. An item certwatch never flagged and no
    reviewer confirmed (a mistyped number: a news article, a training ad)
    is refused unless ``force`` says the reviewer means it."""
    refs = parse_items(items) if isinstance(items, str) else items
    for ref in refs:
        name = "信息" if ref.kind == "finding" else "网站"
        try:
            row = store.get_finding(db, ref.id) if ref.kind == "finding" else store.get_site(db, ref.id)
        except store.StoreError:
            raise ReferralError(f"{name} {ref.id} 不存在") from None
        if not force and not _judged(row, ref.kind):
            raise ReferralError(f"{name} {ref.id} 未被标记为可疑，也未经审核确认（当前状态："
                                f"{labels.STATUS_CN.get(row.get('status'), row.get('status'))}）：请核对编号；"
                                "确属审核员判断需要移交的，加 --force")
    for ref in refs:
        key = {"finding_id": ref.id} if ref.kind == "finding" else {"site_id": ref.id}
        store.add_decision(db, user, "refer", note=note, **key)
    return refs


def create(db, items: str | list[ItemRef] | None, unit: str, user: str, out_dir: str, note: str = "") -> dict:
    """A referral package of ``items`` (None or empty: the whole pending
    referral); every item must have been confirmed or marked 移交公安."""
    unit = (unit or "").strip()
    if not unit:
        raise ReferralError("请填写接收单位（如 区公安分局；命令行用 --unit）")
    if items is None or (isinstance(items, str) and not items.strip()) or items == []:
        refs = pending_refs(db)
        if not refs:
            raise ReferralError("没有待移交的条目：先在审核台对条目点“移交公安”（或 certwatch referral add），"
                                "或用 --items 指定已确认的条目")
    else:
        refs = parse_items(items) if isinstance(items, str) else items
    for ref in refs:
        _load(db, ref)
    rid = store.create_referral(db, unit, [r.id for r in refs if r.kind == "finding"],
                                [r.id for r in refs if r.kind == "site"], user, note)
    return build_package(db, rid, out_dir)


def _first(whois: dict, *keys):
    for key in keys:
        value = whois.get(key)
        if value not in (None, "", [], {}):
            return value
    return ""


def _text(value) -> str:
    if isinstance(value, (list, tuple, set)):
        return "、".join(str(v) for v in list(value)[:20])
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)[:500]
    return str(value or "")


def site_whois(db, site: dict) -> dict:
    """The site's WHOIS facts: those stored with its judgement, completed
    from the WHOIS cache (a site judged by its name alone, or whose WHOIS
    was asked for only later, has its facts there)."""
    own = site.get("whois") if isinstance(site.get("whois"), dict) else {}
    cached = store.whois_facts(db, site.get("domain") or "")
    if own and cached.get("status", "ok") != "ok":
        cached = {}                # a failed later lookup does not hide the facts stored
    return {**cached, **{k: v for k, v in own.items() if v not in (None, "", [], {})}}


def site_facts(site: dict, whois: dict | None = None) -> dict:
    """Task 五's technical facts from the site row (addresses it answered
    from when checked) and its WHOIS facts (``site_whois``)."""
    if whois is None:
        whois = site.get("whois") if isinstance(site.get("whois"), dict) else {}
    ips = site.get("ips") if isinstance(site.get("ips"), list) else []
    return {
        "域名": site.get("domain") or "", "仿冒对象": site.get("impersonates") or "",
        "最终网址": site.get("final_url") or site.get("url") or "",
        "注册商": _text(_first(whois, "registrar", "sponsoring_registrar", "Sponsoring Registrar")),
        "注册人": _text(_first(whois, "registrant", "registrant_name", "name", "registrant_org", "org",
                               "Registrant")),
        "域名服务器": _text(_first(whois, "name_servers", "nameservers", "name_server", "ns")),
        "IP 地址": _text(ips or _first(whois, "ips", "ip_addresses", "addresses", "ip", "a")),
        "注册时间": _text(_first(whois, "creation_date", "registration_time", "created")),
        "到期时间": _text(_first(whois, "expiration_date", "expiration_time", "expires")),
        "网页标题": site.get("title") or "",
    }


class _Package:
    """Files written into the zip, with their SHA-256 for the manifest."""

    def __init__(self, zf: zipfile.ZipFile, root: str):
        self.zf, self.root, self.hashes = zf, root, []

    def add_bytes(self, name: str, data: bytes) -> str:
        self.zf.writestr(f"{self.root}/{name}", data)
        digest = hashlib.sha256(data).hexdigest()
        self.hashes.append((digest, name))
        return digest

    def add_file(self, name: str, path: str) -> str:
        self.zf.write(path, f"{self.root}/{name}")
        digest = sha256_file(path)
        self.hashes.append((digest, name))
        return digest


def _safe_name(text: str) -> str:
    return re.sub(r"[^\w.\-]+", "_", text)[:60] or "x"


def _file_name(label: str, src: str) -> str:
    """"截图-<name>.png": the kind first, the extension kept (evidence files
    are named by their 64-digit hash, longer than _safe_name keeps)."""
    base = os.path.basename(src)
    stem, dot, ext = base.partition(".")
    return f"{_safe_name(label)}-{_safe_name(stem)}" + (f".{_safe_name(ext)[:20]}" if dot and ext else "")


def build_package(db, referral_id: int, out_dir: str) -> dict:
    """(Re)build the referral's zip; returns the referral row with the package path and hash."""
    ref_row = store.get_referral(db, referral_id)
    items = [ItemRef("finding", i) for i in ref_row["items"].get("findings", [])] + \
            [ItemRef("site", i) for i in ref_row["items"].get("sites", [])]
    os.makedirs(out_dir, exist_ok=True)
    root = f"线索移交-{referral_id:04d}"
    path = os.path.join(out_dir, f"{root}.zip")
    summary, sites, notes = [], [], []
    with atomic_file(path) as out, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        pkg = _Package(zf, root)
        for n, ref in enumerate(items, 1):
            row = store.get_finding(db, ref.id) if ref.kind == "finding" else store.get_site(db, ref.id)
            folder = f"条目/{n:03d}-{'信息' if ref.kind == 'finding' else '网站'}-{ref.id}"
            status, files = _add_evidence(db, pkg, ref, folder, notes, n)
            decisions = store.decisions_for(db, **{f"{ref.kind}_id": ref.id})
            confirm = next((d for d in decisions if d["action"] == "confirm"), None)
            who = f"{confirm['user']} {beijing(confirm['at'])}" if confirm else ""
            record = {"记录类型": "信息" if ref.kind == "finding" else "网站", "记录ID": ref.id,
                      "状态": labels.STATUS_CN.get(row.get("status"), row.get("status")),
                      "处理记录": [_decision(d) for d in decisions]}
            if ref.kind == "finding":
                record.update({"链接": row.get("raw_url") or row["url"], "平台": labels.platform_title(row["platform"]),
                               "违规类型": labels.violation(row), "标题": row.get("title"), "正文": row.get("text"),
                               "卖家": row.get("seller"), "联系方式": labels.contacts_cn(row.get("contacts")),
                               "首次发现": beijing(row.get("first_seen")), "最近发现": beijing(row.get("last_seen"))})
                summary.append([n, "信息", ref.id, labels.platform_title(row["platform"]), row.get("raw_url") or row["url"],
                                row.get("title") or "", row.get("seller") or "", labels.contacts_text(row.get("contacts")),
                                labels.violation(row), beijing(row.get("first_seen")), who, status, files])
            else:
                whois = site_whois(db, row)
                facts = site_facts(row, whois)
                record.update({"网址": row.get("url"), "违规类型": "假冒政府网站",
                               "发现来源": labels.site_source(row.get("source") or ""), "技术信息": facts,
                               "WHOIS 查询结果": dict(labels.whois_rows(whois))})
                summary.append([n, "网站", ref.id, row["domain"], row.get("url") or "", row.get("title") or "", "",
                                "", "假冒政府网站", beijing(row.get("first_seen")), who, status, files])
                sites.append([len(sites) + 1, ref.id, *[facts[k] for k in SITE_COLUMNS[2:]]])
            pkg.add_bytes(f"{folder}/条目记录.json", json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8"))
        pkg.add_bytes("汇总表.xlsx", _summary_xlsx(ref_row, summary, sites))
        pkg.add_bytes("说明.txt", _readme(ref_row, len(items), notes).encode("utf-8"))
        manifest = "".join(f"{digest}  {name}\n" for digest, name in pkg.hashes).encode("utf-8")
        zf.writestr(f"{root}/{MANIFEST}", manifest)
        manifest_hash = hashlib.sha256(manifest).hexdigest()
        zf.writestr(f"{root}/{MANIFEST}.sha256", f"{manifest_hash}  {MANIFEST}\n")
    store.set_referral_package(db, referral_id, os.path.abspath(path), manifest_hash)
    out = store.get_referral(db, referral_id)
    out["missing_evidence"] = notes
    return out


def _decision(d: dict) -> dict:
    out = {"操作人": d["user"], "时间": beijing(d["at"], "%Y-%m-%d %H:%M:%S"), "动作": labels.action(d["action"])}
    if d.get("category"):
        out["确认类别"] = store.CONFIRM_CATEGORIES.get(d["category"], d["category"])
    out["说明"] = d.get("note") or ""
    return out


def _add_evidence(db, pkg: _Package, ref: ItemRef, folder: str, notes: list, n: int) -> tuple[str, str]:
    capture = latest_capture(db, **{f"{ref.kind}_id": ref.id})
    if capture is None:
        notes.append(f"第 {n} 项（{'信息' if ref.kind == 'finding' else '网站'} {ref.id}）暂无取证文件")
        pkg.add_bytes(f"{folder}/暂无取证.txt", "该条目在移交时尚无网页取证文件（截图、网页保存件），"
                      "仅附条目记录；请以条目记录中的链接和时间为准另行取证。\n".encode("utf-8"))
        return "暂无取证", ""
    names, problems, listed = [], [], []
    for f in capture["files"]:
        if not isinstance(f, dict) or not f.get("path"):
            continue
        src = resolve(db, f["path"])
        label = labels.evidence_file(str(f.get("kind") or ""))
        entry = {"类型": label, "包内文件": "", "取证时 SHA-256": f.get("sha256") or "",
                 "大小（字节）": f.get("bytes"), "证据库路径": f["path"]}
        listed.append(entry)
        if src is None or not os.path.isfile(src):
            problems.append(f"{label}文件缺失：{f['path']}")
            continue
        name = f"{folder}/{_file_name(label, src)}"
        if str(f.get("kind")) in INERT_KINDS:
            name += ".txt"          # the captured page as text: opened from the zip, nothing in it runs
        digest = pkg.add_file(name, src)
        if f.get("sha256") and f["sha256"] != digest:
            problems.append(f"{label}文件的哈希与取证时记录的不一致：{f['path']}")
        entry["包内文件"] = name
        names.append(name.split("/", 2)[-1])
    info = {"取证时间": beijing(capture.get("captured_at"), "%Y-%m-%d %H:%M:%S"), "网址": capture.get("url"),
            "最终网址": capture.get("final_url"), "HTTP 状态": capture.get("http_status"),
            "工具": capture.get("tool"), "取证人": capture.get("operator"), "文件": listed,
            "问题": problems}
    pkg.add_bytes(f"{folder}/取证信息.json", json.dumps(info, ensure_ascii=False, indent=2).encode("utf-8"))
    if problems:
        notes.extend(f"第 {n} 项：{p}" for p in problems)
    return ("取证完整" if not problems else "取证文件有问题"), "、".join(names)


def _summary_xlsx(ref_row: dict, summary: list, sites: list) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    wb = Workbook()
    ws = wb.active
    ws.title = "线索汇总"
    set_cell(ws, 1, 1, f"涉安全生产资格证书违法犯罪线索移交汇总表（移交单 #{ref_row['id']}，"
                       f"接收单位：{ref_row['unit']}）").font = Font(bold=True, size=13)
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(SUMMARY_COLUMNS))
    append_row(ws, SUMMARY_COLUMNS)
    for r in summary:
        append_row(ws, r)
    ws2 = wb.create_sheet("网站技术信息")
    append_row(ws2, SITE_COLUMNS)
    for r in sites:
        append_row(ws2, r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _readme(ref_row: dict, n: int, notes: list) -> str:
    day = today()
    lines = [f"线索移交单 #{ref_row['id']}", f"接收单位：{ref_row['unit']}",
             f"移交人：{ref_row.get('created_by') or ''}", f"移交时间：{beijing(ref_row['created_at'], '%Y-%m-%d %H:%M:%S')}",
             f"条目数：{n}", f"打包日期：{day.isoformat()}", "",
             "内容：汇总表.xlsx（线索汇总、网站技术信息）；条目/ 下每项一个目录，含条目记录.json"
             "（链接、平台、标题、正文、卖家、联系方式、处理记录，网站另有注册商、注册人、域名服务器等技术信息）、"
             "取证信息.json（取证时间、网址、工具及各文件的 SHA-256）和取证文件："
             + "、".join(labels.EVIDENCE_FILE_CN.values()) + "（文件名以类型开头）。"
             "网页源码以 .html.txt 文本文件保存，打开时只显示源码，其中的脚本不会运行；包内没有可执行的文件。",
             f"完整性：{MANIFEST} 列出每个文件的 SHA-256（可在解压目录中用 sha256sum -c {MANIFEST} 校验），"
             f"{MANIFEST}.sha256 为清单本身的 SHA-256。", ""]
    if notes:
        lines += ["注意："] + [f"- {x}" for x in notes]
    else:
        lines.append("所有条目均附有取证文件。")
    return "\n".join(lines) + "\n"


def verify(path: str) -> list[str]:
    """Problems found re-hashing a package (empty = intact)."""
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        root = names[0].split("/", 1)[0]
        manifest = zf.read(f"{root}/{MANIFEST}")
        expected = zf.read(f"{root}/{MANIFEST}.sha256").decode().split()[0]
        if hashlib.sha256(manifest).hexdigest() != expected:
            problems.append("清单本身的哈希不符")
        listed = set()
        for line in manifest.decode("utf-8").splitlines():
            digest, name = line.split("  ", 1)
            listed.add(name)
            if hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest() != digest:
                problems.append(f"文件哈希不符：{name}")
        for name in names:
            rel = name.split("/", 1)[1]
            if rel and not name.endswith("/") and rel not in listed and not rel.startswith(MANIFEST):
                problems.append(f"清单未列出：{rel}")
    return problems
