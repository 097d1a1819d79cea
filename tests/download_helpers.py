"""Test helpers for downloads: payloads, archives, and a local HTTP server.

:class:`LocalServer` serves files on 127.0.0.1 the ways real hosts do: with or
without HTTP Range support, dropping the connection part-way through, behind a
Google-Drive-style confirmation page (the current form, the older link, or the
older cookie), or answering with an HTML error page. It records every request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
import threading
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from alto.data.download import DATASETS, SHAPENET_CATEGORIES

#: Drive's flavours of confirmation: a form with confirm/uuid fields, a link with confirm=, a cookie.
DRIVE_FLAVOURS = ("form", "link", "cookie")
_DRIVE_TOKEN = "Xy12"
_DRIVE_UUID = "0f8e-uuid"
#: How often the server thread checks for shutdown (short: every test stops one).
POLL_INTERVAL_S = 0.02


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 must not go through a proxy of the environment."""
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)


def payload(size: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def closed_port_url(name: str = "archive.zip") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def zip_archive(path: Path, entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def shapenet_entries(with_metadata: bytes | None = None, synsets: tuple[str, ...] = tuple(SHAPENET_CATEGORIES)):
    entries = {}
    for synset in synsets:
        entries[f"ShapeNet/{synset}/test.lst"] = b"model_a\n"
        entries[f"ShapeNet/{synset}/model_a/pointcloud.npz"] = payload(64, seed=len(entries))
    if with_metadata is not None:
        entries["ShapeNet/metadata.yaml"] = with_metadata
    return entries


def shapenet_source(url: str):
    return dataclasses.replace(DATASETS["shapenet"], url=url)


@dataclass
class Served:
    """How one path is answered."""

    data: bytes
    ranges: bool = True
    drop_after: int | None = None  # close the connection after this many body bytes (once)
    etag: str | None = '"v1"'
    drive: str | None = None  # one of DRIVE_FLAVOURS: answer with a confirmation page first
    html: bool = False  # answer with ``data`` as an HTML page (status 200)
    content_type: str = "application/octet-stream"
    dropped: bool = field(default=False, init=False)


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


class LocalServer:
    """An HTTP server on 127.0.0.1 for one test; use as a context manager."""

    def __init__(self) -> None:
        self.routes: dict[str, Served] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep the test output clean
                return

            def do_GET(self) -> None:
                server.handle(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": POLL_INTERVAL_S},
                                       daemon=True)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return f"{self.origin}/{path.lstrip('/')}"

    def serve(self, path: str, data: bytes, **how: object) -> str:
        """Answer ``/path`` with ``data`` (see :class:`Served` for ``how``); return its URL."""
        self.routes["/" + path.lstrip("/")] = Served(data, **how)
        return self.url(path)

    # ------------------------------------------------------------------ answering
    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urllib.parse.urlsplit(handler.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        self.requests.append(Request(parts.path, query, dict(handler.headers.items())))
        confirmed = parts.path.endswith("/confirmed")
        served = self.routes.get(parts.path.removesuffix("/confirmed") if confirmed else parts.path)
        if served is None:
            self._send(handler, 404, b"<html><title>404 Not Found</title></html>", "text/html")
        elif served.html:
            self._send(handler, 200, served.data, "text/html; charset=utf-8")
        elif served.drive and not self._drive_confirmed(served.drive, parts.path, query, handler, confirmed):
            self._drive_page(served.drive, parts.path, query, handler)
        else:
            self._send_file(handler, served)

    def _drive_confirmed(self, flavour: str, path: str, query: dict[str, str], handler: BaseHTTPRequestHandler,
                         confirmed: bool) -> bool:
        if flavour == "form":
            return confirmed and query.get("confirm") == "t" and query.get("uuid") == _DRIVE_UUID
        cookie = handler.headers.get("Cookie", "")
        if flavour == "cookie" and f"download_warning_1={_DRIVE_TOKEN}" not in cookie:
            return False
        return query.get("confirm") == _DRIVE_TOKEN

    def _drive_page(self, flavour: str, path: str, query: dict[str, str], handler: BaseHTTPRequestHandler) -> None:
        title = "<title>Google Drive - Virus scan warning</title>"
        if flavour == "form":
            inputs = "".join(f'<input type="hidden" name="{k}" value="{v}">' for k, v in
                             {"id": query.get("id", "x"), "export": "download", "confirm": "t",
                              "uuid": _DRIVE_UUID}.items())
            body = (f'<html><head>{title}</head><body><form id="download-form" '
                    f'action="{self.origin}{path}/confirmed" method="get">{inputs}'
                    f'<input type="submit" value="Download anyway"></form></body></html>')
        else:
            link = f"{path}?{urllib.parse.urlencode({**query, 'confirm': _DRIVE_TOKEN})}".replace("&", "&amp;")
            anchor = f'<a id="uc-download-link" href="{link}">Download anyway</a>' if flavour == "link" else ""
            body = f"<html><head>{title}</head><body>too large to scan {anchor}</body></html>"
        headers = {"Set-Cookie": f"download_warning_1={_DRIVE_TOKEN}; Path=/"} if flavour == "cookie" else {}
        self._send(handler, 200, body.encode(), "text/html; charset=utf-8", headers)

    def _send_file(self, handler: BaseHTTPRequestHandler, served: Served) -> None:
        data, start, status = served.data, 0, 200
        wanted = handler.headers.get("Range", "")
        if_range = handler.headers.get("If-Range")
        if served.ranges and wanted.startswith("bytes=") and (if_range is None or if_range == served.etag):
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            if start >= len(data):
                self._send(handler, 416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        body = data[start:]
        handler.send_response(status)
        handler.send_header("Content-Type", served.content_type)
        handler.send_header("Content-Length", str(len(body)))
        if served.etag:
            handler.send_header("ETag", served.etag)
        if served.ranges:
            handler.send_header("Accept-Ranges", "bytes")
        if status == 206:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        if served.drop_after is not None and not served.dropped and len(body) > served.drop_after:
            served.dropped = True
            handler.wfile.write(body[: served.drop_after])
            handler.wfile.flush()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.wfile.write(body)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)


def ranges_asked(server: LocalServer, path: str) -> list[str | None]:
    """The Range header of each request of ``path`` (``None`` where absent)."""
    return [r.headers.get("Range") for r in server.requests if r.path == "/" + path.lstrip("/")]

