"""Seeded area-weighted surface sampling and the synthetic-room wall crop."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from alto.eval.sampling import (
    TriangleSurface,
    crop_to_reference_bounds,
    sample_surface,
    sample_surface_without_walls,
)


def two_triangles(scale_second: float) -> tuple[np.ndarray, np.ndarray]:
    """A unit right triangle at z = 0 and a copy scaled by ``scale_second`` at z = 1."""
    base = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    second = base * scale_second + [0.0, 0.0, 1.0]
    return np.vstack([base, second]), np.array([[0, 1, 2], [3, 4, 5]])


def test_samples_lie_on_the_box_with_its_face_normals():
    box = trimesh.creation.box(extents=(0.6, 0.4, 0.2))
    samples = sample_surface(box.vertices, box.faces, 5000, np.random.default_rng(0))
    half = np.array([0.3, 0.2, 0.1])
    scaled = np.abs(samples.points) / half
    np.testing.assert_allclose(scaled.max(axis=1), 1.0, atol=1e-12)
    assert (scaled <= 1.0 + 1e-12).all()
    # The normal is the outward axis of the face the point lies on.
    axis = scaled.argmax(axis=1)
    expected = np.zeros_like(samples.points)
    expected[np.arange(len(axis)), axis] = np.sign(samples.points[np.arange(len(axis)), axis])
    np.testing.assert_allclose(samples.normals, expected, atol=1e-12)


def test_faces_are_picked_in_proportion_to_area():
    vertices, faces = two_triangles(scale_second=np.sqrt(3.0))  # areas 0.5 and 1.5
    samples = sample_surface(vertices, faces, 40_000, np.random.default_rng(1))
    on_second = np.mean(samples.points[:, 2] > 0.5)
    assert on_second == pytest.approx(0.75, abs=0.01)


def test_points_are_uniform_inside_a_triangle():
    vertices, faces = two_triangles(scale_second=1.0)
    samples = sample_surface(vertices[:3], faces[:1], 40_000, np.random.default_rng(2))
    xy = samples.points[:, :2]
    assert (xy >= 0).all() and (xy.sum(axis=1) <= 1 + 1e-12).all()
    np.testing.assert_allclose(xy.mean(axis=0), [1 / 3, 1 / 3], atol=0.005)
    # Uniform density: the sub-triangle x + y < 0.5 holds a quarter of the area.
    assert np.mean(xy.sum(axis=1) < 0.5) == pytest.approx(0.25, abs=0.01)


def test_zero_area_faces_are_never_picked():
    vertices, faces = two_triangles(scale_second=1.0)
    degenerate = np.array([[0, 0, 1], [3, 3, 3]])
    samples = sample_surface(vertices, np.vstack([degenerate, faces]), 20_000, np.random.default_rng(3))
    np.testing.assert_allclose(np.linalg.norm(samples.normals, axis=1), 1.0)


def test_zero_total_area_is_refused():
    vertices, _ = two_triangles(scale_second=1.0)
    with pytest.raises(ValueError, match="zero total area"):
        sample_surface(vertices, np.array([[0, 0, 1]]), 10, np.random.default_rng(0))


def test_area_is_the_sum_of_triangle_areas():
    vertices, faces = two_triangles(scale_second=2.0)
    assert TriangleSurface.from_mesh(vertices, faces).area == pytest.approx(0.5 + 2.0)


def test_same_seed_same_samples_other_seed_other_samples():
    box = trimesh.creation.box()
    a = sample_surface(box.vertices, box.faces, 100, np.random.default_rng(5))
    b = sample_surface(box.vertices, box.faces, 100, np.random.default_rng(5))
    c = sample_surface(box.vertices, box.faces, 100, np.random.default_rng(6))
    np.testing.assert_array_equal(a.points, b.points)
    assert not np.allclose(a.points, c.points)


def test_crop_bounds_horizontal_axes_both_sides_and_up_axis_from_below():
    reference = np.array([[-0.4, -0.3, -0.2], [0.4, 0.5, 0.2]])
    eps = 0.01
    points = np.array(
        [
            [0.0, 0.0, 0.0],  # inside
            [-0.405, 0.0, 0.0],  # x within eps below xmin
            [0.415, 0.0, 0.0],  # x beyond xmax + eps
            [0.0, -0.305, 0.0],  # y within eps below ymin
            [0.0, -0.32, 0.0],  # y below ymin - eps (floor underside)
            [0.0, 0.9, 0.0],  # y far above ymax: no upper bound on the up axis
            [0.0, 0.0, -0.215],  # z beyond zmin - eps
            [0.0, 0.0, 0.209],  # z within eps above zmax
        ]
    )
    keep = crop_to_reference_bounds(points, reference, eps=eps)
    np.testing.assert_array_equal(keep, [True, True, False, True, False, True, False, True])


def test_wall_crop_sampling_draws_count_points_inside_the_bounds():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    reference = np.array([[-0.2, -0.2, -0.2], [0.2, 0.2, 0.2]])
    surface = TriangleSurface.from_mesh(box.vertices, box.faces)
    samples = sample_surface_without_walls(surface, reference, 500, np.random.default_rng(0), eps=0.01)
    assert len(samples) == 500
    assert crop_to_reference_bounds(samples.points, reference, eps=0.01).all()
    # Only the top face (y = 0.5, no upper bound) can pass.
    np.testing.assert_allclose(samples.points[:, 1], 0.5)


def test_wall_crop_returns_nothing_when_no_surface_is_inside():
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    reference = np.array([[-0.2, 0.6, -0.2], [0.2, 0.7, 0.2]])
    surface = TriangleSurface.from_mesh(box.vertices, box.faces)
    assert len(sample_surface_without_walls(surface, reference, 100, np.random.default_rng(0))) == 0
