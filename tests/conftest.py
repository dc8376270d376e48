"""Shared fixtures: the sandbox (a subprocess on port 0, once per session),
a fresh SQLite file per test, and a helper that runs the CLI in a
subprocess (one Scrapy reactor per process)."""
from __future__ import annotations

import json
from contextlib import contextmanager
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory):
    """Chromium and jieba write to $HOME / temp: keep them in a temp dir."""
    home = tmp_path_factory.mktemp("home")
    old = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    yield home
    if old is not None:
        os.environ["HOME"] = old


@pytest.fixture(scope="session")
def sandbox():
    from crawler.sandbox import process
    proc, url = process.start()
    yield url
    process.stop(proc)


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "certwatch.db")


@pytest.fixture
def fresh_db(db_path):
    from pipelines import store
    db = store.connect(db_path)
    yield db
    db.close()


def run_cli(*args, input: str | bytes | None = None, timeout: float = 600, env: dict | None = None,
            check: bool = False) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "crawler.cli", *map(str, args)]
    proc = subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, cwd=ROOT,
                          env={**os.environ, **(env or {})},
                          text=not isinstance(input, bytes))
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_jsonl(path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


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
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
