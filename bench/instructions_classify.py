"""Instructions per classified listing, counted by valgrind (callgrind):
a figure that does not move with the host's load, unlike listings/s on a
shared virtual machine. For comparing two versions of the classifier.

    .venv/bin/python bench/instructions_classify.py [--n 2000] [--rules-only]

Needs valgrind (Debian: ``apt-get install valgrind``); ~1 minute for 2,000
listings. Loading runs uninstrumented; counting is switched on just for
the classify loop (``callgrind_control -i on``), after 300 warm-up calls.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def child(n: int, rules_only: bool) -> None:
    from pipelines.sales import classify
    options = {"text_model": None} if rules_only else {}
    from bench.bench_classify import generate
    items = generate(n)
    for title, text in items[:300]:
        classify(text + "。", title, **options)          # warm caches with other texts
    toggle = ["callgrind_control", "-i"]
    subprocess.run([*toggle, "on", str(os.getpid())], check=True, capture_output=True)
    for title, text in items:
        classify(text, title, **options)
    subprocess.run([*toggle, "off", str(os.getpid())], check=True, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rules-only", action="store_true", help="without the text model")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.n, args.rules_only)
        return
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        sys.exit("需要 valgrind（Debian：apt-get install valgrind）")
    with tempfile.TemporaryDirectory() as tmp:
        cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no",
               f"--callgrind-out-file={tmp}/callgrind.out", sys.executable, __file__, "--child",
               "--n", str(args.n)] + (["--rules-only"] if args.rules_only else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    m = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode or not m:
        sys.exit(proc.stderr[-2000:])
    total = int(m.group(1))
    print(f"listings: {args.n}{'  (rules only)' if args.rules_only else ''}")
    print(f"instructions per listing: {total / args.n:,.0f}")


if __name__ == "__main__":
    main()
