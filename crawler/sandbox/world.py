"""The sandbox world: listings, platforms and sites, generated
deterministically from a seed and the data files beside this module.

The world knows every listing's true label, so tests assert exact counts:
``World.reachable(queries, pages)`` says which listings a sweep with those
queries and page limit can reach, by the same search the server runs.
"""
from __future__ import annotations

import functools
import hashlib
import json
import random
import unicodedata
from dataclasses import dataclass
from importlib import resources

import yaml

DEFAULT_SEED = 20241015
PAGE_SIZE = 10
REMOVED_SHARE = 0.12


@dataclass(frozen=True)
class Platform:
    name: str
    kind: str
    host: str
    title: str
    encoding: str
    removed_notice: str


PLATFORMS = {
    "market": Platform("market", "marketplace", "mall.taohuo.cn", "淘货商城", "utf-8", "该商品已下架"),
    "classifieds": Platform("classifieds", "classifieds", "www.fenleixinxi.cn", "同城分类信息网", "gbk", "该信息已删除"),
    "forum": Platform("forum", "forum", "bbs.gongyou.cn", "工友论坛", "utf-8", "该帖子已被删除"),
}
ENGINE = Platform("engine", "search_engine", "www.zhaozhao.cn", "找找搜索", "utf-8", "")


@dataclass(frozen=True)
class Listing:
    id: str
    num: int
    platform: str
    title: str
    text: str
    seller: str
    price: str | None
    label: int
    category: str
    family: str | None
    group: str | None
    removed: str | None          # None, "404" or "notice"

    @property
    def url(self) -> str:
        host = PLATFORMS[self.platform].host
        if self.platform == "market":
            return f"http://{host}/item/{self.num}.html"
        if self.platform == "classifieds":
            return f"http://{host}/post/{self.num}.html"
        return f"http://{host}/thread-{self.num}-1.html"

    @functools.cached_property
    def searchable(self) -> str:
        return fold(self.title + " " + self.text)


@dataclass(frozen=True)
class Site:
    host: str
    label: int
    kind: str
    title: str
    agency: str
    icp: str
    gov_code: str
    path: str
    impersonates: str

    @property
    def url(self) -> str:
        return f"http://{self.host}{self.path}"

    @functools.cached_property
    def searchable(self) -> str:
        return fold(self.title + " " + self.agency + " 证书查询 证书 查询")


def fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _rank_key(seed: int, ident: str) -> str:
    return hashlib.md5(f"{seed}:{ident}".encode()).hexdigest()


def _data(name: str):
    return resources.files(__package__).joinpath(name)


class World:
    def __init__(self, seed: int = DEFAULT_SEED, scale: int = 1):
        self.seed = seed
        self.scale = max(1, int(scale))
        rng = random.Random(seed)
        base = []
        with _data("data/listings.jsonl").open("r", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    base.append(json.loads(line))
        listings = []
        num = 100000
        for copy in range(self.scale):
            for row in base:
                num += 1
                removed = None
                if rng.random() < REMOVED_SHARE:
                    removed = "404" if rng.random() < 0.5 else "notice"
                suffix = "" if copy == 0 else f" #{copy}"
                listings.append(Listing(
                    id=row["id"] + (f"-{copy}" if copy else ""), num=num, platform=row["platform"],
                    title=row["title"] + suffix, text=row["text"], seller=row.get("seller") or "",
                    price=row.get("price"), label=int(row["label"]), category=row["category"],
                    family=row.get("family"), group=row.get("group"), removed=removed))
        self.listings = listings
        self.by_num = {l.num: l for l in listings}
        with _data("sites.yaml").open("r", encoding="utf-8") as fh:
            self.sites = [Site(host=s["host"], label=int(s["label"]), kind=s["kind"], title=s["title"],
                               agency=s.get("agency", ""), icp=s.get("icp", ""),
                               gov_code=s.get("gov_code", ""), path=s.get("path", "/"),
                               impersonates=s.get("impersonates", ""))
                          for s in yaml.safe_load(fh)]
        self.sites_by_host = {s.host: s for s in self.sites}
        self._scopes: dict[str, list] = {}
        self._search_cache: dict = {}
        # Switches flipped through the admin endpoint (takedowns in tests).
        self.taken_down: set[int] = set()

    # -- search: the one function the server and the tests share
    def _match(self, docs, query: str, scope: str | None = None):
        """Ranked matches of ``query`` among ``docs``; cached per ``scope``
        (a platform, or "engine") and query, so the sandbox is never a
        benchmark's bottleneck. An ad-hoc list (no scope) is not cached."""
        if scope is None:
            return self._match_uncached(docs, query)
        key = (scope, query)
        cached = self._search_cache.get(key)
        if cached is None:
            cached = self._search_cache[key] = self._match_uncached(docs, query)
        return cached

    def _match_uncached(self, docs, query: str):
        tokens = [fold(t) for t in query.split() if t.strip()]
        scored = []
        for doc in docs:
            text = doc.searchable
            score = sum(1 for t in tokens if t in text)
            if score:
                ident = getattr(doc, "id", None) or doc.host
                scored.append((-score, _rank_key(self.seed, ident), doc))
        scored.sort(key=lambda x: (x[0], x[1]))
        return [doc for _, _, doc in scored]

    def platform_search(self, platform: str, query: str) -> list[Listing]:
        """A platform's own search: its live listings only."""
        docs = self._scopes.get(platform)
        if docs is None:
            docs = self._scopes[platform] = [l for l in self.listings if l.platform == platform]
        return [l for l in self._match(docs, query, platform) if not self.is_removed(l)]

    def engine_search(self, query: str) -> list:
        """The search engine: every listing it ever indexed (removed ones
        too: its index is stale) and the web sites."""
        docs = self._scopes.get("engine")
        if docs is None:
            docs = self._scopes["engine"] = self.listings + self.sites
        return self._match(docs, query, "engine")

    def is_removed(self, listing: Listing) -> bool:
        return listing.removed is not None or listing.num in self.taken_down

    @staticmethod
    def page(results: list, page: int) -> list:
        return results[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]

    # -- the truth, for tests
    def reachable(self, queries: list[str], pages: int, platforms=("engine", "market", "classifieds", "forum")) -> set[str]:
        """URLs of live listings a sweep with these queries and page limit reaches."""
        urls: set[str] = set()
        for query in queries:
            for name in platforms:
                results = self.engine_search(query) if name == "engine" else self.platform_search(name, query)
                for item in results[:pages * PAGE_SIZE]:
                    if isinstance(item, Listing) and not self.is_removed(item):
                        urls.add(item.url)
        return urls

    def label_of(self, url: str) -> int | None:
        for l in self.listings:
            if l.url == url:
                return l.label
        return None


@functools.lru_cache(maxsize=4)
def world(seed: int = DEFAULT_SEED, scale: int = 1) -> World:
    return World(seed, scale)
