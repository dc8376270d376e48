"""Keyword library figures: import of a large .xlsx / .csv, re-import,
query expansion, jieba user dictionary. Run by hand:

    .venv/bin/python bench/bench_keywords.py [ROWS]
"""
from __future__ import annotations

import csv
import os
import sys
import tempfile
import time

import openpyxl

from keywords import expand_queries
from pipelines.store import import_file, jieba_userdict
from pipelines import store

INDUSTRIES = ("特种作业", "建筑施工特种作业", "特种设备", "安全生产知识和管理能力")


def rows(n: int):
    yield ["关键词", "行业", "类别", "提供单位"]
    for i in range(n):
        kind = "证书名称" if i % 10 else "售假意图词"
        yield [f"证书{i}号", INDUSTRIES[i % 4], kind, f"部门{i % 7}"]


def timed(label, func):
    t0 = time.perf_counter()
    out = func()
    print(f"{label}: {time.perf_counter() - t0:.2f} s")
    return out


def main(n: int = 20000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        xlsx, csv_path = os.path.join(tmp, "k.xlsx"), os.path.join(tmp, "k.csv")
        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("关键词")
        for r in rows(n):
            ws.append(r)
        wb.save(xlsx)
        with open(csv_path, "w", encoding="utf-8-sig", newline="") as fh:
            csv.writer(fh).writerows(rows(n))
        db = store.connect(os.path.join(tmp, "b.db"))
        r = timed(f"import {n} rows .xlsx", lambda: import_file(db, xlsx))
        assert r["added"] == n
        timed(f"re-import {n} rows .xlsx (all existing)", lambda: import_file(db, xlsx))
        timed(f"re-import {n} rows .csv (all existing)", lambda: import_file(db, csv_path))
        lib = store.list_keywords(db)
        certs = [k for k in lib if k["kind"] == "cert"][:2000]
        intents = [k for k in lib if k["kind"] == "intent"][:50]
        q = timed(f"expand {len(certs)} certs x {len(intents)} intents", lambda: expand_queries(certs + intents))
        print(f"  {len(q)} queries")
        timed("jieba user dictionary", lambda: jieba_userdict(db))
        db.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
