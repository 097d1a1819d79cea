"""Reading a user's point cloud: PLY, XYZ/TXT, NPZ/NPY, or the vertices of a mesh.

Whatever the format, the result is a float64 (N, 3) array of finite points. Points
with NaN or infinite coordinates are dropped with a warning when they are a small
minority, and the file is refused when they are the majority (a broken export).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import trimesh

from alto.errors import InputError

__all__ = ["MAX_NON_FINITE_FRACTION", "POINT_FORMATS", "clean_points", "read_point_cloud"]

log = logging.getLogger(__name__)

#: Largest share of non-finite points that is dropped with a warning; more is refused.
MAX_NON_FINITE_FRACTION = 0.5
#: File suffixes read as plain text columns (x y z, then anything).
TEXT_SUFFIXES = (".xyz", ".txt", ".pts", ".csv")
#: Suffixes trimesh reads as meshes or point clouds (a mesh's vertices are used).
TRIMESH_SUFFIXES = (".ply", ".obj", ".off", ".stl", ".glb", ".gltf")
POINT_FORMATS = (*TRIMESH_SUFFIXES, *TEXT_SUFFIXES, ".npz", ".npy")


def _read_text(path: Path) -> np.ndarray:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return _parse_text(path, handle)
    except OSError as err:
        raise InputError(f"{path}: cannot read it ({err.strerror or err})") from None


def _parse_text(path: Path, handle: Iterable[str]) -> np.ndarray:
    rows: list[list[float]] = []
    for number, line in enumerate(handle, start=1):
        line = line.strip()
        if not line or line.startswith(("#", "//")):
            continue
        fields = line.replace(",", " ").replace(";", " ").split()
        try:
            rows.append([float(v) for v in fields[:3]])
        except ValueError:
            if not rows:  # a header line
                continue
            raise InputError(f"{path}, line {number}: expected numbers 'x y z ...', got {line[:60]!r}") from None
        if len(fields) < 3:
            raise InputError(f"{path}, line {number}: expected at least 3 columns (x y z), got {len(fields)}")
    return np.asarray(rows, dtype=np.float64).reshape(-1, 3)


def _read_numpy(path: Path) -> np.ndarray:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: cannot read it as a NumPy file ({err})") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            if "points" not in loaded.files:
                raise InputError(f"{path}: no 'points' array (it has {', '.join(loaded.files) or 'nothing'})")
            return np.asarray(loaded["points"], dtype=np.float64)
    return np.asarray(loaded, dtype=np.float64)


def _read_trimesh(path: Path) -> np.ndarray:
    try:
        loaded = trimesh.load(path, process=False)
    except Exception as err:  # trimesh's loaders raise many unrelated exception types
        raise InputError(f"{path}: cannot read it as a point cloud or mesh ({err})") from None
    if isinstance(loaded, trimesh.Scene):
        geometries = list(loaded.geometry.values())
        if not geometries:
            return np.empty((0, 3))
        loaded = trimesh.util.concatenate(geometries) if len(geometries) > 1 else geometries[0]
    vertices = getattr(loaded, "vertices", None)
    if vertices is None:
        raise InputError(f"{path}: holds a {type(loaded).__name__}, not points or a mesh")
    return np.asarray(vertices, dtype=np.float64)


def clean_points(points: np.ndarray, source: str = "points") -> np.ndarray:
    """Check the shape, drop a few non-finite points (warning), refuse mostly broken input."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise InputError(f"{source}: expected points of shape (N, 3), got {points.shape}")
    if len(points) == 0:
        raise InputError(f"{source}: no points")
    finite = np.isfinite(points).all(axis=1)
    bad = int((~finite).sum())
    if bad:
        share = bad / len(points)
        if share > MAX_NON_FINITE_FRACTION:
            raise InputError(f"{source}: {bad} of {len(points)} points have NaN or infinite coordinates; "
                             "refusing to reconstruct from a mostly broken point cloud")
        log.warning("%s: dropped %d of %d points with NaN or infinite coordinates", source, bad, len(points))
        points = points[finite]
    return points


def read_point_cloud(path: str | os.PathLike[str]) -> np.ndarray:
    """The finite points of ``path`` as an (N, 3) float64 array (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: input file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty")
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        points = _read_text(path)
    elif suffix in (".npz", ".npy"):
        points = _read_numpy(path)
    elif suffix in TRIMESH_SUFFIXES:
        points = _read_trimesh(path)
    else:
        raise InputError(f"{path}: unknown point-cloud format {suffix!r}; expected one of {', '.join(POINT_FORMATS)}")
    return clean_points(points, str(path))
