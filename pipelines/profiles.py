"""Platform profiles: each platform is a YAML file, not code.

The loader lives here because the crawler (what to fetch and extract) and
the reports (platform titles, takedown lists) both read profiles. Shipped
profiles are the crawler's data files in ``crawler/profiles/``; a user adds a
platform by dropping a file into a folder named by the
``CERTWATCH_PROFILES_DIR`` setting (``--profiles`` on the command line).
See docs/ for the format.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jmespath
import yaml
from keywords import lightimport
from jmespath.exceptions import JMESPathError
from parsel import Selector

KINDS = ("search_engine", "marketplace", "classifieds", "forum")
RENDERS = ("http", "browser")
FORMATS = ("html", "json")
USER_AGENTS = ("certwatch", "browser")
QUERY_TRANSFORMS = ("", "pinyin")
# Keys a profile may carry, per section: a typo is an error, not a silent default.
TOP_KEYS = {"name", "title", "kind", "hosts", "render", "encoding", "search", "detail", "comments", "removed",
            "sandbox", "demo", "canary", "blocked", "robots", "politeness", "auth", "user_agent"}
SEARCH_KEYS = {"url", "format", "result", "items", "next_page", "next_text", "step", "first_page", "max_pages",
               "unwrap", "strip_query", "query_encoding", "query_transform", "max_query_length", "wait_for",
               "headers"}
DETAIL_KEYS = {"title", "text", "seller", "price", "render", "wait_for"}
COMMENT_KEYS = {"url", "count", "items", "result", "text", "seller"}
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
    demo: bool = True                 # false: not in the default sandbox sweep (the demo)
    canary: str = ""                  # a query that must return results
    blocked: dict = field(default_factory=dict)   # markers / status / url_patterns
    robots: str = ""                  # obey / ignore ("" = mode default)
    politeness: dict = field(default_factory=dict)  # delay, concurrency, proxy
    # JSON APIs (format: json): the comments of each item, fetched as findings of their own.
    comments: dict = field(default_factory=dict)
    # A token sent as a header, named by a setting (never stored in the profile).
    auth: dict = field(default_factory=dict)
    user_agent: str = "certwatch"     # certwatch (names us) / browser (a desktop browser's, real mode)

    @property
    def max_query_length(self) -> int | None:
        value = self.search.get("max_query_length")
        return int(value) if value else None

    @property
    def max_pages(self) -> int:
        return int(self.search.get("max_pages", 3))

    @property
    def format(self) -> str:
        return self.search.get("format", "html")

    @property
    def first_page(self) -> int:
        return int(self.search.get("first_page", 1))

    @property
    def step(self) -> int:
        """Page parameter increment for computed next pages (0 = follow links)."""
        return int(self.search.get("step") or 0)

    def search_url(self, query: str, page: int) -> str:
        from urllib.parse import quote
        if self.search.get("query_transform") == "pinyin":
            from pypinyin import lazy_pinyin
            query = "-".join("".join(lazy_pinyin(word)) for word in query.split())
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
                "robots": self.robots, "politeness": self.politeness, "comments": self.comments,
                "auth": self.auth, "user_agent": self.user_agent}


def _check_selector(name: str, where: str, css: Any) -> None:
    if not isinstance(css, str) or not css.strip():
        raise ProfileError(f"平台配置 {name}：{where} 必须是非空的 CSS 选择器")
    try:
        Selector(text="<html></html>").css(css)
    except Exception as exc:  # parsel raises several kinds for bad CSS
        raise ProfileError(f"平台配置 {name}：{where} 的 CSS 选择器无效（{css}）：{exc}") from None


def _check_path(name: str, where: str, path: Any, empty_ok: bool = False) -> None:
    """A JSON field path (JMESPath: ``user.login``, ``items``, ``items[0].url``)."""
    if empty_ok and (path is None or path == ""):
        return
    if not isinstance(path, str) or not path.strip():
        raise ProfileError(f"平台配置 {name}：{where} 必须是非空的 JSON 字段路径（如 user.login）")
    try:
        jmespath.compile(path)
    except JMESPathError as exc:
        raise ProfileError(f"平台配置 {name}：{where} 的 JSON 字段路径无效（{path}）：{str(exc).splitlines()[0]}") from None


def _unknown_keys(name: str, where: str, data: dict, allowed: set) -> None:
    extra = sorted(str(k) for k in set(data) - allowed)
    if extra:
        raise ProfileError(f"平台配置 {name}：{where}不认识的字段：{'、'.join(extra)}"
                           f"（可用：{'、'.join(sorted(allowed))}）")


def _int_field(name: str, where: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
        if str(number) != str(value).strip() or not low <= number <= high:
            raise ValueError
    except (TypeError, ValueError):
        raise ProfileError(f"平台配置 {name}：{where} 必须是 {low}–{high} 的整数，而不是 {value!r}") from None
    return number


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def valid_host(host: str) -> bool:
    """A host name or IPv4/IPv6 literal (no scheme, port, path or wildcard)."""
    if not isinstance(host, str) or not host or len(host) > 253:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        pass
    labels = host.lower().rstrip(".").split(".")
    return all(_HOST_LABEL.fullmatch(label) for label in labels)


def _parse_search(name: str, kind: str, search: Any, hosts: tuple) -> dict:
    from urllib.parse import urlsplit
    if not isinstance(search, dict) or not isinstance(search.get("url"), str):
        raise ProfileError(f"平台配置 {name}：缺少 search.url")
    _unknown_keys(name, "search 中", search, SEARCH_KEYS)
    out = dict(search)
    url = search["url"]
    if "{query}" not in url:
        raise ProfileError(f"平台配置 {name}：search.url 必须包含 {{query}}")
    try:
        sample = url.format(query="q", page=1)
    except (KeyError, IndexError, ValueError):
        raise ProfileError(f"平台配置 {name}：search.url 只能使用 {{query}} 和 {{page}} 两个占位符") from None
    parts = urlsplit(sample)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProfileError(f"平台配置 {name}：search.url 必须是 http:// 或 https:// 网址")
    if parts.hostname.lower() not in hosts:
        raise ProfileError(f"平台配置 {name}：search.url 的主机 {parts.hostname} 不在 hosts 中"
                           f"（{'、'.join(hosts)}）")
    fmt = search.get("format", "html")
    if fmt not in FORMATS:
        raise ProfileError(f"平台配置 {name}：search.format 必须是 html 或 json，而不是 {fmt!r}")
    out["format"] = fmt
    if fmt == "json":
        _check_path(name, "search.result", search.get("result"))
        _check_path(name, "search.items", search.get("items"), empty_ok=True)
        for key in ("next_page", "next_text", "unwrap"):
            if search.get(key):
                raise ProfileError(f"平台配置 {name}：search.{key} 只用于 html 页面（json 接口的下一页读取 Link 响应头，"
                                   "或用 search.step 计算）")
    else:
        if search.get("items"):
            raise ProfileError(f"平台配置 {name}：search.items 只用于 format: json")
        results = search.get("result")
        if isinstance(results, list):
            if not results:
                raise ProfileError(f"平台配置 {name}：search.result 不能是空列表")
            for n, css in enumerate(results, 1):
                _check_selector(name, f"search.result 第 {n} 项", css)
        else:
            _check_selector(name, "search.result", results)
        if search.get("next_page"):
            _check_selector(name, "search.next_page", search["next_page"])
        if search.get("next_text") is not None:
            text = search["next_text"]
            if not isinstance(text, str) or not text.strip():
                raise ProfileError(f"平台配置 {name}：search.next_text 必须是链接文字（如 下一页）")
            nxt = search.get("next_page") or "a"
            if "::" in nxt:
                raise ProfileError(f"平台配置 {name}：使用 search.next_text 时，search.next_page 应选择链接元素本身"
                                   f"（如 #page a），不要带 ::attr 或 ::text（现为 {nxt}）")
            out["next_page"] = nxt
        if search.get("unwrap") is not None:
            out["unwrap"] = _parse_unwrap(name, search["unwrap"])
    out["first_page"] = _int_field(name, "search.first_page", search.get("first_page", 1), 0, 1000)
    out["max_pages"] = _int_field(name, "search.max_pages", search.get("max_pages", 3), 1, 100)
    if search.get("step") is not None:
        out["step"] = _int_field(name, "search.step", search["step"], 1, 1000)
        if search.get("next_page") or search.get("next_text"):
            raise ProfileError(f"平台配置 {name}：search.step（按参数计算下一页）和 search.next_page（跟随下一页链接）只能选一种")
    if (search.get("step") or fmt == "json") and "{page}" not in url:
        raise ProfileError(f"平台配置 {name}：按页码翻页时 search.url 必须包含 {{page}}")
    transform = search.get("query_transform") or ""
    if transform not in QUERY_TRANSFORMS:
        raise ProfileError(f"平台配置 {name}：search.query_transform 只能是 pinyin（查询词转为拼音）")
    if search.get("query_encoding"):
        try:
            "".encode(search["query_encoding"])
        except (LookupError, TypeError):
            raise ProfileError(f"平台配置 {name}：未知的查询编码 {search['query_encoding']}") from None
    if search.get("max_query_length") is not None:
        try:
            if int(search["max_query_length"]) < 2:
                raise ValueError
        except (TypeError, ValueError):
            raise ProfileError(f"平台配置 {name}：search.max_query_length 必须是不小于 2 的整数") from None
    if search.get("strip_query") is not None and not isinstance(search["strip_query"], bool):
        raise ProfileError(f"平台配置 {name}：search.strip_query 必须是 true 或 false")
    out["headers"] = _parse_headers(name, search.get("headers"))
    return out


def _parse_unwrap(name: str, data: Any) -> dict:
    """``unwrap:`` a result link that is a redirect carrying the target in a
    query parameter (Bing's ``u=a1<base64url>``): param, prefix, base64."""
    if not isinstance(data, dict) or set(data) - {"param", "prefix", "base64"}:
        raise ProfileError(f"平台配置 {name}：search.unwrap 只能包含 param、prefix、base64")
    param = data.get("param")
    if not isinstance(param, str) or not param.strip():
        raise ProfileError(f"平台配置 {name}：search.unwrap.param 必须是参数名（如 u）")
    prefix = data.get("prefix") or ""
    if not isinstance(prefix, str):
        raise ProfileError(f"平台配置 {name}：search.unwrap.prefix 必须是字符串")
    if not isinstance(data.get("base64", False), bool):
        raise ProfileError(f"平台配置 {name}：search.unwrap.base64 必须是 true 或 false")
    return {"param": param.strip(), "prefix": prefix, "base64": bool(data.get("base64", False))}


def _parse_headers(name: str, data: Any) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ProfileError(f"平台配置 {name}：search.headers 必须是“名称: 值”的映射")
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", key) \
                or not isinstance(value, (str, int)) or any(c in str(value) for c in "\r\n\x00"):
            raise ProfileError(f"平台配置 {name}：search.headers 中的 {key!r} 不是有效的请求头")
        if key.lower() in ("authorization", "cookie", "proxy-authorization", "host"):
            raise ProfileError(f"平台配置 {name}：search.headers 不能设置 {key}（令牌请用 auth，并放在设置中）")
        out[key] = str(value)
    return out


def _parse_comments(name: str, data: Any, fmt: str) -> dict:
    """``comments:`` (format: json) each item's comments as findings of their own."""
    if data is None:
        return {}
    if fmt != "json":
        raise ProfileError(f"平台配置 {name}：comments 只用于 format: json 的接口")
    if not isinstance(data, dict):
        raise ProfileError(f"平台配置 {name}：comments 必须是映射（url、count、items、result、text、seller）")
    _unknown_keys(name, "comments 中", data, COMMENT_KEYS)
    for key in ("url", "result", "text"):
        _check_path(name, f"comments.{key}", data.get(key))
    for key in ("count", "items", "seller"):
        _check_path(name, f"comments.{key}", data.get(key), empty_ok=True)
    return dict(data)


def _parse_auth(name: str, data: Any) -> dict:
    """``auth:`` a token header whose value comes from a setting
    (CERTWATCH_…_TOKEN, e.g. from the environment); absent setting = no header."""
    if data is None:
        return {}
    if not isinstance(data, dict) or set(data) - {"header", "scheme", "setting"}:
        raise ProfileError(f"平台配置 {name}：auth 只能包含 header、scheme、setting")
    setting = data.get("setting")
    if not isinstance(setting, str) or not re.fullmatch(r"CERTWATCH_[A-Z0-9_]+_TOKEN", setting):
        raise ProfileError(f"平台配置 {name}：auth.setting 必须是以 CERTWATCH_ 开头、_TOKEN 结尾的设置名"
                           "（令牌本身不写进平台配置）")
    header = data.get("header") or "Authorization"
    scheme = data.get("scheme") or ""
    if not isinstance(header, str) or not re.fullmatch(r"[A-Za-z0-9-]{1,64}", header) \
            or not isinstance(scheme, str) or any(c in scheme for c in "\r\n"):
        raise ProfileError(f"平台配置 {name}：auth.header / auth.scheme 无效")
    return {"header": header, "scheme": scheme, "setting": setting}


def parse_profile(data: Any, source: str = "") -> Profile:
    if not isinstance(data, dict):
        raise ProfileError(f"平台配置文件 {source} 不是 YAML 映射")
    name = data.get("name")
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        raise ProfileError(f"平台配置 {source}：name 必须是英文标识（字母、数字、下划线，不以数字开头）")
    _unknown_keys(name, "", data, TOP_KEYS)
    kind = data.get("kind")
    if kind not in KINDS:
        raise ProfileError(f"平台配置 {name}：kind 必须是 {'/'.join(KINDS)} 之一，而不是 {kind!r}")
    render = data.get("render", "http")
    if render not in RENDERS:
        raise ProfileError(f"平台配置 {name}：render 必须是 http 或 browser")
    hosts = data.get("hosts") or []
    if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and h for h in hosts):
        raise ProfileError(f"平台配置 {name}：hosts 至少要有一个主机名")
    bad = [h for h in hosts if not valid_host(h)]
    if bad:
        raise ProfileError(f"平台配置 {name}：hosts 中 {'、'.join(map(str, bad))} 不是主机名"
                           "（只写主机名，不带 http://、端口或路径）")
    hosts = tuple(h.lower().rstrip(".").strip("[]") for h in hosts)
    search = _parse_search(name, kind, data.get("search"), hosts)
    fmt = search["format"]
    if fmt == "json" and render != "http":
        raise ProfileError(f"平台配置 {name}：json 接口不能用 render: browser")
    detail = data.get("detail") or {}
    if not isinstance(detail, dict):
        raise ProfileError(f"平台配置 {name}：detail 必须是映射（title、text、seller、price）")
    _unknown_keys(name, "detail 中", detail, DETAIL_KEYS)
    if kind != "search_engine":
        check = _check_path if fmt == "json" else _check_selector
        for key in ("title", "text"):
            check(name, f"detail.{key}", detail.get(key))
        for key in ("seller", "price"):
            if detail.get(key):
                check(name, f"detail.{key}", detail[key])
    if detail.get("render", "http") not in RENDERS:
        raise ProfileError(f"平台配置 {name}：detail.render 必须是 http 或 browser")
    encoding = data.get("encoding", "utf-8")
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        raise ProfileError(f"平台配置 {name}：未知的编码 {encoding}") from None
    canary = data.get("canary") or ""
    if not isinstance(canary, str):
        raise ProfileError(f"平台配置 {name}：canary 必须是一个查询词（字符串）")
    removed = _parse_removed(name, data.get("removed"))
    blocked = _parse_blocked(name, data.get("blocked"))
    robots = data.get("robots") or ""
    if robots not in ("", "obey", "ignore"):
        raise ProfileError(f"平台配置 {name}：robots 必须是 obey 或 ignore")
    politeness = _parse_politeness(name, data.get("politeness"))
    user_agent = data.get("user_agent") or "certwatch"
    if user_agent not in USER_AGENTS:
        raise ProfileError(f"平台配置 {name}：user_agent 必须是 certwatch（表明身份）或 browser（桌面浏览器）")
    for key in ("sandbox", "demo"):
        if key in data and not isinstance(data[key], bool):
            raise ProfileError(f"平台配置 {name}：{key} 必须是 true 或 false")
    return Profile(name=name, title=str(data.get("title") or name), kind=kind,
                   hosts=hosts, render=render, encoding=encoding,
                   search=search, detail=dict(detail), removed=removed,
                   sandbox=bool(data.get("sandbox", False)), source=source,
                   demo=bool(data.get("demo", True)), canary=canary.strip(), blocked=blocked,
                   robots=robots, politeness=politeness, comments=_parse_comments(name, data.get("comments"), fmt),
                   auth=_parse_auth(name, data.get("auth")), user_agent=user_agent)


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


# Profiles by (file, mtime, size): a sweep's components each load the
# profiles (spider, politeness, health, store); each file is parsed and
# checked once. Profiles are frozen and nothing changes their tables.
_LOADED: dict[tuple, "Profile"] = {}


def _load_file(path, source: str) -> Profile:
    try:
        st = os.stat(path)
        key = (str(path), source, st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key is not None and key in _LOADED:
        return _LOADED[key]
    try:
        with path.open("r", encoding="utf-8") as fh:
            data = lightimport.yaml_load(fh)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ProfileError(f"平台配置文件 {source} 无法解析：{exc}") from None
    profile = parse_profile(data, source)
    if key is not None:
        if len(_LOADED) > 1000:
            _LOADED.clear()
        _LOADED[key] = profile
    return profile


def load_dir(folder: str) -> dict[str, Profile]:
    """The profiles of one folder only (``*.yaml`` / ``*.yml``)."""
    if not os.path.isdir(folder):
        raise ProfileError(f"平台配置目录不存在：{folder}")
    out: dict[str, Profile] = {}
    for entry in sorted(Path(folder).glob("*.y*ml")):
        p = _load_file(entry, str(entry))
        out[p.name] = p
    return out


def load_file(path: str) -> Profile:
    """One profile file (``certwatch profile check``)."""
    entry = Path(path)
    if not entry.is_file():
        raise ProfileError(f"平台配置文件不存在：{path}")
    return _load_file(entry, str(path))


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
    """The listing platform (not a search engine, not a JSON API) serving ``host``."""
    host = (host or "").lower()
    for p in profiles.values():
        if p.kind != "search_engine" and p.format == "html" and host in p.hosts:
            return p
    return None


def default_platforms(profiles: dict[str, Profile], sandbox: bool) -> list[Profile]:
    """What a sweep sweeps when no platform is named: in sandbox mode the
    demo world's platforms (``sandbox: true``, not ``demo: false``); in real
    mode every real platform (``sandbox: false``)."""
    if sandbox:
        return [p for p in profiles.values() if p.sandbox and p.demo]
    return [p for p in profiles.values() if not p.sandbox]


def unknown_platforms(profiles: dict[str, Profile], names) -> list[str]:
    """The names in ``names`` (a list or a comma string) that no profile has."""
    if isinstance(names, str):
        names = names.split(",")
    return [n.strip() for n in names or () if n.strip() and n.strip() not in profiles]
