"""Console pages for reports: 统计报表, 下架清单, 线索移交, 平台整改情况.

Each page calls the same library functions as the CLI (reports/stats.py,
takedown.py, referral.py, compliance.py, charts.py); downloads are written to
a temporary folder and streamed back.
"""
from __future__ import annotations

import os
import tempfile
import urllib.parse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from pipelines import store
from reports import charts, compliance, labels, referral, stats, takedown
from reports.console import web
from reports.periods import PeriodError, make_period

NAV = [("统计报表", "/reports/stats", ("monitor", "reviewer", "readonly")),
       ("下架清单", "/reports/takedowns", ("monitor", "reviewer", "readonly")),
       ("线索移交", "/reports/referrals", ("reviewer", "monitor")),
       ("平台整改情况", "/reports/compliance", ("monitor", "reviewer", "readonly"))]
router = APIRouter()
VIEW = ("monitor", "reviewer", "readonly")
MIME = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "csv": "text/csv; charset=utf-8", "html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
        "zip": "application/zip", "png": "image/png"}


def _period(request: Request):
    q = request.query_params
    try:
        return make_period(q.get("from") or None, q.get("to") or None), ""
    except PeriodError as exc:
        return make_period(), str(exc)


def _download(data: bytes, filename: str, kind: str) -> Response:
    quoted = urllib.parse.quote(filename)
    return Response(data, media_type=MIME[kind], headers={
        "Content-Disposition": f"attachment; filename=\"download.{kind}\"; filename*=UTF-8''{quoted}",
        "X-Content-Type-Options": "nosniff"})


def _q(period) -> str:
    return urllib.parse.urlencode({"from": period.start.isoformat(), "to": period.end.isoformat()})


# ---------------------------------------------------------------- 统计报表

STATS_PAGE_ITEMS = 200

def _stats_page(request, db, period, error="", done="", status=200):
    q = request.query_params
    # Each number is counted in full; the page lists its first STATS_PAGE_ITEMS
    # items (the downloaded workbook's 明细 sheet lists them all).
    table = stats.compute(db, period, stats.Filler(*(str(q.get(k) or "")[:200] for k in ("unit", "person", "phone",
                                                                                          "date"))),
                          limit=STATS_PAGE_ITEMS)
    totals = table.counts()
    groups = [(column, totals[key], [stats.item_detail(key, item) for item in table.computed[key]])
              for key, column in zip(stats.COMPUTED_KEYS, stats.CYBERSPACE)]
    return web.render(request, "reports_stats.html", {
        "period": period, "title": period.title(), "groups": groups, "manual": table.manual,
        "manual_groups": [(g, names) for g, names in stats.GROUPS if names is not stats.CYBERSPACE],
        "filler": table.filler, "error": error, "done": done, "page_items": STATS_PAGE_ITEMS}, status_code=status)


@router.get("/reports/stats")
def stats_page(request: Request, user: web.User = web.require_roles(*VIEW), db=Depends(web.get_db)):
    period, error = _period(request)
    return _stats_page(request, db, period, error, status=400 if error else 200)


@router.get("/reports/stats/download")
def stats_download(request: Request, user: web.User = web.require_roles(*VIEW), db=Depends(web.get_db)):
    period, error = _period(request)
    fmt = request.query_params.get("format", "xlsx")
    if error or fmt not in ("xlsx", "csv", "md"):
        return _stats_page(request, db, period, error or "格式应为 xlsx/csv/md", status=400)
    q = request.query_params
    table = stats.compute(db, period, stats.Filler(*(str(q.get(k) or "")[:200] for k in ("unit", "person", "phone",
                                                                                          "date"))))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"t.{fmt}")
        stats.write(table, path, fmt)
        with open(path, "rb") as fh:
            data = fh.read()
    return _download(data, f"统计表-{period.start}-{period.end}.{fmt}", fmt)


@router.post("/reports/stats/manual")
async def stats_manual(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    form = await request.form()
    try:
        period = make_period(str(form.get("from") or ""), str(form.get("to") or ""))
    except PeriodError as exc:
        return _stats_page(request, db, make_period(), str(exc), status=400)
    done = []
    try:
        for name in stats.MANUAL:
            value = str(form.get(name) or "").strip()
            if value:
                column, text = stats.set_manual(db, period, name, value, user.name)
                done.append(f"{column}={text}")
    except stats.StatsError as exc:
        return _stats_page(request, db, period, str(exc), status=400)
    return _stats_page(request, db, period, done="已保存：" + "，".join(done) if done else "没有填写任何数值")


@router.get("/reports/charts/{key}.png")
def chart_png(request: Request, key: str, user: web.User = web.require_roles(*VIEW), db=Depends(web.get_db)):
    period, error = _period(request)
    if error or key not in charts.CHARTS:
        return Response(status_code=404)
    return Response(charts.render_one(db, period, key), media_type="image/png")


# ---------------------------------------------------------------- 下架清单

def _takedowns_page(request, db, error="", done="", status=200):
    batches = []
    for b in store.takedown_summaries(db):          # grouped: no query per batch or item
        counts = {r: b["result_counts"].get(r, 0) for r in ("removed", "still_present", "requested")}
        batches.append({**b, "no": takedown.batch_no(b), "title": labels.platform_title(b["platform"]),
                        "n": b["item_count"], **counts})
    candidates = [(p, labels.platform_title(p), n) for p, n in sorted(store.takedown_candidate_counts(db).items())]
    return web.render(request, "reports_takedowns.html", {"batches": batches, "candidates": candidates,
                                                           "error": error, "done": done}, status_code=status)


@router.get("/reports/takedowns")
def takedowns_page(request: Request, user: web.User = web.require_roles(*VIEW), db=Depends(web.get_db)):
    return _takedowns_page(request, db)


@router.post("/reports/takedowns/create")
async def takedowns_create(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    form = await request.form()
    try:
        batch = takedown.create(db, str(form.get("platform") or ""), user.name, str(form.get("unit") or ""))
    except takedown.TakedownError as exc:
        return _takedowns_page(request, db, error=str(exc), status=400)
    return _takedowns_page(request, db, done=f"已生成下架清单 {takedown.batch_no(batch)}，共 {len(batch['items'])} 条")


@router.post("/reports/takedowns/{batch_id}/sent")
async def takedowns_sent(request: Request, batch_id: int, user: web.User = web.require_roles("monitor"),
                         db=Depends(web.get_db)):
    try:
        batch = takedown.mark_sent(db, batch_id, user.name)
    except (takedown.TakedownError, store.StoreError) as exc:
        return _takedowns_page(request, db, error=str(exc), status=400)
    return _takedowns_page(request, db, done=f"下架清单 {takedown.batch_no(batch)} 已记为发出")


@router.get("/reports/takedowns/{batch_id}")
def takedown_detail(request: Request, batch_id: int, user: web.User = web.require_roles(*VIEW),
                    db=Depends(web.get_db)):
    try:
        batch = store.get_takedown(db, batch_id)
    except store.StoreError as exc:
        return _takedowns_page(request, db, error=str(exc), status=404)
    items = store.takedown_items(db, batch_id)
    checks: dict[int, list] = {}
    for c in store.takedown_checks(db, takedown_id=batch_id):
        checks.setdefault(c["item_id"], []).append(c)
    return web.render(request, "reports_takedown.html", {
        "batch": batch, "no": takedown.batch_no(batch), "title": labels.platform_title(batch["platform"]),
        "items": items, "checks": checks, "RESULT_CN": labels.RESULT_CN})


@router.get("/reports/takedowns/{batch_id}/export")
def takedown_export(request: Request, batch_id: int, user: web.User = web.require_roles(*VIEW),
                    db=Depends(web.get_db)):
    fmt = request.query_params.get("format", "xlsx")
    part = request.query_params.get("part", "list")
    try:
        batch = store.get_takedown(db, batch_id)
        with tempfile.TemporaryDirectory() as tmp:
            paths = takedown.export(db, batch_id, fmt, tmp)
            path = paths[1] if part == "letter" and len(paths) > 1 else paths[0]
            with open(path, "rb") as fh:
                data = fh.read()
    except (takedown.TakedownError, store.StoreError) as exc:
        return _takedowns_page(request, db, error=str(exc), status=400)
    kind = "html" if path.endswith(".html") else fmt
    name = f"下架{'函' if part == 'letter' else '清单'}-{takedown.batch_no(batch)}-{batch['platform']}.{kind}"
    return _download(data, name, kind)


# ---------------------------------------------------------------- 线索移交

def _referral_dir(request: Request) -> str:
    return os.path.join(os.path.dirname(request.app.state.db_path), "referrals")


def _referrals_page(request, db, error="", done="", status=200, form=None):
    rows = [{**r, "n_findings": len(r["items"].get("findings", [])), "n_sites": len(r["items"].get("sites", []))}
            for r in store.list_referrals(db)]
    pending = [{**p, "ref": referral.ref_text(referral.ItemRef(p["kind"], p["id"]))} for p in referral.pending(db)]
    form = form or {}
    chosen = set(form.get("items") or [p["ref"] for p in pending])     # all pending, unless the form said
    return web.render(request, "reports_referrals.html", {"referrals": rows, "pending": pending, "chosen": chosen,
                                                           "error": error, "done": done, "form": form},
                      status_code=status)


@router.get("/reports/referrals")
def referrals_page(request: Request, user: web.User = web.require_roles("reviewer", "monitor"),
                   db=Depends(web.get_db)):
    return _referrals_page(request, db)


@router.post("/reports/referrals/create")
async def referrals_create(request: Request, user: web.User = web.require_roles("reviewer"), db=Depends(web.get_db)):
    """A package of the items the reviewer ticked (the pending referral, all ticked at first)."""
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in ("unit", "note")}
    values["items"] = [str(v) for v in form.getlist("items")][:1000]
    if not values["items"]:
        return _referrals_page(request, db, error="请勾选要移交的条目（先在审核台对条目点“移交公安”）", status=400,
                               form=values)
    try:                # as `referral create --items`: every item confirmed or marked 移交公安
        ref = referral.create(db, ",".join(values["items"]), values["unit"], user.name, _referral_dir(request),
                              values["note"])
    except referral.ReferralError as exc:
        return _referrals_page(request, db, error=str(exc), status=400, form=values)
    extra = "；" + "；".join(ref["missing_evidence"]) if ref["missing_evidence"] else ""
    return _referrals_page(request, db, done=f"已生成线索移交单 #{ref['id']}（{ref['unit']}）{extra}")


@router.get("/reports/referrals/{referral_id}/package")
def referral_package(request: Request, referral_id: int, user: web.User = web.require_roles("reviewer", "monitor"),
                     db=Depends(web.get_db)):
    try:
        ref = store.get_referral(db, referral_id)
    except store.StoreError as exc:
        return _referrals_page(request, db, error=str(exc), status=404)
    path = ref.get("package") or ""
    if not path or not os.path.isfile(path):
        ref = referral.build_package(db, referral_id, _referral_dir(request))
        path = ref["package"]
    with open(path, "rb") as fh:
        data = fh.read()
    return _download(data, os.path.basename(path), "zip")


# ---------------------------------------------------------------- 平台整改情况

@router.get("/reports/compliance")
def compliance_page(request: Request, user: web.User = web.require_roles(*VIEW), db=Depends(web.get_db)):
    period, error = _period(request)
    try:
        days = max(0, min(365, int(request.query_params.get("days", "7"))))
    except ValueError:
        days, error = 7, "天数应为整数"
    rows = [c.row() for c in compliance.compliance(db, period, days)]
    return web.render(request, "reports_compliance.html", {
        "period": period, "days": days, "headers": compliance.headers(days), "rows": rows, "q": _q(period),
        "charts": list(charts.CHARTS), "error": error}, status_code=400 if error else 200)


