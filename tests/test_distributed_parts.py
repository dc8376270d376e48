"""The parts of distributed sweeps, in-process on a real Redis: the writer
across a crash between commit and acknowledgement, hostile stream entries
and queued requests, requeueing a dead worker's requests, the CLI's errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis
from scrapy import Request

from crawler.distributed import serializer
from crawler.distributed.fleet import requeue_dead
from crawler.distributed.ingest import IngestOptions, Ingester, run_ingest
from crawler.distributed.keys import DistributedError, Keys
from crawler.distributed.state import WorkerState
from helpers import cli
from pipelines import store


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def listing(n: int) -> dict:
    return {"kind": "listing", "url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou",
            "title": f"焊工证 包过 {n}", "text": "不用考试，官网可查，微信 abc123", "keyword": "焊工证",
            "flagged": True, "score": 90, "family": "tezhong", "reasons": [], "contacts": {"wechat": ["abc123"]}}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_writer_killed_between_commit_and_ack_writes_nothing_twice(client, redis_url, db_path):
    keys = Keys("parts1")
    with store.opened(db_path) as db:
        sweep_id = store.start_sweep(db, ["gongyou"], "sandbox")
    client.hset(keys.sweep(sweep_id, "counts"), mapping={"pushed": 0, "ingested": 0})     # as a coordinator seeds
    worker = WorkerState(client, keys, "w@elsewhere:1:aa", "sandbox")
    for n in range(5):
        worker.push_item(sweep_id, listing(n))
    worker.push_item(sweep_id, listing(0))               # a page judged twice (its worker died)
    worker.push_item(sweep_id, {"kind": "site", "url": "http://cx-mem-gov.cn/query", "title": "特种作业操作证查询",
                                "http_status": 200, "verdict": "fake_gov_site", "score": 95,
                                "reasons": [{"code": "brand", "label": "仿冒"}], "impersonates": "cx.mem.gov.cn"})
    # Hostile entries: not JSON, a bad field, an unknown kind.
    client.xadd(keys.items, {"sweep": str(sweep_id), "item": "\x00not json"})
    client.xadd(keys.items, {"sweep": str(sweep_id), "item": json.dumps({**listing(9), "score": "DROP TABLE"})})
    client.xadd(keys.items, {"sweep": str(sweep_id), "item": json.dumps({**listing(10), "kind": "evil"})})
    # Passes the checks, fails in the store (a score of Infinity): isolated, rejected, the rest written.
    client.xadd(keys.items, {"sweep": str(sweep_id), "item": json.dumps(listing(11)).replace('"score": 90', '"score": Infinity')})

    first = Ingester(client, keys, db_path, batch=100)
    first.ensure_group()
    with store.opened(db_path) as db:
        entries = first.read(block_ms=0)
        fresh = first.commit_or_isolate(db, entries)
        first.reject([e for e in entries if e.id in fresh])
        # ... committed, and killed before XACK
    assert client.xpending(keys.items, "writers")["pending"] == 11

    stats = run_ingest(IngestOptions(redis_url=redis_url, db=db_path, prefix="parts1", once=True, progress=False))
    assert (first.stats.stored, first.stats.rejected) == (7, 4)        # 5 listings (one twice) + the site
    assert (stats.stored, stats.skipped, stats.rejected) == (0, 11, 0)
    with store.opened(db_path) as db:
        assert store.count_findings(db) == 5
        assert store.sweep_counts(db, sweep_id)["items"] == 5
        assert [(s["domain"], s["status"]) for s in store.sites_with_status(db)] == [("cx-mem-gov.cn", "flagged")]
        assert db.execute("SELECT COUNT(*) FROM ingest_log").fetchone()[0] == 11
    assert client.xpending(keys.items, "writers")["pending"] == 0 and client.xlen(keys.items) == 0
    # Rejected entries count as handled for their sweep: its coordinator waits for all it was sent.
    counts = client.hgetall(keys.sweep(sweep_id, "counts"))
    assert (int(counts[b"pushed"]), int(counts[b"ingested"])) == (7, 11)
    reasons = [e[1][b"reason"].decode() for e in client.xrange(keys.rejected)]
    assert len(reasons) == 4 and any("无法写入" in r for r in reasons) and any("score" in r for r in reasons) and any("evil" in r for r in reasons)


def test_one_writer_at_a_time(client, redis_url, db_path):
    keys = Keys("parts2")
    client.set(keys.ingest_lock, "ingest@another-host:4242:ab", px=30_000)      # alive elsewhere
    with pytest.raises(DistributedError, match="另一个写入进程"):
        Ingester(client, keys, db_path).acquire(wait=0)
    client.set(keys.ingest_lock, f"ingest@{__import__('socket').gethostname()}:{dead_pid()}:ab", px=30_000)
    taker = Ingester(client, keys, db_path)
    taker.acquire(wait=0)                                   # its holder is gone on this host: taken over
    assert client.get(keys.ingest_lock).decode() == taker.owner


def test_a_dead_workers_requests_go_back_to_the_queue(client):
    import socket
    keys = Keys("parts3")
    client.sadd(keys.sweeps, 7)
    client.set(keys.active, b'{"sweep": 7}')
    client.set(keys.sweep(7, "info"), json.dumps({"mode": "sandbox"}))
    client.rpush(keys.sweep(7, "starts"), json.dumps({"platform": "gongyou", "query": "焊工证"}))
    client.zadd(keys.sweep(7, "requests"), {b"request-data": 0})
    dead = WorkerState(client, keys, f"w@{socket.gethostname()}:{dead_pid()}:cc", "sandbox")
    assert dead.pop()[0] == "r" and dead.pop()[0] == "s" and dead.pop() is None
    assert dead.sweep_id == 7 and client.hlen(keys.inflight(dead.worker_id)) == 2
    assert not dead.scripts.drained(keys=[keys.workers], args=[keys.prefix, 7])
    assert requeue_dead(client, keys, dead.scripts) == {dead.worker_id: 2}
    assert client.zcard(keys.sweep(7, "requests")) == 1 and client.llen(keys.sweep(7, "starts")) == 1
    assert not client.exists(keys.inflight(dead.worker_id)) and not client.sismember(keys.workers, dead.worker_id)
    # A live worker of another mode leaves the sweep alone.
    real = WorkerState(client, keys, "r@elsewhere:1:dd", "real")
    assert real.pop() is None and client.zcard(keys.sweep(7, "requests")) == 1


def test_queued_requests_are_json_and_checked():
    from scrapy_playwright.page import PageMethod
    from crawler.distributed.scheduler import SweepQueue
    from crawler.distributed.worker import WorkerSpider
    spider = WorkerSpider()
    request = Request("http://bbs.gongyou.cn/thread-1-1.html", callback=spider.parse_detail,
                      headers={"X-A": "b"}, body=b"\x00\xff",
                      meta={"profile": "gongyou", "playwright_page_methods": [PageMethod("wait_for_selector", "h1")],
                            "pair": (1, "二")})
    data = serializer.dumps(request.to_dict(spider=spider))
    assert b"pickle" not in data and json.loads(data)["callback"] == "parse_detail"
    queue = SweepQueue.__new__(SweepQueue)
    queue.spider, queue.serializer = spider, serializer
    back = queue._decode_request(data)
    assert back.url == request.url and back.body == b"\x00\xff" and back.callback == spider.parse_detail
    assert back.meta["pair"] == (1, "二") and back.meta["playwright_page_methods"][0].args == ("h1",)
    hostile = [
        {**json.loads(data), "callback": "closed"},                       # not one of the spider's callbacks
        {**json.loads(data), "_class": "subprocess.Popen"},               # no other class
        {**json.loads(data), "url": "file:///etc/passwd"},
        {**json.loads(data), "meta": {"$pm": ["x", [], {}], "y": 1}},
    ]
    for obj in hostile:
        with pytest.raises(serializer.SerializationError):
            queue._decode_request(json.dumps(obj).encode())
    import pickle
    with pytest.raises(serializer.SerializationError):
        queue._decode_request(pickle.dumps({"url": "http://x/"}))
    with pytest.raises(serializer.SerializationError):
        serializer.dumps({"meta": {"f": object()}})


def test_cli_errors_are_chinese(capsys, db_path, monkeypatch):
    monkeypatch.delenv("CERTWATCH_REDIS_URL", raising=False)
    code, _, err = cli(capsys, "worker")
    assert code == 2 and "--redis" in err
    code, _, err = cli(capsys, "ingest", "--redis", "redis://127.0.0.1:1/0", "--db", db_path)
    assert code == 2 and "无法连接 Redis" in err
    code, _, err = cli(capsys, "sweep", "--redis", "http://127.0.0.1:6379", "--sandbox", "http://127.0.0.1:9",
                       "--db", db_path)
    assert code == 2 and "redis://" in err
    code, out, _ = cli(capsys, "workers", "--db", db_path)
    assert code == 2 or "没有" in out


def test_worker_health_tells_a_blocked_address_from_a_clean_one(db_path):
    from crawler.distributed.report import record_distributed
    from crawler.sweep import SweepOptions, project_settings
    clean = {"downloader/request_count": 20, "certwatch/requests/gongyou": 20, "certwatch/search_pages/gongyou": 5,
             "certwatch/responses/gongyou/200": 20, "certwatch/items": 12}
    blocked = {"downloader/request_count": 20, "certwatch/requests/gongyou": 20, "certwatch/search_pages/gongyou": 5,
               "certwatch/responses/gongyou/200": 8, "certwatch/responses/gongyou/429": 12,
               "certwatch/blocked/gongyou": 12, "certwatch/blocked_reason/gongyou/status": 12}
    records = {
        "w1@a:1:x": {"name": "浦东-1", "host": "a", "final": True, "stats": clean},
        "w2@b:2:y": {"name": "浦东-2", "host": "b", "final": True, "stats": blocked},
        "w3@c:3:z": {"name": "浦东-3", "host": "c", "final": False, "lost": True, "stats": clean},
        "w4@d:4:z": {"name": "浦东-4", "host": "d", "final": True, "stats": {"distributed/bad_entries": 2}},
    }
    with store.opened(db_path) as db:
        sweep_id = store.start_sweep(db, ["gongyou"], "sandbox")
    stats = record_distributed(SweepOptions(db=db_path), project_settings(), sweep_id, "finished", "", records,
                               {"certwatch/queries": 8}, {})
    with store.opened(db_path) as db:
        rows = {r["name"]: r for r in store.sweep_workers(db, sweep_id)}
        (platform,) = store.sweep_platforms(db, sweep_id)
        alerts = sorted((a["kind"], a["platform"]) for a in store.list_alerts(db, sweep_id))
        sweep = store.get_sweep(db, sweep_id)
    # Merged, 12 of 60 responses were refusals: the platform as a whole is blocked too.
    assert stats["certwatch/requests/gongyou"] == 60 and stats["certwatch/items_judged"] == 24
    assert sweep["requests"] == 60 and sweep["items"] == 0        # listings are counted in the store, not by workers
    assert platform["status"] == "blocked"
    assert alerts == [("blocked", "gongyou"), ("worker_blocked", "gongyou"), ("worker_lost", "")]
    assert rows["浦东-1"]["status"] == "ok" and rows["浦东-1"]["items"] == 12
    assert rows["浦东-2"]["status"] == "blocked" and rows["浦东-2"]["blocked"] == 12
    assert [p["status"] for p in rows["浦东-2"]["platforms"]] == ["blocked"] and "拦截状态码" in rows["浦东-2"]["note"]
    assert rows["浦东-3"]["status"] == "lost" and "放回队列" in rows["浦东-3"]["note"]
    assert rows["浦东-4"]["status"] == "idle" and "平台配置" in rows["浦东-4"]["note"]


def test_writer_whose_redis_goes_away_stops_with_a_chinese_error(tmp_path, db_path):
    """Redis stopped under a running writer: one Chinese line and exit code 3
    (a supervisor restarts it), not redis-py's traceback."""
    import shutil
    import socket
    import time

    redis_py = redis
    from helpers import ROOT
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([shutil.which("redis-server") or "/usr/bin/redis-server", "--port", str(port),
                               "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis_py.Redis.from_url(url)
    log = tmp_path / "ingest.log"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis_py.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, "redis-server 未能启动"
                time.sleep(0.02)
        store.connect(db_path).close()
        with open(log, "w", encoding="utf-8") as out:
            writer = subprocess.Popen([sys.executable, "-m", "crawler.cli", "ingest", "--redis", url, "--db", db_path],
                                      cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
        while "已启动" not in log.read_text(encoding="utf-8"):
            assert writer.poll() is None and time.monotonic() < deadline + 40, log.read_text(encoding="utf-8")
            time.sleep(0.05)
        try:
            client.shutdown(nosave=True)
        except redis_py.ConnectionError:
            pass
        code = writer.wait(timeout=120)
    finally:
        if server.poll() is None:
            server.kill()
        server.wait()
    text = log.read_text(encoding="utf-8")
    assert code == 3 and "与 Redis 的连接中断" in text, text[-2000:]
    assert "Traceback" not in text
