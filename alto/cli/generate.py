"""``alto generate``: meshes of test objects with a trained model.

For each object the input point cloud is drawn exactly as in evaluation (seeded
per object, so every run and every job sees the same input), encoded once, and
the surface extracted with the method the config asks for (``generation.extractor``).
Beside each mesh, ``<object>.json`` records the encode / decode / extract seconds
and a fingerprint of the checkpoint and config that made it.

A chunk of objects runs in one process: the model is loaded once and the next
object's inputs are read in a background thread while the current one is decoded.
With ``--resume`` an object whose mesh and record exist and whose record carries
the current fingerprint is skipped, so a chunk that was killed part-way (a time
limit, a lost node) redoes only the objects it had not finished. ``--manifest``
writes, once every object is done, the list of the chunk's objects (the workflow's
declared output of a chunk job).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from alto.cli.objects import ProgressLog, prefetched, select_test_objects
from alto.config import load_experiment, parse_dotted_overrides
from alto.devices import AUTO, DEVICE_HELP, resolve_device
from alto.errors import ExtractionError, InputError
from alto.io import atomic_write

log = logging.getLogger(__name__)

#: Record key holding the fingerprint of the checkpoint and config that made a mesh.
FINGERPRINT = "fingerprint"



def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="experiment config (YAML)")
    parser.add_argument("--checkpoint", help="model file, published model name (alto models list) or trained "
                        "experiment name (default: <training.out_dir>/<test.model_file>)")
    parser.add_argument("--data", help="dataset root (default: data.path of the config)")
    parser.add_argument("--object", dest="objects", action="append", default=[], metavar="CATEGORY/MODEL",
                        help="generate only this object (repeatable; default: the whole test split)")
    parser.add_argument("--out-dir", help="mesh folder (default: <training.out_dir>/<generation.generation_dir>)")
    parser.add_argument("--resume", action="store_true",
                        help="skip objects whose mesh and record exist and were made by this checkpoint and config")
    parser.add_argument("--manifest", help="JSON list of the objects and their meshes, written when all are done")
    parser.add_argument("--device", default=AUTO, help=DEVICE_HELP)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    return parser


def generation_config(cfg: dict[str, Any], data: str | None) -> dict[str, Any]:
    """The config of the test inputs only: no IoU or Chamfer files are read for generation."""
    data_section = {**cfg["data"], "points_iou_file": None, "pointcloud_chamfer_file": None}
    if data is not None:
        data_section["path"] = data
    return {**cfg, "data": data_section}


def generation_fingerprint(cfg: dict[str, Any], checkpoint: Path) -> str:
    """sha256 of the checkpoint's bytes and of the config a mesh is generated with.

    Two generations with the same fingerprint give the same mesh (inputs are seeded
    per object), so a record that carries it marks a mesh that need not be redone."""
    if not checkpoint.is_file():
        raise InputError(f"checkpoint {checkpoint} not found")
    with checkpoint.open("rb") as handle:
        weights = hashlib.file_digest(handle, "sha256").hexdigest()
    settings = json.dumps(cfg, sort_keys=True, default=str)
    return hashlib.sha256(f"{weights}\n{settings}".encode()).hexdigest()


def is_done(mesh: Path, record: Path, fingerprint: str) -> bool:
    """Whether ``mesh`` and its ``record`` exist and the record carries ``fingerprint``.

    The record is written after the mesh (both atomically), so a record means a whole mesh."""
    if not (mesh.is_file() and record.is_file()):
        return False
    try:
        return json.loads(record.read_text()).get(FINGERPRINT) == fingerprint
    except (ValueError, AttributeError):
        return False


def write_manifest(path: Path, objects: Iterable[tuple[str, str]], meshes: Iterable[Path], **extra: Any) -> None:
    """The chunk's objects and their meshes as JSON (atomically)."""
    entries = [{"object": f"{c}/{m}", "mesh": str(mesh)} for (c, m), mesh in zip(objects, meshes, strict=True)]
    with atomic_write(path) as handle:
        json.dump({**extra, "objects": entries}, handle, indent=2)
        handle.write("\n")


def main(argv: Sequence[str] | None, prog: str = "alto generate") -> int:
    """Run ``alto generate``; returns the exit code."""
    from alto.mesh import save_generation
    from alto.mesh.registry import generator_from_config
    from alto.models import load_checkpoint
    from alto.models.zoo import resolve_checkpoint

    args = _parser(prog).parse_args(argv)
    device = resolve_device(args.device)  # before any work: a missing GPU is a clear error, not torch's
    experiment = load_experiment(args.config, overrides=[parse_dotted_overrides(args.overrides)])
    cfg = experiment.to_dict()
    out_root = experiment.training.out_dir
    checkpoint = resolve_checkpoint(args.checkpoint) if args.checkpoint else out_root / experiment.test.model_file
    out_dir = Path(args.out_dir or out_root / experiment.generation.generation_dir)

    gen_cfg = generation_config(cfg, args.data)
    fingerprint = generation_fingerprint(gen_cfg, checkpoint)
    objects = select_test_objects(gen_cfg, args.objects)
    selected = objects.selected
    suffix = "." + experiment.generation.mesh_format
    meshes = [out_dir / category / f"{model_name}{suffix}" for category, model_name in selected]
    progress = ProgressLog(len(selected), log)
    todo = []
    for pair, mesh_path in zip(selected, meshes, strict=True):
        if args.resume and is_done(mesh_path, mesh_path.with_suffix(".json"), fingerprint):
            progress.skipped("/".join(pair), "mesh and record up to date")
        else:
            todo.append((pair, mesh_path))

    if todo:
        model = load_checkpoint(checkpoint, cfg=cfg, map_location=device)["model"]
        generator = generator_from_config(experiment, model, device)
        for ((category, model_name), mesh_path), sample in prefetched(todo, lambda job: objects.load(job[0])):
            progress.start()
            inputs = sample["inputs"]
            try:
                generation = generator.generate(inputs)
            except ExtractionError as error:  # like any failure, it stops the chunk: the model is at fault
                raise ExtractionError(f"{category}/{model_name} with checkpoint {checkpoint}: {error}") from error
            save_generation(generation, mesh_path, mesh_path.with_suffix(".json"), category=category,
                            model=model_name, checkpoint=str(checkpoint), **{FINGERPRINT: fingerprint})
            record = generation.record
            progress.finished(f"{category}/{model_name}",
                              f"{len(inputs)} points in, {record.faces} faces out, generation "
                              f"{record.total_seconds:.2f} s (encode {record.encode_seconds:.2f}, "
                              f"decode {record.decode_seconds:.2f}, extract {record.extract_seconds:.2f})")
    if args.manifest:
        write_manifest(Path(args.manifest), selected, meshes, checkpoint=str(checkpoint),
                       **{FINGERPRINT: fingerprint, "generated": len(todo), "skipped": len(selected) - len(todo)})
    return 0
