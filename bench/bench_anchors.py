"""certwatch's own steps beside the libraries they are built on, in one run
(ratios on the same machine at the same moment are the figures that carry
over between machines):

- the sale classifier (classify) vs ``jieba.lcut`` alone on the same listings;
- the look-alike host scorer (score_host) vs ``tldextract`` alone on the same hosts;
- site candidates (candidates.generate: dnstwist's permutations, each scored)
  vs dnstwist's Fuzzer alone on the same seeds.

    .venv/bin/python bench/bench_anchors.py [--listings 3000] [--hosts 30000]

Per CPU second (process time), median of 3 interleaved rounds.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def rate(fn, items) -> float:
    t0 = time.process_time()
    for x in items:
        fn(x)
    return len(items) / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--listings", type=int, default=3000)
    ap.add_argument("--hosts", type=int, default=30000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    import jieba
    import tldextract
    from dnstwist import Fuzzer
    from bench_classify import generate
    from bench_domains import stream
    from pipelines import candidates, segment
    from pipelines.lookalike import score_host
    from pipelines.sales import classify

    listings = [f"{t}\n{x}" for t, x in generate(args.listings)]
    hosts = stream(args.hosts)
    tk = segment.tokenizer()
    extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    tlds = ["cn", "com", "net", "top"]
    # warm-up: dictionaries, registries, regexes
    classify(listings[0]); tk.lcut(listings[0]); jieba.lcut("预热"); score_host(hosts[0]); extract(hosts[0])

    def fuzz(seed):
        f = Fuzzer(f"{seed}.{tlds[0]}", dictionary=[], tld_dictionary=tlds)
        f.generate()
        return f.domains

    pairs = {
        "classifier vs jieba.lcut (listings/CPU-s)": (classify, tk.lcut, listings),
        "host scorer vs tldextract (hosts/CPU-s)": (score_host, extract, hosts),
    }
    for label, (ours, anchor, items) in pairs.items():
        mine, base = [], []
        for _ in range(args.rounds):
            mine.append(rate(ours, items))
            base.append(rate(anchor, items))
        m, b = statistics.median(mine), statistics.median(base)
        print(f"{label:45} certwatch {m:10,.0f}   anchor {b:10,.0f}   ratio {m / b:5.2f}×")
    # Site candidates: every seed's dnstwist permutations, each scored, vs
    # dnstwist generating the same permutations alone.
    seeds = candidates.flattened_seeds()
    mine, base = [], []
    for _ in range(args.rounds):
        t0 = time.process_time()
        candidates.generate(tlds, limit=10 ** 6)
        mine.append(time.process_time() - t0)
        t0 = time.process_time()
        for seed in seeds:
            fuzz(seed)
        base.append(time.process_time() - t0)
    m, b = statistics.median(mine), statistics.median(base)
    print(f"{'site candidates vs dnstwist (CPU-s, all seeds)':45} certwatch {m:10.2f}   anchor {b:10.2f}"
          f"   ratio {b / m:5.2f}× (speed)")


if __name__ == "__main__":
    main()
