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
    """``finditer``/``search`` of one pattern, starting only where the
    pattern's first character can be (and, when ``second`` is given — a
    set every match's second character is in — where it is followed by
    one of those)."""

    def __init__(self, pattern: re.Pattern, second: set | None = None):
        self.pattern = pattern
        self.fast = None
        try:
            got = _first(P.parse(pattern.pattern, pattern.flags))
        except Exception:
            got = _NOT_SIMPLE
        if got is not _NOT_SIMPLE and not got[1] and got[0] and not _literal_start(pattern):
            if second is None:
                second = second_characters(pattern)
            follow = f"(?=[{charclass(second)}])" if second else ""
            self.fast = re.compile(f"[{charclass(got[0])}]{follow}(?<=(?=(?:{pattern.pattern})).)", pattern.flags)

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


def second_characters(pattern: re.Pattern) -> set | None:
    """The characters every match's second character is among, when every
    match has two or more and the set is small; else None."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        two = _branch_prefixes(P.parse(pattern.pattern, pattern.flags), (2,))
    except Exception:
        return None
    if not two or any(len(a) < 2 for a in two):
        return None
    return {a[1] for a in two}


def top_level_alternatives(pattern: re.Pattern) -> list[str] | None:
    """The sources of a pattern's top-level alternatives ("a|(b|c)" →
    ["a", "(b|c)"]), each compilable alone; None when it has one or
    cannot be split (back references, inline flags)."""
    source = pattern.pattern
    parts, start, depth, in_class, i = [], 0, 0, False, 0
    while i < len(source):
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            i += 1 + (source[i + 1:i + 2] == "^")
            i += source[i:i + 1] == "]"          # "[]" and "[^]": a literal ]
            continue
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "|" and depth == 0:
            parts.append(source[start:i])
            start = i + 1
        i += 1
    parts.append(source[start:])
    if len(parts) < 2:
        return None
    try:
        for part in parts:
            re.compile(part, pattern.flags)
    except re.error:
        return None
    # A back reference or an inline flag means something else in a part alone.
    if any(re.search(r"\\[1-9]|\(\?P=|\(\?[aiLmsux]", part) for part in parts):
        return None
    return parts


def charclass(chars) -> str:
    """The body of a regex character class for these characters."""
    return "".join(re.escape(c) for c in sorted(chars))


def scanner(pattern: re.Pattern | None) -> Scanner | None:
    return Scanner(pattern) if pattern is not None else None


class _NotFinite(Exception):
    pass


_PREFIX_LIMIT = 4000


def _prefixes(items, k: int) -> set:
    """Every string a match of the parsed sequence can start with, cut at
    ``k`` characters (shorter strings: whole matches). Zero-width assertions
    are skipped, so the set may be larger than needed, never smaller.
    Raises _NotFinite when the set is not small and exact."""
    out = {""}
    for op, av in items:
        if all(len(s) >= k for s in out):
            break
        out = _extend(out, _item_prefixes(op, av, k), k)
    return out


def _extend(heads: set, tails_for, k: int) -> set:
    out = set()
    for s in heads:
        if len(s) >= k:
            out.add(s)
            continue
        for t in tails_for(k - len(s)):
            out.add((s + t)[:k])
        if len(out) > _PREFIX_LIMIT:
            raise _NotFinite
    return out


def _item_prefixes(op, av, k):
    """A function: room → the item's prefix set cut at ``room``."""
    if op is C.LITERAL:
        return lambda room: {chr(av)}
    if op is C.IN:
        chars = set()
        for sop, sav in av:
            if sop is C.LITERAL:
                chars.add(chr(sav))
            elif sop is C.RANGE and sav[1] - sav[0] <= 200:
                chars.update(chr(c) for c in range(sav[0], sav[1] + 1))
            else:
                raise _NotFinite
        return lambda room: chars
    if op is C.SUBPATTERN:
        return lambda room: _prefixes(av[3], room)
    if op is C.BRANCH:
        return lambda room: set().union(*(_prefixes(alt, room) for alt in av[1]))
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        lo, hi, sub = av

        def repeat(room):
            cur, got = {""}, ({""} if lo == 0 else set())
            for r in range(1, min(hi, max(lo, room)) + 1):
                cur = _extend(cur, lambda rest: _prefixes(sub, rest), room)
                if r >= lo:
                    got |= cur
            return got
        return repeat
    if op in (C.AT, C.ASSERT, C.ASSERT_NOT):
        return lambda room: {""}
    raise _NotFinite


def _branch_prefixes(items, ks: tuple = (3, 2, 1)) -> set | None:
    """Per top-level alternative, the prefixes every match starts with, of
    the first length in ``ks`` that gives a small, exact set (whole matches
    when shorter); None when some alternative has none. Three characters
    where an alternative allows make good anchors: fewer match by chance,
    so fewer ``match`` calls fail."""
    items = list(items)
    if len(items) == 1 and items[0][0] is C.BRANCH:
        out: set = set()
        for alt in items[0][1][1]:
            got = _branch_prefixes(alt, ks)
            if got is None:
                return None
            out |= got
        return out
    for k in ks:
        try:
            got = _prefixes(items, k)
        except _NotFinite:
            continue
        if "" not in got:
            return got
    return None


def pattern_anchors(pattern: re.Pattern) -> set | None:
    """Strings of one to three characters; every match of ``pattern`` starts
    with one of them. None when no such small set is known."""
    if pattern.flags & re.IGNORECASE:
        return None
    try:
        return _branch_prefixes(P.parse(pattern.pattern, pattern.flags))
    except Exception:
        return None


def _useful(anchors: set | None) -> bool:
    """Anchors worth an automaton entry. Not those of patterns that start
    with any digits (prices, "3天下证"): digit pairs fill every phone
    number and price, and a ``match`` in Python at each costs more than
    letting ``re`` scan."""
    return bool(anchors) and sum(a[:1].isdigit() for a in anchors) <= 10


def automaton(words: list[str], leftmost_first: bool = False):
    """An Aho–Corasick automaton over ``words``; ``find_matches_as_indexes(
    text, overlapping=True)`` gives every occurrence as (word index, start,
    end) in characters. With ``leftmost_first``, ``find_matches_as_indexes(
    text)`` gives what ``re`` finds for the alternation of the words in
    their order (leftmost; the first listed among those starting there;
    not overlapping). A contiguous NFA: a DFA was faster in a loop of its
    own (3.7 against 4.4 µs for the rules' anchors), but inside the
    classifier its larger table falls out of the cache between listings
    (scan 45 µs against 37 µs)."""
    import ahocorasick_rs
    match = ahocorasick_rs.MatchKind.LeftmostFirst if leftmost_first else ahocorasick_rs.MatchKind.Standard
    return ahocorasick_rs.AhoCorasick(words, matchkind=match,
                                      implementation=ahocorasick_rs.Implementation.ContiguousNFA)


class MultiScanner:
    """All of a classifier's patterns in one pass. Each pattern's possible
    first three characters (or two, or one, where more are not finite)
    go into one Aho–Corasick automaton (ahocorasick-rs, in Rust: its cost
    per character does not grow with the number of anchors); a pattern is
    only tried with ``match`` where one of its own prefixes occurs. A
    pattern whose anchors are no use (digit-led: "3天下证") is split into its
    top-level alternatives: those with useful anchors join the automaton,
    and a fast regex (:class:`Scanner`) finds where the others can start.
    Per pattern, the matches equal ``pattern.finditer(text)`` (leftmost,
    non-overlapping): a match cannot start anywhere else."""

    def __init__(self, patterns: dict):
        self.patterns = {k: p for k, p in patterns.items() if p is not None}
        self.fallback: list = []        # keys scanned by re (through a Scanner)
        self.finders: list = []         # (key, regex of candidate starts, match)
        by_anchor: dict[str, list] = {}

        def add(key, anchors, match):
            for a in sorted(anchors):
                by_anchor.setdefault(a, []).append((key, match))

        for key, pattern in self.patterns.items():
            found = pattern_anchors(pattern)
            if _useful(found):
                add(key, found, pattern.match)
                continue
            # Split: alternatives with useful anchors join the automaton;
            # where the others can start is found by one fast regex.
            anchored, rest = [], []
            for part in top_level_alternatives(pattern) or ():
                part_anchors = pattern_anchors(re.compile(part, pattern.flags))
                (anchored if _useful(part_anchors) else rest).append((part, part_anchors))
            starts = Scanner(re.compile("|".join(p for p, _ in rest), pattern.flags)).fast if rest else None
            if anchored and starts is not None:
                for _, part_anchors in anchored:
                    add(key, part_anchors, pattern.match)
                self.finders.append((key, starts, pattern.match))
            else:
                self.fallback.append(key)
        self.scanners = {key: Scanner(self.patterns[key]) for key in self.fallback}
        self.anchors = sorted(by_anchor)
        self.entries = [tuple(by_anchor[a]) for a in self.anchors]
        # Per anchor: the keys it is a candidate for (most anchors: one).
        self.keys_of = [tuple(dict.fromkeys(key for key, _ in by_anchor[a])) for a in self.anchors]
        self.match_of = {key: pattern.match for key, pattern in self.patterns.items()}
        self.automaton = automaton(self.anchors) if self.anchors else None

    def scan(self, text: str) -> dict:
        """{key: [match, ...]} for the patterns that match. ``text`` must
        be encodable as UTF-8 (normalize() replaces lone surrogates).

        The candidates are grouped by pattern (a pattern's matches depend
        on its own candidates only), each group sorted by start: no
        tuple per candidate, no sort of them all."""
        hits: dict = {}
        if self.automaton is not None and text:
            per: dict = {}
            keys_of = self.keys_of
            get = per.get
            for index, start, _ in self.automaton.find_matches_as_indexes(text, overlapping=True):
                for key in keys_of[index]:
                    starts = get(key)
                    if starts is None:
                        per[key] = [start]
                    else:
                        starts.append(start)
            for key, finder, _ in self.finders:
                found = [m.start() for m in finder.finditer(text)]
                if found:
                    starts = get(key)
                    if starts is None:
                        per[key] = found
                    else:
                        starts += found
            match_of = self.match_of
            for key, starts in per.items():
                # Reported by where an anchor ends; anchors of one pattern
                # differ in length: order by start.
                starts.sort()
                match = match_of[key]
                end = 0
                found = None
                for pos in starts:
                    if pos < end:
                        continue
                    m = match(text, pos)
                    if m is None:
                        end = pos + 1      # a second anchor at pos: no need to try again
                        continue
                    stop = m.end()
                    end = stop if stop > pos else pos + 1
                    if found is None:
                        found = hits[key] = [m]
                    else:
                        found.append(m)
        for key in self.fallback:
            found = list(self.scanners[key].finditer(text))
            if found:
                hits[key] = found
        return hits
