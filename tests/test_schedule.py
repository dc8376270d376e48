"""Schedules and the scheduler: cron slots with a controllable clock,
restart without double runs, two schedulers on one database, SIGTERM
mid-sweep then resume without duplicates, locks; the follow-ups: evidence
captured after a scheduled sweep (and a failed capture recorded), due
removal rechecks run once by whichever scheduler gets there first."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest

from crawler.sandbox.world import world
from crawler.scheduler import Scheduler
from helpers import ROOT, cli, run_cli
from keywords import default_keywords, expand_queries
from pipelines import store
from pipelines.schedules import ScheduleError, add_schedule, edit_schedule, next_times, parse_time
from seeds import sent_takedowns

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
    # Evidence is not what this test is about (see the follow-up tests): off, for speed.
    first = subprocess.run(scheduler_cmd(db_path, sandbox, "--once", "--no-evidence"), capture_output=True,
                           text=True, cwd=ROOT, timeout=120)
    assert first.returncode == 0, first.stderr
    second = subprocess.run(scheduler_cmd(db_path, sandbox, "--once", "--no-evidence"), capture_output=True,
                            text=True, cwd=ROOT, timeout=120)
    assert second.returncode == 0 and "开始执行" not in second.stdout
    db = store.connect(db_path)
    [run] = store.list_runs(db)
    assert run["id"] == run_id and run["status"] == "finished" and run["attempts"] == 2, \
        (run, store.list_locks(db), first.stdout, first.stderr[-3000:], second.stdout, second.stderr[-3000:])
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
    assert sum(o[0].count("取证完成") for o in outs) == 1
    db = store.connect(db_path)
    assert len(store.list_runs(db)) == 1 and store.list_runs(db)[0]["status"] == "finished"
    assert len(store.list_sweeps(db)) == 1
    _, flagged = flagged_of_last_sweep(db)
    assert flagged and all(len(store.evidence_for(db, finding_id=f["id"])) == 1 for f in flagged)
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
    assert not run["evidence_status"]                 # stopped: no capture began
    [sweep] = store.list_sweeps(db)
    assert sweep["status"] == "interrupted"
    partial = {f["url"] for f in store.iter_findings(db)}
    assert 3 <= len(partial) < len(expected_urls())
    db.close()
    # Resume at full speed: the interrupted run is retried once.
    run_cli("schedule", "edit", "夜巡", "--set", "DOWNLOAD_DELAY=0", "--set", "CONCURRENT_REQUESTS=16",
            "--db", db_path, check=True)
    resumed = subprocess.run(scheduler_cmd(db_path, sandbox, "--once", "--no-evidence"), capture_output=True,
                             text=True, cwd=ROOT, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    db = store.connect(db_path)
    [run] = store.list_runs(db)
    assert run["status"] == "finished" and run["attempts"] == 2
    assert run["evidence_status"] == "off"            # `scheduler --no-evidence`
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


# ---------------------------------------------------------------- follow-ups

def flagged_of_last_sweep(db) -> tuple[int, list[dict]]:
    [sweep] = store.list_sweeps(db, 1)
    return sweep["id"], [f for f in store.findings_of_sweep(db, sweep["id"], flagged_only=True)
                         if f["status"] not in ("new", "dismissed")]


def test_scheduled_sweep_captures_evidence_for_its_flagged_items(sandbox, db_path, capsys):
    from pipelines import evidence
    # A flagged finding the sweep will not see: it is not the sweep's to capture.
    other = next(l for l in world().listings if l.platform == "market" and l.label == 1 and l.removed is None)
    db = store.connect(db_path)
    [outside] = store.record_findings(db, [{"url": other.url, "platform": "taohuo", "title": other.title,
                                            "flagged": True, "score": 90}], None)
    db.close()
    add_forum_schedule(db_path, "夜巡", "CERTWATCH_EVIDENCE_CONCURRENCY=6")
    proc = subprocess.run(scheduler_cmd(db_path, sandbox, "--once"), capture_output=True, text=True,
                          cwd=ROOT, timeout=180)
    assert proc.returncode == 0, proc.stderr
    db = store.connect(db_path)
    try:
        sweep_id, flagged = flagged_of_last_sweep(db)
        # … and the look-alike sites its listings name (recorded by name as the sweep stored them).
        sites = [s for s in db["sites"].rows if s["verdict"] in ("fake_gov_site", "suspicious")]
        assert len(flagged) >= 3 and sites
        total = len(flagged) + len(sites)
        assert f"取证完成，成功 {total} 条，失败 0 条" in proc.stdout, proc.stdout
        for ev in [store.evidence_for(db, finding_id=f["id"]) for f in flagged] + \
                  [store.evidence_for(db, site_id=s["id"]) for s in sites]:
            [ev] = ev
            assert ev["status"] == "ok" and "调度程序" in ev["operator"] and "夜巡" in ev["operator"]
            assert {x["kind"] for x in ev["files"]} == {"screenshot", "raw", "html", "warc", "record"}
        assert store.evidence_for(db, finding_id=outside.id) == []
        assert evidence.verify(db).problems == []
        [run] = store.list_runs(db)
        assert run["status"] == "finished" and run["evidence_status"] == "finished"
        assert (run["evidence_ok"], run["evidence_failed"]) == (total, 0)
        assert store.get_sweep(db, sweep_id)["stats"]["certwatch/evidence/ok"] == total
        assert store.list_locks(db) == []
    finally:
        db.close()
    code, out, _ = cli(capsys, "schedule", "runs", "--db", db_path)
    assert code == 0 and f"成功 {total}，失败 0" in out
    code, out, _ = cli(capsys, "health", "--db", db_path)
    assert f"巡查后取证：完成，成功 {total} 条，失败 0 条" in out


def test_capture_failure_is_recorded_and_the_scheduler_finishes(sandbox, db_path, capsys):
    # A browser that cannot start: the sweep (plain HTTP) runs, capture fails.
    add_forum_schedule(db_path, "夜巡", 'PLAYWRIGHT_LAUNCH_OPTIONS={"executable_path": "/nonexistent/chromium"}')
    proc = subprocess.run(scheduler_cmd(db_path, sandbox, "--once"), capture_output=True, text=True,
                          cwd=ROOT, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "取证失败：无法启动浏览器" in proc.stdout and "巡查调度程序已停止" in proc.stdout, proc.stdout
    db = store.connect(db_path)
    try:
        [run] = store.list_runs(db)
        assert run["status"] == "finished" and run["evidence_status"] == "failed"
        assert "无法启动浏览器" in run["evidence_note"]
        sweep = store.get_sweep(db, run["sweep_id"])
        assert sweep["status"] == "finished" and sweep["stats"]["certwatch/evidence/status"] == "failed"
        [alert] = store.list_alerts(db, run["sweep_id"])
        assert alert["kind"] == "evidence_failed" and "夜巡" in alert["message"]
        assert store.evidence_for(db, finding_id=flagged_of_last_sweep(db)[1][0]["id"]) == []
        assert store.list_locks(db) == []
        assert store.evidence_retry_runs(db, 2) == []            # a failed step is not retried
    finally:
        db.close()
    code, out, _ = cli(capsys, "schedule", "runs", "--db", db_path)
    assert "失败" in out and "取证：无法启动浏览器" in out
    code, out, _ = cli(capsys, "health", "--db", db_path)
    assert "巡查后取证：失败" in out and "【certwatch 取证告警】" in out
    # Per schedule: evidence off.
    assert cli(capsys, "schedule", "edit", "夜巡", "--no-evidence", "--db", db_path)[0] == 0
    assert "自动取证" in (out := cli(capsys, "schedule", "list", "--db", db_path)[1]) and " 否 " in out


def sent_batch(db, listings, sent_at: datetime) -> list[int]:
    """Confirmed findings for ``listings`` (one platform) in a batch sent at ``sent_at``."""
    return list(sent_takedowns(db, listings, sent_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")).values())


def test_due_recheck_runs_once_with_two_schedulers(sandbox, db_path, capsys):
    market = [l for l in world().listings if l.platform == "market" and l.label == 1]
    gone = next(l for l in market if l.removed == "404")
    present = next(l for l in market if l.removed is None)
    later = next(l for l in world().listings if l.platform == "forum" and l.label == 1 and l.removed is None)
    db = store.connect(db_path)
    due_ids = sent_batch(db, [gone, present], at(DUE) - timedelta(days=1, hours=12))   # T+1 is due
    [not_due] = sent_batch(db, [later], at(DUE) - timedelta(hours=12))                  # nothing due yet
    db.close()
    env = {**os.environ, "CERTWATCH_RECHECK_SCREENSHOTS": "0"}
    procs = [subprocess.Popen(scheduler_cmd(db_path, sandbox, "--once"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert sum(o[0].count("开始下架复查") for o in outs) == 1, outs
    assert any("复查 2 条：已下架 1，仍在线 1，无法判断 0" in o[0] for o in outs), outs
    db = store.connect(db_path)
    try:
        [rr] = store.list_recheck_runs(db)
        assert rr["status"] == "finished" and rr["items"] == 2 and rr["attempts"] == 1
        assert rr["due_at"] == "2026-11-30T18:00:30Z"
        checks = store.takedown_checks(db)
        assert sorted(c["finding_id"] for c in checks) == sorted(due_ids)
        assert {c["due"] for c in checks} == {"T+1"}
        assert store.get_finding(db, due_ids[0])["status"] == "removed"
        assert store.get_finding(db, not_due)["status"] == "takedown_requested"
        assert store.list_locks(db) == []
    finally:
        db.close()
    # A third scheduler later the same tick-time: nothing is due any more.
    again = subprocess.run(scheduler_cmd(db_path, sandbox, "--once"), capture_output=True, text=True,
                           cwd=ROOT, timeout=120, env=env)
    assert again.returncode == 0 and "下架复查" not in again.stdout.replace("到期下架复查：开", "")
    db = store.connect(db_path)
    assert len(store.takedown_checks(db)) == 2 and len(store.list_recheck_runs(db)) == 1
    db.close()
    code, out, _ = cli(capsys, "schedule", "runs", "--db", db_path)
    assert "下架复查" in out and "复查 2 条：已下架 1，仍在线 1，无法判断 0" in out


def test_followups_interrupted_are_retried_once(fresh_db, db_path):
    """Without children: a recheck left running by a dead scheduler and an
    evidence step stopped by SIGTERM become 'interrupted' and are taken
    again once; a due set that ran is not claimed again."""
    # Recheck runs: claimed once per key; interrupted → retried once.
    key, due_at = "2026-12-01:abc", "2026-11-30T18:00:30Z"
    crashed = Scheduler(db_path, owner=dead_owner())
    rid = store.claim_recheck_run(fresh_db, key, due_at, 2, crashed.owner, 2)
    assert store.start_recheck_run(fresh_db, rid, crashed.owner, 1)
    store.acquire_lock(fresh_db, "recheck", crashed.owner, store.now_utc(), "2999-01-01T00:00:00.000000Z")
    sched = Scheduler(db_path, echo=lambda m: None)
    assert sched.recover(fresh_db) == 1
    assert store.get_recheck_run(fresh_db, rid)["status"] == "interrupted"
    assert store.claim_recheck_run(fresh_db, key, due_at, 2, sched.owner, 2) == rid
    assert store.start_recheck_run(fresh_db, rid, sched.owner, os.getpid())
    assert not store.start_recheck_run(fresh_db, rid, "other", 1)          # compare-and-set
    store.finish_recheck_run(fresh_db, rid, "interrupted", "调度程序收到停止信号")
    assert store.claim_recheck_run(fresh_db, key, due_at, 2, sched.owner, 2) is None   # attempts used up
    store.finish_recheck_run(fresh_db, rid, "finished")
    assert store.claim_recheck_run(fresh_db, key, due_at, 2, sched.owner, 2) is None
    assert store.claim_recheck_run(fresh_db, "2026-12-02:abc", due_at, 2, sched.owner, 2) != rid
    # Evidence: stopped before it began → interrupted, then retried by a tick.
    add_schedule(fresh_db, "夜巡", "0 2 * * *", at("2026-12-01T01:00"), platforms="gongyou")
    [run_id] = sched.claim_due(fresh_db, at(DUE))
    assert store.start_run(fresh_db, run_id, sched.owner, os.getpid())
    sweep_id = store.start_sweep(fresh_db, ["gongyou"], "sandbox", "", 1)
    store.finish_sweep(fresh_db, sweep_id, "finished", {})
    store.set_run_sweep(fresh_db, run_id, sweep_id)
    store.finish_run(fresh_db, run_id, "finished")
    schedule = store.get_schedule(fresh_db, "夜巡")
    sched.stop.set()
    assert sched.evidence_step(run_id, schedule, sweep_id) == "interrupted"
    assert [r["id"] for r in store.evidence_retry_runs(fresh_db, 2)] == [run_id]
    sched.stop.clear()
    assert sched.tick(at(DUE)) == []
    run = store.get_run(fresh_db, run_id)
    assert run["evidence_status"] == "finished" and run["evidence_attempts"] == 1
    assert store.evidence_retry_runs(fresh_db, 2) == [] and store.list_locks(fresh_db) == []
    # Off for this schedule: recorded as such.
    edit_schedule(fresh_db, "夜巡", at(DUE), settings={"CERTWATCH_SCHEDULE_EVIDENCE": "false"})
    assert sched.evidence_step(run_id, store.get_schedule(fresh_db, "夜巡"), sweep_id) == "off"


def test_schedule_keeps_its_profiles_and_a_failed_run_says_why(fresh_db, db_path, tmp_path, capsys,
                                                               monkeypatch):
    """A custom platform added with `schedule add --profiles` (docs/platforms.md
    step 6), the scheduler started without --profiles: the run sweeps the
    schedule's own folder (kept as an absolute path). Its sweep fails (the
    sandbox address is dead) and the run's note is the sweep's reason, not
    only the child's exit code."""
    (tmp_path / "myforum.yaml").write_text(
        "name: myforum\ntitle: 示例论坛\nkind: forum\nsandbox: false\nhosts: [bbs.example-luntan.cn]\n"
        "search:\n  url: \"http://bbs.example-luntan.cn/search.html?q={query}&page={page}\"\n"
        "  result: \"a.thread-link::attr(href)\"\n"
        "detail:\n  title: \"h1::text\"\n  text: \"div.post-body ::text\"\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path.parent)
    code, out, _ = cli(capsys, "schedule", "add", "--name", "自建平台", "--cron", "0 2 * * *", "--platforms",
                       "myforum", "--profiles", tmp_path.name, "--set", f"CERTWATCH_KEYWORD_FILTER={KEYWORD}", "--no-evidence",
                       "--now", "2026-12-01T01:00", "--db", db_path)                 # one keyword: few refusals
    assert code == 0 and f"平台配置目录 {tmp_path}" in out
    assert store.get_schedule(fresh_db, "自建平台")["profiles"] == str(tmp_path)
    code, out, _ = cli(capsys, "schedule", "edit", "自建平台", "--pages", "1", "--db", db_path)  # kept, still valid
    assert code == 0 and store.get_schedule(fresh_db, "自建平台")["profiles"] == str(tmp_path)
    code, _, err = cli(capsys, "schedule", "edit", "自建平台", "--profiles", "", "--db", db_path)
    assert code == 2 and "未知平台：myforum" in err                  # without the folder the platform is unknown
    sched = Scheduler(db_path, sandbox="http://127.0.0.1:1", echo=lambda m: None)
    [run_id] = sched.claim_due(fresh_db, at(DUE))
    sched.execute(run_id)
    run = store.get_run(fresh_db, run_id)
    sweep = store.get_sweep(fresh_db, run["sweep_id"])
    assert sweep["platforms"] == ["myforum"] and sweep["stats"].get("certwatch/platforms") == "myforum", sweep
    assert run["status"] == "failed" and sweep["stats"]["certwatch/failure"] in run["note"], run
    assert "没有选中任何平台" not in run["note"] and "退出码" not in run["note"]
