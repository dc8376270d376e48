"""The workers of a deployment: who is registered, who is alive, and
giving a dead worker's in-flight requests back to their sweep's queue.

A worker is dead when its heartbeat key has expired (any host) or when it
ran on this host and its process is gone (at once, no TTL to wait for).
Any process may requeue: the script re-checks and moves atomically, so two
coordinators (or a coordinator and a worker) never requeue twice."""
from __future__ import annotations

import json
import logging

from crawler.distributed.keys import Keys, owner_dead_here

log = logging.getLogger(__name__)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def registered(client, keys: Keys) -> list[str]:
    return sorted(_text(w) for w in client.smembers(keys.workers))


def worker_info(client, keys: Keys, worker_id: str) -> dict:
    raw = client.get(keys.worker(worker_id))
    try:
        info = json.loads(raw) if raw else {}
    except ValueError:
        info = {}
    return info if isinstance(info, dict) else {}


def is_alive(client, keys: Keys, worker_id: str) -> bool:
    return bool(client.exists(keys.alive(worker_id))) and not owner_dead_here(worker_id)


def requeue_dead(client, keys: Keys, scripts) -> dict[str, int]:
    """Requeue the in-flight entries of every dead worker; {worker: entries}."""
    moved = {}
    for worker_id in registered(client, keys):
        force = owner_dead_here(worker_id)
        if not force and client.exists(keys.alive(worker_id)):
            continue
        n = scripts.requeue(keys=[keys.inflight(worker_id), keys.workers, keys.worker(worker_id),
                                  keys.alive(worker_id), keys.sweeps],
                            args=[keys.prefix, worker_id, "force" if force else ""])
        if n >= 0:
            moved[worker_id] = int(n)
            log.warning("worker %s 已失联，%d 个进行中的请求已放回队列", worker_id, n)
    return moved


def take_lock(client, scripts, key: str, owner: str, ttl: float, wait: float, on_wait=None,
              should_stop=None) -> str:
    """Hold ``key`` for ``owner`` (TTL ``ttl`` s, renewed with scripts.renew).
    A holder whose process is gone on this host is replaced at once;
    otherwise wait up to ``wait`` s for the key to be freed or to expire.
    Returns '' when taken, else the holder."""
    import time
    deadline = time.monotonic() + wait
    told = False
    while True:
        if client.set(key, owner, nx=True, px=int(ttl * 1000)):
            return ""
        current = client.get(key)
        if current is None:
            continue
        holder = _text(current)
        if owner_dead_here(holder):
            log.warning("锁 %s 的持有者 %s 已不在运行，接管", key, holder)
            scripts.release(keys=[key], args=[holder])
            continue
        if time.monotonic() >= deadline or (should_stop is not None and should_stop()):
            return holder
        if on_wait is not None and not told:
            on_wait(holder)
            told = True
        time.sleep(0.2)


def renew_lock(scripts, key: str, owner: str, ttl: float) -> bool:
    return bool(scripts.renew(keys=[key], args=[owner, int(ttl * 1000)]))


def release_lock(scripts, key: str, owner: str) -> None:
    scripts.release(keys=[key], args=[owner])
