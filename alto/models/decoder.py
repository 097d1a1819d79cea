"""Occupancy decoders reading the feature grids at query points.

* :class:`LocalDecoder` (upstream ``simple_local``, ConvONet): interpolate every grid
  at the point, sum over planes, and condition a residual MLP on it.
* :class:`AttentionDecoder` (upstream ``simple_local_attention_sub``, ALTO):
  subtraction attention from the interpolated feature (query) to the features of
  the 3x3 (planes) or 3x3x3 (volume) neighbour cells (keys, values), with a learned
  encoding of each neighbour's displacement; one attention per plane with its own
  weights, or multi-head attention on the volume. The residual MLP is conditioned
  on the concatenated attention outputs; unlike ``simple_local`` it never sees the
  point coordinates directly.

Both take the grids stacked plane-major, ``(P * B, C, R, ...)`` (see
:class:`alto.ops.GridProjection`), and return logits ``(B, T)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from alto.models.layers import (
    GroupedLinear,
    ResnetBlockFC,
    UpstreamLayout,
    UpstreamTensor,
    grouped_linear,
    identity_layout,
)
from alto.ops import DEFAULT_PADDING, GRID, GridProjection, grid_rows
from alto.ops.parallel import run_chunks

__all__ = [
    "ATTENTION_CHUNK_POINTS",
    "ATTENTION_CHUNK_ROWS",
    "ATTENTION_EXPANSION",
    "INFERENCE_BLOCK_POINTS",
    "INFERENCE_PATHS",
    "LEAKY_SLOPE",
    "UPSTREAM_NEIGHBOUR_PADDING",
    "UPSTREAM_REVERSED_NEIGHBOUR_AXES",
    "AttentionDecoder",
    "LocalDecoder",
]

#: slope of the output activation with ``leaky=True`` (upstream ``leaky_relu(x, 0.2)``)
LEAKY_SLOPE = 0.2
#: hidden width of the attention-weight MLP, as a multiple of the head size (upstream 4)
ATTENTION_EXPANSION = 4
#: ALTO's neighbour lookup normalises with a hard-coded padding of 0.1, whatever
#: ``data.padding`` says
UPSTREAM_NEIGHBOUR_PADDING = 0.1
#: ALTO reads the neighbour features at the transposed cell (flat index with the axes
#: in reverse order, see :meth:`alto.ops.GridProjection.neighbours`); its trained
#: weights depend on it
UPSTREAM_REVERSED_NEIGHBOUR_AXES = True
#: query points (summed over the batch) per chunk of the attention decoder's reference
#: inference path. It makes 9 or 27 neighbour rows per point and a 4x wider MLP over
#: them; in chunks this small they stay in the CPU caches, which made decoding 100k
#: points 1.5-2x faster than one pass on the development machine (bench/model_step.py).
ATTENTION_CHUNK_POINTS = 512
#: attention rows (query points x neighbours x heads) per chunk of the blocked inference on
#: the CPU: 512 points of a triplane model, 42 of the 4-head volume model. Each chunk's
#: largest intermediate, the attention MLP's hidden layer, is this many rows of
#: ``ATTENTION_EXPANSION * hidden_size``; for the volume, chunks of 512 points (28 MB of
#: it) cost more in page faults than in arithmetic (bench/model_step.py)
ATTENTION_CHUNK_ROWS = 4608
#: query points (summed over the batch) per block of the attention decoder's blocked
#: inference: the index work (cells, interpolation, neighbour rows) and the residual head
#: run once per block, in a few large operations, and only the attention runs in chunks
#: of ``ATTENTION_CHUNK_ROWS``
INFERENCE_BLOCK_POINTS = 16384
#: how :class:`AttentionDecoder` decodes without autograd: ``'blocked'`` (the default) or
#: ``'reference'``, the attention and everything around it per chunk, as under autograd
INFERENCE_PATHS = ("blocked", "reference")
#: upstream plane suffix of ALTO's per-plane attention layers (``fc_q1`` is the xz plane, ...)
_UPSTREAM_PLANE_SUFFIX = {"xz": "1", "xy": "2", "yz": "3", GRID: ""}


def _on_rows(x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
    """Apply ``fn`` to ``x (..., C)`` as rows ``(M, C)`` and give back the leading shape.

    On rows ``linear`` fuses the bias into the matmul, and in-place activations act
    on whole tensors (in place on a view, autograd would copy it).
    """
    return fn(x.reshape(-1, x.shape[-1])).view(*x.shape[:-1], -1)


def _plane_mlp(mlp: nn.Sequential, x: Tensor, plane: int) -> Tensor:
    """Run a sequence of grouped linear layers and activations with the weights of ``plane``."""

    def run(rows: Tensor) -> Tensor:
        for layer in mlp:
            rows = layer(rows, plane) if isinstance(layer, GroupedLinear) else layer(rows)
        return rows

    return _on_rows(x, run)


class _ResidualHead(nn.Module):
    """``n_blocks`` residual blocks, each adding a linear map of the condition first."""

    def __init__(self, c_dim: int, hidden_size: int, n_blocks: int, leaky: bool):
        super().__init__()
        self.fc_c = nn.ModuleList(nn.Linear(c_dim, hidden_size) for _ in range(n_blocks))
        self.blocks = nn.ModuleList(ResnetBlockFC(hidden_size) for _ in range(n_blocks))
        self.fc_out = nn.Linear(hidden_size, 1)
        self.leaky = leaky

    def head(self, net: Tensor | None, condition: Tensor) -> Tensor:
        """Run the blocks from ``net`` (None: start from zero) and return logits ``(B, T)``."""
        for fc_c, block in zip(self.fc_c, self.blocks, strict=True):
            net = fc_c(condition) if net is None else net + fc_c(condition)
            net = block(net)
        if net is None:
            raise ValueError("the residual head has no blocks (n_blocks must be at least 1)")
        net = F.leaky_relu(net, LEAKY_SLOPE) if self.leaky else torch.relu(net)
        return self.fc_out(net).squeeze(-1)


class LocalDecoder(_ResidualHead):
    """ConvONet's local decoder: MLP on the point, conditioned on the summed grid features.

    Args:
        planes: canonical plane names of the grids it reads.
        c_dim: grid channels.
        hidden_size: MLP width.
        n_blocks: residual blocks.
        leaky: LeakyReLU instead of ReLU before the output layer.
        sample_mode: ``'bilinear'`` or ``'nearest'`` grid interpolation.
        padding: padding of the unit cube (``data.padding``).
    """

    def __init__(
        self,
        planes: Sequence[str],
        c_dim: int,
        hidden_size: int,
        *,
        n_blocks: int = 5,
        leaky: bool = False,
        sample_mode: str = "bilinear",
        padding: float = DEFAULT_PADDING,
    ):
        super().__init__(c_dim, hidden_size, n_blocks, leaky)
        self.planes = tuple(planes)
        self.sample_mode = sample_mode
        self.padding = padding
        self.fc_p = nn.Linear(3, hidden_size)

    def forward(self, points: Tensor, grids: Tensor) -> Tensor:
        features = GridProjection(points, self.planes, self.padding).sample_sum(grids, self.sample_mode)
        return self.head(self.fc_p(points), features)

    def upstream_layout(self) -> UpstreamLayout:
        """Same names as upstream."""
        return identity_layout(self)


class AttentionDecoder(_ResidualHead):
    """ALTO's subtraction-attention decoder over grid-cell neighbourhoods.

    For each plane (or the volume) with its own weights: query ``q`` from the
    interpolated feature, keys ``k`` and values ``v`` from the K neighbour cells,
    displacement encoding ``d`` (MLP of the offset from each neighbour to the
    point); weights ``softmax_K(mlp(q - k + d))`` per channel, output
    ``sum_K w * (v + d)``. ``num_heads`` splits the channels into heads that share
    the weight MLP (upstream uses several heads only on the volume).

    Args:
        planes: canonical plane names of the grids it reads.
        c_dim: grid channels.
        hidden_size: width per head; the attention width is ``num_heads * hidden_size``.
        num_heads: attention heads per plane.
        n_blocks, leaky, sample_mode, padding: as :class:`LocalDecoder`.
        neighbour_padding: padding used to place the neighbourhood.
        reverse_neighbour_axes: read neighbour features at the transposed cell, as ALTO does.
    """

    chunk_points = ATTENTION_CHUNK_POINTS
    chunk_rows = ATTENTION_CHUNK_ROWS
    block_points = INFERENCE_BLOCK_POINTS
    inference_path = INFERENCE_PATHS[0]

    def __init__(
        self,
        planes: Sequence[str],
        c_dim: int,
        hidden_size: int,
        *,
        num_heads: int = 1,
        n_blocks: int = 5,
        leaky: bool = False,
        sample_mode: str = "bilinear",
        padding: float = DEFAULT_PADDING,
        neighbour_padding: float = UPSTREAM_NEIGHBOUR_PADDING,
        reverse_neighbour_axes: bool = UPSTREAM_REVERSED_NEIGHBOUR_AXES,
    ):
        width = num_heads * hidden_size
        super().__init__(len(planes) * width, width, n_blocks, leaky)
        self.planes = tuple(planes)
        self.num_heads = num_heads
        self.sample_mode = sample_mode
        self.padding = padding
        self.neighbour_padding = neighbour_padding
        self.reverse_neighbour_axes = reverse_neighbour_axes
        groups = len(self.planes)
        dims = 3 if self.planes == (GRID,) else 2
        self.query = GroupedLinear(groups, c_dim, width)
        self.key = GroupedLinear(groups, c_dim, width)
        self.value = GroupedLinear(groups, c_dim, width)
        self.displacement = nn.Sequential(
            GroupedLinear(groups, dims, width), nn.ReLU(inplace=True), GroupedLinear(groups, width, width)
        )
        self.attention_mlp = nn.Sequential(
            GroupedLinear(groups, hidden_size, ATTENTION_EXPANSION * hidden_size),
            nn.ReLU(inplace=True),
            GroupedLinear(groups, ATTENTION_EXPANSION * hidden_size, hidden_size),
        )

    def forward(self, points: Tensor, grids: Tensor) -> Tensor:
        """Logits ``(B, T)`` of ``points (B, T, 3)`` on ``grids (P * B, C, R, ...)``.

        Keys and values are linear in the neighbour features, so they are computed
        once per grid cell and then gathered, when the grids have fewer cells than
        there are neighbour lookups (at inference a whole grid serves many points).
        Under autograd every intermediate is kept for the backward pass anyway, and
        per-chunk gradients of the full grids would only add work, so the points go
        in one piece through :meth:`_attend`. Without autograd they go by
        :meth:`_decode_blocked` (``inference_path='blocked'``) or, as the reference it
        is tested against, through :meth:`_attend` per chunk of ``chunk_points``.
        """
        if self.inference_path not in INFERENCE_PATHS:
            raise ValueError(f"inference_path must be one of {INFERENCE_PATHS}, got {self.inference_path!r}")
        rows = grid_rows(grids)
        lookups = points.shape[0] * points.shape[1] * 3**grids[0, 0].dim() * len(self.planes)
        cells = rows.view(len(self.planes), -1, rows.shape[1])
        cell_key_value = self._key_value(cells).flatten(0, 1) if cells.shape[1] * len(self.planes) <= lookups else None
        if torch.is_grad_enabled():
            return self._attend(points, grids, rows, cell_key_value)
        if self.inference_path == "blocked":
            per_sample = max(1, self.block_points // points.shape[0])
            blocks = points.split(per_sample, dim=1)
            return torch.cat([self._decode_blocked(block, grids, rows, cell_key_value) for block in blocks], 1)
        per_sample = max(1, self.chunk_points // points.shape[0])
        return torch.cat(
            [self._attend(chunk, grids, rows, cell_key_value) for chunk in points.split(per_sample, dim=1)], 1
        )

    def _key_value(self, features: Tensor, plane: int | None = None) -> Tensor:
        """Keys and values side by side, ``(..., 2 * width)``, from one matmul: of all planes
        for ``features (P, ..., C)``, or of one ``plane`` for ``features (..., C)``."""
        planes = slice(None) if plane is None else plane
        weight = torch.cat([self.key.weight[planes], self.value.weight[planes]], dim=-2)
        bias = torch.cat([self.key.bias[planes], self.value.bias[planes]], dim=-1)
        return grouped_linear(features, weight, bias) if plane is None else F.linear(features, weight, bias)

    def _attend(self, points: Tensor, grids: Tensor, rows: Tensor, cell_key_value: Tensor | None) -> Tensor:
        projection = GridProjection(points, self.planes, self.padding)
        if self.neighbour_padding != self.padding:
            neighbourhood = GridProjection(points, self.planes, self.neighbour_padding)
        else:
            neighbourhood = projection
        gathered = rows if cell_key_value is None else cell_key_value
        displacement, neighbours = neighbourhood.neighbours(grids, self.reverse_neighbour_axes, gathered)
        # unbind, not indexing: the backward pass of indexing zero-fills a full-size gradient per plane
        sampled = projection.sample(grids, self.sample_mode)
        per_plane = zip(sampled.unbind(0), displacement.unbind(0), neighbours.unbind(0), strict=True)
        attended = [self._attend_plane(p, *inputs, cell_key_value is None) for p, inputs in enumerate(per_plane)]
        return self.head(None, torch.cat(attended, dim=-1))  # planes concatenated

    def _decode_blocked(self, points: Tensor, grids: Tensor, rows: Tensor, cell_key_value: Tensor | None) -> Tensor:
        """Logits ``(B, T)`` of one block of points, without autograd.

        The same computation as :meth:`_attend`, reordered: the projection, the queries
        and the neighbour rows of the whole block are found in a few large operations;
        then on the CPU each plane attends chunk by chunk of ``chunk_rows`` attention
        rows (small enough for the intermediates to stay in the caches), the chunks spread over
        torch's threads by :func:`alto.ops.parallel.run_chunks`, each writing its rows of
        one ``(B * T, P, width)`` output that the residual head reads for the whole
        block. On a GPU, where every operation is a kernel launch, a chunk is the block.
        """
        projection = GridProjection(points, self.planes, self.padding)
        if self.neighbour_padding != self.padding:
            neighbourhood = GridProjection(points, self.planes, self.neighbour_padding)
        else:
            neighbourhood = projection
        displacement, neighbour_rows = neighbourhood.neighbour_cells(grids.shape[-1], self.reverse_neighbour_axes)
        query = self.query(projection.sample(grids, self.sample_mode))  # (P, B, T, width), all planes at once
        table = rows if cell_key_value is None else cell_key_value
        count, planes = points.shape[0] * points.shape[1], len(self.planes)
        query = query.view(planes, count, -1)
        displacement = displacement.view(planes, count, *displacement.shape[-2:])
        neighbour_rows = neighbour_rows.view(planes, count, -1)
        attended = query.new_empty(count, planes, query.shape[-1])
        on_cpu = points.device.type == "cpu"
        rows_per_point = neighbour_rows.shape[-1] * self.num_heads
        chunk = max(1, self.chunk_rows // rows_per_point) if on_cpu else count

        def attend(task: tuple[int, int]) -> None:
            plane, start = task
            stop = min(start + chunk, count)
            lookup = neighbour_rows[plane, start:stop]
            neighbours = table.index_select(0, lookup.reshape(-1)).view(*lookup.shape, table.shape[1])
            if cell_key_value is None:
                neighbours = _on_rows(neighbours, lambda rows: self._key_value(rows, plane))
            attended[start:stop, plane] = self._attention(
                plane, query[plane, start:stop], displacement[plane, start:stop], neighbours
            )

        tasks = [(plane, start) for plane in range(planes) for start in range(0, count, chunk)]
        if on_cpu:
            run_chunks(attend, tasks)
        else:  # one chunk per plane; the device runs the operations, not the CPU threads
            for task in tasks:
                attend(task)
        return self.head(None, attended.view(*points.shape[:2], -1))

    def _attend_plane(
        self, plane: int, sampled: Tensor, displacement: Tensor, neighbours: Tensor, project: bool
    ) -> Tensor:
        """Attention output ``(..., width)`` of one plane, from its sampled features
        ``(..., C)``, neighbour displacements ``(..., K, k)`` and neighbour features
        ``(..., K, C)`` (``project``) or keys and values ``(..., K, 2 * width)``, where
        ``...`` is ``(B, T)`` or the rows of a chunk.

        One plane at a time keeps the ``(B, T, K, ...)`` intermediates a third as large
        and runs every layer as a plain ``linear``.
        """
        if project:
            neighbours = _on_rows(neighbours, lambda rows: self._key_value(rows, plane))
        query = _on_rows(sampled, lambda rows: self.query(rows, plane))
        return self._attention(plane, query, displacement, neighbours)

    def _attention(self, plane: int, query: Tensor, displacement: Tensor, key_value: Tensor) -> Tensor:
        """Attention output ``(..., width)`` of one plane from the queries ``(..., width)``,
        the neighbour displacements ``(..., K, k)`` and the neighbours' keys and values
        side by side ``(..., K, 2 * width)``."""
        key, value = key_value.chunk(2, dim=-1)
        position = _plane_mlp(self.displacement, displacement, plane)
        heads = (*position.shape[:-1], self.num_heads, -1)
        scores = (query.unsqueeze(-2) - key + position).view(heads)
        weights = torch.softmax(_plane_mlp(self.attention_mlp, scores, plane), dim=-3)
        values = (value + position).view(heads)
        return (weights * values).sum(-3).flatten(-2)

    def upstream_layout(self) -> UpstreamLayout:
        """Our grouped layers stack ALTO's per-plane layers; ``fc_interpolated_fea`` is unused."""
        suffixes = [_UPSTREAM_PLANE_SUFFIX[p] for p in self.planes]
        grouped = {
            "query": "fc_q{}",
            "key": "fc_k{}",
            "value": "fc_v{}",
            "displacement.0": "fc_di{}.0",
            "displacement.2": "fc_di{}.2",
            "attention_mlp.0": "attention{}.attention_mlp.0",
            "attention_mlp.2": "attention{}.attention_mlp.2",
        }
        tensors = []
        for name, _ in self.named_parameters():
            module, param = name.rsplit(".", 1)
            if module in grouped:
                sources = tuple(f"{grouped[module].format(s)}.{param}" for s in suffixes)
                tensors.append(UpstreamTensor(name, sources, stack=True))
            else:
                tensors.append(UpstreamTensor(name, (name,)))
        unused = ("fc_interpolated_fea.weight", "fc_interpolated_fea.bias")
        return UpstreamLayout(tuple(tensors), unused)
