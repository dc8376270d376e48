"""Redis key names of one deployment (a prefix, default ``certwatch``),
connections, and the owners (host:pid:random) of workers, ingesters and
coordinators with their liveness.

Keys (P = prefix, S = sweep id, W = worker id):

=============================  ===============================================
``P:coordinator``              owner id of the running coordinator (TTL)
``P:active``                   JSON of the sweep being worked on (TTL, kept
                               fresh by its coordinator)
``P:sweeps``                   set of sweep ids with keys in Redis
``P:sweep:S:info``             JSON: mode, platforms, page limit, user words
``P:sweep:S:starts``           list of JSON start entries (platform, query)
``P:sweep:S:requests``         scrapy-redis priority queue (zset)
``P:sweep:S:dupefilter``       scrapy-redis fingerprints (set)
``P:sweep:S:counts``           hash: seeded, pushed (items sent), ingested
                               (committed or rejected), requeued
``P:sweep:S:state``            "done" once drained (workers send final stats)
``P:sweep:S:stats``            hash W -> JSON of the worker's stats for S
``P:workers``                  set of worker ids
``P:worker:W``                 JSON: name, host, pid, mode (no TTL)
``P:worker:W:alive``           heartbeat (TTL)
``P:inflight:W``               hash token -> request/start the worker holds
``P:items``                    stream of judged items (group ``writers``)
``P:items:rejected``           entries that were no valid item, with the reason
``P:ingest:lock``              the one writer's owner id (TTL)
=============================  ===============================================
"""
from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass


class DistributedError(Exception):
    """A distributed sweep cannot go on (Chinese message for the user)."""


@dataclass(frozen=True)
class Keys:
    prefix: str = "certwatch"

    @property
    def coordinator(self) -> str:
        return f"{self.prefix}:coordinator"

    @property
    def active(self) -> str:
        return f"{self.prefix}:active"

    @property
    def sweeps(self) -> str:
        return f"{self.prefix}:sweeps"

    def sweep(self, sweep_id: int, part: str) -> str:
        return f"{self.prefix}:sweep:{int(sweep_id)}:{part}"

    def sweep_keys(self, sweep_id: int) -> list[str]:
        return [self.sweep(sweep_id, part) for part in
                ("info", "starts", "requests", "dupefilter", "counts", "state", "stats")]

    @property
    def workers(self) -> str:
        return f"{self.prefix}:workers"

    def worker(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}"

    def alive(self, worker_id: str) -> str:
        return f"{self.prefix}:worker:{worker_id}:alive"

    def inflight(self, worker_id: str) -> str:
        return f"{self.prefix}:inflight:{worker_id}"

    @property
    def items(self) -> str:
        return f"{self.prefix}:items"

    @property
    def rejected(self) -> str:
        return f"{self.prefix}:items:rejected"

    @property
    def ingest_lock(self) -> str:
        return f"{self.prefix}:ingest:lock"


GROUP = "writers"


def connect(url: str):
    """A Redis client for ``url`` (bytes replies), checked with PING."""
    import redis
    if not url or not url.startswith(("redis://", "rediss://", "unix://")):
        raise DistributedError(f"Redis 地址应形如 redis://主机:6379/0，而不是 {url!r}")
    try:
        client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=10,
                                      health_check_interval=30)
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise DistributedError(f"无法连接 Redis（{url}）：{exc}") from None
    return client


def new_owner(name: str = "") -> str:
    """An id for this process: name@host:pid:random (no '|': tokens use it)."""
    host = socket.gethostname().replace("|", "_").replace("@", "_")
    label = (name or host).replace("|", "_").replace(":", "_")
    return f"{label}@{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def owner_dead_here(owner: str) -> bool:
    """True when ``owner`` ran on this host and its process is gone (a
    heartbeat's TTL decides for other hosts)."""
    try:
        _, where = owner.split("@", 1)
        host, pid, _ = where.rsplit(":", 2)
        pid = int(pid)
    except ValueError:
        return False
    if host != socket.gethostname().replace("|", "_").replace("@", "_"):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed child not yet reaped by its parent still has a pid: it is dead all the same."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except (OSError, IndexError):
        return False
