"""Referral packages: the zip's manifest verifies, evidence files are in it,
items without evidence say so, sites carry their technical facts, and each
item gets a refer decision."""
from __future__ import annotations

import hashlib
import io
import os
import zipfile

import openpyxl
import pytest

from helpers import run_cli
from pipelines import store
from reports import referral
from seeds import add_all_files, add_screenshot


def seed(db) -> dict:
    recs = store.record_findings(db, [
        {"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou", "title": t,
         "text": "代办焊工证 人不到场 微信 zb8888", "seller": "老王", "flagged": True, "family": "tezhong",
         "contacts": {"wechat": ["zb8888"]}} for n, t in [(1, "=代办焊工证"), (2, "电工证包过"), (3, "未审核")]], None)
    ids = {"f1": recs[0].id, "f2": recs[1].id, "f3": recs[2].id}
    for key in ("f1", "f2"):
        store.add_decision(db, "审核员甲", "confirm", finding_id=ids[key])
    ids["s1"] = store.record_site(db, {
        "domain": "cx-mem-gov.cn", "url": "http://cx-mem-gov.cn/", "final_url": "http://cx-mem-gov.cn/cx/",
        "title": "特种作业操作证查询", "impersonates": "cx.mem.gov.cn",
        "whois": {"registrar": "某某网络科技有限公司", "registrant": "张某", "name_servers": ["ns1.dns.cn", "ns2.dns.cn"],
                  "ips": ["203.0.113.7"], "creation_date": "2024-08-01"}})
    store.add_decision(db, "审核员甲", "confirm", site_id=ids["s1"])
    return ids


def test_package_manifest_verifies(fresh_db, tmp_path):
    ids = seed(fresh_db)
    shot = add_screenshot(fresh_db, ids["f1"])
    ref = referral.create(fresh_db, f"{ids['f1']},{ids['f2']},s{ids['s1']}", "区公安分局", "审核员甲",
                          str(tmp_path / "out"))
    assert os.path.exists(ref["package"]) and ref["unit"] == "区公安分局"
    assert ref["missing_evidence"] == [f"第 2 项（信息 {ids['f2']}）暂无取证文件",
                                       f"第 3 项（网站 {ids['s1']}）暂无取证文件"]
    with zipfile.ZipFile(ref["package"]) as zf:
        names = zf.namelist()
        root = names[0].split("/")[0]
        manifest = zf.read(f"{root}/MANIFEST-SHA256.txt")
        # The manifest's own hash: in the package and in the store.
        own = zf.read(f"{root}/MANIFEST-SHA256.txt.sha256").decode().split()[0]
        assert own == hashlib.sha256(manifest).hexdigest() == ref["sha256"]
        listed = {}
        for line in manifest.decode().splitlines():
            digest, name = line.split("  ", 1)
            listed[name] = digest
            assert hashlib.sha256(zf.read(f"{root}/{name}")).hexdigest() == digest, name
        files = {n.split("/", 1)[1] for n in names} - {"MANIFEST-SHA256.txt", "MANIFEST-SHA256.txt.sha256"}
        assert files == set(listed)
        # The screenshot went in unchanged; items without evidence say so.
        shot_name = next(n for n in listed if n.startswith("条目/001-") and n.endswith(".png"))
        assert listed[shot_name] == shot["sha256"]
        assert any(n.startswith("条目/002-") and n.endswith("暂无取证.txt") for n in listed)
        readme = zf.read(f"{root}/说明.txt").decode()
        assert "暂无取证文件" in readme and "区公安分局" in readme
        wb = openpyxl.load_workbook(io.BytesIO(zf.read(f"{root}/汇总表.xlsx")))
    summary = [[c.value for c in r] for r in wb["线索汇总"].iter_rows(min_row=3)]
    assert [r[1] for r in summary] == ["信息", "信息", "网站"]
    assert summary[0][5] == "'=代办焊工证"          # neutralized
    assert summary[0][11] == "取证完整" and summary[1][11] == "暂无取证"
    site = [c.value for c in wb["网站技术信息"][2]]
    assert site[2:9] == ["cx-mem-gov.cn", "cx.mem.gov.cn", "http://cx-mem-gov.cn/cx/", "某某网络科技有限公司", "张某",
                         "ns1.dns.cn、ns2.dns.cn", "203.0.113.7"]
    assert referral.verify(ref["package"]) == []
    # Recorded: refer decisions and the referral row.
    assert [d["action"] for d in store.decisions_for(fresh_db, finding_id=ids["f1"])] == ["confirm", "refer_package"]
    assert store.get_site(fresh_db, ids["s1"])["status"] == "referred"
    assert store.get_referral(fresh_db, ref["id"])["items"] == {"findings": [ids["f1"], ids["f2"]],
                                                                "sites": [ids["s1"]]}


def test_tampered_evidence_is_reported(fresh_db, tmp_path):
    ids = seed(fresh_db)
    shot = add_screenshot(fresh_db, ids["f1"])
    with open(os.path.join(store.evidence_dir(fresh_db), shot["path"]), "ab") as fh:
        fh.write(b"changed")
    ref = referral.create(fresh_db, str(ids["f1"]), "区公安分局", "审核员甲", str(tmp_path))
    assert any("哈希与取证时记录的不一致" in n for n in ref["missing_evidence"])
    # A package changed after the fact fails verification.
    path = ref["package"]
    with zipfile.ZipFile(path) as zf:
        items = {n: zf.read(n) for n in zf.namelist()}
    with zipfile.ZipFile(path, "w") as zf:
        for n, data in items.items():
            zf.writestr(n, data + b"x" if n.endswith("条目记录.json") else data)
    assert any("文件哈希不符" in p for p in referral.verify(path))


def test_refuses_unconfirmed_and_bad_items(fresh_db, db_path, tmp_path):
    ids = seed(fresh_db)
    for items, message in [(str(ids["f3"]), "尚未经审核确认"), ("999", "不存在"), ("x1", "无法识别"), ("", "没有待移交的条目"), (" , ", "请指定要移交的信息或网站编号")]:
        with pytest.raises(referral.ReferralError, match=message):
            referral.create(fresh_db, items, "区公安分局", "审核员甲", str(tmp_path))
    assert store.list_referrals(fresh_db) == []
    proc = run_cli("referral", "create", "--db", db_path, "--items", f"{ids['f1']},s{ids['s1']}",
                   "--unit", "区公安分局", "--outdir", tmp_path / "pk")
    assert proc.returncode == 0, proc.stderr
    assert "移交包：" in proc.stdout and "清单 SHA-256：" in proc.stdout
    proc = run_cli("referral", "create", "--db", db_path, "--items", str(ids["f3"]), "--unit", "区公安分局")
    assert proc.returncode == 2 and "尚未经审核确认" in proc.stderr


def _json(zf, root: str, prefix: str, name: str):
    import json
    path = next(n for n in zf.namelist() if n.startswith(f"{root}/{prefix}") and n.endswith(f"/{name}"))
    return json.loads(zf.read(path).decode("utf-8"))


def _keys(value) -> list[str]:
    """Every key in a JSON document, at any depth."""
    if isinstance(value, dict):
        return [k for k, v in value.items() for k in [k, *_keys(v)]]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


def test_package_speaks_chinese(fresh_db, tmp_path):
    """Decision actions, contact kinds, evidence file kinds, WHOIS fields and
    site source reach the people reading the package in Chinese; contact
    values stay as stored (normalized)."""
    from reports import labels
    assert set(store.DECISION_STATUS) <= set(labels.ACTION_CN)     # every storable action has a label
    [rec] = store.record_findings(fresh_db, [{
        "url": "http://mall.taohuo.cn/item/9.html", "platform": "taohuo", "title": "焊工证 包过", "text": "包过",
        "flagged": True, "family": "tezhong",
        "contacts": {"wechat": ["zb8888"], "qq": ["123456"], "phone": ["13800001111"], "telegram": ["zbtg01"],
                     "url": ["http://cx-mem-gov.cn/"], "domain": ["cx-mem-gov.cn"]}}], None)
    fid = rec.id
    store.add_decision(fresh_db, "审核员甲", "dismiss", note="先误判为培训机构", finding_id=fid)
    store.add_decision(fresh_db, "审核员乙", "confirm", finding_id=fid)
    add_all_files(fresh_db, fid)
    sid = store.record_site(fresh_db, {
        "domain": "cx-mem-gov.cn", "url": "http://cx-mem-gov.cn/", "impersonates": "cx.mem.gov.cn",
        "source": "tip:12350",
        "whois": {"domain": "cx-mem-gov.cn", "status": "ok", "registrar": "某某网络科技有限公司", "created": "2024-08-01",
                  "expires": "2025-08-01", "registrant": "", "registrant_org": "某某公司", "registrant_kind": "privacy",
                  "name_servers": ["ns1.dns.cn"], "format": "cnnic"}})
    store.add_decision(fresh_db, "审核员甲", "confirm", site_id=sid)
    ref = referral.create(fresh_db, f"{fid},s{sid}", "区公安分局", "审核员甲", str(tmp_path))
    assert ref["missing_evidence"] == [f"第 2 项（网站 {sid}）暂无取证文件"]
    with zipfile.ZipFile(ref["package"]) as zf:
        root = zf.namelist()[0].split("/")[0]
        item = _json(zf, root, "条目/001-", "条目记录.json")
        info = _json(zf, root, "条目/001-", "取证信息.json")
        site = _json(zf, root, "条目/002-", "条目记录.json")
        names = {n.split("/", 1)[1] for n in zf.namelist()}
        readme = zf.read(f"{root}/说明.txt").decode()
        wb = openpyxl.load_workbook(io.BytesIO(zf.read(f"{root}/汇总表.xlsx")))
    for doc in (item, info, site):
        codes = [k for k in _keys(doc) if k.isascii() and k.islower()]
        assert codes == [], codes
    assert [(d["操作人"], d["动作"]) for d in item["处理记录"]] == [
        ("审核员甲", "排除误报"), ("审核员乙", "确认"), ("审核员甲", "生成移交包")]
    assert item["处理记录"][0]["说明"] == "先误判为培训机构" and item["处理记录"][1]["确认类别"] == "违规信息"
    assert item["联系方式"] == {"微信": ["zb8888"], "QQ": ["123456"], "手机": ["13800001111"], "Telegram": ["zbtg01"],
                              "网址": ["http://cx-mem-gov.cn/"], "域名": ["cx-mem-gov.cn"]}
    assert list(item["联系方式"]) == ["微信", "QQ", "手机", "Telegram", "网址", "域名"]      # people first
    assert item["平台"] == "淘货商城" and item["状态"] == "已移交" and item["违规类型"] == "涉嫌售卖假冒特种作业操作证"
    assert [f["类型"] for f in info["文件"]] == ["截图", "原始字节", "网页源码", "WARC 存档", "提取记录"]
    exts = [".png", ".bin", ".html.txt", ".warc.gz", ".record.html"]   # the captured page is inert text
    for f, ext in zip(info["文件"], exts):
        assert f["包内文件"] in names and f["包内文件"].endswith(ext)
        assert f["包内文件"].split("/")[-1].startswith(f["类型"].replace(" ", "_") + "-")
    assert [d["动作"] for d in site["处理记录"]] == ["确认", "生成移交包"]
    assert site["发现来源"] == "线索举报（12350）"
    assert site["WHOIS 查询结果"]["查询结果"] == "查询成功" and site["WHOIS 查询结果"]["注册人类型"] == "隐私保护"
    assert site["WHOIS 查询结果"]["注册商"] == "某某网络科技有限公司" and site["技术信息"]["注册人"] == "某某公司"
    assert "网页源码" in readme and "WARC 存档" in readme
    row = [c.value for c in wb["线索汇总"][3]]
    assert row[3] == "淘货商城" and row[7].startswith("微信：zb8888；QQ：123456；手机：13800001111")
    assert "截图-" in row[12] and "网页源码-" in row[12]
