"""Main-text extraction for pages without a platform profile: trafilatura
beside readability-lxml on the sandbox replicas' pages.

    .venv/bin/python bench/bench_extract.py [--repeat 5]

Pages: every article page of the replicas' open web (one listing inside
navigation, a sidebar and a footer), every Discuz! thread and every GitHub
issue page (several posts each). For each library and page: recall = share
of the page's listing texts found whole in the extracted text; clean = the
extracted text holds none of the page's boilerplate (navigation, sidebar,
footer words); time per page (median of --repeat runs).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOILERPLATE = ("热门资讯", "推荐阅读", "ICP备", "关于我们", "Powered by", "功能", "条款", "分享到")


def squash(text: str) -> str:
    return "".join((text or "").split())


def trafilatura_with(**options):
    def extract(html: str) -> str:
        import trafilatura
        return trafilatura.extract(html, include_tables=True, **options) or ""
    return extract


# certwatch's choice (pipelines/generic.py) first.
EXTRACTORS = (
    ("trafilatura recall+comments", trafilatura_with(favor_recall=True, include_comments=True)),
    ("trafilatura default", trafilatura_with(include_comments=False)),
    ("trafilatura precision", trafilatura_with(favor_precision=True, include_comments=False)),
)


def with_readability(html: str) -> str:
    from lxml import html as lxml_html
    from readability import Document
    summary = Document(html).summary(html_partial=True)
    return lxml_html.fromstring(summary).text_content() if summary.strip() else ""


def pages(sandbox: str) -> list[tuple[str, str, list[str]]]:
    """(kind, html, listing texts on the page) for every replica page of the open web."""
    from crawler.sandbox.replicas.corpus import corpus
    from crawler.sandbox.world import world
    from tests.helpers import sandbox_fetch
    c = corpus(world())
    out = []
    for listing in c.articles:
        status, _, body = sandbox_fetch(sandbox, c.url_of(listing))
        if status == 200:
            out.append(("article", body.decode("utf-8"), [listing.text]))
    for thread in c.threads:
        status, _, body = sandbox_fetch(sandbox, thread.url)
        if status == 200:
            out.append(("thread", body.decode("utf-8"), [l.text for l in thread.posts if c.live(l)]))
    for issue in c.issues:
        status, _, body = sandbox_fetch(sandbox, issue.html_url.replace("https://", "http://"))
        if status == 200:
            out.append(("issue", body.decode("utf-8"), [l.text for l in issue.posts if c.live(l)]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from crawler.sandbox import process
    proc, sandbox = process.start()
    try:
        corpus_pages = pages(sandbox)
    finally:
        process.stop(proc)
    print(f"pages: {len(corpus_pages)} ({', '.join(f'{k} {sum(1 for p in corpus_pages if p[0] == k)}' for k in ('article', 'thread', 'issue'))})")
    for name, extract in (*EXTRACTORS, ("readability-lxml", with_readability)):
        extract(corpus_pages[0][1])                       # imports and first-call set-up outside the timing
        by_kind: dict[str, list] = {}
        times = []
        for kind, html, texts in corpus_pages:
            runs = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                got = extract(html)
                runs.append(time.perf_counter() - t0)
            times.append(statistics.median(runs))
            flat = squash(got)
            recall = sum(1 for t in texts if squash(t) in flat) / len(texts)
            clean = not any(b in got for b in BOILERPLATE)
            by_kind.setdefault(kind, []).append((recall, clean))
        for kind, rows in by_kind.items():
            print(f"{name:28s} {kind:8s} recall {statistics.mean(r for r, _ in rows):.2f}  "
                  f"clean {sum(1 for _, c in rows if c)}/{len(rows)}")
        print(f"{name:28s} time per page: median {statistics.median(times) * 1000:.1f} ms, "
              f"mean {statistics.mean(times) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
