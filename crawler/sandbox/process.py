"""Start and stop the sandbox as a subprocess (demo, tests, benchmarks)."""
from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager


class SandboxError(RuntimeError):
    pass


def start(seed: int | None = None, scale: int = 1, timeout: float = 30) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "crawler.cli", "sandbox", "--port", "0", "--scale", str(scale)]
    if seed is not None:
        cmd += ["--seed", str(seed)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    line = proc.stdout.readline()       # the server prints its address first
    if not line.startswith("http://"):
        proc.kill()
        err = proc.stderr.read()
        raise SandboxError(f"沙箱启动失败：{line.strip()} {err.strip()[-500:]}")
    return proc, line.strip().split()[0]


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def running(seed: int | None = None, scale: int = 1):
    proc, url = start(seed, scale)
    try:
        yield url
    finally:
        stop(proc)
