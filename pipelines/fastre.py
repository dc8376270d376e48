"""Faster scanning for big alternations of Chinese phrases.

Python's ``re`` only skips quickly to candidate positions when every branch
of a pattern starts with a literal. Rules written as ``(帮|给)(你|他)办``
do not, so each position of the text tries every branch. ``scanner(p)``
computes the set of characters a match can start with and scans with
``[F](?<=(?=p).)``, which ``re`` runs as a fast character-set search; the
full span is then taken with ``p.match``. Same matches as ``p.finditer``.
"""
from __future__ import annotations

import re
from re import _constants as C, _parser as P

_NOT_SIMPLE = object()


def _first(items) -> tuple[set, bool] | object:
    """(first characters, nullable) of a parsed sequence, or _NOT_SIMPLE."""
    chars: set = set()
    for op, av in items:
        if op is C.LITERAL:
            chars.add(chr(av))
            return chars, False
        if op is C.IN:
            for sop, sav in av:
                if sop is C.LITERAL:
                    chars.add(chr(sav))
                elif sop is C.RANGE:
                    if sav[1] - sav[0] > 5000:
                        return _NOT_SIMPLE
                    chars.update(chr(c) for c in range(sav[0], sav[1] + 1))
                else:
                    return _NOT_SIMPLE
            return chars, False
        if op is C.SUBPATTERN:
            got = _first(av[3])
            if got is _NOT_SIMPLE:
                return got
            chars |= got[0]
            if not got[1]:
                return chars, False
            continue
        if op is C.BRANCH:
            nullable = False
            for alt in av[1]:
                got = _first(alt)
                if got is _NOT_SIMPLE:
                    return got
                chars |= got[0]
                nullable = nullable or got[1]
            if not nullable:
                return chars, False
            continue
        if op in (C.MAX_REPEAT, C.MIN_REPEAT):
            lo, _hi, sub = av
            got = _first(sub)
            if got is _NOT_SIMPLE:
                return got
            chars |= got[0]
            if lo > 0 and not got[1]:
                return chars, False
            continue
        if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
            continue                      # zero width
        return _NOT_SIMPLE
    return chars, True


def _literal_start(pattern: re.Pattern) -> bool:
    """True when ``re`` already skips fast: every branch starts with a literal."""
    try:
        items = list(P.parse(pattern.pattern, pattern.flags))
    except Exception:
        return False
    while items and items[0][0] is C.SUBPATTERN:
        items = list(items[0][1][3])
    if not items:
        return False
    op, av = items[0]
    if op is C.LITERAL:
        return True
    if op is C.BRANCH:
        for alt in av[1]:
            alt = list(alt)
            while alt and alt[0][0] is C.SUBPATTERN:
                alt = list(alt[0][1][3])
            if not alt or alt[0][0] is not C.LITERAL:
                return False
        return True
    return False


class Scanner:
    def __init__(self, pattern: re.Pattern):
        self.pattern = pattern
        self.fast = None
        try:
            got = _first(P.parse(pattern.pattern, pattern.flags))
        except Exception:
            got = _NOT_SIMPLE
        if got is not _NOT_SIMPLE and not got[1] and got[0] and not _literal_start(pattern):
            cls = "".join(re.escape(c) for c in sorted(got[0]))
            self.fast = re.compile(f"[{cls}](?<=(?=(?:{pattern.pattern})).)", pattern.flags)

    def finditer(self, text: str):
        if self.fast is None:
            yield from self.pattern.finditer(text)
            return
        end = 0
        match = self.pattern.match
        for hit in self.fast.finditer(text):
            pos = hit.start()
            if pos < end:
                continue
            m = match(text, pos)
            if m is not None:
                end = max(m.end(), pos + 1)
                yield m

    def search(self, text: str):
        for m in self.finditer(text):
            return m
        return None


def scanner(pattern: re.Pattern | None) -> Scanner | None:
    return Scanner(pattern) if pattern is not None else None


class MultiScanner:
    """All of a classifier's patterns in one pass: a character-set search
    over the union of their first characters finds candidate positions,
    and only the patterns that can start with that character are tried
    there. Per pattern, the matches equal ``pattern.finditer(text)``
    (leftmost, non-overlapping)."""

    def __init__(self, patterns: dict):
        self.patterns = {k: p for k, p in patterns.items() if p is not None}
        self.by_char: dict[str, list] = {}
        self.fallback: list = []
        union: set = set()
        for key, pattern in self.patterns.items():
            try:
                got = _first(P.parse(pattern.pattern, pattern.flags))
            except Exception:
                got = _NOT_SIMPLE
            if got is _NOT_SIMPLE or got[1] or not got[0]:
                self.fallback.append(key)
                continue
            union |= got[0]
            for ch in got[0]:
                self.by_char.setdefault(ch, []).append((key, pattern.match))
        cls = "".join(re.escape(c) for c in sorted(union))
        self.candidates = re.compile(f"[{cls}]") if cls else None

    def scan(self, text: str) -> dict:
        """{key: [match, ...]} for the patterns that match."""
        hits: dict = {}
        ends: dict = {}
        if self.candidates is not None:
            by_char = self.by_char
            for cand in self.candidates.finditer(text):
                pos = cand.start()
                for key, match in by_char[text[pos]]:
                    if pos < ends.get(key, 0):
                        continue
                    m = match(text, pos)
                    if m is not None:
                        ends[key] = max(m.end(), pos + 1)
                        hits.setdefault(key, []).append(m)
        for key in self.fallback:
            found = list(self.patterns[key].finditer(text))
            if found:
                hits[key] = found
        return hits
