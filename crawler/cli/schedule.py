"""``certwatch schedule …``, ``certwatch scheduler`` and ``certwatch health``:
scheduled sweeps, their evidence step, the scheduler's removal rechecks and
sweep health on the command line (thin over crawler.scheduler,
crawler.health and the store)."""
from __future__ import annotations

import json
import signal
import sys
import time
from datetime import timedelta

from crawler.cli.common import STATUS_CN as SWEEP_STATUS_CN
from crawler.cli.common import CliError, chosen_sweep, existing_store, parse_settings, open_store, print_log_note, sub_command, table
from crawler.logfile import log_to_file
from crawler.health import STATUS_CN as HEALTH_CN


def _now(args):
    from pipelines.schedules import ScheduleError, parse_time, utc_now
    if getattr(args, "now", None):
        try:
            return parse_time(args.now)
        except ScheduleError as exc:
            raise CliError(str(exc)) from None
    return utc_now()


def _mode(args) -> str:
    if getattr(args, "sandbox", None):
        return args.sandbox
    if getattr(args, "real", False):
        return ""
    raise CliError("请用 --sandbox URL 指定沙箱，或用 --real 明确在真实网络上巡查")


def _guard(func):
    """ScheduleError / StoreError → CliError."""
    def wrapper(args):
        from pipelines.schedules import ScheduleError
        from pipelines.store import StoreError
        try:
            return func(args)
        except (ScheduleError, StoreError) as exc:
            raise CliError(str(exc)) from None
    return wrapper


def _evidence_default() -> bool:
    from crawler import settings
    return bool(settings.CERTWATCH_SCHEDULE_EVIDENCE)


def _evidence_word(schedule: dict) -> str:
    from crawler.scheduler import evidence_enabled
    return "是" if evidence_enabled(schedule, _evidence_default()) else "否"


@_guard
def cmd_add(args) -> int:
    from pipelines.schedules import EVIDENCE_KEY as EVIDENCE_SETTING
    from pipelines.schedules import add_schedule
    from pipelines import store
    from reports.periods import beijing
    settings = parse_settings(args.set)
    if args.no_evidence:
        settings[EVIDENCE_SETTING] = False
    with open_store(args) as db:
        add_schedule(db, args.name, args.cron, _now(args), industry=args.industry or "",
                     department=args.department or "", platforms=args.platforms or "", pages=args.pages or 0,
                     variants=args.variants, settings=settings, profiles_dir=args.profiles or "")
        schedule = store.get_schedule(db, args.name)
    print(f"已添加巡查计划“{schedule['name']}”（{schedule['cron']}，北京时间），下次执行 {beijing(schedule['next_run_at'])}；"
          f"巡查后自动取证：{_evidence_word(schedule)}"
          + (f"；平台配置目录 {schedule['profiles']}" if schedule.get("profiles") else ""))
    return 0


@_guard
def cmd_edit(args) -> int:
    from pipelines.schedules import EVIDENCE_KEY as EVIDENCE_SETTING
    from pipelines.schedules import edit_schedule
    from reports.periods import beijing
    settings = parse_settings(args.set) if args.set else {}
    if args.evidence is not None:
        settings[EVIDENCE_SETTING] = args.evidence
    with existing_store(args) as db:
        schedule = edit_schedule(db, args.name, _now(args), profiles_dir=args.profiles, cron=args.cron,
                                 industry=args.industry, department=args.department, platforms=args.platforms,
                                 pages=args.pages, settings=settings or None)
    print(f"已修改巡查计划“{schedule['name']}”，下次执行 {beijing(schedule['next_run_at'])}；"
          f"巡查后自动取证：{_evidence_word(schedule)}")
    return 0


def _set_enabled(args, enabled: bool) -> int:
    from pipelines.schedules import edit_schedule
    from reports.periods import beijing
    with existing_store(args) as db:
        schedule = edit_schedule(db, args.name, _now(args), enabled=enabled)
    extra = f"，下次执行 {beijing(schedule['next_run_at'])}" if enabled else ""
    print(f"已{'启用' if enabled else '停用'}巡查计划“{schedule['name']}”{extra}")
    return 0


@_guard
def cmd_enable(args) -> int:
    return _set_enabled(args, True)


@_guard
def cmd_disable(args) -> int:
    return _set_enabled(args, False)


@_guard
def cmd_remove(args) -> int:
    from pipelines import store
    with existing_store(args) as db:
        schedule = store.get_schedule(db, args.name)
        store.remove_schedule(db, schedule["id"])
    print(f"已删除巡查计划“{args.name}”（历史执行记录和巡查记录保留）")
    return 0


@_guard
def cmd_list(args) -> int:
    from pipelines.schedules import from_iso, next_times
    from pipelines import store
    from reports.periods import beijing
    with existing_store(args) as db:
        schedules = store.list_schedules(db)
    now = _now(args)
    rows = []
    for s in schedules:
        upcoming = ""
        if s["enabled"]:
            first = from_iso(s["next_run_at"]) if s.get("next_run_at") else now
            times = [first] + next_times(s["cron"], first, max(0, args.next - 1))
            upcoming = "、".join(beijing(t.strftime("%Y-%m-%dT%H:%M:%SZ")) for t in times[:args.next])
        rows.append([s["name"], s["cron"], "启用" if s["enabled"] else "停用", s["industry"] or "全部",
                     s["department"] or "全部", s["platforms"] or "全部", s["pages"] or "默认",
                     _evidence_word(s), beijing(s.get("last_run_at")), upcoming])
    print(table(rows, ["名称", "cron", "状态", "行业", "提供单位", "平台", "页数", "自动取证",
                       "上次计划时间（北京时间）", "下次执行"]))
    for s in schedules:
        if s.get("profiles"):
            print(f"计划“{s['name']}”使用平台配置目录 {s['profiles']}")
    return 0


@_guard
def cmd_run(args) -> int:
    from crawler.scheduler import Scheduler
    from pipelines import store
    sandbox = "" if args.queue else _mode(args)
    now = _now(args)
    with existing_store(args) as db:
        schedule = store.get_schedule(db, args.name)
        sched = Scheduler(args.db, sandbox=sandbox, profiles_dir=args.profiles or "", progress=not args.quiet)
        run_id = store.add_manual_run(db, schedule["id"], now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), sched.owner)
    if args.queue:
        print(f"已加入执行队列：执行记录 #{run_id}（由运行中的 certwatch scheduler 执行）")
        return 0
    _install_stop(sched)
    log_to_file(args.db)
    if not sched.execute(run_id):
        print(f"平台正被其他巡查占用，执行记录 #{run_id} 已排队，稍后由 certwatch scheduler 执行")
        return 1
    with existing_store(args) as db:
        run = store.get_run(db, run_id)
    print_log_note()
    return 0 if run["status"] == "finished" else 1


@_guard
def cmd_exec(args) -> int:
    from crawler.scheduler import run_evidence_child, run_recheck_child, run_schedule_child
    if args.step == "evidence":
        return run_evidence_child(args.db, args.run, _mode(args), args.progress)
    if args.step == "recheck":
        return run_recheck_child(args.db, args.run, _mode(args), args.profiles or "", args.progress)
    return run_schedule_child(args.db, args.run, _mode(args), args.profiles or "", args.progress)


def _run_note(run: dict) -> str:
    from crawler.logfile import translate
    notes = [run.get("note") or ""]
    if run.get("evidence_status") in ("failed", "interrupted") or run.get("evidence_failed"):
        notes.append(f"取证：{run.get('evidence_note') or ''}".rstrip("："))
    return translate("；".join(n for n in notes if n))


@_guard
def cmd_runs(args) -> int:
    from pipelines.schedules import RUN_STATUS_CN, evidence_summary, recheck_summary
    from pipelines import store
    from reports.periods import beijing
    with existing_store(args) as db:
        names = {s["id"]: s["name"] for s in store.list_schedules(db)}
        schedule_id = store.get_schedule(db, args.name)["id"] if args.name else None
        runs = store.list_runs(db, schedule_id, limit=args.limit)
        rechecks = [] if args.name else store.list_recheck_runs(db, limit=args.limit)
    print(table([[r["id"], names.get(r["schedule_id"], f"#{r['schedule_id']}"), beijing(r["due_at"]),
                  RUN_STATUS_CN.get(r["status"], r["status"]), r["attempts"], r.get("sweep_id") or "",
                  evidence_summary(r), _run_note(r)] for r in runs],
                ["编号", "计划", "计划时间（北京时间）", "状态", "次数", "巡查", "取证", "说明"]))
    if rechecks:
        print()
        print("下架复查记录（调度程序按复查计划自动执行，默认发出后第 1、3、7 天）：")
        print(table([[r["id"], beijing(r["due_at"]), RUN_STATUS_CN.get(r["status"], r["status"]), r["attempts"],
                      r["items"], recheck_summary(r["stats"]) if r["stats"] else "", r.get("note") or ""]
                     for r in rechecks],
                    ["编号", "复查时间（北京时间）", "状态", "次数", "到期条数", "结果", "说明"]))
    return 0


def _install_stop(sched) -> None:
    def stop(signum, frame):
        print("收到停止信号，正在结束当前巡查…", file=sys.stderr, flush=True)
        sched.stop.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def cmd_scheduler(args) -> int:
    from crawler.scheduler import Scheduler
    sandbox = _mode(args)
    start = _now(args) if args.now else None
    clock = None
    if start is not None:
        t0 = time.monotonic()
        clock = lambda: start + timedelta(seconds=time.monotonic() - t0)  # noqa: E731
    sched = Scheduler(args.db, sandbox=sandbox, profiles_dir=args.profiles or "", clock=clock,
                      evidence=False if args.no_evidence else None, recheck=False if args.no_recheck else None)
    _install_stop(sched)
    log_to_file(args.db)
    with open_store(args):            # create / migrate before the first tick
        pass
    onoff = lambda v: "开" if v else "关"  # noqa: E731
    print(f"巡查调度程序已启动（{sched.owner}）；{'执行一次后退出' if args.once else f'每 {args.interval:g} 秒检查一次'}；"
          f"巡查后自动取证：{onoff(sched.evidence)}（计划可单独设置）；到期下架复查：{onoff(sched.recheck)}；"
          "时间均为北京时间",
          flush=True)
    sched.run_forever(args.interval, once=args.once)
    print("巡查调度程序已停止", flush=True)
    return 0


def cmd_health(args) -> int:
    from pipelines.profiles import load_profiles
    from pipelines import store
    from pipelines.store import beijing
    with existing_store(args) as db:
        sweep_id = chosen_sweep(db, args.sweep)
        try:
            sweep = store.get_sweep(db, sweep_id)
        except store.StoreError as exc:
            raise CliError(str(exc)) from None
        rows = store.sweep_platforms(db, sweep_id)
        alerts = store.list_alerts(db, sweep_id)
    if args.json:
        head = {k: sweep.get(k) for k in ("id", "kind", "status")}
        head.update({k: store.beijing_iso(sweep.get(k)) for k in ("started_at", "ended_at")})   # +08:00
        print(json.dumps({"sweep": head, "platforms": rows,
                          "alerts": [{**a, "at": store.beijing_iso(a.get("at"))} for a in alerts]},
                         ensure_ascii=False, indent=1))
        return 0
    titles = {n: p.title for n, p in load_profiles().items()}
    print(f"{store.sweep_kind_label(sweep.get('kind'))} #{sweep_id}（{SWEEP_STATUS_CN.get(sweep['status'], sweep['status'])}）"
          f"开始 {beijing(sweep['started_at'], '%Y-%m-%d %H:%M:%S')}"
          + (f"，结束 {beijing(sweep['ended_at'], '%Y-%m-%d %H:%M:%S')}" if sweep.get("ended_at") else "")
          + "（北京时间）")
    print(table([[titles.get(r["platform"], r["platform"]), HEALTH_CN.get(r["status"], r["status"]), r["requests"],
                  " ".join(f"{k}:{v}" for k, v in sorted(r["by_status"].items())), r["items"], r["flagged"],
                  r["errors"], r["blocked"], f"{r['canary_results']}" if r["canary"] else "-",
                  f"{r['duration']:.1f}s", r["note"] or ""] for r in rows],
                ["平台", "状态", "请求", "响应", "信息", "可疑", "错误", "拦截", "探测结果", "耗时", "说明"]))
    ev = sweep["stats"].get("certwatch/evidence/status")
    if ev:
        from pipelines.schedules import EVIDENCE_STATUS_CN
        print(f"巡查后取证：{EVIDENCE_STATUS_CN.get(ev, ev)}，成功 {sweep['stats'].get('certwatch/evidence/ok', 0)} 条，"
              f"失败 {sweep['stats'].get('certwatch/evidence/failed', 0)} 条"
              + (f"（{sweep['stats']['certwatch/evidence/error']}）" if sweep["stats"].get("certwatch/evidence/error") else ""))
    for a in alerts:
        print(f"告警：{a['message']}" + ("（已推送）" if a["delivered"] else ""))
    return 0 if all(r["status"] in ("ok", "no_requests") for r in rows) else 1




def register(add) -> None:
    p = add("schedule", "巡查计划：添加、列表、修改、启用/停用、删除、立即执行", lambda a: p.print_help() or 2,
            "certwatch schedule list")
    sub = p.add_subparsers(dest="schedule_command", metavar="子命令")

    def common(s, now=True):
        if now:
            s.add_argument("--now", help="按此时间计算下次执行（北京时间，如 2026-12-01T02:00；默认现在）")

    s = sub_command(sub, "add", "添加巡查计划（cron 按北京时间）", cmd_add,
                    'certwatch schedule add --name 每晚特种作业 --cron "0 2 * * *" --industry 特种作业 --pages 2')
    s.add_argument("--name", required=True)
    s.add_argument("--cron", required=True, help='cron 表达式（分 时 日 月 周），如 "0 2 * * *"')
    s.add_argument("--industry", help="只用该行业的证书名称")
    s.add_argument("--department", help="只用该单位提供的证书名称")
    s.add_argument("--platforms", help="逗号分隔的平台名（默认全部）")
    s.add_argument("--pages", type=int, help="每个查询最多翻页数")
    s.add_argument("--variants", action="store_true", help="加入证书名称的同义词和变体")
    s.add_argument("--no-evidence", action="store_true",
                   help="巡查结束后不自动取证（默认按 CERTWATCH_SCHEDULE_EVIDENCE，即自动取证）")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="该计划的 Scrapy 设置")
    s.add_argument("--profiles", help="额外的平台配置目录：计划记住它（绝对路径），按计划巡查和巡查后取证都用它；"
                                      "--platforms 中的平台名按它核对")
    common(s)

    s = sub_command(sub, "edit", "修改巡查计划", cmd_edit,
                    'certwatch schedule edit 每晚特种作业 --cron "30 1 * * *"')
    s.add_argument("name")
    s.add_argument("--cron")
    s.add_argument("--industry")
    s.add_argument("--department")
    s.add_argument("--platforms")
    s.add_argument("--pages", type=int)
    s.add_argument("--evidence", dest="evidence", action="store_true", default=None,
                   help="巡查结束后自动为新的可疑信息和网站取证")
    s.add_argument("--no-evidence", dest="evidence", action="store_false", help="巡查结束后不自动取证")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    s.add_argument("--profiles", help='改用这个平台配置目录（--profiles "" 不再使用计划自己的目录）')
    common(s)

    for name, func, help_ in (("enable", cmd_enable, "启用巡查计划（错过的时间不补，从现在起计）"),
                              ("disable", cmd_disable, "停用巡查计划"),
                              ("remove", cmd_remove, "删除巡查计划（历史记录保留）")):
        s = sub_command(sub, name, help_, func, f"certwatch schedule {name} 每晚特种作业")
        s.add_argument("name")
        common(s)

    s = sub_command(sub, "list", "列出巡查计划和接下来的执行时间", cmd_list, "certwatch schedule list --next 3")
    s.add_argument("--next", type=int, default=3, help="显示接下来几次执行时间")
    common(s)

    s = sub_command(sub, "run", "立即执行一次巡查计划", cmd_run,
                    "certwatch schedule run 每晚特种作业 --sandbox http://127.0.0.1:8765")
    s.add_argument("name")
    s.add_argument("--sandbox", help="沙箱地址")
    s.add_argument("--real", action="store_true", help="在真实网络上巡查")
    s.add_argument("--queue", action="store_true", help="只加入队列，由运行中的调度程序执行")
    s.add_argument("--profiles", help="额外的平台配置目录")
    s.add_argument("--quiet", action="store_true", help="不显示进度")
    common(s)

    s = sub_command(sub, "runs", "查看计划的执行记录（含巡查后取证）和调度程序的下架复查记录", cmd_runs,
                    "certwatch schedule runs 每晚特种作业")
    s.add_argument("name", nargs="?")
    s.add_argument("--limit", type=int, default=30)

    s = sub_command(sub, "exec", "（内部）在本进程执行一条执行记录的巡查、巡查后取证或下架复查，由调度程序调用",
                    cmd_exec, "certwatch schedule exec 12 --sandbox http://127.0.0.1:8765")
    s.add_argument("run", type=int, help="执行记录编号（--step recheck 时为复查记录编号）")
    s.add_argument("--step", choices=("sweep", "evidence", "recheck"), default="sweep",
                   help="sweep 巡查（默认）、evidence 巡查后取证、recheck 下架复查")
    s.add_argument("--sandbox")
    s.add_argument("--real", action="store_true")
    s.add_argument("--profiles")
    s.add_argument("--progress", action="store_true", help="在标准错误显示进度（schedule run 时）")

    p2 = add("scheduler", "巡查调度程序：常驻运行，按计划启动巡查（同一平台同时只运行一个巡查），巡查后自动取证，"
             "并按 T+1/T+3/T+7 自动复查已发出下架清单中的条目", cmd_scheduler,
             "certwatch scheduler --sandbox http://127.0.0.1:8765")
    p2.add_argument("--sandbox", help="沙箱地址")
    p2.add_argument("--real", action="store_true", help="在真实网络上巡查")
    p2.add_argument("--once", action="store_true", help="检查并执行一次到期计划后退出")
    p2.add_argument("--now", help="调度时钟的起始时间（北京时间，如 2026-12-01T02:00；演练用，默认现在）")
    p2.add_argument("--interval", type=float, default=30.0, help="检查间隔秒数（默认 30）")
    p2.add_argument("--profiles", help="额外的平台配置目录")
    p2.add_argument("--no-evidence", action="store_true",
                    help="巡查后不自动取证（计划自己的设置优先；默认按 CERTWATCH_SCHEDULE_EVIDENCE）")
    p2.add_argument("--no-recheck", action="store_true",
                    help="不自动执行到期的下架复查（默认按 CERTWATCH_SCHEDULE_RECHECK）")

    p3 = add("health", "查看巡查健康状况：每个平台的请求、响应、拦截、探测结果和告警", cmd_health,
             "certwatch health 12")
    p3.add_argument("sweep", nargs="?", type=int, help="巡查编号（默认最近一次巡查，不含网站核查）")
    p3.add_argument("--json", action="store_true", help="输出 JSON")
