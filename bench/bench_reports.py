"""Reports on a large store: bulk confirm, takedown batch + export, checks,
statistics table, compliance, a referral package. Run by hand; prints
figures. Target (issue #17): confirm, batch and xlsx export of 5,000 items
≤ 1 s each.

    .venv/bin/python bench/bench_reports.py [N_FINDINGS]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines import store  # noqa: E402
from reports import compliance, referral, stats, takedown  # noqa: E402
from reports.periods import bimonthly  # noqa: E402


def timed(label, fn):
    """Wall and CPU seconds (on a shared machine CPU time is the steadier figure)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    print(f"{label:<46} {time.perf_counter() - t:7.2f} s wall {time.process_time() - c:7.2f} s CPU")
    return out


def main(n: int = 5000) -> None:
    tmp = tempfile.mkdtemp()
    db = store.connect(os.path.join(tmp, "bench.db"))
    items = [{"url": f"http://mall.taohuo.cn/item/{i}.html", "platform": "taohuo", "title": f"=代办电工证 {i}",
              "text": "不用考试 包过 " * 20, "seller": f"店{i % 97}", "flagged": True, "score": 80,
              "contacts": {"wechat": [f"wx{i:06d}"]}} for i in range(n)]
    ids = [r.id for r in timed(f"record {n} findings", lambda: store.record_findings(db, items, None))]
    timed(f"confirm {n} (one transaction)", lambda: store.add_decisions(db, "审核员", "confirm", ids))
    batch = timed(f"takedown create ({n} items)", lambda: takedown.create(db, "taohuo", "监测员"))
    store.mark_takedown_sent(db, batch["id"], "监测员")
    out = os.path.join(tmp, "out")
    timed("takedown export xlsx", lambda: takedown.export(db, batch["id"], "xlsx", out))
    timed("takedown export csv", lambda: takedown.export(db, batch["id"], "csv", out))
    item_ids = [i["id"] for i in store.takedown_items(db, batch["id"])]
    timed(f"confirm {n}, one add_decision each (before)", lambda: [
        store.add_decision(db, "审核员", "confirm", finding_id=i) for i in ids])
    timed(f"record {n} checks", lambda: [store.add_takedown_check(db, i, "removed" if k % 3 else "still_present",
                                                                   "HTTP 404") for k, i in enumerate(item_ids)])
    timed("referral 200 items (no evidence)", lambda: referral.create(
        db, ",".join(map(str, ids[:200])), "区公安分局", "审核员", os.path.join(tmp, "ref")))
    period = bimonthly()
    table = timed("stats compute", lambda: stats.compute(db, period))
    timed("stats xlsx (table + detail)", lambda: stats.write_xlsx(table, os.path.join(tmp, "t.xlsx")))
    timed("compliance", lambda: compliance.compliance(db, period, 7))
    print("counts:", table.counts())


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
