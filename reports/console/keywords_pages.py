"""Console pages for 监测员: 关键词库, 巡查计划, 巡查记录.

Each page calls the same library functions as the CLI (keywords.library,
crawler.scheduler, the store). "Run now" queues a run for the running
``certwatch scheduler`` (a web request never starts a crawl itself).
"""
from __future__ import annotations

import os
import tempfile
import urllib.parse

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from keywords import KINDS
from pipelines import store
from reports.console import web

NAV = [("关键词库", "/keywords", ("monitor",)),
       ("巡查计划", "/schedules", ("monitor",)),
       ("巡查记录", "/sweeps", ("monitor", "reviewer", "readonly"))]
router = APIRouter()
MAX_UPLOAD = 20 * 1024 * 1024
HEALTH_LABELS = {"ok": "正常", "blocked": "被拦截", "broken": "失效", "no_requests": "未访问"}
SWEEP_LABELS = {"finished": "完成", "interrupted": "已中断", "failed": "失败", "running": "进行中"}
MIME = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "csv": "text/csv; charset=utf-8"}


# ---------------------------------------------------------------- 关键词库

def _filters(q) -> dict:
    state = q.get("state") or "active"
    return {"industry": q.get("industry") or None, "department": q.get("department") or None,
            "kind": q.get("kind") if q.get("kind") in KINDS else None,
            "active": {"active": True, "disabled": False}.get(state), "search": (q.get("q") or None),
            "state": state}


def _keywords_page(request, db, result=None, error="", done="", status=200):
    f = _filters(request.query_params)
    rows = store.query_keywords(db, industry=f["industry"], department=f["department"], kind=f["kind"],
                                active=f["active"], search=f["search"])
    from keywords.library import INDUSTRIES
    query = urllib.parse.urlencode({k: v for k, v in request.query_params.items() if v})
    return web.render(request, "keywords_library.html", {
        "rows": rows[:2000], "total": len(rows), "f": f, "facets": store.keyword_facets(db),
        "kinds": KINDS, "industries": INDUSTRIES, "imports": store.list_keyword_imports(db, 10),
        "result": result, "error": error, "done": done, "query": query}, status_code=status)


@router.get("/keywords")
def keywords_page(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    return _keywords_page(request, db)


@router.post("/keywords/import")
async def keywords_import(request: Request, user: web.User = web.require_roles("monitor"),
                          db=Depends(web.get_db)):
    from keywords.library import KeywordFileError, file_format
    from pipelines.store import import_file
    form = await request.form()
    upload = form.get("file")
    if upload is None or not getattr(upload, "filename", ""):
        return _keywords_page(request, db, error="请选择要导入的文件", status=400)
    name = os.path.basename(str(upload.filename).replace("\\", "/"))[:120] or "keywords"
    try:
        ext = file_format(name)
    except KeywordFileError as exc:
        return _keywords_page(request, db, error=str(exc), status=400)
    data = await upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _keywords_page(request, db, error="文件过大（最多 20 MB）", status=400)
    defaults = {k: str(form.get(k) or "").strip() for k in ("kind", "industry", "department")}
    defaults = {k: v for k, v in defaults.items() if v}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"upload.{ext}")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            result = import_file(db, path, user=user.name, defaults=defaults, name=name, with_defaults=True)
        except KeywordFileError as exc:
            return _keywords_page(request, db, error=str(exc), status=400)
    from keywords import expand_queries        # what the next sweep searches, unfiltered
    return _keywords_page(request, db, result={**result, "queries": len(expand_queries(store.list_keywords(db)))})


@router.post("/keywords/add")
async def keywords_add(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    from keywords.library import validate_row
    form = await request.form()
    row, reason = validate_row({k: str(form.get(k) or "") for k in ("term", "kind", "industry", "department")}, {})
    if reason:
        return _keywords_page(request, db, error=reason, status=400)
    counts = store.import_keywords(db, [row], {"user": user.name, "file_name": "(控制台添加)", "format": "console",
                                               "rows": 1})
    return _keywords_page(request, db, done=f"已添加：{row['term']}" if counts["added"] else f"已存在：{row['term']}")


@router.post("/keywords/{keyword_id}/toggle")
async def keywords_toggle(keyword_id: int, request: Request, user: web.User = web.require_roles("monitor"),
                          db=Depends(web.get_db)):
    form = await request.form()
    active = form.get("active") == "1"
    try:
        store.set_keyword_active(db, active, keyword_id=keyword_id)
    except store.StoreError as exc:
        return _keywords_page(request, db, error=str(exc), status=404)
    back = web.local_path(str(form.get("back") or ""), "/keywords")
    return web.redirect(back if back.startswith("/keywords") else "/keywords")


@router.get("/keywords/export")
def keywords_export(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    from pipelines.store import export_file
    fmt = request.query_params.get("format", "xlsx")
    if fmt not in MIME:
        return _keywords_page(request, db, error="导出格式应为 xlsx 或 csv", status=400)
    f = _filters(request.query_params)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"keywords.{fmt}")
        export_file(db, path, industry=f["industry"], department=f["department"], kind=f["kind"],
                    active=f["active"])
        with open(path, "rb") as fh:
            data = fh.read()
    quoted = urllib.parse.quote(f"关键词库.{fmt}")
    return Response(data, media_type=MIME[fmt], headers={
        "Content-Disposition": f"attachment; filename=\"keywords.{fmt}\"; filename*=UTF-8''{quoted}",
        "X-Content-Type-Options": "nosniff"})


@router.get("/keywords/template")
def keywords_template(request: Request, user: web.User = web.require_roles("monitor")):
    from keywords.library import write_template
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "template.xlsx")
        write_template(path)
        with open(path, "rb") as fh:
            data = fh.read()
    quoted = urllib.parse.quote("关键词导入模板.xlsx")
    return Response(data, media_type=MIME["xlsx"], headers={
        "Content-Disposition": f"attachment; filename=\"template.xlsx\"; filename*=UTF-8''{quoted}"})


# ---------------------------------------------------------------- 巡查计划

def _upcoming(schedule: dict, n: int = 3) -> list[str]:
    from pipelines.schedules import from_iso, next_times, utc_now
    if not schedule["enabled"]:
        return []
    try:
        first = from_iso(schedule["next_run_at"]) if schedule.get("next_run_at") else utc_now()
        times = [first] + next_times(schedule["cron"], first, n - 1)
    except (ValueError, KeyError):
        return []
    return [web.beijing_time(t.strftime("%Y-%m-%dT%H:%M:%SZ"), seconds=False) for t in times]


def _schedules_page(request, db, error="", done="", form=None, status=200):
    from pipelines.schedules import RUN_STATUS_CN
    from pipelines.schedules import evidence_choice, schedule_platforms
    schedules = store.list_schedules(db)
    for s in schedules:
        s["upcoming"] = _upcoming(s)
        titles = _titles(s.get("profiles") or None)
        s["platform_titles"] = "、".join(titles.get(p, p) for p in schedule_platforms(s)) or "全部"
        choice = evidence_choice(s)
        s["evidence_label"] = "按调度程序设置（默认是）" if choice is None else ("是" if choice else "否")
    names = {s["id"]: s["name"] for s in schedules}
    runs = store.list_runs(db, limit=30)
    for r in runs:
        r["schedule_name"] = names.get(r["schedule_id"], f"#{r['schedule_id']}")
        r["status_label"] = RUN_STATUS_CN.get(r["status"], r["status"])
    from keywords.library import INDUSTRIES
    return web.render(request, "keywords_schedules.html", {
        "schedules": schedules, "runs": runs, "error": error, "done": done, "form": form or {},
        "industries": INDUSTRIES, "facets": store.keyword_facets(db)}, status_code=status)


def _schedule_fields(form) -> dict:
    pages = str(form.get("pages") or "").strip()
    return {"name": str(form.get("name") or "").strip(), "cron": str(form.get("cron") or "").strip(),
            "industry": str(form.get("industry") or "").strip(),
            "department": str(form.get("department") or "").strip(),
            "platforms": str(form.get("platforms") or "").strip(),
            "pages": int(pages) if pages.isdigit() else 0}


@router.get("/schedules")
def schedules_page(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    return _schedules_page(request, db)


@router.post("/schedules/add")
async def schedules_add(request: Request, user: web.User = web.require_roles("monitor"), db=Depends(web.get_db)):
    from pipelines.schedules import ScheduleError, add_schedule, utc_now
    fields = _schedule_fields(await request.form())
    try:
        add_schedule(db, fields["name"], fields["cron"], utc_now(), industry=fields["industry"],
                     department=fields["department"], platforms=fields["platforms"], pages=fields["pages"])
    except ScheduleError as exc:
        return _schedules_page(request, db, error=str(exc), form=fields, status=400)
    return _schedules_page(request, db, done=f"已添加巡查计划“{fields['name']}”")


@router.post("/schedules/{schedule_id}/edit")
async def schedules_edit(schedule_id: int, request: Request, user: web.User = web.require_roles("monitor"),
                         db=Depends(web.get_db)):
    from pipelines.schedules import ScheduleError, edit_schedule, utc_now
    fields = _schedule_fields(await request.form())
    try:
        name = store.get_schedule(db, schedule_id=schedule_id)["name"]
        edit_schedule(db, name, utc_now(), cron=fields["cron"], industry=fields["industry"],
                      department=fields["department"], platforms=fields["platforms"], pages=fields["pages"])
    except (ScheduleError, store.StoreError) as exc:
        return _schedules_page(request, db, error=str(exc), status=400)
    return _schedules_page(request, db, done=f"已修改巡查计划“{name}”")


@router.post("/schedules/{schedule_id}/toggle")
async def schedules_toggle(schedule_id: int, request: Request, user: web.User = web.require_roles("monitor"),
                           db=Depends(web.get_db)):
    from pipelines.schedules import edit_schedule, utc_now
    form = await request.form()
    try:
        name = store.get_schedule(db, schedule_id=schedule_id)["name"]
    except store.StoreError as exc:
        return _schedules_page(request, db, error=str(exc), status=404)
    enabled = form.get("enabled") == "1"
    edit_schedule(db, name, utc_now(), enabled=enabled)
    return _schedules_page(request, db, done=f"已{'启用' if enabled else '停用'}巡查计划“{name}”")


@router.post("/schedules/{schedule_id}/run")
async def schedules_run(schedule_id: int, request: Request, user: web.User = web.require_roles("monitor"),
                        db=Depends(web.get_db)):
    from pipelines.schedules import utc_now
    try:
        schedule = store.get_schedule(db, schedule_id=schedule_id)
        run_id = store.add_manual_run(db, schedule_id, utc_now().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                                      f"console:{user.name}")
    except store.StoreError as exc:
        return _schedules_page(request, db, error=str(exc), status=400)
    return _schedules_page(request, db, done=f"已将“{schedule['name']}”加入执行队列（执行记录 #{run_id}），"
                                             "由运行中的巡查调度程序（certwatch scheduler）执行")


# ---------------------------------------------------------------- 巡查记录

VIEW = ("monitor", "reviewer", "readonly")


@router.get("/sweeps")
def sweeps_page(request: Request, user: web.User = web.require_roles(*VIEW), db=Depends(web.get_db)):
    sweeps = store.list_sweeps(db, 50)
    for s in sweeps:
        s["health"] = store.sweep_platforms(db, s["id"])
        s["status_label"] = SWEEP_LABELS.get(s["status"], s["status"])
        s["kind_label"] = store.sweep_kind_label(s.get("kind"))
    return web.render(request, "keywords_sweeps.html", {
        "sweeps": sweeps, "alerts": store.list_alerts(db, limit=30), "HEALTH_LABELS": HEALTH_LABELS,
        "titles": _titles()})


def _titles(profiles_dir: str | None = None) -> dict:
    from pipelines.profiles import ProfileError, load_profiles
    try:
        return {n: p.title for n, p in load_profiles(profiles_dir).items()}
    except (ProfileError, OSError):
        return {}


@router.get("/sweeps/{sweep_id}")
def sweep_page(sweep_id: int, request: Request, user: web.User = web.require_roles(*VIEW),
               db=Depends(web.get_db)):
    try:
        sweep = store.get_sweep(db, sweep_id)
    except store.StoreError as exc:
        return web.render(request, "error.html", {"message": str(exc), "status": 404}, status_code=404)
    sweep["status_label"] = SWEEP_LABELS.get(sweep["status"], sweep["status"])
    sweep["kind_label"] = store.sweep_kind_label(sweep.get("kind"))
    flagged_only = request.query_params.get("flagged") == "1"
    return web.render(request, "keywords_sweep.html", {
        "sweep": sweep, "health": store.sweep_platforms(db, sweep_id), "alerts": store.list_alerts(db, sweep_id),
        "findings": store.findings_of_sweep(db, sweep_id, flagged_only), "flagged_only": flagged_only,
        "HEALTH_LABELS": HEALTH_LABELS, "titles": _titles()})
