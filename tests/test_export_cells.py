"""The takedown request list's workbook, cell by cell, against a snapshot
taken before the export was made faster (tests/data/takedown_cells.json):
values, cell types, fonts, alignment, borders, merged range, frozen panes,
row heights, column widths, print setup and sheet names, of a small batch
full of hostile values.

After a deliberate change to a workbook, rewrite the snapshot with the code
of the current directory's checkout:
    .venv/bin/python tests/test_export_cells.py write
"""
from __future__ import annotations

import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "data", "takedown_cells.json")
LONG = "长" * 100 + "x" * 40_000                    # longer than a cell may hold

TITLES = ['=HYPERLINK("http://evil.example/","点我")', "+86-138", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1",
          "\u3000=1+1", " \n@x", "\ufeff-1", "\u200b+1", "a\x00b\x07c\x1fd", "#N/A", "12345", "正常标题",
          LONG, "'=已有引号", "  前后空格  "]


def _seed(db) -> list[int]:
    """A batch on taohuo of every kind of item, and its evidence."""
    from pipelines import store
    from seeds import add_all_files, add_screenshot
    items = []
    for n, title in enumerate(TITLES, 1):
        items.append({"url": f"http://mall.taohuo.cn/item/{n}.html?utm_source=x" if n % 4 == 0
                      else f"http://mall.taohuo.cn/item/{n}.html",
                      "platform": "taohuo", "title": title, "text": "代办电工证 不用考试 包过",
                      "seller": ["=店铺", "", "-卖家", "店\x01铺", "正常店"][n % 5], "flagged": True, "score": 90,
                      "family": ["tezhong", "special_operation", "special_equipment", "", "nosuch"][n % 5],
                      "contacts": [{"wechat": ["abc123", "=wx"], "phone": ["13800001111"]},
                                   {}, {"qq": [str(q) for q in range(15)]},
                                   {"nosuch": ["@x"], "wechat": ["w1", "w1", "w2"]}][n % 4]})
    ids = [r.id for r in store.record_findings(db, items, None)]
    store.add_decisions(db, "审核员甲", "confirm", ids)
    # Stored values the recorder would not write today (older rows, imports).
    db["findings"].update(ids[0], {"title": None, "seller": None, "contacts": "{not json"})
    db["findings"].update(ids[1], {"raw_url": "", "contacts": '["a list"]'})
    db["findings"].update(ids[2], {"raw_url": None, "contacts": '{"wechat": "not a list", "qq": [null, 5]}'})
    for n, fid in enumerate(ids):
        at = f"2024-0{1 + n % 9}-1{n % 10}T0{n % 10}:3{n % 6}:00.000000Z" if n != 5 else "not a time"
        store.restamp(db, "findings", fid, "first_seen", at)
    add_screenshot(db, ids[0])
    add_all_files(db, ids[1])                                   # a screenshot among other files
    store.add_evidence(db, {"finding_id": ids[2], "url": "http://x/", "tool": "test",
                            "files": [{"kind": "html", "path": "ef/01/page.html", "sha256": "e" * 64}]})
    add_screenshot(db, ids[3])
    store.add_evidence(db, {"finding_id": ids[3], "url": "http://x/", "tool": "test", "status": "failed",
                            "files": [{"kind": "screenshot", "path": "ff/00/bad.png", "sha256": "f" * 64}]})
    store.add_evidence(db, {"finding_id": ids[4], "url": "http://x/", "tool": "test",
                            "files": [{"kind": "screenshot", "path": "aa/00/nohash.png"}]})
    store.add_evidence(db, {"finding_id": ids[5], "url": "http://x/", "tool": "test", "files": []})
    batch = store.create_takedown(db, "taohuo", "监测员", "长宁区市场监管局")
    store.restamp(db, "takedowns", batch, "created_at", "2025-03-01T02:00:00.000000Z")
    return [batch]


def _shown(value):
    if isinstance(value, str) and len(value) > 300:
        return {"len": len(value), "sha256": hashlib.sha256(value.encode("utf-8")).hexdigest()}
    return value


def cells_of(path: str) -> list[dict]:
    """Everything a reader of the workbook sees, as JSON-ready values."""
    import openpyxl
    wb = openpyxl.load_workbook(path)
    sheets = []
    for ws in wb.worksheets:
        cells = []
        for row in ws.iter_rows():
            for c in row:
                if c.value is None and not c.has_style:
                    continue
                a, b = c.alignment, c.border
                cells.append([c.coordinate, _shown(c.value), c.data_type, bool(c.font.b), c.font.sz,
                              a.horizontal, a.vertical, bool(a.wrap_text), c.number_format,
                              [b.left.style, b.right.style, b.top.style, b.bottom.style]])
        setup = ws.page_setup
        sheets.append({"name": ws.title, "merged": sorted(str(r) for r in ws.merged_cells.ranges),
                       "freeze": ws.freeze_panes,
                       "widths": {k: d.width for k, d in sorted(ws.column_dimensions.items()) if d.width},
                       "heights": {k: d.height for k, d in sorted(ws.row_dimensions.items()) if d.height},
                       "print": [setup.paperSize, setup.orientation, setup.fitToWidth, setup.fitToHeight,
                                 ws.sheet_properties.pageSetUpPr.fitToPage if ws.sheet_properties.pageSetUpPr
                                 else None, ws.print_title_rows, ws.print_options.horizontalCentered],
                       "cells": cells})
    return sheets


def exported(db, out_dir: str) -> dict:
    from reports import takedown
    batches = _seed(db)
    got = {}
    for batch in batches:
        path = takedown.export(db, batch, "xlsx", out_dir)[0]
        got[os.path.basename(path)] = cells_of(path)
    return got


def test_workbook_cells_unchanged(fresh_db, tmp_path):
    with open(GOLDEN, encoding="utf-8") as fh:
        golden = json.load(fh)
    got = json.loads(json.dumps(exported(fresh_db, str(tmp_path)), ensure_ascii=False))
    assert list(got) == list(golden)
    for name in golden:
        for sheet, want in zip(got[name], golden[name]):
            assert {k: v for k, v in sheet.items() if k != "cells"} == \
                {k: v for k, v in want.items() if k != "cells"}
            for cell, expected in zip(sheet["cells"], want["cells"]):
                assert cell == expected
            assert len(sheet["cells"]) == len(want["cells"])
        assert len(got[name]) == len(golden[name])


if __name__ == "__main__" and sys.argv[1:] == ["write"]:
    import tempfile
    sys.path[:0] = [os.getcwd(), HERE]
    from pipelines import store as _store
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "out"))
        snapshot = exported(_store.connect(os.path.join(tmp, "certwatch.db")), os.path.join(tmp, "out"))
    print("code of", os.path.dirname(os.path.dirname(_store.__file__)))
    from keywords.atomic import atomic_write
    lines = ["{"]
    for k, (name, sheets) in enumerate(snapshot.items()):
        lines.append(f" {json.dumps(name, ensure_ascii=False)}: [")
        for s, sheet in enumerate(sheets):
            head = json.dumps({k: v for k, v in sheet.items() if k != "cells"}, ensure_ascii=False)
            lines.append("  " + head[:-1] + ', "cells": [')
            lines += ["   " + json.dumps(c, ensure_ascii=False) + ("," if c is not sheet["cells"][-1] else "")
                      for c in sheet["cells"]]
            lines.append("  ]}" + ("," if s < len(sheets) - 1 else ""))
        lines.append(" ]" + ("," if k < len(snapshot) - 1 else ""))
    atomic_write(GOLDEN, "\n".join(lines + ["}", ""]))     # one cell a line: a change reads as a diff
    print("written", GOLDEN)
