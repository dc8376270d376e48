"""The keyword library: data files shipped with certwatch and the functions
that load them and expand them into search queries."""
from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

KINDS = {"cert": "证书名称", "intent": "售假意图词", "site": "假冒网站词", "exclude": "排除词"}


def data_path(name: str):
    return resources.files(__name__).joinpath(name)


@functools.cache
def load_yaml(name: str) -> Any:
    with data_path(name).open("r", encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def default_keywords() -> list[dict]:
    """The default library as rows for the ``keywords`` table."""
    rows = []
    for group in load_yaml("default_keywords.yaml"):
        for kind in KINDS:
            for term in group.get(kind, []) or []:
                rows.append({"term": term, "kind": kind, "industry": group["industry"],
                             "department": group.get("department", "")})
    return rows


def expand_queries(keywords: list[dict], industry: str | None = None,
                   term_filter: str | None = None, max_length: int = 38) -> list[str]:
    """Search queries: each certificate term × each sale-intent term, in a
    stable order, skipping queries longer than ``max_length`` characters and
    any that contain an exclusion term."""
    certs = [k["term"] for k in keywords if k["kind"] == "cert"
             and (not industry or k.get("industry") == industry)
             and (not term_filter or term_filter in k["term"])]
    intents = [k["term"] for k in keywords if k["kind"] == "intent"]
    excludes = [k["term"] for k in keywords if k["kind"] == "exclude"]
    queries = []
    for cert in certs:
        for intent in intents or [""]:
            query = f"{cert} {intent}".strip()
            if len(query) > max_length or any(x in query for x in excludes):
                continue
            if query not in queries:
                queries.append(query)
    return queries
