"""The per-object sample files of the Occupancy Networks / ConvONet layout.

``points.npz`` (and the rooms' ``points_iou/points_iou_XX.npz``) hold occupancy
samples: ``points`` float16 (N, 3) and ``occupancies`` = ``np.packbits`` of the
N boolean labels (uint8, ceil(N / 8)). ``pointcloud.npz`` (and
``pointcloud/pointcloud_XX.npz``) hold surface samples: ``points`` and
``normals``, float16 (N, 3). Object files also carry ``loc`` (3,) and ``scale``
() float64 of the unit-cube normalisation; room files carry ``semantics``.

The readers here validate what they read and raise :class:`~alto.errors.DataError`
naming the file and what was expected, instead of failing later with a shape
error deep inside a batch (or, upstream, silently dropping the object).
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from alto.errors import DataError
from alto.io import save_npz_atomic

__all__ = [
    "MULTI_FILE_PATTERN",
    "POINTCLOUD_DIR",
    "POINTCLOUD_FILE",
    "POINTS_DTYPE",
    "POINTS_FILE",
    "POINTS_IOU_DIR",
    "WATERTIGHT_MESH_FILE",
    "multi_file_path",
    "object_frame_keys",
    "pack_occupancies",
    "read_npz",
    "read_occupancy_file",
    "read_surface_file",
    "unpack_occupancies",
    "write_occupancy_file",
    "write_surface_file",
]

#: Occupancy samples of an object (Occupancy Networks; ``data.points_file``).
POINTS_FILE = "points.npz"
#: Surface samples of an object (``data.pointcloud_file``).
POINTCLOUD_FILE = "pointcloud.npz"
#: Multi-file folders of a room: occupancy and surface samples (``data.multi_files``).
POINTS_IOU_DIR = "points_iou"
POINTCLOUD_DIR = "pointcloud"
#: Watertight ground-truth mesh in the unit frame (upstream ``data.watertight_file``).
WATERTIGHT_MESH_FILE = "model_watertight.off"

#: Storage dtype of sample coordinates and normals (Occupancy Networks ``--float16``).
POINTS_DTYPE = np.float16

#: Name of file ``k`` of a multi-file field: ``<folder>/<folder>_<k:02d>.npz`` (ConvONet).
MULTI_FILE_PATTERN = "{name}_{index:02d}.npz"

#: Errors that mean "this is not a readable npz" (truncated zip, bad member, bad header).
_READ_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


def multi_file_path(model_path: Path, name: str, index: int) -> Path:
    """Path of file ``index`` of the multi-file field ``name`` of a model folder."""
    return Path(model_path) / name / MULTI_FILE_PATTERN.format(name=name, index=index)


def pack_occupancies(occupancies: np.ndarray) -> np.ndarray:
    """Pack boolean labels (N,) into uint8 bits, as ``np.packbits`` (big-endian bit order)."""
    return np.packbits(np.asarray(occupancies, dtype=bool))


def unpack_occupancies(packed: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` labels (uint8 0/1) of packed bits (upstream ``np.unpackbits(occ)[:N]``)."""
    return np.unpackbits(packed)[:n]


def read_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read ``keys`` from the npz file ``path``; DataError if it is missing, unreadable or lacks a key."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found (expected an .npz file with keys {', '.join(keys)})")
    try:
        npz = np.load(path, allow_pickle=False)
    except _READ_ERRORS as err:
        raise DataError(f"{path}: cannot read the npz file ({type(err).__name__}: {err}); is it truncated?") from err
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: holds a single array, not an npz archive with keys {', '.join(keys)}")
    with npz:
        missing = [k for k in keys if k not in npz.files]
        if missing:
            raise DataError(
                f"{path}: missing key(s) {', '.join(map(repr, missing))}; "
                f"expected {', '.join(map(repr, keys))}, found {', '.join(map(repr, npz.files)) or 'none'}"
            )
        try:
            return {k: npz[k] for k in keys}
        except _READ_ERRORS as err:
            raise DataError(f"{path}: cannot read key data ({type(err).__name__}: {err}); is it truncated?") from err


def _check_points(path: Path, key: str, array: np.ndarray) -> None:
    if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
        raise DataError(f"{path}: key {key!r} has shape {array.shape}; expected (N, 3) with N >= 1")
    if array.dtype.kind != "f":
        raise DataError(f"{path}: key {key!r} has dtype {array.dtype}; expected a float dtype (float16)")


def read_occupancy_file(path: Path, unpackbits: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``points`` (N, 3) as stored and ``occupancies`` (N,) of an occupancy sample file.

    With ``unpackbits`` the stored ``occupancies`` must be uint8 packed bits with at
    least N bits; otherwise one value per point.
    """
    data = read_npz(path, ("points", "occupancies"))
    points, occ = data["points"], data["occupancies"]
    _check_points(path, "points", points)
    n = len(points)
    if unpackbits:
        if occ.dtype != np.uint8 or occ.ndim != 1 or occ.size * 8 < n:
            raise DataError(
                f"{path}: key 'occupancies' has dtype {occ.dtype} and shape {occ.shape}; expected packed "
                f"bits: uint8 of shape ({(n + 7) // 8},) for {n} points (or set data.points_unpackbits: false)"
            )
        occ = unpack_occupancies(occ, n)
    elif occ.shape != (n,) or occ.dtype.kind not in "biuf":
        raise DataError(
            f"{path}: key 'occupancies' has dtype {occ.dtype} and shape {occ.shape}; expected one "
            f"number per point, shape ({n},) (or set data.points_unpackbits: true for packed bits)"
        )
    return points, occ


def read_surface_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``points`` and ``normals`` (N, 3) as stored of a surface sample file."""
    data = read_npz(path, ("points", "normals"))
    points, normals = data["points"], data["normals"]
    _check_points(path, "points", points)
    if normals.shape != points.shape or normals.dtype.kind != "f":
        raise DataError(
            f"{path}: key 'normals' has dtype {normals.dtype} and shape {normals.shape}; "
            f"expected float with the shape of 'points' {points.shape}"
        )
    return points, normals


def write_occupancy_file(
    path: Path, points: np.ndarray, occupancies: np.ndarray, **extra: np.ndarray
) -> None:
    """Write an occupancy sample file: float16 ``points``, packed ``occupancies``, ``extra`` keys."""
    save_npz_atomic(
        path,
        points=np.asarray(points).astype(POINTS_DTYPE),
        occupancies=pack_occupancies(occupancies),
        **extra,
    )


def write_surface_file(path: Path, points: np.ndarray, normals: np.ndarray, **extra: np.ndarray) -> None:
    """Write a surface sample file: float16 ``points`` and ``normals``, plus ``extra`` keys."""
    save_npz_atomic(
        path,
        points=np.asarray(points).astype(POINTS_DTYPE),
        normals=np.asarray(normals).astype(POINTS_DTYPE),
        **extra,
    )


def object_frame_keys(loc: np.ndarray, scale: float) -> Mapping[str, np.ndarray]:
    """The ``loc`` (3,) and ``scale`` () float64 keys stored with object samples."""
    return {"loc": np.asarray(loc, dtype=np.float64).reshape(3), "scale": np.asarray(scale, dtype=np.float64)}
