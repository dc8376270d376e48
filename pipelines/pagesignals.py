"""Page signals of a fake government query site.

A page on a non-official host that carries an official platform's name in
its title, the 国徽, a certificate query form (姓名/身份证号/证件号/验证码) or a
forged "查询结果", without its own ICP filing and 政府网站标识码 (or with the
official site's copied), or whose tag structure nearly copies an official
page. News and anti-fraud notices that quote the names, and training schools,
pull the score down. Vocabulary and weights: ``keywords/official_sites.yaml``
(``page``) and ``keywords/lookalike_rules.yaml`` (``page``).
"""
from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from importlib import resources

from bs4 import BeautifulSoup
from rapidfuzz import fuzz

from keywords import load_yaml

log = logging.getLogger(__name__)

MAX_HTML = 500_000
_ICP = re.compile(r"([京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼])ICP[备证]\s*(\d{5,12})\s*号")
_GOVCODE = re.compile(r"(?:网站标识码|SiteIDCode|sitecode)\W{0,12}([A-Za-z]{0,2}\d{6,12})", re.IGNORECASE)
_CLAIM = re.compile(r"(主办单位|主办|主管单位|版权所有|Copyright|©)")
_SPACE = re.compile(r"\s+")
# The certificate query form: which kinds of field it asks for.
_FIELD_GROUPS = {
    "name": ("姓名", "姓　　名", "realname", "xm"),
    "id": ("身份证号", "证件号", "证件号码", "身份证", "idcard", "sfz", "zjhm", "zjh", "cardno"),
    "captcha": ("验证码", "验 证 码", "captcha", "yzm", "verifycode"),
    "cert": ("证书编号", "证号", "证书号", "zsbh", "certno"),
}


@dataclass(frozen=True)
class PageModel:
    names: tuple        # (name, site key)
    agencies: tuple     # (agency, site key)
    icp: dict           # ICP number digits -> site key
    gov_codes: dict     # code -> site key
    result_fields: tuple
    emblem: tuple
    warning: tuple
    training: tuple
    references: tuple   # (site key, tag sequence)
    rules: dict


def tag_sequence(soup: BeautifulSoup) -> str:
    """The page's structure: its element names in document order."""
    return " ".join(t.name for t in soup.find_all(True))[:20_000]


@functools.cache
def model() -> PageModel:
    data = load_yaml("official_sites.yaml")
    rules = load_yaml("lookalike_rules.yaml")["page"]
    names, agencies, icp, codes = [], [], {}, {}
    for s in data["sites"]:
        names += [(n, s["key"]) for n in s.get("names", [])]
        agencies += [(a, s["key"]) for a in s.get("agency", [])]
        for number in s.get("icp", []):
            m = _ICP.search(number)
            if m:
                icp[m.group(2)] = s["key"]
        for code in s.get("gov_code", []):
            codes[code.lower()] = s["key"]
    refs = []
    folder = resources.files("keywords").joinpath("reference_pages")
    if folder.is_dir():
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".html"):
                key = entry.name.split(".", 1)[0]
                soup = BeautifulSoup(entry.read_text(encoding="utf-8"), "html.parser")
                refs.append((key, tag_sequence(soup)))
    page = data["page"]
    return PageModel(names=tuple(sorted(names, key=lambda x: -len(x[0]))),
                     agencies=tuple(sorted(agencies, key=lambda x: -len(x[0]))),
                     icp=icp, gov_codes=codes, result_fields=tuple(page["result_fields"]),
                     emblem=tuple(page["emblem"]), warning=tuple(page["warning"]),
                     training=tuple(page["training"]), references=tuple(refs), rules=rules)


@dataclass
class PageFacts:
    title: str = ""
    reasons: list = None
    points: float = 0.0
    site: str = ""             # official site key the page claims to be
    claims_gov: bool = False


def _reason(code: str, evidence: str, rules: dict, scale: float = 1.0) -> dict:
    rule = rules[code]
    return {"code": code, "label": rule["label"], "weight": round(float(rule["weight"]) * scale, 1),
            "evidence": evidence[:120]}


def analyze(html: str, official: bool = False) -> PageFacts:
    """Signals of one page. ``official`` pages get no points (they are what
    the fakes copy)."""
    m = model()
    facts = PageFacts(reasons=[])
    if not isinstance(html, str) or not html.strip():
        return facts
    try:
        soup = BeautifulSoup(html[:MAX_HTML], "html.parser")
    except Exception as exc:  # html.parser raises on some broken markup
        log.info("页面无法解析：%s", exc)
        facts.reasons.append({"code": "page_unparsable", "label": "页面无法解析", "weight": 0, "evidence": ""})
        return facts
    for tag in soup(["script", "style"]):
        tag.decompose()
    title = _SPACE.sub(" ", soup.title.get_text(" ", strip=True) if soup.title else "")[:300]
    facts.title = title
    heads = " ".join(t.get_text(" ", strip=True) for t in soup.find_all(["h1", "h2"]))[:1000]
    text = _SPACE.sub(" ", soup.get_text(" ", strip=True))[:50_000]
    raw = html[:MAX_HTML]
    if official:
        return facts
    rules = m.rules
    found: list[dict] = []

    def add(code: str, evidence: str, scale: float = 1.0):
        found.append(_reason(code, evidence, rules, scale))

    top = title + " " + heads
    warning_top = [w for w in m.warning if w in title or w in heads]
    warning_body = [w for w in m.warning if w in text]
    is_warning = bool(warning_top) or len(warning_body) >= 2
    training_words = [w for w in m.training if w in text]
    is_training = len(training_words) >= 2

    named = next(((n, k) for n, k in m.names if n in top), None)
    if named and not is_warning:
        add("official_title", named[0])
        facts.site = named[1]
    else:
        named = named or next(((n, k) for n, k in m.names if n in text), None)
        if named:
            add("official_mention", named[0])
    agency = None
    for a, k in m.agencies:
        for hit in re.finditer(re.escape(a), text):
            window = text[max(0, hit.start() - 30):hit.end() + 10]
            if _CLAIM.search(window):
                agency = (a, k)
                break
        if agency:
            break
    if agency and not is_warning:
        add("agency_claim", agency[0])
        facts.site = facts.site or agency[1]

    # The query form: fields named by labels, placeholders or input names.
    form_text = " ".join(f.get_text(" ", strip=True) for f in soup.find_all("form"))
    attrs = " ".join(" ".join(str(t.get(a, "")) for a in ("placeholder", "name", "id"))
                     for t in soup.find_all(["input", "el-input", "select"]))
    labels = " ".join(t.get_text(" ", strip=True) for t in soup.find_all(["label", "b", "td", "th", "dt"]))
    field_text = (form_text + " " + attrs + " " + labels).lower()
    groups = [g for g, words in _FIELD_GROUPS.items() if any(w.lower() in field_text for w in words)]
    if len(groups) >= 3 or (len(groups) >= 2 and "查询" in text):
        add("query_form", "、".join(groups))
    results = [f for f in m.result_fields if f in text]
    if len(results) >= 3:
        add("result_page", "、".join(results[:4]))
    emblem = None
    for img in soup.find_all("img"):
        blob = (str(img.get("alt", "")) + " " + str(img.get("src", ""))).lower()
        if any(e.lower() in blob for e in m.emblem):
            emblem = str(img.get("src", "") or img.get("alt", ""))
            break
    if emblem and not is_warning:
        add("emblem", emblem)

    claims_gov = bool(named and not is_warning and any(r["code"] == "official_title" for r in found)) \
        or bool(agency and not is_warning) or bool(emblem and not is_warning)
    facts.claims_gov = claims_gov
    icps = _ICP.findall(raw)
    copied = next((f"{p}ICP备{n}号" for p, n in icps if n in m.icp), None)
    if copied:
        add("icp_copied", copied)
    elif claims_gov and not icps:
        add("icp_missing", "")
    elif claims_gov and icps and all(p != "京" for p, _ in icps):
        add("icp_region", f"{icps[0][0]}ICP")
    codes = [c.lower() for c in _GOVCODE.findall(raw)]
    copied_code = next((c for c in codes if c in m.gov_codes), None)
    if copied_code:
        add("govcode_copied", copied_code)
    elif claims_gov and not codes:
        add("govcode_missing", "")

    if m.references and claims_gov:
        seq = tag_sequence(soup)
        best = max(((fuzz.ratio(seq, ref), key) for key, ref in m.references), default=(0, ""))
        if best[0] >= float(rules["near_copy_ratio"]):
            add("near_copy", f"{best[1]} 相似度 {best[0]:.0f}")
            facts.site = facts.site or best[1]

    if is_warning:
        add("warning", "、".join((warning_top or warning_body)[:3]))
    if is_training and not any(r["code"] == "result_page" for r in found):
        add("training", "、".join(training_words[:3]))
    facts.reasons = found
    facts.points = sum(r["weight"] for r in found)
    return facts


def apply(j, html: str) -> None:
    """Add the page's signals to a :class:`pipelines.lookalike.Judgement`."""
    from pipelines.lookalike import site_host
    facts = analyze(html, official=j.verdict == "official")
    j.reasons.extend(facts.reasons)
    j.points += facts.points
    if facts.site and not j.impersonates and facts.points > 0:
        j.impersonates = site_host(facts.site)
    j.claims_gov = j.claims_gov or facts.claims_gov
    j.title = j.title or facts.title
