"""Dataset installs and lookups: download, verify, unpack, stamp; offline instructions.

Archives are served through ``file://`` URLs; unreachable servers are simulated
with a closed port on 127.0.0.1, which refuses connections at once.
"""

from __future__ import annotations

import hashlib
import os
import re

import pytest
import yaml
from download_helpers import (
    closed_port_url,
    no_proxies,  # noqa: F401 (an autouse fixture)
    shapenet_entries,
    shapenet_source,
    zip_archive,
)

from alto.data.download import (
    DATASETS,
    INSTALL_STAMP,
    SHAPENET_CATEGORIES,
    install_dataset,
    locate_dataset,
    read_install_stamp,
)
from alto.errors import DataError


def test_install_writes_metadata_and_stamp_and_rerun_does_nothing(tmp_path):
    served = zip_archive(tmp_path / "served.zip", shapenet_entries())
    source = shapenet_source(served.as_uri())
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
    served = zip_archive(tmp_path / "served.zip", shapenet_entries(with_metadata=own))
    source = shapenet_source(served.as_uri())
    dest = tmp_path / "data" / "ShapeNet"
    install_dataset(source, dest, remove_archive=True)
    assert (dest / "metadata.yaml").read_bytes() == own
    assert sorted(os.listdir(dest.parent)) == ["ShapeNet"]


def test_install_rejects_an_archive_without_the_expected_folders(tmp_path):
    served = zip_archive(tmp_path / "served.zip", shapenet_entries(synsets=("02691156",)))
    dest = tmp_path / "data" / "ShapeNet"
    with pytest.raises(DataError, match=re.escape("02828884/test.lst")):
        install_dataset(shapenet_source(served.as_uri()), dest)
    assert sorted(os.listdir(dest.parent)) == ["dataset_small_v1.1.zip"]


def test_install_does_not_overwrite_an_incomplete_folder_unless_forced(tmp_path):
    served = zip_archive(tmp_path / "served.zip", shapenet_entries())
    source = shapenet_source(served.as_uri())
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
    for name, data in shapenet_entries().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    source = shapenet_source(closed_port_url())
    assert locate_dataset(source, dest, connect_timeout=2.0) == dest
    assert read_install_stamp(dest) is None


def test_locate_explains_where_to_put_a_missing_dataset(tmp_path):
    source = shapenet_source(closed_port_url(DATASETS["shapenet"].archive_name))
    dest = tmp_path / "data" / "ShapeNet"
    for download_allowed in (False, True):
        with pytest.raises(DataError) as info:
            locate_dataset(source, dest, download=download_allowed, connect_timeout=2.0)
        message = str(info.value)
        assert source.url in message and str(dest) in message
        assert str(dest.parent / source.archive_name) in message
    assert not dest.exists()


def test_locate_installs_from_an_archive_copied_by_hand(tmp_path):
    source = shapenet_source(closed_port_url())
    dest = tmp_path / "data" / "ShapeNet"
    dest.parent.mkdir()
    zip_archive(dest.parent / source.archive_name, shapenet_entries())
    assert locate_dataset(source, dest, download=False) == dest
    assert read_install_stamp(dest)["sha256"] is None
