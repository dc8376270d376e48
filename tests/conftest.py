"""Shared fixtures: the sandbox (a subprocess on port 0, once per session,
or one of a module's own), a fresh SQLite file per test, and the console
app on a store seeded for the report pages. Plain helpers (run_cli,
serving, login, browser options …) are in helpers.py, seed data in
seeds.py."""
from __future__ import annotations

import os

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
