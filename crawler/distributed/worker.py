"""``certwatch worker``: the same spiders, fed by Redis, judging without a store.

One Scrapy crawl per worker process, for as long as it runs: it takes the
active sweep's start entries and queued requests (SweepScheduler), judges
pages with the usual pipelines (validate → classify → site judge: pure
functions of the page, no database) and sends judged items to the Redis
stream (StreamPipeline) stamped with their sweep. It needs no database.

``WorkerExtension`` keeps the worker's heartbeat, marks a request done
when Scrapy has fully handled it (items sent, children queued), publishes
the worker's stats for the sweep it works on, polls Redis while idle and
never lets an idle worker close (unless ``--once`` and its sweep is done).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field

from scrapy import signals
from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import DontCloseSpider, NotConfigured

from crawler.distributed.fleet import requeue_dead
from crawler.distributed.keys import new_owner
from crawler.distributed.state import worker_state
from crawler.logfile import spare_scrapy_records
from crawler.spiders.search import SearchSpider
from crawler.sweep import _LEVELS, apply_run_settings, project_settings

log = logging.getLogger(__name__)

IDLE_POLL = 0.2     # seconds between two looks at the queue while idle
STATS_TTL = 7 * 86400


class WorkerSpider(SearchSpider):
    """Search engines and platforms in one spider: every request a sweep's
    start entries lead to is one of its callbacks."""

    name = "worker"
    kinds = ("search_engine", "marketplace", "classifieds", "forum")

    async def start(self):
        """Nothing of its own: the work comes from Redis."""
        return
        yield  # noqa: unreachable (makes this an async generator)

    def request_from_start(self, entry: dict):
        """The first search page (or the canary) of one start entry."""
        if not isinstance(entry, dict):
            raise ValueError("起始任务应为对象")
        profile = self.profiles.get(str(entry.get("platform") or ""))
        if profile is None:
            raise ValueError(f"本 worker 没有平台配置 {entry.get('platform')!r}（请同步 --profiles 目录）")
        page = int(entry.get("page") or profile.search.get("first_page", 1))
        if entry.get("canary"):
            return self.canary_request(profile, page)
        query = str(entry.get("query") or "")
        if not query.strip():
            raise ValueError("起始任务缺少查询词")
        return self.search_request(profile, query, page)

    def use_sweep(self, sweep_id: int, info: dict) -> None:
        self.max_pages_arg = int(info.get("max_pages") or 0)


class SweepStampMiddleware:
    """Spider middleware: what a page leads to belongs to the page's sweep —
    requests carry ``cw_sweep`` (never the page's in-flight token), items
    carry ``sweep_id``."""

    @staticmethod
    def _stamp(response, out):
        sweep_id = response.meta.get("cw_sweep")
        if isinstance(out, dict):
            out["sweep_id"] = sweep_id
        elif hasattr(out, "meta"):
            out.meta.pop("cw_token", None)
            out.meta.setdefault("cw_sweep", sweep_id)
        return out

    def process_spider_output(self, response, result, spider=None):
        for out in result:
            yield self._stamp(response, out)

    async def process_spider_output_async(self, response, result, spider=None):
        async for out in result:
            yield self._stamp(response, out)


class StreamPipeline:
    """Last item step on a worker (instead of the store): the judged item,
    without the page's HTML (judged already, never stored), goes to the
    Redis stream with its sweep. A worker that cannot hand over an item
    stops completing requests and shuts down: what it held is requeued."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.state = worker_state(crawler)

    @classmethod
    def from_crawler(cls, crawler):
        if not crawler.settings.get("CERTWATCH_REDIS_URL"):
            raise NotConfigured("CERTWATCH_REDIS_URL 未设置")
        return cls(crawler)

    def process_item(self, item, spider=None):
        import redis
        item = dict(item)
        sweep_id = item.pop("sweep_id", None) or self.state.sweep_id
        item.pop("html", None)
        try:
            self.state.push_item(int(sweep_id), item)
        except redis.RedisError as exc:
            self.state.broken = True
            log.error("无法把条目交给 Redis，worker 停止（未完成的请求将放回队列）：%s", exc)
            from scrapy.utils.defer import deferred_from_coro
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="redis_error"))
            raise
        self.crawler.stats.inc_value("distributed/items_pushed")
        return item


def _numbers(stats: dict) -> dict:
    return {k: v for k, v in stats.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def stats_delta(now: dict, base: dict) -> dict:
    """A worker's stats for one sweep: counters since the sweep began,
    memory levels as they are; rates and elapsed time left out."""
    out = {}
    for key, value in _numbers(now).items():
        if key.startswith("memusage/"):
            out[key] = value
        elif any(mark in key for mark in _LEVELS):
            continue
        else:
            diff = value - base.get(key, 0)
            if diff:
                out[key] = diff
    return out


class WorkerExtension:
    def __init__(self, crawler):
        s = crawler.settings
        self.crawler = crawler
        self.state = worker_state(crawler)
        self.heartbeat = s.getfloat("CERTWATCH_WORKER_HEARTBEAT", 2.0)
        self.ttl = max(int(s.getfloat("CERTWATCH_WORKER_TTL", 15)), int(self.heartbeat * 2) + 1)
        self.once = s.getbool("CERTWATCH_WORKER_ONCE", False)
        self.name = s.get("CERTWATCH_WORKER_NAME") or socket.gethostname()
        self.baseline: dict = {}
        self.published: dict | None = None
        self.began = 0.0
        self.last_done = 0.0
        self.final_sent = False
        self.served = False
        self.loop = None
        self.poke = None
        self.userdicts: dict[int, str] = {}
        self.state.listeners.append(self.use_sweep)
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_idle, signal=signals.spider_idle)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    # -- life
    def spider_opened(self, spider):
        self._hook_completions()
        _warm_up()
        self.register()
        from twisted.internet import task
        self.loop = task.LoopingCall(self.tick)
        self.loop.start(self.heartbeat, now=False)

    def _hook_completions(self) -> None:
        """Scrapy calls its engine slot's ``remove_request`` once a request
        is fully handled: the response went through the callback, every
        item through the pipelines, every child request to the scheduler
        (or a redirect/retry was queued, or the download failed). That is
        when the worker gives up its in-flight entry. Scrapy has no signal
        for it, so the slot's method is wrapped (checked here: a Scrapy
        without it stops the worker rather than lose requests)."""
        slot = getattr(self.crawler.engine, "_slot", None)
        original = getattr(slot, "remove_request", None)
        if original is None:
            raise RuntimeError("此 Scrapy 版本的引擎没有 _slot.remove_request，worker 无法确认请求完成")
        ext = self

        def remove_request(request):
            try:
                original(request)
            finally:
                token = request.meta.get("cw_token")
                if token:
                    ext.last_done = time.monotonic()
                    ext.state.complete(token)
        slot.remove_request = remove_request

    def register(self) -> None:
        st = self.state
        info = {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(), "mode": st.mode,
                "started": time.time()}
        pipe = st.client.pipeline(transaction=True)
        pipe.set(st.keys.worker(st.worker_id), json.dumps(info, ensure_ascii=False))
        pipe.set(st.keys.alive(st.worker_id), 1, ex=self.ttl)
        pipe.sadd(st.keys.workers, st.worker_id)
        pipe.execute()
        # For the operator, in Chinese and without a log record's English level and UTC stamp.
        print(f"worker {st.worker_id} 已就绪（{'沙箱' if st.mode == 'sandbox' else '真实网络'}模式），等待巡查任务",
              file=sys.stderr, flush=True)
        log.info("worker %s ready (%s)", st.worker_id, st.mode)

    def tick(self) -> None:
        import redis
        st = self.state
        try:
            pipe = st.client.pipeline(transaction=False)
            pipe.set(st.keys.alive(st.worker_id), 1, ex=self.ttl)
            pipe.sadd(st.keys.workers, st.worker_id)
            pipe.execute()
            st.flush_completions()
            requeue_dead(st.client, st.keys, st.scripts)
            self.publish()
        except redis.RedisError as exc:
            log.warning("Redis 暂时不可用：%s", exc)

    def spider_idle(self, spider):
        import redis
        try:       # the heartbeat publishes as the sweep goes; the final numbers once it is done
            if self.state.sweep_id is not None and not self.final_sent and \
                    self.state.client.get(self.state.keys.sweep(self.state.sweep_id, "state")) == b"done":
                self.publish(final=True)
        except redis.RedisError as exc:
            log.warning("Redis 暂时不可用：%s", exc)
        if self.once and self.served and self.final_sent:
            return                      # --once: this worker's sweep is done
        self._poke_later()
        raise DontCloseSpider

    def _poke_later(self) -> None:
        from twisted.internet import reactor
        if self.poke is not None and self.poke.active():
            return
        slot = getattr(self.crawler.engine, "_slot", None)
        if slot is not None:
            self.poke = reactor.callLater(IDLE_POLL, slot.nextcall.schedule)

    def spider_closed(self, spider, reason):
        import redis
        if self.loop is not None and self.loop.running:
            self.loop.stop()
        if self.poke is not None and self.poke.active():
            self.poke.cancel()
        st = self.state
        if st.broken:
            return                      # leave the in-flight entries: others requeue them
        try:
            st.flush_completions()
            if not self.final_sent:
                self.publish(final=True)
            st.scripts.requeue(keys=[st.keys.inflight(st.worker_id), st.keys.workers, st.keys.worker(st.worker_id),
                                     st.keys.alive(st.worker_id), st.keys.sweeps],
                               args=[st.keys.prefix, st.worker_id, "force"])
        except redis.RedisError as exc:
            log.warning("退出时无法注销 worker：%s", exc)

    # -- the sweep
    def use_sweep(self, sweep_id: int, info: dict, previous: int | None = None) -> None:
        if self.served and not self.final_sent and previous is not None:
            self.publish(final=True, sweep_id=previous)     # what this worker did for the previous sweep
        self.baseline = _numbers(self.crawler.stats.get_stats())
        self.began = self.last_done = time.monotonic()
        self.final_sent = False
        self.published = None
        self.served = True
        self.crawler.spider.use_sweep(sweep_id, info)
        words = [w for w in info.get("userdict") or () if isinstance(w, str)]
        if words and sweep_id not in self.userdicts:
            self.userdicts[sweep_id] = _load_userdict(words)
        # A record at once: the coordinator waits for the final numbers of every worker that has one.
        self.publish(force=True)

    def publish(self, final: bool = False, sweep_id: int | None = None, force: bool = False) -> None:
        """This worker's stats for its sweep, in ``P:sweep:S:stats``."""
        st = self.state
        sweep_id = sweep_id or st.sweep_id
        if sweep_id is None or (self.final_sent and not final):
            return
        stats = stats_delta(self.crawler.stats.get_stats(), self.baseline)
        stats["worker/seconds"] = round(max(0.0, self.last_done - self.began), 3)
        if not (final or force) and stats == self.published:
            return
        self.published = stats
        record = {"name": self.name, "host": socket.gethostname(), "pid": os.getpid(), "final": final,
                  "at": time.time(), "stats": stats}
        key = st.keys.sweep(sweep_id, "stats")
        pipe = st.client.pipeline(transaction=False)
        pipe.hset(key, st.worker_id, json.dumps(record, ensure_ascii=False))
        pipe.expire(key, STATS_TTL)          # the coordinator deletes it; never left behind for long
        pipe.execute()
        if final:
            self.final_sent = True


def _warm_up() -> None:
    """Load the judge's dictionary and models before taking work (~2 s of
    CPU once per worker), so a sweep does not wait for them on its first pages."""
    from pipelines import segment
    from pipelines.sales import classify
    segment.tokenizer()
    classify("焊工证 包过 不用考试 微信 abc123 查询网址 cx-mem-gov.cn", "焊工证")


def _load_userdict(words: list[str]) -> str:
    """The sweep's keyword words into jieba (the judge segments with them),
    through a file written atomically in the temp folder."""
    from pipelines import segment
    folder = tempfile.gettempdir()
    path = os.path.join(folder, f"certwatch-worker-{os.getpid()}-userdict.txt")
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        for word in words:
            fh.write(word.replace("\n", " ").strip() + "\n")
    os.replace(tmp, path)
    segment.load_userdict(path)
    return path


# ---------------------------------------------------------------- running


@dataclass
class WorkerOptions:
    redis_url: str
    name: str = ""
    sandbox: str = ""
    profiles_dir: str = ""
    once: bool = False
    log_level: str = "WARNING"
    extra_settings: dict = field(default_factory=dict)


def worker_settings(opts: WorkerOptions, worker_id: str):
    settings = project_settings()
    values = {
        "CERTWATCH_DB": "",                       # a worker has no store
        "CERTWATCH_SANDBOX": opts.sandbox,
        "CERTWATCH_PROFILES_DIR": opts.profiles_dir,
        "CERTWATCH_REDIS_URL": opts.redis_url,
        "CERTWATCH_WORKER_ID": worker_id,
        "CERTWATCH_WORKER_NAME": opts.name,
        "CERTWATCH_WORKER_ONCE": opts.once,
        "LOG_LEVEL": opts.log_level,
        # scrapy-redis: its scheduler (made reliable), its dupefilter, JSON requests.
        "SCHEDULER": "crawler.distributed.scheduler.SweepScheduler",
        "SCHEDULER_PERSIST": True,
        "SCHEDULER_QUEUE_CLASS": "crawler.distributed.scheduler.SweepQueue",
        "SCHEDULER_SERIALIZER": "crawler.distributed.serializer",
        "DUPEFILTER_CLASS": "scrapy_redis.dupefilter.RFPDupeFilter",
        "REDIS_URL": opts.redis_url,
    }
    for key, value in values.items():
        settings.set(key, value, priority="cmdline")
    pipelines = dict(settings.getdict("ITEM_PIPELINES"))
    pipelines.pop("pipelines.persist.StorePipeline", None)
    # Last step on a worker: judged items to the Redis stream (the writer stores them).
    pipelines["crawler.distributed.worker.StreamPipeline"] = 900
    settings.set("ITEM_PIPELINES", pipelines, priority="cmdline")
    extensions = dict(settings.getdict("EXTENSIONS"))
    extensions.pop("crawler.extensions.SweepRecorder", None)     # the coordinator records sweeps
    extensions["crawler.distributed.worker.WorkerExtension"] = 500
    settings.set("EXTENSIONS", extensions, priority="cmdline")
    middlewares = dict(settings.getdict("SPIDER_MIDDLEWARES"))
    # Closest to the engine: stamps what every other middleware let through.
    middlewares["crawler.distributed.worker.SweepStampMiddleware"] = 10
    settings.set("SPIDER_MIDDLEWARES", middlewares, priority="cmdline")
    apply_run_settings(settings, opts.sandbox, opts.extra_settings)
    return settings


def run_worker(opts: WorkerOptions) -> dict:
    """Run a worker until it is stopped (SIGTERM/SIGINT: requests under way
    finish first) or, with ``once``, until the sweep it served is done.
    Returns the crawl's stats."""
    from crawler.distributed.keys import connect
    connect(opts.redis_url).close()          # a clear error before Scrapy starts
    worker_id = new_owner(opts.name)
    settings = worker_settings(opts, worker_id)
    process = CrawlerProcess(settings)
    spare_scrapy_records()
    crawler = process.create_crawler(WorkerSpider)
    process.crawl(crawler)
    process.start()
    return crawler.stats.get_stats() if crawler.stats else {}
