"""Analytic primitives: inside tests, exact surfaces, uniform sampling, bounds, transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alto.geometry.primitives import (
    Frustum,
    Primitive,
    Torus,
    box,
    capsule,
    cylinder,
    frustum,
    rotation_aligning_y,
    rotation_matrix,
    sphere,
    torus,
)

TILT = rotation_matrix("y", 0.7) @ rotation_matrix("x", 0.3) @ rotation_matrix("z", -1.1)


def _primitives() -> list[Primitive]:
    return [
        box([0.1, 0.2, 0.3], [0.4, 0.2, 0.6], TILT),
        frustum([0.0, 0.0, 0.0], [0.3, 0.5, 0.1], 0.2, 0.05),
        frustum([0.1, 0.0, 0.0], [0.1, -0.4, 0.2], 0.0, 0.15),
        cylinder([0.0, -0.2, 0.0], [0.0, 0.3, 0.0], 0.1),
        sphere([0.2, 0.0, -0.1], 0.3),
        capsule([0.0, 0.0, 0.0], [0.2, 0.3, -0.1], 0.1),
        torus([0.0, 0.1, 0.0], [1.0, 1.0, 0.0], 0.3, 0.08),
    ]


@pytest.mark.parametrize("prim", _primitives(), ids=lambda p: type(p).__name__)
def test_contains_matches_textbook_definition(prim: Primitive, reference_solid_inside, assert_exact_labels) -> None:
    points = np.random.default_rng(0).uniform(-0.7, 0.7, (20000, 3))
    assert 0.001 < reference_solid_inside([prim], points).mean() < 0.9
    assert_exact_labels(prim.contains(points), [prim], points)


@pytest.mark.parametrize("prim", _primitives(), ids=lambda p: type(p).__name__)
def test_surface_samples_lie_on_surface_with_outward_unit_normals(prim: Primitive) -> None:
    points, normals = prim.sample_surface(5000, np.random.default_rng(1))
    assert np.abs(prim.implicit(points)).max() < 1e-12
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-12)
    step = 1e-6
    assert np.all(prim.implicit(points + step * normals) > 0)
    assert np.all(prim.implicit(points - step * normals) < 0)


@pytest.mark.parametrize("prim", _primitives(), ids=lambda p: type(p).__name__)
def test_bounds_are_tight(prim: Primitive) -> None:
    points, _ = prim.sample_surface(200_000, np.random.default_rng(2))
    lo, hi = prim.bounds()
    assert np.all(points >= lo - 1e-12) and np.all(points <= hi + 1e-12)
    # the extreme samples come close to every face of the box
    assert np.abs(points.min(axis=0) - lo).max() < 0.02
    assert np.abs(points.max(axis=0) - hi).max() < 0.02


@pytest.mark.parametrize("prim", _primitives(), ids=lambda p: type(p).__name__)
def test_transformed_is_the_image(prim: Primitive) -> None:
    scale, rot, shift = 1.7, rotation_matrix("z", 0.4) @ rotation_matrix("y", -0.9), np.array([0.3, -1.0, 2.0])
    moved = prim.transformed(scale, rot, shift)
    points = np.random.default_rng(3).uniform(-0.7, 0.7, (5000, 3))
    np.testing.assert_array_equal(moved.contains(scale * points @ rot.T + shift), prim.contains(points))
    assert moved.area == pytest.approx(scale**2 * prim.area, rel=1e-12)
    surface, _ = prim.sample_surface(1000, np.random.default_rng(4))
    assert np.abs(moved.implicit(scale * surface @ rot.T + shift)).max() < 1e-12


def test_areas_match_closed_forms() -> None:
    assert box([0, 0, 0], [0.4, 0.2, 0.6]).area == pytest.approx(2 * (0.08 + 0.12 + 0.24))
    assert cylinder([0, 0, 0], [0, 0.5, 0], 0.2).area == pytest.approx(2 * math.pi * 0.2 * 0.5 + 2 * math.pi * 0.04)
    assert sphere([0, 0, 0], 0.3).area == pytest.approx(4 * math.pi * 0.09)
    assert capsule([0, 0, 0], [0, 0.4, 0], 0.1).area == pytest.approx(2 * math.pi * 0.1 * 0.4 + 4 * math.pi * 0.01)
    assert torus([0, 0, 0], [0, 1, 0], 0.3, 0.08).area == pytest.approx(4 * math.pi**2 * 0.3 * 0.08)
    slant = math.hypot(0.15, 0.5)
    assert frustum([0, 0, 0], [0, 0.5, 0], 0.2, 0.05).area == pytest.approx(
        math.pi * 0.25 * slant + math.pi * (0.04 + 0.0025)
    )


def test_cone_side_samples_are_area_uniform() -> None:
    """On a cone the side's area below height y grows as 1 - (1 - y/H)^2."""
    cone = Frustum(radius_bottom=0.3, radius_top=0.0, half_height=0.5)
    points, normals = cone.sample_surface(200_000, np.random.default_rng(5))
    side = normals[:, 1] > -0.5
    side_share = cone.area - math.pi * 0.09
    assert side.mean() == pytest.approx(side_share / cone.area, abs=0.005)
    t = points[side, 1] + 0.5
    for level in (0.25, 0.5, 0.75):
        assert (t <= level).mean() == pytest.approx(1 - (1 - level) ** 2, abs=0.006)


def test_torus_samples_are_area_uniform() -> None:
    """The outer half of a torus (cos phi > 0) holds (pi R + 2 r) / (2 pi R) of its area."""
    ring = Torus(major=0.3, minor=0.15)
    points, _ = ring.sample_surface(200_000, np.random.default_rng(6))
    outer = np.hypot(points[:, 0], points[:, 2]) > 0.3
    assert outer.mean() == pytest.approx((math.pi * 0.3 + 0.3) / (2 * math.pi * 0.3), abs=0.005)


def test_box_faces_get_points_by_area() -> None:
    slab = box([0, 0, 0], [1.0, 0.1, 2.0])
    _, normals = slab.sample_surface(100_000, np.random.default_rng(7))
    share_top = (normals[:, 1] > 0.5).mean()
    assert share_top == pytest.approx(2.0 / slab.area, abs=0.005)


def test_rotations() -> None:
    for axis in "xyz":
        rot = rotation_matrix(axis, 0.8)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-15)
        assert np.linalg.det(rot) == pytest.approx(1.0)
    # right-handed: a quarter turn about z takes x to y, about y takes z to x, about x takes y to z
    np.testing.assert_allclose(rotation_matrix("z", math.pi / 2) @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(rotation_matrix("y", math.pi / 2) @ [0, 0, 1], [1, 0, 0], atol=1e-15)
    np.testing.assert_allclose(rotation_matrix("x", math.pi / 2) @ [0, 1, 0], [0, 0, 1], atol=1e-15)
    for direction in ([1.0, 2.0, -0.5], [0.0, -1.0, 0.0], [0.0, 3.0, 0.0]):
        rot = rotation_aligning_y(np.array(direction))
        np.testing.assert_allclose(rot @ [0, 1, 0], np.array(direction) / np.linalg.norm(direction), atol=1e-12)
        assert np.linalg.det(rot) == pytest.approx(1.0)


def test_invalid_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match="half extents"):
        box([0, 0, 0], [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="minor < major"):
        torus([0, 0, 0], [0, 1, 0], 0.1, 0.2)
    with pytest.raises(ValueError, match="must differ"):
        cylinder([0, 0, 0], [0, 0, 0], 0.1)
    with pytest.raises(ValueError, match="positive"):
        sphere([0, 0, 0], 0.3).transformed(scale=0.0)
