"""Platform profiles: each platform is a YAML file, not code.

The loader lives here because the crawler (what to fetch and extract) and
the reports (platform titles, takedown lists) both read profiles. Shipped
profiles are the crawler's data files in ``crawler/profiles/``; a user adds a
platform by dropping a file into a folder named by the
``CERTWATCH_PROFILES_DIR`` setting (``--profiles`` on the command line).
See docs/ for the format.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from parsel import Selector

KINDS = ("search_engine", "marketplace", "classifieds", "forum")
RENDERS = ("http", "browser")
# The shipped profiles: data files of the crawler package (a folder, not a module).
SHIPPED = Path(__file__).resolve().parent.parent / "crawler" / "profiles"


class ProfileError(ValueError):
    """A profile file that cannot be used; the message says why, in Chinese."""


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    kind: str
    hosts: tuple
    render: str
    encoding: str
    search: dict
    detail: dict = field(default_factory=dict)
    removed: dict = field(default_factory=dict)
    sandbox: bool = False
    source: str = ""
    # Health and politeness (crawler/health.py, crawler/politeness.py).
    demo: bool = True                 # false: swept only when named (--platforms)
    canary: str = ""                  # a query that must return results
    blocked: dict = field(default_factory=dict)   # markers / status / url_patterns
    robots: str = ""                  # obey / ignore ("" = mode default)
    politeness: dict = field(default_factory=dict)  # delay, concurrency, proxy

    @property
    def max_query_length(self) -> int | None:
        value = self.search.get("max_query_length")
        return int(value) if value else None

    @property
    def max_pages(self) -> int:
        return int(self.search.get("max_pages", 3))

    def search_url(self, query: str, page: int) -> str:
        from urllib.parse import quote
        enc = self.search.get("query_encoding", "utf-8")
        return self.search["url"].format(query=quote(query, encoding=enc), page=page)

    @property
    def seller_page(self) -> str:
        """Selector on a detail page giving the seller's page link ("" = none)."""
        return self.removed.get("seller_page", "")

    @property
    def seller_items(self) -> str:
        """Selector on the seller's page giving its item links ("" = none)."""
        return self.removed.get("seller_items", "")

    @property
    def detail_render(self) -> str:
        return self.detail.get("render", "http")

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "kind": self.kind, "hosts": list(self.hosts),
                "render": self.render, "encoding": self.encoding, "search": self.search,
                "detail": self.detail, "removed": self.removed, "sandbox": self.sandbox,
                "demo": self.demo, "canary": self.canary, "blocked": self.blocked,
                "robots": self.robots, "politeness": self.politeness}


def _check_selector(name: str, where: str, css: Any) -> None:
    if not isinstance(css, str) or not css.strip():
        raise ProfileError(f"平台配置 {name}：{where} 必须是非空的 CSS 选择器")
    try:
        Selector(text="<html></html>").css(css)
    except Exception as exc:  # parsel raises several kinds for bad CSS
        raise ProfileError(f"平台配置 {name}：{where} 的 CSS 选择器无效（{css}）：{exc}") from None


def parse_profile(data: Any, source: str = "") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"平台配置文件 {source} 不是 YAML 映射")
    name = data.get("name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ProfileError(f"平台配置 {source}：name 必须是英文标识（字母、数字、下划线）")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ProfileError(f"平台配置 {name}：kind 必须是 {'/'.join(KINDS)} 之一，而不是 {kind!r}")
    render = data.get("render", "http")
    if render not in RENDERS:
        raise ProfileError(f"平台配置 {name}：render 必须是 http 或 browser")
    hosts = data.get("hosts") or []
    if not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise ProfileError(f"平台配置 {name}：hosts 至少要有一个主机名")
    search = data.get("search")
    if not isinstance(search, dict) or not isinstance(search.get("url"), str):
        raise ProfileError(f"平台配置 {name}：缺少 search.url")
    if "{query}" not in search["url"] or "{page}" not in search["url"]:
        raise ProfileError(f"平台配置 {name}：search.url 必须包含 {{query}} 和 {{page}}")
    _check_selector(name, "search.result", search.get("result"))
    if search.get("next_page"):
        _check_selector(name, "search.next_page", search["next_page"])
    try:
        int(search.get("max_pages", 3))
    except (TypeError, ValueError):
        raise ProfileError(f"平台配置 {name}：search.max_pages 必须是整数") from None
    detail = data.get("detail") or {}
    if kind != "search_engine":
        for key in ("title", "text"):
            _check_selector(name, f"detail.{key}", detail.get(key))
        for key in ("seller", "price"):
            if detail.get(key):
                _check_selector(name, f"detail.{key}", detail[key])
    encoding = data.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except LookupError:
        raise ProfileError(f"平台配置 {name}：未知的编码 {encoding}") from None
    if search.get("max_query_length") is not None:
        try:
            if int(search["max_query_length"]) < 2:
                raise ValueError
        except (TypeError, ValueError):
            raise ProfileError(f"平台配置 {name}：search.max_query_length 必须是不小于 2 的整数") from None
    canary = data.get("canary") or ""
    if not isinstance(canary, str):
        raise ProfileError(f"平台配置 {name}：canary 必须是一个查询词（字符串）")
    removed = _parse_removed(name, data.get("removed"))
    blocked = _parse_blocked(name, data.get("blocked"))
    robots = data.get("robots") or ""
    if robots not in ("", "obey", "ignore"):
        raise ProfileError(f"平台配置 {name}：robots 必须是 obey 或 ignore")
    politeness = _parse_politeness(name, data.get("politeness"))
    return Profile(name=name, title=str(data.get("title") or name), kind=kind,
                   hosts=tuple(h.lower() for h in hosts), render=render, encoding=encoding,
                   search=dict(search), detail=dict(detail), removed=removed,
                   sandbox=bool(data.get("sandbox", False)), source=source,
                   demo=bool(data.get("demo", True)), canary=canary.strip(), blocked=blocked,
                   robots=robots, politeness=politeness)


def _parse_removed(name: str, data: Any) -> dict:
    """``removed:`` signals that a listing is gone (used by rechecks):
    status codes, page markers, and optionally ``seller_page`` (selector on
    the detail page for the seller page link) with ``seller_items`` (selector
    on the seller page for its item links) — both or neither."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileError(f"平台配置 {name}：removed 必须是映射（status、markers、seller_page、seller_items）")
    out = dict(data)
    pair = [k for k in ("seller_page", "seller_items") if data.get(k)]
    if len(pair) == 1:
        raise ProfileError(f"平台配置 {name}：removed.seller_page 和 removed.seller_items 必须同时填写")
    for key in pair:
        _check_selector(name, f"removed.{key}", data[key])
        out[key] = data[key].strip()
    for key in ("seller_page", "seller_items"):
        if not data.get(key):
            out.pop(key, None)
    return out


def _parse_blocked(name: str, data: Any) -> dict:
    """``blocked:`` markers (page text), status codes and URL substrings that
    mean the platform refused us (captcha, login wall, interstitial)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"markers", "status", "url_patterns"}:
        raise ProfileError(f"平台配置 {name}：blocked 只能包含 markers、status、url_patterns")
    out: dict = {}
    for key in ("markers", "url_patterns"):
        values = data.get(key) or []
        if not isinstance(values, list) or not all(isinstance(v, str) and v.strip() for v in values):
            raise ProfileError(f"平台配置 {name}：blocked.{key} 必须是非空字符串列表")
        out[key] = [v.strip() for v in values]
    status = data.get("status") or []
    if not isinstance(status, list) or not all(isinstance(v, int) and 100 <= v <= 599 for v in status):
        raise ProfileError(f"平台配置 {name}：blocked.status 必须是 HTTP 状态码列表")
    out["status"] = list(status)
    return out


def _parse_politeness(name: str, data: Any) -> dict:
    """``politeness:`` delay (seconds), concurrency (per host), proxy (URL)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"delay", "concurrency", "proxy"}:
        raise ProfileError(f"平台配置 {name}：politeness 只能包含 delay、concurrency、proxy")
    out: dict = {}
    try:
        if data.get("delay") is not None:
            out["delay"] = float(data["delay"])
            if not 0 <= out["delay"] <= 600:
                raise ValueError
        if data.get("concurrency") is not None:
            out["concurrency"] = int(data["concurrency"])
            if not 1 <= out["concurrency"] <= 64:
                raise ValueError
    except (TypeError, ValueError):
        raise ProfileError(f"平台配置 {name}：politeness.delay 应为 0–600 秒，concurrency 应为 1–64") from None
    proxy = data.get("proxy")
    if proxy:
        if not isinstance(proxy, str) or not proxy.startswith(("http://", "https://")):
            raise ProfileError(f"平台配置 {name}：politeness.proxy 必须是 http:// 或 https:// 地址")
        out["proxy"] = proxy
    return out


def _load_file(path, source: str) -> Profile:
    try:
        with path.open("r", encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileError(f"平台配置文件 {source} 无法解析：{exc}") from None
    return parse_profile(data, source)


def load_profiles(extra_dir: str | None = None) -> dict[str, Profile]:
    """Shipped profiles plus those in ``extra_dir`` (a user's folder)."""
    profiles: dict[str, Profile] = {}
    shipped = SHIPPED
    for entry in sorted(shipped.iterdir(), key=lambda p: p.name):
        if entry.name.endswith((".yaml", ".yml")):
            p = _load_file(entry, f"crawler/profiles/{entry.name}")
            profiles[p.name] = p
    if extra_dir:
        if not os.path.isdir(extra_dir):
            raise ProfileError(f"平台配置目录不存在：{extra_dir}")
        for entry in sorted(Path(extra_dir).glob("*.y*ml")):
            p = _load_file(entry, str(entry))
            profiles[p.name] = p
    return profiles


def profile_for_host(profiles: dict[str, Profile], host: str) -> Profile | None:
    host = (host or "").lower()
    for p in profiles.values():
        if p.kind != "search_engine" and host in p.hosts:
            return p
    return None
