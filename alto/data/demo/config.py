"""Sizes and options of the procedural demo dataset."""

from __future__ import annotations

from dataclasses import dataclass, field

from alto.data.demo.shapes import DEMO_CATEGORIES
from alto.data.layout import OBJECT_SPLIT, SPLITS, check_fractions
from alto.errors import InputError
from alto.geometry.sampling import UNIT_CUBE_PADDING

__all__ = ["ROOM_OBJECT_COUNTS", "ROOM_SCALE_INTERVALS", "ROOM_SPLIT", "DemoConfig"]

#: Train/val/test fractions of the rooms (synthetic room builder: 750 / 50 / 200 of 1000).
ROOM_SPLIT = (0.75, 0.05, 0.2)
#: Objects per room; one room class ``rooms_XX`` each (synthetic room builder).
ROOM_OBJECT_COUNTS = (4, 5, 6, 7, 8)
#: Interval of the largest extent an object is scaled to, per room class (number of
#: objects): the synthetic room builder's ``scale_intervals``.
ROOM_SCALE_INTERVALS: dict[int, tuple[float, float]] = {
    8: (0.1, 0.25),
    7: (0.15, 0.25),
    6: (0.2, 0.3),
    5: (0.25, 0.4),
    4: (0.25, 0.45),
}


@dataclass(frozen=True)
class DemoConfig:
    """What ``alto data demo`` builds. Every count is a parameter.

    The defaults build in well under a minute on two cores and give a dataset a
    small model can learn from on a CPU; upstream's sizes (100k points per file,
    10 files per room, 1000 rooms per class) are reachable by raising them.
    """

    seed: int = 0
    #: Object categories (folder ids of :data:`~alto.data.demo.shapes.DEMO_CATEGORIES`).
    categories: tuple[str, ...] = field(default_factory=lambda: tuple(DEMO_CATEGORIES))
    objects_per_category: int = 30
    #: Occupancy samples per object (``points.npz``; upstream 100000).
    object_points: int = 100_000
    #: Surface samples per object (``pointcloud.npz``; upstream 100000).
    object_surface_points: int = 100_000
    object_split: tuple[float, ...] = OBJECT_SPLIT
    #: Padding of the occupancy sampling cube (side ``1 + padding``).
    padding: float = UNIT_CUBE_PADDING
    #: Rooms per room class; 0 builds no rooms.
    rooms_per_class: int = 6
    room_object_counts: tuple[int, ...] = ROOM_OBJECT_COUNTS
    #: Files per multi-file field of a room (upstream 10).
    room_files: int = 2
    #: Occupancy samples per ``points_iou_XX.npz`` (upstream 100000).
    room_points: int = 100_000
    #: Surface samples drawn per ``pointcloud_XX.npz`` before the wall/floor filter (upstream 100000).
    room_surface_points: int = 100_000
    room_split: tuple[float, ...] = ROOM_SPLIT
    #: Marching-cubes resolution of the ground-truth meshes (``model_watertight.off``); 0 writes none.
    mesh_resolution: int = 0
    #: Processes building objects and rooms in parallel (the output does not depend on it).
    workers: int = 1

    def validate(self) -> None:
        """Raise :class:`~alto.errors.InputError` naming the first invalid option."""
        unknown = [c for c in self.categories if c not in DEMO_CATEGORIES]
        if unknown or not self.categories:
            raise InputError(
                f"categories: got {list(self.categories)}; expected a non-empty subset of {list(DEMO_CATEGORIES)}"
            )
        if self.seed < 0:
            raise InputError(f"seed: got {self.seed}; expected a non-negative integer")
        positive = ("objects_per_category", "object_points", "object_surface_points", "room_files",
                    "room_points", "room_surface_points", "workers")
        for name in positive:
            if getattr(self, name) < 1:
                raise InputError(f"{name}: got {getattr(self, name)}; expected a positive integer")
        if self.rooms_per_class < 0 or self.mesh_resolution < 0 or self.mesh_resolution == 1:
            raise InputError(
                f"rooms_per_class / mesh_resolution: got {self.rooms_per_class} / {self.mesh_resolution}; "
                "expected >= 0 rooms and a resolution of 0 (no meshes) or >= 2"
            )
        if self.padding < 0:
            raise InputError(f"padding: got {self.padding}; expected >= 0")
        for name in ("object_split", "room_split"):
            fractions = getattr(self, name)
            try:
                check_fractions(fractions)
            except ValueError as err:
                raise InputError(f"{name}: {err}") from err
            if len(fractions) != len(SPLITS):
                raise InputError(f"{name}: got {list(fractions)}; expected one fraction per split {SPLITS}")
        bad = [n for n in self.room_object_counts if n not in ROOM_SCALE_INTERVALS]
        if bad or not self.room_object_counts:
            raise InputError(
                f"room_object_counts: got {list(self.room_object_counts)}; expected a subset of "
                f"{sorted(ROOM_SCALE_INTERVALS)} (the synthetic room classes)"
            )
