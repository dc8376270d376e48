"""scrapy-redis's scheduler, made reliable for a shared sweep.

* Requests live in the sweep's scrapy-redis priority queue
  (``P:sweep:S:requests``), encoded by ``crawler.distributed.serializer``;
  its dupefilter (``scrapy_redis.dupefilter.RFPDupeFilter``, key
  ``P:sweep:S:dupefilter``) gives the fingerprints. Adding a fingerprint and
  queueing the request are one script, so a worker killed between the two
  cannot leave a page marked seen but never fetched.
* ``next_request`` moves a request (or, when the queue is empty, one of the
  sweep's start entries) into the worker's in-flight hash in the same
  script that pops it; the worker's extension drops the entry only when the
  request is fully handled. What a dead worker held goes back to the queue
  (crawler.distributed.fleet).
* Decoded requests are checked: only the spider's own callbacks, no other
  request class (Redis data is hostile).
"""
from __future__ import annotations

import logging
import uuid

from scrapy.utils.request import request_from_dict
from scrapy_redis.dupefilter import RFPDupeFilter
from scrapy_redis.queue import PriorityQueue
from scrapy_redis.scheduler import Scheduler

from crawler.distributed import serializer
from crawler.distributed.state import worker_state

log = logging.getLogger(__name__)

CALLBACKS = frozenset({"parse_search", "parse_detail", "parse_site", "site_failed"})
REQUEST_CLASSES = frozenset({"scrapy.http.request.Request"})
MAX_SKIPS = 64       # bad or stale entries discarded in one next_request call


class SweepQueue(PriorityQueue):
    """A sweep's priority queue: pushes through the dupefilter script,
    decodes only what a certwatch spider could have queued."""

    def __init__(self, server, spider, key, serializer=None, state=None, dupefilter=None):
        super().__init__(server, spider, key, serializer)
        self.state = state
        self.df = dupefilter

    def push(self, request) -> bool:
        """Queue ``request`` unless its fingerprint was seen; True when queued."""
        if request.dont_filter:
            request.meta["cw_n"] = uuid.uuid4().hex[:8]    # equal requests stay distinct members
        request.meta.pop("cw_token", None)
        data = self._encode_request(request)
        fingerprint = "" if request.dont_filter else self.df.request_fingerprint(request)
        return bool(self.state.scripts.enqueue(keys=[self.df.key, self.key],
                                               args=[fingerprint, -request.priority, data]))

    def _decode_request(self, encoded_request):
        obj = self.serializer.loads(encoded_request)
        for name in ("callback", "errback"):
            if obj.get(name) not in (None, *CALLBACKS):
                raise serializer.SerializationError(f"不允许的回调：{obj.get(name)!r}")
        if "_class" in obj and obj["_class"] not in REQUEST_CLASSES:
            raise serializer.SerializationError(f"不允许的请求类型：{obj['_class']!r}")
        if not isinstance(obj.get("url"), str) or not obj["url"].startswith(("http://", "https://")):
            raise serializer.SerializationError("请求缺少有效的链接")
        if not isinstance(obj.get("meta") or {}, dict):
            raise serializer.SerializationError("请求的 meta 应为对象")
        return request_from_dict(obj, spider=self.spider)


class SweepScheduler(Scheduler):
    """One scheduler per worker; queues and dupefilters per sweep."""

    @classmethod
    def from_crawler(cls, crawler):
        instance = super().from_crawler(crawler)
        instance.state = worker_state(crawler)
        return instance

    def open(self, spider):
        self.spider = spider
        self.queues: dict[int, SweepQueue] = {}

    def close(self, reason):
        """The queues stay (SCHEDULER_PERSIST): they belong to the sweep, not to this worker."""

    def queue_of(self, sweep_id: int) -> SweepQueue:
        queue = self.queues.get(sweep_id)
        if queue is None:
            keys = self.state.keys
            df = RFPDupeFilter(self.server, key=keys.sweep(sweep_id, "dupefilter"),
                               debug=self.spider.settings.getbool("DUPEFILTER_DEBUG"))
            queue = SweepQueue(self.server, self.spider, keys.sweep(sweep_id, "requests"),
                               self.serializer or serializer, self.state, df)
            self.queues = {sweep_id: queue}       # one sweep at a time: drop the old ones
        return queue

    def __len__(self):
        return 0

    def has_pending_requests(self) -> bool:
        return False      # the queue is shared: an idle worker polls it (WorkerExtension)

    def enqueue_request(self, request) -> bool:
        sweep_id = request.meta.get("cw_sweep")
        if sweep_id is None or sweep_id != self.state.sweep_id:
            self.stats.inc_value("distributed/dropped/stale")
            log.info("丢弃不属于当前巡查的请求：%s", request.url)
            return False
        queue = self.queue_of(sweep_id)
        try:
            queued = queue.push(request)
        except serializer.SerializationError as exc:
            self.stats.inc_value("distributed/unserializable")
            log.error("请求无法放入 Redis 队列（%s）：%s", exc, request.url)
            return False
        if not queued:
            queue.df.log(request, self.spider)
            return False
        self.stats.inc_value("scheduler/enqueued/redis")
        return True

    def next_request(self):
        for _ in range(MAX_SKIPS):
            popped = self.state.pop()
            if popped is None:
                return None
            kind, token, data = popped
            try:
                request = self._request(kind, data)
            except (ValueError, KeyError, TypeError) as exc:
                self.stats.inc_value("distributed/bad_entries")
                log.error("Redis 中的任务无效，已丢弃（%s）：%r", exc, bytes(data[:200]))
                self.state.complete(token)
                continue
            request.meta["cw_token"] = token
            request.meta["cw_sweep"] = self.state.sweep_id
            self.stats.inc_value("scheduler/dequeued/redis")
            return request
        return None

    def _request(self, kind: str, data: bytes):
        if kind == "r":
            return self.queue_of(self.state.sweep_id)._decode_request(data)
        entry = serializer.loads(data)
        request = self.spider.request_from_start(entry)
        # The start page's fingerprint, as a single-machine sweep's scheduler adds it.
        queue = self.queue_of(self.state.sweep_id)
        if not request.dont_filter:
            self.server.sadd(queue.df.key, queue.df.request_fingerprint(request))
        return request
