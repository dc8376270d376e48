"""Politeness and per-platform control.

* ``Politeness`` (a Scrapy add-on, ``ADDONS``) turns the selected mode's
  profiles into settings before the crawl starts: ``DOWNLOAD_SLOTS`` for
  each platform host with a ``politeness.delay`` / ``politeness.concurrency``;
  ``ROBOTSTXT_OBEY`` when any profile obeys robots.txt; and in real mode the
  AutoThrottle defaults below. Settings given on the command line
  (``--set``) still win.
* ``PlatformPolicyMiddleware`` applies per-request policy: robots.txt
  ``ignore`` for profiles that say so (``meta["dont_obey_robotstxt"]``), and
  a platform's own HTTP proxy (``politeness.proxy``, real mode only; the
  sandbox proxy always wins in sandbox mode).

Defaults: real-mode profiles obey robots.txt, sandbox profiles ignore it;
see ``REAL_MODE_DEFAULTS`` for throttling. Loopback hosts of ``--local``
profiles (``CERTWATCH_LOCAL_HOSTS``: a user's test copy on this machine) are
not throttled beyond their profile's own delay.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from scrapy.exceptions import NotConfigured

from pipelines.profiles import Profile, ProfileError, load_profiles

REAL_MODE_DEFAULTS = {
    "AUTOTHROTTLE_ENABLED": True,
    "AUTOTHROTTLE_START_DELAY": 2.0,
    "AUTOTHROTTLE_MAX_DELAY": 30.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 1.0,
    "DOWNLOAD_DELAY": 1.0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
}


def robots_policy(profile: Profile) -> str:
    return profile.robots or ("ignore" if profile.sandbox else "obey")


def _profiles(settings) -> dict[str, Profile]:
    try:
        return load_profiles(settings.get("CERTWATCH_PROFILES_DIR") or None)
    except ProfileError:
        return {}          # the spiders report the bad profile


def _mode_profiles(settings) -> list[Profile]:
    sandbox = bool(settings.get("CERTWATCH_SANDBOX"))
    return [p for p in _profiles(settings).values() if p.sandbox == sandbox]


def _set_default(settings, key: str, value) -> None:
    """Set unless the user set it on the command line."""
    if settings.getpriority(key) is None or settings.getpriority(key) <= 20:
        settings.set(key, value, priority="project")


class Politeness:
    def update_settings(self, settings) -> None:
        profiles = _mode_profiles(settings)
        slots = dict(settings.getdict("DOWNLOAD_SLOTS"))
        for p in profiles:
            slot = {}
            if "delay" in p.politeness:
                slot["delay"] = p.politeness["delay"]
            if "concurrency" in p.politeness:
                slot["concurrency"] = p.politeness["concurrency"]
            if slot:
                for host in p.hosts:
                    slots.setdefault(host, slot)
        by_host = {h: p for p in profiles for h in p.hosts}
        for host in _local_hosts(settings):
            own = by_host[host].politeness if host in by_host else {}
            slots[host] = {"delay": own.get("delay", 0.0), "concurrency": own.get("concurrency", 8)}
        if slots:
            _set_default(settings, "DOWNLOAD_SLOTS", slots)
        if not settings.get("CERTWATCH_SANDBOX"):
            for key, value in REAL_MODE_DEFAULTS.items():
                _set_default(settings, key, value)
        if any(robots_policy(p) == "obey" for p in profiles):
            _set_default(settings, "ROBOTSTXT_OBEY", True)


def _local_hosts(settings) -> set:
    local = settings.get("CERTWATCH_LOCAL_HOSTS") or ""
    local = local if isinstance(local, (list, tuple, set, frozenset)) else str(local).split(",")
    return {h.strip().lower() for h in local if h.strip()}


class PlatformPolicyMiddleware:
    def __init__(self, profiles: list[Profile], sandbox: bool, local_hosts: set = frozenset()):
        self.sandbox = sandbox
        self.by_host = {h: p for p in profiles for h in p.hosts}
        self.local_hosts = local_hosts

    @classmethod
    def from_crawler(cls, crawler):
        profiles = list(_profiles(crawler.settings).values())
        if not profiles:
            raise NotConfigured("没有平台配置")
        return cls(profiles, bool(crawler.settings.get("CERTWATCH_SANDBOX")), _local_hosts(crawler.settings))

    def process_request(self, request, spider=None):
        host = (urlsplit(request.url).hostname or "").lower()
        if host in self.local_hosts:
            request.meta.setdefault("autothrottle_dont_adjust_delay", True)
        profile = self.by_host.get(host)
        if profile is None:
            return None
        if robots_policy(profile) == "ignore":
            request.meta.setdefault("dont_obey_robotstxt", True)
        proxy = profile.politeness.get("proxy")
        if proxy and not self.sandbox:
            request.meta.setdefault("proxy", proxy)
        return None
