"""Files derived from installed libraries' data, kept between runs in the
temporary folder (what jieba does with its own cache): read back only when
this user owns them, written atomically, never required (a missing,
foreign or broken file is rebuilt from the library)."""
from __future__ import annotations

import logging
import os
import tempfile

log = logging.getLogger(__name__)


def _uid() -> int:
    return os.getuid() if hasattr(os, "getuid") else 0


def path(name: str) -> str:
    """The file ``name`` of this user (names carry the library's version)."""
    return os.path.join(tempfile.gettempdir(), f"certwatch-{_uid()}-{name}")


def open_file(name: str):
    """The file open for reading (binary), or None when it is missing or not this user's."""
    try:
        fh = open(path(name), "rb")
    except OSError:
        return None
    if os.fstat(fh.fileno()).st_uid != _uid():
        fh.close()
        return None
    return fh


def read(name: str) -> bytes | None:
    """The file's bytes, or None when it is missing or not this user's."""
    fh = open_file(name)
    if fh is None:
        return None
    with fh:
        try:
            return fh.read()
        except OSError:
            return None


def write(name: str, data: bytes) -> None:
    """Write the file atomically; a failure is logged, not raised."""
    p = path(name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=".certwatch-", dir=os.path.dirname(p))
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, p)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError as exc:
        log.warning("缓存文件 %s 无法写入：%s", p, exc)
