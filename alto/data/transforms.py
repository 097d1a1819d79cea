"""Per-sample transforms of field data (subsampling, noise), driven by an explicit generator.

Field data is a dict: key ``None`` holds the main array (points), other keys the
attributes that travel with it (``normals``, ``occ``). Each transform is
``transform(data, rng) -> data`` and returns a new dict. The behaviour is that of
ConvONet's ``src/data/transforms.py``; only the source of randomness differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

__all__ = [
    "OCCUPIED",
    "Compose",
    "FieldData",
    "PointcloudNoise",
    "SubsamplePointcloud",
    "SubsamplePoints",
    "Transform",
]

#: Occupancy values at or above this count as inside (labels are 0 or 1).
OCCUPIED = 0.5

#: Field data: ``None`` -> the points, other keys -> per-point attributes.
FieldData = dict[str | None, np.ndarray]


class Transform(Protocol):
    """A callable ``(data, rng) -> data``."""

    def __call__(self, data: FieldData, rng: np.random.Generator) -> FieldData: ...


class Compose:
    """Apply ``transforms`` in order, all drawing from the same generator."""

    def __init__(self, transforms: Sequence[Transform]) -> None:
        self.transforms = tuple(transforms)

    def __call__(self, data: FieldData, rng: np.random.Generator) -> FieldData:
        for transform in self.transforms:
            data = transform(data, rng)
        return data


class SubsamplePointcloud:
    """Draw ``n`` points (and their normals) uniformly **with replacement**."""

    def __init__(self, n: int) -> None:
        self.n = int(n)

    def __call__(self, data: FieldData, rng: np.random.Generator) -> FieldData:
        idx = rng.integers(len(data[None]), size=self.n)
        out = dict(data)
        out[None] = data[None][idx]
        out["normals"] = data["normals"][idx]
        return out


class PointcloudNoise:
    """Add Gaussian noise of standard deviation ``stddev`` to the points; normals are left as they are."""

    def __init__(self, stddev: float) -> None:
        self.stddev = float(stddev)

    def __call__(self, data: FieldData, rng: np.random.Generator) -> FieldData:
        points = data[None]
        noise = (self.stddev * rng.standard_normal(points.shape)).astype(np.float32)
        out = dict(data)
        out[None] = points + noise
        return out


class SubsamplePoints:
    """Draw query points with their occupancies, **with replacement**.

    ``n`` is either a count, or a pair ``(n_outside, n_inside)`` for balanced
    sampling, which also returns ``volume``: the occupied fraction of the input.
    """

    def __init__(self, n: int | Sequence[int]) -> None:
        self.n: int | tuple[int, int] = int(n) if isinstance(n, int | np.integer) else (int(n[0]), int(n[1]))

    def __call__(self, data: FieldData, rng: np.random.Generator) -> FieldData:
        points, occ = data[None], data["occ"]
        out = dict(data)
        if isinstance(self.n, int):
            idx = rng.integers(len(points), size=self.n)
            out[None], out["occ"] = points[idx], occ[idx]
            return out
        n_out, n_in = self.n
        inside = occ >= OCCUPIED
        if inside.all() or not inside.any():
            raise ValueError(
                f"balanced sampling needs inside and outside points, got {int(inside.sum())} of {len(occ)} inside"
            )
        outer = points[~inside][rng.integers(int((~inside).sum()), size=n_out)]
        inner = points[inside][rng.integers(int(inside.sum()), size=n_in)]
        out[None] = np.concatenate([outer, inner])
        out["occ"] = np.concatenate([np.zeros(n_out, np.float32), np.ones(n_in, np.float32)])
        out["volume"] = np.asarray(inside.mean(), dtype=np.float32)
        return out
