"""bad.gongyou.cn: a forum mirror whose threads are hostile pages, for
tests of the crawler's defences (binary, empty, oversized, undecodable,
broken HTML, redirect loops, one good thread)."""
from __future__ import annotations

HOSTS = {"bad.gongyou.cn"}

THREADS = {
    "binary": "application/octet-stream",
    "empty": "text/html; charset=utf-8",
    "huge": "text/html; charset=utf-8",
    "badgbk": "text/html; charset=gbk",
    "broken": "text/html; charset=utf-8",
    "loop": "",
    "ok": "text/html; charset=utf-8",
}
# Bigger than the crawler's DOWNLOAD_MAXSIZE (crawler/settings.py).
HUGE_BYTES = 5 * 1024 * 1024


def handle(app, host: str, path: str, query: str):
    from crawler.sandbox.server import Response
    if path == "/search.php":
        links = "".join(f'<tr><td><a class="subject" href="/thread-{name}.html">{name}</a></td></tr>'
                        for name in THREADS)
        return Response(200, f'<html><body><table class="threads">{links}</table></body></html>')
    name = path.removeprefix("/thread-").removesuffix(".html")
    if name not in THREADS:
        return Response(404, "<h1>404</h1>")
    ctype = THREADS[name]
    if name == "binary":
        return Response(200, bytes(range(256)) * 64, ctype)
    if name == "empty":
        return Response(200, b"", ctype)
    if name == "huge":
        return Response(200, b"<html><body>" + b"x" * HUGE_BYTES + b"</body></html>", ctype)
    if name == "badgbk":
        return Response(200, b"<html><body><h1 class=subject>" + b"\xff\xfe\xfd" * 2000 + b"</h1></body></html>", ctype)
    if name == "broken":
        return Response(200, '<html><body><h1 class="subject">代办电工证<div class="post-content">不用考试 包过 <b><i>'
                             '微信 zb8888 <<<>>> </td></tr></table', ctype)
    if name == "loop":
        return Response(302, b"", "text/html", {"Location": "/thread-loop.html"})
    return Response(200, '<html><body><h1 class="subject">焊工证代办</h1><div class="post-content">'
                         '人不到场，先拿证后付款，微信 hg2024</div></body></html>', ctype)
