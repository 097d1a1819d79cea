"""Inside/outside labels for points against a triangle mesh.

One robust test for the whole package (dataset building, evaluation IoU): the
generalised winding number of libigl (``igl.fast_winding_number``). For a closed,
consistently oriented mesh it is 1 inside and 0 outside, exactly as a ray-parity
test; unlike ray parity (Occupancy Networks' ``check_mesh_contains``) it degrades
gracefully on small holes and duplicated faces, and it needs neither Embree nor an
R-tree. Measured here: about 0.1 s for 100k points on a 10k-face mesh.
"""

from __future__ import annotations

import igl
import numpy as np

__all__ = ["WINDING_INSIDE_THRESHOLD", "points_inside_mesh", "winding_numbers"]

#: A point is inside where its winding number exceeds this value (0 outside, 1 inside).
WINDING_INSIDE_THRESHOLD = 0.5


def winding_numbers(
    vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, chunk_size: int = 1_000_000
) -> np.ndarray:
    """Generalised winding number of ``points`` (N, 3) with respect to the mesh.

    Returns a float64 array (N,). An empty mesh gives zeros (everything outside).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {points.shape}")
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    if len(faces) == 0 or len(vertices) == 0:
        return np.zeros(len(points), dtype=np.float64)
    if vertices.ndim != 2 or vertices.shape[1] != 3 or faces.ndim != 2 or faces.shape[1] != 3:
        raise ValueError(
            f"expected vertices (V, 3) and triangle faces (F, 3), got {vertices.shape} and {faces.shape}"
        )
    out = np.empty(len(points), dtype=np.float64)
    for start in range(0, len(points), chunk_size):
        query = np.ascontiguousarray(points[start : start + chunk_size])
        out[start : start + len(query)] = igl.fast_winding_number(vertices, faces, query)
    return out


def points_inside_mesh(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Boolean occupancy of ``points`` (N, 3) for the mesh (``vertices``, ``faces``)."""
    return winding_numbers(vertices, faces, points) > WINDING_INSIDE_THRESHOLD
