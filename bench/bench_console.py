"""Console speed: seed stores of 10,000 / 100,000 / 1,000,000 findings (plus
sites, links, decisions, 40 takedown batches with removal checks) and time
the console's pages server-side (in-process ASGI, no network), and its
start-up, at each size side by side.

    .venv/bin/python bench/bench_console.py [--findings 10000,100000,1000000] [--runs 20] [--dir DIR]

Stores are built with the store's own batch writers (insert_new_findings:
one executemany of 20,000 per transaction; add_decisions) and kept in --dir (default: a temp
folder) so a second run reuses them. Prints, per page, p50 and p95 in ms at
each size and the SQL statements one request runs at the largest.
Target: every page ≤ 100 ms p95 at 1M findings, start-up ≤ 2 s.

    .venv/bin/python bench/bench_console.py --mode upgrade [--findings 100000] [--dir DIR]

``upgrade``: a copy of each store made as it was before the trigram keyword
index (findings_tri dropped, its migrations unrecorded), then opened by the
console: create_app (its migrations included), the first keyword searches
while the backlog is indexed in the background, the backfill's duration, the
same searches after it.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastapi.testclient import TestClient  # noqa: E402

from pipelines import store  # noqa: E402
from reports.console.app import create_app  # noqa: E402
from reports.console.passwords import hash_password  # noqa: E402

PLATFORMS = ["market", "classifieds", "forum", "engine"]
FAMILIES = ["special_operation", "construction", "special_equipment", "safety_management", ""]
WORDS = ["低压电工证", "焊工证", "高处作业证", "叉车证", "塔吊司机证", "安全员C证", "不用考试", "包过",
         "人不到场", "官网可查", "加急", "内部渠道", "全国通用", "先拿证后付款"]


BATCH = 20_000      # findings per transaction (store.insert_new_findings: one executemany)


def seed(db, n: int, rng: random.Random, first: int = 1) -> None:
    """``n`` more findings (ids from ``first``), links to 500 sites, decisions."""
    batch = []
    t0 = time.perf_counter()
    for i in range(n):
        words = rng.sample(WORDS, 4)
        wechat = f"zb{rng.randrange(max(1, n // 5)):06d}"
        flagged = rng.random() < 0.6
        batch.append({
            "url": f"http://bench{i % 97}.example.cn/item/{first + i}.html", "platform": rng.choice(PLATFORMS),
            "title": " ".join(words[:2]) + f" {i}", "text": "，".join(words) + f"。微信 {wechat}",
            "flagged": flagged, "score": rng.randrange(50, 100) if flagged else rng.randrange(0, 50),
            "family": rng.choice(FAMILIES), "keyword": words[0],
            "contacts": {"wechat": [wechat], "phone": [f"138{rng.randrange(10 ** 8):08d}"]},
            "reasons": [{"code": "w", "label": w, "weight": 1.5, "evidence": w} for w in words[:3]],
        })
        if len(batch) == BATCH:
            store.insert_new_findings(db, batch)
            batch = []
            if i % 100_000 < BATCH:
                print(f"  {i + 1:,} findings, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if batch:
        store.insert_new_findings(db, batch)
    print(f"seeded {n} findings in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    sites = []
    for j in range(500):
        sites.append(store.record_site(db, {"domain": f"cx-mem-gov{j}.cn", "url": f"http://cx-mem-gov{j}.cn/",
                                            "verdict": rng.choice(["fake_gov_site", "suspicious", "benign"]),
                                            "score": rng.randrange(30, 100), "whois": {"registrar": "某注册商"}}))
    with db.atomic():
        for i in range(0, n, 10):
            store.link_finding_site(db, first + i, rng.choice(sites), "http://x/")
    for action in ("confirm", "refer"):
        store.add_decisions(db, "bench", action, [first + i for i in range(0, n, 50) if rng.random() < 0.5])


def seed_reports(db, rng: random.Random) -> None:
    """Ten rounds of 200 confirms, each round batched per platform (40
    batches), 30 batches sent with checks on most items; 200 confirmed
    findings left as candidates; 100 sites confirmed as fake."""
    t0 = time.perf_counter()
    flagged = [r[0] for r in db.execute("SELECT id FROM findings WHERE status = 'flagged' ORDER BY id")]
    rng.shuffle(flagged)
    for round_no in range(11):
        store.add_decisions(db, "bench", "confirm", flagged[round_no * 200:(round_no + 1) * 200])
        if round_no < 10:
            for platform in PLATFORMS:
                store.create_takedown(db, platform, "bench", "长宁区市场监管局")
    for batch in store.list_takedowns(db)[10:]:
        store.mark_takedown_sent(db, batch["id"], "bench")
        for item in store.takedown_items(db, batch["id"]):
            if rng.random() < 0.8:
                store.add_takedown_check(db, item["id"], rng.choice(store.TAKEDOWN_RESULTS), "bench", due="T+1")
    store.add_decisions(db, "bench", "confirm", site_ids=range(1, 101))
    print(f"seeded takedowns and checks in {time.perf_counter() - t0:.1f} s", file=sys.stderr)


QUERIES = [0]
_open_db = store.open_db


def _counting_open_db(path):
    """store.open_db that counts the statements each request runs."""
    db = _open_db(path)
    db.conn.set_trace_callback(lambda sql: QUERIES.__setitem__(0, QUERIES[0] + 1))
    return db


def timed(client, path: str, runs: int) -> tuple[float, float, float]:
    """(p50, p95) wall ms and p50 CPU ms of ``runs`` requests (CPU time is
    the steadier figure on a shared machine)."""
    times, cpus = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        r = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        cpus.append((time.process_time() - c0) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], statistics.median(cpus)


PAGES = [
    ("queue (pending, page 1)", "/queue"),
    ("queue page 50", "/queue?status=pending&page=50"),
    ("queue all statuses", "/queue?status="),
    ("queue platform filter", "/queue?platform=forum"),
    ("queue keyword (common)", "/queue?keyword=塔吊"),
    ("queue keyword (rare)", "/queue?status=&keyword=zb000123"),
    ("queue contact filter", "/queue?status=&contact=zb000123"),
    ("queue date range", "/queue?date_from=2000-01-01&date_to=2100-01-01"),
    ("detail (finding)", "/finding/{top}"),
    ("detail (site)", "/site/1"),
    ("stats page", "/reports/stats"),
    ("takedowns list", "/reports/takedowns"),
    ("takedown batch", "/reports/takedowns/{batch}"),
    ("chart flagged", "/reports/charts/flagged.png"),
    ("chart takedowns", "/reports/charts/takedowns.png"),
    ("chart fake_sites", "/reports/charts/fake_sites.png"),
]


def build(path: str, n: int) -> None:
    db = store.connect(path)
    db.execute("PRAGMA cache_size = -1000000")      # 1 GB: the indexes of a 1M store stay in memory
    have = store.count_findings(db)
    if have < n:
        seed(db, n - have, random.Random(42), first=have + 1)
    if not store.list_takedowns(db):
        seed_reports(db, random.Random(7))
    if store.get_user(db, name="bench") is None:
        store.add_user(db, "bench", "reviewer", hash_password("bench password"))
    db.execute("ANALYZE")
    db.close()


def measure(path: str, runs: int) -> dict:
    """{"startup": [ms …], page label: (p50, p95, statements)}."""
    db = store.connect(path)
    top = db.execute("SELECT id FROM findings WHERE status = 'flagged' ORDER BY score DESC LIMIT 1").fetchone()[0]
    batch = store.list_takedowns(db)[15]["id"]
    db.close()
    out: dict = {"startup": []}
    for _ in range(3):
        t0 = time.perf_counter()
        app = create_app(path)
        out["startup"].append((time.perf_counter() - t0) * 1000)
    store.open_db = _counting_open_db
    try:
        client = login(app)
        for label, url in PAGES:
            url = url.format(top=top, batch=batch)
            client.get(url)          # warm
            QUERIES[0] = 0
            client.get(url)
            queries = QUERIES[0]
            med, p95, cpu = timed(client, url, runs)
            out[label] = (med, p95, queries, cpu)
    finally:
        store.open_db = _open_db
    return out


UPGRADE_SEARCHES = [
    ("keyword rare (zb000123)", "/queue?status=&keyword=zb000123"),
    ("keyword common (塔吊司机证)", "/queue?keyword=塔吊司机证"),
    ("queue (pending, page 1)", "/queue"),
]


def strip_trigram(path: str) -> None:
    """Make the store at ``path`` what it was before findings_tri existed."""
    db = store.connect(path)
    db.execute("DROP TRIGGER findings_tri_ad")
    db.execute("DROP TABLE findings_tri")
    db.execute("DROP TABLE search_backfill")
    db.execute("DELETE FROM _sqlite_migrations WHERE name IN ('m_speed_3_trigram_search', 'm_speed_5_search_backfill')")
    db.conn.commit()
    db.close()


def login(app) -> TestClient:
    client = TestClient(app)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    client.post("/login", data={"name": "bench", "password": "bench password", "csrf_token": token})
    return client


def measure_upgrade(source: str, path: str) -> dict:
    """create_app on a pre-trigram copy of ``source``; searches during and after the backfill."""
    create_app(source)           # imports and templates: the first app in a process pays them
    db = store.connect(source)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    shutil.copyfile(source, path)
    strip_trigram(path)
    out: dict = {}
    t0 = time.perf_counter()
    app = create_app(path)
    out["create_app"] = (time.perf_counter() - t0) * 1000
    began = time.perf_counter()
    client = login(app)
    for label, url in UPGRADE_SEARCHES:
        t0 = time.perf_counter()
        r = client.get(url)
        out[f"during: {label}"] = (time.perf_counter() - t0) * 1000
        assert r.status_code == 200 and ("关键词索引建立中" in r.text) == ("keyword" in url), (url, r.status_code)
    app.state.backfill.thread.join()
    out["backfill (s)"] = time.perf_counter() - began
    for label, url in UPGRADE_SEARCHES:
        client.get(url)
        out[f"after: {label}"] = timed(client, url, 5)[0]
    db = store.connect(path)
    assert store.search_backlog(db) is None
    assert db.execute("SELECT COUNT(*) FROM findings_tri").fetchone()[0] == store.count_findings(db)
    db.close()
    strip_trigram(path)             # again, for what `certwatch db reindex` takes: the same chunks, no pauses
    db = store.connect(path)
    t0 = time.perf_counter()
    store.backfill_search_index(db)
    out["db reindex (s)"] = time.perf_counter() - t0
    db.close()
    return out


def main_upgrade(sizes: list[int], folder: str) -> int:
    results = {}
    for n in sizes:
        source = os.path.join(folder, f"console-{n}.db")
        build(source, n)
        results[n] = measure_upgrade(source, os.path.join(folder, f"upgrade-{n}.db"))
        print(f"{n:>9}: {results[n]}", file=sys.stderr)
    print("console on a store made before the trigram index (ms; backfill in s)")
    print(f"{'':36}" + "".join(f" {f'{n:,}':>12}" for n in sizes))
    for key in results[sizes[0]]:
        print(f"{key:36}" + "".join(f" {results[n][key]:12.1f}" for n in sizes))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", default="10000,100000,1000000", help="store sizes, comma-separated")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dir", default="", help="keep/reuse the stores here (default: a temp folder)")
    parser.add_argument("--mode", choices=("pages", "upgrade"), default="pages",
                        help="pages: every page at each size; upgrade: start-up on a store made before the index")
    args = parser.parse_args()
    sizes = [int(x) for x in args.findings.split(",") if x.strip()]
    folder = args.dir or tempfile.mkdtemp(prefix="cw-bench-")
    os.makedirs(folder, exist_ok=True)
    if args.mode == "upgrade":
        return main_upgrade(sizes, folder)
    results = {}
    for n in sizes:
        path = os.path.join(folder, f"console-{n}.db")
        t0 = time.perf_counter()
        build(path, n)
        print(f"{n:>9} findings: store ready in {time.perf_counter() - t0:.0f} s ({path})", file=sys.stderr)
        results[n] = measure(path, args.runs)
    head = "".join(f" {f'{n:,}':>17}" for n in sizes)
    print(f"console server time in ms (in-process), p50 / p95 of {args.runs} requests; statements at {sizes[-1]:,}")
    print(f"{'page':28}{head} {'stmts':>6}  CPU ms p50 at each size")
    print(f"{'create_app start-up':28}" + "".join(
        f" {min(results[n]['startup']):8.0f} /{max(results[n]['startup']):7.0f}" for n in sizes))
    for label, _ in PAGES:
        cells = "".join(f" {results[n][label][0]:8.1f} /{results[n][label][1]:7.1f}" for n in sizes)
        cpu = " / ".join(f"{results[n][label][3]:.1f}" for n in sizes)
        print(f"{label:28}{cells} {results[sizes[-1]][label][2]:6d}  {cpu}")
    worst = max(results[sizes[-1]][label][1] for label, _ in PAGES)
    print(f"slowest p95 at {sizes[-1]:,}: {worst:.1f} ms; start-up max {max(results[sizes[-1]]['startup']):.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
