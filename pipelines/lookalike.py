"""The look-alike domain scorer: does a host name imitate an official
certificate query site?

Offline and fast (tldextract's bundled suffix list, a token trie, rapidfuzz).
The official registry and every weight are data (``keywords/official_sites.yaml``,
``keywords/lookalike_rules.yaml``). The host is cut into tokens with a
vocabulary (latin words, pypinyin full pinyin and initials of the Chinese
words); a short token counts only when its whole chunk is made of known
tokens ("mem" in "member" is not "mem"). Signals: the gov token moved out of
the suffix, an official host embedded in a longer name, one edit away from an
official name, homoglyph skeletons, Chinese (IDN) labels, certificate words
combined with query words, cheap TLDs.

Entry points: :func:`score_host` (name only), :func:`judge` (name + page +
WHOIS, see :mod:`pipelines.pagesignals` and :mod:`pipelines.whois`) and
:func:`site_judge` for the sale classifier.
"""
from __future__ import annotations

import codecs
import functools
import json
import logging
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field

from rapidfuzz.distance import OSA

from keywords import load_yaml
from pipelines import usercache
from pipelines.contacts import extractor

log = logging.getLogger(__name__)

VERDICTS = ("official", "fake_gov_site", "suspicious", "benign")
BAD_HOST_CODES = ("invalid_host", "label_too_long", "host_too_long", "ip_address")
VERDICT_CN = {"official": "官方网站", "fake_gov_site": "假冒政府网站", "suspicious": "可疑",
              "benign": "正常", "seller_site": "售假者网站"}
# A site a sale listing names that impersonates no official site: the
# seller's own shop, blog or *.github.io page (judged by pipelines.persist
# from the listings that link it, never by the name alone).
SELLER_SITE = "seller_site"
MAX_HOST = 253
MAX_LABEL = 63

# Homoglyphs: what a look-alike writes -> what the reader sees.
_PAIRS = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("nn", "m"))
_DIGITS = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "8": "b", "9": "g"})
_LEET = re.compile(r"(?<=[a-z])[013589]|[013589](?=[a-z])")
_HOMO = re.compile(r"[013589]|rn|vv|cl|nn")
_SPLIT = re.compile(r"[-_.]+|\d+")
_ASCII_LABEL = re.compile(r"[a-z0-9_-]+")
# A plain host: lower-case ASCII labels of 1-63 characters, not starting or
# ending with a hyphen, at least two labels.
_PLAIN = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass
class Judgement:
    host: str
    domain: str = ""
    verdict: str = "benign"
    score: int = 0
    impersonates: str = ""
    reasons: list = field(default_factory=list)
    points: float = 0.0          # unclipped sum (for combining name/page/WHOIS)
    title: str = ""              # the page title, when a page was judged
    claims_gov: bool = False     # the page presents itself as a government site
    whois: dict = field(default_factory=dict)   # parsed WHOIS facts, when looked up

    def as_dict(self) -> dict:
        return {"domain": self.host, "verdict": self.verdict, "score": self.score,
                "impersonates": self.impersonates, "reasons": self.reasons}

    @property
    def flagged(self) -> bool:
        return self.verdict in ("fake_gov_site", "suspicious")

    @property
    def bad_host(self) -> bool:
        """Not a host name one can check (invalid, too long, an IP address)."""
        return any(r["code"] in BAD_HOST_CODES for r in self.reasons)


def reason(code: str, label: str, weight: float, evidence: str = "") -> dict:
    return {"code": code, "label": label, "weight": round(float(weight), 1), "evidence": evidence[:120]}


# ---------------------------------------------------------------- registry

@dataclass(frozen=True)
class Registry:
    restricted: frozenset
    foreign_gov: frozenset
    sites: dict                  # key -> site dict
    official_hosts: dict         # host -> key
    official_domains: dict       # registered domain -> key
    special: dict                # suffix -> "official" | "restricted" | "foreign"
    embedded: tuple              # (dotted host, key)
    vocab: dict                  # latin token -> (category, site key, strength)
    trie: dict
    zh: tuple                    # (phrase, category, site key, strength), longest first
    forms: tuple                 # flattened official names (len >= 5)
    forms_by_len: dict           # length -> forms of that length
    form_site: dict
    long_tokens: tuple           # strong tokens of length >= 5 (fuzzy)
    meaningful: re.Pattern       # any non-filler token (prefilter per chunk)
    subject: re.Pattern          # any token that can count alone or lead a combination
    halves: re.Pattern           # halves of official names and long tokens (prefilter)
    cheap_tlds: frozenset
    typo_tlds: frozenset
    rules: dict
    thresholds: dict


def _is_cjk(s: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in s)


def _pinyin_name() -> str:
    from importlib.metadata import version
    return f"pinyin-{version('pypinyin')}.json"


def _readings(phrases: list[str]) -> dict[str, list[str]]:
    """Phrase → [full pinyin, initials] (pypinyin, phrase dictionary
    included), kept per pypinyin version in a file (pipelines.usercache):
    importing pypinyin loads ~58 MB of phrases a sweep needs only for the
    registry's few hundred names."""
    name = _pinyin_name()
    known: dict = {}
    data = usercache.read(name)
    if data is not None:
        try:
            loaded = json.loads(data)
            known = {k: v for k, v in loaded.items()
                     if isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)}
        except (ValueError, AttributeError):
            known = {}
    missing = [p for p in phrases if p not in known]
    if missing:
        from pypinyin import Style, lazy_pinyin
        for phrase in missing:
            known[phrase] = ["".join(lazy_pinyin(phrase)), "".join(lazy_pinyin(phrase, style=Style.FIRST_LETTER))]
        usercache.write(name, json.dumps(known, ensure_ascii=False, sort_keys=True).encode("utf-8"))
    return known


def _pinyin_forms(phrase: str, readings: dict) -> list[tuple[str, str]]:
    """(token, strength) pairs for a Chinese phrase: full pinyin, initials
    (three letters or more: two-letter initials say nothing)."""
    full, initials = readings[phrase]
    out = [(full, "pinyin")]
    if len(initials) >= 3:
        out.append((initials, "initials"))
    return out


def trie_regex(words) -> re.Pattern:
    """One regex matching any of ``words``, written as a prefix tree so the
    engine tries each position once instead of every word in turn."""
    trie: dict = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = True

    def build(node: dict) -> str:
        end = node.get("") is True
        branches = [re.escape(ch) + build(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if end else body
    pattern = build(trie)
    return re.compile(pattern if pattern else "(?!)")


@functools.cache
def registry() -> Registry:
    data = load_yaml("official_sites.yaml")
    rules = load_yaml("lookalike_rules.yaml")
    sites, hosts, domains, embedded = {}, {}, {}, []
    vocab: dict[str, tuple] = {}
    zh: dict[str, tuple] = {}
    words = [n for s in data["sites"] for n in (*s["tokens"].get("strong", []), *s["tokens"].get("weak", []),
                                                 *s.get("names", []), *s.get("agency", []))]
    words += [w for entries in data["vocabulary"].values() for e in entries
              for w in (e["words"] if isinstance(e, dict) else [e])]
    readings = _readings(sorted({w for w in (str(w).strip().lower() for w in words) if w and _is_cjk(w)}))

    def add(word: str, category: str, site: str = "", strength: str = "word") -> None:
        word = str(word).strip().lower()
        if not word:
            return
        if _is_cjk(word):
            zh.setdefault(word, (category, site, "name" if category in ("agency", "official_name") else strength))
            for token, how in _pinyin_forms(word, readings):
                if category in ("agency",):
                    # A whole body's name (…部/局/厅) says more than a part of one (住建, 市场监管).
                    if how == "pinyin" and not word.endswith(("部", "局", "厅")):
                        how = "pinyin_part"
                    vocab.setdefault(token, (category, site, how))
                elif len(token) >= 3:
                    vocab.setdefault(token, (category, site, how))
        else:
            vocab.setdefault(word, (category, site, strength))

    for s in data["sites"]:
        key = s["key"]
        sites[key] = s
        for host in [s["host"], *s.get("also", [])]:
            hosts[host] = key
            embedded.append((host, key))
        domains[s["domain"]] = key
        for tok in s["tokens"].get("strong", []):
            add(tok, "official", key, "strong")
        for tok in s["tokens"].get("weak", []):
            add(tok, "official", key, "weak")
        for name in s.get("names", []):
            add(name, "official_name", key, "name")
        for name in s.get("agency", []):
            add(name, "agency", key, "name")
    for category, entries in data["vocabulary"].items():
        for entry in entries:
            if isinstance(entry, dict):
                for word in entry["words"]:
                    add(word, category, entry.get("site", ""))
            else:
                add(entry, category)

    trie: dict = {}
    for token in vocab:
        node = trie
        for ch in token:
            node = node.setdefault(ch, {})
        node[""] = token

    # Flattened official names: contiguous label runs of each official host
    # that hold one of its tokens, e.g. cxmem, memgov, cxmemgovcn.
    forms: dict[str, str] = {}
    for host, key in hosts.items():
        labels = [l.replace("-", "") for l in host.split(".")]
        own = {t for t in sites[key]["tokens"].get("strong", []) + sites[key]["tokens"].get("weak", [])}
        for i in range(len(labels)):
            for j in range(i + 1, len(labels) + 1):
                run = labels[i:j]
                flat = "".join(run)
                if len(run) >= 2 and len(flat) >= 5 and own & set(run):
                    forms.setdefault(flat, key)
    long_tokens = tuple(t for t, (cat, _, st) in vocab.items() if cat == "official" and len(t) >= 5)
    meaningful = sorted((t for t, (cat, _, _) in vocab.items() if cat not in ("filler",)), key=len, reverse=True)
    subject = [t for t in meaningful if vocab[t][0] not in ("cn", "counter")]
    halves = set()
    for word in list(forms) + list(long_tokens):
        mid = len(word) // 2
        halves.update((word[:mid], word[mid:]))
    return Registry(
        restricted=frozenset(data["restricted_suffixes"]), foreign_gov=frozenset(data["foreign_gov_suffixes"]),
        sites=sites, official_hosts=hosts, official_domains=domains, embedded=tuple(embedded),
        special={**{s: "foreign" for s in data["foreign_gov_suffixes"]},
                 **{s: "restricted" for s in data["restricted_suffixes"]},
                 **{d: "official" for d in domains}},
        vocab=vocab, trie=trie,
        zh=tuple(sorted(((p, *v) for p, v in zh.items()), key=lambda x: -len(x[0]))),
        forms=tuple(forms), form_site=forms,
        meaningful=trie_regex(meaningful), subject=trie_regex(subject),
        halves=trie_regex(halves),
        forms_by_len={n: tuple(f for f in forms if abs(len(f) - n) <= 1) for n in range(3, 42)}, long_tokens=long_tokens,
        cheap_tlds=frozenset(data["cheap_tlds"]), typo_tlds=frozenset(data["typo_tlds"]),
        rules=rules, thresholds=rules["thresholds"])


def site_host(key: str) -> str:
    site = registry().sites.get(key)
    return site["host"] if site else ""


# ---------------------------------------------------------------- host parsing

class BadHost(ValueError):
    """A host name that cannot exist; ``code`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def _decode_label(label: str, problems: list) -> str:
    if label.startswith("xn--"):
        try:
            decoded = codecs.decode(label[4:].encode("ascii"), "punycode")
            if not decoded or decoded.isascii() or any(
                    unicodedata.category(c)[0] in "CZP" and c != "-" for c in decoded):
                raise ValueError("bad code points")
            return decoded
        except (UnicodeError, ValueError):
            problems.append(("idn_undecodable", label))
            return label
    return label


def parse_host(raw: str) -> tuple[str, list]:
    """Lower-cased, IDN-decoded host of a host name or URL; problems found
    on the way. Raises BadHost when it cannot be a host name."""
    if not isinstance(raw, str):
        raise BadHost("invalid_host", "主机名不是字符串")
    if len(raw) <= MAX_HOST and _PLAIN.fullmatch(raw) and "xn--" not in raw:
        return raw, []          # the common case: a plain lower-case ASCII host
    s = unicodedata.normalize("NFKC", raw.strip()).replace("。", ".").replace("．", ".")
    if "://" in s or s.startswith("//"):
        try:
            s = urllib.parse.urlsplit(s if "://" in s else "http:" + s).netloc
        except ValueError:
            raise BadHost("invalid_host", "无法解析的网址") from None
    s = s.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    s = s.rsplit("@", 1)[-1]
    if s.startswith("[") or re.fullmatch(r"[\d.]+(:\d+)?", s):
        raise BadHost("ip_address", "是 IP 地址而不是域名")
    s = s.split(":", 1)[0].lower().rstrip(".")
    if not s:
        raise BadHost("invalid_host", "主机名为空")
    if len(s) > 4 * MAX_HOST:
        raise BadHost("host_too_long", f"主机名过长（{len(s)} 个字符）")
    problems: list = []
    labels = s.split(".")
    out = []
    for label in labels:
        if not label:
            raise BadHost("invalid_host", "主机名含空标签（连续的点）")
        decoded = _decode_label(label, problems)
        try:
            ascii_len = len(label if label.isascii() else codecs.encode(label, "punycode")) + (0 if label.isascii() else 4)
        except UnicodeError:
            raise BadHost("invalid_host", "主机名含无法编码的字符") from None
        if ascii_len > MAX_LABEL:
            raise BadHost("label_too_long", f"标签超过 63 个字符（{ascii_len}）")
        if label.isascii():
            if not _ASCII_LABEL.fullmatch(label):
                raise BadHost("invalid_host", f"标签含非法字符：{label[:40]}")
            if label.startswith("-") or label.endswith("-"):
                raise BadHost("invalid_host", f"标签以连字符开头或结尾：{label[:40]}")
        elif not all(ch.isalnum() or ch == "-" for ch in label):
            raise BadHost("invalid_host", f"标签含非法字符：{label[:40]}")
        out.append(decoded)
    host = ".".join(out)
    if sum(len(l) for l in labels) + len(labels) - 1 > MAX_HOST:
        raise BadHost("host_too_long", "主机名超过 253 个字符")
    if len(out) < 2:
        raise BadHost("invalid_host", "主机名缺少顶级域")
    return host, problems


def _suffix_match(host: str, suffixes) -> str:
    """The longest of ``suffixes`` (a set or dict) that ``host`` is or ends with."""
    i = 0
    while True:
        if host[i:] in suffixes:
            return host[i:]
        i = host.find(".", i) + 1
        if i == 0:
            return ""


# ---------------------------------------------------------------- tokens

@functools.lru_cache(maxsize=200_000)
def segment(chunk: str) -> tuple[tuple, bool]:
    """Cut a latin chunk into vocabulary tokens: the cover with most
    characters, then fewest tokens. Returns (tokens, fully covered)."""
    trie = registry().trie
    n = len(chunk)
    best: list = [None] * (n + 1)     # (covered, -tokens, back, token)
    best[0] = (0, 0, -1, "")
    for i in range(n):
        cur = best[i]
        if cur is None:
            continue
        cand = (cur[0], cur[1], i, "")
        if best[i + 1] is None or cand[:2] > best[i + 1][:2]:
            best[i + 1] = cand
        node = trie
        j = i
        while j < n:
            node = node.get(chunk[j])
            if node is None:
                break
            j += 1
            if "" in node:
                cand = (cur[0] + (j - i), cur[1] - 1, i, node[""])
                if best[j] is None or cand[:2] > best[j][:2]:
                    best[j] = cand
    tokens = []
    k = n
    while k > 0:
        covered, _, back, token = best[k]
        if token:
            tokens.append(token)
        k = back
    tokens.reverse()
    return tuple(tokens), best[n][0] == n


def skeleton(chunk: str) -> str:
    """What a reader sees: digits inside words as letters, rn as m, ..."""
    if not _HOMO.search(chunk):
        return chunk
    s = _LEET.sub(lambda m: m.group(0).translate(_DIGITS), chunk)
    for a, b in _PAIRS:
        s = s.replace(a, b)
    return s


@dataclass
class _Found:
    token: str
    category: str
    site: str
    strength: str
    sub: bool               # in a subdomain label
    homoglyph: bool = False


def _zh_tokens(label: str, sub: bool) -> list[_Found]:
    """Known Chinese phrases in a label, longest first, without overlap."""
    reg = registry()
    used = [False] * len(label)
    found = []
    for phrase, category, site, strength in reg.zh:
        start = label.find(phrase)
        while start >= 0:
            end = start + len(phrase)
            if not any(used[start:end]):
                for k in range(start, end):
                    used[k] = True
                found.append(_Found(phrase, category, site, strength, sub))
            start = label.find(phrase, end)
    return found


def _latin_tokens(chunk: str, sub: bool) -> list[_Found]:
    reg = registry()
    if not reg.meaningful.search(chunk):
        return []               # only filler words (or none): nothing to count
    tokens, full = segment(chunk)
    out = []
    for tok in tokens:
        if full or len(tok) >= 6:
            cat, site, strength = reg.vocab[tok]
            out.append(_Found(tok, cat, site, strength, sub))
    return out


# ---------------------------------------------------------------- scoring

def _w(code: str) -> tuple[float, str]:
    rule = registry().rules["domain"][code]
    return float(rule["weight"]), rule["label"]


def score_host(raw: str) -> Judgement:
    """Judge a host name (or URL) by its name alone."""
    reg = registry()
    try:
        host, problems = parse_host(raw)
    except BadHost as exc:
        log.info("无效主机名（%s）：%r", exc.code, str(raw)[:80])
        return Judgement(host=str(raw)[:300] if isinstance(raw, str) else "", verdict="benign", score=0,
                         reasons=[reason(exc.code, f"主机名无效：{exc}", 0, str(raw)[:80] if isinstance(raw, str) else "")])
    j = Judgement(host=host)
    for code, label in problems:
        log.info("IDN 标签无法解码：%s", label)
        j.reasons.append(reason(code, "中文域名标签无法解码（按原样分析）", 0, label))

    # Official and government hosts are never look-alikes.
    key = reg.official_hosts.get(host)
    if key is not None:
        j.domain, j.verdict, j.impersonates = reg.sites[key]["domain"], "official", ""
        j.reasons.append(reason("official_site", "官方查询网站", 0, host))
        return j
    special = _suffix_match(host, reg.special)
    if special:
        kind = reg.special[special]
        if kind == "official":
            j.domain, j.verdict = special, "official"
            j.reasons.append(reason("official_domain", "官方机构的域名", 0, special))
            return j
        if kind == "restricted":
            j.domain, j.verdict = host, "official"
            j.reasons.append(reason("restricted_suffix", f"政府专用后缀 .{special}，普通单位和个人无法注册", 0, host))
            return j
        j.domain = host
        j.reasons.append(reason("foreign_gov", f"境外政府专用后缀 .{special}", 0, host))
        return j

    labels = host.split(".")
    n_suffix = _suffix_labels(labels)
    if n_suffix >= len(labels):
        j.domain = host
        j.reasons.append(reason("no_registrable_name", "只有公共后缀，没有可注册的名称", 0, host))
        return j
    suffix = ".".join(labels[-n_suffix:]) if n_suffix else ""
    name_labels = labels[:-n_suffix] if n_suffix else labels
    j.domain = ".".join(labels[-n_suffix - 1:]) if n_suffix else host
    _score_name(j, ".".join(name_labels), name_labels, len(name_labels) - 1, suffix)
    return _finish(j)


@functools.lru_cache(maxsize=50_000)
def _suffix_key(key: str) -> int:
    parts = extractor()("x." + key)
    return len(parts.suffix.split(".")) if parts.suffix else 0


def _suffix_labels(labels: list) -> int:
    """How many trailing labels are the public suffix (tldextract's bundled
    list, private section included), cached on the last three labels."""
    k = min(3, len(labels) - 1)
    n = _suffix_key(".".join(labels[-k:])) if k > 0 else 0
    if n == k and len(labels) > k + 1:          # a longer rule may apply: ask for the whole host
        parts = extractor()(".".join(labels))
        n = len(parts.suffix.split(".")) if parts.suffix else 0
    return n


def _score_name(j: Judgement, name: str, labels: list, n_sub: int, suffix: str) -> None:
    reg = registry()
    if name.isascii():
        probe = name + " " + skeleton(name) if _HOMO.search(name) else name
        if not reg.subject.search(probe) and not reg.halves.search(probe):
            return              # the common case: no official, certificate or query word at all
    rules = reg.rules["domain"]
    factor = float(rules["subdomain_factor"])
    found: list[_Found] = []
    flat_parts: list[str] = []
    skel_parts: list[str] = []
    is_idn = False
    idn_cert = ""
    for idx, label in enumerate(labels):
        sub = idx < n_sub
        if label in ("www", "m", "wap"):
            continue
        if not label.isascii():
            is_idn = True
            if _is_cjk(label):
                zh_found = _zh_tokens(label, sub)
                found.extend(zh_found)
                covered = sum(len(f.token) for f in zh_found)
                if covered == len(label) and any("证" in f.token and f.category in ("family", "cert")
                                                 for f in zh_found) \
                        and not any(f.category == "counter" for f in zh_found):
                    idn_cert = label
            continue
        # Raw chunks and homoglyph skeletons (digits inside words, rn->m ...).
        raw_chunks = [c for c in _SPLIT.split(label) if c]
        flat_parts.extend(raw_chunks)
        seen = set()
        for chunk in raw_chunks:
            for f in _latin_tokens(chunk, sub):
                found.append(f)
                seen.add(f.token)
        joined = "".join(raw_chunks)
        if len(raw_chunks) > 1 and len(joined) <= 40:
            # "e-cqs": an official token written with a hyphen inside.
            for f in _latin_tokens(joined, sub):
                if f.token not in seen and f.category == "official":
                    found.append(f)
                    seen.add(f.token)
        skel = skeleton(label)
        skel_parts.extend(c for c in _SPLIT.split(skel) if c)
        if skel != label:
            for chunk in (c for c in _SPLIT.split(skel) if c):
                for f in _latin_tokens(chunk, sub):
                    if f.token not in seen:
                        f.homoglyph = f.category in ("official", "gov", "agency", "family")
                        found.append(f)
                        seen.add(f.token)

    if not found and not _near_official(flat_parts, skel_parts, False):
        return                      # the common case: nothing official-looking
    points = 0.0
    weights: dict[str, float] = {}      # site key -> weight pointing at it

    def add(code: str, evidence: str, scale: float = 1.0, site: str = "") -> None:
        nonlocal points
        w, label = _w(code)
        w *= scale
        points += w
        j.reasons.append(reason(code, label, w, evidence))
        if site and w > 0:
            weights[site] = weights.get(site, 0) + w

    # Embedded official host: "cx.mem.gov.cn-query.com", "www-cx-mem-gov-cn".
    embedded = False
    if len(found) >= 3:
        dotted = "." + name.replace("-", ".").replace("_", ".") + "."
        for official, key in reg.embedded:
            if "." + official + "." in dotted:
                add("embedded_official", official, site=key)
                embedded = True
                break

    cats: dict[str, list[_Found]] = {}
    for f in found:
        cats.setdefault(f.category, []).append(f)

    def first(cat):
        items = cats.get(cat) or []
        reg_items = [f for f in items if not f.sub]
        return (reg_items or items)[0] if items else None

    # Official tokens: strong ones count alone, "mem" needs company.
    strong = [f for f in cats.get("official", []) if f.strength == "strong"]
    weak = [f for f in cats.get("official", []) if f.strength == "weak"]
    done_sites, done_tokens = set(), set()
    for f in strong:
        if f.token not in done_tokens and len(done_tokens) < 2:
            done_sites.add(f.site)
            done_tokens.add(f.token)
            add("official_token" if len(f.token) >= 5 else "official_token_short", f.token, site=f.site)
    for f in weak:
        if f.site not in done_sites:
            done_sites.add(f.site)
            add("official_token_weak", f.token, site=f.site)
    homo = [f for f in found if f.homoglyph]
    if homo:
        add("homoglyph", homo[0].token, site=homo[0].site)

    gov = first("gov")
    if gov:
        add("gov_moved", gov.token)
        if strong or weak or cats.get("agency"):
            add("gov_with_agency", gov.token)
    if first("cn") and (gov or strong or weak):
        add("cn_in_name", "cn")

    names = [f for f in cats.get("official_name", [])]
    if names:
        add("official_name", names[0].token, site=names[0].site)
    agency = first("agency")
    if agency:
        code = {"name": "agency_name", "pinyin": "agency_pinyin", "pinyin_part": "agency_pinyin_part",
                "initials": "agency_initials"}.get(
            agency.strength, "agency_pinyin")
        add(code, agency.token, factor if agency.sub else 1.0, site=agency.site)

    family, query, cert, national = first("family"), first("query"), first("cert"), first("national")
    if family:
        add("family", family.token, factor if family.sub else 1.0, site=family.site)
    if query:
        add("query", query.token, factor if query.sub else 1.0)
    if cert:
        add("cert", cert.token, factor if cert.sub else 1.0)
    if national:
        add("national", national.token, factor if national.sub else 1.0)
    subject = family or agency or weak or strong or names
    action = query or cert
    if subject and action:
        sub = all(f.sub for f in [x for x in (family, agency, query, cert) if x])
        add("subject_action", f"{(family or agency or (weak or strong or names)[0]).token}+{action.token}",
            factor if sub else 1.0)
    elif national and action:
        add("national_action", f"{national.token}+{action.token}",
            factor if national.sub and action.sub else 1.0)
    if query and cert:
        add("query_cert", f"{cert.token}+{query.token}", factor if query.sub and cert.sub else 1.0)
    counter = first("counter")
    if counter and not embedded:
        add("counter", counter.token, factor if counter.sub else 1.0)

    # One edit away from an official name (flattened) or a long official token.
    typo = None if embedded else _near_official(flat_parts, skel_parts, bool(strong))
    if typo:
        add(typo[0], typo[1], site=typo[2])

    if points > 0:
        tld = suffix.rsplit(".", 1)[-1]
        if tld in reg.cheap_tlds:
            add("cheap_tld", "." + suffix)
        if tld in reg.typo_tlds and "." not in suffix:
            add("typo_tld", "." + suffix)
        if is_idn:
            add("idn", name)
        if idn_cert:
            add("idn_cert_name", idn_cert)
    j.points += points
    if weights:
        j.impersonates = site_host(max(weights, key=weights.get))


def _near_official(flat_parts: list, skel_parts: list, strong: bool):
    """(code, evidence, site) when the name is one edit away from a
    flattened official name, or a chunk from a long official token."""
    reg = registry()
    flat = "".join(flat_parts)
    if 5 <= len(flat) <= 40:
        skel = "".join(skel_parts)
        # Pigeonhole: one edit leaves one half of the official name intact.
        cands = [c for c in dict.fromkeys((flat, skel)) if reg.halves.search(c)]
        for cand in cands:
            for form in reg.forms_by_len.get(len(cand), ()):
                if OSA.distance(cand, form, score_cutoff=1) == 1:
                    return "typo_compound", f"{cand}≈{form}", reg.form_site[form]
    if not strong:
        for chunk in flat_parts:
            if 4 <= len(chunk) <= 16 and chunk not in reg.vocab and reg.halves.search(chunk):
                skel = skeleton(chunk)
                for token in reg.long_tokens:
                    if abs(len(token) - len(skel)) <= 1 and OSA.distance(skel, token, score_cutoff=1) == 1:
                        return "typo_token", f"{chunk}≈{token}", reg.vocab[token][1]
    return None


def _finish(j: Judgement) -> Judgement:
    th = registry().thresholds
    if j.verdict == "official":
        j.score = 0
        return j
    j.score = int(max(0, min(100, round(j.points))))
    if j.score >= th["fake"] and j.impersonates:
        j.verdict = "fake_gov_site"
    elif j.score >= th["suspicious"]:
        j.verdict = "suspicious"
    else:
        j.verdict = "benign"
        j.impersonates = ""     # a word like "hangong" in a shop's name impersonates nobody
    return j


# ---------------------------------------------------------------- name + page + WHOIS

def judge(raw: str, html: str | None = None, whois_text: str | None = None,
          checked_at: str | None = None, whois_facts: dict | None = None) -> Judgement:
    """Judge a site by its name, and when given, its page and WHOIS answer.
    WHOIS adds weight only once the name or the page point at a fake."""
    j = score_host(raw)
    if j.verdict == "official" or j.bad_host:
        return j
    from pipelines import pagesignals, whois
    if html:
        pagesignals.apply(j, html)
    if whois_text is not None or whois_facts is not None:
        facts = whois_facts if whois_facts is not None else whois.parse(j.domain or j.host, whois_text or "")
        whois.apply(j, facts, checked_at)
    return _finish(j)


finish = _finish


@functools.lru_cache(maxsize=50_000)
def site_judge(host: str) -> tuple[bool, str]:
    """For the sale classifier: does a linked host look like a fake query
    site? Returns (bad, Chinese explanation). Cached: the same seller's
    domain comes back in listing after listing."""
    j = score_host(host)
    th = registry().thresholds
    bad = j.verdict == "fake_gov_site" or (j.verdict == "suspicious" and j.score >= th["judge"])
    if not bad:
        return False, ""
    target = f"，仿冒 {j.impersonates}" if j.impersonates else ""
    top = max((r for r in j.reasons if r["weight"] > 0), key=lambda r: r["weight"], default=None)
    why = top["label"] if top else ""
    return True, f"{VERDICT_CN[j.verdict]}（{j.score} 分{target}；{why}）"
