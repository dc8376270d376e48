"""WHOIS: an RFC 3912 client, parsing, and the registration heuristics.

* :class:`WhoisClient` asks a configurable ``host:port`` per TLD (real
  defaults: whois.cnnic.cn for .cn, otherwise the IANA referral), with a
  connect/read timeout, a bounded answer size, a per-server rate limit and
  a cache in the store (``whois_cache``; re-asked after ``max_age``).
* :func:`parse` reads the raw answer with python-whois's parsers
  (``whois.parser.WhoisEntry.load``); CNNIC times are Beijing time, so they
  are fixed to +08:00.
* :func:`apply` adds the heuristics to a judgement: young domain, one-year
  term, individual or privacy registrant, a registrant that is not the
  agency the site claims to be, foreign registrant. WHOIS adds weight but
  never decides alone; a failed lookup is "unknown" (no weight).

Every failure is an outcome with a code (``timeout``, ``refused``,
``rate_limited``, ``garbage``, ``not_found``, ``empty``, ``error``), logged and
counted, never an exception out of :meth:`WhoisClient.lookup`.
"""
from __future__ import annotations

import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from keywords import load_yaml

log = logging.getLogger(__name__)

BEIJING = timezone(timedelta(hours=8))
MAX_ANSWER = 64 * 1024
IANA = ("whois.iana.org", 43)
DEFAULT_SERVERS = {"cn": ("whois.cnnic.cn", 43), "中国": ("cwhois.cnnic.cn", 43)}

_PRIVACY = re.compile(r"privacy|redacted|proxy|guard|protect|withheld|not disclosed|data protected|"
                      r"隐私|保密|whoisguard|contact privacy|domain administrator", re.IGNORECASE)
_ORG = re.compile(r"公司|有限|集团|学校|学院|大学|协会|学会|报社|报业|社$|Co\.|Ltd|Inc\b|LLC|Corp|Limited|"
                  r"GmbH|Company|Group", re.IGNORECASE)
_AGENCY = re.compile(r"(部|局|厅|委员会|委|政府|办公室|研究院|中心|管理处|事业单位)$")
# Registrars in China (a site claiming a Chinese agency registered abroad is odd).
_DOMESTIC_REGISTRAR = re.compile(r"[\u4e00-\u9fff]|alibaba|aliyun|hichina|xin ?net|west|ename|35\.com|"
                                 r"dns\.com\.cn|bizcn|now\.cn|22\.cn|juming|cndns|tencent|dnspod|"
                                 r"baidu|huawei|zdns|eName|Chengdu|Xiamen|Beijing|Shanghai|Guangzhou|Hangzhou",
                                 re.IGNORECASE)
_PERSON_ZH = re.compile(r"[\u4e00-\u9fff]{2,4}")
_FIELD = {
    "registrant": re.compile(r"^\s*Registrant(?: Name)?\s*:\s*(.+)$", re.MULTILINE | re.IGNORECASE),
    "registrant_org": re.compile(r"^\s*Registrant Organi[sz]ation\s*:\s*(.+)$", re.MULTILINE | re.IGNORECASE),
    "country": re.compile(r"^\s*Registrant Country(?: Code)?\s*:\s*(.+)$", re.MULTILINE | re.IGNORECASE),
    "email": re.compile(r"^\s*Registrant (?:Contact )?Email\s*:\s*(.+)$", re.MULTILINE | re.IGNORECASE),
}
_NOT_FOUND = re.compile(r"no match|not found|no data found|no entries found|no object found|"
                        r"the queried object does not exist|domain not found|未找到|不存在", re.IGNORECASE)
_RATE = re.compile(r"query rate|rate limit|exceeded|too many|limit exceeded|请稍后|频繁", re.IGNORECASE)


class WhoisError(Exception):
    """A lookup that did not give a usable answer; ``code`` says why."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------- parsing

def _iso(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    return ""


def _first(value) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()[:200]


def _is_cnnic(domain: str, text: str) -> bool:
    return "Registration Time:" in text or ("ROID:" in text and "Sponsoring Registrar:" in text)


def classify_registrant(name: str, org: str) -> str:
    """'privacy', 'agency', 'organisation', 'individual' or 'unknown'."""
    parts = [p for p in (org, name) if p]
    if not parts:
        return "unknown"
    if any(_PRIVACY.search(p) for p in parts) and not any(
            _PERSON_ZH.fullmatch(p) for p in parts):
        return "privacy"
    main = org or name
    if _PRIVACY.search(main):
        main = name if main is org else org
    if not main:
        return "privacy"
    if _AGENCY.search(main) and not _ORG.search(main):
        return "agency"
    if _ORG.search(main):
        return "organisation"
    if _PERSON_ZH.fullmatch(main) or re.fullmatch(r"[A-Za-z]+(?: [A-Za-z]+){1,2}", main):
        return "individual"
    return "organisation" if len(main) > 6 else "individual"


def parse(domain: str, text: str) -> dict:
    """Facts from a raw WHOIS answer. ``status`` is 'ok', 'not_found',
    'empty', 'garbage' or 'rate_limited'; only 'ok' carries facts."""
    from whois.parser import WhoisEntry
    facts = {"domain": domain, "status": "ok"}
    if not isinstance(text, str) or not text.strip():
        facts["status"] = "empty"
        return facts
    text = text[:MAX_ANSWER]
    if len(text) < 400 and _RATE.search(text) and "domain name" not in text.lower():
        facts["status"] = "rate_limited"
        return facts
    try:
        entry = WhoisEntry.load(domain, text)
    except Exception as exc:     # python-whois raises its own errors and plain ones on junk
        name = type(exc).__name__
        facts["status"] = "not_found" if "NotFound" in name or _NOT_FOUND.search(text[:300]) else "garbage"
        log.info("WHOIS 回答无法解析（%s）：%s", name, domain)
        return facts
    cnnic = _is_cnnic(domain, text)
    created, expires = entry.get("creation_date"), entry.get("expiration_date")
    if cnnic:
        fix = lambda v: v.replace(tzinfo=BEIJING) if isinstance(v, datetime) else v   # noqa: E731
        created = [fix(v) for v in created] if isinstance(created, list) else fix(created)
        expires = [fix(v) for v in expires] if isinstance(expires, list) else fix(expires)
    own = {k: (m.search(text).group(1).strip()[:200] if m.search(text) else "") for k, m in _FIELD.items()}
    name = own["registrant"] or _first(entry.get("name"))
    org = own["registrant_org"] or _first(entry.get("org"))
    if name == org:
        org = ""
    facts.update({
        "registrar": _first(entry.get("registrar")), "created": _iso(created), "expires": _iso(expires),
        "registrant": name, "registrant_org": org,
        "country": own["country"] or _first(entry.get("country")), "email": own["email"],
        "name_servers": [str(n).lower() for n in (entry.get("name_servers") or [])][:8]
        if isinstance(entry.get("name_servers"), list) else [],
        "format": "cnnic" if cnnic else "registrar",
    })
    if not facts["created"] and not facts["registrar"] and not name and not org:
        facts["status"] = "not_found" if _NOT_FOUND.search(text[:500]) else "garbage"
        return facts
    facts["registrant_kind"] = classify_registrant(name, org)
    return facts


# ---------------------------------------------------------------- heuristics

def _when(value: str | None) -> datetime:
    if value:
        try:
            d = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
            return d if d.tzinfo else d.replace(tzinfo=BEIJING)
        except ValueError:
            pass
    return datetime.now(timezone.utc)


def apply(j, facts: dict | None, checked_at: str | None = None) -> None:
    """Add WHOIS heuristics to a :class:`pipelines.lookalike.Judgement`.
    They count only when the name or page already point at a fake
    (``whois.gate``) and add at most ``whois.cap``."""
    from pipelines.lookalike import registry, reason
    rules = load_yaml("lookalike_rules.yaml")["whois"]

    def r(code, evidence=""):
        return reason(code, rules[code]["label"], float(rules[code]["weight"]), evidence)

    if not facts or facts.get("status") != "ok":
        status = (facts or {}).get("status", "unknown")
        j.reasons.append(r("unknown", status))
        return
    found = []
    now = _when(checked_at)
    created = _when(facts["created"]) if facts.get("created") else None
    expires = _when(facts["expires"]) if facts.get("expires") else None
    if created:
        age = (now - created).days
        if 0 <= age < 30:
            found.append(r("new_30d", facts["created"][:10]))
        elif 0 <= age < 180:
            found.append(r("new_180d", facts["created"][:10]))
        elif age > 5 * 365:
            found.append(r("old", facts["created"][:10]))
        if expires and (expires - created).days <= 367:
            found.append(r("one_year", f"{facts['created'][:10]} → {facts['expires'][:10]}"))
    kind = facts.get("registrant_kind", "unknown")
    who = facts.get("registrant_org") or facts.get("registrant") or ""
    if kind == "privacy":
        found.append(r("privacy", who))
    elif kind == "individual":
        found.append(r("individual", who))
    elif kind == "agency":
        found.append(r("agency", who))
    elif kind == "organisation":
        found.append(r("organisation", who))
    gate = float(rules["gate"])
    claims = getattr(j, "claims_gov", False) or (bool(j.impersonates) and j.points >= gate)
    if claims and kind != "agency":
        agencies = [a for s in registry().sites.values() for a in s.get("agency", [])]
        if not any(a in who for a in agencies):
            found.append(r("not_agency", who or "未公开"))
    registrar = facts.get("registrar") or ""
    if claims and registrar and not _DOMESTIC_REGISTRAR.search(registrar):
        found.append(r("foreign_registrar", registrar))
    country = (facts.get("country") or "").strip().lower()
    if claims and country and country not in ("cn", "china", "中国"):
        found.append(r("foreign", facts.get("country", "")))
    positive = sum(x["weight"] for x in found if x["weight"] > 0)
    negative = sum(x["weight"] for x in found if x["weight"] < 0)
    if j.points < gate:
        for x in found:
            if x["weight"] > 0:
                x["label"] += "（单凭 WHOIS 不判定，未计分）"
                x["weight"] = 0.0
        positive = 0.0
    j.reasons.extend(found)
    j.points += min(positive, float(rules["cap"])) + negative
    j.whois = facts


# ---------------------------------------------------------------- client

@dataclass
class WhoisConfig:
    servers: dict = field(default_factory=lambda: dict(DEFAULT_SERVERS))   # tld -> (host, port)
    default: tuple | None = None       # server for every other TLD (None: IANA referral)
    iana: tuple = IANA
    timeout: float = 10.0
    min_interval: float = 1.0          # seconds between queries to one server
    max_age_days: float = 30.0         # cache age before asking again
    referral_port: int = 43            # port of servers named in answers (refer:, Registrar WHOIS Server:)
    allow: str = ""                    # fetch guard exceptions for referred servers (pipelines.netguard)

    @classmethod
    def from_settings(cls, settings) -> "WhoisConfig":
        """From Scrapy settings (or a dict): CERTWATCH_WHOIS_SERVERS
        ("tld=host:port,..."; "*" for every other TLD), CERTWATCH_WHOIS_TIMEOUT,
        CERTWATCH_WHOIS_INTERVAL, CERTWATCH_WHOIS_MAX_AGE_DAYS."""
        get = settings.get
        servers, default = servers_from_spec(get("CERTWATCH_WHOIS_SERVERS", "") or "")
        return cls(servers=servers, default=default,
                   timeout=float(get("CERTWATCH_WHOIS_TIMEOUT", 10) or 10),
                   min_interval=float(get("CERTWATCH_WHOIS_INTERVAL", 1.0) or 0),
                   max_age_days=float(get("CERTWATCH_WHOIS_MAX_AGE_DAYS", 30) or 30),
                   allow=str(get("CERTWATCH_GUARD_ALLOW", "") or ""))


def servers_from_spec(spec: str) -> tuple[dict, tuple | None]:
    """(servers per TLD, default server). With a "*" entry every TLD not
    named goes there (the real registries are not asked)."""
    given = parse_servers(spec)
    default = given.pop("*", None)
    servers = dict(given) if default else {**DEFAULT_SERVERS, **given}
    return servers, default


def parse_servers(spec: str) -> dict:
    """"cn=127.0.0.1:4343,*=127.0.0.1:4343" -> {"cn": ("127.0.0.1", 4343), "*": ...}"""
    out = {}
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        tld, sep, addr = part.partition("=")
        if not sep:
            tld, addr = "*", part
        host, _, port = addr.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"WHOIS 服务器格式应为 TLD=主机:端口，而不是 {part!r}")
        out[tld.strip().lower().lstrip(".")] = (host, int(port))
    return out


def _connect(host: str, port: int, timeout: float, guard) -> socket.socket:
    if guard is None:                   # a configured server: the operator chose it
        return socket.create_connection((host, port), timeout=timeout)
    from pipelines.netguard import FetchError, Refused
    try:
        return guard.connect(host, port, timeout)
    except Refused as exc:
        raise WhoisError("refused_address", f"WHOIS 回答指向的服务器被拒绝：{exc}") from None
    except FetchError as exc:
        raise WhoisError("error", f"WHOIS 服务器 {host}:{port} 出错：{exc}") from None


def query(host: str, port: int, question: str, timeout: float, guard=None) -> str:
    """One RFC 3912 exchange: send a line, read until the server closes.
    ``guard`` (pipelines.netguard.Guard) checks a server named by another
    server's answer: resolved once, every address checked, connected to a
    checked one. Raises WhoisError('timeout'|'refused'|'refused_address'|
    'error'|'too_long')."""
    deadline = time.monotonic() + timeout
    try:
        with _connect(host, port, timeout, guard) as sock:
            sock.sendall(question.encode("utf-8") + b"\r\n")
            chunks, size = [], 0
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WhoisError("timeout", f"WHOIS 服务器 {host}:{port} 超时（{timeout:g} 秒）")
                sock.settimeout(left)
                data = sock.recv(8192)
                if not data:
                    break
                chunks.append(data)
                size += len(data)
                if size > MAX_ANSWER:
                    raise WhoisError("too_long", f"WHOIS 回答过长（超过 {MAX_ANSWER} 字节）")
    except socket.timeout:
        raise WhoisError("timeout", f"WHOIS 服务器 {host}:{port} 超时（{timeout:g} 秒）") from None
    except ConnectionRefusedError:
        raise WhoisError("refused", f"WHOIS 服务器 {host}:{port} 拒绝连接") from None
    except OSError as exc:
        raise WhoisError("error", f"WHOIS 服务器 {host}:{port} 出错：{exc}") from None
    raw = b"".join(chunks)
    if not raw.strip():
        raise WhoisError("no_answer", f"WHOIS 服务器 {host}:{port} 没有回答就断开了")
    for enc in ("utf-8", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


class WhoisClient:
    """Looks up registered domains; thread-safe; caches in the store when
    given a database path."""

    def __init__(self, config: WhoisConfig | None = None, db_path: str | None = None, stats=None):
        self.config = config or WhoisConfig()
        self.db_path = db_path
        self.stats = stats
        self._last: dict[tuple, float] = {}
        self._lock = threading.Lock()

    def _inc(self, key: str) -> None:
        if self.stats is not None:
            self.stats.inc_value(f"whois/{key}")

    def server_for(self, domain: str) -> tuple | None:
        tld = domain.rsplit(".", 1)[-1].lower()
        if tld in self.config.servers:
            return self.config.servers[tld]
        return self.config.default

    def _wait_turn(self, server: tuple) -> None:
        """Per-server rate limit: at most one query per ``min_interval``."""
        with self._lock:
            now = time.monotonic()
            ready = self._last.get(server, 0.0) + self.config.min_interval
            self._last[server] = max(now, ready)
        if ready > now:
            self._inc("throttled")
            time.sleep(ready - now)

    def _ask(self, server: tuple, question: str, referred: bool = False) -> str:
        self._wait_turn(server)
        return query(server[0], server[1], question, self.config.timeout,
                     self.guard() if referred else None)

    def guard(self):
        """The fetch guard for servers named in answers (never the sandbox:
        WHOIS is not proxied; configured servers are not asked through it)."""
        from pipelines.netguard import Guard, parse_allow
        return Guard(allow=parse_allow(self.config.allow), timeout=self.config.timeout)

    def referral(self, domain: str) -> tuple:
        """The TLD's WHOIS server according to IANA."""
        answer = self._ask(self.config.iana, domain.rsplit(".", 1)[-1])
        m = re.search(r"^\s*(?:refer|whois)\s*:\s*(\S+)", answer, re.MULTILINE | re.IGNORECASE)
        if not m:
            raise WhoisError("no_server", f"IANA 没有给出 {domain} 的 WHOIS 服务器")
        return (m.group(1)[:253], self.config.referral_port)

    def fetch(self, domain: str) -> str:
        """The raw answer for a registered domain; raises WhoisError."""
        server = self.server_for(domain)
        referred = server is None
        if referred:
            server = self.referral(domain)
        text = self._ask(server, domain, referred)
        if _RATE.search(text[:300]) and len(text) < 400:
            raise WhoisError("rate_limited", f"WHOIS 服务器 {server[0]} 限制查询频率")
        m = re.search(r"^\s*Registrar WHOIS Server:\s*(\S+)", text, re.MULTILINE | re.IGNORECASE)
        if m and server not in self.config.servers.values() and server != self.config.default:
            # A thin registry (Verisign) refers to the registrar for registrant facts.
            try:
                text = text + "\n" + self._ask((m.group(1)[:253], self.config.referral_port), domain, True)
            except WhoisError as exc:
                log.info("注册商 WHOIS 查询失败（%s）：%s", exc.code, domain)
        return text

    def lookup_uncached(self, domain: str) -> tuple[dict, str]:
        """(facts, raw answer) straight from the servers; never raises."""
        try:
            text = self.fetch(domain)
            facts = parse(domain, text)
            self._inc(f"status/{facts['status']}")
        except WhoisError as exc:
            log.warning("WHOIS 查询失败（%s）：%s %s", exc.code, domain, exc)
            self._inc(exc.code)
            text, facts = "", {"domain": domain, "status": exc.code, "error": str(exc)}
        return facts, text

    def cached(self, db, domain: str) -> dict | None:
        """Facts from the store's cache when fresh enough (``max_age``)."""
        from pipelines import store
        facts = store.get_whois(db, domain, self.config.max_age_days)
        if facts is not None:
            self._inc("cache_hit")
        return facts

    @staticmethod
    def remember(db, domain: str, facts: dict, text: str) -> None:
        from pipelines import store
        store.save_whois(db, domain, facts, text)

    def lookup(self, domain: str) -> dict:
        """Parsed facts for ``domain`` (from the cache when fresh enough).
        Never raises: a failure is {"status": code, "error": message}."""
        from pipelines import store
        domain = (domain or "").strip().lower().rstrip(".")
        if not domain or "." not in domain or len(domain) > 253:
            self._inc("invalid")
            return {"domain": domain, "status": "invalid", "error": "域名无效"}
        if not self.db_path:
            return self.lookup_uncached(domain)[0]
        with store.opened(self.db_path) as db:
            facts = self.cached(db, domain)
            if facts is None:
                facts, text = self.lookup_uncached(domain)
                self.remember(db, domain, facts, text)
        return facts