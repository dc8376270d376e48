"""Commands for look-alike government sites: check-domain, submit, sites
check, and the ``domains`` evaluator of ``certwatch evaluate``."""
from __future__ import annotations

import json
import logging
import os
import sys

from crawler.cli.common import EVALUATORS, STATUS_CN, CliError, parse_json_line, print_log_note, reason_labels, table

log = logging.getLogger(__name__)

OFFICIAL_KINDS = ("official", "gov_other")


def _judge_line(obj: dict, n: int):
    from pipelines.lookalike import judge
    domain = obj.get("domain")
    if not isinstance(domain, str) or not domain.strip():
        raise ValueError(f"第 {n} 行：缺少字符串字段 domain")
    html = obj.get("html") if isinstance(obj.get("html"), str) else None
    whois_text = obj.get("whois") if isinstance(obj.get("whois"), str) else None
    checked = obj.get("checked_at") if isinstance(obj.get("checked_at"), str) else None
    return judge(domain, html, whois_text, checked)


def _read(path: str):
    if path not in ("-", None) and not os.path.exists(path):
        raise CliError(f"文件不存在：{path}")
    fh = sys.stdin.buffer if path in ("-", None) else open(path, "rb")
    try:
        for n, raw in enumerate(fh, 1):
            yield n, raw
    finally:
        if fh is not sys.stdin.buffer:
            fh.close()


def cmd_check_domain(args) -> int:
    from pipelines.lookalike import judge
    if not args.hosts and not args.jsonl:
        raise CliError("请给出主机名，或用 --jsonl 文件")
    out, bad = sys.stdout, 0
    client = _whois_client(args) if args.whois_server else None
    for host in args.hosts:
        facts = None
        if client is not None:
            from pipelines.lookalike import score_host
            facts = client.lookup(score_host(host).domain or host)
        j = judge(host, whois_facts=facts) if facts is not None else judge(host)
        out.write(json.dumps(j.as_dict(), ensure_ascii=False) + "\n")
    if args.jsonl:
        for n, raw in _read(args.jsonl):
            if not raw.strip():
                continue
            try:
                j = _judge_line(parse_json_line(raw, n), n)
                out.write(json.dumps(j.as_dict(), ensure_ascii=False) + "\n")
            except ValueError as exc:
                bad += 1
                print(str(exc), file=sys.stderr)
                out.write(json.dumps({"line": n, "error": str(exc)}, ensure_ascii=False) + "\n")
    return 2 if bad else 0


def _whois_client(args):
    from pipelines.whois import WhoisClient, WhoisConfig, servers_from_spec
    try:
        servers, default = servers_from_spec(args.whois_server)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    from crawler import settings
    timeout = settings.CERTWATCH_WHOIS_TIMEOUT if args.whois_timeout is None else args.whois_timeout
    config = WhoisConfig(servers=servers, default=default, timeout=timeout, min_interval=0.2,
                         allow=settings.CERTWATCH_GUARD_ALLOW)
    return WhoisClient(config, db_path=args.db)


# ---------------------------------------------------------------- evaluate

def evaluate_domains(args) -> int:
    """Labelled JSON lines: domain, label 1/0, optional html, whois, kind, checked_at."""
    counts = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    per_kind: dict[str, list] = {}
    misses, alarms, errors = [], [], []
    official_fp = 0
    for n, raw in _read(args.file):
        if not raw.strip():
            continue
        try:
            obj = parse_json_line(raw, n)
            if obj.get("label") not in (0, 1):
                raise ValueError(f"第 {n} 行：label 应为 0 或 1")
            j = _judge_line(obj, n)
        except ValueError as exc:
            errors.append(str(exc))
            continue
        label, pred = obj["label"], j.flagged
        kind = str(obj.get("kind") or "未分类")
        key = ("tp" if pred else "fn") if label else ("fp" if pred else "tn")
        counts[key] += 1
        row = per_kind.setdefault(kind, [0, 0, label])
        row[0] += int(bool(label) == pred)
        row[1] += 1
        item = (n, obj["domain"], _cn(j.verdict), j.score, reason_labels(j.reasons))
        if label and not pred:
            misses.append(item)
        elif pred and not label:
            alarms.append(item)
            if kind in OFFICIAL_KINDS or j.host.endswith(".gov.cn"):
                official_fp += 1
    tp, fp, tn, fn = counts["tp"], counts["fp"], counts["tn"], counts["fn"]
    recall = tp / (tp + fn) if tp + fn else 1.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"假冒政府网站识别评估：共 {tp + fp + tn + fn} 条（假冒 {tp + fn}，正常 {fp + tn}）")
    print(f"召回率 recall = {recall:.4f}")
    print(f"误报率 FPR = {fpr:.4f}")
    print(f"精确率 precision = {precision:.4f}")
    print(f"官方及政府主机误报 official_fp = {official_fp}")
    print()
    print(table([["实际假冒 (1)", tp, fn], ["实际正常 (0)", fp, tn]], ["混淆矩阵", "判为假冒/可疑", "判为正常"]))
    print()
    rows = [[kind, "假冒" if lab else "正常", f"{right}/{total}", f"{right / total:.3f}"]
            for kind, (right, total, lab) in sorted(per_kind.items())]
    print(table(rows, ["类别", "标注", "正确/总数", "准确率"]))
    for title, items in (("漏报（假冒判为正常）", misses), ("误报（正常判为假冒/可疑）", alarms)):
        if items:
            print(f"\n{title}：{len(items)} 条")
            for n, domain, verdict, score, codes in items:
                print(f"  第 {n} 行 {domain} {verdict} {score} 分（{codes}）")
    for err in errors:
        print(f"错误：{err}", file=sys.stderr)
    return 2 if errors else 0


# ---------------------------------------------------------------- submit / sites

def cmd_submit(args) -> int:
    """A tip from the public or staff: store the site for checking."""
    from pipelines import store
    from pipelines.lookalike import score_host
    url = args.url.strip()
    j = score_host(url)
    if j.bad_host:
        raise CliError(f"无法识别的网址：{url[:100]}（{j.reasons[0]['label']}）")
    if "://" not in url:
        url = "http://" + url
    with store.opened(args.db) as db:
        site_id = store.record_checked_site(db, {
            "domain": j.domain or j.host, "host": j.host, "url": url, "source": f"tip:{args.source}",
            "verdict": j.verdict, "score": j.score, "reasons": j.reasons, "impersonates": j.impersonates})
    print(f"已登记线索 #{site_id}：{j.host}（来源 {args.source}；按域名初判：{_cn(j.verdict)}，{j.score} 分）")
    print("运行 certwatch sites check 访问并核查该网站。")
    return 0


def _cn(verdict: str) -> str:
    from pipelines.lookalike import VERDICT_CN
    return VERDICT_CN.get(verdict, verdict)


def cmd_sites(args) -> int:
    if args.action != "check":
        raise CliError(f"未知的操作：{args.action}（可用：check）")
    if not args.sandbox and not args.real:
        raise CliError("请用 --sandbox URL 指定沙箱，或用 --real 明确在真实网络上核查")
    from crawler.progress import SITES
    from crawler.sweep import SweepOptions, run
    from crawler.cli.common import profile_settings
    extra = {"CERTWATCH_SITES_SOURCES": args.sources, "CERTWATCH_SITES_LIMIT": args.limit,
             **profile_settings(args)}      # the sweep's profiles: their politeness and proxies apply
    if args.whois_server:
        extra["CERTWATCH_WHOIS_SERVERS"] = args.whois_server
    opts = SweepOptions(db=args.db, sandbox=args.sandbox or "", spiders=("sites",), profiles_dir=args.profiles or "",
                        progress=not args.quiet, view=SITES, log_level=args.log_level, extra_settings=extra)
    result = run(opts)
    s = result.stats
    print(table([["候选主机", s.get("sites/candidates", 0)], ["访问网站", s.get("sites/checked", 0)],
                 ["无法访问", s.get("sites/unreachable", 0)], ["判为假冒/可疑", s.get("sites/flagged", 0)],
                 ["WHOIS 查询失败", sum(v for k, v in s.items() if k.startswith("whois/")
                                       and k.split("/")[1] in ("timeout", "refused", "error", "rate_limited",
                                                               "garbage", "too_long", "no_server"))]],
                ["项目", "数量"]))
    from pipelines import store
    with store.opened(args.db) as db:
        rows = [[r["domain"], _cn(r.get("verdict") or ""), r.get("score") or 0, r.get("impersonates") or "",
                 r.get("title") or ""] for r in store.sites_with_status(db, ("flagged",))]
    if rows:
        print()
        print(table(rows, ["域名", "判断", "分数", "仿冒", "网页标题"]))
    print(f"核查 #{result.sweep_id}：{STATUS_CN.get(result.status, result.status)}；数据库 {args.db}")
    print_log_note()
    return 0 if result.status == "finished" else 1


def register(add) -> None:
    p = add("check-domain", "判断主机名是否仿冒官方证书查询网站（可附网页和 WHOIS 原文）", cmd_check_domain,
            "certwatch check-domain cx-mem-gov.cn mohurd.top www.baidu.com")
    p.add_argument("hosts", nargs="*", help="主机名或网址")
    p.add_argument("--jsonl", help="JSON Lines 文件（每行 domain，可选 html、whois、checked_at），- 表示标准输入")
    p.add_argument("--whois-server", default="",
                   help="实时查询 WHOIS：TLD=主机:端口，逗号分隔，* 表示其他所有后缀（如 *=127.0.0.1:4343）")
    p.add_argument("--whois-timeout", type=float, default=None,
                   help="WHOIS 超时秒数（默认 $CERTWATCH_WHOIS_TIMEOUT，未设为 10）")

    p = add("submit", "登记一条网站线索（如 12350 举报），等待核查", cmd_submit,
            "certwatch submit http://cx-mem-gov.cn/ --source 12350")
    p.add_argument("url", help="网址或主机名")
    p.add_argument("--source", default="12350", help="线索来源（默认 12350）")

    p = add("sites", "核查候选网站：信息中的链接、搜索结果、官方域名的变形和线索", cmd_sites,
            "certwatch sites check --sandbox http://127.0.0.1:8765")
    p.add_argument("action", choices=["check"], help="check：访问并判断候选网站")
    p.add_argument("--sandbox", help="沙箱地址")
    p.add_argument("--real", action="store_true", help="在真实网络上核查")
    p.add_argument("--sources", default="findings,tips,generated",
                   help="候选来源，逗号分隔：findings（信息中的链接）、tips（线索）、generated（官方域名变形）")
    p.add_argument("--limit", type=int, default=2000, help="最多核查的生成候选数（默认 2000）")
    p.add_argument("--whois-server", default="", help="WHOIS 服务器（默认：沙箱自带或真实注册局）")
    p.add_argument("--profiles", help="额外的平台配置目录（其中平台的礼貌访问和代理设置同样适用）")
    p.add_argument("--local", action="store_true", help="允许访问 --profiles 目录中平台配置的本机主机（同 sweep --local）")
    p.add_argument("--quiet", action="store_true", help="不显示进度")
    p.add_argument("--log-level", default="WARNING", help="日志级别（日志写入数据库旁的 logs/certwatch.log）")
    EVALUATORS["domains"] = evaluate_domains
