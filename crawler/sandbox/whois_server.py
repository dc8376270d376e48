"""The sandbox WHOIS server (RFC 3912 on loopback).

One line in (a domain name, or a TLD for the IANA-style referral), the
answer out, then the connection closes. Facts come from
``data/whois.yaml``; .cn domains are answered in CNNIC's format, others as a
Verisign registry record followed by the registrar's registrant block. Some
domains misbehave on purpose (slow, garbage, refuse, ratelimit, malformed).
Started by ``certwatch sandbox`` beside the HTTP server; its address is
served at ``http://sandbox.admin/info``.
"""
from __future__ import annotations

import asyncio
import functools
import logging
from importlib import resources

import yaml

log = logging.getLogger(__name__)

NOT_FOUND_CNNIC = "No matching record.\r\n"
NOT_FOUND_VERISIGN = 'No match for "{domain}".\r\n>>> Last update of whois database: 2024-10-15T01:00:00Z <<<\r\n'


@functools.cache
def facts() -> dict:
    with resources.files(__package__).joinpath("data/whois.yaml").open("r", encoding="utf-8") as fh:
        return {str(k).lower(): v for k, v in (yaml.safe_load(fh) or {}).items()}


def _registered(name: str) -> str:
    from pipelines.contacts import extractor
    parts = extractor()(name)
    return parts.top_domain_under_public_suffix or name


def cnnic(domain: str, f: dict) -> str:
    lines = [f"Domain Name: {domain}", "ROID: 20240101s10001s00000000-cn", "Domain Status: ok",
             f"Registrant: {f.get('registrant', '')}",
             f"Registrant Contact Email: {f.get('email', '')}",
             f"Sponsoring Registrar: {f.get('registrar', '')}",
             f"Name Server: dns1.{domain}", f"Name Server: dns2.{domain}",
             f"Registration Time: {f.get('created', '')}",
             f"Expiration Time: {f.get('expires', '')}", "DNSSEC: unsigned"]
    return "\r\n".join(lines) + "\r\n"


def verisign(domain: str, f: dict) -> str:
    up = domain.upper()
    lines = [f"   Domain Name: {up}", "   Registry Domain ID: 2800000000_DOMAIN_COM-VRSN",
             "   Registrar WHOIS Server: whois.example-registrar.com",
             f"   Updated Date: {f.get('created', '')}", f"   Creation Date: {f.get('created', '')}",
             f"   Registry Expiry Date: {f.get('expires', '')}", f"   Registrar: {f.get('registrar', '')}",
             "   Registrar IANA ID: 9999",
             "   Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited",
             f"   Name Server: NS1.{up}", f"   Name Server: NS2.{up}", "   DNSSEC: unsigned",
             ">>> Last update of whois database: 2024-10-15T01:00:00Z <<<", "",
             f"Registrant Name: {f.get('registrant', '')}",
             f"Registrant Organization: {f.get('org', '')}",
             f"Registrant Country: {f.get('country', '')}"]
    return "\r\n".join(lines) + "\r\n"


def answer(question: str) -> tuple[str, dict]:
    """The text for one question and the behaviour to apply."""
    q = question.strip().lower().rstrip(".")
    if not q or len(q) > 253:
        return "Invalid query.\r\n", {}
    if "." not in q:          # an IANA-style TLD question: refer to ourselves
        return f"domain:       {q.upper()}\r\nrefer:        127.0.0.1\r\nwhois:        127.0.0.1\r\n", {}
    data = facts()
    name = q if q in data else _registered(q)
    f = data.get(name)
    if f is None:
        return (NOT_FOUND_CNNIC if name.endswith(".cn") else NOT_FOUND_VERISIGN.format(domain=name.upper())), {}
    behaviour = f.get("behaviour", "")
    if behaviour == "garbage":
        return "\x00\x13%%%% ###\r\n<html>502 Bad Gateway</html>\r\n\xff\xfe ??? 0x1f\r\n", f
    if behaviour == "ratelimit":
        return "Query rate limit exceeded. Please try again later.\r\n", f
    text = cnnic(name, f) if name.endswith(".cn") else verisign(name, f)
    return text, f


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=10)
        except (asyncio.TimeoutError, ConnectionError):
            return
        question = line[:1024].decode("utf-8", "replace")
        text, f = answer(question)
        behaviour = f.get("behaviour", "")
        if behaviour == "refuse":
            return                      # close without a word
        if behaviour == "slow":
            await asyncio.sleep(float(f.get("delay", 30)))
        writer.write(text.encode("utf-8", "replace"))
        await writer.drain()
    except Exception:                   # a client that vanished must not kill the server
        log.debug("whois connection failed", exc_info=True)
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def start(host: str = "127.0.0.1", port: int = 0) -> tuple[asyncio.AbstractServer, str]:
    """Start listening; returns the server and its "host:port"."""
    server = await asyncio.start_server(_handle, host, port)
    addr = server.sockets[0].getsockname()
    return server, f"{addr[0]}:{addr[1]}"
