"""The fake-certificate sale classifier: weighted, explainable rules, and a
small text model where the rules are unsure.

One entry point, :func:`classify`. The text is normalized (evasion undone),
rules from ``keywords/sales_rules.yaml`` are matched, and each hit becomes a
reason (code, Chinese label, weight, the *original* span as evidence). When
the rules' log-odds lie in ``text_model_band``, the character-bigram model
of :mod:`pipelines.salesmodel` adds its own (one more reason, "文本模型").
The score is ``100·sigmoid(bias + Σ weights)``; a listing is flagged at the
documented threshold. Intent phrases that are negated ("绝不包过") or quoted
inside news/warnings ("以'包过'为噱头") do not count.
"""
from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass, field

from keywords import load_yaml
from pipelines import contacts as contacts_mod
from pipelines import judgeproc, salesmodel, segment
from pipelines.fastre import MultiScanner, scanner
from pipelines.normalize import Normalized, normalize

INTENT_CODES = ("intent_proxy", "intent_guarantee", "intent_no_exam", "intent_absent",
                "intent_pay_after", "intent_fast", "intent_channel", "intent_id_only", "intent_record",
                "intent_forge", "intent_lend")
CONTEXT_CODES = ("ctx_training", "ctx_enforcement", "ctx_warning", "ctx_job", "ctx_renewal",
                 "ctx_exam", "ctx_verify_howto")
REPORTING_CODES = ("ctx_enforcement", "ctx_warning")


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    label: str
    weight: float


@dataclass(frozen=True, slots=True)
class Model:
    bias: float
    threshold: int
    no_certificate_weight: float
    no_certificate_cap: float   # log-odds ceiling of a text with no in-scope certificate
    hint_weight: float      # no certificate word, but talk of 上岗/进场/考试 …
    hints: object           # a fastre.Scanner, searched only when no certificate word
    lone_certificate: re.Pattern   # "⚡证": 证 standing alone
    max_hits: int
    intent_multipliers: tuple
    context_window: int
    families: dict          # code -> Chinese label
    quote_pairs: tuple      # (opening mark, regex) per quote pair
    negators: re.Pattern
    context_negators: re.Pattern
    window: int
    official_hosts: frozenset
    official_suffixes: tuple
    site_claim: re.Pattern
    site_claim_window: int
    scanner: MultiScanner
    claim_rules: tuple      # intents and the verification promise, in file order
    context_rules: tuple    # ctx_*, in file order
    by_code: dict           # code -> Rule
    clause_start: re.Pattern   # everything up to the last clause break
    family_keys: tuple      # (code, scanner key, reason label)
    generic_family: tuple   # (code, label) of 综合/各类证件, tried after the named families
    certificate_keys: tuple  # scanner keys whose hits inside an out-of-scope document do not count
    model_band: tuple       # the text model is consulted when the rules' log-odds lie here
    evasive: object         # evasive_contact's patterns (one fastre Scanner), matched on the original text


def _alternation(patterns: list[str]) -> str | None:
    """One regex for a rule's patterns."""
    return "|".join(f"(?:{p})" for p in patterns) if patterns else None


def _multi(data: dict) -> MultiScanner:
    """Every rule, family and the generic certificate words in one scanner."""
    patterns = {r["code"]: _alternation(r.get("patterns") or []) for r in data["rules"]}
    patterns.update({"family:" + code: _alternation(f["patterns"]) for code, f in data["families"].items()})
    patterns["generic"] = _alternation(data["generic_certificate"])
    patterns["family:" + data["generic_family"]["code"]] = _alternation(data["generic_family"]["patterns"])
    patterns["out_of_scope"] = _alternation(data["out_of_scope"])
    patterns["not_certificate"] = _alternation(data["not_certificates"])
    return MultiScanner({key: re.compile(p) for key, p in patterns.items() if p})


@functools.cache
def model() -> Model:
    data = load_yaml("sales_rules.yaml")
    rules = tuple(Rule(r["code"], r["label"], float(r["weight"])) for r in data["rules"])
    families = {code: f["label"] for code, f in data["families"].items()}
    hints = _alternation(data.get("certificate_hints") or [])
    return Model(
        bias=float(data["bias"]), threshold=int(data["threshold"]),
        no_certificate_weight=float(data["no_certificate_weight"]),
        no_certificate_cap=float(data["no_certificate_cap"]),
        hint_weight=float(data.get("certificate_hint_weight", data["no_certificate_weight"])),
        hints=scanner(re.compile(hints)) if hints else None,
        lone_certificate=re.compile(data["lone_certificate"]),
        max_hits=int(data["max_hits_per_rule"]),
        intent_multipliers=tuple(float(x) for x in data["intent_multipliers"]),
        context_window=int(data["context_window"]),
        families=families,
        quote_pairs=_quote_regexes(data["quote_pairs"]),
        negators=re.compile("(?:" + "|".join(map(re.escape, data["negators"])) + ")"),
        context_negators=re.compile("(?:" + "|".join(map(re.escape, data["negators"] + data["context_negators"])) + ")$"),
        window=int(data["negation_window"]),
        official_hosts=frozenset(data["official_hosts"]),
        official_suffixes=tuple(data["official_suffixes"]),
        site_claim=re.compile("|".join(re.escape(w) for w in data["site_claim_words"])),
        site_claim_window=int(data["site_claim_window"]),
        scanner=_multi(data),
        claim_rules=tuple(r for r in rules if r.code in INTENT_CODES or r.code == "verify_promise"),
        context_rules=tuple(r for r in rules if r.code.startswith("ctx_")),
        by_code={r.code: r for r in rules},
        model_band=tuple(float(x) for x in data.get("text_model_band", (-5, 5))),
        family_keys=tuple((code, "family:" + code, f"证书：{label}") for code, label in families.items()),
        generic_family=(data["generic_family"]["code"], data["generic_family"]["label"]),
        certificate_keys=("generic", "family:" + data["generic_family"]["code"],
                          *("family:" + code for code in families)),
        clause_start=re.compile("(?s).*[" + re.escape(data["clause_breaks"]) + "]"),
        evasive=scanner(re.compile(_alternation(next(r for r in data["rules"] if r["code"] == "evasive_contact")
                                                ["original_patterns"]))),
    )


@dataclass(slots=True)
class Result:
    flagged: bool
    score: int
    reasons: list[dict] = field(default_factory=list)
    family: str = ""
    contacts: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"flagged": self.flagged, "score": self.score, "family": self.family,
                "reasons": self.reasons, "contacts": self.contacts}


def _quote_regexes(pairs) -> tuple:
    """Per quote pair: an opening mark, then the first closing mark at most
    40 characters on (a longer "quote" is a stray mark, not a quotation)."""
    return tuple((pair[0], re.compile(f"{re.escape(pair[0])}[^{re.escape(pair[1])}]{{0,39}}{re.escape(pair[1])}"))
                 for pair in pairs)


def _quoted_spans(text: str, quotes: tuple) -> list[tuple[int, int]]:
    """(opening, closing) positions of the quotations in ``text``."""
    return [(q.start(), q.end() - 1) for opening, regex in quotes if opening in text
            for q in regex.finditer(text)]


def _reason(code, label, weight, evidence) -> dict:
    return {"code": code, "label": label, "weight": round(weight, 2), "evidence": evidence[:80]}


def is_official_host(host: str) -> bool:
    m = model()
    host = host.lower().rstrip(".")
    return host in m.official_hosts or any(host.endswith(s) for s in m.official_suffixes) \
        or any(host.endswith("." + h) for h in m.official_hosts)


@functools.cache
def _default_site_judge():
    """The look-alike scorer's judgement (imported lazily: it loads a registry)."""
    from pipelines.lookalike import site_judge
    return site_judge


def _clause_before(t: str, start: int, m: Model) -> str:
    """The part of ``t`` before ``start`` (at most ``m.window`` characters)
    that lies in the same clause."""
    before = t[max(0, start - m.window):start]
    cut = m.clause_start.match(before)
    return before[cut.end():] if cut else before


def _certificate(hits: dict, norm: Normalized, m: Model, reasons: list) -> tuple[str, float]:
    """Which certificate family the text is about (first by position), or a
    generic certificate word, or neither (a negative weight)."""
    family, family_hit, family_label = "", None, ""
    for code, key, label in m.family_keys:
        found = hits.get(key)
        if found and (family_hit is None or found[0].start() < family_hit.start()):
            family, family_hit, family_label = code, found[0], label
    if family_hit:
        reasons.append(_reason("certificate", family_label, 0.0, norm.span(*family_hit.span())))
        return family, 0.0
    code, label = m.generic_family
    generic = hits.get("family:" + code)
    if generic:
        reasons.append(_reason("certificate", f"证书：{label}", 0.0, norm.span(*generic[0].span())))
        return code, 0.0
    generic = hits.get("generic")
    if generic:
        reasons.append(_reason("certificate", "证书相关用语", 0.0, norm.span(*generic[0].span())))
        return "", 0.0
    outside = hits.get("out_of_scope")
    if outside:
        reasons.append(_reason("no_certificate", "只涉及范围外的证件、考试或业务（毕业证、驾驶证、非安全生产考试、"
                                                 "贷款、电话卡等），不构成发现",
                               m.no_certificate_weight, norm.span(*outside[0].span())))
        return "", m.no_certificate_weight
    lone = m.lone_certificate.search(norm.text)
    if lone:
        reasons.append(_reason("certificate", "证书相关用语", 0.0, norm.span(*lone.span())))
        return "", 0.0
    hint = m.hints.search(norm.text) if m.hints is not None else None
    if hint:
        reasons.append(_reason("no_certificate", "未直接提到证书（但涉及上岗、进场或考试）", m.hint_weight,
                               norm.span(*hint.span())))
        return "", m.hint_weight
    reasons.append(_reason("no_certificate", "未涉及证书", m.no_certificate_weight, ""))
    return "", m.no_certificate_weight


def _drop_inside(hits: dict, outside: list, keys: tuple) -> None:
    """Certificate words that are part of an out-of-scope document's name
    ("证书" in 毕业证书, "考证" in 准考证) are no certificate of ours."""
    # The scanner's matches of one pattern are in order and do not overlap:
    # the one span that can hold a hit is the last starting at or before it.
    starts = [o.start() for o in outside]
    ends = [o.end() for o in outside]

    def inside(h) -> bool:
        k = bisect.bisect_right(starts, h.start()) - 1
        return k >= 0 and h.end() <= ends[k]

    for key in keys:
        found = hits.get(key)
        if found:
            kept = [h for h in found if not inside(h)]
            if kept:
                hits[key] = kept
            else:
                del hits[key]


def _claims(hits: dict, norm: Normalized, m: Model, reporting: bool, reasons: list) -> tuple[float, list]:
    """Intents and promises: negation, quotation, then decreasing
    multipliers. Returns (added weight, positions of the counted hits)."""
    t = norm.text
    claims = []                     # (weight, rule, match, label)
    quoted = None
    for rule in m.claim_rules:
        found = hits.get(rule.code)
        if not found:
            continue
        for hit in found[:m.max_hits]:
            s, e = hit.span()
            if e - s <= 2 and not segment.at_boundaries(t, s, e):
                continue                 # "包过" inside "面包过期" is no intent
            if m.negators.search(_clause_before(t, s, m)):
                reasons.append(_reason(rule.code + "_negated", f"{rule.label}（被否定或转述，不计）", 0.0,
                                       norm.span(s, e)))
                continue
            weight, label = rule.weight, rule.label
            if quoted is None:
                quoted = _quoted_spans(t, m.quote_pairs)
            if any(a < s and e <= b + 1 for a, b in quoted):
                if reporting:
                    reasons.append(_reason(rule.code + "_quoted", f"{label}（新闻/提醒中的引用，不计）", 0.0,
                                           norm.span(s, e)))
                    continue
                weight, label = weight / 2, label + "（引号内）"
            claims.append((weight, rule, hit, label))
    if not claims:
        return 0.0, []
    # One rule counts once at full strength; repeats of a rule count less.
    seen: dict[str, int] = {}
    ordered = []
    for weight, rule, hit, label in sorted(claims, key=lambda c: -c[0]):
        n = seen.get(rule.code, 0)
        seen[rule.code] = n + 1
        ordered.append((weight / (2 ** n), rule, hit, label))
    ordered.sort(key=lambda c: -c[0])
    total = 0.0
    positions = []
    mults = m.intent_multipliers
    for k, (weight, rule, hit, label) in enumerate(ordered):
        w = weight * mults[min(k, len(mults) - 1)]
        total += w
        positions.append(hit.start())
        reasons.append(_reason(rule.code, label, w, norm.span(*hit.span())))
    return total, positions


def _contexts(hits: dict, norm: Normalized, m: Model, positions: list, reasons: list) -> float:
    """Contexts count near a counted intent (or anywhere when there is none)
    and in a paragraph that names a certificate (a news or training context
    is about the certificate: a paragraph of unrelated filler padding a spam
    page — "专家建议…", a news story — neither hides nor makes a sale), each
    rule with diminishing returns."""
    t = norm.text
    total = 0.0
    window = m.context_window
    about = paragraphs = None       # found at the first context hit, in a text of several paragraphs
    for rule in m.context_rules:
        found = hits.get(rule.code)
        if not found:
            continue
        counted = 0
        for hit in found:
            if counted >= m.max_hits:
                break
            s = hit.start()
            if positions and not any(abs(s - p) <= window for p in positions):
                continue
            if about is None:
                about = sorted(h.start() for key in m.certificate_keys for h in hits.get(key, ())) \
                    if "\n" in t else []
                paragraphs = _paragraph_starts(t) if about else []
            if about and not _same_paragraph(about, paragraphs, s):
                continue
            if m.context_negators.search(t, max(0, s - 4), s):
                continue        # "我这不是培训学校", "不用本人参加" are not training contexts
            weight = rule.weight / (2 ** counted)
            counted += 1
            total += weight
            reasons.append(_reason(rule.code, rule.label, weight, norm.span(s, hit.end())))
    return total


_PARAGRAPH_END = re.compile(r"\n")


def _paragraph_starts(t: str) -> list[int]:
    return [0] + [e.end() for e in _PARAGRAPH_END.finditer(t)]


def _same_paragraph(sorted_positions: list, starts: list, s: int) -> bool:
    """Whether one of ``sorted_positions`` lies in the paragraph (line) holding ``s``."""
    k = bisect.bisect_right(starts, s) - 1
    lo, hi = starts[k], starts[k + 1] if k + 1 < len(starts) else 1 << 62
    i = bisect.bisect_left(sorted_positions, lo)
    return i < len(sorted_positions) and sorted_positions[i] < hi


def _fake_site(domains: list, norm: Normalized, m: Model, reporting: bool, site_judge,
               reasons: list) -> float:
    """A verification claim pointing at a non-official host, or a host the
    look-alike scorer recognises as an impersonation."""
    t = norm.text
    site_rule = m.by_code["fake_site"]
    for host in domains:
        if is_official_host(host):
            continue
        why = ""
        if site_judge is not None:
            bad, label = site_judge(host)
            if bad:
                why = label
        if not why:
            pos = t.find(host)
            near = t[max(0, pos - m.site_claim_window):pos + len(host) + m.site_claim_window] if pos >= 0 else ""
            if near and m.site_claim.search(near.replace(host, " ")) and not reporting:
                why = "声称可在非官方网站查询"
        if why:
            reasons.append(_reason(site_rule.code, f"{site_rule.label}：{why}", site_rule.weight, host))
            return site_rule.weight
    return 0.0


def classify(text: str | None, title: str | None = None, site_judge=..., text_model=...) -> Result:
    """Classify one listing. ``site_judge(host) -> (bool, label)`` says whether
    a linked host impersonates an official query site (default: the
    look-alike scorer); ``text_model`` is a :class:`salesmodel.Model`
    (default: the shipped one; None: the rules alone)."""
    if site_judge is ...:
        site_judge = _default_site_judge()
    if text_model is ...:
        text_model = salesmodel.model()
    full = ((title or "").strip() + "\n" + (text or "")).strip()
    norm: Normalized = normalize(full)
    hits: dict[str, list[re.Match]] = model().scanner.scan(norm.text)     # every rule in one pass
    titled = bool(title and title.strip())
    result = _judge(norm, hits, titled, site_judge, text_model, norm.original)
    if not result.flagged and len(norm.text) > LONG_TEXT:
        head = (title or "").strip()
        # where the page text starts in ``full`` (after the title and its newline;
        # without a title, before the leading white space strip() took off)
        body = len(head) + 1 if head else -(len(text or "") - len((text or "").lstrip()))
        part = _flagged_part(norm, hits, site_judge, text_model, body, len(text or ""))
        if part is not None:
            return part
    return result


# A long page (a forum thread, an article with comments) is judged whole,
# and, when that does not flag it, line by line: an ad posted as one reply
# under a long explainer is otherwise drowned by the article's training,
# exam and enforcement words. A part is one line (a paragraph, a reply) of
# at most PART_CHARS characters, the size of a listing, which the rules and
# the text model were made for. Lines are not cut or joined: one message's
# contact beside another's claim makes no ad (measured on long pages made
# of the corpus's negatives: cut into 600-character pieces, up to 17 of 60
# were flagged; as lines, as many as judged whole).
LONG_TEXT = 2_000
PART_CHARS = 600
MAX_PARTS = 30         # lines judged per text at most: hostile input (thousands of short
                       # lines each with a claim and a number) costs 30 listings, not thousands


def _parts(t: str) -> list[tuple[int, int]]:
    """(start, end) of the lines of a normalized text that are judged as
    parts: not empty, at most PART_CHARS characters."""
    parts = []
    start = 0
    while start < len(t):
        end = t.find("\n", start)
        end = len(t) if end < 0 else end
        if 0 < end - start <= PART_CHARS:
            parts.append((start, end))
        start = end + 1
    return parts


def _whole_ad(result: Result) -> bool:
    """A part counts alone only as a whole ad: it names a certificate and
    gives a way to buy (a personal contact or a fake query site). A line of
    an article that merely mentions 包过 or 代办 beside a number is no ad."""
    codes = {r["code"] for r in result.reasons}
    return "no_certificate" not in codes and bool(codes & {"off_platform_contact", "fake_site"})


def _flagged_part(norm: Normalized, hits: dict, site_judge, text_model, body: int,
                  body_len: int) -> Result | None:
    """The first part of a long text (see PART_CHARS) that is flagged as a
    whole ad, or None. A part is judged only where the whole-text scan found
    a sale claim in it and it gives a way to buy (a personal contact, a
    site, or a contact word): the cost follows the lines that can be ads.
    Its reasons quote the original text through the origin map; a first
    reason says which part, in characters of the page text a reviewer sees
    (``body``: where that text starts in the original, after the title;
    ``body_len``: its length)."""
    claims = sorted(h.start() for rule in model().claim_rules for h in hits.get(rule.code, ()))
    if not claims:
        return None
    contact_words = [h.start() for h in hits.get("off_platform_contact", ())]
    t = norm.text
    scanner = model().scanner
    judged = 0
    for a, b in _parts(t):
        if not _any_within(claims, a, b):
            continue
        part = Normalized(norm.original, t[a:b], norm.origin[a:b], norm.truncated)
        found = contacts_mod.extract(part)
        if not (found.keys() & {"wechat", "qq", "phone", "telegram", "domain"}
                or _any_within(contact_words, a, b)):
            continue
        judged += 1
        if judged > MAX_PARTS:
            break
        first, last = norm.origin[a], norm.origin[b - 1] + 1      # the line in the original text
        # A line holds no title (the title is a line of its own).
        result = _judge(part, scanner.scan(part.text), False, site_judge, text_model,
                        norm.original[first:last], found)
        if result.flagged and _whole_ad(result):
            where = ("标题" if first < body else
                     f"正文第 {first - body + 1}–{last - body} 字的一段")
            result.reasons.insert(0, _reason("long_text_part", f"长文本中{where}单独判断为售假广告"
                                                               f"（正文共 {body_len} 字）", 0.0,
                                             norm.original[first:last]))
            return result
    return None


def _any_within(sorted_positions: list, a: int, b: int) -> bool:
    k = bisect.bisect_left(sorted_positions, a)
    return k < len(sorted_positions) and sorted_positions[k] < b


def _judge(norm: Normalized, hits: dict, titled: bool, site_judge, text_model, original: str,
           found_contacts: dict | None = None) -> Result:
    """The rules (and, where they are unsure, the text model) over one
    normalized text and its scanner hits; ``titled``: its first line is a
    title; ``original``: the original text it stands for (evasive contacts
    are matched there); ``found_contacts``: its contacts, when known."""
    m = model()
    t = norm.text
    reasons: list[dict] = []
    logit = m.bias
    if norm.truncated:
        reasons.append(_reason("truncated", "文本过长，仅分析前部", 0.0, ""))

    for key in ("out_of_scope", "not_certificate"):
        if key in hits:
            _drop_inside(hits, hits[key], m.certificate_keys)
    family, weight = _certificate(hits, norm, m, reasons)
    logit += weight
    capped = "out_of_scope" in hits and weight == m.no_certificate_weight   # only others' documents
    reporting = any(code in hits for code in REPORTING_CODES)
    claims, positions = _claims(hits, norm, m, reporting, reasons)
    logit += claims
    logit += _contexts(hits, norm, m, positions, reasons)

    if found_contacts is None:
        found_contacts = contacts_mod.extract(norm)
    contact_rule = m.by_code["off_platform_contact"]
    personal = next(((k, found_contacts[k]) for k in ("wechat", "qq", "phone", "telegram") if k in found_contacts),
                    None)
    if personal:
        kind, values = personal
        logit += contact_rule.weight
        reasons.append(_reason(contact_rule.code, contact_rule.label, contact_rule.weight, f"{kind}:{values[0]}"))
    elif "off_platform_contact" in hits:
        hit = hits["off_platform_contact"][0]
        logit += contact_rule.weight
        reasons.append(_reason(contact_rule.code, contact_rule.label, contact_rule.weight, norm.span(*hit.span())))

    if personal or "off_platform_contact" in hits:
        evasive = m.evasive.search(original)
        if evasive:
            rule = m.by_code["evasive_contact"]
            logit += rule.weight
            reasons.append(_reason(rule.code, rule.label, rule.weight, evasive.group(0)))

    if "price" in hits:
        rule = m.by_code["price"]
        logit += rule.weight
        reasons.append(_reason(rule.code, rule.label, rule.weight, norm.span(*hits["price"][0].span())))

    site = _fake_site(found_contacts.get("domain", []), norm, m, reporting, site_judge, reasons)
    logit += site

    # A page whose sale words stand only in its title (a buyer's query, "办证网上
    # 可查询") and that gives no way to buy — no contact, no price, no site —
    # is an article under an SEO title when its body is about the certificate;
    # spam puts its contact beside the title, or pads it with filler that
    # names no certificate (then the title is the whole message).
    title_end = t.find("\n") if titled else -1
    title_only = False
    if claims > 0 and title_end >= 0 and all(p < title_end for p in positions) and not (
            personal or site or "off_platform_contact" in hits or "price" in hits) and any(
            h.start() > title_end for key in m.certificate_keys for h in hits.get(key, ())):
        rule = m.by_code["title_only"]
        weight = -claims * rule.weight
        logit += weight
        title_only = True
        reasons.append(_reason(rule.code, rule.label, weight, t[:title_end][:80]))

    low, high = m.model_band
    # the rules are not sure (a page with no way to buy is left to the rules)
    if text_model is not None and t and low <= logit <= high and not title_only:
        weight, top = salesmodel.contribution(t, text_model)
        logit += weight
        reasons.append(_reason("text_model", "文本模型：用语接近售假广告" if weight > 0 else "文本模型：用语接近正常信息",
                               weight, "、".join(norm.span(a, b) for a, b, _ in top)))

    if capped:
        logit = min(logit, m.no_certificate_cap)
    score = int(round(100 / (1 + math.exp(-logit))))
    return Result(flagged=score >= m.threshold, score=score, reasons=reasons,
                  family=family, contacts=found_contacts)


class SalePipeline:
    """Scrapy step: judge listing items with :func:`classify`, in the sweep's
    judge process when it has one (:mod:`pipelines.judgeproc`), else here.
    The store's keyword library is jieba's user dictionary (the judge loads
    it itself; here it is loaded before the first listing judged here)."""

    def __init__(self, stats, db_path: str):
        self.stats = stats
        self.db_path = db_path
        self._userdict_loaded = False

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.stats, crawler.settings.get("CERTWATCH_DB"))

    def open_spider(self, spider=None):
        if judgeproc.current() is None:
            self._load_userdict()

    def _load_userdict(self) -> None:
        self._userdict_loaded = True
        if not self.db_path:
            return      # a distributed worker: no store; it loads its sweep's words itself
        from pipelines import store
        with store.opened(self.db_path) as db:
            segment.load_userdict(store.jieba_userdict(db))

    def process_item(self, item, spider=None):
        if item.get("kind", "listing") != "listing":
            return item
        judge = judgeproc.current()
        if judge is not None:
            return judge.submit(item.get("text"), item.get("title"), lambda verdict: self._judged(item, verdict))
        return self._judged(item, None)

    def _judged(self, item, verdict: dict | None):
        """Record ``verdict`` on ``item``; None: judge it here."""
        if verdict is None:
            if not self._userdict_loaded:
                self._load_userdict()
            verdict = classify(item.get("text"), item.get("title")).as_dict()
        else:
            self.stats.inc_value("certwatch/judged_apart")      # by the sweep's judge process
        item.update(verdict)
        self.stats.inc_value("certwatch/items")
        if verdict["flagged"]:
            self.stats.inc_value("certwatch/flagged")
        return item
