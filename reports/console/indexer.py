"""The keyword index's backlog, filled while the console runs.

A store made before an index existed keeps its older findings as a backlog
(store.search_backlog); the console starts at once and indexes them here, in
a background thread with its own connection, one short transaction of
store.BACKFILL_CHUNK findings at a time, pausing between them so that
sweeps and reviewers' decisions get the write lock. Searches are complete
meanwhile (the store reads the backlog row by row) and the queue says so.
"""
from __future__ import annotations

import logging
import threading
import time

from pipelines import store

log = logging.getLogger(__name__)

# Pause after each chunk, as a share of the time the chunk took (the lock is
# free at least this long), and after a busy lock or an error (seconds).
PAUSE_SHARE = 0.5
BUSY_PAUSE = 2.0


class Backfill:
    """``start()`` runs the backfill in a daemon thread; ``stop()`` ends it
    between two chunks (what a chunk wrote stays)."""

    def __init__(self, db_path: str, chunk: int = store.BACKFILL_CHUNK):
        self.db_path = db_path
        self.chunk = chunk
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> "Backfill":
        self.thread = threading.Thread(target=self.run, name="certwatch-search-backfill", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def run(self) -> None:
        db = store.open_db(self.db_path)
        started, total = time.monotonic(), 0
        try:
            while not self.stopping.is_set():
                t0 = time.monotonic()
                try:
                    total += store.backfill_search_index(db, chunk=self.chunk, limit=self.chunk)
                    finished = store.search_backlog(db) is None
                except store.StoreBusy:
                    self.stopping.wait(BUSY_PAUSE)      # a long write elsewhere: try again later
                    continue
                if finished:
                    log.info("关键词索引补建完成：%d 条，用时 %.0f 秒", total, time.monotonic() - started)
                    return
                self.stopping.wait(min(1.0, max(0.01, (time.monotonic() - t0) * PAUSE_SHARE)))
        except Exception:       # the console keeps serving; searches stay complete (scan), the next start resumes
            log.exception("关键词索引补建中止（搜索结果仍完整；下次启动审核台时继续补建）")
        finally:
            db.close()


def start_backfill(db_path: str) -> Backfill | None:
    """A running Backfill if the store has a backlog, else None."""
    db = store.open_db(db_path)
    try:
        pending = store.search_backlog(db) is not None
    finally:
        db.close()
    return Backfill(db_path).start() if pending else None


def backlog_note(db) -> str:
    """The queue's line while the backlog is indexed ('' when there is none)."""
    backlog = store.search_backlog(db)
    if backlog is None:
        return ""
    return f"关键词索引建立中（已完成 {backlog['done']}%），结果完整但较慢"
