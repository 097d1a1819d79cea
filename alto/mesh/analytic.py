"""Analytic shapes as occupancy fields: stand-ins for a model in tests and benchmarks.

Each shape has a signed distance (negative inside) written in torch. Its occupancy
field is ``logit = sharpness * (-distance)``, so the level-0 surface (p = 0.5) is the
shape's exact surface and the level ``l`` surface is the offset surface at distance
``-l / sharpness``. :func:`surface_points` projects random points onto the surface,
giving input point clouds whose true surface is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from alto.errors import InputError
from alto.mesh.field import Field

__all__ = [
    "DEFAULT_SHARPNESS",
    "Box",
    "Shape",
    "Sphere",
    "Torus",
    "Union",
    "occupancy_field",
    "surface_points",
]

#: Logits per unit of distance: 50 makes p go from 0.27 to 0.73 within 0.02 of the
#: surface, a transition about as sharp as a trained decoder's.
DEFAULT_SHARPNESS = 50.0

#: Projection steps of :func:`surface_points` (each one is exact for a true distance).
_PROJECTION_STEPS = 4


def _tensor(values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


@dataclass(frozen=True)
class Sphere:
    """Ball of ``radius`` around ``centre``."""

    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    radius: float = 0.3

    def distance(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance of ``points`` (M, 3), negative inside."""
        return (points - _tensor(self.centre, points)).norm(dim=-1) - self.radius


@dataclass(frozen=True)
class Torus:
    """Ring of tube ``minor`` around a circle of radius ``major`` in the xz-plane."""

    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    major: float = 0.3
    minor: float = 0.1

    def distance(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance of ``points`` (M, 3), negative inside."""
        local = points - _tensor(self.centre, points)
        ring = local[:, [0, 2]].norm(dim=-1) - self.major
        return torch.stack([ring, local[:, 1]], dim=-1).norm(dim=-1) - self.minor


@dataclass(frozen=True)
class Box:
    """Axis-aligned box from ``low`` to ``high``."""

    low: tuple[float, float, float] = (-0.3, -0.3, -0.3)
    high: tuple[float, float, float] = (0.3, 0.3, 0.3)

    def distance(self, points: torch.Tensor) -> torch.Tensor:
        """Exact signed distance of ``points`` (M, 3), negative inside."""
        low, high = _tensor(self.low, points), _tensor(self.high, points)
        centre, half = (low + high) / 2, (high - low) / 2
        q = (points - centre).abs() - half
        outside = q.clamp(min=0).norm(dim=-1)
        inside = q.max(dim=-1).values.clamp(max=0)
        return outside + inside


@dataclass(frozen=True)
class Union:
    """Union of shapes (minimum of their distances)."""

    parts: tuple[Sphere | Torus | Box | Union, ...]

    def distance(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distance bound of ``points`` (M, 3), negative inside (exact outside)."""
        return torch.stack([part.distance(points) for part in self.parts]).min(dim=0).values


Shape = Sphere | Torus | Box | Union


def occupancy_field(shape: Shape, sharpness: float = DEFAULT_SHARPNESS) -> Field:
    """The field ``points -> sharpness * (-distance)`` of ``shape`` (logits, float32)."""

    def field(points: torch.Tensor) -> torch.Tensor:
        return (-sharpness * shape.distance(points.double())).float()

    return field


def surface_points(shape: Shape, count: int, generator: np.random.Generator, half_extent: float = 0.55) -> np.ndarray:
    """``count`` points on the surface of ``shape`` (float64, (count, 3)).

    Uniform points in ``[-half_extent, half_extent]^3`` are moved along the distance
    gradient by minus the distance, a few times; every connected part of the surface
    that is the nearest one to some of those points receives samples.
    """
    if count < 1:
        raise InputError(f"surface_points needs count >= 1, got {count!r}")
    start = generator.uniform(-half_extent, half_extent, size=(count, 3))
    points = torch.from_numpy(start)
    for _ in range(_PROJECTION_STEPS):
        points = points.detach().requires_grad_(True)
        distance = shape.distance(points)
        (gradient,) = torch.autograd.grad(distance.sum(), points)
        direction = gradient / gradient.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        points = points - distance[:, None] * direction
    return points.detach().numpy()
