"""Text of pages nested deeper than libxml2 parses.

lxml (and so Scrapy's selectors) stops building the tree at libxml2's depth
limit (2048 with huge_tree) and silently drops everything below it: a page
that wraps its ad in 3,000 ``<div>`` would reach the classifier empty. For
such pages :func:`deep_text` reads the text with the standard library's
tokenizer, which keeps no tree and so has no depth limit.
"""
from __future__ import annotations

import html.parser

LIBXML2_MAX_DEPTH = 2048
_SKIP = {"script", "style", "noscript", "template"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
         "track", "wbr"}


class _Reader(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.depth = self.max_depth = 0
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _VOID:
            return
        self.depth += 1
        self.max_depth = max(self.max_depth, self.depth)
        if tag in _SKIP:
            self.skipping += 1

    def handle_endtag(self, tag):
        if tag in _VOID:
            return
        self.depth = max(0, self.depth - 1)
        if tag in _SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.parts.append(data.strip())


def too_deep(page: str, limit: int = LIBXML2_MAX_DEPTH) -> bool:
    """Does ``page`` nest deeper than libxml2 parses? (Cheap for most
    pages: fewer opening tags than the limit cannot nest that deep.)"""
    if page.count("<") <= limit:
        return False
    reader = _Reader()
    reader.feed(page)
    reader.close()
    return reader.max_depth > limit


def deep_text(page: str, limit_chars: int = 100_000) -> str:
    """All visible text of ``page`` (no depth limit), spaces collapsed."""
    reader = _Reader()
    reader.feed(page)
    reader.close()
    return " ".join(reader.parts)[:limit_chars]
