"""One worker's link to Redis, shared by its scheduler, extension and
pipeline (``worker_state(crawler)``): its id, the sweep it has accepted,
reliable pops into its in-flight hash, completions, and pushing judged
items to the stream."""
from __future__ import annotations

import itertools
import json
import logging

from crawler.distributed.keys import Keys, connect
from crawler.distributed.scripts import Scripts

log = logging.getLogger(__name__)


def worker_state(crawler) -> "WorkerState":
    """The crawler's WorkerState, made by the first component that asks."""
    state = getattr(crawler, "certwatch_worker", None)
    if state is None:
        state = WorkerState.from_settings(crawler.settings)
        crawler.certwatch_worker = state
    return state


class WorkerState:
    def __init__(self, client, keys: Keys, worker_id: str, mode: str, settings=None):
        self.client = client
        self.keys = keys
        self.scripts = Scripts(client)
        self.worker_id = worker_id
        self.mode = mode
        self.seq = itertools.count(1)
        self.accepted: bytes = b""      # the raw P:active value this worker works for
        self.sweep_id: int | None = None
        self.info: dict = {}
        self.refused: bytes = b""       # an active sweep of another mode (warned once)
        self.listeners: list = []       # called with (sweep_id, info, previous sweep_id) when a sweep is accepted
        self.unacked: list[str] = []    # completions Redis did not take yet
        self.broken = False             # an item could not be handed over: stop completing

    @classmethod
    def from_settings(cls, settings):
        keys = Keys(settings.get("CERTWATCH_REDIS_PREFIX") or "certwatch")
        client = connect(settings.get("CERTWATCH_REDIS_URL"))
        mode = "sandbox" if settings.get("CERTWATCH_SANDBOX") else "real"
        return cls(client, keys, settings.get("CERTWATCH_WORKER_ID"), mode, settings)

    # -- the sweep
    def _switch(self, raw: bytes) -> bool:
        """Accept the active sweep ``raw`` when its mode is ours."""
        try:
            active = json.loads(raw)
            sweep_id = int(active["sweep"])
            info = json.loads(self.client.get(self.keys.sweep(sweep_id, "info")) or b"{}")
        except (ValueError, KeyError, TypeError):
            if raw != self.refused:
                log.error("Redis 中的当前巡查信息无效，忽略：%r", raw[:200])
                self.refused = raw
            return False
        if info.get("mode") != self.mode:
            if raw != self.refused:
                log.warning("巡查 #%s 为%s模式，本 worker 为%s模式，不领取其任务", sweep_id,
                            _MODE_CN.get(info.get("mode"), info.get("mode")), _MODE_CN[self.mode])
                self.refused = raw
            return False
        previous = self.sweep_id
        self.accepted, self.sweep_id, self.info = raw, sweep_id, info
        log.info("领取巡查 #%s 的任务", sweep_id)
        for listener in self.listeners:
            listener(sweep_id, info, previous)
        return True

    def pop(self):
        """(kind, token, data) of the next request or start entry of the
        accepted sweep, moved into this worker's in-flight hash; None when
        there is none (or the active sweep is not for us)."""
        for _ in range(2):
            reply = self.scripts.pop(
                keys=[self.keys.active, self.keys.inflight(self.worker_id), self.keys.workers],
                args=[self.keys.prefix, self.accepted, next(self.seq), self.sweep_id or 0, self.worker_id])
            kind = reply[0]
            if kind in (b"r", b"s"):
                return kind.decode(), reply[1].decode(), reply[2]
            if kind == b"switch" and reply[1] != self.refused and self._switch(reply[1]):
                continue
            return None
        return None

    def complete(self, token: str) -> None:
        """The request behind ``token`` is fully handled (its items are in
        the stream, its children queued): drop it from the in-flight hash."""
        if self.broken:
            return
        self.unacked.append(token)
        self.flush_completions()

    def flush_completions(self) -> None:
        if not self.unacked or self.broken:
            return
        import redis
        tokens, self.unacked = self.unacked, []
        try:
            self.client.hdel(self.keys.inflight(self.worker_id), *tokens)
        except redis.RedisError as exc:
            log.warning("无法在 Redis 中登记已完成的请求（稍后重试）：%s", exc)
            self.unacked = tokens + self.unacked

    # -- items
    def push_item(self, sweep_id: int, item: dict) -> None:
        """Send one judged item to the stream and count it for its sweep, in one script."""
        data = json.dumps(item, ensure_ascii=False, default=str)
        self.scripts.push(keys=[self.keys.items, self.keys.sweep(sweep_id, "counts")],
                          args=[sweep_id, self.worker_id, data])


_MODE_CN = {"sandbox": "沙箱", "real": "真实网络"}
