"""Commands for takedown requests, removal rechecks, police referrals and
the statistics table: ``certwatch takedown …``, ``certwatch referral …``,
``certwatch report …``. Thin: each calls a function in reports/."""
from __future__ import annotations

import os

from crawler.cli.common import CliError, existing_store, print_log_note, require_store, sub_command, table


def _settings():
    from crawler import settings
    return settings


def _group(add, name: str, help_: str, example: str):
    p = add(name, help_, _need_sub, example)
    sub = p.add_subparsers(dest=f"{name}_command", metavar="子命令")
    p.set_defaults(_parser=p)
    return sub


def _need_sub(args) -> int:
    args._parser.print_help()
    return 2


def _period(args):
    from reports.periods import PeriodError, make_period
    try:
        return make_period(getattr(args, "start", None), getattr(args, "end", None), getattr(args, "period", None))
    except PeriodError as exc:
        raise CliError(str(exc)) from None


def _period_args(p):
    p.add_argument("--from", dest="start", help="开始日期 YYYY-MM-DD（默认当前双月期）")
    p.add_argument("--to", dest="end", help="结束日期 YYYY-MM-DD")
    p.add_argument("--period", help="期间，如 2024-09-01..2024-10-31 或 2024-09..2024-10")


def _letter_cfg(args, batch):
    from reports.takedown import LetterConfig, TakedownError, load_legal_basis
    s = _settings()
    try:
        basis = load_legal_basis(args.basis_file or s.CERTWATCH_TAKEDOWN_BASIS)
    except TakedownError as exc:
        raise CliError(str(exc)) from None
    return LetterConfig(unit=args.unit or batch.get("unit") or s.CERTWATCH_UNIT, legal_basis=basis,
                        contact=args.contact or "")


# ---------------------------------------------------------------- takedown

def cmd_takedown_create(args) -> int:
    from reports import labels
    from reports.takedown import TakedownError, batch_no, create
    with existing_store(args) as db:
        try:
            batch = create(db, args.platform, args.user, args.unit or _settings().CERTWATCH_UNIT)
        except TakedownError as exc:
            raise CliError(str(exc)) from None
    print(f"已生成下架清单 #{batch['id']}（{batch_no(batch)}）：{labels.platform_title(batch['platform'])}，"
          f"{len(batch['items'])} 条。导出：certwatch takedown export {batch['id']} --format xlsx")
    return 0


def cmd_takedown_export(args) -> int:
    from pipelines import store
    from reports.takedown import TakedownError, export
    with existing_store(args) as db:
        try:
            batch = store.get_takedown(db, args.batch)
            paths = export(db, args.batch, args.format, args.outdir, args.out or "", _letter_cfg(args, batch))
        except (TakedownError, store.StoreError) as exc:
            raise CliError(str(exc)) from None
    for path in paths:
        print(path)
    return 0


def cmd_takedown_sent(args) -> int:
    from pipelines import store
    from reports.periods import beijing
    from reports.takedown import TakedownError, batch_no, mark_sent
    with existing_store(args) as db:
        try:
            batch = mark_sent(db, args.batch, args.user)
        except (TakedownError, store.StoreError) as exc:
            raise CliError(str(exc)) from None
    print(f"下架清单 {batch_no(batch)} 已记为发出：{beijing(batch['sent_at'])}（北京时间）；"
          f"将按 T+{_settings().CERTWATCH_RECHECK_DAYS.replace(',', '、T+')} 天复查")
    return 0


def cmd_takedown_list(args) -> int:
    from pipelines import store
    from reports import labels
    from reports.periods import beijing
    from reports.takedown import batch_no
    with existing_store(args) as db:
        rows = []
        for b in store.list_takedowns(db, args.platform):
            items = store.takedown_items(db, b["id"])
            count = lambda r: sum(1 for i in items if i["result"] == r)  # noqa: E731
            rows.append([b["id"], batch_no(b), labels.platform_title(b["platform"]), len(items),
                         beijing(b["created_at"]), beijing(b.get("sent_at")) or "未发出",
                         count("removed"), count("still_present"), count("requested")])
    print(table(rows, ["编号", "清单号", "平台", "条数", "生成时间（北京时间）", "发出时间", "已下架", "仍在线", "待复查"]))
    return 0


def cmd_takedown_recheck(args) -> int:
    from crawler.recheck import RecheckOptions, run
    from pipelines.recheck import parse_days
    from pipelines.schedules import ScheduleError, iso, parse_time
    if not args.sandbox and not args.real:
        raise CliError("请用 --sandbox URL 指定沙箱，或用 --real 明确在真实网络上复查")
    require_store(args.db)
    if args.days:
        try:
            parse_days(args.days)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    if args.now:
        try:
            args.now = iso(parse_time(args.now))          # typed in Beijing time, passed on in UTC
        except ScheduleError as exc:
            raise CliError(str(exc)) from None
    from crawler.cli.common import profile_settings
    stats = run(RecheckOptions(db=args.db, sandbox=args.sandbox or "", batch=args.batch, force=args.force,
                               days=args.days or "", now=args.now or "", screenshots=not args.no_screenshots,
                               profiles_dir=args.profiles or "", log_level=args.log_level,
                               progress=not args.quiet, extra_settings=profile_settings(args)))
    get = lambda k: int(stats.get(f"recheck/{k}", 0))  # noqa: E731
    print(f"复查 {get('requests')} 条：已下架 {get('removed')}，仍在线 {get('still_present')}，"
          f"无法判断 {get('unknown')}；未到复查时间 {get('not_due')} 条；截图 {get('screenshots')} 张")
    print_log_note()
    return 0 if stats.get("finish_reason") == "finished" else 1


def cmd_takedown_compliance(args) -> int:
    from reports.compliance import compliance, headers
    period = _period(args)
    with existing_store(args) as db:
        rows = [c.row() for c in compliance(db, period, args.days)]
    print(f"平台整改情况（{period.label} 发出的下架清单）")
    print(table(rows, headers(args.days)))
    return 0


# ---------------------------------------------------------------- referral

def cmd_referral_add(args) -> int:
    from reports.referral import ReferralError, mark, pending
    with existing_store(args) as db:
        try:
            refs = mark(db, args.items, args.user, args.note or "", force=args.force)
        except ReferralError as exc:
            raise CliError(str(exc)) from None
        waiting = len(pending(db))
    print(f"已加入待移交清单（移交公安，待生成移交包）{len(refs)} 条；待移交清单共 {waiting} 条。"
          f"生成移交包：certwatch referral create --unit 区公安分局")
    return 0


def cmd_referral_create(args) -> int:
    from reports.referral import ReferralError, create
    out_dir = args.outdir or os.path.join(os.path.dirname(os.path.abspath(args.db)), "referrals")
    with existing_store(args) as db:
        try:
            ref = create(db, args.items, args.unit, args.user, out_dir, args.note or "")
        except ReferralError as exc:
            raise CliError(str(exc)) from None
    n = len(ref["items"].get("findings", [])) + len(ref["items"].get("sites", []))
    print(f"已生成线索移交单 #{ref['id']}（接收单位：{ref['unit']}），{n} 条")
    print(f"移交包：{ref['package']}")
    print(f"清单 SHA-256：{ref['sha256']}")
    for note in ref["missing_evidence"]:
        print(f"注意：{note}")
    return 0


def cmd_referral_list(args) -> int:
    from pipelines import store
    from reports import labels
    from reports.periods import beijing
    from reports.referral import ItemRef, pending, ref_text
    with existing_store(args) as db:
        rows = [[r["id"], beijing(r["created_at"]), r["unit"], len(r["items"].get("findings", [])),
                 len(r["items"].get("sites", [])), r.get("package") or ""] for r in store.list_referrals(db)]
        waiting = pending(db)
    print(table(rows, ["编号", "移交时间（北京时间）", "接收单位", "信息", "网站", "移交包"]))
    if waiting:
        print(f"\n待移交公安（已点“移交公安”、尚未生成移交包）{len(waiting)} 条：")
        print(table([[ref_text(ItemRef(p["kind"], p["id"])), "信息" if p["kind"] == "finding" else "网站",
                      (p["title"] or p["url"] or "")[:40],
                      labels.platform_title(p["where"]) if p["kind"] == "finding" else p["where"],
                      p["user"], beijing(p["at"])] for p in waiting],
                    ["条目", "类型", "标题", "平台/域名", "处理人", "时间（北京时间）"]))
    return 0


# ---------------------------------------------------------------- report

def cmd_report_stats(args) -> int:
    from reports.stats import Filler, StatsError, compute, to_markdown, write
    period = _period(args)
    fmt = args.format or (os.path.splitext(args.out or "")[1].lstrip(".").lower() or "xlsx")
    if fmt not in ("xlsx", "csv", "md"):
        raise CliError(f"格式应为 xlsx/csv/md 之一，而不是 {fmt!r}")
    with existing_store(args) as db:
        t = compute(db, period, Filler(args.unit or _settings().CERTWATCH_UNIT, args.person or "",
                                       args.phone or "", args.date or ""))
    if not args.out and fmt == "md":
        print(to_markdown(t), end="")
        return 0
    out = args.out or f"统计表-{period.start.isoformat()}-{period.end.isoformat()}.{fmt}"
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    try:
        write(t, out, fmt)
    except (StatsError, OSError) as exc:
        raise CliError(str(exc)) from None
    c = t.counts()
    print(f"{t.period.title()}（{period.label}）：假冒政府网站 {c['fake_sites']} 个，"
          f"清理违规信息 {c['removed']} 条，移交线索 {c['referred']} 条")
    print(out)
    return 0


def cmd_report_set(args) -> int:
    from reports.stats import StatsError, set_manual
    if not args.period and not (args.start and args.end):
        raise CliError("请用 --period 指定期间（如 2024-09-01..2024-10-31）")
    period = _period(args)
    with existing_store(args) as db:
        try:
            column, value = set_manual(db, period, args.field, args.value, args.user)
        except StatsError as exc:
            raise CliError(str(exc)) from None
    print(f"{period.label}：{column} = {value}")
    return 0


def cmd_report_charts(args) -> int:
    from reports.charts import render
    period = _period(args)
    with existing_store(args) as db:
        paths = render(db, period, args.outdir)
    for path in paths:
        print(path)
    return 0


# ---------------------------------------------------------------- registration

def register(add) -> None:
    user_help = "操作人（记入处理记录）"

    sub = _group(add, "takedown", "下架清单：生成、导出、记录发出、复查、平台整改情况",
                 "certwatch takedown create --platform taohuo")
    p = sub_command(sub, "create", "把某平台已确认、尚未请求下架的信息生成一份编号下架清单", cmd_takedown_create,
             "certwatch takedown create --platform taohuo --user 张三")
    p.add_argument("--platform", required=True, help="平台名（如 taohuo）")
    p.add_argument("--user", default="监测员", help=user_help)
    p.add_argument("--unit", help="发函单位（默认 $CERTWATCH_UNIT）")
    p = sub_command(sub, "export", "导出下架清单（xlsx/csv/html）和致平台的下架函", cmd_takedown_export,
             "certwatch takedown export 1 --format xlsx --outdir out")
    p.add_argument("batch", type=int, help="清单编号")
    p.add_argument("--format", choices=("xlsx", "csv", "html"), default="xlsx")
    p.add_argument("--outdir", default=".", help="输出目录（默认当前目录）")
    p.add_argument("--out", help="输出文件名（覆盖 --outdir）")
    p.add_argument("--unit", help="发函单位")
    p.add_argument("--contact", help="函件落款的联系人及电话")
    p.add_argument("--basis-file", help="法律依据段落（UTF-8 文本文件，默认 $CERTWATCH_TAKEDOWN_BASIS 或内置文本）")
    p = sub_command(sub, "sent", "记录下架清单已发给平台（复查从此时起计时）", cmd_takedown_sent,
             "certwatch takedown sent 1 --user 张三")
    p.add_argument("batch", type=int, help="清单编号")
    p.add_argument("--user", default="监测员", help=user_help)
    p = sub_command(sub, "list", "列出下架清单及复查结果", cmd_takedown_list, "certwatch takedown list")
    p.add_argument("--platform", help="只看某平台")
    p = sub_command(sub, "recheck", "复查已发出清单中的信息是否已下架（按 T+1/T+3/T+7 天计划）", cmd_takedown_recheck,
             "certwatch takedown recheck --sandbox http://127.0.0.1:8765 --force")
    p.add_argument("--sandbox", help="沙箱地址")
    p.add_argument("--real", action="store_true", help="在真实网络上复查")
    p.add_argument("--batch", type=int, help="只复查这份清单")
    p.add_argument("--force", action="store_true", help="不看计划，立即复查全部待复查条目")
    p.add_argument("--days", help="复查计划（发出后天数，逗号分隔，默认 $CERTWATCH_RECHECK_DAYS=1,3,7）")
    p.add_argument("--now", help="按此时刻判断哪些条目到期（北京时间，如 2026-12-01T09:00；默认现在）")
    p.add_argument("--no-screenshots", action="store_true", help="仍在线时不截图")
    p.add_argument("--profiles", help="额外的平台配置目录")
    p.add_argument("--local", action="store_true", help="允许访问 --profiles 目录中平台配置的本机主机（同 sweep --local）")
    p.add_argument("--quiet", action="store_true", help="不显示进度")
    p.add_argument("--log-level", default="WARNING", help="日志级别（日志写入数据库旁的 logs/certwatch.log）")
    p = sub_command(sub, "compliance", "平台整改情况：请求下架、已下架、超期仍在线、下架中位用时", cmd_takedown_compliance,
             "certwatch takedown compliance --from 2024-09-01 --to 2024-10-31 --days 7")
    _period_args(p)
    p.add_argument("--days", type=int, default=7, help="发出多少天后仍在线算超期（默认 7）")

    sub = _group(add, "referral", "线索移交：移交公安（待移交清单）与生成移交公安的证据包",
                 "certwatch referral create --unit 区公安分局")
    p = sub_command(sub, "add", "移交公安：把条目加入待移交清单（与审核台的“移交公安”相同），生成移交包后计为已移交",
             cmd_referral_add, "certwatch referral add --items 12,s4 --user 李四")
    p.add_argument("--items", required=True, help="条目：信息编号（12 或 f12），网站 s编号（s4），逗号分隔")
    p.add_argument("--user", default="审核员", help=user_help)
    p.add_argument("--note", help="说明")
    p.add_argument("--force", action="store_true",
                   help="也移交未被标记为可疑、未经审核确认的条目（审核员明确判断时用）")
    p = sub_command(sub, "create", "生成移交包：默认为待移交清单中的全部条目（汇总表、截图、网页、取证记录、哈希清单）",
             cmd_referral_create, "certwatch referral create --unit 区公安分局 --user 张三")
    p.add_argument("--items", help="只移交这些条目（须已确认或已移交公安）：信息编号（12 或 f12），网站 s编号（s4），逗号分隔")
    p.add_argument("--unit", required=True, help="接收单位（如 区公安分局）")
    p.add_argument("--user", default="审核员", help=user_help)
    p.add_argument("--note", help="备注")
    p.add_argument("--outdir", help="移交包目录（默认数据库旁的 referrals/）")
    sub_command(sub, "list", "列出移交单和待移交清单", cmd_referral_list, "certwatch referral list")

    sub = _group(add, "report", "统计报表：附表、手工填报项、图表", "certwatch report stats --out 统计表.xlsx")
    p = sub_command(sub, "stats", "生成统计表（附表：网络空间治理三项由系统统计，其余为手工填报）", cmd_report_stats,
             "certwatch report stats --from 2024-09-01 --to 2024-10-31 --unit 长宁区市场监管局 "
             "--person 张三 --phone 021-12345678 --out 统计表.xlsx")
    _period_args(p)
    p.add_argument("--unit", help="填报单位（默认 $CERTWATCH_UNIT）")
    p.add_argument("--person", help="填报人")
    p.add_argument("--phone", help="联系方式")
    p.add_argument("--date", help="填报时间（默认今天）")
    p.add_argument("--format", choices=("xlsx", "csv", "md"), help="输出格式（默认按 --out 扩展名，否则 xlsx）")
    p.add_argument("--out", help="输出文件（md 格式不给则打印）")
    p = sub_command(sub, "set", "填写某期间的手工项（非负数字），如罚款金额", cmd_report_set,
             "certwatch report set --period 2024-09-01..2024-10-31 罚款金额 12.5")
    _period_args(p)
    p.add_argument("field", help="项目名（可写前缀，如 罚款金额）")
    p.add_argument("value", help="数值（检察机关提起公诉可写 3/5 表示 3 件 5 人）")
    p.add_argument("--user", default="监测员", help=user_help)
    p = sub_command(sub, "charts", "生成图表 PNG：每周可疑信息、下架请求与确认下架、假冒网站", cmd_report_charts,
             "certwatch report charts --from 2024-09-01 --to 2024-10-31 --outdir charts")
    _period_args(p)
    p.add_argument("--outdir", default="charts", help="输出目录（默认 charts）")
