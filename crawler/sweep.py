"""Run a sweep: the ``search`` and ``listings`` spiders in one Scrapy
process, recorded as one row in ``sweeps``."""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

from pipelines import store

SPIDERS = ("search", "listings")


@dataclass
class SweepOptions:
    db: str
    sandbox: str = ""                 # sandbox address; empty = real mode
    platforms: list[str] = field(default_factory=list)
    keyword_filter: str = ""
    max_pages: int = 0
    profiles_dir: str = ""
    spiders: tuple = SPIDERS
    progress: bool = True
    log_level: str = "WARNING"
    schedule_id: int | None = None
    extra_settings: dict = field(default_factory=dict)


def set_browser_proxy(settings, sandbox: str) -> None:
    """Chromium goes through the sandbox when there is one, directly otherwise."""
    launch = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    if sandbox:
        launch["proxy"] = {"server": sandbox}
    else:
        launch.pop("proxy", None)
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", launch, priority="cmdline")


def crawl_settings(opts: SweepOptions, sweep_id: int):
    settings = get_project_settings()
    settings.set("CERTWATCH_DB", opts.db, priority="cmdline")
    settings.set("CERTWATCH_SANDBOX", opts.sandbox, priority="cmdline")
    settings.set("CERTWATCH_PLATFORMS", ",".join(opts.platforms), priority="cmdline")
    settings.set("CERTWATCH_KEYWORD_FILTER", opts.keyword_filter, priority="cmdline")
    settings.set("CERTWATCH_MAX_PAGES", opts.max_pages, priority="cmdline")
    settings.set("CERTWATCH_PROFILES_DIR", opts.profiles_dir, priority="cmdline")
    settings.set("CERTWATCH_SWEEP_ID", sweep_id, priority="cmdline")
    settings.set("LOG_LEVEL", opts.log_level, priority="cmdline")
    set_browser_proxy(settings, opts.sandbox)
    for key, value in opts.extra_settings.items():
        settings.set(key, value, priority="cmdline")
    return settings


@dataclass
class SweepResult:
    sweep_id: int
    status: str
    stats: dict


def _merge(stats_list: list[dict]) -> dict:
    merged: dict = {}
    for stats in stats_list:
        for key, value in stats.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    return merged


def run(opts: SweepOptions) -> SweepResult:
    db = store.connect(opts.db)
    store.mark_abandoned_sweeps(db)
    mode = "sandbox" if opts.sandbox else "real"
    sweep_id = store.start_sweep(db, opts.platforms or ["全部"], mode, opts.keyword_filter, opts.schedule_id)
    db.close()

    settings = crawl_settings(opts, sweep_id)
    process = CrawlerProcess(settings)
    crawlers = []
    for name in opts.spiders:
        crawler = process.create_crawler(name)
        crawlers.append(crawler)
        process.crawl(crawler)
    ticker = None
    if opts.progress:
        from twisted.internet import task

        def show():
            s = _merge([c.stats.get_stats() for c in crawlers if c.stats])
            sys.stderr.write(f"\r巡查中… 请求 {s.get('downloader/request_count', 0)}，"
                             f"条目 {s.get('certwatch/items', 0)}，可疑 {s.get('certwatch/flagged', 0)}   ")
            sys.stderr.flush()
        ticker = task.LoopingCall(show)
        ticker.start(1.0, now=False)
    process.start()
    if ticker is not None and ticker.running:
        ticker.stop()
        sys.stderr.write("\n")

    stats = _merge([c.stats.get_stats() for c in crawlers if c.stats])
    reasons = [c.stats.get_value("finish_reason") for c in crawlers if c.stats]
    if any(r == "shutdown" for r in reasons):
        status = "interrupted"
    elif all(r == "finished" for r in reasons):
        status = "finished"
    else:
        status = "failed"
    db = store.connect(opts.db)
    store.finish_sweep(db, sweep_id, status, stats)
    db.close()
    from crawler.health import record_health
    record_health(opts.db, sweep_id, status, stats, settings.get("CERTWATCH_WEBHOOK_URL") or "",
                  opts.profiles_dir or None)
    return SweepResult(sweep_id, status, stats)
