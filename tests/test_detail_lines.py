"""A profile-crawled detail page keeps its lines (pipelines/platform_pages.py
``block_text``): a reply posted as an ad under a long guide on a forum thread
is judged as a part of the long text, the stored text shows each floor and
paragraph on its own line, and a re-sweep that only reads the same page's
lines differently is not "changed since the decision"."""
import html
import json
import re
from pathlib import Path

from parsel import Selector

from helpers import add_users, forum_profile, login, run_cli, sandbox_text
from pipelines import store
from pipelines.fastcss import css_strings, css_text_nodes
from pipelines.platform_pages import MAX_FIELD, block_text, detail_fields
from pipelines.profiles import parse_profile

HOST = "long.gongyou.cn"
AD = next(json.loads(line) for line in (Path(__file__).parent.parent / "crawler" / "sandbox" / "data"
                                        / "listings.jsonl").read_text(encoding="utf-8").splitlines()
          if line.strip() and json.loads(line)["id"] == "L001")


def _lines(html: str, css: str = "div.c ::text") -> str:
    return block_text(css_text_nodes(Selector(text=html), css))


def test_blocks_start_lines_inline_runs_join_as_they_read():
    page = ('<div class="c">\n  <p>第一段<b>加粗</b>接着<a href="#">链接</a></p>\n  <p>第二段</p>尾巴<br>换行<br/>\n'
            '  <span>甲</span>\n<span>乙</span><!-- 注释 -->丙<ul><li>一</li><li>二</li></ul>'
            '<table><tr><td>作者</td>\n<td>内容<font color="red">微信</font>：abc</td></tr><tr><td>下一行</td></tr></table>'
            '原样\r\n\r\n\r\n换行的字\n\n\n<h3>标题</h3><blockquote>引用</blockquote>a<span><p>块中块</p></span>b<hr>c</div>'
            '<div class="c">第二楼</div>')
    assert _lines(page).split("\n") == [
        "第一段加粗接着链接", "第二段", "尾巴", "换行", "甲 乙丙", "一", "二", "作者 内容微信：abc", "下一行",
        "原样", "", "换行的字", "标题", "引用", "a", "块中块", "b", "c", "第二楼"]


def test_hostile_shapes_give_their_text():
    # No blocks at all: one line; 250 levels of nesting, 40 times; 60,000 line breaks: cut at MAX_FIELD.
    assert _lines('<div class="c">' + "<span>字</span>" * 20_000 + "</div>") == "字" * 20_000
    deep = _lines('<div class="c">' + ("<div>字" + "<span>" * 120 + "<b>字</b>" + "</span>" * 120) * 250
                  + "</div>" * 250 + "</div>")
    assert deep == "\n".join(["字字"] * 250)
    brs = _lines('<div class="c">' + "字字<br>" * 60_000 + "</div>")
    assert len(brs) == MAX_FIELD and brs.startswith("字字\n字字\n") and brs.endswith("字")


def test_title_seller_price_stay_one_line(tmp_path):
    import yaml
    data = yaml.safe_load((forum_profile(tmp_path / "p", "lt", "长帖论坛", HOST) / "lt.yaml").read_text("utf-8"))
    data["detail"]["seller"] = "div.post a.author::text"
    sel = Selector(text='<h1 class="subject">代办<b>电工证</b>\n 包过</h1><div class="post"><a class="author">甲</a></div>'
                        '<div class="post"><a class="author">乙</a><div class="post-content"><p>一</p><p>二</p></div></div>')
    fields = detail_fields(parse_profile(data), sel)
    assert (fields["title"], fields["seller"], fields["text"]) == ("代办 包过", "甲 乙", "一\n二")


def test_reply_ad_under_a_long_guide_is_flagged_as_a_part(sandbox, db_path, tmp_path):
    profiles = forum_profile(tmp_path / "profiles", "longthread", "长帖论坛", HOST)
    proc = run_cli("sweep", "--db", db_path, "--sandbox", sandbox, "--profiles", profiles,
                   "--platforms", "longthread", "--keyword", "电工证", "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    db = store.connect(db_path)
    found = {f["url"].rsplit("/", 1)[1]: f for f in store.iter_findings(db)}
    assert sorted(found) == ["thread-guide-ad.html", "thread-guide.html"]
    ad, plain = found["thread-guide-ad.html"], found["thread-guide.html"]
    reasons = json.loads(ad["reasons"]) if isinstance(ad["reasons"], str) else ad["reasons"]

    # Each floor and paragraph a line; the ad's <font>微信</font> read as one run with its line.
    text = ad["text"]
    assert len(text) > 2_000 and text.count("\n") > 30
    assert AD["text"] in text.split("\n")
    assert ad["flagged"] and ad["status"] == "flagged"
    assert reasons[0]["code"] == "long_text_part"
    a, b = map(int, re.search(r"正文第 (\d+)–(\d+) 字", reasons[0]["label"]).groups())
    assert text[a - 1:b] == AD["text"]
    assert f"正文共 {len(text)} 字" in reasons[0]["label"]
    assert ad["contacts"] and "zheng_ban88" in json.dumps(ad["contacts"])

    plain_reasons = json.loads(plain["reasons"]) if isinstance(plain["reasons"], str) else plain["reasons"]
    assert len(plain["text"]) > 2_000 and not plain["flagged"] and plain["status"] == "new"
    assert not any(r["code"] == "long_text_part" for r in plain_reasons)

    # The same thread read the old way (every text node joined by spaces, one line) was not flagged.
    from pipelines.sales import classify
    _, page = sandbox_text(sandbox, f"http://{HOST}/thread-guide-ad.html")
    one_line = " ".join(t.strip() for t in css_strings(Selector(text=page), "div.post-content ::text") if t.strip())
    assert "\n" not in one_line and not classify(one_line, ad["title"]).flagged

    # The console's detail page shows the stored text as it is, lines kept (escaped; CSS pre-wrap breaks them).
    from reports.console.app import create_app
    add_users(db, "rev")
    client, _ = login(create_app(db_path), "rev")
    page_html = client.get(f"/finding/{ad['id']}").text
    shown = re.search(r'<div class="listing-text">(.*?)</div>', page_html, re.S).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", shown)) == text
    assert "white-space: pre-wrap" in client.get("/static/console.css").text.split(".listing-text", 1)[1][:80]

    # A decision made on the one-line text: re-reading the same page with its lines is no new version.
    store.add_decision(db, "审核员甲", "confirm", finding_id=ad["id"])
    db.execute("UPDATE findings SET text = ? WHERE id = ?", [one_line, ad["id"]])
    item = {k: ad[k] for k in ("url", "platform", "title", "text", "seller", "price", "score", "flagged", "family")}
    item.update(contacts=ad["contacts"], reasons=reasons)
    store.record_findings(db, [item], None)
    assert store.get_finding(db, ad["id"])["changed_since_decision"] == 0
    assert store.finding_versions(db, ad["id"]) == []
    store.record_findings(db, [{**item, "text": item["text"].replace(AD["text"], "该回复已被删除")}], None)
    assert store.get_finding(db, ad["id"])["changed_since_decision"] == 1
    assert len(store.finding_versions(db, ad["id"])) == 1
    db.close()
