"""Analytic solid primitives with exact inside tests, areas, bounds and surface samples.

Each primitive is defined in a local frame (axis of revolution = local y) and
placed in the world by a rigid :class:`Pose`; scaling is applied to the size
parameters, so every primitive stays exact under the similarity transforms used
to normalise objects and to arrange rooms. The procedural demo dataset builds
its shapes as unions of these (see :mod:`alto.geometry.solid`).

``implicit(points)`` is negative strictly inside, zero on the surface and
positive outside. For boxes, spheres, capsules and tori it is the exact signed
distance; for (truncated) cones and cylinders it is the larger of the distances
to the cap planes and to the side's generating line, which has the right sign
everywhere and is the exact distance near the surface.

``sample_surface(n, rng)`` draws ``n`` points uniformly with respect to surface
area, with the exact outward unit normals.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "INSIDE_TOLERANCE",
    "Box",
    "Capsule",
    "Frustum",
    "Pose",
    "Primitive",
    "Sphere",
    "Torus",
    "box",
    "capsule",
    "cylinder",
    "frustum",
    "rotation_aligning_y",
    "rotation_matrix",
    "sphere",
    "torus",
]

_AXES = {"x": 0, "y": 1, "z": 2}

#: Points whose implicit value is at most this count as inside: solids are closed, and a
#: point exactly on a face (e.g. a float16 sample at y = -0.5 on the floor's underside)
#: stays inside despite the rounding of the pose and size parameters.
INSIDE_TOLERANCE = 1e-12

#: Two radii of a frustum closer than this (relative to their size) count as a cylinder
#: when inverting the lateral-area CDF, which would otherwise divide by ~0.
_RADII_EQUAL_RTOL = 1e-12
#: A direction this close to -y (cosine above -1 + tol) is aligned by a half turn,
#: where Rodrigues' formula divides by ~0.
_ANTIPARALLEL_TOL = 1e-12
#: Torus rejection sampling: candidates per missing point per round (the acceptance
#: rate is at least (R - r) / (R + r) > 0, usually about 1/2 or more), plus a floor.
_TORUS_OVERSAMPLE = 2
_TORUS_MIN_ROUND = 8


def rotation_matrix(axis: str, angle: float) -> np.ndarray:
    """Right-handed rotation by ``angle`` radians about the world ``axis`` ('x', 'y' or 'z')."""
    if axis not in _AXES:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    c, s = math.cos(angle), math.sin(angle)
    i, j = [a for a in range(3) if a != _AXES[axis]]
    if axis == "y":  # keep the right-handed orientation (z -> x)
        i, j = j, i
    rot = np.eye(3)
    rot[i, i], rot[i, j], rot[j, i], rot[j, j] = c, -s, s, c
    return rot


def rotation_aligning_y(direction: ArrayLike) -> np.ndarray:
    """A rotation taking the unit y axis onto the unit vector along ``direction``."""
    d = np.asarray(direction, dtype=np.float64)
    norm = np.linalg.norm(d)
    if not norm > 0:
        raise ValueError(f"direction must be non-zero, got {direction!r}")
    d = d / norm
    y = np.array([0.0, 1.0, 0.0])
    cos = float(d @ y)
    if cos < -1.0 + _ANTIPARALLEL_TOL:  # opposite: half turn about x
        return rotation_matrix("x", math.pi)
    v = np.cross(y, d)
    vx = np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])
    return np.eye(3) + vx + vx @ vx / (1.0 + cos)


@dataclass(frozen=True, eq=False)
class Pose:
    """A rigid placement: ``world = rotation @ local + translation``."""

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))
    _identity: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        rot = np.asarray(self.rotation, dtype=np.float64)
        trans = np.asarray(self.translation, dtype=np.float64)
        if rot.shape != (3, 3) or trans.shape != (3,):
            raise ValueError(f"pose needs a (3, 3) rotation and a (3,) translation, got {rot.shape}, {trans.shape}")
        object.__setattr__(self, "rotation", rot)
        object.__setattr__(self, "translation", trans)
        object.__setattr__(self, "_identity", bool(np.array_equal(rot, np.eye(3))))

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """World points (N, 3) in the local frame."""
        shifted = np.asarray(points, dtype=np.float64) - self.translation
        return shifted if self._identity else shifted @ self.rotation

    def to_world(self, points: np.ndarray) -> np.ndarray:
        """Local points (N, 3) in the world frame."""
        return self.rotate(points) + self.translation

    def rotate(self, vectors: np.ndarray) -> np.ndarray:
        """Local directions (N, 3) in the world frame."""
        return vectors if self._identity else vectors @ self.rotation.T

    def then(self, scale: float, rotation: np.ndarray, translation: np.ndarray) -> Pose:
        """This pose followed by ``x -> scale * rotation @ x + translation`` (sizes scale apart)."""
        rotation = np.asarray(rotation, dtype=np.float64)
        return Pose(rotation @ self.rotation, scale * rotation @ self.translation + translation)


def _disk_extent(axis: np.ndarray, radius: float) -> np.ndarray:
    """Half extents of the world AABB of a disk of ``radius`` with unit normal ``axis``."""
    return radius * np.sqrt(np.clip(1.0 - axis**2, 0.0, None))


def _angles(n: int, rng: np.random.Generator) -> np.ndarray:
    return 2.0 * math.pi * rng.random(n)


def _unit_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    """Directions uniform on the unit sphere (normalised Gaussians)."""
    g = rng.standard_normal((n, 3))
    return g / np.linalg.norm(g, axis=1, keepdims=True)


def _disk_points(n: int, radius: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Area-uniform points (x, z) on a disk of ``radius`` centred at the origin."""
    rho = radius * np.sqrt(rng.random(n))
    theta = _angles(n, rng)
    return rho * np.cos(theta), rho * np.sin(theta)


class Primitive(abc.ABC):
    """A closed solid with an analytic surface, placed by :attr:`pose`."""

    #: every concrete primitive is a frozen dataclass (so :func:`dataclasses.replace` applies)
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]
    pose: Pose

    @property
    @abc.abstractmethod
    def area(self) -> float:
        """Exact surface area."""

    @abc.abstractmethod
    def local_implicit(self, q: np.ndarray) -> np.ndarray:
        """Implicit function of local points (N, 3): < 0 inside, 0 on the surface."""

    @abc.abstractmethod
    def local_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` area-uniform local surface points and their outward unit normals."""

    @abc.abstractmethod
    def bounds(self) -> np.ndarray:
        """Exact world axis-aligned bounding box, (2, 3) = [min, max]."""

    @abc.abstractmethod
    def _resized(self, factor: float) -> Primitive:
        """A copy with every size parameter multiplied by ``factor`` (pose unchanged)."""

    def implicit(self, points: np.ndarray) -> np.ndarray:
        """Implicit function of world points (N, 3)."""
        return self.local_implicit(self.pose.to_local(points))

    def contains(self, points: np.ndarray) -> np.ndarray:
        """Closed inside test (surface points count as inside) of world points (N, 3)."""
        return self.implicit(points) <= INSIDE_TOLERANCE

    def sample_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` area-uniform world surface points (n, 3) and outward unit normals (n, 3)."""
        points, normals = self.local_surface(int(n), rng)
        return self.pose.to_world(points), self.pose.rotate(normals)

    def transformed(
        self, scale: float = 1.0, rotation: np.ndarray | None = None, translation: np.ndarray | None = None
    ) -> Primitive:
        """The image under ``x -> scale * rotation @ x + translation`` (``scale`` > 0)."""
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale}")
        rotation = np.eye(3) if rotation is None else rotation
        translation = np.zeros(3) if translation is None else np.asarray(translation, dtype=np.float64)
        return dataclasses.replace(self._resized(scale), pose=self.pose.then(scale, rotation, translation))


@dataclass(frozen=True, eq=False)
class Box(Primitive):
    """Rectangular box with ``half_extents`` along the local axes."""

    half_extents: np.ndarray
    pose: Pose = field(default_factory=Pose)

    def __post_init__(self) -> None:
        h = np.asarray(self.half_extents, dtype=np.float64)
        if h.shape != (3,) or not np.all(h > 0):
            raise ValueError(f"box half extents must be 3 positive numbers, got {self.half_extents!r}")
        object.__setattr__(self, "half_extents", h)

    @property
    def _face_areas(self) -> np.ndarray:
        hx, hy, hz = self.half_extents
        a = 4.0 * np.array([hy * hz, hx * hz, hx * hy])
        return np.repeat(a, 2)  # -x, +x, -y, +y, -z, +z

    @property
    def area(self) -> float:
        return float(self._face_areas.sum())

    def local_implicit(self, q: np.ndarray) -> np.ndarray:
        hx, hy, hz = self.half_extents
        dx, dy, dz = np.abs(q[:, 0]) - hx, np.abs(q[:, 1]) - hy, np.abs(q[:, 2]) - hz
        largest = np.maximum(np.maximum(dx, dy), dz)
        outside = np.sqrt(np.maximum(dx, 0.0) ** 2 + np.maximum(dy, 0.0) ** 2 + np.maximum(dz, 0.0) ** 2)
        return outside + np.minimum(largest, 0.0)

    def local_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        areas = self._face_areas
        face = rng.choice(6, size=n, p=areas / areas.sum())
        axis, sign = face // 2, np.where(face % 2 == 1, 1.0, -1.0)
        points = (2.0 * rng.random((n, 3)) - 1.0) * self.half_extents
        rows = np.arange(n)
        points[rows, axis] = sign * self.half_extents[axis]
        normals = np.zeros((n, 3))
        normals[rows, axis] = sign
        return points, normals

    def bounds(self) -> np.ndarray:
        signs = np.array([[i, j, k] for i in (-1, 1) for j in (-1, 1) for k in (-1, 1)], dtype=np.float64)
        corners = self.pose.to_world(signs * self.half_extents)
        return np.stack([corners.min(axis=0), corners.max(axis=0)])

    def _resized(self, factor: float) -> Box:
        return dataclasses.replace(self, half_extents=self.half_extents * factor)


@dataclass(frozen=True, eq=False)
class Frustum(Primitive):
    """Truncated cone along local y: radius ``radius_bottom`` at y = -h, ``radius_top`` at +h.

    Equal radii give a cylinder; one radius 0 gives a cone.
    """

    radius_bottom: float
    radius_top: float
    half_height: float
    pose: Pose = field(default_factory=Pose)

    def __post_init__(self) -> None:
        r0, r1, h = float(self.radius_bottom), float(self.radius_top), float(self.half_height)
        if r0 < 0 or r1 < 0 or max(r0, r1) <= 0 or h <= 0:
            raise ValueError(f"frustum needs radii >= 0 (one > 0) and half_height > 0, got {r0}, {r1}, {h}")
        object.__setattr__(self, "radius_bottom", r0)
        object.__setattr__(self, "radius_top", r1)
        object.__setattr__(self, "half_height", h)

    @property
    def _slant(self) -> float:
        return math.hypot(self.radius_bottom - self.radius_top, 2.0 * self.half_height)

    @property
    def _part_areas(self) -> np.ndarray:
        r0, r1 = self.radius_bottom, self.radius_top
        return np.array([math.pi * (r0 + r1) * self._slant, math.pi * r0**2, math.pi * r1**2])

    @property
    def area(self) -> float:
        return float(self._part_areas.sum())

    def local_implicit(self, q: np.ndarray) -> np.ndarray:
        r0, r1, h = self.radius_bottom, self.radius_top, self.half_height
        rho = np.hypot(q[:, 0], q[:, 2])
        radius = r0 + (r1 - r0) * (q[:, 1] + h) / (2.0 * h)
        side = (rho - radius) * (2.0 * h) / self._slant
        return np.maximum(side, np.abs(q[:, 1]) - h)

    def local_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        r0, r1, h = self.radius_bottom, self.radius_top, self.half_height
        areas = self._part_areas
        part = rng.choice(3, size=n, p=areas / areas.sum())
        points, normals = np.empty((n, 3)), np.empty((n, 3))
        side = part == 0
        m = int(side.sum())
        # lateral surface: the area density along the height is proportional to the
        # radius, so invert its CDF: r^2 is uniform between r0^2 and r1^2.
        u, theta = rng.random(m), _angles(m, rng)
        radius = np.sqrt((1.0 - u) * r0**2 + u * r1**2)
        if abs(r1 - r0) <= _RADII_EQUAL_RTOL * max(r0, r1):
            t = u
        else:
            t = (radius - r0) / (r1 - r0)
        points[side] = np.stack([radius * np.cos(theta), -h + 2.0 * h * t, radius * np.sin(theta)], axis=1)
        height = 2.0 * h
        normals[side] = np.stack(
            [height * np.cos(theta), np.full(m, r0 - r1), height * np.sin(theta)], axis=1
        ) / self._slant
        for part_id, y, rad in ((1, -h, r0), (2, h, r1)):
            cap = part == part_id
            k = int(cap.sum())
            x, z = _disk_points(k, rad, rng)
            points[cap] = np.stack([x, np.full(k, y), z], axis=1)
            normals[cap] = np.array([0.0, math.copysign(1.0, y), 0.0])
        return points, normals

    def bounds(self) -> np.ndarray:
        axis = self.pose.rotation[:, 1]
        c0 = self.pose.translation - self.half_height * axis
        c1 = self.pose.translation + self.half_height * axis
        e0, e1 = _disk_extent(axis, self.radius_bottom), _disk_extent(axis, self.radius_top)
        return np.stack([np.minimum(c0 - e0, c1 - e1), np.maximum(c0 + e0, c1 + e1)])

    def _resized(self, factor: float) -> Frustum:
        return dataclasses.replace(
            self,
            radius_bottom=self.radius_bottom * factor,
            radius_top=self.radius_top * factor,
            half_height=self.half_height * factor,
        )


@dataclass(frozen=True, eq=False)
class Sphere(Primitive):
    """Ball of ``radius`` centred at the pose origin."""

    radius: float
    pose: Pose = field(default_factory=Pose)

    def __post_init__(self) -> None:
        if not float(self.radius) > 0:
            raise ValueError(f"sphere radius must be positive, got {self.radius}")
        object.__setattr__(self, "radius", float(self.radius))

    @property
    def area(self) -> float:
        return 4.0 * math.pi * self.radius**2

    def local_implicit(self, q: np.ndarray) -> np.ndarray:
        return np.linalg.norm(q, axis=1) - self.radius

    def local_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        normals = _unit_vectors(n, rng)
        return self.radius * normals, normals

    def bounds(self) -> np.ndarray:
        return np.stack([self.pose.translation - self.radius, self.pose.translation + self.radius])

    def _resized(self, factor: float) -> Sphere:
        return dataclasses.replace(self, radius=self.radius * factor)


@dataclass(frozen=True, eq=False)
class Capsule(Primitive):
    """All points within ``radius`` of the local-y segment from -``half_length`` to +``half_length``."""

    radius: float
    half_length: float
    pose: Pose = field(default_factory=Pose)

    def __post_init__(self) -> None:
        if not float(self.radius) > 0 or not float(self.half_length) > 0:
            raise ValueError(f"capsule needs positive radius and half_length, got {self.radius}, {self.half_length}")
        object.__setattr__(self, "radius", float(self.radius))
        object.__setattr__(self, "half_length", float(self.half_length))

    @property
    def area(self) -> float:
        r, h = self.radius, self.half_length
        return 4.0 * math.pi * r * h + 4.0 * math.pi * r**2

    def local_implicit(self, q: np.ndarray) -> np.ndarray:
        closest = np.clip(q[:, 1], -self.half_length, self.half_length)
        offset = q.copy()
        offset[:, 1] -= closest
        return np.linalg.norm(offset, axis=1) - self.radius

    def local_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        r, h = self.radius, self.half_length
        on_side = rng.random(n) < h / (h + r)  # side area 4*pi*r*h out of 4*pi*r*(h + r)
        points, normals = np.empty((n, 3)), np.empty((n, 3))
        m = int(on_side.sum())
        theta = _angles(m, rng)
        normals[on_side] = np.stack([np.cos(theta), np.zeros(m), np.sin(theta)], axis=1)
        points[on_side] = r * normals[on_side]
        points[on_side, 1] = h * (2.0 * rng.random(m) - 1.0)
        caps = ~on_side
        d = _unit_vectors(n - m, rng)
        normals[caps] = d
        points[caps] = r * d
        points[caps, 1] += np.where(d[:, 1] >= 0.0, h, -h)
        return points, normals

    def bounds(self) -> np.ndarray:
        axis = self.pose.rotation[:, 1]
        ends = self.pose.translation + np.outer([-1.0, 1.0], self.half_length * axis)
        return np.stack([ends.min(axis=0) - self.radius, ends.max(axis=0) + self.radius])

    def _resized(self, factor: float) -> Capsule:
        return dataclasses.replace(self, radius=self.radius * factor, half_length=self.half_length * factor)


@dataclass(frozen=True, eq=False)
class Torus(Primitive):
    """Ring torus about local y: tube of radius ``minor`` around a circle of radius ``major``."""

    major: float
    minor: float
    pose: Pose = field(default_factory=Pose)

    def __post_init__(self) -> None:
        major, minor = float(self.major), float(self.minor)
        if not 0 < minor < major:
            raise ValueError(f"torus needs 0 < minor < major, got minor={minor}, major={major}")
        object.__setattr__(self, "major", major)
        object.__setattr__(self, "minor", minor)

    @property
    def area(self) -> float:
        return 4.0 * math.pi**2 * self.major * self.minor

    def local_implicit(self, q: np.ndarray) -> np.ndarray:
        rho = np.hypot(q[:, 0], q[:, 2])
        return np.hypot(rho - self.major, q[:, 1]) - self.minor

    def local_surface(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        big, small = self.major, self.minor
        # the area element is proportional to (R + r cos(phi)): rejection-sample phi.
        phis: list[np.ndarray] = []
        count = 0
        while count < n:
            phi = _angles(_TORUS_OVERSAMPLE * (n - count) + _TORUS_MIN_ROUND, rng)
            keep = rng.random(len(phi)) * (big + small) <= big + small * np.cos(phi)
            phis.append(phi[keep])
            count += int(keep.sum())
        phi = np.concatenate(phis)[:n]
        theta = _angles(n, rng)
        normals = np.stack([np.cos(phi) * np.cos(theta), np.sin(phi), np.cos(phi) * np.sin(theta)], axis=1)
        ring = np.stack([big * np.cos(theta), np.zeros(n), big * np.sin(theta)], axis=1)
        return ring + small * normals, normals

    def bounds(self) -> np.ndarray:
        extent = _disk_extent(self.pose.rotation[:, 1], self.major) + self.minor
        return np.stack([self.pose.translation - extent, self.pose.translation + extent])

    def _resized(self, factor: float) -> Torus:
        return dataclasses.replace(self, major=self.major * factor, minor=self.minor * factor)


def _axis_pose(start: ArrayLike, end: ArrayLike) -> tuple[Pose, float]:
    start, end = np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
    length = float(np.linalg.norm(end - start))
    if not length > 0:
        raise ValueError(f"axis end points must differ, got {start} and {end}")
    return Pose(rotation_aligning_y(end - start), (start + end) / 2.0), length / 2.0


def box(center: ArrayLike, size: ArrayLike, rotation: np.ndarray | None = None) -> Box:
    """Box of full ``size`` (3,) centred at ``center``, optionally rotated about its centre."""
    rot = np.eye(3) if rotation is None else rotation
    return Box(np.asarray(size, dtype=np.float64) / 2.0, Pose(rot, np.asarray(center, dtype=np.float64)))


def frustum(start: ArrayLike, end: ArrayLike, radius_start: float, radius_end: float) -> Frustum:
    """Truncated cone from ``start`` (radius ``radius_start``) to ``end`` (``radius_end``)."""
    pose, half = _axis_pose(start, end)
    return Frustum(radius_start, radius_end, half, pose)


def cylinder(start: ArrayLike, end: ArrayLike, radius: float) -> Frustum:
    """Solid cylinder of ``radius`` whose axis runs from ``start`` to ``end``."""
    return frustum(start, end, radius, radius)


def capsule(start: ArrayLike, end: ArrayLike, radius: float) -> Capsule:
    """Capsule of ``radius`` around the segment from ``start`` to ``end``."""
    pose, half = _axis_pose(start, end)
    return Capsule(radius, half, pose)


def sphere(center: ArrayLike, radius: float) -> Sphere:
    """Ball of ``radius`` at ``center``."""
    return Sphere(radius, Pose(np.eye(3), np.asarray(center, dtype=np.float64)))


def torus(center: ArrayLike, axis: ArrayLike, major: float, minor: float) -> Torus:
    """Torus centred at ``center`` whose ring lies in the plane normal to ``axis``."""
    return Torus(major, minor, Pose(rotation_aligning_y(axis), np.asarray(center, dtype=np.float64)))
