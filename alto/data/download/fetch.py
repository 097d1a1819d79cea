"""Fetch one URL into one file: verified, resumable, and never half-written.

:func:`download` streams ``http(s)``, ``ftp`` or ``file://`` URLs into a partial
file beside the destination and renames it into place only once it is complete
and, when a SHA-256 is given, verified. Beside the partial file a small JSON
record keeps the URL, the expected length and the server's validator (ETag or
Last-Modified); a later run of the same download continues from the bytes it has
with an HTTP ``Range`` request (guarded by ``If-Range``), and starts from zero
when the server ignores the range, the validator changed, or the record belongs
to another URL. The digest always covers the whole file.

Some hosts (Google Drive) answer a large file with an HTML page asking to
confirm the download. Such a page is recognised by its content (a form with a
``confirm`` field, a link with ``confirm=``, or a ``download_warning`` cookie),
whatever the host, and the confirmed request is sent instead. Any other HTML
answer is refused with an error that says what came back.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import http.cookiejar
import json
import logging
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import IO, Any

from tqdm import tqdm

from alto import __version__
from alto.data.download.files import CHUNK_BYTES, format_bytes, remove_stale_siblings, sha256_file
from alto.errors import DataError, InputError
from alto.io import atomic_write

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT_S",
    "DEFAULT_READ_TIMEOUT_S",
    "PARTIAL_SUFFIX",
    "DownloadError",
    "Fetched",
    "download",
    "fetch",
    "partial_paths",
]

logger = logging.getLogger(__name__)

#: Seconds allowed to open a connection (DNS and TCP) before a download gives up.
#: Short on purpose: an offline cluster node must fail within seconds, not minutes.
DEFAULT_CONNECT_TIMEOUT_S = 10.0

#: Seconds a single read of an open connection may stall before the download fails.
DEFAULT_READ_TIMEOUT_S = 120.0

#: Seconds between two progress messages of a running download (when not on a terminal).
PROGRESS_INTERVAL_S = 10.0

#: Suffix of the partial file kept beside the destination while downloading.
PARTIAL_SUFFIX = ".part"
#: Suffix (after the partial file's name) of the JSON record that makes it resumable.
RECORD_SUFFIX = ".json"

#: Confirmation pages followed at most per download (Drive asks once).
MAX_CONFIRMATIONS = 2
#: Bytes of an HTML answer read to look for a confirmation form.
HTML_READ_BYTES = 1 << 20
#: Leading bytes shown in an error about an unexpected answer.
SHOWN_BYTES = 60
#: Leading bytes that identify an HTML document.
_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<!--")
#: Name prefix of the cookie by which Drive's older flow passes its confirmation token.
_DRIVE_COOKIE_PREFIX = "download_warning"

#: HTTP status of a partial answer to a Range request, and of a range the server refuses.
_PARTIAL_CONTENT = 206
_RANGE_NOT_SATISFIABLE = 416

#: URL schemes that go over the network (and get a connection probe first).
_NETWORK_SCHEMES = {"http": 80, "https": 443, "ftp": 21}
_SUPPORTED_SCHEMES = (*_NETWORK_SCHEMES, "file")


class DownloadError(DataError):
    """A download failed for a reason outside the file (network, server, offline node).

    ``url``, ``dest`` and ``reason`` are kept so that callers can rephrase the advice.
    """

    def __init__(self, url: str, dest: Path, reason: str):
        self.url, self.dest, self.reason = url, dest, reason
        super().__init__(
            f"could not download {url}: {reason}. If this machine has no internet access (a "
            f"cluster login or compute node, for example), fetch that file on another machine "
            f"and put it at {dest}; a file found there is used instead of downloading"
        )


@dataclass(frozen=True)
class Fetched:
    """A file in place: its path and, when it was computed, its SHA-256."""

    path: Path
    sha256: str | None


def partial_paths(dest: Path) -> tuple[Path, Path]:
    """The partial file of a running download of ``dest`` and its resume record."""
    partial = dest.with_name(f".{dest.name}{PARTIAL_SUFFIX}")
    return partial, partial.with_name(partial.name + RECORD_SUFFIX)


def download(url: str, dest: str | os.PathLike[str], sha256: str | None = None, **options: Any) -> Path:
    """Download ``url`` to ``dest`` unless it is already there; return ``dest``.

    An existing ``dest`` is always a whole file and is reused (re-downloaded only
    when its checksum is wrong). Network failures, or a needed download when
    ``offline``, raise :class:`DownloadError` saying where to put the file by hand.
    ``options`` are those of :func:`fetch` (``connect_timeout``, ``read_timeout``,
    ``chunk_bytes``, ``offline``).
    """
    return fetch(url, dest, sha256, **options).path


def fetch(
    url: str,
    dest: str | os.PathLike[str],
    sha256: str | None = None,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT_S,
    read_timeout: float = DEFAULT_READ_TIMEOUT_S,
    chunk_bytes: int = CHUNK_BYTES,
    offline: bool = False,
) -> Fetched:
    """:func:`download`, also returning the file's SHA-256 when it was computed."""
    dest = Path(dest)
    expected = normalise_digest(sha256)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in _SUPPORTED_SCHEMES:
        raise InputError(f"cannot download {url!r}: expected a URL starting with one of "
                         f"{', '.join(s + '://' for s in _SUPPORTED_SCHEMES)}")
    if dest.is_file():
        if expected is None:
            logger.info("%s is already there: not downloading it again", dest)
            return Fetched(dest, None)
        actual = sha256_file(dest, chunk_bytes)
        if actual == expected:
            logger.info("%s is already there with the expected sha256", dest)
            return Fetched(dest, actual)
        logger.warning("%s has sha256 %s instead of %s: downloading it again", dest, actual, expected)
    if offline:
        raise DownloadError(url, dest, "downloads are off")
    partial, record = partial_paths(dest)
    remove_stale_siblings(dest, f".{dest.name}.", keep=(partial, record))
    _check_reachable(url, dest, connect_timeout)
    logger.info("downloading %s to %s", url, dest)
    actual = _Transfer(url, dest, read_timeout, chunk_bytes).run()
    if expected is not None and actual != expected:
        partial.unlink(missing_ok=True)
        record.unlink(missing_ok=True)
        raise DataError(
            f"checksum mismatch for {dest} (from {url}): expected sha256 {expected}, "
            f"got {actual}; the download was discarded"
        )
    os.replace(partial, dest)
    record.unlink(missing_ok=True)
    logger.info("saved %s (sha256 %s)", dest, actual)
    return Fetched(dest, actual)


def normalise_digest(sha256: str | None) -> str | None:
    """``sha256`` in lower case, or ``None``; anything but 64 hex digits is an error."""
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise InputError(f"sha256 {sha256!r} is not a SHA-256 digest (64 hexadecimal digits)")
    return digest


def _check_reachable(url: str, dest: Path, timeout: float) -> None:
    """Fail within ``timeout`` seconds when the URL's host (or proxy) cannot be reached.

    ``urlopen``'s timeout does not bound the DNS lookup, which on an offline node can
    hang far longer; the connection attempt therefore runs in a daemon thread.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in _NETWORK_SCHEMES or not parts.hostname:
        return
    host, port = parts.hostname, parts.port or _NETWORK_SCHEMES[parts.scheme]
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        proxy_parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host = proxy_parts.hostname or host
        port = proxy_parts.port or _NETWORK_SCHEMES["http"]
    failures: list[OSError] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError as err:
            failures.append(err)

    worker = threading.Thread(target=attempt, name=f"probe-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise DownloadError(url, dest, f"no connection to {host}:{port} within {timeout:g} s")
    if failures:
        raise DownloadError(url, dest, f"cannot connect to {host}:{port} ({failures[0]})")


# --------------------------------------------------------------------------- transfer


@dataclass(frozen=True)
class _Resume:
    """Where an earlier, interrupted run of the same download stopped."""

    offset: int
    length: int | None
    validator: str | None


class _Transfer:
    """One download of ``url`` into the partial file of ``dest``, resumed when possible."""

    def __init__(self, url: str, dest: Path, read_timeout: float, chunk_bytes: int) -> None:
        self.url, self.dest = url, dest
        self.read_timeout, self.chunk_bytes = read_timeout, chunk_bytes
        self.partial, self.record = partial_paths(dest)
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))

    def run(self) -> str:
        """Fill the partial file; return the SHA-256 of the whole file."""
        resume = self._resume_point()
        with self._open(resume) as (response, resume):
            return self._receive(response, resume)

    def _resume_point(self) -> _Resume | None:
        """The state of an earlier run of this download, if its partial file can be continued."""
        if not (self.partial.is_file() and self.record.is_file()):
            self._discard()
            return None
        try:
            info = json.loads(self.record.read_text())
        except (OSError, ValueError):
            info = {}
        offset = self.partial.stat().st_size
        length = info.get("length")
        if info.get("url") != self.url or offset == 0 or (length is not None and offset > length):
            logger.info("%s: the partial download belongs to another URL or size; starting from zero", self.dest)
            self._discard()
            return None
        return _Resume(offset, length, info.get("validator"))

    def _discard(self) -> None:
        self.partial.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)

    def _fail(self, reason: str) -> DownloadError:
        return DownloadError(self.url, self.dest, reason)

    @contextlib.contextmanager
    def _open(self, resume: _Resume | None) -> Iterator[tuple[Any, _Resume | None]]:
        """Open the URL (following a download confirmation page); a range when resuming.

        Yields the response and the resume point it continues, or ``None`` when the
        answer is the whole file (the server ignored the range, or it changed).
        """
        headers = {"User-Agent": f"alto/{__version__}"}
        if resume is not None:
            headers["Range"] = f"bytes={resume.offset}-"
            if resume.validator:
                headers["If-Range"] = resume.validator
        url = self.url
        for _ in range(MAX_CONFIRMATIONS + 1):
            response = self._request(url, headers)
            if response is None:  # the server refused the range: start again from zero
                self._discard()
                with self._open(None) as opened:
                    yield opened
                return
            with response:
                status = getattr(response, "status", None)
                if status == _PARTIAL_CONTENT and resume is not None:
                    if self._continues(response, resume):
                        logger.info("%s: resuming after %s", self.dest.name, format_bytes(resume.offset))
                        yield response, resume
                        return
                    response.close()
                    self._discard()
                    with self._open(None) as opened:
                        yield opened
                    return
                head = self._read(response, self.chunk_bytes)
                content_type = response.headers.get("Content-Type", "") or ""
                if not _is_html(content_type, head):
                    if resume is not None:
                        logger.info("%s: the server sent the whole file again; starting from zero", self.dest.name)
                    yield _Prefixed(response, head), None
                    return
                page = head + self._read(response, HTML_READ_BYTES)
                url = self._confirmation(url, page, content_type)
        raise self._fail(f"the server kept answering with a confirmation page after {MAX_CONFIRMATIONS} "
                         "confirmations")

    def _read(self, response: Any, size: int, received: int = 0) -> bytes:
        """Up to ``size`` bytes of ``response``; a broken connection is a :class:`DownloadError`."""
        try:
            return response.read(size)
        except (OSError, http.client.HTTPException) as err:
            raise self._fail(f"the transfer broke after {format_bytes(received)} ({err}); "
                             "run it again to continue from there") from err

    def _request(self, url: str, headers: Mapping[str, str]) -> Any | None:
        """Open ``url``; ``None`` when the server refused the requested range (416)."""
        try:
            return self.opener.open(urllib.request.Request(url, headers=dict(headers)), timeout=self.read_timeout)
        except urllib.error.HTTPError as err:
            if err.code == _RANGE_NOT_SATISFIABLE and "Range" in headers:
                return None
            raise self._fail(f"the server answered {err.code} {err.reason}") from err
        except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
            reason = getattr(err, "reason", err)
            raise self._fail(f"cannot open it ({reason})") from err

    def _continues(self, response: Any, resume: _Resume) -> bool:
        """Whether a 206 answer is the rest of the same file, from ``resume.offset`` on."""
        content_range = response.headers.get("Content-Range", "")
        unit, _, spec = content_range.partition(" ")
        span, _, total = spec.partition("/")
        first = span.partition("-")[0]
        if unit != "bytes" or not first.isdigit() or int(first) != resume.offset:
            return False
        return resume.length is None or (total.isdigit() and int(total) == resume.length)

    def _confirmation(self, url: str, page: bytes, content_type: str) -> str:
        """The confirmed download URL from a confirmation page, or an error saying what came back."""
        scan = _PageScan()
        scan.feed(page.decode("utf-8", "replace"))
        for action, fields in scan.forms:
            if "confirm" in fields:
                target = urllib.parse.urljoin(url, action or url)
                return f"{target.split('?', 1)[0]}?{urllib.parse.urlencode(fields)}"
        for href in scan.links:
            if "confirm=" in href:
                return urllib.parse.urljoin(url, href)
        token = next((c.value for c in self.cookies if c.name.startswith(_DRIVE_COOKIE_PREFIX)), None)
        if token:
            parts = urllib.parse.urlsplit(url)
            query = urllib.parse.urlencode([*urllib.parse.parse_qsl(parts.query), ("confirm", token)])
            return urllib.parse.urlunsplit(parts._replace(query=query))
        title = f" titled {scan.title.strip()!r}" if scan.title.strip() else ""
        raise self._fail(
            f"the server sent an HTML page{title} ({content_type or 'no content type'}, starting "
            f"{page[:SHOWN_BYTES]!r}) instead of the file: the link may need a login, have expired or "
            f"hit a download quota; open it in a browser to see"
        )

    def _receive(self, response: Any, resume: _Resume | None) -> str:
        """Append (resuming) or write the body to the partial file; return the whole file's digest."""
        digest = hashlib.sha256()
        if resume is None:
            length = _content_length(response)
            validator = response.headers.get("ETag") or response.headers.get("Last-Modified")
            with atomic_write(self.record) as handle:
                json.dump({"url": self.url, "length": length, "validator": validator}, handle)
            received, mode = 0, "wb"
        else:
            length, received, mode = resume.length, resume.offset, "ab"
            with open(self.partial, "rb") as done:
                while chunk := done.read(self.chunk_bytes):
                    digest.update(chunk)
        progress = _Progress(self.dest.name, length, received)
        with open(self.partial, mode) as out:
            received = self._copy(response, out, digest, received, progress)
        if length is not None and received != length:
            raise self._fail(f"received {received} of {length} bytes; run it again to continue from there")
        progress.finish(received)
        return digest.hexdigest()

    def _copy(self, response: Any, out: IO[bytes], digest: Any, received: int, progress: _Progress) -> int:
        started = received
        try:
            while True:
                chunk = self._read(response, self.chunk_bytes, received)
                if not chunk:
                    return received
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(received)
        finally:
            progress.close()
            if received == 0 and started == 0:
                out.close()
                self._discard()


def _content_length(response: Any) -> int | None:
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def _is_html(content_type: str, head: bytes) -> bool:
    """Whether an answer is an HTML page (by its content type or its first bytes)."""
    return content_type.split(";")[0].strip().lower() == "text/html" or head.lstrip()[:16].lower().startswith(
        _HTML_MARKERS
    )


class _Prefixed:
    """A response whose first bytes were already read (to look at them) and are given back first."""

    def __init__(self, response: Any, head: bytes) -> None:
        self.response, self.head = response, head
        self.headers = response.headers

    def read(self, size: int) -> bytes:
        if self.head:
            head, self.head = self.head, b""
            return head
        return self.response.read(size)


class _PageScan(HTMLParser):
    """The title, forms (action -> fields) and link targets of an HTML page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.forms: list[tuple[str, dict[str, str]]] = []
        self.links: list[str] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1][1][values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("href"):
            self.links.append(values["href"])
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


class _Progress:
    """A progress bar with rate and ETA on a terminal; log lines every ``interval`` s otherwise."""

    def __init__(self, label: str, total: int | None, received: int = 0,
                 interval: float = PROGRESS_INTERVAL_S) -> None:
        self.label, self.total, self.interval = label, total, interval
        self.first = received
        self.start = self.last = time.monotonic()
        self.bar = (tqdm(total=total, initial=received, unit="B", unit_scale=True, unit_divisor=1000, desc=label,
                         file=sys.stderr, leave=False) if sys.stderr.isatty() else None)

    def _rate(self, received: int, now: float) -> float:
        return (received - self.first) / max(now - self.start, 1e-9)

    def update(self, received: int) -> None:
        if self.bar is not None:
            self.bar.update(received - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = self._rate(received, now)
        if self.total:
            eta = f", {(self.total - received) / rate:.0f} s left" if rate > 0 else ""
            share = f" of {format_bytes(self.total)} ({100.0 * received / self.total:.1f}%)"
        else:
            eta = share = ""
        logger.info("%s: %s%s at %s/s%s", self.label, format_bytes(received), share, format_bytes(rate), eta)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def finish(self, received: int) -> None:
        now = time.monotonic()
        logger.info("%s: %s in %.1f s (%s/s)", self.label, format_bytes(received - self.first),
                    now - self.start, format_bytes(self._rate(received, now)))
