"""``certwatch ingest``: the one writer. Judged items move from the Redis
stream ``P:items`` into the store in batches.

* One writer per deployment: the ``P:ingest:lock`` key (owner, TTL renewed
  every batch). A writer whose process is gone on this host is replaced at
  once; one on another host when its lock expires.
* Consumer group ``writers``: an entry read stays *pending* until it is
  acknowledged. On start the writer claims every pending entry (XAUTOCLAIM:
  they belong to a dead writer, since only the lock holder reads) and reads
  them again before new ones.
* A batch is one SQLite transaction: the findings and sites, and the ids of
  the entries in ``ingest_log``. Acknowledging (XACK, XDEL and the sweep's
  ``ingested`` count, one script) comes only after COMMIT. Killed before the
  commit: nothing was written, the entries come again. Killed between
  commit and ack: the entries come again and the log says they are in —
  skipped. Either way nothing is lost and nothing counted twice.
* Every item is checked again here (a worker is no more trusted than a
  page): an entry that is not a valid item goes to ``P:items:rejected``
  with the reason, and is acknowledged.
"""
from __future__ import annotations

import json
import logging
import signal
import sqlite3
import sys
import threading
from dataclasses import dataclass, field

from crawler.distributed.fleet import release_lock, renew_lock, take_lock
from crawler.distributed.keys import GROUP, DistributedError, Keys, connect, new_owner
from crawler.distributed.scripts import Scripts
from pipelines import persist, store
from pipelines.validate import clean_item

log = logging.getLogger(__name__)

LOCK_TTL = 30.0          # seconds the writer's lock lives without renewal
REJECTED_MAX = 10_000    # entries kept in P:items:rejected


@dataclass
class IngestStats:
    batches: int = 0
    stored: int = 0
    skipped: int = 0        # delivered again, already committed
    rejected: int = 0
    reasons: list = field(default_factory=list)


@dataclass
class Entry:
    id: str
    sweep_id: int | None
    item: dict | None
    error: str = ""
    raw: dict = field(default_factory=dict)


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")


def check_item(item) -> dict:
    """A judged item as the store takes it; ValueError (Chinese) otherwise."""
    if not isinstance(item, dict):
        raise ValueError("条目应为对象")
    kind = item.get("kind", "listing")
    if kind not in ("listing", "site"):
        raise ValueError(f"未知的条目类型 {kind!r}")
    item = clean_item(item)
    item.pop("finding_ids", None)          # only the writer's own sites spider links findings
    for key, kind_ in (("reasons", list), ("links", list), ("contacts", dict), ("whois", dict), ("ips", list)):
        if item.get(key) is not None and not isinstance(item[key], kind_):
            raise ValueError(f"字段 {key} 的类型无效")
    for key in ("score", "http_status"):
        value = item.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"字段 {key} 应为数字")
    for key in ("platform", "family", "verdict", "impersonates", "final_url", "source", "page_status"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise ValueError(f"字段 {key} 应为文本")
    return item


def decode(entry_id, fields) -> Entry:
    eid = _text(entry_id)
    if not fields:
        return Entry(eid, None, None, "条目已不存在")
    raw = {_text(k): _text(v) for k, v in fields.items()}
    sweep = raw.get("sweep") or ""
    # A rejected entry still counts for its sweep (it was sent, it is handled).
    sweep_id = int(sweep) if sweep.isdigit() and 0 < len(sweep) < 12 else None
    try:
        if sweep and sweep_id is None:
            raise ValueError(f"巡查编号无效：{sweep[:20]!r}")
        item = check_item(json.loads(raw.get("item") or ""))
    except (ValueError, TypeError) as exc:
        return Entry(eid, sweep_id, None, str(exc)[:300], raw)
    return Entry(eid, sweep_id, item, "", raw)


class Ingester:
    def __init__(self, client, keys: Keys, db_path: str, batch: int = 100, owner: str | None = None,
                 profiles_dir: str = ""):
        self.client = client
        self.platform_hosts = frozenset(persist.platform_hosts(profiles_dir))   # a platform's own links are no sites
        self.keys = keys
        self.db_path = db_path
        self.batch = max(1, int(batch))
        self.owner = owner or new_owner("ingest")
        self.scripts = Scripts(client)
        self.stats = IngestStats()
        self.backlog = True            # own pending entries first

    # -- set-up
    def acquire(self, wait: float = LOCK_TTL + 5, should_stop=None) -> None:
        holder = take_lock(self.client, self.scripts, self.keys.ingest_lock, self.owner, LOCK_TTL, wait,
                           on_wait=lambda h: print(f"另一个写入进程 {h} 持有写入锁，等待其释放或过期…",
                                                   file=sys.stderr, flush=True),
                           should_stop=should_stop)
        if holder:
            raise DistributedError(f"另一个写入进程正在运行：{holder}（每个部署只能有一个 certwatch ingest）")

    def release(self) -> None:
        release_lock(self.scripts, self.keys.ingest_lock, self.owner)

    def ensure_group(self) -> None:
        import redis
        try:
            self.client.xgroup_create(self.keys.items, GROUP, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_orphans(self) -> int:
        """Take over the pending entries of earlier (dead) writers."""
        claimed, start = 0, "0-0"
        while True:
            reply = self.client.xautoclaim(self.keys.items, GROUP, self.owner, 0, start_id=start, count=1000)
            start, entries = reply[0], reply[1]
            claimed += len(entries)
            if _text(start) == "0-0":
                break
        for consumer in self.client.xinfo_consumers(self.keys.items, GROUP):
            name = _text(consumer.get("name"))
            if name != self.owner and not consumer.get("pending"):
                self.client.xgroup_delconsumer(self.keys.items, GROUP, name)
        if claimed:
            log.warning("接管了 %d 条未确认的条目（上一个写入进程中途退出）", claimed)
        return claimed

    # -- batches
    def read(self, block_ms: int = 1000) -> list[Entry]:
        if self.backlog:
            reply = self.client.xreadgroup(GROUP, self.owner, {self.keys.items: "0"}, count=self.batch)
            entries = reply[0][1] if reply else []
            if entries:
                return [decode(i, f) for i, f in entries]
            self.backlog = False
        reply = self.client.xreadgroup(GROUP, self.owner, {self.keys.items: ">"}, count=self.batch,
                                       block=block_ms or None)
        return [decode(i, f) for i, f in (reply[0][1] if reply else [])]

    def commit(self, db, entries: list[Entry]) -> set[str]:
        """Write a batch in one transaction; entries already committed are
        skipped. The ids written now."""
        stream = self.keys.items
        with db.atomic():
            done = store.ingested_ids(db, stream, [e.id for e in entries])
            fresh = [e for e in entries if e.id not in done]
            listings: dict[int | None, list[dict]] = {}
            for e in fresh:
                if e.item is None:
                    continue
                if e.item.get("kind") == "site":
                    persist.store_site(db, e.item)
                else:
                    listings.setdefault(e.sweep_id, []).append(e.item)
            for sweep_id, items in listings.items():
                persist.store_listings(db, items, sweep_id, self.platform_hosts)
            store.log_ingested(db, stream, [(e.id, e.sweep_id) for e in fresh])
        self.stats.skipped += len(entries) - len(fresh)
        self.stats.stored += sum(1 for e in fresh if e.item is not None)
        return {e.id for e in fresh}

    def commit_or_isolate(self, db, entries: list[Entry]) -> set[str]:
        """Commit the batch; when an entry the checks let through still
        fails (never a database error: those stop the writer, the entries
        stay pending), commit the entries one by one and reject the bad one,
        so no entry can block the stream."""
        try:
            return self.commit(db, entries)
        except sqlite3.OperationalError:
            raise
        except Exception as exc:          # noqa: BLE001 — hostile data, reported per entry
            if len(entries) > 1:
                return set().union(*(self.commit_or_isolate(db, [entry]) for entry in entries))
            (entry,) = entries
            log.warning("条目 %s 无法写入：%s", entry.id, exc)
            entry.item, entry.error = None, f"无法写入：{type(exc).__name__}: {exc}"[:300]
            return self.commit(db, [entry])

    def reject(self, entries: list[Entry]) -> None:
        """Keep the entries that are no valid item in P:items:rejected, with the reason."""
        for e in entries:
            if e.item is None:
                self.stats.rejected += 1
                log.warning("拒收条目 %s：%s", e.id, e.error)
                self.client.xadd(self.keys.rejected, {"entry": e.id, "reason": e.error,
                                                      "item": e.raw.get("item", "")[:100_000]},
                                 maxlen=REJECTED_MAX, approximate=True)

    def ack(self, entries: list[Entry]) -> int:
        args = [GROUP, self.keys.prefix]
        for e in entries:
            args += [e.id, "" if e.sweep_id is None else str(e.sweep_id)]
        return int(self.scripts.ack(keys=[self.keys.items], args=args))

    def step(self, db, block_ms: int = 1000) -> int:
        """Read, commit and acknowledge one batch; the number of entries."""
        if not renew_lock(self.scripts, self.keys.ingest_lock, self.owner, LOCK_TTL):
            raise DistributedError("写入锁已被其他进程取得（本进程停顿过久？），停止写入")
        entries = self.read(block_ms)
        if not entries:
            return 0
        fresh = self.commit_or_isolate(db, entries)
        self.reject([e for e in entries if e.id in fresh])     # once, not again when delivered again
        self.ack(entries)
        self.stats.batches += 1
        return len(entries)


@dataclass
class IngestOptions:
    redis_url: str
    db: str
    prefix: str = "certwatch"
    batch: int = 100
    once: bool = False            # stop when the stream has nothing left for us
    progress: bool = True
    profiles_dir: str = ""


def run_ingest(opts: IngestOptions) -> IngestStats:
    """Run the writer until SIGTERM/SIGINT (the batch under way is finished
    and acknowledged first) or, with ``once``, until nothing is left."""
    client = connect(opts.redis_url)
    stopping = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, lambda *_: stopping.set())
    ingester = Ingester(client, Keys(opts.prefix), opts.db, opts.batch, profiles_dir=opts.profiles_dir)
    try:
        ingester.acquire(should_stop=stopping.is_set)
        ingester.ensure_group()
        ingester.claim_orphans()
        print(f"写入进程 {ingester.owner} 已启动：Redis → {opts.db}", file=sys.stderr, flush=True)
        with store.opened(opts.db) as db:
            while not stopping.is_set():
                n = ingester.step(db, block_ms=0 if opts.once else 1000)
                if n and opts.progress:
                    s = ingester.stats
                    print(f"已写入 {s.stored} 条（重复跳过 {s.skipped}，拒收 {s.rejected}）",
                          file=sys.stderr, flush=True)
                if not n and opts.once and not ingester.backlog:
                    break
    finally:
        try:
            ingester.release()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    return ingester.stats
