"""Platform profiles: each platform is a YAML file, not code.

Shipped profiles live in ``crawler/profiles/``; a user adds a platform by
dropping a file into a folder named by the ``CERTWATCH_PROFILES_DIR``
setting (``--profiles`` on the command line). See README for the format.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml
from parsel import Selector

KINDS = ("search_engine", "marketplace", "classifieds", "forum")
RENDERS = ("http", "browser")


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

    @property
    def max_pages(self) -> int:
        return int(self.search.get("max_pages", 3))

    def search_url(self, query: str, page: int) -> str:
        from urllib.parse import quote
        enc = self.search.get("query_encoding", "utf-8")
        return self.search["url"].format(query=quote(query, encoding=enc), page=page)

    @property
    def detail_render(self) -> str:
        return self.detail.get("render", "http")

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "kind": self.kind, "hosts": list(self.hosts),
                "render": self.render, "encoding": self.encoding, "search": self.search,
                "detail": self.detail, "removed": self.removed, "sandbox": self.sandbox}


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
    return Profile(name=name, title=str(data.get("title") or name), kind=kind,
                   hosts=tuple(h.lower() for h in hosts), render=render, encoding=encoding,
                   search=dict(search), detail=dict(detail), removed=dict(data.get("removed") or {}),
                   sandbox=bool(data.get("sandbox", False)), source=source)


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
    shipped = resources.files(__package__).joinpath("profiles")
    for entry in sorted(shipped.iterdir(), key=lambda p: p.name):
        if entry.name.endswith((".yaml", ".yml")):
            p = _load_file(entry, f"crawler/profiles/{entry.name}")
            profiles[p.name] = p
    if extra_dir:
        if not os.path.isdir(extra_dir):
            raise ProfileError(f"平台配置目录不存在：{extra_dir}")
        from pathlib import Path
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
