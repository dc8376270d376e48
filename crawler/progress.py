"""Long work is not silent: one progress display for sweeps, site checks,
removal rechecks, evidence capture and scheduled runs.

* ``Progress`` shows on stderr, in Chinese: done/total, counts, time used and
  time left where the total is known (counts and time used where it is not).
  On a terminal it is a rich progress bar; anywhere else (a pipe, a file, a
  service's journal) it writes one plain line per step, without control
  characters. ``--quiet`` turns it off (``enabled=False``).
* ``CrawlProgress`` is a ``Progress`` fed from a running crawl's stats once a
  second (``CrawlView`` says which stats are done, total and the counts);
  ``on_capture`` from ``pipelines.evidence.capture``'s callback.

Log records stay off the screen meanwhile: crawler/logfile.py.
"""
from __future__ import annotations

import os
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


class CrawlProgress(Progress):
    """A Progress the Twisted reactor feeds once a second from ``read_stats()``
    (a running crawl's stats); ``close()`` after ``process.start()`` shows the
    final counts."""

    def __init__(self, read_stats, view: CrawlView, enabled: bool = True):
        super().__init__(view.label, enabled=enabled, min_interval=0 if view.total else 10.0)
        self.read_stats, self.view, self.ticker = read_stats, view, None
        if enabled:
            from twisted.internet import task
            self.ticker = task.LoopingCall(lambda: show_stats(self, view, read_stats()))
            self.ticker.start(1.0, now=False)

    def close(self) -> None:
        if self.ticker is not None and self.ticker.running:
            self.ticker.stop()
        if self.enabled:
            show_stats(self, self.view, self.read_stats())
        super().close()




def on_capture(progress: Progress):
    """pipelines.evidence.capture's ``progress`` callback, shown on ``progress``."""
    def callback(item, stats) -> None:
        progress.update(done=stats.ok + stats.failed, total=stats.total, 成功=stats.ok, 失败=stats.failed)
    return callback
