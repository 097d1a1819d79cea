"""``alto generate``: meshes of test objects with a trained model.

For each object the input point cloud is drawn exactly as in evaluation (seeded
per object, so every run and every job sees the same input), encoded once, and
the surface extracted with the method the config asks for (``generation.extractor``).
Beside each mesh, ``<object>.json`` records the encode / decode / extract seconds.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alto.config import load_config, parse_dotted_overrides
from alto.errors import InputError

log = logging.getLogger(__name__)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="experiment config (YAML)")
    parser.add_argument("--checkpoint", help="model file (default: <training.out_dir>/<test.model_file>)")
    parser.add_argument("--data", help="dataset root (default: data.path of the config)")
    parser.add_argument("--object", dest="objects", action="append", default=[], metavar="CATEGORY/MODEL",
                        help="generate only this object (repeatable; default: the whole test split)")
    parser.add_argument("--out-dir", help="mesh folder (default: <training.out_dir>/<generation.generation_dir>)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config key (repeatable)")
    return parser


def split_object(spec: str) -> tuple[str, str]:
    """``'category/model'`` -> ``('category', 'model')``."""
    category, sep, model = spec.partition("/")
    if not sep or not category or not model or "/" in model:
        raise InputError(f"object {spec!r}: expected CATEGORY/MODEL, e.g. 02691156/1a04e3eab45ca15dd86060f189eb133")
    return category, model


def generation_config(cfg: dict[str, Any], data: str | None) -> dict[str, Any]:
    """The config of the test inputs only: no IoU or Chamfer files are read for generation."""
    data_section = {**cfg["data"], "points_iou_file": None, "pointcloud_chamfer_file": None}
    if data is not None:
        data_section["path"] = data
    return {**cfg, "data": data_section}


def main(argv: Sequence[str] | None, prog: str = "alto generate") -> int:
    """Run ``alto generate``; returns the exit code."""
    import torch

    from alto.data import build_dataset
    from alto.mesh import save_generation
    from alto.mesh.registry import generator_from_config
    from alto.models import load_checkpoint

    args = _parser(prog).parse_args(argv)
    cfg = load_config(args.config, overrides=[parse_dotted_overrides(args.overrides)])
    out_root = Path(cfg["training"]["out_dir"])
    checkpoint = Path(args.checkpoint or out_root / cfg["test"]["model_file"])
    out_dir = Path(args.out_dir or out_root / cfg["generation"]["generation_dir"])
    wanted = [split_object(spec) for spec in args.objects]

    gen_cfg = generation_config(cfg, args.data)
    if wanted:
        gen_cfg["data"]["classes"] = sorted({category for category, _ in wanted})
    dataset = build_dataset(gen_cfg, "test")
    index = {(info.category, info.model): i for i, info in enumerate(map(dataset.model_info, range(len(dataset))))}
    missing = [f"{c}/{m}" for c, m in wanted if (c, m) not in index]
    if missing:
        raise InputError(f"not in the test split of {gen_cfg['data']['path']}: {', '.join(missing)}")
    selected = wanted or list(index)

    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    device = "cpu" if device == "auto" else device
    model = load_checkpoint(checkpoint, cfg=cfg, map_location=device)["model"]
    generator = generator_from_config(cfg, model, device)
    suffix = "." + cfg["generation"].get("mesh_format", "ply")
    for number, (category, model_name) in enumerate(selected, start=1):
        inputs = dataset[index[(category, model_name)]]["inputs"]
        generation = generator.generate(inputs)
        mesh_path = out_dir / category / f"{model_name}{suffix}"
        save_generation(generation, mesh_path, out_dir / category / f"{model_name}.json",
                        category=category, model=model_name, checkpoint=str(checkpoint))
        record = generation.record
        log.info("%d/%d %s/%s: %d points in, %d faces out, %.2f s (encode %.2f, decode %.2f, extract %.2f)",
                 number, len(selected), category, model_name, len(inputs), record.faces, record.total_seconds,
                 record.encode_seconds, record.decode_seconds, record.extract_seconds)
    return 0
