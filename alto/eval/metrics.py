"""The paper's surface metrics between point sets, and the volumetric IoU.

Definitions follow the evaluation of Occupancy Networks, ConvONet and ALTO
(``src/eval.py``): nearest-neighbour distances in both directions between the
points sampled on the prediction and the ground-truth surface point cloud,
absolute cosine of the normals of nearest neighbours, and an F-score from the
fraction of distances within a threshold. Distances are Euclidean, in the
normalised frame of the data (the object fits the unit cube).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from alto.errors import InputError

__all__ = [
    "CHAMFER_L1_SCALES",
    "FAILURE_PENALTIES",
    "FSCORE_THRESHOLDS",
    "METRIC_NAMES",
    "OCCUPANCY_THRESHOLD",
    "fscore",
    "nearest_neighbours",
    "occupancy_iou",
    "surface_metrics",
    "unit_vectors",
]

_UPSTREAM_THRESHOLD_GRID = np.linspace(1.0 / 1000, 1.0, 1000)

#: F-score thresholds (normalised units, i.e. fractions of the unit cube's side):
#: column name -> distance. Upstream evaluates the grid ``np.linspace(1/1000, 1, 1000)``
#: and reports its entries 9, 14 and 19 as 1%, 1.5% and 2%; taking the same grid
#: entries keeps the comparisons ``dist <= t`` bit-identical (entry 9 is
#: 0.010000000000000002, not 0.01).
FSCORE_THRESHOLDS: dict[str, float] = {
    "fscore_1pct": float(_UPSTREAM_THRESHOLD_GRID[9]),
    "fscore_1p5pct": float(_UPSTREAM_THRESHOLD_GRID[14]),
    "fscore_2pct": float(_UPSTREAM_THRESHOLD_GRID[19]),
}

#: Factors by which papers print Chamfer-L1: ConvONet's README reports it x10 (the
#: Occupancy Networks convention, 1/10 of the bounding box = 1 unit); ALTO and POCO
#: print it x100. Column name -> factor.
CHAMFER_L1_SCALES: dict[str, float] = {"chamfer_l1_x10": 10.0, "chamfer_l1_x100": 100.0}

#: Names of the per-object metrics, in table order.
METRIC_NAMES: tuple[str, ...] = (
    "iou",
    "chamfer_l1",
    "chamfer_l2",
    "normal_consistency",
    *FSCORE_THRESHOLDS,
    "completeness",
    "accuracy",
    "completeness2",
    "accuracy2",
    "normals_completeness",
    "normals_accuracy",
)

#: Occupancy values at or above this count as inside (upstream ``compute_iou``; GT
#: occupancies are 0/1, so any value in (0, 1] would do).
OCCUPANCY_THRESHOLD = 0.5

_MAX_DISTANCE = math.sqrt(3.0)
#: Values given to every metric of an object whose evaluation failed (no mesh, empty
#: mesh, no surface left after the wall crop). Upstream's ``EMPTY_PCL_DICT`` sets
#: completeness and accuracy to sqrt(3), the diagonal of the unit cube (the largest
#: distance inside it), their squares to 3, normal scores to -1 and IoU to 0. Upstream
#: leaves Chamfer and F-scores undefined (NaN, then dropped from the means); here they
#: follow from the same definitions applied to the penalties: Chamfer-L1 = sqrt(3),
#: Chamfer-L2 = 3 and F-score 0 (no distance is within any threshold).
FAILURE_PENALTIES: dict[str, float] = {
    "iou": 0.0,
    "chamfer_l1": _MAX_DISTANCE,
    "chamfer_l2": 3.0,
    "normal_consistency": -1.0,
    **dict.fromkeys(FSCORE_THRESHOLDS, 0.0),
    "completeness": _MAX_DISTANCE,
    "accuracy": _MAX_DISTANCE,
    "completeness2": 3.0,
    "accuracy2": 3.0,
    "normals_completeness": -1.0,
    "normals_accuracy": -1.0,
}


def nearest_neighbours(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from each ``source`` point to its nearest ``target`` point, and its index.

    Exact Euclidean nearest neighbours (upstream uses pykdtree; the distances agree).
    The sliding-midpoint tree (``balanced_tree=False``) builds faster than the median
    split and returns the same neighbours.
    """
    return cKDTree(target, balanced_tree=False).query(source, k=1, workers=-1)


def unit_vectors(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` scaled to unit length; zero vectors stay zero instead of NaN."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def fscore(precision: float, recall: float) -> float:
    """Harmonic mean 2PR / (P + R); 0 when both are 0 (upstream divides 0 by 0)."""
    total = precision + recall
    return 2.0 * precision * recall / total if total > 0 else 0.0


def _directed(
    source: np.ndarray, source_normals: np.ndarray, target: np.ndarray, target_normals: np.ndarray
) -> tuple[np.ndarray, float]:
    """Nearest distances source -> target and the mean |cos| of the matched normals."""
    distance, index = nearest_neighbours(source, target)
    cosine = np.abs(np.einsum("nd,nd->n", source_normals, target_normals[index]))
    return distance, float(cosine.mean())


def surface_metrics(
    points: np.ndarray, normals: np.ndarray, gt_points: np.ndarray, gt_normals: np.ndarray
) -> dict[str, float]:
    """Chamfer, normal consistency and F-scores between predicted and GT samples.

    ``completeness`` averages GT -> prediction distances (how much of the truth is
    covered), ``accuracy`` prediction -> GT distances; the ``2`` variants average the
    squared distances. Chamfer-L1/L2 are the halves of their sums, and
    ``normal_consistency`` the half-sum of both directions' mean |cos|. Normals are
    made unit length first; their sign is ignored since reconstructions need not
    orient faces consistently.
    """
    if len(points) == 0 or len(gt_points) == 0:
        raise InputError(
            f"surface_metrics needs points on both sides, got {len(points)} predicted and {len(gt_points)} GT"
        )
    normals, gt_normals = unit_vectors(normals), unit_vectors(gt_normals)
    to_pred, normals_completeness = _directed(gt_points, gt_normals, points, normals)
    to_gt, normals_accuracy = _directed(points, normals, gt_points, gt_normals)
    row = {
        "completeness": float(to_pred.mean()),
        "accuracy": float(to_gt.mean()),
        "completeness2": float(np.square(to_pred).mean()),
        "accuracy2": float(np.square(to_gt).mean()),
        "normals_completeness": normals_completeness,
        "normals_accuracy": normals_accuracy,
    }
    row["chamfer_l1"] = 0.5 * (row["completeness"] + row["accuracy"])
    row["chamfer_l2"] = 0.5 * (row["completeness2"] + row["accuracy2"])
    row["normal_consistency"] = 0.5 * (normals_completeness + normals_accuracy)
    for name, threshold in FSCORE_THRESHOLDS.items():
        row[name] = fscore(float((to_gt <= threshold).mean()), float((to_pred <= threshold).mean()))
    return row


def occupancy_iou(predicted: np.ndarray, target: np.ndarray) -> float:
    """Intersection over union of two occupancy labellings of the same points.

    Values >= :data:`OCCUPANCY_THRESHOLD` count as occupied. When neither labelling
    has an occupied point the two agree everywhere and the IoU is 1 (upstream
    returns 0/0 = NaN).
    """
    predicted = np.asarray(predicted) >= OCCUPANCY_THRESHOLD
    target = np.asarray(target) >= OCCUPANCY_THRESHOLD
    union = np.count_nonzero(predicted | target)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(predicted & target) / union)
