"""https in the sandbox and what it gives a referral: the sandbox proxy
answers CONNECT with TLS (a self-signed certificate made at its start), a
fake site named by a listing over https is checked and captured, and its
referral package carries registrar, name servers and IP address."""
from __future__ import annotations

import asyncio
import json
import ssl
import urllib.request
import zipfile

from crawler.settings import CHROMIUM
from helpers import BROWSER_ARGS, run_cli
from pipelines import evidence, store
from pipelines.persist import StorePipeline
from reports import referral
from scrapy.utils.test import get_crawler

SITE_URL = "https://www.zlaq-mohurd.cn/"


def test_sandbox_serves_https_through_connect(sandbox):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"https": sandbox}),
                                         urllib.request.HTTPSHandler(context=context))
    with opener.open("https://cx-mem-gov.cn/", timeout=10) as resp:
        assert resp.status == 200 and "特种作业操作证" in resp.read().decode("utf-8")
    strict = urllib.request.build_opener(urllib.request.ProxyHandler({"https": sandbox}))
    try:                                   # self-signed: refused by a client that verifies
        strict.open("https://cx-mem-gov.cn/", timeout=10)
        raise AssertionError("a self-signed certificate was trusted")
    except urllib.error.URLError as exc:
        assert isinstance(exc.reason, ssl.SSLCertVerificationError)


def test_https_fake_site_is_captured_and_its_referral_has_technical_facts(sandbox, db_path, tmp_path):
    # A sweep stores a listing naming the site over https: the site is recorded by name.
    crawler = get_crawler(settings_dict={"CERTWATCH_DB": db_path})
    pipeline = StorePipeline.from_crawler(crawler)
    pipeline.open_spider()
    pipeline.process_item({"url": "http://bbs.gongyou.cn/thread-33-1.html", "platform": "gongyou",
                           "title": "建筑电工 架子工 信号工证 住建可查", "text": f"可在平台查询：{SITE_URL}",
                           "flagged": True, "score": 80, "contacts": {"url": [SITE_URL]}})
    pipeline.close_spider()
    # `sites check` visits it over https (CONNECT) and asks the sandbox's WHOIS.
    proc = run_cli("sites", "check", "--db", db_path, "--sandbox", sandbox, "--sources", "findings", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    db = store.connect(db_path)
    try:
        [row] = list(db["sites"].rows)
        site = store.get_site(db, row["id"])
        assert site["http_status"] == 200 and site["final_url"] == SITE_URL and site["ips"] == ["127.0.0.1"]
        # Evidence through Chromium and the sandbox proxy, https included.
        config = evidence.CaptureConfig(sandbox=sandbox, executable_path=CHROMIUM or "",
                                        launch_args=tuple(BROWSER_ARGS), operator="张三")
        stats = asyncio.run(evidence.capture_items(db, store.items_needing_evidence(db), config))
        assert (stats.ok, stats.failed) == (2, 0), stats.errors
        [capture] = store.evidence_for(db, site_id=site["id"])
        assert capture["status"] == "ok" and capture["final_url"] == SITE_URL
        store.add_decision(db, "rev", "confirm", site_id=site["id"])
        made = referral.create(db, f"s{site['id']}", "区公安分局", "rev", str(tmp_path / "out"))
    finally:
        db.close()
    assert made["missing_evidence"] == []
    with zipfile.ZipFile(made["package"]) as zf:
        name = next(n for n in zf.namelist() if n.endswith("条目记录.json"))
        record = json.loads(zf.read(name))
        assert any(n.endswith("取证信息.json") for n in zf.namelist())
        assert not any("暂无取证" in n for n in zf.namelist())
    facts = record["技术信息"]
    assert facts["注册商"] == "厦门三五互联科技股份有限公司" and facts["注册人"] == "郑州鑫源信息咨询有限公司"
    assert facts["域名服务器"] == "dns1.zlaq-mohurd.cn、dns2.zlaq-mohurd.cn" and facts["IP 地址"] == "127.0.0.1"
    assert facts["注册时间"].startswith("2024-05-12")
    assert record["WHOIS 查询结果"]["注册商"] == "厦门三五互联科技股份有限公司"
    assert "cached_at" not in json.dumps(record, ensure_ascii=False)
