"""Import a library without an optional dependency it loads on import and
certwatch never uses (sqlite-utils' numpy/pandas column types, jieba's
pkg_resources resource lookup, openpyxl's numpy number types): megabytes and tenths of a second of every
sweep's start-up (docs/benchmarks.md)."""
from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def without(*names: str):
    """Inside, ``import NAME`` raises ImportError for each name not yet
    imported (the library takes its fallback); nothing changes after."""
    blocked = [n for n in names if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None        # the import system's "not importable" mark
    try:
        yield
    finally:
        for name in blocked:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]


def openpyxl():
    """openpyxl without numpy and Pillow: numpy only adds its number types to
    what a cell accepts, and certwatch writes Python values (import 0.44 ->
    0.23 s CPU, the first spreadsheet of a command or a console process);
    Pillow only lets a sheet embed images, which no certwatch sheet does
    (another ~0.02 s)."""
    with without("numpy", "PIL"):
        import openpyxl as module
        import openpyxl.cell.cell      # noqa: F401  (every workbook needs it; keep it inside the block)
    return module


def yaml_load(stream):
    """``yaml.safe_load`` through libyaml's parser when PyYAML has it (the
    same documents for every YAML file certwatch ships, 0.15 -> 0.02 s CPU
    for all of them: profiles, keyword and rule files read at start-up)."""
    import yaml
    return yaml.load(stream, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
