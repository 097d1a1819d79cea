"""Chunked, counted and timed evaluation of an occupancy field.

A *field* is any callable mapping query points ``(M, 3)`` float32 to occupancy
logits ``(M,)``: a trained decoder with its features bound, or an analytic shape in
the tests and benchmarks. Extractors never call it directly; they go through a
:class:`FieldEvaluator`, which splits the queries into chunks that fit a memory budget,
runs them under ``torch.no_grad()``, checks what comes back and keeps the two numbers
the benchmarks report: how many points were evaluated and how long the field took.
After each chunk it tells the extraction's :class:`~alto.mesh.progress.ExtractionProgress`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from alto.errors import ConfigError, InputError
from alto.mesh.lattice import Lattice
from alto.mesh.progress import ExtractionProgress

__all__ = [
    "DEFAULT_BYTES_PER_POINT",
    "DEFAULT_MEMORY_BUDGET",
    "Field",
    "FieldEvaluator",
    "chunk_points",
    "logit",
]

#: ``points (M, 3) float32 -> logits (M,)``.
Field = Callable[[torch.Tensor], torch.Tensor]

#: Memory a decoder may use for one chunk of query points, in bytes (256 MiB).
DEFAULT_MEMORY_BUDGET = 256 * 2**20

#: Estimated peak activation memory of a decoder per query point, in bytes. ALTO's
#: attention decoder gathers 9 neighbours on 3 planes of 32 channels and keeps a few
#: such tensors (about 4 KiB); with the default budget a chunk holds 65,536 points,
#: between ALTO's 50,000 and ConvONet's 100,000 points per decoder call.
DEFAULT_BYTES_PER_POINT = 4096


def chunk_points(memory_budget: int, bytes_per_point: int) -> int:
    """Number of query points per field call that fits ``memory_budget`` bytes."""
    if memory_budget <= 0 or bytes_per_point <= 0:
        raise ConfigError(
            f"memory_budget and bytes_per_point must be positive, got {memory_budget!r} and {bytes_per_point!r}"
        )
    return max(1, memory_budget // bytes_per_point)


def logit(probability: float) -> float:
    """The logit ``log(p / (1 - p))`` of an occupancy probability in (0, 1).

    Extraction levels are logits: ConvONet's ``test.threshold`` 0.2 is level
    ``logit(0.2) = -1.386``, ALTO's probability 0.5 is level 0.
    """
    if not 0.0 < probability < 1.0:
        raise ConfigError(f"an occupancy threshold must lie in (0, 1), got {probability!r}")
    return math.log(probability) - math.log1p(-probability)


@dataclass
class FieldEvaluator:
    """Evaluates ``field`` in chunks of ``chunk_size`` points, keeps count and time and
    reports each chunk to ``progress``."""

    field: Field
    chunk_size: int
    evaluations: int = 0
    seconds: float = 0.0
    progress: ExtractionProgress = dataclasses.field(default_factory=lambda: ExtractionProgress("field evaluation"))

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size!r}")

    def points(self, points: np.ndarray) -> np.ndarray:
        """Logits (float32, (M,)) of the field at world ``points`` (M, 3)."""
        points = np.asarray(points)
        out = np.empty(len(points), dtype=np.float32)
        for start in range(0, len(points), self.chunk_size):
            stop = min(start + self.chunk_size, len(points))
            out[start:stop] = self._call(points[start:stop])
        return out

    def lattice(self, lattice: Lattice, flat: Sequence[int] | np.ndarray) -> np.ndarray:
        """Logits (float32) at the lattice points with C-order flat indices ``flat``.

        ``flat`` may be a ``range``: world coordinates are made chunk by chunk, so a
        dense 256^3 lattice never holds all its coordinates in memory at once.
        """
        out = np.empty(len(flat), dtype=np.float32)
        for start in range(0, len(flat), self.chunk_size):
            stop = min(start + self.chunk_size, len(flat))
            chunk = flat[start:stop]
            if isinstance(chunk, range):
                chunk = np.arange(chunk.start, chunk.stop, chunk.step)
            out[start:stop] = self._call(lattice.flat_to_world(np.asarray(chunk)))
        return out

    def _call(self, points: np.ndarray) -> np.ndarray:
        query = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
        started = time.perf_counter()
        with torch.no_grad():
            logits = self.field(query)
            if not isinstance(logits, torch.Tensor) or logits.shape != (len(query),):
                shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits)
                raise InputError(
                    f"the occupancy field must return a tensor of shape ({len(query)},) "
                    f"for {len(query)} query points, got {shape}"
                )
            values = logits.detach().to(device="cpu", dtype=torch.float32).numpy()
        self.seconds += time.perf_counter() - started
        self.evaluations += len(query)
        if not np.all(np.isfinite(values)):
            raise InputError("the occupancy field returned NaN or infinite logits")
        self.progress.evaluated(len(query))
        return values
