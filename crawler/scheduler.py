"""The sweep scheduler: cron schedules (Asia/Shanghai) turned into sweeps.

State lives in the store, so any number of scheduler processes (and
restarts) agree on what ran:

* a schedule's cron slot becomes a ``schedule_runs`` row; the pair
  (schedule, slot) is unique, so a slot is claimed once — by one scheduler,
  once, however often it restarts. A machine that was off for several slots
  claims only the earliest missed one and moves the schedule past "now":
  a missed run runs once, not N times;
* running a sweep takes a lock row per platform (and one for the run) with
  an owner and an expiry kept fresh by heartbeats; two schedulers on one
  database never sweep the same platform at once, and a crashed owner's
  locks expire (or are freed at once when its pid is gone on this host);
* each sweep runs in a child process (``certwatch schedule exec``; Scrapy's
  reactor cannot restart). SIGTERM to the scheduler is passed on to the
  child, whose Scrapy shuts down gracefully; the run is marked
  ``interrupted`` and is retried once by the next scheduler tick. The
  store keys findings by canonical URL, so the retry adds no duplicates.

The clock is injectable (``clock``: a function returning an aware UTC
datetime); ``certwatch scheduler --now ISO`` starts the clock at that time.
Lock expiry always uses the real clock (it is about processes, not cron).
"""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from croniter import croniter

from pipelines import store

log = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Shanghai")
MAX_ATTEMPTS = 2          # an interrupted run is retried once
LOCK_TTL = 60             # seconds a lock lives without a heartbeat
HEARTBEAT = 5             # seconds between heartbeats while a sweep runs
STOP_GRACE = 60           # seconds a child sweep gets to stop after SIGTERM

RUN_STATUS_CN = {"pending": "等待执行", "running": "执行中", "finished": "完成", "failed": "失败",
                 "interrupted": "已中断", "cancelled": "已取消", "skipped": "已跳过"}


class ScheduleError(ValueError):
    """A schedule value that cannot be used (Chinese message)."""


# ---------------------------------------------------------------- time

def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """ISO time; without a zone it is Beijing time (Asia/Shanghai)."""
    try:
        dt = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleError(f"无法识别的时间：{text}（示例 2026-12-01T02:00 或 2026-12-01T02:00+08:00）") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=TZ)
    return dt.astimezone(timezone.utc)


def from_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def beijing(text: str | None) -> str:
    """A stored UTC time shown in Beijing time."""
    if not text:
        return ""
    try:
        return from_iso(text[:19] + "Z").astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return text


def check_cron(expr: str) -> str:
    expr = " ".join((expr or "").split())
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise ScheduleError(f"cron 表达式无效：{expr!r}（5 段：分 时 日 月 周，如 \"0 2 * * *\"）")
    return expr


def next_after(expr: str, after: datetime) -> datetime:
    """The first cron slot strictly after ``after``, in Asia/Shanghai."""
    return croniter(expr, after.astimezone(TZ)).get_next(datetime).astimezone(timezone.utc)


def next_times(expr: str, after: datetime, n: int = 5) -> list[datetime]:
    it = croniter(expr, after.astimezone(TZ))
    return [it.get_next(datetime).astimezone(timezone.utc) for _ in range(n)]


# ---------------------------------------------------------------- schedules

def schedule_platforms(schedule: dict) -> list[str]:
    return [p for p in (schedule.get("platforms") or "").split(",") if p]


def add_schedule(db, name: str, cron: str, now: datetime, industry: str = "", department: str = "",
                 platforms: str = "", pages: int = 0, variants: bool = False,
                 settings: dict | None = None) -> int:
    name = (name or "").strip()
    if not name or len(name) > 60:
        raise ScheduleError("计划名称不能为空，且不超过 60 个字")
    cron = check_cron(cron)
    if pages and not 0 < int(pages) <= 100:
        raise ScheduleError("--pages 应为 1–100")
    try:
        return store.add_schedule(db, {
            "name": name, "cron": cron, "industry": industry or "", "department": department or "",
            "platforms": ",".join(p.strip() for p in (platforms or "").split(",") if p.strip()),
            "pages": int(pages or 0), "variants": 1 if variants else 0, "settings": settings or {},
            "next_run_at": iso(next_after(cron, now)),
        })
    except store.StoreError as exc:
        raise ScheduleError(str(exc)) from None


def edit_schedule(db, name: str, now: datetime, **fields) -> dict:
    schedule = store.get_schedule(db, name)
    changes = {k: v for k, v in fields.items() if v is not None}
    if "cron" in changes:
        changes["cron"] = check_cron(changes["cron"])
        changes["next_run_at"] = iso(next_after(changes["cron"], now))
    if "platforms" in changes:
        changes["platforms"] = ",".join(p.strip() for p in changes["platforms"].split(",") if p.strip())
    if "enabled" in changes:
        changes["enabled"] = 1 if changes["enabled"] else 0
        if changes["enabled"] and not schedule["enabled"]:
            # Slots missed while disabled are not owed: start from now.
            changes["next_run_at"] = iso(next_after(changes.get("cron", schedule["cron"]), now))
    if "settings" in changes:
        # --set on edit adds or overrides single settings; the rest stay.
        changes["settings"] = {**(schedule.get("settings") or {}), **changes["settings"]}
    if "variants" in changes:
        changes["variants"] = 1 if changes["variants"] else 0
    store.update_schedule(db, schedule["id"], changes)
    return store.get_schedule(db, schedule_id=schedule["id"])


# ---------------------------------------------------------------- owners

def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_alive(owner: str) -> bool:
    """False only when the owner is on this host and its pid is gone."""
    try:
        host, pid, _ = owner.split(":", 2)
        pid = int(pid)
    except ValueError:
        return True
    if host != socket.gethostname():
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# ---------------------------------------------------------------- scheduler

class Scheduler:
    def __init__(self, db_path: str, sandbox: str = "", profiles_dir: str = "", clock=None,
                 owner: str | None = None, python: str = sys.executable, echo=None):
        self.db_path = db_path
        self.sandbox = sandbox
        self.profiles_dir = profiles_dir
        self.clock = clock or utc_now
        self.owner = owner or new_owner()
        self.python = python
        self.echo = echo or (lambda msg: print(msg, flush=True))
        self.stop = threading.Event()
        self.child: subprocess.Popen | None = None

    # -- locks (real clock)
    def _lock_times(self) -> tuple[str, str]:
        now = utc_now()
        return store.now_utc(), (now + timedelta(seconds=LOCK_TTL)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _free_dead_locks(self, db) -> None:
        for lock in store.list_locks(db):
            if not owner_alive(lock["owner"]):
                store.release_locks(db, lock["owner"], [lock["name"]])

    def acquire(self, db, names: list[str]) -> bool:
        self._free_dead_locks(db)
        got = []
        for name in names:
            now, expires = self._lock_times()
            if not store.acquire_lock(db, name, self.owner, now, expires):
                store.release_locks(db, self.owner, got)
                return False
            got.append(name)
        return True

    def heartbeat(self, db) -> None:
        now, expires = self._lock_times()
        store.heartbeat_locks(db, self.owner, now, expires)

    # -- what a run covers
    def platforms_for(self, schedule: dict) -> list[str]:
        names = schedule_platforms(schedule)
        if names:
            return names
        from crawler.profiles import load_profiles
        sandbox = bool(self.sandbox)
        return sorted(p.name for p in load_profiles(self.profiles_dir or None).values()
                      if p.sandbox == sandbox and p.demo)

    # -- the steps of a tick
    def recover(self, db) -> int:
        """Runs left 'running' by a scheduler that is gone (its run lock
        expired or its process is dead) become 'interrupted'."""
        store.mark_abandoned_sweeps(db)
        locks = {l["name"]: l for l in store.list_locks(db)}
        now = store.now_utc()
        n = 0
        for run in store.running_runs(db):
            lock = locks.get(f"run:{run['id']}")
            if lock is None or lock["expires_at"] < now or not owner_alive(lock["owner"]):
                store.finish_run(db, run["id"], "interrupted", "调度程序异常退出")
                n += 1
        return n

    def claim_due(self, db, now: datetime | None = None) -> list[int]:
        """Claim every enabled schedule whose next slot is due. A schedule
        that missed several slots gets one run (for the earliest) and moves
        on to the first slot after now."""
        now = now or self.clock()
        claimed = []
        for schedule in store.list_schedules(db, enabled_only=True):
            due = schedule.get("next_run_at")
            if not due:
                store.update_schedule(db, schedule["id"], {"next_run_at": iso(next_after(schedule["cron"], now))})
                continue
            if from_iso(due) > now:
                continue
            missed = from_iso(due) < now - timedelta(minutes=1)
            run_id = store.claim_run(db, schedule["id"], due, iso(next_after(schedule["cron"], now)),
                                     self.owner, "补执行（错过的计划时间）" if missed else "")
            if run_id is not None:
                claimed.append(run_id)
                self.echo(f"计划“{schedule['name']}”到期（{beijing(due)}），执行记录 #{run_id}")
        return claimed

    def runnable(self, db) -> list[dict]:
        return store.runnable_runs(db, MAX_ATTEMPTS)

    def tick(self, now: datetime | None = None) -> list[int]:
        """One pass: recover, claim due slots, execute runnable runs one at
        a time. Returns the ids of runs executed by this scheduler."""
        with store.opened(self.db_path) as db:
            self.recover(db)
            self.claim_due(db, now)
            runs = self.runnable(db)
        done = []
        for run in runs:
            if self.stop.is_set():
                break
            if self.execute(run["id"]):
                done.append(run["id"])
        return done

    def execute(self, run_id: int) -> bool:
        """Run one claimed run in a child process, holding its locks.
        False when it could not start (taken by another scheduler, a
        platform busy, or the schedule removed)."""
        with store.opened(self.db_path) as db:
            run = store.get_run(db, run_id)
            try:
                schedule = store.get_schedule(db, schedule_id=run["schedule_id"])
            except store.StoreError:
                store.finish_run(db, run_id, "cancelled", "计划已删除")
                return False
            locks = [f"run:{run_id}"] + [f"platform:{p}" for p in self.platforms_for(schedule)]
            if not self.acquire(db, locks):
                return False
            if not store.start_run(db, run_id, self.owner, os.getpid()):
                store.release_locks(db, self.owner, locks)
                return False
        self.echo(f"开始执行计划“{schedule['name']}”（执行记录 #{run_id}）")
        try:
            status, note = self._run_child(run_id)
        except OSError as exc:        # the child could not be started
            status, note = "failed", f"无法启动巡查进程：{exc}"
        with store.opened(self.db_path) as db:
            store.finish_run(db, run_id, status, note)
            store.release_locks(db, self.owner, locks)
            run = store.get_run(db, run_id)
            if status == "failed" and not run.get("sweep_id"):
                # No sweep row (the child died early): the sweep's own alert never came.
                from crawler import settings as defaults
                from crawler.health import alert
                webhook = (schedule.get("settings") or {}).get("CERTWATCH_WEBHOOK_URL") \
                    or defaults.CERTWATCH_WEBHOOK_URL
                alert(db, "sweep_failed", f"【certwatch 巡查告警】计划“{schedule['name']}”执行记录 #{run_id} 失败：{note}",
                      str(webhook or ""))
        self.echo(f"计划“{schedule['name']}”执行记录 #{run_id}：{RUN_STATUS_CN.get(status, status)}"
                  + (f"，巡查 #{run['sweep_id']}" if run.get("sweep_id") else "") + (f"（{note}）" if note else ""))
        return True

    def child_command(self, run_id: int) -> list[str]:
        cmd = [self.python, "-m", "crawler.cli", "schedule", "exec", str(run_id), "--db", self.db_path]
        cmd += ["--sandbox", self.sandbox] if self.sandbox else ["--real"]
        if self.profiles_dir:
            cmd += ["--profiles", self.profiles_dir]
        return cmd

    def _run_child(self, run_id: int) -> tuple[str, str]:
        self.child = subprocess.Popen(self.child_command(run_id), stdin=subprocess.DEVNULL)
        child, stopping_since = self.child, None
        db = store.connect(self.db_path)
        try:
            while True:
                try:
                    child.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    pass
                self.heartbeat(db)
                if self.stop.is_set():
                    if stopping_since is None:
                        stopping_since = time.monotonic()
                        child.send_signal(signal.SIGTERM)
                    elif time.monotonic() - stopping_since > STOP_GRACE:
                        child.kill()
            run = store.get_run(db, run_id)
            sweep_id = run.get("sweep_id")
            if not sweep_id:
                sweep_id = store.latest_sweep_of(db, run["schedule_id"], child.pid)
                if sweep_id:
                    store.set_run_sweep(db, run_id, sweep_id)
            store.mark_abandoned_sweeps(db)
            sweep_status = store.get_sweep(db, sweep_id)["status"] if sweep_id else ""
        finally:
            db.close()
            self.child = None
        if self.stop.is_set():
            return "interrupted", "调度程序收到停止信号"
        if sweep_status in ("finished", "interrupted", "failed"):
            return sweep_status, "" if sweep_status == "finished" else f"巡查进程退出码 {child.returncode}"
        return "failed", f"巡查进程退出码 {child.returncode}"

    # -- the long-running loop
    def run_forever(self, interval: float = 30.0, once: bool = False) -> None:
        while not self.stop.is_set():
            self.tick()
            if once:
                break
            self.stop.wait(interval)
        with store.opened(self.db_path) as db:
            store.release_locks(db, self.owner)


def run_schedule_child(db_path: str, run_id: int, sandbox: str, profiles_dir: str = "") -> int:
    """Inside ``certwatch schedule exec``: the sweep of one run, in this
    process. Returns the exit code."""
    from crawler.sweep import SweepOptions, run
    with store.opened(db_path) as db:
        run_row = store.get_run(db, run_id)
        schedule = store.get_schedule(db, schedule_id=run_row["schedule_id"])
    extra = {"CERTWATCH_INDUSTRY": schedule.get("industry") or "",
             "CERTWATCH_DEPARTMENT": schedule.get("department") or "",
             "CERTWATCH_QUERY_VARIANTS": bool(schedule.get("variants")),
             **(schedule.get("settings") or {})}
    opts = SweepOptions(db=db_path, sandbox=sandbox, platforms=schedule_platforms(schedule),
                        keyword_filter="", max_pages=int(schedule.get("pages") or 0),
                        profiles_dir=profiles_dir, progress=False, schedule_id=schedule["id"],
                        extra_settings=extra)
    result = run(opts)
    with store.opened(db_path) as db:
        store.set_run_sweep(db, run_id, result.sweep_id)
    return 0 if result.status == "finished" else 1
