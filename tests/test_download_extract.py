"""Safe extraction of zip and tar archives built here, unsafe entries included."""

from __future__ import annotations

import io
import os
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from download_helpers import tree, zip_archive

from alto.data.download import extract
from alto.errors import DataError


def _tar_member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", link: str = ""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data)
    return info, io.BytesIO(data) if data else None


def _tar(path: Path, members) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, data)
    return path


def test_zip_with_escaping_entries_is_refused_before_writing(tmp_path):
    outside = tmp_path / "abs_evil.txt"
    archive = zip_archive(tmp_path / "evil.zip", {
        "data/ok.txt": b"fine",
        "../evil.txt": b"escape",
        str(outside): b"absolute",
    })
    before = tree(tmp_path)
    with pytest.raises(DataError) as info:
        extract(archive, tmp_path / "out" / "target")
    assert str(info.value).startswith(f"refusing to extract {archive}")
    assert "'../evil.txt'" in str(info.value) and repr(str(outside)) in str(info.value)
    assert tree(tmp_path) == before


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
    before = tree(tmp_path)
    with pytest.raises(DataError, match="^refusing to extract .*" + re.escape(f"'{culprit}'")):
        extract(archive, tmp_path / "target")
    assert tree(tmp_path) == before


def test_zip_subfolder_is_selected(tmp_path):
    archive = zip_archive(tmp_path / "a.zip", {
        "ShapeNet/02691156/test.lst": b"m1\n",
        "ShapeNet/02691156/m1/pointcloud.npz": b"npz",
        "other/junk.txt": b"junk",
    })
    target = extract(archive, tmp_path / "ShapeNet", subdir="ShapeNet")
    assert tree(target) == {"02691156", "02691156/test.lst", "02691156/m1",
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
        assert tree(target) == {"a", "a/b.txt", "a/latest", "a/copy"}
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
    archive = zip_archive(tmp_path / "pack.zip", {"pack/a.bin": b"A" * 5000, "pack/b.bin": b"B" * 5000},
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
    archive = zip_archive(tmp_path / "a.zip", {"d/new.txt": b"new"})
    target = tmp_path / "d"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(DataError, match="already exists"):
        extract(archive, target, subdir="d")
    extract(archive, target, subdir="d", replace=True)
    assert tree(target) == {"new.txt"}
    assert sorted(os.listdir(tmp_path)) == ["a.zip", "d"]
