"""Mesh-side geometry: unit-cube normalisation, sampling, repair, marching cubes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from alto.errors import InputError
from alto.geometry.contour import implicit_to_mesh
from alto.geometry.inside import points_inside_mesh
from alto.geometry.normalize import bbox_loc_scale, from_unit_frame, normalize_mesh, to_unit_frame
from alto.geometry.primitives import box
from alto.geometry.repair import boundary_loops, repair_mesh
from alto.geometry.sampling import sample_mesh_surface, uniform_box_points
from alto.geometry.solid import Solid


def _sphere_with_hole(faces_removed: int) -> trimesh.Trimesh:
    """An icosphere without the faces around vertex 0 (and more, for a bigger hole)."""
    mesh = trimesh.creation.icosphere(subdivisions=3)
    centre = mesh.vertices[0]
    order = np.argsort(np.linalg.norm(mesh.triangles_center - centre, axis=1))
    keep = np.ones(len(mesh.faces), dtype=bool)
    keep[order[:faces_removed]] = False
    return trimesh.Trimesh(mesh.vertices, mesh.faces[keep], process=False)


def test_normalize_mesh_to_unit_cube() -> None:
    mesh = trimesh.creation.box([2.0, 4.0, 1.0])
    mesh.apply_translation([3.0, -1.0, 0.5])
    unit, loc, scale = normalize_mesh(mesh)
    np.testing.assert_allclose(loc, [3.0, -1.0, 0.5])
    assert scale == pytest.approx(4.0)
    np.testing.assert_allclose(unit.bounds, [[-0.25, -0.5, -0.125], [0.25, 0.5, 0.125]])
    np.testing.assert_allclose(from_unit_frame(unit.vertices, loc, scale), mesh.vertices)
    np.testing.assert_allclose(to_unit_frame(mesh.vertices, loc, scale), unit.vertices)
    with pytest.raises(InputError, match="zero extent"):
        bbox_loc_scale(np.zeros((2, 3)))


def test_uniform_box_points_fill_the_padded_cube() -> None:
    points = uniform_box_points(100_000, np.random.default_rng(0), padding=0.1)
    assert points.min() >= -0.55 and points.max() <= 0.55
    assert points.min() < -0.549 and points.max() > 0.549
    assert np.abs(points.mean(axis=0)).max() < 0.01


def test_mesh_surface_samples_lie_on_faces_with_face_normals() -> None:
    mesh = trimesh.creation.box([1.0, 2.0, 3.0])
    points, normals = sample_mesh_surface(mesh.vertices, mesh.faces, 20_000, np.random.default_rng(1))
    half = np.array([0.5, 1.0, 1.5])
    rows = np.arange(len(points))
    axis = np.abs(normals).argmax(axis=1)
    np.testing.assert_allclose(np.abs(normals[rows, axis]), 1.0)
    # each point lies on the face its normal belongs to
    np.testing.assert_allclose(points[rows, axis], normals[rows, axis] * half[axis], atol=1e-12)
    # faces are chosen by area: the two 2 x 3 faces hold 12 / 22 of the points
    assert (axis == 0).mean() == pytest.approx(12 / 22, abs=0.01)


def test_watertight_mesh_needs_no_repair() -> None:
    repaired, log = repair_mesh(trimesh.creation.box())
    assert log == []
    assert repaired.is_watertight and repaired.volume == pytest.approx(1.0)


def test_inside_out_mesh_is_flipped() -> None:
    mesh = trimesh.creation.box()
    mesh.invert()
    assert mesh.volume < 0
    repaired, log = repair_mesh(mesh)
    assert repaired.volume == pytest.approx(1.0)
    assert any("flipped" in step for step in log)


def test_triangle_soup_is_merged() -> None:
    box_mesh = trimesh.creation.box()
    soup = trimesh.Trimesh(box_mesh.triangles.reshape(-1, 3), np.arange(36).reshape(-1, 3), process=False)
    assert not soup.is_watertight
    repaired, log = repair_mesh(soup)
    assert repaired.is_watertight and len(repaired.vertices) == 8
    assert any("merged 28 duplicate vertices" in step for step in log)


def test_small_hole_is_filled_and_labels_are_right() -> None:
    holed = _sphere_with_hole(6)
    loops = boundary_loops(holed.faces)
    assert len(loops) == 1
    repaired, log = repair_mesh(holed, max_hole_edges=32)
    assert repaired.is_watertight and repaired.volume > 0
    assert any("filled 1 hole" in step for step in log)
    points = np.random.default_rng(2).uniform(-1.1, 1.1, (20_000, 3))
    radius = np.linalg.norm(points, axis=1)
    clear = np.abs(radius - 1.0) > 0.05  # the icosphere is a faceted unit sphere
    inside = points_inside_mesh(repaired.vertices, repaired.faces, points)
    np.testing.assert_array_equal(inside[clear], radius[clear] < 1.0)


def test_large_hole_is_refused_with_reason() -> None:
    with pytest.raises(InputError, match=r"not watertight: 1 hole\(s\), the largest with \d+ boundary edges"):
        repair_mesh(_sphere_with_hole(200), max_hole_edges=32)


def test_non_manifold_and_empty_meshes_are_refused() -> None:
    a = trimesh.creation.box()
    fin = trimesh.Trimesh(
        np.vstack([a.vertices, [[2.0, 2.0, 2.0]]]),
        np.vstack([a.faces, [[a.faces[0][0], a.faces[0][1], 8]]]),
        process=False,
    )
    with pytest.raises(InputError, match="not manifold"):
        repair_mesh(fin)
    with pytest.raises(InputError, match="no faces"):
        repair_mesh(trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False))


def test_marching_cubes_mesh_of_an_implicit() -> None:
    radius = 0.4
    mesh = implicit_to_mesh(lambda p: np.linalg.norm(p, axis=1) - radius, np.array([[-0.4] * 3, [0.4] * 3]), 40)
    assert mesh.is_watertight and mesh.volume > 0
    assert mesh.volume == pytest.approx(4 / 3 * math.pi * radius**3, rel=0.02)
    np.testing.assert_allclose(np.linalg.norm(mesh.vertices, axis=1), radius, atol=0.01)
    cube = Solid((box([0.0, 0.0, 0.0], [0.6, 0.6, 0.6]),))
    assert implicit_to_mesh(cube.implicit, cube.bounds(), 30).volume == pytest.approx(0.216, rel=0.02)
