"""The demo's room dataset, built like ConvONet's synthetic indoor scenes.

Layout (``<root>`` = ``OUT/rooms``)::

    rooms_04 .. rooms_08/            class = number of objects in the room
      train.lst val.lst test.lst
      %08d/
        item_dict.npz                the room recipe (keys as upstream)
        pointcloud/pointcloud_XX.npz points, normals (float16), semantics (int64)
        points_iou/points_iou_XX.npz points (float16), occupancies (packed), z_scale, semantics
        pointcloud0.ply              the points of pointcloud_00 (for viewing)
        model_watertight.off         optional marching-cubes mesh of the room

A room (see :func:`draw_room`) takes ``n`` random demo objects of the room
categories from the object split of the same name, scales each so its largest
extent is drawn from the class's interval, rotates it about y, stands it on a
ground slab and places it without xz overlap; each of the four walls is present
with probability 0.5. Surface samples are area-weighted per part, with walls and
ground down-weighted by 0.2; only the ground's top face and the walls' inner
faces are kept. Occupancy is the union of all parts. All of these numbers are
upstream's (``scripts/dataset_synthetic_room/build_dataset.py``).

Differences from upstream, all deliberate:

* split lists name the room folders themselves (upstream's are shifted by one);
* objects are placed inside the walls (upstream offsets x by the z-walls'
  thickness and z by the x-walls') and never overhang the floor (upstream lets an
  object larger than the free space stick out);
* point counts per part are multinomial in the area weights (upstream truncates
  ``area_share * N`` per part), and occupancy labels are those of the stored
  float16 points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from alto.data.demo.config import ROOM_SCALE_INTERVALS, DemoConfig
from alto.data.demo.objects import DemoObject, make_demo_object, object_splits
from alto.data.demo.shapes import ROOM_CATEGORIES
from alto.data.formats import (
    POINTCLOUD_DIR,
    POINTS_DTYPE,
    POINTS_IOU_DIR,
    WATERTIGHT_MESH_FILE,
    multi_file_path,
    write_occupancy_file,
    write_surface_file,
)
from alto.data.layout import SPLITS, split_counts, write_split
from alto.data.parallel import run_tasks
from alto.data.samples import stored_box_points, write_mesh
from alto.data.seeding import make_rng
from alto.errors import InputError
from alto.geometry.contour import implicit_to_mesh
from alto.geometry.primitives import box, rotation_matrix
from alto.geometry.solid import Solid, sample_union_surfaces
from alto.io import save_npz_atomic

__all__ = [
    "FLOOR_Y",
    "GROUND_LONG_X_PROBABILITY",
    "GROUND_SHORT_SIDE",
    "GROUND_THICKNESS",
    "ITEM_DICT_FILE",
    "POINTCLOUD_PLY",
    "WALL_GROUND_WEIGHT",
    "WALL_HEIGHT_RANGE",
    "WALL_PROBABILITIES",
    "WALL_THICKNESS",
    "Y_ANGLE_RANGE",
    "Room",
    "build_rooms",
    "draw_room",
    "room_class",
    "write_room",
]

#: The ground slab's underside (the bottom face of the unit cube).
FLOOR_Y = -0.5
#: Thickness of the ground slab; objects and walls stand on its top face.
GROUND_THICKNESS = 0.01
#: The ground spans 1 along one random axis and U(0.3, 1) along the other.
GROUND_SHORT_SIDE = (0.3, 1.0)
#: Probability that the ground's full-length side is along x (a fair coin upstream).
GROUND_LONG_X_PROBABILITY = 0.5
#: Range of the objects' random rotation about y, in degrees.
Y_ANGLE_RANGE = (0.0, 360.0)
#: Probability of each wall: -z, -x, +z, +x (upstream's order).
WALL_PROBABILITIES = (0.5, 0.5, 0.5, 0.5)
WALL_THICKNESS = 0.01
WALL_HEIGHT_RANGE = (0.2, 0.4)
#: Area weight of walls and ground relative to objects when sampling surfaces (``lambda_wall_ground``).
WALL_GROUND_WEIGHT = 0.2
#: Slack of the "ground top face only" filter (points with y > top - slack are kept).
GROUND_TOP_SLACK = 1e-4
#: Slack of the "wall inner faces only" filter.
WALL_SIDE_SLACK = 1e-3
#: Random positions tried per object before the room is redrawn (upstream ``max_iter``).
PLACEMENT_TRIES = 1000
#: Room redraws before giving up (upstream retries forever).
ROOM_ATTEMPTS = 100
#: ``z_scale`` stored with the occupancy samples: no vertical rescaling (upstream's
#: ``scale_to_cube`` and ``scale_by_constant`` are both off, which stores 0).
NO_Z_SCALE = 0
#: Semantic label of walls and ground.
STRUCTURE_LABEL = -1
ITEM_DICT_FILE = "item_dict.npz"
POINTCLOUD_PLY = "pointcloud0.ply"


def room_class(n_objects: int) -> str:
    """Folder name of the room class with ``n_objects`` objects, e.g. ``rooms_05``."""
    return f"rooms_{n_objects:02d}"


@dataclass(frozen=True, eq=False)
class Room:
    """A drawn room: its recipe (as stored in ``item_dict.npz``) and its parts.

    ``parts`` are the placed objects, then the walls, then the ground (upstream's
    mesh order); ``labels`` their semantic labels.
    """

    index: int
    split: str
    objects: tuple[str, ...]
    classes: tuple[str, ...]
    scales: np.ndarray
    xz_range: np.ndarray
    y_angles: np.ndarray
    walls: np.ndarray
    wall_height: float
    bboxes: np.ndarray
    parts: tuple[Solid, ...]
    labels: tuple[int, ...]

    def item_dict(self) -> dict[str, np.ndarray]:
        """The ``item_dict.npz`` arrays, with upstream's keys."""
        return {
            "room_idx": np.asarray(self.index),
            "split": np.asarray(self.split),
            "n_objects": np.asarray(len(self.objects)),
            "objects": np.asarray(self.objects),
            "classes": np.asarray(self.classes),
            "scales": self.scales,
            "xz_groundplane_range": self.xz_range,
            "y_angle_range": np.asarray(Y_ANGLE_RANGE),
            "y_angles": self.y_angles,
            "wall_probabilities": np.asarray(WALL_PROBABILITIES),
            "walls": self.walls,
            "wall_thickness": np.asarray(WALL_THICKNESS),
            "wall_height_range": np.asarray(WALL_HEIGHT_RANGE),
            "wall_height": np.asarray([self.wall_height]),
            "bboxes": self.bboxes,
        }

    def implicit(self, points: np.ndarray) -> np.ndarray:
        """Implicit function of the whole room (minimum over the parts)."""
        return np.min([part.implicit(points) for part in self.parts], axis=0)

    def bounds(self) -> np.ndarray:
        """Axis-aligned bounding box (2, 3) of all parts."""
        boxes = np.stack([part.bounds() for part in self.parts])
        return np.stack([boxes[:, 0].min(axis=0), boxes[:, 1].max(axis=0)])


def _uniform(rng: np.random.Generator, bounds: Sequence[float], size: int | None = None) -> np.ndarray:
    return bounds[0] + rng.random(size) * (bounds[1] - bounds[0])


def _free_area(xz_range: np.ndarray, walls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper xz corners of the floor inside the walls (walls: -z, -x, +z, +x)."""
    half = xz_range / 2.0
    lo = -half + WALL_THICKNESS * np.array([walls[1], walls[0]])
    hi = half - WALL_THICKNESS * np.array([walls[3], walls[2]])
    return lo, hi


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two xz boxes [[x0, z0], [x1, z1]] overlap with positive area (upstream's test)."""
    return bool(np.all(np.abs(a.sum(0) - b.sum(0)) / 2.0 < ((a[1] - a[0]) + (b[1] - b[0])) / 2.0))


def _place(
    solids: Sequence[Solid], xz_range: np.ndarray, walls: np.ndarray, rng: np.random.Generator
) -> tuple[list[Solid], np.ndarray] | None:
    """Stand the solids on the ground at random non-overlapping xz spots, or None if they do not fit."""
    lo, hi = _free_area(xz_range, walls)
    placed: list[Solid] = []
    boxes: list[np.ndarray] = []
    for solid in solids:
        bounds = solid.bounds()
        extent = (bounds[1] - bounds[0])[[0, 2]]
        room = hi - lo - extent
        if np.any(room < 0):
            return None
        for _ in range(PLACEMENT_TRIES):
            corner = lo + rng.random(2) * room
            candidate = np.stack([corner, corner + extent])
            if not any(_overlaps(candidate, other) for other in boxes):
                break
        else:
            return None
        target = np.array([corner[0], FLOOR_Y + GROUND_THICKNESS, corner[1]])  # new bbox minimum
        shift = target - bounds[0]
        placed.append(solid.transformed(1.0, None, shift))
        boxes.append(candidate)
    return placed, np.asarray(boxes)


def _structure(xz_range: np.ndarray, walls: np.ndarray, wall_height: float) -> list[Solid]:
    """The present walls (-z, -x, +z, +x order) and the ground slab, as boxes."""
    x, z = xz_range
    t, base = WALL_THICKNESS, FLOOR_Y + GROUND_THICKNESS
    y = base + wall_height / 2.0
    specs = [
        ([0.0, y, -z / 2 + t / 2], [x, wall_height, t]),
        ([-x / 2 + t / 2, y, 0.0], [t, wall_height, z]),
        ([0.0, y, z / 2 - t / 2], [x, wall_height, t]),
        ([x / 2 - t / 2, y, 0.0], [t, wall_height, z]),
    ]
    parts = [Solid((box(c, s),)) for (c, s), present in zip(specs, walls, strict=True) if present]
    parts.append(Solid((box([0.0, FLOOR_Y + GROUND_THICKNESS / 2.0, 0.0], [x, GROUND_THICKNESS, z]),)))
    return parts


def draw_room(
    n_objects: int, index: int, split: str, pool: Mapping[str, Sequence[DemoObject]], rng: np.random.Generator
) -> Room:
    """Draw room ``index`` with ``n_objects`` objects from ``pool`` (category -> objects of ``split``)."""
    categories = sorted(c for c, objs in pool.items() if objs)
    if not categories:
        raise InputError(f"no objects of the room categories {list(ROOM_CATEGORIES)} in split {split!r}")
    scale_range = ROOM_SCALE_INTERVALS[n_objects]
    for _ in range(ROOM_ATTEMPTS):
        chosen = []
        for _ in range(n_objects):
            category = categories[int(rng.integers(len(categories)))]
            chosen.append(pool[category][int(rng.integers(len(pool[category])))])
        scales = _uniform(rng, scale_range, n_objects)
        long_x = rng.random() < GROUND_LONG_X_PROBABILITY
        short = float(_uniform(rng, GROUND_SHORT_SIDE))
        xz_range = np.array([1.0, short] if long_x else [short, 1.0])
        y_angles = _uniform(rng, Y_ANGLE_RANGE, n_objects)
        walls = rng.binomial(1, WALL_PROBABILITIES)
        wall_height = float(_uniform(rng, WALL_HEIGHT_RANGE))
        posed = [
            obj.solid.transformed(float(s), rotation_matrix("y", np.deg2rad(a)))
            for obj, s, a in zip(chosen, scales, y_angles, strict=True)
        ]
        placement = _place(posed, xz_range, walls, rng)
        if placement is None:
            continue
        placed, bboxes = placement
        structure = _structure(xz_range, walls, wall_height)
        labels = [ROOM_CATEGORIES.index(obj.category) for obj in chosen] + [STRUCTURE_LABEL] * len(structure)
        return Room(
            index=index,
            split=split,
            objects=tuple(f"{obj.category}/{obj.name}" for obj in chosen),
            classes=tuple(obj.category for obj in chosen),
            scales=scales,
            xz_range=xz_range,
            y_angles=y_angles,
            walls=walls,
            wall_height=wall_height,
            bboxes=bboxes,
            parts=(*placed, *structure),
            labels=tuple(labels),
        )
    raise InputError(f"could not place {n_objects} objects in a room after {ROOM_ATTEMPTS} attempts")


def _surface_filter(room: Room, points: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Keep the ground's top face and the walls' inner faces (upstream's filters)."""
    keep = np.ones(len(points), dtype=bool)
    ground = len(room.parts) - 1
    keep &= (owner != ground) | (points[:, 1] > FLOOR_Y + GROUND_THICKNESS - GROUND_TOP_SLACK)
    inner = room.xz_range / 2.0 - WALL_THICKNESS + WALL_SIDE_SLACK  # per xz axis
    sides = ((2, 1, -1.0), (0, 0, -1.0), (2, 1, 1.0), (0, 0, 1.0))  # walls -z, -x, +z, +x: axis, xz index, sign
    for present, (axis, xz, sign) in zip(room.walls, sides, strict=True):
        if present:
            keep &= sign * points[:, axis] < inner[xz]
    return keep


def _write_surface_files(folder: Path, room: Room, config: DemoConfig, keys: tuple[int | str, ...]) -> None:
    """``pointcloud/pointcloud_XX.npz`` (points, normals, semantics) and ``pointcloud0.ply``."""
    n_objects = len(room.objects)
    weights = [1.0] * n_objects + [WALL_GROUND_WEIGHT] * (len(room.parts) - n_objects)
    labels = np.asarray(room.labels, dtype=np.int64)
    for k in range(config.room_files):
        rng = make_rng(config.seed, "demo-room-surface", *keys, k)
        points, normals, owner = sample_union_surfaces(room.parts, weights, config.room_surface_points, rng)
        keep = _surface_filter(room, points, owner)
        write_surface_file(
            multi_file_path(folder, POINTCLOUD_DIR, k), points[keep], normals[keep], semantics=labels[owner[keep]]
        )
        if k == 0:
            cloud = trimesh.Trimesh(vertices=points[keep].astype(POINTS_DTYPE), process=False)
            write_mesh(folder / POINTCLOUD_PLY, cloud)


def _write_occupancy_files(folder: Path, room: Room, config: DemoConfig, keys: tuple[int | str, ...]) -> None:
    """``points_iou/points_iou_XX.npz``: one draw of all files' points, split into files."""
    total = config.room_files * config.room_points
    points = stored_box_points(total, make_rng(config.seed, "demo-room-points", *keys), config.padding)
    query = points.astype(np.float64)
    occ = np.zeros(total, dtype=bool)
    semantics = np.full(total, len(room.parts), dtype=np.int64)  # empty space: the number of parts
    for part, label in zip(room.parts, room.labels, strict=True):
        inside = part.contains(query)
        occ |= inside
        semantics[inside] = label  # later parts overwrite earlier ones, as upstream
    for k in range(config.room_files):
        rows = slice(k * config.room_points, (k + 1) * config.room_points)
        write_occupancy_file(
            multi_file_path(folder, POINTS_IOU_DIR, k),
            points[rows],
            occ[rows],
            z_scale=np.asarray(NO_Z_SCALE),
            semantics=semantics[rows],
        )


def write_room(folder: Path, room: Room, config: DemoConfig, keys: tuple[int | str, ...]) -> None:
    """Write all files of ``room`` into ``folder``; ``keys`` seed its samples."""
    folder = Path(folder)
    save_npz_atomic(folder / ITEM_DICT_FILE, **room.item_dict())
    _write_surface_files(folder, room, config, keys)
    _write_occupancy_files(folder, room, config, keys)
    if config.mesh_resolution:
        mesh = implicit_to_mesh(room.implicit, room.bounds(), config.mesh_resolution)
        write_mesh(folder / WATERTIGHT_MESH_FILE, mesh)


def _object_pool(config: DemoConfig, split: str) -> dict[str, list[DemoObject]]:
    """The demo objects of the room categories in ``split`` (rooms of a split use that split's objects)."""
    indices = object_splits(config)[split]
    return {
        cat: [make_demo_object(cat, i, config.seed) for i in indices]
        for cat in ROOM_CATEGORIES
        if cat in config.categories
    }


def _build_one(task: tuple[Path, int, int, str, dict[str, list[DemoObject]], DemoConfig]) -> None:
    root, n_objects, index, split, pool, config = task
    keys = (n_objects, index)
    room = draw_room(n_objects, index, split, pool, make_rng(config.seed, "demo-room", *keys))
    write_room(root / room_class(n_objects) / f"{index:08d}", room, config, keys)


def build_rooms(root: Path, config: DemoConfig) -> dict[str, dict[str, list[str]]]:
    """Write the room dataset under ``root``; returns room class -> split -> room folder names."""
    root = Path(root)
    counts = split_counts(config.rooms_per_class, config.room_split)
    pools = {split: _object_pool(config, split) for split, count in zip(SPLITS, counts, strict=True) if count}
    tasks: list[tuple[Any, ...]] = []
    out: dict[str, dict[str, list[str]]] = {}
    for n_objects in config.room_object_counts:
        cls = room_class(n_objects)
        out[cls] = {}
        start = 0
        for split, count in zip(SPLITS, counts, strict=True):
            indices = range(start, start + count)
            out[cls][split] = [f"{i:08d}" for i in indices]
            tasks += [(root, n_objects, i, split, pools.get(split, {}), config) for i in indices]
            start += count
    run_tasks(_build_one, tasks, config.workers)
    for cls, splits in out.items():
        for split, names in splits.items():
            write_split(root, cls, split, names)
    return out
