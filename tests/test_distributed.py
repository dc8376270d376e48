"""Distributed sweeps end to end, run the way operators run them: a real
Redis (conftest.redis_url), the sandbox, `certwatch worker` processes,
one `certwatch ingest` and `certwatch sweep --redis`. Each test keeps to
its own key prefix. Tiny scopes: one forum, one keyword, two pages."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest
import redis

from crawler.sandbox.world import world
from crawler.spiders.base import load_queries
from helpers import ROOT, cli, run_cli
from pipelines import store

SCOPE = ("--platforms", "gongyou", "--keyword", "焊工", "--pages", "2", "--quiet")


def certwatch(log_path, *args, env: dict) -> subprocess.Popen:
    """`certwatch ARGS` in the background, its output in ``log_path``."""
    log = open(log_path, "w", encoding="utf-8")
    try:
        return subprocess.Popen([sys.executable, "-m", "crawler.cli", *map(str, args)], cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    finally:
        log.close()


def stop_all(procs) -> None:
    """SIGTERM to every process at once (workers finish what they hold), then wait for each."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(condition, what: str, procs=(), timeout: float = 120):
    """Poll ``condition`` until true; fail when a process in ``procs`` ends or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        for proc, log in procs:
            if proc.poll() is not None:
                pytest.fail(f"{what}：进程提前退出（{proc.returncode}）\n{open(log, encoding='utf-8').read()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"等待超时：{what}")
        time.sleep(0.05)


def findings(db_path) -> dict[str, tuple]:
    with store.opened(db_path) as db:
        return {f["url"]: (f["platform"], f["title"], f["text"], f["flagged"], f["score"], f["family"])
                for f in store.iter_findings(db)}


def sweep_rows(db_path) -> tuple[list[dict], int]:
    with store.opened(db_path) as db:
        sweeps = [store.get_sweep(db, s["id"]) for s in store.list_sweeps(db)]
        links = db.execute("SELECT COUNT(*) FROM finding_sweeps").fetchone()[0]
    return sweeps, links


def expected_urls(db_path) -> set[str]:
    return world().reachable(load_queries(str(db_path), "焊工"), pages=2, platforms=("forum",))


@dataclass
class Fleet:
    db: str
    env: dict
    folder: object


@pytest.fixture(scope="module")
def fleet(redis_url, sandbox, tmp_path_factory):
    """One writer and two workers (prefix "eq"), running for the module."""
    folder = tmp_path_factory.mktemp("fleet")
    db = str(folder / "city.db")
    store.connect(db).close()
    env = {"CERTWATCH_REDIS_PREFIX": "eq"}
    procs = [(certwatch(folder / "ingest.log", "ingest", "--redis", redis_url, "--db", db, "--batch", "5", env=env),
              folder / "ingest.log")]
    for name in ("w1", "w2"):
        log = folder / f"{name}.log"
        procs.append((certwatch(log, "worker", "--redis", redis_url, "--sandbox", sandbox, "--name", name,
                                "--set", "CONCURRENT_REQUESTS=4", env=env), log))
    client = redis.Redis.from_url(redis_url)
    wait_for(lambda: client.scard("eq:workers") == 2, "两个 worker 就绪", procs)
    yield Fleet(db, env, folder)
    stop_all([proc for proc, _ in procs])
    client.close()


def test_two_workers_and_one_writer_find_what_one_machine_finds(fleet, sandbox, redis_url, tmp_path):
    single_db = tmp_path / "single.db"
    single = certwatch(tmp_path / "single.log", "sweep", "--db", single_db, "--sandbox", sandbox, *SCOPE, env={})
    shown = [a for a in SCOPE if a != "--quiet"]          # progress on: stderr is a pipe here
    dist = run_cli("sweep", "--db", fleet.db, "--sandbox", sandbox, "--redis", redis_url, *shown, env=fleet.env)
    assert single.wait(timeout=300) == 0, (tmp_path / "single.log").read_text(encoding="utf-8")[-3000:]
    assert dist.returncode == 0, dist.stderr[-3000:]
    assert "工友论坛" in dist.stdout and "完成" in dist.stdout
    # Not a terminal: one plain line per step, no carriage returns (docs/monitor.md).
    assert "\r" not in dist.stderr
    assert any(line.startswith("分布式巡查 #") and "已写入" in line and "已用" in line
               for line in dist.stderr.splitlines()), dist.stderr[-2000:]

    expected = expected_urls(single_db)
    one, many = findings(single_db), findings(fleet.db)
    assert set(many) == expected and len(expected) >= 10
    assert many == one                     # same listings, texts and judgements

    (mine,), links = sweep_rows(fleet.db)
    (theirs,), _ = sweep_rows(single_db)
    stats = mine["stats"]
    assert mine["status"] == "finished" and mine["mode"] == "sandbox"
    assert links == len(expected) and mine["items"] == len(expected) and mine["flagged"] == theirs["flagged"]
    # Every page once: the workers together made the single machine's requests.
    assert mine["requests"] == theirs["requests"]
    assert stats["certwatch/detail_pages/gongyou"] == theirs["stats"]["certwatch/detail_pages/gongyou"]
    assert stats["distributed/items_ingested"] == stats["distributed/items_pushed"] == len(expected)
    assert stats["distributed/workers"] == 2
    with store.opened(fleet.db) as db:
        health = store.sweep_platforms(db, mine["id"])
        workers = store.sweep_workers(db, mine["id"])
    assert [(h["platform"], h["status"]) for h in health] == [("gongyou", "ok")] and health[0]["canary_results"] > 0
    assert 0 < health[0]["duration"] <= max(w["seconds"] for w in workers)      # not 0.0s: the workers' time
    assert sorted(w["name"] for w in workers) == ["w1", "w2"]
    ready = (fleet.folder / "w1.log").read_text(encoding="utf-8")
    assert "已就绪（沙箱模式）" in ready and "WARNING" not in ready     # the operator's line, not a log record
    assert sum(w["requests"] for w in workers) == mine["requests"]
    assert all(w["status"] in ("ok", "idle") and w["final"] for w in workers)


def test_a_schedule_sweeps_through_redis(fleet, sandbox, redis_url):
    db = fleet.db
    assert run_cli("schedule", "add", "--db", db, "--name", "全市夜巡", "--cron", "0 2 * * *",
                   "--platforms", "gongyou", "--pages", "1", "--no-evidence",
                   "--set", "CERTWATCH_KEYWORD_FILTER=焊工", "--set", f"CERTWATCH_REDIS_URL={redis_url}",
                   "--set", "CERTWATCH_REDIS_PREFIX=eq").returncode == 0
    proc = run_cli("schedule", "run", "全市夜巡", "--db", db, "--sandbox", sandbox)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with store.opened(db) as db_:
        sweep = store.list_sweeps(db_, 1)[0]
        workers = store.sweep_workers(db_, sweep["id"])
        seen = {f["url"] for f in store.findings_of_sweep(db_, sweep["id"])}
    assert sweep["schedule_id"] and sweep["status"] == "finished"
    assert len(workers) == 2
    assert seen == world().reachable(load_queries(db, "焊工"), pages=1, platforms=("forum",))


def test_killed_worker_and_killed_writer_lose_and_duplicate_nothing(redis_url, sandbox, tmp_path, capsys):
    env = {"CERTWATCH_REDIS_PREFIX": "kill"}
    db = str(tmp_path / "kill.db")
    store.connect(db).close()
    client = redis.Redis.from_url(redis_url)
    counts = lambda: {k.decode(): int(v) for k, v in client.hgetall("kill:sweep:1:counts").items()}  # noqa: E731
    logs = {name: tmp_path / f"{name}.log" for name in ("a", "b", "ingest1", "ingest2", "sweep")}
    # Worker a is slow, so it is killed with requests in hand.
    a = certwatch(logs["a"], "worker", "--redis", redis_url, "--sandbox", sandbox, "--name", "a",
                  "--set", "DOWNLOAD_DELAY=0.15", "--set", "CONCURRENT_REQUESTS_PER_DOMAIN=2", env=env)
    ingest1 = certwatch(logs["ingest1"], "ingest", "--redis", redis_url, "--db", db, "--batch", "2", env=env)
    others, sweep = [], None
    try:
        wait_for(lambda: client.scard("kill:workers") == 1 and client.exists("kill:ingest:lock"),
                 "worker a 与写入进程就绪", [(a, logs["a"]), (ingest1, logs["ingest1"])])
        sweep = certwatch(logs["sweep"], "sweep", "--redis", redis_url, "--db", db, "--sandbox", sandbox, *SCOPE,
                          env=env)
        started = [(a, logs["a"]), (ingest1, logs["ingest1"]), (sweep, logs["sweep"])]
        wait_for(lambda: counts().get("ingested", 0) >= 2, "写入进程写入第一批", started)
        ingest1.send_signal(signal.SIGKILL)
        ingest1.wait(timeout=30)
        wait_for(lambda: counts().get("pushed", 0) >= 6 and any(client.hlen(f"kill:inflight:{w.decode()}")
                                                                 for w in client.smembers("kill:workers")),
                 "worker a 手中有请求", [(a, logs["a"]), (sweep, logs["sweep"])])
        a.send_signal(signal.SIGKILL)
        a.wait(timeout=30)
        others = [certwatch(logs["b"], "worker", "--redis", redis_url, "--sandbox", sandbox, "--name", "b", env=env),
                  certwatch(logs["ingest2"], "ingest", "--redis", redis_url, "--db", db, "--batch", "2", env=env)]
        assert sweep.wait(timeout=300) == 0, logs["sweep"].read_text(encoding="utf-8")[-3000:]
    finally:
        stop_all([p for p in (a, ingest1, sweep, *others) if p is not None])
        client.close()

    expected = expected_urls(db)
    urls = findings(db)
    (record,), links = sweep_rows(db)
    assert set(urls) == expected and links == len(expected)
    assert record["status"] == "finished" and record["items"] == len(expected)
    stats = record["stats"]
    assert stats["distributed/requeued"] >= 1                     # a's requests went back to the queue
    assert stats["distributed/items_ingested"] == stats["distributed/items_pushed"] >= len(expected)
    with store.opened(db) as db_:
        workers = {w["name"]: w for w in store.sweep_workers(db_, record["id"])}
        alerts = [a_["kind"] for a_ in store.list_alerts(db_, record["id"])]
        logged = db_.execute("SELECT COUNT(*), COUNT(DISTINCT entry_id) FROM ingest_log").fetchone()
    assert workers["a"]["status"] == "lost" and workers["b"]["status"] == "ok"
    assert "worker_lost" in alerts
    assert logged[0] == logged[1] == stats["distributed/items_ingested"]
    code, out, _ = cli(capsys, "workers", "--db", db)
    assert code == 1 and "中途失联" in out and "正常" in out
    assert "worker 已停止（收到停止信号）" in logs["b"].read_text(encoding="utf-8")     # SIGTERM, in Chinese
