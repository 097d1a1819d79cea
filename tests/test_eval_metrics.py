"""Point-set metrics and IoU against hand computations and a brute-force oracle."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alto.errors import InputError
from alto.eval.metrics import (
    FSCORE_THRESHOLDS,
    fscore,
    occupancy_iou,
    surface_metrics,
    unit_vectors,
)

SPACING = 0.01
UP = np.array([0.0, 0.0, 1.0])


def grid_plane(n: int, height: float = 0.0) -> np.ndarray:
    """An n x n grid of points with SPACING at z = height, column index = x / SPACING."""
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    return np.stack([i.ravel() * SPACING, j.ravel() * SPACING, np.full(n * n, height)], axis=1)


def up_normals(count: int) -> np.ndarray:
    return np.tile(UP, (count, 1))


def test_uniform_shift_gives_exact_distances():
    # Every point of the shifted copy sits straight above its GT twin, at distance d;
    # any other grid point is farther (sqrt(SPACING^2 + d^2)).
    d = 0.012
    gt = grid_plane(30)
    row = surface_metrics(gt + d * UP, up_normals(len(gt)), gt, up_normals(len(gt)))
    for name in ("completeness", "accuracy", "chamfer_l1"):
        assert row[name] == pytest.approx(d, rel=1e-12)
    for name in ("completeness2", "accuracy2", "chamfer_l2"):
        assert row[name] == pytest.approx(d * d, rel=1e-12)
    assert row["normal_consistency"] == pytest.approx(1.0)
    # d = 1.2% is above the 1% threshold and below 1.5% and 2%.
    assert row["fscore_1pct"] == 0.0
    assert row["fscore_1p5pct"] == 1.0
    assert row["fscore_2pct"] == 1.0


def test_half_prediction_matches_hand_computation():
    # The prediction covers columns x < 50 of a 100 x 100 GT grid, lifted by d.
    # Precision is 1 at every threshold; GT column j >= 50 lies at
    # sqrt(((j - 49) * SPACING)^2 + d^2) from the prediction's last column.
    n, d = 100, 0.005
    gt = grid_plane(n)
    covered = gt[:, 0] < 50 * SPACING - 1e-9
    pred = gt[covered] + d * UP
    row = surface_metrics(pred, up_normals(len(pred)), gt, up_normals(len(gt)))

    columns = np.arange(n)
    per_column = np.where(columns < 50, d, np.hypot((columns - 49) * SPACING, d))
    assert row["accuracy"] == pytest.approx(d)
    assert row["completeness"] == pytest.approx(per_column.mean())
    assert row["completeness2"] == pytest.approx(np.square(per_column).mean())
    assert row["chamfer_l1"] == pytest.approx(0.5 * (d + per_column.mean()))
    # 1%: only the 50 covered columns (column 50 is at 0.01118); 1.5% and 2% add column 50
    # (column 51 is at 0.0206).
    assert row["fscore_1pct"] == pytest.approx(2 * 0.5 / 1.5)
    assert row["fscore_1p5pct"] == pytest.approx(2 * 0.51 / 1.51)
    assert row["fscore_2pct"] == pytest.approx(2 * 0.51 / 1.51)


def brute_force_metrics(pred, pred_n, gt, gt_n):
    """Direct transcription of the definitions with a full distance matrix."""
    dist = np.linalg.norm(pred[:, None, :] - gt[None, :, :], axis=-1)
    acc, acc_idx = dist.min(axis=1), dist.argmin(axis=1)
    comp, comp_idx = dist.min(axis=0), dist.argmin(axis=0)
    pred_n = pred_n / np.linalg.norm(pred_n, axis=1, keepdims=True)
    gt_n = gt_n / np.linalg.norm(gt_n, axis=1, keepdims=True)
    acc_nc = np.abs((pred_n * gt_n[acc_idx]).sum(1)).mean()
    comp_nc = np.abs((gt_n * pred_n[comp_idx]).sum(1)).mean()
    grid = np.linspace(0.001, 1.0, 1000)
    scores = {}
    for name, index in zip(FSCORE_THRESHOLDS, (9, 14, 19), strict=True):
        p, r = (acc <= grid[index]).mean(), (comp <= grid[index]).mean()
        scores[name] = 2 * p * r / (p + r)
    return {
        "completeness": comp.mean(),
        "accuracy": acc.mean(),
        "completeness2": (comp**2).mean(),
        "accuracy2": (acc**2).mean(),
        "chamfer_l1": 0.5 * (comp.mean() + acc.mean()),
        "chamfer_l2": 0.5 * ((comp**2).mean() + (acc**2).mean()),
        "normals_completeness": comp_nc,
        "normals_accuracy": acc_nc,
        "normal_consistency": 0.5 * (comp_nc + acc_nc),
        **scores,
    }


def test_random_clouds_match_brute_force():
    rng = np.random.default_rng(7)
    gt = rng.uniform(-0.05, 0.05, (300, 3))
    pred = gt[:200] + rng.normal(scale=0.008, size=(200, 3))
    gt_n, pred_n = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    row = surface_metrics(pred, pred_n, gt, gt_n)
    expected = brute_force_metrics(pred, pred_n, gt, gt_n)
    assert 0 < expected["fscore_1pct"] < 1
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-12), name


def test_normal_consistency_ignores_sign_and_length():
    gt = grid_plane(10)
    angle = 0.3
    tilted = np.array([np.sin(angle), 0.0, -np.cos(angle)]) * 5.0
    row = surface_metrics(gt, np.tile(tilted, (len(gt), 1)), gt, up_normals(len(gt)))
    assert row["normals_accuracy"] == pytest.approx(math.cos(angle))
    assert row["normals_completeness"] == pytest.approx(math.cos(angle))
    assert row["normal_consistency"] == pytest.approx(math.cos(angle))


def test_empty_point_sets_are_refused():
    gt = grid_plane(3)
    with pytest.raises(InputError, match="0 predicted"):
        surface_metrics(gt[:0], gt[:0], gt, up_normals(len(gt)))


def test_unit_vectors_keeps_zero_vectors_finite():
    out = unit_vectors(np.array([[3.0, 0.0, 4.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.0, 0.8], [0.0, 0.0, 0.0]])


def test_fscore_formula_and_zero_case():
    assert fscore(0.5, 1.0) == pytest.approx(2 / 3)
    assert fscore(0.0, 0.0) == 0.0


def test_iou_counts_and_threshold():
    assert occupancy_iou(np.array([1, 1, 0, 0]), np.array([1.0, 0.0, 1.0, 0.0])) == pytest.approx(1 / 3)
    assert occupancy_iou(np.array([True, False]), np.array([0.6, 0.4])) == 1.0
    assert occupancy_iou(np.zeros(4, bool), np.array([0, 0, 0, 1])) == 0.0


def test_iou_of_two_empty_labellings_is_one():
    assert occupancy_iou(np.zeros(5, bool), np.zeros(5)) == 1.0
