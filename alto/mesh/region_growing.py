"""Region-growing extraction (ALTO / POCO), vectorised and without re-evaluation.

The field is only evaluated in a band around the surface, found by growing from the
lattice cells that hold input points:

1. The seeds are the lattice points at the lower corner of the cells of the inputs.
2. Each round, the *block* of every seed (offsets ``-dilation .. dilation - 1`` per
   axis, ALTO's ``[c - 2, c + 2)``) is made known: its unknown points are evaluated.
3. The seeds are marked visited. Points of a seed's block that are not yet visited
   and lie on the other side of the level (or on it) become the next seeds.
4. Repeat until there are no seeds. Marching cubes runs at ``level`` on the grid;
   triangles touching a never-evaluated point are dropped.
5. Vertices on grid edges are refined by bisection (:func:`~alto.mesh.marching.bisect_vertices`).

Before each round's points are evaluated, a :class:`~alto.mesh.progress.BandGuard`
checks the band against what a real surface can have at this resolution, so a field
with surface almost everywhere is stopped with an
:class:`~alto.errors.ExtractionError` instead of evaluating the whole lattice.

The lattice is surrounded by a shell one point wide that counts as known and outside
(ALTO forces its border shell to ``out_value`` after growing; here it is outside from
the start, so a surface cut by the box grows along the closing cap).
Compared with the published loop this never evaluates a point twice, dilates all
seeds at once (one array operation per block offset) instead of a loop over points,
and keeps the per-round work proportional to the number of seeds, not to the lattice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alto.errors import InputError
from alto.mesh.base import LatticeExtractor, require_int
from alto.mesh.field import FieldEvaluator
from alto.mesh.lattice import BoxKind, Lattice, check_points
from alto.mesh.marching import OUTSIDE_LOGIT, bisect_vertices
from alto.mesh.progress import BandGuard, check_band_fraction

__all__ = [
    "BAND_DEPTH_PER_DILATION",
    "DEFAULT_DILATION",
    "DEFAULT_REFINEMENT_STEPS",
    "DEFAULT_REGION_RESOLUTION",
    "GrowthTrace",
    "RegionGrowingExtractor",
    "grow_region",
]

#: Lattice points per axis: ALTO's hard-coded ``resolution = 256``.
DEFAULT_REGION_RESOLUTION = 256
#: Half-width of a seed's block: ALTO's ``dilation_size = 2`` (block ``c-2 .. c+1``).
DEFAULT_DILATION = 2
#: Bisection steps per edge vertex: ALTO's ``refine_iter = 10``.
DEFAULT_REFINEMENT_STEPS = 10
#: Depth of the band in cells per unit of dilation: a seed lies within ``dilation``
#: cells of the surface (on either side) and its block reaches ``dilation`` further,
#: so the band is about ``4 * dilation`` cells deep (7.5 measured at dilation 2 on the
#: torus and box of ``bench/extract.py``).
BAND_DEPTH_PER_DILATION = 4
#: Value marking a lattice point already queued for evaluation in the current round
#: (fields return finite logits, so it never collides with a real value).
QUEUED = np.inf


@dataclass
class GrowthTrace:
    """What the growth did: rounds, seeds visited and block points touched.

    ``block_points`` sums, over rounds, the distinct points of that round's blocks:
    what a loop that re-evaluates every block each round (the published one) would
    evaluate.
    """

    rounds: int = 0
    seeds: int = 0
    block_points: int = 0


def _block_offsets(shape: tuple[int, ...], dilation: int) -> np.ndarray:
    """Flat index offsets of a seed's block ``[-dilation, dilation)^3`` in a C-order grid."""
    steps = np.arange(-dilation, dilation)
    grid = np.meshgrid(steps, steps, steps, indexing="ij")
    strides = np.array([shape[1] * shape[2], shape[2], 1])
    return sum(axis.reshape(-1) * stride for axis, stride in zip(grid, strides, strict=True))


def _seed_indices(inputs: np.ndarray, lattice: Lattice, margin: int) -> np.ndarray:
    """Flat indices, in the grid padded by ``margin``, of the cells holding ``inputs``.

    A point's seed is the lattice point at the lower corner of its cell (ALTO's
    ``int((p - bmin) / step)``). Points beyond the lattice and its shell are ignored.
    """
    cell = np.floor((check_points(inputs) - lattice.origin) / lattice.spacing)
    shape = np.asarray(lattice.shape)
    kept = np.all((cell >= -1) & (cell <= shape), axis=1)
    padded = cell[kept].astype(np.int64) + margin
    return np.unique(np.ravel_multi_index(tuple(padded.T), tuple(shape + 2 * margin)))


def grow_region(
    evaluator: FieldEvaluator,
    lattice: Lattice,
    inputs: np.ndarray,
    level: float,
    dilation: int,
    trace: GrowthTrace | None = None,
    guard: BandGuard | None = None,
) -> np.ndarray:
    """Logit grid over ``lattice`` known on the band grown from ``inputs`` (NaN elsewhere).

    Each round walks the block offsets, every step on all seeds at once. A point
    queued for evaluation or for the next round is marked at once (``QUEUED`` in the
    values, visited for seeds), so no list ever holds a point twice and no
    duplicate removal is needed. ``guard`` checks the band before each round's
    evaluation; the evaluator's progress hears of every round.
    """
    margin = dilation + 1
    grid = lattice.padded(margin)
    values = np.full(grid.shape, OUTSIDE_LOGIT, dtype=np.float32)
    interior = (slice(margin, -margin),) * 3
    values[interior] = np.nan
    # Only the lattice and its shell may seed; the extra margin keeps every block in range.
    visited = np.ones(grid.shape, dtype=bool)
    visited[(slice(margin - 1, 1 - margin),) * 3] = False
    flat_values, flat_visited = values.reshape(-1), visited.reshape(-1)
    offsets = _block_offsets(grid.shape, dilation)
    touched = np.zeros(values.size, dtype=bool) if trace is not None else None
    level = np.float64(level)

    progress = evaluator.progress
    most = progress.points + (lattice.size if guard is None else guard.limit)
    known, rounds = 0, 0
    seeds = _seed_indices(inputs, lattice, margin)
    while seeds.size:
        rounds += 1
        queued = []
        for offset in offsets:
            block_points = seeds + offset
            new = block_points[np.isnan(flat_values.take(block_points))]
            flat_values[new] = QUEUED
            queued.append(new)
        unknown = np.concatenate(queued)
        known += unknown.size
        if guard is not None:
            guard.check(known, f"growth round {rounds} ({seeds.size:,} seeds)")
        progress.stage(f"growth round {rounds}", band=known, total_points=most, upper_bound=True, new_stage=rounds == 1)
        flat_values[unknown] = evaluator.lattice(grid, unknown)
        flat_visited[seeds] = True
        seed_values = flat_values.take(seeds)
        inside, outside = seed_values >= level, seed_values <= level
        grown = []
        for offset in offsets:
            block_points = seeds + offset
            block_values = flat_values.take(block_points)
            crosses = (inside & (block_values <= level)) | (outside & (block_values >= level))
            new = block_points[crosses & ~flat_visited.take(block_points)]
            flat_visited[new] = True
            grown.append(new)
        if trace is not None and touched is not None:
            _record_round(trace, touched, seeds, offsets)
        seeds = np.sort(np.concatenate(grown))
    return values[interior]


def _record_round(trace: GrowthTrace, touched: np.ndarray, seeds: np.ndarray, offsets: np.ndarray) -> None:
    """Add one round to ``trace``: its seeds and the distinct points of its blocks."""
    trace.rounds += 1
    trace.seeds += seeds.size
    blocks = []
    for offset in offsets:
        block_points = seeds + offset
        new = block_points[~touched.take(block_points)]
        touched[new] = True
        blocks.append(new)
    counted = np.concatenate(blocks)
    trace.block_points += counted.size
    touched[counted] = False


@dataclass(frozen=True, kw_only=True)
class RegionGrowingExtractor(LatticeExtractor):
    """ALTO's region growing on a ``resolution``^3 lattice, then bisection refinement.

    Needs the input points (the seeds). ALTO's settings: ``resolution=256``,
    ``dilation=2``, ``refinement_steps=10``, ``box="input_bbox"``, ``level=0``,
    ``value_space="probability"``. ``max_band_fraction`` is the share of the lattice
    the band may fill before the extraction stops (None: the limit of
    :class:`~alto.mesh.progress.BandGuard`, 1: no limit).
    """

    resolution: int = DEFAULT_REGION_RESOLUTION
    dilation: int = DEFAULT_DILATION
    refinement_steps: int = DEFAULT_REFINEMENT_STEPS
    box: BoxKind = "input_bbox"
    max_band_fraction: float | None = None

    name: ClassVar[str] = "region_growing"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int(self.name, "resolution", self.resolution, 2)
        require_int(self.name, "dilation", self.dilation, 1)
        require_int(self.name, "refinement_steps", self.refinement_steps, 0)
        check_band_fraction(self.name, self.max_band_fraction)

    @property
    def points_per_axis(self) -> int:
        """``resolution``."""
        return self.resolution

    def sample(self, evaluator: FieldEvaluator, lattice: Lattice, inputs: np.ndarray | None) -> np.ndarray:
        """Grow the known band from the input points."""
        if inputs is None:
            raise InputError("region_growing extraction needs the input points as seeds, got none")
        guard = BandGuard.build(
            evaluator.progress.name,
            self.resolution,
            lattice.size,
            BAND_DEPTH_PER_DILATION * self.dilation,
            self.max_band_fraction,
            self.level,
        )
        return grow_region(evaluator, lattice, inputs, self.level, self.dilation, guard=guard)

    def place(
        self,
        vertices: np.ndarray,
        values: np.ndarray,
        lattice: Lattice,
        evaluator: FieldEvaluator,
    ) -> np.ndarray:
        """Bisection-refined world vertices."""
        return bisect_vertices(vertices, values, lattice, evaluator, self.level, self.refinement_steps)
