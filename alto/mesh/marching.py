"""Marching cubes on a sampled lattice, and bisection refinement of its vertices.

All extractors end here: a grid of logits over a :class:`~alto.mesh.lattice.Lattice`
(NaN where the field was never evaluated) becomes a triangle mesh. The grid is padded
by one layer of "far outside" so that a surface cut by the box is closed, exactly as
ConvONet pads with ``-1e6`` and ALTO forces its border shell to "outside".
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.special import expit
from skimage import measure

from alto.errors import ConfigError
from alto.mesh.field import FieldEvaluator
from alto.mesh.lattice import Lattice

__all__ = [
    "OUTSIDE_LOGIT",
    "VALUE_SPACES",
    "ValueSpace",
    "bisect_vertices",
    "grid_to_mesh",
    "padded_value",
]

#: Logit of the padding layer around every grid: ConvONet pads with -1e6 (its
#: ``extract_mesh``); in probability space it is 0, ALTO's ``out_value`` (1 - 2p = 1).
OUTSIDE_LOGIT = -1e6

#: Space in which marching cubes interpolates vertices along grid edges: ``"logit"``
#: as ConvONet, ``"probability"`` (sigmoid of the logit) as ALTO / POCO.
ValueSpace = Literal["logit", "probability"]
VALUE_SPACES: tuple[str, ...] = ("logit", "probability")


def grid_to_mesh(values: np.ndarray, level: float, value_space: ValueSpace = "logit") -> tuple[np.ndarray, np.ndarray]:
    """Iso-surface of a logit grid at logit ``level``, in lattice coordinates.

    ``values`` (X, Y, Z) holds logits, NaN where unknown. Returns vertices (V, 3)
    float64 in lattice index coordinates (from -1 to ``shape``, the padding layer
    included) and faces (F, 3) int64 oriented outward (inside = logit above
    ``level``). Triangles touching an unknown value are dropped, as ALTO drops
    vertices with NaN coordinates. No surface gives ``(0, 3)`` arrays.
    """
    if value_space not in VALUE_SPACES:
        raise ConfigError(f"value_space must be one of {VALUE_SPACES}, got {value_space!r}")
    empty = np.zeros((0, 3), dtype=np.float64), np.zeros((0, 3), dtype=np.int64)
    highest = np.fmax.reduce(values, axis=None)
    if not highest > level:
        return empty
    padded = np.pad(values.astype(np.float32, copy=False), 1, constant_values=OUTSIDE_LOGIT)
    iso = level
    if value_space == "probability":
        padded = expit(padded)
        iso = float(expit(level))
    try:
        vertices, faces, _, _ = measure.marching_cubes(
            padded, level=iso, gradient_direction="ascent", mask=_cells_touching_known(padded)
        )
    except RuntimeError:
        return empty
    vertices = vertices.astype(np.float64) - 1.0
    faces = faces.astype(np.int64)
    known = ~np.isnan(vertices).any(axis=1)
    if known.all():
        return vertices, faces
    faces = faces[known[faces].all(axis=1)]
    used = np.zeros(len(vertices), dtype=bool)
    used[faces] = True
    renumber = np.cumsum(used) - 1
    return vertices[used], renumber[faces]


def _cells_touching_known(values: np.ndarray) -> np.ndarray | None:
    """Mask of the cells (by lower corner) with at least one known corner, or None if
    every value is known. Cells whose corners are all unknown can only yield vertices
    that are dropped, so marching cubes skips them (same mesh, half the time at 256^3
    for region growing)."""
    known = ~np.isnan(values)
    if known.all():
        return None
    known[:-1] |= known[1:]
    known[:, :-1] |= known[:, 1:]
    known[:, :, :-1] |= known[:, :, 1:]
    return known


def padded_value(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Logits of ``values`` at integer lattice coordinates ``index`` (M, 3).

    Coordinates on the padding layer (``-1`` or ``shape`` on some axis) read as
    :data:`OUTSIDE_LOGIT`, as in :func:`grid_to_mesh`.
    """
    shape = np.asarray(values.shape)
    inside = np.all((index >= 0) & (index < shape), axis=1)
    out = np.full(len(index), OUTSIDE_LOGIT, dtype=np.float64)
    kept = index[inside]
    out[inside] = values[kept[:, 0], kept[:, 1], kept[:, 2]]
    return out


def bisect_vertices(
    vertices: np.ndarray,
    values: np.ndarray,
    lattice: Lattice,
    evaluator: FieldEvaluator,
    level: float,
    steps: int,
) -> np.ndarray:
    """World vertices, those on grid edges moved onto the surface by bisection.

    ``vertices`` are marching-cubes vertices in lattice coordinates over the grid
    ``values``. A vertex on a grid edge (exactly one fractional coordinate) is
    bracketed by the edge's two lattice points, whose logits lie on either side of
    ``level``. Each step evaluates the field at the current estimate (first the
    marching-cubes vertex, then the bracket's midpoint), replaces the bracket end of
    the same side and moves to the new midpoint, so after ``steps`` steps the vertex
    is within ``spacing / 2**steps`` of a level crossing (ALTO / POCO use 10 steps).
    An estimate exactly at the level ends that vertex's bracket. Vertices on lattice
    points are left where they are.
    """
    world = lattice.to_world(vertices)
    if steps <= 0 or len(vertices) == 0:
        return world
    low = np.floor(vertices)
    direction = (vertices > low).astype(np.float64)
    on_edge = direction.sum(axis=1) == 1
    if not on_edge.any():
        return world
    start = low[on_edge]
    end = start + direction[on_edge]
    side_start = np.sign(padded_value(values, start.astype(np.int64)) - level)
    side_end = np.sign(padded_value(values, end.astype(np.int64)) - level)
    point_start, point_end = lattice.to_world(start), lattice.to_world(end)
    estimate = world[on_edge]
    total = evaluator.progress.points + steps * len(estimate)
    for step in range(steps):
        stage = f"refinement step {step + 1} of {steps} ({len(estimate):,} vertices)"
        evaluator.progress.stage(stage, total_points=total, new_stage=step == 0)
        side = np.sign(evaluator.points(estimate).astype(np.float64) - level)
        hit = side == 0
        move_start = ((side == side_start) & ~hit)[:, None]
        move_end = ((side == side_end) & ~hit)[:, None]
        point_start = np.where(move_start | hit[:, None], estimate, point_start)
        point_end = np.where(move_end | hit[:, None], estimate, point_end)
        estimate = (point_start + point_end) / 2
    world[on_edge] = estimate
    return world
