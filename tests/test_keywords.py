"""Keyword library: import of good and bad files of each format, template,
export round trip, disable/enable, query expansion, jieba dictionary."""
from __future__ import annotations

import csv
import logging

import openpyxl
import pytest

from helpers import cli
from keywords import default_keywords, expand_queries, platform_queries, variants_of
from keywords.library import KeywordFileError, parse_file, write_template
from pipelines.store import import_file, jieba_userdict
from pipelines import store


def _xlsx(path, sheets: dict[str, list[list]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return str(path)


def _terms(db, **filters):
    return [k["term"] for k in store.query_keywords(db, **filters)]


def test_xlsx_formula_cells_are_skipped_as_formulas(tmp_path, fresh_db):
    """A formula cell (no value saved with it, as openpyxl writes it) is
    reported as a formula, not as an empty keyword, and never imported."""
    path = _xlsx(tmp_path / "公式.xlsx", {"词表": [
        ["关键词", "行业", "类别", "提供单位"],
        ["低压电工证", "特种作业", "证书名称", "区应急局"],
        ['=A2&"复审"', "特种作业", "证书名称", "区应急局"],              # row 3: formula term
        ["焊工证", '=B2', "证书名称", "区应急局"],                       # row 4: formula industry
    ]})
    result = import_file(fresh_db, path, user="张三")
    reasons = {e["row"]: e["reason"] for e in result["errors"]}
    assert reasons == {3: "关键词是公式单元格，已跳过（请复制后“粘贴为数值”再导入）",
                       4: "行业是公式单元格，已跳过（请复制后“粘贴为数值”再导入）"}
    assert _terms(fresh_db) == ["低压电工证"]


def test_xlsx_good_and_bad_rows(tmp_path, fresh_db):
    path = _xlsx(tmp_path / "应急局.xlsx", {
        "特种作业": [
            ["关键词", "行业", "类别", "提供单位"],
            ["低压电工证", "特种作业", "证书名称", "区应急局"],
            ["", "特种作业", "证书名称", "区应急局"],                  # row 3: empty term
            ["焊工证", "特种作业", "证书", "区应急局"],
            ["塔吊证", "建筑工地", "证书名称", "区建管委"],              # row 5: unknown industry
            ["包过", None, "售假意图词", "区应急局"],                  # industry empty → 通用
            ["叉车证", "特种设备", "广告词", "区市场监管局"],            # row 7: unknown kind
            ["低压电工证", "特种作业", "cert", "区应急局"],              # duplicate in file
            [None, None, None, None],                                  # blank: skipped silently
            ["x" * 41, "特种作业", "证书名称", "区应急局"],              # row 10: too long
        ],
        "Sheet2": [
            ["term", "industry", "kind", "department"],                # English headers
            ["叉车证", "特种设备", "cert", "区市场监管局"],
            ["题库", "通用", "exclude", "区市场监管局"],
            ["电\u200b工证", "特种作业", "cert", "区应急局"],            # row 4: zero-width char
        ],
        "说明": [["这张表是填写说明，不导入"]],
    })
    result = import_file(fresh_db, path, user="张三")
    assert result["rows"] == 11 and result["bad"] == 5 and result["duplicates"] == 1
    assert result["added"] == 5
    reported = {(e["sheet"], e["row"]) for e in result["errors"]}
    assert reported == {("特种作业", 3), ("特种作业", 5), ("特种作业", 7), ("特种作业", 10), ("Sheet2", 4)}
    reasons = {(e["sheet"], e["row"]): e["reason"] for e in result["errors"]}
    assert "未知行业" in reasons[("特种作业", 5)] and "未知类别" in reasons[("特种作业", 7)]
    assert "过长" in reasons[("特种作业", 10)] and "为空" in reasons[("特种作业", 3)]
    assert sorted(_terms(fresh_db)) == sorted(["低压电工证", "焊工证", "包过", "叉车证", "题库"])
    assert store.query_keywords(fresh_db, search="包过")[0]["industry"] == "通用"
    # The import is recorded: who, when, hash, counts, the bad rows.
    rec = store.list_keyword_imports(fresh_db)[0]
    assert rec["user"] == "张三" and len(rec["sha256"]) == 64 and rec["added"] == 5 and rec["bad"] == 5
    assert len(rec["errors"]) == 5 and rec["at"]
    # Re-import: idempotent; a disabled keyword stays disabled.
    store.set_keyword_active(fresh_db, False, term="焊工证")
    again = import_file(fresh_db, path, user="张三")
    assert again["added"] == 0 and again["existing"] == 5
    assert len(_terms(fresh_db, active=True)) == 4 and _terms(fresh_db, active=False) == ["焊工证"]
    assert len(store.list_keyword_imports(fresh_db)) == 2


def test_csv_gbk_and_utf8(tmp_path, fresh_db):
    gbk = tmp_path / "建管委.csv"
    gbk.write_bytes("行业,关键词,提供单位,类别\n建筑施工特种作业,塔吊司机证,区建管委,证书名称\n"
                    "建筑施工特种作业,,区建管委,证书名称\n".encode("gbk"))
    result = import_file(fresh_db, str(gbk))
    assert (result["added"], result["bad"]) == (1, 1)
    assert result["errors"] == [{"sheet": "建管委.csv", "row": 3, "reason": "关键词为空"}]
    utf = tmp_path / "市场监管局.csv"
    utf.write_text("Term,Kind\n=HYPERLINK(1),intent\n免考拿证,intent\n", encoding="utf-8-sig")
    result = import_file(fresh_db, str(utf), defaults={"department": "区市场监管局"})
    assert result["added"] == 2
    assert store.query_keywords(fresh_db, search="免考")[0]["department"] == "区市场监管局"


def test_txt_needs_kind_and_industry(tmp_path, fresh_db):
    txt = tmp_path / "词表.txt"
    txt.write_text("# 应急局补充\n电工操作证\n\n登高作业证\n" + "长" * 50 + "\n", encoding="utf-8")
    with pytest.raises(KeywordFileError):
        parse_file(str(txt))
    result = import_file(fresh_db, str(txt), defaults={"kind": "证书名称", "industry": "特种作业",
                                                      "department": "区应急局"})
    assert (result["added"], result["bad"], result["errors"][0]["row"]) == (2, 1, 5)


def test_unreadable_files_write_nothing(tmp_path, fresh_db):
    bad = tmp_path / "坏文件.xlsx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(KeywordFileError, match="Excel"):
        import_file(fresh_db, str(bad))
    nohead = _xlsx(tmp_path / "无表头.xlsx", {"S": [["甲", "乙"], ["电工证", "特种作业"]]})
    result = import_file(fresh_db, nohead)
    assert result["added"] == 0 and "表头" in result["errors"][0]["reason"]
    with pytest.raises(KeywordFileError, match="不支持"):
        import_file(fresh_db, str(tmp_path / "x.doc"))
    assert store.query_keywords(fresh_db) == []
    assert len(store.list_keyword_imports(fresh_db)) == 1     # only the readable one is recorded


def test_template_export_reimport_roundtrip(tmp_path, fresh_db):
    template = str(tmp_path / "模板.xlsx")
    write_template(template)
    assert openpyxl.load_workbook(template).sheetnames == ["关键词", "说明"]
    first = import_file(fresh_db, template)
    assert first["bad"] == 0 and first["added"] == 6
    store.set_keyword_active(fresh_db, False, term="招聘")
    for ext in ("xlsx", "csv"):
        out = tmp_path / f"导出.{ext}"
        from pipelines.store import export_file
        assert export_file(fresh_db, str(out)) == 6
        again = import_file(fresh_db, str(out))
        assert (again["added"], again["existing"], again["bad"]) == (0, 6, 0)
    with open(tmp_path / "导出.csv", encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["关键词", "行业", "类别", "提供单位", "状态"]
    assert ["招聘", "通用", "排除词", "区市场监管局", "停用"] in rows


def test_cli_import_list_disable_export(tmp_path, db_path, capsys):
    path = _xlsx(tmp_path / "k.xlsx", {"S": [["关键词", "行业", "类别", "提供单位"],
                                           ["低压电工证", "特种作业", "证书名称", "区应急局"],
                                           ["塔吊证", "建筑施工特种作业", "证书名称", "区建管委"],
                                           ["坏行", "不知道", "证书名称", "区建管委"]]})
    code, out, _ = cli(capsys, "keywords", "import", path, "--db", db_path, "--user", "李四")
    assert code == 1                                 # bad rows → non-zero, good rows kept
    assert "工作表 S 第 4 行：未知行业" in out and "新增 2" in out
    assert "已同时装入默认关键词库：新增" in out
    code, out, _ = cli(capsys, "keywords", "list", "--db", db_path, "--department", "区建管委")
    assert code == 0 and "塔吊证" in out and "低压电工证" not in out
    assert cli(capsys, "keywords", "disable", "塔吊证", "--db", db_path)[0] == 0
    assert "塔吊证" not in cli(capsys, "keywords", "list", "--db", db_path)[1]
    out = cli(capsys, "keywords", "list", "--db", db_path, "--all")[1]
    assert "塔吊证" in out and "停用" in out
    code, _, err = cli(capsys, "keywords", "disable", "没有这个词", "--db", db_path)
    assert code == 2 and "关键词库中没有" in err
    assert cli(capsys, "keywords", "enable", "塔吊证", "--db", db_path)[0] == 0
    code, _, err = cli(capsys, "keywords", "add", "电工操作证", "--kind", "证书名称", "--db", db_path)
    assert code == 2 and "行业" in err
    assert cli(capsys, "keywords", "add", "电工操作证", "--kind", "cert", "--industry", "特种作业",
               "--db", db_path)[0] == 0
    assert cli(capsys, "keywords", "export", tmp_path / "e.csv", "--industry", "特种作业", "--db", db_path)[0] == 0
    text = (tmp_path / "e.csv").read_text(encoding="utf-8-sig")
    assert "电工操作证" in text and "塔吊证" not in text
    code, out, _ = cli(capsys, "keywords", "imports", "--db", db_path)
    assert code == 0 and "李四" in out and "k.xlsx" in out
    code, out, _ = cli(capsys, "keywords", "userdict", "--db", db_path, "--out", tmp_path / "u.txt")
    assert code == 0 and "电工操作证 " in (tmp_path / "u.txt").read_text(encoding="utf-8")
    code, _, err = cli(capsys, "keywords", "import", tmp_path / "missing.xlsx", "--db", db_path)
    assert code == 2 and "文件不存在" in err
    db = store.connect(db_path)
    defaults = {(k["term"], k["kind"]) for k in default_keywords()}
    assert db["keywords"].count == len(defaults | {("低压电工证", "cert"), ("塔吊证", "cert"), ("电工操作证", "cert")})
    db.close()


def test_expansion_default_is_stable_and_filtered():
    lib = [dict(k, active=1) for k in default_keywords()]
    default = expand_queries(lib)
    assert default == expand_queries(list(lib))      # deterministic
    assert default[0] == "特种作业操作证 代办" and all(" " in q for q in default)
    certs = {k["term"] for k in lib if k["kind"] == "cert"}
    intents = [k["term"] for k in lib if k["kind"] == "intent"]
    assert len(default) == len(certs) * len(intents)
    special = expand_queries(lib, industry="特种作业")
    assert special and all(q.split()[0] in {k["term"] for k in lib if k.get("industry") == "特种作业"}
                           for q in special)
    assert expand_queries(lib, department="区建管委")[0] == "建筑电工证 代办"
    # Variants: 电工证 brings 电工操作证 and friends, right after it.
    widened = expand_queries(lib, industry="特种作业", variants=True)
    assert "电工操作证 包过" in widened and "电工操作证 包过" not in special
    assert widened.index("电工证 代办") < widened.index("低压电工证 代办") < widened.index("电工操作证 代办")
    assert set(special) <= set(widened)
    assert "低压电工证" in variants_of("电工证")
    # Exclusion terms drop queries that contain them.
    lib2 = lib + [{"term": "电工证", "kind": "exclude", "industry": "通用", "department": ""}]
    assert not any("电工证" in q for q in expand_queries(lib2))
    # Per-platform length limit.
    kept, skipped = platform_queries(["短 词", "很长很长很长的证书名称 先拿证后付款"], 12)
    assert kept == ["短 词"] and skipped == 1


def test_cli_queries_matches_library(db_path, capsys):
    code, out, _ = cli(capsys, "keywords", "queries", "--industry", "特种作业", "--db", db_path)
    lines = out.split("\n")[:-1]
    lib = [dict(k, active=1) for k in default_keywords()]          # seeded on first use
    assert lines == expand_queries(lib, industry="特种作业")
    code, out, err = cli(capsys, "keywords", "queries", "--platform", "xinxigang", "--db", db_path)
    assert code == 0 and all(len(q) <= 10 for q in out.split("\n")[:-1]) and "超出平台查询长度上限" in err


def _queries_after(capsys, db_path) -> int:
    code, out, err = cli(capsys, "keywords", "queries", "--db", db_path)
    assert code == 0, err
    return len(out.splitlines())


def test_defaults_load_whatever_comes_first(tmp_path, capsys):
    """Rule: the default library loads once into a library that never held
    it (first import, sweep or query preview), then only by `keywords
    defaults`; disabling its keywords removes them for good."""
    dept = tmp_path / "建管委.txt"
    dept.write_text("塔吊司机操作证\n", encoding="utf-8")
    department = ("--kind", "cert", "--industry", "建筑施工特种作业", "--department", "区建管委")
    lib = [dict(k, active=1) for k in default_keywords()]
    with_dept = len(expand_queries(lib + [{"term": "塔吊司机操作证", "kind": "cert", "industry": "建筑施工特种作业",
                                           "department": "区建管委", "active": 1}]))
    # A department's file first: the defaults load with it, the report counts the queries.
    first = str(tmp_path / "a.db")
    code, out, err = cli(capsys, "keywords", "import", dept, "--db", first, *department)
    assert code == 0, err
    assert "已同时装入默认关键词库" in out and f"关键词库现可扩展为 {with_dept} 个搜索查询" in out
    assert _queries_after(capsys, first) == with_dept
    # The defaults first (a query preview on an empty library), the file after: the same library.
    second = str(tmp_path / "b.db")
    assert _queries_after(capsys, second) == len(expand_queries(lib))
    code, out, _ = cli(capsys, "keywords", "import", dept, "--db", second, *department)
    assert "默认关键词库" not in out and f"关键词库现可扩展为 {with_dept} 个搜索查询" in out
    # Removed by the user: disabled, and they never come back by themselves.
    code, out, _ = cli(capsys, "keywords", "defaults", "--disable", "--db", first)
    assert code == 0 and f"已停用默认关键词库中的 {len(lib)} 个关键词" in out
    assert _queries_after(capsys, first) == 1                # the department's term alone
    code, out, _ = cli(capsys, "keywords", "defaults", "--db", first, "--user", "张三")
    assert code == 0 and f"新增 0，已在库中 {len(lib)}" in out and "现可扩展为 1 个" in out
    code, out, _ = cli(capsys, "keywords", "defaults", "--enable", "--db", first)
    assert code == 0 and f"关键词库现可扩展为 {with_dept} 个搜索查询" in out
    # "No defaults" as the very first command: they load disabled, and stay so.
    none = str(tmp_path / "none.db")
    code, out, _ = cli(capsys, "keywords", "defaults", "--disable", "--db", none)
    assert code == 0 and f"已停用默认关键词库中的 {len(lib)} 个关键词" in out and "现可扩展为 0 个" in out
    assert _queries_after(capsys, none) == 0
    code, out, err = cli(capsys, "keywords", "import", dept, "--db", none, *department)
    assert code == 0 and "默认关键词库" not in out and "现可扩展为 1 个" in out, err
    # Each loading is in the import records, in Beijing time, labelled once.
    code, out, _ = cli(capsys, "keywords", "imports", "--db", first)
    assert out.count("默认关键词库") == 2 and "张三" in out and "时间（北京时间）" in out and "UTC" not in out
    # An old library that only ever had a department's words gets the defaults at its next use.
    third = str(tmp_path / "c.db")
    db = store.connect(third)
    import_file(db, str(dept), defaults={"kind": "cert", "industry": "建筑施工特种作业"})
    db.close()
    assert _queries_after(capsys, third) == with_dept


def test_jieba_userdict_from_library(tmp_path, fresh_db):
    import jieba
    jieba.setLogLevel(logging.WARNING)
    store.add_keywords(fresh_db, [{"term": "电工证", "kind": "cert", "industry": "特种作业"},
                                  {"term": "先拿证后付款", "kind": "intent", "industry": "通用"},
                                  {"term": "招聘", "kind": "exclude", "industry": "通用"}])
    path = jieba_userdict(fresh_db)
    assert path.startswith(str(tmp_path))
    words = [line.split()[0] for line in open(path, encoding="utf-8")]
    assert {"电工证", "电工操作证", "先拿证后付款"} <= set(words) and "招聘" not in words
    tok = jieba.Tokenizer()
    tok.tmp_dir = str(tmp_path)
    tok.load_userdict(path)
    assert "电工操作证" in tok.lcut("代办电工操作证先拿证后付款")


def test_keyword_commands_have_examples(capsys):
    from crawler.cli import main
    for args in (["keywords", "import"], ["keywords", "template"], ["keywords", "list"], ["keywords", "add"],
                 ["keywords", "disable"], ["keywords", "enable"], ["keywords", "export"], ["keywords", "defaults"],
                 ["keywords", "queries"], ["keywords", "userdict"], ["keywords", "imports"]):
        with pytest.raises(SystemExit):
            main([*args, "--help"])
        assert "示例：certwatch " + " ".join(args) in capsys.readouterr().out, args


def test_spreadsheet_written_without_numpy_and_defused(tmp_path):
    """openpyxl is imported without numpy and Pillow (lightimport); the cells stay defused
    (a formula gets its apostrophe, control characters go, long text is cut)."""
    import subprocess
    import sys
    from pathlib import Path
    path = tmp_path / "k.xlsx"
    code = ("import sys\n"
            "from keywords.library import write_table\n"
            f"write_table({str(path)!r}, ['词'], [['=HYPERLINK(\"x\")'], ['a\\x01b'], ['长' * 40000], ['普通']])\n"
            "print('numpy' in sys.modules, 'PIL' in sys.modules)\n")
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "False False", out.stderr
    ws = openpyxl.load_workbook(path).active
    values = [c.value for c in ws["A"]]
    assert values[:3] == ["词", "'=HYPERLINK(\"x\")", "ab"]
    assert len(values[3]) == 32_000 and values[4] == "普通"
    assert all(c.data_type == "s" for c in ws["A"])
