"""What long work logs goes to a file, not the screen (where the progress
display is): ``log_to_file`` sends every log record (Scrapy's, Twisted's,
Playwright's, ours) to logs/certwatch.log beside the database, its times in
Beijing time; crawls switch Scrapy's own screen handler off (``quiet_scrapy``).
English download errors (``net::ERR_…``, ``Could not open CONNECT tunnel …
405``) stay there; ``log_note`` says at the end how many warnings and errors
the file got and where it is. ``translate`` says the usual network errors in
Chinese for the lines people do read (a failed capture, a run's note).
"""
from __future__ import annotations

import logging
import os
import re
import sys
import time

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


def spare_scrapy_records() -> None:
    """After a CrawlerProcess is made: Scrapy sets its own logger to DEBUG,
    so every "Crawled (200)" and "Scraped from" line became a log record our
    handler then dropped (about 1% of a sweep's CPU). Scrapy's logger now
    starts at our file's level; a crawl at DEBUG keeps every line."""
    h = _ours()
    if h is not None:
        logging.getLogger("scrapy").setLevel(max(h.level, logging.DEBUG))


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
