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
import os
import re
import unicodedata
from dataclasses import dataclass

from keywords import load_yaml
from pipelines.fastre import charclass

# Work per item is bounded: longer texts are cut (the cut is reported by
# the classifier as a reason, never silently).
MAX_CHARS = 20_000

_TLDS = "com|cn|net|org|top|xyz|cc|vip|info|site|online|icu|shop|club|ltd|work|pw|wang|ink|live|tech|store|fun|link|biz|me|tv|co|asia|hk|tw|xin|love|pro|red|kim|mobi|name"
# Applied to folded text, which is lower case: no IGNORECASE (with it, re
# lower-cases every character it compares and cannot skip ahead in C).
_URL_PART = r"(?:https?://|www\.)[^\s<>\"'，。！？、；）】]+"
# The local part is at most 64 characters (RFC 5321): unbounded, trying it
# from every position of a long run was quadratic (10 s for 20,000 characters).
_EMAIL_PART = r"[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]+(?:\.[a-z0-9-]+)+"
# At most 16 labels before the top-level domain: unbounded, a long run of
# "a.a.a." was tried to its end from every label (8 s for 20,000 characters).
_DOMAIN_PART = (r"(?<![a-z0-9-])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,16}(?:" + _TLDS
                + r")(?:\.cn)?(?:/[^\s<>\"'，。！？、；）】]*)?")
_URLISH = re.compile("|".join((_URL_PART, _EMAIL_PART, _DOMAIN_PART)))
# Without "@" the e-mail branch cannot match: not worth trying.
_URLISH_NO_EMAIL = re.compile("|".join((_URL_PART, _DOMAIN_PART)))


def _toneless(py: str) -> str:
    return unicodedata.normalize("NFKD", py).encode("ascii", "ignore").decode() or py


def _pinyin_dict() -> dict:
    """pypinyin's character dictionary (code point → "reading,reading"),
    without importing pypinyin itself: its package loads the phrase
    dictionary too (~58 MB), which nothing here reads."""
    import importlib.util
    import sys
    loaded = sys.modules.get("pypinyin.pinyin_dict")
    if loaded is not None:
        return loaded.pinyin_dict
    package = importlib.util.find_spec("pypinyin")
    source = os.path.join(list(package.submodule_search_locations)[0], "pinyin_dict.py")
    spec = importlib.util.spec_from_file_location("certwatch_pinyin_dict", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pinyin_dict


@functools.cache
def pinyin_of() -> dict:
    """Character → set of toneless pinyin readings (pypinyin's dictionary)."""
    return {chr(cp): frozenset(_toneless(p) for p in readings.split(","))
            for cp, readings in _pinyin_dict().items()}


def _homophone_readings(terms: tuple) -> dict:
    """:func:`pinyin_of` for the characters homophones of ``terms`` can be
    written with (each term's characters and every character sharing a
    reading with one): all that the homophone steps read, kept per
    pypinyin version and term list in a file (pipelines.usercache) so a
    sweep does not build readings of 41,000 characters (~0.1 s, ~9 MB)."""
    import hashlib
    import json
    from importlib.metadata import version

    from pipelines import usercache
    key = hashlib.sha256(json.dumps(terms, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
    name = f"homophones-{version('pypinyin')}-{key}.json"
    data = usercache.read(name)
    if data is not None:
        try:
            loaded = json.loads(data)
            if isinstance(loaded, dict) and all(isinstance(c, str) and len(c) == 1 and isinstance(r, list)
                                                and all(isinstance(x, str) for x in r)
                                                for c, r in loaded.items()):
                return {c: frozenset(r) for c, r in loaded.items()}
        except ValueError:
            pass
    full = pinyin_of()
    wanted_readings = {r for term in terms for ch in term for r in full.get(ch, ())}
    wanted = {c: r for c, r in full.items() if r & wanted_readings}
    wanted.update({ch: full[ch] for term in terms for ch in term if ch in full})
    usercache.write(name, json.dumps({c: sorted(r) for c, r in sorted(wanted.items())},
                                     ensure_ascii=False).encode("utf-8"))
    return wanted


@dataclass(frozen=True)
class Tables:
    zero_width: frozenset
    separators: frozenset
    traditional: dict
    variant_keys: tuple       # longest first: the order variants are tried in
    variants: dict
    numerals: dict
    homophones: tuple       # (term, tuple of pinyin sets per char)
    readings: dict          # pinyin sets of the characters homophones can use
    syllables_re: re.Pattern
    syllables: dict


def _opencc_characters() -> dict:
    """OpenCC's traditional → simplified character table (its first
    choice; single characters only, so the origin map stays 1:1). It also
    covers Japanese forms sellers borrow (査 → 查)."""
    from importlib import resources
    out = {}
    text = (resources.files("opencc") / "dictionary" / "TSCharacters.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        source, _, targets = line.partition("\t")
        target = targets.split(" ")[0] if targets else ""
        if len(source) == 1 and len(target) == 1:
            out[source] = target
    return out


@functools.cache
def tables() -> Tables:
    data = load_yaml("normalize.yaml")
    terms = tuple(data.get("homophones", []))
    readings = _homophone_readings(terms)
    variants = {unicodedata.normalize("NFKC", k).lower(): v for k, v in data["variants"].items()}
    return Tables(
        zero_width=frozenset(data["zero_width"]),
        separators=frozenset(unicodedata.normalize("NFKC", data["separators"]))
        | frozenset(data["separators"]),
        traditional={**_opencc_characters(), **data["traditional"]},
        variant_keys=tuple(sorted(variants, key=len, reverse=True)),
        variants=variants,
        numerals=dict(data["numerals"]),
        homophones=tuple((term, tuple(readings.get(c, frozenset()) for c in term)) for term in terms),
        readings=readings,
        syllables_re=re.compile("(?<![a-z])(?:" + "|".join(sorted(data.get("syllables") or {"(?!)": ""},
                                                                   key=len, reverse=True)) + ")(?![a-z])"),
        syllables=dict(data.get("syllables") or {}),
    )


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FFFF


def _is_letter(ch: str) -> bool:
    return ch.isascii() and ch.isalpha()


@dataclass(slots=True)
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
        o = self.original
        # A folded character can stand for a whole pinyin syllable ("bu用考"):
        # quote whole letter runs at both edges.
        if _is_letter(o[a]):
            while 0 < a and _is_letter(o[a - 1]):
                a -= 1
        if _is_letter(o[b]):
            while b + 1 < len(o) and _is_letter(o[b + 1]):
                b += 1
        return o[a:b + 1]


class _FoldTable(dict):
    """str.translate table: code point → folded text (NFKC, lower case,
    traditional → simplified, zero-width removed, lone surrogates → U+FFFD
    so the text encodes as UTF-8), filled lazily."""

    def __init__(self, t: "Tables"):
        super().__init__()
        self.t = t
        self.irregular: set[str] = set()     # characters not folded 1:1

    def fold(self, cp: int) -> str:
        """The folded text of one code point (not stored)."""
        ch = chr(cp)
        t = self.t
        if ch in t.zero_width:
            return ""
        if 0xD800 <= cp <= 0xDFFF:         # a lone surrogate (undecodable bytes)
            return "\ufffd"
        if cp < 128:
            return ch.lower()
        return "".join(t.traditional.get(c, c) for c in unicodedata.normalize("NFKC", ch).lower())

    def __missing__(self, cp: int) -> str:
        out = self.fold(cp)
        if len(out) != 1:
            self.irregular.add(chr(cp))
        if len(self) < 200_000:
            self[cp] = out
        return out


@functools.cache
def _fold_table() -> _FoldTable:
    return _FoldTable(tables())


class _CharFold(dict):
    """Character → folded text (the :class:`_FoldTable` keyed by characters),
    for ``map`` over the pieces ``re.split`` cuts out; filled lazily."""

    def __init__(self, table: _FoldTable):
        super().__init__()
        self.table = table

    def __missing__(self, ch: str) -> str:
        out = self.table[ord(ch)]
        if len(self) < 200_000:
            self[ch] = out
        return out


@functools.cache
def _changing() -> tuple[re.Pattern, re.Pattern, _CharFold]:
    """(regex capturing each character folding changes, regex of those it
    does not fold to exactly one character, character → folded text).

    Folding splits the text at the characters that change (one C pass;
    the ~8 of a listing, one in seven of a long Chinese page: full-width
    punctuation, capitals, traditional forms) and maps the table over
    them; ``str.translate`` looks up every character, and ``re.sub`` with
    a function calls Python once per change (a third slower). The BMP is
    checked once (kept in a file, see :func:`_changing_ranges`);
    characters beyond it are rare and always looked up. The second regex
    (NFKC expansions such as …, ™, ℃, zero-width characters: ~1,200 of
    the BMP, each folded once here, ~10 ms) is what the origin map walks
    when folding changes the length: Python steps per such character,
    not per changed one."""
    table = _fold_table()
    ranges = _changing_ranges(table)
    irregular: list[tuple[int, int]] = []
    for a, b in ranges:
        for cp in range(a, b + 1):
            if not 0xD800 <= cp <= 0xDFFF and len(table.fold(cp)) != 1:
                if irregular and irregular[-1][1] == cp - 1:
                    irregular[-1] = (irregular[-1][0], cp)
                else:
                    irregular.append((cp, cp))
    astral = "\U00010000-\U0010FFFF"
    return (re.compile(f"([{_class_of_ranges([(a, b) for a, b in ranges])}{astral}])"),
            re.compile(f"[{_class_of_ranges(irregular)}{astral}]"), _CharFold(table))


def _changing_ranges(table: _FoldTable) -> list[list[int]]:
    """Code point ranges of the BMP characters folding changes (surrogates
    included). They follow from the folding tables and Python's Unicode
    data: kept in a file per both (pipelines.usercache), so a sweep does
    not fold 65,536 characters (~0.1 s) into a ~9 MB table."""
    import hashlib
    import json

    from pipelines import usercache
    t = table.t
    key = hashlib.sha256(json.dumps([unicodedata.unidata_version, sorted(t.zero_width),
                                     sorted(t.traditional.items())], ensure_ascii=False).encode()).hexdigest()[:16]
    name = f"fold-{key}.json"
    data = usercache.read(name)
    if data is not None:
        try:
            ranges = json.loads(data)
            if isinstance(ranges, list) and all(isinstance(r, list) and len(r) == 2 and all(type(x) is int for x in r)
                                                and 0 <= r[0] <= r[1] < 0x10000 for r in ranges):
                return ranges
        except ValueError:
            pass
    ranges: list[list[int]] = []
    for cp in range(0x10000):
        if 0xD800 <= cp <= 0xDFFF or table[cp] != chr(cp):
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1][1] = cp
            else:
                ranges.append([cp, cp])
    usercache.write(name, json.dumps(ranges).encode())
    return ranges


def _fold(text: str, t: Tables) -> tuple[str, list[int]]:
    changing, irregular, chars = _changing()
    parts = changing.split(text)
    if len(parts) == 1:
        folded = text
    else:
        parts[1::2] = map(chars.__getitem__, parts[1::2])
        folded = "".join(parts)
    n = len(text)
    if len(folded) == n:               # 1:1 (a deletion and an expansion in
        return folded, list(range(n))  # one text only shifts quotes)
    # Lengths differ: map back through the characters not folded 1:1 only
    # (runs of other text, changed or not, are whole ranges).
    table = chars.table
    origin: list[int] = []
    pos = 0
    for m in irregular.finditer(text):
        i = m.start()
        k = len(table[ord(m[0])])
        if k == 1:                     # beyond the BMP, folded 1:1
            continue
        origin.extend(range(pos, i))
        origin.extend([i] * k)
        pos = i + 1
    origin.extend(range(pos, n))
    return folded, origin


# Every _URLISH match has "@", "://", "www." or a dot before a top-level
# domain; this gate finds out cheaply that a text has none.
_URL_GATE = re.compile(r"@|://|www\.|\.(?:" + _TLDS + ")")


# No _URLISH match holds one of these characters (each branch's character
# classes exclude them): matches lie inside the runs between them.
_RUN = re.compile(r"[^\s<>\"'，。！？、；）】]*")


def _protected(folded: str) -> list[tuple[int, int]]:
    """Spans of URLs, e-mail addresses and domain names. Every match holds a
    _URL_GATE hit and lies within one run free of the characters _RUN
    excludes, so only the runs holding a gate hit are searched (the same
    matches as a search of the whole text: the regex otherwise tries every
    position). A run's start is found by matching _RUN backwards, on the
    reversed text, from the gate hit: no list of every break in the text
    (a long Chinese page has one every ten characters)."""
    if ("." not in folded and "@" not in folded) or not _URL_GATE.search(folded):
        return []
    urlish = _URLISH if "@" in folded else _URLISH_NO_EMAIL
    n = len(folded)
    backwards = folded[::-1]
    run = _RUN.match
    out: list[tuple[int, int]] = []
    done = 0                       # runs before this are searched
    for gate in _URL_GATE.finditer(folded):
        g = gate.start()
        if g < done:
            continue
        start = n - run(backwards, n - g).end()      # (an end in the reversed text)
        end = run(folded, g).end()
        out += [m.span() for m in urlish.finditer(folded, start, end)]
        done = end
    return out


_SEPARATOR_CATEGORIES = frozenset({"So", "Sm", "Sk", "Sc", "Pd", "Pc", "Zs", "Mn", "Me", "Cf"})


@functools.cache
def is_separator(ch: str) -> bool:
    if ch in tables().separators:
        return True
    return unicodedata.category(ch) in _SEPARATOR_CATEGORIES and ch not in "¥$￥%"


def _class_of_ranges(ranges: list[tuple[int, int]]) -> str:
    return "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}"
                   for a, b in ranges)


def _complement(excluded: set[int], ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Code point ranges of everything outside ``excluded`` and ``ranges``."""
    blocked = sorted(ranges + [(c, c) for c in excluded])
    out, nxt = [], 0
    for a, b in blocked:
        if a > nxt:
            out.append((nxt, a - 1))
        nxt = max(nxt, b + 1)
    if nxt <= 0x10FFFF:
        out.append((nxt, 0x10FFFF))
    return out


@functools.cache
def _separator_re() -> re.Pattern:
    """Candidate runs of 1–6 non-Chinese, non-alphanumeric characters
    between two Chinese characters; each character is then checked with
    :func:`is_separator` (natural punctuation is kept).

    The run's first character is a plain character class, so ``re`` skips
    quickly over ordinary Chinese text to the few places worth a look."""
    cjk_ranges = [(0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)]
    cjk = _class_of_ranges(cjk_ranges)
    keep = set(map(ord, "\n，。、！？；：“”‘’\"'（）()【】《》「」『』,:;!?")) \
        | set(range(ord("a"), ord("z") + 1)) | set(range(ord("0"), ord("9") + 1))
    # Separators that are themselves Chinese characters (丨, 乄).
    han_chars = sorted(c for c in tables().separators if is_cjk(c))
    han = charclass(han_chars)
    run = f"[{_class_of_ranges(_complement(keep, cjk_ranges))}{han}]"
    not_han_before = f"(?<![{han}].)" if han else ""
    not_han_after = f"(?![{han}])" if han else ""
    return re.compile(f"(?s){run}(?<=[{cjk}].){not_han_before}{run}{{0,5}}(?={not_han_after}[{cjk}])")


def _drop_separators(text: str, origin: list[int], protected: list[tuple[int, int]],
                     t: Tables) -> tuple[str, list[int]]:
    """Remove runs of separators standing between two Chinese characters."""
    edits = []
    for m in _separator_re().finditer(text):
        s, e = m.span()
        if (protected and any(a < e and s < b for a, b in protected)) \
                or not all(map(is_separator, m.group(0))):
            continue
        edits.append((s, e, "", ()))
    return _splice(text, origin, edits)


def _splice(text: str, origin: list[int], edits: list[tuple]) -> tuple[str, list[int]]:
    """Apply ``(start, end, replacement, its origins)`` edits (in order, not
    overlapping) to a text and its origin map; unchanged objects when there
    are none."""
    if not edits:
        return text, origin
    out: list[str] = []
    out_origin: list[int] = []
    pos = 0
    for s, e, repl, repl_origin in edits:
        out.append(text[pos:s])
        out_origin.extend(origin[pos:s])
        out.append(repl)
        out_origin.extend(repl_origin)
        pos = e
    out.append(text[pos:])
    out_origin.extend(origin[pos:])
    return "".join(out), out_origin


def _touches_chinese(text: str, s: int, e: int) -> bool:
    """A Chinese character right before ``s`` or right after ``e``, possibly
    behind up to three separators ("带 ban", "bu·用")."""
    i = s - 1
    while i >= 0 and s - i <= 4:
        if is_cjk(text[i]):
            return True
        if not is_separator(text[i]):
            break
        i -= 1
    i = e
    while i < len(text) and i - e < 4:
        if is_cjk(text[i]):
            return True
        if not is_separator(text[i]):
            break
        i += 1
    return False


@functools.cache
def _syllable_scanner():
    """The syllables regex starts with a lookbehind, which keeps ``re`` from
    skipping ahead; the scanner jumps to the syllables' first letters."""
    from pipelines.fastre import scanner
    return scanner(tables().syllables_re)


def _replace_syllables(text: str, origin: list[int], protected: list[tuple[int, int]],
                       t: Tables) -> tuple[str, list[int]]:
    """Whole pinyin syllables touching Chinese text → their characters."""
    edits = []
    for m in _syllable_scanner().finditer(text):
        s, e = m.span()
        if (protected and any(a < e and s < b for a, b in protected)) or not _touches_chinese(text, s, e):
            continue
        chars = t.syllables[m.group(0)]
        edits.append((s, e, chars, [origin[min(s + k, e - 1)] for k in range(len(chars))]))
    return _splice(text, origin, edits)


@functools.cache
def _variant_finder():
    """Leftmost variants, the first in ``variant_keys`` order where several
    start at one place: what a regex alternation of them would find."""
    from pipelines.fastre import automaton
    return automaton(list(tables().variant_keys), leftmost_first=True)


def _replace_variants(text: str, origin: list[int], protected: list[tuple[int, int]],
                      t: Tables) -> tuple[str, list[int]]:
    edits = []
    prot = iter(protected + [(len(text) + 1, len(text) + 1)])
    pa, pb = next(prot)
    keys = t.variant_keys
    for index, s, e in _variant_finder().find_matches_as_indexes(text):
        while pb <= s:
            pa, pb = next(prot)
        if pa < e and s < pb:          # inside a URL or address: leave alone
            continue
        # ASCII variants (vx, wx, daiban) only count as whole tokens.
        key = keys[index]
        if key.isascii() and key[0].isalnum():
            before = text[s - 1] if s else " "
            after = text[e] if e < len(text) else " "
            if (before.isascii() and (before.isalnum() or before == "_")) \
                    or (after.isascii() and (after.isalpha() or after == "_")):
                continue
        repl = t.variants[key]
        # Every replacement character points into the original span.
        span = origin[s:e]
        edits.append((s, e, repl, [span[min(k, len(span) - 1)] if k < len(repl) - 1 else span[-1]
                                   for k in range(len(repl))]))
    return _splice(text, origin, edits)


@functools.cache
def _homophone_re():
    """Any character sequence that sounds like a watched term (BMP
    character classes, one per syllable)."""
    t = tables()
    by_reading: dict[str, set[str]] = {}
    for c, readings in t.readings.items():
        if is_cjk(c) and ord(c) < 0x10000:
            for r in readings:
                by_reading.setdefault(r, set()).add(c)
    branches = []
    seconds: set[str] = set()        # every term has two syllables or more
    for term, sets in sorted(t.homophones, key=lambda x: -len(x[0])):
        classes = []
        for k, (ch, readings) in enumerate(zip(term, sets)):
            chars = {ch}.union(*(by_reading.get(r, set()) for r in readings))
            classes.append(f"[{charclass(chars)}]")
            if k == 1:
                seconds |= chars
        branches.append("".join(classes))
    from pipelines.fastre import Scanner
    if any(len(term) < 2 for term, _ in t.homophones):
        seconds = set()
    return Scanner(re.compile("|".join(branches) if branches else "(?!)"), second=seconds or None)


@functools.cache
def _homophone_terms() -> tuple[dict, frozenset]:
    t = tables()
    by_len: dict[int, list] = {}
    for term, sets in t.homophones:
        by_len.setdefault(len(term), []).append((term, sets))
    return by_len, frozenset(term for term, _ in t.homophones)


def _replace_homophones(text: str, origin: list[int], t: Tables) -> str:
    """Same-length replacement of homophones of the watched terms, so the
    origin map stays valid."""
    pieces = []
    pos = 0
    by_len, exact = _homophone_terms()
    readings = t.readings
    for m in _homophone_re().finditer(text):
        found = m.group(0)
        if found in exact:
            continue                       # the term itself
        for term, sets in by_len[len(found)]:
            if all(a == b or readings.get(a, frozenset()) & s for a, b, s in zip(found, term, sets)):
                pieces.append(text[pos:m.start()])
                pieces.append(term)
                pos = m.end()
                break
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


_SURROGATE = re.compile("[\ud800-\udfff]")


def normalize(text: str | None) -> Normalized:
    original = text or ""
    truncated = len(original) > MAX_CHARS
    if truncated:
        original = original[:MAX_CHARS]
    t = tables()
    folded, origin = _fold(original, t)
    if "\ufffd" in folded:             # lone surrogates: quotes must encode as UTF-8 too
        original = _SURROGATE.sub("\ufffd", original)
    protected = _protected(folded)
    if t.syllables:
        spelled, origin = _replace_syllables(folded, origin, protected, t)
        if spelled is not folded:
            folded = spelled
            protected = _protected(folded)
    dropped, origin = _drop_separators(folded, origin, protected, t)
    if dropped is not folded:           # positions moved
        protected = _protected(dropped)
    folded, origin = _replace_variants(dropped, origin, protected, t)
    folded = _replace_homophones(folded, origin, t)
    return Normalized(original, folded, origin, truncated)


@functools.cache
def _numeral_table() -> dict:
    return {ord(k): v for k, v in tables().numerals.items() if len(k) == 1}


def fold_numerals(text: str) -> str:
    """Chinese numerals and circled digits → ASCII digits (for numbers only)."""
    return text if text.isascii() else text.translate(_numeral_table())
