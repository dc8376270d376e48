"""Shared fixtures: the sandbox (a subprocess on port 0, once per session,
or one of a module's own), a fresh SQLite file per test, and the console
app on a store seeded for the report pages. Plain helpers (run_cli,
serving, login, browser options …) are in helpers.py, seed data in
seeds.py."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

from helpers import seed_store


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Chromium and jieba write to $HOME / temp: keep them in a temp dir."""
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    yield home
    if old is not None:
        os.environ["HOME"] = old


def _sandbox_process():
    from crawler.sandbox import process
    proc, url = process.start()
    yield url
    process.stop(proc)


@pytest.fixture(scope="session")
def sandbox():
    yield from _sandbox_process()


@pytest.fixture(scope="module")
def own_sandbox():
    """A sandbox of the module's own, for tests that change its state
    (takedowns, blocks, delisting)."""
    yield from _sandbox_process()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """A real redis-server (Debian's, installed by `make setup`) on a free
    loopback port with a temp folder and no persistence; stopped at the end.
    Tests keep apart by key prefix (CERTWATCH_REDIS_PREFIX)."""
    import redis
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(exe):
        pytest.fail("redis-server 未安装：运行 make setup（或 apt-get install -y redis-server）")
    folder = tmp_path_factory.mktemp("redis")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", str(folder)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 20
    while True:                           # a condition, not a time
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server 未能在端口 {port} 启动")
            time.sleep(0.02)
    client.close()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "certwatch.db")


@pytest.fixture
def fresh_db(db_path):
    from pipelines import store
    db = store.connect(db_path)
    yield db
    db.close()


@pytest.fixture
def reports_console(db_path):
    """The console app on a store seeded for the report pages
    (seeds.seed_reports): (app, db_path, ids)."""
    from reports.console.app import create_app
    from seeds import seed_reports
    ids = seed_store(db_path, seed_reports)
    return create_app(db_path), db_path, ids
