"""Sparse row maps, and the sampling built on them, against dense matrices and ``grid_sample``."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from alto.ops import GRID, GridProjection, RowMap, interpolation_corners

PADDING = 0.1


def _dense(columns: torch.Tensor, weights: torch.Tensor, num_columns: int) -> torch.Tensor:
    matrix = torch.zeros(columns.shape[0], num_columns, dtype=weights.dtype)
    for row in range(columns.shape[0]):
        for col, weight in zip(columns[row].tolist(), weights[row].tolist(), strict=True):
            matrix[row, col] += weight
    return matrix


def test_row_map_and_its_gradient_match_a_dense_matrix():
    gen = torch.Generator().manual_seed(0)
    columns = torch.randint(0, 7, (20, 3), generator=gen)
    weights = torch.rand(20, 3, generator=gen, dtype=torch.float64)
    row_map = RowMap.from_fixed(columns, weights, 7)
    dense = _dense(columns, weights, 7)
    rows = torch.rand(7, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    out = row_map(rows)
    torch.testing.assert_close(out, dense @ rows.detach())
    grad_out = torch.rand(20, 4, generator=gen, dtype=torch.float64)
    out.backward(grad_out)
    torch.testing.assert_close(rows.grad, dense.t() @ grad_out)
    transposed = row_map.transposed()
    assert transposed.shape == (7, 20)
    assert transposed.transposed() is row_map
    torch.testing.assert_close(transposed.row_counts(), torch.bincount(columns.reshape(-1), minlength=7))


def test_row_map_rejects_rows_of_the_wrong_shape():
    row_map = RowMap.from_fixed(torch.zeros(2, 1, dtype=torch.long), torch.ones(2, 1), 3)
    with pytest.raises(ValueError, match=r"cannot be applied to rows \(4, 2\)"):
        row_map(torch.zeros(4, 2))


def _grid_sample(grids: torch.Tensor, projection: GridProjection, mode: str) -> torch.Tensor:
    """Upstream's read-out: ``grid_sample`` per stacked grid, ``(P, B, T, C)``."""
    dims = projection.dims
    vgrid = (2.0 * projection.coords - 1.0).view(projection.num_grids, projection.num_points, *[1] * (dims - 1), dims)
    out = F.grid_sample(grids, vgrid, mode=mode, padding_mode="border", align_corners=True)
    return out.view(len(projection.planes), projection.batch, grids.shape[1], -1).transpose(-1, -2)


@pytest.mark.parametrize("planes", [("xz", "xy", "yz"), (GRID,)])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("channels_last", [False, True])
def test_sampling_matches_grid_sample_values_and_gradients(planes, mode, channels_last):
    gen = torch.Generator().manual_seed(3)
    dims = 3 if planes == (GRID,) else 2
    resolution = 6
    # points beyond the padded cube exercise the border clamp
    points = (torch.rand(2, 40, 3, generator=gen) * 2 - 1) * 0.6
    grids = torch.randn(len(planes) * 2, 5, *[resolution] * dims, generator=gen)
    if channels_last:
        grids = grids.to(memory_format=torch.channels_last if dims == 2 else torch.channels_last_3d)
    grids.requires_grad_(True)
    projection = GridProjection(points, planes, PADDING)
    expected_grids = grids.detach().clone().requires_grad_(True)
    expected = _grid_sample(expected_grids, projection, mode)

    sampled = projection.sample(grids, mode)
    torch.testing.assert_close(sampled, expected, atol=1e-5, rtol=1e-5)
    summed = projection.sample_sum(grids, mode)
    torch.testing.assert_close(summed, expected.sum(0), atol=1e-5, rtol=1e-5)

    weights = torch.randn(sampled.shape, generator=gen)
    (sampled * weights).sum().backward()
    (expected * weights).sum().backward()
    torch.testing.assert_close(grids.grad, expected_grids.grad, atol=1e-5, rtol=1e-5)


def test_sampling_is_differentiable_in_the_points():
    """Points that require gradients take the ``grid_sample`` path, which differentiates in them."""
    gen = torch.Generator().manual_seed(4)
    points = ((torch.rand(1, 10, 3, generator=gen) * 2 - 1) * 0.4).requires_grad_(True)
    grids = torch.randn(3, 2, 5, 5, generator=gen)
    sampled = GridProjection(points, ("xz", "xy", "yz"), PADDING).sample_sum(grids)
    sampled.sum().backward()
    assert points.grad is not None and points.grad.abs().sum() > 0


def test_interpolation_weights_sum_to_one_and_rejects_unknown_modes():
    coords = torch.rand(4, 30, 3, generator=torch.Generator().manual_seed(5))
    cells, weights = interpolation_corners(coords, 7)
    assert cells.shape == weights.shape == (4, 30, 8)
    assert int(cells.min()) >= 0 and int(cells.max()) < 7**3
    torch.testing.assert_close(weights.sum(-1), torch.ones(4, 30))
    with pytest.raises(ValueError, match="sample mode must be one of"):
        interpolation_corners(coords, 7, "bicubic")


def test_row_map_runs_in_full_precision_under_bfloat16_autocast():
    """CPU sparse kernels have no bfloat16; the map keeps its dtype, like ``grid_sample`` does."""
    gen = torch.Generator().manual_seed(6)
    columns = torch.randint(0, 5, (8, 2), generator=gen)
    weights = torch.rand(8, 2, generator=gen)
    row_map = RowMap.from_fixed(columns, weights, 5)
    rows = torch.rand(5, 3, generator=gen, requires_grad=True)
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        out = row_map(rows)  # autocast alone would run this matmul in bfloat16
    assert out.dtype == torch.float32
    out.sum().backward()
    torch.testing.assert_close(rows.grad, _dense(columns, weights, 5).t() @ torch.ones(8, 3), atol=1e-6, rtol=1e-6)
