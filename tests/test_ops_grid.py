"""Point <-> grid projection, checked against direct per-point formulas and loops."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from alto.errors import InputError
from alto.ops import (
    FEATURE_AXES,
    GRID,
    GRID_CLAMP_EPS,
    PLANE_CLAMP_EPS,
    GridProjection,
    canonical_planes,
    cell_index,
    flatten_cells,
    neighbour_offsets,
    normalize_coordinates,
)

PADDING = 0.1


def _points(seed: int, batch: int = 2, count: int = 50, half: float = 0.5) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, count, 3, generator=gen) * 2 - 1) * half


def _u(p: np.ndarray, eps: float) -> np.ndarray:
    """Upstream normalisation in float64: divide, shift, clamp."""
    u = p / (1 + PADDING + eps) + 0.5
    return np.clip(np.where(u >= 1, 1 - eps, u), 0, None)


@pytest.mark.parametrize("plane", ["xz", "xy", "yz", "grid"])
def test_normalize_projects_onto_the_plane_axes_and_clamps(plane):
    eps = GRID_CLAMP_EPS if plane == GRID else PLANE_CLAMP_EPS
    points = _points(0, half=0.7)  # some points outside the padded cube
    u = normalize_coordinates(points, plane, PADDING)
    expected = _u(points.double().numpy()[..., list(FEATURE_AXES[plane])], eps)
    np.testing.assert_allclose(u.numpy(), expected, atol=1e-6)
    assert u.min() >= 0 and u.max() == pytest.approx(1 - eps)
    assert (u < 1).all()


def test_plane_and_volume_use_different_epsilons():
    corner = torch.tensor([[[0.55, 0.55, 0.55]]])
    assert normalize_coordinates(corner, "xy", PADDING)[0, 0, 0].item() == pytest.approx(0.55 / (1.1 + 1e-5) + 0.5)
    assert normalize_coordinates(corner, GRID, PADDING)[0, 0, 0].item() == pytest.approx(0.55 / (1.1 + 1e-3) + 0.5)
    far = torch.tensor([[[2.0, -2.0, 0.0]]])
    assert normalize_coordinates(far, "xy", PADDING)[0, 0].tolist() == pytest.approx([1 - 1e-5, 0.0])
    assert normalize_coordinates(far, GRID, PADDING)[0, 0, :2].tolist() == pytest.approx([1 - 1e-3, 0.0])


def test_cell_index_counts_the_first_axis_fastest():
    coords = torch.tensor([[0.26, 0.51], [0.99, 0.0]])
    assert cell_index(coords, 4).tolist() == [1 + 4 * 2, 3 + 4 * 0]
    coords3 = torch.tensor([[0.26, 0.51, 0.76]])
    assert cell_index(coords3, 4).tolist() == [1 + 4 * (2 + 4 * 3)]
    cells = torch.tensor([[1, 2, 3]])
    assert flatten_cells(cells, 4, reverse_axes=True).tolist() == [3 + 4 * (2 + 4 * 1)]


def test_neighbour_offsets_order():
    assert neighbour_offsets(2).tolist() == [[dx, dy] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    offsets3 = neighbour_offsets(3)
    assert offsets3.shape == (27, 3)
    assert offsets3[0].tolist() == [-1, -1, -1] and offsets3[1].tolist() == [0, -1, -1]
    assert offsets3[3].tolist() == [-1, 0, -1] and offsets3[9].tolist() == [-1, -1, 0]


def test_canonical_planes():
    assert canonical_planes(["yz", "xz"]) == ("xz", "yz")
    assert canonical_planes("xy") == ("xy",)
    assert canonical_planes("grid") == canonical_planes(["grid"]) == ("grid",)
    for bad in (["grid", "xz"], ["xz", "xz"], ["ab"], []):
        with pytest.raises(InputError):
            canonical_planes(bad)


def _cell_of(u: np.ndarray, resolution: int) -> tuple[int, ...]:
    """Array index of the cell of one point: reversed axes (row = second plane axis)."""
    return tuple(math.floor(x * resolution) for x in u[::-1])


@pytest.mark.parametrize("planes", [("xz", "xy", "yz"), ("xy",), (GRID,)])
@pytest.mark.parametrize("reduce", ["mean", "max"])
def test_scatter_and_pool_match_a_loop(planes, reduce):
    resolution = 4
    points = _points(1, count=30)
    values = torch.randn(2, 30, 3, generator=torch.Generator().manual_seed(2))
    projection = GridProjection(points, planes, PADDING)
    grids = projection.scatter(values, resolution, reduce)
    dims = 3 if planes == (GRID,) else 2
    assert grids.shape == (len(planes) * 2, 3, *[resolution] * dims)
    assert grids.movedim(1, -1).is_contiguous()  # channels-last: the cell rows are a view
    pooled = projection.pool(values, resolution, reduce)
    expected_pool = np.zeros((2, 30, 3))
    for p, plane in enumerate(planes):
        u = normalize_coordinates(points, plane, PADDING).numpy()
        for b in range(2):
            cells = [_cell_of(u[b, t], resolution) for t in range(30)]
            expected = np.zeros((3, *[resolution] * dims))
            for cell in set(cells):
                members = values[b, [t for t in range(30) if cells[t] == cell]].numpy()
                expected[(slice(None), *cell)] = members.mean(0) if reduce == "mean" else members.max(0)
            np.testing.assert_allclose(grids[p * 2 + b].numpy(), expected, atol=1e-6)
            for t in range(30):
                expected_pool[b, t] += expected[(slice(None), *cells[t])]
    np.testing.assert_allclose(pooled.numpy(), expected_pool, atol=1e-5)


@pytest.mark.parametrize("planes", [("xz", "xy", "yz"), (GRID,)])
def test_bilinear_sampling_reproduces_a_linear_field(planes):
    """On a grid holding a linear function of the cell position, interpolation is exact."""
    resolution, slopes = 5, (0.5, -1.25, 2.0)
    dims = 3 if planes == (GRID,) else 2
    axes = torch.meshgrid(*[torch.arange(resolution, dtype=torch.float32)] * dims, indexing="ij")
    # array axis k (of dims) holds point-axis dims-1-k (rows are the second plane axis)
    field = sum(slopes[dims - 1 - k] * axes[k] for k in range(dims)) + 0.3
    grids = field.expand(len(planes) * 2, 1, *field.shape).contiguous()
    points = _points(4, half=0.55)
    projection = GridProjection(points, planes, PADDING)
    sampled = projection.sample(grids)
    assert sampled.shape == (len(planes), 2, 50, 1)
    for p, plane in enumerate(planes):
        u = normalize_coordinates(points, plane, PADDING) * (resolution - 1)
        expected = sum(slopes[a] * u[..., a] for a in range(dims)) + 0.3
        torch.testing.assert_close(sampled[p, ..., 0], expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("planes", [("xz", "yz"), (GRID,)])
@pytest.mark.parametrize("reverse", [False, True])
def test_neighbours_match_a_loop(planes, reverse):
    resolution = 5
    dims = 3 if planes == (GRID,) else 2
    points = _points(5, count=20, half=0.6)
    grids = torch.randn(len(planes) * 2, 4, *[resolution] * dims, generator=torch.Generator().manual_seed(6))
    displacement, features = GridProjection(points, planes, PADDING).neighbours(grids, reverse)
    k = 3**dims
    assert displacement.shape == (len(planes), 2, 20, k, dims)
    assert features.shape == (len(planes), 2, 20, k, 4)
    offsets = neighbour_offsets(dims).tolist()
    for p, plane in enumerate(planes):
        position = (normalize_coordinates(points, plane, PADDING) * (resolution - 1)).numpy()
        for b in range(2):
            for t in range(20):
                centre = [int(np.round(x)) for x in position[b, t]]
                for n, offset in enumerate(offsets):
                    cell = [min(max(c + o, 0), resolution - 1) for c, o in zip(centre, offset, strict=True)]
                    np.testing.assert_allclose(displacement[p, b, t, n].numpy(), position[b, t] - cell, atol=1e-6)
                    index = tuple(cell) if reverse else tuple(cell[::-1])
                    expected = grids[(p * 2 + b, slice(None), *index)]
                    torch.testing.assert_close(features[p, b, t, n], expected, rtol=0, atol=0)


def test_projection_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(B, T, 3\)"):
        GridProjection(torch.zeros(10, 3), ("xz",))
    with pytest.raises(ValueError, match="'mean' or 'max'"):
        GridProjection(torch.zeros(1, 10, 3), ("xz",)).scatter(torch.zeros(1, 10, 2), 4, "sum")
