import pytest

from pipelines.contacts import contact_keys, extract
from pipelines.normalize import MAX_CHARS, normalize


@pytest.mark.parametrize("raw, folded", [
    ("满丨意丨给丨钱", "满意给钱"),
    ("八.年.老.店", "八年老店"),
    ("电 ★ 工 ☆ 证", "电工证"),
    ("免✦考✦办✦理", "免考办理"),
    ("焊工證 電工証", "焊工证电工证"),
    ("ＶＸ：ａｂｃ１２３", "微信:abc123"),
    ("加V信", "加微信"),
    ("溦信同号", "微信同号"),
    ("岱发电工证", "代办电工证"),
    ("bao过", "包过"),
    ("dian工证", "电工证"),
    ("汗工证 登搞证", "焊工证登高证"),          # homophones
    ("电\u200b工\u200d证", "电工证"),           # zero-width
    ("gao处作业zheng，deng高zheng", "高处作业证,登高证"),   # pinyin syllables
    ("帮忙 带 ban，bu用考", "帮忙代办,不用考"),
])
def test_evasion_undone(raw, folded):
    assert normalize(raw).text == folded


@pytest.mark.parametrize("text", [
    "官网 http://cx-mem-gov.cn/a.b-c_d 价格 3.5元 日期 2024-10-01",
    "邮箱 zb_88@qq.com",
])
def test_meaningful_punctuation_kept(text):
    out = normalize(text).text
    for token in ("cx-mem-gov.cn/a.b-c_d", "3.5", "2024-10-01", "zb_88@qq.com"):
        if token in text:
            assert token in out


@pytest.mark.parametrize("text", [
    "I have a ban on this",                  # English: no Chinese next to it
    "微信 zhengdian2023 加我",               # an ID, not a syllable
    "查询 http://zheng.dian-cx.com/ban 证",  # an address
])
def test_syllables_only_next_to_chinese(text):
    out = normalize(text).text
    assert out == text.lower()


def test_span_quotes_whole_syllables():
    n = normalize("bu用考，电zheng")
    assert n.text == "不用考,电证"
    assert n.span(0, 3) == "bu用考" and n.span(4, 6) == "电zheng"


def test_urls_are_not_rewritten():
    # "vx" and "wx" are variants of 微信, but not inside an address.
    out = normalize("查询 http://wx.vx-query.com/x").text
    assert "http://wx.vx-query.com/x" in out


def test_spans_quote_the_original():
    raw = "【满丨意丨给丨钱】岱发電工證"
    n = normalize(raw)
    i = n.text.index("满意给钱")
    assert n.span(i, i + 4) == "满丨意丨给丨钱"
    j = n.text.index("代办")
    assert n.span(j, j + 2) == "岱发"
    k = n.text.index("电工证")
    assert n.span(k, k + 3) == "電工證"


def test_hostile_inputs_are_bounded():
    assert normalize(None).text == ""
    assert normalize("").text == ""
    big = normalize("代办" * (MAX_CHARS))
    assert big.truncated and len(big.text) <= MAX_CHARS
    assert normalize("\x00\x01\ufffe😀😀😀").text is not None


def test_contacts_extracted_and_normalized():
    c = extract("加V信: zheng_ban88 电话178(电)7345(溦)9012 扣扣：三五七八九二一四 "
                "官网可查 http://cx-mem-gov.cn/cx/ 或 cxmemgov.com tg @fakecert2024")
    assert c["wechat"] == ["zheng_ban88"]
    assert c["phone"] == ["17873459012"]
    assert c["qq"] == ["35789214"]
    assert c["telegram"] == ["fakecert2024"]
    assert c["url"] == ["http://cx-mem-gov.cn/cx/"]
    assert set(c["domain"]) == {"cx-mem-gov.cn", "cxmemgov.com"}
    assert contact_keys(c)[:1] == ["wechat:zheng_ban88"]


def test_same_contact_written_differently_links():
    a = extract("电话 138 0013 8000")
    b = extract("电话：１３８-００１３-８０００")
    assert a["phone"] == b["phone"] == ["13800138000"]


def test_no_false_contacts():
    assert extract("价格3.5元，版本1.2.3，工期2024-10-01至2024-12-31") == {}


def test_fold_by_split_equals_translate_over_all_characters():
    # Folding replaces only the characters that change (a regex over the
    # BMP's changing characters, plus everything beyond the BMP); the origin
    # map is walked only at the characters not folded 1:1. Both equal the
    # plain per-character definition.
    import random
    from pipelines.normalize import _fold, _fold_table, tables
    table = _fold_table()
    rng = random.Random(3)
    odd = "…™℃①\u200b\ufeffﬁ㎏ＶＸ證，"
    for k in range(400):
        if k % 2:
            text = "".join(chr(rng.choice((rng.randrange(0x10000), rng.randrange(0x10000, 0x110000))))
                           for _ in range(rng.randint(1, 60)))
        else:
            text = "".join(rng.choice(odd) if rng.random() < 0.2 else rng.choice("电工证abcXY 1")
                           for _ in range(rng.randint(1, 80)))
        folded, origin = _fold(text, tables())
        assert folded == text.translate(table)
        expected = [i for i, ch in enumerate(text) for _ in table[ord(ch)]]
        assert origin == (list(range(len(text))) if len(folded) == len(text) else expected)


def test_protected_runs_found_backwards_equal_the_list_of_breaks():
    # A gate hit's run is found by matching backwards on the reversed text;
    # the spans equal those of the runs cut at every break character.
    import bisect
    import random
    import re
    from pipelines.normalize import _URL_GATE, _URLISH, _URLISH_NO_EMAIL, _protected

    breaks_re = re.compile(r"[\s<>\"'，。！？、；）】]")

    def by_breaks(folded):
        if ("." not in folded and "@" not in folded) or not _URL_GATE.search(folded):
            return []
        urlish = _URLISH if "@" in folded else _URLISH_NO_EMAIL
        breaks = [m.start() for m in breaks_re.finditer(folded)]
        out, done = [], 0
        for gate in _URL_GATE.finditer(folded):
            g = gate.start()
            if g < done:
                continue
            k = bisect.bisect_right(breaks, g)
            start = breaks[k - 1] + 1 if k else 0
            end = breaks[k] if k < len(breaks) else len(folded)
            out += [m.span() for m in urlish.finditer(folded, start, end)]
            done = end
        return out

    rng = random.Random(5)
    pieces = ["a", "b", "0", "-", ".", "@", "www.", "http://", ".com", ".cn", "/", " ", "\n", "，", "。", "】",
              "证", "x_y", "kaojiazhao.com", "cx.mem.gov.cn"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        assert _protected(text) == by_breaks(text), text
