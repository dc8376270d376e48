"""Scrapy settings for certwatch.

Environment variables are read here and nowhere else; each is commented
with the component that uses it. The command line (crawler/cli.py) passes
the same settings explicitly.
"""
import os
import shutil

from pipelines.switches import truthy  # noqa: F401  (one rule for every switch; crawler.settings.truthy for its users)


BOT_NAME = "certwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Store (pipelines.persist.StorePipeline, the CLI).
CERTWATCH_DB = os.environ.get("CERTWATCH_DB", "certwatch.db")
# Seconds a writer waits for another writer's lock before a clear error (the
# CLI) or a 503 (the console); set on pipelines.store by crawler.cli.main.
CERTWATCH_BUSY_TIMEOUT = float(os.environ.get("CERTWATCH_BUSY_TIMEOUT", "30") or 30)
# Sandbox mode: the sandbox's address; SandboxProxyMiddleware routes every
# request through it and the browser uses it as its proxy.
CERTWATCH_SANDBOX = os.environ.get("CERTWATCH_SANDBOX", "")
# Fetch guard (pipelines.netguard: crawler.middlewares, evidence capture, WHOIS
# referrals): named exceptions "host:port,host" that may be reached although
# loopback/private (local test profiles), and the decoded body cap of browser
# fetches (0 = DOWNLOAD_MAXSIZE). See docs/security.md.
CERTWATCH_GUARD_ALLOW = os.environ.get("CERTWATCH_GUARD_ALLOW", "")
CERTWATCH_GUARD_MAX_BYTES = 0
# Extra platform profiles (crawler.profiles.load_profiles).
CERTWATCH_PROFILES_DIR = os.environ.get("CERTWATCH_PROFILES_DIR", "")
# Spiders: platforms to sweep (comma list, empty = all), keyword filter, page limit.
CERTWATCH_PLATFORMS = os.environ.get("CERTWATCH_PLATFORMS", "")
CERTWATCH_KEYWORD_FILTER = os.environ.get("CERTWATCH_KEYWORD_FILTER", "")
CERTWATCH_MAX_PAGES = int(os.environ.get("CERTWATCH_MAX_PAGES", "0") or 0)  # 0 = each profile's own
# Store pipeline: items written per transaction.
CERTWATCH_STORE_BATCH = 50
# The sale classifier in its own process during a sweep (pipelines/judgeproc.py):
# "auto" when the machine has a second core; on/off force it.
CERTWATCH_JUDGE_PROCESS = os.environ.get("CERTWATCH_JUDGE_PROCESS", "auto")
# Evidence capture (pipelines.evidence.CaptureConfig.from_settings): seconds per
# item, document size cap, screenshot height cap (px), pages open at once.
CERTWATCH_EVIDENCE_TIMEOUT = float(os.environ.get("CERTWATCH_EVIDENCE_TIMEOUT", "45") or 45)
CERTWATCH_EVIDENCE_MAX_BYTES = 8 * 1024 * 1024
CERTWATCH_EVIDENCE_MAX_HEIGHT = 16000
CERTWATCH_EVIDENCE_CONCURRENCY = int(os.environ.get("CERTWATCH_EVIDENCE_CONCURRENCY", "3") or 3)
# Console (reports.console, `certwatch serve`): address to bind.
CERTWATCH_CONSOLE_HOST = os.environ.get("CERTWATCH_CONSOLE_HOST", "127.0.0.1")
CERTWATCH_CONSOLE_PORT = int(os.environ.get("CERTWATCH_CONSOLE_PORT", "8000") or 8000)
# Look-alike sites (pipelines.sitejudge.SitePipeline, crawler.spiders.sites):
# WHOIS servers "tld=host:port,..." ("*" = every other TLD; empty = the real
# registries, or in sandbox mode the sandbox's own WHOIS server), timeout in
# seconds, minimum seconds between two queries to one server, cache age in
# days before asking again, and a switch; the sites spider's candidate
# sources, its cap on generated candidates and the TLDs it permutes over.
CERTWATCH_WHOIS_SERVERS = os.environ.get("CERTWATCH_WHOIS_SERVERS", "")
CERTWATCH_WHOIS_TIMEOUT = float(os.environ.get("CERTWATCH_WHOIS_TIMEOUT", "10") or 10)
CERTWATCH_WHOIS_INTERVAL = float(os.environ.get("CERTWATCH_WHOIS_INTERVAL", "1") or 0)
CERTWATCH_WHOIS_MAX_AGE_DAYS = float(os.environ.get("CERTWATCH_WHOIS_MAX_AGE_DAYS", "30") or 30)
CERTWATCH_WHOIS_ENABLED = truthy(os.environ.get("CERTWATCH_WHOIS_ENABLED", "1"))
CERTWATCH_SITES_SOURCES = "findings,tips,generated"
CERTWATCH_SITES_LIMIT = 2000
CERTWATCH_SITES_TLDS = "cn,com,net,org,top,xyz,cc,vip,icu,shop,info,site,online,cn.com,com.cn,net.cn"
# Sweep record (crawler.extensions.SweepRecorder): id of a sweep row made by the CLI.
CERTWATCH_SWEEP_ID = int(os.environ.get("CERTWATCH_SWEEP_ID", "0") or 0)
# Keyword library filters for the spiders' queries (crawler/spiders/base.py;
# set per schedule by crawler/scheduler.py): industry, supplying department,
# add certificate-name variants, send each profile's canary query.
CERTWATCH_INDUSTRY = ""
CERTWATCH_DEPARTMENT = ""
CERTWATCH_QUERY_VARIANTS = False
CERTWATCH_CANARY = True
# Distributed sweeps (crawler/distributed/): the Redis of a deployment
# (`certwatch worker` / `ingest` default; a sweep or a schedule uses Redis
# only when given `--redis` or `--set CERTWATCH_REDIS_URL=…`), the prefix of
# its keys, a worker's heartbeat interval and the seconds after which a
# silent worker counts as dead (its requests go back to the queue), items per
# writer transaction, and seconds without progress before a sweep fails.
CERTWATCH_REDIS_URL = os.environ.get("CERTWATCH_REDIS_URL", "")
CERTWATCH_REDIS_PREFIX = os.environ.get("CERTWATCH_REDIS_PREFIX", "certwatch")
CERTWATCH_WORKER_HEARTBEAT = 2.0
CERTWATCH_WORKER_TTL = 15
CERTWATCH_INGEST_BATCH = 100
CERTWATCH_REDIS_STALL_TIMEOUT = float(os.environ.get("CERTWATCH_REDIS_STALL_TIMEOUT", "600") or 600)
# Set by `certwatch worker` for its crawl: its id, --name, --once.
CERTWATCH_WORKER_ID = ""
CERTWATCH_WORKER_NAME = ""
CERTWATCH_WORKER_ONCE = False
# Alerts (crawler/health.py): DingTalk/WeCom-style robot webhook URL; empty = store alerts only.
CERTWATCH_WEBHOOK_URL = os.environ.get("CERTWATCH_WEBHOOK_URL", "")
# Real platforms (pipelines/profiles.py): profiles with `user_agent: browser`
# send this desktop browser's User-Agent (crawler/spiders/base.py); a profile's
# `auth:` names the setting holding its token — GitHub's API token here
# (optional: higher rate limits); the longest wait for a platform's rate-limit
# headers (retry-after, x-ratelimit-reset) before a refused request is given
# up (crawler/ratelimit.py); and the loopback hosts `sweep --local` may reach
# (set from the --profiles folder's hosts; crawler/middlewares.py).
CERTWATCH_BROWSER_USER_AGENT = os.environ.get(
    "CERTWATCH_BROWSER_USER_AGENT",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36")
CERTWATCH_GITHUB_TOKEN = os.environ.get("CERTWATCH_GITHUB_TOKEN", "")
CERTWATCH_RATE_LIMIT_MAX_WAIT = float(os.environ.get("CERTWATCH_RATE_LIMIT_MAX_WAIT", "300") or 300)
CERTWATCH_LOCAL_HOSTS = ""
# A schedule's site: scope (keywords.scope_queries): search engines get every
# query as "site:HOST …" (set per schedule: --set CERTWATCH_SITE_SCOPE=github.com).
CERTWATCH_SITE_SCOPE = ""
# Contact named in the User-Agent (site operators can reach us).
CERTWATCH_CONTACT = os.environ.get("CERTWATCH_CONTACT", "certwatch@example.gov.cn")
# Removal rechecks (crawler.spiders.recheck): days after a takedown batch is
# sent when each item is revisited; screenshots of listings still present.
CERTWATCH_RECHECK_DAYS = os.environ.get("CERTWATCH_RECHECK_DAYS", "1,3,7")
CERTWATCH_RECHECK_SCREENSHOTS = truthy(os.environ.get("CERTWATCH_RECHECK_SCREENSHOTS", "1"))
CERTWATCH_RECHECK_BATCH = ""       # set by `certwatch takedown recheck --batch`
CERTWATCH_RECHECK_FORCE = False    # set by `--force`: check every requested item now
CERTWATCH_RECHECK_NOW = ""         # set by `--now`: evaluate the schedule at this time
# Scheduler follow-ups (crawler/scheduler.py): capture evidence for a scheduled
# sweep's flagged items when it ends (a schedule's own setting wins:
# `schedule add/edit --no-evidence`), and run due removal rechecks each tick
# (`certwatch scheduler --no-evidence / --no-recheck` turn either off).
CERTWATCH_SCHEDULE_EVIDENCE = truthy(os.environ.get("CERTWATCH_SCHEDULE_EVIDENCE", "1"))
CERTWATCH_SCHEDULE_RECHECK = truthy(os.environ.get("CERTWATCH_SCHEDULE_RECHECK", "1"))
# Reports (crawler.cli_reports): the monitoring unit that signs takedown
# letters, and a UTF-8 text file with the letter's legal-basis paragraph.
CERTWATCH_UNIT = os.environ.get("CERTWATCH_UNIT", "区市场监管局")
CERTWATCH_TAKEDOWN_BASIS = os.environ.get("CERTWATCH_TAKEDOWN_BASIS", "")

# Politeness and a User-Agent that names us.
# Real mode adds AutoThrottle, DOWNLOAD_DELAY 1 and 2 requests per host, and
# obeys robots.txt unless a profile says `robots: ignore` (crawler/politeness.py).
USER_AGENT = f"certwatch/0.1 (certificate-fraud monitoring; contact: {CERTWATCH_CONTACT})"
ROBOTSTXT_OBEY = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
# Items a response's output is processed with at once. Scrapy starts this
# many asyncio tasks per response whatever it yields (default 100): a page
# yields one item or a few requests, and the pipelines never wait on the
# network per item, so 1 does the same work with less scheduling
# (bench/bench_sweep.py; docs/benchmarks.md).
CONCURRENT_ITEMS = 1
# Spider middlewares certwatch does not use: DepthMiddleware only counts
# link depth (no DEPTH_LIMIT here), at a cost on every request a page yields.
SPIDER_MIDDLEWARES = {"scrapy.spidermiddlewares.depth.DepthMiddleware": None}
DOWNLOAD_DELAY = 0
AUTOTHROTTLE_ENABLED = False

# Hostile pages: bounded size, time and redirects.
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
DOWNLOAD_TIMEOUT = 20
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1
HTTPERROR_ALLOWED_CODES = [404, 410]   # removal pages are read, not dropped

# Resolve once, check every address, connect to a checked one (crawler.middlewares).
TWISTED_DNS_RESOLVER = "crawler.middlewares.GuardedResolver"

TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = os.environ.get("CERTWATCH_LOG_LEVEL", "INFO")
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
# Scrapy's request fingerprint, Referer header and stats, computed with less
# work per request (crawler/requestcost.py: the same fingerprints and
# headers; docs/benchmarks.md).
REQUEST_FINGERPRINTER_CLASS = "crawler.requestcost.Fingerprinter"
REFERRER_POLICY = "crawler.requestcost.ReferrerPolicy"
STATS_CLASS = "crawler.requestcost.StatsCollector"
FEED_EXPORT_ENCODING = "utf-8"

DOWNLOADER_MIDDLEWARES = {
    # Scrapy's OffsiteMiddleware filters by a spider's allowed_domains, which
    # no certwatch spider sets (the fetch guard below decides what may be
    # reached): it allowed everything, at a cost on every request scheduled
    # and downloaded (~2% of a sweep's CPU, docs/benchmarks.md).
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    # The fetch guard (both modes): refuse non-http(s) and private address
    # literals on every request and redirect, and hook browser pages so every
    # request they make goes through the guard; DNS is checked by
    # TWISTED_DNS_RESOLVER below.
    "crawler.middlewares.GuardMiddleware": 540,
    "crawler.middlewares.SandboxProxyMiddleware": 545,
    # Per-platform robots.txt policy and proxy, before RobotsTxtMiddleware (100).
    "crawler.politeness.PlatformPolicyMiddleware": 90,
    # Per-platform health counters and block detection, next to the downloader
    # so it sees every response (also 403/429 that HttpErrorMiddleware drops).
    "crawler.health.PlatformHealthMiddleware": 950,
    # A platform's rate-limit headers: wait, then retry once more; nearer the
    # downloader than health, so a refusal that waiting cured is not counted.
    "crawler.ratelimit.RateLimitMiddleware": 960,
}
# Turns profiles' politeness/robots fields into settings before the crawl.
ADDONS = {"crawler.politeness.Politeness": 0}

ITEM_PIPELINES = {
    # 1. Drop empty or undecodable pages first, so nothing after sees them.
    "pipelines.validate.ValidatePipeline": 100,
    # 2. Judge: normalize, extract contacts, classify (one plain function).
    "pipelines.sales.SalePipeline": 300,
    # 2b. Judge web sites (search results, the sites spider): name, page, then
    #     WHOIS only for names/pages that already look fake; before the store
    #     so the verdict is stored with the site.
    "pipelines.sitejudge.SitePipeline": 400,
    # 3. Store last: only what was judged is written, in batches.
    "pipelines.persist.StorePipeline": 900,
}

EXTENSIONS = {
    # Opens and closes the sweep row, with the crawl's stats.
    "crawler.extensions.SweepRecorder": 500,
}

# scrapy-playwright: only requests with meta["playwright"] use the browser,
# and Playwright starts on the first of them (crawler/browserhandler.py): a
# sweep of plain-HTTP platforms starts no Node driver and no Chromium.
DOWNLOAD_HANDLERS = {
    "http": "crawler.browserhandler.LazyPlaywrightHandler",
    "https": "crawler.browserhandler.LazyPlaywrightHandler",
}
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Browser: Debian's chromium where present (CERTWATCH_CHROMIUM overrides),
# else Playwright's own download.
CHROMIUM = os.environ.get("CERTWATCH_CHROMIUM") or shutil.which("chromium") or ""
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "headless": True,
    "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"],
    **({"executable_path": CHROMIUM} if CHROMIUM else {}),
}
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_MAX_CONTEXTS = 2
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 20_000
PLAYWRIGHT_ABORT_REQUEST = None
# The browser reaches nothing itself: every request of a page is fetched
# through the guard (crawler.middlewares.GuardMiddleware.page_hook); its own
# proxy is the sandbox or a dead end (pipelines.netguard.browser_proxy).
PLAYWRIGHT_LAUNCH_OPTIONS["proxy"] = {"server": CERTWATCH_SANDBOX or "http://127.0.0.1:9"}
