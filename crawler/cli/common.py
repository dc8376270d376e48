"""What every command module shares: the CLI's error, sub-command and table
helpers, reading JSON lines, Scrapy settings for commands, running a sweep
with its summary, and the steps several commands take after a sweep
(evidence, health warnings). Imports no command module."""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import unicodedata


class CliError(Exception):
    """A message for the user; exit code 2."""


# Evaluators by kind of labelled data: `certwatch evaluate KIND FILE`.
# Command modules add theirs at registration: EVALUATORS["domains"] = func(args) -> exit code.
EVALUATORS: dict = {}

# Findings without a platform profile (pipelines.generic.PLATFORM).
OTHER_TITLES = {"web": "其他网页（经搜索引擎）"}
STATUS_CN = {"finished": "完成", "interrupted": "已中断", "failed": "失败", "running": "进行中"}


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def sub_command(sub, name: str, help_: str, func, example: str, db_default=argparse.SUPPRESS):
    """A sub-command with Chinese help ending in an example. Nested commands
    keep ``db_default`` SUPPRESS, so ``--db`` may stand before or after them."""
    p = sub.add_parser(name, help=help_, description=help_, epilog=f"示例：{example}",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default=db_default, help="数据库文件（默认 $CERTWATCH_DB 或 certwatch.db）")
    p.set_defaults(func=func)
    return p


def open_store(args):
    """``with open_store(args) as db:`` — the store of ``--db``, closed on exit
    (made when missing: for commands that fill a store, e.g. keywords import)."""
    from pipelines import store
    return store.opened(args.db)


def require_store(path: str, create_hint: str = "") -> None:
    """Refuse a missing ``--db`` for a command that only makes sense on an
    existing store: a mistyped path would otherwise become a new empty one.
    ``create_hint`` says how to make a new store where that is meant. (The
    one such check: the store opens any path it is given.)"""
    if path != ":memory:" and os.path.isfile(path):
        return
    raise CliError(f"数据库文件不存在：{path}（路径写错了吗？演示数据库是 demo/certwatch.db）"
                   + (f"。{create_hint}" if create_hint else ""))


def existing_store(args):
    """``with existing_store(args) as db:`` — open_store for a store that must
    exist already (require_store)."""
    require_store(args.db)
    return open_store(args)


def chosen_sweep(db, sweep_id: int | None) -> int:
    """The sweep a command names (--sweep), else the latest real sweep (a
    `sites check` or a lone `scrapy crawl` is recorded too, but is no sweep)."""
    if sweep_id:
        return sweep_id
    from pipelines import store
    latest = store.latest_sweep(db)
    if latest is None:
        others = store.list_sweeps(db, 1)
        if others:
            raise CliError(f"还没有巡查记录（最近的记录 #{others[0]['id']} 是"
                           f"{store.sweep_kind_label(others[0].get('kind'))}，可用编号查看）")
        raise CliError("还没有巡查记录")
    return latest


def table(rows: list[list], headers: list[str]) -> str:
    cells = [[str(c) for c in r] for r in [headers] + rows]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c + " " * (widths[i] - _width(c)) if i == 0 else " " * (widths[i] - _width(c)) + c
                               for i, c in enumerate(r)))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def default_db() -> str:
    from crawler import settings
    return settings.CERTWATCH_DB


def parse_settings(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip().isupper():
            raise CliError(f"--set 的格式应为 KEY=VALUE（大写设置名），而不是 {pair!r}")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def project_settings():
    """certwatch's Scrapy settings, whatever the working directory."""
    from crawler.sweep import project_settings as settings
    return settings()


def read_lines(path: str):
    fh = sys.stdin if path in ("-", None) else open(path, "rb")
    try:
        for n, raw in enumerate(fh, 1):
            yield n, raw
    finally:
        if fh is not sys.stdin:
            fh.close()


# Python's json messages (JSONDecodeError.msg) for people.
_JSON_ERRORS_CN = (
    ("Expecting value", "这里应是一个值，例如 {\"text\": \"…\"}"),
    ("Expecting property name enclosed in double quotes", "字段名应写在英文双引号里"),
    ("Expecting ',' delimiter", "缺少英文逗号"),
    ("Expecting ':' delimiter", "缺少英文冒号"),
    ("Unterminated string", "引号没有闭合"),
    ("Invalid control character", "字符串里有换行等控制字符"),
    ("Invalid \\escape", "无效的反斜杠转义"),
    ("Invalid \\uXXXX escape", "无效的 \\u 转义"),
    ("Extra data", "一个 JSON 对象之后还有多余内容，每行只能写一个对象"),
)


def json_error_cn(msg: str) -> str:
    for english, chinese in _JSON_ERRORS_CN:
        if msg.startswith(english):
            return chinese
    return "格式错误"


def reason_labels(reasons: list[dict]) -> str:
    """A judgement's weighed reasons as people read them (labels, not codes)."""
    return "；".join(str(r.get("label") or r.get("code") or "") for r in reasons if r.get("weight")) or "无判定理由"


def parse_json_line(raw, n: int) -> dict:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"第 {n} 行：不是 UTF-8 文本") from None
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"第 {n} 行第 {exc.colno} 列：不是有效的 JSON（{json_error_cn(exc.msg)}）") from None
    if not isinstance(obj, dict):
        raise ValueError(f"第 {n} 行：应为 JSON 对象")
    return obj


def print_evaluation(ev, name: str) -> None:
    print(f"{name}评估：共 {ev.total} 条")
    print(f"精确率 precision = {ev.precision:.4f}")
    print(f"召回率 recall    = {ev.recall:.4f}")
    print(f"F1               = {ev.f1:.4f}")
    print(f"误报率 FPR       = {ev.false_positive_rate:.4f}")
    print()
    print(table([["实际违规 (1)", ev.tp, ev.fn], ["实际正常 (0)", ev.fp, ev.tn]],
                ["混淆矩阵", "判为违规", "判为正常"]))
    print()
    rows = [[cat, f"{right}/{total}", f"{right / total:.3f}"]
            for cat, (right, total) in sorted(ev.per_category.items())]
    print(table(rows, ["类别", "正确/总数", "准确率"]))
    for title, items in (("漏报（违规判为正常）", ev.misses), ("误报（正常判为违规）", ev.false_alarms)):
        if items:
            print(f"\n{title}：{len(items)} 条")
            for it in items:
                text = (it.get("title", "") + " " + it.get("text", "")).replace("\n", " ")
                print(f"  {it.get('file', '')}第 {it['line']} 行 分数 {it['score']}（{it['reasons']}）{text[:90]}")
    for err in ev.errors:
        print(f"错误：{err}", file=sys.stderr)


# ---------------------------------------------------------------- sweeps


# The sweep summary's columns. 请求 is the figure the progress line and 巡查记录
# show (Scrapy's downloader/request_count): per platform, plus the requests
# of no platform; 解析页面 counts only the result and detail pages parsed.
SUMMARY_HEADERS = ["平台", "请求", "解析页面", "信息", "可疑"]
SUMMARY_NOTE = ("注：“请求”与进度行、巡查记录的请求数是同一个数（含探测查询、重试、被拦截和失败的请求）；"
                "“解析页面”只计成功解析的搜索结果页和详情页，所以通常少一些。")


def summary_rows(db_path: str, result, profiles_dir: str = "") -> list[list]:
    from pipelines.profiles import load_profiles
    from pipelines import store
    with store.opened(db_path) as db:
        per = {r["platform"]: r for r in store.sweep_summary(db, result.sweep_id)}
    profiles = load_profiles(profiles_dir or None)
    names = sorted({k.rsplit("/", 1)[1] for k in result.stats
                    if k.startswith(("certwatch/search_pages/", "certwatch/detail_pages/", "certwatch/requests/"))}
                   | set(per))
    rows, total = [], [0, 0, 0, 0]
    for name in names:
        requests = int(result.stats.get(f"certwatch/requests/{name}", 0) or 0)
        pages = int(result.stats.get(f"certwatch/search_pages/{name}", 0)) + \
            int(result.stats.get(f"certwatch/detail_pages/{name}", 0))
        listings = per.get(name, {}).get("listings", 0)
        flagged = per.get(name, {}).get("flagged", 0)
        title = profiles[name].title if name in profiles else OTHER_TITLES.get(name, name)
        rows.append([title, requests, pages, listings, flagged])
        total = [total[0] + requests, total[1] + pages, total[2] + listings, total[3] + flagged]
    all_requests = int(result.stats.get("downloader/request_count", 0) or 0)
    if all_requests > total[0]:
        rows.append(["其他请求（不属于任何平台，如 robots.txt、网站链接）", all_requests - total[0], 0, 0, 0])
    rows.append(["合计", max(all_requests, total[0]), *total[1:]])
    return rows


def local_profiles(args) -> dict:
    """``--local``: the profiles of the ``--profiles`` folder (their hosts may
    be loopback addresses; nothing else may)."""
    from pipelines.profiles import ProfileError, load_dir
    if not getattr(args, "local", False):
        return {}
    if not getattr(args, "profiles", None):
        raise CliError("--local 需要同时用 --profiles 指定平台配置目录（只放行其中平台配置的本机主机）")
    if getattr(args, "sandbox", None):
        raise CliError("--local 只用于真实模式（--real）：沙箱模式本来就只访问沙箱")
    try:
        return load_dir(args.profiles)
    except ProfileError as exc:
        raise CliError(str(exc)) from None


def profile_settings(args) -> dict:
    """Settings for --profiles / --local, shared by sweeps, evidence capture and rechecks."""
    out = {}
    if getattr(args, "profiles", None):
        out["CERTWATCH_PROFILES_DIR"] = args.profiles
    local = local_profiles(args)
    if local:
        out["CERTWATCH_LOCAL_HOSTS"] = ",".join(sorted({h for p in local.values() for h in p.hosts}))
    return out


def run_sweep(args, sandbox: str):
    from pipelines.profiles import ProfileError, load_profiles, unknown_platforms
    from crawler.sweep import SweepOptions, run
    try:
        profiles = load_profiles(args.profiles or None)
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    unknown = unknown_platforms(profiles, args.platforms or "")
    if unknown:
        raise CliError(f"未知平台：{'、'.join(unknown)}（可用：{'、'.join(sorted(profiles))}）")
    platforms = [p.strip() for p in (args.platforms or "").split(",") if p.strip()]
    extra = profile_settings(args)
    if getattr(args, "local", False) and not platforms:
        platforms = sorted(local_profiles(args))        # --local sweeps the folder's platforms
    extra.update(parse_settings(getattr(args, "set", [])))
    opts = SweepOptions(db=args.db, sandbox=sandbox, platforms=platforms,
                        keyword_filter=args.keyword or "", max_pages=args.pages or 0,
                        profiles_dir=args.profiles or "", progress=not args.quiet,
                        log_level=args.log_level, extra_settings=extra,
                        redis=getattr(args, "redis", None) or "")
    from crawler.distributed.keys import DistributedError
    try:
        return run(opts)
    except DistributedError as exc:
        raise CliError(str(exc)) from None


def demo_evidence(db_path: str, sandbox: str, progress: bool = True) -> None:
    """`certwatch demo`: capture evidence for what the sweep flagged."""
    sweep_evidence(db_path, sandbox, operator="演示", concurrency=6,   # loopback only: more pages at once
                   progress=progress)


def sweep_evidence(db_path: str, sandbox: str, operator: str = "", concurrency: int | None = None,
                   extra: dict | None = None, progress: bool = True, sweep_id: int | None = None) -> None:
    """After a sweep (`sweep --evidence`, the demo): capture what lacks evidence
    — with ``sweep_id`` only what that sweep saw, as the scheduler does —
    with the sweep's --profiles/--local settings (``extra``)."""
    from crawler.logfile import log_to_file
    from crawler.progress import Progress, on_capture
    from pipelines import evidence, store
    settings = project_settings()
    for key, value in (extra or {}).items():
        settings.set(key, value, priority="cmdline")
    config = evidence.CaptureConfig.from_settings(settings, sandbox=sandbox, concurrency=concurrency,
                                                  operator=operator or getpass.getuser())
    log_to_file(db_path)
    print(("为这次巡查看到的" if sweep_id else "为") + "可疑信息和网站取证（截图、网页、WARC、SHA-256）…",
          file=sys.stderr)
    with store.opened(db_path) as db, Progress("取证", enabled=progress) as shown:
        try:
            stats = evidence.capture(db, config, progress=on_capture(shown), sweep_id=sweep_id)
        except evidence.CaptureError as exc:
            print(f"取证未完成：{exc}", file=sys.stderr)
            return
    print(f"取证：成功 {stats.ok} 条，失败 {stats.failed} 条", file=sys.stderr)


def print_log_note() -> None:
    """After long work: how many warnings and errors went to the log file, and where."""
    from crawler.logfile import log_note
    note = log_note()
    if note:
        print(note, file=sys.stderr)


def print_health_warnings(db_path: str, sweep_id: int) -> None:
    """After a sweep: one line per platform that was blocked or broken."""
    from crawler.health import STATUS_CN as HEALTH_CN
    from pipelines import store
    with store.opened(db_path) as db:
        rows = [r for r in store.sweep_platforms(db, sweep_id) if r["status"] in ("blocked", "broken")]
    for r in rows:
        print(f"注意：平台 {r['platform']} {HEALTH_CN[r['status']]}（{r['note']}），详见 certwatch health {sweep_id}")
