"""Chinese labels for what reports show: platforms, violation types, contacts."""
from __future__ import annotations

import functools

CONTACT_CN = {"phone": "电话", "mobile": "手机", "qq": "QQ", "wechat": "微信", "telegram": "Telegram",
              "email": "邮箱", "url": "网址", "domain": "域名", "urls": "网址", "domains": "域名"}
FAMILY_CN = {"tezhong": "特种作业操作证", "anquan": "安全生产知识和管理能力考核合格证",
             "jianzhu": "建筑施工特种作业/三类人员证书", "shebei": "特种设备作业人员证"}
STATUS_CN = {"new": "新发现", "flagged": "可疑", "confirmed": "已确认", "dismissed": "已排除",
             "takedown_requested": "已请求下架", "removed": "已下架", "still_present": "仍在线",
             "referred": "已移交", "requested": "已请求", "unknown": "无法判断", "created": "已生成",
             "sent": "已发出"}
RESULT_CN = {"removed": "已下架", "still_present": "仍在线", "unknown": "无法判断", "requested": "待复查"}


@functools.cache
def _profiles() -> dict:
    try:
        from crawler.profiles import load_profiles
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
    if not isinstance(contacts, dict):
        return ""
    parts = []
    for kind, values in contacts.items():
        if isinstance(values, list) and values:
            parts.append(f"{CONTACT_CN.get(kind, kind)}：{'、'.join(str(v) for v in values[:10])}")
    return "；".join(parts)
