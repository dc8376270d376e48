"""Run the ``recheck`` spider in this process (like crawler/sweep.py for sweeps)."""
from __future__ import annotations

from dataclasses import dataclass, field

from scrapy.crawler import CrawlerProcess

from crawler.logfile import log_to_file, quiet_scrapy, spare_scrapy_records
from crawler.progress import RECHECK, CrawlProgress
from crawler.sweep import project_settings, set_browser_proxy


@dataclass
class RecheckOptions:
    db: str
    sandbox: str = ""
    batch: int | None = None
    force: bool = False
    days: str = ""                  # '1,3,7'; empty = CERTWATCH_RECHECK_DAYS
    now: str = ""                   # evaluate the schedule at this UTC time (ISO); empty = now
    screenshots: bool = True
    profiles_dir: str = ""
    log_level: str = "WARNING"
    progress: bool = False          # on stderr (crawler.progress): checked/due, results, time left
    extra_settings: dict = field(default_factory=dict)


def run(opts: RecheckOptions) -> dict:
    log_to_file(opts.db, opts.log_level)
    settings = project_settings()
    values = {"CERTWATCH_DB": opts.db, "CERTWATCH_SANDBOX": opts.sandbox,
              "CERTWATCH_RECHECK_BATCH": "" if opts.batch is None else str(opts.batch),
              "CERTWATCH_RECHECK_FORCE": opts.force, "CERTWATCH_RECHECK_NOW": opts.now,
              "CERTWATCH_RECHECK_SCREENSHOTS": opts.screenshots, "LOG_LEVEL": opts.log_level}
    if opts.days:
        values["CERTWATCH_RECHECK_DAYS"] = opts.days
    if opts.profiles_dir:
        values["CERTWATCH_PROFILES_DIR"] = opts.profiles_dir
    for key, value in {**values, **opts.extra_settings}.items():
        settings.set(key, value, priority="cmdline")
    set_browser_proxy(settings, opts.sandbox)
    quiet_scrapy(settings)
    process = CrawlerProcess(settings)
    spare_scrapy_records()
    crawler = process.create_crawler("recheck")
    process.crawl(crawler)
    progress = CrawlProgress(lambda: crawler.stats.get_stats() if crawler.stats else {}, RECHECK, opts.progress)
    try:
        process.start()
    finally:
        progress.close()
    return crawler.stats.get_stats() if crawler.stats else {}
