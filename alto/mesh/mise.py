"""Multiresolution iso-surface extraction (MISE), ConvONet's extractor, vectorised.

The lattice has ``R + 1`` points per axis, ``R = resolution_0 * 2**upsampling_steps``.
The field is first evaluated on the corners of the ``resolution_0``^3 coarse cells. A
leaf cell above the finest level is split into 8 children (adding the corners of its
children) when the known lattice points on its closed cube include one with logit
``>= level`` and one with logit ``<= level``; the new points are evaluated and the test
repeats until no new point appears. Points never evaluated are then filled by copying
the previous value along x, then y, then z, and marching cubes runs on the full grid.
This reproduces the octree of Occupancy Networks' ``libmise`` decision for decision;
instead of a per-voxel tree walk it keeps one boolean "leaf" grid per level and tests
all cells of a level at once with strided block reductions. Before each round's points
are evaluated a :class:`~alto.mesh.progress.BandGuard` checks the points known against
what a real surface can have at the final resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alto.errors import InputError
from alto.mesh.base import LatticeExtractor, require_int
from alto.mesh.field import FieldEvaluator
from alto.mesh.lattice import FlatUnique, Lattice
from alto.mesh.progress import BandGuard, check_band_fraction

__all__ = [
    "DEFAULT_RESOLUTION_0",
    "DEFAULT_UPSAMPLING_STEPS",
    "MISE_BAND_DEPTH",
    "MiseExtractor",
    "fill_unknown",
    "sample_mise",
]

#: Coarse cells per axis (``generation.resolution_0`` of the ConvONet configs).
DEFAULT_RESOLUTION_0 = 32
#: Number of 2x refinements (``generation.upsampling_steps`` of ConvONet's default.yaml).
DEFAULT_UPSAMPLING_STEPS = 2

#: Depth in final cells of the points MISE evaluates around a surface (the corners of
#: the straddling cells of its last levels; 4.3 measured on the torus and box of
#: ``bench/extract.py`` at 256^3), for the band guard. Its coarse lattice comes on top.
MISE_BAND_DEPTH = 6

#: Child offsets of a cell, in units of the child size: {0, 1}^3.
_CHILD_OFFSETS = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
#: Corner offsets of a cell's 8 children, in units of the child size: {0, 1, 2}^3.
_CHILD_CORNERS = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)


def _closed_cells_any(mask: np.ndarray, size: int) -> np.ndarray:
    """For cells of ``size`` lattice steps, whether ``mask`` holds on the cell's closed cube.

    ``mask`` has ``n * size + 1`` points per axis; the result has ``n`` cells per axis.
    Cell ``k`` covers points ``k * size .. (k + 1) * size`` inclusive (corners and any
    point on its faces and edges), reduced one axis at a time.
    """
    for axis in range(3):
        moved = np.moveaxis(mask, axis, 0)
        cells = (moved.shape[0] - 1) // size
        inner = moved[: cells * size].reshape(cells, size, *moved.shape[1:]).any(axis=1)
        mask = np.moveaxis(inner | moved[size::size], 0, axis)
    return mask


def _subdivide(values: np.ndarray, leaves: list[np.ndarray], level: float, unique: FlatUnique) -> np.ndarray:
    """Split every active leaf once; return the flat indices of the new lattice points.

    All cells are judged on the values known before any split of this round.
    """
    depth = len(leaves) - 1
    level = np.float64(level)
    above = values >= level
    below = values <= level
    active = []
    for tree_level in range(depth):
        if leaves[tree_level].any():
            size = 1 << (depth - tree_level)
            straddles = _closed_cells_any(above, size) & _closed_cells_any(below, size)
            active.append((tree_level, np.argwhere(leaves[tree_level] & straddles)))
    new_points = [np.zeros(0, dtype=np.int64)]
    for tree_level, cells in active:
        child_size = 1 << (depth - tree_level - 1)
        leaves[tree_level][tuple(cells.T)] = False
        children = (2 * cells[:, None, :] + _CHILD_OFFSETS).reshape(-1, 3)
        leaves[tree_level + 1][tuple(children.T)] = True
        corners = (2 * cells[:, None, :] + _CHILD_CORNERS).reshape(-1, 3) * child_size
        new_points.append(np.ravel_multi_index(tuple(corners.T), values.shape))
    flat = unique(np.concatenate(new_points))
    return flat[np.isnan(values.reshape(-1)[flat])]


def fill_unknown(values: np.ndarray) -> np.ndarray:
    """Fill never-evaluated points in place as ``libmise``'s ``to_dense``.

    Each NaN takes the value before it along x; the remaining ones then along y, then
    along z. Each axis is one sweep over the lattice planes (a plane depends on the
    one before it), every step vectorised over a whole plane.
    """
    for axis in range(3):
        planes = np.moveaxis(values, axis, 0)
        for index in range(1, planes.shape[0]):
            np.copyto(planes[index], planes[index - 1], where=np.isnan(planes[index]))
    return values


def sample_mise(
    evaluator: FieldEvaluator,
    lattice: Lattice,
    resolution_0: int,
    upsampling_steps: int,
    level: float,
    guard: BandGuard | None = None,
) -> np.ndarray:
    """The MISE logit grid over ``lattice`` (``resolution_0 * 2**upsampling_steps + 1``
    points per axis), unknown points filled as upstream. ``guard`` checks the points
    known before each round's evaluation; the evaluator's progress hears of every round."""
    cells = resolution_0 << upsampling_steps
    if lattice.shape != (cells + 1,) * 3:
        raise InputError(
            f"MISE with resolution_0={resolution_0} and upsampling_steps={upsampling_steps} "
            f"needs a lattice of {cells + 1}^3 points, got {lattice.shape}"
        )
    values = np.full(lattice.shape, np.nan, dtype=np.float32)
    leaves = [np.zeros((resolution_0 << d,) * 3, dtype=bool) for d in range(upsampling_steps + 1)]
    leaves[0][...] = True
    coarse = np.arange(0, cells + 1, 1 << upsampling_steps)
    pending = np.ravel_multi_index(np.meshgrid(coarse, coarse, coarse, indexing="ij"), lattice.shape)
    pending = pending.reshape(-1)
    unique = FlatUnique(lattice.size)
    progress = evaluator.progress
    most = progress.points + (lattice.size if guard is None else guard.limit)
    known, rounds = 0, 0
    while pending.size:
        rounds += 1
        known += pending.size
        if guard is not None:
            guard.check(known, f"subdivision round {rounds}")
        progress.stage(
            f"subdivision round {rounds}", band=known, total_points=most, upper_bound=True, new_stage=rounds == 1
        )
        values.reshape(-1)[pending] = evaluator.lattice(lattice, pending)
        pending = _subdivide(values, leaves, level, unique)
    return fill_unknown(values)


@dataclass(frozen=True, kw_only=True)
class MiseExtractor(LatticeExtractor):
    """ConvONet's MISE: ``resolution_0`` coarse cells refined ``upsampling_steps`` times.

    The final lattice has ``resolution_0 * 2**upsampling_steps + 1`` points per axis
    (ConvONet: 32 -> 128 cells, 129 points, over the box ``1 + padding``).
    ``max_band_fraction`` is the share of the lattice it may evaluate beyond its coarse
    lattice before it stops (None: the limit of :class:`~alto.mesh.progress.BandGuard`,
    1: no limit).
    """

    resolution_0: int = DEFAULT_RESOLUTION_0
    upsampling_steps: int = DEFAULT_UPSAMPLING_STEPS
    max_band_fraction: float | None = None

    name: ClassVar[str] = "mise"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int(self.name, "resolution_0", self.resolution_0, 1)
        require_int(self.name, "upsampling_steps", self.upsampling_steps, 0)
        check_band_fraction(self.name, self.max_band_fraction)

    @property
    def points_per_axis(self) -> int:
        """``resolution_0 * 2**upsampling_steps + 1``."""
        return (self.resolution_0 << self.upsampling_steps) + 1

    def sample(self, evaluator: FieldEvaluator, lattice: Lattice, inputs: np.ndarray | None) -> np.ndarray:
        """Evaluate the octree's lattice points, then fill the rest."""
        guard = BandGuard.build(
            evaluator.progress.name,
            self.points_per_axis,
            lattice.size,
            MISE_BAND_DEPTH,
            self.max_band_fraction,
            self.level,
            base=(self.resolution_0 + 1) ** 3,
        )
        return sample_mise(evaluator, lattice, self.resolution_0, self.upsampling_steps, self.level, guard)
