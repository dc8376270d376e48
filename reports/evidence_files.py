"""Evidence rows as files on disk: the latest good capture of an item and
its files, resolved safely inside the evidence folder."""
from __future__ import annotations

from pipelines import store
from pipelines.evidence import file_path


def latest_capture(db, finding_id: int | None = None, site_id: int | None = None) -> dict | None:
    """The newest capture with status ok and at least one file, or None."""
    return latest_good(store.evidence_for(db, finding_id=finding_id, site_id=site_id))


def latest_good(rows: list[dict]) -> dict | None:
    """Of one item's evidence rows (oldest first), the newest with status ok
    and at least one file."""
    good = [r for r in rows if (r.get("status") or "ok") == "ok" and r.get("files")]
    return good[-1] if good else None


def file_of(capture: dict | None, kind: str) -> dict | None:
    if not capture:
        return None
    for f in capture.get("files") or []:
        if isinstance(f, dict) and f.get("kind") == kind and f.get("path"):
            return f
    return None


def resolve(db, relpath: str) -> str | None:
    """Absolute path of an evidence file, None when it would leave the folder."""
    return file_path(store.evidence_dir(db), str(relpath))
