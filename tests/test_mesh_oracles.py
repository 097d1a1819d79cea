"""The vectorised MISE and region growing against literal, loop-by-loop references.

The references below follow the published algorithms step by step (one voxel, one
grid point, one seed at a time, as described in upstream-notes §5.1 and §5.3) on tiny
lattices. The package's versions must make exactly the same decisions: same
evaluated points, same values, same filled grid.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from alto.mesh.analytic import Sphere, Torus, Union, occupancy_field, surface_points
from alto.mesh.field import FieldEvaluator
from alto.mesh.lattice import Lattice, unit_box_lattice
from alto.mesh.marching import OUTSIDE_LOGIT
from alto.mesh.mise import fill_unknown, sample_mise
from alto.mesh.region_growing import grow_region


def wavy_field(points: torch.Tensor) -> torch.Tensor:
    """A field with many small, irregular components, to exercise every branch."""
    p = points.double()
    value = torch.sin(9 * p[:, 0]) * torch.cos(7 * p[:, 1]) + torch.sin(11 * p[:, 2] + 3 * p[:, 0])
    return (4 * value - 1.0).float()


def evaluate_one(field, lattice: Lattice, index: tuple[int, int, int]) -> float:
    point = lattice.to_world(np.array([index])).astype(np.float32)
    return float(field(torch.from_numpy(point))[0])


def reference_mise(field, resolution_0: int, depth: int, level: float):
    """libmise's octree: leaves keyed by (corner, level), a dict of known points."""
    cells = resolution_0 << depth
    lattice = unit_box_lattice(cells + 1)
    coarse = 1 << depth
    leaves = {(i * coarse, j * coarse, k * coarse, 0) for i, j, k in itertools.product(range(resolution_0), repeat=3)}
    known: dict[tuple[int, int, int], float] = {}
    pending = {(i * coarse, j * coarse, k * coarse) for i, j, k in itertools.product(range(resolution_0 + 1), repeat=3)}

    def leaf_of(cell):
        for lvl in range(depth + 1):
            size = 1 << (depth - lvl)
            key = (cell[0] // size * size, cell[1] // size * size, cell[2] // size * size, lvl)
            if key in leaves:
                return key
        raise AssertionError(cell)

    while pending:
        for point in pending:
            known[point] = evaluate_one(field, lattice, point)
        above, below = set(), set()
        for point, value in known.items():
            for offset in itertools.product((-1, 0), repeat=3):
                cell = tuple(p + o for p, o in zip(point, offset, strict=True))
                if all(0 <= c < cells for c in cell):
                    leaf = leaf_of(cell)
                    if value >= level:
                        above.add(leaf)
                    if value <= level:
                        below.add(leaf)
        pending = set()
        for leaf in [leaf for leaf in leaves if leaf[3] < depth and leaf in above and leaf in below]:
            leaves.remove(leaf)
            half = 1 << (depth - leaf[3] - 1)
            for offset in itertools.product((0, 1), repeat=3):
                leaves.add((*(leaf[a] + offset[a] * half for a in range(3)), leaf[3] + 1))
            for offset in itertools.product((0, 1, 2), repeat=3):
                point = tuple(leaf[a] + offset[a] * half for a in range(3))
                if point not in known:
                    pending.add(point)
    grid = np.full((cells + 1,) * 3, np.nan)
    for point, value in known.items():
        grid[point] = value
    for axis in range(3):
        for index in itertools.product(range(cells + 1), repeat=3):
            if index[axis] > 0 and np.isnan(grid[index]):
                previous = list(index)
                previous[axis] -= 1
                grid[index] = grid[tuple(previous)]
    return grid, len(known)


@pytest.mark.parametrize(
    ("field", "level"), [(wavy_field, 0.0), (wavy_field, -1.386), (occupancy_field(Torus(major=0.3, minor=0.1)), 0.0)]
)
def test_mise_matches_the_octree_reference(field, level: float) -> None:
    expected, evaluated = reference_mise(field, resolution_0=4, depth=2, level=level)
    evaluator = FieldEvaluator(field, chunk_size=4096)
    grid = sample_mise(evaluator, unit_box_lattice(17), 4, 2, level)
    np.testing.assert_allclose(grid, expected, rtol=0, atol=1e-6)
    assert evaluator.evaluations == evaluated


def test_fill_unknown_copies_along_x_then_y_then_z() -> None:
    """The fill order matters: a gap on an x-line takes the x-predecessor, otherwise
    the y-predecessor (after x filling), otherwise the z-predecessor."""
    grid = np.full((2, 2, 2), np.nan, dtype=np.float32)
    grid[0, 0, 0], grid[0, 1, 0], grid[0, 0, 1] = 1.0, 2.0, 3.0
    filled = fill_unknown(grid)
    assert filled[1, 0, 0] == 1.0  # from x
    assert filled[1, 1, 0] == 2.0  # x-line (·, 1, 0) starts with 2
    assert filled[1, 0, 1] == 3.0  # x-line (·, 0, 1) starts with 3
    assert filled[0, 1, 1] == 3.0  # nothing on its x-line; y-predecessor (0, 0, 1) = 3
    assert filled[1, 1, 1] == 3.0  # y-predecessor (1, 0, 1) was filled from x with 3


def reference_region_growing(field, lattice: Lattice, inputs: np.ndarray, level: float, dilation: int):
    """Seed-by-seed growth; the lattice has a one-point shell that is known outside."""
    size = np.array(lattice.shape) + 2
    values = np.full(tuple(size), np.nan)
    for axis in range(3):
        values[(slice(None),) * axis + (0,)] = OUTSIDE_LOGIT
        values[(slice(None),) * axis + (-1,)] = OUTSIDE_LOGIT
    visited = np.zeros(tuple(size), dtype=bool)
    shell_lattice = lattice.padded(1)
    truth = FieldEvaluator(field, chunk_size=1 << 16).lattice(shell_lattice, range(shell_lattice.size))
    truth = truth.reshape(shell_lattice.shape)
    seeds = set()
    for point in inputs:
        cell = np.floor((point - np.array(lattice.origin)) / lattice.spacing).astype(int) + 1
        if np.all(cell >= 0) and np.all(cell < size):
            seeds.add(tuple(cell))
    evaluations = 0

    def block(seed):
        for offset in itertools.product(range(-dilation, dilation), repeat=3):
            point = tuple(s + o for s, o in zip(seed, offset, strict=True))
            if all(0 <= p < n for p, n in zip(point, size, strict=True)):
                yield point

    while seeds:
        for seed in seeds:
            for point in block(seed):
                if np.isnan(values[point]):
                    values[point] = truth[point]
                    evaluations += 1
        for seed in seeds:
            visited[seed] = True
        grown = set()
        for seed in seeds:
            for point in block(seed):
                if not visited[point] and (
                    (values[seed] >= level and values[point] <= level)
                    or (values[seed] <= level and values[point] >= level)
                ):
                    grown.add(point)
        seeds = grown
    return values[1:-1, 1:-1, 1:-1], evaluations


@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("box_cut", [False, True])
def test_region_growing_matches_the_seed_by_seed_reference(dilation: int, box_cut: bool) -> None:
    """Same known points and values. With ``box_cut`` the shapes reach beyond the
    lattice, so growth also runs along the outside shell."""
    shape = Union((Torus(major=0.3, minor=0.1), Sphere(centre=(0.0, 0.3, 0.0), radius=0.12)))
    field = occupancy_field(shape)
    inputs = surface_points(shape, 40, np.random.default_rng(3))
    lattice = unit_box_lattice(15, padding=-0.4 if box_cut else 0.1)
    expected, evaluated = reference_region_growing(field, lattice, inputs, 0.0, dilation)
    evaluator = FieldEvaluator(field, chunk_size=4096)
    grid = grow_region(evaluator, lattice, inputs, 0.0, dilation)
    np.testing.assert_array_equal(np.isnan(grid), np.isnan(expected))
    np.testing.assert_allclose(grid, expected, rtol=0, atol=1e-6)
    assert evaluator.evaluations == evaluated == np.count_nonzero(~np.isnan(grid))
