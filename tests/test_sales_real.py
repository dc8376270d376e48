"""The sale classifier on real sellers' shapes (tests/data/real/, issue: real
sellers): the figures on the real-derived corpus, and each shape real spam
takes — or real explainers take — as a rule that could fail."""
from __future__ import annotations

import re

import pytest

from helpers import DATA, run_cli
from pipelines.contacts import extract
from pipelines.sales import classify

POEM = "春风拂槛露华浓，云想衣裳花想容。夜静虫声移石砌，天高河影落窗纱。"
LETTERS = "qwhdjsakzmxncbvlkjhgfdsapoiuytrewq"


def codes(result) -> set[str]:
    return {r["code"] for r in result.reasons if r["weight"] != 0}


def test_real_corpus_figures_by_source_kind():
    proc = run_cli("evaluate", "sales", DATA / "real", "--group-by", "source_kind")
    assert proc.returncode == 0, proc.stderr
    real = re.search(r"其中真实来源.*?共 (\d+) 条，精确率 ([0-9.]+|-)，召回率 ([0-9.]+|-)，误报率 ([0-9.]+)"
                     r"（违规 (\d+) 条", proc.stdout)
    assert real, proc.stdout
    assert int(real.group(1)) >= 350 and float(real.group(4)) <= 0.02, proc.stdout
    if int(real.group(5)) == 0:          # every real sale ad is held out: no recall to claim
        assert real.group(3) == "-", proc.stdout
    overall = {k: float(re.search(rf"{k}\s*=\s*([0-9.]+)", proc.stdout).group(1)) for k in ("precision", "recall")}
    assert overall["precision"] >= 0.95 and overall["recall"] >= 0.95, proc.stdout
    assert "written_from_domain" in proc.stdout and "来源类型" in proc.stdout


@pytest.mark.parametrize("title,text", [
    # the buyer's query as title, a contact tag stuck to it, poetry and letters as filler
    ("快速伪造一个假操作证【╬溦542394562】", f"快速伪造一个假操作证【178(电)5216(溦)9004同步】{POEM}{LETTERS}"),
    ("哪里可以办个操作证【╬薇5423949】", f"哪里可以办个操作证 178(电)5216(溦)9004同步 {POEM} {LETTERS}"),
    ("网上哪里可以买到假焊工证", "网上哪里可以买到假焊工证 微信：F13873873385 全国服务 走顺丰快递"),
    ("叉车证哪里能做", f"叉车证哪里能做 扣扣 2873651190 {POEM}"),
    # the whole offer in the title, unrelated news as the body: filler does not hide it
    ("特种作业操作证 一站式代办 免考【薇lt897561】",
     "一项针对城市居民睡眠情况的调查显示，超过四成受访者每晚睡眠不足七小时。专家建议固定作息时间。"),
    # the buyer's query as the whole message, padded with filler that names no certificate
    ("网上哪里可以买到假焊工证", POEM * 2),
    # split characters and a bare V id
    ("资.格.证 操.作.证", "资.格.证 操.作.证 上.岗.证 各.类.证.件 全.国.通.用 乄 V３８４２０３０８９ 乄"),
])
def test_real_spam_shapes_are_flagged(title, text):
    r = classify(text, title)
    assert r.flagged, r.reasons


def test_a_generic_shop_is_in_scope_and_its_own_address_is_no_fake_query_site():
    r = classify("代办各类证件，微信：F12873873385，代办资格证-毕业证-证件制作-办证刻章-专业办证件-快速办资格证，"
                 "全国服务，走顺丰快递，十余年经验，包您满意。公司名称：某某证件中心，公司网址：http://www.tt.xyzw.top/",
                 "北京办证件，北京办资格证")
    assert r.flagged and r.family == "generic", r.reasons
    assert "fake_site" not in codes(r), "a shop printing its own web address claims no query there"


def test_a_query_claim_beside_a_host_still_makes_a_fake_site():
    r = classify("电工证包过，官网可查，查询网址 www.cx-mem-gov.top 输入身份证号即可查询", "电工证")
    assert "fake_site" in codes(r) and r.flagged


@pytest.mark.parametrize("title,text,why", [
    ("网上哪里可以买到假驾驶证【V信xz9014402z】", "C1 C2 B2驾照都能做，扣分不用愁，V信xz9014402z", "out-of-scope forgery"),
    ("高仿毕业证 学信网可查", "高仿大学毕业证，学信网可查，满丨意丨给丨钱，扣249762466", "out-of-scope forgery"),
    ("托福代考 保分 不过退款", "托福代考，保100分以上，不过全额退款，考场安排好了，V信sk281458", "non-safety proxy exam"),
    ("初级会计代考 包过", "初级会计职称代考，包过，内部渠道，机考远程操作，薇dd6453590a", "non-safety proxy exam"),
    ("大额信用卡 包下卡", "大额信用卡代办，包下卡，白户也能办，内部渠道，【╬溦2467655971】", "no certificate"),
    ("电话卡 手机卡 内部渠道", "手机号卡内部渠道开卡，不用本人，包下卡，全国通用，加薇zh24597z", "no certificate"),
])
def test_real_spam_without_a_certificate_of_ours_is_no_finding(title, text, why):
    r = classify(text, title)
    assert not r.flagged, (why, r.reasons)
    assert any(x["code"] == "no_certificate" for x in r.reasons)


@pytest.mark.parametrize("title,text", [
    ("电工证丢了怎么补办", "特种作业操作证遗失的，持证人应向原发证机关申请补发。需准备身份证、近期一寸照片和遗失声明，"
                     "若本人无法到场，可委托他人代办补证，需提供委托书。"),
    ("安全工程师挂靠费", "挂靠费是持证人把注册安全工程师证挂到企业名下所收的费用，源于企业资质申报和投标的持证要求。"
                   "北京中级每年约2.5万元，挂靠有被查处的风险，企业和个人都要慎重。"),
    ("电工证自己考和找机构哪个划算", "自己报名考低压电工证，培训费加考试费约800元；找中介代办报名约1200元，"
                          "中介只是代为报名，理论和实操考试仍须本人参加，考试合格后由应急管理局发证。"),
    ("证书查询接口文档", "职业资格证书查询 API：GET /api/cert?name=&idcard=，返回 JSON，字段 certNo、issueDate、"
                  "status；调用前需申请 appkey，每日限 1000 次。"),
    ("办证网上可查询", "证书电子化依靠分布式数据库和电子签名，电子证照调用量大增；技术架构分为数据存储层、"
                 "验证协议层和展示应用层。"),
    ("假的高空作业证怎么买", "高空作业证必须经过培训和考核才能取得，网上所谓快速拿证都是骗局，买假证上岗一经查出将被处罚，"
                   "请到有资质的培训机构报名，考试合格后在应急管理部官网可查。"),
    ("云南电工焊工培训学校 常年招生", "本校常年开设低压电工、焊工培训班，理论加实操，考试合格发证，全国通用，"
                         "官网 www.ynpeixun-example.com 电话 0871-6512345，欢迎报名。"),
])
def test_real_explainers_and_schools_stay_unflagged(title, text):
    r = classify(text, title)
    assert not r.flagged, r.reasons
    assert "fake_site" not in codes(r)


def test_sale_words_only_in_a_title_without_any_way_to_buy_count_half():
    r = classify("证书电子化依靠分布式数据库和电子签名。", "办证网上可查询")
    assert "title_only" in codes(r) and not r.flagged
    # the same title with a contact is a seller's page
    r = classify("证书电子化依靠分布式数据库和电子签名。 微信 banzheng_2024", "办证网上可查询")
    assert "title_only" not in codes(r)


def test_filler_makes_no_sale():
    text = (f"低压电工证考试题库：1. 安全电压是多少？2. 漏电保护器的作用？{POEM}{LETTERS}"
            " http://bbs.example-forum.cn/t/1 http://bbs.example-forum.cn/t/2 http://bbs.example-forum.cn/t/3")
    assert not classify(text, "低压电工证考试题库").flagged


def test_contact_tags_are_extracted_and_letter_runs_are_not_wechat_ids():
    assert extract("【╬溦542394562】")["wechat"] == ["542394562"]
    assert extract("加薇zh24597z")["wechat"] == ["zh24597z"]
    assert "wechat" not in extract("电工证 zxcvbnmasdfghjkl qwertyuiop")
    # English words starting with v are no "v + id" (a verification explainer named 'erified' a WeChat id)
    assert "wechat" not in extract("the certificate can be verified online; vehicles; validate it")
    # the spam network's "-vx<id>-" form: vx is the contact word, the hyphens separate
    assert extract("特种作业操作证-vxdd98254071-加急")["wechat"] == ["dd98254071"]
    assert extract("终身可查,vdd39857390z")["wechat"] == ["dd39857390z"]      # an id with digits stays
    assert extract("加vzb123456")["wechat"] == ["zb123456"]
    r = classify("电工证 176(电)5783(薇)9318同号", "电工证")
    assert "evasive_contact" in codes(r)
    assert "evasive_contact" not in codes(classify("电工证培训 联系电话 13817264590 微信同号", "电工证培训"))


@pytest.mark.parametrize("text, kind, value", [
    ("办电工证 +8613812345678 whatsapp", "phone", "13812345678"),    # country code glued to the number
    ("电报 @certshop 全国办证", "telegram", "certshop"),               # Telegram by its Chinese name
    ("联系QQ：1\ufe0f\u20e32\u20e33\u20e34\u20e35\u20e36\u20e37\u20e38\u20e3", "qq", "12345678"),  # keycap digits
    ("加 q 群 123456789 进群领资料", "qq", "123456789"),               # a QQ group
])
def test_contact_forms_seen_in_spam(text, kind, value):
    assert extract(text).get(kind) == [value]


def test_numbers_that_are_not_phones_stay_out():
    # 86 inside a longer digit run is no country code; prices and dates are no numbers to call
    assert "phone" not in extract("订单号 2086138123456789 价格 3.5 元 2024-10-01")


def test_sites_named_by_sale_listings_are_seller_sites(db_path):
    """A seller's own shop domain or *.github.io page named in a flagged sale
    listing is recorded, linked and judged a seller site — not a fake
    government site — and stays one when a later check finds its page plain."""
    from scrapy.utils.test import get_crawler

    from pipelines import store
    from pipelines.persist import StorePipeline
    crawler = get_crawler(settings_dict={"CERTWATCH_DB": db_path, "CERTWATCH_STORE_BATCH": 10})
    pipeline = StorePipeline.from_crawler(crawler)
    pipeline.open_spider()
    listings = [({"url": ["http://www.tt.xyzw.top/"], "domain": ["someone-banzheng.github.io"]}, True),
                ({"domain": ["www.peixun-school.com"]}, False),            # a school's own page, not flagged
                ({"domain": ["cx-mem-gov.cn"]}, True)]                      # a fake query site stays one
    for n, (contacts, flagged) in enumerate(listings):
        pipeline.process_item({"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou",
                               "title": "电工证", "text": "代办电工证", "flagged": flagged, "contacts": contacts})
    pipeline.close_spider()
    with store.opened(db_path) as db:
        verdicts = {s["domain"]: s["verdict"] for s in db["sites"].rows}
        assert verdicts == {"xyzw.top": "seller_site", "someone-banzheng.github.io": "seller_site",
                            "peixun-school.com": "benign", "cx-mem-gov.cn": "fake_gov_site"}, verdicts
        seller = store.site_of_host(db, "xyzw.top")
        assert any(r["code"] == "seller_site" and r["evidence"] == "信息 #1"
                   for r in store.get_site(db, seller["id"])["reasons"])
        assert [s["domain"] for s in store.sites_of_finding(db, 1)] == ["xyzw.top", "someone-banzheng.github.io"]
        store.record_checked_site(db, {"domain": "xyzw.top", "verdict": "benign", "score": 0, "http_status": 200})
        assert store.get_site(db, seller["id"])["verdict"] == "seller_site"
