"""The progress display and the log file (crawler/progress.py, logfile.py): plain lines
without control characters off a terminal, a rich bar on one, log records in
the file beside the database and not on the screen, English network errors
said in Chinese. The commands' own output is checked where they run
(test_outside_checkout, test_recheck, test_evidence)."""
from __future__ import annotations

import io
import logging
import re

from crawler import logfile
from crawler.logfile import log_note, log_to_file, translate
from crawler.progress import Progress

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")       # anything but \n


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_one_per_step_without_control_characters():
    out = io.StringIO()
    with Progress("取证", enabled=True, stream=out) as p:
        p.update(done=0, total=3, 成功=0, 失败=0)
        p.update(done=0, total=3, 成功=0, 失败=0)            # nothing new: no line
        p.update(done=1, 成功=1)
        p.update(done=2, 失败=1)
        p.update(done=3, 成功=2)
    lines = out.getvalue().splitlines()
    assert not CONTROL.search(out.getvalue())
    assert [re.sub(r"，已用 .*", "", line) for line in lines] == [
        "取证：0/3，成功 0，失败 0", "取证：1/3，成功 1，失败 0", "取证：2/3，成功 1，失败 1", "取证：3/3，成功 2，失败 1"]
    assert "剩余约" in lines[1] and lines[-1].endswith("完成")
    # Unknown total: counts and time used; --quiet: nothing.
    out = io.StringIO()
    with Progress("巡查", stream=out) as p:
        p.update(请求=5, 信息=2)
    assert re.fullmatch(r"巡查：请求 5，信息 2，已用 0:0\d\n", out.getvalue())
    out = io.StringIO()
    with Progress("巡查", enabled=False, stream=out) as p:
        p.update(请求=5)
    assert out.getvalue() == ""


def test_a_terminal_gets_the_rich_bar():
    out = Terminal()
    with Progress("复查下架", stream=out) as p:
        p.update(done=2, total=4, 已下架=1)
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())
    assert "\x1b[" in out.getvalue() and "复查下架" in text and "2/4" in text and "已下架 1" in text


def test_log_records_go_to_the_file_not_the_screen(tmp_path, capsys):
    db = str(tmp_path / "x" / "certwatch.db")
    try:
        path = log_to_file(db, "WARNING")
        logging.getLogger("scrapy.core.scraper").error("Error downloading <GET https://a.cn/>: net::ERR_X")
        logging.getLogger("pipelines.evidence").warning("capture failed")
        logging.getLogger("scrapy.core.engine").info("not at this level")
        assert capsys.readouterr().err == ""
        text = open(path, encoding="utf-8").read()
        assert path == str(tmp_path / "x" / "logs" / "certwatch.log")
        assert "ERROR: Error downloading" in text and "capture failed" in text and "not at this level" not in text
        assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+08:00 \[scrapy.core.scraper\] ERROR", text)
        assert log_note() == f"另有 1 条错误、1 条警告记入日志：{path}"
    finally:
        handler = logfile._ours()
        logging.root.removeHandler(handler)
        handler.close()
        logging.captureWarnings(False)


def test_network_errors_in_chinese():
    assert translate("无法打开页面：Page.goto: net::ERR_TUNNEL_CONNECTION_FAILED at https://a.cn/x") == \
        "无法打开页面：无法经代理建立 HTTPS 连接（ERR_TUNNEL_CONNECTION_FAILED）"
    assert translate("net::ERR_SOMETHING_NEW") == "网络错误（ERR_SOMETHING_NEW）"
    assert translate("Could not open CONNECT tunnel with proxy 127.0.0.1:1 [{'status': 405, "
                     "'reason': b'Method Not Allowed'}]") == "代理不支持 HTTPS 隧道（CONNECT 405）"
    assert translate("超过 45 秒未完成") == "超过 45 秒未完成"


def test_a_reader_that_goes_away_ends_the_command_quietly(tmp_path):
    """`certwatch keywords list | head -1`: when the reader has closed the pipe
    the command stops with 141 (as Unix tools do) and prints no traceback."""
    import os
    import subprocess
    import sys
    certwatch = os.path.join(os.path.dirname(sys.executable), "certwatch")
    db = tmp_path / "c.db"
    subprocess.run([certwatch, "keywords", "--db", db, "defaults"], check=True, capture_output=True, cwd=tmp_path)
    read, write = os.pipe()
    os.close(read)                                   # the reader is gone before the first line
    try:
        proc = subprocess.run([certwatch, "keywords", "--db", db, "list"], stdout=write,
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)
    finally:
        os.close(write)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == "", proc.stderr
