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

from pipelines.fastcss import css_strings, css_text_nodes
from pipelines.profiles import Profile

MAX_FIELD = 100_000
_LINK = re.compile(r'<\s*([^>\s]+)\s*>\s*((?:;\s*[^;,]+)*)')


def _text(values) -> str:
    return " ".join(t.strip() for t in values if t and t.strip())[:MAX_FIELD]


# Elements that start a line of their own where a browser lays the page out
# (a paragraph, a forum floor, a list item, a table row, a line break).
# Table cells are not: the cells of one row read as one line, a space apart.
_BLOCKS = frozenset((
    "address", "article", "aside", "blockquote", "body", "br", "caption", "center", "dd", "details", "dialog", "dir",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
    "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "option", "p", "pre", "section",
    "summary", "table", "tbody", "tfoot", "thead", "tr", "ul"))
_CELLS = frozenset(("td", "th"))
_STOPS = _BLOCKS | _CELLS
_BLANK_RUNS = re.compile(r"\n{3,}")
_UNKNOWN = object()


def _anchor(el, known: dict):
    """The nearest block or cell element holding ``el`` (itself included);
    None above the root. Each element is looked at once per page (``known``),
    so deep nesting costs one walk, not one per text node."""
    found = known.get(el, _UNKNOWN)
    if found is not _UNKNOWN:
        return found
    path = []
    while el is not None:
        tag = el.tag
        if tag.__class__ is str and tag in _STOPS:
            found = el
            break
        path.append(el)
        el = el.getparent()
        found = known.get(el, _UNKNOWN)
        if found is not _UNKNOWN:
            break
    else:
        found = None
    known[el] = found
    for p in path:
        known[p] = found
    return found


def block_text(nodes) -> str:
    """Text nodes (lxml smart strings, in page order) as the page reads: a
    new line where the page starts or ends a block (a paragraph, a reply, a
    list item, a row, a <br>), inline runs (b, span, a, font) joined as they
    are, the cells of a row a space apart. Line breaks typed inside a text
    (as its writer typed it) stay, a run of blank lines kept as one; white
    space between tags (the page source's layout) is only a space, and none
    at a block's edge; lines stripped (white space within a line kept as the
    page has it)."""
    known: dict = {}
    pieces: list[str] = []
    size = 0
    last = None                 # the anchor of the last text that was not only white space
    broken = False              # a block ended since then (in white space)
    for node in nodes:
        parent = node.getparent()
        if node.is_attribute or parent is None:
            anchor, hard = node, True           # an attribute value: a line of its own
        elif node.is_tail:
            tag = parent.tag
            anchor = _anchor(parent.getparent(), known)
            hard = isinstance(tag, str) and tag in _BLOCKS      # text after </p>, <br>: a new line
        else:
            anchor, hard = _anchor(parent, known), False
        if not node.strip():
            if hard:
                broken = True
            elif anchor is last and pieces:
                pieces.append(" ")
            continue
        if not pieces or hard or broken or anchor is not last:
            cells = (pieces and not hard and not broken and getattr(last, "tag", None) in _CELLS
                     and getattr(anchor, "tag", None) in _CELLS
                     and _anchor(last.getparent(), known) is _anchor(anchor.getparent(), known))
            if pieces:
                pieces[-1] = pieces[-1].rstrip()
                pieces.append(" " if cells else "\n")
            node = node.lstrip()
        last, broken = anchor, False
        pieces.append(node)
        size += len(node)
        if size > 4 * MAX_FIELD:
            break
    lines = "".join(pieces).splitlines()         # \r\n, \r, \u2028... as \n
    text = _BLANK_RUNS.sub("\n\n", "\n".join(line.strip() for line in lines)).strip()
    return text[:MAX_FIELD].rstrip()


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
        nodes = css_text_nodes(sel, css) if css and key == "text" else None
        if nodes is not None:
            out[key] = block_text(nodes)            # lines as the page shows them
        else:
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
