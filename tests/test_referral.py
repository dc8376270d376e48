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

from pipelines import store
from reports import referral
from tests.conftest import run_cli
from tests.test_takedown import add_screenshot


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
    assert [d["action"] for d in store.decisions_for(fresh_db, finding_id=ids["f1"])] == ["confirm", "refer"]
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
    for items, message in [(str(ids["f3"]), "尚未经审核确认"), ("999", "不存在"), ("x1", "无法识别"), ("", "请指定要移交的信息或网站编号")]:
        with pytest.raises(referral.ReferralError, match=message):
            referral.create(fresh_db, items, "区公安分局", "审核员甲", str(tmp_path))
    assert store.list_referrals(fresh_db) == []
    proc = run_cli("referral", "create", "--db", db_path, "--items", f"{ids['f1']},s{ids['s1']}",
                   "--unit", "区公安分局", "--outdir", tmp_path / "pk")
    assert proc.returncode == 0, proc.stderr
    assert "移交包：" in proc.stdout and "清单 SHA-256：" in proc.stdout
    proc = run_cli("referral", "create", "--db", db_path, "--items", str(ids["f3"]), "--unit", "区公安分局")
    assert proc.returncode == 2 and "尚未经审核确认" in proc.stderr
