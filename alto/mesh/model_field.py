"""A trained model seen as encoder of point sets and source of occupancy fields.

The models of :mod:`alto.models` expose ``encode(inputs (1, N, 3)) -> features`` and
``decode(points (1, M, 3), features) -> logits (1, M)``. :class:`ModelFields` moves
inputs to the model's device, times the encoder, and binds features into a
:data:`~alto.mesh.field.Field` (optionally in a translated frame, for crops).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch

from alto.mesh.field import Field

__all__ = ["EncoderDecoder", "ModelFields"]


class EncoderDecoder(Protocol):
    """The part of a model that extraction needs."""

    def encode(self, inputs: torch.Tensor) -> Any:
        """Features of the point cloud ``inputs`` (1, N, 3)."""
        ...

    def decode(self, points: torch.Tensor, features: Any) -> torch.Tensor:
        """Occupancy logits (1, M) of ``points`` (1, M, 3) given ``features``."""
        ...


class ModelFields:
    """Encodes point sets on ``device`` and turns features into fields; times the encoder."""

    def __init__(self, model: EncoderDecoder, device: torch.device) -> None:
        self.model = model
        self.device = device
        self.encode_seconds = 0.0
        self.encodings = 0

    def encode(self, points: np.ndarray) -> Any:
        """Features of ``points`` (N, 3), computed once under ``torch.no_grad()``."""
        inputs = torch.as_tensor(np.asarray(points, dtype=np.float32), device=self.device)[None]
        started = time.perf_counter()
        with torch.no_grad():
            features = self.model.encode(inputs)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.encode_seconds += time.perf_counter() - started
        self.encodings += 1
        return features

    def field(self, features: Any, origin: np.ndarray | None = None) -> Field:
        """The field of ``features``; with ``origin``, queries are shifted by ``-origin``
        first (the model's frame is centred on ``origin``)."""
        shift = None if origin is None else torch.as_tensor(np.asarray(origin, dtype=np.float32), device=self.device)

        def evaluate(points: torch.Tensor) -> torch.Tensor:
            query = points.to(self.device)
            if shift is not None:
                query = query - shift
            return self.model.decode(query[None], features)[0]

        return evaluate
