"""``alto convert-checkpoint``: turn an ALTO / ConvONet checkpoint into alto's format.

Reads ``model_best.pt`` / ``model.pt`` as the published code saves them (with or
without ``nn.DataParallel`` prefixes), maps the parameters onto alto's modules, drops
the upstream tensors the published forward pass never uses, and writes alto's
checkpoint, which also stores the experiment config so that ``alto reconstruct`` can
rebuild the model from the file alone. Upstream checkpoints carry no config: pass
the one the model was trained with (``--config``, e.g. the published YAML file).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alto.config import load_config
from alto.io import atomic_write
from alto.models import load_checkpoint, save_checkpoint

__all__ = ["main"]


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="checkpoint to convert (upstream or alto)")
    parser.add_argument("output", type=Path, help="where to write alto's checkpoint")
    parser.add_argument(
        "--config",
        type=Path,
        help="experiment config (YAML) the checkpoint was trained with; required for upstream "
        "checkpoints, optional for alto's own",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        help="also write a JSON record of the conversion (the workflow's stand-in for train_summary.json)",
    )
    return parser


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


def main(argv: Sequence[str] | None = None, prog: str = "alto convert-checkpoint") -> int:
    """Run ``alto convert-checkpoint``; returns the exit code."""
    args = _parser(prog).parse_args(argv)
    cfg = load_config(args.config) if args.config is not None else None
    loaded = load_checkpoint(args.input, cfg=cfg)
    state = {k: v for k, v in loaded.items() if k not in ("model", "config", "source_format", "dropped_keys")}
    save_checkpoint(args.output, loaded["model"], config=loaded["config"], **state)
    params = sum(p.numel() for p in loaded["model"].parameters())
    if args.summary is not None:
        record = {
            "converted_from": str(args.input),
            "source_format": loaded["source_format"],
            "iterations": loaded.get("it"),
            "epochs": loaded.get("epoch_it"),
            "loss_val_best": _float_or_none(loaded.get("loss_val_best")),
            "parameters": params,
            "dropped_keys": sorted(loaded["dropped_keys"]),
        }
        with atomic_write(args.summary) as handle:
            json.dump(record, handle, indent=2)
            handle.write("\n")
    print(
        f"wrote {args.output}: {loaded['source_format']} checkpoint, {params} parameters, "
        f"{len(loaded['dropped_keys'])} unused upstream tensors dropped"
    )
    return 0
