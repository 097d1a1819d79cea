"""``alto evaluate``: the paper's metrics for generated meshes, one row per object.

The ground truth of each object (surface samples with normals, labelled IoU
points) is read from the dataset's test split as upstream's ``eval_meshes.py``
does, and every random draw is seeded per object. A missing or empty mesh gives a
row marked as failed, with the upstream penalty values, never a dropped object.
The objects of a chunk (``--object`` repeated) are evaluated in one process, the
next object's ground truth read in a background thread.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from alto.cli.objects import ProgressLog, prefetched, select_test_objects
from alto.config import load_experiment, parse_dotted_overrides
from alto.errors import InputError

log = logging.getLogger(__name__)

def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="experiment config (YAML)")
    parser.add_argument("--data", help="dataset root (default: data.path of the config)")
    parser.add_argument("--object", dest="objects", action="append", default=[], metavar="CATEGORY/MODEL",
                        help="evaluate only this object (repeatable; default: the whole test split)")
    meshes = parser.add_mutually_exclusive_group()
    meshes.add_argument("--meshes", help="mesh folder with <category>/<model>.<ext> "
                                         "(default: <training.out_dir>/<generation.generation_dir>)")
    meshes.add_argument("--mesh", help="the mesh of the single --object")
    parser.add_argument("--record", help="generation record of the single --object (default: beside the mesh)")
    parser.add_argument("--experiment", help="value of an 'experiment' column added to every row")
    parser.add_argument("--out", required=True, help="CSV of per-object rows (written atomically)")
    parser.add_argument("--table", help="also write the per-class table (CSV) of these rows")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    return parser


def _generation_seconds(record: Path) -> float:
    """Total generation seconds from a generator record (NaN when there is none)."""
    if not record.is_file():
        return float("nan")
    try:
        return float(json.loads(record.read_text())["total_seconds"])
    except (ValueError, KeyError, TypeError) as err:
        raise InputError(f"{record}: not a generation record with 'total_seconds' ({err})") from err


def main(argv: Sequence[str] | None, prog: str = "alto evaluate") -> int:
    """Run ``alto evaluate``; returns the exit code."""
    from alto.eval import (
        GENERATION_SECONDS,
        aggregate_rows,
        evaluate_object,
        rng_for_object,
        write_rows_csv,
        write_table_csv,
    )
    from alto.eval.evaluator import EvalSettings

    args = _parser(prog).parse_args(argv)
    overrides = [parse_dotted_overrides(args.overrides)]
    if args.data is not None:
        overrides.append({"data": {"path": args.data}})
    cfg = load_experiment(args.config, overrides=overrides)
    if (args.mesh or args.record) and len(args.objects) != 1:
        raise InputError("--mesh and --record need exactly one --object")
    objects = select_test_objects(cfg, args.objects)

    mesh_root = Path(args.meshes or cfg.training.out_dir / cfg.generation.generation_dir)
    suffix = "." + cfg.generation.mesh_format
    progress = ProgressLog(len(objects.selected), log)
    rows = []
    for (category, model), sample in prefetched(objects.selected, objects.load):
        progress.start()
        info = objects.info((category, model))
        mesh = Path(args.mesh) if args.mesh else mesh_root / category / f"{model}{suffix}"
        record = Path(args.record) if args.record else mesh.with_suffix(".json")
        row = evaluate_object(
            mesh if mesh.exists() else None,
            sample["pointcloud_chamfer"],
            sample["pointcloud_chamfer.normals"],
            sample.get("points_iou"),
            sample.get("points_iou.occ"),
            rng=rng_for_object(cfg.seed, category, model),
            remove_wall=cfg.test.remove_wall,
            class_id=category,
            class_name=info.category_name,
            model_name=model,
            settings=EvalSettings(),
        )
        if not mesh.exists():
            row["failure_reason"] = f"no mesh at {mesh}"
        row[GENERATION_SECONDS] = _generation_seconds(record)
        if args.experiment is not None:
            row["experiment"] = args.experiment
        failure = f" (failed: {row['failure_reason']})" if row["failed"] else ""
        progress.finished(f"{category}/{model}", f"iou {row['iou']:.4f}, chamfer-L1 {row['chamfer_l1']:.5f}{failure}")
        rows.append(row)
    write_rows_csv(rows, args.out)
    if args.table:
        keys = ["experiment"] if args.experiment is not None else []
        write_table_csv(aggregate_rows(rows, keys=keys, extra_means=[GENERATION_SECONDS]), args.table)
    return 0
