"""Recording a distributed sweep: the workers' stats merged as one (as a
single-machine sweep's crawlers are), listing counts read from the store,
per-platform health as usual, and each worker's own health: a platform can
block one worker's address and not another's, and a worker can die."""
from __future__ import annotations

import logging

from crawler.health import STATUS_CN, alert, platform_health, record_health
from crawler.sweep import _merge
from pipelines import store
from pipelines.profiles import load_profiles

log = logging.getLogger(__name__)

WORKER_STATUS_CN = {"ok": "正常", "blocked": "被拦截", "broken": "失效", "lost": "中途失联", "idle": "未领到任务"}


def worker_rows(records: dict[str, dict], profiles: dict) -> list[dict]:
    """One row per worker that took part: its counts, its platforms' health
    (from its own stats) and a status."""
    rows = []
    for worker_id, record in sorted(records.items()):
        stats = record.get("stats") or {}
        platforms = platform_health(stats, {}, profiles)
        num = lambda key: int(stats.get(key, 0) or 0)   # noqa: E731
        responses = sum(v for k, v in stats.items() if k.startswith("downloader/response_status_count/"))
        statuses = {p["status"] for p in platforms}
        notes = []
        if record.get("lost"):
            status = "lost"
            notes.append("进程中途退出或失联，其进行中的请求已放回队列")
        elif "blocked" in statuses:
            status = "blocked"
        elif "broken" in statuses:
            status = "broken"
        elif not num("downloader/request_count"):
            status = "idle"
        else:
            status = "ok"
        for p in platforms:
            if p["status"] in ("blocked", "broken"):
                notes.append(f"{p['platform']} {STATUS_CN[p['status']]}（{p['note']}）")
        if num("distributed/bad_entries"):
            notes.append(f"{num('distributed/bad_entries')} 个任务无法执行（平台配置目录与发起巡查的机器不一致？见日志）")
        rows.append({
            "worker": worker_id, "name": record.get("name") or worker_id, "host": record.get("host") or "",
            "status": status, "final": 1 if record.get("final") else 0,
            "requests": num("downloader/request_count"), "responses": int(responses),
            "items": num("certwatch/items"), "flagged": num("certwatch/flagged"),
            "errors": num("log_count/ERROR") + num("certwatch/errors"),
            "blocked": sum(p["blocked"] for p in platforms),
            "seconds": float(stats.get("worker/seconds", 0) or 0),
            "platforms": [{k: p[k] for k in ("platform", "status", "requests", "responses", "blocked",
                                             "errors", "canary_results", "note")} for p in platforms],
            "note": "；".join(notes),
        })
    return rows


def platform_durations(merged: dict, records: dict[str, dict]) -> None:
    """A platform's 耗时 in a distributed sweep: a worker stays up across
    sweeps, so its per-platform span (set when its crawler closes) is not
    this sweep's; take the longest time a worker that requested the platform
    spent on this sweep (worker/seconds)."""
    spans: dict[str, float] = {}
    for record in records.values():
        stats = record.get("stats") or {}
        seconds = float(stats.get("worker/seconds", 0) or 0)
        for key, value in stats.items():
            if key.startswith("certwatch/requests/") and value:
                name = key.rsplit("/", 1)[1]
                spans[name] = max(spans.get(name, 0.0), seconds)
    for name, seconds in spans.items():
        merged[f"certwatch/duration/{name}"] = round(seconds, 3)


def record_distributed(opts, settings, sweep_id: int, status: str, note: str, records: dict[str, dict],
                       seed_stats: dict, extra: dict) -> dict:
    """Finish the sweep row, its platform and worker health; the merged stats."""
    merged = _merge([r.get("stats") or {} for r in records.values()])
    merged.update(seed_stats)
    merged.update(extra)
    merged["distributed/workers"] = len(records)
    # Workers count what they judged; a request redone after a worker died
    # judges its page again. What the sweep saw is read from the store.
    merged["certwatch/items_judged"] = int(merged.get("certwatch/items", 0) or 0)
    merged["certwatch/flagged_judged"] = int(merged.get("certwatch/flagged", 0) or 0)
    if note:
        merged["distributed/note"] = note
    platform_durations(merged, records)
    try:
        profiles = load_profiles(opts.profiles_dir or None)
    except ValueError:
        profiles = {}
    rows = worker_rows(records, profiles)
    webhook = settings.get("CERTWATCH_WEBHOOK_URL") or ""
    with store.opened(opts.db) as db:
        counts = store.sweep_counts(db, sweep_id)
        merged["certwatch/items"] = counts["items"]
        merged["certwatch/flagged"] = counts["flagged"]
        merged["certwatch/new_findings"] = counts["new_findings"]
        store.finish_sweep(db, sweep_id, status, merged)
        store.save_sweep_workers(db, sweep_id, rows)
        for row in rows:
            if row["status"] == "lost":
                alert(db, "worker_lost", f"【certwatch 巡查告警】分布式巡查 #{sweep_id}：worker {row['name']}"
                      f"（{row['host']}）中途失联，其进行中的请求已放回队列由其他 worker 完成。", webhook, None, sweep_id)
            for p in row["platforms"]:
                if p["status"] == "blocked":
                    title = profiles[p["platform"]].title if p["platform"] in profiles else p["platform"]
                    alert(db, "worker_blocked", f"【certwatch 巡查告警】分布式巡查 #{sweep_id}：平台 {title}"
                          f"（{p['platform']}）拦截了 worker {row['name']}（{row['host']}）：{p['note']}。"
                          "该平台可能按 IP 限流，请检查这台采集机器的出口地址。", webhook, p["platform"], sweep_id)
    record_health(opts.db, sweep_id, status, merged, webhook, opts.profiles_dir or None)
    return merged


def worker_warnings(db_path: str, sweep_id: int) -> list[str]:
    """One line per worker of a sweep that was lost, blocked or broken."""
    with store.opened(db_path) as db:
        rows = store.sweep_workers(db, sweep_id)
    return [f"注意：worker {r['name']}（{r['host']}）{WORKER_STATUS_CN.get(r['status'], r['status'])}"
            + (f"：{r['note']}" if r["note"] else "") + f"，详见 certwatch workers {sweep_id}"
            for r in rows if r["status"] in ("lost", "blocked", "broken")]
