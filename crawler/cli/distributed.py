"""Commands of distributed sweeps: ``worker`` (fetch and judge, no
database), ``ingest`` (the one writer) and ``workers`` (each worker's share
and health in a sweep). ``sweep --redis`` itself is in crawler.cli.sweep."""
from __future__ import annotations

import json
import sys

from crawler.cli.common import CliError, chosen_sweep, existing_store, parse_settings, project_settings, table


def _redis_url(args) -> str:
    url = args.redis or project_settings().get("CERTWATCH_REDIS_URL") or ""
    if not url:
        raise CliError("请用 --redis redis://主机:6379/0 指定 Redis（或设置环境变量 CERTWATCH_REDIS_URL）")
    return url


def cmd_worker(args) -> int:
    from crawler.distributed.keys import DistributedError
    from crawler.distributed.worker import WorkerOptions, run_worker
    from pipelines.profiles import ProfileError, load_profiles
    try:
        load_profiles(args.profiles or None)
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    opts = WorkerOptions(redis_url=_redis_url(args), name=args.name or "", sandbox=args.sandbox or "",
                         profiles_dir=args.profiles or "", once=args.once, log_level=args.log_level,
                         extra_settings=parse_settings(args.set))
    try:
        stats = run_worker(opts)
    except DistributedError as exc:
        raise CliError(str(exc)) from None
    reason = stats.get("finish_reason")
    print(f"worker 已停止（{WORKER_STOP_CN.get(reason, f'其他原因：{reason}')}）：请求 {stats.get('downloader/request_count', 0)}，"
          f"交出条目 {stats.get('distributed/items_pushed', 0)}", file=sys.stderr)
    return 0 if reason in ("finished", "shutdown") else 1


# Why a worker's crawl ended (Scrapy's finish_reason), for people.
WORKER_STOP_CN = {"finished": "本次巡查已完成", "shutdown": "收到停止信号", "redis_error": "Redis 连接中断",
                  "closespider_timeout": "到达运行时限"}


def cmd_ingest(args) -> int:
    from crawler.distributed.ingest import IngestOptions, run_ingest
    from crawler.distributed.keys import DistributedError
    settings = project_settings()
    opts = IngestOptions(redis_url=_redis_url(args), db=args.db,
                         prefix=settings.get("CERTWATCH_REDIS_PREFIX") or "certwatch",
                         batch=args.batch or settings.getint("CERTWATCH_INGEST_BATCH", 100),
                         once=args.once, progress=not args.quiet,
                         profiles_dir=args.profiles or settings.get("CERTWATCH_PROFILES_DIR") or "")
    try:
        stats = run_ingest(opts)
    except DistributedError as exc:
        raise CliError(str(exc)) from None
    print(f"写入进程已停止：写入 {stats.stored} 条，重复跳过 {stats.skipped} 条，拒收 {stats.rejected} 条"
          f"（{stats.batches} 批）", file=sys.stderr)
    return 0


def cmd_workers(args) -> int:
    from crawler.distributed.report import WORKER_STATUS_CN
    from crawler.health import STATUS_CN
    from pipelines import store
    with existing_store(args) as db:
        sweep_id = chosen_sweep(db, args.sweep)
        rows = store.sweep_workers(db, sweep_id)
    if args.json:
        print(json.dumps({"sweep": sweep_id, "workers": rows}, ensure_ascii=False, indent=1))
        return 0
    if not rows:
        print(f"巡查 #{sweep_id} 不是分布式巡查（没有 worker 记录）")
        return 0
    print(f"巡查 #{sweep_id} 的 worker：")
    print(table([[r["name"], r["host"], WORKER_STATUS_CN.get(r["status"], r["status"]), r["requests"],
                  r["responses"], r["items"], r["flagged"], r["errors"], r["blocked"], f"{r['seconds']:.1f}s",
                  "；".join(f"{p['platform']}:{STATUS_CN.get(p['status'], p['status'])}" for p in r["platforms"]),
                  r["note"] or ""] for r in rows],
                ["worker", "主机", "状态", "请求", "响应", "判定", "可疑", "错误", "拦截", "耗时", "平台", "说明"]))
    return 0 if all(r["status"] in ("ok", "idle") for r in rows) else 1


def register(add) -> None:
    p = add("worker", "分布式巡查的采集进程：从 Redis 领取巡查任务，抓取并判定，把结果交回 Redis（不需要数据库）",
            cmd_worker, "certwatch worker --redis redis://10.0.0.5:6379/0 --name 采集机1")
    p.add_argument("--redis", help="Redis 地址（默认 $CERTWATCH_REDIS_URL）")
    p.add_argument("--name", help="worker 名称（默认主机名），用于健康报告")
    p.add_argument("--sandbox", help="沙箱地址：只领取沙箱模式的巡查（默认真实网络模式）")
    p.add_argument("--profiles", help="额外的平台配置目录（须与发起巡查的机器一致）")
    p.add_argument("--once", action="store_true", help="完成一次巡查后退出（默认常驻等待）")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="覆盖 Scrapy 设置，可重复")

    p = add("ingest", "分布式巡查的写入进程（每个部署唯一）：把 worker 判定的结果分批写入数据库，提交后才确认",
            cmd_ingest, "certwatch ingest --redis redis://10.0.0.5:6379/0 --db certwatch.db")
    p.add_argument("--redis", help="Redis 地址（默认 $CERTWATCH_REDIS_URL）")
    p.add_argument("--batch", type=int, help="每个事务写入的条目数（默认 CERTWATCH_INGEST_BATCH=100）")
    p.add_argument("--once", action="store_true", help="写完 Redis 中现有的条目后退出（默认常驻）")
    p.add_argument("--profiles", help="额外的平台配置目录（与采集机一致）")
    p.add_argument("--quiet", action="store_true", help="不显示进度")

    p = add("workers", "查看分布式巡查中每个 worker 的请求、判定、拦截和状态", cmd_workers,
            "certwatch workers 12")
    p.add_argument("sweep", nargs="?", type=int, help="巡查编号（默认最近一次巡查，不含网站核查）")
    p.add_argument("--json", action="store_true", help="输出 JSON")
