"""Unions of analytic primitives: exact occupancy and exact uniform surface samples.

A :class:`Solid` is the union of its primitives. Its occupancy is exact (the
minimum of the primitives' implicit functions). Its surface is sampled exactly
uniformly by area: candidates are drawn on the primitives in proportion to their
areas, in a random order, and a candidate is kept only if no other primitive of
the same solid covers it (see :func:`sample_union_surfaces`); the kept stream is
then an i.i.d. uniform sample of the union's boundary, and its first ``n``
points are returned.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alto.geometry.primitives import INSIDE_TOLERANCE, Primitive

__all__ = ["SURFACE_TOLERANCE", "Solid", "sample_union_surfaces"]

#: Distance below which a candidate surface point counts as lying on another
#: primitive's surface (coordinates are in the solid's units, ~1 for the unit
#: cube and for the demo's metre-sized furniture). Where two primitives share a
#: face with the same outward side, only the lower-indexed one keeps the points,
#: so the density stays uniform.
SURFACE_TOLERANCE = 1e-9

#: Extra candidates drawn per round over the expected need, and a floor on the
#: round size, so most samples finish in one or two rounds.
_OVERSAMPLE = 1.15
_MIN_ROUND = 64
#: Give up when a round keeps nothing and this many candidates per requested point were drawn.
_MAX_CANDIDATES_PER_POINT = 1000


@dataclass(frozen=True, eq=False)
class Solid:
    """The union of ``primitives`` (a closed set: surface points count as inside)."""

    primitives: tuple[Primitive, ...]

    def __post_init__(self) -> None:
        prims = tuple(self.primitives)
        if not prims:
            raise ValueError("a solid needs at least one primitive")
        object.__setattr__(self, "primitives", prims)

    def implicit(self, points: np.ndarray) -> np.ndarray:
        """Minimum of the primitives' implicit functions at world points (N, 3)."""
        points = np.asarray(points, dtype=np.float64)
        out = np.full(len(points), np.inf)
        for prim in self.primitives:
            np.minimum(out, prim.implicit(points), out=out)
        return out

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Boolean occupancy of world points (N, 3) (closed: see ``INSIDE_TOLERANCE``).

        Each primitive is only evaluated at the points inside its bounding box and
        not yet known to be inside, which makes this much cheaper than ``implicit``.
        """
        points = np.asarray(points, dtype=np.float64)
        inside = np.zeros(len(points), dtype=bool)
        for prim in self.primitives:
            idx = np.flatnonzero(_in_box(points, prim.bounds(), INSIDE_TOLERANCE) & ~inside)
            if idx.size:
                inside[idx] = prim.contains(points[idx])
        return inside

    def bounds(self) -> np.ndarray:
        """Exact axis-aligned bounding box (2, 3) of the union."""
        boxes = np.stack([p.bounds() for p in self.primitives])
        return np.stack([boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)])

    def transformed(
        self, scale: float = 1.0, rotation: np.ndarray | None = None, translation: np.ndarray | None = None
    ) -> Solid:
        """The image under ``x -> scale * rotation @ x + translation``."""
        return Solid(tuple(p.transformed(scale, rotation, translation) for p in self.primitives))

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` area-uniform points on the union's surface (n, 3) and outward normals (n, 3)."""
        points, normals, _ = sample_union_surfaces([self], [1.0], n, rng)
        return points, normals


def _in_box(points: np.ndarray, bounds: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """Which points (N, 3) lie in the box ``bounds`` (2, 3) grown by ``margin``."""
    lo, hi = bounds[0] - margin, bounds[1] + margin
    mask = (points[:, 0] >= lo[0]) & (points[:, 0] <= hi[0])
    mask &= (points[:, 1] >= lo[1]) & (points[:, 1] <= hi[1])
    mask &= (points[:, 2] >= lo[2]) & (points[:, 2] <= hi[2])
    return mask


def _covered(solid: Solid, own: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Which candidates (drawn on primitive ``own[k]`` of ``solid``) another primitive covers.

    Covered means strictly inside another primitive, or on the surface of a
    lower-indexed one (shared faces are kept once). A primitive is only evaluated
    at candidates inside its bounding box (grown by the tolerance).
    """
    covered = np.zeros(len(points), dtype=bool)
    for j, prim in enumerate(solid.primitives):
        idx = np.flatnonzero(_in_box(points, prim.bounds(), SURFACE_TOLERANCE) & (own != j) & ~covered)
        if idx.size:
            value = prim.implicit(points[idx])
            hit = (value < -SURFACE_TOLERANCE) | ((np.abs(value) <= SURFACE_TOLERANCE) & (j < own[idx]))
            covered[idx[hit]] = True
    return covered


def sample_union_surfaces(
    solids: Sequence[Solid], weights: Sequence[float], n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sample ``n`` points on the surfaces of several solids with area density ``weights``.

    Each solid's own union surface is sampled uniformly, and solid ``s`` gets a
    share of the points proportional to ``weights[s]`` times its surface area.
    Solids do not hide each other (like the per-mesh sampling of the synthetic
    room builder), only the primitives within one solid do. Returns points (n, 3),
    outward unit normals (n, 3) and the index of the solid of each point (n,).
    """
    if len(solids) != len(weights) or not solids:
        raise ValueError(f"need one weight per solid, got {len(solids)} solids and {len(weights)} weights")
    owners, prims, rates = [], [], []
    for s, (solid, weight) in enumerate(zip(solids, weights, strict=True)):
        if weight < 0:
            raise ValueError(f"weights must be non-negative, got {weight} for solid {s}")
        for i, prim in enumerate(solid.primitives):
            owners.append((s, i))
            prims.append(prim)
            rates.append(weight * prim.area)
    rates_arr = np.asarray(rates, dtype=np.float64)
    if not rates_arr.sum() > 0:
        raise ValueError("the weighted surface area is zero")
    probs = rates_arr / rates_arr.sum()
    owner_solid = np.array([o[0] for o in owners])
    owner_prim = np.array([o[1] for o in owners])

    chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [
        (np.empty((0, 3)), np.empty((0, 3)), np.empty(0, dtype=np.int64))
    ]
    kept, drawn, rate = 0, 0, 1.0
    while kept < n:
        m = max(math.ceil((n - kept) / rate * _OVERSAMPLE), _MIN_ROUND)
        counts = rng.multinomial(m, probs)
        pts, nrm, src = [], [], []
        for k, count in enumerate(counts):
            if count:
                p, q = prims[k].sample_surface(int(count), rng)
                pts.append(p)
                nrm.append(q)
                src.append(np.full(count, k))
        order = rng.permutation(m)
        points, normals, source = (np.concatenate(a)[order] for a in (pts, nrm, src))
        covered = np.zeros(m, dtype=bool)
        for s, solid in enumerate(solids):
            mine = owner_solid[source] == s
            if len(solid.primitives) > 1 and mine.any():
                covered[mine] = _covered(solid, owner_prim[source[mine]], points[mine])
        keep = ~covered
        chunks.append((points[keep], normals[keep], owner_solid[source[keep]]))
        kept += int(keep.sum())
        drawn += m
        if kept == 0 and drawn > _MAX_CANDIDATES_PER_POINT * max(n, 1):
            raise ValueError("no candidate surface point survived: the solids' surfaces are fully covered")
        rate = max(kept / drawn, 1.0 / _MAX_CANDIDATES_PER_POINT)
    points, normals, owner = (np.concatenate(a)[:n] for a in zip(*chunks, strict=True))
    return points, normals, owner
