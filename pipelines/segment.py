"""Word boundaries with jieba, for short phrases that can sit inside other
words ("包过" in "面包过期", "代考" in "代考虑", "出证" in "演出证").

One tokenizer per process, with a user dictionary of the keyword library's
terms and the classifier's short intent words (so jieba keeps "包过",
"代办", "免考" whole). Only a small window around a hit is cut, so the cost
is bounded per hit, not per text (jieba runs ~1 MB/s).

jieba's own start-up unmarshals a 498,000-entry dict (~1 s, ~65 MB): the
tokenizer here reads the same frequencies from sorted arrays instead
(:class:`Frequencies`, ~10 MB, built once from jieba's dictionary and kept
in the temporary folder); the words are the same, so the cuts are too.
"""
from __future__ import annotations

import array
import functools
import json
import logging
import os
import sys
import tempfile

from keywords.lightimport import without

with without("pkg_resources"):       # jieba finds its dictionary by path instead (~5 MB, 0.2 s)
    import jieba

from pipelines import usercache

jieba.setLogLevel(logging.WARNING)

# Words jieba must keep whole (beside the keyword library's terms).
INTENT_WORDS = ("包过", "保过", "代办", "代考", "替考", "办证", "出证", "拿证", "下证", "免考", "免试",
                "不用考", "免培训", "买证", "卖证", "包办", "帮办", "直出", "可查", "能查", "网查")
WINDOW = 6


class Frequencies:
    """jieba's prefix dictionary (word → frequency, 0 for a prefix that is no
    word) as one string of the sorted words, their start offsets and their
    frequencies; what jieba reads of its ``FREQ`` dict (``in``, ``[]``,
    ``get``) and writes (``add_word`` sets entries: kept in ``added``)."""

    __slots__ = ("text", "starts", "freqs", "n", "added", "memo")

    def __init__(self, text: str, starts: array.array, freqs: array.array):
        self.text, self.starts, self.freqs = text, starts, freqs
        self.n = len(freqs)
        self.added: dict[str, int] = {}
        self.memo: dict[str, int | None] = {}

    @classmethod
    def of(cls, freq: dict) -> "Frequencies":
        words = sorted(freq)
        starts = array.array("I", [0])
        pos = 0
        for w in words:
            pos += len(w)
            starts.append(pos)
        return cls("".join(words), starts, array.array("q", (freq[w] for w in words)))

    def _find(self, word: str):
        text, starts = self.text, self.starts
        lo, hi = 0, self.n
        while lo < hi:
            mid = (lo + hi) >> 1
            if text[starts[mid]:starts[mid + 1]] < word:
                lo = mid + 1
            else:
                hi = mid
        if lo < self.n and text[starts[lo]:starts[lo + 1]] == word:
            return self.freqs[lo]
        return None

    def get(self, word, default=None):
        value = self.added.get(word)
        if value is None:
            try:
                value = self.memo[word]
            except KeyError:
                if len(self.memo) > 200_000:
                    self.memo.clear()
                value = self.memo[word] = self._find(word)
        return default if value is None else value

    def __contains__(self, word) -> bool:
        return self.get(word) is not None

    def __getitem__(self, word) -> int:
        value = self.get(word)
        if value is None:
            raise KeyError(word)
        return value

    def __setitem__(self, word, value) -> None:
        self.added[word] = value

    def to_bytes(self, total: int) -> bytes:
        wide = any(ord(ch) > 0xFFFF for ch in self.text)
        encoding = "utf-32-le" if wide else "utf-16-le"
        freqs = array.array("I" if max(self.freqs, default=0) < 2 ** 32 and min(self.freqs, default=0) >= 0
                            else "q", self.freqs)
        head = json.dumps({"n": self.n, "total": total, "chars": len(self.text), "encoding": encoding,
                           "freq_type": freqs.typecode}).encode() + b"\n"
        return (_MAGIC + head + self.text.encode(encoding) + _le(self.starts).tobytes() + _le(freqs).tobytes())

    @classmethod
    def read(cls, fh) -> tuple["Frequencies", int]:
        """Read a file written from :meth:`to_bytes` (ValueError when it is not one)."""
        if fh.read(len(_MAGIC)) != _MAGIC:
            raise ValueError("not a frequency file")
        head = json.loads(fh.readline(4096))
        n, chars, encoding = int(head["n"]), int(head["chars"]), head["encoding"]
        if encoding not in ("utf-16-le", "utf-32-le") or head["freq_type"] not in ("I", "q"):
            raise ValueError("unknown frequency file")
        width = 2 if encoding == "utf-16-le" else 4
        text = fh.read(width * chars).decode(encoding)
        starts, freqs = array.array("I"), array.array(head["freq_type"])
        starts.fromfile(fh, n + 1)            # EOFError when short
        freqs.fromfile(fh, n)
        starts, freqs = _le(starts), _le(freqs)
        if len(text) != chars or starts[-1] != chars or fh.read(1):
            raise ValueError("damaged frequency file")
        return cls(text, starts, freqs), int(head["total"])


_MAGIC = b"certwatch-jieba-freq 2\n"


def _le(a: array.array) -> array.array:
    """The array in little-endian order (the file's), a copy where swapped."""
    if sys.byteorder == "little":
        return a
    b = array.array(a.typecode, a)
    b.byteswap()
    return b


def _freq_name() -> str:
    """The frequency file's name: this jieba and its dictionary's size."""
    size = os.path.getsize(os.path.join(os.path.dirname(jieba.__file__), jieba.DEFAULT_DICT_NAME))
    return f"jieba-{jieba.__version__}-{size}.freq"


def frequencies() -> tuple[Frequencies, int]:
    """jieba's default dictionary as :class:`Frequencies` and its total:
    read from this user's file (pipelines.usercache), else built from
    jieba's dictionary (what ``Tokenizer.initialize`` builds) and written
    for next time. A file that does not parse is rebuilt."""
    name = _freq_name()
    fh = usercache.open_file(name)
    if fh is not None:
        with fh:
            try:
                return Frequencies.read(fh)
            except (ValueError, KeyError, TypeError, EOFError, UnicodeDecodeError):
                pass
    tk = jieba.Tokenizer()
    freq, total = tk.gen_pfdict(tk.get_dict_file())
    table = Frequencies.of(freq)
    del freq
    usercache.write(name, table.to_bytes(total))
    return table, total


@functools.cache
def tokenizer() -> jieba.Tokenizer:
    """The tokenizer, initialized (dictionary loaded) on first use."""
    tk = jieba.Tokenizer()
    tk.tmp_dir = tempfile.gettempdir()
    from keywords import default_keywords
    tk.FREQ, tk.total = frequencies()
    tk.initialized = True
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
