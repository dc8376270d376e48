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
from reports.console import indexer, web
from reports.console.review_view import highlight, item_label, needles, page_numbers, snippet

VIEW_ROLES = web.ALL_ROLES
DECIDE_ROLES = ("reviewer",)          # and admin
PAGE_SIZE = 50
PAGE_SIZES = (10, 20, 50, 100, 200)
MAX_BULK = 500
SEARCH_CATCH_UP = 5000    # findings indexed per request at most (record_findings indexes its own)
BULK_CONFIRM_OVER = 5        # a bulk decision on more items asks once more, stating the count

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
    "queue_done": "当前筛选条件下已没有待审核条目",
    "not_undoable": "该条目不能撤回（尚未处理，或已进入下架、移交流程）",
}
# Shown when items already had the decision asked for (a second press, a
# second tab, a retried request): nothing was recorded for them.
REPEATED_NOTE = "{n} 条此前已是这一处理结果，本次未重复记录"
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


def _page_size(params) -> int:
    try:
        size = int(params.get("size") or PAGE_SIZE)
    except ValueError:
        return PAGE_SIZE
    return size if size in PAGE_SIZES else PAGE_SIZE


@router.get("/queue")
def queue(request: Request, user: web.User = web.require_roles(*VIEW_ROLES), db=Depends(web.get_db)):
    f, q = parse_filter(request.query_params)
    if f.keyword:
        store.refresh_search_index(db, limit=SEARCH_CATCH_UP)    # other writers' changes, if any
    try:
        page = max(1, min(100000, int(request.query_params.get("page") or 1)))
    except ValueError:
        page = 1
    size = _page_size(request.query_params)
    plan = store.keyword_plan(db, q)
    counts = store.queue_counts(db, q, plan=plan)
    total = counts.get(q.status, 0) if q.status else counts.total
    pages = max(1, (total + size - 1) // size)
    page = min(page, pages)
    rows, _ = store.review_queue(db, q, limit=size, offset=(page - 1) * size, count=False, plan=plan)
    for row in rows:
        row["snippet"] = snippet(row)
    sized = {"size": size if size != PAGE_SIZE else None}
    return web.render(request, "queue.html", {
        "rows": rows, "total": total, "counts": counts, "capped": counts.capped,
        "total_capped": bool(counts.capped) and (not q.status or q.status in counts.capped), "filter": f, "page": page, "pages": pages,
        "facets": _facets(request, db), "status_choices": STATUS_CHOICES,
        "query": _query(f), "size": size, "size_links": [(n, _query(f, size=n)) for n in PAGE_SIZES],
        "page_links": [(n, _query(f, page=n, **sized) if n else "") for n in page_numbers(page, pages)],
        "first_query": _query(f, page=1, **sized), "last_query": _query(f, page=pages, **sized),
        "prev_query": _query(f, page=page - 1, **sized) if page > 1 else "",
        "next_query": _query(f, page=page + 1, **sized) if page < pages else "",
        "status_query": {s: _query(store.QueueFilter(**{**f.__dict__, "status": s}), **sized)
                         for s in (*STATUS_CHOICES, "")},
        "can_decide": user.has(*DECIDE_ROLES),
        "self_url": request.url.path + ("?" + request.url.query if request.url.query else ""),
        "flash": _flash(request, db, query=_query(f)),
        "index_note": indexer.backlog_note(db) if f.keyword else "",
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


def _flash(request: Request, db, this: str = "", query: str = "") -> dict:
    """The line after a decision: counts, the refusal, and for one item
    (``done=kind:id``, else the page's own item ``this``) what was done.
    An item decided on the way to the next one can be undone from here
    (``undo_item``; back to its page, in the same queue ``query``)."""
    p = request.query_params
    try:
        ok, fail, same = int(p.get("ok") or 0), int(p.get("fail") or 0), int(p.get("same") or 0)
    except ValueError:
        ok = fail = same = 0
    flash = {"ok": ok, "fail": fail, "why": MESSAGES.get(p.get("why") or "", ""), "done": "", "done_url": "",
             "note": "", "undo_item": "", "referred": REFERRED_NOTE if p.get("then") == "referral" and ok else "",
             "same": REPEATED_NOTE.format(n=same) if same > 0 else ""}
    m = ITEM.match(str(p.get("done") or this))
    if m and (ok or same) and ok + same == 1:
        kind, num = m.group(1), int(m.group(2))
        history = store.decisions_for(db, **{f"{kind}_id": num})
        if history:
            try:
                row = store.get_finding(db, num) if kind == "finding" else store.get_site(db, num)
            except store.StoreError:
                return flash
            title = (row.get("title") or row.get("domain") or row.get("url") or "")[:40]
            flash["done"] = f"已{labels.action(history[-1]['action'])}：{item_label(kind, num)}「{title}」"
            if history[-1]["action"] == "refer":
                flash["referred"] = REFERRED_NOTE
            if p.get("done"):
                flash["done_url"] = f"/{kind}/{num}" + (f"?{query}" if query else "")
                if row.get("status") in store.UNDOABLE_STATUSES and history[-1]["action"] != "undo":
                    flash["undo_item"] = f"{kind}:{num}"
    if p.get("end"):
        flash["note"] = MESSAGES["queue_done"]
    return flash


def _evidence_view(db, **key) -> list[dict]:
    rows = store.evidence_for(db, **key)
    rows.reverse()                     # newest first
    for row in rows:
        row["by_kind"] = {f.get("kind"): f for f in row["files"] if isinstance(f, dict)}
    return rows


def _nav(request: Request, db, kind: str, item_id: int) -> dict:
    """Where the reviewer came from: the filtered queue (its parameters ride
    along on the detail page's address), the items before and after this
    one in it, and the flash line of the decision just made."""
    params = request.query_params
    f, q = parse_filter(params)
    if f.keyword:
        store.refresh_search_index(db, limit=SEARCH_CATCH_UP)      # bounded, as the queue's
    given = any(k in params for k in FILTER_FIELDS)
    query = _query(f) if given else ""
    prev, nxt = store.queue_neighbours(db, q, kind, item_id)

    def url(item):
        return f"/{item['kind']}/{item['id']}" + (f"?{query}" if query else "") if item else ""
    return {"nav_query": query, "prev_url": url(prev), "next_url": url(nxt), "prev_item": prev,
            "next_item": nxt, "queue_url": "/queue" + (f"?{query}" if query else ""),
            "self_url": f"/{kind}/{item_id}" + (f"?{query}" if query else ""),
            "flash": _flash(request, db, f"{kind}:{item_id}", query), "shortcuts": SHORTCUTS}


# The detail page's keys (shown by ?, and in docs/reviewer.md).
SHORTCUTS = [("c", "确认并打开下一条待审核条目"), ("d", "排除误报：光标移到理由框，填写后回车（并打开下一条）"),
             ("r", "移交公安（并打开下一条）"), ("u", "撤回：顶部提示刚处理的一条时撤回那一条并回到它，否则撤回本条的处理；撤回后重新待审核"),
             ("j 或 n", "下一条（按进入时的队列顺序）"), ("k 或 p", "上一条"), ("q", "返回审核队列"),
             ("?", "显示或隐藏本帮助"), ("Esc", "离开输入框、关闭帮助")]


@router.get("/finding/{finding_id}")
def finding_detail(request: Request, finding_id: int, user: web.User = web.require_roles(*VIEW_ROLES),
                   db=Depends(web.get_db)):
    f = store.get_finding(db, finding_id)
    contacts = f["contacts"] if isinstance(f["contacts"], dict) else {}
    f["contacts"] = {str(k): [str(v) for v in vs] for k, vs in contacts.items() if isinstance(vs, list)}
    marks = needles(f["reasons"])
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
        "kind": "finding", "item": f, "title_segments": highlight(f["title"] or "", marks),
        "versions": store.finding_versions(db, finding_id),
        "text_segments": highlight(f["text"] or "", marks), "reasons": f["reasons"],
        "evidence": _evidence_view(db, finding_id=finding_id),
        "decisions": store.decisions_for(db, finding_id=finding_id),
        "by_contact": store.related_findings_by_contact(db, finding_id),
        "sites": sites, "via_sites": via_sites,
        "can_decide": user.has(*DECIDE_ROLES), "item_key": f"finding:{finding_id}",
        "default_category": "illicit_info", "undoable": f["status"] in store.UNDOABLE_STATUSES,
        **_nav(request, db, "finding", finding_id),
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
        "default_category": "fake_gov_site", "undoable": s["status"] in store.UNDOABLE_STATUSES,
        **_nav(request, db, "site", site_id),
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


FLASH_PARAMS = ("ok", "fail", "why", "done", "end", "then", "same")


@router.post("/decide")
async def decide(request: Request, user: web.User = web.require_roles(*DECIDE_ROLES),
                 db=Depends(web.get_db)):
    """Apply one action to one or many items (bulk). Each item gets its own
    append-only decision row; an item that already has the decision gets
    none (store._repeats: a second press, a second tab, a retried request)
    and the answer says so (``same``). ``?advance=1`` (确认并下一条): after
    deciding one item, open the next pending item of the queue the reviewer
    came from (also when it had the decision already: the answer the first
    request got). More than BULK_CONFIRM_OVER items are decided only once
    the reviewer has confirmed the count (``confirmed=1``)."""
    form = await request.form()
    back = web.local_path(str(form.get("next") or ""))
    action = str(form.get("action") or "")
    note = str(form.get("note") or "").strip()[:2000]
    category = str(form.get("category") or "")
    items = [str(v) for v in form.getlist("items")][:MAX_BULK + 1]
    advance = request.query_params.get("advance") == "1" or form.get("advance") == "1"

    def done(path: str = "", **params) -> object:
        parts = urllib.parse.urlsplit(path or back)
        query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
                 if k not in FLASH_PARAMS] + list(params.items())
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
    if len(items) > BULK_CONFIRM_OVER and form.get("confirmed") != "1":
        return web.render(request, "decide_confirm.html", {
            "count": len(items), "action": action, "action_label": labels.action(action),
            "items": items, "note": note, "category": category, "back": back})
    parsed = [ITEM.match(item) for item in items]
    findings = [int(m.group(2)) for m in parsed if m and m.group(1) == "finding"]
    sites = [int(m.group(2)) for m in parsed if m and m.group(1) == "site"]
    try:            # one transaction for the whole selection
        decided, refused, repeated = store.add_decisions(db, user.name, action, findings, sites, note,
                                                         category=category if action == "confirm" else "")
    except store.StoreBusy:
        raise                   # the console answers 503: nothing was decided
    except store.StoreError:
        return done(fail=len(items))
    ok, fail = len(decided), sum(1 for m in parsed if not m) + len(refused)
    counts = {"ok": ok, "fail": fail, **({"same": len(repeated)} if repeated else {})}
    if action == "undo" and fail:
        return done(**counts, why="not_undoable")
    if advance and ok + len(repeated) == 1 and not fail and len(items) == 1 and action != "undo":
        return _advance(db, items[0], back, done, counts)
    return done(**counts, **({"then": "referral"} if action == "refer" and ok else {}))


def _advance(db, item: str, back: str, done, counts: dict):
    """确认并下一条: the next pending item after ``item`` in the queue the
    reviewer came from (from the start of it when none follows); the queue
    itself when nothing is pending there any more."""
    kind, num = item.split(":")
    params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(back).query, keep_blank_values=True))
    params["status"] = store.PENDING
    f, q = parse_filter(params)
    if f.keyword:
        store.refresh_search_index(db, limit=SEARCH_CATCH_UP)      # bounded, as the queue's
    nxt = store.queue_neighbours(db, q, kind, int(num))[1] or store.queue_first(db, q, (kind, int(num)))
    if nxt is None:
        return done(f"/queue?{_query(f)}", **counts, done=item, end=1)
    return done(f"/{nxt['kind']}/{nxt['id']}?{_query(f)}", **counts, done=item)
