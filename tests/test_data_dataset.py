"""Reading datasets back: fields per mode, batch shapes and dtypes, values, seeding."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from alto.data import build_dataset
from alto.data.fields import FLOAT16_JITTER_STD, PARTIAL_KEEP_RATIO, PartialPointCloudField
from alto.errors import ConfigError

MODE_KEYS = {
    "train": {"inputs", "inputs.normals", "points", "points.occ", "idx"},
    "val": {"inputs", "inputs.normals", "points", "points.occ", "points_iou", "points_iou.occ", "idx"},
    "test": {"inputs", "inputs.normals", "points_iou", "points_iou.occ", "pointcloud_chamfer",
             "pointcloud_chamfer.normals", "idx"},
}  # fmt: skip


def _rooms_config(demo_dataset) -> dict:
    return {
        "data": {
            "path": str(demo_dataset.rooms_root),
            "input_type": "pointcloud",
            "classes": ["rooms_04", "rooms_05", "rooms_06", "rooms_07", "rooms_08"],
            "pointcloud_n": 500,
            "pointcloud_noise": 0.0,
            "points_subsample": 128,
            "points_file": "points_iou",
            "points_iou_file": "points_iou",
            "pointcloud_file": "pointcloud",
            "pointcloud_chamfer_file": "pointcloud",
            "multi_files": demo_dataset.config.room_files,
        }
    }


@pytest.mark.parametrize("mode", ["train", "val", "test"])
def test_batches_have_the_contract_keys_shapes_and_dtypes(demo_data_config, demo_dataset, mode: str) -> None:
    dataset = build_dataset(demo_data_config, mode)
    assert len(dataset) == 7  # one object per category in each split
    batch = next(iter(DataLoader(dataset, batch_size=3)))
    assert set(batch) == MODE_KEYS[mode]
    n_iou, n_surface = demo_dataset.config.object_points, demo_dataset.config.object_surface_points
    shapes = {
        "inputs": (3, 300, 3), "inputs.normals": (3, 300, 3), "points": (3, 256, 3), "points.occ": (3, 256),
        "points_iou": (3, n_iou, 3), "points_iou.occ": (3, n_iou), "pointcloud_chamfer": (3, n_surface, 3),
        "pointcloud_chamfer.normals": (3, n_surface, 3), "idx": (3,),
    }  # fmt: skip
    for key, value in batch.items():
        assert tuple(value.shape) == shapes[key], key
        assert value.dtype == (torch.int64 if key == "idx" else torch.float32), key
    assert batch["idx"].tolist() == [0, 1, 2]


def test_values_come_from_the_files(demo_data_config) -> None:
    cfg = copy.deepcopy(demo_data_config)
    cfg["data"]["pointcloud_noise"] = 0.0
    dataset = build_dataset(cfg, "test")
    info = dataset.model_info(4)
    item = dataset[4]
    cloud = np.load(info.model_path / "pointcloud.npz")
    surface = cloud["points"].astype(np.float32)
    # without noise every input point is a file point, with that point's normal
    match = np.all(item["inputs"][:, None, :] == surface[None], axis=2)
    assert match.any(axis=1).all()
    rows = match.argmax(axis=1)
    np.testing.assert_array_equal(item["inputs.normals"], cloud["normals"].astype(np.float32)[rows])
    # subsampling draws with replacement: 300 draws from 2000 points repeat some
    assert len(np.unique(rows)) < 300
    np.testing.assert_array_equal(item["pointcloud_chamfer"], surface)
    points = np.load(info.model_path / "points.npz")
    labels = np.unpackbits(points["occupancies"])[: len(points["points"])].astype(np.float32)
    np.testing.assert_array_equal(item["points_iou.occ"], labels)
    jitter = item["points_iou"] - points["points"].astype(np.float32)
    assert 0 < np.abs(jitter).max() < 6 * FLOAT16_JITTER_STD
    assert jitter.std() == pytest.approx(FLOAT16_JITTER_STD, rel=0.1)


def test_input_noise_is_gaussian_on_points_not_normals(demo_data_config) -> None:
    clean_cfg = copy.deepcopy(demo_data_config)
    clean_cfg["data"]["pointcloud_noise"] = 0.0
    noisy, clean = build_dataset(demo_data_config, "val")[1], build_dataset(clean_cfg, "val")[1]
    # same generator, same subsample: only the noise differs
    np.testing.assert_array_equal(noisy["inputs.normals"], clean["inputs.normals"])
    diff = noisy["inputs"] - clean["inputs"]
    assert diff.std() == pytest.approx(0.005, rel=0.1)


def test_eval_items_depend_only_on_the_object(demo_data_config) -> None:
    a = build_dataset(demo_data_config, "test")
    cfg = copy.deepcopy(demo_data_config)
    cfg["data"]["classes"] = ["04379243", "02691156"]  # another order and subset
    b = build_dataset(cfg, "test")
    index_in_b = {(m.category, m.model): i for i, m in enumerate(b.models)}
    for i in reversed(range(len(a))):
        info = a.model_info(i)
        if (info.category, info.model) not in index_in_b:
            continue
        first, second = a[i], b[index_in_b[info.category, info.model]]
        for key in ("inputs", "inputs.normals", "points_iou"):
            np.testing.assert_array_equal(first[key], second[key])
    a.set_epoch(5)  # no effect outside training
    np.testing.assert_array_equal(a[0]["inputs"], build_dataset(demo_data_config, "test")[0]["inputs"])
    assert not np.array_equal(a[0]["inputs"], a[1]["inputs"][: len(a[0]["inputs"])])
    other_seed = build_dataset(demo_data_config, "test", seed=4)
    assert not np.array_equal(a[0]["inputs"], other_seed[0]["inputs"])


def test_train_items_depend_on_epoch_and_index(demo_data_config) -> None:
    dataset = build_dataset(demo_data_config, "train")
    first = dataset[2]
    np.testing.assert_array_equal(first["points"], dataset[2]["points"])
    np.testing.assert_array_equal(first["points"], build_dataset(demo_data_config, "train")[2]["points"])
    dataset.set_epoch(1)
    assert not np.array_equal(first["points"], dataset[2]["points"])
    dataset.set_epoch(0)
    np.testing.assert_array_equal(first["inputs"], dataset[2]["inputs"])


def test_worker_count_does_not_change_batches(demo_data_config) -> None:
    dataset = build_dataset(demo_data_config, "test")
    serial = [b["inputs"] for b in DataLoader(dataset, batch_size=2, num_workers=0)]
    parallel = [b["inputs"] for b in DataLoader(dataset, batch_size=2, num_workers=2)]
    for x, y in zip(serial, parallel, strict=True):
        assert torch.equal(x, y)


def test_metadata_and_categories(demo_data_config, demo_dataset) -> None:
    dataset = build_dataset(demo_data_config, "val")
    assert [c.index for c in dataset.categories] == list(range(7))
    assert [c.id for c in dataset.categories] == sorted(c.id for c in dataset.categories)
    names = {c.id: c.name for c in dataset.categories}
    assert names["04379243"] == "table" and names["02691156"] == "airplane,aeroplane,plane"
    info = dataset.model_info(6)
    assert info.category == "04379243" and info.category_name == "table" and info.category_index == 6
    assert info.model_path == demo_dataset.objects_root / "04379243" / info.model
    assert info.model_path.is_dir()


def test_rooms_multi_files(demo_dataset) -> None:
    cfg = _rooms_config(demo_dataset)
    dataset = build_dataset(cfg, "val")
    assert [c.name for c in dataset.categories] == [c.id for c in dataset.categories]  # rooms: no metadata.yaml
    picks = set()
    for i in range(len(dataset)):
        item, info = dataset[i], dataset.model_info(i)
        files = [np.load(info.model_path / "points_iou" / f"points_iou_{k:02d}.npz") for k in range(2)]
        distance = [np.abs(item["points_iou"] - f["points"].astype(np.float32)).max() for f in files]
        pick = int(np.argmin(distance))
        assert distance[pick] < 1e-3
        picks.add(pick)
        np.testing.assert_array_equal(
            item["points_iou.occ"], np.unpackbits(files[pick]["occupancies"])[: len(files[pick]["points"])]
        )
        assert item["points"].shape == (128, 3)
    assert picks == {0, 1}  # each item draws its file


def test_partial_pointcloud_keeps_a_slab_along_a_random_axis(tmp_path) -> None:
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (4000, 3)).astype(np.float16)
    np.savez(tmp_path / "cloud.npz", points=points, normals=np.ones_like(points))
    field = PartialPointCloudField("cloud.npz")
    full = points.astype(np.float32)
    axes = set()
    for seed in range(12):
        kept = field.load(tmp_path, 0, np.random.default_rng(seed))[None]
        matches = []
        for axis in range(3):
            length = kept[:, axis].max() - full[:, axis].min()
            slab = full[full[:, axis] - full[:, axis].min() <= length]
            if len(slab) == len(kept) and np.array_equal(slab, kept):
                matches.append(axis)
                extent = full[:, axis].max() - full[:, axis].min()
                assert PARTIAL_KEEP_RATIO * extent - 1e-2 <= length <= extent
        assert matches, "the kept points are not a slab along any axis"
        axes.update(matches)
    assert axes == {0, 1, 2}


def test_partial_pointcloud_config(demo_data_config) -> None:
    cfg = copy.deepcopy(demo_data_config)
    cfg["data"]["input_type"] = "partial_pointcloud"
    dataset = build_dataset(cfg, "test")
    assert isinstance(dataset.fields["inputs"], PartialPointCloudField)
    assert dataset[0]["inputs"].shape == (300, 3)


@pytest.mark.parametrize(
    ("update", "message"),
    [
        ({"input_type": "img"}, r"data\.input_type: got 'img'; expected one of 'pointcloud', 'partial_pointcloud'"),
        ({"input_type": "pointcloud_crop"}, r"data\.input_type: got 'pointcloud_crop'"),
        ({"pointcloud_n": 0}, r"data\.pointcloud_n': 0 is less than the minimum of 1"),
        ({"points_subsample": [1, 2, 3]}, r"data\.points_subsample"),
        ({"multi_files": "ten"}, r"data\.multi_files': expected integer or null, got str 'ten'"),
        ({"pointcloud_noise": -1}, r"data\.pointcloud_noise': -1 is less than the minimum of 0"),
        ({"dim": 2}, r"data\.dim': expected one of \[3\], got 2"),
        ({"classes": "02691156"}, r"data\.classes"),
        ({"path": None}, r"data\.path': expected string, got null"),
        ({"dataset": "Other"}, r"data\.dataset': expected one of \['Shapes3D'\], got 'Other'"),
    ],
)
def test_bad_config_values_name_the_key(demo_data_config, update: dict, message: str) -> None:
    cfg = copy.deepcopy(demo_data_config)
    cfg["data"].update(update)
    with pytest.raises(ConfigError, match=message):
        build_dataset(cfg, "train")


def test_bad_mode_and_seed(demo_data_config) -> None:
    with pytest.raises(ConfigError, match="mode"):
        build_dataset(demo_data_config, "training")
    with pytest.raises(ConfigError, match="seed"):
        build_dataset(demo_data_config, "train", seed=-1)


def test_upstream_defaults_fill_missing_keys(demo_dataset) -> None:
    """An upstream-style config that only names the path and input type gets default.yaml's values."""
    dataset = build_dataset({"data": {"path": str(demo_dataset.objects_root), "input_type": "pointcloud"}}, "train")
    item = dataset[0]
    assert item["inputs"].shape == (256, 3) and item["points"].shape == (1024, 3)


def test_balanced_query_sampling(demo_data_config) -> None:
    cfg = copy.deepcopy(demo_data_config)
    cfg["data"]["points_subsample"] = [100, 60]
    item = build_dataset(cfg, "train")[3]
    assert item["points"].shape == (160, 3)
    np.testing.assert_array_equal(item["points.occ"], [0.0] * 100 + [1.0] * 60)
    assert 0 < item["points.volume"] < 1
