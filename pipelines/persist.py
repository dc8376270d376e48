"""StorePipeline: write judged items to the store in batches.

Each batch is one transaction, so a killed crawl leaves the database
consistent (at most the last unflushed batch is lost, and the next sweep
picks those listings up again without duplicates).

Listings are linked to the web sites they name (the hosts of their
contacts' URLs and domains) as they are stored: a site not yet known is
recorded as judged by its name alone (look-alike scorer, nothing fetched;
``sites check`` visits it later), so a finding's 指向的网站 and the site's
place in the review queue are there right after the sweep.

``store_site`` and ``store_listings`` are the store step as plain
functions: this pipeline and the distributed writer (``certwatch ingest``,
which receives items judged on workers) both call them.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit


from pipelines import store
from pipelines.lookalike import score_host

SELLER_REASON = {"code": "seller_site", "label": "售假信息中出现的网站，未仿冒官方查询网站（售假者自己的网站）",
                 "weight": 0.0, "evidence": ""}

log = logging.getLogger(__name__)


class _NoStats:
    def inc_value(self, key, count=1):
        pass


class StorePipeline:
    def __init__(self, db_path: str, batch: int, stats, crawler, platform_hosts=frozenset()):
        self.db_path = db_path
        self.batch_size = batch
        self.stats = stats
        self.crawler = crawler
        self.platform_hosts = frozenset(platform_hosts)
        self.pending: list[dict] = []
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.get("CERTWATCH_DB"), crawler.settings.getint("CERTWATCH_STORE_BATCH", 50),
                   crawler.stats, crawler, platform_hosts(crawler.settings.get("CERTWATCH_PROFILES_DIR")))

    def open_spider(self, spider=None):
        self.db = store.connect(self.db_path)

    def close_spider(self, spider=None):
        self.flush()
        if self.db is not None:
            self.db.close()
            self.db = None

    def sweep_id(self) -> int | None:
        return self.crawler.settings.getint("CERTWATCH_SWEEP_ID", 0) or \
            getattr(self.crawler, "certwatch_sweep_id", None)

    def process_item(self, item, spider=None):
        if item.get("kind") == "site":
            self.record_site(item)
            return item
        self.pending.append(item)
        if len(self.pending) >= self.batch_size:
            self.flush()
        return item

    def record_site(self, item: dict) -> None:
        store_site(self.db, item)
        self.stats.inc_value("certwatch/sites_recorded")

    def flush(self) -> None:
        if not self.pending or self.db is None:
            return
        batch, self.pending = self.pending, []
        recorded = store_listings(self.db, batch, self.sweep_id(), self.platform_hosts, self.stats)
        self.stats.inc_value("certwatch/stored", len(recorded))
        self.stats.inc_value("certwatch/new_findings", sum(1 for r in recorded if r.created))


def store_site(db, item: dict) -> int:
    """Store one judged site item (kind "site"), keyed by its registered
    domain, with the links of listings pointing at it. Returns its id."""
    host = (urlsplit(item["url"]).hostname or "").lower()
    site_id = store.record_checked_site(db, {
        "domain": registered_domain(host), "host": host, "url": item["url"],
        "final_url": item.get("final_url"), "http_status": item.get("http_status"),
        "title": item.get("title"), "source": item.get("source", "search"),
        **({k: item[k] for k in ("verdict", "score", "reasons", "impersonates", "whois", "ips")
            if k in item}),
    })
    with db.atomic():
        for finding_id in item.get("finding_ids") or ():   # listings linking here (sites spider)
            store.link_finding_site(db, int(finding_id), site_id, item["url"])
    return site_id


def store_listings(db, items: list[dict], sweep_id: int | None, platform_hosts=frozenset(), stats=None) -> list:
    """Store judged listing items in one transaction (store.record_findings)
    and link each to the sites it names; the store's Recorded rows."""
    recorded = store.record_findings(db, items, sweep_id)
    link_named_sites(db, recorded, items, frozenset(platform_hosts), stats or _NoStats())
    return recorded


def link_named_sites(db, recorded, batch: list[dict], platform_hosts: frozenset, stats) -> None:
    """Link each listing to the sites its text names; a site not yet
    stored is recorded as judged by its name (source 'listing')."""
    with db.atomic():
        for rec, item in zip(recorded, batch):
            for host, url in named_hosts(item.get("contacts")):
                site_id = _site_for(db, host, url, platform_hosts, stats)
                if site_id is not None:
                    store.link_finding_site(db, rec.id, site_id, url)
                    stats.inc_value("certwatch/site_links")
                    if item.get("flagged") and store.mark_seller_site(
                            db, site_id, {**SELLER_REASON, "evidence": f"信息 #{rec.id}"}):
                        stats.inc_value("certwatch/seller_sites")


def _site_for(db, host: str, url: str, platform_hosts: frozenset, stats) -> int | None:
    j = score_host(host)
    if j.bad_host or j.verdict == "official" or j.host in platform_hosts:
        return None
    domain = registered_domain(j.host)
    known = store.site_of_host(db, domain)
    if known is not None:
        return known["id"]
    stats.inc_value("certwatch/sites_named")
    if j.flagged:
        stats.inc_value("certwatch/sites_named_flagged")
    return store.record_checked_site(db, {
        "domain": domain, "host": j.host, "url": url, "source": "listing", "verdict": j.verdict,
        "score": j.score, "reasons": j.reasons, "impersonates": j.impersonates})


def registered_domain(host: str) -> str:
    """The site key: the registered domain of ``host`` (host itself when none)."""
    from pipelines.contacts import extractor
    return extractor()(host).top_domain_under_public_suffix or host


def named_hosts(contacts, limit: int = 20) -> list[tuple[str, str]]:
    """(host, URL) for each host a listing names: its URLs first (the URL as
    written), then bare domains (their front page)."""
    if not isinstance(contacts, dict):
        return []
    out, seen = [], set()
    for url in contacts.get("url") or []:
        if not isinstance(url, str):
            continue
        full = url if "://" in url else "http://" + url
        try:
            host = (urlsplit(full).hostname or "").lower().rstrip(".")
        except ValueError:          # a malformed URL in hostile text
            continue
        if host and host not in seen:
            seen.add(host)
            out.append((host, full))
    for host in contacts.get("domain") or []:
        if isinstance(host, str) and host.lower().rstrip(".") not in seen:
            host = host.lower().rstrip(".")
            seen.add(host)
            out.append((host, f"http://{host}/"))
    return [pair for pair in out if pair[0]][:limit]


def platform_hosts(profiles_dir: str | None = None) -> set[str]:
    """Hosts of the platform profiles: a listing's link to its own platform is no site."""
    from pipelines.profiles import load_profiles
    try:
        profiles = load_profiles(profiles_dir or None)
    except Exception as exc:        # a bad extra profile must not stop storing
        log.warning("平台配置加载失败：%s", exc)
        return set()
    return {h for p in profiles.values() for h in getattr(p, "hosts", [])}
