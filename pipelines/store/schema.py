"""The store's schema: sqlite-utils migrations, applied in order by connect().
``SCHEMA_VERSION`` is their number. A new table or column is a new migration
at the end, named for its area.
"""
from __future__ import annotations

import json

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("certwatch")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["keywords"].create({
        "id": int, "term": str, "kind": str, "industry": str, "department": str,
        "active": int, "source": str, "added_at": str,
    }, pk="id", not_null={"term", "kind"}, defaults={"active": 1})
    db["keywords"].create_index(["term", "kind"], unique=True)

    db["platforms"].create({
        "name": str, "kind": str, "title": str, "profile": str, "updated_at": str,
    }, pk="name")

    db["schedules"].create({
        "id": int, "name": str, "cron": str, "industry": str, "department": str,
        "platforms": str, "pages": int, "enabled": int, "created_at": str,
        "last_run_at": str, "next_run_at": str,
    }, pk="id", defaults={"enabled": 1})
    db["schedules"].create_index(["name"], unique=True)

    db["sweeps"].create({
        "id": int, "schedule_id": int, "started_at": str, "ended_at": str,
        "status": str, "mode": str, "platforms": str, "keyword_filter": str,
        "pid": int, "requests": int, "responses": int, "items": int,
        "flagged": int, "errors": int, "stats": str,
    }, pk="id", defaults={"requests": 0, "responses": 0, "items": 0,
                          "flagged": 0, "errors": 0})

    db["findings"].create({
        "id": int, "url": str, "raw_url": str, "platform": str, "title": str,
        "text": str, "seller": str, "price": str, "contacts": str, "links": str,
        "keyword": str, "first_seen": str, "last_seen": str, "score": int,
        "flagged": int, "family": str, "reasons": str, "status": str,
        "page_status": str, "first_sweep_id": int, "last_sweep_id": int,
    }, pk="id", not_null={"url"}, defaults={"status": "new", "score": 0, "flagged": 0})
    db["findings"].create_index(["url"], unique=True)
    db["findings"].create_index(["status", "score"])
    db["findings"].create_index(["platform"])

    db["finding_sweeps"].create({
        "finding_id": int, "sweep_id": int, "seen_at": str,
    }, pk=("finding_id", "sweep_id"))

    db["sites"].create({
        "id": int, "domain": str, "host": str, "url": str, "impersonates": str,
        "score": int, "verdict": str, "reasons": str, "whois": str,
        "http_status": int, "title": str, "final_url": str, "source": str,
        "first_seen": str, "last_seen": str, "status": str,
    }, pk="id", not_null={"domain"}, defaults={"status": "new", "score": 0})
    db["sites"].create_index(["domain"], unique=True)

    db["site_links"].create({
        "finding_id": int, "site_id": int, "url": str, "seen_at": str,
    }, pk=("finding_id", "site_id"))

    db["evidence"].create({
        "id": int, "finding_id": int, "site_id": int, "url": str, "final_url": str,
        "http_status": int, "captured_at": str, "tool": str, "status": str,
        "files": str, "error": str, "operator": str,
    }, pk="id")

    db["decisions"].create({
        "id": int, "finding_id": int, "site_id": int, "user": str, "at": str,
        "action": str, "note": str,
    }, pk="id", not_null={"user", "at", "action"})
    db["decisions"].create_index(["finding_id"])
    db["decisions"].create_index(["site_id"])

    db["takedowns"].create({
        "id": int, "platform": str, "created_at": str, "sent_at": str,
        "status": str, "items": str,
    }, pk="id")

    db["referrals"].create({
        "id": int, "created_at": str, "unit": str, "items": str, "package": str,
    }, pk="id")


@migrations()
def m_console_1_users(db: sqlite_utils.Database) -> None:
    """Console accounts, sessions, login attempts; the confirm category on
    decisions; a contact index kept by triggers; indexes for the queue."""
    db["users"].create({
        "id": int, "name": str, "role": str, "password": str, "created_at": str,
        "created_by": str, "disabled": int, "password_changed_at": str,
    }, pk="id", not_null={"name", "role", "password"}, defaults={"disabled": 0})
    db["users"].create_index(["name"], unique=True)
    db["sessions"].create({
        "token_hash": str, "user_id": int, "csrf": str, "created_at": str,
        "expires_at": str, "ip": str,
    }, pk="token_hash")
    db["sessions"].create_index(["user_id"])
    db["login_attempts"].create({
        "id": int, "name": str, "ip": str, "at": str, "ok": int,
    }, pk="id")
    db["login_attempts"].create_index(["name", "at"])
    db["login_attempts"].create_index(["ip", "at"])
    # confirm subtype: illicit_info (违规信息) / fake_gov_site (假冒政府网站).
    db["decisions"].add_column("category", str)
    db["decisions"].create_index(["at"])
    # finding_contacts mirrors findings.contacts ({"wechat": [..], ...}) so the
    # console finds listings sharing a contact without scanning JSON.
    db["finding_contacts"].create({"finding_id": int, "kind": str, "value": str},
                                  pk=("finding_id", "kind", "value"))
    db["finding_contacts"].create_index(["value", "kind"])
    fill = ("INSERT OR IGNORE INTO finding_contacts (finding_id, kind, value)"
            " SELECT {id}, k.key, CAST(v.value AS TEXT) FROM json_each(CASE WHEN json_valid({c})"
            " AND json_type({c}) = 'object' THEN {c} ELSE '{{}}' END) k, json_each(k.value) v"
            " WHERE k.type = 'array' AND v.value IS NOT NULL AND CAST(v.value AS TEXT) != ''")
    db.execute(fill.format(id="f.id", c="f.contacts").replace("FROM json_each", "FROM findings f, json_each"))
    db.execute("CREATE TRIGGER findings_contacts_ai AFTER INSERT ON findings BEGIN "
               + fill.format(id="NEW.id", c="NEW.contacts") + "; END")
    db.execute("CREATE TRIGGER findings_contacts_au AFTER UPDATE OF contacts ON findings BEGIN "
               "DELETE FROM finding_contacts WHERE finding_id = OLD.id; "
               + fill.format(id="NEW.id", c="NEW.contacts") + "; END")
    db.execute("CREATE TRIGGER findings_contacts_ad AFTER DELETE ON findings BEGIN "
               "DELETE FROM finding_contacts WHERE finding_id = OLD.id; END")
    db["findings"].create_index(["score"])
    db["findings"].create_index(["first_seen"])
    db["sites"].create_index(["status", "score"])
    db["site_links"].create_index(["site_id"])
    db["evidence"].create_index(["finding_id"])
    db["evidence"].create_index(["site_id"])


@migrations()
def m_reports_1_takedowns(db: sqlite_utils.Database) -> None:
    """Takedown batch items and their removal checks, referral items,
    manual statistics entries."""
    for column in ("unit", "created_by", "sent_by", "note"):
        db["takedowns"].add_column(column, str)
    db["takedown_items"].create({
        "id": int, "takedown_id": int, "finding_id": int, "seq": int, "url": str,
        "platform": str, "added_at": str, "result": str, "removed_at": str,
        "last_checked_at": str,
    }, pk="id", not_null={"takedown_id", "finding_id"})
    db["takedown_items"].create_index(["finding_id"], unique=True)
    db["takedown_items"].create_index(["takedown_id"])
    db["takedown_checks"].create({
        "id": int, "item_id": int, "takedown_id": int, "finding_id": int, "due": str,
        "checked_at": str, "result": str, "reason": str, "http_status": int,
        "final_url": str, "similarity": float, "screenshot": str, "screenshot_sha256": str,
    }, pk="id", not_null={"item_id", "checked_at", "result"})
    db["takedown_checks"].create_index(["item_id"])
    db["takedown_checks"].create_index(["finding_id", "result", "checked_at"])
    for column in ("created_by", "sha256", "note"):
        db["referrals"].add_column(column, str)
    db["referral_items"].create({
        "id": int, "referral_id": int, "finding_id": int, "site_id": int, "referred_at": str,
    }, pk="id", not_null={"referral_id", "referred_at"})
    db["referral_items"].create_index(["referral_id"])
    db["report_manual"].create({
        "period_from": str, "period_to": str, "field": str, "value": str,
        "set_by": str, "set_at": str,
    }, pk=("period_from", "period_to", "field"))


@migrations()
def m_keywords_1_library_schedules_health(db: sqlite_utils.Database) -> None:
    """Keyword imports; schedule runs and locks (the scheduler's state);
    per-platform sweep health and alerts."""
    db["keywords"].add_column("updated_at", str)
    db["keywords"].create_index(["industry"])
    db["keywords"].create_index(["department"])
    db["keyword_imports"].create({
        "id": int, "at": str, "user": str, "file_name": str, "sha256": str, "format": str,
        "rows": int, "added": int, "existing": int, "duplicates": int, "bad": int,
        "errors": str,
    }, pk="id")
    for column, kind in (("settings", str), ("variants", int), ("updated_at", str),
                         ("mode", str), ("sandbox", str)):
        db["schedules"].add_column(column, kind)
    # One row per (schedule, cron slot): the unique index is what stops two
    # schedulers, or a restarted one, from running the same slot twice.
    db["schedule_runs"].create({
        "id": int, "schedule_id": int, "due_at": str, "status": str, "attempts": int,
        "owner": str, "claimed_at": str, "started_at": str, "ended_at": str,
        "sweep_id": int, "pid": int, "note": str,
    }, pk="id", not_null={"schedule_id", "due_at", "status"}, defaults={"attempts": 0})
    db["schedule_runs"].create_index(["schedule_id", "due_at"], unique=True)
    db["schedule_runs"].create_index(["status"])
    db["locks"].create({
        "name": str, "owner": str, "acquired_at": str, "heartbeat_at": str, "expires_at": str,
    }, pk="name")
    db["sweep_platforms"].create({
        "sweep_id": int, "platform": str, "status": str, "requests": int, "responses": int,
        "by_status": str, "items": int, "flagged": int, "errors": int, "blocked": int,
        "blocked_reasons": str, "empty_pages": int, "search_pages": int, "detail_pages": int,
        "canary": str, "canary_results": int, "duration": float, "note": str,
    }, pk=("sweep_id", "platform"))
    db["alerts"].create({
        "id": int, "at": str, "kind": str, "platform": str, "sweep_id": int, "message": str,
        "delivered": int, "delivery_error": str, "acknowledged_by": str,
    }, pk="id", defaults={"delivered": 0})
    db["alerts"].create_index(["sweep_id"])


@migrations()
def m_domains_1_whois_cache(db: sqlite_utils.Database) -> None:
    """WHOIS answers per registered domain (re-asked after a configurable
    age; failures are kept for the record but never served as fresh)."""
    db["whois_cache"].create({
        "domain": str, "status": str, "facts": str, "raw": str, "fetched_at": str,
    }, pk="domain")
    db["sites"].create_index(["verdict"])
    db["sites"].create_index(["status"])


@migrations()
def m_console_2_search(db: sqlite_utils.Database) -> None:
    """Queue filter indexes and the keyword search index: findings_fts holds
    title/text/url/seller/keyword with every character a token (see
    search_text), so an FTS5 phrase query is a substring match. Triggers only
    mark changed findings in search_dirty; refresh_search_index() indexes them."""
    db["findings"].create_index(["platform", "status", "score"])
    db["findings"].create_index(["family", "status", "score"])
    db["findings"].create_index(["status", "first_seen", "score"])
    db.execute("CREATE VIRTUAL TABLE findings_fts USING fts5(body, tokenize = 'unicode61 remove_diacritics 0')")
    db.execute("CREATE TABLE search_dirty (finding_id INTEGER PRIMARY KEY)")
    db.execute("INSERT INTO search_dirty (finding_id) SELECT id FROM findings")
    db.execute("CREATE TRIGGER findings_search_ai AFTER INSERT ON findings BEGIN "
               "INSERT OR IGNORE INTO search_dirty (finding_id) VALUES (NEW.id); END")
    db.execute("CREATE TRIGGER findings_search_au AFTER UPDATE OF title, text, url, seller, keyword ON findings"
               " WHEN OLD.title IS NOT NEW.title OR OLD.text IS NOT NEW.text OR OLD.url IS NOT NEW.url"
               " OR OLD.seller IS NOT NEW.seller OR OLD.keyword IS NOT NEW.keyword BEGIN "
               "INSERT OR IGNORE INTO search_dirty (finding_id) VALUES (NEW.id); END")
    db.execute("CREATE TRIGGER findings_search_ad AFTER DELETE ON findings BEGIN "
               "DELETE FROM findings_fts WHERE rowid = OLD.id; "
               "DELETE FROM search_dirty WHERE finding_id = OLD.id; END")


@migrations()
def m_scheduler_1_followups(db: sqlite_utils.Database) -> None:
    """What the scheduler does after a sweep and between sweeps: the
    evidence step of a run (columns on schedule_runs) and removal rechecks
    (recheck_runs: one row per due set and Beijing day, claimed once)."""
    for column, kind in (("evidence_status", str), ("evidence_attempts", int), ("evidence_ok", int),
                         ("evidence_failed", int), ("evidence_note", str)):
        db["schedule_runs"].add_column(column, kind)
    db["recheck_runs"].create({
        "id": int, "key": str, "due_at": str, "items": int, "status": str, "attempts": int,
        "owner": str, "claimed_at": str, "started_at": str, "ended_at": str, "pid": int,
        "stats": str, "note": str,
    }, pk="id", not_null={"key", "due_at", "status"}, defaults={"attempts": 0})
    db["recheck_runs"].create_index(["key"], unique=True)
    db["recheck_runs"].create_index(["status"])


@migrations()
def m_review_1_site_ips(db: sqlite_utils.Database) -> None:
    """The addresses a site answered from when it was checked (sites.ips, a
    JSON list): the 技术信息 of referral packages."""
    db["sites"].add_column("ips", str)


@migrations()
def m_security_1_evidence_chain(db: sqlite_utils.Database) -> None:
    """Sealed evidence: each capture's position in the chain, the previous
    capture's record hash and its own (store.evidence.record_hash). Rows
    captured before are sealed now, in table order."""
    from .evidence import record_hash
    for column in ("seq", "prev_hash", "record_hash"):
        db["evidence"].add_column(column, int if column == "seq" else str)
    db["evidence"].create_index(["seq"], unique=True)
    prev, seq = "", 0
    for row in list(db["evidence"].rows_where(order_by="id")):
        seq += 1
        try:
            files = json.loads(row.get("files") or "[]")
        except ValueError:
            files = []
        row.update(seq=seq, prev_hash=prev)
        digest = record_hash(row, files if isinstance(files, list) else [])
        db.execute("UPDATE evidence SET seq = ?, prev_hash = ?, record_hash = ? WHERE id = ?",
                   [seq, prev, digest, row["id"]])
        prev = digest
    if seq:
        from .evidence import write_chain_head
        write_chain_head(db, seq, prev)


@migrations()
def m_security_2_finding_versions(db: sqlite_utils.Database) -> None:
    """Content seen after a human decision: later sweeps add versions here
    and mark the finding changed since its decision; the finding keeps the
    content the decision was made on."""
    db["finding_versions"].create({
        "id": int, "finding_id": int, "seen_at": str, "sweep_id": int, "platform": str, "title": str, "text": str,
        "seller": str, "price": str, "contacts": str, "links": str, "page_status": str, "score": int,
        "flagged": int, "family": str, "reasons": str, "content_hash": str,
    }, pk="id", not_null={"finding_id", "seen_at"})
    db["finding_versions"].create_index(["finding_id", "id"])
    db["findings"].add_column("changed_since_decision", int, not_null_default=0)


# A first-seen stamp as now_utc() writes it is keyed by its UTC hour in
# flagged_hours; any other stamp is kept whole (charts work its week out).
_HOUR_KEY = ("CASE WHEN {c} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-5][0-9]:[0-5][0-9].[0-9][0-9][0-9][0-9][0-9][0-9]Z'"
             " THEN substr({c}, 1, 13) ELSE {c} END")


@migrations()
def m_speed_1_counters(db: sqlite_utils.Database) -> None:
    """Counts the console shows, kept by triggers as findings are written,
    so no page scans findings: finding_counts (findings per status,
    platform, family; NULL stored as '') and flagged_hours (flagged findings
    per platform and first-seen UTC hour, for the weekly chart)."""
    db.execute("CREATE TABLE finding_counts (status TEXT NOT NULL, platform TEXT NOT NULL,"
               " family TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (status, platform, family))")
    db.execute("INSERT INTO finding_counts (status, platform, family, n) SELECT COALESCE(status, ''),"
               " COALESCE(platform, ''), COALESCE(family, ''), COUNT(*) FROM findings GROUP BY 1, 2, 3")
    db.execute("CREATE TABLE flagged_hours (hour TEXT NOT NULL, platform TEXT NOT NULL, n INTEGER NOT NULL,"
               " PRIMARY KEY (hour, platform))")
    db.execute("INSERT INTO flagged_hours (hour, platform, n) SELECT " + _HOUR_KEY.format(c="first_seen")
               + ", COALESCE(platform, ''), COUNT(*) FROM findings WHERE flagged = 1 AND first_seen IS NOT NULL"
               " GROUP BY 1, 2")

    def count(row: str, step: str) -> str:
        return (f"INSERT INTO finding_counts (status, platform, family, n) VALUES (COALESCE({row}.status, ''),"
                f" COALESCE({row}.platform, ''), COALESCE({row}.family, ''), {step})"
                f" ON CONFLICT (status, platform, family) DO UPDATE SET n = n + ({step}); ")

    def hour(row: str, step: str) -> str:
        return (f"INSERT INTO flagged_hours (hour, platform, n) SELECT {_HOUR_KEY.format(c=row + '.first_seen')},"
                f" COALESCE({row}.platform, ''), {step} WHERE {row}.flagged = 1 AND {row}.first_seen IS NOT NULL"
                f" ON CONFLICT (hour, platform) DO UPDATE SET n = n + ({step}); ")

    db.execute("CREATE TRIGGER findings_counts_ai AFTER INSERT ON findings BEGIN "
               + count("NEW", "1") + hour("NEW", "1") + "END")
    db.execute("CREATE TRIGGER findings_counts_ad AFTER DELETE ON findings BEGIN "
               + count("OLD", "-1") + hour("OLD", "-1") + "END")
    db.execute("CREATE TRIGGER findings_counts_au AFTER UPDATE OF status, platform, family ON findings"
               " WHEN OLD.status IS NOT NEW.status OR OLD.platform IS NOT NEW.platform"
               " OR OLD.family IS NOT NEW.family BEGIN " + count("OLD", "-1") + count("NEW", "1") + "END")
    db.execute("CREATE TRIGGER findings_hours_au AFTER UPDATE OF flagged, first_seen, platform ON findings"
               " WHEN OLD.flagged IS NOT NEW.flagged OR OLD.first_seen IS NOT NEW.first_seen"
               " OR OLD.platform IS NOT NEW.platform BEGIN " + hour("OLD", "-1") + hour("NEW", "1") + "END")


@migrations()
def m_reports_2_stats_headers(db: sqlite_utils.Database) -> None:
    """Hand-filled 统计表 values are stored under their column header; the
    headers now read exactly as the campaign's 附表 (units, 、, 涉假证), so
    values stored under the earlier names move to the new ones."""
    renames = {
        "开展执法检查的企业数量": "开展执法检查的企业数量(家)",
        "查出无证假证人员数量": "查出无证、假证人员数量(人)",
        "查出企业问题总数": "查出企业问题总数(项)",
        "限期整改的企业数量": "限期整改的企业数量(家)",
        "停业整顿的企业数量": "停业整顿的企业数量(家)",
        "完成整改的问题数量": "完成整改的问题数量(项)",
        "涉嫌犯罪的问题线索移交数量": "涉嫌犯罪的问题线索移交数量(项)",
        "公安机关查处的涉假证案件数量": "公安机关查处的涉假证案件数量(件)",
        "检察机关提前介入的案件数量": "检察机关提前介入的涉假证案件数量(件)",
        "检察机关提起公诉的案件数量(件、人)": "检察机关提起公诉的涉假证案件数量(件、人)",
        "人民法院审判假证案件数量": "人民法院审判假证案件数量(件)",
    }
    for old, new in renames.items():
        db.execute("UPDATE OR IGNORE report_manual SET field = ? WHERE field = ?", [new, old])


@migrations()
def m_reports_3_pending_referrals(db: sqlite_utils.Database) -> None:
    """One 移交公安: a reviewer's refer decision now means "to be referred"
    (referral_pending) until a referral package holds the item (referred).
    Items marked referred by a decision alone, in no package, are pending."""
    for table, column in (("findings", "finding_id"), ("sites", "site_id")):
        db.execute(f"UPDATE {table} SET status = 'referral_pending' WHERE status = 'referred'"
                   f" AND id NOT IN (SELECT {column} FROM referral_items WHERE {column} IS NOT NULL)")


@migrations()
def m_distributed_1_ingest_workers(db: sqlite_utils.Database) -> None:
    """Distributed sweeps: which stream entries the one writer has committed
    (written in the same transaction as their findings, so an entry the
    stream delivers again is skipped), and each worker's share of a sweep."""
    db["ingest_log"].create({
        "stream": str, "entry_id": str, "sweep_id": int, "at": str,
    }, pk=("stream", "entry_id"))
    db["ingest_log"].create_index(["at"])
    db["sweep_workers"].create({
        "sweep_id": int, "worker": str, "name": str, "host": str, "status": str, "final": int,
        "requests": int, "responses": int, "items": int, "flagged": int, "errors": int, "blocked": int,
        "seconds": float, "platforms": str, "note": str,
    }, pk=("sweep_id", "worker"))


# Finding statuses a takedown may be requested for (store.takedowns.REQUESTABLE_STATUSES).
_REQUESTABLE = "('confirmed', 'referral_pending', 'referred', 'still_present', 'takedown_requested', 'removed')"


@migrations()
def m_speed_2_takedown_candidates(db: sqlite_utils.Database) -> None:
    """takedown_pending: the findings a new takedown batch would take (a
    requestable status, a confirm or refer decision, in no batch yet), kept
    by triggers on findings, decisions and takedown_items, so the takedowns
    page counts candidates without scanning findings."""
    db.execute("CREATE TABLE takedown_pending (finding_id INTEGER PRIMARY KEY, platform TEXT)")
    db.execute("CREATE INDEX idx_takedown_pending_platform ON takedown_pending (platform)")
    qualifies = (f"f.status IN {_REQUESTABLE}"
                 " AND NOT EXISTS (SELECT 1 FROM takedown_items t WHERE t.finding_id = f.id)"
                 " AND EXISTS (SELECT 1 FROM decisions d WHERE d.finding_id = f.id AND d.action IN ('confirm', 'refer'))")
    db.execute(f"INSERT INTO takedown_pending (finding_id, platform) SELECT f.id, f.platform FROM findings f"
               f" WHERE {qualifies}")

    def refresh(key: str) -> str:
        return (f"DELETE FROM takedown_pending WHERE finding_id = {key}; "
                f"INSERT OR IGNORE INTO takedown_pending (finding_id, platform) SELECT f.id, f.platform"
                f" FROM findings f WHERE f.id = {key} AND {qualifies}; ")

    db.execute(f"CREATE TRIGGER takedown_pending_f_ai AFTER INSERT ON findings WHEN NEW.status IN {_REQUESTABLE}"
               " BEGIN " + refresh("NEW.id") + "END")
    db.execute("CREATE TRIGGER takedown_pending_f_au AFTER UPDATE OF status, platform ON findings"
               " WHEN OLD.status IS NOT NEW.status OR OLD.platform IS NOT NEW.platform BEGIN "
               + refresh("NEW.id") + "END")
    db.execute("CREATE TRIGGER takedown_pending_f_ad AFTER DELETE ON findings BEGIN "
               "DELETE FROM takedown_pending WHERE finding_id = OLD.id; END")
    db.execute("CREATE TRIGGER takedown_pending_d_ai AFTER INSERT ON decisions WHEN NEW.finding_id IS NOT NULL"
               " AND NEW.action IN ('confirm', 'refer') BEGIN " + refresh("NEW.finding_id") + "END")
    db.execute("CREATE TRIGGER takedown_pending_d_au AFTER UPDATE OF finding_id, action ON decisions BEGIN "
               + refresh("OLD.finding_id") + refresh("NEW.finding_id") + "END")
    db.execute("CREATE TRIGGER takedown_pending_d_ad AFTER DELETE ON decisions BEGIN "
               + refresh("OLD.finding_id") + "END")
    db.execute("CREATE TRIGGER takedown_pending_t_ai AFTER INSERT ON takedown_items BEGIN "
               "DELETE FROM takedown_pending WHERE finding_id = NEW.finding_id; END")
    db.execute("CREATE TRIGGER takedown_pending_t_au AFTER UPDATE OF finding_id ON takedown_items BEGIN "
               + refresh("OLD.finding_id") + refresh("NEW.finding_id") + "END")
    db.execute("CREATE TRIGGER takedown_pending_t_ad AFTER DELETE ON takedown_items BEGIN "
               + refresh("OLD.finding_id") + "END")


@migrations()
def m_speed_3_trigram_search(db: sqlite_utils.Database) -> None:
    """findings_tri: the searchable text of each finding folded to letters
    and digits (store.search.trigram_text, the SQL function cw_trigram_text
    registered on every connection) under FTS5's trigram tokenizer, written
    with findings_fts; keywords of three characters or more are found here.
    Created empty: older findings are m_speed_5_search_backfill's backlog."""
    db.execute("CREATE VIRTUAL TABLE findings_tri USING fts5(body, tokenize = 'trigram')")
    db.execute("CREATE TRIGGER findings_tri_ad AFTER DELETE ON findings BEGIN "
               "DELETE FROM findings_tri WHERE rowid = OLD.id; END")


# A deleted finding leaves the count (its checks may stay): the reads need no join.
FIRST_REMOVED_FINDING_AD = ("CREATE TRIGGER first_removed_f_ad AFTER DELETE ON findings BEGIN "
                            "DELETE FROM first_removed WHERE finding_id = OLD.id; END")


@migrations()
def m_speed_4_first_removed(db: sqlite_utils.Database) -> None:
    """first_removed: each finding's first 'removed' check (the lowest check
    id, as the 附表 counts it) with its check time, kept by triggers on
    takedown_checks, so the statistics page and the takedown chart read the
    period's rows by time instead of grouping every check; and a covering
    index for the takedowns page's result counts per batch."""
    db.execute("CREATE TABLE first_removed (finding_id INTEGER PRIMARY KEY, check_id INTEGER NOT NULL,"
               " checked_at TEXT)")
    db.execute("CREATE INDEX idx_first_removed_checked_at ON first_removed (checked_at)")

    def refresh(key: str) -> str:
        return (f"DELETE FROM first_removed WHERE finding_id = {key}; "
                "INSERT INTO first_removed (finding_id, check_id, checked_at) SELECT c.finding_id, c.id, c.checked_at"
                f" FROM takedown_checks c WHERE c.id = (SELECT MIN(id) FROM takedown_checks WHERE finding_id = {key}"
                f" AND result = 'removed') AND EXISTS (SELECT 1 FROM findings WHERE id = {key}); ")

    db.execute("INSERT INTO first_removed (finding_id, check_id, checked_at) SELECT c.finding_id, c.id, c.checked_at"
               " FROM (SELECT MIN(id) AS cid FROM takedown_checks WHERE result = 'removed' AND finding_id IS NOT NULL"
               " GROUP BY finding_id) first JOIN takedown_checks c ON c.id = first.cid"
               " WHERE c.finding_id IN (SELECT id FROM findings)")
    db.execute("CREATE TRIGGER first_removed_ai AFTER INSERT ON takedown_checks"
               " WHEN NEW.result = 'removed' AND NEW.finding_id IS NOT NULL BEGIN " + refresh("NEW.finding_id") + "END")
    db.execute("CREATE TRIGGER first_removed_au AFTER UPDATE OF finding_id, result, checked_at ON takedown_checks"
               " BEGIN " + refresh("OLD.finding_id") + refresh("NEW.finding_id") + "END")
    db.execute("CREATE TRIGGER first_removed_ad AFTER DELETE ON takedown_checks BEGIN "
               + refresh("OLD.finding_id") + "END")
    db.execute(FIRST_REMOVED_FINDING_AD)
    db["takedown_items"].create_index(["takedown_id", "result"])


# Later migrations live in their own modules (this one is at the store's
# module size limit); importing one registers its migrations, in this order.
from . import schema_runs  # noqa: E402,F401

SCHEMA_VERSION = len(migrations._migrations)
