"""Test helpers for meshes: compare two meshes triangle by triangle, whatever their numbering."""

from __future__ import annotations

import numpy as np
import trimesh


def face_table(mesh: trimesh.Trimesh, decimals: int = 6) -> np.ndarray:
    """Faces as rows of their 9 rounded vertex coordinates, in a canonical order.

    Each face starts at its corner with the smallest coordinate sum (keeping its
    orientation) and rows are sorted, so two meshes with the same triangles give the
    same table whatever their vertex and face numbering.
    """
    corners = np.round(np.asarray(mesh.vertices)[np.asarray(mesh.faces)], decimals)
    first = np.argmin(corners.sum(axis=2), axis=1)
    order = (first[:, None] + np.arange(3)) % 3
    rows = np.take_along_axis(corners, order[:, :, None], axis=1).reshape(len(corners), 9)
    return rows[np.lexsort(rows.T[::-1])]


def same_surface(a: trimesh.Trimesh, b: trimesh.Trimesh, tolerance: float = 1e-5) -> bool:
    """Whether two meshes have the same oriented triangles, up to ``tolerance``."""
    if a.faces.shape != b.faces.shape:
        return False
    return bool(np.allclose(face_table(a), face_table(b), rtol=0, atol=tolerance))
