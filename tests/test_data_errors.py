"""Broken datasets fail loudly, naming the file and what was expected."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest

from alto.data import build_dataset
from alto.data.check import check_dataset
from alto.errors import DataError

CATEGORY = "03797390"


@pytest.fixture
def broken(tmp_path, demo_dataset, demo_data_config):
    """A private copy of the demo objects (safe to corrupt) and a config pointing at it."""
    root = tmp_path / "objects"
    shutil.copytree(demo_dataset.objects_root, root)
    cfg = copy.deepcopy(demo_data_config)
    cfg["data"]["path"] = str(root)
    cfg["data"]["classes"] = [CATEGORY]
    model = (root / CATEGORY / "test.lst").read_text().split()[0]
    return cfg, root / CATEGORY / model


def _load_test_item(cfg: dict) -> None:
    build_dataset(cfg, "test")[0]


def _rewrite(path: Path, **changes) -> None:
    arrays = dict(np.load(path))
    arrays.update(changes)
    for key in [k for k, v in changes.items() if v is None]:
        del arrays[key]
    np.savez(path, **arrays)


def test_intact_copy_loads(broken) -> None:
    cfg, _ = broken
    _load_test_item(cfg)
    assert check_dataset(Path(cfg["data"]["path"])).ok


def test_missing_split_list(broken) -> None:
    cfg, model = broken
    (model.parent / "test.lst").unlink()
    with pytest.raises(DataError, match=rf"{CATEGORY}/test\.lst: split list not found"):
        build_dataset(cfg, "test")


def test_missing_model_folder(broken) -> None:
    cfg, model = broken
    shutil.rmtree(model)
    with pytest.raises(DataError, match=rf"{model.name}: model folder not found \(listed in .*test\.lst\)"):
        _load_test_item(cfg)


def test_missing_file(broken) -> None:
    cfg, model = broken
    (model / "pointcloud.npz").unlink()
    with pytest.raises(DataError, match=r"pointcloud\.npz: file not found"):
        _load_test_item(cfg)


def test_truncated_npz(broken) -> None:
    cfg, model = broken
    path = model / "points.npz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"points\.npz: cannot read the npz file .*truncated"):
        _load_test_item(cfg)


def test_missing_key(broken) -> None:
    cfg, model = broken
    _rewrite(model / "pointcloud.npz", normals=None)
    with pytest.raises(DataError, match=r"pointcloud\.npz: missing key\(s\) 'normals'"):
        _load_test_item(cfg)


def test_wrong_points_shape(broken) -> None:
    cfg, model = broken
    points = np.load(model / "pointcloud.npz")["points"]
    _rewrite(model / "pointcloud.npz", points=points[:, :2])
    with pytest.raises(DataError, match=r"pointcloud\.npz: key 'points' has shape \(\d+, 2\); expected \(N, 3\)"):
        _load_test_item(cfg)


def test_wrong_normals_shape(broken) -> None:
    cfg, model = broken
    normals = np.load(model / "pointcloud.npz")["normals"]
    _rewrite(model / "pointcloud.npz", normals=normals[:10])
    with pytest.raises(DataError, match=r"pointcloud\.npz: key 'normals' .* expected float with the shape of"):
        _load_test_item(cfg)


def test_wrong_points_dtype(broken) -> None:
    cfg, model = broken
    points = np.load(model / "points.npz")["points"]
    _rewrite(model / "points.npz", points=(points * 100).astype(np.int32))
    with pytest.raises(DataError, match=r"points\.npz: key 'points' has dtype int32; expected a float dtype"):
        _load_test_item(cfg)


def test_too_few_packed_bits(broken) -> None:
    cfg, model = broken
    occ = np.load(model / "points.npz")["occupancies"]
    _rewrite(model / "points.npz", occupancies=occ[:-10])
    with pytest.raises(DataError, match=r"points\.npz: key 'occupancies' .* expected packed bits: uint8 of shape"):
        _load_test_item(cfg)


def test_packed_bits_read_as_unpacked_occupancies(broken) -> None:
    cfg, _ = broken
    cfg["data"]["points_unpackbits"] = False
    with pytest.raises(DataError, match=r"points\.npz: key 'occupancies' .* expected one number per point"):
        _load_test_item(cfg)


def test_check_reports_every_problem(broken) -> None:
    cfg, model = broken
    root = Path(cfg["data"]["path"])
    (model / "pointcloud.npz").unlink()
    other = root / "04379243" / (root / "04379243" / "val.lst").read_text().split()[0]
    (other / "points.npz").write_bytes(b"not a zip")
    report = check_dataset(root)
    assert not report.ok
    assert report.models_checked == 21
    text = "\n".join(report.problems)
    assert f"{model}: neither pointcloud.npz nor pointcloud/ found" in text
    assert f"{other / 'points.npz'}: cannot read the npz file" in text
    assert len(report.problems) == 2


def test_single_array_instead_of_archive(broken) -> None:
    cfg, model = broken
    with open(model / "points.npz", "wb") as f:
        np.save(f, np.zeros((10, 3)))
    with pytest.raises(DataError, match=r"points\.npz: holds a single array, not an npz archive"):
        _load_test_item(cfg)
