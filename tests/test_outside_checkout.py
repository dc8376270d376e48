"""A newcomer's day, from a folder outside the checkout: the installed
`certwatch` (the venv's bin/certwatch, as a user runs it) sweeps the sandbox
with a platform profile from that folder, runs a schedule and writes the
统计表, all with the default database ./certwatch.db; progress goes to stderr
as plain lines (not a terminal), log records to the log file, times in
Beijing time."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import openpyxl

from helpers import ROOT, cli, forum_profile
from reports.periods import bimonthly

CERTWATCH = Path(sys.executable).parent / "certwatch"
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")       # \r, ANSI escapes …; \n is fine


def certwatch(cwd: Path, *args, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CERTWATCH_", "SCRAPY_"))}
    proc = subprocess.run([str(CERTWATCH), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**env, "PYTHONPATH": ""})
    assert proc.returncode == 0, f"certwatch {args}: {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    assert not CONTROL.search(proc.stderr), proc.stderr[-1000:]
    for english in ("Traceback", "ERROR", "net::ERR_", "CONNECT tunnel", "WARNING"):
        assert english not in proc.stderr, proc.stderr[-2000:]
    return proc


def test_sweep_schedule_and_stats_from_another_folder(sandbox, tmp_path, monkeypatch, capsys):
    assert CERTWATCH.exists(), "the venv's console script"
    home = tmp_path / "科室"
    home.mkdir()
    assert ROOT not in home.parents
    forum_profile(home / "我的平台", "myforum", "我的论坛", "bbs.gongyou.cn", render="http")

    sweep = certwatch(home, "sweep", "--sandbox", sandbox, "--profiles", "我的平台", "--platforms", "myforum",
                      "--keyword", "焊工", "--pages", "1")
    assert "我的论坛" in sweep.stdout and "巡查 #1：完成；数据库 certwatch.db" in sweep.stdout
    lines = sweep.stderr.splitlines()
    assert lines and all(re.fullmatch(r"巡查：请求 \d+，信息 \d+，可疑 \d+，已用 \d+:\d\d", line) for line in lines)
    assert (home / "certwatch.db").is_file()

    # Commands that do not crawl, in this process (same folder, same default database).
    monkeypatch.chdir(home)
    code, out, err = cli(capsys, "health", "--db", "certwatch.db")
    assert re.search(r"巡查 #1（完成）开始 \d{4}-\d\d-\d\d \d\d:\d\d:\d\d，结束 .*（北京时间）", out), out + err
    assert not re.search(r"\d\dZ\b", out)
    code, out, err = cli(capsys, "schedule", "add", "--db", "certwatch.db", "--name", "焊工夜巡", "--cron", "0 2 * * *",
                         "--platforms", "gongyou", "--pages", "1", "--no-evidence", "--set", "CERTWATCH_KEYWORD_FILTER=焊工")
    assert code == 0, err
    run = certwatch(home, "schedule", "run", "焊工夜巡", "--sandbox", sandbox)
    assert "计划“焊工夜巡”执行记录 #1：完成，巡查 #2" in run.stdout
    assert re.search(r"^巡查：请求 [1-9]\d*，信息 \d+", run.stderr, re.M)    # the child's sweep shows its progress

    stats = certwatch(home, "report", "stats", "--out", "统计表.xlsx", "--person", "张三")
    assert stats.stdout.splitlines()[-1] == "统计表.xlsx"
    ws = openpyxl.load_workbook(home / "统计表.xlsx")["统计表"]
    assert ws["A1"].value == bimonthly().title() and ws["A3"].value == "填报人：张三"
    assert {"certwatch.db", "我的平台", "统计表.xlsx"} <= {p.name for p in home.iterdir()}
