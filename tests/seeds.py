"""Store contents more than one test module starts from: the review queue,
the statistics period, the report pages, sent takedown batches of sandbox
listings, and evidence files."""
from __future__ import annotations

import hashlib
import os

from helpers import add_users
from pipelines import store

# The sandbox world's platforms by the profile that crawls each.
PROFILE = {"market": "taohuo", "classifieds": "fenleixinxi", "forum": "gongyou"}

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def seed_console(db) -> dict:
    """Three listings (two share a WeChat ID and link the same fake site),
    one benign one, one hostile title, and a fake site; a user per role."""
    items = [
        {"url": "http://bbs.gongyou.cn/thread-1-1.html", "platform": "forum", "title": "低压电工证 不用考试",
         "text": "代办低压电工证，不用考试，人不到场。微信 zb8888，官网可查 http://cx-mem-gov.cn/",
         "flagged": True, "score": 91, "family": "special_operation", "keyword": "电工证",
         "contacts": {"wechat": ["zb8888"], "domain": ["cx-mem-gov.cn"]},
         "reasons": [{"code": "no_exam", "label": "不用考试", "weight": 2.5, "evidence": "不用考试"},
                     {"code": "absent", "label": "人不到场", "weight": 2.0, "evidence": "人不到场"}]},
        {"url": "http://mall.taohuo.cn/item/7.html", "platform": "market", "title": "焊工证 包过",
         "text": "焊工证包过，加 V 信 zb8888 详谈", "flagged": True, "score": 80, "family": "special_operation",
         "contacts": {"wechat": ["zb8888"], "phone": ["13800001111"]},
         "reasons": [{"code": "pass_guarantee", "label": "包过", "weight": 2.0, "evidence": "包过"}]},
        {"url": "http://www.fenleixinxi.cn/post/9.html", "platform": "classifieds", "title": XSS,
         "text": XSS + " 叉车证 快速下证 QQ 123456", "flagged": True, "score": 70, "family": "special_equipment",
         "contacts": {"qq": ["123456"]},
         "reasons": [{"code": "fast", "label": "快速下证", "weight": 1.5, "evidence": "快速下证"},
                     {"code": "x", "label": XSS, "weight": 0.5, "evidence": "<script>"}]},
        {"url": "http://bbs.gongyou.cn/thread-2-1.html", "platform": "forum", "title": "电工证复审通知",
         "text": "请持证人员按时复审", "flagged": False, "score": 5},
    ]
    rec = store.record_findings(db, items, None)
    site = store.record_site(db, {"domain": "cx-mem-gov.cn", "host": "cx-mem-gov.cn",
                                  "url": "http://cx-mem-gov.cn/", "verdict": "fake_gov_site", "score": 95,
                                  "impersonates": "cx.mem.gov.cn",
                                  "reasons": [{"code": "gov_moved", "label": "gov 移出后缀", "weight": 3,
                                               "evidence": "cx-mem-gov"}],
                                  "whois": {"registrar": "某某网络科技有限公司", "registrant": "张某",
                                            "creation_date": "2024-05-01T10:00:00+08:00"}})
    store.link_finding_site(db, rec[0].id, site, "http://cx-mem-gov.cn/")
    store.link_finding_site(db, rec[1].id, site, "http://cx-mem-gov.cn/?id=1")
    ids = {"wechat1": rec[0].id, "wechat2": rec[1].id, "xss": rec[2].id, "benign": rec[3].id, "site": site}
    add_users(db, "admin1", "rev", "mon", "ro")
    return ids


# ---- the statistics period 2024-09-01 … 2024-10-31 (Beijing time)

# UTC times; the period is Beijing time: [2024-08-31T16:00Z, 2024-10-31T16:00Z).
BEFORE_START = "2024-08-31T15:59:59.000000Z"
AT_START = "2024-08-31T16:00:00.000000Z"
LAST_SECOND = "2024-10-31T15:59:59.000000Z"
AT_END = "2024-10-31T16:00:00.000000Z"
SEPT = "2024-09-10T03:00:00.000000Z"
AUG = "2024-08-10T03:00:00.000000Z"
NOV = "2024-11-05T03:00:00.000000Z"


def _decide(db, at, action="confirm", note="", **target):
    did = store.add_decision(db, "审核员甲", action, note=note, **target)
    store.restamp(db, "decisions", did, "at", at)
    return did


def _finding(db, n):
    rec = store.record_findings(db, [{"url": f"http://mall.taohuo.cn/item/{n}.html", "platform": "taohuo",
                                      "title": f"代办电工证 {n}", "text": "不用考试", "flagged": True}], None)[0]
    return rec.id


def seed_stats(db) -> dict:
    """Decisions, checks and referrals in and out of the period, with known counts."""
    ids = {}
    # Sites: first confirm decides the period; later dismissal removes it.
    for name, domain, times in [("A", "cx-mem-gov.cn", [SEPT]), ("B", "mem-gov.cn.com", [BEFORE_START]),
                                ("C", "cxmemgov.com", [AT_START]), ("D", "zlaq-mohurd.cn", [AT_END]),
                                ("E", "cnse-samr.xyz", [SEPT]), ("F", "tzzy-chaxun.com", [AUG, SEPT])]:
        sid = store.record_site(db, {"domain": domain, "url": f"http://{domain}/", "impersonates": "cx.mem.gov.cn",
                                     "title": "特种作业操作证查询" if name == "A" else ""})
        for at in times:
            _decide(db, at, site_id=sid)
        ids[name] = sid
    _decide(db, SEPT, "dismiss", note="官方备用域名", site_id=ids["E"])
    # Findings in one sent batch; checks at known times.
    for n in range(1, 7):
        ids[f"f{n}"] = _finding(db, n)
        _decide(db, AUG, finding_id=ids[f"f{n}"])
    batch = store.create_takedown(db, "taohuo", "监测员")
    store.mark_takedown_sent(db, batch, "监测员", at=AUG)
    items = {i["finding_id"]: i["id"] for i in store.takedown_items(db, batch)}
    checks = [("f1", "unknown", SEPT), ("f1", "removed", SEPT), ("f2", "removed", AUG),
              ("f3", "still_present", SEPT), ("f4", "unknown", SEPT), ("f5", "removed", AUG),
              ("f5", "removed", SEPT), ("f6", "removed", LAST_SECOND)]
    for key, result, at in checks:
        store.add_takedown_check(db, items[ids[key]], result, "HTTP 404" if result == "removed" else "",
                                 due="T+1", checked_at=at)
    # Referrals: the first referral of an item decides the period.
    store.create_referral(db, "区公安分局", [ids["f1"]], [ids["A"]], "审核员甲", at=SEPT)
    store.create_referral(db, "区公安分局", [ids["f2"]], [], "审核员甲", at=NOV)
    store.create_referral(db, "区公安分局", [ids["f3"]], [], "审核员甲", at=AUG)
    store.create_referral(db, "区公安分局", [ids["f3"]], [], "审核员甲", at=SEPT)
    return ids


def seed_reports(db) -> dict:
    """The statistics period, console users, and two confirmed findings on
    another platform ready for a takedown batch (ids["gongyou"])."""
    ids = seed_stats(db)
    add_users(db, "mon", "rev", "ro")
    # Confirmed findings on another platform, ready for a takedown batch.
    recs = store.record_findings(db, [{"url": f"http://bbs.gongyou.cn/thread-{n}-1.html", "platform": "gongyou",
                                       "title": f"=代办焊工证 {n}", "text": "不用考试", "flagged": True}
                                      for n in (1, 2)], None)
    for r in recs:
        store.add_decision(db, "审核员甲", "confirm", finding_id=r.id)
    ids["gongyou"] = [r.id for r in recs]
    return ids


# ---- takedowns of sandbox listings

def sent_takedowns(db, listings, at: str | None = None) -> dict[int, int]:
    """Findings for the world ``listings``, confirmed, in one takedown batch
    per platform marked sent (``at``, default now); {listing num: finding id}."""
    items = [{"url": l.url, "platform": PROFILE[l.platform], "title": l.title, "text": l.text,
              "seller": l.seller, "flagged": True, "score": 90} for l in listings]
    ids = {}
    for l, rec in zip(listings, store.record_findings(db, items, None)):
        store.add_decision(db, "审核员甲", "confirm", finding_id=rec.id)
        ids[l.num] = rec.id
    for platform in sorted({PROFILE[l.platform] for l in listings}):
        batch = store.create_takedown(db, platform, "监测员")
        store.mark_takedown_sent(db, batch, "监测员", at=at)
    return ids


# ---- evidence files

def add_screenshot(db, finding_id: int) -> dict:
    """A capture holding one small fake screenshot; its file row."""
    root = store.evidence_dir(db)
    data = b"\x89PNG\r\n\x1a\n-fake-screenshot-" + str(finding_id).encode()
    rel = f"ab/cd/{finding_id}.png"
    os.makedirs(os.path.join(root, "ab/cd"), exist_ok=True)
    with open(os.path.join(root, rel), "wb") as fh:
        fh.write(data)
    f = {"kind": "screenshot", "path": rel, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    store.add_evidence(db, {"finding_id": finding_id, "url": "http://x/", "files": [f], "tool": "test"})
    return f


def add_all_files(db, finding_id: int) -> None:
    """A capture with one file of every kind the capture writes."""
    from pipelines.evidence import KINDS_EXT, store_file
    root = store.evidence_dir(db)
    files = [store_file(root, kind, f"{kind}-{finding_id}".encode()) for kind in KINDS_EXT]
    store.add_evidence(db, {"finding_id": finding_id, "url": "http://x/", "files": files, "tool": "test"})
