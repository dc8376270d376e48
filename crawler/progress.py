"""Long work is not silent: one progress display for sweeps, site checks,
removal rechecks, evidence capture and scheduled runs, and log records kept
off the screen.

* ``Progress`` shows on stderr, in Chinese: done/total, counts, time used and
  time left where the total is known (counts and time used where it is not).
  On a terminal it is a rich progress bar; anywhere else (a pipe, a file, a
  service's journal) it writes one plain line per step, without control
  characters. ``--quiet`` turns it off (``enabled=False``).
* ``log_to_file`` sends every log record (Scrapy's, Twisted's, Playwright's,
  ours) to logs/certwatch.log beside the database (crawls set Scrapy's
  ``LOG_INSTALL_ROOT_HANDLER`` off, so Scrapy adds no screen handler):
  English download errors (``net::ERR_…``, ``Could not open CONNECT tunnel …
  405``) stay there, and ``log_note`` says at the end how many warnings and
  errors it holds. ``translate`` says the usual network errors in Chinese for
  the lines people do read (a failed capture, a failed check).
* ``crawl_progress`` drives a ``Progress`` from a running crawl's stats once a
  second (``CrawlView`` says which stats are done, total and the counts).
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time
from dataclasses import dataclass

# ---------------------------------------------------------------- display


def clock(seconds: float | None) -> str:
    """0:42, 12:05, 1:02:03."""
    if seconds is None or seconds < 0 or seconds != seconds:
        return "--:--"
    seconds = int(seconds + 0.5)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def _fields_text(fields: dict) -> str:
    return "，".join(f"{name} {value}" for name, value in fields.items())


def plain_line(label: str, done: int, total: int | None, fields: dict, elapsed: float) -> str:
    """One step as a plain line: '取证：3/10，成功 3，失败 0，已用 0:12，剩余约 0:28'."""
    parts = []
    if total is not None:
        parts.append(f"{done}/{total}")
    if fields:
        parts.append(_fields_text(fields))
    parts.append(f"已用 {clock(elapsed)}")
    if total:
        left = elapsed / done * (total - done) if 0 < done <= total else None
        parts.append(f"剩余约 {clock(left)}" if done < total else "完成")
    return f"{label}：" + "，".join(parts)


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM", "") != "dumb"
    except (AttributeError, ValueError):
        return False


class Progress:
    """``with Progress("取证", total=10) as p: p.update(done=3, 成功=3, 失败=0)``.

    ``total`` None: the total is unknown (a sweep); counts and time used are
    shown. ``min_interval``: plain lines at most this often (a sweep's once
    a second ticks), except the last."""

    def __init__(self, label: str, total: int | None = None, *, enabled: bool = True, stream=None,
                 min_interval: float = 0.0):
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = stream or sys.stderr
        self.min_interval = min_interval
        self.done, self.fields = 0, {}
        self.started = time.monotonic()
        self._last_text, self._last_at = None, 0.0
        self._rich = None
        if enabled and _is_terminal(self.stream):
            self._start_rich()

    # -- rich, on a terminal
    def _start_rich(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress as Bar, ProgressColumn
        from rich.text import Text
        owner = self

        class Status(ProgressColumn):
            def render(self, task):
                parts = []
                if owner.total is not None:
                    parts.append(f"{int(task.completed)}/{owner.total}")
                if owner.fields:
                    parts.append(_fields_text(owner.fields))
                parts.append(f"已用 {clock(task.elapsed)}")
                if owner.total:
                    left = task.time_remaining
                    if left is None and 0 < owner.done < owner.total and task.elapsed:
                        left = task.elapsed / owner.done * (owner.total - owner.done)
                    parts.append(f"剩余约 {clock(left)}" if owner.done < owner.total else "完成")
                return Text("  ".join(parts))

        console = Console(file=self.stream, highlight=False)
        # The bar pulses while the total is unknown (a sweep, candidates still being found).
        self._rich = Bar("[bold]{task.description}", BarColumn(bar_width=30), Status(), console=console,
                         transient=False, refresh_per_second=4, redirect_stdout=False, redirect_stderr=False)
        self._task = self._rich.add_task(self.label, total=self.total)
        self._rich.start()

    def update(self, done: int | None = None, total: int | None = None, **fields) -> None:
        if not self.enabled:
            return
        if total is not None:
            self.total = total
        if done is not None:
            self.done = done
        if fields:
            self.fields = {**self.fields, **fields}
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done, total=self.total)
            return
        self._plain(force=self.total is not None and self.done >= self.total)

    def advance(self, n: int = 1, **fields) -> None:
        self.update(done=self.done + n, **fields)

    def _plain(self, force: bool = False) -> None:
        now = time.monotonic()
        text = plain_line(self.label, self.done, self.total, self.fields, 0)   # what changed, time aside
        if text == self._last_text or (not force and now - self._last_at < self.min_interval):
            return
        self._last_text, self._last_at = text, now
        self._write(plain_line(self.label, self.done, self.total, self.fields, now - self.started))

    def _write(self, line: str) -> None:
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except (OSError, ValueError):       # the reader went away: the work goes on
            self.enabled = False

    def note(self, text: str) -> None:
        """A line above the display (plain: a line of its own)."""
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.console.print(text, markup=False, highlight=False)
        else:
            self._write(text)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._rich is not None:
            self._rich.update(self._task, completed=self.done, total=self.total)
            self._rich.stop()
            self._rich = None
        else:
            self._plain(force=True)
        self.enabled = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------- crawls


@dataclass(frozen=True)
class CrawlView:
    """How a crawl's stats read as progress: the label, the stats key of the
    total (None: unknown), the keys whose sum is done, and the counts shown
    (Chinese name, stats key)."""
    label: str
    total: str | None = None
    done: tuple = ()
    fields: tuple = ()


SWEEP = CrawlView("巡查", fields=(("请求", "downloader/request_count"), ("信息", "certwatch/items"),
                                   ("可疑", "certwatch/flagged")))
SITES = CrawlView("核查网站", total="sites/candidates", done=("sites/checked",),       # judged (WHOIS included)
                  fields=(("无法访问", "sites/unreachable"), ("可疑", "sites/flagged")))
RECHECK = CrawlView("复查下架", total="recheck/requests",
                    done=("recheck/removed", "recheck/still_present", "recheck/unknown"),
                    fields=(("已下架", "recheck/removed"), ("仍在线", "recheck/still_present"),
                            ("无法判断", "recheck/unknown")))


def show_stats(progress: Progress, view: CrawlView, stats: dict) -> None:
    get = lambda key: int(stats.get(key) or 0)  # noqa: E731
    total = get(view.total) if view.total and view.total in stats else None
    done = sum(get(k) for k in view.done) if view.done else None
    progress.update(done=done, total=total, **{name: get(key) for name, key in view.fields})


def crawl_progress(read_stats, view: CrawlView, enabled: bool = True) -> Progress:
    """A Progress fed once a second from ``read_stats()`` (a running crawl's
    stats) by the Twisted reactor; ``close()`` it after ``process.start()``."""
    progress = Progress(view.label, enabled=enabled, min_interval=0 if view.total else 10.0)
    if not enabled:
        return progress
    from twisted.internet import task

    def tick():
        show_stats(progress, view, read_stats())
    ticker = task.LoopingCall(tick)
    ticker.start(1.0, now=False)
    close = progress.close

    def stop():
        if ticker.running:
            ticker.stop()
        show_stats(progress, view, read_stats())
        close()
    progress.close = stop
    return progress


def on_capture(progress: Progress):
    """pipelines.evidence.capture's ``progress`` callback, shown on ``progress``."""
    def callback(item, stats) -> None:
        progress.update(done=stats.ok + stats.failed, total=stats.total, 成功=stats.ok, 失败=stats.failed)
    return callback


# ---------------------------------------------------------------- the log file

_HANDLER_MARK = "_certwatch_log_file"


class _CountingFileHandler(logging.FileHandler):
    """A log file (its folder made on the first record, times in Beijing
    time) that counts warnings and errors."""

    def __init__(self, path: str, level: int):
        super().__init__(path, encoding="utf-8", delay=True)
        self.setLevel(level)
        formatter = logging.Formatter("%(asctime)s+08:00 [%(name)s] %(levelname)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        formatter.converter = lambda seconds: time.gmtime(seconds + 8 * 3600)
        self.setFormatter(formatter)
        self.counts = {"WARNING": 0, "ERROR": 0}
        setattr(self, _HANDLER_MARK, True)

    def _open(self):
        os.makedirs(os.path.dirname(self.baseFilename), exist_ok=True)
        return super()._open()

    def emit(self, record):
        key = "ERROR" if record.levelno >= logging.ERROR else "WARNING" if record.levelno >= logging.WARNING else ""
        if key:
            self.counts[key] += 1
        super().emit(record)


def log_path(db_path: str) -> str:
    """logs/certwatch.log beside the database (evidence/ and referrals/ live there too)."""
    return os.path.join(os.path.dirname(os.path.abspath(db_path)), "logs", "certwatch.log")


def _ours() -> _CountingFileHandler | None:
    return next((h for h in logging.root.handlers if getattr(h, _HANDLER_MARK, False)), None)


def log_to_file(db_path: str, level: str | int = "WARNING") -> str:
    """Every log record at ``level`` and above to the log file beside
    ``db_path`` and none to the screen (a handler of ours replaces the one
    before; others' stderr handlers are removed). Returns the file's path.
    Crawls keep Scrapy from adding its own (``quiet_scrapy``)."""
    path = log_path(db_path)
    numeric = logging.getLevelName(str(level).upper()) if not isinstance(level, int) else level
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    old = _ours()
    if old is not None and old.baseFilename == path:
        old.setLevel(numeric)
    else:
        if old is not None:
            logging.root.removeHandler(old)
            old.close()
        logging.root.addHandler(_CountingFileHandler(path, numeric))
    for h in list(logging.root.handlers):
        if type(h) is logging.StreamHandler and getattr(h, "stream", None) in (sys.stderr, sys.stdout):
            logging.root.removeHandler(h)
    if logging.root.level > numeric or logging.root.level == logging.NOTSET:
        logging.root.setLevel(numeric)
    logging.captureWarnings(True)
    return path


def quiet_scrapy(settings) -> None:
    """A crawl's settings: Scrapy installs no log handler of its own (its
    records reach ours, in the file). ``scrapy crawl`` keeps Scrapy's default."""
    settings.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")


def log_note() -> str:
    """'另有 2 条错误、5 条警告记入日志 PATH' when the log file got any; else ''."""
    h = _ours()
    if h is None or not (h.counts["ERROR"] or h.counts["WARNING"]):
        return ""
    what = "、".join(f"{n} 条{name}" for name, n in (("错误", h.counts["ERROR"]), ("警告", h.counts["WARNING"])) if n)
    return f"另有 {what}记入日志：{h.baseFilename}"


# ---------------------------------------------------------------- errors people read

NET_ERRORS = {
    "ERR_TUNNEL_CONNECTION_FAILED": "无法经代理建立 HTTPS 连接",
    "ERR_PROXY_CONNECTION_FAILED": "无法连接代理服务器",
    "ERR_NAME_NOT_RESOLVED": "域名无法解析",
    "ERR_NAME_RESOLUTION_FAILED": "域名无法解析",
    "ERR_CONNECTION_REFUSED": "连接被拒绝",
    "ERR_CONNECTION_RESET": "连接被重置",
    "ERR_CONNECTION_CLOSED": "连接被关闭",
    "ERR_CONNECTION_TIMED_OUT": "连接超时",
    "ERR_TIMED_OUT": "访问超时",
    "ERR_ADDRESS_UNREACHABLE": "地址无法访问",
    "ERR_EMPTY_RESPONSE": "服务器没有返回内容",
    "ERR_TOO_MANY_REDIRECTS": "跳转次数过多",
    "ERR_SSL_PROTOCOL_ERROR": "HTTPS 握手失败",
    "ERR_CERT_AUTHORITY_INVALID": "网站证书不受信任",
    "ERR_CERT_COMMON_NAME_INVALID": "网站证书与域名不符",
    "ERR_CERT_DATE_INVALID": "网站证书已过期或尚未生效",
    "ERR_ABORTED": "页面加载被中止",
    "ERR_BLOCKED_BY_CLIENT": "请求被拦截",
    "ERR_INTERNET_DISCONNECTED": "网络未连接",
    "ERR_INVALID_URL": "网址无效",
}
_NET = re.compile(r"(?:\b(?:Page|Frame|Response)\.\w+: )?net::(ERR_[A-Z_]+)(?: at \S+)?")
_TUNNEL = re.compile(r"Could not open CONNECT tunnel with proxy \S+ \[\{'status': (\d+).*?\}\]", re.S)


def translate(text: str) -> str:
    """The usual English network errors in a message, said in Chinese (the
    code kept in brackets): 'net::ERR_TUNNEL_CONNECTION_FAILED at https://…' →
    '无法经代理建立 HTTPS 连接（ERR_TUNNEL_CONNECTION_FAILED）'."""
    text = _NET.sub(lambda m: f"{NET_ERRORS.get(m[1], '网络错误')}（{m[1]}）", str(text or ""))
    return _TUNNEL.sub(lambda m: f"代理不支持 HTTPS 隧道（CONNECT {m[1]}）", text)
