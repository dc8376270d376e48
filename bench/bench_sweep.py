"""Sweep throughput: the full certwatch pipeline beside a bare Scrapy spider
fetching the same pages, and the sandbox alone.

    .venv/bin/python bench/bench_sweep.py [--scale 46] [--pages 25] [--keyword 电工证] [--replicas]

1. starts the sandbox with a scaled world (--scale copies of every listing);
2. full: `search`+`listings` over the HTTP platforms (no browser) with the
   whole pipeline (validate → classify → store), recording every URL fetched;
3. bare: a minimal Scrapy spider fetching exactly those URLs, no pipelines;
4. sandbox alone: 16 keep-alive connections fetching the same URLs.
Prints pages/s of each, their ratio and each run's peak memory (RSS).
With --replicas the full run sweeps the real platforms' replicas instead
(the real profiles, https through the sandbox proxy, generic pages, JSON).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


class RecordUrls:
    """Extension for the full run: write every fetched URL to a file."""

    def __init__(self, crawler):
        from scrapy import signals
        self.path = crawler.settings.get("BENCH_URLS_FILE")
        self.urls: list[str] = []
        crawler.signals.connect(self.response, signal=signals.response_received)
        crawler.signals.connect(self.closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def response(self, response, request, spider):
        self.urls.append(request.url)

    def closed(self, spider):
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.writelines(u + "\n" for u in self.urls)


SANDBOX_PLATFORMS = ["zhaozhao", "gongyou", "fenleixinxi"]
REPLICA_PLATFORMS = ["baidu", "bing", "sogou", "so360", "tieba", "wuba", "baixing", "huangye88", "b2b168",
                     "liebiao", "github"]


def run_full(sandbox: str, db: str, urls_file: str, pages: int, keyword: str, platforms=SANDBOX_PLATFORMS) -> dict:
    from crawler.sweep import SweepOptions, run
    t0 = time.perf_counter()
    result = run(SweepOptions(db=db, sandbox=sandbox, platforms=list(platforms),
                              max_pages=pages, keyword_filter=keyword, progress=False, log_level="ERROR",
                              extra_settings={"EXTENSIONS": {"crawler.extensions.SweepRecorder": 500,
                                                             "bench.bench_sweep.RecordUrls": 900},
                                              "BENCH_URLS_FILE": urls_file}))
    dt = time.perf_counter() - t0
    pages_done = sum(v for k, v in result.stats.items() if k.startswith("downloader/response_status_count/"))
    return {"pages": pages_done, "seconds": dt, "items": result.stats.get("certwatch/items", 0),
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def run_bare(sandbox: str, urls_file: str) -> dict:
    import scrapy
    from scrapy.crawler import CrawlerProcess

    urls = [u.strip() for u in open(urls_file, encoding="utf-8") if u.strip()]

    class Bare(scrapy.Spider):
        name = "bare"
        custom_settings = {"HTTPERROR_ALLOWED_CODES": [404, 410]}

        async def start(self):
            for u in urls:
                yield scrapy.Request(u, meta={"proxy": sandbox}, dont_filter=True)

        def parse(self, response):
            return None

    process = CrawlerProcess({"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
                              "REMOTE_CONTROL_ENABLED": False, "CONCURRENT_REQUESTS": 16,
                              "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "ROBOTSTXT_OBEY": False,
                              "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor"})
    crawler = process.create_crawler(Bare)
    process.crawl(crawler)
    t0 = time.perf_counter()
    process.start()
    dt = time.perf_counter() - t0
    pages = sum(v for k, v in crawler.stats.get_stats().items()
                if k.startswith("downloader/response_status_count/"))
    return {"pages": pages, "seconds": dt, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


async def _sandbox_load(sandbox: str, urls: list[str], conns: int = 16) -> float:
    parts = urlsplit(sandbox)
    queue = list(urls)

    async def worker():
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        while queue:
            url = queue.pop()
            writer.write(f"GET {url} HTTP/1.1\r\nHost: {urlsplit(url).netloc}\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int([l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0].split(b":")[1])
            await reader.readexactly(length)
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=46)
    ap.add_argument("--pages", type=int, default=25)
    ap.add_argument("--keyword", default="电工证", help="certificate-term filter for the queries")
    ap.add_argument("--mode", choices=["all", "full", "bare"], default="all")
    ap.add_argument("--sandbox")
    ap.add_argument("--db")
    ap.add_argument("--urls")
    ap.add_argument("--replicas", action="store_true", help="sweep the real platforms' replicas")
    args = ap.parse_args()
    if args.mode == "full":
        print(json.dumps(run_full(args.sandbox, args.db, args.urls, args.pages, args.keyword,
                                  REPLICA_PLATFORMS if args.replicas else SANDBOX_PLATFORMS)))
        return
    if args.mode == "bare":
        print(json.dumps(run_bare(args.sandbox, args.urls)))
        return

    from crawler.sandbox import process
    proc, sandbox = process.start(scale=args.scale)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls_file = os.path.join(tmp, "urls.txt")
            db = os.path.join(tmp, "bench.db")
            me = [sys.executable, __file__, "--sandbox", sandbox, "--urls", urls_file]
            full = json.loads(subprocess.run(me + ["--mode", "full", "--db", db, "--pages", str(args.pages),
                                                    "--keyword", args.keyword] + (["--replicas"] if args.replicas else []),
                                             capture_output=True, text=True, check=True, cwd=ROOT).stdout.splitlines()[-1])
            bare = json.loads(subprocess.run(me + ["--mode", "bare"], capture_output=True, text=True,
                                             check=True, cwd=ROOT).stdout.splitlines()[-1])
            urls = [u.strip() for u in open(urls_file, encoding="utf-8") if u.strip()]
            alone = asyncio.run(_sandbox_load(sandbox, urls))
    finally:
        process.stop(proc)
    f_rate = full["pages"] / full["seconds"]
    b_rate = bare["pages"] / bare["seconds"]
    print(f"world: scale {args.scale}, page limit {args.pages}; {'real platforms on replicas' if args.replicas else 'sandbox platforms'}; "
          f"pages fetched: {full['pages']} (items {full['items']})")
    print(f"full pipeline : {full['pages']:>6} pages in {full['seconds']:6.1f} s = {f_rate:7.0f} pages/s, peak RSS {full['rss_mb']:.0f} MB")
    print(f"bare scrapy   : {bare['pages']:>6} pages in {bare['seconds']:6.1f} s = {b_rate:7.0f} pages/s, peak RSS {bare['rss_mb']:.0f} MB")
    print(f"ratio full/bare: {f_rate / b_rate:.2f}")
    print(f"sandbox alone : {len(urls):>6} pages in {alone:6.1f} s = {len(urls) / alone:7.0f} pages/s (16 keep-alive connections)")


if __name__ == "__main__":
    main()
