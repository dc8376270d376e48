"""``certwatch sweep --redis``: a sweep run by the workers of a deployment.

On the writer's machine (it reads the keyword library and records the
sweep; it never writes findings — ``certwatch ingest`` does):

1. takes the coordinator lock (one distributed sweep at a time; a second
   waits), clears what abandoned sweeps left in Redis, opens the sweep row;
2. seeds the sweep: its info (mode, platforms, page limit, the keyword
   words the judge segments with) and one start entry per platform × query
   (plus each platform's canary), then marks it active;
3. waits until the sweep is drained (no start entry, queued or in-flight
   request left: one script) and every item pushed has been committed by
   the writer, requeueing the work of workers that died meanwhile;
4. marks the sweep done, collects each worker's final stats, records the
   sweep with the merged stats (counts of listings from the store, so
   re-sent items never count twice), per-platform health (as a single-
   machine sweep) and per-worker health (blocked platforms, lost workers),
   and clears the sweep's keys.

A sweep with no progress for ``CERTWATCH_REDIS_STALL_TIMEOUT`` seconds
(no worker, no writer) fails; SIGTERM/SIGINT interrupt it (workers stop
taking its requests; items already judged are still written).
"""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time

from crawler.distributed import fleet
from crawler.distributed.keys import DistributedError, Keys, connect, new_owner
from crawler.distributed.scripts import Scripts
from crawler.distributed.worker import WorkerSpider
from crawler.progress import Progress
from crawler.spiders.base import queries_from_library, select_profiles
from crawler.sweep import SweepResult, _merge, project_settings
from keywords import platform_queries, userdict_words
from pipelines import store
from pipelines.profiles import load_profiles

log = logging.getLogger(__name__)

POLL = 0.2               # seconds between two looks at the sweep
LOCK_TTL = 30.0          # the coordinator's lock and the active mark live this long unrenewed
FINAL_WAIT = 15.0        # seconds to wait for live workers' final stats
SEED_CHUNK = 1000


def seed_entries(profiles: dict, platforms: list[str], sandbox: bool, queries: list[str],
                 canary: bool = True) -> tuple[list[dict], dict]:
    """Start entries (platform × query, canaries first) and the seeding stats."""
    entries, stats = [], {}
    chosen = select_profiles(profiles, WorkerSpider.kinds, platforms, sandbox)
    for profile in chosen:
        first = int(profile.search.get("first_page", 1))
        if profile.canary and canary:
            entries.append({"platform": profile.name, "canary": True, "page": first})
        kept, skipped = platform_queries(queries, profile.max_query_length)
        if skipped:
            stats[f"certwatch/queries_too_long/{profile.name}"] = skipped
        seen = set()
        for query in kept:
            if query not in seen:
                seen.add(query)
                entries.append({"platform": profile.name, "query": query, "page": first})
    stats["certwatch/queries"] = len(queries)
    stats["certwatch/platforms"] = ",".join(p.name for p in chosen)
    return entries, stats


class Coordinator:
    def __init__(self, client, keys: Keys, opts, settings):
        self.client = client
        self.keys = keys
        self.scripts = Scripts(client)
        self.opts = opts
        self.settings = settings
        self.owner = new_owner("sweep")
        self.stall = settings.getfloat("CERTWATCH_REDIS_STALL_TIMEOUT", 600)
        self.stopping = threading.Event()
        self.sweep_id = 0
        self.active = b""
        self.told: set[str] = set()
        self.shown = None          # the progress display while waiting

    def say(self, key: str, message: str) -> None:
        """A message for the operator, once per key."""
        if key not in self.told:
            self.told.add(key)
            if self.shown is not None:
                self.shown.note(message)
            else:
                print(message, file=sys.stderr, flush=True)

    # -- 1. lock and clean
    def take(self) -> None:
        holder = fleet.take_lock(self.client, self.scripts, self.keys.coordinator, self.owner, LOCK_TTL,
                                 wait=self.stall,
                                 on_wait=lambda h: self.say("wait", f"另一个分布式巡查（{h}）正在进行，等待其结束…"),
                                 should_stop=self.stopping.is_set)
        if holder and self.stopping.is_set():
            raise DistributedError("已中止：未开始巡查")
        if holder:
            raise DistributedError(f"另一个分布式巡查（{holder}）一直在进行，放弃本次巡查")
        for raw in self.client.smembers(self.keys.sweeps):       # left by coordinators that died
            old = int(raw)
            self.client.delete(*self.keys.sweep_keys(old))
            self.client.srem(self.keys.sweeps, raw)
            log.warning("清除了中断的分布式巡查 #%s 在 Redis 中的剩余任务", old)

    # -- 2. seed
    def seed(self, sweep_id: int, entries: list[dict], info: dict) -> None:
        k = self.keys
        self.sweep_id = sweep_id
        pipe = self.client.pipeline(transaction=True)
        pipe.sadd(k.sweeps, sweep_id)
        pipe.set(k.sweep(sweep_id, "info"), json.dumps(info, ensure_ascii=False))
        pipe.hset(k.sweep(sweep_id, "counts"), mapping={"pushed": 0, "ingested": 0, "seeded": len(entries)})
        for start in range(0, len(entries), SEED_CHUNK):
            pipe.rpush(k.sweep(sweep_id, "starts"),
                       *[json.dumps(e, ensure_ascii=False) for e in entries[start:start + SEED_CHUNK]])
        self.active = json.dumps({"sweep": sweep_id, "owner": self.owner}).encode()
        pipe.set(k.active, self.active, px=int(LOCK_TTL * 1000))
        pipe.execute()

    # -- 3. wait
    def snapshot(self) -> dict:
        k, s = self.keys, self.sweep_id
        pipe = self.client.pipeline(transaction=False)
        pipe.llen(k.sweep(s, "starts"))
        pipe.zcard(k.sweep(s, "requests"))
        pipe.hgetall(k.sweep(s, "counts"))
        starts, queued, counts = pipe.execute()
        counts = {fleet._text(a): int(b) for a, b in counts.items()}
        inflight = 0
        for w in fleet.registered(self.client, k):
            inflight += sum(1 for t in self.client.hkeys(k.inflight(w))
                            if fleet._text(t).split("|")[1:2] == [str(s)])
        return {"starts": starts, "queued": queued, "inflight": inflight,
                "pushed": counts.get("pushed", 0), "ingested": counts.get("ingested", 0),
                "requeued": counts.get("requeued", 0)}

    def keep_alive(self) -> None:
        k = self.keys
        if not fleet.renew_lock(self.scripts, k.coordinator, self.owner, LOCK_TTL):
            raise DistributedError("协调锁已丢失（本进程停顿过久？），巡查中止")
        if not fleet.renew_lock(self.scripts, k.active, self.active.decode(), LOCK_TTL):
            self.client.set(k.active, self.active, px=int(LOCK_TTL * 1000))

    def wait(self) -> tuple[str, str]:
        """Until drained and written: (status, note). Progress is the common
        display (crawler/progress.py): a bar on a terminal, plain lines elsewhere."""
        with Progress(f"分布式巡查 #{self.sweep_id}", enabled=bool(self.opts.progress), min_interval=1.0) as shown:
            self.shown = shown
            try:
                return self._wait(shown)
            finally:
                self.shown = None

    def _wait(self, shown: Progress) -> tuple[str, str]:
        last, last_change = None, time.monotonic()
        while True:
            if self.stopping.is_set():
                return "interrupted", "巡查被中止"
            self.keep_alive()
            fleet.requeue_dead(self.client, self.keys, self.scripts)
            drained = bool(self.scripts.drained(keys=[self.keys.workers], args=[self.keys.prefix, self.sweep_id]))
            snap = self.snapshot()
            if snap != last:
                shown.update(待发=snap["starts"], 排队=snap["queued"], 进行中=snap["inflight"],
                             已判定=snap["pushed"], 已写入=snap["ingested"])
            if drained and snap["ingested"] >= snap["pushed"]:
                return "finished", ""
            live = [w for w in fleet.registered(self.client, self.keys)
                    if fleet.is_alive(self.client, self.keys, w)]
            if not live and not drained:
                self.say("no_workers", "没有在线的 worker：请在采集机器上运行 certwatch worker --redis …")
            if drained:
                self.say("writer", "采集已完成，等待写入进程 certwatch ingest 写完…")
            if snap != last:
                last, last_change = snap, time.monotonic()
            elif time.monotonic() - last_change > self.stall:
                return "failed", f"{int(self.stall)} 秒没有进展（worker 或写入进程未运行？）"
            time.sleep(POLL)

    # -- 4. record
    def finals(self, wait: bool = True) -> dict[str, dict]:
        """Each worker's stats for the sweep: live workers are asked for
        their final numbers (state "done"); a dead worker's last ones stand."""
        k = self.keys
        self.client.set(k.sweep(self.sweep_id, "state"), "done")
        deadline = time.monotonic() + (FINAL_WAIT if wait else 0)
        while True:
            records = {}
            for worker_id, raw in self.client.hgetall(k.sweep(self.sweep_id, "stats")).items():
                try:
                    records[fleet._text(worker_id)] = json.loads(raw)
                except ValueError:
                    continue
            waiting = [w for w, r in records.items() if not r.get("final") and fleet.is_alive(self.client, k, w)]
            if not waiting or time.monotonic() >= deadline:
                for w, r in records.items():
                    r["lost"] = not r.get("final") and w not in waiting
                return records
            time.sleep(POLL)

    def clear(self, finished: bool) -> None:
        k = self.keys
        fleet.release_lock(self.scripts, k.active, self.active.decode())
        if finished:
            self.client.delete(*k.sweep_keys(self.sweep_id))
            self.client.srem(k.sweeps, self.sweep_id)
        else:          # stop the work now; the next coordinator clears the rest
            self.client.delete(k.sweep(self.sweep_id, "starts"), k.sweep(self.sweep_id, "requests"))
        fleet.release_lock(self.scripts, k.coordinator, self.owner)


def sweep_settings(opts):
    """Project settings with the sweep's own on top; as in a single-machine
    sweep, ``--set`` (or a schedule's settings) wins over the options."""
    settings = project_settings()
    values = {"CERTWATCH_PLATFORMS": ",".join(opts.platforms), "CERTWATCH_KEYWORD_FILTER": opts.keyword_filter,
              "CERTWATCH_MAX_PAGES": opts.max_pages, **opts.extra_settings}
    for key, value in values.items():
        settings.set(key, value, priority="cmdline")
    return settings


def run_distributed(opts, redis_url: str) -> SweepResult:
    """The distributed counterpart of crawler.sweep.run (same options)."""
    from crawler.distributed.report import record_distributed
    settings = sweep_settings(opts)
    client = connect(redis_url)
    keys = Keys(settings.get("CERTWATCH_REDIS_PREFIX") or "certwatch")
    coordinator = Coordinator(client, keys, opts, settings)
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: coordinator.stopping.set())
    platforms = [p for p in str(settings.get("CERTWATCH_PLATFORMS") or "").split(",") if p]
    keyword_filter = settings.get("CERTWATCH_KEYWORD_FILTER") or ""
    max_pages = settings.getint("CERTWATCH_MAX_PAGES", 0)
    sweep_id, entries, seed_stats = 0, [], {}
    try:
        profiles = load_profiles(opts.profiles_dir or None)
        coordinator.take()
        mode = "sandbox" if opts.sandbox else "real"
        with store.opened(opts.db) as db:
            store.mark_abandoned_sweeps(db)
            queries = queries_from_library(db, keyword_filter, settings.get("CERTWATCH_INDUSTRY", ""),
                                           settings.get("CERTWATCH_DEPARTMENT", ""),
                                           settings.getbool("CERTWATCH_QUERY_VARIANTS", False))
            words = userdict_words(store.query_keywords(db, active=True))
            sweep_id = store.start_sweep(db, platforms or ["全部"], mode, keyword_filter, opts.schedule_id)
        entries, seed_stats = seed_entries(profiles, platforms, bool(opts.sandbox), queries,
                                           settings.getbool("CERTWATCH_CANARY", True))
        info = {"sweep": sweep_id, "mode": mode, "platforms": platforms, "max_pages": max_pages,
                "keyword_filter": keyword_filter, "userdict": words}
        coordinator.seed(sweep_id, entries, info)
        if opts.progress:
            print(f"分布式巡查 #{sweep_id}：已发布 {len(entries)} 个起始任务（{seed_stats['certwatch/platforms']}）",
                  file=sys.stderr, flush=True)
        status, note = coordinator.wait()
        records = coordinator.finals(wait=status == "finished")
        counts = coordinator.snapshot()
        coordinator.clear(status == "finished")
    except BaseException:
        _abandon(coordinator, opts.db, sweep_id)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    stats = record_distributed(opts, settings, sweep_id, status, note, records, seed_stats,
                               {"distributed/seeded": len(entries), "distributed/items_pushed": counts["pushed"],
                                "distributed/items_ingested": counts["ingested"],
                                "distributed/requeued": counts["requeued"]})
    return SweepResult(sweep_id, status, stats)


def _abandon(coordinator: Coordinator, db_path: str, sweep_id: int) -> None:
    """An error stopped the coordinator: free Redis and mark the sweep failed."""
    import redis
    try:
        if sweep_id:
            coordinator.clear(False)
        else:
            fleet.release_lock(coordinator.scripts, coordinator.keys.coordinator, coordinator.owner)
    except redis.RedisError:
        pass
    if sweep_id:
        with store.opened(db_path) as db:
            store.finish_sweep(db, sweep_id, "failed", {"distributed/note": "协调进程出错"})
