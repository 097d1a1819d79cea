"""One-object evaluation end to end: known answers, failures, rooms, determinism."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from alto.errors import InputError
from alto.eval.evaluator import EvalSettings, evaluate_object, rng_for_object
from alto.eval.metrics import FAILURE_PENALTIES, FSCORE_THRESHOLDS, METRIC_NAMES
from alto.eval.sampling import (
    WALL_CROP_EPS,
    TriangleSurface,
    crop_to_reference_bounds,
    sample_surface,
    sample_surface_without_walls,
)

N_IOU = 20_000
BOX = 0.55  # IoU points are uniform in [-BOX, BOX]^3, as in the datasets


def iou_points(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-BOX, BOX, (N_IOU, 3))


def inside_convex(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    """Half-space test against every face plane: exact for a convex mesh."""
    offsets = np.einsum("fd,fd->f", mesh.face_normals, mesh.triangles[:, 0])
    return (points @ mesh.face_normals.T <= offsets).all(axis=1)


def sphere() -> trimesh.Trimesh:
    return trimesh.creation.icosphere(subdivisions=2, radius=0.3)


def exact_ground_truth(mesh: trimesh.Trimesh, seed: int = 100):
    """GT surface samples of ``mesh`` itself, and IoU points labelled exactly."""
    gt = sample_surface(mesh.vertices, mesh.faces, 100_000, np.random.default_rng(seed))
    points = iou_points()
    return gt.points, gt.normals, points, inside_convex(mesh, points)


def quad(corner, u, v) -> trimesh.Trimesh:
    """The rectangle corner + [0, 1] u + [0, 1] v as two triangles."""
    corner, u, v = (np.asarray(x, dtype=float) for x in (corner, u, v))
    return trimesh.Trimesh([corner, corner + u, corner + u + v, corner + v], [[0, 1, 2], [0, 2, 3]], process=False)


def test_identical_mesh_scores_perfectly():
    mesh = sphere()
    row = evaluate_object(mesh, *exact_ground_truth(mesh), rng=1, class_id="c", model_name="m")
    assert row["failed"] is False and row["failure_reason"] == ""
    assert row["iou"] == 1.0
    assert row["chamfer_l1"] < 0.003  # mean gap between two 100k samplings of ~1.1 area
    assert row["chamfer_l2"] < 1e-5
    assert all(row[name] == 1.0 for name in FSCORE_THRESHOLDS)
    assert row["normal_consistency"] > 0.995  # neighbours across an edge differ slightly
    assert (row["n_vertices"], row["n_faces"]) == (len(mesh.vertices), len(mesh.faces))


def test_plane_shifted_along_its_normal_matches_hand_computation():
    # GT: a grid on the unit square at z = 0; prediction: the square lifted by d.
    # Every distance is at least d (the planes are d apart) and a prediction point
    # is at most sqrt(d^2 + h^2 / 2) from the GT grid of spacing h.
    d, h = 0.012, 1.0 / 300
    centres = (np.arange(300) + 0.5) * h
    x, y = np.meshgrid(centres, centres, indexing="ij")
    gt = np.stack([x.ravel(), y.ravel(), np.zeros(x.size)], axis=1)
    gt_normals = np.tile([0.0, 0.0, 1.0], (len(gt), 1))
    plane = quad([0, 0, d], [1, 0, 0], [0, 1, 0])
    points = iou_points()
    row = evaluate_object(plane, gt, gt_normals, points, np.zeros(len(points)), rng=2)

    assert d <= row["accuracy"] <= math.sqrt(d * d + h * h / 2)
    # GT -> prediction adds the lateral gap to the nearest of 100k random samples
    # (mean squared gap ~ 1 / (pi * 100k)), well under 1e-3 on average.
    assert d <= row["completeness"] <= d + 1e-3
    assert d <= row["chamfer_l1"] <= d + 1e-3
    assert d * d <= row["chamfer_l2"] <= (d + 1e-3) ** 2
    assert row["fscore_1pct"] == 0.0  # every distance >= d = 1.2% > 1%
    assert row["fscore_1p5pct"] == 1.0
    assert row["fscore_2pct"] == 1.0
    assert row["normal_consistency"] == pytest.approx(1.0)


def test_grown_cube_iou_and_distances():
    # Prediction: the GT cube with every face pushed out by d along its normal.
    half, d = 0.3, 0.02
    gt_mesh = trimesh.creation.box(extents=[2 * half] * 3)
    pred = trimesh.creation.box(extents=[2 * (half + d)] * 3)
    gt = sample_surface(gt_mesh.vertices, gt_mesh.faces, 50_000, np.random.default_rng(3))
    points = iou_points()
    occ = np.abs(points).max(axis=1) < half
    row = evaluate_object(pred, gt.points, gt.normals, points, occ, rng=4)

    expected_iou = occ.sum() / (np.abs(points).max(axis=1) < half + d).sum()
    assert row["iou"] == pytest.approx(expected_iou, abs=1e-12)
    # The surfaces are at least d apart, and a face point away from the rim is exactly d
    # from the plane below it: distances lie in [d, d * sqrt(3) + sampling gap].
    assert d <= row["completeness"] < 1.2 * d
    assert d <= row["accuracy"] < 1.2 * d
    assert row["fscore_1pct"] == 0.0 and row["fscore_1p5pct"] == 0.0


@pytest.mark.parametrize(
    ("mesh", "reason"),
    [
        (trimesh.Trimesh(), "empty mesh"),
        (None, "no mesh"),
        (trimesh.Trimesh([[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 1, 2]], process=False), "zero surface"),
        (trimesh.Trimesh([[0, 0, 0], [1, 0, np.nan], [0, 1, 0]], [[0, 1, 2]], process=False), "NaN"),
    ],
)
def test_unusable_meshes_give_failed_rows_with_penalties(mesh, reason):
    row = evaluate_object(mesh, *exact_ground_truth(sphere()), rng=0, class_id="c", model_name="m")
    assert row["failed"] is True
    assert reason in row["failure_reason"]
    expected = {
        "completeness": math.sqrt(3),
        "accuracy": math.sqrt(3),
        "completeness2": 3.0,
        "accuracy2": 3.0,
        "chamfer_l1": math.sqrt(3),
        "chamfer_l2": 3.0,
        "normals_completeness": -1.0,
        "normals_accuracy": -1.0,
        "normal_consistency": -1.0,
        "iou": 0.0,
        **dict.fromkeys(FSCORE_THRESHOLDS, 0.0),
    }
    assert {name: row[name] for name in METRIC_NAMES} == pytest.approx(expected)


def test_mesh_path_missing_unreadable_and_valid(tmp_path):
    mesh = sphere()
    gt = exact_ground_truth(mesh)
    missing = tmp_path / "missing.ply"
    row = evaluate_object(missing, *gt, rng=0)
    assert row["failed"] and str(missing) in row["failure_reason"]

    garbage = tmp_path / "garbage.ply"
    garbage.write_bytes(b"not a mesh")
    row = evaluate_object(garbage, *gt, rng=0)
    assert row["failed"] and str(garbage) in row["failure_reason"]

    stored = tmp_path / "sphere.ply"
    mesh.export(stored)
    from_file = evaluate_object(stored, *gt, rng=9)
    in_memory = evaluate_object(mesh, *gt, rng=9)
    assert not from_file["failed"]
    for name in METRIC_NAMES:
        assert from_file[name] == pytest.approx(in_memory[name], rel=1e-5), name


def test_non_watertight_prediction_still_gets_a_plausible_iou():
    mesh = sphere()
    gt = exact_ground_truth(mesh)
    holed = trimesh.Trimesh(mesh.vertices, np.delete(mesh.faces, np.s_[::7], axis=0), process=False)
    assert not holed.is_watertight
    row = evaluate_object(holed, *gt, rng=0)
    assert not row["failed"]
    assert np.isfinite(row["iou"]) and 0.9 < row["iou"] <= 1.0


def room_parts(wall: float):
    """A floor slab and one wall slab of thickness ``wall``, plus a box on the floor.

    Returns the three closed boxes (what a reconstruction produces) and the
    GT-visible surface: the floor's top face, the wall's inner face and the box, as
    the room builder samples them.
    """
    top = -0.5 + wall
    floor = trimesh.creation.box(bounds=[[-0.5, -0.5, -0.5], [0.5, top, 0.5]])
    wall_box = trimesh.creation.box(bounds=[[-0.5, top, -0.5], [top, -0.2, 0.5]])
    thing = trimesh.creation.box(bounds=[[-0.1, top, -0.1], [0.1, top + 0.2, 0.1]])
    visible = trimesh.util.concatenate(
        [
            quad([top, top, -0.5], [0, 0, 1], [0.5 - top, 0, 0]),
            quad([top, top, -0.5], [0, -0.2 - top, 0], [0, 0, 1]),
            thing,
        ]
    )
    return [floor, wall_box, thing], visible


def test_wall_removal_on_a_synthetic_room():
    wall = 0.05
    boxes, visible = room_parts(wall)
    closed = trimesh.util.concatenate(boxes)
    gt = sample_surface(visible.vertices, visible.faces, 100_000, np.random.default_rng(5))
    points = iou_points()
    occ = np.any([inside_convex(box, points) for box in boxes], axis=0)
    settings = EvalSettings(n_points=50_000)
    args = (closed, gt.points, gt.normals, points, occ)
    kept = evaluate_object(*args, rng=6, remove_wall=True, settings=settings)
    full = evaluate_object(*args, rng=6, remove_wall=False, settings=settings)
    assert kept["remove_wall"] and not full["remove_wall"]
    assert kept["iou"] == full["iou"] == pytest.approx(1.0, abs=1e-3)

    # Without the crop, the floor's underside (area 1) and the wall's outer face
    # (area 1 x 0.25) are sampled, each of their points at least `wall` from any GT point.
    hidden_fraction = (1.0 + (-0.2 - (-0.5 + wall))) / closed.area
    assert full["accuracy"] >= 0.9 * hidden_fraction * wall
    # With it, every kept sample is on a GT-visible face or within eps of one.
    assert kept["accuracy"] < 0.2 * full["accuracy"]
    assert kept["fscore_1pct"] > full["fscore_1pct"]
    # The crop puts all samples on the visible faces: GT is covered at least as densely.
    assert kept["completeness"] <= full["completeness"]


def test_wall_removal_samples_stay_inside_the_room_bounds():
    boxes, visible = room_parts(0.05)
    closed = trimesh.util.concatenate(boxes)
    gt = sample_surface(visible.vertices, visible.faces, 20_000, np.random.default_rng(5))
    surface = TriangleSurface.from_mesh(closed.vertices, closed.faces)
    samples = sample_surface_without_walls(surface, gt.points, 5000, np.random.default_rng(0))
    assert crop_to_reference_bounds(samples.points, gt.points).all()
    assert samples.points[:, 1].min() >= -0.45 - WALL_CROP_EPS
    assert samples.points[:, 0].min() >= -0.45 - WALL_CROP_EPS


def test_wall_removal_failure_when_nothing_is_inside_the_room():
    mesh = trimesh.creation.box(bounds=[[2.0, 2.0, 2.0], [3.0, 3.0, 3.0]])
    row = evaluate_object(mesh, *exact_ground_truth(sphere()), rng=0, remove_wall=True)
    assert row["failed"] and "room bounds" in row["failure_reason"]
    assert row["iou"] == 0.0


def test_same_seed_same_row_other_seed_other_samples():
    mesh = sphere()
    gt = exact_ground_truth(mesh)
    settings = EvalSettings(n_points=2000)
    a = evaluate_object(mesh, *gt, rng=np.random.default_rng(11), settings=settings)
    b = evaluate_object(mesh, *gt, rng=np.random.default_rng(11), settings=settings)
    c = evaluate_object(mesh, *gt, rng=np.random.default_rng(12), settings=settings)
    assert a == b
    assert a["accuracy"] != c["accuracy"]


def test_rng_for_object_depends_on_seed_and_names_only():
    def draw(*key):
        return rng_for_object(*key).random(4)

    np.testing.assert_array_equal(draw(0, "rooms_04", "00000001"), draw(0, "rooms_04", "00000001"))
    assert not np.allclose(draw(0, "rooms_04", "00000001"), draw(0, "rooms_04", "00000002"))
    assert not np.allclose(draw(0, "rooms_04", "00000001"), draw(1, "rooms_04", "00000001"))
    assert not np.allclose(draw(0, "a", "bc"), draw(0, "ab", "c"))


def test_class_name_defaults_to_class_id():
    row = evaluate_object(None, *exact_ground_truth(sphere()), rng=0, class_id="rooms_04", model_name="7")
    assert (row["class_id"], row["class_name"], row["model_name"]) == ("rooms_04", "rooms_04", "7")


def with_nan(points: np.ndarray) -> np.ndarray:
    points = points.copy()
    points[0, 1] = np.nan
    return points


GT_FIELDS = ("gt_points", "gt_normals", "iou_points", "iou_occupancies")


@pytest.mark.parametrize(
    ("field", "corrupt"),
    [
        ("gt_points", lambda a: a[:, :2]),
        ("gt_points", with_nan),
        ("gt_normals", lambda a: a[:-1]),
        ("iou_points", lambda a: a[:0]),
        ("iou_occupancies", lambda a: a[:-1]),
    ],
)
def test_bad_ground_truth_raises_naming_the_array(field, corrupt):
    args = list(exact_ground_truth(sphere()))
    position = GT_FIELDS.index(field)
    args[position] = corrupt(args[position])
    with pytest.raises(InputError, match=field):
        evaluate_object(sphere(), *args, rng=0)


@pytest.mark.parametrize(
    "kwargs", [{"n_points": 0}, {"wall_oversample": 0}, {"wall_eps": -1.0}, {"wall_eps": float("nan")}]
)
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(InputError, match=next(iter(kwargs))):
        EvalSettings(**kwargs)


def test_without_occupancy_ground_truth_iou_is_nan_not_a_failure():
    mesh = sphere()
    gt_points, gt_normals, points, occupancies = exact_ground_truth(mesh)
    with_iou = evaluate_object(mesh, gt_points, gt_normals, points, occupancies, rng=1, class_id="c", model_name="m")
    row = evaluate_object(mesh, gt_points, gt_normals, None, None, rng=1, class_id="c", model_name="m")
    assert row["failed"] is False and np.isnan(row["iou"])
    assert row["chamfer_l1"] == with_iou["chamfer_l1"]
    failed = evaluate_object(None, gt_points, gt_normals, None, None, rng=1, class_id="c", model_name="m")
    assert failed["failed"] is True and np.isnan(failed["iou"])
    assert failed["chamfer_l1"] == FAILURE_PENALTIES["chamfer_l1"]
    with pytest.raises(InputError, match="both or neither"):
        evaluate_object(mesh, gt_points, gt_normals, points, None, rng=1)
