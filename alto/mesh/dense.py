"""Dense extraction: evaluate every lattice point, then marching cubes.

The reference the other extractors are compared with, and ConvONet's shortcut when
``upsampling_steps`` is 0 (``resolution_0`` points per axis over the padded unit cube).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alto.mesh.base import LatticeExtractor, require_int
from alto.mesh.field import FieldEvaluator
from alto.mesh.lattice import Lattice

__all__ = ["DEFAULT_DENSE_RESOLUTION", "DenseExtractor", "sample_dense"]

#: Points per axis of the dense lattice: 129 covers the final MISE lattice of ConvONet
#: (32 cells refined twice: 128 cells, 129 points).
DEFAULT_DENSE_RESOLUTION = 129


def sample_dense(evaluator: FieldEvaluator, lattice: Lattice) -> np.ndarray:
    """Logits at every point of ``lattice``, shaped like it."""
    return evaluator.lattice(lattice, range(lattice.size)).reshape(lattice.shape)


@dataclass(frozen=True, kw_only=True)
class DenseExtractor(LatticeExtractor):
    """Every point of a ``resolution``^3 lattice over the box (both ends included)."""

    resolution: int = DEFAULT_DENSE_RESOLUTION

    name: ClassVar[str] = "dense"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_int(self.name, "resolution", self.resolution, 2)

    @property
    def points_per_axis(self) -> int:
        """``resolution``."""
        return self.resolution

    def sample(self, evaluator: FieldEvaluator, lattice: Lattice, inputs: np.ndarray | None) -> np.ndarray:
        """Evaluate the whole lattice (no band guard: its cost is fixed, and announced
        by the progress lines)."""
        evaluator.progress.stage("every lattice point", total_points=lattice.size, new_stage=True)
        return sample_dense(evaluator, lattice)
