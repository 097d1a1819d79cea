"""Writing meshes and their per-object records, atomically.

Meshes go to ``.ply`` (binary, ALTO's format and our default) or ``.off`` (ASCII,
ConvONet's format). A generation that found no surface still writes its file, an
empty mesh, and its record says ``"empty": true``: upstream ALTO writes nothing in
that case and the evaluation later reports a missing file.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import trimesh

from alto.errors import InputError
from alto.io import atomic_path, atomic_write
from alto.mesh.generator import Generation

__all__ = ["DEFAULT_MESH_SUFFIX", "MESH_SUFFIXES", "save_generation", "write_mesh", "write_record"]

logger = logging.getLogger(__name__)

#: Mesh file formats by suffix.
MESH_SUFFIXES: tuple[str, ...] = (".ply", ".off")
#: Format of a mesh path given without suffix (ALTO's; ConvONet wrote ``.off``).
DEFAULT_MESH_SUFFIX = ".ply"


def write_mesh(mesh: trimesh.Trimesh, path: str | os.PathLike[str]) -> Path:
    """Write ``mesh`` to ``path`` (``.ply`` or ``.off``; ``.ply`` is added to a path
    without suffix) atomically; an empty mesh too. Returns the path written."""
    path = Path(path)
    if not path.suffix:
        path = path.with_suffix(DEFAULT_MESH_SUFFIX)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputError(f"mesh file {path} must end in one of {MESH_SUFFIXES}, got {path.suffix!r}")
    if len(mesh.faces) == 0:
        logger.warning("writing an empty mesh to %s: the extraction found no surface", path)
    with atomic_path(path) as tmp:
        mesh.export(tmp, file_type=suffix[1:])
    return path


def write_record(record: Mapping[str, Any], path: str | os.PathLike[str], **extra: Any) -> Path:
    """Write a per-object record (plus ``extra`` fields, e.g. class and model) as JSON."""
    path = Path(path)
    with atomic_write(path) as handle:
        json.dump({**extra, **record}, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return path


def save_generation(
    generation: Generation,
    mesh_path: str | os.PathLike[str],
    record_path: str | os.PathLike[str] | None = None,
    **extra: Any,
) -> tuple[Path, Path]:
    """Write the mesh and its record (default: the mesh path with ``.json``)."""
    mesh_path = write_mesh(generation.mesh, mesh_path)
    record_path = Path(record_path) if record_path is not None else mesh_path.with_suffix(".json")
    write_record(generation.record.as_dict(), record_path, **extra)
    return mesh_path, record_path
