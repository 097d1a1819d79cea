"""Unions of primitives: occupancy, and exactly uniform samples of the union's surface."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alto.geometry.primitives import INSIDE_TOLERANCE, box, capsule, cylinder, rotation_matrix, sphere
from alto.geometry.solid import Solid, sample_union_surfaces


def test_contains_is_the_union(assert_exact_labels) -> None:
    parts = (
        box([0.0, 0.0, 0.0], [0.5, 0.2, 0.3], rotation_matrix("y", 0.5)),
        cylinder([0.1, -0.3, 0.0], [0.1, 0.3, 0.0], 0.08),
        capsule([-0.3, 0.2, 0.1], [0.3, 0.1, -0.2], 0.05),
    )
    points = np.random.default_rng(0).uniform(-0.5, 0.5, (30000, 3))
    solid = Solid(parts)
    assert_exact_labels(solid.contains(points), parts, points)
    np.testing.assert_array_equal(solid.contains(points), solid.implicit(points) <= INSIDE_TOLERANCE)


def test_union_surface_of_flush_boxes_is_uniform() -> None:
    """Two unit cubes overlapping by half form a 1.5 x 1 x 1 box with area 8.

    Their top, bottom, front and back faces are coplanar where they overlap; a
    union sampler that kept both copies would oversample the overlap there.
    """
    solid = Solid((box([0.5, 0.5, 0.5], [1, 1, 1]), box([1.0, 0.5, 0.5], [1, 1, 1])))
    points, normals = solid.sample_surface(200_000, np.random.default_rng(1))
    assert np.abs(solid.implicit(points)).max() < 1e-12
    on_left = points[:, 0] < 1e-9
    assert on_left.mean() == pytest.approx(1 / 8, abs=0.004)
    np.testing.assert_allclose(normals[on_left], [[-1.0, 0.0, 0.0]] * int(on_left.sum()))
    top = points[:, 1] > 1 - 1e-9
    assert top.mean() == pytest.approx(1.5 / 8, abs=0.004)
    # the overlap strip x in [0.5, 1] of the top face holds a third of the top's points
    strip = top & (points[:, 0] > 0.5) & (points[:, 0] < 1.0)
    assert strip.sum() / top.sum() == pytest.approx(1 / 3, abs=0.01)
    # no point lies inside the union: nothing on the hidden faces x = 0.5 and x = 1
    hidden = (np.abs(points[:, 0] - 0.5) < 1e-9) | (np.abs(points[:, 0] - 1.0) < 1e-9)
    assert not hidden.any()


def test_union_of_overlapping_spheres_keeps_visible_caps() -> None:
    """Two unit spheres 1 apart: each keeps the cap beyond the other (3/4 of its area)."""
    solid = Solid((sphere([0, 0, 0], 1.0), sphere([1, 0, 0], 1.0)))
    points, normals = solid.sample_surface(100_000, np.random.default_rng(2))
    assert np.abs(solid.implicit(points)).max() < 1e-12
    left = points[:, 0] < 0.5
    assert left.mean() == pytest.approx(0.5, abs=0.006)
    centres = np.where(left[:, None], 0.0, 1.0) * np.array([1.0, 0.0, 0.0])
    np.testing.assert_allclose(normals, points - centres, atol=1e-12)


def test_weights_share_points_between_solids() -> None:
    small, large = Solid((sphere([0, 0, 0], 1.0),)), Solid((sphere([5, 0, 0], 2.0),))
    _, _, owner = sample_union_surfaces([small, large], [1.0, 0.25], 50_000, np.random.default_rng(3))
    # areas 4 pi and 16 pi, weighted 1 and 0.25: equal shares
    assert (owner == 0).mean() == pytest.approx(0.5, abs=0.01)


def test_sampling_is_seeded_and_exact_in_count() -> None:
    solid = Solid((box([0, 0, 0], [1, 1, 1]), sphere([0.5, 0.5, 0.5], 0.3)))
    a = solid.sample_surface(1234, np.random.default_rng(4))
    b = solid.sample_surface(1234, np.random.default_rng(4))
    c = solid.sample_surface(1234, np.random.default_rng(5))
    assert a[0].shape == (1234, 3)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert solid.sample_surface(0, np.random.default_rng(4))[0].shape == (0, 3)


def test_bounds_and_transform() -> None:
    solid = Solid((box([0, 0, 0], [1, 2, 3]), sphere([2, 0, 0], 0.5)))
    np.testing.assert_allclose(solid.bounds(), [[-0.5, -1.0, -1.5], [2.5, 1.0, 1.5]])
    moved = solid.transformed(2.0, rotation_matrix("y", math.pi / 2), [1.0, 0.0, 0.0])
    np.testing.assert_allclose(moved.bounds(), [[-2.0, -2.0, -5.0], [4.0, 2.0, 1.0]], atol=1e-12)
