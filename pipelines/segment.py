"""Word boundaries with jieba, for short phrases that can sit inside other
words ("包过" in "面包过期", "代考" in "代考虑", "出证" in "演出证").

One tokenizer per process, with a user dictionary of the keyword library's
terms and the classifier's short intent words (so jieba keeps "包过",
"代办", "免考" whole). Only a small window around a hit is cut, so the cost
is bounded per hit, not per text (jieba runs ~1 MB/s).
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile

import jieba

jieba.setLogLevel(logging.WARNING)

# Words jieba must keep whole (beside the keyword library's terms).
INTENT_WORDS = ("包过", "保过", "代办", "代考", "替考", "办证", "出证", "拿证", "下证", "免考", "免试",
                "不用考", "免培训", "买证", "卖证", "包办", "帮办", "直出", "可查", "能查", "网查")
WINDOW = 6


@functools.cache
def tokenizer() -> jieba.Tokenizer:
    """The tokenizer, initialized (dictionary loaded) on first use."""
    tk = jieba.Tokenizer()
    tk.tmp_dir = tempfile.gettempdir()
    tk.cache_file = os.path.join(tempfile.gettempdir(), "certwatch-jieba.cache")
    from keywords import default_keywords
    tk.initialize()
    for word in {k["term"] for k in default_keywords()} | set(INTENT_WORDS):
        tk.add_word(word, freq=20000)
    return tk


def load_userdict(path: str) -> None:
    """Add a user dictionary (e.g. keywords.jieba_userdict(db)) to the tokenizer."""
    tokenizer().load_userdict(path)
    _edges.cache_clear()            # new words move boundaries


def at_boundaries(text: str, start: int, end: int) -> bool:
    """True when text[start:end] starts and ends on jieba word boundaries.

    Fast path: when no dictionary word straddles either edge (the character
    before + the first, the last + the character after), the edges are
    boundaries. Otherwise jieba segments a small window and decides."""
    freq = tokenizer().FREQ
    left = text[start - 1:start + 1] if start > 0 else ""
    right = text[end - 1:end + 1] if end < len(text) else ""
    if not freq.get(left) and not freq.get(right):
        return True
    a = max(0, start - WINDOW)
    b = min(len(text), end + WINDOW)
    edges = _edges(text[a:b])
    return (start - a) in edges and (end - a) in edges


@functools.lru_cache(maxsize=65_536)
def _edges(window: str) -> frozenset:
    """Word boundaries (offsets) of a small window. Cached: listings repeat
    their phrasing, and a window is at most a dozen characters."""
    edges = {0}
    pos = 0
    for word in tokenizer().cut(window, HMM=False):
        pos += len(word)
        edges.add(pos)
    return frozenset(edges)
