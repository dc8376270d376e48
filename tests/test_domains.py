"""The look-alike domain scorer, page signals, the check-domain and
evaluate CLI: offline, on the labelled data in tests/data."""
from __future__ import annotations

import json
import re

import pytest

from helpers import DATA, read_jsonl, run_cli
from pipelines import lookalike, pagesignals
from pipelines.lookalike import judge, score_host, site_judge


def _evaluate(name: str) -> tuple[str, dict]:
    """`certwatch evaluate domains` on a data file: its output and figures."""
    out = run_cli("evaluate", "domains", DATA / name, check=True).stdout
    figures = {}
    for key in ("recall", "FPR", "official_fp"):
        m = re.search(rf"{key} = ([0-9.]+)", out)
        assert m, out
        figures[key] = float(m.group(1))
    return out, figures


# ---------------------------------------------------------------- targets (regression fence)

def test_evaluate_domain_names_meets_targets():
    out, f = _evaluate("domains.jsonl")
    assert f["recall"] >= 0.90, out
    assert f["FPR"] <= 0.01, out
    assert f["official_fp"] == 0, out
    assert "类别" in out and "gov_flattened" in out


def test_evaluate_full_sites_meets_targets():
    out, f = _evaluate("sites_full.jsonl")
    assert f["recall"] >= 0.97, out
    assert f["FPR"] <= 0.01, out
    assert f["official_fp"] == 0, out


def test_no_official_or_gov_host_is_ever_flagged():
    rows = read_jsonl(DATA / "domains.jsonl") + read_jsonl(DATA / "sites_full.jsonl")
    for row in rows:
        if row["kind"] in ("official", "gov_other"):
            j = judge(row["domain"], row.get("html"), row.get("whois"), row.get("checked_at"))
            assert not j.flagged, (row["domain"], j.reasons)


def test_evaluate_prints_misses_and_bad_lines(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text('{"domain": "memfault.com", "label": 1, "kind": "x"}\n'
                 '{"domain": "cx-mem-gov.cn", "label": 0, "kind": "y"}\n'
                 'not json\n{"domain": "a.cn", "label": 7}\n', encoding="utf-8")
    proc = run_cli("evaluate", "domains", f)
    assert proc.returncode == 2
    assert "漏报" in proc.stdout and "memfault.com" in proc.stdout
    assert "误报" in proc.stdout and "cx-mem-gov.cn" in proc.stdout
    assert "cx-mem-gov.cn 假冒政府网站 100 分（" in proc.stdout and "“gov”不在后缀中" in proc.stdout
    assert "gov_moved" not in proc.stdout and "fake_gov_site" not in proc.stdout     # labels, not codes
    assert "第 3 行第 1 列：不是有效的 JSON（这里应是一个值" in proc.stderr and "第 4 行" in proc.stderr


# ---------------------------------------------------------------- name signals

@pytest.mark.parametrize("host, impersonates, code", [
    ("cx-mem-gov.cn", "cx.mem.gov.cn", "gov_moved"),
    ("mem-gov.cn.com", "cx.mem.gov.cn", "gov_moved"),                 # private suffix cn.com
    ("cx.mem.gov.cn.xyz", "cx.mem.gov.cn", "embedded_official"),
    ("zlaq.mohurd.gov.cn-check.com", "zlaq.mohurd.gov.cn", "embedded_official"),
    ("zlaq-mohrud.cn", "zlaq.mohurd.gov.cn", "official_token_short"),
    ("cx-rnem-gov.cn", "cx.mem.gov.cn", "homoglyph"),                 # rn -> m
    ("cnse-samr-g0v.com", "cnse.samr.gov.cn", "homoglyph"),           # 0 -> o
    ("cx-nem.cn", "cx.mem.gov.cn", "typo_compound"),                  # one edit from cxmem
    ("特种设备证书查询.com", "cnse.samr.gov.cn", "idn"),
    ("xn--vhq83aba960t6tpvlklu5a.net", "cx.mem.gov.cn", "idn_cert_name"),
])
def test_lookalikes_are_flagged_with_reasons(host, impersonates, code):
    j = score_host(host)
    assert j.flagged, j.reasons
    assert j.impersonates == impersonates
    assert code in [r["code"] for r in j.reasons]
    for r in j.reasons:
        assert set(r) == {"code", "label", "weight", "evidence"}
        assert re.search(r"[\u4e00-\u9fff]", r["label"])


@pytest.mark.parametrize("host", [
    "member.jd.com", "memfault.com", "memory.com", "remember.cn", "samrat.com", "cnseed.com",
    "goldmohur.com", "mohur.in", "govtech.com", "governance.org", "tzzy-peixun.com",
    "aqsc-kaoshi.com", "kuaidi-chaxun.net", "zhengshu-zhinan.com", "www.gov.uk", "moh.gov.sg",
    "cx-auto.com", "电工培训.com", "www.hangong.com", "gdhangong.com",
])
def test_lexically_close_hosts_are_benign(host):
    j = score_host(host)
    assert j.verdict == "benign", j.reasons
    assert j.impersonates == "", "a benign host impersonates nobody"


def test_real_national_query_systems_are_official_and_their_look_alikes_are_not():
    """The registry holds the real query systems a reviewer meets (人社's
    networked query for skill certificates beside the safety families)."""
    assert score_host("zscx.osta.org.cn").verdict == "official"
    fake = score_host("osta-zscx.com")
    assert fake.verdict == "fake_gov_site" and fake.impersonates == "zscx.osta.org.cn"


@pytest.mark.parametrize("host, verdict", [
    ("cx.mem.gov.cn", "official"), ("jzsc.mohurd.gov.cn", "official"), ("www.samr.gov.cn", "official"),
    ("cnse.e-cqs.cn", "official"), ("cranesystem.gdcic.net", "official"),
    ("yjglj.sh.gov.cn", "official"), ("cx-mem.gov.cn", "official"), ("应急管理部.政务", "official"),
])
def test_official_and_restricted_hosts(host, verdict):
    j = score_host(host)
    assert j.verdict == verdict and j.score == 0


def test_short_tokens_count_only_at_token_boundaries():
    assert [r["code"] for r in score_host("mem-cx.com").reasons][:1] == ["official_token_weak"]
    assert not score_host("memcx1.com").reasons == []
    assert score_host("memberpress.com").reasons == []


def test_url_and_case_and_port_are_normalised():
    a = score_host("HTTPS://CX-MEM-GOV.CN:8443/cx/?a=1")
    assert a.host == "cx-mem-gov.cn" and a.verdict == "fake_gov_site"


@pytest.mark.parametrize("bad, code", [
    ("", "invalid_host"),
    ("a" * 300 + ".com", "label_too_long"),
    ("-bad-.com", "invalid_host"),
    ("exa mple.com", "invalid_host"),
    ("a..b.com", "invalid_host"),
    ("127.0.0.1", "ip_address"),
    (".".join(["abcdefghij"] * 30) + ".com", "host_too_long"),
    ("localhost", "invalid_host"),
    (None, "invalid_host"),
])
def test_bad_host_names_give_a_reason_not_a_crash(bad, code):
    j = score_host(bad)
    assert j.verdict == "benign" and j.score == 0
    assert j.reasons[0]["code"] == code


def test_undecodable_idn_is_reported_and_still_scored():
    for host in ("xn--zzzz.com", "xn--a.cn", "xn--9999999999999.top"):
        j = score_host(host)
        assert "idn_undecodable" in [r["code"] for r in j.reasons], host
    j = score_host("xn--a.cx-mem-gov.com")
    assert j.flagged


def test_site_judge_for_the_sale_classifier():
    bad, why = site_judge("cx-mem-gov.cn")
    assert bad and "cx.mem.gov.cn" in why
    assert site_judge("www.hongan-peixun.com") == (False, "")
    assert site_judge("cx.mem.gov.cn") == (False, "")


def test_classify_cli_uses_site_judge_on_linked_hosts():
    line = json.dumps({"id": 1, "text": "电工证 官网可查 查询网址 http://cx-mem-gov.cn/cx/ 微信 zb8888a"},
                      ensure_ascii=False)
    proc = run_cli("classify", "-", input=line + "\n", check=True)
    out = json.loads(proc.stdout.splitlines()[0])
    assert "fake_site" in [r["code"] for r in out["reasons"]]


# ---------------------------------------------------------------- page and WHOIS

def _full(domain):
    return next(r for r in read_jsonl(DATA / "sites_full.jsonl") if r["domain"] == domain)


def test_page_signals_of_an_innocuous_name_fake():
    row = _full("kjcx-center.top")
    assert not score_host(row["domain"]).flagged         # the name says nothing ...
    facts = pagesignals.analyze(row["html"])
    codes = {r["code"] for r in facts.reasons}
    assert {"official_title", "query_form", "emblem", "icp_missing", "govcode_missing"} <= codes
    j = judge(row["domain"], row["html"], row["whois"], row["checked_at"])
    assert j.verdict == "fake_gov_site" and j.impersonates == "cx.mem.gov.cn"   # ... the page does
    assert {"privacy", "new_180d", "one_year"} <= {r["code"] for r in j.reasons}


def test_news_that_quotes_official_names_is_benign():
    row = _full("www.safehoo.com")
    j = judge(row["domain"], row["html"], row["whois"], row["checked_at"])
    assert j.verdict == "benign"
    assert "warning" in [r["code"] for r in j.reasons]


def test_copied_icp_and_near_copy_of_official_page():
    official = (DATA.parent.parent / "keywords" / "reference_pages" / "mem.html").read_text(encoding="utf-8")
    fake = official.replace('<meta name="SiteIDCode" content="bm43000001">', "")
    codes = {r["code"] for r in pagesignals.analyze(fake).reasons}
    assert {"icp_copied", "govcode_copied", "near_copy", "official_title"} <= codes
    # The official site itself carries no page points.
    assert judge("cx.mem.gov.cn", official).score == 0


def test_whois_alone_never_decides():
    row = _full("kjcx-center.top")
    j = judge("plain-shop-example.com", "<html><title>小店</title></html>", row["whois"], row["checked_at"])
    assert j.verdict == "benign"
    assert all(r["weight"] == 0 for r in j.reasons if r["code"] in ("privacy", "new_180d", "one_year"))


@pytest.mark.parametrize("html", ["", "<<<>>>", "\x00\xff" * 100, "<html>" * 5000, 12345])
def test_hostile_pages_do_not_crash(html):
    j = judge("cx-mem-gov.cn", html if isinstance(html, str) else None)
    assert j.verdict == "fake_gov_site"


# ---------------------------------------------------------------- check-domain CLI

def test_check_domain_hosts_and_jsonl(tmp_path):
    proc = run_cli("check-domain", "cx-mem-gov.cn", "www.baidu.com", "a" * 300 + ".com", check=True)
    rows = [json.loads(l) for l in proc.stdout.splitlines()]
    assert [r["verdict"] for r in rows] == ["fake_gov_site", "benign", "benign"]
    assert rows[2]["reasons"][0]["code"] == "label_too_long"
    assert set(rows[0]) == {"domain", "verdict", "score", "impersonates", "reasons"}

    row = _full("lqsm88.com")
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"domain": row["domain"], "html": row["html"], "whois": row["whois"],
                             "checked_at": row["checked_at"]}, ensure_ascii=False) + "\n"
                 + "{broken\n" + json.dumps({"html": "x"}) + "\n", encoding="utf-8")
    proc = run_cli("check-domain", "--jsonl", f)
    assert proc.returncode == 2
    lines = [json.loads(l) for l in proc.stdout.splitlines()]
    assert lines[0]["verdict"] == "fake_gov_site" and lines[0]["impersonates"] == "zlaq.mohurd.gov.cn"
    assert lines[1]["line"] == 2 and lines[2]["line"] == 3
    assert "第 2 行" in proc.stderr


def test_check_domain_help_is_chinese_with_example():
    proc = run_cli("check-domain", "--help", check=True)
    assert "仿冒" in proc.stdout and "示例：certwatch check-domain" in proc.stdout


def test_registry_is_data():
    reg = lookalike.registry()
    assert "cx.mem.gov.cn" in reg.official_hosts and "cnse.e-cqs.cn" in reg.official_hosts
    assert "gov.cn" in reg.restricted
    assert "cxmemgov" in reg.forms


def test_commands_and_settings_are_documented():
    docs = DATA.parent.parent / "docs"
    readme = "".join(p.read_text(encoding="utf-8") for p in (docs / "sites.md", docs / "settings.md"))
    for needle in ("certwatch check-domain", "certwatch evaluate domains", "certwatch submit",
                   "certwatch sites check", "CERTWATCH_WHOIS_SERVERS", "CERTWATCH_WHOIS_TIMEOUT",
                   "CERTWATCH_WHOIS_INTERVAL", "CERTWATCH_WHOIS_MAX_AGE_DAYS", "CERTWATCH_WHOIS_ENABLED",
                   "CERTWATCH_SITES_SOURCES", "CERTWATCH_SITES_LIMIT", "CERTWATCH_SITES_TLDS"):
        assert needle in readme, needle
