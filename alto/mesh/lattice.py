"""Regular cubic lattices on which an occupancy field is sampled.

Every extractor samples the field on the points ``origin + index * spacing`` of a
lattice of ``shape`` points and meshes those samples; the lattice alone decides where
the field is asked and where the mesh vertices land. Two boxes are offered, the ones
of the upstream generators: the padded unit cube of ConvONet (``[-(1 + padding) / 2,
(1 + padding) / 2]^3``, the frame the models were trained in) and the cubic bounding
box of the input points of ALTO / POCO (one scalar minimum and maximum over all three
axes, so the box is a cube even for a flat object).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from alto.config.defaults import DEFAULT_PADDING
from alto.errors import ConfigError, InputError

__all__ = [
    "DEFAULT_PADDING",
    "BoxKind",
    "FlatUnique",
    "Lattice",
    "check_points",
    "input_bbox_lattice",
    "make_lattice",
    "unit_box_lattice",
]


#: ``"unit"``: the padded unit cube; ``"input_bbox"``: the inputs' cubic bounding box.
BoxKind = Literal["unit", "input_bbox"]


@dataclass(frozen=True)
class Lattice:
    """Points ``origin + (i, j, k) * spacing`` for ``0 <= (i, j, k) < shape``."""

    origin: tuple[float, float, float]
    spacing: float
    shape: tuple[int, int, int]

    def __post_init__(self) -> None:
        if not (np.isfinite(self.spacing) and self.spacing > 0):
            raise InputError(f"lattice spacing must be a positive number, got {self.spacing!r}")
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise InputError(f"lattice shape must be three sizes >= 1, got {self.shape!r}")
        if len(self.origin) != 3 or not np.all(np.isfinite(self.origin)):
            raise InputError(f"lattice origin must be three finite numbers, got {self.origin!r}")

    @property
    def size(self) -> int:
        """Number of lattice points."""
        return int(np.prod(self.shape))

    def to_world(self, index: np.ndarray) -> np.ndarray:
        """World coordinates (float64, (M, 3)) of lattice coordinates ``index`` (M, 3).

        ``index`` may be fractional (mesh vertices) or outside the lattice (the
        padding shell at ``-1`` and ``shape``).
        """
        return np.asarray(self.origin, dtype=np.float64) + np.asarray(index, np.float64) * self.spacing

    def flat_to_world(self, flat: np.ndarray) -> np.ndarray:
        """World coordinates (float64, (M, 3)) of the points with C-order flat indices ``flat``."""
        index = np.stack(np.unravel_index(np.asarray(flat, dtype=np.int64), self.shape), axis=1)
        return self.to_world(index)

    def padded(self, width: int) -> Lattice:
        """The same lattice grown by ``width`` points on every side."""
        origin = tuple(float(o) - width * self.spacing for o in self.origin)
        shape = tuple(n + 2 * width for n in self.shape)
        return Lattice(origin=origin, spacing=self.spacing, shape=shape)  # type: ignore[arg-type]


class FlatUnique:
    """Sorted distinct values of flat lattice indices, in linear time plus a small sort.

    Each index writes its position into a scratch array the size of the lattice; the
    one position that survives per index marks the entry kept. Cheaper than
    ``np.unique`` on the long, highly repetitive index lists of block dilations.
    """

    def __init__(self, size: int) -> None:
        self.slot = np.empty(size, dtype=np.int32)

    def __call__(self, flat: np.ndarray) -> np.ndarray:
        positions = np.arange(len(flat), dtype=np.int32)
        self.slot[flat] = positions
        return np.sort(flat[self.slot[flat] == positions])


def unit_box_lattice(points_per_axis: int, padding: float = DEFAULT_PADDING) -> Lattice:
    """``points_per_axis``^3 points spanning the padded unit cube, both ends included.

    This is ConvONet's extraction box ``1 + padding`` (``make_3d_grid(-0.5, 0.5) * 1.1``).
    """
    box = 1.0 + padding
    spacing = box / (points_per_axis - 1)
    return Lattice(origin=(-box / 2,) * 3, spacing=spacing, shape=(points_per_axis,) * 3)


def input_bbox_lattice(inputs: np.ndarray, points_per_axis: int) -> Lattice:
    """``points_per_axis``^3 points spanning the inputs' cubic bounding box, ends included.

    As ALTO and POCO: one scalar minimum and maximum over all coordinates, so the box
    is ``[min, max]^3`` and the spacing is ``(max - min) / (points_per_axis - 1)``.
    """
    points = check_points(inputs)
    low, high = float(points.min()), float(points.max())
    if not high > low:
        raise InputError(
            f"the input points span no volume (all coordinates equal {low}); "
            "the 'input_bbox' extraction box needs points spread in space"
        )
    spacing = (high - low) / (points_per_axis - 1)
    return Lattice(origin=(low,) * 3, spacing=spacing, shape=(points_per_axis,) * 3)


def make_lattice(box: BoxKind, points_per_axis: int, padding: float, inputs: np.ndarray | None) -> Lattice:
    """The lattice of ``points_per_axis``^3 points over the ``box`` named by an extractor."""
    if box == "unit":
        return unit_box_lattice(points_per_axis, padding)
    if box == "input_bbox":
        if inputs is None:
            raise InputError("the 'input_bbox' extraction box needs the input points, got none")
        return input_bbox_lattice(inputs, points_per_axis)
    raise ConfigError(f"extraction box must be 'unit' or 'input_bbox', got {box!r}")


def check_points(points: np.ndarray) -> np.ndarray:
    """``points`` as a float64 (N, 3) array with N >= 1 and finite values, or InputError."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 3 or len(array) == 0:
        raise InputError(f"input points must have shape (N, 3) with N >= 1, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError("input points contain NaN or infinite coordinates")
    return array
