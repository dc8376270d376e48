"""Schedules and the scheduler: cron slots with a controllable clock,
restart without double runs, two schedulers on one database, SIGTERM
mid-sweep then resume without duplicates, locks."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from conftest import ROOT, run_cli
from crawler.sandbox.world import world
from crawler.scheduler import (ScheduleError, Scheduler, add_schedule, edit_schedule, next_times,
                               parse_time)
from keywords import default_keywords, expand_queries
from pipelines import store

KEYWORD = "高压电工证"          # 8 queries: a sweep of one platform takes a few seconds
DUE = "2026-12-01T02:00:30+08:00"


def at(text: str) -> datetime:
    return parse_time(text)


def dead_owner() -> str:
    """An owner string for a process on this host that no longer exists."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    import socket
    return f"{socket.gethostname()}:{proc.pid}:deadbeef"


def expected_urls(pages: int = 1) -> set[str]:
    lib = [dict(k, active=1) for k in default_keywords()]
    return world().reachable(expand_queries(lib, term_filter=KEYWORD), pages, platforms=("forum",))


def add_forum_schedule(db_path: str, name: str = "夜巡", *settings: str) -> None:
    args = ["schedule", "add", "--name", name, "--cron", "0 2 * * *", "--platforms", "gongyou",
            "--pages", "1", "--set", f"CERTWATCH_KEYWORD_FILTER={KEYWORD}", "--now", "2026-12-01T01:00",
            "--db", db_path]
    for s in settings:
        args += ["--set", s]
    run_cli(*args, check=True)


def scheduler_cmd(db_path: str, sandbox: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "crawler.cli", "scheduler", "--sandbox", sandbox, "--now", DUE,
            "--db", db_path, *extra]


def test_cron_slots_fire_at_the_right_times(fresh_db, db_path):
    sid = add_schedule(fresh_db, "夜巡", "0 2 * * *", at("2026-12-01T01:00"))
    assert store.get_schedule(fresh_db, "夜巡")["next_run_at"] == "2026-11-30T18:00:00Z"   # 02:00 Beijing
    sched = Scheduler(db_path)
    assert sched.claim_due(fresh_db, at("2026-12-01T01:59:59")) == []
    [run_id] = sched.claim_due(fresh_db, at("2026-12-01T02:00:00"))
    assert store.get_run(fresh_db, run_id)["due_at"] == "2026-11-30T18:00:00Z"
    assert sched.claim_due(fresh_db, at("2026-12-01T02:00:05")) == []
    # A restarted scheduler (new owner) does not claim the slot again.
    assert Scheduler(db_path).claim_due(fresh_db, at("2026-12-01T02:00:05")) == []
    assert store.get_schedule(fresh_db, "夜巡")["next_run_at"] == "2026-12-01T18:00:00Z"
    # Machine off for three days: one run for the missed slots, not three.
    missed = sched.claim_due(fresh_db, at("2026-12-04T09:00"))
    assert len(missed) == 1
    run = store.get_run(fresh_db, missed[0])
    assert run["due_at"] == "2026-12-01T18:00:00Z" and "补执行" in run["note"]
    assert store.get_schedule(fresh_db, "夜巡")["next_run_at"] == "2026-12-04T18:00:00Z"
    assert sched.claim_due(fresh_db, at("2026-12-04T09:00")) == []
    assert len(store.list_runs(fresh_db, sid)) == 2
    # Disabled: not claimed; enabling starts from now (no backlog).
    edit_schedule(fresh_db, "夜巡", at("2026-12-05T00:00"), enabled=False)
    assert sched.claim_due(fresh_db, at("2026-12-08T03:00")) == []
    edit_schedule(fresh_db, "夜巡", at("2026-12-08T03:00"), enabled=True)
    assert store.get_schedule(fresh_db, "夜巡")["next_run_at"] == "2026-12-08T18:00:00Z"
    assert sched.claim_due(fresh_db, at("2026-12-08T03:00")) == []


def test_cron_expressions_in_beijing_time(fresh_db):
    monday_9 = next_times("0 9 * * 1", at("2026-11-29T12:00"), 2)        # from a Sunday
    assert [t.strftime("%Y-%m-%dT%H:%MZ") for t in monday_9] == ["2026-11-30T01:00Z", "2026-12-07T01:00Z"]
    quarter = next_times("*/15 * * * *", at("2026-12-01T00:07+08:00"), 3)
    assert [t.astimezone(timezone(timedelta(hours=8))).strftime("%H:%M") for t in quarter] == \
        ["00:15", "00:30", "00:45"]
    for bad in ("0 2 * *", "61 * * * *", "every night", ""):
        with pytest.raises(ScheduleError, match="cron"):
            add_schedule(fresh_db, f"坏{bad}", bad, at("2026-12-01T00:00"))
    add_schedule(fresh_db, "甲", "0 2 * * *", at("2026-12-01T00:00"))
    with pytest.raises(ScheduleError, match="已存在"):
        add_schedule(fresh_db, "甲", "0 3 * * *", at("2026-12-01T00:00"))


def test_locks_one_owner_expiry_and_dead_owner(fresh_db, db_path):
    t0 = "2026-12-01T00:00:00.000000Z"
    assert store.acquire_lock(fresh_db, "platform:gongyou", "A", t0, "2026-12-01T00:01:00.000000Z")
    assert not store.acquire_lock(fresh_db, "platform:gongyou", "B", "2026-12-01T00:00:30.000000Z",
                                  "2026-12-01T00:01:30.000000Z")
    assert store.acquire_lock(fresh_db, "platform:gongyou", "A", "2026-12-01T00:00:30.000000Z",
                              "2026-12-01T00:01:30.000000Z")               # re-entrant for its owner
    assert store.acquire_lock(fresh_db, "platform:gongyou", "B", "2026-12-01T00:02:00.000000Z",
                              "2026-12-01T00:03:00.000000Z")               # expired → taken over
    assert store.list_locks(fresh_db)[0]["owner"] == "B"
    # A lock held by a dead process on this host is freed at once.
    now = store.now_utc()
    store.acquire_lock(fresh_db, "platform:forum", dead_owner(), now, "2999-01-01T00:00:00.000000Z")
    sched = Scheduler(db_path)
    assert sched.acquire(fresh_db, ["platform:forum"])
    assert not Scheduler(db_path).acquire(fresh_db, ["platform:forum"])    # a live owner holds it


def cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in-process (commands that do not crawl)."""
    from crawler.cli import main
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:           # --help
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_schedule_commands(db_path, capsys):
    add_forum_schedule(db_path)
    code, out, _ = cli(capsys, "schedule", "list", "--db", db_path, "--now", "2026-12-01T01:00")
    assert code == 0 and "夜巡" in out and "2026-12-01 02:00、2026-12-02 02:00、2026-12-03 02:00" in out
    code, _, err = cli(capsys, "schedule", "add", "--name", "坏", "--cron", "0 25 * * *", "--db", db_path)
    assert code == 2 and "cron 表达式无效" in err
    assert cli(capsys, "schedule", "disable", "夜巡", "--db", db_path)[0] == 0
    assert "停用" in cli(capsys, "schedule", "list", "--db", db_path)[1]
    code, out, _ = cli(capsys, "schedule", "enable", "夜巡", "--db", db_path, "--now", "2026-12-05T12:00")
    assert code == 0 and "下次执行 2026-12-06 02:00" in out
    assert cli(capsys, "schedule", "edit", "夜巡", "--cron", "30 1 * * *", "--db", db_path,
               "--now", "2026-12-05T12:00")[0] == 0
    assert "30 1 * * *" in cli(capsys, "schedule", "list", "--db", db_path)[1]
    code, out, _ = cli(capsys, "schedule", "run", "夜巡", "--queue", "--db", db_path)
    assert code == 0 and "已加入执行队列" in out
    assert "立即执行" in cli(capsys, "schedule", "runs", "--db", db_path)[1]
    assert cli(capsys, "schedule", "remove", "夜巡", "--db", db_path)[0] == 0
    code, _, err = cli(capsys, "schedule", "run", "夜巡", "--queue", "--db", db_path)
    assert code == 2 and "不存在" in err
    db = store.connect(db_path)
    assert store.list_runs(db)[0]["status"] == "cancelled"         # history kept, queue cleared
    db.close()
    for args in (["schedule", "add"], ["schedule", "list"], ["schedule", "run"], ["scheduler"], ["health"]):
        code, out, _ = cli(capsys, *args, "--help")
        assert "示例：certwatch " + " ".join(args) in out


def test_restart_neither_loses_nor_doubles(sandbox, db_path):
    add_forum_schedule(db_path)
    db = store.connect(db_path)
    # A scheduler claimed the 02:00 slot, started it and died (kill -9).
    crashed = Scheduler(db_path, owner=dead_owner())
    [run_id] = crashed.claim_due(db, at(DUE))
    assert store.start_run(db, run_id, crashed.owner, 1)
    store.acquire_lock(db, f"run:{run_id}", crashed.owner, store.now_utc(), "2999-01-01T00:00:00.000000Z")
    db.close()
    first = subprocess.run(scheduler_cmd(db_path, sandbox, "--once"), capture_output=True, text=True,
                           cwd=ROOT, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(scheduler_cmd(db_path, sandbox, "--once"), capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert second.returncode == 0 and "开始执行" not in second.stdout
    db = store.connect(db_path)
    [run] = store.list_runs(db)
    assert run["id"] == run_id and run["status"] == "finished" and run["attempts"] == 2
    sweeps = store.list_sweeps(db)
    assert len(sweeps) == 1 and sweeps[0]["status"] == "finished" and run["sweep_id"] == sweeps[0]["id"]
    assert {f["url"] for f in store.iter_findings(db)} == expected_urls()
    assert store.list_locks(db) == []
    db.close()


def test_two_schedulers_one_sweep(sandbox, db_path):
    add_forum_schedule(db_path)
    procs = [subprocess.Popen(scheduler_cmd(db_path, sandbox, "--once"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum(o[0].count("开始执行") for o in outs) == 1
    db = store.connect(db_path)
    assert len(store.list_runs(db)) == 1 and store.list_runs(db)[0]["status"] == "finished"
    assert len(store.list_sweeps(db)) == 1
    db.close()


def _wait(cond, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)          # polling a condition with a deadline
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_mid_sweep_then_resume_without_duplicates(sandbox, db_path):
    # Slow and write-through, so the sweep is visibly half done when stopped.
    add_forum_schedule(db_path, "夜巡", "DOWNLOAD_DELAY=0.25", "CONCURRENT_REQUESTS=1",
                       "CERTWATCH_STORE_BATCH=1")
    proc = subprocess.Popen(scheduler_cmd(db_path, sandbox, "--interval", "1"), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        def stored():
            db = store.open_db(db_path)
            try:
                return db["findings"].exists() and db["findings"].count >= 3
            finally:
                db.close()
        try:
            _wait(stored, 180, "first findings")
        except AssertionError:
            proc.kill()
            out, err = proc.communicate(timeout=30)
            raise AssertionError(f"no findings; scheduler said:\n{out[-2000:]}\n{err[-4000:]}") from None
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "已中断" in out and "巡查调度程序已停止" in out
    db = store.connect(db_path)
    [run] = store.list_runs(db)
    assert run["status"] == "interrupted" and run["attempts"] == 1
    [sweep] = store.list_sweeps(db)
    assert sweep["status"] == "interrupted"
    partial = {f["url"] for f in store.iter_findings(db)}
    assert 3 <= len(partial) < len(expected_urls())
    db.close()
    # Resume at full speed: the interrupted run is retried once.
    run_cli("schedule", "edit", "夜巡", "--set", "DOWNLOAD_DELAY=0", "--set", "CONCURRENT_REQUESTS=16",
            "--db", db_path, check=True)
    resumed = subprocess.run(scheduler_cmd(db_path, sandbox, "--once"), capture_output=True, text=True,
                             cwd=ROOT, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    db = store.connect(db_path)
    [run] = store.list_runs(db)
    assert run["status"] == "finished" and run["attempts"] == 2
    urls = [f["url"] for f in store.iter_findings(db)]
    assert len(urls) == len(set(urls)) and set(urls) == expected_urls() and partial <= set(urls)
    assert [s["status"] for s in store.list_sweeps(db)] == ["finished", "interrupted"]
    db.close()


def test_run_that_cannot_start_fails_with_alert(fresh_db, db_path):
    add_schedule(fresh_db, "夜巡", "0 2 * * *", at("2026-12-01T01:00"), platforms="gongyou")
    sched = Scheduler(db_path, sandbox="http://127.0.0.1:1", python="/nonexistent/python", echo=lambda m: None)
    [run_id] = sched.claim_due(fresh_db, at(DUE))
    assert sched.execute(run_id)
    run = store.get_run(fresh_db, run_id)
    assert run["status"] == "failed" and "无法启动巡查进程" in run["note"]
    [alert] = store.list_alerts(fresh_db)
    assert alert["kind"] == "sweep_failed" and "夜巡" in alert["message"]
    assert store.list_locks(fresh_db) == []
    assert sched.tick(at(DUE)) == []              # a failed run is not retried
