"""A profile's detail text: today's lines (``platform_pages.block_text`` over
lxml smart strings) beside the one-line join it replaced (every text node
stripped and joined by a space), CPU per page, on the sandbox's long forum
thread (crawler/sandbox/longthreads.py) and on hostile shapes (100,000
inline nodes, 100,000 blocks, 250 levels of nesting 400 times). Parsing is
not counted (a fresh Selector per run, built beforehand).

    .venv/bin/python bench/bench_detail_text.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CSS = "div.post-content ::text"


def one_line(sel) -> str:
    from pipelines.fastcss import css_strings
    return " ".join(t.strip() for t in css_strings(sel, CSS) if t and t.strip())[:100_000]


def lines(sel) -> str:
    from pipelines.fastcss import css_text_nodes
    from pipelines.platform_pages import block_text
    return block_text(css_text_nodes(sel, CSS))


def pages() -> dict[str, tuple[str, int]]:
    from crawler.sandbox import longthreads
    from crawler.sandbox.world import World
    app = types.SimpleNamespace(w=World())
    wrap = '<html><body><div class="post-content">{}</div></body></html>'.format
    return {"long thread (sandbox)": (longthreads.thread(app, "guide-ad"), 300),
            "100k inline nodes": (wrap("<span>字</span>" * 100_000), 3),
            "100k blocks": (wrap("<div>字</div>" * 100_000), 3),
            "250 deep x400": (wrap(("<div>字" * 250 + "</div>" * 250) * 400), 3)}


def cpu_per_page(fn, html: str, n: int) -> float:
    from parsel import Selector
    sels = [Selector(text=html) for _ in range(n)]
    t = time.process_time()
    for s in sels:
        fn(s)
    return (time.process_time() - t) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print(f"{'page':24} {'one-line join':>14} {'lines':>10} {'ratio':>6}  (CPU ms per page, least of {args.rounds} rounds)")
    for name, (html, n) in pages().items():
        old = min(cpu_per_page(one_line, html, n) for _ in range(args.rounds))
        new = min(cpu_per_page(lines, html, n) for _ in range(args.rounds))
        print(f"{name:24} {old * 1000:14.3f} {new * 1000:10.3f} {new / old:6.1f}")


if __name__ == "__main__":
    main()
