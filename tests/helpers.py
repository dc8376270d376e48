"""Plain helpers the test modules share (fixtures live in conftest.py):
the CLI in a subprocess or in-process, `certwatch serve` for browser tests,
Chromium launch options, console log-in and CSRF tokens, and HTTP through
the sandbox proxy."""
from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from crawler.sandbox.process import stop

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


# ---- the CLI

def run_cli(*args, input: str | bytes | None = None, timeout: float = 600, env: dict | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
    """`certwatch ARGS` in a subprocess (one Scrapy reactor per process)."""
    cmd = [sys.executable, "-m", "crawler.cli", *map(str, args)]
    proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})},
                          text=not isinstance(input, bytes))
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def cli(capsys, *args) -> tuple[int, str, str]:
    """The CLI in-process (commands that do not crawl): exit code, stdout, stderr."""
    from crawler.cli import main
    capsys.readouterr()
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:           # --help
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# ---- the console

PASSWORD = "correct horse 123"
# Test users by name; every module uses the same name for the same role.
ROLES = {"admin1": "admin", "rev": "reviewer", "mon": "monitor", "ro": "readonly"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@functools.lru_cache(maxsize=1)
def hashed_password() -> str:
    from reports.console.passwords import hash_password
    return hash_password(PASSWORD)       # scrypt is slow on purpose: once per run


def add_users(db, *names: str) -> None:
    """Console users (roles from ROLES), all with PASSWORD."""
    from pipelines import store
    for name in names:
        store.add_user(db, name, ROLES[name], hashed_password())


def csrf_in(html: str) -> str:
    """The first form's CSRF token in a console page."""
    return CSRF.search(html).group(1)


def csrf_of(client, path: str = "/queue") -> str:
    """The session's CSRF token, read from the page at ``path``."""
    return csrf_in(client.get(path).text)


def post_login(client, name: str, password: str = PASSWORD):
    """Submit the login form (with its CSRF token) on a TestClient; the 303 or the refusal."""
    return client.post("/login", data={"name": name, "password": password, "csrf_token": csrf_of(client, "/login"),
                                       "next": "/queue"}, follow_redirects=False)


def login(app, name: str, password: str = PASSWORD, client=None):
    """Log in on a new (or the given) TestClient of ``app``: (client, login response)."""
    from fastapi.testclient import TestClient
    client = client or TestClient(app)
    return client, post_login(client, name, password)


def logged_in(client, name: str, csrf_page: str = "/reports/stats") -> str:
    """Log ``client`` in (it must succeed); the session's CSRF token from ``csrf_page``."""
    r = post_login(client, name)
    assert r.status_code == 303, r.text
    return csrf_of(client, csrf_page)


@contextmanager
def serving(db_path: str):
    """`certwatch serve` on a free loopback port for browser tests; yields its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "serve", "--db", db_path, "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline().strip()
    if not line.startswith("http://127.0.0.1:"):
        proc.kill()
        raise RuntimeError(f"serve did not start: {line} {proc.stderr.read()[-2000:]}")
    try:
        yield line
    finally:
        stop(proc)


def seed_store(db_path: str, seed):
    """Fill the store at ``db_path`` with ``seed(db)``; what seed returned."""
    from pipelines import store
    db = store.connect(db_path)
    try:
        return seed(db)
    finally:
        db.close()


@contextmanager
def serving_seeded(db_path: str, seed):
    """A new store at ``db_path`` filled by ``seed(db)``, then served; yields (URL, what seed returned)."""
    seeded = seed_store(db_path, seed)
    with serving(db_path) as base:
        yield base, seeded


# ---- the browser

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run"]


def launch_options(args=None) -> dict:
    """Playwright launch options for Chromium, resolved as the product does
    (crawler.settings.CHROMIUM: CERTWATCH_CHROMIUM, else chromium on PATH,
    else Playwright's own browser)."""
    from crawler.settings import CHROMIUM
    return {"headless": True, "args": list(BROWSER_ARGS if args is None else args),
            **({"executable_path": CHROMIUM} if CHROMIUM else {})}


@contextmanager
def chromium():
    """A headless Chromium (Playwright, sync API), closed afterwards."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(**launch_options())
        try:
            yield browser
        finally:
            browser.close()


def fill_login(page, name: str, password: str = PASSWORD) -> None:
    """Fill in and submit the console's login form shown on ``page``."""
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


# ---- the sandbox

def _through(sandbox: str):
    return urllib.request.build_opener(urllib.request.ProxyHandler({"http": sandbox}))


def sandbox_fetch(sandbox: str, url: str, data: bytes | None = None):
    """GET (or POST ``data``) ``url`` through the sandbox proxy: (status, headers, body); errors are answers."""
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with _through(sandbox).open(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def sandbox_text(sandbox: str, url: str) -> tuple[int, str]:
    """A sandbox page as (status, UTF-8 text)."""
    status, _, body = sandbox_fetch(sandbox, url)
    return status, body.decode("utf-8")


def sandbox_admin(sandbox: str, path: str, data: dict) -> dict:
    """POST JSON to the sandbox's admin host (takedowns, blocks, trouble); its JSON answer."""
    req = urllib.request.Request(f"http://sandbox.admin{path}", data=json.dumps(data).encode(), method="POST")
    with _through(sandbox).open(req, timeout=10) as resp:
        return json.loads(resp.read())


def forum_profile(folder: Path, name: str, title: str, host: str, render: str = "") -> Path:
    """A new profiles folder with one sandbox forum profile (the sandbox forum's markup) on ``host``."""
    folder.mkdir()
    (folder / f"{name}.yaml").write_text(
        f"name: {name}\ntitle: {title}\nkind: forum\nsandbox: true\nhosts: [{host}]\n"
        + (f"render: {render}\n" if render else "")
        + "search:\n"
        f'  url: "http://{host}/search.php?q={{query}}&page={{page}}"\n'
        "  max_pages: 1\n"
        '  result: "table.threads a.subject::attr(href)"\n'
        "detail:\n"
        '  title: "h1.subject::text"\n'
        '  text: "div.post-content ::text"\n', encoding="utf-8")
    return folder
