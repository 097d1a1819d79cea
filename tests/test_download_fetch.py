"""Fetching one URL: checksums, reuse, offline nodes, resume over HTTP Range, confirmation pages.

Files are served through ``file://`` URLs and a local HTTP server started by the
tests (:class:`download_helpers.LocalServer`), which can drop the connection
part-way, ignore Range requests, or imitate Google Drive's confirmation page.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator

import pytest
from download_helpers import (
    DRIVE_FLAVOURS,
    LocalServer,
    closed_port_url,
    no_proxies,  # noqa: F401 (an autouse fixture)
    payload,
    ranges_asked,
    sha256,
)

from alto.data.download import DownloadError, download, fetch
from alto.data.download.fetch import partial_paths
from alto.errors import DataError, InputError


@pytest.fixture
def server() -> Iterator[LocalServer]:
    with LocalServer() as running:
        yield running


def test_download_verifies_checksum_and_leaves_only_the_file(tmp_path, caplog):
    source = tmp_path / "src" / "blob.bin"
    source.parent.mkdir()
    source.write_bytes(payload())
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    with caplog.at_level(logging.INFO, logger="alto.data.download.fetch"):
        assert download(source.as_uri(), dest, digest.upper(), chunk_bytes=4096) == dest
    assert dest.read_bytes() == source.read_bytes()
    assert os.listdir(dest.parent) == ["blob.bin"]
    assert any("300.0 kB in" in message and "/s" in message for message in caplog.messages)


def test_bad_checksum_names_both_digests_and_removes_the_download(tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(payload())
    actual = hashlib.sha256(source.read_bytes()).hexdigest()
    expected = "ab" * 32
    dest = tmp_path / "dl" / "blob.bin"
    with pytest.raises(DataError) as info:
        download(source.as_uri(), dest, expected)
    message = str(info.value)
    assert expected in message and actual in message and str(dest) in message
    assert os.listdir(dest.parent) == []


def test_existing_download_is_reused_and_a_wrong_one_replaced(tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(payload())
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"truncated")
    download(source.as_uri(), dest, digest)
    assert dest.read_bytes() == source.read_bytes()
    os.utime(dest, ns=(10**9, 10**9))
    source.unlink()
    for expected in (digest, None):
        download(source.as_uri(), dest, expected, offline=True)
        assert dest.stat().st_mtime_ns == 10**9
    with pytest.raises(DownloadError, match="downloads are off"):
        download(source.as_uri(), tmp_path / "dl" / "other.bin", offline=True)


def test_network_errors_say_where_to_put_the_file(tmp_path):
    dest = tmp_path / "dl" / "archive.zip"
    for url in (closed_port_url(), (tmp_path / "missing.zip").as_uri()):
        with pytest.raises(DownloadError) as info:
            download(url, dest, connect_timeout=2.0)
        assert url in str(info.value) and str(dest) in str(info.value)
        assert not dest.parent.exists() or os.listdir(dest.parent) == []


def test_a_hanging_connection_gives_up_after_the_connect_timeout(tmp_path, monkeypatch):
    released = threading.Event()

    def never_connects(address, timeout=None):
        released.wait(30)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", never_connects)
    try:
        with pytest.raises(DownloadError, match=r"within 0\.2 s"):
            download("https://example.org/archive.zip", tmp_path / "archive.zip", connect_timeout=0.2)
    finally:
        released.set()
    assert not (tmp_path / "archive.zip").exists()


@pytest.mark.parametrize(("url", "digest"), [("s3://bucket/x.zip", None), ("file:///x", "abc")])
def test_bad_download_arguments(tmp_path, url, digest):
    with pytest.raises(InputError):
        download(url, tmp_path / "x.zip", digest)


# ----------------------------------------------------------------------------- resume


def test_a_dropped_transfer_resumes_from_its_bytes_with_if_range(tmp_path, server: LocalServer):
    data = payload(400_000, seed=1)
    url = server.serve("big.zip", data, drop_after=150_000)
    dest = tmp_path / "dl" / "big.zip"
    with pytest.raises(DownloadError, match="run it again to continue"):
        download(url, dest, sha256(data), chunk_bytes=16_384)
    partial, record = partial_paths(dest)
    assert not dest.exists() and 0 < partial.stat().st_size < len(data)
    assert json.loads(record.read_text()) == {"url": url, "length": len(data), "validator": '"v1"'}
    kept = partial.stat().st_size

    assert fetch(url, dest, sha256(data)).sha256 == sha256(data)
    assert dest.read_bytes() == data
    assert ranges_asked(server, "big.zip") == [None, f"bytes={kept}-"]
    assert server.requests[-1].headers["If-Range"] == '"v1"'
    assert os.listdir(dest.parent) == ["big.zip"]


def test_a_server_ignoring_range_restarts_cleanly(tmp_path, server: LocalServer):
    data = payload(200_000, seed=2)
    url = server.serve("plain.bin", data, ranges=False, drop_after=90_000)
    dest = tmp_path / "plain.bin"
    with pytest.raises(DownloadError):
        download(url, dest, chunk_bytes=8192)
    assert download(url, dest, sha256(data)) == dest
    assert dest.read_bytes() == data
    assert ranges_asked(server, "plain.bin")[1].startswith("bytes=")


def test_a_changed_file_is_not_appended_to(tmp_path, server: LocalServer):
    """If-Range with the old ETag: the server sends the whole new file, which replaces the partial one."""
    old, new = payload(100_000, seed=3), payload(120_000, seed=4)
    url = server.serve("moving.bin", old, drop_after=40_000)
    dest = tmp_path / "moving.bin"
    with pytest.raises(DownloadError):
        download(url, dest)
    server.serve("moving.bin", new, etag='"v2"')
    assert download(url, dest, sha256(new)) == dest
    assert dest.read_bytes() == new


def test_a_partial_file_of_another_url_is_discarded(tmp_path, server: LocalServer):
    data = payload(50_000, seed=5)
    url = server.serve("a.bin", data)
    dest = tmp_path / "a.bin"
    partial, record = partial_paths(dest)
    partial.write_bytes(b"junk from elsewhere")
    record.write_text(json.dumps({"url": url + "?other", "length": len(data), "validator": '"v1"'}))
    assert download(url, dest, sha256(data)) == dest
    assert dest.read_bytes() == data
    assert ranges_asked(server, "a.bin") == [None]


def test_a_range_past_the_end_starts_again_from_zero(tmp_path, server: LocalServer):
    """A partial file as long as the record says: the server refuses the range (416)."""
    data = payload(30_000, seed=6)
    url = server.serve("done.bin", data)
    dest = tmp_path / "done.bin"
    partial, record = partial_paths(dest)
    partial.write_bytes(data)
    record.write_text(json.dumps({"url": url, "length": len(data), "validator": '"v1"'}))
    assert download(url, dest, sha256(data)) == dest
    assert dest.read_bytes() == data
    assert ranges_asked(server, "done.bin") == [f"bytes={len(data)}-", None]


# ----------------------------------------------------------------------------- HTML answers


@pytest.mark.parametrize("flavour", DRIVE_FLAVOURS)
def test_a_drive_style_confirmation_page_is_followed(tmp_path, server: LocalServer, flavour: str):
    data = payload(80_000, seed=7)
    url = server.serve("uc", data, drive=flavour) + "?export=download&id=17AH"
    dest = tmp_path / "weights.pt"
    assert download(url, dest, sha256(data)) == dest
    assert dest.read_bytes() == data
    assert len(server.requests) == 2


def test_an_html_error_page_is_refused_saying_what_came_back(tmp_path, server: LocalServer):
    page = b"<!DOCTYPE html><html><head><title>Quota exceeded</title></head><body>Too many users</body></html>"
    url = server.serve("uc", page, html=True)
    dest = tmp_path / "weights.pt"
    with pytest.raises(DownloadError) as info:
        download(url, dest)
    message = str(info.value)
    assert "HTML page titled 'Quota exceeded'" in message and "text/html" in message
    assert str(dest) in message
    assert os.listdir(tmp_path) == []


def test_an_html_file_over_file_url_is_refused(tmp_path):
    served = tmp_path / "published.pt"
    served.write_bytes(b"\n  <html><body>Sign in to continue</body></html>")
    with pytest.raises(DownloadError, match="HTML page"):
        download(served.as_uri(), tmp_path / "dl" / "published.pt")
