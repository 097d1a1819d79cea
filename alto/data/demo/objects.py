"""The demo's object dataset in the ShapeNet layout of Occupancy Networks.

Per object ``<root>/<category>/<model>/``:

* ``points.npz``: ``points`` float16 (N, 3) uniform in the padded unit cube,
  ``occupancies`` packed bits of the **exact** labels of the stored points,
  ``loc`` (3,), ``scale`` () float64,
* ``pointcloud.npz``: ``points`` and ``normals`` float16 (N, 3), area-uniform on
  the exact surface of the union with its exact normals, plus ``loc``, ``scale``,
* ``model_watertight.off`` (only with ``mesh_resolution`` > 0): marching cubes of
  the exact field, in the unit frame.

Each shape is built in metres by its category's recipe, then normalised as
Occupancy Networks does: ``loc`` = bounding-box centre, ``scale`` = largest
extent. Shapes and samples are seeded by ``(seed, category, index)``; objects are
i.i.d., so the splits simply take the first ones for train, then val, then test.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alto.data.demo.config import DemoConfig
from alto.data.demo.shapes import DEMO_CATEGORIES
from alto.data.formats import WATERTIGHT_MESH_FILE
from alto.data.layout import SPLITS, split_counts, write_metadata, write_split
from alto.data.parallel import run_tasks
from alto.data.samples import occupancy_samples, write_mesh, write_object_samples
from alto.data.seeding import make_rng
from alto.geometry.contour import implicit_to_mesh
from alto.geometry.normalize import bbox_loc_scale
from alto.geometry.solid import Solid

__all__ = ["DemoObject", "build_objects", "make_demo_object", "object_name", "object_splits", "write_demo_object"]


@dataclass(frozen=True, eq=False)
class DemoObject:
    """A demo shape in the unit frame, with the ``loc``/``scale`` of its original frame."""

    category: str
    name: str
    solid: Solid
    loc: np.ndarray
    scale: float


def object_name(category: str, index: int) -> str:
    """Model folder name of object ``index`` of ``category``, e.g. ``table_0007``."""
    return f"{DEMO_CATEGORIES[category].prefix}_{index:04d}"


def make_demo_object(category: str, index: int, seed: int) -> DemoObject:
    """Object ``index`` of ``category`` (the same for the same seed, whatever else is built)."""
    world = DEMO_CATEGORIES[category].recipe.build(make_rng(seed, "demo-shape", category, index))
    loc, scale = bbox_loc_scale(world.bounds())
    unit = world.transformed(1.0 / scale, None, -loc / scale)
    return DemoObject(category, object_name(category, index), unit, loc, scale)


def object_splits(config: DemoConfig) -> dict[str, list[int]]:
    """Object indices per split (the same for every category): train first, then val, test."""
    counts = split_counts(config.objects_per_category, config.object_split)
    bounds = np.cumsum([0, *counts])
    return {split: list(range(bounds[i], bounds[i + 1])) for i, split in enumerate(SPLITS)}


def write_demo_object(root: Path, obj: DemoObject, config: DemoConfig) -> None:
    """Write the sample files (and optionally the mesh) of ``obj`` under ``root/category/name``."""
    folder = Path(root) / obj.category / obj.name
    seed = config.seed
    points, occ = occupancy_samples(
        obj.solid.contains, config.object_points, make_rng(seed, "demo-points", obj.category, obj.name), config.padding
    )
    surface, normals = obj.solid.sample_surface(
        config.object_surface_points, make_rng(seed, "demo-surface", obj.category, obj.name)
    )
    write_object_samples(folder, points, occ, surface, normals, obj.loc, obj.scale)
    if config.mesh_resolution:
        mesh = implicit_to_mesh(obj.solid.implicit, obj.solid.bounds(), config.mesh_resolution)
        write_mesh(folder / WATERTIGHT_MESH_FILE, mesh)


def _build_one(task: tuple[Path, str, int, DemoConfig]) -> str:
    root, category, index, config = task
    obj = make_demo_object(category, index, config.seed)
    write_demo_object(root, obj, config)
    return obj.name


def build_objects(root: Path, config: DemoConfig) -> dict[str, dict[str, list[str]]]:
    """Write the object dataset under ``root``; returns category -> split -> model names."""
    root = Path(root)
    tasks = [(root, cat, i, config) for cat in config.categories for i in range(config.objects_per_category)]
    names = iter(run_tasks(_build_one, tasks, config.workers))
    built = {cat: [next(names) for _ in range(config.objects_per_category)] for cat in config.categories}
    splits = object_splits(config)
    out: dict[str, dict[str, list[str]]] = {}
    for cat in config.categories:
        out[cat] = {split: [built[cat][i] for i in indices] for split, indices in splits.items()}
        for split, models in out[cat].items():
            write_split(root, cat, split, models)
    write_metadata(root, {cat: DEMO_CATEGORIES[cat].name for cat in config.categories})
    return out
