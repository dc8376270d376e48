"""``certwatch db reindex``: bring the keyword search index up to date now
(the findings a store held before the index existed, and changes by other
writers), in short transactions; the console does the same in the
background. A thin layer over store.backfill_search_index and
store.refresh_search_index."""
from __future__ import annotations

import sys

from crawler.cli.common import CliError, require_store, sub_command


def cmd_reindex(args) -> int:
    from pipelines import store
    if args.chunk < 1:
        raise CliError("--chunk 必须是正整数")
    require_store(args.db)                     # a mistyped path is an error, not a new empty store
    db = store.connect(args.db)
    try:
        backlog = store.search_backlog(db)
        if backlog is None and not store.pending_search_updates(db):
            print("关键词索引已是最新，无需重建")
            return 0
        total = 0
        while backlog is not None:
            total += store.backfill_search_index(db, chunk=args.chunk, limit=args.chunk)
            backlog = store.search_backlog(db)
            if not args.quiet:
                done = 100 if backlog is None else backlog["done"]
                print(f"关键词索引：已完成 {done}%（本次已索引 {total} 条）", file=sys.stderr, flush=True)
        changed = store.refresh_search_index(db, batch=args.chunk)
        print(f"关键词索引已是最新：补建 {total} 条，更新 {changed} 条")
    finally:
        db.close()
    return 0


def register(add) -> None:
    p = add("db", "数据库维护：关键词索引", lambda a: p.print_help() or 2,
            "certwatch db reindex --db demo/certwatch.db")
    sub = p.add_subparsers(dest="db_command", metavar="子命令")
    s = sub_command(sub, "reindex",
                    "立即补建关键词索引（升级前已有的信息、其他程序改动的信息）；分批提交，可随时中断、再次运行从中断处继续",
                    cmd_reindex, "certwatch db reindex --db demo/certwatch.db")
    s.add_argument("--chunk", type=int, default=2000, help="每批（一个事务）索引的条数（默认 2000）")
    s.add_argument("--quiet", action="store_true", help="不显示进度")
