"""Point sampling in the padded unit cube and on triangle meshes.

Both samplers take the random generator explicitly, so every sample is
reproducible from its seed.
"""

from __future__ import annotations

import numpy as np

from alto.config.defaults import DEFAULT_PADDING

__all__ = ["UNIT_CUBE_PADDING", "sample_mesh_surface", "uniform_box_points"]

#: Total padding of the unit cube for occupancy samples (Occupancy Networks' ``points_padding``,
#: the same value as ConvONet's ``data.padding``).
UNIT_CUBE_PADDING = DEFAULT_PADDING


def uniform_box_points(n: int, rng: np.random.Generator, padding: float = UNIT_CUBE_PADDING) -> np.ndarray:
    """``n`` points uniform in the cube of side ``1 + padding`` centred at the origin, (n, 3) float64."""
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return (1.0 + padding) * (rng.random((int(n), 3)) - 0.5)


def sample_mesh_surface(
    vertices: np.ndarray, faces: np.ndarray, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` area-weighted random points on a triangle mesh and their faces' unit normals.

    Faces are drawn with probability proportional to their area, and points
    uniformly inside them (the square-root trick on barycentric coordinates), as
    ``trimesh.sample.sample_surface`` does; the normal of a point is its face's.
    """
    v = np.asarray(vertices, dtype=np.float64)
    f = np.asarray(faces, dtype=np.int64)
    tri = v[f]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    double_area = np.linalg.norm(cross, axis=1)
    if not double_area.sum() > 0:
        raise ValueError("the mesh has zero surface area")
    face = rng.choice(len(f), size=int(n), p=double_area / double_area.sum())
    r1, r2 = rng.random(int(n)), rng.random(int(n))
    s = np.sqrt(r1)
    a, b, c = tri[face, 0], tri[face, 1], tri[face, 2]
    points = (1.0 - s)[:, None] * a + (s * (1.0 - r2))[:, None] * b + (s * r2)[:, None] * c
    normals = cross[face] / double_area[face, None]  # drawn faces have positive area
    return points, normals
