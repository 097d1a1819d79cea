"""Evaluate one reconstructed object: a mesh against its ground truth, as one row.

A row is a flat dict: the object's identity, whether the evaluation failed and
why, every metric of :data:`alto.eval.metrics.METRIC_NAMES` and the mesh's size.
A missing, unreadable or empty mesh is not an exception but a failed row whose
metrics are the penalty values, so that it weighs on the means instead of
vanishing from them. Problems with the ground truth, which would make every
method's numbers meaningless, raise :class:`alto.errors.InputError`.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh

from alto.data.seeding import make_rng
from alto.errors import DataError, InputError
from alto.eval.metrics import FAILURE_PENALTIES, occupancy_iou, surface_metrics
from alto.eval.sampling import (
    WALL_CROP_EPS,
    WALL_OVERSAMPLE,
    SurfaceSamples,
    TriangleSurface,
    sample_surface_without_walls,
)
from alto.geometry import points_inside_mesh

__all__ = [
    "N_SURFACE_SAMPLES",
    "EvalSettings",
    "MeshInput",
    "evaluate_object",
    "load_mesh",
    "rng_for_object",
]

logger = logging.getLogger(__name__)

#: Points sampled on each predicted surface (upstream ``MeshEvaluator(n_points=100000)``).
N_SURFACE_SAMPLES = 100_000

#: Key that separates the evaluation's per-object streams from the dataset's ones
#: derived from the same experiment seed and object.
_EVAL_STREAM = "alto.eval"

MeshInput = trimesh.Trimesh | str | os.PathLike[str] | None


@dataclass(frozen=True)
class EvalSettings:
    """Protocol parameters; the defaults are upstream's (see the named constants)."""

    n_points: int = N_SURFACE_SAMPLES
    wall_eps: float = WALL_CROP_EPS
    wall_oversample: int = WALL_OVERSAMPLE

    def __post_init__(self) -> None:
        if self.n_points < 1:
            raise InputError(f"EvalSettings.n_points must be a positive integer, got {self.n_points}")
        if self.wall_oversample < 1:
            raise InputError(f"EvalSettings.wall_oversample must be a positive integer, got {self.wall_oversample}")
        if not self.wall_eps >= 0:
            raise InputError(f"EvalSettings.wall_eps must be >= 0, got {self.wall_eps}")


class _EvaluationFailure(Exception):
    """Internal signal: the mesh cannot be evaluated; the message is the row's reason."""


def rng_for_object(seed: int, class_id: str, model_name: str) -> np.random.Generator:
    """The generator for evaluating one object, fixed by the seed and the object's name.

    Keyed through :func:`alto.data.seeding.make_rng` (a stable hash of the keys), so
    the draws do not depend on the order, the process or the machine that evaluates
    the object, and never coincide with the dataset's streams for the same object.
    """
    return make_rng(seed, _EVAL_STREAM, class_id, model_name)


def load_mesh(path: str | os.PathLike[str]) -> trimesh.Trimesh:
    """Read a triangle mesh (PLY, OFF, OBJ, ...) as stored, without merging or repairs.

    Raises :class:`DataError` naming the file when it is missing or unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"mesh file not found: {path}")
    try:
        mesh = trimesh.load(path, process=False, force="mesh")
    except Exception as err:  # trimesh's readers raise many unrelated exception types
        raise DataError(f"cannot read mesh file {path}: {err}") from err
    if not isinstance(mesh, trimesh.Trimesh):
        raise DataError(f"mesh file {path} holds a {type(mesh).__name__}, expected a triangle mesh")
    return mesh


def _as_points(name: str, array: np.ndarray, count: int | None = None) -> np.ndarray:
    """``array`` as a finite float64 (N, 3) array, or an InputError naming ``name``."""
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
        raise InputError(f"{name}: expected a non-empty (N, 3) array, got shape {array.shape}")
    if count is not None and len(array) != count:
        raise InputError(f"{name}: expected {count} rows to match its points, got {len(array)}")
    if not np.isfinite(array).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return array


def _mesh_arrays(mesh: MeshInput) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (float64) and faces (int64) of the prediction, or an evaluation failure."""
    if mesh is None:
        raise _EvaluationFailure("no mesh was generated")
    if not isinstance(mesh, trimesh.Trimesh):
        try:
            mesh = load_mesh(mesh)
        except DataError as err:
            raise _EvaluationFailure(str(err)) from err
    vertices = np.asarray(mesh.vertices, dtype=np.float64).reshape(-1, 3)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    return vertices, faces


def _usable_surface(vertices: np.ndarray, faces: np.ndarray) -> TriangleSurface:
    """The mesh prepared for sampling, or an evaluation failure when it has no surface."""
    if len(faces) == 0 or len(vertices) == 0:
        raise _EvaluationFailure(f"empty mesh ({len(vertices)} vertices, {len(faces)} faces)")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise _EvaluationFailure(f"faces index vertices outside [0, {len(vertices)})")
    if not np.isfinite(vertices).all():
        raise _EvaluationFailure("mesh has NaN or infinite vertex coordinates")
    surface = TriangleSurface.from_mesh(vertices, faces)
    if not surface.area > 0:
        raise _EvaluationFailure("mesh has zero surface area")
    return surface


def _predicted_samples(
    surface: TriangleSurface,
    gt_points: np.ndarray,
    remove_wall: bool,
    rng: np.random.Generator,
    settings: EvalSettings,
) -> SurfaceSamples:
    """The prediction's surface samples under the protocol (with the wall crop for rooms)."""
    if not remove_wall:
        return surface.sample(settings.n_points, rng)
    samples = sample_surface_without_walls(
        surface, gt_points, settings.n_points, rng, settings.wall_eps, settings.wall_oversample
    )
    if len(samples) == 0:
        raise _EvaluationFailure(f"no predicted surface within {settings.wall_eps} of the ground truth's room bounds")
    return samples


def evaluate_object(
    mesh: MeshInput,
    gt_points: np.ndarray,
    gt_normals: np.ndarray,
    iou_points: np.ndarray | None,
    iou_occupancies: np.ndarray | None,
    *,
    rng: np.random.Generator | int,
    remove_wall: bool = False,
    class_id: str = "",
    class_name: str | None = None,
    model_name: str = "",
    settings: EvalSettings | None = None,
) -> dict[str, object]:
    """Evaluate one predicted mesh and return its row.

    ``mesh`` is a ``trimesh.Trimesh``, a path to a mesh file, or ``None`` (nothing
    was generated). ``gt_points``/``gt_normals`` (N, 3) are the ground-truth surface
    samples, ``iou_points`` (M, 3) and ``iou_occupancies`` (M,) the labelled volume
    samples; with ``None`` for both (a dataset without occupancy ground truth, such as
    ScanNet) the IoU is NaN. ``remove_wall`` applies the synthetic-room crop before comparing.
    ``rng`` (a generator or an integer seed) drives every random draw.
    ``class_name`` defaults to ``class_id``, as upstream does for classes without a
    name. Failed rows carry ``failed=True``, a ``failure_reason`` and
    :data:`~alto.eval.metrics.FAILURE_PENALTIES` as metrics.
    """
    settings = settings or EvalSettings()
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    gt_points = _as_points("gt_points", gt_points)
    gt_normals = _as_points("gt_normals", gt_normals, count=len(gt_points))
    has_iou = iou_points is not None or iou_occupancies is not None
    if has_iou:
        if iou_points is None or iou_occupancies is None:
            raise InputError("iou_points and iou_occupancies: give both or neither")
        iou_points = _as_points("iou_points", iou_points)
        iou_occupancies = np.asarray(iou_occupancies).reshape(-1)
        if len(iou_occupancies) != len(iou_points):
            raise InputError(
                f"iou_occupancies: expected {len(iou_points)} values to match iou_points, got {len(iou_occupancies)}"
            )
    row: dict[str, object] = {
        "class_id": str(class_id),
        "class_name": str(class_id if class_name is None else class_name),
        "model_name": str(model_name),
        "failed": False,
        "failure_reason": "",
    }
    vertices = faces = np.empty((0, 3))
    try:
        vertices, faces = _mesh_arrays(mesh)
        surface = _usable_surface(vertices, faces)
        samples = _predicted_samples(surface, gt_points, remove_wall, rng, settings)
        metrics = surface_metrics(samples.points, samples.normals, gt_points, gt_normals)
        metrics["iou"] = (
            occupancy_iou(points_inside_mesh(vertices, faces, iou_points), iou_occupancies)
            if iou_points is not None and iou_occupancies is not None  # has_iou, checked above
            else math.nan
        )
    except _EvaluationFailure as failure:
        logger.warning("evaluation failed for %s/%s: %s", class_id, model_name, failure)
        row.update(failed=True, failure_reason=str(failure))
        metrics = {**FAILURE_PENALTIES, **({} if has_iou else {"iou": math.nan})}
    row.update({name: metrics[name] for name in FAILURE_PENALTIES})
    row.update(remove_wall=bool(remove_wall), n_vertices=len(vertices), n_faces=len(faces))
    return row
