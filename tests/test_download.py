"""Downloads, checksums, safe extraction and dataset installs, on archives built here.

Archives are served through ``file://`` URLs; unreachable servers are simulated
with a closed port on 127.0.0.1, which refuses connections at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import logging
import os
import re
import socket
import tarfile
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml

from alto.data.download import (
    CONVONET_CHECKPOINTS,
    DATASETS,
    INSTALL_STAMP,
    SHAPENET_CATEGORIES,
    DownloadError,
    add_download_arguments,
    download,
    extract,
    install_dataset,
    locate_dataset,
    read_install_stamp,
    run_download,
)
from alto.errors import DataError, InputError


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch):
    for key in list(os.environ):
        if key.lower().endswith("_proxy"):
            monkeypatch.delenv(key)


def _payload(size: int = 300_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def _closed_port_url(name: str = "archive.zip") -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/{name}"


def _zip(path: Path, entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
    return path


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    return info, io.BytesIO(data) if data else None


def _tar(path: Path, members) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, data)
    return path


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _shapenet_entries(with_metadata: bytes | None = None, synsets=tuple(SHAPENET_CATEGORIES)):
    entries = {}
    for synset in synsets:
        entries[f"ShapeNet/{synset}/test.lst"] = b"model_a\n"
        entries[f"ShapeNet/{synset}/model_a/pointcloud.npz"] = _payload(64, seed=len(entries))
    if with_metadata is not None:
        entries["ShapeNet/metadata.yaml"] = with_metadata
    return entries


def _shapenet_source(url: str):
    return dataclasses.replace(DATASETS["shapenet"], url=url)


# ----------------------------------------------------------------------------- download


def test_download_verifies_checksum_and_leaves_only_the_file(tmp_path, caplog):
    source = tmp_path / "src" / "blob.bin"
    source.parent.mkdir()
    source.write_bytes(_payload())
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    dest = tmp_path / "dl" / "blob.bin"
    with caplog.at_level(logging.INFO, logger="alto.data.download"):
        assert download(source.as_uri(), dest, digest.upper(), chunk_bytes=4096) == dest
    assert dest.read_bytes() == source.read_bytes()
    assert os.listdir(dest.parent) == ["blob.bin"]
    assert any("300.0 kB in" in message and "/s" in message for message in caplog.messages)


def test_bad_checksum_names_both_digests_and_removes_the_download(tmp_path):
    source = tmp_path / "blob.bin"
    source.write_bytes(_payload())
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
    source.write_bytes(_payload())
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
    for url in (_closed_port_url(), (tmp_path / "missing.zip").as_uri()):
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


# ----------------------------------------------------------------------------- extract


def test_zip_with_escaping_entries_is_refused_before_writing(tmp_path):
    outside = tmp_path / "abs_evil.txt"
    archive = _zip(tmp_path / "evil.zip", {
        "data/ok.txt": b"fine",
        "../evil.txt": b"escape",
        str(outside): b"absolute",
    })
    before = _tree(tmp_path)
    with pytest.raises(DataError) as info:
        extract(archive, tmp_path / "out" / "target")
    assert str(info.value).startswith(f"refusing to extract {archive}")
    assert "'../evil.txt'" in str(info.value) and repr(str(outside)) in str(info.value)
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    ("members", "culprit"),
    [
        ([_tar_member("data/link", tarfile.SYMTYPE, link="../../outside"),
          _tar_member("data/link/payload", data=b"x")], "data/link"),
        ([_tar_member("data/abs", tarfile.SYMTYPE, link="/etc")], "data/abs"),
        ([_tar_member("data/inner", tarfile.SYMTYPE, link="sub"),
          _tar_member("data/inner/payload", data=b"x")], "data/inner/payload"),
        ([_tar_member("data/sub/a.txt", data=b"x"),
          _tar_member("data/sub", tarfile.SYMTYPE, link="../elsewhere")], "data/sub"),
        ([_tar_member("data/hard", tarfile.LNKTYPE, link="../../etc/passwd")], "data/hard"),
        ([_tar_member("data/tty", tarfile.CHRTYPE)], "data/tty"),
    ],
    ids=["symlink-out", "symlink-absolute", "through-symlink", "symlink-over-folder",
         "hardlink-out", "device"],
)
def test_tar_with_unsafe_entries_is_refused_before_writing(tmp_path, members, culprit):
    archive = _tar(tmp_path / "evil.tar.gz", [_tar_member("data/ok.txt", data=b"fine"), *members])
    before = _tree(tmp_path)
    with pytest.raises(DataError, match="^refusing to extract .*" + re.escape(f"'{culprit}'")):
        extract(archive, tmp_path / "target")
    assert _tree(tmp_path) == before


def test_zip_subfolder_is_selected(tmp_path):
    archive = _zip(tmp_path / "a.zip", {
        "ShapeNet/02691156/test.lst": b"m1\n",
        "ShapeNet/02691156/m1/pointcloud.npz": b"npz",
        "other/junk.txt": b"junk",
    })
    target = extract(archive, tmp_path / "ShapeNet", subdir="ShapeNet")
    assert _tree(target) == {"02691156", "02691156/test.lst", "02691156/m1",
                             "02691156/m1/pointcloud.npz"}
    assert (target / "02691156" / "test.lst").read_bytes() == b"m1\n"


def test_tar_strip_and_select_keep_internal_links(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [
        _tar_member("release-1/ShapeNet/a/b.txt", data=b"payload"),
        _tar_member("release-1/ShapeNet/a/latest", tarfile.SYMTYPE, link="b.txt"),
        _tar_member("release-1/ShapeNet/a/copy", tarfile.LNKTYPE, link="release-1/ShapeNet/a/b.txt"),
        _tar_member("release-1/README", data=b"readme"),
    ])
    stripped = extract(archive, tmp_path / "one", strip_components=1, subdir="ShapeNet")
    selected = extract(archive, tmp_path / "two", subdir="release-1/ShapeNet")
    for target in (stripped, selected):
        assert _tree(target) == {"a", "a/b.txt", "a/latest", "a/copy"}
        assert (target / "a" / "latest").is_symlink()
        assert (target / "a" / "latest").read_bytes() == b"payload"
        assert (target / "a" / "copy").read_bytes() == b"payload"


def test_hard_link_to_a_file_outside_the_selection_is_refused(tmp_path):
    archive = _tar(tmp_path / "a.tar.gz", [
        _tar_member("pkg/data/x.txt", data=b"x"),
        _tar_member("pkg/other/y.txt", tarfile.LNKTYPE, link="pkg/data/x.txt"),
    ])
    with pytest.raises(DataError, match=re.escape("'pkg/other/y.txt' is a hard link")):
        extract(archive, tmp_path / "other", subdir="pkg/other")
    assert not (tmp_path / "other").exists()


def test_corrupt_member_leaves_no_target_and_no_partial_folder(tmp_path):
    archive = _zip(tmp_path / "pack.zip", {"pack/a.bin": b"A" * 5000, "pack/b.bin": b"B" * 5000},
                   compression=zipfile.ZIP_STORED)
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"B" * 5000) + 100] = ord("C")
    archive.write_bytes(bytes(raw))
    target = tmp_path / "out" / "pack"
    with pytest.raises(DataError, match=re.escape("'pack/b.bin'")):
        extract(archive, target, subdir="pack")
    assert not target.exists()
    assert os.listdir(tmp_path / "out") == []


def test_existing_target_is_kept_unless_replaced(tmp_path):
    archive = _zip(tmp_path / "a.zip", {"d/new.txt": b"new"})
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(DataError, match="already exists"):
        extract(archive, target, subdir="d")
    extract(archive, target, subdir="d", replace=True)
    assert _tree(target) == {"new.txt"}
    assert sorted(os.listdir(tmp_path)) == ["a.zip", "d"]


# ----------------------------------------------------------------------------- install


def test_install_writes_metadata_and_stamp_and_rerun_does_nothing(tmp_path):
    served = _zip(tmp_path / "served.zip", _shapenet_entries())
    source = _shapenet_source(served.as_uri())
    dest = tmp_path / "data" / "ShapeNet"
    archive = tmp_path / "downloads" / source.archive_name
    assert install_dataset(source, dest, archive=archive) == dest

    metadata = yaml.safe_load((dest / "metadata.yaml").read_text())
    assert metadata == {k: {"id": k, "name": v} for k, v in SHAPENET_CATEGORIES.items()}
    assert (dest / "02691156" / "model_a" / "pointcloud.npz").is_file()
    stamp = read_install_stamp(dest)
    assert stamp["sha256"] == hashlib.sha256(served.read_bytes()).hexdigest()
    assert stamp["url"] == served.as_uri()

    stamp_time = (dest / INSTALL_STAMP).stat().st_mtime_ns
    served.unlink()
    archive.unlink()
    assert install_dataset(source, dest, archive=archive) == dest
    assert (dest / INSTALL_STAMP).stat().st_mtime_ns == stamp_time
    assert not archive.exists()


def test_install_keeps_the_archive_metadata_and_can_remove_the_archive(tmp_path):
    own = b'{"02691156": {"id": "02691156", "name": "airplane,aeroplane,plane"}}\n'
    served = _zip(tmp_path / "served.zip", _shapenet_entries(with_metadata=own))
    source = _shapenet_source(served.as_uri())
    dest = tmp_path / "data" / "ShapeNet"
    install_dataset(source, dest, remove_archive=True)
    assert (dest / "metadata.yaml").read_bytes() == own
    assert sorted(os.listdir(dest.parent)) == ["ShapeNet"]


def test_install_rejects_an_archive_without_the_expected_folders(tmp_path):
    served = _zip(tmp_path / "served.zip", _shapenet_entries(synsets=("02691156",)))
    dest = tmp_path / "data" / "ShapeNet"
    with pytest.raises(DataError, match=re.escape("02828884/test.lst")):
        install_dataset(_shapenet_source(served.as_uri()), dest)
    assert sorted(os.listdir(dest.parent)) == ["dataset_small_v1.1.zip"]


def test_install_does_not_overwrite_an_incomplete_folder_unless_forced(tmp_path):
    served = _zip(tmp_path / "served.zip", _shapenet_entries())
    source = _shapenet_source(served.as_uri())
    dest = tmp_path / "data" / "ShapeNet"
    (dest / "02691156").mkdir(parents=True)
    (dest / "02691156" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="--force"):
        install_dataset(source, dest)
    assert (dest / "02691156" / "notes.txt").exists()
    install_dataset(source, dest, force=True)
    assert read_install_stamp(dest) is not None
    assert not (dest / "02691156" / "notes.txt").exists()


# ----------------------------------------------------------------------------- locate


def test_locate_accepts_a_dataset_unpacked_by_hand_without_network(tmp_path):
    dest = tmp_path / "ShapeNet"
    for name, data in _shapenet_entries().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    source = _shapenet_source(_closed_port_url())
    assert locate_dataset(source, dest, connect_timeout=2.0) == dest
    assert read_install_stamp(dest) is None


def test_locate_explains_where_to_put_a_missing_dataset(tmp_path):
    source = _shapenet_source(_closed_port_url(DATASETS["shapenet"].archive_name))
    dest = tmp_path / "data" / "ShapeNet"
    for download_allowed in (False, True):
        with pytest.raises(DataError) as info:
            locate_dataset(source, dest, download=download_allowed, connect_timeout=2.0)
        message = str(info.value)
        assert source.url in message and str(dest) in message
        assert str(dest.parent / source.archive_name) in message
    assert not dest.exists()


def test_locate_installs_from_an_archive_copied_by_hand(tmp_path):
    source = _shapenet_source(_closed_port_url())
    dest = tmp_path / "data" / "ShapeNet"
    dest.parent.mkdir()
    _zip(dest.parent / source.archive_name, _shapenet_entries())
    assert locate_dataset(source, dest, download=False) == dest
    assert read_install_stamp(dest)["sha256"] is None


# ----------------------------------------------------------------------------- CLI


def _run(argv: list[str]) -> int:
    return run_download(add_download_arguments(argparse.ArgumentParser()).parse_args(argv))


def test_cli_installs_a_dataset_and_a_checkpoint(tmp_path, capsys):
    served = _zip(tmp_path / "served.zip", _shapenet_entries())
    dest = tmp_path / "data" / "ShapeNet"
    assert _run(["shapenet", "--dest", str(dest), "--url", served.as_uri()]) == 0
    assert capsys.readouterr().out.strip() == str(dest)
    assert read_install_stamp(dest)["dataset"] == "shapenet"

    weights = tmp_path / "served.pt"
    weights.write_bytes(_payload(1000))
    name = "convonet/pointcloud/room_3plane"
    target = tmp_path / "room_3plane.pt"
    assert _run([name, "--dest", str(target), "--url", weights.as_uri()]) == 0
    assert target.read_bytes() == weights.read_bytes()


def test_cli_lists_sources_and_rejects_unknown_names(capsys):
    assert _run(["--list"]) == 0
    listing = capsys.readouterr().out
    for name, source in DATASETS.items():
        assert name in listing and source.url in listing
    assert all(url in listing for url in CONVONET_CHECKPOINTS.values())
    with pytest.raises(InputError, match="unknown download 'imagenet'"):
        _run(["imagenet"])
    with pytest.raises(InputError, match="NAME"):
        _run([])
