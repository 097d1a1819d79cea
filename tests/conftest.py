"""Shared fixtures.

``demo_dataset`` builds a tiny procedural demo dataset once per test session
(all seven object categories, all five room classes, small sample counts) so
that tests of any stage can read real files in the upstream layout.
``demo_data_config`` is an upstream-style config dict pointing at its objects.
``reference_solid_inside`` labels points for a union of analytic primitives with
textbook formulas written independently of :mod:`alto.geometry`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from alto.data.demo import DemoConfig, DemoResult, build_demo
from alto.geometry.primitives import Primitive

#: The tiny demo used by the tests: 3 objects per category (one per split), 3 rooms per
#: class, a few thousand points per file.
TINY_DEMO = DemoConfig(
    seed=7,
    objects_per_category=3,
    object_points=3000,
    object_surface_points=2000,
    rooms_per_class=3,
    room_files=2,
    room_points=2000,
    room_surface_points=2000,
)


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The tiny demo dataset (read-only: copy files before corrupting them)."""
    return build_demo(tmp_path_factory.mktemp("demo"), TINY_DEMO)


@pytest.fixture
def demo_data_config(demo_dataset: DemoResult) -> dict[str, Any]:
    """An upstream-style experiment config (``data`` section) for the demo objects."""
    return {
        "seed": 3,
        "data": {
            "path": str(Path(demo_dataset.objects_root)),
            "input_type": "pointcloud",
            "classes": None,
            "pointcloud_n": 300,
            "pointcloud_noise": 0.005,
            "points_subsample": 256,
            "points_file": "points.npz",
            "points_iou_file": "points.npz",
            "pointcloud_file": "pointcloud.npz",
            "pointcloud_chamfer_file": "pointcloud.npz",
            "multi_files": None,
            "padding": 0.1,
        },
    }


def _reference_local(prim: Primitive, points: np.ndarray) -> np.ndarray:
    """Local coordinates by solving ``R q = p - t`` (independent of ``Pose.to_local``)."""
    return np.linalg.solve(prim.pose.rotation, (np.asarray(points, dtype=np.float64) - prim.pose.translation).T).T


def reference_inside(prim: Primitive, points: np.ndarray, slack: float = 0.0) -> np.ndarray:
    """Inside test of one analytic primitive from its textbook definition, grown by ``slack``."""
    q = _reference_local(prim, points)
    x, y, z = q[:, 0], q[:, 1], q[:, 2]
    rho = np.sqrt(x**2 + z**2)
    kind = type(prim).__name__
    if kind == "Box":
        return np.all(np.abs(q) <= prim.half_extents + slack, axis=1)
    if kind == "Frustum":
        h = prim.half_height
        radius = prim.radius_bottom + (prim.radius_top - prim.radius_bottom) * (y + h) / (2 * h)
        return (np.abs(y) <= h + slack) & (rho <= radius + slack)
    if kind == "Sphere":
        return np.sqrt(x**2 + y**2 + z**2) <= prim.radius + slack
    if kind == "Capsule":
        nearest = np.clip(y, -prim.half_length, prim.half_length)
        return np.sqrt(x**2 + (y - nearest) ** 2 + z**2) <= prim.radius + slack
    if kind == "Torus":
        return np.sqrt((rho - prim.major) ** 2 + y**2) <= prim.minor + slack
    raise AssertionError(f"no reference for {kind}")


#: Points within this distance of a surface are "on" it: either label is accepted there.
REFERENCE_SLACK = 1e-9


@pytest.fixture(scope="session")
def reference_solid_inside() -> Callable[..., np.ndarray]:
    """``f(primitives, points, slack=0) -> bool (N,)``: textbook occupancy of a union of primitives."""

    def inside(primitives: Sequence[Primitive], points: np.ndarray, slack: float = 0.0) -> np.ndarray:
        out = np.zeros(len(points), dtype=bool)
        for prim in primitives:
            out |= reference_inside(prim, points, slack)
        return out

    return inside


@pytest.fixture(scope="session")
def assert_exact_labels(reference_solid_inside: Callable[..., np.ndarray]) -> Callable[..., None]:
    """``f(labels, primitives, points)``: labels must equal the textbook occupancy.

    Points on a surface (within ``REFERENCE_SLACK``; e.g. a float16 sample exactly on
    a face at y = 0.5) may carry either label, but must be rare.
    """

    def check(labels: np.ndarray, primitives: Sequence[Primitive], points: np.ndarray) -> None:
        surely_in = reference_solid_inside(primitives, points, -REFERENCE_SLACK)
        maybe_in = reference_solid_inside(primitives, points, REFERENCE_SLACK)
        np.testing.assert_array_equal(labels[surely_in], True)
        np.testing.assert_array_equal(labels[~maybe_in], False)
        assert (maybe_in & ~surely_in).mean() < 0.01

    return check
