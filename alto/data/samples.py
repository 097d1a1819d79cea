"""Producing the sample files of one object or room (shared by the demo and ``from-meshes``).

Occupancy samples are drawn uniformly in the padded unit cube and rounded to
float16 **before** they are labelled, so every stored point carries the exact
label of the stored coordinates. (Occupancy Networks labels the float64 points
and then rounds them, which can flip labels within ~1e-4 of the surface; its
jitter "to break symmetry" partly masks that.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import trimesh

from alto.data.formats import (
    POINTCLOUD_FILE,
    POINTS_DTYPE,
    POINTS_FILE,
    object_frame_keys,
    write_occupancy_file,
    write_surface_file,
)
from alto.geometry.sampling import UNIT_CUBE_PADDING, uniform_box_points
from alto.io import atomic_path

__all__ = ["occupancy_samples", "stored_box_points", "write_mesh", "write_object_samples"]


def stored_box_points(n: int, rng: np.random.Generator, padding: float = UNIT_CUBE_PADDING) -> np.ndarray:
    """``n`` points uniform in the padded unit cube, rounded to the storage dtype (float16)."""
    return uniform_box_points(n, rng, padding).astype(POINTS_DTYPE)


def occupancy_samples(
    contains: Callable[[np.ndarray], np.ndarray],
    n: int,
    rng: np.random.Generator,
    padding: float = UNIT_CUBE_PADDING,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float16 points uniform in the padded unit cube and their boolean labels."""
    points = stored_box_points(n, rng, padding)
    return points, np.asarray(contains(points.astype(np.float64)), dtype=bool)


def write_object_samples(
    model_dir: Path,
    points: np.ndarray,
    occupancies: np.ndarray,
    surface_points: np.ndarray,
    surface_normals: np.ndarray,
    loc: np.ndarray,
    scale: float,
) -> None:
    """Write ``points.npz`` and ``pointcloud.npz`` of one object, both with ``loc`` and ``scale``."""
    frame = object_frame_keys(loc, scale)
    write_occupancy_file(Path(model_dir) / POINTS_FILE, points, occupancies, **frame)
    write_surface_file(Path(model_dir) / POINTCLOUD_FILE, surface_points, surface_normals, **frame)


def write_mesh(path: Path, mesh: trimesh.Trimesh) -> None:
    """Export ``mesh`` atomically; the format follows the suffix of ``path``."""
    with atomic_path(path) as tmp:
        mesh.export(tmp)
