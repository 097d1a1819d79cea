"""``from-meshes``: user meshes to the ShapeNet layout, with repair, exact frames and a summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from alto.data import build_dataset
from alto.data.from_meshes import SUMMARY_FILE, FromMeshesConfig, build_from_meshes, find_meshes
from alto.errors import InputError

SMALL = FromMeshesConfig(n_points=4000, n_surface=1500, seed=3)


def _holed_sphere(faces_removed: int) -> trimesh.Trimesh:
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.3)
    order = np.argsort(np.linalg.norm(sphere.triangles_center - sphere.vertices[0], axis=1))
    return trimesh.Trimesh(sphere.vertices, sphere.faces[np.sort(order[faces_removed:])], process=False)


@pytest.fixture
def mesh_folder(tmp_path) -> Path:
    """Two categories: a box and an STL sphere; a sphere with a small hole; one with a large hole."""
    src = tmp_path / "meshes"
    (src / "boxes").mkdir(parents=True)
    (src / "balls").mkdir()
    brick = trimesh.creation.box([2.0, 1.0, 0.5])
    brick.apply_translation([10.0, 5.0, -3.0])
    brick.export(src / "boxes" / "brick.off")
    trimesh.creation.icosphere(subdivisions=3, radius=0.3).export(src / "balls" / "round.stl")
    _holed_sphere(4).export(src / "balls" / "chipped.obj")
    _holed_sphere(300).export(src / "balls" / "bowl.ply")
    (src / "balls" / "notes.txt").write_text("not a mesh")
    return src


def test_builds_layout_skips_leaky_mesh_and_writes_summary(mesh_folder, tmp_path) -> None:
    out = tmp_path / "dataset"
    summary = build_from_meshes(mesh_folder, out, SMALL)
    built = {(b["category"], b["model"]) for b in summary.built}
    assert built == {("boxes", "brick"), ("balls", "round"), ("balls", "chipped")}
    assert [Path(s["source"]).name for s in summary.skipped] == ["bowl.ply"]
    assert "not watertight" in summary.skipped[0]["reason"]
    repairs = {b["model"]: b["repairs"] for b in summary.built}
    assert any("merged" in r for r in repairs["round"])  # STL stores a triangle soup
    assert any("filled 1 hole" in r for r in repairs["chipped"])
    saved = json.loads((out / SUMMARY_FILE).read_text())
    assert saved["skipped"][0]["reason"] == summary.skipped[0]["reason"]
    meta = json.loads((out / "metadata.yaml").read_text())
    assert meta == {"balls": {"id": "balls", "name": "balls"}, "boxes": {"id": "boxes", "name": "boxes"}}
    listed = {
        cat: [m for s in ("train", "val", "test") for m in (out / cat / f"{s}.lst").read_text().split()]
        for cat in ("balls", "boxes")
    }
    assert sorted(listed["balls"]) == ["chipped", "round"] and listed["boxes"] == ["brick"]
    for cat, model in built:
        folder = out / cat / model
        assert {p.name for p in folder.iterdir()} == {"points.npz", "pointcloud.npz", "model_watertight.off"}
        pts = np.load(folder / "points.npz")
        assert pts["points"].dtype == np.float16 and pts["occupancies"].dtype == np.uint8
        cloud = np.load(folder / "pointcloud.npz")
        assert cloud["points"].shape == cloud["normals"].shape == (1500, 3)


def test_box_frame_and_labels_are_exact(mesh_folder, tmp_path) -> None:
    out = tmp_path / "dataset"
    build_from_meshes(mesh_folder, out, SMALL)
    pts = np.load(out / "boxes" / "brick" / "points.npz")
    np.testing.assert_allclose(pts["loc"], [10.0, 5.0, -3.0])
    assert float(pts["scale"]) == pytest.approx(2.0)
    points = pts["points"].astype(np.float64)
    labels = np.unpackbits(pts["occupancies"])[: len(points)].astype(bool)
    # the 2 x 1 x 0.5 brick becomes 1 x 0.5 x 0.25 in the unit frame
    half = np.array([0.5, 0.25, 0.125])
    clear = np.all(np.abs(np.abs(points) - half) > 1e-6, axis=1)
    np.testing.assert_array_equal(labels[clear], np.all(np.abs(points[clear]) < half, axis=1))
    cloud = np.load(out / "boxes" / "brick" / "pointcloud.npz")
    surface = cloud["points"].astype(np.float64)
    assert np.abs(np.abs(surface) - half).min(axis=1).max() < 1e-3  # every point on a face
    mesh = trimesh.load(out / "boxes" / "brick" / "model_watertight.off", process=False)
    np.testing.assert_allclose(mesh.bounds, [-half, half], atol=1e-12)


def test_repaired_sphere_labels(mesh_folder, tmp_path) -> None:
    out = tmp_path / "dataset"
    build_from_meshes(mesh_folder, out, SMALL)
    pts = np.load(out / "balls" / "chipped" / "points.npz")
    points = pts["points"].astype(np.float64)
    labels = np.unpackbits(pts["occupancies"])[: len(points)].astype(bool)
    radius = np.linalg.norm(points, axis=1)  # a sphere normalises to radius 0.5 around the origin
    clear = np.abs(radius - 0.5) > 0.02
    np.testing.assert_array_equal(labels[clear], radius[clear] < 0.5)
    # the dataset reads it back
    cfg = {"data": {"path": str(out), "input_type": "pointcloud", "classes": ["balls"], "train_split": None}}
    item = build_dataset(cfg, "train")[0]
    assert item["inputs"].shape == (256, 3)


def test_strict_mode_names_the_mesh(mesh_folder, tmp_path) -> None:
    config = FromMeshesConfig(n_points=500, n_surface=200, strict=True)
    with pytest.raises(InputError, match=r"bowl\.ply: the mesh is not watertight"):
        build_from_meshes(mesh_folder, tmp_path / "out", config)


def test_flat_folder_is_one_category(tmp_path) -> None:
    src = tmp_path / "flat"
    src.mkdir()
    for i in range(5):
        trimesh.creation.box([1.0, 1.0 + i, 1.0]).export(src / f"b{i}.obj")
    out = tmp_path / "out"
    summary = build_from_meshes(src, out, FromMeshesConfig(n_points=300, n_surface=100, category="crates"))
    assert summary.splits == {"crates": {"train": 3, "val": 1, "test": 1}}
    same = build_from_meshes(src, tmp_path / "again", FromMeshesConfig(n_points=300, n_surface=100, category="crates"))
    assert same.splits == summary.splits
    again = tmp_path / "again" / "crates"
    for name in ("train.lst", "val.lst", "test.lst", "b0/points.npz", "b3/pointcloud.npz"):
        assert (out / "crates" / name).read_bytes() == (again / name).read_bytes()
    assert [job.category for job in find_meshes(src)] == ["flat"] * 5


def test_input_folder_errors(tmp_path) -> None:
    with pytest.raises(InputError, match="input folder not found"):
        find_meshes(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mesh files"):
        find_meshes(tmp_path / "empty")
    mixed = tmp_path / "mixed"
    (mixed / "cat").mkdir(parents=True)
    trimesh.creation.box().export(mixed / "a.off")
    trimesh.creation.box().export(mixed / "cat" / "b.off")
    with pytest.raises(InputError, match="both mesh files and category sub-folders"):
        find_meshes(mixed)
    twins = tmp_path / "twins"
    twins.mkdir()
    trimesh.creation.box().export(twins / "a.off")
    trimesh.creation.box().export(twins / "a.stl")
    with pytest.raises(InputError, match="model name 'a' is also used by"):
        find_meshes(twins)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.off").write_text("OFF\n3 1 0\n0 0 0\n")
    with pytest.raises(InputError, match=r"no usable mesh \(bad\.off: cannot read the mesh"):
        build_from_meshes(broken, tmp_path / "out", FromMeshesConfig(n_points=100, n_surface=100))
    assert (tmp_path / "out" / SUMMARY_FILE).is_file()
