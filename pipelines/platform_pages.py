"""What a platform profile extracts from a page: result links (with
redirect parameters unwrapped), the next page, detail fields, and the items
of a JSON API. Plain functions over parsel selectors and decoded JSON, so
the spiders and ``certwatch profile try`` (a saved page) read pages the
same way."""
from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import parse_qs, urljoin, urlsplit, urlunsplit

import jmespath
from parsel import Selector

from pipelines.fastcss import css_strings
from pipelines.profiles import Profile

MAX_FIELD = 100_000
_LINK = re.compile(r'<\s*([^>\s]+)\s*>\s*((?:;\s*[^;,]+)*)')


def _text(values) -> str:
    return " ".join(t.strip() for t in values if t and t.strip())[:MAX_FIELD]


def unwrap(url: str, spec: dict | None) -> str:
    """The target a redirect link carries in a query parameter (``spec``:
    param, prefix, base64), or ``url`` itself when it carries none."""
    if not spec:
        return url
    values = parse_qs(urlsplit(url).query).get(spec["param"])
    if not values:
        return url
    value = values[0]
    if spec.get("prefix") and value.startswith(spec["prefix"]):
        value = value[len(spec["prefix"]):]
    if spec.get("base64"):
        try:
            value = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return url
    return value if value.startswith(("http://", "https://")) else url


def _clean(url: str, profile: Profile) -> str:
    if profile.search.get("strip_query"):
        parts = urlsplit(url)
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return url


def result_links(profile: Profile, sel: Selector, base_url: str) -> list[str]:
    """Absolute result URLs of a search page, in page order, without repeats."""
    selectors = profile.search["result"]
    if isinstance(selectors, str):
        selectors = [selectors]
    out: list[str] = []
    for css in selectors:
        for href in css_strings(sel, css):
            href = (href or "").strip()
            if not href or href.startswith(("javascript:", "#", "mailto:")):
                continue
            url = _clean(unwrap(urljoin(base_url, href), profile.search.get("unwrap")), profile)
            if url.startswith(("http://", "https://")) and url not in out:
                out.append(url)
    return out


def next_link(profile: Profile, sel: Selector, base_url: str) -> str | None:
    """The next result page: the ``next_page`` link (with ``next_text``: the
    first such link whose text contains it)."""
    css = profile.search.get("next_page")
    if not css:
        return None
    text = profile.search.get("next_text")
    if text:
        for el in sel.css(css):
            if text in "".join(el.css("::text").getall()) and el.attrib.get("href"):
                return urljoin(base_url, el.attrib["href"].strip())
        return None
    hrefs = css_strings(sel, css)
    href = hrefs[0] if hrefs else None
    return urljoin(base_url, href.strip()) if href and href.strip() else None


def detail_fields(profile: Profile, sel: Selector) -> dict:
    """title, text, seller, price of a detail page ("" where a field has no selector)."""
    out = {}
    for key in ("title", "text", "seller", "price"):
        css = profile.detail.get(key)
        out[key] = _text(css_strings(sel, css)) if css else ""
    return out


# ---------------------------------------------------------------- JSON APIs

def load_json(text: str):
    """Decoded JSON, or None for a body that is not JSON."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return None


def json_value(data, path: str) -> str:
    """A field as text (lists joined; objects and absent fields give "")."""
    if not path:
        return ""
    try:
        value = jmespath.search(path, data)
    except (jmespath.exceptions.JMESPathError, TypeError, ValueError):
        return ""
    if isinstance(value, list):
        return _text(str(v) for v in value if isinstance(v, (str, int, float)))
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)[:MAX_FIELD]
    return ""


def json_list(data, path: str) -> list:
    """The list at ``path`` ("" = the document itself); [] when it is not a list."""
    try:
        value = jmespath.search(path, data) if path else data
    except (jmespath.exceptions.JMESPathError, TypeError, ValueError):
        return []
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def json_items(profile: Profile, data) -> list[dict]:
    """One finding per item of a JSON search answer: url, title, text,
    seller, price, and where to read its comments."""
    out = []
    for obj in json_list(data, profile.search.get("items") or ""):
        url = json_value(obj, profile.search["result"])
        if not url.startswith(("http://", "https://")):
            continue
        item = {"url": url, **{k: json_value(obj, profile.detail.get(k, "")) for k in ("title", "text", "seller", "price")}}
        c = profile.comments
        if c:
            count = json_value(obj, c.get("count", "")) if c.get("count") else ""
            comments_url = json_value(obj, c["url"])
            if comments_url.startswith(("http://", "https://")) and (not c.get("count") or (count.isdigit() and int(count) > 0)):
                item["comments_url"] = comments_url
        out.append(item)
    return out


def json_comments(profile: Profile, data, title: str = "") -> list[dict]:
    """One finding per comment of a comments answer (titled after their item)."""
    c = profile.comments
    out = []
    for obj in json_list(data, c.get("items") or ""):
        url = json_value(obj, c["result"])
        if url.startswith(("http://", "https://")):
            out.append({"url": url, "title": title, "text": json_value(obj, c["text"]),
                        "seller": json_value(obj, c.get("seller", "")), "price": ""})
    return out


def link_next(header: str | None) -> str | None:
    """The rel="next" target of an RFC 8288 ``Link`` header."""
    for m in _LINK.finditer(header or ""):
        params = m.group(2).lower()
        if re.search(r'rel\s*=\s*"?[^";,]*\bnext\b', params):
            return m.group(1)
    return None
