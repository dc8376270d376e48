"""Hostile cases as real tests (issue #15): a loopback canary that no fetch
path may reach in real mode, gzip bombs and deep pages, kill -9 of every
writer, the evidence tamper matrix, a locked database for every writing
command, and the lower items (cron, huge ids, IPv6, X-Forwarded-For, scrypt,
WHOIS timeout, non-SQLite files, formula cells).

Real mode here means: no sandbox, the real resolver, and one named exception
(CERTWATCH_GUARD_ALLOW) for the hostile test server; everything it points at
(the canary in every notation) must be refused."""
from __future__ import annotations

import gzip
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile

import pytest

from helpers import ROOT, add_users, logged_in, run_cli, serving
from pipelines import store

# ---------------------------------------------------------------- servers


class Canary(socketserver.ThreadingTCPServer):
    """Counts every TCP connection (HTTP, WebSocket, WHOIS alike)."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        self.hits: list[str] = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(inner):
                self.hits.append(inner.request.recv(200).decode("latin-1").split("\r\n")[0])
                inner.request.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\ncanary")
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]


def loopback_name() -> str:
    """A host name (not 'localhost') that resolves to loopback: the DNS case."""
    for name in (socket.gethostname(), "vm", "runsc", "ip6-localhost", "localhost.localdomain"):
        try:
            addrs = {i[4][0] for i in socket.getaddrinfo(name, 80, type=socket.SOCK_STREAM)}
        except OSError:
            continue
        if name != "localhost" and addrs and all(a.startswith("127.") or a == "::1" for a in addrs):
            return name
    raise RuntimeError("no loopback host name on this machine")


def bomb_body() -> bytes:
    """A gzip bomb: an HTML head, then 16 members of 16 MB of spaces each
    (256 MB decoded, ~260 KB on the wire)."""
    head = gzip.compress(b"<html><body><h1 class=subject>bomb</h1><div class=post-content>", 1)
    return head + gzip.compress(b" " * (16 << 20), 6) * 16


def hostile_pages(c: int, name: str) -> dict:
    """Paths of the hostile server: redirects to the canary in every
    notation, and a page whose sub-requests all aim at it."""
    targets = {"literal": f"http://127.0.0.1:{c}/x", "decimal": f"http://2130706433:{c}/x",
               "octal": f"http://0177.0.0.1:{c}/x", "hex": f"http://0x7f.0.0.1:{c}/x",
               "short": f"http://127.1:{c}/x", "localhost": f"http://localhost:{c}/x",
               "mapped": f"http://[::ffff:127.0.0.1]:{c}/x", "v6": f"http://[::1]:{c}/x",
               "name": f"http://{name}:{c}/x", "scheme": f"file:///etc/passwd"}
    page = ("<html><head><title>代办电工证</title>"
            f"<link rel=stylesheet href='http://localhost:{c}/s.css'>"
            f"<script src='http://{name}:{c}/s.js'></script></head><body>"
            "<h1 class=subject>代办电工证 不用考试 包过</h1>"
            "<div class=post-content>代办电工证，不用考试，包过，加微信 zb8888。"
            f"<img src='http://127.0.0.1:{c}/i.png'><img src='http://2130706433:{c}/d.png'>"
            f"<img src='/r/literal'><iframe src='http://[::ffff:127.0.0.1]:{c}/f'></iframe>"
            f"<script>fetch('http://127.0.0.1:{c}/xhr').catch(()=>0);"
            f"try{{new WebSocket('ws://127.0.0.1:{c}/ws')}}catch(e){{}}</script></div></body></html>")
    return {"targets": targets, "page": page}


class Hostile(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, canary_port: int, name: str):
        pages = hostile_pages(canary_port, name)
        bomb = bomb_body()
        self.requests: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(inner, *args):
                pass

            def send(inner, status, body=b"", ctype="text/html; charset=utf-8", extra=()):
                inner.send_response(status)
                inner.send_header("Content-Type", ctype)
                for k, v in extra:
                    inner.send_header(k, v)
                inner.send_header("Content-Length", str(len(body)))
                inner.end_headers()
                inner.wfile.write(body)

            def do_GET(inner):
                self.requests.append(inner.path)
                path = inner.path.split("?")[0]
                if path.startswith("/r/"):
                    return inner.send(302, extra=[("Location", pages["targets"][path[3:]])])
                if path == "/search.php":
                    # The browser path: a few redirect notations (the page's own
                    # sub-requests use the others; sites check follows them all).
                    links = "".join(f"<tr><td><a class=subject href='/r/{k}'>{k}</a></td></tr>"
                                    for k in ("literal", "decimal", "localhost", "mapped", "name"))
                    links += "<tr><td><a class=subject href='/thread-page.html'>p</a></td></tr>"
                    links += "<tr><td><a class=subject href='/thread-bomb.html'>b</a></td></tr>"
                    return inner.send(200, f"<html><body><table class=threads>{links}</table></body></html>"
                                      .encode())
                if path == "/thread-page.html":
                    return inner.send(200, pages["page"].encode())
                if path == "/thread-bomb.html":
                    return inner.send(200, bomb, extra=[("Content-Encoding", "gzip")])
                return inner.send(404, b"<h1>404</h1>")
        super().__init__(("127.0.0.1", 0), Handler)
        self.port = self.server_address[1]
        self.targets = pages["targets"]


@pytest.fixture(scope="module")
def net():
    canary = Canary()
    name = loopback_name()
    hostile = Hostile(canary.port, name)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (canary, hostile)]
    for t in threads:
        t.start()
    env = {"CERTWATCH_GUARD_ALLOW": f"127.0.0.1:{hostile.port}", "CERTWATCH_SANDBOX": "",
           "CERTWATCH_WHOIS_ENABLED": "0", "CERTWATCH_EVIDENCE_TIMEOUT": "60"}
    yield {"canary": canary, "hostile": hostile, "base": f"http://127.0.0.1:{hostile.port}", "env": env,
           "name": name}
    for s in (canary, hostile):
        s.shutdown()
        s.server_close()


def _popen(*args, env=None):
    return subprocess.Popen([sys.executable, "-m", "crawler.cli", *map(str, args)], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def _seed_fetch_paths(tmp_path, base: str) -> dict:
    """Four stores: one per command that fetches (sweep, sites check,
    evidence capture, takedown recheck)."""
    paths = {k: str(tmp_path / k / "certwatch.db") for k in ("sweep", "sites", "evidence", "recheck")}
    for p in paths.values():
        os.makedirs(os.path.dirname(p))
    targets = [f"{base}/r/{k}" for k in hostile_pages(1, "x")["targets"]]
    with store.opened(paths["sweep"]) as db:        # one certificate, one intent: one search query
        store.add_keywords(db, [{"term": "电工证", "kind": "cert", "industry": "特种作业"},
                                {"term": "包过", "kind": "intent", "industry": ""}], source="测试")
    with store.opened(paths["sites"]) as db:
        for n, url in enumerate(targets + [f"{base}/thread-page.html"]):
            store.record_checked_site(db, {"domain": f"tip{n}.example.cn", "host": f"tip{n}.example.cn",
                                           "url": url, "source": "tip:12350", "verdict": "suspicious",
                                           "score": 50})
    with store.opened(paths["evidence"]) as db:
        store.record_findings(db, [{"url": u, "platform": "hostile", "title": "x", "text": "x", "flagged": True,
                                    "score": 80} for u in targets + [f"{base}/thread-page.html",
                                                                     f"{base}/thread-bomb.html"]], None)
    with store.opened(paths["recheck"]) as db:
        recs = store.record_findings(db, [
            {"url": f"{base}/thread-page.html", "platform": "hostile", "title": "代办电工证 不用考试 包过",
             "text": "代办电工证，不用考试，包过，加微信 zb8888。", "flagged": True, "score": 90},
            {"url": f"{base}/r/name", "platform": "hostile", "title": "y", "text": "y", "flagged": True,
             "score": 90}], None)
        for r in recs:
            store.add_decision(db, "审核员甲", "confirm", finding_id=r.id)
        batch = store.create_takedown(db, "hostile", "监测员")
        store.mark_takedown_sent(db, batch, "监测员", at="2026-01-01T00:00:00.000000Z")
    return paths


def test_canary_gets_nothing_from_any_fetch_path(net, tmp_path):
    """Sweep (Scrapy and the browser), sites check, evidence capture and the
    recheck with its screenshot, in real mode against a hostile server whose
    redirects, links and sub-requests aim at a loopback canary in every
    notation: the canary receives no connection at all."""
    base, env, canary = net["base"], net["env"], net["canary"]
    paths = _seed_fetch_paths(tmp_path, base)
    host = "127.0.0.1"          # hosts are host names; the port lives in the search URL
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "hostile.yaml").write_text(
        f"name: hostile\ntitle: 敌意论坛\nkind: forum\nhosts: ['{host}']\n"
        f"search:\n  url: \"{base}/search.php?q={{query}}&page={{page}}\"\n  max_pages: 1\n"
        "  result: \"table.threads a.subject::attr(href)\"\n"
        "detail:\n  render: browser\n  title: \"h1.subject::text\"\n  text: \"div.post-content ::text\"\n",
        encoding="utf-8")
    runs = {
        "sweep": _popen("sweep", "--real", "--platforms", "hostile", "--profiles", profiles, "--keyword", "电工证",
                        "--pages", "1", "--quiet", "--db", paths["sweep"], "--set", "CERTWATCH_CANARY=false",
                        "--set", "DOWNLOAD_DELAY=0", "--set", "AUTOTHROTTLE_ENABLED=false",
                        "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=8",
                        env={**env, "CERTWATCH_PROFILES_DIR": str(profiles)}),
        "sites": _popen("sites", "check", "--real", "--sources", "tips", "--db", paths["sites"], env=env),
        "evidence": _popen("evidence", "capture", "--real", "--quiet", "--operator", "测试", "--db",
                           paths["evidence"], env=env),
        "recheck": _popen("takedown", "recheck", "--real", "--force", "--profiles", profiles, "--db",
                          paths["recheck"], env=env),
    }
    out = {}
    for k, p in runs.items():
        started = time.monotonic()
        out[k] = p.communicate(timeout=300)
        print(k, p.returncode, f"{time.monotonic() - started:.1f}s")
    codes = {k: p.returncode for k, p in runs.items()}
    # Evidence fails (refused items are failures, exit 1); the others finish.
    assert codes == {"sweep": 0, "sites": 0, "evidence": 1, "recheck": 0}, {k: out[k][1][-2000:] for k in out}
    assert canary.hits == [], canary.hits
    requested = set(net["hostile"].requests)
    assert {"/thread-page.html", "/r/literal", "/r/name"} <= requested          # every path was exercised
    assert any(r.startswith("/search.php") for r in requested)
    # Evidence: the page itself is captured (its sub-requests refused), the
    # redirects and the bomb are failures with reasons, nothing crashed.
    with store.opened(paths["evidence"]) as db:
        rows = {r["url"].rsplit("/", 1)[-1]: r for r in store.iter_evidence(db)}
    assert rows["thread-page.html"]["status"] == "ok"
    assert "大小上限" in rows["thread-bomb.html"]["error"]
    for k in ("literal", "decimal", "localhost", "mapped", "name"):
        assert rows[k]["status"] == "failed" and "拒绝访问" in rows[k]["error"], rows[k]
    # The recheck screenshot of the listing still there was taken through the guard.
    with store.opened(paths["recheck"]) as db:
        checks = db.execute("SELECT result, screenshot FROM takedown_checks ORDER BY item_id").fetchall()
    assert checks[0][0] == "still_present" and checks[0][1]
    assert checks[1][0] == "unknown"
    # The sweep stored the page read through the browser; the bomb was dropped.
    with store.opened(paths["sweep"]) as db:
        titles = [f["title"] for f in store.iter_findings(db)]
    assert titles == ["代办电工证 不用考试 包过"]


def test_whois_referrals_pass_the_guard(net, caplog):
    """IANA (configured) answers `refer:` and a registry answers
    `Registrar WHOIS Server:` naming loopback hosts: neither is asked."""
    from pipelines.whois import WhoisClient, WhoisConfig
    canary = net["canary"]
    answers = {}

    class Whois(socketserver.ThreadingTCPServer):
        daemon_threads = True

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            q = self.rfile.readline().decode().strip()
            self.wfile.write(answers.get(q, answers["*"]).encode())

    server = Whois(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        for refer in ("127.0.0.1", net["name"], "localhost", "2130706433", "[::1]"):
            answers.clear()
            answers["*"] = f"refer: {refer}\nwhois: {refer}\n"
            client = WhoisClient(WhoisConfig(servers={}, iana=("127.0.0.1", server.server_address[1]),
                                             referral_port=canary.port, min_interval=0, timeout=2))
            facts = client.lookup("example.xyz")
            assert facts["status"] == "refused_address", facts
        # A registry reached as a named exception (by name) names a loopback
        # registrar server: refused, the registry's own answer is kept.
        port = server.server_address[1]
        answers.clear()
        answers["xyz"] = f"refer: {net['name']}\n"
        answers["*"] = ("Domain Name: EXAMPLE.XYZ\nRegistrar WHOIS Server: 127.0.0.1\nRegistrar: Test\n"
                        "Creation Date: 2020-01-01T00:00:00Z\n")
        client = WhoisClient(WhoisConfig(servers={}, iana=("127.0.0.1", port), referral_port=port,
                                         allow=net["name"], min_interval=0, timeout=2))
        with caplog.at_level("INFO", logger="pipelines.whois"):
            text = client.fetch("example.xyz")
        assert text.startswith("Domain Name: EXAMPLE.XYZ") and text.count("Domain Name") == 1
        assert "注册商 WHOIS 查询失败（refused_address）" in caplog.text
    finally:
        server.shutdown()
        server.server_close()
    assert canary.hits == []


# ---------------------------------------------------------------- bounded


def test_gzip_bomb_and_deep_pages_are_bounded(net):
    """The bomb (256 MB decoded) stops at the cap without decoding it all;
    a page nested past libxml2's limit keeps its text through the fallback."""
    import resource

    from pipelines import netguard
    from pipelines.deeptext import deep_text, too_deep
    from scrapy.http import HtmlResponse
    guard = netguard.Guard(allow=netguard.parse_allow(f"127.0.0.1:{net['hostile'].port}"), max_bytes=4 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(netguard.TooBig, match="大小上限"):
        netguard.fetch(guard, f"{net['base']}/thread-bomb.html")
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 64, grown_mb                 # decoded in pieces: never the 256 MB
    page = f"{net['base']}/thread-page.html"
    assert b"zb8888" in netguard.fetch(guard, page).body
    with pytest.raises(netguard.Refused):          # the exception is by port: the canary is not in it
        netguard.fetch(guard, f"http://127.0.0.1:{net['canary'].port}/")
    deep = ("<html><body><h1 class=subject>代办电工证</h1>" + "<div>" * 3000
            + "<div class=post-content>不用考试 包过 加微信 zb8888</div>" + "</div>" * 3000 + "</body></html>")
    response = HtmlResponse("http://x.cn/t.html", body=deep.encode(), encoding="utf-8")
    assert response.css("div.post-content ::text").getall() == []     # lxml drops it silently
    assert too_deep(deep) and "不用考试 包过 加微信 zb8888" in deep_text(deep)
    assert not too_deep("<p>浅</p>" * 5000)
    assert net["canary"].hits == []


# ---------------------------------------------------------------- evidence tamper matrix


def _sealed_store(root) -> str:
    """Three findings with one ok capture each (two files) and one failed capture."""
    from pipelines import evidence
    db_path = str(root / "certwatch.db")
    with store.opened(db_path) as db:
        recs = store.record_findings(db, [{"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "title": f"t{n}",
                                           "text": "x", "flagged": True, "score": 80} for n in range(3)], None)
        ev_root = store.evidence_dir(db)
        for n, r in enumerate(recs):
            files = [evidence.store_file(ev_root, "screenshot", f"png {n}".encode()),
                     evidence.store_file(ev_root, "html", f"<html>{n}</html>".encode())]
            store.add_evidence(db, {"finding_id": r.id, "url": f"http://bbs.gongyou.cn/thread-{n}-1.html",
                                    "final_url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "http_status": 200,
                                    "captured_at": f"2026-12-0{n + 1}T02:00:00.000000Z", "tool": "certwatch 0.1",
                                    "status": "ok", "files": files, "operator": "张三"})
        store.add_evidence(db, {"finding_id": recs[0].id, "url": "http://bbs.gongyou.cn/thread-0-1.html",
                                "status": "failed", "error": "页面加载超时", "files": [], "tool": "certwatch 0.1",
                                "operator": "张三"})
    return db_path


def _sql(db_path, *statements):
    conn = sqlite3.connect(db_path)
    with conn:
        for s in statements:
            conn.execute(*s) if isinstance(s, tuple) else conn.execute(s)
    conn.close()


def _files(db_path, rid):
    conn = sqlite3.connect(db_path)
    files = json.loads(conn.execute("SELECT files FROM evidence WHERE id = ?", [rid]).fetchone()[0])
    conn.close()
    return files


def _edit_file(db_path, rid, kind, data: bytes, fix_hash: bool):
    from pipelines.evidence import file_path, sha256_bytes
    files = _files(db_path, rid)
    f = next(x for x in files if x["kind"] == kind)
    path = file_path(os.path.join(os.path.dirname(db_path), "evidence"), f["path"])
    os.chmod(path, 0o644)
    with open(path, "wb") as fh:
        fh.write(data)
    if fix_hash:
        f["sha256"], f["bytes"] = sha256_bytes(data), len(data)
        _sql(db_path, ("UPDATE evidence SET files = ? WHERE id = ?", [json.dumps(files), rid]))


def _reseal(db_path, rid):
    """The attacker recomputes the edited row's record hash (not the chain)."""
    with store.opened(db_path) as db:
        row = db["evidence"].get(rid)
        digest = store.record_hash(row, json.loads(row["files"]))
    _sql(db_path, ("UPDATE evidence SET record_hash = ? WHERE id = ?", [digest, rid]))


TAMPER = {
    "url edited": lambda p: _sql(p, "UPDATE evidence SET url = 'http://other.cn/' WHERE id = 2"),
    "final url edited": lambda p: _sql(p, "UPDATE evidence SET final_url = 'http://other.cn/' WHERE id = 2"),
    "time edited": lambda p: _sql(p, "UPDATE evidence SET captured_at = '2025-01-01T00:00:00Z' WHERE id = 2"),
    "operator edited": lambda p: _sql(p, "UPDATE evidence SET operator = '李四' WHERE id = 2"),
    "tool edited": lambda p: _sql(p, "UPDATE evidence SET tool = 'other 9' WHERE id = 2"),
    "moved to another finding": lambda p: _sql(p, "UPDATE evidence SET finding_id = 3 WHERE id = 2"),
    "files not JSON": lambda p: _sql(p, "UPDATE evidence SET files = 'not json' WHERE id = 2"),
    "set to failed": lambda p: _sql(p, "UPDATE evidence SET status = 'failed' WHERE id = 2"),
    "middle row deleted": lambda p: _sql(p, "DELETE FROM evidence WHERE id = 2"),
    "last row deleted": lambda p: _sql(p, "DELETE FROM evidence WHERE id = 4"),
    "rows re-ordered": lambda p: _sql(p, "UPDATE evidence SET id = -1 WHERE id = 1", "UPDATE evidence SET id = 1 WHERE id = 2",
                                      "UPDATE evidence SET id = 2 WHERE id = -1"),
    "screenshots swapped": lambda p: _sql(p, ("UPDATE evidence SET files = ? WHERE id = 1", [json.dumps(
        [_files(p, 2)[0], _files(p, 1)[1]])]), ("UPDATE evidence SET files = ? WHERE id = 2", [json.dumps(
            [_files(p, 1)[0], _files(p, 2)[1]])])),
    "file edited": lambda p: _edit_file(p, 2, "screenshot", b"forged", fix_hash=False),
    "file and hash edited together": lambda p: _edit_file(p, 2, "screenshot", b"forged", fix_hash=True),
    "file, hash and record hash edited": lambda p: (_edit_file(p, 3, "html", b"<html>forged</html>", True),
                                                    _reseal(p, 3)),
    "file deleted": lambda p: os.remove(os.path.join(os.path.dirname(p), "evidence", _files(p, 1)[1]["path"])),
}


def test_tamper_matrix_every_case_detected(tmp_path):
    base = tmp_path / "base"
    base.mkdir()
    db_path = _sealed_store(base)
    from pipelines import evidence
    with store.opened(db_path) as db:
        clean = evidence.verify(db)
    assert (clean.rows, clean.files, clean.problems) == (4, 6, [])
    detected = {}
    for n, (name, tamper) in enumerate(TAMPER.items()):
        copy = tmp_path / f"case{n}"
        shutil.copytree(base, copy)
        tampered = str(copy / "certwatch.db")
        tamper(tampered)
        with store.opened(tampered) as db:
            detected[name] = [p.problem for p in evidence.verify(db).problems]
    missed = [name for name, problems in detected.items() if not problems]
    assert len(TAMPER) == 16 and missed == [], detected
    # The CLI: every anomaly listed, exit 1; a missing --db is refused, not created.
    run = run_cli("evidence", "verify", "--db", tmp_path / "case15" / "certwatch.db")
    assert run.returncode == 1 and "文件缺失" in run.stdout and "校验未通过" in run.stdout
    run = run_cli("evidence", "verify", "--db", tmp_path / "typo.db")
    assert run.returncode == 2 and "数据库文件不存在" in run.stderr and not (tmp_path / "typo.db").exists()


# ---------------------------------------------------------------- reviewed content kept (V6)


def test_resweep_keeps_the_content_a_decision_was_made_on(fresh_db, db_path, tmp_path):
    from reports.referral import create as referral
    from reports.takedown import rows as takedown_rows
    url = "http://mall.taohuo.cn/item/77.html"
    sale = {"url": url, "platform": "taohuo", "title": "低压电工证 不用考试 包过", "text": "加微信 zb8888 包过拿证",
            "seller": "证书小助手", "contacts": {"wechat": ["zb8888"]}, "flagged": True, "score": 92}
    (r,) = store.record_findings(fresh_db, [sale], None)
    store.add_decision(fresh_db, "审核员甲", "confirm", finding_id=r.id)
    benign = {**sale, "title": "电工培训报名", "text": "正规培训，考试合格后由应急管理部门发证", "contacts": {},
              "flagged": False, "score": 3}
    store.record_findings(fresh_db, [benign], None)
    store.record_findings(fresh_db, [benign], None)          # seen again: no second version
    row = store.get_finding(fresh_db, r.id)
    assert (row["title"], row["status"], row["changed_since_decision"]) == (sale["title"], "confirmed", 1)
    versions = store.finding_versions(fresh_db, r.id)
    assert [v["title"] for v in versions] == ["电工培训报名"]
    batch = store.create_takedown(fresh_db, "taohuo", "监测员")
    listed = takedown_rows(fresh_db, batch)
    assert sale["title"] in str(listed) and "电工培训报名" not in str(listed)
    ref = referral(fresh_db, str(r.id), "区公安分局", "审核员乙", str(tmp_path / "ref"))
    with zipfile.ZipFile(ref["package"]) as zf:
        record = next(zf.read(n).decode() for n in zf.namelist() if n.endswith("条目记录.json"))
    assert sale["title"] in record and "电工培训报名" not in record


# ---------------------------------------------------------------- kill -9 of every writer

PNG_END = b"IEND\xaeB`\x82"


def _complete(path: str) -> bool:
    """Does ``path`` hold a whole file of its kind?"""
    import openpyxl
    with open(path, "rb") as fh:
        data = fh.read()
    if path.endswith(".xlsx"):
        openpyxl.load_workbook(path)
        return True
    if path.endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None
    if path.endswith(".png"):
        return data.startswith(b"\x89PNG") and data.endswith(PNG_END)
    if path.endswith(".jsonl"):
        return all(json.loads(line) for line in data.decode("utf-8").splitlines())
    raise AssertionError(path)


def _writers(db_path: str, out) -> dict:
    """Each writing command and the files it writes (old content put there first)."""
    from reports.charts import CHARTS
    return {
        "report stats": (["report", "stats", "--period", "2024-09-01..2024-10-31", "--out", out / "stats.xlsx"],
                         [out / "stats.xlsx"]),
        "takedown export": (["takedown", "export", "1", "--format", "xlsx", "--out", out / "td.xlsx"],
                            [out / "td.xlsx"]),
        "labels": (["labels", "--out", out / "labels.jsonl"], [out / "labels.jsonl"]),
        "keywords export": (["keywords", "export", out / "kw.xlsx"], [out / "kw.xlsx"]),
        "report charts": (["report", "charts", "--period", "2024-09-01..2024-10-31", "--outdir", out / "charts"],
                          [out / "charts" / n for n in CHARTS.values()]),
        "referral create": (["referral", "create", "--items", "1", "--unit", "区公安分局", "--outdir", out / "ref"],
                            []),
    }


def _run_killed(args, folder, when: str) -> bool:
    """Run a writer; SIGKILL it at ``when`` ('start', 'writing' = as soon as
    a temporary file appears in ``folder``, 'never'). True if killed while a
    temporary file was there."""
    proc = _popen(*args)
    caught = False
    if when == "start":
        proc.kill()
    elif when == "writing":
        while proc.poll() is None:
            if any(n.endswith(".tmp") for n in os.listdir(folder)):
                proc.send_signal(signal.SIGKILL)
                caught = True
                break
            time.sleep(0.002)
    proc.communicate(timeout=300)
    return caught


def test_kill_9_of_every_writer_leaves_old_or_complete_files(tmp_path):
    from seeds import seed_reports
    from helpers import seed_store
    db_path = str(tmp_path / "certwatch.db")
    seed_store(db_path, seed_reports)
    caught = []
    for when in ("start", "writing", "never"):
        out = tmp_path / when
        (out / "charts").mkdir(parents=True)
        (out / "ref").mkdir()
        writers = _writers(db_path, out)
        for _, paths in writers.values():
            for p in paths:
                p.write_bytes(b"OLD")
        procs = {}
        for name, (args, paths) in writers.items():
            folder = str(paths[0].parent) if paths else str(out / "ref")
            procs[name] = threading.Thread(target=lambda a=args, f=folder, n=name: caught.append(
                (n, _run_killed([*a, "--db", db_path], f, when))))
            procs[name].start()
        for t in procs.values():
            t.join(timeout=300)
        for name, (_, paths) in writers.items():
            for p in paths:
                data = p.read_bytes()
                assert data == b"OLD" or _complete(str(p)), (name, when, data[:40])
                if when == "never":
                    assert data != b"OLD" and _complete(str(p)), name
        for z in (out / "ref").glob("*.zip"):
            assert _complete(str(z)), z
        if when == "never":
            assert list((out / "ref").glob("*.zip"))
    assert any(c for _, c in caught), caught          # at least some were killed mid-write


# ---------------------------------------------------------------- locked database


def test_every_writing_command_waits_then_says_the_database_is_busy(tmp_path):
    from seeds import seed_reports
    from helpers import seed_store
    db_path = str(tmp_path / "certwatch.db")
    seed_store(db_path, seed_reports)
    commands = {
        "submit": ["submit", "http://cx-mem-gov.cn/"],
        "user add": ["user", "add", "张三", "--role", "reviewer", "--password-stdin"],
        "schedule add": ["schedule", "add", "--name", "每日", "--cron", "0 2 * * *"],
        "referral create": ["referral", "create", "--items", "1", "--unit", "区公安分局", "--outdir", tmp_path],
        "report set": ["report", "set", "--period", "2024-09-01..2024-10-31", "罚款金额", "1"],
        "keywords add": ["keywords", "add", "测试证", "--kind", "cert", "--industry", "特种作业"],
        "takedown create": ["takedown", "create", "--platform", "gongyou"],
        "takedown sent": ["takedown", "sent", "2"],
    }
    with store.opened(db_path) as db:
        assert store.create_takedown(db, "gongyou", "监测员") == 2          # not sent yet
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        procs = {k: _popen(*args, "--db", db_path, env={"CERTWATCH_BUSY_TIMEOUT": "1"})
                 for k, args in commands.items()}
        out = {k: p.communicate("一个足够长的密码 123\n" if k == "user add" else None, timeout=120)
               for k, p in procs.items()}
    finally:
        holder.rollback()
        holder.close()
    for name, p in procs.items():
        stderr = out[name][1]
        assert p.returncode == 3, (name, p.returncode, stderr[-1500:])
        assert "数据库正被其他程序写入" in stderr and "等待 1 秒" in stderr and "Traceback" not in stderr, name


def test_console_answers_503_when_the_database_stays_locked(reports_console):
    from fastapi.testclient import TestClient
    app, db_path, ids = reports_console
    client = TestClient(app)
    token = logged_in(client, "rev", "/queue")
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store.set_busy_timeout(0.2)
    try:
        items = [f"finding:{i}" for i in ids["gongyou"]] + ["site:1"]
        r = client.post("/decide", data={"action": "dismiss", "note": "误报", "items": items,
                                         "csrf_token": token, "next": "/queue"}, follow_redirects=False)
    finally:
        store.set_busy_timeout(30)
        holder.rollback()
        holder.close()
    assert r.status_code == 503 and "数据库正被其他程序写入" in r.text and r.headers["retry-after"] == "5"
    with store.opened(db_path) as db:                  # the bulk decision is all or nothing: nothing
        assert [store.get_finding(db, i)["status"] for i in ids["gongyou"]] == ["confirmed", "confirmed"]


# ---------------------------------------------------------------- the lower items


def test_impossible_cron_dates_are_clear_errors(db_path, reports_console):
    from fastapi.testclient import TestClient
    run = run_cli("schedule", "add", "--name", "二月三十一", "--cron", "0 0 31 2 *", "--db", db_path)
    assert run.returncode == 2 and "永远不会触发" in run.stderr and "Traceback" not in run.stderr
    app, _, _ = reports_console
    client = TestClient(app)
    token = logged_in(client, "mon", "/schedules")
    r = client.post("/schedules/add", data={"name": "x", "cron": "0 0 31 2 *", "csrf_token": token})
    assert r.status_code == 400 and "永远不会触发" in r.text


def test_huge_ids_are_404_on_every_route(reports_console):
    from fastapi.routing import APIRoute
    from fastapi.testclient import TestClient
    app, db_path, _ = reports_console
    with store.opened(db_path) as db:
        add_users(db, "admin1")
    client = TestClient(app)
    token = logged_in(client, "admin1", "/queue")
    huge = "99999999999999999999"
    tried = []
    import importlib

    from reports.console.app import PAGE_ROUTERS
    routes = [r for name in PAGE_ROUTERS for r in importlib.import_module(name).router.routes]
    for route in routes:
        if not isinstance(route, APIRoute) or "{" not in route.path:
            continue
        path = route.path.replace("{kind}", "screenshot").replace("{key}", "weekly")
        for name in ("finding_id", "site_id", "evidence_id", "keyword_id", "schedule_id", "sweep_id", "batch_id",
                     "referral_id", "user_id"):
            path = path.replace("{" + name + "}", huge)
        if "{" in path:
            continue
        method = "POST" if "POST" in route.methods else "GET"
        r = client.request(method, path, data={"csrf_token": token} if method == "POST" else None)
        tried.append((path, r.status_code))
    assert len(tried) >= 12 and all(code == 404 for _, code in tried), tried


def test_ipv6_literals_keep_their_brackets():
    assert store.canonical_url("http://[2001:DB8::1]:8080/a?b=1#x") == "http://[2001:db8::1]:8080/a?b=1"
    assert store.canonical_url("https://[::1]:443/") == "https://[::1]/"
    assert store.canonical_url("http://x.cn:99999/") == "http://x.cn/"


def test_forwarded_for_is_trusted_only_from_a_named_proxy(db_path):
    """Without --trusted-proxy, a client naming a new X-Forwarded-For address
    on every try does not reset the per-address login limit."""
    import re
    import urllib.error
    import urllib.parse
    import urllib.request
    from reports.console.auth import MAX_FAILS_PER_ADDRESS
    store.connect(db_path).close()
    with serving(db_path) as base:
        codes = []
        for n in range(MAX_FAILS_PER_ADDRESS + 1):
            opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
            page = opener.open(base + "/login").read().decode()
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            data = urllib.parse.urlencode({"name": f"nobody{n}", "password": "wrong password",
                                           "csrf_token": token}).encode()
            req = urllib.request.Request(base + "/login", data=data,
                                         headers={"X-Forwarded-For": f"203.0.113.{n}"})
            try:
                codes.append(opener.open(req).status)
            except urllib.error.HTTPError as exc:
                codes.append(exc.code)
    assert codes[:-1] == [401] * MAX_FAILS_PER_ADDRESS and codes[-1] == 429, codes


def test_scrypt_runs_off_the_event_loop(reports_console, monkeypatch):
    import hashlib
    import threading as th

    from fastapi.testclient import TestClient
    from reports.console import passwords
    threads = []
    real = hashlib.scrypt

    def spy(*args, **kwargs):
        threads.append(th.current_thread().name)
        return real(*args, **kwargs)
    monkeypatch.setattr(passwords.hashlib, "scrypt", spy)
    app, _, _ = reports_console
    client = TestClient(app)
    logged_in(client, "rev", "/queue")
    assert threads and all("AnyIO worker" in t for t in threads), threads


def test_check_domain_honours_the_whois_timeout_setting(db_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)                                  # accepts, never answers
    try:
        run = run_cli("check-domain", "cx-mem-gov.cn", "--whois-server", f"*=127.0.0.1:{silent.getsockname()[1]}",
                      "--db", db_path, env={"CERTWATCH_WHOIS_TIMEOUT": "0.5"}, timeout=60)
    finally:
        silent.close()
    assert run.returncode == 0 and "超时（0.5 秒）" in run.stderr, run.stderr[-1000:]


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path):
    bogus = tmp_path / "notes.db"
    bogus.write_text("这不是数据库\n" * 200, encoding="utf-8")
    run = run_cli("keywords", "list", "--db", bogus)
    assert run.returncode == 2 and "不是 certwatch 数据库" in run.stderr and "Traceback" not in run.stderr
    assert bogus.read_text(encoding="utf-8").startswith("这不是数据库")      # left as it was


@pytest.mark.parametrize("value", [" =1+1", "\n=cmd|' /C calc'!A0", "\u200b=HYPERLINK(\"http://x\")",
                                   "\u3000+1", "\ufeff@SUM(A1)", "\t-2"])
def test_formulas_behind_invisible_characters_are_neutralised(value):
    from keywords.xlsx_safe import neutralize
    assert neutralize(value).startswith("'")
    assert neutralize("  普通文本") == "  普通文本"


def test_error_values_stay_the_text_that_was_written(tmp_path):
    """A scraped title that is a spreadsheet error value (#N/A …) is text in
    the workbook, not an error cell; '#' starting other text is left alone."""
    import openpyxl

    from keywords.xlsx_safe import append_row, neutralize
    assert neutralize("#N/A") == "'#N/A" and neutralize(" #ref! ") == "' #ref! "
    assert neutralize("#1 焊工证") == "#1 焊工证" and neutralize("#话题#") == "#话题#"
    wb = openpyxl.Workbook()
    append_row(wb.active, ["#N/A", "#DIV/0!", "#1"])
    path = tmp_path / "t.xlsx"
    wb.save(path)
    cells = list(openpyxl.load_workbook(path).active.iter_rows())[0]
    assert [(c.value, c.data_type) for c in cells] == [("'#N/A", "s"), ("'#DIV/0!", "s"), ("#1", "s")]
