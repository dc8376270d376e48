"""Evidence files, the printable capture record and the escaped page source.

Captured pages are attacker-written: they are never served as live HTML.
Files are sent as downloads (or PNG for the screenshot) under a CSP that
forbids everything; the source view shows the decoded HTML escaped in <pre>.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from pipelines import evidence as evidence_mod
from pipelines import store
from reports.console import web

NAV: list = []
router = APIRouter()
VIEW_ROLES = web.ALL_ROLES
SOURCE_LIMIT = 2 * 1024 * 1024
LOCKED = "default-src 'none'; sandbox"
# The record is our own escaped HTML: its inline style and the screenshot only.
RECORD_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'; form-action 'none'"
MEDIA = {"screenshot": "image/png", "warc": "application/warc", "record": "text/html; charset=utf-8"}


def _file(db, evidence_id: int, kind: str) -> tuple[dict, str]:
    ev = store.get_evidence(db, evidence_id)
    for f in ev["files"]:
        if isinstance(f, dict) and f.get("kind") == kind:
            path = evidence_mod.file_path(store.evidence_dir(db), f.get("path") or "")
            if path is None:
                break
            return ev, path
    raise store.StoreError(f"证据 {evidence_id} 的文件 {kind} 不存在")


@router.get("/evidence/{evidence_id}/file/{kind}")
def evidence_file(evidence_id: int, kind: str, user: web.User = web.require_roles(*VIEW_ROLES),
                  db=Depends(web.get_db)):
    ev, path = _file(db, evidence_id, kind)
    headers = {"Content-Security-Policy": LOCKED}
    if kind == "screenshot":
        return FileResponse(path, media_type="image/png", headers=headers)
    ext = {"html": "html.txt", "raw": "bin", "warc": "warc.gz", "record": "record.html"}.get(kind, "bin")
    return FileResponse(path, media_type="application/octet-stream", headers=headers,
                        filename=f"evidence-{evidence_id}-{kind}.{ext}")


@router.get("/evidence/{evidence_id}/record")
def evidence_record(evidence_id: int, user: web.User = web.require_roles(*VIEW_ROLES),
                    db=Depends(web.get_db)):
    """The stored 网络在线提取 record (written by us, escaped, no script)."""
    ev, path = _file(db, evidence_id, "record")
    return FileResponse(path, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": RECORD_CSP})


@router.get("/evidence/{evidence_id}/source")
def evidence_source(request: Request, evidence_id: int, user: web.User = web.require_roles(*VIEW_ROLES),
                    db=Depends(web.get_db)):
    ev, path = _file(db, evidence_id, "html")
    with open(path, "rb") as fh:
        data = fh.read(SOURCE_LIMIT + 1)
    truncated = len(data) > SOURCE_LIMIT
    back = f"/finding/{ev['finding_id']}" if ev.get("finding_id") else f"/site/{ev['site_id']}"
    return web.render(request, "evidence_source.html", {
        "ev": ev, "source": data[:SOURCE_LIMIT].decode("utf-8", "replace"),
        "truncated": truncated, "back": back})
