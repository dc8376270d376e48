"""The demo's last step: a demo reviewer confirms what the sandbox world
says is illicit, then a takedown list per platform and the statistics
table for the current period are written.

The confirmations are recorded under DEMO_REVIEWER so nobody mistakes them
for a person's decisions.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

from pipelines import store
from reports import labels, stats, takedown
from reports.periods import bimonthly

DEMO_REVIEWER = "演示审核员"
# The demo reviewer confirms only this platform's findings: the others stay
# in the review queue for a person to work through in the console.
DEMO_PLATFORMS = ("taohuo",)
DEMO_NOTE = "演示：按沙箱世界的真值标签确认（非人工审核）"


def confirm_demo_findings(db, world, platforms=DEMO_PLATFORMS) -> dict:
    """Confirm flagged findings on ``platforms`` that are true sales per the
    world's labels, and unreviewed sites the world marks as fakes. Returns
    counts."""
    labels = {l.url: l.label for l in world.listings}
    findings = sites = 0
    for f in list(store.iter_findings(db, status="flagged")):
        if labels.get(f["url"]) == 1 and (platforms is None or f["platform"] in platforms):
            store.add_decision(db, DEMO_REVIEWER, "confirm", note=DEMO_NOTE, finding_id=f["id"])
            findings += 1
    fakes = {s.host for s in world.sites if s.kind == "fake"}
    for s in store.sites_with_status(db):
        host = (s.get("host") or urlsplit(s.get("url") or "").hostname or s["domain"] or "").lower()
        if host in fakes or s["domain"] in fakes:
            store.add_decision(db, DEMO_REVIEWER, "confirm", note=DEMO_NOTE, site_id=s["id"],
                               category="fake_gov_site")
            sites += 1
    return {"findings": findings, "sites": sites}


def demo_outputs(db_path: str, workdir: str, unit: str = "长宁区市场监管局",
                 platforms=DEMO_PLATFORMS) -> list[tuple[str, str]]:
    """Confirm (as the demo reviewer), write takedown lists and the table;
    returns (what, path) pairs."""
    from crawler.sandbox.world import world
    out_dir = os.path.join(workdir, "reports")
    os.makedirs(out_dir, exist_ok=True)
    db = store.connect(db_path)
    written = []
    try:
        counts = confirm_demo_findings(db, world(), platforms)
        written.append(("演示确认", f"{DEMO_REVIEWER} 确认违规信息 {counts['findings']} 条、假冒网站 {counts['sites']} 个"))
        platforms = sorted({f["platform"] for status in store.REQUESTABLE_STATUSES
                            for f in store.iter_findings(db, status=status)})
        for platform in platforms:
            if store.takedown_candidates(db, platform):
                batch = takedown.create(db, platform, DEMO_REVIEWER, unit)
            elif store.list_takedowns(db, platform):      # a repeated demo: the latest batch again
                batch = store.list_takedowns(db, platform)[0]
            else:
                continue
            listing, letter = takedown.export(db, batch["id"], "xlsx", out_dir)
            title = f"{labels.platform_title(platform)}，{len(batch['items'])} 条"
            written.append((f"下架清单 {takedown.batch_no(batch)}（{title}）", listing))
            written.append((f"下架函 {takedown.batch_no(batch)}", letter))
        period = bimonthly()
        table = stats.compute(db, period, stats.Filler(unit, DEMO_REVIEWER, "", ""))
        path = os.path.join(out_dir, f"统计表-{period.start.isoformat()}-{period.end.isoformat()}.xlsx")
        stats.write_xlsx(table, path)
        written.append((f"统计表（{period.label}）", path))
    finally:
        db.close()
    return written
