"""``alto data from-meshes``: a dataset in the ShapeNet layout from your own meshes.

Input: a folder of OFF/OBJ/PLY/STL meshes, either with one sub-folder per
category, or flat (one category, named by ``category`` or after the folder).
For each mesh:

1. load it and make it watertight (:func:`alto.geometry.repair.repair_mesh`:
   merge vertices, drop degenerate faces, fill small holes, orient outwards);
   a mesh that cannot be repaired is skipped with the reason (or, with
   ``strict``, stops the build) - it is never labelled from a leaky surface,
2. normalise it to the unit cube as Occupancy Networks does (``loc`` = bbox
   centre, ``scale`` = largest extent),
3. label ``n_points`` uniform points of the padded cube with the winding-number
   inside test, and sample ``n_surface`` area-weighted surface points with face
   normals,
4. write ``points.npz``, ``pointcloud.npz`` and the normalised watertight mesh
   ``model_watertight.off``.

Split lists are drawn per category from ``(seed, category)``;
``metadata.yaml`` names each category after its folder; the summary of what
was built and skipped (with reasons and repairs) goes to
``from_meshes_summary.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import trimesh

from alto.data.formats import WATERTIGHT_MESH_FILE
from alto.data.layout import OBJECT_SPLIT, SPLITS, check_fractions, split_counts, write_metadata, write_split
from alto.data.parallel import run_tasks
from alto.data.samples import occupancy_samples, write_mesh, write_object_samples
from alto.data.seeding import make_rng
from alto.errors import InputError
from alto.geometry.inside import points_inside_mesh
from alto.geometry.normalize import normalize_mesh
from alto.geometry.repair import DEFAULT_MAX_HOLE_EDGES, repair_mesh
from alto.geometry.sampling import UNIT_CUBE_PADDING, sample_mesh_surface
from alto.io import atomic_write

__all__ = [
    "MESH_SUFFIXES",
    "SUMMARY_FILE",
    "BuildSummary",
    "FromMeshesConfig",
    "MeshJob",
    "build_from_meshes",
    "find_meshes",
    "process_mesh",
]

logger = logging.getLogger(__name__)

#: Mesh file types read (case-insensitive), all through trimesh.
MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl")
#: Summary of a build, written at the output root.
SUMMARY_FILE = "from_meshes_summary.json"


@dataclass(frozen=True)
class FromMeshesConfig:
    """Options of :func:`build_from_meshes`."""

    seed: int = 0
    #: Category name of a flat input folder (default: the folder's name).
    category: str | None = None
    #: Occupancy samples per mesh (``points.npz``; Occupancy Networks: 100000).
    n_points: int = 100_000
    #: Surface samples per mesh (``pointcloud.npz``; Occupancy Networks: 100000).
    n_surface: int = 100_000
    padding: float = UNIT_CUBE_PADDING
    split: tuple[float, ...] = OBJECT_SPLIT
    #: Largest hole (boundary edges) that is filled; larger ones skip the mesh.
    max_hole_edges: int = DEFAULT_MAX_HOLE_EDGES
    #: Stop at the first mesh that cannot be used instead of skipping it.
    strict: bool = False
    #: Also write the normalised watertight mesh of each model.
    write_mesh: bool = True
    workers: int = 1

    def validate(self) -> None:
        """Raise :class:`~alto.errors.InputError` naming the first invalid option."""
        for name in ("n_points", "n_surface", "workers"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: got {getattr(self, name)}; expected a positive integer")
        if self.seed < 0 or self.padding < 0 or self.max_hole_edges < 0:
            raise InputError(
                f"seed / padding / max_hole_edges: got {self.seed} / {self.padding} / {self.max_hole_edges}; "
                "expected non-negative values"
            )
        try:
            check_fractions(self.split)
        except ValueError as err:
            raise InputError(f"split: {err}") from err
        if len(self.split) != len(SPLITS):
            raise InputError(f"split: got {list(self.split)}; expected one fraction per split {SPLITS}")
        if self.category is not None and not _valid_name(self.category):
            raise InputError(f"category: got {self.category!r}; expected a plain folder name")


@dataclass(frozen=True)
class MeshJob:
    """One mesh file and the category / model folder it becomes."""

    source: Path
    category: str
    model: str


@dataclass
class BuildSummary:
    """What :func:`build_from_meshes` built and skipped, and the split sizes."""

    built: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    splits: dict[str, dict[str, int]] = field(default_factory=dict)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"built {len(self.built)} model(s), skipped {len(self.skipped)}"]
        for cat, sizes in self.splits.items():
            out.append(f"  {cat}: " + ", ".join(f"{split} {n}" for split, n in sizes.items()))
        out += [f"  repaired {b['source']}: {'; '.join(b['repairs'])}" for b in self.built if b["repairs"]]
        out += [f"  skipped {s['source']}: {s['reason']}" for s in self.skipped]
        return out


def _valid_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name


def _mesh_files(folder: Path) -> list[Path]:
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in MESH_SUFFIXES and not p.name.startswith(".")
    )


def find_meshes(src: Path, category: str | None = None) -> list[MeshJob]:
    """The meshes under ``src``: per category sub-folder, or flat (one category)."""
    src = Path(src)
    if not src.is_dir():
        raise InputError(f"{src}: input folder not found")
    flat = _mesh_files(src)
    folders = {d.name: _mesh_files(d) for d in sorted(src.iterdir()) if d.is_dir() and not d.name.startswith(".")}
    folders = {name: files for name, files in folders.items() if files}
    if flat and folders:
        raise InputError(
            f"{src}: has both mesh files and category sub-folders with meshes ({', '.join(folders)}); "
            "use one category per sub-folder, or a flat folder of meshes"
        )
    if not flat and not folders:
        raise InputError(f"{src}: no mesh files ({', '.join(MESH_SUFFIXES)}) found, neither flat nor in sub-folders")
    groups = {category or src.resolve().name: flat} if flat else folders
    jobs = []
    for cat, files in groups.items():
        seen: dict[str, Path] = {}
        for path in files:
            if path.stem in seen:
                raise InputError(
                    f"{path}: model name {path.stem!r} is also used by {seen[path.stem]}; rename one of them"
                )
            seen[path.stem] = path
            jobs.append(MeshJob(path, cat, path.stem))
    return jobs


def _load_mesh(path: Path) -> trimesh.Trimesh:
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as err:  # trimesh raises many types for unreadable files
        raise InputError(f"cannot read the mesh ({type(err).__name__}: {err})") from err
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise InputError("the file contains no triangle faces")
    return mesh


def process_mesh(job: MeshJob, out: Path, config: FromMeshesConfig) -> dict[str, Any]:
    """Repair, normalise, sample and write one mesh; returns its summary record.

    Raises :class:`~alto.errors.InputError` with the reason when the mesh cannot be used.
    """
    mesh, repairs = repair_mesh(_load_mesh(job.source), config.max_hole_edges)
    unit, loc, scale = normalize_mesh(mesh)
    keys = (config.seed, job.category, job.model)
    points, occ = occupancy_samples(
        lambda q: points_inside_mesh(unit.vertices, unit.faces, q),
        config.n_points,
        make_rng(*keys, "from-meshes-points"),
        config.padding,
    )
    surface_rng = make_rng(*keys, "from-meshes-surface")
    surface, normals = sample_mesh_surface(unit.vertices, unit.faces, config.n_surface, surface_rng)
    folder = Path(out) / job.category / job.model
    write_object_samples(folder, points, occ, surface, normals, loc, scale)
    if config.write_mesh:
        write_mesh(folder / WATERTIGHT_MESH_FILE, unit)
    return {
        "category": job.category,
        "model": job.model,
        "source": str(job.source),
        "repairs": repairs,
        "occupied_fraction": float(occ.mean()),
        "loc": loc.tolist(),
        "scale": scale,
    }


def _process_one(task: tuple[MeshJob, Path, FromMeshesConfig]) -> dict[str, Any]:
    job, out, config = task
    try:
        return process_mesh(job, out, config)
    except InputError as err:
        if config.strict:
            raise InputError(f"{job.source}: {err}") from err
        logger.warning("skipping %s: %s", job.source, err)
        return {"source": str(job.source), "reason": str(err)}


def build_from_meshes(src: str | Path, out: str | Path, config: FromMeshesConfig | None = None) -> BuildSummary:
    """Build a dataset under ``out`` from the meshes in ``src``; see the module docstring."""
    config = config or FromMeshesConfig()
    config.validate()
    out = Path(out)
    jobs = find_meshes(Path(src), config.category)
    summary = BuildSummary()
    for record in run_tasks(_process_one, [(job, out, config) for job in jobs], config.workers):
        (summary.built if "model" in record else summary.skipped).append(record)
    models: dict[str, list[str]] = {}
    for record in summary.built:
        models.setdefault(record["category"], []).append(record["model"])
    for cat, names in models.items():
        order = make_rng(config.seed, "from-meshes-split", cat).permutation(len(names))
        shuffled = [names[i] for i in order]
        bounds = np.cumsum([0, *split_counts(len(names), config.split)])
        summary.splits[cat] = {}
        for i, split in enumerate(SPLITS):
            chosen = sorted(shuffled[bounds[i] : bounds[i + 1]])
            write_split(out, cat, split, chosen)
            summary.splits[cat][split] = len(chosen)
    if models:
        write_metadata(out, {cat: cat for cat in models})
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / SUMMARY_FILE, encoding="utf-8") as f:
        json.dump(asdict(summary), f, indent=2)
    if not summary.built:
        reasons = "; ".join(f"{Path(s['source']).name}: {s['reason']}" for s in summary.skipped)
        raise InputError(f"{src}: no usable mesh ({reasons}); see {out / SUMMARY_FILE}")
    return summary
