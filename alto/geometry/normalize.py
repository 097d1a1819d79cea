"""Object-frame normalisation: the unit-cube convention of Occupancy Networks.

A shape is centred on its bounding-box centre ``loc`` and divided by ``scale``,
its largest bounding-box extent, so it fits in [-0.5, 0.5]^3 and touches the
faces of that cube along its longest axis: ``x_unit = (x - loc) / scale``. Both
values are stored beside the samples (``loc``, ``scale`` in ``points.npz`` and
``pointcloud.npz``) so the original frame can be recovered.
"""

from __future__ import annotations

import numpy as np
import trimesh

from alto.errors import InputError

__all__ = ["bbox_loc_scale", "from_unit_frame", "normalize_mesh", "to_unit_frame"]


def bbox_loc_scale(bounds: np.ndarray) -> tuple[np.ndarray, float]:
    """``loc`` (bbox centre, (3,)) and ``scale`` (largest extent) of bounds (2, 3)."""
    bounds = np.asarray(bounds, dtype=np.float64)
    if bounds.shape != (2, 3) or not np.all(np.isfinite(bounds)):
        raise InputError(f"bounds must be a finite (2, 3) array [min, max], got {bounds!r}")
    scale = float((bounds[1] - bounds[0]).max())
    if not scale > 0:
        raise InputError(f"the shape has zero extent (bounds {bounds.tolist()}); cannot normalise it")
    return (bounds[0] + bounds[1]) / 2.0, scale


def to_unit_frame(points: np.ndarray, loc: np.ndarray, scale: float) -> np.ndarray:
    """Points (N, 3) of the original frame in the unit-cube frame."""
    return (np.asarray(points, dtype=np.float64) - loc) / scale


def from_unit_frame(points: np.ndarray, loc: np.ndarray, scale: float) -> np.ndarray:
    """Points (N, 3) of the unit-cube frame back in the original frame."""
    return np.asarray(points, dtype=np.float64) * scale + loc


def normalize_mesh(mesh: trimesh.Trimesh) -> tuple[trimesh.Trimesh, np.ndarray, float]:
    """A copy of ``mesh`` in the unit-cube frame, with its ``loc`` and ``scale``."""
    loc, scale = bbox_loc_scale(mesh.bounds)
    out = mesh.copy()
    out.vertices = to_unit_frame(mesh.vertices, loc, scale)
    return out, loc, scale
