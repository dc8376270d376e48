"""Atomic file writes: every file certwatch writes appears whole or not at
all. The data goes to a temporary name in the same folder, is flushed to
disk, then renamed over the final name (``os.replace`` is atomic on one
file system); a crash or kill leaves the old file (or none) and at most a
stray ``.*.tmp`` beside it, never a half-written file under the final name.

This module is at the bottom layer (keywords/ imports nothing of ours) so
every part can use it: reports, CLI exports, labels, evidence files.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO, Iterator


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", encoding: str | None = None,
                newline: str | None = None) -> Iterator[IO]:
    """``with atomic_file(path, "w", encoding="utf-8") as fh: fh.write(...)``.
    The final name is replaced only when the block ends without error."""
    if mode not in ("w", "wb"):
        raise ValueError("atomic_file writes whole files: mode 'w' or 'wb'")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))    # must exist: a mistyped folder is an error
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path)[:80] + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None,
                       newline=newline if "b" not in mode else None) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write(path: str | os.PathLike, data: bytes | str, encoding: str = "utf-8") -> str:
    """Write ``data`` (bytes, or text in ``encoding``) to ``path`` atomically; returns the path."""
    with atomic_file(path, "wb") as fh:
        fh.write(data.encode(encoding) if isinstance(data, str) else data)
    return os.fspath(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
