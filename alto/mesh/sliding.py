"""Sliding-window extraction of scenes larger than the model's frame (ConvONet's crops).

One global lattice (``resolution`` points per unit length) covers the scene's input
points plus ``scene_margin``. It is split into query blocks of ``block_size``; for each
block the input points inside the block grown by ``crop_margin`` are translated so the
crop is centred on the origin (the model's frame), encoded, and the block's lattice
points are evaluated in that frame. The blocks partition the lattice, so each point is
evaluated exactly once, and marching cubes runs once on the stitched grid: no gaps and
no doubled surfaces at block borders. A block whose crop holds no input point is not
evaluated and counts as outside.

Compared with ConvONet's ``generate_mesh_sliding``: the crop is translated instead of
normalised to ``[0, 1]`` (our models take coordinates in their training frame), and
each block is sampled densely (no MISE per block, whose last slice ConvONet drops).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from alto.errors import ConfigError
from alto.mesh.base import Extraction, SurfaceSettings
from alto.mesh.dense import sample_dense
from alto.mesh.lattice import DEFAULT_PADDING, Lattice, check_points
from alto.mesh.marching import OUTSIDE_LOGIT, grid_to_mesh
from alto.mesh.model_field import ModelFields
from alto.mesh.progress import ExtractionProgress

__all__ = ["SCENE_MARGIN", "SlidingWindow", "extract_sliding"]

logger = logging.getLogger(__name__)

#: Border added around the inputs' bounding box before tiling (ConvONet's
#: ``get_crop_bound`` pads by 0.01 on each side).
SCENE_MARGIN = 0.01


@dataclass(frozen=True, kw_only=True)
class SlidingWindow(SurfaceSettings):
    """Settings of a sliding-window extraction (lengths in scene units).

    ``block_size``: edge of a query block; ``crop_margin``: how far the input crop
    reaches beyond each side of its block (at least the model's receptive reach);
    ``resolution``: lattice points per unit length; ``model_box``: edge of the
    model's frame, which every input crop must fit in (1 + ``data.padding``).
    The defaults give crops of side 1.0 in the 1.1 frame of the unit-cube models.
    """

    block_size: float = 0.5
    crop_margin: float = 0.25
    resolution: float = 128.0
    scene_margin: float = SCENE_MARGIN
    model_box: float = 1.0 + DEFAULT_PADDING

    name: ClassVar[str] = "sliding_window"

    def __post_init__(self) -> None:
        super().__post_init__()
        for key in ("block_size", "resolution", "model_box"):
            value = getattr(self, key)
            if not (np.isfinite(value) and value > 0):
                raise ConfigError(f"{self.name}: {key} must be a positive number, got {value!r}")
        for key in ("crop_margin", "scene_margin"):
            value = getattr(self, key)
            if not (np.isfinite(value) and value >= 0):
                raise ConfigError(f"{self.name}: {key} must be >= 0, got {value!r}")
        if self.crop_extent > self.model_box:
            raise ConfigError(
                f"{self.name}: an input crop spans {self.crop_extent:.4g} (block of "
                f"{self.block_points} points at spacing {self.spacing:.4g} plus 2 x crop_margin "
                f"{self.crop_margin}), more than the model's frame model_box={self.model_box}"
            )

    @property
    def spacing(self) -> float:
        """Distance between lattice points."""
        return 1.0 / self.resolution

    @property
    def block_points(self) -> int:
        """Lattice points per block edge (``block_size`` rounded to the lattice)."""
        return max(1, round(self.block_size * self.resolution))

    @property
    def crop_extent(self) -> float:
        """Edge of an input crop: the block's points plus the margin on both sides."""
        return (self.block_points - 1) * self.spacing + 2 * self.crop_margin

    def scene_lattice(self, points: np.ndarray) -> Lattice:
        """The global lattice over the points' bounding box plus ``scene_margin``."""
        low = points.min(axis=0) - self.scene_margin
        high = points.max(axis=0) + self.scene_margin
        shape = tuple(max(2, math.ceil((h - lo) / self.spacing) + 1) for lo, h in zip(low, high, strict=True))
        return Lattice(origin=tuple(low.tolist()), spacing=self.spacing, shape=shape)


def extract_sliding(model: ModelFields, inputs: np.ndarray, window: SlidingWindow) -> Extraction:
    """Extract a scene block by block with one encoding per block and one marching cubes.

    Long extractions log progress lines (block, points evaluated, time left; see
    :class:`~alto.mesh.progress.ExtractionProgress`).
    """
    started = time.perf_counter()
    points = check_points(inputs)
    lattice = window.scene_lattice(points)
    progress = ExtractionProgress(f"{window.name} {'x'.join(map(str, lattice.shape))}", lattice.size)
    step = window.block_points
    half_crop = window.crop_extent / 2
    values = np.empty(lattice.shape, dtype=np.float32)
    evaluations, field_seconds, empty_blocks = 0, 0.0, 0
    corners = list(itertools.product(*(range(0, n, step) for n in lattice.shape)))
    for done, corner in enumerate(corners):
        # every block's points are evaluated at most once, so the lattice bounds what is left
        progress.stage(f"block {done + 1} of {len(corners)}", total_points=lattice.size, upper_bound=True)
        start = np.asarray(corner)
        stop = np.minimum(start + step, lattice.shape)
        region = tuple(slice(a, b) for a, b in zip(start, stop, strict=True))
        centre = lattice.to_world(start + (step - 1) / 2)
        in_crop = np.all((points >= centre - half_crop) & (points < centre + half_crop), axis=1)
        if not in_crop.any():
            values[region] = OUTSIDE_LOGIT
            empty_blocks += 1
            continue
        features = model.encode(points[in_crop] - centre)
        evaluator = window.evaluator(model.field(features, centre), progress)
        block = Lattice(
            origin=tuple(lattice.to_world(start).tolist()),
            spacing=lattice.spacing,
            shape=(int(stop[0] - start[0]), int(stop[1] - start[1]), int(stop[2] - start[2])),
        )
        values[region] = sample_dense(evaluator, block)
        evaluations += evaluator.evaluations
        field_seconds += evaluator.seconds
    progress.stage("marching cubes")
    logger.debug("sliding window: %d blocks without input points left outside", empty_blocks)
    vertices, faces = grid_to_mesh(values, window.level, window.value_space)
    counts = (evaluations, 0, field_seconds)
    return window.finish(lattice.to_world(vertices), faces, lattice, counts, started)
