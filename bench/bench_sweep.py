"""Sweep throughput: the full certwatch pipeline beside a bare Scrapy spider
fetching the same pages, and the sandbox alone.

    .venv/bin/python bench/bench_sweep.py [--scale 46] [--pages 25] [--keyword 电工证] [--rounds 5] [--replicas]
    .venv/bin/python bench/bench_sweep.py --mode startup     # start-up of the judging components, step by step

1. starts the sandbox with a scaled world (--scale copies of every listing);
2. full: one sweep over the HTTP platforms (no browser) with the whole
   pipeline (validate → classify → store) into a fresh database, recording
   every URL fetched;
3. bare: a minimal Scrapy spider fetching exactly those URLs, no pipelines;
4. rounds 2–5 alternate full and bare again (interleaved: a change in the
   machine's load hits both), each in a fresh process;
5. sandbox alone: 16 keep-alive connections fetching the same URLs.
Prints, per run, pages/s, CPU-ms per page and peak RSS (the crawl process and,
separately, its children: the judge process, a browser driver would show
there), and the peak PSS (shared pages split between the processes sharing
them: a forked judge shares most of its memory with the sweep) of the crawl
process alone and with its children, sampled every 0.1 s; then the
median of the rounds and the median of the per-round ratios full/bare.
With --replicas the full runs sweep the real platforms' replicas instead
(the real profiles, https through the sandbox proxy, generic pages, JSON).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
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


def _usage() -> dict:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"rss_mb": me.ru_maxrss / 1024, "children_rss_mb": kids.ru_maxrss / 1024}


SANDBOX_PLATFORMS = ["zhaozhao", "gongyou", "fenleixinxi"]
REPLICA_PLATFORMS = ["baidu", "bing", "sogou", "so360", "tieba", "wuba", "baixing", "huangye88", "b2b168",
                     "liebiao", "github"]


def run_full(sandbox: str, db: str, urls_file: str, pages: int, keyword: str, platforms=SANDBOX_PLATFORMS) -> dict:
    from crawler.sweep import SweepOptions, run
    c0 = time.process_time()
    t0 = time.perf_counter()
    result = run(SweepOptions(db=db, sandbox=sandbox, platforms=list(platforms),
                              max_pages=pages, keyword_filter=keyword, progress=False, log_level="ERROR",
                              extra_settings={"EXTENSIONS": {"crawler.extensions.SweepRecorder": 500,
                                                             "bench.bench_sweep.RecordUrls": 900},
                                              "BENCH_URLS_FILE": urls_file}))
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    pages_done = sum(v for k, v in result.stats.items() if k.startswith("downloader/response_status_count/"))
    return {"pages": pages_done, "seconds": dt, "cpu": cpu, "items": result.stats.get("certwatch/items", 0),
            "stored": result.stats.get("certwatch/stored", 0), **_usage()}


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

    # The clock starts where the full run's does (before its sweep makes its
    # CrawlerProcess and crawler): making the process and the crawler, and
    # scheduling the crawl, count for both.
    c0 = time.process_time()
    t0 = time.perf_counter()
    process = CrawlerProcess({"LOG_LEVEL": "ERROR", "TELNETCONSOLE_ENABLED": False,
                              "REMOTE_CONTROL_ENABLED": False, "CONCURRENT_REQUESTS": 16,
                              "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "ROBOTSTXT_OBEY": False,
                              "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor"})
    crawler = process.create_crawler(Bare)
    process.crawl(crawler)
    process.start()
    dt = time.perf_counter() - t0
    cpu = time.process_time() - c0
    pages = sum(v for k, v in crawler.stats.get_stats().items()
                if k.startswith("downloader/response_status_count/"))
    return {"pages": pages, "seconds": dt, "cpu": cpu, **_usage()}


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


def run_startup() -> None:
    """The sweep's judging components started step by step in this process:
    CPU seconds and peak RSS after each (``--mode startup``)."""
    t = t0 = time.process_time()

    def step(name, fn):
        nonlocal t
        fn()
        now = time.process_time()
        print(f"{name:28s} {now - t:5.2f} s CPU, peak RSS {_usage()['rss_mb']:4.0f} MB")
        t = now

    step("import scrapy", lambda: __import__("scrapy.crawler"))
    step("import crawler.browserhandler", lambda: __import__("crawler.browserhandler"))
    step("import pipelines.store", lambda: __import__("pipelines.store"))
    step("import pipelines.sales", lambda: __import__("pipelines.sales"))
    step("import pipelines.lookalike", lambda: __import__("pipelines.lookalike"))
    from pipelines import lookalike, normalize, profiles, sales, salesmodel, segment
    step("jieba tokenizer", segment.tokenizer)
    step("normalize tables", lambda: (normalize.tables(), normalize._changing(), normalize._homophone_re()))
    step("classifier models", lambda: (sales.model(), salesmodel.model()))
    step("look-alike registry", lookalike.registry)
    step("profiles loaded 5 times", lambda: [profiles.load_profiles() for _ in range(5)])
    print(f"{'total':28s} {time.process_time() - t0:5.2f} s CPU, peak RSS {_usage()['rss_mb']:4.0f} MB; loaded: "
          + (", ".join(m for m in ("numpy", "pkg_resources", "pypinyin", "scrapy_playwright") if m in sys.modules)
             or "none of numpy, pkg_resources, pypinyin, scrapy_playwright"))


class _PssWatch:
    """Peak proportional set size (PSS: shared pages split between the
    processes sharing them) of a run's process and of it together with its
    children (the judge process, a browser driver), sampled every 0.1 s."""

    def __init__(self, pid: int):
        self.pid = pid
        self.own = self.total = 0

    @staticmethod
    def _pss_kb(pid: int) -> int:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as fh:
                return next((int(line.split()[1]) for line in fh if line.startswith("Pss:")), 0)
        except OSError:
            return 0

    def _children(self) -> list[int]:
        try:
            with open(f"/proc/{self.pid}/task/{self.pid}/children", encoding="ascii") as fh:
                return [int(p) for p in fh.read().split()]
        except OSError:
            return []

    def sample(self) -> None:
        own = self._pss_kb(self.pid)
        total = own + sum(self._pss_kb(c) for c in self._children())
        self.own, self.total = max(self.own, own), max(self.total, total)

    def peaks(self) -> dict:
        return {"pss_mb": self.own / 1024, "pss_total_mb": self.total / 1024}


def _line(name: str, r: dict) -> str:
    return (f"{name:<12} {r['pages']:>6} pages in {r['seconds']:6.1f} s = {r['pages'] / r['seconds']:6.0f} pages/s, "
            f"{r['cpu'] * 1000 / r['pages']:5.2f} CPU-ms/page, peak RSS {r['rss_mb']:4.0f} MB"
            f" (children {r['children_rss_mb']:.0f} MB); PSS {r.get('pss_mb', 0):4.0f} MB,"
            f" with its children {r.get('pss_total_mb', 0):4.0f} MB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=46)
    ap.add_argument("--pages", type=int, default=25)
    ap.add_argument("--keyword", default="电工证", help="certificate-term filter for the queries")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--replicas", action="store_true", help="sweep the real platforms' replicas")
    ap.add_argument("--mode", choices=["all", "full", "bare", "startup"], default="all")
    ap.add_argument("--sandbox")
    ap.add_argument("--db")
    ap.add_argument("--urls")
    args = ap.parse_args()
    if args.mode == "full":
        print(json.dumps(run_full(args.sandbox, args.db, args.urls, args.pages, args.keyword,
                                  REPLICA_PLATFORMS if args.replicas else SANDBOX_PLATFORMS)))
        return
    if args.mode == "bare":
        print(json.dumps(run_bare(args.sandbox, args.urls)))
        return
    if args.mode == "startup":
        run_startup()
        return

    from crawler.sandbox import process
    proc, sandbox = process.start(scale=args.scale)
    fulls, bares = [], []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            urls_file = os.path.join(tmp, "urls.txt")
            me = [sys.executable, __file__, "--sandbox", sandbox]

            def child(*extra) -> dict:
                with tempfile.TemporaryFile("w+") as out:
                    proc = subprocess.Popen(me + list(extra), stdout=out, stderr=subprocess.DEVNULL, text=True,
                                            cwd=ROOT)
                    pss = _PssWatch(proc.pid)
                    while proc.poll() is None:
                        pss.sample()
                        time.sleep(0.1)
                    if proc.returncode:
                        raise SystemExit(f"{extra[:2]} exited with {proc.returncode}")
                    out.seek(0)
                    return {**json.loads(out.read().splitlines()[-1]), **pss.peaks()}

            print(f"world: scale {args.scale}, page limit {args.pages}, keyword {args.keyword}; "
                  f"{args.rounds} interleaved rounds")
            for k in range(args.rounds):
                urls = urls_file if k == 0 else os.path.join(tmp, "urls-again.txt")
                full = child("--mode", "full", "--db", os.path.join(tmp, f"bench{k}.db"), "--urls", urls,
                             "--pages", str(args.pages), "--keyword", args.keyword,
                             *(["--replicas"] if args.replicas else []))
                bare = child("--mode", "bare", "--urls", urls_file)
                fulls.append(full)
                bares.append(bare)
                print(f"round {k + 1}: " + _line("full", full) + f", items {full['items']}, stored {full['stored']}")
                print(f"         " + _line("bare scrapy", bare)
                      + f"  ratio {full['pages'] / full['seconds'] / (bare['pages'] / bare['seconds']):.2f}")
            urls = [u.strip() for u in open(urls_file, encoding="utf-8") if u.strip()]
            alone = asyncio.run(_sandbox_load(sandbox, urls))
    finally:
        process.stop(proc)

    def med(runs, fn):
        return statistics.median(fn(r) for r in runs)

    ratios = [(f["pages"] / f["seconds"]) / (b["pages"] / b["seconds"]) for f, b in zip(fulls, bares)]
    cpu_f = med(fulls, lambda r: r["cpu"] * 1000 / r["pages"])
    cpu_b = med(bares, lambda r: r["cpu"] * 1000 / r["pages"])
    print(f"median of {args.rounds} rounds:")
    print(f"  full pipeline : {med(fulls, lambda r: r['pages'] / r['seconds']):7.0f} pages/s, {cpu_f:5.2f} CPU-ms/page, "
          f"peak RSS {med(fulls, lambda r: r['rss_mb']):.0f} MB (children {max(r['children_rss_mb'] for r in fulls):.0f} MB), "
          f"peak PSS {med(fulls, lambda r: r['pss_mb']):.0f} MB, with its children "
          f"{med(fulls, lambda r: r['pss_total_mb']):.0f} MB")
    print(f"  bare scrapy   : {med(bares, lambda r: r['pages'] / r['seconds']):7.0f} pages/s, {cpu_b:5.2f} CPU-ms/page, "
          f"peak RSS {med(bares, lambda r: r['rss_mb']):.0f} MB, peak PSS {med(bares, lambda r: r['pss_mb']):.0f} MB")
    print(f"  ratio full/bare pages/s: {statistics.median(ratios):.2f} (rounds: "
          + ", ".join(f"{r:.2f}" for r in ratios) + f"); CPU per page {cpu_f / cpu_b:.2f}×")
    print(f"  sandbox alone : {len(urls):>6} pages in {alone:6.1f} s = {len(urls) / alone:7.0f} pages/s "
          "(16 keep-alive connections)")


if __name__ == "__main__":
    main()
