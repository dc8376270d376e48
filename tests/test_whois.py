"""WHOIS: parsing (CNNIC times are Beijing time), the RFC 3912 client against
the sandbox's WHOIS server (timeouts, refusals, garbage, rate limits), the
per-server rate limit and the cache in the store."""
from __future__ import annotations

import socket
import threading
from datetime import datetime, timedelta, timezone

import pytest

from crawler.resolver import sandbox_get
from helpers import DATA, read_jsonl, run_cli
from pipelines import store, whois
from pipelines.whois import WhoisClient, WhoisConfig, parse


@pytest.fixture(scope="module")
def whois_addr(sandbox):
    host, _, port = sandbox_get(sandbox, "/info")["whois"].rpartition(":")
    assert host == "127.0.0.1"
    return host, int(port)


def client(addr, db_path=None, timeout=2.0, interval=0.0):
    return WhoisClient(WhoisConfig(servers={}, default=addr, timeout=timeout, min_interval=interval),
                       db_path=db_path)


def test_cnnic_times_are_beijing_time():
    row = next(r for r in read_jsonl(DATA / "sites_full.jsonl") if r["domain"] == "cxmem-gov.cn")
    facts = parse(row["domain"], row["whois"])
    assert facts["status"] == "ok" and facts["format"] == "cnnic"
    created = datetime.fromisoformat(facts["created"])
    assert created.utcoffset() == timedelta(hours=8)
    assert created.astimezone(timezone.utc).hour == 2          # 10:22 Beijing = 02:22 UTC
    assert facts["registrant"] == "张伟" and facts["registrant_kind"] == "individual"
    assert facts["registrar"].startswith("阿里云")


@pytest.mark.parametrize("domain, kind", [
    ("memgov-cx.com", "privacy"), ("cnsecx.top", "individual"), ("jxtong-web.cn", "organisation"),
    ("cnse.e-cqs.cn", "agency"), ("www.safehoo.com", "organisation"),
])
def test_registrant_kinds(domain, kind):
    row = next(r for r in read_jsonl(DATA / "sites_full.jsonl") if r["domain"] == domain)
    reg = row["domain"].split(".", 1)[1] if row["domain"].startswith(("www.", "cnse.")) else row["domain"]
    assert parse(reg, row["whois"])["registrant_kind"] == kind


@pytest.mark.parametrize("text, status", [
    ("", "empty"), ("No matching record.", "not_found"), ("\x00\xff junk <html>", "garbage"),
    ("Query rate limit exceeded. Please try again later.", "rate_limited"),
])
def test_bad_answers_have_a_status(text, status):
    assert parse("x-example.cn", text)["status"] == status


def test_lookups_against_the_sandbox_whois_server(whois_addr):
    c = client(whois_addr)
    cn = c.lookup("cx-mem-gov.cn")
    assert cn["status"] == "ok" and cn["format"] == "cnnic" and cn["registrant"] == "刘强"
    assert cn["created"].endswith("+08:00")
    com = c.lookup("cxmemgov.com")
    assert com["status"] == "ok" and com["format"] == "registrar" and com["registrant_kind"] == "privacy"
    assert com["country"] == "US"
    assert c.lookup("no-such-domain-here.cn")["status"] == "not_found"
    assert c.lookup("whois-garbage.com")["status"] == "garbage"
    assert c.lookup("whois-refuse.net")["status"] == "no_answer"
    assert c.lookup("whois-ratelimit.cn")["status"] == "rate_limited"
    assert c.lookup("mohurd-gov.top")["status"] in ("garbage", "ok")     # malformed dates
    assert c.lookup("")["status"] == "invalid"


def test_slow_server_times_out_without_hanging(whois_addr):
    c = client(whois_addr, timeout=1.0)
    facts = c.lookup("whois-slow.cn")
    assert facts["status"] == "timeout"


def test_refused_connection_is_an_outcome():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                               # nothing listens there now
    facts = client(("127.0.0.1", port)).lookup("cx-mem-gov.cn")
    assert facts["status"] == "refused" and "拒绝" in facts["error"]


class Counts(dict):
    """Scrapy's stats interface, as much as WhoisClient uses."""
    def inc_value(self, key, count=1):
        self[key] = self.get(key, 0) + count


def test_per_server_rate_limit(whois_addr):
    stats = Counts()
    c = WhoisClient(WhoisConfig(servers={}, default=whois_addr, timeout=2.0, min_interval=0.3), stats=stats)
    threads = [threading.Thread(target=c.lookup, args=(d,)) for d in ("cx-mem-gov.cn", "cxmemgov.com", "tzzy-chaxun.com")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert stats.get("whois/throttled") == 2     # three queries to one server: two had to wait


def test_cache_in_the_store(whois_addr, db_path):
    c = client(whois_addr, db_path=db_path)
    first = c.lookup("zlaq-mohurd.cn")
    assert first["status"] == "ok" and "cached_at" not in first
    again = c.lookup("zlaq-mohurd.cn")
    assert again["cached_at"] and again["registrant"] == first["registrant"]
    db = store.connect(db_path)
    try:
        assert "Registration Time" in store.whois_raw(db, "zlaq-mohurd.cn")
        assert store.get_whois(db, "zlaq-mohurd.cn", max_age_days=0) is None      # too old -> ask again
    finally:
        db.close()
    # Failures are recorded but not served as answers.
    c.lookup("whois-refuse.net")
    assert "cached_at" not in c.lookup("whois-refuse.net")


def test_servers_spec_and_settings():
    servers, default = whois.servers_from_spec("*=127.0.0.1:4343")
    assert servers == {} and default == ("127.0.0.1", 4343)
    servers, default = whois.servers_from_spec("top=127.0.0.1:1")
    assert servers["cn"] == ("whois.cnnic.cn", 43) and servers["top"] == ("127.0.0.1", 1) and default is None
    with pytest.raises(ValueError):
        whois.parse_servers("cn=nohostport")
    cfg = WhoisConfig.from_settings({"CERTWATCH_WHOIS_SERVERS": "*=127.0.0.1:9", "CERTWATCH_WHOIS_TIMEOUT": 3})
    assert cfg.default == ("127.0.0.1", 9) and cfg.timeout == 3


def test_check_domain_with_live_whois(whois_addr, db_path):
    addr = f"{whois_addr[0]}:{whois_addr[1]}"
    proc = run_cli("check-domain", "--db", db_path, "--whois-server", f"*={addr}", "--whois-timeout", "1",
                   "cx-mem-gov.cn", "whois-slow.cn", check=True)
    import json
    rows = [json.loads(l) for l in proc.stdout.splitlines()]
    assert {"individual", "one_year"} <= {r["code"] for r in rows[0]["reasons"]}
    assert rows[1]["reasons"][-1]["code"] == "unknown" and rows[1]["reasons"][-1]["evidence"] == "timeout"
