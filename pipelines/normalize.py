"""Undo sellers' evasion tricks, keeping a map back to the original text.

``normalize(text)`` returns a :class:`Normalized` whose ``text`` is folded
(NFKC, full-width, ASCII lower case, traditional → simplified for the
vocabulary that matters, zero-width characters and decorative separators
between Chinese characters removed, homophone/variant phrases replaced) and
whose ``origin`` maps every folded character back to the original, so a
reason can quote the original span. URLs and e-mail addresses are kept
verbatim (only case-folded). The tables are data: ``keywords/normalize.yaml``.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from keywords import load_yaml

# Work per item is bounded: longer texts are cut (the cut is reported by
# the classifier as a reason, never silently).
MAX_CHARS = 20_000

_URLISH = re.compile(
    r"(?:https?://|www\.)[^\s<>\"'，。！？、；）】]+"
    r"|[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)+"
    r"|(?<![a-z0-9-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:com|cn|net|org|top|xyz|cc|vip|info|site|online|icu|shop|club|ltd|work|pw|wang|ink|live|tech|store|fun|link|biz|me|tv|co|asia|hk|tw|xin|love|pro|red|kim|mobi|name)(?:\.cn)?(?:/[^\s<>\"'，。！？、；）】]*)?",
    re.IGNORECASE)


def _toneless(py: str) -> str:
    return unicodedata.normalize("NFKD", py).encode("ascii", "ignore").decode() or py


@functools.cache
def pinyin_of() -> dict:
    """Character → set of toneless pinyin readings (pypinyin's dictionary)."""
    from pypinyin.pinyin_dict import pinyin_dict
    return {chr(cp): frozenset(_toneless(p) for p in readings.split(","))
            for cp, readings in pinyin_dict.items()}


@dataclass(frozen=True)
class Tables:
    zero_width: frozenset
    separators: frozenset
    traditional: dict
    variants_re: re.Pattern
    variants: dict
    numerals: dict
    homophones: tuple       # (term, tuple of pinyin sets per char)


@functools.cache
def tables() -> Tables:
    data = load_yaml("normalize.yaml")
    variants = {unicodedata.normalize("NFKC", k).lower(): v for k, v in data["variants"].items()}
    pattern = "|".join(re.escape(k) for k in sorted(variants, key=len, reverse=True))
    return Tables(
        zero_width=frozenset(data["zero_width"]),
        separators=frozenset(unicodedata.normalize("NFKC", data["separators"]))
        | frozenset(data["separators"]),
        traditional=dict(data["traditional"]),
        variants_re=re.compile(pattern),
        variants=variants,
        numerals=dict(data["numerals"]),
        homophones=tuple((term, tuple(pinyin_of().get(c, frozenset()) for c in term))
                         for term in data.get("homophones", [])),
    )


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


@dataclass
class Normalized:
    original: str
    text: str
    origin: list[int]
    truncated: bool = False

    def span(self, start: int, end: int) -> str:
        """The original text behind folded characters ``start:end``."""
        if not self.origin or start >= end:
            return ""
        a = self.origin[start]
        b = self.origin[min(end, len(self.origin)) - 1]
        return self.original[a:b + 1]


def _fold(text: str, t: Tables) -> tuple[list[str], list[int]]:
    chars: list[str] = []
    origin: list[int] = []
    for i, ch in enumerate(text):
        if ch in t.zero_width:
            continue
        if ord(ch) < 128:
            folded = ch.lower()
        else:
            folded = unicodedata.normalize("NFKC", ch).lower()
        for c in folded:
            c = t.traditional.get(c, c)
            chars.append(c)
            origin.append(i)
    return chars, origin


def _protected(folded: str) -> list[tuple[int, int]]:
    return [m.span() for m in _URLISH.finditer(folded)]


_SEPARATOR_CATEGORIES = frozenset({"So", "Sm", "Sk", "Sc", "Pd", "Pc", "Zs", "Mn", "Me", "Cf"})


@functools.cache
def is_separator(ch: str) -> bool:
    if ch in tables().separators:
        return True
    return unicodedata.category(ch) in _SEPARATOR_CATEGORIES and ch not in "¥$￥%"


def _drop_separators(chars: list[str], origin: list[int], protected: list[tuple[int, int]],
                     t: Tables) -> tuple[list[str], list[int]]:
    """Remove runs of separators standing between two Chinese characters."""
    keep = [True] * len(chars)
    inside = [False] * len(chars)
    for a, b in protected:
        for k in range(a, b):
            inside[k] = True
    n = len(chars)
    i = 0
    while i < n:
        if not inside[i] and is_separator(chars[i]):
            j = i
            while j < n and not inside[j] and is_separator(chars[j]):
                j += 1
            if i > 0 and j < n and is_cjk(chars[i - 1]) and is_cjk(chars[j]) and j - i <= 6:
                for k in range(i, j):
                    keep[k] = False
            i = j
        else:
            i += 1
    return ([c for c, k in zip(chars, keep) if k], [o for o, k in zip(origin, keep) if k])


def _replace_variants(text: str, origin: list[int], protected: list[tuple[int, int]],
                      t: Tables) -> tuple[str, list[int]]:
    out: list[str] = []
    out_origin: list[int] = []
    pos = 0
    prot = iter(protected + [(len(text) + 1, len(text) + 1)])
    pa, pb = next(prot)
    for m in t.variants_re.finditer(text):
        s, e = m.span()
        while pb <= s:
            pa, pb = next(prot)
        if pa < e and s < pb:          # inside a URL or address: leave alone
            continue
        # ASCII variants (vx, wx, daiban) only count as whole tokens.
        key = m.group(0)
        if key.isascii() and key[0].isalnum():
            before = text[s - 1] if s else " "
            after = text[e] if e < len(text) else " "
            if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalpha()):
                continue
        out.append(text[pos:s])
        out_origin.extend(origin[pos:s])
        repl = t.variants[key]
        out.append(repl)
        # Every replacement character points into the original span.
        span = origin[s:e]
        out_origin.extend(span[min(k, len(span) - 1)] if k < len(repl) - 1 else span[-1]
                          for k in range(len(repl)))
        pos = e
    out.append(text[pos:])
    out_origin.extend(origin[pos:])
    return "".join(out), out_origin


def _replace_homophones(text: str, origin: list[int], t: Tables) -> str:
    """Same-length replacement of homophones of the watched terms, so the
    origin map stays valid."""
    readings = pinyin_of()
    chars = list(text)
    first: dict[str, list] = {}
    for term, sets in t.homophones:
        for py in sets[0]:
            first.setdefault(py, []).append((term, sets))
    n = len(chars)
    for i, ch in enumerate(chars):
        if not is_cjk(ch):
            continue
        cands = set()
        for py in readings.get(ch, ()):
            cands.update(first.get(py, ()))
        for term, sets in cands:
            k = len(term)
            if i + k > n or "".join(chars[i:i + k]) == term:
                continue
            if all(chars[i + j] == term[j] or readings.get(chars[i + j], frozenset()) & sets[j]
                   for j in range(k)):
                chars[i:i + k] = list(term)
                break
    return "".join(chars)


def normalize(text: str | None) -> Normalized:
    original = text or ""
    truncated = len(original) > MAX_CHARS
    if truncated:
        original = original[:MAX_CHARS]
    t = tables()
    chars, origin = _fold(original, t)
    folded = "".join(chars)
    chars, origin = _drop_separators(chars, origin, _protected(folded), t)
    folded = "".join(chars)
    folded, origin = _replace_variants(folded, origin, _protected(folded), t)
    folded = _replace_homophones(folded, origin, t)
    return Normalized(original, folded, origin, truncated)


def fold_numerals(text: str) -> str:
    """Chinese numerals and circled digits → ASCII digits (for numbers only)."""
    t = tables()
    return "".join(t.numerals.get(c, c) for c in text)
