"""Checked sites (one row per registered domain), their links to findings,
the WHOIS cache and the candidate hosts named in findings.
"""
from __future__ import annotations

import urllib.parse
from datetime import datetime, timezone

import sqlite_utils

from .db import now_utc, StoreError, _dumps, _loads


def record_site(db: sqlite_utils.Database, site: dict) -> int:
    """Store or refresh a checked site, keyed by its registered domain."""
    stamp = now_utc()
    with db.atomic():
        row = db.execute("SELECT id, status FROM sites WHERE domain = ?", [site["domain"]]).fetchone()
        fields = {k: site.get(k) for k in ("host", "url", "impersonates", "score", "verdict",
                                             "http_status", "title", "final_url", "source")
                  if site.get(k) is not None}
        if "reasons" in site:
            fields["reasons"] = _dumps(site["reasons"])
        if "whois" in site:
            fields["whois"] = _dumps(site["whois"])
        if site.get("ips"):
            fields["ips"] = _dumps([str(ip) for ip in site["ips"]][:16])
        if row is None:
            cur = db["sites"].insert({"domain": site["domain"], "first_seen": stamp,
                                      "last_seen": stamp, "status": "new", **fields})
            return cur.last_pk
        if row[1] not in ("new", "flagged"):
            for key in ("score", "verdict", "reasons", "impersonates"):
                fields.pop(key, None)
        elif fields.get("verdict") == "benign" and db.execute(
                "SELECT 1 FROM sites WHERE id = ? AND verdict = 'seller_site'", [row[0]]).fetchone():
            # a seller's site stays one when a later check finds its page unremarkable
            for key in ("score", "verdict", "reasons", "impersonates"):
                fields.pop(key, None)
        db["sites"].update(row[0], {"last_seen": stamp, **fields})
        return row[0]


def mark_seller_site(db: sqlite_utils.Database, site_id: int, reason: dict) -> bool:
    """A site a flagged sale listing names, that no judgement found to be a
    fake government site, is the seller's own (verdict seller_site, the
    reason added). Human decisions and fake/suspicious verdicts stay."""
    with db.atomic():
        row = db.execute("SELECT reasons FROM sites WHERE id = ? AND status IN ('new', 'flagged')"
                         " AND COALESCE(verdict, 'benign') IN ('benign', 'seller_site')", [site_id]).fetchone()
        if row is None:
            return False
        reasons = [r for r in _loads(row[0], []) if isinstance(r, dict) and r.get("code") != reason["code"]]
        db.execute("UPDATE sites SET verdict = 'seller_site', reasons = ? WHERE id = ?",
                   [_dumps([*reasons, reason]), site_id])
        return True


def link_finding_site(db: sqlite_utils.Database, finding_id: int, site_id: int, url: str) -> None:
    db.execute("INSERT OR IGNORE INTO site_links (finding_id, site_id, url, seen_at) VALUES (?, ?, ?, ?)",
               [finding_id, site_id, url, now_utc()])


def get_site(db: sqlite_utils.Database, site_id: int) -> dict:
    try:
        row = db["sites"].get(site_id)
    except sqlite_utils.db.NotFoundError:
        raise StoreError(f"网站记录 {site_id} 不存在") from None
    row["reasons"] = _loads(row.get("reasons"), [])
    row["whois"] = _loads(row.get("whois"), {})
    row["ips"] = _loads(row.get("ips"), [])
    return row


def site_of_host(db: sqlite_utils.Database, host: str) -> dict | None:
    """The stored site for a host name (by domain or host), for the network view."""
    host = (host or "").strip().lower().rstrip(".")
    row = db.execute("SELECT id, domain, verdict, score, status, url FROM sites WHERE domain = ? OR host = ?"
                     " ORDER BY id LIMIT 1", [host, host]).fetchone()
    return None if row is None else {"id": row[0], "domain": row[1], "verdict": row[2], "score": row[3],
                                     "status": row[4], "url": row[5]}


def sites_with_status(db: sqlite_utils.Database, statuses: tuple = ("new", "flagged")) -> list[dict]:
    marks = ", ".join("?" * len(statuses))
    return [get_site(db, r[0]) for r in db.execute(
        f"SELECT id FROM sites WHERE status IN ({marks}) ORDER BY id", list(statuses)).fetchall()]


def get_whois(db: sqlite_utils.Database, domain: str, max_age_days: float) -> dict | None:
    """Cached WHOIS facts younger than ``max_age_days`` (answers only: a
    failed lookup is asked again)."""
    row = db.execute("SELECT status, facts, fetched_at FROM whois_cache WHERE domain = ?",
                     [domain]).fetchone()
    if row is None or row[0] not in ("ok", "not_found"):
        return None
    try:
        fetched = datetime.strptime(row[2], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except (TypeError, ValueError):
        return None
    if (datetime.now(timezone.utc) - fetched).total_seconds() > max_age_days * 86400:
        return None
    facts = _loads(row[1], {})
    facts["cached_at"] = row[2]
    return facts


def save_whois(db: sqlite_utils.Database, domain: str, facts: dict, raw: str) -> None:
    with db.atomic():
        db["whois_cache"].upsert({"domain": domain, "status": facts.get("status", ""),
                                  "facts": _dumps(facts), "raw": (raw or "")[:65536],
                                  "fetched_at": now_utc()}, pk="domain")


def whois_facts(db: sqlite_utils.Database, domain: str) -> dict:
    """The latest WHOIS facts looked up for ``domain``, whatever their age
    ({} when it was never asked): what a report shows of it."""
    row = db.execute("SELECT facts, fetched_at FROM whois_cache WHERE domain = ?", [domain]).fetchone()
    if row is None:
        return {}
    facts = _loads(row[0], {})
    if not isinstance(facts, dict):
        return {}
    facts["cached_at"] = row[1]
    return facts


def whois_raw(db: sqlite_utils.Database, domain: str) -> str:
    row = db.execute("SELECT raw FROM whois_cache WHERE domain = ?", [domain]).fetchone()
    return row[0] if row else ""


def record_checked_site(db: sqlite_utils.Database, site: dict) -> int:
    """Store a judged site (see record_site) and move its machine status:
    ``flagged`` when the verdict says fake or suspicious, else ``new``;
    a human decision is never overwritten."""
    site_id = record_site(db, site)
    flagged = site.get("verdict") in ("fake_gov_site", "suspicious")
    with db.atomic():
        db.execute("UPDATE sites SET status = ? WHERE id = ? AND status IN ('new', 'flagged')",
                   ["flagged" if flagged else "new", site_id])
    return site_id


def linked_hosts_of_findings(db: sqlite_utils.Database, limit: int = 10_000) -> list[dict]:
    """Hosts and URLs named in stored findings (contacts "url"/"domain"
    lists), newest findings first: [{"finding_id", "url", "host"}]."""
    out = []
    for fid, contacts in db.execute(
            "SELECT id, contacts FROM findings WHERE contacts LIKE '%\"url\"%' OR contacts LIKE '%\"domain\"%'"
            " ORDER BY id DESC LIMIT ?", [limit]).fetchall():
        c = _loads(contacts, {})
        if not isinstance(c, dict):
            continue
        urls = [u for u in c.get("url", []) if isinstance(u, str)]
        seen = set()
        for url in urls:
            host = (urllib.parse.urlsplit(url if "://" in url else "http://" + url).hostname or "").lower()
            if host and host not in seen:
                seen.add(host)
                out.append({"finding_id": fid, "url": url, "host": host})
        for host in c.get("domain", []):
            if isinstance(host, str) and host.lower() not in seen:
                seen.add(host.lower())
                out.append({"finding_id": fid, "url": "http://" + host.lower() + "/", "host": host.lower()})
    return out


def unchecked_sites(db: sqlite_utils.Database, limit: int = 1000) -> list[dict]:
    """Sites stored but never visited (tips from `certwatch submit`)."""
    return [dict(zip(("id", "domain", "host", "url", "source"), r)) for r in db.execute(
        "SELECT id, domain, host, url, source FROM sites WHERE http_status IS NULL"
        " AND status IN ('new', 'flagged') ORDER BY id LIMIT ?", [limit]).fetchall()]
