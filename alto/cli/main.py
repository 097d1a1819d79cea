"""Entry point of the ``alto`` command.

Each command lives in its own module under :mod:`alto.cli`, which owns its argument
parser and exposes ``main(argv, prog) -> int``. The module is imported only when its
command runs, so light commands (``alto data ...``, ``alto config ...``) start
without importing torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from alto import __version__
from alto.errors import AltoError
from alto.threads import ALTO_THREADS_VAR, OMP_THREADS_VAR, configure_threads

__all__ = ["COMMANDS", "main"]

#: command name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("alto.cli.data", "build datasets: the procedural demo, or one from your own meshes"),
    "config": ("alto.cli.config", "check, merge and print experiment configs"),
    "convert-checkpoint": (
        "alto.cli.convert_checkpoint",
        "convert an upstream ALTO/ConvONet checkpoint into alto's format",
    ),
    "train": ("alto.cli.train", "train a model from an experiment config"),
    "generate": ("alto.cli.generate", "extract meshes for the test split with a trained model"),
    "evaluate": ("alto.cli.evaluate", "evaluate meshes with the paper's metrics"),
    "reconstruct": ("alto.cli.reconstruct", "reconstruct a mesh from your own point cloud"),
    "models": ("alto.cli.models", "list and fetch the published ALTO/ConvONet models by name"),
    "ops": ("alto.cli.ops", "report the compiled kernels (scatter backend) this environment uses"),
}


def _top_parser() -> argparse.ArgumentParser:
    lines = [f"  {name:<20} {help_}" for name, (_, help_) in COMMANDS.items()]
    parser = argparse.ArgumentParser(
        prog="alto",
        description="ALTO and ConvONet: implicit 3D reconstruction from point clouds.",
        epilog="commands:\n" + "\n".join(lines) + "\n\nRun 'alto <command> --help' for its options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"alto {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    parser.add_argument("--threads", type=int, metavar="N",
                        help=f"CPU threads for torch (default: ${ALTO_THREADS_VAR}, else ${OMP_THREADS_VAR}, "
                             "else the cores this process may use, within its CPU quota)")
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="command", help="see below")
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def configure_logging(verbose: bool = False, log_file: str | None = None) -> None:
    """Plain ``LEVEL name: message`` lines on stderr (or appended to ``log_file``);
    debug messages with ``verbose``.

    In the worker processes of a distributed run (``RANK`` set by torchrun) only rank 0
    logs progress; the others log warnings and errors only, so that a job's log holds
    each line once.
    """
    target = {"filename": log_file} if log_file else {"stream": sys.stderr}
    level = logging.DEBUG if verbose else logging.INFO
    if os.environ.get("RANK", "0") != "0":
        level = logging.WARNING
    logging.basicConfig(
        level=level,
        format="%(levelname)s %(name)s: %(message)s",
        force=True,
        **target,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``alto`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code."""
    ns = _top_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    configure_logging(ns.verbose)
    try:
        configure_threads(ns.threads)  # before the command imports torch
        module = importlib.import_module(COMMANDS[ns.command][0])
        return int(module.main(ns.args, prog=f"alto {ns.command}") or 0)
    except AltoError as err:
        logging.getLogger("alto").error("%s", err)
        return 2


if __name__ == "__main__":
    sys.exit(main())
