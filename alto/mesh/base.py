"""What every extractor shares: settings, the result type and the extraction skeleton.

An extractor is a frozen dataclass of its settings with one method,
``extract(field, inputs=None) -> Extraction``. The skeleton in
:class:`LatticeExtractor` is: build the lattice over the chosen box, let the method
fill a logit grid (NaN where it chose not to look), run marching cubes once, place the
vertices in the world (optionally refined), and report counts and times. One
:class:`~alto.mesh.progress.ExtractionProgress` per extraction, reached by the method
through its evaluator, logs progress lines when the extraction runs long.
"""

from __future__ import annotations

import logging
import numbers
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import ClassVar, Protocol

import numpy as np
import trimesh

from alto.errors import ConfigError
from alto.mesh.field import (
    DEFAULT_BYTES_PER_POINT,
    DEFAULT_MEMORY_BUDGET,
    Field,
    FieldEvaluator,
    chunk_points,
)
from alto.mesh.lattice import DEFAULT_PADDING, BoxKind, Lattice, make_lattice
from alto.mesh.marching import VALUE_SPACES, ValueSpace, grid_to_mesh
from alto.mesh.progress import ExtractionProgress

__all__ = [
    "Extraction",
    "ExtractionStats",
    "Extractor",
    "LatticeExtractor",
    "SurfaceSettings",
    "empty_mesh",
    "make_mesh",
    "require_int",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExtractionStats:
    """Counts and times of one extraction.

    ``grid_evaluations`` are field evaluations on lattice points (each point at most
    once), ``refinement_evaluations`` those of vertex refinement. ``field_seconds`` is
    the time spent inside the field, ``total_seconds`` the whole extraction.
    """

    grid_evaluations: int
    refinement_evaluations: int
    field_seconds: float
    total_seconds: float

    @property
    def evaluations(self) -> int:
        """All field evaluations."""
        return self.grid_evaluations + self.refinement_evaluations

    @property
    def outside_seconds(self) -> float:
        """Time of the extraction spent outside the field."""
        return max(0.0, self.total_seconds - self.field_seconds)


@dataclass(frozen=True)
class Extraction:
    """A mesh in world coordinates, the lattice it came from and the statistics."""

    mesh: trimesh.Trimesh
    lattice: Lattice
    stats: ExtractionStats

    @property
    def empty(self) -> bool:
        """True when no surface was found (the mesh has no faces)."""
        return len(self.mesh.faces) == 0


class Extractor(Protocol):
    """Turns a field (and optionally the input points) into a mesh."""

    name: ClassVar[str]

    def extract(self, field: Field, inputs: np.ndarray | None = None) -> Extraction:
        """Extract the surface of ``field`` at the extractor's level."""
        ...


def require_int(owner: str, key: str, value: object, minimum: int) -> None:
    """Raise ConfigError unless ``value`` is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ConfigError(f"{owner}: {key} must be an integer >= {minimum}, got {value!r}")


def empty_mesh() -> trimesh.Trimesh:
    """A mesh with no vertices and no faces: the explicit result of a failed extraction."""
    return trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=np.int64), process=False)


def make_mesh(vertices: np.ndarray, faces: np.ndarray) -> trimesh.Trimesh:
    """A trimesh without reprocessing (vertices are already shared by marching cubes)."""
    if len(faces) == 0:
        return empty_mesh()
    return trimesh.Trimesh(vertices, faces, process=False)


@dataclass(frozen=True, kw_only=True)
class SurfaceSettings:
    """Settings shared by every surface extraction.

    ``level`` is the iso-level in logit space (0 is p = 0.5, ALTO; ``logit(0.2)`` is
    ConvONet's ``test.threshold``). ``value_space`` is where marching cubes
    interpolates ("logit" as ConvONet, "probability" as ALTO). The field is evaluated
    in chunks of ``memory_budget // bytes_per_point`` points.
    """

    level: float = 0.0
    value_space: ValueSpace = "logit"
    memory_budget: int = DEFAULT_MEMORY_BUDGET
    bytes_per_point: int = DEFAULT_BYTES_PER_POINT

    name: ClassVar[str] = "extraction"

    def __post_init__(self) -> None:
        if not np.isfinite(self.level):
            raise ConfigError(f"extraction level must be a finite logit, got {self.level!r}")
        if self.value_space not in VALUE_SPACES:
            raise ConfigError(f"value_space must be one of {VALUE_SPACES}, got {self.value_space!r}")
        chunk_points(self.memory_budget, self.bytes_per_point)

    def evaluator(self, field: Field, progress: ExtractionProgress | None = None) -> FieldEvaluator:
        """A fresh counting evaluator of ``field`` with this budget's chunk size, reporting
        to ``progress`` (default: a new one named after the extractor)."""
        progress = ExtractionProgress(self.name) if progress is None else progress
        return FieldEvaluator(field, chunk_points(self.memory_budget, self.bytes_per_point), progress=progress)

    def finish(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        lattice: Lattice,
        counts: tuple[int, int, float],
        started: float,
    ) -> Extraction:
        """Package a mesh and its statistics; warn when no surface was found.

        ``counts`` is (grid evaluations, refinement evaluations, seconds in the field);
        ``started`` the ``time.perf_counter()`` at the start of the extraction.
        """
        mesh = make_mesh(vertices, faces)
        grid_evaluations, refinement_evaluations, field_seconds = counts
        stats = ExtractionStats(
            grid_evaluations=grid_evaluations,
            refinement_evaluations=refinement_evaluations,
            field_seconds=field_seconds,
            total_seconds=time.perf_counter() - started,
        )
        if len(mesh.faces) == 0:
            logger.warning(
                "%s extraction found no surface at level %.4g on a %s lattice; returning an empty mesh",
                type(self).__name__,
                self.level,
                "x".join(map(str, lattice.shape)),
            )
        return Extraction(mesh=mesh, lattice=lattice, stats=stats)


@dataclass(frozen=True, kw_only=True)
class LatticeExtractor(SurfaceSettings, ABC):
    """An extractor over one lattice spanning ``box`` ("unit": the cube of side
    ``1 + padding``; "input_bbox": the inputs' cubic bounding box)."""

    box: BoxKind = "unit"
    padding: float = DEFAULT_PADDING

    name: ClassVar[str] = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.box not in ("unit", "input_bbox"):
            raise ConfigError(f"{self.name}: box must be 'unit' or 'input_bbox', got {self.box!r}")
        if not (np.isfinite(self.padding) and self.padding >= 0):
            raise ConfigError(f"{self.name}: padding must be >= 0, got {self.padding!r}")

    @property
    @abstractmethod
    def points_per_axis(self) -> int:
        """Lattice points per axis."""

    @abstractmethod
    def sample(self, evaluator: FieldEvaluator, lattice: Lattice, inputs: np.ndarray | None) -> np.ndarray:
        """Logit grid of ``lattice.shape`` (NaN where not evaluated)."""

    def place(
        self,
        vertices: np.ndarray,
        values: np.ndarray,
        lattice: Lattice,
        evaluator: FieldEvaluator,
    ) -> np.ndarray:
        """World coordinates of marching-cubes ``vertices`` given in lattice coordinates."""
        return lattice.to_world(vertices)

    def extract(self, field: Field, inputs: np.ndarray | None = None) -> Extraction:
        """Extract the ``level`` surface of ``field`` (see the class for the method)."""
        started = time.perf_counter()
        lattice = make_lattice(self.box, self.points_per_axis, self.padding, inputs)
        progress = ExtractionProgress(f"{self.name} {'x'.join(map(str, lattice.shape))}", lattice.size)
        evaluator = self.evaluator(field, progress)
        values = self.sample(evaluator, lattice, inputs)
        grid_evaluations = evaluator.evaluations
        progress.stage("marching cubes")
        vertices, faces = grid_to_mesh(values, self.level, self.value_space)
        world = self.place(vertices, values, lattice, evaluator)
        counts = (grid_evaluations, evaluator.evaluations - grid_evaluations, evaluator.seconds)
        return self.finish(world, faces, lattice, counts, started)

    @classmethod
    def parameter_names(cls) -> tuple[str, ...]:
        """Names of the settings this extractor accepts."""
        return tuple(f.name for f in fields(cls))
