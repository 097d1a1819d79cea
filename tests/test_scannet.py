"""ScanNet preprocessing on a small synthetic scan in ScanNet's on-disk layout.

The scan is a 4 m x 3 m room, 2.5 m high and open at the top, with a floating
1 m box, built z-up in the aligned frame and moved into a "scan" frame by the
inverse of an axis alignment (a rotation about z plus a translation), as ScanNet
stores it. Every expectation below follows from that geometry, not from the code.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest
import trimesh
import yaml

from alto.data.scannet import (
    add_scannet_arguments,
    normalized_to_scan,
    preprocess_scannet,
    preprocess_scene,
    run_scannet,
)
from alto.errors import DataError

SCENE = "scene0000_00"
ROOM = (4.0, 3.0, 2.5)  # x, y, height (z up) in metres, in the aligned frame
BOX = ((1.5, 1.0, 0.4), (2.5, 2.0, 0.8))
N_POINTS = 4000
TOL = 2e-3  # float16 steps are at most 4.9e-4 in [-1, 1]


def _alignment(angle_deg: float = 30.0, shift=(-1.2, 0.7, 0.15)) -> np.ndarray:
    """A ScanNet-like axis alignment: rotation about z and a translation."""
    a = np.deg2rad(angle_deg)
    matrix = np.eye(4)
    matrix[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    matrix[:3, 3] = shift
    return matrix


def _room_aligned() -> trimesh.Trimesh:
    """Floor and walls facing into the room (as a scan seen from inside) plus a box."""
    box = trimesh.creation.box(bounds=[(0.0, 0.0, 0.0), ROOM])
    inward = box.faces[:, ::-1]
    corners = box.vertices[inward]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    open_top = normals[:, 2] > -1e-9  # the ceiling's inward normal points down
    shell = trimesh.Trimesh(box.vertices, inward[open_top], process=False)
    return trimesh.util.concatenate([shell, trimesh.creation.box(bounds=BOX)])


def write_scan(scans, scene=SCENE, alignment=None, meta_lines=None):
    alignment = _alignment() if alignment is None else alignment
    aligned = _room_aligned()
    scan_vertices = trimesh.transform_points(aligned.vertices, np.linalg.inv(alignment))
    colours = np.tile(np.array([[180, 120, 60, 255]], dtype=np.uint8), (len(scan_vertices), 1))
    scan = trimesh.Trimesh(scan_vertices, aligned.faces, vertex_colors=colours, process=False)
    folder = scans / scene
    folder.mkdir(parents=True)
    scan.export(folder / f"{scene}_vh_clean_2.ply")
    if meta_lines is None:
        meta_lines = [
            f"axisAlignment = {' '.join(f'{x:.9f}' for x in alignment.ravel())}",
            "colorHeight = 968",
            "sceneType = Living room / Lounge",
        ]
    (folder / f"{scene}.txt").write_text("\n".join(meta_lines) + "\n")
    return scan, alignment


@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    root = tmp_path_factory.mktemp("scannet")
    scan, alignment = write_scan(root / "scans")
    preprocess_scannet(root / "scans", root / "out", n_points=N_POINTS, seed=3)
    with np.load(root / "out" / "scenes" / SCENE / "pointcloud.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return root, scan, alignment, arrays


def test_layout_split_and_metadata(processed):
    root, _, _, arrays = processed
    out = root / "out"
    assert (out / "scenes" / "test.lst").read_text().split() == [SCENE]
    metadata = yaml.safe_load((out / "metadata.yaml").read_text())
    assert set(metadata) == {"scenes"}
    assert metadata["scenes"]["id"] == "scenes"
    assert arrays["points"].shape == (N_POINTS, 3)
    assert arrays["normals"].shape == (N_POINTS, 3)
    assert arrays["points"].dtype == np.float16
    assert arrays["normals"].dtype == np.float16
    assert arrays["loc"].shape == (3,) and arrays["scale"].shape == ()
    assert arrays["axis_alignment"].shape == (4, 4)


def test_unit_cube_with_floor_at_minus_half(processed):
    _, _, _, arrays = processed
    points = arrays["points"].astype(np.float64)
    low, high = points.min(axis=0), points.max(axis=0)
    assert np.all(low >= -0.5 - TOL) and np.all(high <= 0.5 + TOL)
    assert low[1] == pytest.approx(-0.5, abs=TOL)
    assert (high - low).max() == pytest.approx(1.0, abs=TOL)
    # y is the room's height (2.5 m of the 4 m longest side), z its 3 m width.
    assert high[1] - low[1] == pytest.approx(ROOM[2] / ROOM[0], abs=TOL)
    assert high[2] - low[2] == pytest.approx(ROOM[1] / ROOM[0], abs=TOL)
    assert arrays["scale"] == pytest.approx(ROOM[0])


def test_normals_are_unit_and_follow_the_geometry(processed):
    _, _, _, arrays = processed
    points = arrays["points"].astype(np.float64)
    normals = arrays["normals"].astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=TOL)

    def assert_facing(mask, direction):
        assert mask.sum() > 10
        assert np.all(normals[mask] @ np.asarray(direction, dtype=np.float64) > 0.99)

    x, y, z = points.T
    half_z = ROOM[1] / ROOM[0] / 2
    on_floor, near_floor = y < -0.5 + TOL, y < -0.5 + 2 * TOL
    inner_x, inner_z = np.abs(x) < 0.5 - 2 * TOL, np.abs(z) < half_z - 2 * TOL
    # The floor faces up (+y) and the walls face into the room.
    assert_facing(on_floor & inner_x & inner_z, [0, 1, 0])
    assert_facing((x < -0.5 + TOL) & ~near_floor & inner_z, [1, 0, 0])
    assert_facing((x > 0.5 - TOL) & ~near_floor & inner_z, [-1, 0, 0])
    assert_facing((z < -half_z + TOL) & ~near_floor & inner_x, [0, 0, 1])
    assert_facing((z > half_z - TOL) & ~near_floor & inner_x, [0, 0, -1])
    # The box's outward normals: top up, bottom down.
    centre = (np.abs(x) < 0.1) & (np.abs(z) < 0.1)
    top, bottom = (BOX[1][2] / ROOM[0] - 0.5, BOX[0][2] / ROOM[0] - 0.5)
    assert_facing(centre & (np.abs(y - top) < TOL), [0, 1, 0])
    assert_facing(centre & (np.abs(y - bottom) < TOL), [0, -1, 0])


def test_stored_frame_maps_points_back_onto_the_scan(processed):
    _, scan, alignment, arrays = processed
    np.testing.assert_allclose(arrays["axis_alignment"], alignment, atol=1e-9)
    back = normalized_to_scan(arrays["points"], arrays["loc"], arrays["scale"],
                              arrays["axis_alignment"])
    _, distance, _ = trimesh.proximity.closest_point(scan, back)
    assert distance.max() < 3 * TOL * ROOM[0]


def test_same_seed_same_points_other_seed_or_scene_differs(tmp_path, processed):
    _, _, alignment, arrays = processed
    scans = tmp_path / "scans"
    write_scan(scans, alignment=alignment)
    write_scan(scans, scene="scene0001_00", alignment=alignment)

    def run(scene, seed):
        path = preprocess_scene(scans, scene, tmp_path / f"out{seed}", n_points=N_POINTS, seed=seed)
        with np.load(path) as data:
            return data["points"].tobytes() + data["normals"].tobytes()

    again = run(SCENE, 3)
    assert again == arrays["points"].tobytes() + arrays["normals"].tobytes()
    assert run(SCENE, 4) != again
    assert run("scene0001_00", 3) != again


def test_cli_processes_selected_scenes(tmp_path, capsys):
    write_scan(tmp_path / "scans")
    write_scan(tmp_path / "scans", scene="scene0002_00")
    parser = add_scannet_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--scans", str(tmp_path / "scans"), "--out", str(tmp_path / "out"),
                              "--scenes", "scene0002_00", "--n-points", "50"])
    assert run_scannet(args) == 0
    listed = tmp_path / "out" / "scenes" / "test.lst"
    assert capsys.readouterr().out.strip() == str(listed)
    assert listed.read_text().split() == ["scene0002_00"]
    assert not (tmp_path / "out" / "scenes" / SCENE).exists()


def test_missing_scannet_folder_explains_the_manual_step(tmp_path):
    with pytest.raises(DataError, match="cannot be downloaded automatically") as info:
        preprocess_scannet(tmp_path / "no_scans", tmp_path / "out")
    assert str(tmp_path / "no_scans") in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("remove", ["folder", "ply", "txt"])
def test_missing_scene_files_are_named(tmp_path, remove):
    scans = tmp_path / "scans"
    write_scan(scans)
    missing = {
        "folder": scans / "scene0099_00",
        "ply": scans / SCENE / f"{SCENE}_vh_clean_2.ply",
        "txt": scans / SCENE / f"{SCENE}.txt",
    }[remove]
    if missing.exists():
        missing.unlink()
    scene = missing.name if remove == "folder" else SCENE
    with pytest.raises(DataError) as info:
        preprocess_scene(scans, scene, tmp_path / "out", n_points=10)
    assert str(missing) in str(info.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("lines", "complaint"),
    [
        (["sceneType = Kitchen"], "axisAlignment"),
        (["axisAlignment = " + " ".join(["1"] * 15)], "16 finite numbers"),
        (["axisAlignment = " + " ".join(["0"] * 16)], "singular"),
    ],
)
def test_bad_axis_alignment_is_reported_with_the_file(tmp_path, lines, complaint):
    scans = tmp_path / "scans"
    write_scan(scans, meta_lines=lines)
    with pytest.raises(DataError, match=complaint) as info:
        preprocess_scene(scans, SCENE, tmp_path / "out", n_points=10)
    assert str(scans / SCENE / f"{SCENE}.txt") in str(info.value)


def test_flat_mesh_without_area_is_reported_with_the_file(tmp_path):
    scans = tmp_path / "scans"
    write_scan(scans)
    ply = scans / SCENE / f"{SCENE}_vh_clean_2.ply"
    collinear = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    trimesh.Trimesh(collinear, [[0, 1, 2]], process=False).export(ply)
    with pytest.raises(DataError, match="zero surface area") as info:
        preprocess_scene(scans, SCENE, tmp_path / "out", n_points=10)
    assert str(ply) in str(info.value)
