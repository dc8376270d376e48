"""Commands over labelled listings: ``classify`` (JSON lines in and out),
``evaluate`` (figures on labelled data), ``train`` (the text model) and
``labels`` (reviewers' decisions as labelled data)."""
from __future__ import annotations

import contextlib
import json
import os
import sys

from crawler.cli.common import (EVALUATORS, CliError, existing_store, parse_json_line, print_evaluation, read_lines,
                                reason_labels, table)


def cmd_classify(args) -> int:
    from pipelines.sales import classify
    if args.file not in ("-", None) and not os.path.exists(args.file):
        raise CliError(f"文件不存在：{args.file}")
    bad = 0
    out = sys.stdout
    for n, raw in read_lines(args.file):
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


def labelled_files(path: str) -> list[str]:
    """A labelled file, or every *.jsonl file in a folder (sorted)."""
    if os.path.isdir(path):
        found = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".jsonl"))
        if not found:
            raise CliError(f"目录中没有 .jsonl 文件：{path}")
        return found
    if not os.path.exists(path):
        raise CliError(f"文件不存在：{path}")
    return [path]


def evaluate_sales(args) -> int:
    """Labelled JSON lines (text, label 1/0, optional title, category,
    source_kind, network), one file or a folder of them. Items written by
    hand (source_kind written_*) are also left out of a second, real-only
    figure."""
    from pipelines.evaluate import Evaluation
    from pipelines.sales import classify
    files = labelled_files(args.file)
    group_by = getattr(args, "group_by", None)
    ev, real, groups = Evaluation(), Evaluation(), {}
    for path in files:
        where = os.path.basename(path) + " " if len(files) > 1 else ""
        for n, raw in read_lines(path):
            if not raw.strip():
                continue
            try:
                obj = parse_json_line(raw, n)
                if not isinstance(obj.get("text"), str) or obj.get("label") not in (0, 1):
                    raise ValueError(f"第 {n} 行：需要字符串 text 和 0/1 的 label")
            except ValueError as exc:
                ev.errors.append(where + str(exc))
                continue
            title = obj.get("title") if isinstance(obj.get("title"), str) else None
            result = classify(obj["text"], title)
            item = {"file": where, "line": n, "score": result.score, "title": title or "", "text": obj["text"],
                    "reasons": reason_labels(result.reasons)}
            category = str(obj.get("category") or "")
            ev.add(obj["label"], result.flagged, category, item)
            if not str(obj.get("source_kind") or "").startswith("written_"):
                real.add(obj["label"], result.flagged, category, item)
            if group_by:
                key = str(obj.get(group_by) or "（无）")
                groups.setdefault(key, Evaluation()).add(obj["label"], result.flagged, category, item)
    print_evaluation(ev, "售假信息分类器")
    if real.total != ev.total:
        print(f"\n其中真实来源（不含人工编写的 {ev.total - real.total} 条）：共 {real.total} 条，"
              f"精确率 {_ratio(real.precision, real.tp + real.fp)}，召回率 {_ratio(real.recall, real.tp + real.fn)}，"
              f"误报率 {_ratio(real.false_positive_rate, real.fp + real.tn)}"
              f"（违规 {real.tp + real.fn} 条，正常 {real.fp + real.tn} 条）")
    if groups:
        print()
        rows = [[key, g.total, g.tp + g.fn, g.tp, g.fp, f"{g.precision:.3f}" if g.tp + g.fp else "-",
                 f"{g.recall:.3f}" if g.tp + g.fn else "-"]
                for key, g in sorted(groups.items(), key=lambda kv: (-kv[1].total, kv[0]))]
        print(table(rows, [GROUP_CN.get(group_by, group_by), "条数", "违规", "检出", "误报", "精确率", "召回率"]))
    return 0 if not ev.errors else 2


def _ratio(value: float, denominator: int) -> str:
    """A ratio for people: "-" when nothing was there to count (no sale ads
    among the items: recall is undefined, not 1)."""
    return f"{value:.4f}" if denominator else "-"


GROUP_CN = {"network": "发布网络", "source_kind": "来源类型", "category": "类别"}


def cmd_train(args) -> int:
    from keywords import data_path
    from pipelines import salesmodel
    files = args.files or salesmodel.training_files()
    missing = [f for f in files if not os.path.exists(f)]
    if missing:
        raise CliError(f"文件不存在：{'、'.join(missing)}")
    try:
        doc = salesmodel.fit(files, args.alpha)
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"标注数据有误：{exc}") from None
    out = args.out or str(data_path(salesmodel.MODEL_FILE))
    from keywords.atomic import atomic_write
    atomic_write(out, json.dumps(doc, ensure_ascii=False, indent=0, sort_keys=True) + "\n")
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
    with existing_store(args) as db:
        rows = store.reviewed_findings(db, since)
    to_stdout = args.out in (None, "-")
    kept = {0: 0, 1: 0}
    try:
        from keywords.atomic import atomic_file
        if not to_stdout and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
            raise FileNotFoundError(2, "目录不存在")
        fh = contextlib.nullcontext(sys.stdout) if to_stdout else atomic_file(args.out, "w", encoding="utf-8")
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


def register(add) -> None:
    EVALUATORS["sales"] = evaluate_sales
    p = add("evaluate", "在标注数据上评估分类器：打印精确率、召回率、F1、混淆矩阵、分类准确率和错判条目",
            cmd_evaluate, "certwatch evaluate sales tests/data/real/ --group-by source_kind")
    p.add_argument("kind", help="评估类型：sales（售假信息）或 domains（假冒网站域名）")
    p.add_argument("file", help="标注的 JSON Lines 文件，或含 .jsonl 文件的目录（sales）")
    p.add_argument("--group-by", choices=["network", "source_kind", "category"],
                   help="按发布网络、来源类型或类别分组列出精确率和召回率（sales）")

    p = add("train", "用标注数据重新训练售假信息分类器的文本模型（写入 keywords/sales_model.json）",
            cmd_train, "certwatch train sales")
    p.add_argument("kind", choices=["sales"], help="训练类型：sales（售假信息文本模型）")
    p.add_argument("files", nargs="*", help="标注的 JSON Lines 文件（默认：tests/data/sales_*.jsonl、tests/data/real/*.jsonl 和沙箱信息）")
    p.add_argument("--alpha", type=float, default=1.5, help="文本模型在分数中的权重（默认 1.5）")
    p.add_argument("--out", help="输出文件（默认 keywords/sales_model.json）")

    p = add("labels", "导出审核结果为标注数据（确认=1，排除=0；JSON Lines，可用于 evaluate 和 train）",
            cmd_labels, "certwatch labels --db certwatch.db --since 2026-11-01 --out 审核标注.jsonl")
    p.add_argument("--since", help="只导出此日期（北京时间，YYYY-MM-DD）及以后的审核结果")
    p.add_argument("--out", help="输出文件（默认标准输出）")

    p = add("classify", "判断信息是否涉嫌售卖假证（JSON Lines 输入输出）", cmd_classify,
            "echo '{\"id\": 1, \"text\": \"代办电工证 不用考试\"}' | certwatch classify -")
    p.add_argument("file", nargs="?", default="-", help="JSON Lines 文件，- 表示标准输入")
