"""Seeded surface sampling of predicted meshes, with the room-wall crop.

The evaluation compares a point set drawn from the predicted surface with the
ground-truth point cloud. Upstream draws it with ``trimesh.Trimesh.sample``,
which reads numpy's global random state; here every draw comes from the
``numpy.random.Generator`` passed in, so one object always gets the same samples
whatever process or order evaluates it. The distribution is the same: faces are
picked with probability proportional to their area, points are uniform inside
the picked triangle, and each point carries the unit normal of its face.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ROOM_UP_AXIS",
    "WALL_CROP_EPS",
    "WALL_OVERSAMPLE",
    "SurfaceSamples",
    "TriangleSurface",
    "crop_to_reference_bounds",
    "sample_surface",
    "sample_surface_without_walls",
]

#: Margin (normalised units) around the ground-truth point cloud's bounds inside which
#: predicted samples count as part of the room. Value of upstream ConvONet/ALTO
#: ``src/eval.py`` (``eps = 0.007`` in ``MeshEvaluator.eval_mesh``).
WALL_CROP_EPS = 0.007

#: Oversampling factor before the wall crop: upstream samples ``2 * n_points`` points,
#: crops, then redraws ``n_points`` of the kept ones.
WALL_OVERSAMPLE = 2

#: Vertical axis of the synthetic-room frame (y up, floor at y = -0.5), as in the
#: ConvONet room builder; the crop bounds the two other axes on both sides and this
#: one from below only.
ROOM_UP_AXIS = 1


@dataclass(frozen=True)
class SurfaceSamples:
    """Points on a surface with the unit normals of the faces they lie on."""

    points: np.ndarray
    normals: np.ndarray

    def __len__(self) -> int:
        return len(self.points)

    def take(self, index: np.ndarray) -> SurfaceSamples:
        """The samples at ``index`` (a boolean mask or integer indices)."""
        return SurfaceSamples(self.points[index], self.normals[index])


@dataclass(frozen=True)
class TriangleSurface:
    """A triangle mesh prepared for area-weighted sampling.

    Holds per-face origins (F, 3), edge vectors (F, 2, 3) and the edges' cross
    products (F, 3): their norm is twice the face area and their direction the face
    normal, so one pass serves the area check, the sampling and the normals.
    """

    origins: np.ndarray
    edges: np.ndarray
    cross: np.ndarray
    double_area: np.ndarray

    @classmethod
    def from_mesh(cls, vertices: np.ndarray, faces: np.ndarray) -> TriangleSurface:
        """Prepare ``vertices`` (V, 3) float and ``faces`` (F, 3) int for sampling."""
        corners = np.asarray(vertices, dtype=np.float64)[faces]
        origins = corners[:, 0]
        edges = corners[:, 1:] - origins[:, None, :]
        cross = np.cross(edges[:, 0], edges[:, 1])
        return cls(origins, edges, cross, np.linalg.norm(cross, axis=1))

    @property
    def area(self) -> float:
        """Total surface area."""
        return 0.5 * float(self.double_area.sum())

    def sample(self, count: int, rng: np.random.Generator) -> SurfaceSamples:
        """Draw ``count`` area-weighted points with their face normals.

        Zero-area faces are never picked; the surface must have a positive area.
        """
        cumulative = np.cumsum(self.double_area)
        if not cumulative[-1] > 0:
            raise ValueError("cannot sample a surface with zero total area")
        picks = rng.random(count) * cumulative[-1]
        face = np.minimum(np.searchsorted(cumulative, picks, side="right"), len(cumulative) - 1)
        uv = rng.random((count, 2))
        outside = uv.sum(axis=1) > 1.0
        uv[outside] = 1.0 - uv[outside]
        points = self.origins[face] + np.einsum("nk,nkd->nd", uv, self.edges[face])
        normals = self.cross[face] / self.double_area[face, None]
        return SurfaceSamples(points, normals)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> SurfaceSamples:
    """Draw ``count`` area-weighted points on the mesh with their unit face normals."""
    return TriangleSurface.from_mesh(vertices, faces).sample(count, rng)


def crop_to_reference_bounds(
    points: np.ndarray, reference: np.ndarray, eps: float = WALL_CROP_EPS, up_axis: int = ROOM_UP_AXIS
) -> np.ndarray:
    """Mask of the ``points`` that lie within the reference cloud's room bounds.

    A point is kept when each horizontal coordinate is within the reference's
    [min - eps, max + eps] and the vertical one is at least the reference's
    min - eps. For the synthetic rooms, whose ground-truth cloud holds only the top of
    the floor and the inner side of the walls, this drops samples on the outer wall
    faces and the floor's underside, which a reconstruction closes but the ground
    truth never contains.
    """
    low = reference.min(axis=0) - eps
    high = reference.max(axis=0) + eps
    keep = np.all(points >= low, axis=1)
    horizontal = [axis for axis in range(points.shape[1]) if axis != up_axis]
    return keep & np.all(points[:, horizontal] <= high[horizontal], axis=1)


def sample_surface_without_walls(
    surface: TriangleSurface,
    reference: np.ndarray,
    count: int,
    rng: np.random.Generator,
    eps: float = WALL_CROP_EPS,
    oversample: int = WALL_OVERSAMPLE,
) -> SurfaceSamples:
    """Upstream's room protocol: oversample, crop to ``reference``'s bounds, redraw.

    Draws ``oversample * count`` surface points, keeps those passing
    :func:`crop_to_reference_bounds` and redraws ``count`` of them with
    replacement. Returns no samples when the crop keeps nothing.
    """
    samples = surface.sample(oversample * count, rng)
    kept = samples.take(crop_to_reference_bounds(samples.points, reference, eps))
    if len(kept) == 0:
        return kept
    return kept.take(rng.integers(len(kept), size=count))
