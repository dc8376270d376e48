"""Requests in Redis as tagged JSON, never pickle: whoever can write to
Redis must not be able to run code on a worker. scrapy-redis takes this
module as ``SCHEDULER_SERIALIZER`` (it calls ``dumps`` and ``loads``).

JSON types pass as they are; ``bytes`` become ``{"$b": base64}``, tuples
``{"$t": [...]}``, scrapy-playwright's ``PageMethod`` (only with a method
name, never a callable) ``{"$pm": [method, args, kwargs]}``. A dict key
starting with ``$`` is refused, and so is any other type."""
from __future__ import annotations

import base64
import json

MAX_BYTES = 2 * 1024 * 1024      # one encoded request


class SerializationError(ValueError):
    """A value that cannot travel through Redis, or data that is no request."""


def _encode(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {"$t": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(key, bytes):
                key = key.decode("latin-1")
            if not isinstance(key, str) or key.startswith("$"):
                raise SerializationError(f"无法序列化的字典键：{key!r}")
            out[key] = _encode(item)
        return out
    from scrapy_playwright.page import PageMethod
    if isinstance(value, PageMethod) and isinstance(value.method, str):
        return {"$pm": [value.method, [_encode(a) for a in value.args], _encode(value.kwargs)]}
    raise SerializationError(f"无法序列化的值（{type(value).__name__}）")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (tag, body), = value.items()
        if tag == "$b":
            return base64.b64decode(body, validate=True)
        if tag == "$t":
            return tuple(_decode(v) for v in body)
        if tag == "$pm":
            from scrapy_playwright.page import PageMethod
            method, args, kwargs = body
            if not isinstance(method, str) or not isinstance(kwargs, dict):
                raise SerializationError("PageMethod 数据无效")
            return PageMethod(method, *_decode(args), **_decode(kwargs))
    if any(k.startswith("$") for k in value):
        raise SerializationError("未知的标记")
    return {k: _decode(v) for k, v in value.items()}


def dumps(obj) -> bytes:
    data = json.dumps(_encode(obj), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(data) > MAX_BYTES:
        raise SerializationError(f"请求过大（{len(data)} 字节）")
    return data


def loads(data) -> dict:
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_BYTES:
        raise SerializationError(f"请求过大（{len(data)} 字节）")
    try:
        obj = _decode(json.loads(data))
    except (ValueError, TypeError, AttributeError) as exc:
        raise SerializationError(f"无法解析的请求数据：{exc}") from None
    if not isinstance(obj, dict):
        raise SerializationError("请求数据应为 JSON 对象")
    return obj
