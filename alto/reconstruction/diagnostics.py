"""How far a user's point cloud is from what the model was trained on.

A model trained on 3000 noisy points of unit-cube objects does poorly on 200
points, on a scan ten times noisier, or on a room given in millimetres; the
reconstruction then fails quietly. :func:`input_warnings` compares the points the
model is about to see (in its frame, after subsampling) with the model's
:class:`~alto.models.catalog.InputProfile` and says what is off and what to try.

The noise is estimated from the cloud itself: for a sample of points, the
smallest principal standard deviation of their ``k`` nearest neighbours (the
spread across a local plane fit), whose median is about the noise's standard
deviation on a smooth surface sampled as densely as the training inputs.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from alto.config.defaults import DEFAULT_SEED
from alto.models.catalog import SCENE_FRAME, InputProfile

__all__ = [
    "FEW_POINTS_RATIO",
    "NOISE_RATIO",
    "estimate_noise",
    "input_warnings",
]

#: Neighbours of the local plane fit of the noise estimate.
NOISE_NEIGHBOURS = 16
#: Points whose neighbourhoods are fitted (a seeded sample of the input).
NOISE_SAMPLE = 2000
#: Warn when the estimated noise exceeds this multiple of the training noise ...
NOISE_RATIO = 3.0
#: ... where training noise below this counts as this much: sampling density and
#: curvature alone give estimates of this order on clean inputs.
NOISE_FLOOR = 0.005
#: Warn when the input has fewer points than this share of what the model expects.
FEW_POINTS_RATIO = 0.5
#: Warn when a scene is smaller than this across (model units; training rooms span about 1).
SCENE_MIN_EXTENT = 0.2
#: Index of the vertical axis in the models' frame.
UP_AXIS = 1


def estimate_noise(points: np.ndarray, seed: int = DEFAULT_SEED) -> float:
    """Median spread of ``points (N, 3)`` across local planes: about the noise's standard deviation."""
    count = len(points)
    neighbours = min(NOISE_NEIGHBOURS, count)
    if neighbours < 4:
        return 0.0
    chosen = np.random.default_rng(seed).choice(count, min(NOISE_SAMPLE, count), replace=False)
    _, index = cKDTree(points).query(points[chosen], k=neighbours)
    local = points[index] - points[index].mean(axis=1, keepdims=True)
    covariance = np.einsum("nki,nkj->nij", local, local) / neighbours
    smallest = np.linalg.eigvalsh(covariance)[:, 0]
    return float(np.median(np.sqrt(np.clip(smallest, 0.0, None))))


def input_warnings(
    model_points: np.ndarray,
    points_in: int,
    expected_points: int,
    profile: InputProfile,
    mode: str,
    model_box: float,
    seed: int = DEFAULT_SEED,
) -> list[str]:
    """What makes ``model_points`` (the model's input, (N, 3), in its frame) unlike its training inputs.

    ``points_in`` is the input's point count before subsampling, ``expected_points``
    how many the model sees at its training density, ``model_box`` the side of the
    model's box (``1 + padding``).
    """
    warnings = []
    if mode != profile.frame:
        warnings.append(f"the model was trained on {profile.frame}s but runs in {mode} mode")
    if points_in < FEW_POINTS_RATIO * expected_points:
        warnings.append(
            f"only {points_in} input points where the model was trained on {expected_points}: expect holes and "
            "lost detail; a denser scan helps"
        )
    if mode == SCENE_FRAME and profile.frame == SCENE_FRAME:
        extent = np.ptp(model_points, axis=0)
        if float(extent.max()) < SCENE_MIN_EXTENT:
            warnings.append(
                f"the scene spans only {float(extent.max()):.3g} model units, where the training rooms span about "
                "1: if the input is not in metres of a room-sized scene, set --scale (model units per input unit)"
            )
        if float(extent[UP_AXIS]) > model_box:
            warnings.append(
                f"the scene is {float(extent[UP_AXIS]):.3g} model units tall, more than the model's box "
                f"({model_box:g}): check that y is up and --scale"
            )
    noise = estimate_noise(model_points, seed)
    allowed = NOISE_RATIO * max(profile.noise, NOISE_FLOOR)
    if noise > allowed:
        warnings.append(
            f"the points look noisy: about {noise:.3g} model units off their local surface, where the model was "
            f"trained with noise {profile.noise:g}; denoise or downsample the scan, or expect a rough surface"
        )
    return warnings
