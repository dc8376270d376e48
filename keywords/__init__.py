"""The keyword library and the other data files (rules, official sites,
models): the files shipped with certwatch and the functions that load them
and expand them into search queries; keyword files (library.py) and the
spreadsheet writer every export uses (xlsx_safe.py). Imports nothing of
certwatch's: every other part may import it."""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from keywords import lightimport

KINDS = {"cert": "证书名称", "intent": "售假意图词", "site": "假冒网站词", "exclude": "排除词"}


def data_path(name: str):
    return resources.files(__name__).joinpath(name)


@functools.cache
def load_yaml(name: str) -> Any:
    with data_path(name).open("r", encoding="utf-8") as fh:
        return lightimport.yaml_load(fh)


def default_keywords() -> list[dict]:
    """The default library as rows for the ``keywords`` table."""
    rows = []
    for group in load_yaml("default_keywords.yaml"):
        for kind in KINDS:
            for term in group.get(kind, []) or []:
                rows.append({"term": term, "kind": kind, "industry": group["industry"],
                             "department": group.get("department", "")})
    return rows


def variant_groups() -> list[list[str]]:
    """Synonym/variant groups of certificate terms (``variants.yaml``)."""
    return [[str(t) for t in group] for group in load_yaml("variants.yaml") or []]


def variants_of(term: str, groups: list[list[str]] | None = None) -> list[str]:
    """The other names of ``term``'s group(s), in file order."""
    out: list[str] = []
    for group in groups if groups is not None else variant_groups():
        if term in group:
            out.extend(t for t in group if t != term and t not in out)
    return out


def expand_queries(keywords: list[dict], industry: str | None = None,
                   term_filter: str | None = None, max_length: int = 38,
                   department: str | None = None,
                   variants: bool | list[list[str]] = False) -> list[str]:
    """Search queries: each certificate term × each sale-intent term, in a
    stable order, skipping queries longer than ``max_length`` characters and
    any that contain an exclusion term.

    ``industry`` / ``department`` keep only certificate terms of that
    industry / supplying department (intent and exclusion terms apply to
    all). ``variants`` (True: the shipped groups; or a list of groups) adds
    each certificate term's synonyms right after it. The result depends
    only on the arguments (same library, same queries, same order).
    """
    certs = [k["term"] for k in keywords if k["kind"] == "cert"
             and (not industry or k.get("industry") == industry)
             and (not department or k.get("department") == department)
             and (not term_filter or term_filter in k["term"])]
    if variants:
        groups = variant_groups() if variants is True else variants
        widened: list[str] = []
        for cert in certs:
            for term in [cert, *variants_of(cert, groups)]:
                if term not in widened and (not term_filter or term_filter in term or term == cert):
                    widened.append(term)
        certs = widened
    intents = [k["term"] for k in keywords if k["kind"] == "intent"]
    excludes = [k["term"] for k in keywords if k["kind"] == "exclude"]
    queries: list[str] = []
    seen: set[str] = set()
    for cert in certs:
        for intent in intents or [""]:
            query = f"{cert} {intent}".strip()
            if len(query) > max_length or query in seen or any(x in query for x in excludes):
                continue
            seen.add(query)
            queries.append(query)
    return queries


def platform_queries(queries: list[str], max_length: int | None = None) -> tuple[list[str], int]:
    """The queries a platform accepts: those within its query length limit
    (a profile's ``search.max_query_length``). Returns (kept, skipped)."""
    if not max_length:
        return list(queries), 0
    kept = [q for q in queries if len(q) <= max_length]
    return kept, len(queries) - len(kept)


def scope_queries(queries: list[str], host: str) -> list[str]:
    """The queries limited to one web site for a search engine: each gets
    ``site:HOST`` in front (``site:github.com 电工证 代办``). ``host`` is a
    host name (a scheme or path around it is dropped); ValueError (Chinese
    message) when it is not one."""
    import re
    host = (host or "").strip().lower()
    host = re.sub(r"^[a-z]+://", "", host).split("/", 1)[0].removeprefix("site:")
    if not re.fullmatch(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}", host):
        raise ValueError(f"site: 范围必须是网站的主机名（如 github.com），而不是 {host!r}")
    return [f"site:{host} {q}" for q in queries]


def userdict_words(rows, freq: int = 20000) -> list[str]:
    """jieba user-dictionary lines ("term freq tag") for keyword rows: active
    certificate, intent and fake-site terms plus the variants of certificate
    terms (see pipelines.store.jieba_userdict, which writes them beside the
    database)."""
    tags = {"cert": "nz", "intent": "v", "site": "nz"}
    words: dict[str, str] = {}
    groups = variant_groups()
    for k in rows:
        if k["kind"] not in tags:
            continue
        for term in [k["term"], *(variants_of(k["term"], groups) if k["kind"] == "cert" else [])]:
            if term and not any(c.isspace() for c in term):
                words.setdefault(term, tags[k["kind"]])
    return [f"{term} {freq} {tag}" for term, tag in words.items()]
