"""The ``certwatch`` command line: a thin layer over library functions.

Every command takes ``--db PATH`` (environment ``CERTWATCH_DB``, default
``certwatch.db``). Messages for people are Chinese; errors become one clear
message and a non-zero exit.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import importlib
import json
import os
import sys
import unicodedata

from crawler import __version__


class CliError(Exception):
    """A message for the user; exit code 2."""


# Feature areas add their commands from their own modules: each module has
# ``register(add)`` where ``add(name, help, func, example)`` returns the
# argparse sub-parser (with --db already added). Commands raise CliError.
COMMAND_MODULES: list[str] = [
    "crawler.cli_keywords",
    "crawler.cli_schedule",
    "crawler.cli_console",
    "crawler.cli_reports",
    "crawler.cli_domains",
]


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
    """``with open_store(args) as db:`` — the store of ``--db``, closed on exit."""
    from pipelines import store
    return store.opened(args.db)


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


# ---------------------------------------------------------------- sandbox

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


# ---------------------------------------------------------------- sweep

def summary_rows(db_path: str, result, profiles_dir: str = "") -> list[list]:
    from crawler.profiles import load_profiles
    from pipelines import store
    with store.opened(db_path) as db:
        per = {r["platform"]: r for r in store.sweep_summary(db, result.sweep_id)}
    profiles = load_profiles(profiles_dir or None)
    names = sorted({k.rsplit("/", 1)[1] for k in result.stats
                    if k.startswith(("certwatch/search_pages/", "certwatch/detail_pages/"))} | set(per))
    rows, total = [], [0, 0, 0]
    for name in names:
        pages = int(result.stats.get(f"certwatch/search_pages/{name}", 0)) + \
            int(result.stats.get(f"certwatch/detail_pages/{name}", 0))
        listings = per.get(name, {}).get("listings", 0)
        flagged = per.get(name, {}).get("flagged", 0)
        title = profiles[name].title if name in profiles else name
        rows.append([title, pages, listings, flagged])
        total = [total[0] + pages, total[1] + listings, total[2] + flagged]
    rows.append(["合计", *total])
    return rows


def _sweep(args, sandbox: str):
    from crawler.profiles import ProfileError, load_profiles
    from crawler.sweep import SweepOptions, run
    try:
        profiles = load_profiles(args.profiles or None)
    except ProfileError as exc:
        raise CliError(str(exc)) from None
    unknown = [p for p in (args.platforms or "").split(",") if p and p not in profiles]
    if unknown:
        raise CliError(f"未知平台：{'、'.join(unknown)}（可用：{'、'.join(sorted(profiles))}）")
    opts = SweepOptions(db=args.db, sandbox=sandbox,
                        platforms=[p for p in (args.platforms or "").split(",") if p],
                        keyword_filter=args.keyword or "", max_pages=args.pages or 0,
                        profiles_dir=args.profiles or "", progress=not args.quiet,
                        log_level=args.log_level, extra_settings=parse_settings(getattr(args, "set", [])))
    return run(opts)


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


STATUS_CN = {"finished": "完成", "interrupted": "已中断", "failed": "失败", "running": "进行中"}


def cmd_sweep(args) -> int:
    if not args.sandbox and not args.real:
        raise CliError("请用 --sandbox URL 指定沙箱，或用 --real 明确在真实网络上巡查")
    result = _sweep(args, args.sandbox or "")
    print(table(summary_rows(args.db, result, args.profiles or ""), ["平台", "页面", "信息", "可疑"]))
    print(f"巡查 #{result.sweep_id}：{STATUS_CN.get(result.status, result.status)}；数据库 {args.db}")
    from crawler.cli_schedule import print_health_warnings
    print_health_warnings(args.db, result.sweep_id)
    if getattr(args, "evidence", False):
        from crawler.cli_console import sweep_evidence
        sweep_evidence(args.db, args.sandbox or "")
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
        result = _sweep(args, url)
        from crawler.cli_console import demo_evidence
        demo_evidence(args.db, url)      # while the sandbox still runs
    finally:
        process.stop(proc)
    print()
    print(table(summary_rows(args.db, result), ["平台", "页面", "信息", "可疑"]))
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
    from reports.demo import demo_outputs
    print()
    for what, where in demo_outputs(args.db, args.workdir):
        print(f"{what}：{where}")
    return 0 if result.status == "finished" else 1


# ---------------------------------------------------------------- classify

def _read_lines(path: str):
    fh = sys.stdin if path in ("-", None) else open(path, "rb")
    try:
        for n, raw in enumerate(fh, 1):
            yield n, raw
    finally:
        if fh is not sys.stdin:
            fh.close()


def parse_json_line(raw, n: int) -> dict:
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"第 {n} 行：不是 UTF-8 文本") from None
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"第 {n} 行：不是有效的 JSON（{exc.msg}）") from None
    if not isinstance(obj, dict):
        raise ValueError(f"第 {n} 行：应为 JSON 对象")
    return obj


def cmd_classify(args) -> int:
    from pipelines.sales import classify
    if args.file not in ("-", None) and not os.path.exists(args.file):
        raise CliError(f"文件不存在：{args.file}")
    bad = 0
    out = sys.stdout
    for n, raw in _read_lines(args.file):
        if not raw.strip():
            continue
        try:
            obj = parse_json_line(raw, n)
            text = obj.get("text")
            if not isinstance(text, str):
                raise ValueError(f"第 {n} 行：缺少字符串字段 text")
            title = obj.get("title")
            result = classify(text, title if isinstance(title, str) else None)
            out.write(json.dumps({"id": obj.get("id"), "flagged": result.flagged, "score": result.score,
                                  "family": result.family, "reasons": result.reasons},
                                 ensure_ascii=False) + "\n")
        except ValueError as exc:
            bad += 1
            print(str(exc), file=sys.stderr)
            out.write(json.dumps({"line": n, "error": str(exc)}, ensure_ascii=False) + "\n")
    return 2 if bad else 0


# ---------------------------------------------------------------- evaluate

def evaluate_sales(args) -> int:
    """Labelled JSON lines (text, label 1/0, optional title, category)."""
    from pipelines.evaluate import Evaluation
    from pipelines.sales import classify
    if not os.path.exists(args.file):
        raise CliError(f"文件不存在：{args.file}")
    ev = Evaluation()
    for n, raw in _read_lines(args.file):
        if not raw.strip():
            continue
        try:
            obj = parse_json_line(raw, n)
            if not isinstance(obj.get("text"), str) or obj.get("label") not in (0, 1):
                raise ValueError(f"第 {n} 行：需要字符串 text 和 0/1 的 label")
        except ValueError as exc:
            ev.errors.append(str(exc))
            continue
        title = obj.get("title") if isinstance(obj.get("title"), str) else None
        result = classify(obj["text"], title)
        ev.add(obj["label"], result.flagged, obj.get("category") or "",
               {"line": n, "score": result.score, "title": title or "", "text": obj["text"],
                "reasons": [r["code"] for r in result.reasons if r["weight"]]})
    print_evaluation(ev, "售假信息分类器")
    return 0 if not ev.errors else 2


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
                print(f"  第 {it['line']} 行 分数 {it['score']} {it['reasons']} {text[:90]}")
    for err in ev.errors:
        print(f"错误：{err}", file=sys.stderr)


# Evaluators by kind of labelled data: `certwatch evaluate KIND FILE`.
# Feature areas add theirs: EVALUATORS["domains"] = function(args) -> exit code.
EVALUATORS = {"sales": evaluate_sales}


def training_files() -> list[str]:
    """The labelled listings the shipped text model is trained on."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    found = sorted(glob.glob(os.path.join(root, "tests", "data", "sales_*.jsonl")))
    return found + [os.path.join(root, "crawler", "sandbox", "data", "listings.jsonl")]


def cmd_train(args) -> int:
    from keywords import data_path
    from pipelines import salesmodel
    files = args.files or training_files()
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise CliError(f"文件不存在：{'、'.join(missing)}")
    try:
        doc = salesmodel.fit(files, args.alpha)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"标注数据有误：{exc}") from None
    out = args.out or str(data_path(salesmodel.MODEL_FILE))
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=0, sort_keys=True)
        fh.write("\n")
    print(f"已训练文本模型：{doc['rows']} 条标注数据，{len(doc['weights'])} 个特征，写入 {out}")
    return 0


def cmd_labels(args) -> int:
    """Reviewed findings as labelled JSON lines (for evaluate and train)."""
    from pipelines import store
    from reports import labels as cn
    from reports.periods import PeriodError, beijing, make_period
    since = None
    if args.since:
        try:
            since = make_period(args.since, args.since).utc_range()[0]     # 00:00 北京时间
        except PeriodError as exc:
            raise CliError(f"--since {exc}") from None
    with open_store(args) as db:
        rows = store.reviewed_findings(db, since)
    to_stdout = args.out in (None, "-")
    kept = {0: 0, 1: 0}
    try:
        fh = contextlib.nullcontext(sys.stdout) if to_stdout else open(args.out, "w", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"无法写入 {args.out}：{exc.strerror}") from None
    with fh as out:
        for r in rows:
            if not (r["text"] or r["title"]):
                continue
            kept[r["label"]] += 1
            out.write(json.dumps({"text": r["text"] or "", "title": r["title"] or "", "label": r["label"],
                                  "category": cn.platform_title(r["platform"]), "id": r["id"], "url": r["url"],
                                  "decision": cn.action(r["action"]), "decided_at": beijing(r["at"]),
                                  "reviewer": r["user"]}, ensure_ascii=False) + "\n")
    print(f"已导出审核结果 {kept[1] + kept[0]} 条：确认 {kept[1]} 条（label 1），排除 {kept[0]} 条（label 0）"
          + ("" if to_stdout else f"，写入 {args.out}"), file=sys.stderr)
    return 0


def cmd_evaluate(args) -> int:
    func = EVALUATORS.get(args.kind)
    if func is None:
        raise CliError(f"未知的评估类型：{args.kind}（可选：{'、'.join(EVALUATORS)}）")
    return func(args)


# ---------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certwatch", description="证书涉假网络监测")
    parser.add_argument("--version", action="version", version=f"certwatch {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="命令")

    def add(name, help_, func, example):
        return sub_command(sub, name, help_, func, example, db_default=None)

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
    sweep_args(p)

    p = add("demo", "演示：启动沙箱，用默认关键词巡查全部沙箱平台并打印汇总", cmd_demo,
            "certwatch demo --workdir demo")
    p.add_argument("--workdir", default="demo", help="演示数据目录（默认 demo）")
    p.add_argument("--quiet", action="store_true", help="不显示进度")
    p.add_argument("--log-level", default="WARNING")

    for module in COMMAND_MODULES:
        importlib.import_module(module).register(add)

    p = add("evaluate", "在标注数据上评估分类器：打印精确率、召回率、F1、混淆矩阵、分类准确率和错判条目",
            cmd_evaluate, "certwatch evaluate sales tests/data/sales_corpus.jsonl")
    p.add_argument("kind", help="评估类型：sales（售假信息）或 domains（假冒网站域名）")
    p.add_argument("file", help="标注的 JSON Lines 文件")

    p = add("train", "用标注数据重新训练售假信息分类器的文本模型（写入 keywords/sales_model.json）",
            cmd_train, "certwatch train sales")
    p.add_argument("kind", choices=["sales"], help="训练类型：sales（售假信息文本模型）")
    p.add_argument("files", nargs="*", help="标注的 JSON Lines 文件（默认：tests/data/sales_*.jsonl 和沙箱信息）")
    p.add_argument("--alpha", type=float, default=1.5, help="文本模型在分数中的权重（默认 1.5）")
    p.add_argument("--out", help="输出文件（默认 keywords/sales_model.json）")

    p = add("labels", "导出审核结果为标注数据（确认=1，排除=0；JSON Lines，可用于 evaluate 和 train）",
            cmd_labels, "certwatch labels --db certwatch.db --since 2026-11-01 --out 审核标注.jsonl")
    p.add_argument("--since", help="只导出此日期（北京时间，YYYY-MM-DD）及以后的审核结果")
    p.add_argument("--out", help="输出文件（默认标准输出）")

    p = add("classify", "判断信息是否涉嫌售卖假证（JSON Lines 输入输出）", cmd_classify,
            "echo '{\"id\": 1, \"text\": \"代办电工证 不用考试\"}' | certwatch classify -")
    p.add_argument("file", nargs="?", default="-", help="JSON Lines 文件，- 表示标准输入")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if getattr(args, "db", None) is None:
        args.db = default_db()
    try:
        return args.func(args) or 0
    except CliError as exc:
        print(f"错误：{exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("已中断", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run the imported module's main, so command modules that import
    # crawler.cli (CliError) share its classes with the caller.
    from crawler.cli import main as _main
    sys.exit(_main())
