"""Off-platform contacts in a listing, returned normalized so that two
listings with the same contact can be linked.

Works on the folded text of :mod:`pipelines.normalize` (微信 variants
already unified); phone and QQ numbers may be written with Chinese numerals
or split by markers such as ``178(电)73xx(微)90xx``.
"""
from __future__ import annotations

import functools
import re

import tldextract

from pipelines.fastre import scanner
from pipelines.normalize import Normalized, fold_numerals, normalize

_DIGITISH = "0-9零〇洞一幺壹二两贰三叁四肆五伍六陆七柒拐八捌九玖勾①②③④⑤⑥⑦⑧⑨⓪"
# Cheap gate for the number patterns: five digit-like characters close together.
_FIVE_DIGITS = re.compile(rf"[{_DIGITISH}](?:[^{_DIGITISH}]{{0,4}}[{_DIGITISH}]){{4}}")
# A mobile number: 11 digits, each pair allowed up to 4 marker characters
# between them (spaces, dashes, "(电)", "(微)"); "+86" or "86" may precede it.
_MOBILE = re.compile(
    rf"(?:(?<![0-9])|(?<=(?<![0-9])86))([1一幺壹](?:[^{_DIGITISH}\n]{{0,4}}?[{_DIGITISH}]){{10}})(?![0-9])")
_QQ = re.compile(rf"(?:qq|q号|q:|q\s*群|企鹅|扣)\s*(?:群|群号)?\s*(?:号|号码)?\s*[:=]?\s*((?:[{_DIGITISH}][\s-]?){{5,11}})")
# A WeChat id after 微信/微/vx/v (extract() skips a v inside a letter run, and a bare v glued to a word of letters):
# letters first, or digits (an id bound to a QQ or phone number: "【╬溦542394562】").
_WECHAT = re.compile(
    r"(?:微信|微|vx|v)\s*(?:号|号码|id)?\s*(?:是|为)?\s*[:=]?\s*([a-z][-_a-z0-9]{5,19}|[1-9][0-9]{5,10})"
    r"(?![a-z0-9_-])")
_WECHAT_SAME = re.compile(r"微信同号|同微信|微信同步|手机同微")
_TELEGRAM = re.compile(r"(?:telegram|tg|纸飞机|飞机|电报)\s*(?:号)?\s*[:=]?\s*@?([a-z][a-z0-9_]{4,31})"
                       r"|t\.me/([a-z][a-z0-9_]{4,31})")
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"'，。！？、；）】,]+")     # folded text: lower case
_DOMAIN = re.compile(
    r"(?<![a-z0-9@._-])((?:xn--)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.(?:xn--)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)"
    r"(?![a-z0-9-])")
_TELEGRAM_SCAN = scanner(_TELEGRAM)
_MOBILE_SCAN = scanner(_MOBILE)     # starts at the first digit, not at every position
_MOBILE_DIGITS = re.compile(r"1[3-9]\d{9}")
_DOMAIN_SCAN = scanner(_DOMAIN)     # skips Chinese text in C (see pipelines/fastre.py)
_EMAIL = re.compile(r"[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(?:\.[a-z0-9-]+)+")   # see normalize._EMAIL_PART

# Strings that look like WeChat IDs but are words of the listing.
_NOT_WECHAT = frozenset({"wechat", "weixin", "number", "online", "http", "https"})


@functools.cache
def extractor() -> tldextract.TLDExtract:
    """tldextract with its bundled suffix list: no network, no cache files."""
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True)


@functools.lru_cache(maxsize=100_000)
def is_registrable(cand: str) -> bool:
    """A dotted name under a public suffix with a non-numeric name ("1.5" and
    "v1.2" are not domains). Cached: sellers repeat their domains."""
    if cand.replace(".", "").isdigit():
        return False
    parts = extractor()(cand)
    return bool(parts.suffix and parts.domain and not parts.domain.isdigit())


_NOT_DIGIT = re.compile(r"\D")


def _digits(s: str) -> str:
    return _NOT_DIGIT.sub("", fold_numerals(s))


def host_of(url: str) -> str:
    m = re.match(r"(?:https?://)?([^/:?#\s]+)", url.strip(), re.IGNORECASE)
    return m.group(1).lower().rstrip(".") if m else ""


_KINDS = ("wechat", "qq", "phone", "telegram", "url", "domain")


def extract(text: str | Normalized) -> dict[str, list[str]]:
    """Contacts by kind: wechat, qq, phone, telegram, url, domain (sorted, unique)."""
    norm = text if isinstance(text, Normalized) else normalize(text)
    t = norm.text
    found: dict[str, set[str]] = {}
    if "." in t:
        _links(t, found)
    if _FIVE_DIGITS.search(t) is not None:
        _numbers(t, found)
    for m in _WECHAT.finditer(t):
        wid = m.group(1).rstrip("-")    # "-vxdd98254071-制作": the hyphen separates, it is not the id's
        s = m.start()
        if len(wid) < 6:
            continue
        if t[s] == "v":
            if s and "a" <= t[s - 1] <= "z":
                continue                # "…xcvbnm…": a v inside a run of letters
            if (m.start(1) == s + 1 and wid.isalpha()
                    and not (s and "\u4e00" <= t[s - 1] <= "\u9fff")):
                continue                # "can be verified": an English word, not v + an id ("加vzb123456", "-vdd39857390z" stay)
        if wid not in _NOT_WECHAT and not wid.startswith(("http", "www")):
            found.setdefault("wechat", set()).add(wid)
    if "phone" in found and _WECHAT_SAME.search(t):
        found.setdefault("wechat", set()).update(found["phone"])
    if "t" in t or "飞机" in t:
        for m in _TELEGRAM_SCAN.finditer(t):
            found.setdefault("telegram", set()).add(m.group(1) or m.group(2))
    if not found:
        return {}
    return {k: sorted(found[k]) for k in _KINDS if found.get(k)}


def _links(t: str, found: dict) -> None:
    """URLs and bare domains (not the domain part of an e-mail address)."""
    urls = set()
    for m in _URL.finditer(t):
        url = m.group(0).rstrip(".,;:!?)")
        urls.add(url if url.startswith("http") else "http://" + url)
    emails = {m.group(0) for m in _EMAIL.finditer(t)} if "@" in t else set()
    domains = set()
    for m in _DOMAIN_SCAN.finditer(t):
        cand = m.group(1).rstrip(".")
        if not any(cand in e for e in emails) and is_registrable(cand):
            domains.add(cand)
    for url in urls:
        host = host_of(url)
        if host:
            domains.add(host)
    if urls:
        found["url"] = urls
    if domains:
        found["domain"] = domains


def _numbers(t: str, found: dict) -> None:
    """Mobile and QQ numbers, also written with Chinese numerals or split."""
    for m in _MOBILE_SCAN.finditer(t):
        digits = _digits(m.group(1))
        if _MOBILE_DIGITS.fullmatch(digits):
            found.setdefault("phone", set()).add(digits)
    for m in _QQ.finditer(t):
        digits = _digits(m.group(1))
        if 5 <= len(digits) <= 11 and digits[0] != "0":
            found.setdefault("qq", set()).add(digits)


def contact_keys(contacts: dict[str, list[str]]) -> list[str]:
    """Flat keys ("wechat:abc123") for linking listings that share a contact."""
    return [f"{kind}:{value}" for kind in ("wechat", "qq", "phone", "telegram")
            for value in contacts.get(kind, [])]
