"""Chinese labels for what people read in reports and the console: platforms,
violation types, contacts, statuses, decision actions, evidence files, WHOIS
fields. Codes stay in the data; these maps say them in Chinese."""
from __future__ import annotations

import functools

CONTACT_CN = {"phone": "手机", "mobile": "手机", "qq": "QQ", "wechat": "微信", "telegram": "Telegram",
              "email": "邮箱", "url": "网址", "domain": "域名", "urls": "网址", "domains": "域名"}
# People's contacts first (the order reports list them in), then links.
CONTACT_ORDER = ("wechat", "qq", "phone", "mobile", "telegram", "email", "url", "urls", "domain", "domains")
FAMILY_CN = {"tezhong": "特种作业操作证", "anquan": "安全生产知识和管理能力考核合格证",
             "jianzhu": "建筑施工特种作业/三类人员证书", "shebei": "特种设备作业人员证",
             "generic": "综合/各类证件"}
STATUS_CN = {"pending": "待审核", "new": "新发现", "flagged": "可疑", "confirmed": "已确认", "dismissed": "已排除",
             "takedown_requested": "已请求下架", "removed": "已下架", "still_present": "仍在线",
             "referral_pending": "待移交公安", "referred": "已移交", "requested": "已请求", "unknown": "无法判断", "created": "已生成",
             "sent": "已发出"}
RESULT_CN = {"removed": "已下架", "still_present": "仍在线", "unknown": "无法判断", "requested": "待复查"}
# Every decision action pipelines.store.add_decision accepts (store.DECISION_STATUS);
# the same words as the console's buttons.
ACTION_CN = {"confirm": "确认", "dismiss": "排除误报", "refer": "移交公安", "refer_package": "生成移交包",
             "undo": "撤回（重新审核）"}
# Evidence file kinds (pipelines.evidence.KINDS_EXT).
EVIDENCE_FILE_CN = {"screenshot": "截图", "html": "网页源码", "raw": "原始字节", "warc": "WARC 存档",
                    "record": "提取记录"}
# Where a checked site came from (sites.source); "tip:<来源>" is a reported tip.
SITE_SOURCE_CN = {"listing": "信息中的链接", "search": "搜索结果", "generated": "官方域名变形", "tip": "线索举报"}
# WHOIS facts (pipelines.whois.parse) and older/other spellings of the same fields.
WHOIS_FIELD_CN = {
    "domain": "域名", "status": "查询结果", "error": "错误信息", "registrar": "注册商",
    "sponsoring_registrar": "注册商", "registrant": "注册人", "registrant_name": "注册人",
    "registrant_org": "注册人单位", "org": "注册人单位", "registrant_kind": "注册人类型",
    "country": "国家/地区", "email": "注册人邮箱", "name_servers": "域名服务器", "nameservers": "域名服务器",
    "created": "注册时间", "creation_date": "注册时间", "registration_time": "注册时间",
    "expires": "到期时间", "expiration_date": "到期时间", "expiration_time": "到期时间",
    "updated": "更新时间", "updated_date": "更新时间", "ips": "IP 地址", "ip_addresses": "IP 地址",
    "format": "记录格式",
}
WHOIS_VALUE_CN = {
    "status": {"ok": "查询成功", "not_found": "查无注册记录", "empty": "无内容", "garbage": "无法解析",
               "rate_limited": "查询受限", "invalid": "域名无效", "timeout": "查询超时", "refused": "拒绝连接",
               "error": "查询出错", "too_long": "回答过长", "no_answer": "无应答", "no_server": "无 WHOIS 服务器"},
    "registrant_kind": {"privacy": "隐私保护", "individual": "个人", "agency": "政府机关",
                        "organisation": "单位/企业", "unknown": "无法判断"},
    "format": {"cnnic": "CNNIC 格式", "registrar": "注册商格式"},
}


@functools.cache
def _profiles() -> dict:
    try:
        from pipelines.profiles import load_profiles
        return load_profiles()
    except Exception:  # a broken extra profile must not stop a report
        return {}


def platform_title(name: str) -> str:
    p = _profiles().get(name or "")
    return p.title if p is not None else (name or "")


def violation(finding: dict) -> str:
    family = FAMILY_CN.get(finding.get("family") or "")
    return f"涉嫌售卖假冒{family}" if family else "涉嫌售卖假冒安全生产资格证书"


def contacts_text(contacts) -> str:
    return "；".join(f"{kind}：{'、'.join(values[:10])}" for kind, values in contacts_cn(contacts).items())


def action(code: str) -> str:
    return ACTION_CN.get(code or "", code or "")


def evidence_file(kind: str) -> str:
    return EVIDENCE_FILE_CN.get(kind or "", kind or "文件")


def site_source(source: str) -> str:
    """"tip:12350" → "线索举报（12350）"."""
    kind, _, detail = (source or "").partition(":")
    label = SITE_SOURCE_CN.get(kind)
    if label is None:
        return source or ""
    return f"{label}（{detail}）" if detail else label


def contacts_cn(contacts) -> dict[str, list[str]]:
    """{"wechat": ["zb8888"]} → {"微信": ["zb8888"]}: the stored (normalized)
    values under Chinese names, in CONTACT_ORDER; kinds with the same name
    are merged."""
    out: dict[str, list[str]] = {}
    if not isinstance(contacts, dict):
        return out
    rank = {k: n for n, k in enumerate(CONTACT_ORDER)}
    for kind, values in sorted(contacts.items(), key=lambda kv: rank.get(kv[0], len(rank))):
        if not isinstance(values, list):
            continue
        merged = out.setdefault(CONTACT_CN.get(str(kind), str(kind)), [])
        for v in values:
            if v is not None and str(v) not in merged:
                merged.append(str(v))
    return {k: v for k, v in out.items() if v}


# WHOIS facts that are times: shown in 北京时间 like every other time.
WHOIS_TIMES = ("created", "creation_date", "registration_time", "expires", "expiration_date",
               "expiration_time", "updated", "updated_date")


def whois_rows(whois) -> list[tuple[str, str]]:
    """(Chinese field name, text) for each WHOIS fact, for people to read:
    times in 北京时间 (a date alone as it is), and when the facts were looked
    up (the cache's ``cached_at``) last, as 查询时间."""
    if not isinstance(whois, dict):
        return []
    from pipelines.store import beijing
    rows, looked_up = [], None
    for key, value in whois.items():
        key = str(key)
        if key == "cached_at":
            looked_up = value
            continue
        if isinstance(value, list):
            text = "、".join(str(v) for v in value[:20])
        elif value is None:
            text = ""
        else:
            text = str(value)
        if key in WHOIS_TIMES and ":" in text:
            text = beijing(text, "%Y-%m-%d %H:%M:%S") or text
        text = WHOIS_VALUE_CN.get(key, {}).get(text, text)
        rows.append((WHOIS_FIELD_CN.get(key, key), text))
    if looked_up:
        rows.append(("查询时间", beijing(str(looked_up), "%Y-%m-%d %H:%M:%S") or str(looked_up)))
    return rows
