"""Commands that fetch: ``sandbox`` (the simulated internet), ``sweep`` and
``demo`` (a sweep of the sandbox, evidence, the demo reviewer's reports)."""
from __future__ import annotations

import asyncio
import os
import sys

from crawler.cli.common import (STATUS_CN, CliError, parse_settings, print_health_warnings, print_log_note, profile_settings, run_sweep,
                                summary_rows, sweep_evidence, table, SUMMARY_HEADERS, SUMMARY_NOTE)


def cmd_sandbox(args) -> int:
    from crawler.sandbox.server import serve

    def ready(url):
        print(url, flush=True)
        print(f"沙箱已启动：{url}（作为 HTTP 代理使用；Ctrl+C 停止）", file=sys.stderr, flush=True)
    try:
        asyncio.run(serve(args.host, args.port, args.seed, args.scale, ready))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_sweep(args) -> int:
    if not args.sandbox and not args.real:
        raise CliError("请用 --sandbox URL 指定沙箱，或用 --real 明确在真实网络上巡查")
    if args.local and not args.real:
        raise CliError("--local 只用于真实模式：请同时给出 --real")
    result = run_sweep(args, args.sandbox or "")
    print(table(summary_rows(args.db, result, args.profiles or ""), SUMMARY_HEADERS))
    print(SUMMARY_NOTE)
    why = result.stats.get("certwatch/failure")
    print(f"巡查 #{result.sweep_id}：{STATUS_CN.get(result.status, result.status)}"
          + (f"（{why}）" if why else "") + f"；数据库 {args.db}")
    print_health_warnings(args.db, result.sweep_id)
    if args.redis:
        from crawler.distributed.report import worker_warnings
        for line in worker_warnings(args.db, result.sweep_id):
            print(line)
    if getattr(args, "evidence", False):
        extra = {**profile_settings(args), **parse_settings(args.set)}    # --set applies to the capture too
        sweep_evidence(args.db, args.sandbox or "", extra=extra, progress=not args.quiet,
                       sweep_id=result.sweep_id)        # this sweep's items; others: `evidence capture`
    print_log_note()
    return 0 if result.status == "finished" else 1


def cmd_demo(args) -> int:
    from crawler.sandbox import process
    from crawler.sandbox.world import world
    from pipelines import store
    os.makedirs(args.workdir, exist_ok=True)
    args.db = os.path.join(args.workdir, "certwatch.db")
    print("启动沙箱（模拟互联网）…", file=sys.stderr)
    proc, url = process.start()
    try:
        print(f"沙箱地址 {url}；开始用默认关键词巡查全部沙箱平台", file=sys.stderr)
        args.platforms, args.keyword, args.pages, args.profiles = "", "", 0, ""
        result = run_sweep(args, url)
        from crawler.cli.common import demo_evidence
        demo_evidence(args.db, url, progress=not args.quiet)      # while the sandbox still runs
    finally:
        process.stop(proc)
    print()
    print(table(summary_rows(args.db, result), SUMMARY_HEADERS))
    print(SUMMARY_NOTE)
    # The sandbox knows the truth: compare.
    w = world()
    with store.opened(args.db) as db:
        labels = {l.url: l.label for l in w.listings}
        flagged_true = flagged_false = stored_true = negatives = 0
        for f in store.iter_findings(db):
            label = labels.get(f["url"])
            if label == 1:
                stored_true += 1
                flagged_true += f["flagged"]
            elif label == 0:
                negatives += 1
                flagged_false += f["flagged"]
        sites = store.sites_with_status(db, ("new", "flagged"))
    fakes = {s.host for s in w.sites if s.label == 1}
    judged_fake = [s for s in sites if s.get("verdict") in ("fake_gov_site", "suspicious")]
    print()
    print(f"沙箱真值对照：收录违规售证信息 {stored_true} 条，标记可疑 {flagged_true} 条；"
          f"正常信息 {negatives} 条，误标 {flagged_false} 条")
    print(f"网站：核查 {len(sites)} 个，判为假冒或可疑 {len(judged_fake)} 个"
          f"（其中沙箱中真为假冒的 {sum(1 for s in judged_fake if s['domain'] in fakes)} 个）")
    print(f"巡查 #{result.sweep_id}：{STATUS_CN.get(result.status, result.status)}；数据库 {args.db}")
    from crawler.cli.demo import demo_outputs
    print()
    for what, where in demo_outputs(args.db, args.workdir):
        print(f"{what}：{where}")
    print_log_note()
    return 0 if result.status == "finished" else 1


def register(add) -> None:
    p = add("sandbox", "启动沙箱（模拟互联网，兼作 HTTP 代理），打印地址", cmd_sandbox,
            "certwatch sandbox --port 0")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=None, help="世界生成种子")
    p.add_argument("--scale", type=int, default=1, help="世界放大倍数（基准测试用）")

    def sweep_args(p):
        p.add_argument("--platforms", help="逗号分隔的平台名（默认全部）")
        p.add_argument("--keyword", help="只用包含此词的证书关键词")
        p.add_argument("--pages", type=int, help="每个查询最多翻页数（默认按平台配置）")
        p.add_argument("--profiles", help="额外的平台配置目录")
        p.add_argument("--quiet", action="store_true", help="不显示进度")
        p.add_argument("--log-level", default="WARNING")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="覆盖 Scrapy 设置，可重复（例如 DOWNLOAD_DELAY=0.5）")

    p = add("sweep", "执行一次巡查（沙箱或真实网络）", cmd_sweep,
            "certwatch sweep --sandbox http://127.0.0.1:8765 --platforms gongyou --pages 2")
    p.add_argument("--sandbox", help="沙箱地址（certwatch sandbox 打印的地址）")
    p.add_argument("--real", action="store_true", help="在真实网络上巡查（使用非沙箱平台配置）")
    p.add_argument("--evidence", action="store_true", help="巡查结束后为新的可疑信息和网站取证")
    p.add_argument("--local", action="store_true",
                   help="（与 --real、--profiles 一起用）允许访问 --profiles 目录中平台配置的本机主机，用于测试自己的平台配置；"
                        "未用 --platforms 时只巡查该目录中的平台")
    p.add_argument("--redis", help="分布式巡查：Redis 地址（由 certwatch worker 采集，certwatch ingest 写入）")
    sweep_args(p)

    p = add("demo", "演示：启动沙箱，用默认关键词巡查全部沙箱平台并打印汇总", cmd_demo,
            "certwatch demo --workdir demo")
    p.add_argument("--workdir", default="demo", help="演示数据目录（默认 demo）")
    p.add_argument("--quiet", action="store_true", help="不显示进度")
    p.add_argument("--log-level", default="WARNING")
