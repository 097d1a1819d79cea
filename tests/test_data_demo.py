"""The procedural demo dataset: layout, dtypes, exact labels and surfaces, determinism, rooms."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from alto.data.demo import DEMO_CATEGORIES, ROOM_CATEGORIES, DemoConfig, build_demo
from alto.data.demo.objects import make_demo_object
from alto.data.demo.rooms import FLOOR_Y, GROUND_THICKNESS, WALL_THICKNESS
from alto.errors import InputError
from alto.geometry.primitives import Primitive, box, rotation_matrix

UPSTREAM_ITEM_DICT_KEYS = {
    "room_idx", "split", "n_objects", "objects", "classes", "scales", "xz_groundplane_range", "y_angle_range",
    "y_angles", "wall_probabilities", "walls", "wall_thickness", "wall_height_range", "wall_height", "bboxes",
}  # fmt: skip


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _unpacked(npz) -> np.ndarray:
    return np.unpackbits(npz["occupancies"])[: len(npz["points"])].astype(bool)


def test_object_layout_and_dtypes(demo_dataset) -> None:
    root, config = demo_dataset.objects_root, demo_dataset.config
    meta = json.loads((root / "metadata.yaml").read_text())  # ShapeNet's metadata.yaml is JSON
    assert set(meta) == set(DEMO_CATEGORIES) and len(meta) >= 5
    assert meta["04256520"] == {"id": "04256520", "name": "sofa,couch,lounge"}
    for cat in DEMO_CATEGORIES:
        lists = {split: (root / cat / f"{split}.lst").read_text().split() for split in ("train", "val", "test")}
        assert [len(v) for v in lists.values()] == [1, 1, 1]
        for model in [m for models in lists.values() for m in models]:
            pts = np.load(root / cat / model / "points.npz")
            assert set(pts.files) == {"points", "occupancies", "loc", "scale"}
            assert pts["points"].dtype == np.float16 and pts["points"].shape == (config.object_points, 3)
            packed_size = (config.object_points + 7) // 8
            assert pts["occupancies"].dtype == np.uint8 and pts["occupancies"].shape == (packed_size,)
            assert pts["loc"].shape == (3,) and pts["scale"].shape == () and pts["scale"].dtype == np.float64
            assert np.abs(pts["points"]).max() <= 0.55
            cloud = np.load(root / cat / model / "pointcloud.npz")
            assert set(cloud.files) == {"points", "normals", "loc", "scale"}
            assert cloud["points"].dtype == cloud["normals"].dtype == np.float16
            assert cloud["points"].shape == cloud["normals"].shape == (config.object_surface_points, 3)
            np.testing.assert_array_equal(cloud["loc"], pts["loc"])


@pytest.mark.parametrize("category", list(DEMO_CATEGORIES))
def test_object_labels_and_surface_are_exact(
    demo_dataset, reference_solid_inside, assert_exact_labels, category: str
) -> None:
    """Labels of the stored float16 points equal the textbook occupancy of the shape's primitives."""
    index = 2  # the test-split object
    obj = make_demo_object(category, index, demo_dataset.config.seed)
    folder = demo_dataset.objects_root / category / obj.name
    pts = np.load(folder / "points.npz")
    points = pts["points"].astype(np.float64)
    labels = _unpacked(pts)
    assert_exact_labels(labels, obj.solid.primitives, points)
    assert 0.0 < labels.mean() < 0.6
    # the stored frame maps the unit shape back to metres: loc = bbox centre, scale = max extent
    unit_bounds = obj.solid.bounds()
    assert (unit_bounds[1] - unit_bounds[0]).max() == pytest.approx(1.0)
    np.testing.assert_allclose(unit_bounds.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(pts["loc"], obj.loc)
    assert float(pts["scale"]) == pytest.approx(obj.scale)
    # surface samples: on the union's boundary (up to float16 rounding), normals pointing out
    cloud = np.load(folder / "pointcloud.npz")
    surface, normals = cloud["points"].astype(np.float64), cloud["normals"].astype(np.float64)
    assert np.abs(obj.solid.implicit(surface)).max() < 2e-3
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=2e-3)
    outside = surface + 5e-3 * normals  # well beyond the float16 rounding
    assert reference_solid_inside(obj.solid.primitives, outside).mean() < 0.02  # thin gaps between parts


@pytest.mark.parametrize("category", list(DEMO_CATEGORIES))
def test_parts_overlap_into_one_piece_without_internal_faces(category: str) -> None:
    for index in range(8):
        solid = make_demo_object(category, index, 11).solid
        prims = solid.primitives
        # parts that only touched would leave internal faces on the sampled surface
        points, normals = solid.sample_surface(4000, np.random.default_rng(index))
        assert not solid.contains(points + 1e-6 * normals).any()
        assert solid.contains(points - 1e-6 * normals).all()
        # every part reaches into another, and the overlap graph is connected
        linked = {0}
        for _ in prims:
            for i, prim in enumerate(prims):
                surface, _ = prim.sample_surface(3000, np.random.default_rng(i))
                if i not in linked and any(prims[j].implicit(surface).min() < 0 for j in linked):
                    linked.add(i)
        assert linked == set(range(len(prims))), f"{category} {index}: parts {set(range(len(prims))) - linked} float"


def test_objects_vary_within_a_category() -> None:
    sizes = [make_demo_object("04379243", i, 0).scale for i in range(6)]
    assert len(set(np.round(sizes, 6))) == 6
    a, b = make_demo_object("03001627", 0, 0), make_demo_object("03001627", 0, 1)
    assert a.scale != b.scale


def _tiny(seed: int, workers: int = 1) -> DemoConfig:
    return DemoConfig(
        seed=seed,
        categories=("03797390", "04379243"),
        objects_per_category=2,
        object_points=500,
        object_surface_points=300,
        rooms_per_class=2,
        room_object_counts=(4,),
        room_files=2,
        room_points=400,
        room_surface_points=400,
        mesh_resolution=12,
        workers=workers,
    )


def test_same_seed_same_bytes_any_workers(tmp_path) -> None:
    first = _digest(build_demo(tmp_path / "a", _tiny(5)).objects_root.parent)
    second = _digest(build_demo(tmp_path / "b", _tiny(5, workers=2)).objects_root.parent)
    other = _digest(build_demo(tmp_path / "c", _tiny(6)).objects_root.parent)
    assert first == second
    assert any(name.endswith("model_watertight.off") for name in first)
    assert any(name.endswith("points_iou_01.npz") for name in first)
    assert set(other) == set(first)
    changed = [name for name in first if first[name] != other[name]]
    assert all(name.endswith(".npz") or name.endswith(".off") or name.endswith(".ply") for name in changed)
    assert len([n for n in changed if n.endswith(".npz")]) == len([n for n in first if n.endswith(".npz")])


def test_ground_truth_mesh_matches_labels(tmp_path) -> None:
    config = DemoConfig(
        seed=5, categories=("02933112",), objects_per_category=1, object_points=4000, object_surface_points=100,
        object_split=(0.0, 0.0, 1.0), rooms_per_class=0, mesh_resolution=48,
    )
    result = build_demo(tmp_path, config)
    folder = result.objects_root / "02933112" / result.objects["02933112"]["test"][0]
    mesh = trimesh.load(folder / "model_watertight.off", process=False)
    assert mesh.is_watertight
    pts = np.load(folder / "points.npz")
    points = pts["points"].astype(np.float64)
    agree = mesh.contains(points) == _unpacked(pts)
    assert agree.mean() > 0.97


def test_demo_config_errors_name_the_option() -> None:
    with pytest.raises(InputError, match="categories"):
        DemoConfig(categories=("nope",)).validate()
    with pytest.raises(InputError, match="object_points"):
        DemoConfig(object_points=0).validate()
    with pytest.raises(InputError, match="room_split"):
        DemoConfig(room_split=(0.5, 0.5, 0.5)).validate()
    with pytest.raises(InputError, match="room_object_counts"):
        DemoConfig(room_object_counts=(3,)).validate()


# ----------------------------------------------------------------------------------- rooms


def _room_folders(root: Path):
    for cls in sorted(p for p in root.iterdir() if p.is_dir()):
        for split in ("train", "val", "test"):
            for name in (cls / f"{split}.lst").read_text().split():
                yield cls, split, cls / name


def test_room_layout_and_split_lists(demo_dataset) -> None:
    root, config = demo_dataset.rooms_root, demo_dataset.config
    assert sorted(p.name for p in root.iterdir()) == [f"rooms_{n:02d}" for n in (4, 5, 6, 7, 8)]
    seen = []
    for cls, split, folder in _room_folders(root):
        assert folder.is_dir(), f"{folder} listed in {split}.lst does not exist (upstream's off-by-one)"
        item = np.load(folder / "item_dict.npz")
        assert set(item.files) == UPSTREAM_ITEM_DICT_KEYS
        assert int(item["n_objects"]) == int(cls.name[-2:]) == len(item["objects"])
        assert str(item["split"]) == split and int(item["room_idx"]) == int(folder.name)
        assert set(map(str, item["classes"])) <= set(ROOM_CATEGORIES)
        for k in range(config.room_files):
            cloud = np.load(folder / "pointcloud" / f"pointcloud_{k:02d}.npz")
            assert set(cloud.files) == {"points", "normals", "semantics"}
            assert cloud["points"].dtype == np.float16 and cloud["semantics"].dtype == np.int64
            assert len(cloud["points"]) < config.room_surface_points  # ground underside and wall backs dropped
            iou = np.load(folder / "points_iou" / f"points_iou_{k:02d}.npz")
            assert set(iou.files) == {"points", "occupancies", "z_scale", "semantics"}
            assert iou["points"].shape == (config.room_points, 3) and int(iou["z_scale"]) == 0
        ply = trimesh.load(folder / "pointcloud0.ply", process=False)
        cloud0 = np.load(folder / "pointcloud" / "pointcloud_00.npz")
        np.testing.assert_allclose(np.asarray(ply.vertices), cloud0["points"].astype(np.float64))
        seen.append(split)
    assert seen.count("train") == 5 and seen.count("val") == 5 and seen.count("test") == 5


def _reference_room(item, demo_seed: int) -> tuple[list[list[Primitive]], list[int]]:
    """Rebuild a room's parts from its item_dict alone: scaled, rotated objects on the floor, walls, ground."""
    parts, labels = [], []
    recipe = zip(item["objects"], item["scales"], item["y_angles"], item["bboxes"], strict=True)
    for entry, scale, angle, bbox in recipe:
        category, name = str(entry).split("/")
        obj = make_demo_object(category, int(name.rsplit("_", 1)[1]), demo_seed)
        posed = obj.solid.transformed(float(scale), rotation_matrix("y", np.deg2rad(angle)))
        low = posed.bounds()[0]
        target = np.array([bbox[0][0], FLOOR_Y + GROUND_THICKNESS, bbox[0][1]])
        parts.append(list(posed.transformed(1.0, None, target - low).primitives))
        labels.append(ROOM_CATEGORIES.index(category))
    x, z = item["xz_groundplane_range"]
    height = float(item["wall_height"][0])
    base = FLOOR_Y + GROUND_THICKNESS
    walls = [  # (-z, -x, +z, +x) boxes given by their corners
        ([-x / 2, base, -z / 2], [x / 2, base + height, -z / 2 + WALL_THICKNESS]),
        ([-x / 2, base, -z / 2], [-x / 2 + WALL_THICKNESS, base + height, z / 2]),
        ([-x / 2, base, z / 2 - WALL_THICKNESS], [x / 2, base + height, z / 2]),
        ([x / 2 - WALL_THICKNESS, base, -z / 2], [x / 2, base + height, z / 2]),
    ]
    corners = [w for w, present in zip(walls, item["walls"], strict=True) if present]
    corners.append(([-x / 2, FLOOR_Y, -z / 2], [x / 2, base, z / 2]))
    for lo, hi in corners:
        lo, hi = np.asarray(lo), np.asarray(hi)
        parts.append([box((lo + hi) / 2, hi - lo)])
        labels.append(-1)
    return parts, labels


def test_room_labels_and_semantics_are_exact(demo_dataset, reference_solid_inside, assert_exact_labels) -> None:
    for _, _, folder in list(_room_folders(demo_dataset.rooms_root))[::4]:
        item = np.load(folder / "item_dict.npz")
        parts, labels = _reference_room(item, demo_dataset.config.seed)
        iou = np.load(folder / "points_iou" / "points_iou_01.npz")
        points = iou["points"].astype(np.float64)
        assert_exact_labels(_unpacked(iou), [p for part in parts for p in part], points)
        semantics = np.full(len(points), len(parts))  # empty space: the number of parts, as upstream
        on_surface = np.zeros(len(points), dtype=bool)
        for part, label in zip(parts, labels, strict=True):
            inside = reference_solid_inside(part, points, -1e-9)
            semantics[inside] = label  # later parts overwrite earlier ones, as upstream
            on_surface |= inside != reference_solid_inside(part, points, 1e-9)
        np.testing.assert_array_equal(iou["semantics"][~on_surface], semantics[~on_surface])
        assert set(np.unique(semantics)) > {len(parts)}
        # objects stand on the ground inside the walls, without xz overlap
        boxes = item["bboxes"]
        for i in range(len(boxes)):
            for j in range(i):
                overlap = np.minimum(boxes[i][1], boxes[j][1]) - np.maximum(boxes[i][0], boxes[j][0])
                assert np.any(overlap <= 0)
        half = item["xz_groundplane_range"] / 2
        assert np.all(boxes[:, 0] >= -half - 1e-12) and np.all(boxes[:, 1] <= half + 1e-12)


def test_room_surface_samples(demo_dataset) -> None:
    for _, _, folder in _room_folders(demo_dataset.rooms_root):
        item = np.load(folder / "item_dict.npz")
        cloud = np.load(folder / "pointcloud" / "pointcloud_00.npz")
        points, sem = cloud["points"].astype(np.float64), cloud["semantics"]
        assert set(np.unique(sem)) <= {-1, *range(len(ROOM_CATEGORIES))}
        assert (sem == -1).any() and (sem >= 0).any()
        # only the ground's top face: nothing below it
        assert points[:, 1].min() > FLOOR_Y + GROUND_THICKNESS - 1e-3
        half = item["xz_groundplane_range"] / 2
        walls = item["walls"]
        inner = half - WALL_THICKNESS + 1e-3 + 1e-3  # filter slack plus float16 rounding
        if walls[0]:
            assert points[:, 2].min() > -inner[1]
        if walls[3]:
            assert points[:, 0].max() < inner[0]
