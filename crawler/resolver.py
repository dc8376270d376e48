"""Does a host exist? The resolver interface the sites spider uses for
generated candidates: real DNS in real mode, the sandbox's list in sandbox
mode (``GET http://sandbox.admin/resolve?host=…`` through the sandbox proxy).
Also reads the sandbox's ``/info`` (where its WHOIS server listens)."""
from __future__ import annotations

import asyncio
import json
import logging
import socket
import urllib.parse
import urllib.request

log = logging.getLogger(__name__)


class Resolver:
    def exists(self, host: str) -> bool:          # blocking; run in a thread
        raise NotImplementedError


class DnsResolver(Resolver):
    def exists(self, host: str) -> bool:
        try:
            return bool(socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP))
        except (socket.gaierror, UnicodeError, ValueError, OSError):
            return False


def sandbox_get(sandbox: str, path: str, timeout: float = 10.0) -> dict:
    """GET http://sandbox.admin<path> through the sandbox proxy."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": sandbox}))
    with opener.open("http://sandbox.admin" + path, timeout=timeout) as resp:
        return json.loads(resp.read(1_000_000).decode("utf-8"))


class SandboxResolver(Resolver):
    def __init__(self, sandbox: str):
        self.sandbox = sandbox.rstrip("/")

    def exists(self, host: str) -> bool:
        try:
            return bool(sandbox_get(self.sandbox, "/resolve?host=" + urllib.parse.quote(host), 5).get("exists"))
        except (OSError, ValueError) as exc:
            log.info("沙箱解析失败：%s %s", host, exc)
            return False


def resolver_for(sandbox: str) -> Resolver:
    return SandboxResolver(sandbox) if sandbox else DnsResolver()


async def existing(resolver: Resolver, hosts: list[str], concurrency: int = 16, timeout: float = 10) -> list[str]:
    """The hosts that exist, in the given order."""
    sem = asyncio.Semaphore(concurrency)

    async def one(host):
        async with sem:
            try:
                return await asyncio.wait_for(asyncio.to_thread(resolver.exists, host), timeout)
            except asyncio.TimeoutError:
                return False
    flags = await asyncio.gather(*(one(h) for h in hosts))
    return [h for h, ok in zip(hosts, flags) if ok]
