"""Distributed sweeps: pages/s with 1, 2 and 4 workers on one sandbox, with
the CPU each role used, beside a single-machine sweep of the same scope;
and Redis memory per 100,000 queued requests.

    .venv/bin/python bench/bench_distributed.py [--scale 20] [--pages 10] [--keyword 电工证]
                                                [--workers 1,2,4] [--queued 100000]

1. starts a redis-server (temp folder, no persistence) and the sandbox
   with a scaled world (--scale copies of every listing);
2. single: `certwatch sweep` (no Redis) over the HTTP platforms;
3. for each worker count N: one `certwatch ingest`, N `certwatch worker
   --once` and `certwatch sweep --redis` on a fresh store and key prefix;
   pages/s = responses / the sweep command's wall time (seeding, crawling,
   writing and recording: what an operator waits for; workers and writer
   are started and ready before the clock starts);
4. CPU: user+sys seconds of every process during the sweep (the sweep
   command's whole life; workers and writer without their start-up), the
   sandbox's and redis-server's from /proc, and the share of the machine's
   cores used. A single-machine sweep fetches pages reachable from both of
   its spiders twice (two dupefilters), so it shows more pages for the same
   listings;
5. memory: --queued requests (detail pages of a real profile, encoded as
   workers queue them) pushed into a sweep's queue and dupefilter; Redis's
   used_memory before and after.

All processes share this machine: with 2 cores, N workers compete with
each other, the sandbox (one process), Redis and the writer, so the gain
from more workers is bounded by the cores, not by certwatch.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLATFORMS = "zhaozhao,gongyou,fenleixinxi"      # HTTP platforms (no browser)
TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """user+sys seconds of a running process (and its reaped children)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / TICKS


def start_redis(folder: str) -> tuple[subprocess.Popen, str]:
    import redis
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", folder], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def certwatch(*args, env=None, log=None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crawler.cli", *map(str, args)], cwd=ROOT,
                            stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})


def reap(proc: subprocess.Popen) -> float:
    """Wait for ``proc``; its CPU seconds (user+sys, children included)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def sweep_stats(db: str) -> dict:
    """The sweep's record; ``listings``: distinct listings it saw (a single
    machine's ``items`` counts a listing once per spider that judged it)."""
    from pipelines import store
    with store.opened(db) as conn:
        (row,) = store.list_sweeps(conn, 1)
        sweep = store.get_sweep(conn, row["id"])
        sweep["listings"] = store.sweep_counts(conn, row["id"])["items"]
        return sweep


def run_single(sandbox: str, folder: str, scope: list[str]) -> dict:
    db = os.path.join(folder, "single.db")
    t0 = time.perf_counter()
    proc = certwatch("sweep", "--db", db, "--sandbox", sandbox, *scope, "--quiet")
    cpu = reap(proc)
    wall = time.perf_counter() - t0
    sweep = sweep_stats(db)
    return {"workers": 0, "wall": wall, "responses": sweep["responses"], "items": sweep["listings"],
            "cpu": {"sweep": cpu}}


def run_distributed(n: int, sandbox: str, redis_url: str, folder: str, scope: list[str], others: dict) -> dict:
    import redis
    from pipelines import store
    prefix = f"bench{n}"
    env = {"CERTWATCH_REDIS_PREFIX": prefix}
    db = os.path.join(folder, f"dist{n}.db")
    store.connect(db).close()
    client = redis.Redis.from_url(redis_url)
    ingest = certwatch("ingest", "--redis", redis_url, "--db", db, "--quiet", env=env)
    workers = [certwatch("worker", "--redis", redis_url, "--sandbox", sandbox, "--name", f"w{i}", "--once",
                         env=env) for i in range(n)]
    deadline = time.monotonic() + 120
    while client.scard(f"{prefix}:workers") < n:         # all ready before the clock starts
        if time.monotonic() > deadline:
            raise SystemExit("workers did not start")
        time.sleep(0.05)
    before = {name: proc_cpu(pid) for name, pid in others.items()}
    started = sum(proc_cpu(w.pid) for w in workers)      # their start-up is not the sweep's
    ingest_started = proc_cpu(ingest.pid)
    t0 = time.perf_counter()
    sweep = certwatch("sweep", "--db", db, "--sandbox", sandbox, "--redis", redis_url, *scope, "--quiet", env=env)
    cpu = {"sweep": reap(sweep)}
    wall = time.perf_counter() - t0
    # Read before they are reaped (a finished worker is a zombie until then): their shut-down is not the sweep's.
    cpu["workers"] = sum(proc_cpu(w.pid) for w in workers) - started
    cpu.update({name: proc_cpu(pid) - before[name] for name, pid in others.items()})
    cpu["ingest"] = proc_cpu(ingest.pid) - ingest_started
    for w in workers:                                    # --once: they leave when the sweep is done
        reap(w)
    ingest.send_signal(signal.SIGTERM)
    reap(ingest)
    record = sweep_stats(db)
    with store.opened(db) as conn:
        rows = store.sweep_workers(conn, record["id"])
    client.close()
    return {"workers": n, "wall": wall, "responses": record["responses"], "items": record["listings"],
            "status": record["status"], "per_worker": [r["requests"] for r in rows], "cpu": cpu}


def queue_memory(redis_url: str, count: int) -> dict:
    """Redis bytes per queued request and per fingerprint, as a worker queues them."""
    import redis
    from crawler.distributed import serializer
    from crawler.distributed.keys import Keys
    from crawler.distributed.worker import WorkerSpider
    from pipelines.profiles import load_profiles
    from scrapy_redis.dupefilter import RFPDupeFilter
    client = redis.Redis.from_url(redis_url)
    keys = Keys("memory")
    spider = WorkerSpider()
    spider.profiles = load_profiles()
    profile = spider.profiles["gongyou"]
    df = RFPDupeFilter(client, keys.sweep(1, "dupefilter"))
    client.execute_command("MEMORY", "PURGE")
    base = int(client.info("memory")["used_memory"])
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        req = spider.search_request(profile, "电工证 代办", 1).replace(
            url=f"http://bbs.gongyou.cn/thread-{100000 + n}-1.html", callback=spider.parse_detail)
        req.meta.update({"cw_sweep": 1, "depth": 1})
        pipe.zadd(keys.sweep(1, "requests"), {serializer.dumps(req.to_dict(spider=spider)): -req.priority})
        if n % 1000 == 999:
            pipe.execute()
    pipe.execute()
    queued = int(client.info("memory")["used_memory"])
    for n in range(count):
        req = spider.search_request(profile, "x", 1).replace(url=f"http://bbs.gongyou.cn/thread-{100000 + n}-1.html")
        pipe.sadd(df.key, df.request_fingerprint(req))
        if n % 1000 == 999:
            pipe.execute()
    pipe.execute()
    seen = int(client.info("memory")["used_memory"])
    sample = client.zrange(keys.sweep(1, "requests"), 0, 0)[0]
    client.delete(keys.sweep(1, "requests"), df.key)
    client.close()
    return {"count": count, "queue": queued - base, "dupefilter": seen - queued, "encoded": len(sample)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=20)
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--keyword", default="电工证")
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--queued", type=int, default=100_000)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    from crawler.sandbox import process
    scope = ["--platforms", PLATFORMS, "--keyword", args.keyword, "--pages", str(args.pages)]
    with tempfile.TemporaryDirectory() as folder:
        redis_proc, redis_url = start_redis(folder)
        sandbox_proc, sandbox = process.start(scale=args.scale)
        try:
            others = {"sandbox": sandbox_proc.pid, "redis": redis_proc.pid}
            before = {name: proc_cpu(pid) for name, pid in others.items()}
            runs = [run_single(sandbox, folder, scope)]
            runs[0]["cpu"].update({name: proc_cpu(pid) - before[name] for name, pid in others.items()})
            for n in (int(x) for x in args.workers.split(",")):
                runs.append(run_distributed(n, sandbox, redis_url, folder, scope, others))
            memory = queue_memory(redis_url, args.queued) if args.queued else None
        finally:
            process.stop(sandbox_proc)
            redis_proc.terminate()
            redis_proc.wait()
    cores = os.cpu_count() or 1
    print(f"world: scale {args.scale}, platforms {PLATFORMS}, keyword {args.keyword}, page limit {args.pages}; "
          f"{cores} cores")
    print(f"load average at start: {load:.1f} (other processes on the machine compete for the same cores)")
    print(f"{'run':<14}{'pages':>7}{'listings':>9}{'wall s':>8}{'pages/s':>9}{'CPU ms/page':>12}  "
          "CPU s during the sweep (share of the machine)")
    for r in runs:
        label = "single machine" if not r["workers"] else f"{r['workers']} worker" + ("s" if r["workers"] > 1 else "")
        cpu_total = sum(r["cpu"].values())
        parts = ", ".join(f"{k} {v:.1f}" for k, v in r["cpu"].items())
        print(f"{label:<14}{r['responses']:>7}{r['items']:>9}{r['wall']:>8.1f}{r['responses'] / r['wall']:>9.0f}"
              f"{1000 * cpu_total / max(1, r['responses']):>12.1f}  "
              f"{cpu_total:.1f} s = {100 * cpu_total / (r['wall'] * cores):.0f}% ({parts})"
              + (f"; requests per worker {r['per_worker']}" if r.get("per_worker") else ""))
    if memory:
        per = memory["queue"] / memory["count"]
        print(f"Redis memory: {memory['count']:,} queued requests {memory['queue'] / 2**20:.1f} MiB "
              f"({per:.0f} B each, {memory['encoded']} B encoded); their fingerprints "
              f"{memory['dupefilter'] / 2**20:.1f} MiB; per 100k queued: "
              f"{(memory['queue'] + memory['dupefilter']) * 100_000 / memory['count'] / 2**20:.1f} MiB")
    print(json.dumps({"runs": runs, "memory": memory}, ensure_ascii=False))


if __name__ == "__main__":
    main()
