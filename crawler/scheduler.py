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
  store keys findings by canonical URL, so the retry adds no duplicates;
* after a sweep, still holding the run's locks, the scheduler captures
  evidence for what the sweep saw that lacks it (``pipelines.evidence.capture``
  with the sweep's id, in a child ``schedule exec RUN --step evidence``). On
  by default (``CERTWATCH_SCHEDULE_EVIDENCE``; a schedule's own setting
  wins). Its outcome is stored on the run and in the sweep's stats; a failed
  step raises an ``evidence_failed`` alert and never stops the scheduler. A
  step stopped by SIGTERM is ``interrupted`` and retried once on its own;
* once per tick, when takedown items are due for a removal recheck
  (pipelines.recheck.due_label: T+1/T+3/T+7), the scheduler runs the
  ``recheck`` spider in a child under the ``recheck`` lock (and the lock of
  every platform involved). The due set is re-read under the lock and
  claimed as a ``recheck_runs`` row keyed by the set and the Beijing day, so
  two schedulers never check the same items twice; an interrupted recheck
  is retried once, a failed one waits for the next day or a new due set.

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
from datetime import datetime, timedelta

from pipelines import store
from pipelines.schedules import (RUN_STATUS_CN, TZ, evidence_choice, from_iso, iso,
                                 next_after, recheck_summary, schedule_platforms, schedule_profiles, utc_now)
from pipelines.store import beijing

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2          # an interrupted run is retried once
LOCK_TTL = 60             # seconds a lock lives without a heartbeat
HEARTBEAT = 5             # seconds between heartbeats while a sweep runs
STOP_GRACE = 60           # seconds a child sweep gets to stop after SIGTERM

RECHECK_LOCK = "recheck"


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


# ---------------------------------------------------------------- follow-ups

def evidence_enabled(schedule: dict | None, default: bool) -> bool:
    """Whether a run of ``schedule`` captures evidence: its own setting, else
    the scheduler's default."""
    own = evidence_choice(schedule or {})
    return default if own is None else own


def schedule_settings(schedule: dict | None):
    """Project settings with the schedule's own (``--set``) on top."""
    from scrapy.settings import Settings

    from crawler import settings as module
    settings = Settings()
    settings.setmodule(module, priority="project")
    if (schedule or {}).get("profiles"):              # `schedule add --profiles`: its proxies and politeness
        settings.set("CERTWATCH_PROFILES_DIR", schedule["profiles"], priority="cmdline")
    for key, value in ((schedule or {}).get("settings") or {}).items():
        settings.set(key, value, priority="cmdline")
    return settings


def due_rechecks(db, now: datetime, days: tuple[int, ...]) -> list[dict]:
    """Takedown items due for a removal recheck at ``now`` (the recheck
    spider's own rule), each with its label."""
    from pipelines.recheck import due_label
    out = []
    for target in store.recheck_targets(db):
        label = due_label(target["sent_at"], target["checks"], days, now)
        if label:
            out.append({"item_id": target["item_id"], "due": label, "platform": target.get("platform") or ""})
    return out


def recheck_key(due: list[dict], now: datetime) -> str:
    """One key per due set and Beijing day: a set is rechecked once, and a
    failed recheck is tried again the next day (or when the set changes)."""
    import hashlib
    body = ",".join(f"{d['item_id']}:{d['due']}" for d in sorted(due, key=lambda d: d["item_id"]))
    return f"{now.astimezone(TZ).date().isoformat()}:{hashlib.sha1(body.encode()).hexdigest()[:16]}"


# ---------------------------------------------------------------- scheduler

class Scheduler:
    def __init__(self, db_path: str, sandbox: str = "", profiles_dir: str = "", clock=None,
                 owner: str | None = None, python: str = sys.executable, echo=None,
                 evidence: bool | None = None, recheck: bool | None = None, progress: bool = False):
        from crawler import settings as defaults
        self.db_path = db_path
        self.sandbox = sandbox
        self.profiles_dir = profiles_dir
        self.clock = clock or utc_now
        self.owner = owner or new_owner()
        self.python = python
        self.echo = echo or (lambda msg: print(msg, flush=True))
        self.evidence = defaults.CERTWATCH_SCHEDULE_EVIDENCE if evidence is None else evidence
        self.recheck = defaults.CERTWATCH_SCHEDULE_RECHECK if recheck is None else recheck
        self.stop = threading.Event()
        self.child: subprocess.Popen | None = None
        self.progress = progress          # children show progress on stderr (`schedule run`, not the service)

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

    def _lock_gone(self, lock: dict | None, owner: str = "") -> bool:
        return (lock is None or lock["expires_at"] < store.now_utc() or not owner_alive(lock["owner"])
                or bool(owner and lock["owner"] != owner))

    # -- what a run covers
    def platforms_for(self, schedule: dict) -> list[str]:
        names = schedule_platforms(schedule)
        if names:
            return names
        from pipelines.profiles import default_platforms, load_profiles
        profiles = load_profiles(schedule_profiles(schedule, self.profiles_dir) or None)
        return sorted(p.name for p in default_platforms(profiles, bool(self.sandbox)))

    # -- the steps of a tick
    def recover(self, db) -> int:
        """Runs (and evidence steps, and rechecks) left 'running' by a
        scheduler that is gone (its lock expired or its process is dead)
        become 'interrupted'."""
        store.mark_abandoned_sweeps(db)
        locks = {l["name"]: l for l in store.list_locks(db)}
        n = 0
        for run in store.running_runs(db):
            if self._lock_gone(locks.get(f"run:{run['id']}")):
                store.finish_run(db, run["id"], "interrupted", "调度程序异常退出")
                n += 1
        for run in store.running_evidence_runs(db):
            if self._lock_gone(locks.get(f"run:{run['id']}")):
                store.set_run_evidence(db, run["id"], {"evidence_status": "interrupted",
                                                       "evidence_note": "调度程序异常退出，取证未完成"})
                n += 1
        for run in store.running_recheck_runs(db):
            if self._lock_gone(locks.get(RECHECK_LOCK), run.get("owner") or ""):
                store.finish_recheck_run(db, run["id"], "interrupted", "调度程序异常退出")
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
        a time (each followed by its evidence step), retry interrupted
        evidence steps, then the due removal rechecks. Returns the ids of
        runs executed by this scheduler."""
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
        with store.opened(self.db_path) as db:
            retries = store.evidence_retry_runs(db, MAX_ATTEMPTS)
        for run in retries:
            if self.stop.is_set():
                break
            self.execute_evidence(run["id"])
        self.recheck_if_due(now)         # None: the clock after the sweeps, not before
        return done

    def execute(self, run_id: int) -> bool:
        """Run one claimed run in a child process, holding its locks, then
        its evidence step. False when it could not start (taken by another
        scheduler, a platform busy, or the schedule removed)."""
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
        try:
            self.echo(f"开始执行计划“{schedule['name']}”（执行记录 #{run_id}）")
            try:
                status, note = self._run_child(run_id)
            except OSError as exc:        # the child could not be started
                status, note = "failed", f"无法启动巡查进程：{exc}"
            with store.opened(self.db_path) as db:
                store.finish_run(db, run_id, status, note)
                run = store.get_run(db, run_id)
                if status == "failed" and not run.get("sweep_id"):
                    # No sweep row (the child died early): the sweep's own alert never came.
                    from crawler.health import alert
                    alert(db, "sweep_failed", f"【certwatch 巡查告警】计划“{schedule['name']}”执行记录 #{run_id} 失败：{note}",
                          self._webhook(schedule))
            self.echo(f"计划“{schedule['name']}”执行记录 #{run_id}：{RUN_STATUS_CN.get(status, status)}"
                      + (f"，巡查 #{run['sweep_id']}" if run.get("sweep_id") else "") + (f"（{note}）" if note else ""))
            if status in ("finished", "failed") and run.get("sweep_id"):
                self.evidence_step(run_id, schedule, run["sweep_id"])
        finally:
            with store.opened(self.db_path) as db:
                store.release_locks(db, self.owner, locks)
        return True

    def _webhook(self, schedule: dict | None) -> str:
        from crawler import settings as defaults
        return str(((schedule or {}).get("settings") or {}).get("CERTWATCH_WEBHOOK_URL")
                   or defaults.CERTWATCH_WEBHOOK_URL or "")

    def child_command(self, run_id: int, step: str = "sweep") -> list[str]:
        cmd = [self.python, "-m", "crawler.cli", "schedule", "exec", str(run_id), "--db", self.db_path]
        if step != "sweep":
            cmd += ["--step", step]
        cmd += ["--sandbox", self.sandbox] if self.sandbox else ["--real"]
        if self.profiles_dir:
            cmd += ["--profiles", self.profiles_dir]
        if self.progress:
            cmd.append("--progress")
        return cmd

    def _supervise(self, cmd: list[str]) -> subprocess.Popen:
        """Run a child to its end, keeping this owner's locks fresh; on stop,
        SIGTERM it (Scrapy then shuts down gracefully) and kill it after
        STOP_GRACE seconds. Returns the finished child."""
        self.child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
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
        finally:
            db.close()
            self.child = None
        return child

    def _run_child(self, run_id: int) -> tuple[str, str]:
        child = self._supervise(self.child_command(run_id))
        with store.opened(self.db_path) as db:
            run = store.get_run(db, run_id)
            sweep_id = run.get("sweep_id")
            if not sweep_id:
                sweep_id = store.latest_sweep_of(db, run["schedule_id"], child.pid)
                if sweep_id:
                    store.set_run_sweep(db, run_id, sweep_id)
            store.mark_abandoned_sweeps(db)
            sweep = store.get_sweep(db, sweep_id) if sweep_id else {}
            sweep_status = sweep.get("status") or ""
        if self.stop.is_set():
            return "interrupted", "调度程序收到停止信号"
        # The sweep's own reason (e.g. no platform chosen) says more than an exit code.
        why = str((sweep.get("stats") or {}).get("certwatch/failure") or "") or f"巡查进程退出码 {child.returncode}"
        if sweep_status in ("finished", "interrupted", "failed"):
            return sweep_status, "" if sweep_status == "finished" else why
        return "failed", why

    # -- evidence after a sweep
    def evidence_step(self, run_id: int, schedule: dict | None, sweep_id: int, retry: bool = False) -> str:
        """Capture evidence for what sweep ``sweep_id`` saw that lacks it, in
        a child (the caller holds the run's locks). Every outcome is stored
        on the run and in the sweep's stats; returns the step's status."""
        name = schedule["name"] if schedule else f"#{run_id}"
        label = f"计划“{name}”执行记录 #{run_id}"
        with store.opened(self.db_path) as db:
            if not evidence_enabled(schedule, self.evidence):
                store.set_run_evidence(db, run_id, {"evidence_status": "off"})
                return "off"
            if self.stop.is_set():
                store.set_run_evidence(db, run_id, {"evidence_status": "interrupted",
                                                    "evidence_note": "调度程序收到停止信号，取证未开始"})
                self.echo(f"{label}：调度程序正在停止，取证留待下次启动后进行")
                return "interrupted"
            items = store.sweep_items_needing_evidence(db, sweep_id)
            if not store.start_run_evidence(db, run_id, retry=retry):
                return ""                      # another scheduler took the retry
            # ok adds up over attempts (a retry goes on where the last stopped)
            ok = int(store.get_run(db, run_id).get("evidence_ok") or 0) if retry else 0
            store.set_run_evidence(db, run_id, {"evidence_ok": ok, "evidence_failed": 0, "evidence_note": ""})
            if not items:
                store.set_run_evidence(db, run_id, {"evidence_status": "finished", "evidence_note": "没有需要取证的条目"})
                store.merge_sweep_stats(db, sweep_id, {"certwatch/evidence/status": "finished",
                                                       "certwatch/evidence/ok": ok, "certwatch/evidence/failed": 0})
                self.echo(f"{label}：巡查 #{sweep_id} 没有需要取证的新条目")
                return "finished"
        self.echo(f"{label}：为巡查 #{sweep_id} 的 {len(items)} 条可疑信息和网站取证…")
        spawn_error = ""
        try:
            child = self._supervise(self.child_command(run_id, "evidence"))
            code = child.returncode
        except OSError as exc:
            code, spawn_error = None, f"无法启动取证进程：{exc}"
        with store.opened(self.db_path) as db:
            run = store.get_run(db, run_id)
            ok, failed = int(run.get("evidence_ok") or 0), int(run.get("evidence_failed") or 0)
            if self.stop.is_set():
                status, note = "interrupted", "调度程序收到停止信号，取证未完成（下次启动后继续）"
            elif code == 0:
                status, note = "finished", run.get("evidence_note") or ""
            else:
                status = "failed"
                note = run.get("evidence_note") or spawn_error or (
                    f"取证进程退出码 {code}；请查看调度程序日志，修复后可手动执行 "
                    f"certwatch evidence capture --db {self.db_path}")
            store.set_run_evidence(db, run_id, {"evidence_status": status, "evidence_note": note})
            store.merge_sweep_stats(db, sweep_id, {
                "certwatch/evidence/status": status, "certwatch/evidence/ok": ok,
                "certwatch/evidence/failed": failed, **({"certwatch/evidence/error": note} if status == "failed" else {})})
            if status == "failed":
                from crawler.health import alert
                alert(db, "evidence_failed", f"【certwatch 取证告警】计划“{name}”巡查 #{sweep_id} 取证失败：{note}",
                      self._webhook(schedule), sweep_id=sweep_id)
        if status == "finished":
            self.echo(f"{label}：取证完成，成功 {ok} 条，失败 {failed} 条" + (f"（{note}）" if failed and note else ""))
        elif status == "failed":
            self.echo(f"{label}：取证失败：{note}（已记入巡查 #{sweep_id} 的告警，调度继续）")
        else:
            self.echo(f"{label}：取证已中断（成功 {ok} 条），下次启动后继续")
        return status

    def execute_evidence(self, run_id: int) -> bool:
        """Retry an interrupted evidence step under the run's locks."""
        with store.opened(self.db_path) as db:
            run = store.get_run(db, run_id)
            try:
                schedule = store.get_schedule(db, schedule_id=run["schedule_id"])
                platforms = self.platforms_for(schedule)
            except store.StoreError:
                schedule, platforms = None, []
            locks = [f"run:{run_id}"] + [f"platform:{p}" for p in platforms]
            if not self.acquire(db, locks):
                return False
        try:
            return self.evidence_step(run_id, schedule, run["sweep_id"], retry=True) != ""
        finally:
            with store.opened(self.db_path) as db:
                store.release_locks(db, self.owner, locks)

    # -- removal rechecks
    def recheck_if_due(self, now: datetime | None = None) -> int | None:
        """Run the removal rechecks due at ``now`` (one recheck run), unless
        another scheduler holds the recheck lock or this due set already
        ran. Returns the recheck run's id when this scheduler ran it."""
        if not self.recheck or self.stop.is_set():
            return None
        from crawler import settings as defaults
        from pipelines.recheck import parse_days
        now = now or self.clock()
        try:
            days = parse_days(defaults.CERTWATCH_RECHECK_DAYS)
        except ValueError as exc:
            self.echo(f"无法安排下架复查：{exc}（CERTWATCH_RECHECK_DAYS）")
            return None
        held: list[str] = []
        try:
            with store.opened(self.db_path) as db:
                if not due_rechecks(db, now, days):
                    return None
                if not self.acquire(db, [RECHECK_LOCK]):
                    return None                 # another scheduler is rechecking
                held.append(RECHECK_LOCK)
                due = due_rechecks(db, now, days)          # again, under the lock
                if not due:
                    return None
                platforms = sorted({f"platform:{d['platform']}" for d in due if d["platform"]})
                if not self.acquire(db, platforms):
                    return None                 # a sweep is on one of the platforms: next tick
                held += platforms
                run_id = store.claim_recheck_run(db, recheck_key(due, now), iso(now), len(due), self.owner,
                                                 MAX_ATTEMPTS)
                if run_id is None or not store.start_recheck_run(db, run_id, self.owner, os.getpid()):
                    return None
            self.echo(f"开始下架复查（复查记录 #{run_id}，到期 {len(due)} 条）")
            try:
                child = self._supervise(self.child_command(run_id, "recheck"))
                code, note = child.returncode, (f"复查进程退出码 {child.returncode}；请查看调度程序日志，"
                                                f"可手动执行 certwatch takedown recheck --db {self.db_path}，"
                                                "否则次日自动重试")
            except OSError as exc:
                code, note = None, f"无法启动复查进程：{exc}"
            with store.opened(self.db_path) as db:
                stats = store.get_recheck_run(db, run_id)["stats"]
                if self.stop.is_set():
                    status, note = "interrupted", "调度程序收到停止信号"
                elif code == 0:
                    status, note = "finished", ""
                else:
                    status = "failed"
                store.finish_recheck_run(db, run_id, status, note)
                if status == "failed":
                    from crawler.health import alert
                    alert(db, "recheck_failed", f"【certwatch 复查告警】下架复查记录 #{run_id} 失败：{note}",
                          self._webhook(None))
            self.echo(f"下架复查记录 #{run_id}：{RUN_STATUS_CN.get(status, status)}"
                      + (f"；{recheck_summary(stats)}" if stats else "") + (f"（{note}）" if note else ""))
            return run_id
        finally:
            if held:
                with store.opened(self.db_path) as db:
                    store.release_locks(db, self.owner, held)

    # -- the long-running loop
    def run_forever(self, interval: float = 30.0, once: bool = False) -> None:
        while not self.stop.is_set():
            self.tick()
            if once:
                break
            self.stop.wait(interval)
        with store.opened(self.db_path) as db:
            store.release_locks(db, self.owner)


# ---------------------------------------------------------------- children

def run_schedule_child(db_path: str, run_id: int, sandbox: str, profiles_dir: str = "", progress: bool = False) -> int:
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
    profiles_dir = schedule_profiles(schedule, profiles_dir)    # the schedule's own --profiles first
    opts = SweepOptions(db=db_path, sandbox=sandbox, platforms=schedule_platforms(schedule),
                        keyword_filter="", max_pages=int(schedule.get("pages") or 0),
                        profiles_dir=profiles_dir, progress=progress, schedule_id=schedule["id"],
                        extra_settings=extra)
    result = run(opts)
    with store.opened(db_path) as db:
        store.set_run_sweep(db, run_id, result.sweep_id)
    return 0 if result.status == "finished" else 1


def run_evidence_child(db_path: str, run_id: int, sandbox: str, progress: bool = False) -> int:
    """Inside ``certwatch schedule exec RUN --step evidence``: capture what
    the run's sweep saw (the same function as ``evidence capture``) and
    store the counts on the run. 0 when the step ran (single items may have
    failed: they are recorded and counted), 1 when it could not, 130 when
    stopped (SIGTERM/SIGINT: items under way finish, no new one starts)."""
    from crawler.logfile import log_to_file
    from crawler.progress import Progress, on_capture
    from pipelines import evidence
    log_to_file(db_path)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    with store.opened(db_path) as db:
        run = store.get_run(db, run_id)
        try:
            schedule = store.get_schedule(db, schedule_id=run["schedule_id"])
        except store.StoreError:
            schedule = None                                        # removed meanwhile: defaults
        name = schedule["name"] if schedule else f"#{run['schedule_id']}"
        config = evidence.CaptureConfig.from_settings(schedule_settings(schedule), sandbox=sandbox,
                                                      operator=f"certwatch 调度程序（计划“{name}”）")
        try:
            with Progress("取证", enabled=progress) as shown:
                stats = evidence.capture(db, config, sweep_id=run["sweep_id"], should_stop=stopping.is_set,
                                         progress=on_capture(shown))
        except evidence.CaptureError as exc:
            store.set_run_evidence(db, run_id, {"evidence_note": str(exc)})
            return 1
        errors = "；".join(f"{'信息' if item['kind'] == 'finding' else '网站'} #{item['id']}：{error}"
                          for item, error in stats.errors[:3])
        # ok adds up over attempts; failures are this attempt's (earlier ones were tried again)
        store.set_run_evidence(db, run_id, {"evidence_ok": int(run.get("evidence_ok") or 0) + stats.ok,
                                            "evidence_failed": stats.failed,
                                            "evidence_note": errors + ("…" if len(stats.errors) > 3 else "")})
    return 130 if stopping.is_set() else 0


def run_recheck_child(db_path: str, recheck_id: int, sandbox: str, profiles_dir: str = "",
                      progress: bool = False) -> int:
    """Inside ``certwatch schedule exec ID --step recheck``: the recheck
    spider at the run's time, its counts stored on the recheck run."""
    from crawler.recheck import RecheckOptions, run
    with store.opened(db_path) as db:
        row = store.get_recheck_run(db, recheck_id)
    stats = run(RecheckOptions(db=db_path, sandbox=sandbox, now=row["due_at"], profiles_dir=profiles_dir,
                               progress=progress))
    counts = {k: int(stats.get(f"recheck/{k}", 0) or 0)
              for k in ("requests", "removed", "still_present", "unknown", "not_due", "screenshots")}
    with store.opened(db_path) as db:
        store.set_recheck_stats(db, recheck_id, counts)
    return 0 if stats.get("finish_reason") == "finished" else 1
