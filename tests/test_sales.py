"""The sale classifier: figures on the corpus (a regression fence), the
rules that matter, hostile input, and the classify/evaluate commands."""
import json
import re

import pytest

from helpers import DATA, ROOT, run_cli
from pipelines.sales import classify


def figures(stdout: str) -> dict:
    out = {}
    for key in ("precision", "recall"):
        m = re.search(rf"{key}\s*=\s*([0-9.]+)", stdout)
        out[key] = float(m.group(1))
    return out


def test_corpus_figures():
    proc = run_cli("evaluate", "sales", DATA / "sales_corpus.jsonl")
    assert proc.returncode == 0, proc.stderr
    f = figures(proc.stdout)
    assert f["precision"] >= 0.97 and f["recall"] >= 0.95, proc.stdout
    assert "混淆矩阵" in proc.stdout and "neg_news" in proc.stdout


def test_held_out_world_listings():
    """The sandbox's listings were written by someone else: a held-out set."""
    proc = run_cli("evaluate", "sales", ROOT / "crawler/sandbox/data/listings.jsonl")
    f = figures(proc.stdout)
    assert f["precision"] >= 0.95 and f["recall"] >= 0.9, proc.stdout


@pytest.mark.parametrize("name", ["sales_writer2.jsonl", "sales_writer3.jsonl", "sales_writer4.jsonl",
                                  "sales_writer5.jsonl"])
def test_other_writers_listings(name):
    """Listings four other writers wrote from DOMAIN.md alone, without seeing
    the rules. Each was first scored unseen (README); the rules were then
    widened on some and the text model is trained on all, so these figures
    are a regression fence. bench/cv_sales.py measures unseen writers."""
    proc = run_cli("evaluate", "sales", DATA / name)
    f = figures(proc.stdout)
    assert f["precision"] >= 0.97 and f["recall"] >= 0.95, proc.stdout


def test_text_model_is_trained_on_the_shipped_listings(tmp_path):
    """keywords/sales_model.json is what `certwatch train sales` makes of the
    labelled listings now in the repository (retrain after editing them)."""
    shipped = json.loads((ROOT / "keywords" / "sales_model.json").read_text(encoding="utf-8"))
    out = tmp_path / "model.json"
    proc = run_cli("train", "sales", "--out", out)
    assert proc.returncode == 0, proc.stderr
    fresh = json.loads(out.read_text(encoding="utf-8"))
    assert fresh["sha256"] == shipped["sha256"], "标注数据已改动：请运行 certwatch train sales"
    assert fresh == shipped                      # seeded training: the same weights


def test_text_model_speaks_only_when_rules_are_unsure():
    soft = "上岗要的那个东西，我这边有路子"
    rules_only = classify(soft, text_model=None)
    with_model = classify(soft)
    reason = next(r for r in with_model.reasons if r["code"] == "text_model")
    assert reason["weight"] > 0 and reason["evidence"] and reason["label"].startswith("文本模型")
    assert with_model.score > rules_only.score
    sure = classify("代办电工证，不用考试，包过，官网可查，加微信 dgz_2024 详聊")
    assert sure.flagged and not any(r["code"] == "text_model" for r in sure.reasons)


def test_long_random_chinese_is_not_a_sale():
    """20,000 random characters hold chance homophones of intent words; the
    text model reads only the first 600 characters, so its sum cannot grow
    with length and flag noise."""
    import random
    rng = random.Random(1)
    noise = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(30000))
    assert not classify(noise).flagged


def test_train_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "代办电工证", "label": 1}\n{not json\n', encoding="utf-8")
    proc = run_cli("train", "sales", bad, "--out", tmp_path / "m.json")
    assert proc.returncode != 0 and "标注数据有误" in proc.stderr
    proc = run_cli("train", "sales", tmp_path / "missing.jsonl", "--out", tmp_path / "m.json")
    assert proc.returncode != 0 and "文件不存在" in proc.stderr


@pytest.mark.parametrize("text", [
    "上岗要的那个证的事找我，懂的来，不懂的别问，需要的私我。",
    "本人在应急局有熟人，电工证焊工证可以走关系直接下，价格好商量，评论区留言我私你。",
    "证书信息录入国家系统，查询网址：cxmemgov.cn，单位人事一查就有。",
    "仿国家特种作业查询系统源码出售，含后台证书生成模块，可自行绑定域名。",
    "gao处作业zheng，deng高zheng，代ban，bu用考，可cha，V：gaochu_66",
])
def test_soft_sells_and_fake_query_services_flagged(text):
    assert classify(text).flagged, classify(text).reasons


def test_exposé_of_the_fake_certificate_trade_is_not_a_sale():
    text = ("揭秘假证产业链 从网上接单、收集照片，到后台生成证书、伪造查询页面，再到快递寄出，"
            "一本假电工证的制作只需几天。专家建议，企业核验证件时登录官方平台查询。")
    assert not classify(text).flagged


def test_corpus_size_and_categories():
    rows = [json.loads(l) for l in open(DATA / "sales_corpus.jsonl", encoding="utf-8")]
    assert len(rows) >= 400
    cats = {r["category"] for r in rows}
    assert {"sale_plain", "sale_obfuscated", "sale_softsell", "sale_padded", "sale_fakesite",
            "neg_training", "neg_news", "neg_job", "neg_verify_howto", "neg_forum"} <= cats


def codes(result):
    return {r["code"] for r in result.reasons if r["weight"] != 0}


def test_plain_sale_explained():
    r = classify("代办电工证，不用考试，人不到场，包过，官网可查，微信zb8888")
    assert r.flagged and r.score >= 90 and r.family == "tezhong"
    assert {"intent_proxy", "intent_no_exam", "intent_absent", "intent_guarantee",
            "verify_promise", "off_platform_contact"} <= codes(r)
    for reason in r.reasons:
        assert set(reason) == {"code", "label", "weight", "evidence"}


def test_evidence_quotes_original_text():
    r = classify("焊工證 岱发 满丨意丨给丨钱 溦信 hg6666")
    assert r.flagged
    evidence = {x["code"]: x["evidence"] for x in r.reasons}
    assert evidence["intent_proxy"] == "岱发"
    assert evidence["intent_pay_after"] == "满丨意丨给丨钱"


def test_news_quoting_an_ad_is_not_a_sale():
    r = classify("警方破获一起伪造证书案，犯罪嫌疑人以“包过”“不用考试”为噱头出售假电工证，提醒市民谨防上当")
    assert not r.flagged
    assert any(x["code"].endswith("_quoted") for x in r.reasons)


def test_negation_matters():
    assert not classify("本校电工证培训，绝不包过，严禁代考、替考，必须本人参加考试").flagged
    assert classify("电工证包过，不用本人参加考试，微信 dg1234").flagged


def test_training_school_is_not_a_sale():
    r = classify("正规培训学校，电工证报名，理论+实操，考试合格后由应急管理局颁发证书，官网可查，"
                 "通过率高，微信 px1234，学费800元")
    assert not r.flagged


def test_fake_query_site_claim():
    r = classify("高处作业证，证书可在 cx-mem-gov-query.cn 查询，微信 gc2024")
    assert "fake_site" in codes(r)
    # The official host is never a fake site.
    assert "fake_site" not in codes(classify("证书可在 cx.mem.gov.cn 查询"))


@pytest.mark.parametrize("text", ["", "😀😀😀😀", "\x00\x01\x02" * 100, "代办" * 400_000,
                                  "abc 123 مرحبا Привет 电工证 ♠♣",
                                  # quadratic for the URL/e-mail patterns once (8–11 s each)
                                  "a." * 9980 + " x@b.com", ".".join(["abc"] * 5000) + "@x.com"])
def test_hostile_input_gives_a_result(text):
    r = classify(text)
    assert 0 <= r.score <= 100


def test_lone_surrogates_are_replaced_in_quotes():
    # JSON escapes ("\\ud800") and undecodable bytes give lone surrogates,
    # which neither UTF-8 output nor SQLite accept.
    r = classify("代办电工证包\ud800过\udcff，V信 zb8888")
    assert r.flagged and "intent_guarantee" in codes(r)
    for reason in r.reasons:
        reason["evidence"].encode("utf-8")
    assert "包\ufffd过" in [x["evidence"] for x in r.reasons]


def test_classify_cli_good_and_bad_lines():
    lines = "\n".join([
        json.dumps({"id": 1, "title": "电工证", "text": "代办电工证 不用考试 人不到场 V信 zb8888"}, ensure_ascii=False),
        "{not json",
        json.dumps({"id": 3, "text": 42}),
        json.dumps(["a list"]),
        json.dumps({"id": 5, "text": "招聘电工，持证上岗，月薪8000"}, ensure_ascii=False),
    ])
    proc = run_cli("classify", "-", input=lines)
    assert proc.returncode == 2
    out = [json.loads(l) for l in proc.stdout.splitlines()]
    assert len(out) == 5
    assert out[0]["id"] == 1 and out[0]["flagged"] is True and out[0]["reasons"]
    assert out[1]["line"] == 2 and "第 2 行第 2 列：不是有效的 JSON（字段名应写在英文双引号里）" in out[1]["error"]
    assert "Expecting" not in proc.stdout + proc.stderr                  # not Python's English message
    assert out[2]["line"] == 3 and "text" in out[2]["error"]
    assert out[3]["line"] == 4
    assert out[4]["id"] == 5 and out[4]["flagged"] is False
    assert "第 2 行" in proc.stderr


def test_classify_cli_binary_garbage(tmp_path):
    f = tmp_path / "bad.jsonl"
    f.write_bytes(b'{"text": "ok"}\n\xff\xfe\x00garbage\n')
    proc = run_cli("classify", f)
    assert proc.returncode == 2
    out = [json.loads(l) for l in proc.stdout.splitlines()]
    assert "flagged" in out[0] and out[1]["line"] == 2


def test_missing_file_is_a_clear_error():
    proc = run_cli("classify", "/no/such/file.jsonl")
    assert proc.returncode == 2 and "文件不存在" in proc.stderr


@pytest.mark.parametrize("text", ["面包过期了，家里电工证找不到了", "考虑代考虑的事，焊工证复印件"])
def test_short_intent_words_need_word_boundaries(text):
    r = classify(text)
    assert not ({"intent_guarantee", "intent_proxy"} & codes(r))
