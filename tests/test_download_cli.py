"""``alto data download``: datasets and checkpoints by name, the listing, bad names."""

from __future__ import annotations

import pytest
from download_helpers import (
    no_proxies,  # noqa: F401 (an autouse fixture)
    payload,
    shapenet_entries,
    zip_archive,
)

from alto.cli.data import main as data_main
from alto.data.download import CONVONET_CHECKPOINTS, DATASETS, read_install_stamp
from alto.errors import InputError


def _run(argv: list[str]) -> int:
    return data_main(["download", *argv])


def test_cli_installs_a_dataset_and_a_checkpoint(tmp_path, capsys):
    served = zip_archive(tmp_path / "served.zip", shapenet_entries())
    dest = tmp_path / "data" / "ShapeNet"
    assert _run(["shapenet", "--dest", str(dest), "--url", served.as_uri()]) == 0
    assert capsys.readouterr().out.strip() == str(dest)
    assert read_install_stamp(dest)["dataset"] == "shapenet"

    weights = tmp_path / "served.pt"
    weights.write_bytes(payload(1000))
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
