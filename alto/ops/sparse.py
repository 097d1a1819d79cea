"""Fixed sparse linear maps between row tensors, with a sparse backward pass.

Bilinear sampling of a grid at points, the sum of such samples over several planes
and the per-cell sum of point features are all linear maps ``out = A @ rows`` from
the grid cells (or points) as rows ``(N, C)`` to the points (or cells) as rows
``(M, C)``, where ``A`` has a handful of entries per row that depend only on the
point coordinates. :class:`RowMap` holds such an ``A`` as a compressed-row (CSR)
sparse matrix; applying it is one sparse-dense matmul whose gradient is the
transposed map, built once (sorted by column) and reused by every backward pass.

Compared with ``grid_sample`` and ``scatter_reduce`` on CPU this reads and writes
whole rows (all channels of a cell are contiguous in channels-last memory), and
the index bookkeeping is paid once per batch of points and resolution instead of
once per call. Each output row sums its entries in the stored order, so the
transposed map (sorted stably) adds the gradients of a cell in point order.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

__all__ = ["RowMap"]

#: PyTorch warns once per process that sparse CSR support is in beta; the operations
#: used here (construction and CSR @ dense) are long established
_CSR_BETA_WARNING = "Sparse CSR tensor support is in beta state"


def _csr(crow: Tensor, col: Tensor, values: Tensor, shape: tuple[int, int]) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_CSR_BETA_WARNING, category=UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size=shape, check_invariants=False)


class RowMap:
    """A sparse matrix ``A (M, N)`` applied to rows: ``A @ rows (N, C) -> (M, C)``, differentiable in ``rows``.

    Args:
        crow: ``(M + 1,)`` row pointers (int64): the entries of row ``i`` are
            ``crow[i]:crow[i + 1]``.
        col: ``(nnz,)`` column of each entry.
        values: ``(nnz,)`` weight of each entry.
        num_columns: N.
    """

    def __init__(self, crow: Tensor, col: Tensor, values: Tensor, num_columns: int):
        self.shape = (crow.numel() - 1, num_columns)
        self.crow, self.col, self.values = crow, col, values
        self.matrix = _csr(crow, col, values, self.shape)
        self._transposed: RowMap | None = None

    @classmethod
    def from_fixed(cls, columns: Tensor, weights: Tensor, num_columns: int) -> RowMap:
        """The map whose row ``i`` has the entries ``columns[i, k]`` with weights ``weights[i, k]`` (``(M, K)``)."""
        rows, per_row = columns.shape
        crow = torch.arange(0, rows * per_row + 1, per_row, device=columns.device)
        return cls(crow, columns.reshape(-1), weights.reshape(-1), num_columns)

    @property
    def dtype(self) -> torch.dtype:
        return self.values.dtype

    def transposed(self) -> RowMap:
        """``A^T`` as a row map (built on first use, then cached both ways)."""
        if self._transposed is None:
            rows = torch.repeat_interleave(
                torch.arange(self.shape[0], device=self.crow.device), self.crow.diff(), output_size=self.col.numel()
            )
            order = torch.sort(self.col, stable=True).indices
            counts = torch.bincount(self.col, minlength=self.shape[1])
            crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
            self._transposed = RowMap(crow, rows[order], self.values[order], self.shape[0])
            self._transposed._transposed = self
        return self._transposed

    def row_counts(self) -> Tensor:
        """Number of entries of each row, ``(M,)``."""
        return self.crow.diff()

    def __call__(self, rows: Tensor) -> Tensor:
        """``A @ rows``; ``rows`` is cast to the map's dtype (like autocast does for ``grid_sample``)."""
        if rows.dim() != 2 or rows.shape[0] != self.shape[1]:
            raise ValueError(f"row map of shape {self.shape} cannot be applied to rows {tuple(rows.shape)}")
        return _ApplyRowMap.apply(rows.to(self.dtype), self)


class _ApplyRowMap(torch.autograd.Function):
    """``A @ rows`` with the backward pass ``A^T @ grad`` (a second sparse matmul)."""

    @staticmethod
    def forward(ctx, rows: Tensor, row_map: RowMap) -> Tensor:
        ctx.row_map = row_map
        return _sparse_mm(row_map.matrix, rows)

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
        return _sparse_mm(ctx.row_map.transposed().matrix, grad.to(ctx.row_map.dtype)), None


def _sparse_mm(matrix: Tensor, rows: Tensor) -> Tensor:
    """``matrix @ rows`` in the map's dtype, also under autocast.

    Autocast would run the matmul in bfloat16 or float16, which sparse CSR kernels do
    not support on the CPU; like ``grid_sample``, the map stays in full precision.
    """
    with torch.autocast(device_type=rows.device.type, enabled=False):
        return matrix @ rows.contiguous()
