"""Generated candidates: flattened permutations of the official hosts.

Permutation engines keep almost every permutation of a gov.cn name under
gov.cn, which nobody can register. So the official hosts are first
flattened into registrable names (cx.mem.gov.cn → cx-mem-gov, cxmemgov,
mem-gov, cxmem …) and those are fed to dnstwist's fuzzers over a TLD list
(including cn.com / com.cn, where "mem-gov.cn.com" lives). Only candidates
the look-alike scorer flags are kept."""
from __future__ import annotations

import logging

from pipelines.lookalike import registry, score_host

log = logging.getLogger(__name__)


def flattened_seeds() -> list[str]:
    reg = registry()
    seeds: list[str] = []
    for host, key in reg.official_hosts.items():
        labels = [l.replace("-", "") for l in host.split(".")]
        if host.endswith(".gov.cn"):
            labels = labels[:-1]            # keep "gov", drop "cn": cx-mem-gov
        own = set(reg.sites[key]["tokens"].get("strong", []) + reg.sites[key]["tokens"].get("weak", []))
        for i in range(len(labels)):
            for j in range(i + 1, len(labels) + 1):
                run = labels[i:j]
                if not own & set(run) or (len(run) == 1 and run[0] in ("gov",)):
                    continue
                for sep in ("-", ""):
                    name = sep.join(run)
                    if name not in seeds:
                        seeds.append(name)
    return seeds


def generate(tlds: list[str], limit: int = 2000) -> list[str]:
    """Look-alike candidates, most direct first (the flattened names on each
    TLD), then dnstwist's permutations; at most ``limit``."""
    from dnstwist import Fuzzer
    out: dict[str, None] = {}
    seeds = flattened_seeds()
    for seed in seeds:
        for tld in tlds:
            out.setdefault(f"{seed}.{tld}")
    for seed in seeds:
        if len(out) >= limit * 3:
            break
        try:
            fuzz = Fuzzer(f"{seed}.{tlds[0] if tlds else 'cn'}", dictionary=[], tld_dictionary=list(tlds))
            fuzz.generate()
        except Exception as exc:       # dnstwist is a one-file tool that raises anything
            log.warning("dnstwist 生成失败：%s %s", seed, exc)
            continue
        for d in fuzz.domains:
            out.setdefault(d["domain"])
    kept = [d for d in out if score_host(d).flagged]
    return kept[:limit]
