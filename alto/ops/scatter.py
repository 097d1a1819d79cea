"""Scatter reductions of point features into grid cells, behind one backend switch.

Both reductions work on rows: ``src`` is ``(..., M, C)`` (M points with C channels),
``index`` is ``(..., M)`` (the cell of each point) and the result is ``(..., size, C)``.
Leading dimensions broadcast, so one call can scatter the same point features onto
several planes. Cells that receive no point stay exactly 0, as in torch-scatter,
whose ``scatter_mean`` / ``scatter_max`` the published models use.

Backends:

``torch`` (default)
    native ``Tensor.scatter_reduce`` (nothing to compile). The mean is a
    ``scatter_reduce('sum')`` divided by ``bincount`` counts clamped at 1, which is
    torch-scatter's own formula; a fused ``scatter_reduce('mean')`` gives the same
    values but its backward pass is several times slower. The maximum is
    ``scatter_reduce('amax')`` with a hand-written backward that sends the gradient
    to the points holding the maximum (split evenly among ties, like the autograd
    formula of ``amax``), again because the generic backward is slow.
``torch_scatter``
    the compiled torch-scatter package, used only when it is installed and selected.
``auto``
    ``torch_scatter`` when it can be imported, ``torch`` otherwise.

Select with :func:`set_scatter_backend` or the environment variable
``ALTO_SCATTER_BACKEND`` (read the first time a reduction runs).

The models use these for max scatters and the local pooling between encoder blocks.
Their mean scatter onto the grids is a sparse map built once per batch of points
(:meth:`alto.ops.GridProjection.scatter`), whatever the backend.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import math
import os
from types import ModuleType

import torch
from torch import Tensor

from alto.errors import InputError

__all__ = [
    "BACKENDS",
    "ENV_VAR",
    "get_scatter_backend",
    "scatter_max",
    "scatter_mean",
    "set_scatter_backend",
    "torch_scatter_available",
]

logger = logging.getLogger(__name__)

#: accepted backend names
BACKENDS = ("torch", "torch_scatter", "auto")
#: environment variable read when no backend was set explicitly
ENV_VAR = "ALTO_SCATTER_BACKEND"

_backend: str | None = None


def torch_scatter_available() -> bool:
    """Whether the optional torch-scatter package can be imported."""
    return importlib.util.find_spec("torch_scatter") is not None


def set_scatter_backend(name: str) -> str:
    """Select the scatter backend (``'torch'``, ``'torch_scatter'`` or ``'auto'``).

    Returns the backend actually used (``'auto'`` resolves to one of the other two).
    """
    global _backend
    if name not in BACKENDS:
        raise InputError(f"scatter backend {name!r} is unknown; expected one of {', '.join(BACKENDS)}")
    if name == "torch_scatter" and not torch_scatter_available():
        raise InputError(
            "scatter backend 'torch_scatter' was selected but the torch_scatter package is not "
            "installed; use 'torch' or 'auto'"
        )
    if name == "auto":
        name = "torch_scatter" if torch_scatter_available() else "torch"
    _backend = name
    logger.debug("scatter backend: %s", name)
    return name


def get_scatter_backend() -> str:
    """The backend in use; on first use it comes from ``ALTO_SCATTER_BACKEND`` or is ``'torch'``."""
    if _backend is None:
        env = os.environ.get(ENV_VAR, "torch").strip() or "torch"
        if env not in BACKENDS:
            raise InputError(
                f"environment variable {ENV_VAR}={env!r} is not a scatter backend; "
                f"expected one of {', '.join(BACKENDS)}"
            )
        return set_scatter_backend(env)
    return _backend


def _torch_scatter() -> ModuleType:
    return importlib.import_module("torch_scatter")


def _flatten(src: Tensor, index: Tensor, size: int) -> tuple[Tensor, Tensor, tuple[int, ...]]:
    """Broadcast the leading dimensions and flatten to rows: ``(G * M, C)`` and ``(G * M,)``.

    Cell ``i`` of leading position ``g`` becomes row ``g * size + i`` of a ``(G * size, C)``
    result, so that one 2D scatter serves any number of leading dimensions.
    """
    if src.dim() < 2 or index.dim() != src.dim() - 1 or index.shape[-1] != src.shape[-2]:
        raise ValueError(
            f"scatter expects src (..., M, C) and index (..., M); got {tuple(src.shape)} and {tuple(index.shape)}"
        )
    lead = tuple(torch.broadcast_shapes(src.shape[:-2], index.shape[:-1]))
    groups = math.prod(lead)
    offsets = torch.arange(groups, device=index.device).mul_(size).view(*lead, 1)
    flat = (index.expand(*lead, index.shape[-1]) + offsets).reshape(-1)
    rows = src.expand(*lead, *src.shape[-2:]).reshape(-1, src.shape[-1])
    return rows, flat, lead


def _row_index(flat: Tensor, channels: int) -> Tensor:
    return flat.unsqueeze(1).expand(-1, channels)


def scatter_mean(src: Tensor, index: Tensor, size: int) -> Tensor:
    """Mean of the rows of ``src (..., M, C)`` per cell of ``index (..., M)``: ``(..., size, C)``."""
    if get_scatter_backend() == "torch_scatter":
        src, index = _broadcast_full(src, index)
        return _torch_scatter().scatter_mean(src, index, dim=-2, dim_size=size)
    rows, flat, lead = _flatten(src, index, size)
    cells = math.prod(lead) * size
    sums = rows.new_zeros(cells, rows.shape[1]).scatter_reduce(0, _row_index(flat, rows.shape[1]), rows, reduce="sum")
    counts = torch.bincount(flat, minlength=cells).clamp_(min=1).to(rows.dtype)
    return (sums / counts.unsqueeze(1)).view(*lead, size, rows.shape[1])


def _broadcast_full(src: Tensor, index: Tensor) -> tuple[Tensor, Tensor]:
    """Materialised broadcast of both arguments, as torch-scatter expects."""
    lead = torch.broadcast_shapes(src.shape[:-2], index.shape[:-1])
    return src.expand(*lead, *src.shape[-2:]).contiguous(), index.expand(*lead, index.shape[-1])


class _ScatterMax(torch.autograd.Function):
    """Row-wise ``scatter_reduce('amax')`` with a gather-based backward pass."""

    @staticmethod
    def forward(ctx, rows: Tensor, flat: Tensor, cells: int) -> Tensor:
        out = rows.new_zeros(cells, rows.shape[1]).scatter_reduce(
            0, _row_index(flat, rows.shape[1]), rows, reduce="amax", include_self=False
        )
        winners = rows == out.index_select(0, flat)
        ctx.save_for_backward(flat, winners)
        return out

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, None, None]:
        flat, winners = ctx.saved_tensors
        weights = winners.to(grad_out.dtype)
        ties = torch.zeros_like(grad_out).index_add_(0, flat, weights)
        return grad_out.index_select(0, flat) * weights / ties.index_select(0, flat), None, None


def scatter_max(src: Tensor, index: Tensor, size: int) -> Tensor:
    """Maximum of the rows of ``src (..., M, C)`` per cell of ``index (..., M)``: ``(..., size, C)``."""
    if get_scatter_backend() == "torch_scatter":
        src, index = _broadcast_full(src, index)
        return _torch_scatter().scatter_max(src, index, dim=-2, dim_size=size)[0]
    rows, flat, lead = _flatten(src, index, size)
    out = _ScatterMax.apply(rows, flat, math.prod(lead) * size)
    return out.view(*lead, size, rows.shape[1])
