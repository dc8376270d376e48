"""The review queue, the detail pages and decisions (网信办 reviewers).

Every scraped string reaches the page only through Jinja's autoescaping;
highlighting is done by splitting text into segments here, never by
building HTML strings.
"""
from __future__ import annotations

import datetime
import re
import time
import urllib.parse

from fastapi import APIRouter, Depends, Request

from pipelines import store
from pipelines.evidence import BEIJING
from reports import labels
from reports.console import web

VIEW_ROLES = web.ALL_ROLES
DECIDE_ROLES = ("reviewer",)          # and admin
PAGE_SIZE = 50
MAX_BULK = 500

NAV = [("审核队列", "/queue", VIEW_ROLES)]
router = APIRouter()

FILTER_FIELDS = ("status", "kind", "platform", "family", "verdict", "date_from", "date_to",
                 "keyword", "contact")
STATUS_CHOICES = ("pending", "confirmed", "dismissed", "referral_pending", "referred", "takedown_requested",
                  "removed", "still_present")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ITEM = re.compile(r"^(finding|site):(\d{1,12})$")
MESSAGES = {
    "note_required": "排除误报必须填写理由",
    "no_items": "请先选择要处理的条目",
    "bad_action": "未知的处理动作",
    "too_many": f"一次最多处理 {MAX_BULK} 条",
}
# Shown after a 移交公安 (refer): the items wait in the pending referral.
REFERRED_NOTE = "已加入待移交清单：到“线索移交”页填写接收单位、生成移交包后计为已移交公安"


def parse_filter(params) -> tuple[store.QueueFilter, store.QueueFilter]:
    """(the filter as the user gave it, the filter for the store): dates
    are 北京时间 calendar days, the store compares UTC times."""
    values = {k: str(params.get(k) or "").strip()[:200] for k in FILTER_FIELDS}
    if "status" not in params:
        values["status"] = store.PENDING
    elif values["status"] not in STATUS_CHOICES:
        values["status"] = ""
    if values["kind"] not in ("", "finding", "site"):
        values["kind"] = ""
    query = dict(values)
    for key, extra_days in (("date_from", 0), ("date_to", 1)):
        day = None
        if values[key] and DATE.match(values[key]):
            try:
                day = datetime.date.fromisoformat(values[key])
            except ValueError:
                day = None
        if day is None:
            values[key] = query[key] = ""
            continue
        start = datetime.datetime.combine(day + datetime.timedelta(days=extra_days), datetime.time(),
                                          tzinfo=BEIJING)
        query[key] = start.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return store.QueueFilter(**values), store.QueueFilter(**query)


def _query(f: store.QueueFilter, **extra) -> str:
    params = {k: getattr(f, k) for k in FILTER_FIELDS if getattr(f, k)}
    if "status" not in params:
        params["status"] = ""
    params.update({k: v for k, v in extra.items() if v is not None})
    return urllib.parse.urlencode(params)


@router.get("/queue")
def queue(request: Request, user: web.User = web.require_roles(*VIEW_ROLES), db=Depends(web.get_db)):
    f, q = parse_filter(request.query_params)
    if f.keyword:
        store.refresh_search_index(db)
    try:
        page = max(1, min(100000, int(request.query_params.get("page") or 1)))
    except ValueError:
        page = 1
    counts = store.queue_counts(db, q)
    total = counts.get(q.status, 0) if q.status else sum(counts.values())
    rows, _ = store.review_queue(db, q, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, count=False)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return web.render(request, "queue.html", {
        "rows": rows, "total": total, "counts": counts, "filter": f, "page": page, "pages": pages,
        "facets": _facets(request, db), "status_choices": STATUS_CHOICES,
        "query": _query(f), "prev_query": _query(f, page=page - 1) if page > 1 else "",
        "next_query": _query(f, page=page + 1) if page < pages else "",
        "status_query": {s: _query(store.QueueFilter(**{**f.__dict__, "status": s})) for s in (*STATUS_CHOICES, "")},
        "can_decide": user.has(*DECIDE_ROLES),
        "self_url": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "flash": _flash(request),
    })


FACETS_TTL = 60.0


def _facets(request: Request, db) -> dict:
    """Filter menu values, recomputed at most once a minute."""
    cached = getattr(request.app.state, "queue_facets", None)
    now = time.monotonic()
    if cached is None or now - cached[0] > FACETS_TTL:
        cached = (now, store.queue_facets(db))
        request.app.state.queue_facets = cached
    return cached[1]


def _flash(request: Request) -> dict:
    p = request.query_params
    try:
        ok, fail = int(p.get("ok") or 0), int(p.get("fail") or 0)
    except ValueError:
        ok = fail = 0
    return {"ok": ok, "fail": fail, "why": MESSAGES.get(p.get("why") or "", ""),
            "referred": REFERRED_NOTE if p.get("then") == "referral" and ok else ""}


def highlight(text: str, needles: list[tuple[str, str]]) -> list[dict]:
    """Split ``text`` into segments, marking every occurrence of a reason's
    evidence span. Segments are escaped by the template."""
    if not text:
        return []
    marks: list[tuple[int, int, str]] = []
    for needle, label in needles:
        if not needle or len(needle) > 200:
            continue
        start = 0
        while len(marks) < 500:
            i = text.find(needle, start)
            if i < 0:
                break
            marks.append((i, i + len(needle), label))
            start = i + len(needle)
    if not marks:
        return [{"text": text, "mark": False, "label": ""}]
    marks.sort()
    merged: list[list] = []
    for a, b, label in marks:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
            if label not in merged[-1][2]:
                merged[-1][2].append(label)
        else:
            merged.append([a, b, [label]])
    out, pos = [], 0
    for a, b, names in merged:
        if a > pos:
            out.append({"text": text[pos:a], "mark": False, "label": ""})
        out.append({"text": text[a:b], "mark": True, "label": "；".join(names)})
        pos = b
    if pos < len(text):
        out.append({"text": text[pos:], "mark": False, "label": ""})
    return out


def _needles(reasons: list) -> list[tuple[str, str]]:
    out = []
    for r in reasons if isinstance(reasons, list) else []:
        if not isinstance(r, dict):
            continue
        ev = str(r.get("evidence") or "")
        label = str(r.get("label") or r.get("code") or "")
        if ev:
            out.append((ev, label))
            if ":" in ev and r.get("code") == "off_platform_contact":
                out.append((ev.split(":", 1)[1], label))
    return out


def _evidence_view(db, **key) -> list[dict]:
    rows = store.evidence_for(db, **key)
    rows.reverse()                     # newest first
    for row in rows:
        row["by_kind"] = {f.get("kind"): f for f in row["files"] if isinstance(f, dict)}
    return rows


@router.get("/finding/{finding_id}")
def finding_detail(request: Request, finding_id: int, user: web.User = web.require_roles(*VIEW_ROLES),
                   db=Depends(web.get_db)):
    f = store.get_finding(db, finding_id)
    contacts = f["contacts"] if isinstance(f["contacts"], dict) else {}
    f["contacts"] = {str(k): [str(v) for v in vs] for k, vs in contacts.items() if isinstance(vs, list)}
    needles = _needles(f["reasons"])
    sites = store.sites_of_finding(db, finding_id)
    known = {s["id"] for s in sites}
    for host in f["contacts"].get("domain", [])[:20]:     # named in the text, maybe not linked yet
        site = store.site_of_host(db, host)
        if site and site["id"] not in known:
            known.add(site["id"])
            sites.append(site)
    via_sites = []
    for s in sites:
        for other in store.findings_of_site(db, s["id"], exclude=finding_id, limit=50):
            via_sites.append({**other, "domain": s["domain"]})
    return web.render(request, "detail.html", {
        "kind": "finding", "item": f, "title_segments": highlight(f["title"] or "", needles),
        "text_segments": highlight(f["text"] or "", needles), "reasons": f["reasons"],
        "evidence": _evidence_view(db, finding_id=finding_id),
        "decisions": store.decisions_for(db, finding_id=finding_id),
        "by_contact": store.related_findings_by_contact(db, finding_id),
        "sites": sites, "via_sites": via_sites,
        "can_decide": user.has(*DECIDE_ROLES), "item_key": f"finding:{finding_id}",
        "default_category": "illicit_info",
    })


@router.get("/site/{site_id}")
def site_detail(request: Request, site_id: int, user: web.User = web.require_roles(*VIEW_ROLES),
                db=Depends(web.get_db)):
    s = store.get_site(db, site_id)
    return web.render(request, "detail.html", {
        "kind": "site", "item": s, "reasons": s["reasons"] if isinstance(s["reasons"], list) else [],
        "whois": labels.whois_rows(s["whois"]), "source_label": labels.site_source(str(s.get("source") or "")),
        "evidence": _evidence_view(db, site_id=site_id),
        "decisions": store.decisions_for(db, site_id=site_id),
        "linked": _linked(db, s),
        "site_contacts": store.contacts_of_site(db, site_id),
        "can_decide": user.has(*DECIDE_ROLES), "item_key": f"site:{site_id}",
        "default_category": "fake_gov_site",
    })


def _linked(db, site: dict) -> list[dict]:
    """Listings linking the site, and listings naming its host in their text."""
    linked = store.findings_of_site(db, site["id"])
    seen = {f["id"] for f in linked}
    for f in store.findings_naming_host(db, [site.get("domain") or "", site.get("host") or ""]):
        if f["id"] not in seen:
            seen.add(f["id"])
            linked.append(f)
    return linked


@router.post("/decide")
async def decide(request: Request, user: web.User = web.require_roles(*DECIDE_ROLES),
                 db=Depends(web.get_db)):
    """Apply one action to one or many items (bulk). Each item gets its own
    append-only decision row."""
    form = await request.form()
    back = web.local_path(str(form.get("next") or ""))
    action = str(form.get("action") or "")
    note = str(form.get("note") or "").strip()[:2000]
    category = str(form.get("category") or "")
    items = [str(v) for v in form.getlist("items")][:MAX_BULK + 1]

    def done(**params) -> object:
        parts = urllib.parse.urlsplit(back)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                 if k not in ("ok", "fail", "why", "then")] + list(params.items())
        return web.redirect(parts.path + "?" + urllib.parse.urlencode(query))

    if action not in store.DECISION_STATUS or action in store.SYSTEM_ACTIONS:
        return done(why="bad_action", fail=len(items))
    if not items:
        return done(why="no_items")
    if len(items) > MAX_BULK:
        return done(why="too_many", fail=len(items))
    if action == "dismiss" and not note:
        return done(why="note_required", fail=len(items))
    if category and category not in store.CONFIRM_CATEGORIES:
        category = ""
    ok = fail = 0
    for item in items:
        m = ITEM.match(item)
        if not m:
            fail += 1
            continue
        key = {"finding_id": int(m.group(2))} if m.group(1) == "finding" else {"site_id": int(m.group(2))}
        try:
            store.add_decision(db, user.name, action, note,
                               category=category if action == "confirm" else "", **key)
            ok += 1
        except store.StoreError:
            fail += 1
    return done(ok=ok, fail=fail, **({"then": "referral"} if action == "refer" else {}))
