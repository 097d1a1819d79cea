"""ScanNet v2 scans -> point clouds in the Occupancy Networks dataset layout.

ALTO and ConvONet evaluate on ScanNet by sampling points on the reconstructed
scan meshes, normalised like the synthetic rooms: y up, the longest side of the
scene 1, the floor at y = -0.5. Per scene (see upstream-notes §2.3):

1. read ``<scene>_vh_clean_2.ply`` and the ``axisAlignment`` matrix of ``<scene>.txt``;
2. align the axes with that matrix, then swap y and z (ScanNet is z-up). The swap
   is a reflection, so the triangle winding is reversed to keep every face normal
   pointing the way it did in the scan;
3. normalise: ``x_norm = (x_aligned - loc) / scale`` with ``scale`` the longest
   bounding-box side and ``loc`` the box centre, moved in y so the floor is at -0.5;
4. sample points uniformly on the surface (area-weighted, with their face normals;
   :func:`alto.geometry.sample_mesh_surface`) from a generator seeded by
   ``(seed, scene)``, stored as float16 as upstream.

Output, readable with ``classes: ['scenes']``::

    OUT/metadata.yaml                    {"scenes": {"id": "scenes", "name": "scannet"}}
    OUT/scenes/test.lst                  one scene per line
    OUT/scenes/<scene>/pointcloud.npz    points, normals (N, 3) float16, and
                                         loc (3,), scale (), axis_alignment (4, 4) float64

``loc``, ``scale`` and ``axis_alignment`` (not written upstream) map results back to
the scan's metric frame: see :func:`normalized_to_scan`.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from alto.config.defaults import DEFAULT_SEED
from alto.data.download.install import write_metadata
from alto.errors import DataError, InputError
from alto.geometry.normalize import bbox_loc_scale, from_unit_frame, to_unit_frame
from alto.geometry.sampling import sample_mesh_surface
from alto.io import atomic_write, save_npz_atomic

__all__ = [
    "DEFAULT_N_POINTS",
    "FLOOR_LEVEL",
    "SCENES_CATEGORY",
    "Z_UP_TO_Y_UP",
    "ScanFiles",
    "add_scannet_arguments",
    "align_to_y_up",
    "list_scenes",
    "load_scan_mesh",
    "normalized_to_scan",
    "preprocess_scannet",
    "preprocess_scene",
    "read_axis_alignment",
    "run_scannet",
    "scan_files",
    "scene_rng",
    "unit_cube_frame",
    "write_scene_index",
]

logger = logging.getLogger(__name__)

#: Mesh file read per scene: the decimated mesh, as ALTO (ConvONet read ``_vh_clean.ply``).
SCAN_MESH_SUFFIX = "_vh_clean_2.ply"

#: Key of the line ``axisAlignment = <16 floats>`` in ``<scene>.txt``.
AXIS_ALIGNMENT_KEY = "axisAlignment"

#: Row permutation that turns ScanNet's z-up frame y-up by swapping y and z (upstream's
#: ``align_axis``). Its determinant is -1: applying it mirrors the scene.
Z_UP_TO_Y_UP = np.array(
    [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
)

#: Height of the floor in the normalised frame (upstream's ``y_level``).
FLOOR_LEVEL = -0.5

#: Surface points sampled per scene (upstream's ``sample_points`` default).
DEFAULT_N_POINTS = 100_000


#: Category folder of the output (ConvONet's README: use ``classes: ['scenes']``).
SCENES_CATEGORY = "scenes"

#: Class name written to ``metadata.yaml`` (it labels the rows of evaluation tables).
SCENES_CATEGORY_NAME = "scannet"

#: Split list written for the scenes: ScanNet is used for testing only.
SCENES_SPLIT = "test"

#: File name of the per-scene samples (the input and Chamfer ground-truth field).
POINTCLOUD_FILE = "pointcloud.npz"

#: Storage type of points and normals (upstream's ``p_type``).
POINT_DTYPE = np.float16

#: Where ``alto data scannet`` looks for scans (ScanNet v2's ``scans`` folder) by default.
DEFAULT_SCANNET_DIR = Path("data/scannet/scans")

#: Output folder by default (ConvONet's README puts the processed scans in ``data/ScanNet``).
DEFAULT_OUTPUT_DIR = Path("data/ScanNet")


@dataclass(frozen=True)
class ScanFiles:
    """The input files of one ScanNet scene."""

    scene: str
    mesh: Path
    meta: Path


def _scannet_missing(scannet_dir: Path) -> DataError:
    return DataError(
        f"ScanNet folder {scannet_dir} does not exist. ScanNet cannot be downloaded "
        f"automatically: its terms of use require a signed request to its authors (see "
        f"https://github.com/ScanNet/ScanNet). Once you have access, put the scans at "
        f"{scannet_dir}/<scene>/ with <scene>{SCAN_MESH_SUFFIX} and <scene>.txt for every scene "
        f"(ScanNet v2's 'scans' folder), or point --scans at the folder that has them"
    )


def scan_files(scannet_dir: str | os.PathLike[str], scene: str) -> ScanFiles:
    """The mesh and meta files of ``scene``; a missing one raises a DataError naming it."""
    scannet_dir = Path(scannet_dir)
    if not scannet_dir.is_dir():
        raise _scannet_missing(scannet_dir)
    folder = scannet_dir / scene
    if not folder.is_dir():
        raise DataError(f"ScanNet scene folder {folder} does not exist")
    files = ScanFiles(scene, folder / f"{scene}{SCAN_MESH_SUFFIX}", folder / f"{scene}.txt")
    for path in (files.mesh, files.meta):
        if not path.is_file():
            raise DataError(f"ScanNet scene file {path} does not exist")
    return files


def read_axis_alignment(meta_path: str | os.PathLike[str]) -> np.ndarray:
    """The 4x4 ``axisAlignment`` matrix (float64) of a ScanNet ``<scene>.txt`` file."""
    meta_path = Path(meta_path)
    for line in meta_path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == AXIS_ALIGNMENT_KEY:
            try:
                numbers = [float(x) for x in value.split()]
            except ValueError as err:
                raise DataError(f"{meta_path}: {AXIS_ALIGNMENT_KEY} is not a list of numbers "
                                f"({err})") from err
            if len(numbers) != 16 or not np.all(np.isfinite(numbers)):
                raise DataError(f"{meta_path}: {AXIS_ALIGNMENT_KEY} must be 16 finite numbers "
                                f"(a 4x4 matrix), got {len(numbers)}")
            matrix = np.array(numbers, dtype=np.float64).reshape(4, 4)
            if abs(np.linalg.det(matrix[:3, :3])) < np.finfo(np.float64).eps:
                raise DataError(f"{meta_path}: {AXIS_ALIGNMENT_KEY} is singular")
            return matrix
    raise DataError(
        f"{meta_path} has no line '{AXIS_ALIGNMENT_KEY} = <16 numbers>' (ScanNet's test scans "
        f"have none: only train/val scans can be aligned)"
    )


def load_scan_mesh(mesh_path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) float64 and triangles (F, 3) int64 of a scan mesh, as stored."""
    mesh_path = Path(mesh_path)
    try:
        mesh = trimesh.load(mesh_path, process=False, force="mesh")
    except Exception as err:  # trimesh raises many types for unreadable files
        raise DataError(f"cannot read the scan mesh {mesh_path}: {err}") from err
    if not isinstance(mesh, trimesh.Trimesh):
        raise DataError(f"scan mesh {mesh_path} has no triangles")
    faces = np.asarray(mesh.faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise DataError(f"scan mesh {mesh_path} has no triangles")
    return np.asarray(mesh.vertices, dtype=np.float64), faces


def align_to_y_up(
    vertices: np.ndarray, faces: np.ndarray, axis_alignment: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply ``Z_UP_TO_Y_UP @ axis_alignment``; return vertices, faces and that matrix.

    The matrix is a reflection (determinant < 0) for ScanNet's rigid alignments,
    which would turn every face inside out: the faces are then returned with
    reversed winding so that their normals are the transformed original normals.
    """
    matrix = Z_UP_TO_Y_UP @ axis_alignment
    aligned = vertices @ matrix[:3, :3].T + matrix[:3, 3]
    if np.linalg.det(matrix[:3, :3]) < 0:
        faces = faces[:, ::-1]
    return aligned, np.ascontiguousarray(faces), matrix


def unit_cube_frame(
    vertices: np.ndarray, faces: np.ndarray, floor_level: float = FLOOR_LEVEL
) -> tuple[np.ndarray, float]:
    """``loc`` (3,) and ``scale`` such that ``(x - loc) / scale`` fits the unit cube.

    ``scale`` is the longest side of the bounding box of the vertices used by
    ``faces``; ``loc`` is the box centre, except in y where it puts the lowest
    point (the floor) at ``floor_level``. This is upstream's transform, written in
    the Occupancy Networks convention of ``loc``/``scale``.
    """
    used = vertices[np.unique(faces)]
    low = used.min(axis=0)
    loc, scale = bbox_loc_scale(np.stack([low, used.max(axis=0)]))
    loc[1] = low[1] - floor_level * scale
    return loc, scale


def normalized_to_scan(
    points: np.ndarray, loc: np.ndarray, scale: float | np.ndarray, axis_alignment: np.ndarray
) -> np.ndarray:
    """Map points (N, 3) of the normalised frame back to the scan's metric frame.

    Inverse of the preprocessing: ``x_scan = M^-1 (x_norm * scale + loc)`` with
    ``M = Z_UP_TO_Y_UP @ axis_alignment``; use it with the values stored in
    ``pointcloud.npz`` to place reconstructions on the original scan.
    """
    aligned = from_unit_frame(points, np.asarray(loc, dtype=np.float64), float(scale))
    inverse = np.linalg.inv(Z_UP_TO_Y_UP @ np.asarray(axis_alignment, dtype=np.float64))
    return aligned @ inverse[:3, :3].T + inverse[:3, 3]


def scene_rng(seed: int, scene: str) -> np.random.Generator:
    """Generator for ``scene``: the same for a given ``(seed, scene)`` in any process."""
    if seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed}")
    scene_key = int.from_bytes(hashlib.sha256(scene.encode("utf-8")).digest()[:8], "little")
    return np.random.default_rng([seed, scene_key])


def preprocess_scene(
    scannet_dir: str | os.PathLike[str],
    scene: str,
    out_dir: str | os.PathLike[str],
    *,
    n_points: int = DEFAULT_N_POINTS,
    seed: int = DEFAULT_SEED,
    floor_level: float = FLOOR_LEVEL,
) -> Path:
    """Turn one scan into ``OUT/scenes/<scene>/pointcloud.npz``; return that path.

    Scenes are independent (one workflow job each); :func:`write_scene_index`
    writes the split list and metadata once they are done.
    """
    if n_points <= 0:
        raise InputError(f"n_points must be positive, got {n_points}")
    rng = scene_rng(seed, scene)
    files = scan_files(scannet_dir, scene)
    axis_alignment = read_axis_alignment(files.meta)
    vertices, faces = load_scan_mesh(files.mesh)
    aligned, faces, _ = align_to_y_up(vertices, faces, axis_alignment)
    try:
        loc, scale = unit_cube_frame(aligned, faces, floor_level)
        points, normals = sample_mesh_surface(to_unit_frame(aligned, loc, scale), faces, n_points, rng)
    except ValueError as err:  # zero extent or zero area
        raise DataError(f"{files.mesh}: {err}") from err
    target = Path(out_dir) / SCENES_CATEGORY / scene / POINTCLOUD_FILE
    save_npz_atomic(
        target,
        points=points.astype(POINT_DTYPE),
        normals=normals.astype(POINT_DTYPE),
        loc=loc,
        scale=np.float64(scale),
        axis_alignment=axis_alignment,
    )
    logger.info("%s: %d faces -> %d points in %s (scale %.3f m)", scene, len(faces), n_points,
                target, scale)
    return target


def list_scenes(scannet_dir: str | os.PathLike[str]) -> list[str]:
    """Sorted names of the scene folders in ``scannet_dir``."""
    scannet_dir = Path(scannet_dir)
    if not scannet_dir.is_dir():
        raise _scannet_missing(scannet_dir)
    scenes = sorted(p.name for p in scannet_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not scenes:
        raise DataError(f"ScanNet folder {scannet_dir} has no scene folders "
                        f"(expected <scene>/<scene>{SCAN_MESH_SUFFIX})")
    return scenes


def write_scene_index(out_dir: str | os.PathLike[str], scenes: Sequence[str] | None = None) -> Path:
    """Write ``scenes/test.lst`` and ``metadata.yaml`` under ``out_dir``; return the list's path.

    ``scenes`` defaults to every scene folder of ``OUT/scenes`` with a point cloud,
    so separate per-scene jobs can be indexed once at the end.
    """
    category = Path(out_dir) / SCENES_CATEGORY
    if scenes is None:
        scenes = sorted(p.parent.name for p in category.glob(f"*/{POINTCLOUD_FILE}"))
    missing = [s for s in scenes if not (category / s / POINTCLOUD_FILE).is_file()]
    if missing:
        raise DataError(f"cannot index scenes without {POINTCLOUD_FILE}: "
                        f"{', '.join(str(category / s) for s in missing[:5])}")
    if not scenes:
        raise DataError(f"no preprocessed scenes in {category}")
    split = category / f"{SCENES_SPLIT}.lst"
    with atomic_write(split) as handle:
        handle.write("".join(f"{scene}\n" for scene in scenes))
    write_metadata(Path(out_dir) / "metadata.yaml", {SCENES_CATEGORY: SCENES_CATEGORY_NAME})
    return split


def preprocess_scannet(
    scannet_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    scenes: Sequence[str] | None = None,
    *,
    n_points: int = DEFAULT_N_POINTS,
    seed: int = DEFAULT_SEED,
    index: bool = True,
) -> list[Path]:
    """Preprocess ``scenes`` (default: all) of ``scannet_dir``; then index the output.

    ``index=False`` leaves the split list alone, for jobs that each process one scene
    while a final job writes the index (see :func:`write_scene_index`).
    """
    names = list(scenes) if scenes else list_scenes(scannet_dir)
    written = []
    for number, scene in enumerate(names, start=1):
        logger.info("scene %d/%d: %s", number, len(names), scene)
        written.append(preprocess_scene(scannet_dir, scene, out_dir, n_points=n_points, seed=seed))
    if index:
        write_scene_index(out_dir)
    return written


def add_scannet_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``alto data scannet`` to ``parser``; return it."""
    parser.add_argument("--scans", type=Path, default=DEFAULT_SCANNET_DIR,
                        help=f"ScanNet v2 'scans' folder (default {DEFAULT_SCANNET_DIR})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"output dataset folder (default {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--scenes", nargs="+", metavar="SCENE",
                        help="only these scenes (default: every folder in --scans)")
    parser.add_argument("--n-points", type=int, default=DEFAULT_N_POINTS,
                        help=f"points sampled per scene (default {DEFAULT_N_POINTS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help="seed of the per-scene sampling (default %(default)s)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-index", action="store_true",
                      help="do not write the split list (one job per scene; index them later)")
    mode.add_argument("--index-only", action="store_true",
                      help="only write the split list of the scenes already in --out")
    return parser


def run_scannet(args: argparse.Namespace) -> int:
    """Run ``alto data scannet`` with parsed ``args``; print the split list's path."""
    if args.index_only:
        # Without --scenes, index every scene of --scans (this fails, saying where ScanNet goes, if it is missing).
        write_scene_index(args.out, args.scenes or list_scenes(args.scans))
    else:
        preprocess_scannet(args.scans, args.out, args.scenes, n_points=args.n_points, seed=args.seed,
                           index=not args.no_index)
    print(Path(args.out) / SCENES_CATEGORY / f"{SCENES_SPLIT}.lst")
    return 0
