"""Benchmark: host names scored per second by the look-alike domain scorer,
offline, on one core (target: >= 20,000/s — a day of newly registered .cn
names in seconds).

The stream imitates newly registered names: random letter/digit strings,
pinyin and English word pairs, numbers, a few per cent look-alikes and IDN
labels, over common TLDs; every name is distinct (no cache help).

    .venv/bin/python bench/bench_domains.py [--count 200000]
"""
from __future__ import annotations

import argparse
import os
import random
import string
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.lookalike import score_host  # noqa: E402

WORDS = ("zhang wang li liu chen yang huang zhao wu zhou xu sun ma zhu hu guo he lin luo gao "
         "shop tech home mall cloud data net info yun keji fuwu jituan dianzi wuliu jiaoyu peixun "
         "kaoshi jiankang meishi lvyou fangchan qiche jinrong baoxian shanghai beijing shenzhen "
         "cx zs tzzy aqsc mem gov chaxun zhengshu").split()
TLDS = ("cn", "cn", "cn", "com.cn", "com", "com", "net", "top", "xyz", "vip", "shop", "cc", "cn.com", "net.cn")
LOOKALIKES = ("cx-mem-gov", "mohurd-cx", "cnse-samr", "tzzy-chaxun", "zlaq-mohrud", "cx-rnem-gov",
              "aqsc-zhengshu", "memgov-zs", "samr-gov")


def stream(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    out, seen = [], set()
    while len(out) < count:
        r = rng.random()
        if r < 0.45:
            name = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(rng.randint(4, 14)))
        elif r < 0.90:
            name = rng.choice(WORDS) + rng.choice(("", "-")) + rng.choice(WORDS)
            if rng.random() < 0.4:
                name += str(rng.randint(1, 9999))
        elif r < 0.97:
            name = rng.choice(LOOKALIKES) + str(rng.randint(1, 99999))
        else:
            name = "xn--" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        host = f"{name}.{rng.choice(TLDS)}"
        if host not in seen:
            seen.add(host)
            out.append(host)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})      # one core
    hosts = stream(args.count)
    score_host("warm-up.cn")
    flagged = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    for host in hosts:
        if score_host(host).flagged:
            flagged += 1
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    print(f"scored {len(hosts):,} distinct host names in {wall:.2f} s wall / {cpu:.2f} s CPU")
    print(f"throughput: {len(hosts) / wall:,.0f} hosts/s wall, {len(hosts) / cpu:,.0f} hosts/s per CPU second")
    print(f"flagged {flagged:,} ({flagged / len(hosts):.1%})")


if __name__ == "__main__":
    main()
