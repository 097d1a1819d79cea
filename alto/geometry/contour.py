"""Triangle meshes of implicit solids by marching cubes (for ground-truth figures).

The demo dataset's shapes are exact implicit unions; a mesh of their zero level
set is only needed to show the ground truth next to reconstructions. Sharp
edges are rounded at the scale of one grid cell.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh
from skimage import measure

__all__ = ["implicit_to_mesh"]

#: Points evaluated per call of the implicit function (bounds the memory use).
_CHUNK = 1 << 20


def implicit_to_mesh(
    implicit: Callable[[np.ndarray], np.ndarray], bounds: np.ndarray, resolution: int
) -> trimesh.Trimesh:
    """Mesh of ``{x : implicit(x) = 0}`` (negative inside) inside ``bounds`` (2, 3).

    The grid has ``resolution`` cells along the longest side of ``bounds`` (cubic
    cells) plus one cell of margin on every side, so surfaces touching the
    bounds are closed. Faces are oriented outwards.
    """
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, got {resolution}")
    bounds = np.asarray(bounds, dtype=np.float64)
    step = float((bounds[1] - bounds[0]).max()) / resolution
    lo = bounds[0] - step
    shape = np.ceil((bounds[1] + step - lo) / step).astype(int) + 1
    axes = [lo[i] + step * np.arange(shape[i]) for i in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    values = np.empty(len(grid))
    for start in range(0, len(grid), _CHUNK):
        values[start : start + _CHUNK] = implicit(grid[start : start + _CHUNK])
    volume = values.reshape(shape)
    if not (volume.min() < 0.0 < volume.max()):
        return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)
    verts, faces, _, _ = measure.marching_cubes(volume, level=0.0, spacing=(step, step, step))
    mesh = trimesh.Trimesh(verts + lo, faces, process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh
