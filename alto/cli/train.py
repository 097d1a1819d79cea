"""``alto train``: train an experiment config (one process, or ``--nproc`` processes with DDP)."""

from __future__ import annotations

import argparse
import logging
import subprocess
from collections.abc import Sequence
from typing import Any

from alto.config import load_experiment, parse_dotted_overrides

log = logging.getLogger(__name__)


def _parser(prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__)
    parser.add_argument("config", help="experiment config (YAML)")
    parser.add_argument("--out-dir", help="run folder (default: training.out_dir of the config)")
    parser.add_argument("--data", help="dataset root (default: data.path of the config)")
    parser.add_argument("--max-iters", type=int, help="stop after this many iterations (training.max_iters)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], help="training.device")
    parser.add_argument("--nproc", type=int, default=1,
                        help="processes (GPUs) on this node; >1 relaunches through torchrun with DDP")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config key, e.g. --set training.batch_size=8 (repeatable)")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    assignments = list(args.overrides)
    for key, value in (("training.out_dir", args.out_dir), ("data.path", args.data),
                       ("training.max_iters", args.max_iters), ("training.device", args.device)):
        if value is not None:
            assignments.append(f"{key}={value}")
    return parse_dotted_overrides(assignments)


def _without_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (each launched process runs one rank)."""
    kept: list[str] = []
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
        elif arg == "--nproc":
            skip_next = True
        elif not arg.startswith("--nproc="):
            kept.append(arg)
    return kept


def main(argv: Sequence[str] | None, prog: str = "alto train") -> int:
    """Run ``alto train``; returns the exit code (3 when stopped by ``training.exit_after``)."""
    args = _parser(prog).parse_args(argv)
    cfg = load_experiment(args.config, overrides=[_overrides(args)])  # fail fast, before any relaunch
    if args.nproc > 1:
        from alto.train.distributed import torchrun_command

        command = torchrun_command(args.nproc, ["train", *_without_nproc(list(argv or []))])
        log.info("launching %d processes: %s", args.nproc, " ".join(command))
        return subprocess.call(command)
    from alto.train import EXIT_AFTER_CODE, train

    result = train(cfg)
    return EXIT_AFTER_CODE if result.stopped_early else 0
