"""Evidence capture from the sandbox through the real CLI and Chromium,
verification, tampering, bounds and failures, and the console's views."""
from __future__ import annotations

import os
import re
import shutil

import pytest
from fastapi.testclient import TestClient

from crawler.sandbox.world import world
from crawler.settings import CHROMIUM
from helpers import add_users, launch_options, post_login, run_cli
from pipelines import evidence, store
from reports.console.app import create_app


def pick_listings():
    """One live illicit listing per sandbox platform (the classifieds one is GBK)."""
    picked = {}
    for listing in world().listings:
        if listing.label == 1 and listing.removed is None and listing.platform not in picked:
            picked[listing.platform] = listing
    return picked


@pytest.fixture(scope="module")
def captured(sandbox, tmp_path_factory):
    root = tmp_path_factory.mktemp("evidence")
    db_path = str(root / "certwatch.db")
    db = store.connect(db_path)
    picked = pick_listings()
    items = [{"url": l.url, "platform": l.platform, "title": l.title, "text": l.text, "flagged": True,
              "score": 90, "keyword": "电工证"} for l in picked.values()]
    items.append({"url": "http://127.0.0.1:9/admin", "platform": "forum", "title": "指向本机", "text": "x",
                  "flagged": True, "score": 40})
    items.append({"url": "http://bbs.gongyou.cn/thread-1-1.html", "platform": "forum", "title": "正常",
                  "text": "复审通知", "flagged": False, "score": 3})
    rec = store.record_findings(db, items, None)
    site = store.record_site(db, {"domain": "cx-mem-gov.cn", "url": "http://cx-mem-gov.cn/",
                                  "verdict": "fake_gov_site", "score": 95})
    official = store.record_site(db, {"domain": "cx.mem.gov.cn", "url": "http://cx.mem.gov.cn/",
                                      "verdict": "official", "score": 0})
    add_users(db, "rev")
    db.close()
    run = run_cli("evidence", "capture", "--sandbox", sandbox, "--db", db_path, "--operator", "张三",
                  timeout=300)
    ids = {"platforms": {p: r.id for p, r in zip(picked, rec)}, "blocked": rec[len(picked)].id,
           "benign": rec[len(picked) + 1].id, "site": site, "official": official}
    return {"db_path": db_path, "run": run, "ids": ids, "picked": picked, "sandbox": sandbox}


def test_capture_stores_files_rows_and_failures(captured):
    run, ids = captured["run"], captured["ids"]
    assert run.returncode == 1, run.stderr                 # one failure is reported
    assert "成功 4 条，失败 1 条" in run.stdout and "拒绝访问本机或内网地址" in run.stdout
    # Progress on stderr: one plain line per item (not a terminal), done/total and time left.
    steps = re.findall(r"^取证：(\d+)/5，成功 (\d+)，失败 (\d+)，已用 \S+，(?:剩余约 \S+|完成)$", run.stderr, re.M)
    assert steps[:2] == [("0", "0", "0"), ("1", "0", "1")] and steps[-1] == ("5", "4", "1"), run.stderr
    assert "\r" not in run.stderr and "\x1b" not in run.stderr
    db = store.connect(captured["db_path"])
    try:
        root = store.evidence_dir(db)
        for platform, fid in ids["platforms"].items():
            [ev] = store.evidence_for(db, finding_id=fid)
            assert ev["status"] == "ok" and ev["http_status"] == 200 and ev["operator"] == "张三"
            assert ev["final_url"] == captured["picked"][platform].url
            assert ev["tool"].startswith("certwatch ") and "Chromium" in ev["tool"]
            assert ev["captured_at"].endswith("Z")
            kinds = {f["kind"]: f for f in ev["files"]}
            assert set(kinds) == {"screenshot", "raw", "html", "warc", "record"}
            for f in ev["files"]:
                path = evidence.file_path(root, f["path"])
                assert evidence.sha256_file(path) == f["sha256"] and f["sha256"] in f["path"]
            png = open(evidence.file_path(root, kinds["screenshot"]["path"]), "rb").read()
            assert png.startswith(b"\x89PNG") and len(png) > 5000
            html = open(evidence.file_path(root, kinds["html"]["path"]), encoding="utf-8").read()
            assert captured["picked"][platform].title.split()[0] in html      # GBK page decoded too
            record = open(evidence.file_path(root, kinds["record"]["path"]), encoding="utf-8").read()
            assert "网络在线提取记录" in record and kinds["screenshot"]["sha256"] in record
            assert "张三" in record and "北京时间" in record and "<script" not in record
        [site_ev] = store.evidence_for(db, site_id=ids["site"])
        assert site_ev["status"] == "ok"
        [failed] = store.evidence_for(db, finding_id=ids["blocked"])
        assert failed["status"] == "failed" and "内网" in failed["error"] and failed["files"] == []
        assert store.evidence_for(db, finding_id=ids["benign"]) == []          # not flagged
        assert store.evidence_for(db, site_id=ids["official"]) == []          # official site
    finally:
        db.close()


def test_warc_record_holds_the_response(captured):
    from warcio.archiveiterator import ArchiveIterator
    db = store.connect(captured["db_path"])
    try:
        fid = captured["ids"]["platforms"]["classifieds"]
        [ev] = store.evidence_for(db, finding_id=fid)
        files = {f["kind"]: f for f in ev["files"]}
        raw = open(evidence.file_path(store.evidence_dir(db), files["raw"]["path"]), "rb").read()
        with open(evidence.file_path(store.evidence_dir(db), files["warc"]["path"]), "rb") as fh:
            records = [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI"),
                        r.content_stream().read()) for r in ArchiveIterator(fh)]
    finally:
        db.close()
    assert records[0] == ("response", ev["final_url"], raw)
    assert raw.decode("gbk")                                # served as GBK, kept as served


def test_second_run_keeps_ok_captures_and_retries_failures(captured):
    run = run_cli("evidence", "capture", "--sandbox", captured["sandbox"], "--db", captured["db_path"],
                  "--quiet", timeout=300)
    assert run.returncode == 1 and "成功 0 条，失败 1 条" in run.stdout
    db = store.connect(captured["db_path"])
    try:
        assert len(store.evidence_for(db, finding_id=captured["ids"]["blocked"])) == 2
        assert all(len(store.evidence_for(db, finding_id=fid)) == 1
                   for fid in captured["ids"]["platforms"].values())
    finally:
        db.close()


def test_verify_passes_then_fails_after_tampering(captured, tmp_path):
    # 5 records after the first capture, 6 once the retry test ran (tests of a
    # module may run on different xdist workers: count what is there).
    with store.opened(captured["db_path"]) as db:
        records = sum(1 for _ in store.iter_evidence(db))
    assert records in (5, 6)
    ok = run_cli("evidence", "verify", "--db", captured["db_path"])
    assert ok.returncode == 0 and f"校验通过：{records} 条证据记录的封存哈希链完整，20 个文件" in ok.stdout
    # Tamper with a copy, so the other tests keep their evidence.
    copy = tmp_path / "copy"
    shutil.copytree(captured["db_path"].rsplit("/", 1)[0], copy)
    db_path = str(copy / "certwatch.db")
    db = store.connect(db_path)
    try:
        [ev] = store.evidence_for(db, finding_id=captured["ids"]["platforms"]["forum"])
        files = {f["kind"]: f for f in ev["files"]}
        shot = evidence.file_path(store.evidence_dir(db), files["screenshot"]["path"])
        with open(shot, "r+b") as fh:
            fh.seek(100)
            fh.write(b"\x00tampered")
        os.remove(evidence.file_path(store.evidence_dir(db), files["html"]["path"]))
        store.add_evidence(db, {"finding_id": ev["finding_id"], "url": ev["url"], "status": "ok",
                                "files": [{"kind": "raw", "path": "../../../etc/passwd", "sha256": "0" * 64}]})
    finally:
        db.close()
    bad = run_cli("evidence", "verify", "--db", db_path)
    assert bad.returncode == 1
    assert f"{files['screenshot']['path']}：文件已被改动" in bad.stdout
    assert f"{files['html']['path']}：文件缺失" in bad.stdout
    assert "路径越出证据目录" in bad.stdout and "校验未通过" in bad.stdout


def test_capture_is_bounded_and_failures_are_recorded(sandbox, db_path):
    db = store.connect(db_path)
    try:
        listing = pick_listings()["forum"]
        store.record_findings(db, [{"url": listing.url, "flagged": True, "score": 80}], None)
        small = evidence.CaptureConfig(sandbox=sandbox, executable_path=CHROMIUM, max_bytes=200)
        stats = evidence.capture(db, small)
        assert (stats.ok, stats.failed) == (0, 1) and "大小上限" in stats.errors[0][1]
        hurried = evidence.CaptureConfig(sandbox=sandbox, executable_path=CHROMIUM,
                                         item_timeout=0.05)
        stats = evidence.capture(db, hurried)
        assert (stats.ok, stats.failed) == (0, 1) and "秒未完成" in stats.errors[0][1]
        rows = store.evidence_for(db, finding_id=1)
        assert [r["status"] for r in rows] == ["failed", "failed"]
        assert store.items_needing_evidence(db)[0]["id"] == 1           # tried again next run
    finally:
        db.close()


def test_sweep_evidence_captures_what_this_sweep_saw(sandbox, db_path):
    """`sweep --evidence` (docs/evidence.md: 巡查结束后立即为新的可疑条目取证) captures
    what this sweep flagged, as a scheduled sweep does; an older flagged finding
    it did not see is left to `evidence capture`."""
    other = pick_listings()["market"]
    db = store.connect(db_path)
    [outside] = store.record_findings(db, [{"url": other.url, "platform": "taohuo", "title": other.title,
                                            "flagged": True, "score": 90}], None)
    db.close()
    proc = run_cli("sweep", "--sandbox", sandbox, "--platforms", "gongyou", "--keyword", "高压电工证", "--pages", "1",
                   "--quiet", "--evidence", "--set", "CERTWATCH_EVIDENCE_CONCURRENCY=6", "--db", db_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "为这次巡查看到的可疑信息和网站取证" in proc.stderr
    db = store.connect(db_path)
    try:
        [sweep] = store.list_sweeps(db)
        flagged = store.findings_of_sweep(db, sweep["id"], flagged_only=True)
        assert flagged and all(store.evidence_for(db, finding_id=f["id"]) for f in flagged)
        assert store.evidence_for(db, finding_id=outside.id) == []
        assert [i["id"] for i in store.items_needing_evidence(db) if i["kind"] == "finding"] == [outside.id]
    finally:
        db.close()


def test_file_paths_cannot_leave_the_evidence_folder(tmp_path):
    root = str(tmp_path)
    assert evidence.file_path(root, "ab/cd/x.png") == str(tmp_path / "ab/cd/x.png")
    for bad in ("../x", "/etc/passwd", "ab/../../x", "", "a\x00b"):
        assert evidence.file_path(root, bad) is None


def test_console_shows_evidence_safely(captured):
    app = create_app(captured["db_path"])
    client = TestClient(app)
    post_login(client, "rev")
    fid = captured["ids"]["platforms"]["forum"]
    db = store.connect(captured["db_path"])
    try:
        [ev] = store.evidence_for(db, finding_id=fid)
    finally:
        db.close()
    files = {f["kind"]: f for f in ev["files"]}
    detail = client.get(f"/finding/{fid}").text
    assert files["screenshot"]["sha256"] in detail and f"/evidence/{ev['id']}/record" in detail
    record = client.get(f"/evidence/{ev['id']}/record")
    assert record.status_code == 200 and "网络在线提取记录" in record.text
    assert "script-src" not in record.headers["content-security-policy"]
    assert record.headers["content-security-policy"].startswith("default-src 'none'")
    shot = client.get(f"/evidence/{ev['id']}/file/screenshot")
    assert shot.headers["content-type"] == "image/png" and shot.content.startswith(b"\x89PNG")
    raw = client.get(f"/evidence/{ev['id']}/file/raw")
    assert raw.headers["content-type"] == "application/octet-stream"
    assert "attachment" in raw.headers["content-disposition"]
    source = client.get(f"/evidence/{ev['id']}/source").text
    assert "&lt;html" in source.lower() or "&lt;!doctype" in source.lower()
    assert client.get(f"/evidence/{ev['id']}/file/nothing").status_code == 404
    assert client.get("/evidence/99999/record").status_code == 404
    anonymous = TestClient(app).get(f"/evidence/{ev['id']}/file/screenshot", follow_redirects=False)
    assert anonymous.status_code == 303


def test_chinese_text_renders_as_glyphs_not_boxes():
    """Missing CJK fonts draw every character as the same box: two different
    strings would then give identical screenshots."""
    import asyncio

    from playwright.async_api import async_playwright

    async def shots():
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(**launch_options(evidence.CaptureConfig.launch_args))
            page = await browser.new_page(viewport={"width": 200, "height": 60})
            out = []
            for text in ("电工证", "焊工证"):
                await page.set_content(f"<p style='font-size:32px;margin:4px'>{text}</p>")
                out.append(await page.screenshot())
            await browser.close()
            return out
    first, second = asyncio.run(shots())
    assert first != second
