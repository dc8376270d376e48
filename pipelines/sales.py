"""The fake-certificate sale classifier: weighted, explainable rules.

One entry point, :func:`classify`. The text is normalized (evasion undone),
rules from ``keywords/sales_rules.yaml`` are matched, and each hit becomes a
reason (code, Chinese label, weight, the *original* span as evidence). The
score is ``100·sigmoid(bias + Σ weights)``; a listing is flagged at the
documented threshold. Intent phrases that are negated ("绝不包过") or quoted
inside news/warnings ("以'包过'为噱头") do not count.
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field

from keywords import load_yaml
from pipelines import contacts as contacts_mod
from pipelines.normalize import Normalized, normalize

INTENT_CODES = ("intent_proxy", "intent_guarantee", "intent_no_exam", "intent_absent",
                "intent_pay_after", "intent_fast", "intent_channel", "intent_id_only")
CONTEXT_CODES = ("ctx_training", "ctx_enforcement", "ctx_warning", "ctx_job", "ctx_renewal",
                 "ctx_exam", "ctx_verify_howto")
REPORTING_CODES = ("ctx_enforcement", "ctx_warning")


@dataclass(frozen=True)
class Rule:
    code: str
    label: str
    weight: float
    regex: re.Pattern | None


@dataclass(frozen=True)
class Model:
    bias: float
    threshold: int
    no_certificate_weight: float
    max_hits: int
    families: dict          # code -> (label, regex)
    generic: re.Pattern
    rules: tuple
    quote_pairs: tuple
    negators: re.Pattern
    window: int


def _compile(patterns: list[str]) -> re.Pattern | None:
    return re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None


@functools.cache
def model() -> Model:
    data = load_yaml("sales_rules.yaml")
    return Model(
        bias=float(data["bias"]), threshold=int(data["threshold"]),
        no_certificate_weight=float(data["no_certificate_weight"]),
        max_hits=int(data["max_hits_per_rule"]),
        families={code: (f["label"], _compile(f["patterns"])) for code, f in data["families"].items()},
        generic=_compile(data["generic_certificate"]),
        rules=tuple(Rule(r["code"], r["label"], float(r["weight"]), _compile(r["patterns"]))
                    for r in data["rules"]),
        quote_pairs=tuple(data["quote_pairs"]),
        negators=re.compile("(?:" + "|".join(map(re.escape, data["negators"])) + ")"),
        window=int(data["negation_window"]),
    )


@dataclass
class Result:
    flagged: bool
    score: int
    reasons: list[dict] = field(default_factory=list)
    family: str = ""
    contacts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"flagged": self.flagged, "score": self.score, "family": self.family,
                "reasons": self.reasons, "contacts": self.contacts}


def _quoted_spans(text: str, pairs: tuple) -> list[tuple[int, int]]:
    spans = []
    for pair in pairs:
        open_, close = pair[0], pair[1]
        i = 0
        while True:
            a = text.find(open_, i)
            if a < 0:
                break
            b = text.find(close, a + 1)
            if b < 0 or b - a > 40:
                i = a + 1
                continue
            spans.append((a, b))
            i = b + 1
    return spans


def _reason(code, label, weight, evidence) -> dict:
    return {"code": code, "label": label, "weight": round(weight, 2), "evidence": evidence[:80]}


def classify(text: str | None, title: str | None = None,
             site_judge=None) -> Result:
    """Classify one listing. ``site_judge(url_or_domain) -> (bool, label)`` may
    say whether a linked host impersonates an official query site."""
    m = model()
    full = ((title or "").strip() + "\n" + (text or "")).strip()
    norm: Normalized = normalize(full)
    t = norm.text
    reasons: list[dict] = []
    logit = m.bias
    if norm.truncated:
        reasons.append(_reason("truncated", "文本过长，仅分析前部", 0.0, ""))

    # Certificate context: which family (first by position), or generic.
    family, family_hit = "", None
    for code, (label, regex) in m.families.items():
        hit = regex.search(t)
        if hit and (family_hit is None or hit.start() < family_hit.start()):
            family, family_hit, family_label = code, hit, label
    if family_hit:
        reasons.append(_reason("certificate", f"证书：{family_label}", 0.0,
                               norm.span(*family_hit.span())))
    else:
        generic = m.generic.search(t)
        if generic:
            reasons.append(_reason("certificate", "证书相关用语", 0.0, norm.span(*generic.span())))
        else:
            logit += m.no_certificate_weight
            reasons.append(_reason("no_certificate", "未涉及证书", m.no_certificate_weight, ""))

    quoted = _quoted_spans(t, m.quote_pairs)
    hits: dict[str, list[re.Match]] = {}
    for rule in m.rules:
        if rule.regex is None:
            continue
        found = list(rule.regex.finditer(t))
        if found:
            hits[rule.code] = found
    reporting = any(code in hits for code in REPORTING_CODES)

    for rule in m.rules:
        found = hits.get(rule.code, [])
        counted = 0
        for hit in found:
            if counted >= m.max_hits:
                break
            weight = rule.weight
            evidence = norm.span(*hit.span())
            label = rule.label
            if rule.code in INTENT_CODES:
                before = t[max(0, hit.start() - m.window):hit.start()]
                if m.negators.search(before):
                    reasons.append(_reason(rule.code + "_negated", f"{label}（被否定或转述，不计）", 0.0, evidence))
                    continue
                if any(a < hit.start() and hit.end() <= b + 1 for a, b in quoted):
                    if reporting:
                        reasons.append(_reason(rule.code + "_quoted", f"{label}（新闻/提醒中的引用，不计）", 0.0, evidence))
                        continue
                    weight /= 2
                    label += "（引号内）"
            weight = weight / (2 ** counted)
            counted += 1
            logit += weight
            reasons.append(_reason(rule.code, label, weight, evidence))

    found_contacts = contacts_mod.extract(norm)
    personal = {k: v for k, v in found_contacts.items() if k in ("wechat", "qq", "phone", "telegram")}
    if personal and "off_platform_contact" not in hits:
        rule = next(r for r in m.rules if r.code == "off_platform_contact")
        kind, values = next(iter(personal.items()))
        logit += rule.weight
        reasons.append(_reason(rule.code, rule.label, rule.weight, f"{kind}:{values[0]}"))

    if site_judge is not None:
        rule = next(r for r in m.rules if r.code == "fake_site")
        for host in found_contacts.get("domain", []):
            bad, why = site_judge(host)
            if bad:
                logit += rule.weight
                reasons.append(_reason(rule.code, f"{rule.label}：{why}", rule.weight, host))
                break

    score = int(round(100 / (1 + math.exp(-logit))))
    return Result(flagged=score >= m.threshold, score=score, reasons=reasons,
                  family=family, contacts=found_contacts)


class SalePipeline:
    """Scrapy step: judge listing items with :func:`classify`."""

    def __init__(self, stats):
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats)

    def process_item(self, item, spider=None):
        if item.get("kind", "listing") != "listing":
            return item
        result = classify(item.get("text"), item.get("title"))
        item.update(result.as_dict())
        self.stats.inc_value("certwatch/items")
        if result.flagged:
            self.stats.inc_value("certwatch/flagged")
        return item
