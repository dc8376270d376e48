"""The classifier's fast scanners find exactly what plain ``re`` finds."""
import json
import random
import re
from pathlib import Path

import pytest

from pipelines import normalize as N
from pipelines.fastre import MultiScanner, pattern_anchors
from pipelines.sales import model

DATA = Path(__file__).parent / "data" / "sales_corpus.jsonl"


def _texts(n_random: int) -> list[str]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [N.normalize(r.get("title", "") + "\n" + r["text"]).text for r in rows]
    rng = random.Random(11)
    alphabet = sorted(set("".join(texts)))
    # Random strings over the corpus's own characters hit rule prefixes in
    # places no listing puts them.
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(n_random)]
    return texts


def test_multiscanner_equals_finditer_for_every_rule():
    scanner = model().scanner
    assert scanner.automaton is not None
    assert set(scanner.fallback) <= {"intent_fast", "price"}   # digit-led: re scans them
    for text in _texts(1500):
        got = scanner.scan(text)
        for key, pattern in scanner.patterns.items():
            expected = [m.span() for m in pattern.finditer(text)]
            assert [m.span() for m in got.get(key, [])] == expected, (key, text)


@pytest.mark.parametrize("pattern, anchors", [
    ("包过|保过", {"包过", "保过"}),
    ("(帮|给)(你|他)办", {"帮你办", "帮他办", "给你办", "给他办"}),
    ("(帮|给)(你|他).证", {"帮你", "帮他", "给你", "给他"}),      # the third is not finite: two
    ("(?<![a-z0-9])q[12](?![0-9])", {"q1", "q2"}),
    ("(给|帮).{0,8}(弄|办)过|代办", {"给", "帮", "代办"}),      # "." is not finite: one character
    ("考(试)?", {"考试", "考"}),                              # whole matches shorter than three
    ("[0-9]{2,5}元", {f"{a}{b}{c}" for a in "0123456789" for b in "0123456789" for c in "0123456789元"}),
])
def test_anchors(pattern, anchors):
    assert pattern_anchors(re.compile(pattern)) == anchors


@pytest.mark.parametrize("pattern", ["a*", "(?i)abc", r"\w+证", ".证"])
def test_patterns_without_small_anchor_sets_fall_back(pattern):
    compiled = re.compile(pattern)
    assert pattern_anchors(compiled) is None
    scanner = MultiScanner({"p": compiled})
    assert scanner.fallback == ["p"]
    text = "abc 电工证 ABC 证"
    got = scanner.scan(text).get("p", [])
    assert [m.span() for m in got] == [m.span() for m in compiled.finditer(text)]


def test_separator_scan_equals_its_plain_definition():
    """normalize's separator regex starts with a character class (fast); it
    must find exactly the candidate runs of the plain definition: 1–6
    non-Chinese, non-punctuation characters between two Chinese characters
    (normalize then drops those made only of separators)."""
    cjk = "\\u3400-\\u4dbf\\u4e00-\\u9fff\\uf900-\\ufaff"
    keep = "\\n，。、！？；：“”‘’\"'（）()【】《》「」『』,:;!?a-z0-9"
    han = "".join(re.escape(c) for c in sorted(N.tables().separators) if N.is_cjk(c))
    plain = re.compile(f"(?<=[{cjk}])(?<![{han}])(?:[^{cjk}{keep}]|[{han}]){{1,6}}(?=(?![{han}])[{cjk}])")
    fast = N._separator_re()
    rng = random.Random(5)
    # Ω, А and 𠀀 are neither Chinese (for the regex) nor separators; ¥ is a
    # symbol that is kept.
    alphabet = list("电工证焊考试办丨乄★☆ .-_|a1，。\n😀𠀀·•~（ΩА¥\u200b\u0301")
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)], text


def test_a_longer_anchor_ending_later_still_starts_first():
    # "帮" (one character) ends before "我帮你" does, but the match at 0 wins.
    pattern = re.compile("我帮你办|帮.{0,3}好")
    assert pattern_anchors(pattern) == {"我帮你", "帮"}
    got = MultiScanner({"p": pattern}).scan("我帮你办好，帮他弄好")["p"]
    assert [m.group(0) for m in got] == [m.group(0) for m in pattern.finditer("我帮你办好，帮他弄好")] \
        == ["我帮你办", "帮他弄好"]


def test_top_level_alternatives():
    from pipelines.fastre import top_level_alternatives
    assert top_level_alternatives(re.compile(r"(?:a|b)|[|]c|\|d|[]|]x|(e)")) == ["(?:a|b)", "[|]c", r"\|d", "[]|]x", "(e)"]
    assert top_level_alternatives(re.compile("(a|b)c")) is None          # one alternative
    assert top_level_alternatives(re.compile(r"(a)\1|b")) is None         # a back reference


def test_second_characters():
    from pipelines.fastre import second_characters
    assert second_characters(re.compile("[0-9]{2,5}元|价格")) == set("0123456789格")
    assert second_characters(re.compile("包过|考")) is None                 # a one-character match


def test_digit_led_alternatives_are_split_from_anchored_ones():
    pattern = re.compile("[0-9]{1,3}天(下证|拿证)|快速(下|拿)证|加急")
    scanner = MultiScanner({"p": pattern})
    assert scanner.fallback == [] and [key for key, _, _ in scanner.finders] == ["p"]
    assert "快速下" in scanner.anchors and "加急" in scanner.anchors
    text = "电话13812345678，3天下证，加急快速拿证，12345天拿证"
    assert [m.group(0) for m in scanner.scan(text)["p"]] == [m.group(0) for m in pattern.finditer(text)] \
        == ["3天下证", "加急", "快速拿证", "345天拿证"]


def test_variant_automaton_finds_what_the_alternation_finds():
    # normalize's variants: an Aho–Corasick automaton (leftmost-first) in
    # place of a regex alternation of the keys, longest first.
    from pipelines.fastre import automaton
    keys = list(N.tables().variant_keys)
    finder = automaton(keys, leftmost_first=True)
    alternation = re.compile("|".join(map(re.escape, keys)))
    rng = random.Random(5)
    alphabet = sorted(set("".join(keys)) | set("电工证 ，。ab1"))
    texts = _texts(0) + ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    for text in texts:
        assert [(keys[i], s, e) for i, s, e in finder.find_matches_as_indexes(text)] \
            == [(m.group(0), *m.span()) for m in alternation.finditer(text)], text
