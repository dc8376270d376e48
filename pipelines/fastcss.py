"""CSS queries over a parsel Selector without a Selector object per match.

``sel.css(q).getall()`` wraps every match in a parsel Selector and then
reads each back; a results page's links, a detail page's text nodes and the
block check's "is the expected element there" need only the strings or a
yes/no. These functions give exactly what parsel gives (the same CSS→XPath
translation, the same compiled XPath with parsel's namespaces, plain
strings) and fall back to parsel itself for anything else: a match that is
an element (parsel serializes it), a selector that is not HTML, an invalid
query (parsel's own error).

A page's answers are kept with its Selector while the page lives: the block
check asks for a result list or a detail title, and the spider then reads
the same query on the same page.
"""
from __future__ import annotations

import functools
import weakref

from lxml import etree
from parsel import Selector
from parsel.csstranslator import css2xpath


@functools.lru_cache(maxsize=512)
def _compiled(css: str, namespaces: tuple, smart: bool = False) -> etree.XPath:
    return etree.XPath(css2xpath(css), namespaces=dict(namespaces), smart_strings=smart)


_answers: "weakref.WeakKeyDictionary[Selector, dict]" = weakref.WeakKeyDictionary()


def _matches(sel: Selector, css: str):
    """The raw XPath result of ``css`` on ``sel``, or None where parsel must
    answer (a fresh list: callers may keep or change it)."""
    try:
        known = _answers[sel]
    except KeyError:
        known = _answers[sel] = {}
    except TypeError:           # not weak-referenceable (not a parsel Selector)
        known = {}
    if css not in known:
        known[css] = _evaluate(sel, css)
    result = known[css]
    return None if result is None else list(result)


def _evaluate(sel: Selector, css: str, smart: bool = False):
    """The compiled query's list on an HTML ``sel``; None where parsel must answer."""
    if sel.type != "html" or not hasattr(sel.root, "xpath"):
        return None
    try:
        result = _compiled(css, tuple(sorted(sel.namespaces.items())), smart)(sel.root)
    except (etree.XPathError, ValueError, TypeError):
        return None
    return result if isinstance(result, list) else None


def css_strings(sel: Selector, css: str) -> list[str]:
    """``sel.css(css).getall()`` for queries that select text or attributes."""
    result = _matches(sel, css)
    if result is None or not all(type(x) is str for x in result):
        return sel.css(css).getall()
    return result


def css_exists(sel: Selector, css: str) -> bool:
    """``bool(sel.css(css))``."""
    result = _matches(sel, css)
    if result is None:
        return bool(sel.css(css))
    return bool(result)


def css_text_nodes(sel: Selector, css: str) -> list | None:
    """The text nodes ``css`` selects as lxml "smart strings" (each knows
    its parent element and whether it is an element's text or its tail), in
    document order; None where only parsel can answer (not HTML, an invalid
    query, a match that is an element or a computed value)."""
    result = _evaluate(sel, css, smart=True)
    if result is None or not all(isinstance(x, etree._ElementUnicodeResult) for x in result):
        return None
    return result
