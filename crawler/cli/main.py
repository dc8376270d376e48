"""The ``certwatch`` command line: the argument parser and dispatch.

Every command takes ``--db PATH`` (environment ``CERTWATCH_DB``, default
``certwatch.db``). Messages for people are Chinese; errors become one clear
message and a non-zero exit. Each command group lives in its own module
(``register(add)`` adds its commands); shared helpers are in
``crawler.cli.common``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from crawler import __version__
from crawler.cli import argparse_cn
from crawler.cli.common import CliError, default_db, sub_command

# Feature areas add their commands from their own modules: each module has
# ``register(add)`` where ``add(name, help, func, example)`` returns the
# argparse sub-parser (with --db already added). Commands raise CliError.
COMMAND_MODULES: list[str] = [
    "crawler.cli.sweep",
    "crawler.cli.keywords",
    "crawler.cli.schedule",
    "crawler.cli.console",
    "crawler.cli.reports",
    "crawler.cli.domains",
    "crawler.cli.classify",
    "crawler.cli.profile",
    "crawler.cli.distributed",
    "crawler.cli.db",
]


def build_parser() -> argparse.ArgumentParser:
    argparse_cn.install()                    # 用法、选项 and argparse's errors in Chinese
    parser = argparse.ArgumentParser(prog="certwatch", description="证书涉假网络监测")
    parser.add_argument("--version", action="version", version=f"certwatch {__version__}", help="显示版本号并退出")
    sub = parser.add_subparsers(dest="command", metavar="命令")

    def add(name, help_, func, example):
        return sub_command(sub, name, help_, func, example, db_default=None)

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(add)
    return parser


def _busy(exc: BaseException) -> bool:
    """Was the database lock behind this error (a StoreBusy somewhere in its context)?"""
    from pipelines import store
    for _ in range(6):
        exc = exc.__cause__ or exc.__context__
        if exc is None:
            return False
        if isinstance(exc, store.StoreBusy):
            return True
    return False


def _redis_lost(exc: BaseException) -> bool:
    """A lost or refused Redis connection (redis-py's ConnectionError/TimeoutError)."""
    if not type(exc).__module__.startswith("redis"):
        return False
    import redis
    return isinstance(exc, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "db", None) is None:
        args.db = default_db()
    from crawler import settings
    from pipelines import store
    store.set_busy_timeout(settings.CERTWATCH_BUSY_TIMEOUT)
    try:
        return args.func(args) or 0
    except CliError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 3 if _busy(exc) else 2           # busy: worth retrying
    except store.StoreBusy as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 3
    except store.StoreError as exc:          # not a database, unknown record … (no traceback)
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`certwatch health | head`): stop quietly, as
        # Unix tools do; point stdout at nothing so the closing flush is silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:
        if store.is_locked(exc):
            print(f"错误：{store.busy_message()}", file=sys.stderr)
            return 3
        if _redis_lost(exc):                 # worker, ingest, sweep --redis: Redis stopped or unreachable
            print(f"错误：与 Redis 的连接中断或无法连接（{exc}）。Redis 恢复后重新运行本命令"
                  "（写入进程由 systemd 等自动重启即可，已提交的结果不会重复写入）", file=sys.stderr)
            return 3
        raise
    except KeyboardInterrupt:
        print("已中断", file=sys.stderr)
        return 130
