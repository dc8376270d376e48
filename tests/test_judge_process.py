"""The sale classifier in the sweep's second process (pipelines/judgeproc.py):
the same verdicts as judging in the sweep's own process, and nothing lost when
the judge fails or meets input it cannot judge."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

from helpers import ROOT, run_cli

from pipelines import store


def _verdicts(db_path: str) -> dict:
    con = sqlite3.connect(db_path)
    rows = con.execute("SELECT url, flagged, score, family, reasons, contacts FROM findings").fetchall()
    con.close()
    return {r[0]: r[1:] for r in rows}


def _sweep_stats(db_path: str) -> dict:
    db = store.connect(db_path)
    try:
        return store.get_sweep(db, store.list_sweeps(db)[0]["id"])["stats"]
    finally:
        db.close()


def test_sweep_judged_apart_gives_the_same_findings(sandbox, tmp_path):
    """One forum sweep judged in the judge process, one in the sweep's own
    process: the same findings, verdicts, reasons and contacts."""
    dbs = {}
    for mode in ("on", "off"):
        db_path = str(tmp_path / mode / "certwatch.db")
        proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--platforms", "gongyou",
                       "--keyword", "电工", "--quiet", "--set", f"CERTWATCH_JUDGE_PROCESS={mode}")
        assert proc.returncode == 0, proc.stderr[-2000:]
        dbs[mode] = db_path
    apart, here = _verdicts(dbs["on"]), _verdicts(dbs["off"])
    assert apart and apart == here
    assert any(v[0] for v in apart.values())            # something was flagged, with its reasons
    on, off = _sweep_stats(dbs["on"]), _sweep_stats(dbs["off"])
    assert on["certwatch/judged_apart"] == on["certwatch/items"] == off["certwatch/items"] == len(apart)
    assert "certwatch/judged_apart" not in off


# The judge's own behaviour, in a fresh single-threaded process (a fork copies
# no other thread): listings judged apart, then the judge killed while it holds
# some, then input it cannot judge. Every answer must equal classify()'s here.
_SCRIPT = r"""
import asyncio, json, logging, os, signal, sys
sys.path.insert(0, sys.argv[1])
from pipelines import judgeproc
from pipelines.sales import classify

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("pipelines.judgeproc").addHandler(Keep())

texts = [("焊工证包过不用考试，微信 abc12345，当天出证可查", "焊工证出售"),
         ("电工证培训报名：本中心组织理论和实操培训，考试合格由应急管理局发证", "培训通知"),
         ("高处作业证 加急办理 不用本人到场 V：gzz8899 官网可查", None)] * 4

async def main():
    judge = judgeproc.start(None)
    assert judge is not None and judgeproc.current() is judge
    first = await asyncio.gather(*(judge.submit(t, ti, lambda v: v) for t, ti in texts[:3]))
    out = {"first": first}
    # Larger than the pipe holds (64 KiB): sent as the pipe drains, answered whole.
    big = ("焊工证包过，微信 abc12345。" + "安全生产培训的课程安排如下。" * 400 + "\n") * 12
    out["big"] = await judge.submit(big, "长帖", lambda v: v)
    out["big_expected"] = classify(big, "长帖").as_dict()
    out["big_len"] = len(big.encode())
    # Kill the judge with listings in flight: each is judged here instead.
    futs = [judge.submit(t, ti, lambda v, t=t, ti=ti: v if v is not None else classify(t, ti).as_dict() | {"here": True})
            for t, ti in texts[3:]]
    os.kill(judge.pid, signal.SIGKILL)
    out["after_kill"] = await asyncio.gather(*futs)
    out["current_after"] = judgeproc.current() is not None
    judgeproc.stop()
    # Input the judge cannot judge: the error is met here, the same one classify() raises.
    judge = judgeproc.start(None)
    errors = []
    for bad in (12345, lambda: None):
        try:
            await judge.submit(bad, "标题", lambda v: v if v is not None else classify(bad, "标题").as_dict())
        except Exception as exc:
            errors.append(type(exc).__name__)
    out["errors"] = errors
    out["alive_after_errors"] = judgeproc.current() is not None
    out["still_judges"] = await judge.submit(*texts[0], lambda v: v)
    judgeproc.stop()
    out["expected"] = [classify(t, ti).as_dict() for t, ti in texts]
    try:
        classify(12345, "标题")
    except Exception as exc:
        out["expected_error"] = type(exc).__name__
    out["log"] = records
    print(json.dumps(out, ensure_ascii=False))

asyncio.run(main())
"""


def test_judge_killed_or_refusing_loses_nothing():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, ROOT], capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    expected = out["expected"]
    assert out["first"] == expected[:3]
    assert out["first"][0]["flagged"] and not out["first"][1]["flagged"]
    assert out["big_len"] > 3 * 65536 and out["big"] == out["big_expected"]
    # After the kill every listing has a verdict, the judge's or this process's, and they agree.
    assert [{k: v for k, v in r.items() if k != "here"} for r in out["after_kill"]] == expected[3:]
    assert any(r.get("here") for r in out["after_kill"])       # the last ones at least were judged here
    assert out["current_after"] is False
    assert any("判定子进程已退出（被信号 9 终止）" in m and "改在主进程内判定" in m for m in out["log"]), out["log"]
    # A text that is no text: the judge answers "not mine", the error is the one classify() raises here;
    # an unpicklable value never reaches the judge. The judge stays up and judges on.
    assert out["expected_error"] == "TypeError" and out["errors"] == ["TypeError", "TypeError"]
    assert out["alive_after_errors"] is True and out["still_judges"] == expected[0]
