"""`alto reconstruct` and `alto.reconstruct`: a mesh from your own point cloud, where the input is."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh
import yaml
from scipy.spatial import cKDTree

import alto
from alto.cli.main import main as alto_main
from alto.config import load_config
from alto.data.demo import DemoResult
from alto.errors import CheckpointError, InputError
from alto.models import load_checkpoint
from alto.models.catalog import published_model
from alto.reconstruction import Reconstructor, clean_points, read_point_cloud
from alto.reconstruction.diagnostics import input_warnings
from alto.train import train

#: An arbitrary frame for the user's scan: the reconstruction must come back in it.
SCALE, OFFSET = 3.0, np.array([10.0, -2.0, 5.0])
RESOLUTION = ["--resolution", "32"]


def _train(tmp: Path, data: Path, model: dict, data_extra: dict, iters: int, threshold: float) -> Path:
    cfg = {
        "seed": 1,
        "data": {"path": str(data), "pointcloud_n": 300, "pointcloud_noise": 0.005, "points_subsample": 512,
                 **data_extra},
        "model": model,
        "training": {"out_dir": str(tmp / "run"), "batch_size": 4, "max_iters": iters, "print_every": 50,
                     "validate_every": iters, "checkpoint_every": iters, "backup_every": 10_000, "n_workers": 0,
                     "n_workers_val": 0, "val_max_objects": 3, "lr": 3e-3},
        "test": {"threshold": threshold, "remove_wall": "multi_files" in data_extra},
        "generation": {"resolution_0": 16, "upsampling_steps": 1},
    }
    (tmp / "c.yaml").write_text(yaml.safe_dump(cfg))
    train(load_config(tmp / "c.yaml"))
    return tmp / "run" / "model_best.pt"


@pytest.fixture(scope="module")
def object_model(tmp_path_factory: pytest.TempPathFactory, demo_dataset: DemoResult) -> Path:
    """A tiny ConvONet triplane trained for a few seconds on the tiny demo objects."""
    model = {"encoder": "pointnet_local_pool",
             "encoder_kwargs": {"hidden_dim": 16, "plane_type": ["xz", "xy", "yz"], "plane_resolution": 16,
                                "unet": True, "unet_kwargs": {"depth": 2, "merge_mode": "concat", "start_filts": 8}},
             "decoder": "simple_local", "decoder_kwargs": {"sample_mode": "bilinear", "hidden_size": 16}, "c_dim": 8}
    return _train(tmp_path_factory.mktemp("objects"), Path(demo_dataset.objects_root), model, {}, iters=160,
                  threshold=0.5)


@pytest.fixture(scope="module")
def room_model(tmp_path_factory: pytest.TempPathFactory, demo_dataset: DemoResult) -> Path:
    """A tiny ConvONet volume trained for a few seconds on the tiny demo rooms."""
    model = {"encoder": "pointnet_local_pool",
             "encoder_kwargs": {"hidden_dim": 16, "plane_type": "grid", "grid_resolution": 16, "unet3d": True,
                                "unet3d_kwargs": {"num_levels": 2, "f_maps": 8, "in_channels": 8, "out_channels": 8}},
             "decoder": "simple_local", "decoder_kwargs": {"sample_mode": "bilinear", "hidden_size": 16}, "c_dim": 8}
    rooms = {"points_file": "points_iou", "points_iou_file": "points_iou", "pointcloud_file": "pointcloud",
             "pointcloud_chamfer_file": "pointcloud", "multi_files": 2, "pointcloud_n": 1000, "points_subsample": 1024}
    # rooms are mostly empty space: ConvONet's p = 0.2 surface, as its room configs use
    return _train(tmp_path_factory.mktemp("rooms"), Path(demo_dataset.rooms_root), model, rooms, iters=200,
                  threshold=0.2)


def surface_points(demo: DemoResult, kind: str, category: str) -> tuple[np.ndarray, np.ndarray]:
    """Surface samples and normals of the first test item of ``category``."""
    root = Path(demo.objects_root if kind == "objects" else demo.rooms_root)
    name = (root / category / "test.lst").read_text().split()[0]
    folder = root / category / name
    data = np.load(folder / "pointcloud.npz") if kind == "objects" else np.load(
        folder / "pointcloud" / "pointcloud_00.npz")
    return data["points"].astype(np.float64), data["normals"].astype(np.float64)


def write_input(path: Path, points: np.ndarray, normals: np.ndarray) -> Path:
    """``points`` in the format of ``path``'s suffix (and flavour of its stem)."""
    if path.suffix == ".ply":
        if "normals" in path.stem:
            trimesh.Trimesh(points, np.zeros((0, 3), dtype=int), vertex_normals=normals, process=False).export(path)
        else:
            trimesh.PointCloud(points).export(path)
    elif path.suffix == ".xyz":
        np.savetxt(path, np.hstack([points, normals]), fmt="%.6f")
    elif path.suffix == ".txt":
        path.write_text("x,y,z\n" + "\n".join(",".join(f"{v:.6f}" for v in p) for p in points) + "\n")
    elif path.suffix == ".npz":
        np.savez(path, points=points, normals=normals)
    elif path.suffix == ".npy":
        np.save(path, points)
    elif path.suffix == ".obj":  # a triangle soup over every point: only its vertices matter
        faces = (np.arange(-(-len(points) // 3) * 3) % len(points)).reshape(-1, 3)
        trimesh.Trimesh(points, faces, process=False).export(path)
    return path


def assert_lands_on(mesh: trimesh.Trimesh, points: np.ndarray, tolerance: float) -> None:
    """The mesh lies where the points are: bounding boxes agree and the two-sided (Chamfer)
    distance between the input points and the mesh is small against their extent."""
    extent = float(np.ptp(points, axis=0).max())
    assert len(mesh.faces) > 0
    low, high = points.min(0), points.max(0)
    assert np.all(mesh.bounds[0] > low - tolerance * extent) and np.all(mesh.bounds[1] < high + tolerance * extent)
    assert np.linalg.norm(mesh.bounds.mean(0) - (low + high) / 2) < tolerance * extent
    samples = mesh.sample(5000, seed=0)
    completeness, _ = cKDTree(samples).query(points)
    accuracy, _ = cKDTree(points).query(samples)
    assert (completeness.mean() + accuracy.mean()) / 2 < tolerance * extent


INPUT_FILES = ["scan.ply", "scan_normals.ply", "scan.xyz", "scan.txt", "scan.npz", "scan.npy", "scan.obj"]


@pytest.mark.slow
@pytest.mark.parametrize("name", INPUT_FILES)
def test_object_from_every_input_format_lands_where_the_input_is(
    name: str, object_model: Path, demo_dataset: DemoResult, tmp_path: Path
) -> None:
    points, normals = surface_points(demo_dataset, "objects", "03001627")
    points = points * SCALE + OFFSET  # the user's frame
    source = write_input(tmp_path / name, points, normals)
    assert len(read_point_cloud(source)) == len(points)
    output = tmp_path / "out.ply"
    assert alto_main(["reconstruct", str(source), "-m", str(object_model), "-o", str(output), *RESOLUTION]) == 0
    assert_lands_on(trimesh.load(output, process=False), points, tolerance=0.15)


@pytest.mark.slow
def test_reconstruction_follows_the_input_frame_exactly(object_model: Path, demo_dataset: DemoResult) -> None:
    points, _ = surface_points(demo_dataset, "objects", "04379243")
    model = load_checkpoint(object_model)["model"]
    reconstructor = Reconstructor(model, resolution=24)
    here = reconstructor.run(points).mesh
    there = reconstructor.run(points * SCALE + OFFSET).mesh
    assert len(here.faces) > 0
    np.testing.assert_array_equal(here.faces, there.faces)
    np.testing.assert_allclose(there.vertices, here.vertices * SCALE + OFFSET, atol=1e-6 * SCALE)


@pytest.mark.slow
def test_python_api_takes_arrays_and_checkpoint_paths(object_model: Path, demo_dataset: DemoResult) -> None:
    points, _ = surface_points(demo_dataset, "objects", "03001627")
    mesh = alto.reconstruct(points + OFFSET, object_model, resolution=32)
    assert isinstance(mesh, trimesh.Trimesh)
    assert_lands_on(mesh, points + OFFSET, tolerance=0.15)


@pytest.mark.slow
def test_room_keeps_its_scale_and_a_larger_scene_uses_the_sliding_window(
    room_model: Path, demo_dataset: DemoResult, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points, normals = surface_points(demo_dataset, "rooms", "rooms_05")
    room = write_input(tmp_path / "room.npz", points * 2.0 + OFFSET, normals)  # a room in "metres"
    output = tmp_path / "room.ply"
    args = ["reconstruct", str(room), "-m", str(room_model), "-o", str(output), "--scale", "0.5", *RESOLUTION]
    assert alto_main(args) == 0
    assert "scene mode" in capsys.readouterr().out
    assert_lands_on(trimesh.load(output, process=False), points * 2.0 + OFFSET, tolerance=0.2)

    # kept at scale 1 the same scan spans two model boxes: extracted crop by crop
    assert alto_main([*args[:-4], "--scale", "1", "--resolution", "24"]) == 0
    assert "sliding window" in capsys.readouterr().out
    assert_lands_on(trimesh.load(output, process=False), points * 2.0 + OFFSET, tolerance=0.2)


@pytest.mark.slow
def test_bad_inputs_give_clear_errors_and_leave_the_output_alone(
    object_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "keep.ply"
    output.write_bytes(b"an earlier result")
    rng = np.random.default_rng(0)

    def run(source: Path, *extra: str) -> str:
        code = alto_main(["reconstruct", str(source), "-m", str(object_model), "-o", str(output), *extra])
        assert code == 2
        assert output.read_bytes() == b"an earlier result"
        return capsys.readouterr().err

    empty = tmp_path / "empty.xyz"
    empty.write_text("")
    assert "empty" in run(empty)
    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"\x00\x01 not a ply file at all")
    assert "garbage.ply" in run(garbage)
    broken = rng.normal(size=(500, 3))
    broken[:400] = np.nan
    np.save(tmp_path / "broken.npy", broken)
    assert "400 of 500 points have NaN or infinite coordinates" in run(tmp_path / "broken.npy")
    np.save(tmp_path / "few.npy", rng.normal(size=(5, 3)))
    assert "needs at least" in run(tmp_path / "few.npy")
    np.save(tmp_path / "fine.npy", rng.normal(size=(500, 3)))
    assert "unsupported mesh format" in run(tmp_path / "fine.npy", "-o", str(tmp_path / "out.stl"))
    assert "no such checkpoint file" in run(tmp_path / "fine.npy", "-m", "no_such_experiment")


def test_a_few_broken_points_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    points = np.random.default_rng(1).normal(size=(100, 3))
    points[:3, 1] = np.inf
    with caplog.at_level("WARNING"):
        cleaned = clean_points(points, "scan")
    assert len(cleaned) == 97 and "dropped 3 of 100 points" in caplog.text
    with pytest.raises(InputError, match=r"expected points of shape \(N, 3\)"):
        clean_points(np.zeros((10, 2)))


@pytest.mark.slow
@pytest.mark.parametrize("name", INPUT_FILES)
def test_room_from_every_input_format_lands_where_the_input_is(
    name: str, room_model: Path, demo_dataset: DemoResult, tmp_path: Path
) -> None:
    points, normals = surface_points(demo_dataset, "rooms", "rooms_04")
    source = write_input(tmp_path / name, points + OFFSET, normals)  # model units, moved
    output = tmp_path / "room.ply"
    assert alto_main(["reconstruct", str(source), "-m", str(room_model), "-o", str(output), "--mode", "scene",
                      "--resolution", "24"]) == 0
    assert_lands_on(trimesh.load(output, process=False), points + OFFSET, tolerance=0.2)


@pytest.mark.slow
def test_model_by_experiment_name(
    object_model: Path, demo_dataset: DemoResult, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MODEL as the name of an experiment finds the workflow's results/models/<name>/model_best.pt."""
    trained = tmp_path / "results" / "models" / "my_experiment"
    trained.mkdir(parents=True)
    (trained / "model_best.pt").write_bytes(object_model.read_bytes())
    points, normals = surface_points(demo_dataset, "objects", "03001627")
    source = write_input(tmp_path / "scan.npz", points, normals)
    monkeypatch.chdir(tmp_path)
    assert alto_main(["reconstruct", str(source), "-m", "my_experiment", "-o", "out.ply", *RESOLUTION]) == 0
    assert_lands_on(trimesh.load(tmp_path / "out.ply", process=False), points, tolerance=0.15)


@pytest.mark.slow
def test_checkpoint_of_another_architecture_names_the_mismatch(
    object_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An upstream-style checkpoint (plain state dict) with the config of another model."""
    state = load_checkpoint(object_model)["model"].state_dict()
    upstream = tmp_path / "upstream.pt"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "it": 0}, upstream)
    config = load_config(object_model.parent.parent / "c.yaml",
                         overrides=[{"model": {"encoder_kwargs": {"plane_resolution": 32, "hidden_dim": 32}}}])
    with pytest.raises(CheckpointError) as info:
        alto.reconstruct(np.zeros((10, 3)), upstream, config=config)
    assert "encoder" in str(info.value)
    # the same through the command line: exit 2 with the reason, OUTPUT untouched
    config_file = tmp_path / "other.yaml"
    config_file.write_text(yaml.safe_dump(config))
    np.save(tmp_path / "scan.npy", np.random.default_rng(2).normal(size=(500, 3)))
    output = tmp_path / "keep.ply"
    output.write_bytes(b"an earlier result")
    capsys.readouterr()
    args = ["reconstruct", str(tmp_path / "scan.npy"), "-m", str(upstream), "--config", str(config_file),
            "-o", str(output)]
    assert alto_main(args) == 2
    assert "encoder" in capsys.readouterr().err
    assert output.read_bytes() == b"an earlier result"


def _primitive_points(mesh: trimesh.Trimesh, count: int, noise: float, seed: int = 1) -> np.ndarray:
    """``count`` surface points of ``mesh`` scaled to a longest side of 1, with Gaussian noise."""
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    points = points / float(np.ptp(points, axis=0).max())
    return points + np.random.default_rng(seed).normal(0.0, noise, points.shape)


PRIMITIVES = {
    "sphere": trimesh.creation.icosphere(4, radius=0.5),
    "box": trimesh.creation.box((1.0, 0.5, 0.3)),
    "cylinder": trimesh.creation.cylinder(0.1, 1.0),
    "torus": trimesh.creation.torus(0.35, 0.1),
}


@pytest.mark.parametrize("shape", list(PRIMITIVES))
def test_inputs_unlike_the_training_data_are_warned_about(shape: str) -> None:
    """The published ShapeNet models' inputs: 3000 points, noise 0.005, unit cube."""
    profile = published_model("convonet-shapenet-3plane").profile()
    mesh, box = PRIMITIVES[shape], 1.1

    def warnings(points: np.ndarray, points_in: int | None = None, mode: str = "object") -> list[str]:
        return input_warnings(points, points_in or len(points), profile.points, profile, mode, box)

    assert warnings(_primitive_points(mesh, 3000, 0.005)) == []
    assert warnings(_primitive_points(mesh, 3000, 0.01)) == []  # twice the training noise is fine
    (noisy,) = warnings(_primitive_points(mesh, 3000, 0.05))
    assert noisy.startswith("the points look noisy")
    (sparse,) = warnings(_primitive_points(mesh, 1000, 0.005))
    assert sparse.startswith("only 1000 input points where the model was trained on 3000")
    assert warnings(_primitive_points(mesh, 3000, 0.005), mode="scene") == [
        "the model was trained on objects but runs in scene mode"]


def test_scenes_at_the_wrong_scale_are_warned_about() -> None:
    profile = published_model("convonet-rooms-grid64").profile()
    room = trimesh.creation.box((1.0, 0.4, 0.8))
    for scale, expected in ((1.0, []), (0.05, ["the scene spans only"]), (3.0, ["the scene is 1.2"])):
        points = _primitive_points(room, 10000, 0.005 / scale) * scale
        found = input_warnings(points, len(points), profile.points, profile, "scene", 1.1)
        assert [w[: len(e)] for w, e in zip(found, expected, strict=True)] == expected


@pytest.mark.slow
def test_reconstruct_logs_the_frame_and_the_subsampling(object_model: Path, demo_dataset: DemoResult,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    points, _ = surface_points(demo_dataset, "objects", "03001627")
    reconstructor = Reconstructor(load_checkpoint(object_model)["model"], resolution=16)
    with caplog.at_level(logging.INFO, logger="alto.reconstruction.api"):
        reconstructor.run(points * SCALE + OFFSET)
    assert any(m.startswith("object frame: bounding-box centre (") and "scaled to 1" in m for m in caplog.messages)
    assert f"subsampled {len(points)} points to 300, the model's training density (seed 0)" in caplog.messages
    result = reconstructor.run(points[:100])
    assert any(w.startswith("only 100 input points where the model was trained on 300") for w in result.warnings)
