"""Run a sweep: the ``search`` and ``listings`` spiders' work in one Scrapy
crawler (one duplicate filter, one stats collector), recorded as one row in
``sweeps``."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings

from crawler.logfile import log_to_file, quiet_scrapy, spare_scrapy_records
from crawler.progress import SWEEP, CrawlProgress, CrawlView
from pipelines import judgeproc, store

log = logging.getLogger(__name__)

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
    progress: bool = True             # on stderr (crawler.progress); view: what it shows
    view: CrawlView = SWEEP
    log_level: str = "WARNING"
    schedule_id: int | None = None
    extra_settings: dict = field(default_factory=dict)
    redis: str = ""                   # Redis URL: workers crawl, `certwatch ingest` stores

    @property
    def kind(self) -> str:
        """The run's kind in ``sweeps``: 'sweep' when it sweeps platforms,
        else its spider ('sites' for `certwatch sites check`)."""
        return run_kind(self.spiders)


def run_kind(spiders) -> str:
    return "sweep" if set(spiders) & set(SPIDERS) or "sweep" in spiders else "+".join(spiders)


def set_browser_proxy(settings, sandbox: str) -> None:
    """Chromium's own proxy: the sandbox, or a dead end in real mode (every
    request of a page is fetched through the guard, crawler.middlewares)."""
    from pipelines.netguard import Guard, browser_proxy
    launch = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    launch["proxy"] = browser_proxy(Guard(sandbox=sandbox))     # real mode: a dead end (pages are intercepted)
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", launch, priority="cmdline")


def project_settings() -> Settings:
    """certwatch's Scrapy settings (crawler.settings) whatever the working
    directory: Scrapy alone finds them only through a scrapy.cfg there."""
    from crawler import settings as module
    settings = Settings()
    settings.setmodule(module, priority="project")
    return settings


def start_judge(opts: SweepOptions, settings) -> None:
    """The sale classifier's own process (pipelines/judgeproc.py) for a sweep
    that judges listings, on a machine with a second core (setting
    ``CERTWATCH_JUDGE_PROCESS``: auto, on, off)."""
    if not set(opts.spiders) & set(SPIDERS) or not judgeproc.wanted(settings.get("CERTWATCH_JUDGE_PROCESS")) \
            or not judgeproc.can_fork():
        return          # judged in this process: the sale step writes the user dictionary itself
    with store.opened(opts.db) as db:
        userdict = store.jieba_userdict(db)
    judgeproc.start(userdict)


def crawl_settings(opts: SweepOptions, sweep_id: int):
    settings = project_settings()
    settings.set("CERTWATCH_DB", opts.db, priority="cmdline")
    settings.set("CERTWATCH_SANDBOX", opts.sandbox, priority="cmdline")
    settings.set("CERTWATCH_PLATFORMS", ",".join(opts.platforms), priority="cmdline")
    settings.set("CERTWATCH_KEYWORD_FILTER", opts.keyword_filter, priority="cmdline")
    settings.set("CERTWATCH_MAX_PAGES", opts.max_pages, priority="cmdline")
    settings.set("CERTWATCH_PROFILES_DIR", opts.profiles_dir, priority="cmdline")
    settings.set("CERTWATCH_SWEEP_ID", sweep_id, priority="cmdline")
    settings.set("LOG_LEVEL", opts.log_level, priority="cmdline")
    quiet_scrapy(settings)
    apply_run_settings(settings, opts.sandbox, opts.extra_settings)
    return settings


def apply_run_settings(settings, sandbox: str, extra: dict) -> None:
    """What every crawl of a run shares (a sweep's, a distributed worker's):
    the browser's proxy, the command's own --set values, and in sandbox mode
    the sandbox's WHOIS unless one is named."""
    set_browser_proxy(settings, sandbox)
    for key, value in extra.items():
        settings.set(key, value, priority="cmdline")
    if sandbox and not settings.get("CERTWATCH_WHOIS_SERVERS"):
        sandbox_whois(settings, sandbox)


def sandbox_whois(settings, sandbox: str) -> None:
    """In sandbox mode every TLD's WHOIS goes to the sandbox's own server."""
    from crawler.resolver import sandbox_get
    try:
        addr = sandbox_get(sandbox, "/info").get("whois", "")
    except (OSError, ValueError) as exc:
        log.warning("无法获得沙箱 WHOIS 地址：%s", exc)
        return
    if addr:
        settings.set("CERTWATCH_WHOIS_SERVERS", f"*={addr}", priority="cmdline")


def sweep_spiders(process: CrawlerProcess, names) -> list:
    """The spider classes to crawl: the profile spiders named (``search``,
    ``listings``) as ONE spider, so one crawler runs them with one duplicate
    filter (a detail page reachable from a search engine's results and from
    a marketplace's own search is fetched, judged and stored once), one
    stats collector (the progress line, the sweep row and the per-platform
    summary count the same items) and one downloader; other spiders as they are."""
    from crawler.spiders.base import ProfileSpider
    classes = [process.spider_loader.load(name) for name in names]
    profile = [c for c in classes if issubclass(c, ProfileSpider)]
    if len(profile) < 2:
        return classes
    kinds = tuple(k for c in profile for k in c.kinds)
    combined = type("SweepSpider", tuple(profile), {"name": "sweep", "kinds": kinds,
                                                    "__doc__": "+".join(c.name for c in profile)})
    return [combined] + [c for c in classes if c not in profile]


@dataclass
class SweepResult:
    sweep_id: int
    status: str
    stats: dict


# Stats of one process that are levels or rates, not counts: the crawlers'
# values are not added (two crawlers in one 300 MB process are not 600 MB).
_LEVELS = ("memusage/", "elapsed_time_seconds", "_per_minute")


def _merge(stats_list: list[dict]) -> dict:
    """The crawlers' stats as one: counts added, levels and rates the largest,
    None (Scrapy leaves rates None for a crawl under a second) skipped."""
    merged: dict = {}
    for stats in stats_list:
        for key, value in stats.items():
            if value is None:
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                if any(mark in key for mark in _LEVELS):
                    merged[key] = max(merged.get(key, value), value)
                else:
                    merged[key] = merged.get(key, 0) + value
            else:
                merged.setdefault(key, value)
    return merged


def run(opts: SweepOptions) -> SweepResult:
    log_to_file(opts.db, opts.log_level)
    redis_url = opts.redis or opts.extra_settings.get("CERTWATCH_REDIS_URL") or ""
    if redis_url:      # `sweep --redis`, or a schedule whose settings name a Redis
        from crawler.distributed.coordinator import run_distributed
        return run_distributed(opts, redis_url)
    db = store.connect(opts.db)
    store.mark_abandoned_sweeps(db)
    mode = "sandbox" if opts.sandbox else "real"
    sweep_id = store.start_sweep(db, opts.platforms or ["全部"], mode, opts.keyword_filter, opts.schedule_id,
                                 kind=opts.kind)
    db.close()

    settings = crawl_settings(opts, sweep_id)
    start_judge(opts, settings)         # before the crawlers: a fork copies no running thread
    try:
        process = CrawlerProcess(settings)
        spare_scrapy_records()
        crawlers = []
        for spider in sweep_spiders(process, opts.spiders):
            crawler = process.create_crawler(spider)
            crawlers.append(crawler)
            process.crawl(crawler)
        progress = CrawlProgress(lambda: _merge([c.stats.get_stats() for c in crawlers if c.stats]), opts.view,
                                 opts.progress)
        try:
            process.start()
        finally:
            progress.close()
    finally:
        judgeproc.stop()

    stats = _merge([c.stats.get_stats() for c in crawlers if c.stats])
    reasons = [c.stats.get_value("finish_reason") for c in crawlers if c.stats]
    if any(r == "shutdown" for r in reasons):
        status = "interrupted"
    elif all(r == "finished" for r in reasons):
        status = "finished"
    else:
        status = "failed"
    if status == "finished" and set(opts.spiders) & set(SPIDERS):
        # No silent success: nothing swept, nothing reached, or nothing but refusals.
        from crawler.health import sweep_failure
        selected = [p for c in crawlers if c.stats for p in (c.stats.get_value("certwatch/platforms") or "").split(",") if p]
        why = sweep_failure(stats, selected)
        if why:
            status = "failed"
            stats["certwatch/failure"] = why
    db = store.connect(opts.db)
    store.finish_sweep(db, sweep_id, status, stats)
    db.close()
    from crawler.health import record_health
    record_health(opts.db, sweep_id, status, stats, settings.get("CERTWATCH_WEBHOOK_URL") or "",
                  opts.profiles_dir or None)
    return SweepResult(sweep_id, status, stats)
