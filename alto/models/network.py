"""The occupancy network: point encoder plus decoder, with the stage contract's API.

``encode(inputs)`` returns a dict of named feature grids, ``decode(points, features)``
returns occupancy logits, ``forward(points, inputs)`` does both. Internally the grids
travel stacked plane-major (``(P * B, C, R, ...)``); the dict holds per-plane views.
The decoders read the grids as cell rows, so ``decode`` stacks them in channels-last
memory (one copy, which is also the transposition for grids in the standard layout).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from alto.errors import InputError
from alto.models.decoder import AttentionDecoder, LocalDecoder
from alto.models.encoder import PointEncoder
from alto.models.layers import UpstreamLayout, prefixed

__all__ = ["OccupancyNetwork"]


class OccupancyNetwork(nn.Module):
    """Encoder + decoder (ConvONet or ALTO), built by :func:`alto.models.build_model`.

    Args:
        encoder: the point encoder.
        decoder: a :class:`LocalDecoder` or :class:`AttentionDecoder` reading the same planes.
        config: the experiment config the model was built from (kept for checkpoints).
    """

    def __init__(
        self,
        encoder: PointEncoder,
        decoder: LocalDecoder | AttentionDecoder,
        config: dict[str, Any] | None = None,
    ):
        super().__init__()
        if encoder.planes != decoder.planes:
            raise ValueError(f"encoder planes {encoder.planes} != decoder planes {decoder.planes}")
        self.decoder = decoder
        self.encoder = encoder
        self.planes = encoder.planes
        self.config = copy.deepcopy(config) if config is not None else None

    def encode(self, inputs: Tensor) -> dict[str, Tensor]:
        """Feature grids of a point cloud ``(B, N, 3)``: plane name -> ``(B, C, R, R)`` or
        ``'grid'`` -> ``(B, C, R, R, R)``."""
        if inputs.dim() != 3 or inputs.shape[-1] != 3:
            raise InputError(f"inputs must have shape (B, N, 3), got {tuple(inputs.shape)}")
        grids = self.encoder(inputs)
        stacked = grids.view(len(self.planes), inputs.shape[0], *grids.shape[1:])
        return dict(zip(self.planes, stacked.unbind(0), strict=True))

    def decode(self, points: Tensor, features: dict[str, Tensor]) -> Tensor:
        """Occupancy logits ``(B, T)`` of query points ``(B, T, 3)`` given ``encode``'s features."""
        if points.dim() != 3 or points.shape[-1] != 3:
            raise InputError(f"query points must have shape (B, T, 3), got {tuple(points.shape)}")
        if set(features) != set(self.planes):
            raise InputError(f"features have keys {sorted(features)}, but this model reads {list(self.planes)}")
        grids = torch.stack([features[p].movedim(1, -1) for p in self.planes])  # (P, B, R, ..., C)
        if grids.shape[1] != points.shape[0]:
            raise InputError(f"features are for {grids.shape[1]} samples but the points for {points.shape[0]}")
        return self.decoder(points, grids.flatten(0, 1).movedim(-1, 1))

    def forward(self, points: Tensor, inputs: Tensor) -> Tensor:
        """Logits ``(B, T)`` of query ``points (B, T, 3)`` for point clouds ``inputs (B, N, 3)``."""
        return self.decode(points, self.encode(inputs))

    def upstream_layout(self) -> UpstreamLayout:
        """Where every tensor sits in an upstream state dict (``decoder.*``, ``encoder.*``)."""
        parts = [
            prefixed(self.decoder.upstream_layout(), "decoder.", "decoder."),
            prefixed(self.encoder.upstream_layout(), "encoder.", "encoder."),
        ]
        return UpstreamLayout(tuple(t for p in parts for t in p.tensors), tuple(u for p in parts for u in p.unused))
