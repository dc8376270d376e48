"""The sale classifier in a second process, so that a sweep's judging runs on
the machine's second core while its first fetches and parses pages.

A sweep (:func:`crawler.sweep.run`) forks one judge before its crawlers
start; the sale step (:class:`pipelines.sales.SalePipeline`) sends each
listing's title and text to it and awaits the verdict, which the store step
then writes as before: the judge only reads (its keyword dictionary), the
sweep's process stays the store's one writer.

Nothing is lost when the judge fails: a listing it could not judge (an
exception on hostile input, or the judge gone) is judged again in the sweep's
own process, which reproduces the same exception or the same verdict; after
the judge is gone every later listing is judged there too, with one Chinese
warning in the log. Ctrl-C (and a stop signal sent to the whole process
group) reaches the judge too; it ignores SIGINT and SIGTERM and serves until
the sweep, having drained its items, closes the pipe; a sweep killed
outright closes it too, and the judge exits.

Frames on both pipes are a 4-byte little-endian length and a pickle: the two
ends are one program (a fork), the pipes are private to them.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import pickle
import signal
import struct
import threading
import time

logger = logging.getLogger(__name__)

HEADER = struct.Struct("<I")
STOP_WAIT = 5.0          # seconds a judge may take to finish its last listing at the end of a sweep

_current: "Judge | None" = None


def current() -> "Judge | None":
    """The sweep's running judge, or None (classify in this process)."""
    judge = _current
    return judge if judge is not None and judge.alive else None


def wanted(setting) -> bool:
    """``CERTWATCH_JUDGE_PROCESS``: "auto" (the default) forks a judge when
    the machine has a second core; on/off switches force it."""
    from pipelines.switches import truthy
    if str(setting or "auto").strip().lower() == "auto":
        return (os.cpu_count() or 1) > 1
    return truthy(setting)


def can_fork() -> bool:
    """Whether this process can fork a judge safely: it has ``os.fork`` and
    no other thread runs (a fork would copy the locks it holds)."""
    return hasattr(os, "fork") and threading.active_count() == 1


def start(userdict: str | None = None) -> "Judge | None":
    """Fork the judge (None where :func:`can_fork` says no)."""
    global _current
    if not can_fork():
        return None
    _current = Judge(userdict)
    return _current


def stop() -> None:
    global _current
    judge, _current = _current, None
    if judge is not None:
        judge.close()


def _frames(buf: bytearray) -> list:
    """The complete frames at the start of ``buf``, unpickled and removed from it."""
    out = []
    pos = 0
    with memoryview(buf) as view:
        while len(buf) - pos >= HEADER.size:
            end = pos + HEADER.size + HEADER.unpack_from(buf, pos)[0]
            if len(buf) < end:
                break
            out.append(pickle.loads(view[pos + HEADER.size:end]))
            pos = end
    del buf[:pos]
    return out


def _frame(obj) -> bytes:
    data = pickle.dumps(obj, pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(data)) + data


def _serve(requests: int, verdicts: int, userdict: str | None) -> None:
    """The judge's loop: read what the sweep sent, (id, text, title) each,
    and answer all of it in one write, (id, verdict dict or None) each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from pipelines import lookalike, salesmodel, segment
    from pipelines.sales import classify, model
    if userdict:
        segment.load_userdict(userdict)
    model(), salesmodel.model(), lookalike.registry()       # ready before the first listing
    buf = bytearray()
    while True:
        data = os.read(requests, 1 << 20)
        if not data:
            return                          # the sweep closed the pipe (or is gone)
        buf += data
        answers = []
        for ident, text, title in _frames(buf):
            try:
                verdict = classify(text, title).as_dict()
            except Exception:       # the sweep's process judges it again and meets the same error there
                verdict = None
            answers.append(_frame((ident, verdict)))
        out = memoryview(b"".join(answers))
        while out:
            out = out[os.write(verdicts, out):]


class Judge:
    """The sweep's side of the judge: :meth:`submit` returns an asyncio
    future, resolved by the event loop when the verdict arrives."""

    def __init__(self, userdict: str | None):
        req_r, req_w = os.pipe()
        res_r, res_w = os.pipe()
        gc.freeze()         # what exists now is shared with the judge: no collection rewrites its pages
        pid = os.fork()
        if pid == 0:                                # the judge
            code = 0
            try:
                os.close(req_w)
                os.close(res_r)
                _serve(req_r, res_w, userdict)
            except BaseException:                   # noqa: BLE001 - never return into the sweep's code
                logger.exception("判定子进程出错退出")
                code = 1
            finally:
                os._exit(code)
        os.close(req_r)
        os.close(res_w)
        self.pid = pid
        self.alive = True
        self.judged = 0
        self._out = req_w
        self._in = res_r
        os.set_blocking(self._out, False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sendbuf = bytearray()
        self._recvbuf = bytearray()
        self._pending: dict[int, tuple[asyncio.Future, object]] = {}
        self._next = 0

    # -- the sweep's side, on its event loop
    def submit(self, text, title, then) -> asyncio.Future:
        """A future of ``then(verdict)``: ``verdict`` is the listing's
        ``Result.as_dict()``, or None when the judge could not judge it
        (``then`` then judges it in this process)."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            loop.add_reader(self._in, self._readable)
        fut = loop.create_future()
        self._next += 1
        ident = self._next
        try:
            data = _frame((ident, text, title))
        except Exception:   # an unpicklable value: not the judge's to see
            _settle(fut, then, None)
            return fut
        self._pending[ident] = (fut, then)
        if not self._sendbuf:
            loop.call_soon(self._writable)      # once per turn of the loop, for all submitted in it
        self._sendbuf += data
        return fut

    def _writable(self) -> None:
        if not self.alive or not self._sendbuf:
            return
        try:
            n = os.write(self._out, self._sendbuf)
        except BlockingIOError:
            n = 0
        except OSError:                 # EPIPE: the judge is gone
            self._gone()
            return
        del self._sendbuf[:n]
        if self._sendbuf:
            self._loop.add_writer(self._out, self._writable)     # the pipe is full: when it drains
        else:
            self._loop.remove_writer(self._out)

    def _readable(self) -> None:
        try:
            data = os.read(self._in, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._gone()
            return
        self._recvbuf += data
        for ident, verdict in _frames(self._recvbuf):
            fut, then = self._pending.pop(ident, (None, None))
            if fut is not None:
                self.judged += 1
                _settle(fut, then, verdict)

    def _gone(self) -> None:
        """The judge exited: every listing it still held is judged here."""
        if not self.alive:
            return
        self.alive = False
        status = _wait(self.pid, 1.0)      # its pipe closed: it is exiting (a moment at most)
        logger.warning("判定子进程已退出（%s），已判定 %d 条；其余 %d 条及以后的条目改在主进程内判定",
                       _status_text(status), self.judged, len(self._pending))
        self._detach()
        pending, self._pending = self._pending, {}
        for fut, then in pending.values():
            _settle(fut, then, None)

    def _detach(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._in)
            self._loop.remove_writer(self._out)

    def close(self) -> None:
        """End of the sweep: close the pipe, let the judge finish, reap it."""
        self.alive = False
        self._detach()
        for fd in (self._out, self._in):
            try:
                os.close(fd)
            except OSError:
                pass
        _wait(self.pid, STOP_WAIT)


def _settle(fut: asyncio.Future, then, verdict) -> None:
    if fut.done():
        return
    try:
        fut.set_result(then(verdict))
    except Exception as exc:  # the listing's own error, as Scrapy would have met it in process_item
        fut.set_exception(exc)


def _wait(pid: int, seconds: float):
    """The judge's wait status once it has exited, waiting at most
    ``seconds``; after that it is killed (a judge stuck on one listing must
    not hold the sweep's end)."""
    deadline = time.monotonic() + seconds
    while (status := _reap(pid, block=False)) is None:
        if time.monotonic() > deadline:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return _reap(pid, block=True)
        time.sleep(0.001)
    return status


def _reap(pid: int, block: bool):
    """The child's wait status, None while it runs, -1 when already reaped."""
    try:
        done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    except ChildProcessError:
        return -1
    return status if done else None


def _status_text(status: int) -> str:
    if status == -1:                # reaped elsewhere: no status left to tell
        return "已结束"
    if os.WIFSIGNALED(status):
        return f"被信号 {os.WTERMSIG(status)} 终止"
    return f"退出码 {os.waitstatus_to_exitcode(status)}"
