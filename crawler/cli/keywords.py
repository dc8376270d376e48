"""``certwatch keywords …``: the keyword library on the command line (a thin
layer over keywords.library and the store)."""
from __future__ import annotations

import getpass
import os
import sys

from crawler.cli.common import CliError, open_store, sub_command, table

KIND_CHOICES = ("cert", "intent", "site", "exclude")


def _user(args) -> str:
    if getattr(args, "user", None):
        return args.user
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def cmd_import(args) -> int:
    from keywords.library import KeywordFileError
    from pipelines.store import import_file
    if not os.path.exists(args.file):
        raise CliError(f"文件不存在：{args.file}")
    defaults = {k: v for k, v in (("kind", args.kind), ("industry", args.industry),
                                  ("department", args.department)) if v}
    with open_store(args) as db:
        try:
            result = import_file(db, args.file, user=_user(args), defaults=defaults, with_defaults=True)
        except KeywordFileError as exc:
            raise CliError(str(exc)) from None
        queries = len(library_queries(db))
    for err in result["errors"]:
        where = f"第 {err['row']} 行" if err["row"] else "整表"
        print(f"工作表 {err['sheet']} {where}：{err['reason']}")
    print(f"导入 {result['file_name']}：共 {result['rows']} 行，新增 {result['added']}，"
          f"已存在 {result['existing']}，文件内重复 {result['duplicates']}，有误 {result['bad']}"
          f"（导入记录 #{result['id']}，SHA-256 {result['sha256'][:16]}…）")
    if result.get("defaults"):
        print(f"关键词库首次使用，已同时装入默认关键词库：新增 {result['defaults']['added']} 个"
              "（不需要时用 certwatch keywords defaults --disable 停用）")
    print(f"关键词库现可扩展为 {queries} 个搜索查询（certwatch keywords queries 查看）")
    return 1 if result["bad"] else 0


def cmd_defaults(args) -> int:
    from pipelines import store
    with open_store(args) as db:
        if args.disable or args.enable:
            n = store.set_default_keywords_active(db, bool(args.enable))
            queries = len(library_queries(db))
            print(f"已{'启用' if args.enable else '停用'}默认关键词库中的 {n} 个关键词"
                  + ("" if args.enable else "（保留在库中，不会再自动装入；--enable 重新启用）")
                  + f"；关键词库现可扩展为 {queries} 个搜索查询")
            return 0
        result = store.load_default_keywords(db, _user(args))
        queries = len(library_queries(db))
    print(f"已装入默认关键词库：共 {result['rows']} 个，新增 {result['added']}，已在库中 {result['existing']}"
          f"（已停用的仍保持停用）；关键词库现可扩展为 {queries} 个搜索查询")
    return 0


def cmd_template(args) -> int:
    from keywords.library import KeywordFileError, write_template
    try:
        write_template(args.out)
    except KeywordFileError as exc:
        raise CliError(str(exc)) from None
    print(f"已生成关键词导入模板：{args.out}")
    return 0


def _active(args):
    if getattr(args, "all", False):
        return None
    if getattr(args, "disabled", False):
        return False
    return True


def cmd_list(args) -> int:
    from keywords import KINDS
    from pipelines import store
    with open_store(args) as db:
        rows = store.query_keywords(db, industry=args.industry, department=args.department,
                                    kind=args.kind, active=_active(args), search=args.search)
    print(table([[k["id"], k["term"], KINDS.get(k["kind"], k["kind"]), k["industry"], k["department"],
                  "启用" if k["active"] else "停用"] for k in rows],
                ["编号", "关键词", "类别", "行业", "提供单位", "状态"]))
    print(f"共 {len(rows)} 个")
    return 0


def cmd_add(args) -> int:
    from keywords.library import validate_row
    from pipelines import store
    row, reason = validate_row({"term": args.term, "kind": args.kind, "industry": args.industry or "",
                                "department": args.department or ""}, {})
    if reason:
        raise CliError(reason)
    with open_store(args) as db:
        result = store.import_keywords(db, [row], {"user": _user(args), "file_name": "(命令行添加)",
                                                   "format": "cli", "rows": 1})
    print("已添加" if result["added"] else "关键词已存在（状态不变）", row["term"])
    return 0


def _set_active(args, active: bool) -> int:
    from pipelines import store
    with open_store(args) as db:
        n = 0
        for term in args.terms:
            try:
                n += store.set_keyword_active(db, active, term=term, kind=args.kind)
            except store.StoreError as exc:
                raise CliError(str(exc)) from None
    print(f"已{'启用' if active else '停用'} {n} 个关键词")
    return 0


def cmd_export(args) -> int:
    from keywords.library import KeywordFileError
    from pipelines.store import export_file
    with open_store(args) as db:
        try:
            n = export_file(db, args.out, industry=args.industry, department=args.department,
                            kind=args.kind, active=_active(args))
        except KeywordFileError as exc:
            raise CliError(str(exc)) from None
    print(f"已导出 {n} 个关键词：{args.out}")
    return 0


def library_queries(db, industry=None, department=None, term_filter=None, variants=False) -> list[str]:
    """What a sweep with these filters searches (same call as the spiders)."""
    from crawler.spiders.base import queries_from_library
    return queries_from_library(db, term_filter or "", industry or "", department or "", variants)


def cmd_queries(args) -> int:
    from pipelines.profiles import ProfileError, load_profiles
    from keywords import platform_queries
    with open_store(args) as db:
        queries = library_queries(db, args.industry, args.department, args.keyword, args.variants)
    limit = None
    if args.platform:
        try:
            profiles = load_profiles(args.profiles or None)
        except ProfileError as exc:
            raise CliError(str(exc)) from None
        if args.platform not in profiles:
            raise CliError(f"未知平台：{args.platform}（可选：{', '.join(sorted(profiles))}）")
        limit = profiles[args.platform].max_query_length
    queries, skipped = platform_queries(queries, limit)
    for q in queries:
        print(q)
    note = f"，超出平台查询长度上限跳过 {skipped} 个" if skipped else ""
    print(f"共 {len(queries)} 个查询{note}", file=sys.stderr)
    return 0


def cmd_userdict(args) -> int:
    from pipelines.store import jieba_userdict
    with open_store(args) as db:
        path = jieba_userdict(db, args.out)
    print(f"已生成 jieba 用户词典：{path}")
    return 0


def cmd_imports(args) -> int:
    from pipelines import store
    from pipelines.store import beijing
    with open_store(args) as db:
        rows = store.list_keyword_imports(db, args.limit)
    print(table([[r["id"], beijing(r["at"], "%Y-%m-%d %H:%M:%S"), r["user"], r["file_name"], r["rows"], r["added"],
                  r["existing"], r["bad"], r["sha256"][:12]] for r in rows],
                ["编号", "时间（北京时间）", "操作人", "文件", "行数", "新增", "已存在", "有误", "SHA-256"]))
    return 0


def _filters(p, state=True):
    p.add_argument("--industry", help="按行业筛选，如 特种作业")
    p.add_argument("--department", help="按提供单位筛选，如 区应急局")
    p.add_argument("--kind", choices=KIND_CHOICES, help="按类别筛选")
    if state:
        p.add_argument("--all", action="store_true", help="包括已停用的关键词")
        p.add_argument("--disabled", action="store_true", help="只看已停用的关键词")


def register(add) -> None:
    p = add("keywords", "关键词库：导入、默认词库、模板、列表、添加、停用/启用、导出、查询扩展", lambda a: p.print_help() or 2,
            "certwatch keywords list --industry 特种作业")
    sub = p.add_subparsers(dest="keywords_command", metavar="子命令")

    s = sub_command(sub, "import", "导入关键词文件（.xlsx/.csv/.txt）；逐行报告有误的行，其余行导入",
                    cmd_import, "certwatch keywords import 应急局关键词.xlsx --user 张三")
    s.add_argument("file", help="关键词文件")
    s.add_argument("--user", help="操作人（默认当前系统用户）")
    s.add_argument("--kind", help="单元格为空时的类别（.txt 文件必填），如 证书名称 或 cert")
    s.add_argument("--industry", help="单元格为空时的行业（.txt 证书名称文件必填）")
    s.add_argument("--department", help="单元格为空时的提供单位")

    s = sub_command(sub, "defaults", "装入默认关键词库（缺少的词补上，已停用的保持停用）；--disable 停用全部默认关键词",
                    cmd_defaults, "certwatch keywords defaults")
    onoff = s.add_mutually_exclusive_group()
    onoff.add_argument("--disable", action="store_true", help="停用来自默认关键词库的全部关键词（不删除，不再自动装入）")
    onoff.add_argument("--enable", action="store_true", help="重新启用来自默认关键词库的全部关键词")
    s.add_argument("--user", help="操作人（默认当前系统用户）")

    s = sub_command(sub, "template", "生成关键词导入模板（.xlsx 或 .csv）", cmd_template,
                    "certwatch keywords template 关键词模板.xlsx")
    s.add_argument("out", help="输出文件（.xlsx 或 .csv）")

    s = sub_command(sub, "list", "列出关键词（默认只列启用的）", cmd_list,
                    "certwatch keywords list --industry 特种作业 --department 区应急局")
    _filters(s)
    s.add_argument("--search", help="关键词包含此文字")

    s = sub_command(sub, "add", "添加一个关键词", cmd_add,
                    "certwatch keywords add 电工操作证 --kind cert --industry 特种作业 --department 区应急局")
    s.add_argument("term")
    s.add_argument("--kind", required=True, help="证书名称/售假意图词/假冒网站词/排除词 或 cert/intent/site/exclude")
    s.add_argument("--industry", help="行业（证书名称必填）")
    s.add_argument("--department", help="提供单位")
    s.add_argument("--user", help="操作人")

    for name, active, help_ in (("disable", False, "停用关键词（关键词从不删除，停用后不再用于巡查）"),
                                ("enable", True, "重新启用关键词")):
        s = sub_command(sub, name, help_, lambda a, _act=active: _set_active(a, _act),
                        f"certwatch keywords {name} 题库 --kind exclude")
        s.add_argument("terms", nargs="+", help="关键词")
        s.add_argument("--kind", choices=KIND_CHOICES, help="只改这一类别的同名关键词")

    s = sub_command(sub, "export", "导出关键词（格式同导入，可再导入）", cmd_export,
                    "certwatch keywords export 关键词.xlsx --industry 特种设备")
    s.add_argument("out", help="输出文件（.xlsx/.csv/.txt）")
    _filters(s)

    s = sub_command(sub, "queries", "显示巡查将使用的搜索查询（证书名称 × 售假意图词，去除排除词）", cmd_queries,
                    "certwatch keywords queries --industry 特种作业")
    s.add_argument("--industry", help="只用该行业的证书名称")
    s.add_argument("--department", help="只用该单位提供的证书名称")
    s.add_argument("--keyword", help="只用包含此词的证书名称")
    s.add_argument("--variants", action="store_true", help="加入证书名称的同义词和常见变体")
    s.add_argument("--platform", help="按该平台的查询长度上限筛选")
    s.add_argument("--profiles", help="额外的平台配置目录")

    s = sub_command(sub, "userdict", "由关键词库生成 jieba 用户词典", cmd_userdict,
                    "certwatch keywords userdict --out userdict.txt")
    s.add_argument("--out", help="输出文件（默认数据库旁的 jieba_userdict.txt）")

    s = sub_command(sub, "imports", "查看导入记录（谁、何时、文件哈希、行数）", cmd_imports,
                    "certwatch keywords imports")
    s.add_argument("--limit", type=int, default=20)
