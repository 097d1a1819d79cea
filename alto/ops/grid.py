"""Point <-> grid projection shared by the encoder, the U-Nets and the decoders.

Features live on axis-aligned planes (``xz``, ``xy``, ``yz``: 2D grids) or on one
volume (``grid``: a 3D grid). A point ``p`` in the padded unit cube
``[-(1 + padding) / 2, (1 + padding) / 2]^3`` is normalised per plane into
``u in [0, 1)`` by :func:`normalize_coordinates`; then

* it falls into cell ``floor(u * R)`` (:func:`cell_index`), where point features
  are scattered (mean or max) and where local pooling gathers them back;
* features are read back at ``u`` by bilinear (trilinear) interpolation as
  ``grid_sample(align_corners=True, padding_mode='border')`` does it, i.e. at pixel
  position ``u * (R - 1)`` (:meth:`GridProjection.sample`);
* the attention decoder looks at the 3x3 (planes) or 3x3x3 (volume) cells around
  ``round(u * (R - 1))`` (:meth:`GridProjection.neighbours`).

Layout conventions, fixed by the published models: a plane's flat cell index is
``i0 + R * i1`` for its two axes ``(a0, a1)``, so a plane tensor ``(C, R, R)`` is
indexed ``[row = a1, column = a0]``; the volume's index is ``ix + R * (iy + R * iz)``,
i.e. ``(C, D = z, H = y, W = x)``.

Several planes are handled as one batch: :class:`GridProjection` stacks them
plane-major, so the grids of P planes for a batch of B samples form one tensor
``(P * B, C, R, R)`` that a shared convolution processes in one call.

Sampling and mean scattering are sparse linear maps between the cells of the grids
as rows ``(P * B * R**k, C)`` and the points (:class:`alto.ops.sparse.RowMap`),
built once per batch of points and resolution. In channels-last memory the cell rows
are a view of the grids, so :meth:`GridProjection.scatter` returns channels-last
grids and sampling such grids copies nothing; other layouts are transposed first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from alto.config.defaults import DEFAULT_PADDING
from alto.errors import InputError
from alto.ops.scatter import scatter_max, scatter_mean
from alto.ops.sparse import RowMap

__all__ = [
    "DEFAULT_PADDING",
    "FEATURE_AXES",
    "GRID",
    "GRID_CLAMP_EPS",
    "PLANES",
    "PLANE_CLAMP_EPS",
    "SAMPLE_MODES",
    "GridProjection",
    "canonical_planes",
    "cell_index",
    "clamp_eps",
    "flatten_cells",
    "grid_rows",
    "interpolation_corners",
    "neighbour_offsets",
    "normalize_coordinates",
    "rows_to_grids",
]

#: the three canonical feature planes, in the order the published models sum them
PLANES = ("xz", "xy", "yz")
#: name of the 3D feature volume
GRID = "grid"
#: point axes that each feature plane (or the volume) spans
FEATURE_AXES: dict[str, tuple[int, ...]] = {"xz": (0, 2), "xy": (0, 1), "yz": (1, 2), GRID: (0, 1, 2)}
#: upstream ``normalize_coordinate`` (planes) divides by ``1 + padding + 10e-6`` and clamps
#: values ``>= 1`` to ``1 - 10e-6``
PLANE_CLAMP_EPS = 1e-5
#: upstream ``normalize_3d_coordinate`` (volume) uses ``10e-4`` in the same two places
GRID_CLAMP_EPS = 1e-3
#: cell reductions by name
_SCATTER = {"mean": scatter_mean, "max": scatter_max}
#: interpolation modes of :meth:`GridProjection.sample` (those of ``grid_sample`` that the models use)
SAMPLE_MODES = ("bilinear", "nearest")


def _reducer(reduce: str) -> Callable[[Tensor, Tensor, int], Tensor]:
    if reduce not in _SCATTER:
        raise ValueError(f"reduce must be 'mean' or 'max', got {reduce!r}")
    return _SCATTER[reduce]


def canonical_planes(plane_type: str | Sequence[str]) -> tuple[str, ...]:
    """Validate an upstream ``plane_type`` value and return its planes in canonical order.

    Accepts ``'grid'``, ``['grid']``, one plane name or a list of plane names; the volume
    cannot be mixed with planes.
    """
    names = [plane_type] if isinstance(plane_type, str) else list(plane_type)
    unknown = [n for n in names if n not in FEATURE_AXES]
    if not names or unknown or len(set(names)) != len(names):
        raise InputError(f"plane type {plane_type!r} is invalid; expected 'grid' or distinct names from {list(PLANES)}")
    if GRID in names:
        if len(names) > 1:
            raise InputError(f"plane type {plane_type!r} mixes the volume 'grid' with planes")
        return (GRID,)
    return tuple(p for p in PLANES if p in names)


def clamp_eps(plane: str) -> float:
    """The normalisation epsilon of ``plane`` (planes and the volume differ upstream)."""
    return GRID_CLAMP_EPS if plane == GRID else PLANE_CLAMP_EPS


def normalize_coordinates(
    points: Tensor, plane: str, padding: float = DEFAULT_PADDING, eps: float | None = None
) -> Tensor:
    """Project ``points (..., 3)`` onto ``plane`` and normalise into ``[0, 1)``: ``(..., k)``.

    ``u = p / (1 + padding + eps) + 0.5``; values ``>= 1`` become ``1 - eps`` and values
    below 0 become 0, so points outside the padded cube land in the border cells.
    ``eps`` defaults to the upstream value for planes or the volume (:func:`clamp_eps`).
    """
    eps = clamp_eps(plane) if eps is None else eps
    u = points[..., list(FEATURE_AXES[plane])] / (1 + padding + eps) + 0.5
    u = torch.where(u >= 1, torch.full_like(u, 1 - eps), u)
    return torch.where(u < 0, torch.zeros_like(u), u)


def flatten_cells(cells: Tensor, resolution: int, reverse_axes: bool = False) -> Tensor:
    """Flat index of integer cells ``(..., k)``: ``i0 + R*i1 (+ R^2*i2)``.

    With ``reverse_axes`` the axes count in the opposite order: ``i1 + R*i0`` (planes),
    ``i2 + R*(i1 + R*i0)`` (volume).
    """
    dims = cells.shape[-1]
    order = range(dims) if reverse_axes else range(dims - 1, -1, -1)
    flat = torch.zeros_like(cells[..., 0])
    for axis in order:
        flat = flat * resolution + cells[..., axis]
    return flat


def cell_index(coords: Tensor, resolution: int) -> Tensor:
    """Flat index of the cell ``floor(u * R)`` holding normalised ``coords (..., k)``."""
    return flatten_cells((coords * resolution).long(), resolution)


def neighbour_offsets(dims: int, device: torch.device | None = None) -> Tensor:
    """Offsets ``(3**dims, dims)`` of a cell's 3x3(x3) neighbourhood, first axis fastest."""
    n = torch.arange(3**dims, device=device)
    return torch.stack([(n // 3**axis) % 3 - 1 for axis in range(dims)], dim=-1)


def grid_rows(grids: Tensor) -> Tensor:
    """The cells of ``grids (N, C, R, ...)`` as rows ``(N * R**k, C)``, in flat-index order.

    A view for channels-last grids, a transposed copy otherwise.
    """
    return grids.movedim(1, -1).reshape(-1, grids.shape[1])


def rows_to_grids(rows: Tensor, num_grids: int, resolution: int, dims: int) -> Tensor:
    """Cell rows ``(N * R**k, C)`` as grids ``(N, C, R, ...)`` in channels-last memory (a view)."""
    return rows.view(num_grids, *([resolution] * dims), rows.shape[-1]).movedim(-1, 1)


def interpolation_corners(coords: Tensor, resolution: int, mode: str = "bilinear") -> tuple[Tensor, Tensor]:
    """Cells and weights that interpolate a grid at normalised ``coords (..., k)``: ``(..., K)`` each.

    Reproduces ``grid_sample(align_corners=True, padding_mode='border')`` operation by
    operation: the pixel position is ``(v + 1) * (R - 1) / 2`` for ``v = 2u - 1``, clamped
    to ``[0, R - 1]``. ``'bilinear'`` gives the ``K = 2**k`` corners (first axis fastest)
    with weights multiplied over the axes in order, each the distance to the opposite
    corner; ``'nearest'`` gives the one cell at the rounded position (half to even).
    Corners past the border are clamped to it; their weight is exactly 0. The cells
    are flat indices (:func:`flatten_cells`).
    """
    if mode not in SAMPLE_MODES:
        raise ValueError(f"sample mode must be one of {SAMPLE_MODES}, got {mode!r}")
    position = ((2.0 * coords - 1.0) + 1.0) * ((resolution - 1) / 2)
    position = position.clamp(0, resolution - 1)
    if mode == "nearest":
        cells = flatten_cells(torch.round(position).long(), resolution)
        return cells.unsqueeze(-1), torch.ones_like(position[..., :1])
    low = position.floor()
    high_weight = position - low
    low_weight = 1.0 - high_weight
    low_cell = low.long()
    high_cell = (low_cell + 1).clamp_(max=resolution - 1)
    dims = coords.shape[-1]
    corners, weights = [], []
    for corner in range(2**dims):
        upper = [(corner >> axis) & 1 for axis in range(dims)]
        corner_cells = [(high_cell if up else low_cell)[..., axis] for axis, up in enumerate(upper)]
        corners.append(flatten_cells(torch.stack(corner_cells, dim=-1), resolution))
        weight = (high_weight if upper[0] else low_weight)[..., 0]
        for axis in range(1, dims):
            weight = weight * (high_weight if upper[axis] else low_weight)[..., axis]
        weights.append(weight)
    return torch.stack(corners, dim=-1), torch.stack(weights, dim=-1)


class GridProjection:
    """Where a batch of points falls on a set of feature planes or on the feature volume.

    Built once per batch of points; every scatter, pooling, sampling and neighbour
    lookup for those points at any resolution goes through it, and the index work
    for a resolution (cells, interpolation corners, sparse maps) is done once and
    reused by every later call. Grids are stacked plane-major: ``(P * B, C, R, ...)``
    for P planes and B samples.

    Args:
        points: ``(B, T, 3)`` point coordinates.
        planes: canonical plane names (see :func:`canonical_planes`).
        padding: padding of the unit cube used for the normalisation.
    """

    def __init__(self, points: Tensor, planes: Sequence[str], padding: float = DEFAULT_PADDING):
        if points.dim() != 3 or points.shape[-1] != 3:
            raise ValueError(f"points must be (B, T, 3), got {tuple(points.shape)}")
        self.planes = tuple(planes)
        self.batch, self.num_points = points.shape[:2]
        coords = [normalize_coordinates(points, plane, padding) for plane in self.planes]
        self.coords = torch.stack(coords)  # (P, B, T, k)
        self.dims = self.coords.shape[-1]
        self._cells: dict[int, Tensor] = {}
        self._occupied: dict[int, tuple[Tensor, int]] = {}
        self._maps: dict[tuple[object, ...], RowMap] = {}
        self._counts: dict[int, Tensor] = {}

    @property
    def num_grids(self) -> int:
        """Number of stacked grids, ``P * B``."""
        return len(self.planes) * self.batch

    def _grid_offsets(self, resolution: int) -> Tensor:
        """First row of each stacked grid in the cell rows of all grids: ``(P, B, 1)``."""
        grids = torch.arange(self.num_grids, device=self.coords.device)
        return grids.view(len(self.planes), self.batch, 1) * resolution**self.dims

    def cells(self, resolution: int) -> Tensor:
        """Row of each point in its plane's ``(B * R**k, C)`` cell rows: ``(P, B * T)``."""
        if resolution not in self._cells:
            index = cell_index(self.coords, resolution)
            offsets = torch.arange(self.batch, device=index.device).view(1, -1, 1)
            index = index + offsets * resolution**self.dims
            self._cells[resolution] = index.reshape(len(self.planes), -1)
        return self._cells[resolution]

    def _global_cells(self, resolution: int) -> Tensor:
        """Row of each point in the cell rows of all stacked grids: ``(P, B * T)``."""
        planes = torch.arange(len(self.planes), device=self.coords.device).view(-1, 1)
        return self.cells(resolution) + planes * self.batch * resolution**self.dims

    def occupied_cells(self, resolution: int) -> tuple[Tensor, int]:
        """Each point's cell numbered among the occupied cells of all planes: ``(P * B * T,)``.

        Returns the numbering and the number of occupied cells; local pooling reduces
        over these few rows instead of the mostly empty full grids.
        """
        if resolution not in self._occupied:
            unique, inverse = torch.unique(self._global_cells(resolution).reshape(-1), return_inverse=True)
            self._occupied[resolution] = (inverse, len(unique))
        return self._occupied[resolution]

    def _cell_sums(self, resolution: int) -> tuple[RowMap, Tensor]:
        """The map summing point rows ``(B * T, C)`` per cell of every plane, and the
        number of points per cell clamped at 1 (``(P * B * R**k, 1)``)."""
        key = ("cells", resolution)
        if key not in self._maps:
            cells = self._global_cells(resolution).t()  # (B * T, P): one cell per plane
            incidence = RowMap.from_fixed(
                cells, torch.ones_like(cells, dtype=self.coords.dtype), self.num_grids * resolution**self.dims
            )
            self._maps[key] = incidence.transposed()
            counts = self._maps[key].row_counts().clamp(min=1)
            self._counts[resolution] = counts.to(self.coords.dtype).unsqueeze(1)
        return self._maps[key], self._counts[resolution]

    def scatter(self, values: Tensor, resolution: int, reduce: str = "mean") -> Tensor:
        """Scatter point features ``(B, T, C)`` onto every plane: ``(P * B, C, R, ...)``.

        The grids come in channels-last memory (a view of the cell rows); cells
        without points are 0.
        """
        channels = values.shape[-1]
        if reduce == "mean":
            sums, counts = self._cell_sums(resolution)
            rows = sums(values.reshape(-1, channels)).div_(counts)
        else:
            rows = values.reshape(1, self.batch * self.num_points, channels)
            rows = _reducer(reduce)(rows, self.cells(resolution), self.batch * resolution**self.dims)
        return rows_to_grids(rows.reshape(-1, channels), self.num_grids, resolution, self.dims)

    def pool(self, values: Tensor, resolution: int, reduce: str = "max") -> Tensor:
        """Local pooling: reduce ``values (B, T, C)`` per cell, read back per point, sum planes."""
        inverse, occupied = self.occupied_cells(resolution)
        planes, channels = len(self.planes), values.shape[-1]
        rows = values.reshape(1, -1, channels).expand(planes, -1, -1).reshape(-1, channels)
        pooled = _reducer(reduce)(rows, inverse, occupied)
        back = pooled.index_select(0, inverse)
        return back.view(planes, self.batch, self.num_points, channels).sum(0)

    def _interpolation(self, resolution: int, mode: str, summed: bool) -> RowMap:
        """The map from the cell rows of all grids to the interpolated points.

        Output rows are ``(P * B * T)`` per plane, or ``(B * T)`` with the corners of
        all planes in one row (plane by plane) when ``summed``.
        """
        key = ("sample", resolution, mode, summed)
        if key not in self._maps:
            corners, weights = interpolation_corners(self.coords, resolution, mode)  # (P, B, T, K)
            corners = corners + self._grid_offsets(resolution).unsqueeze(-1)
            if summed:
                corners, weights = (t.permute(1, 2, 0, 3) for t in (corners, weights))
            rows = self.batch * self.num_points * (1 if summed else len(self.planes))
            self._maps[key] = RowMap.from_fixed(
                corners.reshape(rows, -1), weights.reshape(rows, -1), self.num_grids * resolution**self.dims
            )
        return self._maps[key]

    def _grid_sample(self, grids: Tensor, mode: str) -> Tensor:
        """``grid_sample`` of every grid at its points: ``(P, B, C, T)``; differentiable in the points."""
        vgrid = 2.0 * self.coords - 1.0
        vgrid = vgrid.view(self.num_grids, self.num_points, *([1] * (self.dims - 1)), self.dims)
        out = F.grid_sample(grids, vgrid, mode=mode, padding_mode="border", align_corners=True)
        return out.view(len(self.planes), self.batch, -1, self.num_points)

    def sample(self, grids: Tensor, mode: str = "bilinear") -> Tensor:
        """Interpolate ``grids (P * B, C, R, ...)`` at the points, per plane: ``(P, B, T, C)``.

        Points that require gradients go through ``grid_sample``, which also
        differentiates with respect to the sampling positions; the sparse maps do not.
        """
        if self.coords.requires_grad:
            return self._grid_sample(grids, mode).transpose(-1, -2)
        rows = self._interpolation(grids.shape[-1], mode, summed=False)(grid_rows(grids))
        return rows.view(len(self.planes), self.batch, self.num_points, -1)

    def sample_sum(self, grids: Tensor, mode: str = "bilinear") -> Tensor:
        """Interpolated features summed over the planes: ``(B, T, C)``."""
        if self.coords.requires_grad:
            return self._grid_sample(grids, mode).sum(0).transpose(-1, -2)
        rows = self._interpolation(grids.shape[-1], mode, summed=True)(grid_rows(grids))
        return rows.view(self.batch, self.num_points, -1)

    def neighbour_cells(self, resolution: int, reverse_axes: bool = False) -> tuple[Tensor, Tensor]:
        """The 3x3 (planes) or 3x3x3 (volume) cells around each point, as indices.

        The centre cell is ``round(u * R')`` with ``R' = resolution - 1``, the pixel
        nearest to where :meth:`sample` reads; neighbours are clamped to the grid.
        Returns the displacements ``(P, B, T, K, k)`` from each neighbour to the
        point, in cells, and each neighbour's row in the cell rows of all stacked
        grids ``(P, B, T, K)`` (see :meth:`neighbours` for ``reverse_axes``).
        """
        position = self.coords * (resolution - 1)
        offsets = neighbour_offsets(self.dims, device=self.coords.device)
        cells = (torch.round(position).long().unsqueeze(-2) + offsets).clamp_(0, resolution - 1)
        displacement = position.unsqueeze(-2) - cells
        flat = flatten_cells(cells, resolution, reverse_axes) + self._grid_offsets(resolution).unsqueeze(-1)
        return displacement, flat

    def neighbours(
        self, grids: Tensor, reverse_axes: bool = False, rows: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The 3x3 (planes) or 3x3x3 (volume) cells around each point (:meth:`neighbour_cells`).

        Returns the displacements ``(P, B, T, K, k)`` from each neighbour to the point,
        in cells, and the neighbours' features ``(P, B, T, K, C)``.

        ``reverse_axes=True`` reads the features at the cell whose flat index lists the
        axes in reverse order (``i1 + R * i0`` on a plane, ``iz + R * (iy + R * ix)`` in
        the volume), i.e. at the transposed position. ALTO's attention decoder does
        this (its ``get_plane_feature`` / ``get_grid_feature``), and its trained
        weights depend on it.

        ``rows`` may hold :func:`grid_rows` of ``grids``, computed once for several
        batches of points, or any other per-cell rows ``(P * B * R**k, C')`` (e.g. a
        linear map of the features, applied to the few cells instead of the many
        neighbours).
        """
        displacement, flat = self.neighbour_cells(grids.shape[-1], reverse_axes)
        rows = grid_rows(grids) if rows is None else rows
        features = rows.index_select(0, flat.reshape(-1)).view(*flat.shape, rows.shape[1])
        return displacement, features
