"""Scrapy settings for certwatch.

Environment variables are read here and nowhere else; each is commented
with the component that uses it. The command line (crawler/cli.py) passes
the same settings explicitly.
"""
import os
import shutil

BOT_NAME = "certwatch"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Store (pipelines.persist.StorePipeline, the CLI).
CERTWATCH_DB = os.environ.get("CERTWATCH_DB", "certwatch.db")
# Sandbox mode: the sandbox's address; SandboxProxyMiddleware routes every
# request through it and the browser uses it as its proxy.
CERTWATCH_SANDBOX = os.environ.get("CERTWATCH_SANDBOX", "")
# Extra platform profiles (crawler.profiles.load_profiles).
CERTWATCH_PROFILES_DIR = os.environ.get("CERTWATCH_PROFILES_DIR", "")
# Spiders: platforms to sweep (comma list, empty = all), keyword filter, page limit.
CERTWATCH_PLATFORMS = os.environ.get("CERTWATCH_PLATFORMS", "")
CERTWATCH_KEYWORD_FILTER = os.environ.get("CERTWATCH_KEYWORD_FILTER", "")
CERTWATCH_MAX_PAGES = int(os.environ.get("CERTWATCH_MAX_PAGES", "0") or 0)  # 0 = each profile's own
# Store pipeline: items written per transaction.
CERTWATCH_STORE_BATCH = 50
# Sweep record (crawler.extensions.SweepRecorder): id of a sweep row made by the CLI.
CERTWATCH_SWEEP_ID = int(os.environ.get("CERTWATCH_SWEEP_ID", "0") or 0)

# Politeness and a User-Agent that names us.
USER_AGENT = "certwatch/0.1 (+证书涉假网络监测; 联系: 区市场监管局网络监测组)"
ROBOTSTXT_OBEY = False
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 8
DOWNLOAD_DELAY = 0
AUTOTHROTTLE_ENABLED = False

# Hostile pages: bounded size, time and redirects.
DOWNLOAD_MAXSIZE = 4 * 1024 * 1024
DOWNLOAD_WARNSIZE = 1024 * 1024
DOWNLOAD_TIMEOUT = 20
REDIRECT_MAX_TIMES = 5
RETRY_TIMES = 1
HTTPERROR_ALLOWED_CODES = [404, 410]   # removal pages are read, not dropped

TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = os.environ.get("CERTWATCH_LOG_LEVEL", "INFO")
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"

DOWNLOADER_MIDDLEWARES = {
    # Sandbox: route through the sandbox proxy; real mode: refuse private addresses.
    "crawler.middlewares.AddressGuardMiddleware": 540,
    "crawler.middlewares.SandboxProxyMiddleware": 545,
}

ITEM_PIPELINES = {
    # 1. Drop empty or undecodable pages first, so nothing after sees them.
    "pipelines.validate.ValidatePipeline": 100,
    # 2. Judge: normalize, extract contacts, classify (one plain function).
    "pipelines.sales.SalePipeline": 300,
    # 3. Store last: only what was judged is written, in batches.
    "pipelines.persist.StorePipeline": 900,
}

EXTENSIONS = {
    # Opens and closes the sweep row, with the crawl's stats.
    "crawler.extensions.SweepRecorder": 500,
}

# scrapy-playwright: only requests with meta["playwright"] use the browser.
DOWNLOAD_HANDLERS = {
    "http": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
    "https": "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler",
}
TWISTED_REACTOR = "twisted.internet.asyncioreactor.AsyncioSelectorReactor"
# Browser: Debian's chromium where present (CERTWATCH_CHROMIUM overrides),
# else Playwright's own download.
_CHROMIUM = os.environ.get("CERTWATCH_CHROMIUM") or shutil.which("chromium") or ""
PLAYWRIGHT_BROWSER_TYPE = "chromium"
PLAYWRIGHT_LAUNCH_OPTIONS = {
    "headless": True,
    "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run"],
    **({"executable_path": _CHROMIUM} if _CHROMIUM else {}),
}
PLAYWRIGHT_MAX_PAGES_PER_CONTEXT = 4
PLAYWRIGHT_MAX_CONTEXTS = 2
PLAYWRIGHT_DEFAULT_NAVIGATION_TIMEOUT = 20_000
PLAYWRIGHT_ABORT_REQUEST = None
if CERTWATCH_SANDBOX:
    PLAYWRIGHT_LAUNCH_OPTIONS["proxy"] = {"server": CERTWATCH_SANDBOX}
